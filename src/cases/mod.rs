//! Complaint cases: intake from every channel, routing to a handler group, deadlines (限时解决), replies,
//! return visits (回访), closure and reopening, with every change an append-only event. See
//! `docs/complaints.md`.
//!
//! - [`model`]: states, transitions, events, and the complaint as the projection of its events;
//! - [`calendar`]: the calendars deadlines count in (24×7; working days with holidays and 调休 per year);
//! - [`sla`]: a policy's targets and their state, computed from a complaint's events;
//! - [`rules`]: routing rules and SLA policies as CEL in files, checked at load, hot-reloaded;
//! - [`ops`]: the operations as pure functions from events to new events;
//! - [`facts`]: the analytic projections (facts, per-bucket counts, major issues) kept with every change;
//! - [`store`]: `complaint_events` and `complaint_cases` in the gateway's store;
//! - [`service`]: the operations under the caller's identity, region scoping, masking and audit.
//!
//! The gRPC surface is `api::cases`; the command line `complaint-gateway complaints`.
pub mod calendar;
pub mod facts;
pub mod model;
pub mod ops;
pub mod rules;
pub mod service;
pub mod sla;
pub mod store;

pub use crate::config::cases::CasesConfig;
