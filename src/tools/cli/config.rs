//! `complaint-gateway check-config` and `complaint-gateway config example`.
//!
//! `check-config` loads a configuration as `serve` would (file, relative paths, environment overrides,
//! validation of every key), prints the configuration in effect with passwords redacted, then looks for
//! everything `serve` needs at start-up: secrets and key files, SQLite files of sources, adapter
//! definitions (compiled against the schema), the scenarios. It exits non-zero naming each problem.
use crate::adapters::registry::Registry;
use crate::config::check::{Finding, Severity};
use crate::config::Config;
use std::path::Path;

/// `complaint-gateway config …`.
#[derive(Debug, clap::Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub command: ConfigCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum ConfigCommand {
    /// Print the example configuration (every key, documented), to start a `gateway.toml` from:
    /// `complaint-gateway config example > gateway.toml`.
    Example,
}

/// Runs a `config` subcommand.
pub fn run(args: ConfigArgs) {
    match args.command {
        ConfigCommand::Example => print!("{}", crate::assets::EXAMPLE_CONFIG),
    }
}

/// What `check-config` found.
#[derive(Debug, Default)]
pub struct ConfigReport {
    /// The configuration in effect, redacted (empty when it does not load).
    pub effective: String,
    pub findings: Vec<Finding>,
    /// One line saying what was checked: sources and the scenario set.
    pub summary: String,
}

impl ConfigReport {
    /// Whether the configuration would start a server.
    pub fn ok(&self) -> bool {
        !self.findings.iter().any(|f| f.severity == Severity::Error)
    }
}

/// Checks the configuration at `path` with the environment `env` (see the module docs).
pub async fn check(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> ConfigReport {
    let cfg = match Config::load_with_env(path, env) {
        Ok(c) => c,
        Err(e) => {
            return ConfigReport {
                findings: e.problems.into_iter().map(Finding::error).collect(),
                summary: format!("{}: does not load", path.display()),
                ..Default::default()
            }
        }
    };
    let effective = format!(
        "## The configuration in effect: {} with the environment's overrides; passwords redacted.\n{}",
        path.display(),
        cfg.redacted_toml()
    );
    let mut findings = cfg.check_environment(env);
    let (sources, problems) = Registry::check(&cfg, env);
    findings.extend(problems.into_iter().map(Finding::error));
    // The keys themselves (a short secret, a PEM that is not a key), once every file and variable is there.
    let auth_missing = findings.iter().any(|f| f.message.starts_with("key `auth."));
    if !auth_missing {
        if let Err(e) = crate::identity::auth::Authenticator::from_config(&cfg.auth, env) {
            findings.push(Finding::error(e));
        }
    }
    let folder = match &cfg.diagnosis.scenarios_dir {
        Some(d) => crate::assets::Folder::Disk(d.clone()),
        None => crate::diagnosis::default_dir(),
    };
    let scenarios = match &cfg.diagnosis.scenarios_dir {
        Some(d) if !d.exists() => format!("{} (missing)", folder.describe()),
        _ => match crate::diagnosis::Engine::load(&folder, cfg.diagnosis.now) {
            Ok(engine) => format!("{} ({})", folder.describe(), engine.scenarios().scenarios.len()),
            Err(e) => {
                findings.extend(
                    e.0.iter()
                        .map(|p| Finding::error(format!("key `diagnosis.scenarios_dir`: {p}"))),
                );
                format!("{} (does not load)", folder.describe())
            }
        },
    };
    let loaded = if sources.is_empty() {
        "no source loads".to_string()
    } else {
        format!(
            "{} source(s): {}",
            sources.len(),
            sources
                .iter()
                .map(|(name, from)| format!("{name} ({from})"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let summary = format!("{loaded}; scenarios: {scenarios}");
    ConfigReport {
        effective,
        findings,
        summary,
    }
}

/// `check-config`: prints the configuration in effect on stdout, each finding and a summary on stderr;
/// `Err` (exit 1) when the configuration would not start a server.
pub async fn check_config(path: &Path) -> anyhow::Result<()> {
    let report = check(path, &|k| std::env::var(k).ok()).await;
    print!("{}", report.effective);
    let mut findings: Vec<&Finding> = report.findings.iter().collect();
    findings.sort_by_key(|f| f.severity != Severity::Error);
    for f in &findings {
        eprintln!("{f}");
    }
    if report.ok() {
        eprintln!("ok: {}", report.summary);
        Ok(())
    } else {
        let n = report.findings.iter().filter(|f| f.severity == Severity::Error).count();
        eprintln!("{}", report.summary);
        anyhow::bail!("{}: {n} problem(s)", path.display())
    }
}
