//! The tower stack around each adapter: what protects a backend (and the gateway) when the backend is slow,
//! overloaded or down. The cache sits outside this stack (`view.rs`), so a cache hit takes no permit.
//!
//! Order, outermost first (each layer's reason is on the line that adds it in [`Stack::new`]):
//!
//! ```text
//! circuit breaker → load shed → queue (buffer) → concurrency limit → retry (budget) → attempt time-out → adapter
//! ```
//!
//! Identity-critical calls (the region lookup that authorises a handler) that the shedder refuses get one
//! more chance through a small reserved lane beside the queue: breaker → reserved permits → attempt
//! time-out → adapter. A burst of ordinary reads can then fill the queue without turning handlers' reads
//! into refusals.
//!
//! Every call carries the deadline of the view read that made it (the client's `grpc-timeout`, capped by
//! the source's `timeout_ms`): the per-attempt time-out and the retry policy never let backend work run past it.
use crate::adapters::{Adapter, AdapterError, FetchRequest, SourceData};
use crate::config::StackConfig;
use futures::future::BoxFuture;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tower::retry::budget::{Budget, TpsBudget};
use tower::util::BoxCloneSyncService;
use tower::{BoxError, Layer, Service, ServiceBuilder, ServiceExt};

/// One call through a stack: the fetch, and the instant by which all its work must be done.
#[derive(Debug, Clone)]
pub struct Call {
    pub req: FetchRequest,
    pub deadline: Instant,
}

/// Why a call through the stack failed. Messages never carry credentials (adapter errors are scrubbed).
#[derive(Debug, Clone, thiserror::Error)]
pub enum StackError {
    /// The adapter (or the attempt time-out) failed.
    #[error(transparent)]
    Adapter(#[from] AdapterError),
    /// The breaker is open: the backend failed repeatedly; no call is sent until the next probe.
    #[error("circuit open after {failures} consecutive failures; next probe in {} ms", .retry_in.as_millis())]
    CircuitOpen { failures: u32, retry_in: Duration },
    /// Too many calls are already waiting for this backend.
    #[error("overloaded: {0} calls already wait for this backend")]
    Overloaded(u32),
}

/// A stack refusal as the caller sees it: the backend is (made) unavailable for now; retry later.
impl From<StackError> for crate::error::Error {
    fn from(e: StackError) -> Self {
        match e {
            StackError::Adapter(a) => a.into(),
            other => crate::error::Error::SourceUnavailable(format!("{other}; retry later")),
        }
    }
}

impl StackError {
    /// A short label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            StackError::Adapter(AdapterError::Unavailable(_)) => "unavailable",
            StackError::Adapter(AdapterError::Timeout(_)) => "timeout",
            StackError::Adapter(AdapterError::Query { .. }) => "query",
            StackError::Adapter(AdapterError::Unsupported(_)) => "unsupported",
            StackError::CircuitOpen { .. } => "circuit_open",
            StackError::Overloaded(_) => "overloaded",
        }
    }

    /// Whether another attempt may help.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StackError::Adapter(e) if e.is_retryable())
    }

    /// Whether the backend itself failed (what the breaker counts): not a shed or open-circuit refusal,
    /// and not a query the backend answered with an error (a broken definition is not an outage).
    fn is_backend_failure(&self) -> bool {
        matches!(self, StackError::Adapter(e) if e.is_retryable())
    }

    fn from_box(e: BoxError) -> StackError {
        match e.downcast::<StackError>() {
            Ok(s) => *s,
            Err(e) => match e.downcast::<AdapterError>() {
                Ok(a) => StackError::Adapter(*a),
                Err(e) => StackError::Adapter(AdapterError::Unavailable(format!("gateway stack: {e}"))),
            },
        }
    }
}

/// The state of a source's circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls fail at once until the cool-down ends.
    Open,
    /// One probe call is in flight; the others fail at once.
    HalfOpen,
}

impl BreakerState {
    /// The value of the `cgw_breaker_state` gauge.
    pub fn gauge(self) -> f64 {
        match self {
            BreakerState::Closed => 0.0,
            BreakerState::Open => 1.0,
            BreakerState::HalfOpen => 2.0,
        }
    }
}

#[derive(Debug)]
enum Phase {
    Closed,
    Open { until: Instant },
    HalfOpen,
}

#[derive(Debug)]
struct BreakerCore {
    phase: Phase,
    failures: u32,
}

/// A consecutive-failure circuit breaker: opens after `threshold` failed calls in a row, lets one probe
/// through after `cooldown`, closes when the probe succeeds.
#[derive(Clone)]
pub struct Breaker {
    source: Arc<str>,
    threshold: u32,
    cooldown: Duration,
    core: Arc<Mutex<BreakerCore>>,
    tx: Arc<tokio::sync::watch::Sender<BreakerState>>,
}

