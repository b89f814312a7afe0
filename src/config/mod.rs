//! Gateway configuration: defaults, then the TOML file (relative paths resolved against its folder), then
//! environment overrides (all applied in [`load`]), then validation, which names every bad key at once.
//! [`check`] then looks for what the file names but the machine lacks: secrets, key files, SQLite files.
//! See `config/gateway.example.toml`.
pub mod cases;
pub mod check;
pub mod console;
pub mod diagnosis;
pub mod load;
pub mod redis_tier;

pub use load::EnvOverride;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;

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
    /// The tier several replicas share through Redis (L2 cache, load leases, invalidations, rate
    /// limits); off unless `url` is set. See `docs/deploy.md`.
    #[serde(default)]
    pub redis: redis_tier::RedisConfig,
    /// Diagnosis: the scenario folder, hot reload, complaint records.
    #[serde(default)]
    pub diagnosis: diagnosis::DiagnosisConfig,
    /// Complaint cases: the routing rules, SLA policies and calendars (see `docs/complaints.md`).
    #[serde(default)]
    pub cases: cases::CasesConfig,
    /// The web console for handlers and managers (see `docs/console.md`).
    #[serde(default)]
    pub console: console::ConsoleConfig,
    /// Backends, in the order their statuses are reported.
    #[serde(default)]
    pub sources: Vec<SourceConfig>,
    /// Which source owns a part or a field of the view when sources give one subscriber different values:
    /// a view path (`customer`, `customer.name`, `recent_bills`) to a source name, or to a list of names in
    /// order of precedence. The owner's value is kept; every disagreement is reported in the response
    /// (`conflicts`) and counted (`cgw_view_conflicts_total`). Unowned, the last source's value stays (a
    /// list keeps every source's elements), and the disagreement is reported all the same.
    #[serde(default)]
    pub owners: std::collections::BTreeMap<String, Owners>,
    /// The environment overrides [`Config::apply_env`] applied, for `check-config` (not a key).
    #[serde(skip)]
    pub overrides: Vec<EnvOverride>,
}

/// The owner of a view path: one source, or sources in order of precedence.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Owners {
    One(String),
    Precedence(Vec<String>),
}

impl Owners {
    pub fn sources(&self) -> Vec<String> {
        match self {
            Owners::One(s) => vec![s.clone()],
            Owners::Precedence(v) => v.clone(),
        }
    }
}

