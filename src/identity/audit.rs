//! The audit trail: one event per read (view, usage stream, diagnosis) and per administrative change,
//! appended to the gateway's store before the response leaves.
//!
//! Appends go through one writer task that commits whatever is waiting in one transaction (up to
//! `store.audit_batch_max` events) and then confirms each append: SQLite gets a single writer and one
//! fsync per batch, and a caller's `append` returns only once its event is committed. There is no update
//! or delete path, and the store's triggers reject both.
use super::{CallInfo, Identity};
use crate::error::Error;
use crate::store::{now_us, Store};
use rand::RngCore;
use sqlx::Row;
use tokio::sync::{mpsc, oneshot};

/// How a read ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// Refused by authorisation (permission or region).
    Denied,
    NotFound,
    InvalidArgument,
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
            Outcome::Error => "ERROR",
        }
    }

    pub fn parse(s: &str) -> Outcome {
        match s {
            "OK" => Outcome::Ok,
            "DENIED" => Outcome::Denied,
            "NOT_FOUND" => Outcome::NotFound,
            "INVALID_ARGUMENT" => Outcome::InvalidArgument,
            _ => Outcome::Error,
        }
    }

    /// The outcome of a failed call.
    pub fn of_error(e: &Error) -> Outcome {
        match e {
            Error::PermissionDenied(_) => Outcome::Denied,
            Error::NotFound(_) => Outcome::NotFound,
            Error::InvalidArgument { .. } => Outcome::InvalidArgument,
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

type Pending = (AuditEvent, oneshot::Sender<Result<(), String>>);

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

const INSERT: &str = "INSERT INTO audit_events (event_id, at_us, caller, auth_method, roles, action, msisdn, region, \
     sources, purpose, outcome, detail, peer) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";

impl AuditLog {
    /// Starts the writer task (on the current Tokio runtime). It ends when the last `AuditLog` clone is
    /// dropped, after writing what is queued.
    pub fn start(store: Store, batch_max: usize) -> AuditLog {
        let (tx, rx) = mpsc::channel::<Pending>(batch_max.max(1) * 8);
        tokio::spawn(writer(store.clone(), rx, batch_max.max(1)));
        AuditLog { tx, store }
    }

    /// Appends `event` and waits until it is committed. An error means the event is not recorded, and the
    /// caller must not send its response.
    pub async fn append(&self, event: AuditEvent) -> Result<(), Error> {
        let (done, confirmed) = oneshot::channel();
        let unavailable = |why: &str| {
            tracing::error!(error = %why, "audit append failed");
            Error::Unavailable("the audit trail is unavailable, so the read was not served".into())
        };
        self.tx
            .send((event, done))
            .await
            .map_err(|_| unavailable("writer stopped"))?;
        match confirmed.await {
            Ok(Ok(())) => Ok(()),
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
            Error::Unavailable("the audit trail is unavailable".into())
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
            .map_err(|e| Error::Unavailable(self.store.error("counting audit events", &e).to_string()))?;
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

async fn write_batch(store: &Store, batch: &[Pending]) -> Result<(), String> {
    let mut tx = store
        .pool()
        .begin()
        .await
        .map_err(|e| store.error("begin", &e).to_string())?;
    for (e, _) in batch {
        sqlx::query(INSERT)
            .bind(&e.event_id)
            .bind(e.at_us)
            .bind(&e.caller)
            .bind(&e.auth_method)
            .bind(e.roles.join(","))
            .bind(&e.action)
            .bind(&e.msisdn)
            .bind(&e.region)
            .bind(e.sources.join(","))
            .bind(&e.purpose)
            .bind(e.outcome.name())
            .bind(&e.detail)
            .bind(&e.peer)
            .execute(&mut *tx)
            .await
            .map_err(|err| store.error("insert", &err).to_string())?;
    }
    tx.commit().await.map_err(|e| store.error("commit", &e).to_string())
}

async fn writer(store: Store, mut rx: mpsc::Receiver<Pending>, batch_max: usize) {
    let mut batch: Vec<Pending> = Vec::with_capacity(batch_max);
    while rx.recv_many(&mut batch, batch_max).await > 0 {
        let r = write_batch(&store, &batch).await;
        if let Err(e) = &r {
            tracing::error!(error = %e, events = batch.len(), "audit batch not written");
        }
        for (_, done) in batch.drain(..) {
            let _ = done.send(r.clone());
        }
    }
}