impl Breaker {
    pub fn new(source: &str, threshold: u32, cooldown: Duration) -> Breaker {
        let (tx, _) = tokio::sync::watch::channel(BreakerState::Closed);
        let b = Breaker {
            source: Arc::from(source),
            threshold: threshold.max(1),
            cooldown,
            core: Arc::new(Mutex::new(BreakerCore {
                phase: Phase::Closed,
                failures: 0,
            })),
            tx: Arc::new(tx),
        };
        metrics::gauge!("cgw_breaker_state", "source" => b.source.to_string()).set(0.0);
        b
    }

    /// The current state.
    pub fn state(&self) -> BreakerState {
        *self.tx.borrow()
    }

    /// Follows state changes (health reporting).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<BreakerState> {
        self.tx.subscribe()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BreakerCore> {
        self.core.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn publish(&self, state: BreakerState) {
        let changed = self.tx.send_if_modified(|s| {
            let c = *s != state;
            *s = state;
            c
        });
        if changed {
            metrics::gauge!("cgw_breaker_state", "source" => self.source.to_string()).set(state.gauge());
            let to = match state {
                BreakerState::Closed => "closed",
                BreakerState::Open => "open",
                BreakerState::HalfOpen => "half_open",
            };
            metrics::counter!("cgw_breaker_transitions_total", "source" => self.source.to_string(), "to" => to)
                .increment(1);
            tracing::warn!(source = %self.source, state = to, "circuit breaker");
        }
    }

    /// Admits a call: `Ok(true)` for the half-open probe, `Ok(false)` for a normal call.
    pub(crate) fn admit(&self) -> Result<bool, StackError> {
        let mut core = self.lock();
        match core.phase {
            Phase::Closed => Ok(false),
            Phase::Open { until } => {
                let now = Instant::now();
                if now >= until {
                    core.phase = Phase::HalfOpen;
                    drop(core);
                    self.publish(BreakerState::HalfOpen);
                    Ok(true)
                } else {
                    Err(StackError::CircuitOpen {
                        failures: core.failures,
                        retry_in: until - now,
                    })
                }
            }
            Phase::HalfOpen => Err(StackError::CircuitOpen {
                failures: core.failures,
                retry_in: Duration::ZERO,
            }),
        }
    }

    /// Records a call's outcome: `Some(true)` the backend answered, `Some(false)` it failed, `None` neither
    /// (shed, or abandoned by its caller).
    pub(crate) fn record(&self, probe: bool, outcome: Option<bool>) {
        let mut core = self.lock();
        let next = match (outcome, probe) {
            (Some(true), _) => {
                core.failures = 0;
                core.phase = Phase::Closed;
                BreakerState::Closed
            }
            (Some(false), _) => {
                core.failures = core.failures.saturating_add(1);
                if probe || core.failures >= self.threshold {
                    core.phase = Phase::Open {
                        until: Instant::now() + self.cooldown,
                    };
                    BreakerState::Open
                } else {
                    return;
                }
            }
            // A probe that proved nothing: let the next call probe again.
            (None, true) => {
                core.phase = Phase::Open { until: Instant::now() };
                BreakerState::Open
            }
            (None, false) => return,
        };
        drop(core);
        self.publish(next);
    }
}

/// Records the call's outcome when the call ends, also when its caller drops it half-way.
pub(crate) struct Outcome {
    pub(crate) breaker: Breaker,
    pub(crate) probe: bool,
    pub(crate) result: Option<bool>,
}

impl Outcome {
    /// Sets what the call's end will record.
    pub(crate) fn set(&mut self, result: Option<bool>) {
        self.result = result;
    }
}

impl Drop for Outcome {
    fn drop(&mut self) {
        self.breaker.record(self.probe, self.result);
    }
}

/// The breaker as a tower layer.
#[derive(Clone)]
struct BreakerLayer(Breaker);

impl<S> Layer<S> for BreakerLayer {
    type Service = BreakerService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        BreakerService {
            inner,
            breaker: self.0.clone(),
        }
    }
}

#[derive(Clone)]
struct BreakerService<S> {
    inner: S,
    breaker: Breaker,
}

