//! Complaint records: each diagnosis is a `diagnosed` event in the gateway's store (`complaint_events`, see
//! `migrations/gateway/0003_cases.sql`; the `complaints` rows of migration 0002 became such events). The
//! basis for hotspot and cause analytics: time, caller, region, category and confidence, scenario, cause,
//! and whether a reply came without a question. The complaint text is not kept here.
//!
//! A complaint id belongs to the subscriber and region of its first record: a diagnosis of another
//! subscriber or region under the same id is refused (the API checks before diagnosing, and the write
//! checks again in its transaction), so one handler can never overwrite another region's complaint.
//!
//! A record is written as the [`Rider`] of the diagnosis's audit event: in the same transaction, so the
//! `Diagnose` call waits for one commit (grouped with other calls') and its read and its record are
//! committed together.
use super::routing::Routing;
use super::run::RunOutcome;
use super::{DiagnoseInput, Diagnosis};
use crate::store::Store;
use crate::store::{Rider, RiderGroup};
use futures::future::BoxFuture;
use sqlx::Row;

/// One diagnosis of a complaint, as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct ComplaintRecord {
    pub complaint_id: String,
    /// The subscriber's number (normalised): a complaint id stays with its subscriber.
    pub msisdn: String,
    /// When it was diagnosed, microseconds since the Unix epoch.
    pub at_us: i64,
    /// Who asked (the authenticated subject), empty when unknown.
    pub caller: String,
    /// The subscriber's city code, from the view.
    pub region: String,
    pub category: String,
    pub confidence: f64,
    /// `request` or `classifier`.
    pub category_source: String,
    pub scenario_id: String,
    pub cause_code: String,
    /// `cause`, `question`, `no_cause`.
    pub outcome: String,
    /// A reply was produced without asking the customer anything.
    pub reply_without_question: bool,
    /// How many answers the call carried.
    pub answers: u32,
}

/// A stored complaint: the latest record plus when it was first diagnosed and how often.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredComplaint {
    pub first_at_us: i64,
    pub diagnoses: i64,
    pub record: ComplaintRecord,
}

/// Complaint records in the gateway's SQL store (SQLite or PostgreSQL).
#[derive(Clone)]
pub struct SqlComplaintStore {
    store: Store,
}

/// Why a record was refused in its transaction.
pub const ID_TAKEN: &str = "complaint id belongs to another subscriber or region";

impl ComplaintRecord {
    /// The record of diagnosis `d` of `input`, routed by `routing`, asked by `caller` (the authenticated
    /// subject) for a subscriber of `region` (a city code), at the current time.
    pub fn of(d: &Diagnosis, input: &DiagnoseInput, routing: &Routing, caller: &str, region: &str) -> ComplaintRecord {
        let outcome = match d.outcome() {
            RunOutcome::Cause(_) => "cause",
            RunOutcome::Question(_) => "question",
            _ => "no_cause",
        };
        ComplaintRecord {
            complaint_id: input.complaint_id.clone(),
            msisdn: input.msisdn.clone(),
            at_us: crate::store::now_us(),
            caller: caller.to_string(),
            region: region.to_string(),
            category: routing.category.clone(),
            confidence: routing.confidence,
            category_source: routing.by.as_str().into(),
            scenario_id: d.chosen_run().map(|r| r.scenario.id.clone()).unwrap_or_default(),
            cause_code: d.conclusion.as_ref().map(|c| c.code.clone()).unwrap_or_default(),
            outcome: outcome.into(),
            reply_without_question: outcome == "cause" && input.answers.is_empty(),
            answers: input.answers.len() as u32,
        }
    }

    /// Whether `(msisdn, region)` may use an id first recorded for `(owner_msisdn, owner_region)` (a
    /// record from before numbers were kept has none).
    pub fn same_owner(owner_msisdn: &str, owner_region: &str, msisdn: &str, region: &str) -> bool {
        owner_region == region && (owner_msisdn.is_empty() || owner_msisdn == msisdn)
    }

    /// Writes this record alone: the same statements as a group of one (see [`write_records`]).
    async fn insert(&self, conn: &mut sqlx::AnyConnection) -> Result<(), sqlx::Error> {
        ComplaintRecord::insert_many(&[self], conn).await
    }
}

impl Rider for ComplaintRecord {
    fn what(&self) -> &'static str {
        "recording a complaint"
    }

    fn write<'c>(&'c self, conn: &'c mut sqlx::AnyConnection) -> BoxFuture<'c, Result<(), sqlx::Error>> {
        Box::pin(self.insert(conn))
    }

    fn group(&self) -> Option<RiderGroup> {
        Some(RiderGroup {
            name: "complaint records",
            write: write_records,
        })
    }
}

