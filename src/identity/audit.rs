//! The audit trail: one event per read (view, usage stream, diagnosis) and per administrative change,
//! appended to the gateway's store before the response leaves.
//!
//! Appends go through one writer task that commits whatever is waiting in one transaction (up to
//! `store.audit_batch_max` events) and then confirms each append: SQLite gets a single writer and one
//! fsync per batch, and a caller's `append` returns only once its event is committed (group commit:
//! under load a batch also waits up to `store.audit_batch_wait_us` for calls on their way). There is no
//! update or delete path, and the store's triggers reject both.
//!
//! Several gateways can share one store (replicas behind a load balancer): each batch extends the hash
//! chain under the store's lock on it (PostgreSQL: an advisory lock; SQLite: its write lock), from the
//! head as stored, so the replicas' events form one unbroken chain (`tests/audit_group.rs`).
//!
//! An event can carry a [`Rider`]: rows that belong to the same call (a diagnosis's complaint record),
//! written in the event's transaction. The call then waits for one commit instead of two, and the event
//! is never lost because its rider failed (see `write_batch`).
use super::chain::{self, Head, Link};
use super::{clip, CallInfo, Identity};
use crate::error::Error;
use crate::store::{now_us, Marks, Store, StoreKind};
use rand::RngCore;
use sqlx::{Acquire, Row};
use std::sync::Mutex;
use tokio::sync::{mpsc, oneshot};

/// How a read ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// Refused by authorisation (permission or region).
    Denied,
    NotFound,
    InvalidArgument,
    /// Backends the answer depends on were down (not a refusal of the caller).
    Outage,
    /// Any other failure.
    Error,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "OK",
            Outcome::Denied => "DENIED",
            Outcome::NotFound => "NOT_FOUND",
            Outcome::InvalidArgument => "INVALID_ARGUMENT",
            Outcome::Outage => "OUTAGE",
            Outcome::Error => "ERROR",
        }
    }

    pub fn parse(s: &str) -> Outcome {
        match s {
            "OK" => Outcome::Ok,
            "DENIED" => Outcome::Denied,
            "NOT_FOUND" => Outcome::NotFound,
            "INVALID_ARGUMENT" => Outcome::InvalidArgument,
            "OUTAGE" => Outcome::Outage,
            _ => Outcome::Error,
        }
    }

    /// The outcome of a failed call.
    pub fn of_error(e: &Error) -> Outcome {
        match e {
            e if e.is_denial() => Outcome::Denied,
            Error::NotFound(_) => Outcome::NotFound,
            e if e.is_invalid_argument() => Outcome::InvalidArgument,
            e if e.is_outage() => Outcome::Outage,
            _ => Outcome::Error,
        }
    }
}

/// One audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Time-ordered id: the time in hex, then 64 random bits.
    pub event_id: String,
    pub at_us: i64,
    pub caller: String,
    pub auth_method: String,
    pub roles: Vec<String>,
    /// The RPC (`complaint.v1.ComplaintDataService/GetSubscriberView`) or admin action.
    pub action: String,
    pub msisdn: String,
    /// The subscriber's region, where it was read.
    pub region: String,
    /// The sources touched.
    pub sources: Vec<String>,
    /// The caller's stated purpose (ticket or complaint id).
    pub purpose: String,
    pub outcome: Outcome,
    /// Why it was denied or failed; never subscriber data.
    pub detail: String,
    pub peer: String,
}

impl AuditEvent {
    /// A new event for `caller`'s `call`, stamped now.
    pub fn new(caller: &Identity, call: &CallInfo, outcome: Outcome) -> AuditEvent {
        let at_us = now_us();
        AuditEvent {
            event_id: new_event_id(at_us),
            at_us,
            caller: caller.subject.clone(),
            auth_method: caller.method.describe(),
            roles: caller.role_names(),
            action: call.method.trim_start_matches('/').to_string(),
            msisdn: String::new(),
            region: String::new(),
            sources: Vec::new(),
            purpose: String::new(),
            outcome,
            detail: String::new(),
            peer: call.peer.clone(),
        }
    }
}

/// `at_us` as 14 hex digits, then 16 random hex digits: ids sort by time.
pub fn new_event_id(at_us: i64) -> String {
    format!("{:014x}{:016x}", at_us.max(0), rand::rng().next_u64())
}

