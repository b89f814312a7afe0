//! Command-line front ends: `adapters …`, `check-config` / `config …`, `demo` / `seed`, `token` /
//! `identities …`, `scenarios …`, `complaints …`.
pub mod adapters;
pub mod complaints;
pub mod config;
pub mod demo;
pub mod identities;
pub mod scenarios;
