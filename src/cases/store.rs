//! Cases in the gateway's store (`migrations/gateway/0003_cases.sql`): events appended to
//! `complaint_events` and the projection in `complaint_cases`, always written together in one transaction
//! (as the [`Rider`] of the call's audit event, or on their own). A change is written only if the case is
//! still at the version it was read at; otherwise nothing is written. Every value is a bound parameter.
use super::model::{Complaint, Event, EventKind, State, VisitOutcome};
use crate::store::Marks;
use crate::store::{Rider, Store};
use futures::future::BoxFuture;
use sqlx::any::AnyRow;
use sqlx::Row;

/// The projection row's deadline columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Deadlines {
    pub next_due_us: Option<i64>,
    pub next_warn_us: Option<i64>,
    pub breached_late: bool,
    /// Each target's outcome so far (first response, reply, resolution), for analytics; not stored in
    /// `complaint_cases` (a listed row has the default).
    pub targets: [TargetOutcome; 3],
}

/// How one SLA target stands after a change: met on time, met late, or its due time while not met.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TargetOutcome {
    pub met_on_time: bool,
    pub met_late: bool,
    pub due_us: Option<i64>,
}

/// A case as listed: the projection row.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseRow {
    pub complaint: Complaint,
    pub deadlines: Deadlines,
}

/// New events for one case and the projection they lead to, written only if the case is still at
/// `expected_version` (0: a new case, whose id must be free).
#[derive(Debug, Clone)]
pub struct CaseChange {
    pub expected_version: i64,
    pub events: Vec<Event>,
    pub after: Complaint,
    pub deadlines: Deadlines,
}

/// Every change of one call, written in one transaction.
#[derive(Debug, Clone)]
pub struct CaseWrite(pub Vec<CaseChange>);

const EVENT_COLUMNS: &str = "complaint_id, seq, at_us, kind, caller, region, msisdn, channel, category, confidence, \
     category_source, scenario_id, cause_code, diag_outcome, reply_without_question, answers, handler_group, owner, \
     priority, policy_id, from_state, to_state, reason, visit_outcome, related_id, vip_level, cell_id, vas_provider, \
     payment_channel, abstained";

const CASE_COLUMNS: &str = "complaint_id, msisdn, region, channel, text, category, cause_code, scenario_id, state, \
     handler_group, owner, priority, policy_id, vip_level, repeat_of, repeat_count, reopen_count, diagnoses, replied, \
     visit_outcome, visit_attempts, created_at_us, updated_at_us, closed_at_us, next_due_us, next_warn_us, \
     sort_due_us, breached_late, cell_id, vas_provider, payment_channel, version";

/// Who a complaint id belongs to (see [`CaseStore::owner`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub msisdn: String,
    pub region: String,
    /// A complaint case has this id (else only diagnoses were recorded under it).
    pub case: bool,
}

fn bind_event<'q>(q: AnyQuery<'q>, e: &'q Event) -> AnyQuery<'q> {
    q.bind(&e.complaint_id)
        .bind(e.seq)
        .bind(e.at_us)
        .bind(e.kind.name())
        .bind(&e.caller)
        .bind(&e.region)
        .bind(&e.msisdn)
        .bind(&e.channel)
        .bind(&e.category)
        .bind(e.confidence)
        .bind(&e.category_source)
        .bind(&e.scenario_id)
        .bind(&e.cause_code)
        .bind(&e.diag_outcome)
        .bind(i64::from(e.reply_without_question))
        .bind(e.answers)
        .bind(&e.group)
        .bind(&e.owner)
        .bind(e.priority)
        .bind(&e.policy_id)
        .bind(e.from_state.map(State::name).unwrap_or(""))
        .bind(e.to_state.map(State::name).unwrap_or(""))
        .bind(&e.reason)
        .bind(e.visit.map(VisitOutcome::name).unwrap_or(""))
        .bind(&e.related_id)
        .bind(e.vip_level)
        .bind(&e.cell_id)
        .bind(&e.vas_provider)
        .bind(&e.payment_channel)
        .bind(i64::from(e.abstained))
}