/// Whether `s` has the shape of an event id (page tokens are event ids).
pub fn is_event_id(s: &str) -> bool {
    s.len() == 30 && s.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// Which events `ListAuditEvents` returns.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub caller: Option<String>,
    pub msisdn: Option<String>,
    pub outcome: Option<Outcome>,
    /// Inclusive, microseconds.
    pub from_us: Option<i64>,
    /// Exclusive, microseconds.
    pub to_us: Option<i64>,
    /// Only events older than this event id (the page token).
    pub before_id: Option<String>,
    pub limit: u32,
}

pub use crate::store::{Rider, RiderResult};

/// The audit event of a call in progress; the read path fills in what it learns (number, sources, region).
pub struct AuditNote {
    event: Mutex<AuditEvent>,
    /// How the call really ended, when the caller is told something vaguer (see [`AuditNote::truth`]).
    truth: Mutex<Option<(Outcome, String)>>,
}

impl AuditNote {
    /// A note for `caller`'s call about `raw_msisdn` (recorded as given until it is normalised).
    pub fn new(caller: &Identity, call: &CallInfo, raw_msisdn: &str, purpose: &str) -> AuditNote {
        let mut ev = AuditEvent::new(caller, call, Outcome::Ok);
        ev.msisdn = clip(raw_msisdn.trim(), 32);
        ev.purpose = clip(purpose, 256);
        AuditNote {
            event: Mutex::new(ev),
            truth: Mutex::new(None),
        }
    }

    fn with(&self, f: impl FnOnce(&mut AuditEvent)) {
        f(&mut self.event.lock().unwrap_or_else(|p| p.into_inner()));
    }

    pub fn set_msisdn(&self, msisdn: &str) {
        self.with(|e| e.msisdn = msisdn.to_string());
    }

    pub fn set_region(&self, region: &str) {
        self.with(|e| e.region = region.to_string());
    }

    /// A note on how the call went (recorded with an OK outcome; a failure's own reason replaces it).
    pub fn set_detail(&self, detail: &str) {
        self.with(|e| e.detail = clip(detail, 512));
    }

    /// Adds sources touched (each once).
    pub fn touch<'a>(&self, sources: impl IntoIterator<Item = &'a str>) {
        self.with(|e| {
            for s in sources {
                if !e.sources.iter().any(|x| x == s) {
                    e.sources.push(s.to_string());
                }
            }
        });
    }

    /// Records how the call really ended when the caller's answer does not say (a region-scoped caller
    /// is refused alike for another city's subscriber and for a number nobody has, so the answer cannot
    /// tell which exists; the trail can).
    pub fn truth(&self, outcome: Outcome, detail: &str) {
        *self.truth.lock().unwrap_or_else(|p| p.into_inner()) = Some((outcome, clip(detail, 512)));
    }

    /// The event, with the outcome of `result` (the call's answer): a failure's outcome and reason, or
    /// the truth recorded behind it.
    pub fn finish<R>(self, result: &Result<R, Error>) -> AuditEvent {
        let truth = self.truth.into_inner().unwrap_or_else(|p| p.into_inner());
        let mut ev = self.event.into_inner().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = result {
            ev.outcome = Outcome::of_error(e);
            ev.detail = clip(&e.to_string(), 512);
        }
        if let Some((outcome, detail)) = truth {
            ev.outcome = outcome;
            ev.detail = detail;
        }
        ev
    }

    pub fn into_event(self) -> AuditEvent {
        self.finish(&Ok::<(), Error>(()))
    }
}

struct Pending {
    event: AuditEvent,
    rider: Option<Box<dyn Rider>>,
    /// `Err`: the event is not committed. `Ok(Err)`: it is, but its rider's rows are not.
    done: oneshot::Sender<Result<RiderResult, String>>,
}

/// The audit trail of one gateway.
#[derive(Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<Pending>,
    store: Store,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").field("store", &self.store).finish()
    }
}

const INSERT_HEAD: &str = "INSERT INTO audit_events (event_id, at_us, caller, auth_method, roles, action, msisdn, \
     region, sources, purpose, outcome, detail, peer, seq, prev_hash, hash) VALUES";

