//! Gateway configuration: defaults, then the TOML file, then environment overrides, then validation.
//! Mistakes fail at start-up naming the file and key. See `config/gateway.example.toml`.
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub log: LogConfig,
    /// The view cache in front of every source.
    #[serde(default)]
    pub cache: CacheConfig,
    /// The admin side: the Prometheus metrics endpoint.
    #[serde(default)]
    pub admin: AdminConfig,
    /// How callers authenticate (JWT keys, API keys, client certificates); see `docs/identity.md`.
    #[serde(default)]
    pub auth: crate::identity::config::AuthConfig,
    /// The server's TLS and mutual TLS.
    #[serde(default)]
    pub tls: crate::identity::config::TlsConfig,
    /// The gateway's own store: identities, operator IDs, audit trail.
    #[serde(default)]
    pub store: crate::store::StoreConfig,
    /// Diagnosis: the scenario folder, hot reload, complaint records.
    #[serde(default)]
    pub diagnosis: crate::diagnosis::config::DiagnosisConfig,
    /// Backends, in the order their statuses are reported.
    #[serde(default)]
    pub sources: Vec<SourceConfig>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// gRPC listen address. Env: `CGW_LISTEN`.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Upper bound on a whole view read, whatever the per-source time-outs, in milliseconds.
    #[serde(default = "default_request_timeout")]
    pub request_timeout_ms: u64,
    /// Largest time range one `StreamUsage` call may ask for, in days.
    #[serde(default = "default_max_range")]
    pub max_usage_range_days: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: default_listen(),
            request_timeout_ms: default_request_timeout(),
            max_usage_range_days: default_max_range(),
        }
    }
}

fn default_listen() -> SocketAddr {
    "127.0.0.1:50051".parse().expect("valid")
}
fn default_request_timeout() -> u64 {
    10_000
}
fn default_max_range() -> u32 {
    366
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `human` or `json`. Env: `CGW_LOG_FORMAT`.
    #[serde(default = "default_format")]
    pub format: String,
    /// A tracing filter such as `info` or `complaint_gateway=debug`. Env: `RUST_LOG` wins.
    #[serde(default = "default_level")]
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: default_format(),
            level: default_level(),
        }
    }
}

fn default_format() -> String {
    "human".into()
}
fn default_level() -> String {
    "info".into()
}

/// The view cache (see `docs/operations.md`): one weighted moka cache, keyed by source and subscriber.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    /// Set false to read every view from the backends.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Capacity in MiB of cached data: entries weigh their encoded size, not one each.
    #[serde(default = "default_cache_mib")]
    pub max_size_mib: u64,
    /// Freshness of a source whose entities declare no `ttl_secs`, in seconds.
    #[serde(default = "default_ttl")]
    pub default_ttl_secs: u64,
    /// How long a NOT_FOUND answer is remembered, in seconds (0: not cached).
    #[serde(default = "default_not_found_ttl")]
    pub not_found_ttl_secs: u64,
    /// When a backend fails, its last answer is served as STALE up to this age, in seconds (0: never).
    #[serde(default = "default_stale_max_age")]
    pub stale_max_age_secs: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            enabled: true,
            max_size_mib: default_cache_mib(),
            default_ttl_secs: default_ttl(),
            not_found_ttl_secs: default_not_found_ttl(),
            stale_max_age_secs: default_stale_max_age(),
        }
    }
}

fn default_cache_mib() -> u64 {
    256
}
fn default_ttl() -> u64 {
    30
}
fn default_not_found_ttl() -> u64 {
    5
}
fn default_stale_max_age() -> u64 {
    300
}

/// The admin side of the gateway.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Address of the Prometheus endpoint (`http://ADDR/metrics`); unset: no endpoint.
    /// Env: `CGW_METRICS_LISTEN`.
    #[serde(default)]
    pub metrics_listen: Option<SocketAddr>,
}

/// The resilience stack around one source's adapter (see `docs/operations.md` for the order and why).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StackConfig {
    /// Calls at the backend at once; 0: the source's `max_connections`, so the pool is never oversubscribed.
    #[serde(default)]
    pub max_concurrency: u32,
    /// Calls that may wait for a slot; one more is shed at once (UNAVAILABLE, "overloaded").
    #[serde(default = "default_max_queue")]
    pub max_queue: u32,
    /// Time-out of one attempt, in milliseconds; 0: the source's `timeout_ms`.
    #[serde(default)]
    pub attempt_timeout_ms: u64,
    /// Extra attempts after a retryable failure (connection trouble, time-out); 0: no retry.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// Retries allowed as a percentage of recent calls, so retries cannot multiply the load on a backend.
    #[serde(default = "default_retry_percent")]
    pub retry_budget_percent: u32,
    /// Retries per second allowed whatever the traffic.
    #[serde(default = "default_retry_min")]
    pub retry_min_per_sec: u32,
    /// Pause before retry n, multiplied by n, in milliseconds.
    #[serde(default = "default_retry_backoff")]
    pub retry_backoff_ms: u64,
    /// Consecutive failed calls that open the circuit breaker.
    #[serde(default = "default_breaker_failures")]
    pub breaker_failures: u32,
    /// How long the breaker stays open before one probe call is let through, in milliseconds.
    #[serde(default = "default_breaker_cooldown")]
    pub breaker_cooldown_ms: u64,
}