impl<S> Service<Call> for BreakerService<S>
where
    S: Service<Call, Response = SourceData, Error = BoxError>,
    S::Future: Send + 'static,
{
    type Response = SourceData;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<SourceData, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, call: Call) -> Self::Future {
        let probe = match self.breaker.admit() {
            Ok(p) => p,
            Err(e) => return Box::pin(std::future::ready(Err(e.into()))),
        };
        let outcome = Outcome {
            breaker: self.breaker.clone(),
            probe,
            result: None,
        };
        let fut = self.inner.call(call);
        Box::pin(async move {
            // Move the whole guard in (not just the field), so it records even if this future is dropped.
            let mut outcome = outcome;
            let r = fut.await;
            outcome.result = match &r {
                Ok(_) => Some(true),
                Err(e) => match e.downcast_ref::<StackError>() {
                    Some(se) if se.is_backend_failure() => Some(false),
                    Some(StackError::Overloaded(_)) | Some(StackError::CircuitOpen { .. }) => None,
                    _ if e.is::<tower::load_shed::error::Overloaded>() => None,
                    // The backend answered, with an error of the query's own.
                    _ => Some(true),
                },
            };
            r
        })
    }
}

/// Cuts one attempt at `attempt_timeout` or at the call's deadline, whichever comes first.
#[derive(Clone)]
struct AttemptTimeoutLayer(Duration);

impl<S> Layer<S> for AttemptTimeoutLayer {
    type Service = AttemptTimeout<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AttemptTimeout { inner, limit: self.0 }
    }
}

#[derive(Clone)]
struct AttemptTimeout<S> {
    inner: S,
    limit: Duration,
}

impl<S> Service<Call> for AttemptTimeout<S>
where
    S: Service<Call, Response = SourceData, Error = BoxError>,
    S::Future: Send + 'static,
{
    type Response = SourceData;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<SourceData, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, call: Call) -> Self::Future {
        let budget = self.limit.min(call.deadline.saturating_duration_since(Instant::now()));
        let fut = self.inner.call(call);
        Box::pin(async move {
            match tokio::time::timeout(budget, fut).await {
                Ok(r) => r,
                Err(_) => Err(Box::new(StackError::Adapter(AdapterError::Timeout(budget))) as BoxError),
            }
        })
    }
}

/// Retries retryable failures while the shared budget, the attempt count and the deadline allow.
#[derive(Clone)]
struct RetryPolicy {
    source: Arc<str>,
    budget: Arc<TpsBudget>,
    max_retries: u32,
    backoff: Duration,
    attempts: u32,
}

impl tower::retry::Policy<Call, SourceData, BoxError> for RetryPolicy {
    type Future = tokio::time::Sleep;

    fn retry(&mut self, call: &mut Call, result: &mut Result<SourceData, BoxError>) -> Option<Self::Future> {
        if self.attempts == 0 {
            // Every call (not every attempt) earns the budget its share of retries.
            self.budget.deposit();
        }
        let err = result.as_ref().err()?;
        let retryable = err.downcast_ref::<StackError>().is_some_and(StackError::is_retryable);
        if !retryable || self.attempts >= self.max_retries {
            return None;
        }
        let pause = self.backoff * (self.attempts + 1);
        // A retry that cannot finish before the deadline only adds load.
        if Instant::now() + pause >= call.deadline {
            return None;
        }
        if !self.budget.withdraw() {
            metrics::counter!("cgw_retry_budget_exhausted_total", "source" => self.source.to_string()).increment(1);
            return None;
        }
        self.attempts += 1;
        metrics::counter!("cgw_retries_total", "source" => self.source.to_string()).increment(1);
        Some(tokio::time::sleep(pause))
    }

    fn clone_request(&mut self, call: &Call) -> Option<Call> {
        Some(call.clone())
    }
}

/// The adapter as the innermost service: one attempt, timed for metrics.
#[derive(Clone)]
struct AdapterService {
    adapter: Arc<dyn Adapter>,
    source: Arc<str>,
}

impl Service<Call> for AdapterService {
    type Response = SourceData;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<SourceData, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, call: Call) -> Self::Future {
        let fut = self.adapter.fetch(call.req);
        let source = self.source.clone();
        Box::pin(async move {
            let t0 = Instant::now();
            let r = fut.await;
            let outcome = if r.is_ok() { "ok" } else { "error" };
            metrics::histogram!("cgw_backend_query_seconds", "source" => source.to_string())
                .record(t0.elapsed().as_secs_f64());
            metrics::counter!("cgw_backend_queries_total", "source" => source.to_string(), "outcome" => outcome)
                .increment(1);
            tracing::debug!(source = %source, outcome, latency_us = t0.elapsed().as_micros() as u64, "backend query");
            r.map_err(|e| Box::new(StackError::Adapter(e)) as BoxError)
        })
    }
}

