//! Command-line front ends: `adapters …`, `token` / `identities …`, `scenarios …`.
pub mod adapters;
pub mod identities;
pub mod scenarios;