fn bind_case<'q>(q: AnyQuery<'q>, c: &'q Complaint, d: &Deadlines) -> AnyQuery<'q> {
    q.bind(&c.id)
        .bind(&c.msisdn)
        .bind(&c.region)
        .bind(&c.channel)
        .bind(&c.text)
        .bind(&c.category)
        .bind(&c.cause_code)
        .bind(&c.scenario_id)
        .bind(c.state.name())
        .bind(&c.group)
        .bind(&c.owner)
        .bind(c.priority)
        .bind(&c.policy_id)
        .bind(c.vip_level)
        .bind(&c.repeat_of)
        .bind(c.repeat_count)
        .bind(c.reopen_count)
        .bind(c.diagnoses)
        .bind(i64::from(c.replied))
        .bind(c.visit.map(VisitOutcome::name).unwrap_or(""))
        .bind(c.visit_attempts)
        .bind(c.created_at_us)
        .bind(c.updated_at_us)
        .bind(c.closed_at_us)
        .bind(d.next_due_us)
        .bind(d.next_warn_us)
        .bind(d.next_due_us.unwrap_or(i64::MAX))
        .bind(i64::from(d.breached_late))
        .bind(&c.cell_id)
        .bind(&c.vas_provider)
        .bind(&c.payment_channel)
        .bind(c.version)
}

/// Appends one event.
pub async fn insert_event(conn: &mut sqlx::AnyConnection, e: &Event) -> Result<(), sqlx::Error> {
    let sql = format!(
        "INSERT INTO complaint_events ({EVENT_COLUMNS}) VALUES ({})",
        Marks::Numbered.list(1, 30)
    );
    bind_event(sqlx::query(sqlx::AssertSqlSafe(sql)), e)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Why a change was not written although the store is up.
pub const STALE: &str = "the complaint changed since it was read";

async fn write_change(conn: &mut sqlx::AnyConnection, ch: &CaseChange) -> Result<(), sqlx::Error> {
    let c = &ch.after;
    let d = &ch.deadlines;
    let sql = if ch.expected_version == 0 {
        format!(
            "INSERT INTO complaint_cases ({CASE_COLUMNS}) VALUES ({})",
            Marks::Numbered.list(1, 32)
        )
    } else {
        // Same parameter order: complaint_id is $1 and the version to replace is $33.
        let sets: Vec<String> = CASE_COLUMNS
            .split(", ")
            .enumerate()
            .skip(1)
            .map(|(i, col)| format!("{col} = ${}", i + 1))
            .collect();
        format!(
            "UPDATE complaint_cases SET {} WHERE complaint_id = $1 AND version = $33",
            sets.join(", ")
        )
    };
    let mut q = bind_case(sqlx::query(sqlx::AssertSqlSafe(sql)), c, d);
    if ch.expected_version > 0 {
        q = q.bind(ch.expected_version);
    }
    let done = q.execute(&mut *conn).await?;
    if done.rows_affected() != 1 {
        return Err(sqlx::Error::Protocol(STALE.into()));
    }
    for e in &ch.events {
        insert_event(conn, e).await?;
    }
    // The analytic projections move with the case, in the same transaction.
    super::facts::maintain(conn, ch).await
}

impl CaseWrite {
    /// Writes every change on `conn` (inside the caller's transaction).
    pub async fn write_on(&self, conn: &mut sqlx::AnyConnection) -> Result<(), sqlx::Error> {
        for ch in &self.0 {
            write_change(conn, ch).await?;
        }
        Ok(())
    }
}

impl Rider for CaseWrite {
    fn what(&self) -> &'static str {
        "recording a complaint change"
    }

    fn write<'c>(&'c self, conn: &'c mut sqlx::AnyConnection) -> BoxFuture<'c, Result<(), sqlx::Error>> {
        Box::pin(self.write_on(conn))
    }
}