impl AuditLog {
    /// Starts the writer task (on the current Tokio runtime). It ends when the last `AuditLog` clone is
    /// dropped, after writing what is queued.
    pub fn start(store: Store, batch_max: usize) -> AuditLog {
        AuditLog::start_with(store, BatchSettings::new(batch_max))
    }

    /// [`start`](Self::start) with the batching settings of `[store]`.
    pub fn start_with(store: Store, settings: BatchSettings) -> AuditLog {
        let (tx, rx) = mpsc::channel::<Pending>(settings.max.max(1) * 8);
        tokio::spawn(writer(store.clone(), rx, settings));
        AuditLog { tx, store }
    }

    /// Appends `event` and waits until it is committed. An error means the event is not recorded, and the
    /// caller must not send its response.
    pub async fn append(&self, event: AuditEvent) -> Result<(), Error> {
        self.send(event, None).await.map(|_| ())
    }

    /// Appends `event` with `rider`'s rows in the same transaction and waits until it is committed. The
    /// outer error is [`append`](Self::append)'s; the inner one says why the rider's rows were not
    /// written although the event was.
    pub async fn append_with(&self, event: AuditEvent, rider: Box<dyn Rider>) -> Result<RiderResult, Error> {
        self.send(event, Some(rider)).await
    }

    async fn send(&self, event: AuditEvent, rider: Option<Box<dyn Rider>>) -> Result<RiderResult, Error> {
        let (done, confirmed) = oneshot::channel();
        let unavailable = |why: &str| {
            tracing::error!(error = %why, "audit append failed");
            Error::StoreUnavailable("the audit trail is unavailable, so the read was not served".into())
        };
        self.tx
            .send(Pending { event, rider, done })
            .await
            .map_err(|_| unavailable("writer stopped"))?;
        match confirmed.await {
            Ok(Ok(rider)) => Ok(rider),
            Ok(Err(e)) => Err(unavailable(&e)),
            Err(_) => Err(unavailable("writer dropped the event")),
        }
    }

    /// Events matching `f`, newest first, and the next page token if there may be more.
    pub async fn list(&self, f: &AuditFilter) -> Result<(Vec<AuditEvent>, Option<String>), Error> {
        let mut sql = String::from(
            "SELECT event_id, at_us, caller, auth_method, roles, action, msisdn, region, sources, purpose, outcome, \
             detail, peer FROM audit_events WHERE 1 = 1",
        );
        let mut n = 0;
        let mut next = |col: &str, op: &str, sql: &mut String| {
            n += 1;
            sql.push_str(&format!(" AND {col} {op} ${n}"));
        };
        // Only fixed column names go into the text; every value is bound below in the same order.
        if f.caller.is_some() {
            next("caller", "=", &mut sql);
        }
        if f.msisdn.is_some() {
            next("msisdn", "=", &mut sql);
        }
        if f.outcome.is_some() {
            next("outcome", "=", &mut sql);
        }
        if f.from_us.is_some() {
            next("at_us", ">=", &mut sql);
        }
        if f.to_us.is_some() {
            next("at_us", "<", &mut sql);
        }
        if f.before_id.is_some() {
            next("event_id", "<", &mut sql);
        }
        let limit = f.limit.clamp(1, 1000);
        sql.push_str(&format!(" ORDER BY event_id DESC LIMIT {}", limit + 1));
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        if let Some(v) = &f.caller {
            q = q.bind(v.clone());
        }
        if let Some(v) = &f.msisdn {
            q = q.bind(v.clone());
        }
        if let Some(v) = f.outcome {
            q = q.bind(v.name());
        }
        if let Some(v) = f.from_us {
            q = q.bind(v);
        }
        if let Some(v) = f.to_us {
            q = q.bind(v);
        }
        if let Some(v) = &f.before_id {
            q = q.bind(v.clone());
        }
        let rows = q.fetch_all(self.store.pool()).await.map_err(|e| {
            tracing::error!(error = %self.store.error("listing audit events", &e), "audit");
            Error::StoreUnavailable("the audit trail is unavailable".into())
        })?;
        let mut events = Vec::with_capacity(rows.len());
        for r in rows.iter().take(limit as usize) {
            events.push(decode(r).map_err(|e| Error::Internal(format!("decoding an audit event: {e}")))?);
        }
        let next = (rows.len() > limit as usize)
            .then(|| events.last().map(|e| e.event_id.clone()))
            .flatten();
        Ok((events, next))
    }

