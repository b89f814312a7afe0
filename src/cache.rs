//! The view cache: one weighted moka cache in front of every source, outside the resilience stack (a hit
//! takes no permit and no connection).
//!
//! - **Key**: source, subscriber number and — only for sources whose SQL binds `:operator_id` — the
//!   caller's operator ID, since their answer depends on who asks.
//! - **Value**: one source's answer (`SourceData`, an encoded partial view) and when it was fetched.
//!   **Weight**: an estimate of the memory the entry holds (encoded view, strings, moka's bookkeeping);
//!   capacity is `[cache] max_size_mib`.
//! - **Freshness**: a source's TTL is the smallest `ttl_secs` of its entities (a source is fetched as one
//!   unit, so its answer is as fresh as its most volatile entity needs); `default_ttl_secs` where none is
//!   declared. NOT_FOUND is remembered for `not_found_ttl_secs`.
//! - **Coalescing**: concurrent misses for one key share one backend load (`try_get_with`).
//! - **Stale on error**: an answer is kept past its TTL until `stale_max_age_secs`; when a load fails, it
//!   is served with state STALE and its age.
//! - **Invalidation**: [`ViewCache::invalidate`] (the admin `InvalidateSubscriber` RPC) and, for
//!   backends that push changes (PostgreSQL LISTEN/NOTIFY for SQL sources with a `notify_channel`),
//!   whatever `Adapter::invalidations` yields (followed by `view.rs`).
//! - **Shared tier** (optional, `[redis]`, see `crate::cluster`): an L1 miss reads Redis before the backend,
//!   a miss there takes a load lease so one replica of several loads it, and invalidations reach every
//!   replica. Without Redis (or while it is down) the cache works as above, on its own.
use crate::adapters::{AdapterError, SourceData};
use crate::cluster::l2::{Lease, Stored};
use crate::cluster::{Remote, Shared};
use crate::config::CacheConfig;
use crate::stack::StackError;
use moka::future::Cache;
use moka::notification::RemovalCause;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a cached answer is filed under.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    pub source: Arc<str>,
    pub msisdn: String,
    /// Set only for sources whose queries bind `:operator_id`.
    pub operator_id: Option<String>,
}

/// A cached answer.
#[derive(Debug)]
pub struct Entry {
    pub data: SourceData,
    pub fetched_at: Instant,
    /// How long the answer counts as fresh.
    pub ttl: Duration,
    /// How long it is kept at all (fresh, then as a stale fallback).
    keep: Duration,
}

impl Entry {
    /// An answer that is not cached (a source outside the registry).
    pub fn uncached(data: SourceData) -> Entry {
        Entry {
            data,
            fetched_at: Instant::now(),
            ttl: Duration::ZERO,
            keep: Duration::ZERO,
        }
    }

    /// Time since the backend answered.
    pub fn age(&self) -> Duration {
        self.fetched_at.elapsed()
    }
}

/// The caller's cache policy for one read (`GetSubscriberViewRequest.max_staleness_ms`, `cache_mode`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadPolicy {
    /// The oldest data the caller accepts, fresh or stale; `None`: the source's TTL, and the configured
    /// stale limit on errors.
    pub max_staleness: Option<Duration>,
    /// Read from the backend whatever is cached (the answer still refreshes the cache).
    pub bypass: bool,
}

/// How one source's part of a view was served.
#[derive(Debug)]
pub enum Served {
    /// A fresh answer: from the cache (`hit`), or loaded now (alone or shared with concurrent callers).
    Fresh { entry: Arc<Entry>, hit: bool },
    /// The load failed; the last answer is served, older than its TTL but within the stale limit.
    Stale { entry: Arc<Entry>, cause: StackError },
    /// The load failed and nothing usable is cached; `too_old` is the age of a copy past the limit.
    Failed {
        cause: StackError,
        too_old: Option<Duration>,
    },
}