/// Whether `path` names a field or part of `SubscriberView` (`customer`, `customer.name`).
fn view_path_problem(path: &str) -> Option<String> {
    let mut msg = crate::schema::view_descriptor();
    let mut segs = path.split('.').peekable();
    while let Some(seg) = segs.next() {
        let Some(f) = msg.get_field_by_name(seg) else {
            let names: Vec<String> = msg.fields().map(|f| f.name().to_string()).collect();
            let hint = crate::schema::closest(seg, names.iter().map(String::as_str))
                .map(|c| format!("; did you mean `{c}`?"))
                .unwrap_or_default();
            return Some(format!("`{seg}` is not a field of {}{hint}", msg.name()));
        };
        match f.kind() {
            prost_reflect::Kind::Message(m) if segs.peek().is_some() => {
                if f.is_list() || f.is_map() {
                    return Some(format!("`{seg}` is a list: name the whole list as the owned part"));
                }
                msg = m;
            }
            _ if segs.peek().is_some() => return Some(format!("`{seg}` has no fields")),
            _ => {}
        }
    }
    None
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// gRPC listen address. Env: `CGW_LISTEN`.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Upper bound on one read of a subscriber (every source, the re-read for operator IDs, and a
    /// diagnosis's read), whatever the per-source time-outs and the client's `grpc-timeout`, in
    /// milliseconds. Sources still running then are reported as TIMEOUT.
    #[serde(default = "default_request_timeout")]
    pub request_timeout_ms: u64,
    /// Largest time range one `StreamUsage` call may ask for, in days.
    #[serde(default = "default_max_range")]
    pub max_usage_range_days: u32,
    /// Connections open at once; one more is accepted and closed at once.
    #[serde(default = "default_max_connections_server")]
    pub max_connections: u32,
    /// HTTP/2 streams (calls) at once on one connection (SETTINGS_MAX_CONCURRENT_STREAMS).
    #[serde(default = "default_max_streams")]
    pub max_concurrent_streams: u32,
    /// A connection that sends nothing (no HTTP/2 preface, no TLS ClientHello; for TLS also the whole
    /// TLS handshake) within this many milliseconds is closed.
    #[serde(default = "default_handshake_timeout")]
    pub handshake_timeout_ms: u64,
    /// A connection with no traffic either way for this many seconds is closed; 0: never.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_secs: u64,
    /// HTTP/2 keep-alive: a PING every this many seconds on each connection; 0: none. A peer that
    /// does not answer within `keepalive_timeout_secs` is disconnected. Pings count as traffic, so an
    /// interval shorter than `idle_timeout_secs` keeps idle connections open.
    #[serde(default = "default_keepalive_interval")]
    pub keepalive_interval_secs: u64,
    #[serde(default = "default_keepalive_timeout")]
    pub keepalive_timeout_secs: u64,
    /// Calls per minute from one peer address that fail authentication, and reflection calls (which
    /// need none); past that, such calls — and, for a peer over the limit, every call until it
    /// recovers — are refused at once (RESOURCE_EXHAUSTED). 0: no limit.
    #[serde(default = "default_unauthenticated_per_minute")]
    pub unauthenticated_per_minute: u32,
    /// Serve gRPC server reflection (schema discovery for grpcurl and buf curl, no credential needed).
    #[serde(default = "yes")]
    pub reflection: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: default_listen(),
            request_timeout_ms: default_request_timeout(),
            max_usage_range_days: default_max_range(),
            max_connections: default_max_connections_server(),
            max_concurrent_streams: default_max_streams(),
            handshake_timeout_ms: default_handshake_timeout(),
            idle_timeout_secs: default_idle_timeout(),
            keepalive_interval_secs: default_keepalive_interval(),
            keepalive_timeout_secs: default_keepalive_timeout(),
            unauthenticated_per_minute: default_unauthenticated_per_minute(),
            reflection: true,
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
fn default_max_connections_server() -> u32 {
    1_000
}
fn default_max_streams() -> u32 {
    100
}
fn default_handshake_timeout() -> u64 {
    5_000
}
fn default_idle_timeout() -> u64 {
    120
}
fn default_keepalive_interval() -> u64 {
    300
}
fn default_keepalive_timeout() -> u64 {
    20
}
fn default_unauthenticated_per_minute() -> u32 {
    120
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
    /// How long the gateway remembers the region a backend reported for a number, in seconds (0: not
    /// at all). While the customer source is down, a handler's read is authorised by the remembered
    /// region (its age is in the answer and the audit trail); without one it is UNAVAILABLE.
    #[serde(default = "default_region_max_age")]
    pub region_max_age_secs: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            enabled: true,
            max_size_mib: default_cache_mib(),
            default_ttl_secs: default_ttl(),
            not_found_ttl_secs: default_not_found_ttl(),
            stale_max_age_secs: default_stale_max_age(),
            region_max_age_secs: default_region_max_age(),
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
fn default_region_max_age() -> u64 {
    86_400
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
    /// Calls at once kept for identity-critical reads (a region-scoped caller's region lookup): when the
    /// queue is full they go through these instead of being shed. 0: none.
    #[serde(default = "default_reserved")]
    pub reserved_concurrency: u32,
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
            reserved_concurrency: default_reserved(),
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
fn default_reserved() -> u32 {
    2
}

/// One backend.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// The adapter folder (holding `adapter.toml`), relative to this config file's folder; or
    /// `embedded:<system>` for an adapter shipped in the binary (`embedded:billing`, `embedded:crm`,
    /// `embedded:resource`).
    pub definition: PathBuf,
    /// Connection URL. Prefer `url_env` for URLs with passwords. Env `CGW_SOURCE_<NAME>_URL` wins. A
    /// relative SQLite file (`sqlite://billing.db`) is relative to this config file's folder.
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

impl SourceConfig {
    /// A source of the adapter at `definition` with every other key at its default (configs built in
    /// code: the demo, tests).
    pub fn new(definition: PathBuf) -> SourceConfig {
        SourceConfig {
            definition,
            url: None,
            url_env: None,
            timeout_ms: default_source_timeout(),
            max_connections: default_max_connections(),
            connect_timeout_ms: default_connect_timeout(),
            enabled: true,
            stack: StackConfig::default(),
        }
    }
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

/// Why a configuration cannot be used: every problem found, each naming its key.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {}", problems.join(&format!("\n{file}: ")))]
pub struct ConfigError {
    pub file: String,
    /// One message per problem, each naming the key (`key `server.listen`: …`) or the variable.
    pub problems: Vec<String>,
}

impl Config {
    /// The owners of view paths, each as a precedence list.
    pub fn owners(&self) -> std::collections::BTreeMap<String, Vec<String>> {
        self.owners.iter().map(|(p, o)| (p.clone(), o.sources())).collect()
    }

    /// Parses TOML text (no paths resolved, no environment, no validation).
    pub fn parse(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// Checks every key; the error names every bad key, one a line.
    pub fn validate(&self) -> Result<(), String> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n"))
        }
    }

    /// Every bad key of the configuration (not only the first), each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut out = self.auth.problems();
        out.extend(self.tls.problems());
        out.extend(self.store.problems());
        out.extend(self.redis.problems());
        if let Err(e) = self.diagnosis.validate() {
            out.push(e);
        }
        if let Err(e) = self.cases.validate() {
            out.push(e);
        }
        out.extend(self.console.problems());
        if !matches!(self.log.format.as_str(), "human" | "json") {
            out.push(format!(
                "key `log.format`: `{}` must be \"human\" or \"json\"",
                self.log.format
            ));
        }
        if self.server.request_timeout_ms == 0 {
            out.push("key `server.request_timeout_ms`: must be > 0".into());
        }
        for (path, o) in &self.owners {
            if let Some(why) = view_path_problem(path) {
                out.push(format!("key `owners.\"{path}\"`: {why}"));
            }
            if o.sources().is_empty() {
                out.push(format!("key `owners.\"{path}\"`: name at least one source"));
            }
        }
        for (key, v) in [
            ("server.max_connections", self.server.max_connections as u64),
            (
                "server.max_concurrent_streams",
                self.server.max_concurrent_streams as u64,
            ),
            ("server.handshake_timeout_ms", self.server.handshake_timeout_ms),
        ] {
            if v == 0 {
                out.push(format!("key `{key}`: must be > 0"));
            }
        }
        if self.server.max_concurrent_streams > 10_000 {
            out.push(format!(
                "key `server.max_concurrent_streams`: {} is more than 10000",
                self.server.max_concurrent_streams
            ));
        }
        if self.server.keepalive_interval_secs > 0 && self.server.keepalive_timeout_secs == 0 {
            out.push("key `server.keepalive_timeout_secs`: must be > 0 while `keepalive_interval_secs` is set".into());
        }
        for (i, s) in self.sources.iter().enumerate() {
            let mut bad = |key: &str, why: String| out.push(format!("key `sources[{i}].{key}`: {why}"));
            if s.timeout_ms == 0 {
                bad("timeout_ms", "must be > 0".into());
            }
            if s.max_connections == 0 {
                bad("max_connections", "must be > 0".into());
            }
            if s.stack.breaker_failures == 0 {
                bad("stack.breaker_failures", "must be > 0".into());
            }
            if s.stack.breaker_cooldown_ms == 0 {
                bad("stack.breaker_cooldown_ms", "must be > 0".into());
            }
            if s.stack.retry_budget_percent > 1000 {
                bad(
                    "stack.retry_budget_percent",
                    format!("{} is more than 1000", s.stack.retry_budget_percent),
                );
            }
            if s.stack.reserved_concurrency > 64 {
                bad(
                    "stack.reserved_concurrency",
                    format!("{} is more than 64", s.stack.reserved_concurrency),
                );
            }
            if s.stack.max_retries > 10 {
                bad("stack.max_retries", format!("{} is more than 10", s.stack.max_retries));
            }
        }
        if self.cache.enabled && self.cache.max_size_mib == 0 {
            out.push("key `cache.max_size_mib`: must be > 0 while `cache.enabled` is true".into());
        }
        out
    }

    /// The configuration as TOML with every URL's password redacted (`check-config`), headed by the
    /// environment overrides in effect.
    pub fn redacted_toml(&self) -> String {
        let mut c = self.clone();
        for s in &mut c.sources {
            s.url = s.url.as_deref().map(crate::secrets::redact_url);
        }
        c.store.url = crate::secrets::redact_url(&c.store.url);
        c.redis.url = c.redis.url.as_deref().map(crate::secrets::redact_url);
        let mut out = String::new();
        for o in &self.overrides {
            out.push_str(&format!("## `{}` from the environment variable {}\n", o.key, o.var));
        }
        out.push_str(&toml::to_string_pretty(&c).unwrap_or_default());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn example_config_parses_and_validates() {
        let cfg = Config::parse(crate::assets::EXAMPLE_CONFIG).unwrap();
        cfg.validate().unwrap();
        assert_eq!(cfg.sources.len(), 3);
        assert_eq!(cfg.server.listen.port(), 50051);
        assert_eq!(cfg.sources[0].definition, PathBuf::from("embedded:billing"));
    }

    #[test]
    fn unknown_key_is_named() {
        let e = Config::parse("[server]\nlisten = \"127.0.0.1:1\"\nlisten_adress = 3\n").unwrap_err();
        assert!(e.contains("listen_adress"), "{e}");
    }

    #[test]
    fn env_overrides_are_applied_and_recorded() {
        let mut c = Config::parse("[store]\nurl_env = \"MY_STORE\"\n").unwrap();
        let env = |k: &str| match k {
            "CGW_LISTEN" => Some("0.0.0.0:9000".to_string()),
            "CGW_METRICS_LISTEN" => Some("127.0.0.1:9999".to_string()),
            "MY_STORE" => Some("postgres://gw:pw@db/gw".to_string()),
            _ => None,
        };
        assert!(c.apply_env(&env).is_empty());
        assert_eq!(c.server.listen.port(), 9000);
        assert_eq!(c.admin.metrics_listen.map(|a| a.port()), Some(9999));
        assert_eq!(c.store.url, "postgres://gw:pw@db/gw");
        let keys: Vec<(&str, &str)> = c.overrides.iter().map(|o| (o.key.as_str(), o.var.as_str())).collect();
        assert_eq!(
            keys,
            vec![
                ("server.listen", "CGW_LISTEN"),
                ("admin.metrics_listen", "CGW_METRICS_LISTEN"),
                ("store.url", "MY_STORE")
            ]
        );
        let dump = c.redacted_toml();
        assert!(
            dump.starts_with("## `server.listen` from the environment variable CGW_LISTEN\n"),
            "{dump}"
        );
        assert!(
            dump.contains("listen = \"0.0.0.0:9000\"") && !dump.contains(":pw@"),
            "{dump}"
        );
        // CGW_STORE_URL wins over the variable `url_env` names.
        let env2 = |k: &str| {
            (k == "CGW_STORE_URL")
                .then(|| "sqlite::memory:".to_string())
                .or_else(|| env(k))
        };
        c.apply_env(&env2);
        assert_eq!(c.store.url, "sqlite::memory:");
        let e = c.apply_env(&|k| (k == "CGW_LISTEN").then(|| "nope".to_string()));
        assert_eq!(e, vec!["env CGW_LISTEN: `nope` is not an address like 127.0.0.1:50051"]);
    }

    #[test]
    fn every_bad_key_is_reported_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.toml");
        std::fs::write(
            &path,
            "[server]\nrequest_timeout_ms = 0\n[log]\nformat = \"xml\"\n[store]\nmax_connections = 0\n\
             [[auth.jwt_keys]]\nalgorithm = \"none\"\n[[sources]]\ndefinition = \"a\"\ntimeout_ms = 0\n",
        )
        .unwrap();
        let e = Config::load_with_env(&path, &|k| (k == "CGW_LISTEN").then(|| "x".into())).unwrap_err();
        let keys = [
            "CGW_LISTEN",
            "auth.jwt_keys[0].algorithm",
            "store.max_connections",
            "log.format",
            "server.request_timeout_ms",
            "sources[0].timeout_ms",
        ];
        assert_eq!(e.problems.len(), keys.len(), "{e}");
        for (p, k) in e.problems.iter().zip(keys) {
            assert!(p.contains(k), "{p} should name {k}");
        }
        assert!(
            e.to_string()
                .lines()
                .all(|l| l.starts_with(&path.display().to_string())),
            "{e}"
        );
    }

    #[test]
    fn relative_paths_in_a_file_are_relative_to_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("conf");
        std::fs::create_dir(&sub).unwrap();
        let path = sub.join("gateway.toml");
        std::fs::write(
            &path,
            "[store]\nurl = \"sqlite://state/gw.db\"\n[diagnosis]\nscenarios_dir = \"../scenarios\"\n\
             [tls]\ncert_file = \"tls/s.pem\"\nkey_file = \"/abs/s.key\"\n\
             [[auth.jwt_keys]]\nalgorithm = \"HS256\"\nsecret_file = \"k.key\"\n\
             [[sources]]\ndefinition = \"adapters/billing\"\nurl = \"sqlite://billing.db\"\n\
             [[sources]]\ndefinition = \"embedded:crm\"\nurl = \"sqlite:///abs/crm.db\"\n",
        )
        .unwrap();
        let c = Config::load_with_env(&path, &|_| None).unwrap();
        let sub = std::path::absolute(&sub).unwrap();
        assert_eq!(c.store.url, format!("sqlite://{}", sub.join("state/gw.db").display()));
        assert_eq!(c.diagnosis.scenarios_dir, Some(sub.join("../scenarios")));
        assert_eq!(c.tls.cert_file, Some(sub.join("tls/s.pem")));
        assert_eq!(c.tls.key_file.as_deref(), Some(Path::new("/abs/s.key")));
        assert_eq!(c.auth.jwt_keys[0].secret_file, Some(sub.join("k.key")));
        assert_eq!(c.sources[0].definition, sub.join("adapters/billing"));
        assert_eq!(
            c.sources[0].url,
            Some(format!("sqlite://{}", sub.join("billing.db").display()))
        );
        assert_eq!(c.sources[1].definition, PathBuf::from("embedded:crm"));
        assert_eq!(c.sources[1].url.as_deref(), Some("sqlite:///abs/crm.db"));
    }

    #[test]
    fn a_source_url_override_is_found_by_the_definition_name() {
        let mut c = Config::parse(
            "[[sources]]\ndefinition = \"embedded:billing\"\nurl = \"sqlite://file.db\"\n\
             [[sources]]\ndefinition = \"embedded:crm\"\n",
        )
        .unwrap();
        let env = |k: &str| match k {
            "CGW_SOURCE_BILLING_URL" => Some("postgres://u:secret@h/bss".to_string()),
            // The embedded crm definition's `url_env`.
            "CGW_CRM_URL" => Some("mysql://h/crm".to_string()),
            _ => None,
        };
        assert!(c.apply_env(&env).is_empty());
        assert_eq!(c.sources[0].url.as_deref(), Some("postgres://u:secret@h/bss"));
        assert_eq!(c.sources[1].url.as_deref(), Some("mysql://h/crm"));
        let dump = c.redacted_toml();
        assert!(
            dump.contains("## `sources[0].url` from the environment variable CGW_SOURCE_BILLING_URL"),
            "{dump}"
        );
        assert!(
            dump.contains("postgres://u:***@h/bss") && !dump.contains("secret"),
            "{dump}"
        );
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
    }

    #[test]
    fn redacted_dump_hides_passwords() {
        let c = Config::parse("[[sources]]\ndefinition = \"a\"\nurl = \"postgres://u:topsecret@h/db\"\n").unwrap();
        let dump = c.redacted_toml();
        assert!(!dump.contains("topsecret") && dump.contains("***"), "{dump}");
    }
}
