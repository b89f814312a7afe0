//! Complaint cases: intake from every channel, routing to a handler group, deadlines (限时解决), replies,
//! return visits (回访), closure and reopening, with every change an append-only event. See
//! `docs/complaints.md`.
//!
//! - [`model`]: states, transitions, events, and the complaint as the projection of its events;
//! - [`calendar`]: the calendars deadlines count in (24×7; working days with holidays and 调休 per year);
//! - [`sla`]: a policy's targets and their state, computed from a complaint's events;
//! - [`rules`]: routing rules and SLA policies as CEL in files, checked at load, hot-reloaded;
//! - [`ops`]: the operations as pure functions from events to new events;
//! - [`store`]: `complaint_events` and `complaint_cases` in the gateway's store;
//! - [`service`]: the operations under the caller's identity, region scoping, masking and audit.
//!
//! The gRPC surface is `api::cases`; the command line `complaint-gateway complaints`.
pub mod calendar;
pub mod model;
pub mod ops;
pub mod rules;
pub mod service;
pub mod sla;
pub mod store;

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `[cases]`: where the routing rules, SLA policies and calendars are.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CasesConfig {
    /// A folder with `routing.toml`, `sla.toml` and `calendars/`, relative to the config file's folder.
    /// Unset: the ones embedded in the binary (the shipped `cases/`), never reloaded.
    #[serde(default)]
    pub rules_dir: Option<PathBuf>,
    /// How often the folder is checked for changes, in milliseconds; 0 turns hot reload off.
    #[serde(default = "default_reload_ms")]
    pub reload_interval_ms: u64,
}

impl Default for CasesConfig {
    fn default() -> Self {
        CasesConfig {
            rules_dir: None,
            reload_interval_ms: default_reload_ms(),
        }
    }
}

fn default_reload_ms() -> u64 {
    2_000
}

impl CasesConfig {
    /// Checks the keys of `[cases]`.
    pub fn validate(&self) -> Result<(), String> {
        if self.reload_interval_ms > 0 && self.reload_interval_ms < 100 {
            return Err("key `cases.reload_interval_ms`: 0 (off) or at least 100".into());
        }
        Ok(())
    }

    /// The rules folder this config names (or the embedded one).
    pub fn folder(&self) -> crate::assets::Folder {
        match &self.rules_dir {
            Some(d) => crate::assets::Folder::Disk(d.clone()),
            None => rules::embedded(),
        }
    }
}
