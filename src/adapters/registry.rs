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
    /// Loads every enabled source of `cfg`, failing on the first that does not load. `env` resolves a
    /// URL the configuration does not hold yet (a config built in code; `Config::load` has already
    /// applied the environment).
    pub fn from_config(cfg: &Config, env: &dyn Fn(&str) -> Option<String>) -> Result<Registry, String> {
        let mut sources: Vec<Source> = Vec::new();
        for (i, sc) in cfg.sources.iter().enumerate() {
            if !sc.enabled {
                continue;
            }
            let source = load_source(i, sc, env)?;
            if sources.iter().any(|s| s.adapter.name() == source.adapter.name()) {
                return Err(format!(
                    "key `sources[{i}]`: source `{}` is configured twice",
                    source.adapter.name()
                ));
            }
            sources.push(source);
        }
        Ok(Registry { sources })
    }

    /// Every enabled source's problem (not only the first), for `check-config`, with the names and
    /// folders of the sources that load.
    pub fn check(cfg: &Config, env: &dyn Fn(&str) -> Option<String>) -> (Vec<(String, String)>, Vec<String>) {
        let mut loaded: Vec<(String, String)> = Vec::new();
        let mut problems = Vec::new();
        for (i, sc) in cfg.sources.iter().enumerate() {
            if !sc.enabled {
                continue;
            }
            match load_source(i, sc, env) {
                Ok(s) if loaded.iter().any(|(n, _)| n == s.adapter.name()) => problems.push(format!(
                    "key `sources[{i}]`: source `{}` is configured twice",
                    s.adapter.name()
                )),
                Ok(s) => loaded.push((
                    s.adapter.name().to_string(),
                    crate::assets::Folder::from_config(&sc.definition)
                        .map(|f| f.describe())
                        .unwrap_or_default(),
                )),
                Err(e) => problems.push(e),
            }
        }
        (loaded, problems)
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

/// Loads source `i` of the configuration: its definition (a folder, or `embedded:<system>`) and adapter.
fn load_source(i: usize, sc: &SourceConfig, env: &dyn Fn(&str) -> Option<String>) -> Result<Source, String> {
    let def = Definition::load(&sc.definition).map_err(|e| e.to_string())?;
    let url = resolve_url(i, sc, &def, env)?;
    let settings = PoolSettings {
        max_connections: sc.max_connections,
        // A refused or unreachable backend must surface as UNAVAILABLE within the source's time-out,
        // with room for the stack's retries, rather than as a TIMEOUT that hides the cause.
        connect_timeout: Duration::from_millis(sc.connect_timeout_ms.min((sc.timeout_ms / 4).max(50))),
    };
    let name = def.name.clone();
    let adapter = SqlAdapter::new(def, &url, &settings).map_err(|e| format!("key `sources[{i}]` ({name}): {e}"))?;
    Ok(Source {
        adapter: Arc::new(adapter),
        timeout: Duration::from_millis(sc.timeout_ms),
        stack: sc.stack.clone(),
        max_connections: sc.max_connections,
    })
}

/// Source `i`'s URL, by the one precedence `crate::config::load::source_url` defines
/// (`CGW_SOURCE_<NAME>_URL`, then `url`, then the variable named by `url_env` here or in the definition).
pub fn resolve_url(
    i: usize,
    sc: &SourceConfig,
    def: &Definition,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    crate::config::load::source_url(Some(sc), &def.name, def.url_env.as_deref(), env)
        .map(|(url, _)| url)
        .map_err(|why| format!("key `sources[{i}].url` ({}): {why}", def.name))
}
