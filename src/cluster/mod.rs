//! The shared tier of several gateway replicas behind one load balancer, through Redis (`[redis] url`;
//! off by default: a single gateway needs nothing installed).
//!
//! - **L2 cache** (`l2.rs`): behind each replica's moka cache. An L1 miss reads Redis before the backend;
//!   values carry the time the backend answered, so a STALE age is the same on every replica.
//! - **Load leases** (`l2.rs`): a miss that Redis cannot answer takes a short lease (`SET NX PX`); the
//!   replica that wins loads from the backend, the others wait for its value, so a herd of callers
//!   spread over the replicas costs one backend query per source.
//! - **Invalidations** (`bus.rs`): an invalidation on one replica (admin RPC, a backend's NOTIFY) drops
//!   the answers from Redis and is published; every replica drops them from its own cache.
//! - **Per-caller rate limits** (`limits.rs`): one token bucket per caller in Redis, whichever replica the
//!   call reaches.
//!
//! Redis is never on the answer's critical path for correctness: every command is bounded by
//! `op_timeout_ms`, and a failure puts the replica on its own (L1 cache only, per-replica limits) for
//! `retry_ms` before it tries again, with `cgw_redis_up` at 0, `cgw_redis_errors_total` counting, and
//! one log line each way. No caller sees an error because Redis is down.
use crate::secrets;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod bus;
pub mod l2;
pub mod limits;

pub use crate::config::redis_tier::RedisConfig;
pub use bus::Remote;

/// A connection to the shared tier, and whether it is usable now.
pub struct Shared {
    conn: redis::aio::ConnectionManager,
    client: redis::Client,
    prefix: String,
    /// This replica's id (random): its own published invalidations are not applied twice.
    replica: String,
    lease: Duration,
    op_timeout: Duration,
    retry: Duration,
    shared_limits: bool,
    url: String,
    /// Microseconds since `epoch` until which the replica works alone; 0 when Redis is usable.
    down_until_us: AtomicU64,
    up: AtomicBool,
    epoch: Instant,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("url", &self.url)
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl Shared {
    /// The tier of `cfg`, or `None` when `[redis] url` is unset. Connects at once (within a second), so
    /// the first calls do not pay for it; a Redis that is down at start leaves the gateway serving on its
    /// own until it comes up.
    pub async fn open(cfg: &RedisConfig) -> Result<Option<Arc<Shared>>, String> {
        let Some(url) = &cfg.url else { return Ok(None) };
        let redacted = secrets::redact_url(url);
        let secret_parts = secrets::secrets_of_url(url);
        let fail = |e: &dyn std::fmt::Display| {
            format!("redis ({redacted}): {}", secrets::scrub(&e.to_string(), &secret_parts))
        };
        let client = redis::Client::open(url.as_str()).map_err(|e| fail(&e))?;
        let op_timeout = Duration::from_millis(cfg.op_timeout_ms);
        let conn = redis::aio::ConnectionManager::new_lazy_with_config(
            client.clone(),
            redis::aio::ConnectionManagerConfig::new()
                .set_connection_timeout(Some(op_timeout.max(Duration::from_millis(500))))
                .set_response_timeout(Some(op_timeout))
                .set_number_of_retries(1)
                .set_max_delay(Duration::from_millis(cfg.retry_ms)),
        )
        .map_err(|e| fail(&e))?;
        let replica = format!("{:016x}", rand::random::<u64>());
        let shared = Arc::new(Shared {
            conn,
            client,
            prefix: cfg.key_prefix.clone(),
            replica,
            lease: Duration::from_millis(cfg.lease_ms),
            op_timeout,
            retry: Duration::from_millis(cfg.retry_ms),
            shared_limits: cfg.shared_rate_limits,
            url: redacted,
            down_until_us: AtomicU64::new(0),
            up: AtomicBool::new(true),
            epoch: Instant::now(),
        });
        metrics::gauge!("cgw_redis_up").set(1.0);
        let ping = async {
            let mut c = shared.conn.clone();
            redis::cmd("PING").query_async::<String>(&mut c).await
        };
        match tokio::time::timeout(Duration::from_secs(1), ping).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => shared.failed("connect", &e.to_string()),
            Err(_) => shared.failed("connect", "no answer within 1 s"),
        }
        Ok(Some(shared))
    }

    /// The URL with its password redacted.
    pub fn redacted_url(&self) -> &str {
        &self.url
    }

    /// This replica's id in the tier.
    pub fn replica(&self) -> &str {
        &self.replica
    }

    /// Whether per-caller limits are counted here.
    pub fn shares_limits(&self) -> bool {
        self.shared_limits
    }

    /// How long a load lease lasts.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// `prefix` + `rest`.
    fn key(&self, rest: &str) -> String {
        format!("{}{rest}", self.prefix)
    }

    fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    /// Whether Redis may be tried now (not within the back-off after a failure).
    pub fn available(&self) -> bool {
        let until = self.down_until_us.load(Ordering::Relaxed);
        until == 0 || self.now_us() >= until
    }

    /// Whether the last command succeeded.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Runs one Redis command within `op_timeout_ms`: `None` when Redis is within its back-off, the
    /// command failed or it took too long (then the back-off starts, counted and logged once).
    pub async fn run<T, F>(&self, op: &'static str, f: impl FnOnce(redis::aio::ConnectionManager) -> F) -> Option<T>
    where
        F: Future<Output = redis::RedisResult<T>>,
    {
        if !self.available() {
            return None;
        }
        match tokio::time::timeout(self.op_timeout, f(self.conn.clone())).await {
            Ok(Ok(v)) => {
                self.succeeded();
                Some(v)
            }
            Ok(Err(e)) => {
                self.failed(op, &e.to_string());
                None
            }
            Err(_) => {
                self.failed(op, &format!("no answer within {} ms", self.op_timeout.as_millis()));
                None
            }
        }
    }

    fn succeeded(&self) {
        self.down_until_us.store(0, Ordering::Relaxed);
        if !self.up.swap(true, Ordering::Relaxed) {
            metrics::gauge!("cgw_redis_up").set(1.0);
            tracing::info!(redis = %self.url, "redis reachable again: the shared cache, leases and limits are back");
        }
    }

    /// Records a failure: the replica works alone for `retry_ms`.
    fn failed(&self, op: &'static str, why: &str) {
        metrics::counter!("cgw_redis_errors_total", "op" => op).increment(1);
        let until = self.now_us() + self.retry.as_micros() as u64;
        self.down_until_us.store(until.max(1), Ordering::Relaxed);
        if self.up.swap(false, Ordering::Relaxed) {
            metrics::gauge!("cgw_redis_up").set(0.0);
            tracing::warn!(
                redis = %self.url,
                op,
                error = %why,
                "redis unavailable: serving from this replica's own cache and rate limits (callers see no \
                 error); retrying every {} ms",
                self.retry.as_millis()
            );
        }
    }
}