/// Resolved settings of one stack.
#[derive(Debug, Clone)]
pub struct StackSettings {
    pub max_concurrency: usize,
    pub max_queue: usize,
    pub attempt_timeout: Duration,
    pub max_retries: u32,
    pub retry_budget_percent: u32,
    pub retry_min_per_sec: u32,
    pub retry_backoff: Duration,
    pub breaker_failures: u32,
    pub breaker_cooldown: Duration,
    /// Permits of the reserved lane for identity-critical calls (0: no lane).
    pub reserved_concurrency: usize,
}

impl StackSettings {
    /// Resolves `[sources.stack]`: zeros take the source's pool size and time-out.
    pub fn resolve(cfg: &StackConfig, max_connections: u32, source_timeout: Duration) -> StackSettings {
        StackSettings {
            max_concurrency: if cfg.max_concurrency == 0 {
                max_connections
            } else {
                cfg.max_concurrency
            }
            .max(1) as usize,
            max_queue: cfg.max_queue.max(1) as usize,
            attempt_timeout: if cfg.attempt_timeout_ms == 0 {
                source_timeout
            } else {
                Duration::from_millis(cfg.attempt_timeout_ms)
            },
            max_retries: cfg.max_retries,
            retry_budget_percent: cfg.retry_budget_percent,
            retry_min_per_sec: cfg.retry_min_per_sec,
            retry_backoff: Duration::from_millis(cfg.retry_backoff_ms),
            breaker_failures: cfg.breaker_failures,
            breaker_cooldown: Duration::from_millis(cfg.breaker_cooldown_ms),
            reserved_concurrency: cfg.reserved_concurrency as usize,
        }
    }
}

/// Which way a call goes through its source's stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lane {
    /// Through the shedder and the queue; shed when the queue is full.
    #[default]
    Normal,
    /// Identity-critical (a region lookup that authorises the caller): when shed, it takes a permit of
    /// the reserved lane instead.
    Critical,
}

/// One source's stack: clone it freely, clones share permits, queue, budget and breaker.
#[derive(Clone)]
pub struct Stack {
    source: Arc<str>,
    svc: BoxCloneSyncService<Call, SourceData, BoxError>,
    /// The reserved lane for identity-critical calls, when configured.
    reserved: Option<BoxCloneSyncService<Call, SourceData, BoxError>>,
    breaker: Breaker,
    /// Usage streams open at once (`StreamUsage` holds a connection for a stream's life).
    streams: Arc<tokio::sync::Semaphore>,
    max_streams: u32,
    attempt_timeout: Duration,
}

impl Stack {
    /// Builds the stack around `adapter`. Must run inside a Tokio runtime (the queue has a worker task).
    pub fn new(adapter: Arc<dyn Adapter>, settings: &StackSettings) -> Stack {
        let source: Arc<str> = Arc::from(adapter.name());
        let breaker = Breaker::new(&source, settings.breaker_failures, settings.breaker_cooldown);
        let budget = Arc::new(TpsBudget::new(
            Duration::from_secs(10),
            settings.retry_min_per_sec,
            settings.retry_budget_percent as f32 / 100.0,
        ));
        let policy = RetryPolicy {
            source: source.clone(),
            budget,
            max_retries: settings.max_retries,
            backoff: settings.retry_backoff,
            attempts: 0,
        };
        let svc = ServiceBuilder::new()
            // Breaker first: while the backend is known to be down a call fails in microseconds, taking no
            // queue slot, permit or retry, so callers fall back to stale data at once.
            .layer(BreakerLayer(breaker.clone()))
            // Load shed next: a call that would find the queue full is refused now (the view reports the
            // source as overloaded) instead of waiting for a time-out.
            .load_shed()
            // A bounded queue in front of the permits: bursts wait their turn, in order, up to `max_queue`.
            .buffer(settings.max_queue)
            // Concurrency limit at the pool size: the backend never sees more statements from this
            // gateway than its pool allows, and the pool never queues callers of its own.
            .concurrency_limit(settings.max_concurrency)
            // Retry inside the permit: a retry re-uses the caller's slot, so retries cannot crowd out other
            // callers; the budget caps retries at a share of traffic during an outage.
            .retry(policy)
            // Per-attempt time-out innermost: one hung attempt is cut in time for a retry, and no attempt
            // outlives the caller's deadline.
            .layer(AttemptTimeoutLayer(settings.attempt_timeout))
            .service(AdapterService {
                adapter: adapter.clone(),
                source: source.clone(),
            });
        // The reserved lane shares the breaker (an open circuit fails critical calls at once too) but not
        // the queue: a few permits of its own, no retry, one attempt cut at the same time-out. Its permits
        // come on top of `max_concurrency`; the pool queues them briefly behind the statements running.
        let reserved = (settings.reserved_concurrency > 0).then(|| {
            BoxCloneSyncService::new(
                ServiceBuilder::new()
                    .layer(BreakerLayer(breaker.clone()))
                    .concurrency_limit(settings.reserved_concurrency)
                    .layer(AttemptTimeoutLayer(settings.attempt_timeout))
                    .service(AdapterService {
                        adapter,
                        source: source.clone(),
                    }),
            )
        });
        let max_queue = settings.max_queue as u32;
        let svc = svc.map_err(move |e: BoxError| {
            if e.is::<tower::load_shed::error::Overloaded>() {
                Box::new(StackError::Overloaded(max_queue)) as BoxError
            } else {
                e
            }
        });
        Stack {
            source,
            svc: BoxCloneSyncService::new(svc),
            reserved,
            breaker,
            streams: Arc::new(tokio::sync::Semaphore::new(settings.max_concurrency)),
            max_streams: settings.max_concurrency as u32,
            attempt_timeout: settings.attempt_timeout,
        }
    }