    /// How many events the trail holds (for tests and `identities audit-count`).
    pub async fn count(&self) -> Result<i64, Error> {
        let r = sqlx::query("SELECT COUNT(*) AS n FROM audit_events")
            .fetch_one(self.store.pool())
            .await
            .map_err(|e| Error::StoreUnavailable(self.store.error("counting audit events", &e).to_string()))?;
        r.try_get::<i64, _>("n").map_err(|e| Error::Internal(e.to_string()))
    }
}

fn decode(r: &sqlx::any::AnyRow) -> Result<AuditEvent, sqlx::Error> {
    let list = |s: String| -> Vec<String> { s.split(',').filter(|x| !x.is_empty()).map(str::to_string).collect() };
    Ok(AuditEvent {
        event_id: r.try_get("event_id")?,
        at_us: r.try_get("at_us")?,
        caller: r.try_get("caller")?,
        auth_method: r.try_get("auth_method")?,
        roles: list(r.try_get("roles")?),
        action: r.try_get("action")?,
        msisdn: r.try_get("msisdn")?,
        region: r.try_get("region")?,
        sources: list(r.try_get("sources")?),
        purpose: r.try_get("purpose")?,
        outcome: Outcome::parse(&r.try_get::<String, _>("outcome")?),
        detail: r.try_get("detail")?,
        peer: r.try_get("peer")?,
    })
}

/// Columns of `audit_events`, in `INSERT` order: the event's, then its link in the chain.
const COLUMNS: usize = 16;

/// An event's stored columns as text, in `INSERT` order (what the chain's hash covers).
fn fields(e: &AuditEvent) -> [String; 13] {
    [
        e.event_id.clone(),
        e.at_us.to_string(),
        e.caller.clone(),
        e.auth_method.clone(),
        e.roles.join(","),
        e.action.clone(),
        e.msisdn.clone(),
        e.region.clone(),
        e.sources.join(","),
        e.purpose.clone(),
        e.outcome.name().to_string(),
        e.detail.clone(),
        e.peer.clone(),
    ]
}

/// The chain links of `batch`'s events, following `head`.
fn links(head: &Head, batch: &[Pending]) -> Vec<Link> {
    let mut at = head.clone();
    batch
        .iter()
        .map(|p| {
            let f = fields(&p.event);
            let refs: Vec<&str> = f.iter().map(String::as_str).collect();
            let link = at.next(&refs);
            at = Head {
                seq: link.seq,
                hash: link.hash.clone(),
            };
            link
        })
        .collect()
}

/// Most events per `INSERT` statement (16 parameters each, well under every engine's limit).
const ROWS_PER_INSERT: usize = 64;
/// `INSERT … VALUES (…), (…)` for `rows` events: the text depends only on the row count; values are bound.
fn insert_sql(rows: usize, marks: Marks) -> String {
    let mut sql = String::from(INSERT_HEAD);
    for r in 0..rows {
        sql.push_str(if r == 0 { " (" } else { ", (" });
        sql.push_str(&marks.list(r * COLUMNS + 1, COLUMNS));
        sql.push(')');
    }
    sql
}

/// Inserts the batch's events with their links, `ROWS_PER_INSERT` per statement.
async fn insert_events(
    store: &Store,
    conn: &mut sqlx::AnyConnection,
    batch: &[Pending],
    links: &[Link],
) -> Result<(), String> {
    for (chunk, links) in batch.chunks(ROWS_PER_INSERT).zip(links.chunks(ROWS_PER_INSERT)) {
        let sql = insert_sql(chunk.len(), Marks::of(conn));
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (Pending { event: e, .. }, link) in chunk.iter().zip(links) {
            q = q
                .bind(e.event_id.as_str())
                .bind(e.at_us)
                .bind(e.caller.as_str())
                .bind(e.auth_method.as_str())
                .bind(e.roles.join(","))
                .bind(e.action.as_str())
                .bind(e.msisdn.as_str())
                .bind(e.region.as_str())
                .bind(e.sources.join(","))
                .bind(e.purpose.as_str())
                .bind(e.outcome.name())
                .bind(e.detail.as_str())
                .bind(e.peer.as_str())
                .bind(link.seq)
                .bind(link.prev_hash.as_str())
                .bind(link.hash.as_str());
        }
        q.execute(&mut *conn)
            .await
            .map_err(|err| store.error("insert", &err).to_string())?;
    }
    Ok(())
}