/// Resolved cache settings.
#[derive(Debug, Clone)]
pub struct CacheSettings {
    pub enabled: bool,
    pub max_bytes: u64,
    pub default_ttl: Duration,
    pub not_found_ttl: Duration,
    pub stale_max_age: Duration,
}

impl From<&CacheConfig> for CacheSettings {
    fn from(c: &CacheConfig) -> Self {
        CacheSettings {
            enabled: c.enabled,
            max_bytes: c.max_size_mib.saturating_mul(1024 * 1024),
            default_ttl: Duration::from_secs(c.default_ttl_secs),
            not_found_ttl: Duration::from_secs(c.not_found_ttl_secs),
            stale_max_age: Duration::from_secs(c.stale_max_age_secs),
        }
    }
}

/// Bytes an entry costs besides its view and strings: moka's node, access and write deques and timer-wheel
/// entry, the `Arc<Entry>` and the key. Measured with 200,000 entries: about 1,000 bytes per entry with six
/// entity names, of which these 640 are fixed.
const ENTRY_OVERHEAD: usize = 640;

/// A heap string's cost: its `String` header, its buffer rounded to the allocator's 16 bytes, and the
/// allocator's own header.
fn string_cost(s: &str) -> usize {
    24 + s.len().next_multiple_of(16) + 16
}

/// An entry's weight: an estimate of the memory it holds, so `max_size_mib` bounds resident memory.
fn weigh(k: &CacheKey, v: &Arc<Entry>) -> u32 {
    let d = &v.data;
    let bytes = ENTRY_OVERHEAD
        + string_cost(&k.msisdn)
        + k.operator_id.as_deref().map_or(0, string_cost)
        + d.view.len()
        + d.entities.iter().chain(&d.notes).map(|s| string_cost(s)).sum::<usize>();
    bytes.min(u32::MAX as usize) as u32
}

struct KeepFor;

impl moka::Expiry<CacheKey, Arc<Entry>> for KeepFor {
    fn expire_after_create(&self, _k: &CacheKey, v: &Arc<Entry>, _now: Instant) -> Option<Duration> {
        Some(v.keep)
    }
    fn expire_after_update(
        &self,
        _k: &CacheKey,
        v: &Arc<Entry>,
        _now: Instant,
        _current: Option<Duration>,
    ) -> Option<Duration> {
        Some(v.keep)
    }
}

/// The cache of source answers; cheap to clone (clones share the store).
#[derive(Clone)]
pub struct ViewCache {
    settings: CacheSettings,
    /// Answers, kept until `max(ttl, stale_max_age)`.
    store: Cache<CacheKey, Arc<Entry>>,
    /// The coalescer: concurrent loads of one key run once here. Entries are removed as soon as their
    /// load is done (and expire after a second regardless): the store holds the answers.
    loads: Cache<CacheKey, Arc<Entry>>,
    /// The shared tier, once attached ([`ViewCache::attach`]).
    tier: Arc<std::sync::OnceLock<Tier>>,
}

/// The shared tier and the sources it holds answers for (an invalidation of "all sources" names them).
struct Tier {
    shared: Arc<Shared>,
    sources: Vec<String>,
}

impl ViewCache {
    pub fn new(settings: CacheSettings) -> ViewCache {
        let store = Cache::builder()
            .name("views")
            .max_capacity(settings.max_bytes.max(1))
            .weigher(weigh)
            .expire_after(KeepFor)
            .support_invalidation_closures()
            .eviction_listener(|_k, _v, cause| {
                let cause = match cause {
                    RemovalCause::Size => "size",
                    RemovalCause::Expired => "expired",
                    RemovalCause::Explicit => "invalidated",
                    RemovalCause::Replaced => return,
                };
                metrics::counter!("cgw_cache_evictions_total", "cause" => cause).increment(1);
            })
            .build();
        let loads = Cache::builder()
            .name("view-loads")
            .max_capacity(100_000)
            .time_to_live(Duration::from_secs(1))
            .build();
        ViewCache {
            settings,
            store,
            loads,
            tier: Arc::new(std::sync::OnceLock::new()),
        }
    }

