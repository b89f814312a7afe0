//! Command-line front ends: `adapters …`, `check-config` / `config …`, `demo` / `seed`, `token` /
//! `identities …`, `scenarios …`, `complaints …`, `audit verify` / `store migrate`.
pub mod adapters;
pub mod audit;
pub mod complaints;
pub mod config;
pub mod demo;
pub mod identities;
pub mod scenarios;
