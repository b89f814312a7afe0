//! The gateway's own store on SQLite and PostgreSQL: migrations, identities and operator IDs, and an audit
//! trail that rejects UPDATE, DELETE (and on PostgreSQL TRUNCATE) whatever client tries.
mod identity_support;

use complaint_gateway::identity::audit::{AuditEvent, AuditFilter, AuditLog, Outcome};
use complaint_gateway::identity::directory::{Directory, DirectoryError, IdentityFields};
use complaint_gateway::identity::Role;
use complaint_gateway::proto::complaint::v1::AuditOutcome;
use complaint_gateway::store::Store;
use complaint_gateway::testkit::{self, TestDatabase};
use identity_support::*;

fn event(caller: &str, n: usize) -> AuditEvent {
    let at_us = complaint_gateway::store::now_us();
    AuditEvent {
        event_id: complaint_gateway::identity::audit::new_event_id(at_us),
        at_us,
        caller: caller.into(),
        auth_method: "jwt:test".into(),
        roles: vec!["handler".into()],
        action: "complaint.v1.ComplaintDataService/GetSubscriberView".into(),
        msisdn: "13800000001".into(),
        region: "0571".into(),
        sources: vec!["billing".into(), "crm".into()],
        purpose: format!("CP-{n}"),
        outcome: Outcome::Ok,
        detail: String::new(),
        peer: "127.0.0.1:1".into(),
    }
}

/// What every engine must do.
async fn exercise(url: &str) {
    let store = Store::connect(url, 4).await.unwrap();
    // Opening again is harmless: migrations and triggers are idempotent.
    Store::connect(url, 2).await.unwrap().close().await;

    let dir = Directory::new(store.clone());
    let f = IdentityFields {
        display_name: "李四".into(),
        roles: [Role::Handler].into(),
        regions: ["0571".to_string(), "0574".to_string()].into(),
        disabled: false,
    };
    dir.create("h-1", &f).await.unwrap();
    assert!(matches!(
        dir.create("h-1", &f).await,
        Err(DirectoryError::AlreadyExists(_))
    ));
    dir.set_operator_id("h-1", "billing", "0571", "JF01").await.unwrap();
    dir.set_operator_id("h-1", "billing", "0571", "JF02").await.unwrap();
    let got = dir.set_operator_id("h-1", "crm", "", "E9").await.unwrap();
    assert_eq!(got.display_name, "李四");
    assert_eq!(got.regions.iter().cloned().collect::<Vec<_>>(), vec!["0571", "0574"]);
    let ops: Vec<(String, String, String)> = got
        .operator_ids
        .iter()
        .map(|o| (o.system.clone(), o.city.clone(), o.operator_id.clone()))
        .collect();
    assert_eq!(
        ops,
        vec![
            ("billing".into(), "0571".into(), "JF02".into()),
            ("crm".into(), "".into(), "E9".into())
        ]
    );
    assert!(dir.delete_operator_id("h-1", "crm", "").await.unwrap());
    assert!(!dir.delete_operator_id("h-1", "crm", "").await.unwrap());
    assert!(matches!(
        dir.set_operator_id("nobody", "crm", "", "x").await,
        Err(DirectoryError::NotFound(_))
    ));
    assert_eq!(dir.list("", 10).await.unwrap().len(), 1);

    let log = AuditLog::start(store.clone(), 64);
    let appends = (0..50).map(|n| log.append(event("h-1", n)));
    for r in futures::future::join_all(appends).await {
        r.unwrap();
    }
    assert_eq!(log.count().await.unwrap(), 50);
    let (page, next) = log
        .list(&AuditFilter {
            caller: Some("h-1".into()),
            limit: 20,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!((page.len(), next.is_some()), (20, true));
    assert_eq!(page[0].sources, vec!["billing", "crm"]);

    // Append-only, enforced by the database itself.
    for sql in [
        "UPDATE audit_events SET caller = 'someone-else'",
        "DELETE FROM audit_events",
    ] {
        let e = sqlx::query(sql).execute(store.pool()).await.unwrap_err();
        assert!(e.to_string().contains("append-only"), "{sql}: {e}");
    }
    assert_eq!(log.count().await.unwrap(), 50);
    let (all, _) = log
        .list(&AuditFilter {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(all.iter().all(|e| e.caller == "h-1"));
    store.close().await;
}

#[tokio::test]
async fn sqlite_store_keeps_identities_and_an_append_only_trail() {
    let dir = tempfile::tempdir().unwrap();
    exercise(&format!("sqlite://{}", dir.path().join("gateway.db").display())).await;
    // WAL, as the audit writer expects.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", dir.path().join("gateway.db").display()))
        .await
        .unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn postgres_store_keeps_identities_and_an_append_only_trail() {
    let Some(admin) = testkit::db_url("CGW_TEST_PG_URL") else {
        return;
    };
    let db = TestDatabase::create(&admin, "store").await.unwrap();
    exercise(&db.url).await;
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let e = sqlx::query("TRUNCATE audit_events").execute(&pool).await.unwrap_err();
    assert!(e.to_string().contains("append-only"), "{e}");
    pool.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn a_gateway_on_a_postgres_store_audits_every_read() {
    let Some(admin) = testkit::db_url("CGW_TEST_PG_URL") else {
        return;
    };
    let db = TestDatabase::create(&admin, "gwstore").await.unwrap();
    let url = db.url.clone();
    let env = start(move |cfg, _| cfg.store.url = url).await;
    let t = handler("h-pg", &["0571"]);
    let reads = (0..50).map(|k| {
        let t = t.clone();
        let srv = &env.srv;
        async move { view(srv, &t, &number_in("0571", k % 3)).await }
    });
    assert!(futures::future::join_all(reads).await.iter().all(|r| r.is_ok()));
    view(&env.srv, &t, &number_in("0574", 0)).await.unwrap_err();
    let events = events_of(&env.srv, "h-pg").await;
    assert_eq!(events.len(), 51);
    assert_eq!(events[0].outcome(), AuditOutcome::Denied);
    drop(env);
    db.drop_db().await;
}