/// Writes one batch in one transaction: the events, then the riders. The outer error fails the whole
/// batch (no event is committed); the inner results are per rider.
///
/// Riders are first written straight into the transaction (those of one group at once, see
/// [`Rider::group`]). Should one fail, that transaction is rolled
/// back and the batch written again with each rider behind its own savepoint, so a failing rider costs
/// only its own rows (PostgreSQL aborts a transaction at its first error, so a savepoint is the only way
/// to go on), while the usual batch pays for no savepoints.
///
/// `head` is the chain's head as this writer last left it (`None`: read it from the store); it moves on
/// when the batch commits and is forgotten when it fails (another writer may have extended the chain).
async fn write_batch(store: &Store, batch: &[Pending], head: &mut Option<Head>) -> Result<Vec<RiderResult>, String> {
    let known = head.take();
    let r = write_chained(store, batch, known).await;
    match r {
        Ok((riders, last)) => {
            *head = Some(last);
            Ok(riders)
        }
        Err(e) => Err(e),
    }
}

/// Begins a transaction holding the store's lock on the audit chain, and reads the chain's head as stored.
///
/// Several gateways may share the chain (replicas on one PostgreSQL store, or on one SQLite file): each
/// batch extends it under the lock, from the head read after taking it, so it follows the batch committed
/// before. PostgreSQL: a transaction-scoped advisory lock; SQLite: `BEGIN IMMEDIATE` (the database's one
/// write lock, waited for up to its busy time-out).
async fn lock_chain(store: &Store) -> Result<(sqlx::Transaction<'static, sqlx::Any>, Head), String> {
    let begin = |e: sqlx::Error| store.error("begin", &e).to_string();
    let mut tx = match store.kind() {
        StoreKind::Sqlite => store.pool().begin_with("BEGIN IMMEDIATE").await.map_err(begin)?,
        StoreKind::Postgres => {
            let mut tx = store.pool().begin().await.map_err(begin)?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(CHAIN_LOCK)
                .execute(&mut *tx)
                .await
                .map_err(|e| store.error("locking the audit chain", &e).to_string())?;
            tx
        }
    };
    let head = chain::head(&mut tx)
        .await
        .map_err(|e| store.error("reading the audit chain's head", &e).to_string())?;
    Ok((tx, head))
}

async fn write_chained(
    store: &Store,
    batch: &[Pending],
    known: Option<Head>,
) -> Result<(Vec<RiderResult>, Head), String> {
    let (mut tx, start) = lock_chain(store).await?;
    if let Some(h) = known.filter(|h| h.seq != start.seq) {
        tracing::debug!(
            ours = h.seq,
            stored = start.seq,
            "another gateway extended the audit chain"
        );
    }
    let links = links(&start, batch);
    let last = links.last().map_or(start.clone(), |l| Head {
        seq: l.seq,
        hash: l.hash.clone(),
    });
    insert_events(store, &mut tx, batch, &links).await?;
    let failed = crate::store::write_riders(batch.iter().filter_map(|p| p.rider.as_deref()), &mut tx)
        .await
        .is_err();
    if !failed {
        tx.commit().await.map_err(|e| store.error("commit", &e).to_string())?;
        return Ok((vec![Ok(()); batch.len()], last));
    }
    tx.rollback()
        .await
        .map_err(|e| store.error("rollback", &e).to_string())?;

    // Once more from the head as it is now (another gateway may have extended the chain meanwhile).
    let (mut tx, start) = lock_chain(store).await?;
    let relinked = self::links(&start, batch);
    let last = relinked.last().map_or(start.clone(), |l| Head {
        seq: l.seq,
        hash: l.hash.clone(),
    });
    insert_events(store, &mut tx, batch, &relinked).await?;
    let mut riders = Vec::with_capacity(batch.len());
    for p in batch {
        let Some(rider) = &p.rider else {
            riders.push(Ok(()));
            continue;
        };
        let mut savepoint = (&mut tx)
            .begin()
            .await
            .map_err(|e| store.error("savepoint", &e).to_string())?;
        match rider.write(&mut savepoint).await {
            Ok(()) => {
                savepoint
                    .commit()
                    .await
                    .map_err(|e| store.error("release savepoint", &e).to_string())?;
                riders.push(Ok(()));
            }
            Err(e) => {
                savepoint
                    .rollback()
                    .await
                    .map_err(|e| store.error("rollback to savepoint", &e).to_string())?;
                riders.push(Err(store.error(rider.what(), &e).to_string()));
            }
        }
    }
    tx.commit().await.map_err(|e| store.error("commit", &e).to_string())?;
    Ok((riders, last))
}

