//! `[cases]`: where the complaint-case routing rules, SLA policies and calendars are (`docs/complaints.md`).
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
}
