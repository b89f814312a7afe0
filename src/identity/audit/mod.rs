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
use super::{clip, CallInfo, Identity};
use crate::error::Error;
use crate::store::{now_us, Store};
use rand::RngCore;
use sqlx::Row;
use std::sync::Mutex;
use tokio::sync::{mpsc, oneshot};

mod write;
use write::writer;
pub use write::BatchSettings;

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

#[cfg(test)]
mod tests {
    use super::write::{insert_sql, statement_rows, write_batch, INSERT_HEAD};
    use super::*;
    use crate::identity::chain;
    use crate::store::Marks;

    #[test]
    fn a_batch_of_any_size_is_inserted_with_at_most_seven_statement_texts() {
        let rows = |n| statement_rows(n).collect::<Vec<_>>();
        assert_eq!(rows(0), Vec::<usize>::new());
        assert_eq!(rows(1), vec![1]);
        assert_eq!(rows(64), vec![64]);
        assert_eq!(rows(100), vec![64, 32, 4]);
        assert_eq!(rows(127), vec![64, 32, 16, 8, 4, 2, 1]);
        assert_eq!(rows(200), vec![64, 64, 64, 8]);
        let mut texts = std::collections::BTreeSet::new();
        for n in 0..=300 {
            let r = rows(n);
            assert_eq!(r.iter().sum::<usize>(), n, "{n}: {r:?}");
            texts.extend(r);
        }
        assert_eq!(texts.into_iter().collect::<Vec<_>>(), vec![1, 2, 4, 8, 16, 32, 64]);
    }

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
