//! Assembling the unified view: every selected source is queried concurrently under its own time-out,
//! its partial view is merged in (protobuf merge: lists append, messages merge), and its state is
//! reported in a `SourceStatus`. One failing or slow source never fails the call.
//!
//! Each source is read through the cache (`cache.rs`) and, on a miss, through its resilience stack
//! (`stack.rs`): the cache sits outside the stack, so a hit takes no permit.
mod assembled;
pub mod conflicts;

use self::assembled::Assembled;
use self::conflicts::{Conflict, Ownership};
use crate::adapters::registry::{Registry, Source};
use crate::adapters::{AdapterError, FetchRequest, Invalidation, SourceData};
use crate::cache::{CacheKey, CacheSettings, ReadPolicy, Served, ViewCache};
use crate::config::{CacheConfig, Config};
use crate::error::Error;
use crate::proto::complaint::v1::{SourceState, SourceStatus, SubscriberView};
use crate::stack::{Lane, Stack, StackError, StackSettings};
use prost::Message;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// A view read and what each source said.
#[derive(Debug, Clone)]
pub struct ViewOutcome {
    /// Shared with the kept assembly it came from, if any (`assembled.rs`); change it through
    /// [`Arc::make_mut`] (or [`ViewOutcome::mask_personal`]), which leaves the kept one alone.
    pub view: Arc<SubscriberView>,
    pub statuses: Vec<SourceStatus>,
    /// Fields the sources disagreed on, and whose value the view holds.
    pub conflicts: Vec<Conflict>,
    /// The kept assembly this outcome was taken from: its masked view and both encodings are made once
    /// and shared by every read that takes it.
    kept: Option<Arc<assembled::Kept>>,
}

impl ViewOutcome {
    /// An outcome of its own (not taken from a kept assembly).
    pub fn new(view: SubscriberView, statuses: Vec<SourceStatus>, conflicts: Vec<Conflict>) -> ViewOutcome {
        ViewOutcome {
            view: Arc::new(view),
            statuses,
            conflicts,
            kept: None,
        }
    }

    /// Masks the view's personal fields for a caller without `read_pii` ([`mask_view`]). A view taken
    /// from a kept assembly takes the masked copy made by the first read that needed it.
    ///
    /// [`mask_view`]: crate::identity::masking::mask_view
    pub fn mask_personal(&mut self) {
        if let Some(masked) = self.kept.as_ref().and_then(|k| k.masked_for(&self.view)) {
            self.view = masked;
            return;
        }
        crate::identity::masking::mask_view(Arc::make_mut(&mut self.view));
    }

    /// The view's protobuf encoding when a kept assembly already holds it for this very view (unmasked or
    /// masked, compared by pointer); `None`: encode it as usual.
    pub fn encoded_view(&self) -> Option<bytes::Bytes> {
        self.kept.as_ref().and_then(|k| k.encoded_for(&self.view))
    }

    /// Whether any source knows the subscriber.
    pub fn found(&self) -> bool {
        self.statuses
            .iter()
            .any(|s| matches!(s.state(), SourceState::Ok | SourceState::Stale))
    }
}

/// Reads views from the configured sources.
#[derive(Clone)]
pub struct ViewReader {
    registry: Registry,
    runtime: Arc<Runtime>,
}

/// A source's cache and stack settings.
struct SourceRuntime {
    stack: Stack,
    /// Freshness of the source's answer: the smallest `ttl_secs` of its entities.
    ttl: Duration,
    /// Whether its queries bind `:operator_id` (then the caller's operator ID is part of the cache key).
    keyed_by_operator: bool,
}

struct Runtime {
    cache: ViewCache,
    /// Merged views kept for repeat reads of the same cached answers (none when the cache is off).
    assembled: Option<Assembled>,
    /// Which source owns which part of the view when sources disagree (`[owners]`).
    owners: Ownership,
    sources: HashMap<String, SourceRuntime>,
    /// Background tasks (LISTEN/NOTIFY, the shared tier's invalidations), stopped with the reader.
    tasks: std::sync::Mutex<Vec<tokio::task::AbortHandle>>,
}

impl Drop for Runtime {
    fn drop(&mut self) {
        for t in self.tasks.get_mut().unwrap_or_else(|p| p.into_inner()).iter() {
            t.abort();
        }
    }
}

