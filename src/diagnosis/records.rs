//! Complaint records: one row per complaint in the gateway's store (`complaints`, see
//! `migrations/gateway/0002_complaints.sql`), updated when the same complaint is diagnosed again (for
//! instance with the answers to its questions). The basis for hotspot and cause analytics: time, caller,
//! region, category and confidence, scenario, cause, and whether a reply came without a question.
//! Neither the number nor the complaint text is kept.
//!
//! A record is written as the [`Rider`] of the diagnosis's audit event: in the same transaction, so the
//! `Diagnose` call waits for one commit (grouped with other calls') and its read and its record are
//! committed together.
use crate::store::Rider;
use crate::store::Store;
use futures::future::BoxFuture;
use sqlx::Row;

/// One diagnosis of a complaint, as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct ComplaintRecord {
    pub complaint_id: String,
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

/// A stored complaint: the latest record plus when it was first seen and how often it was diagnosed.
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

const UPSERT: &str = "INSERT INTO complaints (complaint_id, first_at_us, last_at_us, caller, region, category, \
     confidence, category_source, scenario_id, cause_code, outcome, reply_without_question, answers, diagnoses) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 1) \
     ON CONFLICT (complaint_id) DO UPDATE SET last_at_us = excluded.last_at_us, caller = excluded.caller, \
     region = excluded.region, category = excluded.category, confidence = excluded.confidence, \
     category_source = excluded.category_source, scenario_id = excluded.scenario_id, \
     cause_code = excluded.cause_code, outcome = excluded.outcome, \
     reply_without_question = excluded.reply_without_question, answers = excluded.answers, \
     diagnoses = complaints.diagnoses + 1";

impl ComplaintRecord {
    async fn upsert(&self, conn: &mut sqlx::AnyConnection) -> Result<(), sqlx::Error> {
        sqlx::query(UPSERT)
            .bind(&self.complaint_id)
            .bind(self.at_us)
            .bind(self.at_us)
            .bind(&self.caller)
            .bind(&self.region)
            .bind(&self.category)
            .bind(self.confidence)
            .bind(&self.category_source)
            .bind(&self.scenario_id)
            .bind(&self.cause_code)
            .bind(&self.outcome)
            .bind(i64::from(self.reply_without_question))
            .bind(i64::from(self.answers))
            .execute(conn)
            .await
            .map(|_| ())
    }
}

impl Rider for ComplaintRecord {
    fn what(&self) -> &'static str {
        "recording a complaint"
    }

    fn write<'c>(&'c self, conn: &'c mut sqlx::AnyConnection) -> BoxFuture<'c, Result<(), sqlx::Error>> {
        Box::pin(self.upsert(conn))
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
        r.upsert(&mut conn)
            .await
            .map_err(|e| self.store.error("recording a complaint", &e).to_string())
    }

    /// The stored complaint with this id.
    pub async fn get(&self, complaint_id: &str) -> Result<Option<StoredComplaint>, String> {
        let row = sqlx::query(
            "SELECT complaint_id, first_at_us, last_at_us, caller, region, category, confidence, category_source, \
             scenario_id, cause_code, outcome, reply_without_question, answers, diagnoses \
             FROM complaints WHERE complaint_id = $1",
        )
        .bind(complaint_id)
        .fetch_optional(self.store.pool())
        .await
        .map_err(|e| self.store.error("reading a complaint", &e).to_string())?;
        let Some(r) = row else { return Ok(None) };
        let decode = || -> Result<StoredComplaint, sqlx::Error> {
            Ok(StoredComplaint {
                first_at_us: r.try_get("first_at_us")?,
                diagnoses: r.try_get("diagnoses")?,
                record: ComplaintRecord {
                    complaint_id: r.try_get("complaint_id")?,
                    at_us: r.try_get("last_at_us")?,
                    caller: r.try_get("caller")?,
                    region: r.try_get("region")?,
                    category: r.try_get("category")?,
                    confidence: r.try_get("confidence")?,
                    category_source: r.try_get("category_source")?,
                    scenario_id: r.try_get("scenario_id")?,
                    cause_code: r.try_get("cause_code")?,
                    outcome: r.try_get("outcome")?,
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

    fn rec(id: &str, outcome: &str, answers: u32) -> ComplaintRecord {
        ComplaintRecord {
            complaint_id: id.into(),
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
    async fn records_are_upserted_per_complaint() {
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
    }
}
