//! Complaint records: one row per complaint in the gateway's store (`complaints`, see
//! `migrations/gateway/0002_complaints.sql`), updated when the same complaint is diagnosed again (for
//! instance with the answers to its questions). The basis for hotspot and cause analytics: time, caller,
//! region, category and confidence, scenario, cause, and whether a reply came without a question.
//! Neither the number nor the complaint text is kept.
//!
//! Writes go through one writer task that commits whatever is queued in one transaction (group commit),
//! and each `Diagnose` waits for its row to be committed before it answers.
use crate::store::Store;
use futures::future::BoxFuture;
use sqlx::Row;
use tokio::sync::{mpsc, oneshot};

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

/// Where complaint records go.
pub trait ComplaintStore: Send + Sync {
    /// Records one diagnosis; resolves once it is durable.
    fn record(&self, r: ComplaintRecord) -> BoxFuture<'_, Result<(), String>>;
    /// The stored complaint with this id.
    fn get<'a>(&'a self, complaint_id: &'a str) -> BoxFuture<'a, Result<Option<StoredComplaint>, String>>;
}

type Pending = (ComplaintRecord, oneshot::Sender<Result<(), String>>);

/// Records in the gateway's SQL store (SQLite or PostgreSQL).
#[derive(Clone)]
pub struct SqlComplaintStore {
    tx: mpsc::Sender<Pending>,
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

/// Most records written in one transaction.
const BATCH_MAX: usize = 256;

impl SqlComplaintStore {
    /// Starts the writer task on the current runtime; it ends when the last clone is dropped.
    pub fn start(store: Store) -> SqlComplaintStore {
        let (tx, rx) = mpsc::channel::<Pending>(BATCH_MAX * 8);
        tokio::spawn(writer(store.clone(), rx));
        SqlComplaintStore { tx, store }
    }
}

impl ComplaintStore for SqlComplaintStore {
    fn record(&self, r: ComplaintRecord) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let (done, confirmed) = oneshot::channel();
            self.tx
                .send((r, done))
                .await
                .map_err(|_| "the complaint writer stopped".to_string())?;
            confirmed
                .await
                .map_err(|_| "the complaint writer dropped the record".to_string())?
        })
    }

    fn get<'a>(&'a self, complaint_id: &'a str) -> BoxFuture<'a, Result<Option<StoredComplaint>, String>> {
        Box::pin(async move {
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
        })
    }
}

async fn write_batch(store: &Store, batch: &[Pending]) -> Result<(), String> {
    let mut tx = store
        .pool()
        .begin()
        .await
        .map_err(|e| store.error("begin", &e).to_string())?;
    for (r, _) in batch {
        sqlx::query(UPSERT)
            .bind(&r.complaint_id)
            .bind(r.at_us)
            .bind(r.at_us)
            .bind(&r.caller)
            .bind(&r.region)
            .bind(&r.category)
            .bind(r.confidence)
            .bind(&r.category_source)
            .bind(&r.scenario_id)
            .bind(&r.cause_code)
            .bind(&r.outcome)
            .bind(i64::from(r.reply_without_question))
            .bind(i64::from(r.answers))
            .execute(&mut *tx)
            .await
            .map_err(|e| store.error("recording a complaint", &e).to_string())?;
    }
    tx.commit().await.map_err(|e| store.error("commit", &e).to_string())
}

async fn writer(store: Store, mut rx: mpsc::Receiver<Pending>) {
    let mut batch: Vec<Pending> = Vec::with_capacity(BATCH_MAX);
    while rx.recv_many(&mut batch, BATCH_MAX).await > 0 {
        let r = write_batch(&store, &batch).await;
        if let Err(e) = &r {
            tracing::error!(error = %e, records = batch.len(), "complaint records not written");
        }
        for (_, done) in batch.drain(..) {
            let _ = done.send(r.clone());
        }
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
        let s = SqlComplaintStore::start(store);
        s.record(rec("C-1", "question", 0)).await.unwrap();
        let first = s.get("C-1").await.unwrap().unwrap();
        assert_eq!((first.diagnoses, first.record.outcome.as_str()), (1, "question"));
        let mut again = rec("C-1", "cause", 1);
        again.at_us = 2_000;
        s.record(again.clone()).await.unwrap();
        let got = s.get("C-1").await.unwrap().unwrap();
        assert_eq!(got.record, again);
        assert_eq!((got.first_at_us, got.diagnoses), (1_000, 2));
        assert!(!got.record.reply_without_question);
        assert!(s.get("C-2").await.unwrap().is_none());
    }
}