    /// Puts the shared tier behind this cache (once) and follows the other replicas' invalidations; the
    /// returned task ends when aborted.
    pub fn attach(&self, shared: Arc<Shared>, sources: Vec<String>) -> Option<tokio::task::AbortHandle> {
        let follow = shared.clone();
        self.tier.set(Tier { shared, sources }).ok()?;
        let rx = follow.subscribe();
        Some(tokio::spawn(follow_remote(self.clone(), rx)).abort_handle())
    }

    /// The shared tier behind this cache, if one is attached.
    pub fn shared(&self) -> Option<Arc<Shared>> {
        self.tier.get().map(|t| t.shared.clone())
    }

    pub fn settings(&self) -> &CacheSettings {
        &self.settings
    }

    /// Weighted size in bytes and entry count (approximate until pending maintenance has run).
    pub fn usage(&self) -> (u64, u64) {
        (self.store.weighted_size(), self.store.entry_count())
    }

    /// Runs moka's pending maintenance (evictions, size accounting); for metrics and tests.
    pub async fn sync(&self) {
        self.store.run_pending_tasks().await;
    }

    /// Serves one source's part of a view: from the cache when fresh enough for `policy`, else from `load`
    /// (coalesced with concurrent callers of the same key), falling back to a stale answer when the load
    /// fails. `budget` bounds how long this caller waits for a load.
    pub async fn read<F, Fut>(
        &self,
        key: CacheKey,
        ttl: Duration,
        policy: &ReadPolicy,
        budget: Duration,
        load: F,
    ) -> Served
    where
        F: Fn() -> Fut + Clone,
        Fut: Future<Output = Result<SourceData, StackError>> + Send,
    {
        let source = key.source.to_string();
        if !self.settings.enabled {
            return match bounded(budget, load()).await {
                Ok(data) => Served::Fresh {
                    entry: Arc::new(self.entry(data, ttl)),
                    hit: false,
                },
                Err(cause) => Served::Failed { cause, too_old: None },
            };
        }
        let limit = |e: &Entry| match policy.max_staleness {
            Some(m) => m.min(e.ttl),
            None => e.ttl,
        };
        if policy.bypass {
            metrics::counter!("cgw_cache_bypass_total", "source" => source).increment(1);
            return match bounded(budget, load()).await {
                Ok(data) => {
                    let entry = Arc::new(self.entry(data, ttl));
                    self.put(key, entry.clone()).await;
                    Served::Fresh { entry, hit: false }
                }
                Err(cause) => self.fallback(&key, cause, policy).await,
            };
        }
        if let Some(e) = self.store.get(&key).await {
            if e.age() <= limit(&e) {
                metrics::counter!("cgw_cache_hits_total", "source" => source).increment(1);
                return Served::Fresh { entry: e, hit: true };
            }
        }
        metrics::counter!("cgw_cache_misses_total", "source" => source.clone()).increment(1);
        let store = self.store.clone();
        let not_found_ttl = self.settings.not_found_ttl;
        let keep = self.keep(ttl);
        let max_staleness = policy.max_staleness;
        let k = key.clone();
        let first = load.clone();
        let shared = self.shared();
        let init = async move {
            let fresh = |e: &Entry| e.age() <= max_staleness.map_or(e.ttl, |m| m.min(e.ttl));
            // A load that finished between this caller's lookup and now already answered.
            if let Some(e) = store.get(&k).await {
                if fresh(&e) {
                    return Ok::<_, StackError>(e);
                }
            }
            let mut leased = false;
            if let Some(tier) = &shared {
                let op = k.operator_id.as_deref();
                let from_tier = |s: Stored| Arc::new(entry_of(s, ttl, not_found_ttl, keep));
                if let Some(s) = tier.get(&k.source, &k.msisdn, op).await {
                    let e = from_tier(s);
                    // Fresh: served. Older: kept as this replica's stale fallback should the load fail.
                    if e.age() < e.keep {
                        store.insert(k.clone(), e.clone()).await;
                    }
                    if fresh(&e) {
                        return Ok(e);
                    }
                }
                let wait = tier.lease();
                let filled = |s: &Stored| fresh(&entry_of(s.clone(), ttl, not_found_ttl, keep));
                match tier.lease_or_wait(&k.source, &k.msisdn, op, filled, wait).await {
                    Lease::Filled(s) => {
                        let e = from_tier(s);
                        store.insert(k.clone(), e.clone()).await;
                        return Ok(e);
                    }
                    Lease::Won => leased = true,
                    Lease::Unavailable => {}
                }
            }
            metrics::counter!("cgw_cache_loads_total", "source" => k.source.to_string()).increment(1);
            let data = match first().await {
                Ok(d) => d,
                Err(e) => {
                    if let (true, Some(tier)) = (leased, shared) {
                        // Another replica may try at once rather than when the lease lapses.
                        tokio::spawn(async move { tier.release(&k.source, &k.msisdn, k.operator_id.as_deref()).await });
                    }
                    return Err(e);
                }
            };
            let entry = Arc::new(make_entry(data, ttl, not_found_ttl, keep));
            if !entry.keep.is_zero() {
                store.insert(k.clone(), entry.clone()).await;
            }
            if let Some(tier) = shared {
                share(tier, k, entry.clone(), leased);
            }
            Ok(entry)
        };
        let shared = async {
            match self.loads.try_get_with(key.clone(), init).await {
                Ok(e) => {
                    self.loads.invalidate(&key).await;
                    Ok(e)
                }
                Err(e) => Err((*e).clone()),
            }
        };
        match tokio::time::timeout(budget, shared).await {
            Ok(Ok(entry)) if entry.age() <= limit(&entry) => Served::Fresh { entry, hit: false },
            // A leftover of an earlier load, too old for this caller: read once more, alone.
            Ok(Ok(_)) => {
                self.loads.invalidate(&key).await;
                match bounded(budget, load()).await {
                    Ok(data) => {
                        let entry = Arc::new(self.entry(data, ttl));
                        self.put(key, entry.clone()).await;
                        Served::Fresh { entry, hit: false }
                    }
                    Err(cause) => self.fallback(&key, cause, policy).await,
                }
            }
            Ok(Err(cause)) => self.fallback(&key, cause, policy).await,
            Err(_) => self.fallback(&key, AdapterError::Timeout(budget).into(), policy).await,
        }
    }