fn decode_event(r: &AnyRow) -> Result<Event, sqlx::Error> {
    let state = |col: &str| -> Result<Option<State>, sqlx::Error> { Ok(State::parse(&r.try_get::<String, _>(col)?)) };
    let kind: String = r.try_get("kind")?;
    Ok(Event {
        complaint_id: r.try_get("complaint_id")?,
        seq: r.try_get("seq")?,
        at_us: r.try_get("at_us")?,
        kind: EventKind::parse(&kind)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown event kind `{kind}`").into()))?,
        caller: r.try_get("caller")?,
        region: r.try_get("region")?,
        msisdn: r.try_get("msisdn")?,
        channel: r.try_get("channel")?,
        category: r.try_get("category")?,
        confidence: r.try_get("confidence")?,
        category_source: r.try_get("category_source")?,
        scenario_id: r.try_get("scenario_id")?,
        cause_code: r.try_get("cause_code")?,
        diag_outcome: r.try_get("diag_outcome")?,
        reply_without_question: r.try_get::<i64, _>("reply_without_question")? != 0,
        answers: r.try_get("answers")?,
        group: r.try_get("handler_group")?,
        owner: r.try_get("owner")?,
        priority: r.try_get("priority")?,
        policy_id: r.try_get("policy_id")?,
        from_state: state("from_state")?,
        to_state: state("to_state")?,
        reason: r.try_get("reason")?,
        visit: VisitOutcome::parse(&r.try_get::<String, _>("visit_outcome")?),
        related_id: r.try_get("related_id")?,
        vip_level: r.try_get("vip_level")?,
        cell_id: r.try_get("cell_id")?,
        vas_provider: r.try_get("vas_provider")?,
        payment_channel: r.try_get("payment_channel")?,
        abstained: r.try_get::<i64, _>("abstained")? != 0,
    })
}

fn decode_case(r: &AnyRow) -> Result<CaseRow, sqlx::Error> {
    let state: String = r.try_get("state")?;
    Ok(CaseRow {
        complaint: Complaint {
            id: r.try_get("complaint_id")?,
            msisdn: r.try_get("msisdn")?,
            region: r.try_get("region")?,
            channel: r.try_get("channel")?,
            text: r.try_get("text")?,
            category: r.try_get("category")?,
            cause_code: r.try_get("cause_code")?,
            scenario_id: r.try_get("scenario_id")?,
            state: State::parse(&state)
                .ok_or_else(|| sqlx::Error::Decode(format!("unknown state `{state}`").into()))?,
            group: r.try_get("handler_group")?,
            owner: r.try_get("owner")?,
            priority: r.try_get("priority")?,
            policy_id: r.try_get("policy_id")?,
            vip_level: r.try_get("vip_level")?,
            repeat_of: r.try_get("repeat_of")?,
            repeat_count: r.try_get("repeat_count")?,
            reopen_count: r.try_get("reopen_count")?,
            diagnoses: r.try_get("diagnoses")?,
            replied: r.try_get::<i64, _>("replied")? != 0,
            visit: VisitOutcome::parse(&r.try_get::<String, _>("visit_outcome")?),
            visit_attempts: r.try_get("visit_attempts")?,
            created_at_us: r.try_get("created_at_us")?,
            updated_at_us: r.try_get("updated_at_us")?,
            closed_at_us: r.try_get("closed_at_us")?,
            cell_id: r.try_get("cell_id")?,
            vas_provider: r.try_get("vas_provider")?,
            payment_channel: r.try_get("payment_channel")?,
            version: r.try_get("version")?,
        },
        deadlines: Deadlines {
            next_due_us: r.try_get("next_due_us")?,
            next_warn_us: r.try_get("next_warn_us")?,
            breached_late: r.try_get::<i64, _>("breached_late")? != 0,
            targets: Default::default(),
        },
    })
}