/// The advisory lock (PostgreSQL) that serialises extending the audit chain across gateways: "cgw_audi".
const CHAIN_LOCK: i64 = 0x6367_775f_6175_6469;

/// How often the writer lets the runtime run other tasks before a commit, taking the events they add.
const GATHER_YIELDS: usize = 16;

/// How the writer groups concurrent calls' events into one transaction.
#[derive(Debug, Clone, Copy)]
pub struct BatchSettings {
    /// Most events in one transaction (`[store] audit_batch_max`).
    pub max: usize,
    /// Longest a batch waits to fill while calls arrive (`[store] audit_batch_wait_us`); a lone call never does.
    pub wait: std::time::Duration,
}

impl BatchSettings {
    pub fn new(max: usize) -> BatchSettings {
        BatchSettings {
            max: max.max(1),
            wait: std::time::Duration::from_micros(crate::store::DEFAULT_AUDIT_BATCH_WAIT_US),
        }
    }
}

/// Takes what is queued into `batch`, up to `max`; whether anything came.
fn take_queued(rx: &mut mpsc::Receiver<Pending>, batch: &mut Vec<Pending>, max: usize) -> bool {
    let before = batch.len();
    while batch.len() < max {
        match rx.try_recv() {
            Ok(p) => batch.push(p),
            Err(_) => break,
        }
    }
    batch.len() > before
}