    /// The last answer for `key` as a STALE fallback, if it is within both the configured limit and the
    /// caller's `max_staleness`.
    async fn fallback(&self, key: &CacheKey, cause: StackError, policy: &ReadPolicy) -> Served {
        let limit = match policy.max_staleness {
            Some(m) => m.min(self.settings.stale_max_age),
            None => self.settings.stale_max_age,
        };
        match self.store.get(key).await {
            Some(e) if e.data.found && e.age() <= limit => {
                metrics::counter!("cgw_cache_stale_served_total", "source" => key.source.to_string()).increment(1);
                Served::Stale { entry: e, cause }
            }
            Some(e) if e.data.found => Served::Failed {
                cause,
                too_old: Some(e.age()),
            },
            _ => Served::Failed { cause, too_old: None },
        }
    }

    fn keep(&self, ttl: Duration) -> Duration {
        ttl.max(self.settings.stale_max_age)
    }

    fn entry(&self, data: SourceData, ttl: Duration) -> Entry {
        make_entry(data, ttl, self.settings.not_found_ttl, self.keep(ttl))
    }

    async fn put(&self, key: CacheKey, entry: Arc<Entry>) {
        if !entry.keep.is_zero() {
            self.store.insert(key.clone(), entry.clone()).await;
            if let Some(tier) = self.shared() {
                share(tier, key, entry, false);
            }
        }
    }