impl Default for StackConfig {
    fn default() -> Self {
        StackConfig {
            max_concurrency: 0,
            max_queue: default_max_queue(),
            attempt_timeout_ms: 0,
            max_retries: default_max_retries(),
            retry_budget_percent: default_retry_percent(),
            retry_min_per_sec: default_retry_min(),
            retry_backoff_ms: default_retry_backoff(),
            breaker_failures: default_breaker_failures(),
            breaker_cooldown_ms: default_breaker_cooldown(),
        }
    }
}

fn default_max_queue() -> u32 {
    128
}
fn default_max_retries() -> u32 {
    2
}
fn default_retry_percent() -> u32 {
    20
}
fn default_retry_min() -> u32 {
    10
}
fn default_retry_backoff() -> u64 {
    25
}
fn default_breaker_failures() -> u32 {
    5
}
fn default_breaker_cooldown() -> u64 {
    5_000
}

/// One backend.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// The adapter folder (holding `adapter.toml`), relative to this config file.
    pub definition: PathBuf,
    /// Connection URL. Prefer `url_env` for URLs with passwords. Env `CGW_SOURCE_<NAME>_URL` wins.
    #[serde(default)]
    pub url: Option<String>,
    /// Environment variable holding the URL (overrides the definition's `url_env`).
    #[serde(default)]
    pub url_env: Option<String>,
    /// Per-source time-out for one view read, in milliseconds.
    #[serde(default = "default_source_timeout")]
    pub timeout_ms: u64,
    /// Connection pool size.
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// How long to wait for a connection, in milliseconds.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_ms: u64,
    /// Set false to keep the entry but not query it.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The resilience stack around this source: concurrency, queue, retries, breaker.
    #[serde(default)]
    pub stack: StackConfig,
}

fn default_source_timeout() -> u64 {
    2_000
}
fn default_max_connections() -> u32 {
    8
}
fn default_connect_timeout() -> u64 {
    2_000
}
fn yes() -> bool {
    true
}

/// A configuration error, naming the file and key.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct ConfigError {
    pub file: String,
    pub message: String,
}

impl Config {
    /// Reads, applies env overrides and validates. Relative definition paths are resolved against the
    /// config file's folder.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let err = |message: String| ConfigError {
            file: file.clone(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
        let mut cfg = Config::parse(&text).map_err(err)?;
        let base = path.parent().unwrap_or(Path::new("."));
        for s in &mut cfg.sources {
            if s.definition.is_relative() {
                s.definition = base.join(&s.definition);
            }
        }
        cfg.auth.resolve_paths(base);
        cfg.tls.resolve_paths(base);
        if let Some(d) = &mut cfg.diagnosis.scenarios_dir {
            if d.is_relative() {
                *d = base.join(&*d);
            }
        }
        cfg.apply_env(|k| std::env::var(k).ok()).map_err(|m| ConfigError {
            file: file.clone(),
            message: m,
        })?;
        cfg.validate().map_err(|m| ConfigError { file, message: m })?;
        Ok(cfg)
    }

    /// Parses TOML text (no env, no validation).
    pub fn parse(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// Environment overrides: `CGW_LISTEN`, `CGW_LOG_FORMAT`, `CGW_METRICS_LISTEN`.
    pub fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), String> {
        if let Some(l) = env("CGW_LISTEN") {
            self.server.listen = l
                .parse()
                .map_err(|_| format!("env CGW_LISTEN: `{l}` is not an address like 127.0.0.1:50051"))?;
        }
        if let Some(f) = env("CGW_LOG_FORMAT") {
            self.log.format = f;
        }
        if let Some(l) = env("CGW_METRICS_LISTEN") {
            self.admin.metrics_listen = Some(
                l.parse()
                    .map_err(|_| format!("env CGW_METRICS_LISTEN: `{l}` is not an address like 127.0.0.1:9464"))?,
            );
        }
        Ok(())
    }

