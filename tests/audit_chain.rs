//! The audit trail is tamper-evident: every event is chained to the one before by its hash, and
//! `complaint-gateway audit verify` names the first broken link. On SQLite the triggers refuse UPDATE,
//! DELETE and a replacing INSERT (`REPLACE INTO`, `INSERT OR REPLACE`); a row rewritten or removed after
//! dropping them breaks the chain. On PostgreSQL the documented set-up (`docs/postgres-roles.sql`) gives
//! the gateway a login that can INSERT and SELECT but not UPDATE, DELETE or ALTER the table; a rewrite by
//! the owner breaks the chain.
use complaint_gateway::identity::audit::{AuditEvent, AuditLog, Outcome};
use complaint_gateway::identity::chain;
use complaint_gateway::store::Store;
use complaint_gateway::testkit::{self, TestDatabase};
use sqlx::Connection;

fn event(n: usize) -> AuditEvent {
    let at_us = 1_790_000_000_000_000 + n as i64;
    AuditEvent {
        event_id: complaint_gateway::identity::audit::new_event_id(at_us),
        at_us,
        caller: format!("h-{}", n % 3),
        auth_method: "jwt".into(),
        roles: vec!["handler".into()],
        action: "complaint.v1.ComplaintDataService/GetSubscriberView".into(),
        msisdn: format!("138{:08}", n),
        region: "0571".into(),
        sources: vec!["billing".into(), "crm".into()],
        purpose: format!("T-{n}"),
        outcome: if n.is_multiple_of(5) {
            Outcome::Denied
        } else {
            Outcome::Ok
        },
        detail: String::new(),
        peer: "127.0.0.1:1".into(),
    }
}

async fn append(store: &Store, from: usize, n: usize) -> Vec<AuditEvent> {
    let log = AuditLog::start(store.clone(), 16);
    let events: Vec<AuditEvent> = (from..from + n).map(event).collect();
    // Concurrent appends: several batches, one chain.
    futures::future::try_join_all(events.iter().cloned().map(|e| log.append(e)))
        .await
        .unwrap();
    events
}

fn verify_cli(url: &str) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_complaint-gateway"))
        .args(["audit", "verify", "--url", url])
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

async fn report(store: &Store) -> chain::Report {
    chain::verify(store, &mut |_| {}).await.unwrap()
}

#[tokio::test]
async fn sqlite_refuses_replacing_and_verify_finds_a_row_rewritten_or_removed_behind_its_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.db");
    let url = format!("sqlite://{}", path.display());
    let store = Store::connect(&url, 2).await.unwrap();
    let events = append(&store, 0, 60).await;
    let r = report(&store).await;
    assert_eq!((r.checked, r.broken.clone(), r.head.seq), (60, None, 60));
    let (ok, out) = verify_cli(&url);
    assert!(ok, "{out}");
    assert!(out.starts_with("audit chain intact: 60 events checked"), "{out}");

    // Behind the gateway's back, with the file's own rights.
    let mut raw = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let denied = &events[5];
    for sql in [
        // The probe's rewrite: the same id, now OK and under another caller.
        format!(
            "REPLACE INTO audit_events (event_id, at_us, caller, action, outcome, seq, prev_hash, hash) \
             SELECT event_id, at_us, 'someone-else', action, 'OK', seq, prev_hash, hash FROM audit_events WHERE event_id = '{}'",
            denied.event_id
        ),
        // A new id that takes an existing place in the chain.
        "INSERT OR REPLACE INTO audit_events (event_id, at_us, caller, action, outcome, seq) \
         VALUES ('00000000000000ffffffffffffffff', 1, 'x', 'y', 'OK', 3)"
            .to_string(),
        "UPDATE audit_events SET outcome = 'OK' WHERE seq = 6".to_string(),
        "DELETE FROM audit_events WHERE seq = 6".to_string(),
    ] {
        let e = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone()))
            .execute(&mut raw)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("append-only"), "{sql}: {e}");
    }
    assert_eq!(
        report(&store).await.broken,
        None,
        "refused changes leave the chain whole"
    );

    // Dropping the triggers lets a rewrite in; the chain names the row.
    sqlx::raw_sql(
        "DROP TRIGGER audit_events_no_update; \
         UPDATE audit_events SET outcome = 'OK', caller = 'someone-else' WHERE seq = 6",
    )
    .execute(&mut raw)
    .await
    .unwrap();
    let r = report(&store).await;
    let b = r.broken.expect("the rewrite is found");
    assert_eq!((b.seq, r.checked), (6, 5));
    assert_eq!(b.event_id, denied.event_id);
    assert!(b.why.contains("does not match its hash"), "{}", b.why);
    let (ok, out) = verify_cli(&url);
    assert!(!ok);
    assert!(
        out.starts_with(&format!("audit chain BROKEN at seq 6 (event {})", denied.event_id)),
        "{out}"
    );

    // A deleted row is a gap.
    let dir2 = tempfile::tempdir().unwrap();
    let url2 = format!("sqlite://{}", dir2.path().join("g.db").display());
    let store2 = Store::connect(&url2, 2).await.unwrap();
    append(&store2, 0, 40).await;
    let mut raw2 = sqlx::SqliteConnection::connect(&url2).await.unwrap();
    sqlx::raw_sql("DROP TRIGGER audit_events_no_delete; DELETE FROM audit_events WHERE seq BETWEEN 20 AND 24")
        .execute(&mut raw2)
        .await
        .unwrap();
    let b = report(&store2).await.broken.unwrap();
    assert_eq!(b.seq, 20);
    assert!(b.why.contains("seq 25: 5 event(s) missing"), "{}", b.why);
    // A row slipped in with a made-up link is found too.
    let dir3 = tempfile::tempdir().unwrap();
    let url3 = format!("sqlite://{}", dir3.path().join("g.db").display());
    let store3 = Store::connect(&url3, 2).await.unwrap();
    append(&store3, 0, 10).await;
    // The trail goes on from where it was after a restart (a new writer reads the head).
    append(&store3, 10, 10).await;
    assert_eq!(
        (report(&store3).await.checked, report(&store3).await.broken),
        (20, None)
    );
    let mut raw3 = sqlx::SqliteConnection::connect(&url3).await.unwrap();
    sqlx::raw_sql(
        "INSERT INTO audit_events (event_id, at_us, caller, action, outcome, seq, prev_hash, hash) \
         VALUES ('0000000000000100000000000000aa', 1, 'x', 'y', 'OK', 21, 'made-up', 'made-up')",
    )
    .execute(&mut raw3)
    .await
    .unwrap();
    let b = report(&store3).await.broken.unwrap();
    assert_eq!(b.seq, 21);
    assert!(b.why.contains("prev_hash"), "{}", b.why);
}

