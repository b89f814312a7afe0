//! `[diagnosis]`: where the scenarios are, how often they are reloaded, and what `now` scenarios see.
use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The `[diagnosis]` section of the gateway config.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DiagnosisConfig {
    /// The scenario folder, relative to the config file's folder. Unset: the scenarios embedded in the
    /// binary (the shipped `scenarios/`), which are never reloaded.
    #[serde(default)]
    pub scenarios_dir: Option<PathBuf>,
    /// A folder of extra classifier data, relative to the config file's folder: a `categories.toml` (new
    /// categories: code, name, description, keywords) and `*.jsonl` labelled examples (`{"text": "...",
    /// "category": "code"}`, at least 10 per category). The classifier is retrained at start on the
    /// shipped corpus plus this folder (its held-out accuracy logged), and scenarios may name the new
    /// categories. Unset: the shipped categories and corpus.
    #[serde(default)]
    pub corpus_dir: Option<PathBuf>,
    /// How often the folder is checked for changed files, in milliseconds; 0 turns hot reload off.
    #[serde(default = "default_reload_ms")]
    pub reload_interval_ms: u64,
    /// A fixed time that scenarios see as `now` (RFC 3339, e.g. "2026-11-28T10:00:00+08:00"), for demos
    /// and tests over data of a fixed date. Unset: the clock.
    #[serde(default)]
    pub now: Option<DateTime<FixedOffset>>,
    /// Record every diagnosis in the gateway's store (`complaints`).
    #[serde(default = "yes")]
    pub record_complaints: bool,
    /// Refuse a reloaded folder that changes the outcome of a test case (`*.cases.toml`) of the folder in
    /// force or of its own; the previous scenarios stay and the log names each case.
    #[serde(default = "yes")]
    pub reload_refuses_broken_cases: bool,
}

impl Default for DiagnosisConfig {
    fn default() -> Self {
        DiagnosisConfig {
            scenarios_dir: None,
            corpus_dir: None,
            reload_interval_ms: default_reload_ms(),
            now: None,
            record_complaints: true,
            reload_refuses_broken_cases: true,
        }
    }
}

fn default_reload_ms() -> u64 {
    2_000
}
fn yes() -> bool {
    true
}

impl DiagnosisConfig {
    /// Checks the keys of `[diagnosis]`.
    pub fn validate(&self) -> Result<(), String> {
        if self.reload_interval_ms > 0 && self.reload_interval_ms < 100 {
            return Err("key `diagnosis.reload_interval_ms`: 0 (off) or at least 100".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn the_example_config_uses_the_embedded_scenarios() {
        let cfg = Config::parse(crate::assets::EXAMPLE_CONFIG).unwrap();
        assert_eq!(cfg.diagnosis.scenarios_dir, None);
        assert_eq!(cfg.diagnosis.reload_interval_ms, 2_000);
        assert!(cfg.diagnosis.record_complaints && cfg.diagnosis.now.is_none());
        assert!(cfg.diagnosis.reload_refuses_broken_cases);
    }

    #[test]
    fn bad_keys_are_named() {
        let e = Config::parse("[diagnosis]\nreload_interval_ms = 50\n")
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(e.contains("diagnosis.reload_interval_ms"), "{e}");
        let e = Config::parse("[diagnosis]\nnow = \"yesterday\"\n").unwrap_err();
        assert!(e.contains("now"), "{e}");
        let e = Config::parse("[diagnosis]\nscenario_dir = \"x\"\n").unwrap_err();
        assert!(e.contains("scenario_dir"), "{e}");
    }
}
