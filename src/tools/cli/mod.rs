//! Command-line front ends: `adapters …`, `check-config` / `config …`, `demo` / `seed`, `token` /
//! `identities …`, `scenarios …`.
pub mod adapters;
pub mod config;
pub mod demo;
pub mod identities;
pub mod scenarios;
