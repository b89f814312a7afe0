//! Offline tooling, apart from the serving path: the adapter scaffold and check, the adapter compliance
//! harness, the demo data generator and loader, the demo identities, and the command-line front ends of the
//! operator commands. Nothing in the request path imports from here.
pub mod check;
pub mod cli;
pub mod compliance;
pub mod demo;
pub mod diagnosis_eval;
pub mod history;
pub mod scaffold;
pub mod scenario_cases;
pub mod seed;