#[tokio::test]
async fn postgres_gateway_login_cannot_rewrite_and_verify_catches_the_owner() {
    let Some(pg) = testkit::db_url("CGW_TEST_PG_URL") else {
        return;
    };
    let db = TestDatabase::create(&pg, "audit_chain").await.unwrap();
    // The owner (here the test's superuser) migrates.
    let owner = Store::connect(&db.url, 2).await.unwrap();
    let role = format!("cgw_gw_{}", std::process::id());
    let mut admin = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    let setup = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/postgres-roles.sql"))
        .unwrap()
        .replace("cgw_gateway", &role);
    sqlx::raw_sql(sqlx::AssertSqlSafe(setup))
        .execute(&mut admin)
        .await
        .unwrap();

    // The gateway logs in as the role, without migrating, and appends.
    let mut gw_url = url::Url::parse(&db.url).unwrap();
    gw_url.set_username(&role).unwrap();
    let gw_url = gw_url.to_string();
    let gateway = Store::connect_with(&gw_url, 2, false).await.unwrap();
    append(&gateway, 0, 30).await;
    assert_eq!(report(&gateway).await.checked, 30, "the gateway login reads the trail");
    let mut gw = sqlx::PgConnection::connect(&gw_url).await.unwrap();
    for (sql, expect) in [
        ("UPDATE audit_events SET outcome = 'OK' WHERE seq = 5", "permission denied"),
        ("DELETE FROM audit_events WHERE seq = 5", "permission denied"),
        ("TRUNCATE audit_events", "permission denied"),
        ("ALTER TABLE audit_events DISABLE TRIGGER USER", "must be owner"),
        ("DROP TRIGGER audit_events_append_only ON audit_events", "must be owner"),
        (
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (99, 'x', TRUE, '', 0)",
            "permission denied",
        ),
    ] {
        let e = sqlx::raw_sql(sql).execute(&mut gw).await.unwrap_err();
        assert!(e.to_string().contains(expect), "{sql}: {e}");
    }
    // The owner can: verify finds it.
    sqlx::raw_sql(
        "ALTER TABLE audit_events DISABLE TRIGGER USER; \
         UPDATE audit_events SET outcome = 'OK', caller = 'someone-else' WHERE seq = 5; \
         ALTER TABLE audit_events ENABLE TRIGGER USER",
    )
    .execute(&mut admin)
    .await
    .unwrap();
    let r = report(&gateway).await;
    let b = r.broken.expect("the owner's rewrite is found");
    assert_eq!((b.seq, r.checked), (5, 4));
    let (ok, out) = verify_cli(&gw_url);
    assert!(!ok && out.starts_with("audit chain BROKEN at seq 5"), "{out}");

    gw.close().await.unwrap();
    admin.close().await.unwrap();
    gateway.close().await;
    owner.close().await;
    db.drop_db().await;
    let mut su = sqlx::PgConnection::connect(&pg).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP ROLE IF EXISTS {role}")))
        .execute(&mut su)
        .await
        .unwrap();
}