async fn writer(store: Store, mut rx: mpsc::Receiver<Pending>, settings: BatchSettings) {
    let batch_max = settings.max;
    let mut batch: Vec<Pending> = Vec::with_capacity(batch_max);
    let mut head: Option<Head> = None;
    let mut busy = false;
    while rx.recv_many(&mut batch, batch_max).await > 0 {
        // Group commit: calls already on their way to `append` get into this batch instead of waiting a
        // whole commit for the next one. Yielding needs no timer: on an idle runtime it returns at once.
        // Alternating runs of `cargo bench --bench diagnosis` (warm views, 32 in flight): +15–20%.
        for _ in 0..GATHER_YIELDS {
            if batch.len() >= batch_max {
                break;
            }
            tokio::task::yield_now().await;
            take_queued(&mut rx, &mut batch, batch_max);
        }
        // Under load (the last batch had company) the batch waits a little longer to fill: one commit for
        // many calls costs each of them less than a commit of its own. Tokio's timers tick in
        // milliseconds, so the wait yields to the runtime until its deadline (only the runtime's idle
        // time goes on it), and ends early once nothing more arrives for a while.
        if busy && !settings.wait.is_zero() {
            let deadline = std::time::Instant::now() + settings.wait;
            let mut idle_rounds = 0;
            while batch.len() < batch_max && std::time::Instant::now() < deadline && idle_rounds < 64 {
                tokio::task::yield_now().await;
                if take_queued(&mut rx, &mut batch, batch_max) {
                    idle_rounds = 0;
                } else {
                    idle_rounds += 1;
                }
            }
        }
        busy = batch.len() > 1;
        let t0 = std::time::Instant::now();
        let mut r = write_batch(&store, &batch, &mut head).await;
        if r.is_err() {
            // Once more: a transient failure (a connection lost, a lock wait that timed out).
            r = write_batch(&store, &batch, &mut head).await;
        }
        metrics::histogram!("cgw_audit_batch_events").record(batch.len() as f64);
        metrics::histogram!("cgw_audit_commit_seconds").record(t0.elapsed().as_secs_f64());
        if let Err(e) = &r {
            tracing::error!(error = %e, events = batch.len(), "audit batch not written");
        }
        for (i, p) in batch.drain(..).enumerate() {
            let _ = p.done.send(match &r {
                Ok(riders) => Ok(riders[i].clone()),
                Err(e) => Err(e.clone()),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: i64) -> AuditEvent {
        AuditEvent {
            event_id: new_event_id(n),
            at_us: n,
            caller: "h-1".into(),
            auth_method: "jwt".into(),
            roles: vec!["handler".into(), "manager".into()],
            action: "complaint.v1.DiagnosisService/Diagnose".into(),
            msisdn: "13800000001".into(),
            region: "0571".into(),
            sources: vec!["billing".into()],
            purpose: format!("C-{n}"),
            outcome: Outcome::Ok,
            detail: String::new(),
            peer: String::new(),
        }
    }

    /// Writes `n` into `t` (a table the test creates, or one that does not exist).
    struct Row(&'static str, i64);

    impl Rider for Row {
        fn what(&self) -> &'static str {
            "writing a test row"
        }

        fn write<'c>(
            &'c self,
            conn: &'c mut sqlx::AnyConnection,
        ) -> futures::future::BoxFuture<'c, Result<(), sqlx::Error>> {
            let sql = match self.0 {
                "t" => "INSERT INTO t (n) VALUES ($1)",
                _ => "INSERT INTO missing (n) VALUES ($1)",
            };
            Box::pin(async move { sqlx::query(sql).bind(self.1).execute(conn).await.map(|_| ()) })
        }
    }

    fn pending(n: i64, rider: Option<Row>) -> Pending {
        Pending {
            event: event(n),
            rider: rider.map(|r| Box::new(r) as Box<dyn Rider>),
            done: oneshot::channel().0,
        }
    }

    async fn count(store: &Store, sql: &'static str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(store.pool()).await.unwrap()
    }

    #[test]
    fn inserts_number_every_value() {
        assert_eq!(
            insert_sql(2, Marks::Numbered).trim_start_matches(INSERT_HEAD),
            " ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16), \
             ($17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32)"
        );
        // SQLite: anonymous marks, bound in order.
        assert_eq!(
            insert_sql(1, Marks::InOrder).trim_start_matches(INSERT_HEAD),
            " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        );
    }

    #[tokio::test]
    async fn a_failing_rider_costs_only_its_own_rows() {
        let store = Store::connect("sqlite::memory:", 1).await.unwrap();
        sqlx::query("CREATE TABLE t (n BIGINT NOT NULL)")
            .execute(store.pool())
            .await
            .unwrap();
        // More events than one INSERT takes, riders among them, one failing in the middle.
        let mut batch: Vec<Pending> = (0..100).map(|n| pending(n, None)).collect();
        batch[3] = pending(3, Some(Row("t", 3)));
        batch[50] = pending(50, Some(Row("missing", 50)));
        batch[99] = pending(99, Some(Row("t", 99)));
        let mut head = None;
        let riders = write_batch(&store, &batch, &mut head).await.unwrap();
        assert_eq!(
            head.as_ref().map(|h| h.seq),
            Some(100),
            "the chain moved on by the batch"
        );
        assert_eq!(riders.len(), 100);
        assert!(riders.iter().enumerate().all(|(i, r)| r.is_ok() == (i != 50)));
        let e = riders[50].as_ref().unwrap_err();
        assert!(e.contains("writing a test row") && e.contains("missing"), "{e}");
        assert_eq!(count(&store, "SELECT COUNT(*) FROM audit_events").await, 100);
        assert_eq!(count(&store, "SELECT SUM(n) FROM t").await, 102);
        // The events read back as written.
        let log = AuditLog::start(store.clone(), 8);
        let (events, _) = log
            .list(&AuditFilter {
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap();
        let mut got: Vec<AuditEvent> = events;
        got.sort_by_key(|e| e.at_us);
        assert_eq!(got, (0..100).map(|n| batch[n].event.clone()).collect::<Vec<_>>());

        // Without a failure the batch goes in as it is.
        let batch = vec![pending(200, Some(Row("t", 1000))), pending(201, None)];
        assert_eq!(
            write_batch(&store, &batch, &mut head).await.unwrap(),
            vec![Ok(()), Ok(())]
        );
        let report = chain::verify(&store, &mut |_| {}).await.unwrap();
        assert_eq!((report.checked, report.broken), (102, None));
        assert_eq!(count(&store, "SELECT SUM(n) FROM t").await, 1102);
        assert_eq!(count(&store, "SELECT COUNT(*) FROM audit_events").await, 102);
    }
}
