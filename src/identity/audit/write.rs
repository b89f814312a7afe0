//! How the audit writer commits: one task takes the events waiting (group commit), links them into the
//! hash chain under the store's lock on it and inserts them, with their riders, in one transaction
//! (see the module above for what a caller is promised).
use super::{AuditEvent, Pending};
use crate::identity::chain::{self, Head, Link};
use crate::store::RiderResult;
use crate::store::{Marks, Store, StoreKind};
use sqlx::Acquire;
use tokio::sync::mpsc;

pub(super) const INSERT_HEAD: &str =
    "INSERT INTO audit_events (event_id, at_us, caller, auth_method, roles, action, msisdn, \
     region, sources, purpose, outcome, detail, peer, seq, prev_hash, hash) VALUES";

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
pub(super) fn insert_sql(rows: usize, marks: Marks) -> String {
    let mut sql = String::from(INSERT_HEAD);
    for r in 0..rows {
        sql.push_str(if r == 0 { " (" } else { ", (" });
        sql.push_str(&marks.list(r * COLUMNS + 1, COLUMNS));
        sql.push(')');
    }
    sql
}

/// The row counts of the statements that insert `n` events: `ROWS_PER_INSERT` each, then the rest as
/// powers of two (100 = 64 + 32 + 4). A connection prepares each statement text once and keeps it in its
/// statement cache; with one text per batch size, batches of ever new sizes would be prepared again and
/// again (parsing a 64-row `INSERT` costs more than running it), with these at most seven texts exist.
pub(super) fn statement_rows(n: usize) -> impl Iterator<Item = usize> {
    let full = std::iter::repeat_n(ROWS_PER_INSERT, n / ROWS_PER_INSERT);
    let rest = n % ROWS_PER_INSERT;
    let bits = (0..usize::BITS)
        .rev()
        .map(|b| 1usize << b)
        .filter(move |p| rest & p != 0);
    full.chain(bits)
}

/// Inserts the batch's events with their links, in statements of [`statement_rows`] rows.
async fn insert_events(
    store: &Store,
    conn: &mut sqlx::AnyConnection,
    batch: &[Pending],
    links: &[Link],
) -> Result<(), String> {
    let mut at = 0;
    for rows in statement_rows(batch.len()) {
        let (chunk, links) = (&batch[at..at + rows], &links[at..at + rows]);
        at += rows;
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
pub(super) async fn write_batch(
    store: &Store,
    batch: &[Pending],
    head: &mut Option<Head>,
) -> Result<Vec<RiderResult>, String> {
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

pub(super) async fn writer(store: Store, mut rx: mpsc::Receiver<Pending>, settings: BatchSettings) {
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