/// Most records in one INSERT (14 parameters each).
const ROWS_PER_INSERT: usize = 64;
/// Most ids looked up in one SELECT.
const IDS_PER_SELECT: usize = 256;

/// The records of one audit transaction (see [`Rider::group`]): the ids' first owners and last sequence
/// numbers in one query, then the rows in one multi-row INSERT, instead of two statements per record,
/// which the transaction (and every call in it) waited for one after another. The same rules as
/// [`ComplaintRecord::insert`]: a record whose id belongs to another subscriber or region fails the group,
/// and the audit writer then writes each record alone, so only that one is refused.
fn write_records<'c>(
    riders: &'c [&'c dyn Rider],
    conn: &'c mut sqlx::AnyConnection,
) -> BoxFuture<'c, Result<(), sqlx::Error>> {
    Box::pin(async move {
        let records: Vec<&ComplaintRecord> = riders
            .iter()
            .filter_map(|r| (*r as &dyn std::any::Any).downcast_ref::<ComplaintRecord>())
            .collect();
        if records.len() != riders.len() {
            return Err(sqlx::Error::Protocol(
                "the complaint records' group holds another kind of rider".into(),
            ));
        }
        ComplaintRecord::insert_many(&records, conn).await
    })
}

impl ComplaintRecord {
    async fn insert_many(records: &[&ComplaintRecord], conn: &mut sqlx::AnyConnection) -> Result<(), sqlx::Error> {
        use std::collections::HashMap;
        // Each id's owner (its first row) and last sequence number, as stored.
        let mut ids: Vec<&str> = records.iter().map(|r| r.complaint_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        let style = crate::store::Marks::of(conn);
        let mut known: HashMap<String, (String, String, i64)> = HashMap::new();
        for chunk in ids.chunks(IDS_PER_SELECT) {
            let marks = style.list(1, chunk.len());
            let sql = format!(
                "SELECT e.complaint_id, e.msisdn, e.region, m.hi FROM complaint_events e JOIN \
                 (SELECT complaint_id, MIN(seq) AS lo, MAX(seq) AS hi FROM complaint_events \
                 WHERE complaint_id IN ({marks}) GROUP BY complaint_id) m \
                 ON e.complaint_id = m.complaint_id AND e.seq = m.lo"
            );
            // Placeholders only: every id is bound.
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(*id);
            }
            for row in q.fetch_all(&mut *conn).await? {
                known.insert(
                    row.try_get("complaint_id")?,
                    (row.try_get("msisdn")?, row.try_get("region")?, row.try_get("hi")?),
                );
            }
        }
        let mut seqs = Vec::with_capacity(records.len());
        for r in records {
            let entry = known
                .entry(r.complaint_id.clone())
                .or_insert_with(|| (r.msisdn.clone(), r.region.clone(), 0));
            if !ComplaintRecord::same_owner(&entry.0, &entry.1, &r.msisdn, &r.region) {
                return Err(sqlx::Error::Protocol(ID_TAKEN.into()));
            }
            entry.2 += 1;
            seqs.push(entry.2);
        }
        for (chunk, seqs) in records.chunks(ROWS_PER_INSERT).zip(seqs.chunks(ROWS_PER_INSERT)) {
            let rows = (0..chunk.len())
                .map(|i| {
                    let first = i * 14 + 1;
                    format!("({}, 'diagnosed', {})", style.list(first, 2), style.list(first + 2, 12))
                })
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "INSERT INTO complaint_events (complaint_id, seq, kind, at_us, caller, region, msisdn, category, \
                 confidence, category_source, scenario_id, cause_code, diag_outcome, reply_without_question, \
                 answers) VALUES {rows}"
            );
            // Placeholders only: every value is bound.
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (r, seq) in chunk.iter().zip(seqs) {
                q = q
                    .bind(&r.complaint_id)
                    .bind(*seq)
                    .bind(r.at_us)
                    .bind(&r.caller)
                    .bind(&r.region)
                    .bind(&r.msisdn)
                    .bind(&r.category)
                    .bind(r.confidence)
                    .bind(&r.category_source)
                    .bind(&r.scenario_id)
                    .bind(&r.cause_code)
                    .bind(&r.outcome)
                    .bind(i64::from(r.reply_without_question))
                    .bind(i64::from(r.answers));
            }
            q.execute(&mut *conn).await?;
        }
        Ok(())
    }
}

impl SqlComplaintStore {
    pub fn new(store: Store) -> SqlComplaintStore {
        SqlComplaintStore { store }
    }

    /// Records one diagnosis on its own (the server records through the audit trail, see the module docs).
    pub async fn record(&self, r: &ComplaintRecord) -> Result<(), String> {
        let mut conn = self
            .store
            .pool()
            .acquire()
            .await
            .map_err(|e| self.store.error("connecting", &e).to_string())?;
        r.insert(&mut conn)
            .await
            .map_err(|e| self.store.error("recording a complaint", &e).to_string())
    }