impl ViewReader {
    /// A reader with the default cache settings. Must run inside a Tokio runtime (stacks spawn workers).
    pub fn new(registry: Registry) -> ViewReader {
        ViewReader::with_cache(registry, &CacheConfig::default())
    }

    /// A reader with the cache settings and field owners of `cfg` (per-source stack settings come with the
    /// registry).
    pub fn from_config(registry: Registry, cfg: &Config) -> ViewReader {
        ViewReader::build(registry, &cfg.cache, Ownership::new(cfg.owners()))
    }

    /// A reader with the given cache settings.
    pub fn with_cache(registry: Registry, cache: &CacheConfig) -> ViewReader {
        ViewReader::build(registry, cache, Ownership::default())
    }

    fn build(registry: Registry, cache: &CacheConfig, owners: Ownership) -> ViewReader {
        let settings = CacheSettings::from(cache);
        let cache = ViewCache::new(settings.clone());
        let mut sources = HashMap::new();
        let mut tasks = Vec::new();
        for s in &registry.sources {
            let stack = Stack::new(
                s.adapter.clone(),
                &StackSettings::resolve(&s.stack, s.max_connections, s.timeout),
            );
            // A source is fetched as one unit, so its answer is as fresh as its most volatile entity needs.
            let ttl = s
                .adapter
                .freshness()
                .into_iter()
                .map(|(_, ttl)| ttl)
                .min()
                .unwrap_or(settings.default_ttl);
            if let Some(changes) = s.adapter.invalidations() {
                tasks.push(
                    tokio::spawn(follow_invalidations(
                        s.adapter.name().to_string(),
                        changes,
                        cache.clone(),
                    ))
                    .abort_handle(),
                );
            }
            sources.insert(
                s.adapter.name().to_string(),
                SourceRuntime {
                    stack,
                    ttl,
                    keyed_by_operator: s.adapter.depends_on_operator(),
                },
            );
        }
        // A kept view holds its parts' answers alive: it goes when the longest-lived fresh answer would.
        let longest = sources
            .values()
            .map(|r: &SourceRuntime| r.ttl)
            .max()
            .unwrap_or(settings.default_ttl);
        let assembled = settings
            .enabled
            .then(|| Assembled::new(settings.max_bytes / 4, longest));
        ViewReader {
            registry,
            runtime: Arc::new(Runtime {
                cache,
                assembled,
                owners,
                sources,
                tasks: std::sync::Mutex::new(tasks),
            }),
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Puts the shared tier of several replicas (`[redis]`) behind the cache.
    pub fn share(&self, shared: Arc<crate::cluster::Shared>) {
        if let Some(task) = self.runtime.cache.attach(shared, self.registry.names()) {
            self.runtime.tasks.lock().unwrap_or_else(|p| p.into_inner()).push(task);
        }
    }

    /// The view cache (admin invalidation, metrics).
    pub fn cache(&self) -> &ViewCache {
        &self.runtime.cache
    }

    /// The resilience stack of a source (breaker state for health and metrics).
    pub fn stack(&self, source: &str) -> Option<&Stack> {
        self.runtime.sources.get(source).map(|r| &r.stack)
    }

    /// Whether a source's answers depend on the caller's operator ID (its cache key includes it).
    pub fn depends_on_operator(&self, source: &str) -> bool {
        match self.runtime.sources.get(source) {
            Some(rt) => rt.keyed_by_operator,
            None => self
                .registry
                .get(source)
                .is_none_or(|s| s.adapter.depends_on_operator()),
        }
    }

    /// The cache TTL of a source's answers.
    pub fn ttl(&self, source: &str) -> Option<Duration> {
        self.runtime.sources.get(source).map(|r| r.ttl)
    }

    /// Checks a source filter against the configured names.
    pub fn select(&self, filter: &[String]) -> Result<Vec<Source>, Error> {
        if filter.is_empty() {
            return Ok(self.registry.sources.clone());
        }
        let mut out = Vec::new();
        for (i, name) in filter.iter().enumerate() {
            match self.registry.get(name.trim()) {
                Some(s) => {
                    if !out.iter().any(|o: &Source| o.adapter.name() == s.adapter.name()) {
                        out.push(s.clone());
                    }
                }
                None => {
                    return Err(Error::UnknownSource {
                        field: format!("sources[{i}]"),
                        message: format!(
                            "unknown source `{}`; configured sources: {}",
                            truncate(name, 64),
                            self.registry.names().join(", ")
                        ),
                    })
                }
            }
        }
        Ok(out)
    }

    /// Reads the view of `msisdn` (already normalised) from `sources` with the default cache policy.
    /// `deadline` (from the client's `grpc-timeout`) bounds all backend work.
    pub async fn read(
        &self,
        msisdn: &str,
        sources: &[Source],
        operator_ids: &(dyn Fn(&str) -> Option<String> + Sync),
        deadline: Option<Instant>,
    ) -> Result<ViewOutcome, Error> {
        self.read_with(msisdn, sources, operator_ids, deadline, &ReadPolicy::default())
            .await
    }

    /// [`ViewReader::read`] with the caller's cache policy.
    pub async fn read_with(
        &self,
        msisdn: &str,
        sources: &[Source],
        operator_ids: &(dyn Fn(&str) -> Option<String> + Sync),
        deadline: Option<Instant>,
        policy: &ReadPolicy,
    ) -> Result<ViewOutcome, Error> {
        let parts = self.fetch(msisdn, sources, operator_ids, deadline, policy).await;
        assemble(msisdn, &parts)
    }

    /// Reads each of `sources` for `msisdn` concurrently, through its cache and stack, each within its own
    /// time-out and `deadline`: one [`Part`] per source, in order, to be merged by [`assemble`]. A caller
    /// that must re-read some sources (another operator ID) replaces their parts before assembling.
    pub async fn fetch(
        &self,
        msisdn: &str,
        sources: &[Source],
        operator_ids: &(dyn Fn(&str) -> Option<String> + Sync),
        deadline: Option<Instant>,
        policy: &ReadPolicy,
    ) -> Vec<Part> {
        self.fetch_in(msisdn, sources, operator_ids, deadline, policy, &|_| Lane::Normal)
            .await
    }

    /// [`fetch`](Self::fetch) with each source's lane through its stack: identity-critical reads (the
    /// region that authorises a handler) are not shed when the queue is full.
    pub async fn fetch_in(
        &self,
        msisdn: &str,
        sources: &[Source],
        operator_ids: &(dyn Fn(&str) -> Option<String> + Sync),
        deadline: Option<Instant>,
        policy: &ReadPolicy,
        lane: &(dyn Fn(&Source) -> Lane + Sync),
    ) -> Vec<Part> {
        let calls = sources.iter().map(|s| {
            let lane = lane(s);
            let req = FetchRequest {
                msisdn: msisdn.to_string(),
                operator_id: operator_ids(s.adapter.name()),
            };
            let mut budget = s.timeout;
            if let Some(d) = deadline {
                budget = budget.min(d.saturating_duration_since(Instant::now()));
            }
            let rt = self.runtime.sources.get(s.adapter.name());
            async move {
                let t0 = Instant::now();
                let served = match rt {
                    Some(rt) => {
                        let key = CacheKey {
                            source: Arc::from(s.adapter.name()),
                            msisdn: req.msisdn.clone(),
                            operator_id: if rt.keyed_by_operator {
                                req.operator_id.clone()
                            } else {
                                None
                            },
                        };
                        let call_deadline = Instant::now() + budget;
                        let stack = &rt.stack;
                        let load = || stack.call_in(req.clone(), call_deadline, lane);
                        self.runtime.cache.read(key, rt.ttl, policy, budget, load).await
                    }
                    // A source handed in from outside the registry: no cache, no stack.
                    None => match tokio::time::timeout(budget, s.adapter.fetch(req)).await {
                        Ok(Ok(data)) => Served::Fresh {
                            entry: Arc::new(crate::cache::Entry::uncached(data)),
                            hit: false,
                        },
                        Ok(Err(e)) => Served::Failed {
                            cause: e.into(),
                            too_old: None,
                        },
                        Err(_) => Served::Failed {
                            cause: AdapterError::Timeout(budget).into(),
                            too_old: None,
                        },
                    },
                };
                Part::new(s.clone(), served, t0.elapsed(), policy)
            }
        });
        futures::future::join_all(calls).await
    }
}

/// One source's answer to one read, before merging.
pub struct Part {
    pub source: Source,
    pub served: Served,
    pub elapsed: Duration,
}

impl Part {
    /// Records the source's metrics and logs a failure or stale answer once, as it is read.
    fn new(source: Source, served: Served, elapsed: Duration, policy: &ReadPolicy) -> Part {
        let name = source.adapter.name().to_string();
        let (state, cache) = match &served {
            Served::Fresh { entry, hit } => (
                if entry.data.found {
                    SourceState::Ok
                } else {
                    SourceState::NotFound
                },
                if *hit {
                    "hit"
                } else if policy.bypass {
                    "bypass"
                } else {
                    "miss"
                },
            ),
            Served::Stale { entry, cause } => {
                let age = millis(entry.age());
                crate::logsum::SOURCE_FAILURES.note(&format!("{name} stale ({})", cause.kind()), || {
                    format!("source {name}: {cause}; serving stale data ({age} ms old)")
                });
                (SourceState::Stale, "stale")
            }
            Served::Failed { cause, .. } => {
                crate::logsum::SOURCE_FAILURES.note(&format!("{name} failed ({})", cause.kind()), || {
                    format!("source failed: {name}: {cause}")
                });
                (failed_state(cause), "miss")
            }
        };
        metrics::counter!("cgw_source_requests_total", "source" => name.clone(), "state" => state_label(state))
            .increment(1);
        metrics::histogram!("cgw_source_latency_seconds", "source" => name.clone(), "cache" => cache)
            .record(elapsed.as_secs_f64());
        tracing::debug!(source = %name, cache, state = state_label(state), latency_us = elapsed.as_micros() as u64, "source read");
        Part {
            source,
            served,
            elapsed,
        }
    }

    /// The source's name.
    pub fn name(&self) -> &str {
        self.source.adapter.name()
    }
}

/// A failure as callers see it in `SourceStatus.detail`: what happened, without the backend's own text
/// (which may name hosts, users or tables); that text is in the gateway's log.
pub fn short_reason(cause: &StackError) -> String {
    match cause {
        StackError::Adapter(AdapterError::Timeout(d)) => format!("no answer within {} ms", d.as_millis()),
        StackError::Adapter(AdapterError::Unavailable(_)) => {
            "backend unavailable (the gateway log has the details)".into()
        }
        StackError::Adapter(AdapterError::Query { entity, .. }) => {
            format!("a query failed (entity `{entity}`; the gateway log has the details)")
        }
        StackError::Adapter(AdapterError::Unsupported(m)) => m.clone(),
        other @ (StackError::CircuitOpen { .. } | StackError::Overloaded(_)) => other.to_string(),
    }
}

fn failed_state(cause: &StackError) -> SourceState {
    match cause {
        StackError::Adapter(AdapterError::Timeout(_)) => SourceState::Timeout,
        _ => SourceState::Unavailable,
    }
}

impl ViewReader {
    /// [`assemble`] with the configured field owners. A repeat read of the same cached answers takes the
    /// view merged last time (`assembled.rs`).
    pub fn assemble(&self, msisdn: &str, parts: &[Part]) -> Result<ViewOutcome, Error> {
        let (Some(kept), Some(key)) = (&self.runtime.assembled, assembled::key(msisdn, parts)) else {
            return assemble_owned(msisdn, parts, &self.runtime.owners);
        };
        if let Some(outcome) = kept.get(&key, parts) {
            return Ok(outcome);
        }
        let outcome = assemble_owned(msisdn, parts, &self.runtime.owners)?;
        kept.keep(key, parts, &outcome);
        Ok(outcome)
    }
}

/// Merges the parts of one read into the view, with one `SourceStatus` per part. NOT_FOUND when every
/// source that answered says it has no such subscriber. Disagreeing sources are reported; with no owners
/// configured, the last source's value stays.
pub fn assemble(msisdn: &str, parts: &[Part]) -> Result<ViewOutcome, Error> {
    assemble_owned(msisdn, parts, &Ownership::default())
}

/// [`assemble`], where the owner of a field the sources disagree on keeps its value.
pub fn assemble_owned(msisdn: &str, parts: &[Part], owners: &Ownership) -> Result<ViewOutcome, Error> {
    let mut view = SubscriberView {
        msisdn: msisdn.to_string(),
        ..Default::default()
    };
    let mut statuses = Vec::with_capacity(parts.len());
    let mut merged: Vec<(&str, &[u8])> = Vec::new();
    let mut not_found = 0;
    for part in parts {
        let mut st = SourceStatus {
            source: part.name().to_string(),
            ..Default::default()
        };
        stamp(&mut st, part);
        match &part.served {
            Served::Fresh { entry, .. } => {
                if entry.data.found {
                    merge_into(&mut view, &mut st, &entry.data)?;
                    merged.push((part.name(), entry.data.view.as_ref()));
                    st.set_state(SourceState::Ok);
                } else {
                    not_found += 1;
                    st.set_state(SourceState::NotFound);
                    st.detail = format!("{} has no subscriber {msisdn}", st.source);
                }
            }
            Served::Stale { entry, cause } => {
                merge_into(&mut view, &mut st, &entry.data)?;
                merged.push((part.name(), entry.data.view.as_ref()));
                st.set_state(SourceState::Stale);
                let mapped = std::mem::take(&mut st.detail);
                st.detail = format!(
                    "{}; serving the answer cached {} ms ago",
                    short_reason(cause),
                    st.age_ms
                );
                if !mapped.is_empty() {
                    st.detail.push_str("; ");
                    st.detail.push_str(&mapped);
                }
            }
            Served::Failed { cause, too_old } => {
                st.set_state(failed_state(cause));
                st.detail = short_reason(cause);
                if let Some(age) = too_old {
                    st.detail.push_str(&format!(
                        "; the cached answer ({} ms old) is past the stale limit",
                        millis(*age)
                    ));
                }
            }
        }
        statuses.push(st);
    }
    let conflicts = conflicts::resolve(&mut view, &merged, owners);
    // Restore the number (merge keeps the last non-empty scalar).
    view.msisdn = msisdn.to_string();
    if !statuses.is_empty() && not_found == statuses.len() {
        return Err(Error::NotFound(format!("no subscriber {msisdn} in any source")));
    }
    Ok(ViewOutcome::new(view, statuses, conflicts))
}

/// Sets what a source's status says about this one read: how long the source took, when its answer was
/// fetched and, for an answer from the cache (fresh or stale), its age.
fn stamp(st: &mut SourceStatus, part: &Part) {
    st.latency_ms = part.elapsed.as_millis().min(u32::MAX as u128) as u32;
    let cached = match &part.served {
        Served::Fresh { entry, hit: true } | Served::Stale { entry, .. } => Some(entry.age()),
        Served::Fresh { hit: false, .. } | Served::Failed { .. } => None,
    };
    match cached {
        Some(age) => {
            st.age_ms = millis(age);
            st.fetched_at = Some(ts_ago(age));
        }
        None => {
            st.age_ms = 0;
            st.fetched_at = Some(now_ts());
        }
    }
}

/// Drops cached answers as a backend says they changed (see `Adapter::invalidations`).
async fn follow_invalidations(source: String, mut changes: crate::adapters::InvalidationStream, cache: ViewCache) {
    use futures::StreamExt;
    while let Some(change) = changes.next().await {
        match change {
            Invalidation::All => cache.invalidate_source(&source),
            Invalidation::Subscriber(msisdn) => {
                let removed = cache.invalidate(&msisdn, std::slice::from_ref(&source)).await;
                tracing::debug!(source = %source, removed, "invalidated by the backend");
            }
        }
    }
}

/// Merges one source's partial view and notes what it filled.
fn merge_into(view: &mut SubscriberView, st: &mut SourceStatus, data: &SourceData) -> Result<(), Error> {
    view.merge(data.view.as_ref())
        .map_err(|e| Error::Internal(format!("merging {}: {e}", st.source)))?;
    st.entities = data.entities.clone();
    if !data.notes.is_empty() {
        st.detail = format!(
            "{} value(s) could not be mapped: {}",
            data.notes.len(),
            data.notes.join("; ")
        );
    }
    Ok(())
}

fn state_label(s: SourceState) -> &'static str {
    match s {
        SourceState::Ok => "ok",
        SourceState::NotFound => "not_found",
        SourceState::Unavailable => "unavailable",
        SourceState::Timeout => "timeout",
        SourceState::Stale => "stale",
        SourceState::Denied => "denied",
        SourceState::Unspecified => "unspecified",
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

/// The wall-clock time `age` ago.
fn ts_ago(age: Duration) -> prost_types::Timestamp {
    prost_types::Timestamp::from(SystemTime::now().checked_sub(age).unwrap_or(SystemTime::UNIX_EPOCH))
}

pub fn now_ts() -> prost_types::Timestamp {
    prost_types::Timestamp::from(SystemTime::now())
}

/// A duration as whole milliseconds, saturating.
pub fn millis(d: Duration) -> u64 {
    d.as_millis().min(u64::MAX as u128) as u64
}
