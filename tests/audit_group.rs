//! Several gateways on one PostgreSQL store: their audit writers group-commit concurrent calls' events
//! and extend one hash chain, which `audit verify` finds unbroken, with every append confirmed only
//! once its event is committed.
use complaint_gateway::identity::audit::{AuditEvent, AuditLog, BatchSettings, Outcome};
use complaint_gateway::identity::chain;
use complaint_gateway::store::Store;
use complaint_gateway::testkit::{self, TestDatabase};
use std::time::Duration;

fn event(replica: usize, n: usize) -> AuditEvent {
    let at_us = 1_790_000_000_000_000 + n as i64;
    AuditEvent {
        event_id: complaint_gateway::identity::audit::new_event_id(at_us),
        at_us,
        caller: format!("h-{replica}"),
        auth_method: "jwt".into(),
        roles: vec!["handler".into()],
        action: "complaint.v1.ComplaintDataService/GetSubscriberView".into(),
        msisdn: format!("138{:08}", n),
        region: "0571".into(),
        sources: vec!["billing".into()],
        purpose: format!("R{replica}-{n}"),
        outcome: Outcome::Ok,
        detail: String::new(),
        peer: "127.0.0.1:1".into(),
    }
}

/// `replicas` writers (each its own pool, as separate gateways have) append `per` events each, all at
/// once; returns how many appends were confirmed.
async fn run(url: &str, replicas: usize, per: usize) -> (Store, usize) {
    let mut stores = Vec::new();
    for _ in 0..replicas {
        stores.push(Store::connect(url, 4).await.unwrap());
    }
    let logs: Vec<AuditLog> = stores
        .iter()
        .map(|s| {
            AuditLog::start_with(
                s.clone(),
                BatchSettings {
                    max: 64,
                    wait: Duration::from_micros(200),
                },
            )
        })
        .collect();
    let mut calls = Vec::new();
    for (r, log) in logs.iter().enumerate() {
        for n in 0..per {
            let log = log.clone();
            calls.push(tokio::spawn(async move { log.append(event(r, n)).await }));
        }
    }
    let mut confirmed = 0;
    for c in calls {
        if c.await.unwrap().is_ok() {
            confirmed += 1;
        }
    }
    (stores.swap_remove(0), confirmed)
}

#[tokio::test]
async fn three_gateways_on_one_postgresql_store_keep_one_unbroken_chain() {
    let Some(admin) = testkit::db_url("CGW_TEST_PG_URL") else {
        return;
    };
    let db = TestDatabase::create(&admin, "auditgroup").await.unwrap();
    let (store, confirmed) = run(&db.url, 3, 400).await;
    assert_eq!(confirmed, 1200, "every append is confirmed");
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_events")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(rows, 1200, "one row per confirmed append");
    let report = chain::verify(&store, &mut |_| {}).await.unwrap();
    assert_eq!((report.checked, report.broken.clone()), (1200, None), "{report:?}");
    assert_eq!(report.head.seq, 1200);
    store.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn on_sqlite_concurrent_appends_share_commits_and_chain() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let (store, confirmed) = run(&url, 1, 1000).await;
    assert_eq!(confirmed, 1000);
    let report = chain::verify(&store, &mut |_| {}).await.unwrap();
    assert_eq!((report.checked, report.broken.clone()), (1000, None), "{report:?}");
}
