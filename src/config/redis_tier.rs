//! `[redis]`: the shared tier of several gateway replicas (see `src/cluster/`).
use crate::secrets;
use serde::{Deserialize, Serialize};

/// `[redis]`: the tier several replicas share.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://host:6379/0` (`rediss://` is not supported). Unset: no shared tier, each gateway on its
    /// own. Env `CGW_REDIS_URL` wins, then the variable named by `url_env`.
    #[serde(default)]
    pub url: Option<String>,
    /// Environment variable holding the URL (used when set and `CGW_REDIS_URL` is not).
    #[serde(default)]
    pub url_env: Option<String>,
    /// Prefix of every key and channel: several deployments (or test runs) can share one Redis.
    #[serde(default = "default_prefix")]
    pub key_prefix: String,
    /// How long the replica that won a missed key's lease may take to load it before another replica
    /// tries, in milliseconds.
    #[serde(default = "default_lease_ms")]
    pub lease_ms: u64,
    /// Bound on each Redis command, in milliseconds; past it the command counts as failed.
    #[serde(default = "default_op_timeout_ms")]
    pub op_timeout_ms: u64,
    /// After a failed command, how long the replica works alone (L1 only, its own limits) before trying
    /// Redis again, in milliseconds.
    #[serde(default = "default_retry_ms")]
    pub retry_ms: u64,
    /// Per-caller rate limits (`[auth] rate_limit_per_minute`) counted in Redis across replicas; when
    /// Redis is down each replica counts on its own.
    #[serde(default = "default_true")]
    pub shared_rate_limits: bool,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            url: None,
            url_env: None,
            key_prefix: default_prefix(),
            lease_ms: default_lease_ms(),
            op_timeout_ms: default_op_timeout_ms(),
            retry_ms: default_retry_ms(),
            shared_rate_limits: true,
        }
    }
}

fn default_prefix() -> String {
    "cgw:".into()
}
fn default_lease_ms() -> u64 {
    2_000
}
fn default_op_timeout_ms() -> u64 {
    250
}
fn default_retry_ms() -> u64 {
    1_000
}
fn default_true() -> bool {
    true
}

impl RedisConfig {
    /// Every bad key of `[redis]`.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(u) = &self.url {
            if !u.starts_with("redis://") && !u.starts_with("redis+unix://") && !u.starts_with("unix://") {
                out.push(format!(
                    "key `redis.url`: `{}` must start with redis:// (or unix:// for a socket)",
                    secrets::redact_url(u)
                ));
            }
        }
        for (key, v, lo, hi) in [
            ("redis.lease_ms", self.lease_ms, 10, 60_000),
            ("redis.op_timeout_ms", self.op_timeout_ms, 1, 10_000),
            ("redis.retry_ms", self.retry_ms, 10, 600_000),
        ] {
            if v < lo || v > hi {
                out.push(format!("key `{key}`: {v} must be between {lo} and {hi}"));
            }
        }
        if self.key_prefix.is_empty() || self.key_prefix.len() > 64 {
            out.push("key `redis.key_prefix`: 1 to 64 characters".into());
        }
        out
    }
}
