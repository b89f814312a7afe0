//! Builds the adapters a config names. Every definition is loaded and checked before the server starts.
use super::sql::definition::Definition;
use super::sql::{PoolSettings, SqlAdapter};
use super::Adapter;
use crate::config::{Config, SourceConfig};
use std::sync::Arc;
use std::time::Duration;

/// A configured source: its adapter and its per-source settings.
#[derive(Clone)]
pub struct Source {
    pub adapter: Arc<dyn Adapter>,
    pub timeout: Duration,
    /// The resilience stack settings of this source (`[sources.stack]`).
    pub stack: crate::config::StackConfig,
    /// The source's connection pool size (the default concurrency limit of its stack).
    pub max_connections: u32,
}

/// All sources, in configuration order.
#[derive(Clone, Default)]
pub struct Registry {
    pub sources: Vec<Source>,
}

impl Registry {
    /// Loads every enabled source of `cfg`. `env` resolves environment variables (injectable for tests).
    pub fn from_config(cfg: &Config, env: &dyn Fn(&str) -> Option<String>) -> Result<Registry, String> {
        let mut sources = Vec::new();
        for (i, sc) in cfg.sources.iter().enumerate() {
            if !sc.enabled {
                continue;
            }
            let def = Definition::load(&sc.definition).map_err(|e| e.to_string())?;
            let url = resolve_url(i, sc, &def, env)?;
            if sources.iter().any(|s: &Source| s.adapter.name() == def.name) {
                return Err(format!("key `sources[{i}]`: source `{}` is configured twice", def.name));
            }
            let settings = PoolSettings {
                max_connections: sc.max_connections,
                // A refused or unreachable backend must surface as UNAVAILABLE within the source's time-out,
                // with room for the stack's retries, rather than as a TIMEOUT that hides the cause.
                connect_timeout: Duration::from_millis(sc.connect_timeout_ms.min((sc.timeout_ms / 4).max(50))),
            };
            let name = def.name.clone();
            let adapter =
                SqlAdapter::new(def, &url, &settings).map_err(|e| format!("key `sources[{i}]` ({name}): {e}"))?;
            sources.push(Source {
                adapter: Arc::new(adapter),
                timeout: Duration::from_millis(sc.timeout_ms),
                stack: sc.stack.clone(),
                max_connections: sc.max_connections,
            });
        }
        Ok(Registry { sources })
    }

    /// Adds a source implemented in Rust (a non-SQL backend).
    pub fn push(&mut self, adapter: Arc<dyn Adapter>, timeout: Duration) {
        self.sources.push(Source {
            adapter,
            timeout,
            stack: Default::default(),
            max_connections: 8,
        });
    }

    pub fn names(&self) -> Vec<String> {
        self.sources.iter().map(|s| s.adapter.name().to_string()).collect()
    }

    pub fn get(&self, name: &str) -> Option<&Source> {
        self.sources.iter().find(|s| s.adapter.name() == name)
    }
}

/// URL precedence: `CGW_SOURCE_<NAME>_URL`, then `url` in the config, then the config's `url_env`, then the
/// definition's `url_env`.
pub fn resolve_url(
    i: usize,
    sc: &SourceConfig,
    def: &Definition,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let override_var = format!("CGW_SOURCE_{}_URL", def.name.to_ascii_uppercase());
    if let Some(u) = env(&override_var).filter(|u| !u.is_empty()) {
        return Ok(u);
    }
    if let Some(u) = sc.url.clone().filter(|u| !u.is_empty()) {
        return Ok(u);
    }
    let var = sc.url_env.clone().or_else(|| def.url_env.clone());
    if let Some(v) = &var {
        if let Some(u) = env(v).filter(|u| !u.is_empty()) {
            return Ok(u);
        }
    }
    Err(format!(
        "key `sources[{i}].url` ({}): no URL: set `url`, or the environment variable {}{override_var}",
        def.name,
        var.map(|v| format!("{v} or ")).unwrap_or_default()
    ))
}