/// Which cases a list returns. Every filter value is bound; the region list is the caller's scope.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub states: Vec<State>,
    /// `None`: every region (callers with all_regions); otherwise only these.
    pub regions: Option<Vec<String>>,
    pub category: Option<String>,
    pub cause_code: Option<String>,
    pub owner: Option<String>,
    pub group: Option<String>,
    pub channel: Option<String>,
    pub msisdn: Option<String>,
    pub due_before_us: Option<i64>,
    /// Created at or after this instant.
    pub created_from_us: Option<i64>,
    /// Created before this instant.
    pub created_to_us: Option<i64>,
    pub at_risk: bool,
    pub breached: bool,
    /// The instant at risk and breached are judged at.
    pub now_us: i64,
    /// Keyset page: after this (sort_due_us, complaint_id).
    pub after: Option<(i64, String)>,
    pub limit: u32,
}

/// Cases in the gateway's store.
#[derive(Clone)]
pub struct CaseStore {
    store: Store,
}

impl CaseStore {
    pub fn new(store: Store) -> CaseStore {
        CaseStore { store }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    fn fail(&self, what: &str, e: sqlx::Error) -> String {
        self.store.error(what, &e).to_string()
    }

    /// A case's events, in order.
    pub async fn events(&self, id: &str) -> Result<Vec<Event>, String> {
        let sql = format!("SELECT {EVENT_COLUMNS} FROM complaint_events WHERE complaint_id = $1 ORDER BY seq");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_all(self.store.pool())
            .await
            .map_err(|e| self.fail("reading complaint events", e))?;
        rows.iter()
            .map(decode_event)
            .collect::<Result<_, _>>()
            .map_err(|e| format!("decoding a complaint event: {e}"))
    }

    /// The projection row of a case.
    pub async fn get(&self, id: &str) -> Result<Option<CaseRow>, String> {
        let sql = format!("SELECT {CASE_COLUMNS} FROM complaint_cases WHERE complaint_id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.store.pool())
            .await
            .map_err(|e| self.fail("reading a complaint", e))?;
        row.as_ref()
            .map(decode_case)
            .transpose()
            .map_err(|e| format!("decoding a complaint: {e}"))
    }

    /// Who a complaint id belongs to: (number, region) of its case, else of its first recorded diagnosis
    /// (whose number may be unknown: ''), else `None` (the id is free).
    pub async fn owner_of(&self, id: &str) -> Result<Option<(String, String)>, String> {
        Ok(self.owner(id).await?.map(|o| (o.msisdn, o.region)))
    }

    /// [`owner_of`](Self::owner_of), and whether the id is a complaint case's (not only diagnosed).
    pub async fn owner(&self, id: &str) -> Result<Option<Owner>, String> {
        // One statement (a `Diagnose` naming its complaint asks this before every read): the case's row
        // first, else the id's first event.
        let row = sqlx::query(
            "SELECT msisdn, region, k FROM ( \
               SELECT msisdn, region, CAST(0 AS BIGINT) AS k, CAST(0 AS BIGINT) AS seq FROM complaint_cases WHERE complaint_id = $1 \
               UNION ALL \
               SELECT msisdn, region, CAST(1 AS BIGINT) AS k, seq FROM complaint_events WHERE complaint_id = $1 \
             ) o ORDER BY k, seq LIMIT 1",
        )
        .bind(id)
        .fetch_optional(self.store.pool())
        .await
        .map_err(|e| self.fail("reading a complaint", e))?;
        row.map(|r| {
            Ok(Owner {
                msisdn: r.try_get("msisdn")?,
                region: r.try_get("region")?,
                case: r.try_get::<i64, _>("k")? == 0,
            })
        })
        .transpose()
        .map_err(|e: sqlx::Error| format!("decoding a complaint: {e}"))
    }

    /// The latest case of `msisdn` in `category` created at or after `since_us`, other than `except`.
    pub async fn latest_of(&self, msisdn: &str, category: &str, since_us: i64) -> Result<Option<CaseRow>, String> {
        let sql = format!(
            "SELECT {CASE_COLUMNS} FROM complaint_cases WHERE msisdn = $1 AND category = $2 AND created_at_us >= $3 \
             ORDER BY created_at_us DESC LIMIT 1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(msisdn)
            .bind(category)
            .bind(since_us)
            .fetch_optional(self.store.pool())
            .await
            .map_err(|e| self.fail("looking for an earlier complaint", e))?;
        row.as_ref()
            .map(decode_case)
            .transpose()
            .map_err(|e| format!("decoding a complaint: {e}"))
    }

    /// Cases matching `f`, by due time (cases without one last), and the next page's key if there may be
    /// more.
    pub async fn list(&self, f: &ListFilter) -> Result<(Vec<CaseRow>, Option<(i64, String)>), String> {
        let Some((filter, binds)) = where_clause(f) else {
            return Ok((Vec::new(), None));
        };
        let limit = f.limit.clamp(1, 1000);
        let sql = format!(
            "SELECT {CASE_COLUMNS} FROM complaint_cases WHERE {filter} ORDER BY sort_due_us, complaint_id LIMIT {}",
            limit + 1
        );
        let rows = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), binds)
            .fetch_all(self.store.pool())
            .await
            .map_err(|e| self.fail("listing complaints", e))?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows.iter().take(limit as usize) {
            out.push(decode_case(r).map_err(|e| format!("decoding a complaint: {e}"))?);
        }
        let next = (rows.len() > limit as usize)
            .then(|| {
                out.last()
                    .map(|c| (c.deadlines.next_due_us.unwrap_or(i64::MAX), c.complaint.id.clone()))
            })
            .flatten();
        Ok((out, next))
    }

    /// How many cases match `f` (its page key and limit aside): the list benchmark's baseline.
    pub async fn count(&self, f: &ListFilter) -> Result<i64, String> {
        let f = ListFilter {
            after: None,
            ..f.clone()
        };
        let Some((filter, binds)) = where_clause(&f) else {
            return Ok(0);
        };
        let sql = format!("SELECT COUNT(*) AS n FROM complaint_cases WHERE {filter}");
        let row = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), binds)
            .fetch_one(self.store.pool())
            .await
            .map_err(|e| self.fail("counting complaints", e))?;
        row.try_get("n").map_err(|e| format!("decoding a count: {e}"))
    }

    /// Inserts new cases (every change of a new case, `expected_version` 0) many rows per statement: for
    /// seeding large stores (benchmarks). The rows are the same as [`CaseStore::write`] would write.
    pub async fn insert_new(&self, changes: &[CaseChange]) -> Result<(), String> {
        if let Some(c) = changes.iter().find(|c| c.expected_version != 0) {
            return Err(format!(
                "insert_new takes new cases only; {} is at version {}",
                c.after.id, c.expected_version
            ));
        }
        let mut tx = self.store.pool().begin().await.map_err(|e| self.fail("begin", e))?;
        const ROWS: usize = 500;
        let marks = Marks::of(&tx);
        let row = |r: usize, cols: usize| format!("({})", marks.list(r * cols + 1, cols));
        for chunk in changes.chunks(ROWS) {
            let values: Vec<String> = (0..chunk.len()).map(|r| row(r, 32)).collect();
            let sql = format!(
                "INSERT INTO complaint_cases ({CASE_COLUMNS}) VALUES {}",
                values.join(", ")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for ch in chunk {
                q = bind_case(q, &ch.after, &ch.deadlines);
            }
            q.execute(&mut *tx)
                .await
                .map_err(|e| self.fail("inserting complaints", e))?;
        }
        let events: Vec<&Event> = changes.iter().flat_map(|c| &c.events).collect();
        for chunk in events.chunks(ROWS) {
            let values: Vec<String> = (0..chunk.len()).map(|r| row(r, 30)).collect();
            let sql = format!(
                "INSERT INTO complaint_events ({EVENT_COLUMNS}) VALUES {}",
                values.join(", ")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for e in chunk {
                q = bind_event(q, e);
            }
            q.execute(&mut *tx)
                .await
                .map_err(|e| self.fail("inserting complaint events", e))?;
        }
        super::facts::insert_new(&mut tx, changes)
            .await
            .map_err(|e| self.fail("inserting complaint facts", e))?;
        tx.commit().await.map_err(|e| self.fail("commit", e))
    }

    /// How many cases were created in `[from_us, to_us)` (the list benchmark's baseline).
    pub async fn count_created(&self, from_us: i64, to_us: i64) -> Result<i64, String> {
        sqlx::query_scalar("SELECT COUNT(*) FROM complaint_cases WHERE created_at_us >= $1 AND created_at_us < $2")
            .bind(from_us)
            .bind(to_us)
            .fetch_one(self.store.pool())
            .await
            .map_err(|e| self.fail("counting complaints", e))
    }

    /// Writes `w` in a transaction of its own (tools and the demo history; the server writes changes with
    /// their audit events).
    pub async fn write(&self, w: &CaseWrite) -> Result<(), String> {
        let mut tx = self.store.pool().begin().await.map_err(|e| self.fail("begin", e))?;
        w.write_on(&mut tx).await.map_err(|e| self.fail(w.what(), e))?;
        tx.commit().await.map_err(|e| self.fail("commit", e))
    }
}

enum Bind {
    Text(String),
    Int(i64),
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

fn bind_all(mut q: AnyQuery<'_>, binds: Vec<Bind>) -> AnyQuery<'_> {
    for b in binds {
        q = match b {
            Bind::Text(s) => q.bind(s),
            Bind::Int(i) => q.bind(i),
        };
    }
    q
}

/// The WHERE clause of `f` (fixed column names only) and its values in order; `None` when nothing can
/// match (an empty region scope).
fn where_clause(f: &ListFilter) -> Option<(String, Vec<Bind>)> {
    let mut sql = String::from("1 = 1");
    let mut binds: Vec<Bind> = Vec::new();
    let arg = |v: Bind, binds: &mut Vec<Bind>| {
        binds.push(v);
        format!("${}", binds.len())
    };
    if !f.states.is_empty() {
        let ps: Vec<String> = f
            .states
            .iter()
            .map(|s| arg(Bind::Text(s.name().into()), &mut binds))
            .collect();
        sql.push_str(&format!(" AND state IN ({})", ps.join(", ")));
    }
    if let Some(regions) = &f.regions {
        if regions.is_empty() {
            return None;
        }
        let ps: Vec<String> = regions.iter().map(|r| arg(Bind::Text(r.clone()), &mut binds)).collect();
        sql.push_str(&format!(" AND region IN ({})", ps.join(", ")));
    }
    for (col, v) in [
        ("category", &f.category),
        ("cause_code", &f.cause_code),
        ("owner", &f.owner),
        ("handler_group", &f.group),
        ("channel", &f.channel),
        ("msisdn", &f.msisdn),
    ] {
        if let Some(v) = v {
            let p = arg(Bind::Text(v.clone()), &mut binds);
            sql.push_str(&format!(" AND {col} = {p}"));
        }
    }
    if let Some(t) = f.due_before_us {
        let p = arg(Bind::Int(t), &mut binds);
        sql.push_str(&format!(" AND sort_due_us < {p}"));
    }
    if let Some(t) = f.created_from_us {
        let p = arg(Bind::Int(t), &mut binds);
        sql.push_str(&format!(" AND created_at_us >= {p}"));
    }
    if let Some(t) = f.created_to_us {
        let p = arg(Bind::Int(t), &mut binds);
        sql.push_str(&format!(" AND created_at_us < {p}"));
    }
    if f.at_risk {
        let a = arg(Bind::Int(f.now_us), &mut binds);
        let b = arg(Bind::Int(f.now_us), &mut binds);
        sql.push_str(&format!(" AND next_warn_us <= {a} AND next_due_us > {b}"));
    }
    if f.breached {
        let a = arg(Bind::Int(f.now_us), &mut binds);
        sql.push_str(&format!(" AND (sort_due_us <= {a} OR breached_late = 1)"));
    }
    if let Some((due, id)) = &f.after {
        // A row comparison, which both engines serve from the (…, sort_due_us, complaint_id) indexes as a
        // range; the equivalent OR is not.
        let a = arg(Bind::Int(*due), &mut binds);
        let c = arg(Bind::Text(id.clone()), &mut binds);
        sql.push_str(&format!(" AND (sort_due_us, complaint_id) > ({a}, {c})"));
    }
    Some((sql, binds))
}
