//! Complaint records on both store engines: SQLite (a file) and PostgreSQL (`CGW_TEST_PG_URL`; skipped
//! locally when unset, mandatory in CI). The server writes each record as the rider of its diagnosis's
//! audit event: one transaction for both, and a record that fails leaves the event (and the rest of the
//! batch) committed.
use complaint_gateway::diagnosis::records::{ComplaintRecord, SqlComplaintStore};
use complaint_gateway::identity::audit::{new_event_id, AuditEvent, AuditFilter, AuditLog, Outcome, Rider};
use complaint_gateway::store::Store;
use complaint_gateway::testkit;
use futures::future::BoxFuture;

fn record(id: &str, n: i64) -> ComplaintRecord {
    ComplaintRecord {
        complaint_id: id.into(),
        msisdn: "13800000001".into(),
        at_us: 1_795_000_000_000_000 + n,
        caller: "h-hz-01".into(),
        region: "0571".into(),
        category: "payment.topup_not_credited".into(),
        confidence: 0.8125,
        category_source: "classifier".into(),
        scenario_id: "payment.pending".into(),
        cause_code: "TOPUP_PENDING_IN_CHANNEL".into(),
        outcome: "cause".into(),
        reply_without_question: true,
        answers: 0,
    }
}

fn event(purpose: &str) -> AuditEvent {
    let at_us = complaint_gateway::store::now_us();
    AuditEvent {
        event_id: new_event_id(at_us),
        at_us,
        caller: "h-hz-01".into(),
        auth_method: "jwt".into(),
        roles: vec!["handler".into()],
        action: "complaint.v1.DiagnosisService/Diagnose".into(),
        msisdn: "13800000001".into(),
        region: "0571".into(),
        sources: vec!["billing".into(), "crm".into()],
        purpose: purpose.into(),
        outcome: Outcome::Ok,
        detail: String::new(),
        peer: "127.0.0.1:1".into(),
    }
}

/// A rider whose rows cannot be written (its table does not exist).
struct Broken;

impl Rider for Broken {
    fn what(&self) -> &'static str {
        "writing the broken rider"
    }

    fn write<'c>(&'c self, conn: &'c mut sqlx::AnyConnection) -> BoxFuture<'c, Result<(), sqlx::Error>> {
        Box::pin(async move {
            sqlx::query("INSERT INTO no_such_table (x) VALUES ($1)")
                .bind(1_i64)
                .execute(conn)
                .await
                .map(|_| ())
        })
    }
}

async fn count(store: &Store, table: &str) -> i64 {
    let sql = match table {
        "complaints" => "SELECT COUNT(DISTINCT complaint_id) FROM complaint_events WHERE kind = 'diagnosed'",
        _ => "SELECT COUNT(*) FROM audit_events",
    };
    sqlx::query_scalar(sql).fetch_one(store.pool()).await.unwrap()
}

async fn exercise(store: Store) {
    let audit = AuditLog::start(store.clone(), 64);
    let s = SqlComplaintStore::new(store.clone());
    // Concurrent diagnoses: each record rides on its audit event, and each call waits for its own commit.
    // Every fifth carries a rider that fails, in the same batches as the others.
    let mut calls = Vec::new();
    for i in 0..60 {
        let audit = audit.clone();
        calls.push(tokio::spawn(async move {
            let rider: Box<dyn Rider> = if i % 5 == 4 {
                Box::new(Broken)
            } else {
                Box::new(record(&format!("C-{i}"), i))
            };
            (i, audit.append_with(event(&format!("C-{i}")), rider).await)
        }));
    }
    for c in calls {
        let (i, r) = c.await.unwrap();
        let rider = r.expect("every event is committed");
        if i % 5 == 4 {
            let e = rider.expect_err("the broken rider reports its failure");
            assert!(
                e.contains("writing the broken rider") && e.contains("no_such_table"),
                "{e}"
            );
        } else {
            rider.unwrap();
        }
    }
    assert_eq!(count(&store, "audit_events").await, 60);
    assert_eq!(count(&store, "complaints").await, 48);
    for i in [0, 25, 58] {
        let got = s.get(&format!("C-{i}")).await.unwrap().unwrap();
        assert_eq!(got.record, record(&format!("C-{i}"), i));
        assert_eq!(got.diagnoses, 1);
    }
    assert!(s.get("C-4").await.unwrap().is_none());
    // The broken rider's event is there all the same.
    let (events, _) = audit
        .list(&AuditFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(events.iter().any(|e| e.purpose == "C-4" && e.outcome == Outcome::Ok));

    // The same complaint again (answers given): one more event; the complaint reads as its latest record.
    let mut again = record("C-7", 1_000);
    again.outcome = "question".into();
    again.cause_code.clear();
    again.reply_without_question = false;
    again.answers = 1;
    audit
        .append_with(event("C-7"), Box::new(again.clone()))
        .await
        .unwrap()
        .unwrap();
    let got = s.get("C-7").await.unwrap().unwrap();
    assert_eq!(
        (got.record, got.diagnoses, got.first_at_us),
        (again, 2, record("C-7", 7).at_us)
    );
    // Records written together (one audit transaction takes them as one group): two diagnoses of each
    // new complaint numbered in turn, and one of another region's complaint refused alone.
    let mut calls = Vec::new();
    for i in 0..21 {
        let audit = audit.clone();
        calls.push(tokio::spawn(async move {
            let r = if i == 20 {
                let mut r = record("C-0", 5_000);
                r.region = "0574".into();
                r
            } else {
                record(&format!("D-{}", i % 10), 2_000 + i)
            };
            (i, audit.append_with(event("together"), Box::new(r)).await)
        }));
    }
    for c in calls {
        let (i, r) = c.await.unwrap();
        let rider = r.expect("every event is committed");
        if i == 20 {
            let e = rider.expect_err("another region's complaint id is refused");
            assert!(e.contains(complaint_gateway::diagnosis::records::ID_TAKEN), "{e}");
        } else {
            rider.unwrap();
        }
    }
    for d in 0..10 {
        let got = s.get(&format!("D-{d}")).await.unwrap().unwrap();
        assert_eq!(got.diagnoses, 2, "D-{d}");
        let seqs: Vec<i64> =
            sqlx::query_scalar("SELECT seq FROM complaint_events WHERE complaint_id = $1 ORDER BY seq")
                .bind(format!("D-{d}"))
                .fetch_all(store.pool())
                .await
                .unwrap();
        assert_eq!(seqs, [1, 2], "D-{d}");
    }
    assert_eq!(s.get("C-0").await.unwrap().unwrap().diagnoses, 1);
    assert_eq!(count(&store, "complaints").await, 58);
    assert_eq!(count(&store, "audit_events").await, 82);

    // Recorded on its own (tools): the same row rules.
    s.record(&record("C-100", 100)).await.unwrap();
    assert_eq!(s.get("C-100").await.unwrap().unwrap().diagnoses, 1);
    assert_eq!(count(&store, "complaints").await, 59);
    assert_eq!(count(&store, "audit_events").await, 82);
}

#[tokio::test]
async fn sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("gateway.db").display());
    exercise(Store::connect(&url, 4).await.unwrap()).await;
}

#[tokio::test]
async fn postgres() {
    let Some(admin) = testkit::db_url("CGW_TEST_PG_URL") else {
        return;
    };
    let db = testkit::TestDatabase::create(&admin, "complaints").await.unwrap();
    exercise(Store::connect(&db.url, 4).await.unwrap()).await;
    db.drop_db().await;
}
