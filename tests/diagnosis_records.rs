//! Complaint records on both store engines: SQLite (a file) and PostgreSQL (`CGW_TEST_PG_URL`; skipped
//! locally when unset, mandatory in CI).
use complaint_gateway::diagnosis::records::{ComplaintRecord, ComplaintStore, SqlComplaintStore};
use complaint_gateway::store::Store;
use complaint_gateway::testkit;

fn record(id: &str, n: i64) -> ComplaintRecord {
    ComplaintRecord {
        complaint_id: id.into(),
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

async fn exercise(store: Store) {
    let s = SqlComplaintStore::start(store.clone());
    // Concurrent records are committed together and each call waits for its own.
    let mut calls = Vec::new();
    for i in 0..50 {
        let s = s.clone();
        calls.push(tokio::spawn(
            async move { s.record(record(&format!("C-{i}"), i)).await },
        ));
    }
    for c in calls {
        c.await.unwrap().unwrap();
    }
    for i in [0, 25, 49] {
        let got = s.get(&format!("C-{i}")).await.unwrap().unwrap();
        assert_eq!(got.record, record(&format!("C-{i}"), i));
        assert_eq!(got.diagnoses, 1);
    }
    // The same complaint again (answers given): one row, updated, counted.
    let mut again = record("C-7", 1_000);
    again.outcome = "question".into();
    again.cause_code.clear();
    again.reply_without_question = false;
    again.answers = 1;
    s.record(again.clone()).await.unwrap();
    let got = s.get("C-7").await.unwrap().unwrap();
    assert_eq!(
        (got.record, got.diagnoses, got.first_at_us),
        (again, 2, record("C-7", 7).at_us)
    );
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM complaints")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(n, 50);
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