    pub fn validate(&self) -> Result<(), String> {
        self.auth.validate()?;
        self.tls.validate()?;
        self.store.validate()?;
        self.diagnosis.validate()?;
        if !matches!(self.log.format.as_str(), "human" | "json") {
            return Err(format!(
                "key `log.format`: `{}` must be \"human\" or \"json\"",
                self.log.format
            ));
        }
        if self.server.request_timeout_ms == 0 {
            return Err("key `server.request_timeout_ms`: must be > 0".into());
        }
        for (i, s) in self.sources.iter().enumerate() {
            if s.timeout_ms == 0 {
                return Err(format!("key `sources[{i}].timeout_ms`: must be > 0"));
            }
            if s.max_connections == 0 {
                return Err(format!("key `sources[{i}].max_connections`: must be > 0"));
            }
            if s.stack.breaker_failures == 0 {
                return Err(format!("key `sources[{i}].stack.breaker_failures`: must be > 0"));
            }
            if s.stack.breaker_cooldown_ms == 0 {
                return Err(format!("key `sources[{i}].stack.breaker_cooldown_ms`: must be > 0"));
            }
            if s.stack.retry_budget_percent > 1000 {
                return Err(format!(
                    "key `sources[{i}].stack.retry_budget_percent`: {} is more than 1000",
                    s.stack.retry_budget_percent
                ));
            }
            if s.stack.max_retries > 10 {
                return Err(format!(
                    "key `sources[{i}].stack.max_retries`: {} is more than 10",
                    s.stack.max_retries
                ));
            }
        }
        if self.cache.enabled && self.cache.max_size_mib == 0 {
            return Err("key `cache.max_size_mib`: must be > 0 while `cache.enabled` is true".into());
        }
        Ok(())
    }

    /// The configuration as TOML with every URL's password redacted, for `config show`.
    pub fn redacted_toml(&self) -> String {
        let mut c = self.clone();
        for s in &mut c.sources {
            s.url = s.url.as_deref().map(crate::secrets::redact_url);
        }
        c.store.url = crate::secrets::redact_url(&c.store.url);
        toml::to_string_pretty(&c).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_parses_and_validates() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/gateway.example.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let cfg = Config::parse(&text).unwrap();
        cfg.validate().unwrap();
        assert_eq!(cfg.sources.len(), 3);
        assert_eq!(cfg.server.listen.port(), 50051);
    }

    #[test]
    fn unknown_key_is_named() {
        let e = Config::parse("[server]\nlisten = \"127.0.0.1:1\"\nlisten_adress = 3\n").unwrap_err();
        assert!(e.contains("listen_adress"), "{e}");
    }

    #[test]
    fn env_overrides_listen() {
        let mut c = Config::parse("").unwrap();
        c.apply_env(|k| (k == "CGW_LISTEN").then(|| "0.0.0.0:9000".to_string()))
            .unwrap();
        assert_eq!(c.server.listen.port(), 9000);
        let e = c
            .apply_env(|k| (k == "CGW_LISTEN").then(|| "nope".to_string()))
            .unwrap_err();
        assert!(e.contains("CGW_LISTEN"), "{e}");
    }

    #[test]
    fn cache_and_stack_defaults_and_checks() {
        let c = Config::parse("[[sources]]\ndefinition = \"a\"\n").unwrap();
        c.validate().unwrap();
        assert!(c.cache.enabled && c.cache.max_size_mib == 256 && c.admin.metrics_listen.is_none());
        assert_eq!(c.sources[0].stack.breaker_failures, 5);
        let c = Config::parse("[[sources]]\ndefinition = \"a\"\n[sources.stack]\nbreaker_failures = 0\n").unwrap();
        let e = c.validate().unwrap_err();
        assert_eq!(e, "key `sources[0].stack.breaker_failures`: must be > 0");
        let c = Config::parse("[cache]\nmax_size_mib = 0\n").unwrap();
        assert!(c.validate().unwrap_err().starts_with("key `cache.max_size_mib`"));
        let e = Config::parse("[cache]\nmax_size = 1\n").unwrap_err();
        assert!(e.contains("max_size"), "{e}");
        let mut c = Config::parse("").unwrap();
        c.apply_env(|k| (k == "CGW_METRICS_LISTEN").then(|| "127.0.0.1:9999".to_string()))
            .unwrap();
        assert_eq!(c.admin.metrics_listen.map(|a| a.port()), Some(9999));
    }

    #[test]
    fn redacted_dump_hides_passwords() {
        let c = Config::parse("[[sources]]\ndefinition = \"a\"\nurl = \"postgres://u:topsecret@h/db\"\n").unwrap();
        let dump = c.redacted_toml();
        assert!(!dump.contains("topsecret") && dump.contains("***"), "{dump}");
    }
}