    /// Drops what is cached for `msisdn` from the named sources (all when `sources` is empty), here, in the
    /// shared tier and on every other replica. Returns the number of answers removed here.
    pub async fn invalidate(&self, msisdn: &str, sources: &[String]) -> u64 {
        let removed = self.invalidate_local(msisdn, sources).await;
        if let Some(t) = self.tier.get() {
            let all = if sources.is_empty() { &t.sources } else { sources };
            t.shared.forget(msisdn, all).await;
            t.shared.publish_subscriber(msisdn, sources).await;
        }
        removed
    }

    /// [`ViewCache::invalidate`] on this replica's own cache only.
    async fn invalidate_local(&self, msisdn: &str, sources: &[String]) -> u64 {
        let wanted = |s: &str| sources.is_empty() || sources.iter().any(|x| x == s);
        let keys: Vec<CacheKey> = self
            .store
            .iter()
            .filter(|(k, _)| k.msisdn == msisdn && wanted(&k.source))
            .map(|(k, _)| (*k).clone())
            .collect();
        let mut removed = 0;
        for k in keys {
            if self.store.remove(&k).await.is_some() {
                removed += 1;
            }
        }
        removed
    }

    /// Drops everything cached from one source (after a lost notification connection, say), here, in the
    /// shared tier and on every other replica.
    pub fn invalidate_source(&self, source: &str) {
        self.invalidate_source_local(source);
        if let Some(shared) = self.shared() {
            let source = source.to_string();
            tokio::spawn(async move {
                shared.forget_source(&source).await;
                shared.publish_source(&source).await;
            });
        }
    }

    fn invalidate_source_local(&self, source: &str) {
        let source = source.to_string();
        if let Err(e) = self.store.invalidate_entries_if(move |k, _| *k.source == *source) {
            tracing::warn!(error = %e, "cache invalidation by source failed");
        }
    }
}

/// Applies the other replicas' invalidations to this replica's own cache.
async fn follow_remote(cache: ViewCache, mut rx: tokio::sync::mpsc::Receiver<Remote>) {
    while let Some(r) = rx.recv().await {
        match r {
            Remote::Subscriber { msisdn, sources } => {
                let removed = cache.invalidate_local(&msisdn, &sources).await;
                tracing::debug!(removed, "invalidated by another replica");
            }
            Remote::Source(source) => cache.invalidate_source_local(&source),
            Remote::Resync => cache.store.invalidate_all(),
        }
    }
}

/// Writes an answer to the shared tier in the background (the caller does not wait for it), then
/// releases the load lease this replica held for it.
fn share(tier: Arc<Shared>, key: CacheKey, entry: Arc<Entry>, leased: bool) {
    let stored = Stored {
        data: entry.data.clone(),
        fetched_unix_us: crate::store::now_us() - entry.age().as_micros() as i64,
    };
    tokio::spawn(async move {
        let op = key.operator_id.as_deref();
        tier.put(&key.source, &key.msisdn, op, &stored, entry.keep).await;
        if leased {
            tier.release(&key.source, &key.msisdn, op).await;
        }
    });
}

/// An answer from the shared tier as a cache entry: its age counts from when the backend answered.
fn entry_of(s: Stored, ttl: Duration, not_found_ttl: Duration, keep: Duration) -> Entry {
    let age = s.age();
    let mut e = make_entry(s.data, ttl, not_found_ttl, keep);
    e.fetched_at = Instant::now().checked_sub(age).unwrap_or(e.fetched_at);
    e
}

fn make_entry(data: SourceData, ttl: Duration, not_found_ttl: Duration, keep: Duration) -> Entry {
    let (ttl, keep) = if data.found {
        (ttl, keep)
    } else {
        (not_found_ttl, not_found_ttl)
    };
    Entry {
        data,
        fetched_at: Instant::now(),
        ttl,
        keep,
    }
}

