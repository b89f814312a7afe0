//! Command-line front ends: `adapters …`, `check-config` / `config …`, `demo` / `seed`, `token` /
//! `identities …`, `scenarios …`, `audit verify` / `store migrate`, `complaints …`.
pub mod adapters;
pub mod audit;
pub mod complaints;
pub mod config;
pub mod demo;
pub mod identities;
pub mod report;
pub mod scenarios;