    /// The stored complaint with this id: its latest diagnosis, the first one's time and the count.
    pub async fn get(&self, complaint_id: &str) -> Result<Option<StoredComplaint>, String> {
        let rows = sqlx::query(
            "SELECT complaint_id, at_us, caller, region, msisdn, category, confidence, category_source, \
             scenario_id, cause_code, diag_outcome, reply_without_question, answers \
             FROM complaint_events WHERE complaint_id = $1 AND kind = 'diagnosed' ORDER BY seq",
        )
        .bind(complaint_id)
        .fetch_all(self.store.pool())
        .await
        .map_err(|e| self.store.error("reading a complaint", &e).to_string())?;
        let (Some(first), Some(r)) = (rows.first(), rows.last()) else {
            return Ok(None);
        };
        let decode = || -> Result<StoredComplaint, sqlx::Error> {
            Ok(StoredComplaint {
                first_at_us: first.try_get("at_us")?,
                diagnoses: rows.len() as i64,
                record: ComplaintRecord {
                    complaint_id: r.try_get("complaint_id")?,
                    msisdn: r.try_get("msisdn")?,
                    at_us: r.try_get("at_us")?,
                    caller: r.try_get("caller")?,
                    region: r.try_get("region")?,
                    category: r.try_get("category")?,
                    confidence: r.try_get("confidence")?,
                    category_source: r.try_get("category_source")?,
                    scenario_id: r.try_get("scenario_id")?,
                    cause_code: r.try_get("cause_code")?,
                    outcome: r.try_get("diag_outcome")?,
                    reply_without_question: r.try_get::<i64, _>("reply_without_question")? != 0,
                    answers: u32::try_from(r.try_get::<i64, _>("answers")?).unwrap_or(0),
                },
            })
        };
        decode().map(Some).map_err(|e| format!("decoding a complaint: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnosis::tests::{engine, input, view};
    use crate::proto::complaint::v1::AccountStatus;

    #[test]
    fn a_record_says_how_the_diagnosis_ended_and_how_it_was_routed() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine(&dir);
        let routing = Routing::requested("network.broadband_fault");
        let record = |status: AccountStatus, answers: &[(&str, &str)]| {
            let input = input(answers);
            let d = engine.diagnose(engine.scenarios(), &input, &view(status)).unwrap();
            ComplaintRecord::of(&d, &input, &routing, "handler-1", "0571")
        };
        // A cause found without asking anything.
        let r = record(AccountStatus::Suspended, &[]);
        assert_eq!(
            (r.scenario_id.as_str(), r.cause_code.as_str(), r.outcome.as_str()),
            ("t.line", "LINE_SUSPENDED", "cause")
        );
        assert!(r.reply_without_question && r.answers == 0);
        assert_eq!(
            (r.complaint_id.as_str(), r.caller.as_str(), r.region.as_str()),
            ("C-1", "handler-1", "0571")
        );
        assert_eq!(
            (r.category.as_str(), r.confidence, r.category_source.as_str()),
            ("network.broadband_fault", 1.0, "request")
        );
        // A question first, then the cause once answered: not a reply without a question.
        let r = record(AccountStatus::Active, &[]);
        assert_eq!((r.cause_code.as_str(), r.outcome.as_str()), ("", "question"));
        assert!(!r.reply_without_question);
        let r = record(AccountStatus::Active, &[("modem_light", "red")]);
        assert_eq!(
            (r.cause_code.as_str(), r.outcome.as_str(), r.answers),
            ("LINE_FAULT", "cause", 1)
        );
        assert!(!r.reply_without_question);
        // The steps ran out: no cause.
        let r = record(AccountStatus::Active, &[("modem_light", "green")]);
        assert_eq!(
            (r.scenario_id.as_str(), r.cause_code.as_str(), r.outcome.as_str()),
            ("t.line", "", "no_cause")
        );
        // A category without scenarios: nothing chosen, no cause.
        let input = DiagnoseInput {
            category: "service.staff_conduct".into(),
            ..input(&[])
        };
        let d = engine
            .diagnose(engine.scenarios(), &input, &view(AccountStatus::Active))
            .unwrap();
        let r = ComplaintRecord::of(&d, &input, &Routing::requested("service.staff_conduct"), "", "");
        assert_eq!((r.scenario_id.as_str(), r.outcome.as_str()), ("", "no_cause"));
    }

    fn rec(id: &str, outcome: &str, answers: u32) -> ComplaintRecord {
        ComplaintRecord {
            complaint_id: id.into(),
            msisdn: "13800000001".into(),
            at_us: 1_000,
            caller: "handler-1".into(),
            region: "0571".into(),
            category: "network.broadband_fault".into(),
            confidence: 0.875,
            category_source: "classifier".into(),
            scenario_id: "broadband.modem_check".into(),
            cause_code: if outcome == "cause" {
                "OPTICAL_LINE_FAULT".into()
            } else {
                String::new()
            },
            outcome: outcome.into(),
            reply_without_question: outcome == "cause" && answers == 0,
            answers,
        }
    }

    #[tokio::test]
    async fn records_are_appended_per_complaint_and_ids_stay_with_their_subscriber() {
        let store = Store::connect("sqlite::memory:", 1).await.unwrap();
        let s = SqlComplaintStore::new(store);
        s.record(&rec("C-1", "question", 0)).await.unwrap();
        let first = s.get("C-1").await.unwrap().unwrap();
        assert_eq!((first.diagnoses, first.record.outcome.as_str()), (1, "question"));
        let mut again = rec("C-1", "cause", 1);
        again.at_us = 2_000;
        s.record(&again).await.unwrap();
        let got = s.get("C-1").await.unwrap().unwrap();
        assert_eq!(got.record, again);
        assert_eq!((got.first_at_us, got.diagnoses), (1_000, 2));
        assert!(!got.record.reply_without_question);
        assert!(s.get("C-2").await.unwrap().is_none());
        // Another region, or another subscriber, under the same id: refused, nothing written.
        let mut other = rec("C-1", "cause", 0);
        other.region = "0574".into();
        assert!(s.record(&other).await.unwrap_err().contains(ID_TAKEN));
        other.region = "0571".into();
        other.msisdn = "13900000002".into();
        assert!(s.record(&other).await.unwrap_err().contains(ID_TAKEN));
        assert_eq!(s.get("C-1").await.unwrap().unwrap().diagnoses, 2);
    }

    #[tokio::test]
    async fn records_of_one_transaction_are_written_as_one_group() {
        let store = Store::connect("sqlite::memory:", 1).await.unwrap();
        let s = SqlComplaintStore::new(store.clone());
        let rec = |id: &str, region: &str, n: i64| ComplaintRecord {
            complaint_id: id.into(),
            msisdn: "13800000001".into(),
            at_us: 1_795_000_000_000_000 + n,
            caller: "h-1".into(),
            region: region.into(),
            category: "billing.unexpected_charge".into(),
            confidence: 0.5,
            category_source: "request".into(),
            scenario_id: "s".into(),
            cause_code: format!("CAUSE_{n}"),
            outcome: "cause".into(),
            reply_without_question: n % 2 == 0,
            answers: n as u32,
        };
        s.record(&rec("K-1", "0571", 0)).await.unwrap();
        // Three of K-1 after the stored one, two of a new id, in one group.
        let group = [
            rec("K-1", "0571", 1),
            rec("K-2", "0571", 2),
            rec("K-1", "0571", 3),
            rec("K-2", "0571", 4),
            rec("K-1", "0571", 5),
        ];
        assert!(group.iter().all(|r| r.group().is_some()));
        let mut conn = store.pool().acquire().await.unwrap();
        let riders: Vec<&dyn Rider> = group.iter().map(|r| r as &dyn Rider).collect();
        crate::store::write_riders(riders.into_iter(), &mut conn).await.unwrap();
        let rows: Vec<(String, i64, String)> =
            sqlx::query("SELECT complaint_id, seq, cause_code FROM complaint_events ORDER BY complaint_id, seq")
                .fetch_all(&mut *conn)
                .await
                .unwrap()
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2)))
                .collect();
        let want: Vec<(String, i64, String)> = [
            ("K-1", 1, 0),
            ("K-1", 2, 1),
            ("K-1", 3, 3),
            ("K-1", 4, 5),
            ("K-2", 1, 2),
            ("K-2", 2, 4),
        ]
        .iter()
        .map(|(id, seq, n)| (id.to_string(), *seq, format!("CAUSE_{n}")))
        .collect();
        assert_eq!(rows, want);
        drop(conn);
        let k2 = s.get("K-2").await.unwrap().unwrap();
        assert_eq!((k2.record, k2.diagnoses), (group[3].clone(), 2));
        // Another region's diagnosis under K-1 fails the whole group (the audit writer then writes each
        // alone); nothing of it is written here, as the transaction is rolled back.
        let mut tx = store.pool().begin().await.unwrap();
        let bad = [rec("K-3", "0571", 6), rec("K-1", "0574", 7)];
        let riders: Vec<&dyn Rider> = bad.iter().map(|r| r as &dyn Rider).collect();
        let e = crate::store::write_riders(riders.into_iter(), &mut tx)
            .await
            .unwrap_err();
        assert!(e.to_string().contains(ID_TAKEN), "{e}");
        tx.rollback().await.unwrap();
        assert!(s.get("K-3").await.unwrap().is_none());
    }
}