async fn bounded<T>(budget: Duration, fut: impl Future<Output = Result<T, StackError>>) -> Result<T, StackError> {
    match tokio::time::timeout(budget, fut).await {
        Ok(r) => r,
        Err(_) => Err(AdapterError::Timeout(budget).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn settings() -> CacheSettings {
        CacheSettings {
            enabled: true,
            max_bytes: 1 << 20,
            default_ttl: Duration::from_secs(30),
            not_found_ttl: Duration::from_millis(50),
            stale_max_age: Duration::from_millis(400),
        }
    }

    fn key() -> CacheKey {
        CacheKey {
            source: Arc::from("billing"),
            msisdn: "13800000001".into(),
            operator_id: None,
        }
    }

    fn data(found: bool) -> SourceData {
        SourceData {
            found,
            view: bytes::Bytes::from_static(b"\x0a\x0b13800000001"),
            entities: vec!["account".into()],
            notes: vec![],
        }
    }

    #[tokio::test]
    async fn hit_after_load_and_stale_then_failed_after_max_age() {
        let c = ViewCache::new(settings());
        let p = ReadPolicy::default();
        let ttl = Duration::from_millis(100);
        let b = Duration::from_secs(1);
        let loads = AtomicUsize::new(0);
        let ok = || async {
            loads.fetch_add(1, Ordering::SeqCst);
            Ok(data(true))
        };
        assert!(matches!(
            c.read(key(), ttl, &p, b, ok).await,
            Served::Fresh { hit: false, .. }
        ));
        assert!(matches!(
            c.read(key(), ttl, &p, b, ok).await,
            Served::Fresh { hit: true, .. }
        ));
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_millis(150)).await;
        let down = || async { Err(StackError::Adapter(AdapterError::Unavailable("refused".into()))) };
        match c.read(key(), ttl, &p, b, down).await {
            Served::Stale { entry, cause } => {
                assert!(entry.age() >= Duration::from_millis(150));
                assert_eq!(cause.to_string(), "backend unavailable: refused");
            }
            other => panic!("expected stale, got {other:?}"),
        }
        // The caller's own limit applies to stale data too.
        let strict = ReadPolicy {
            max_staleness: Some(Duration::from_millis(20)),
            bypass: false,
        };
        assert!(matches!(
            c.read(key(), ttl, &strict, b, down).await,
            Served::Failed { too_old: Some(_), .. }
        ));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(matches!(c.read(key(), ttl, &p, b, down).await, Served::Failed { .. }));
    }

    #[tokio::test]
    async fn not_found_is_cached_briefly_and_invalidation_drops() {
        let c = ViewCache::new(settings());
        let p = ReadPolicy::default();
        let ttl = Duration::from_secs(10);
        let b = Duration::from_secs(1);
        let n = AtomicUsize::new(0);
        let nf = || async {
            n.fetch_add(1, Ordering::SeqCst);
            Ok(data(false))
        };
        c.read(key(), ttl, &p, b, nf).await;
        c.read(key(), ttl, &p, b, nf).await;
        assert_eq!(n.load(Ordering::SeqCst), 1, "NOT_FOUND is remembered");
        tokio::time::sleep(Duration::from_millis(80)).await;
        c.read(key(), ttl, &p, b, nf).await;
        assert_eq!(n.load(Ordering::SeqCst), 2, "but only for not_found_ttl");
        let found = || async { Ok(data(true)) };
        c.read(
            key(),
            ttl,
            &ReadPolicy {
                max_staleness: None,
                bypass: true,
            },
            b,
            found,
        )
        .await;
        assert_eq!(c.invalidate("13800000001", &["crm".into()]).await, 0);
        assert_eq!(c.invalidate("13800000001", &[]).await, 1);
        assert!(matches!(
            c.read(key(), ttl, &p, b, nf).await,
            Served::Fresh { hit: false, .. }
        ));
    }
}