    /// The source this stack serves.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The source's circuit breaker.
    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    /// The longest one attempt may take (a usage stream's wait for each record).
    pub fn attempt_timeout(&self) -> Duration {
        self.attempt_timeout
    }

    /// A permit for one usage stream: at most `max_concurrency` at once; one more is refused at once.
    pub(crate) fn stream_permit(&self) -> Result<tokio::sync::OwnedSemaphorePermit, StackError> {
        self.streams
            .clone()
            .try_acquire_owned()
            .map_err(|_| StackError::Overloaded(self.max_streams))
    }

    /// Sends one fetch through the stack; all its work ends by `deadline`.
    pub async fn call(&self, req: FetchRequest, deadline: Instant) -> Result<SourceData, StackError> {
        self.call_in(req, deadline, Lane::Normal).await
    }

    /// [`call`](Self::call) in `lane`: a critical call the shedder refuses goes through the reserved lane.
    pub async fn call_in(&self, req: FetchRequest, deadline: Instant, lane: Lane) -> Result<SourceData, StackError> {
        let call = Call { req, deadline };
        let again = (lane == Lane::Critical && self.reserved.is_some()).then(|| call.clone());
        let mut r = self.svc.clone().oneshot(call).await.map_err(StackError::from_box);
        if let (Err(StackError::Overloaded(_)), Some(call), Some(reserved)) = (&r, again, &self.reserved) {
            metrics::counter!("cgw_reserved_calls_total", "source" => self.source.to_string()).increment(1);
            let budget = deadline.saturating_duration_since(Instant::now());
            r = match tokio::time::timeout(budget, reserved.clone().oneshot(call)).await {
                Ok(r) => r.map_err(StackError::from_box),
                Err(_) => Err(StackError::Adapter(AdapterError::Timeout(budget))),
            };
        }
        r.inspect_err(|e| {
            metrics::counter!("cgw_source_errors_total", "source" => self.source.to_string(), "kind" => e.kind())
                .increment(1);
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_opens_probes_and_closes() {
        let b = Breaker::new("t", 3, Duration::from_millis(30));
        for _ in 0..2 {
            assert!(!b.admit().unwrap());
            b.record(false, Some(false));
        }
        assert_eq!(b.state(), BreakerState::Closed);
        b.record(false, Some(false));
        assert_eq!(b.state(), BreakerState::Open);
        let e = b.admit().unwrap_err();
        assert!(
            e.to_string().starts_with("circuit open after 3 consecutive failures"),
            "{e}"
        );
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.admit().unwrap(), "first call after the cool-down is the probe");
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(
            matches!(b.admit(), Err(StackError::CircuitOpen { .. })),
            "one probe at a time"
        );
        b.record(true, Some(false));
        assert_eq!(b.state(), BreakerState::Open, "a failed probe re-opens");
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.admit().unwrap());
        b.record(true, Some(true));
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(!b.admit().unwrap());
    }

    #[test]
    fn only_backend_failures_count() {
        assert!(StackError::Adapter(AdapterError::Unavailable("x".into())).is_backend_failure());
        assert!(StackError::Adapter(AdapterError::Timeout(Duration::from_millis(1))).is_backend_failure());
        let q = StackError::Adapter(AdapterError::Query {
            entity: "a".into(),
            message: "syntax".into(),
        });
        assert!(!q.is_backend_failure() && !q.is_retryable());
        assert!(!StackError::Overloaded(3).is_backend_failure());
        assert_eq!(
            StackError::Overloaded(3).to_string(),
            "overloaded: 3 calls already wait for this backend"
        );
    }
}
