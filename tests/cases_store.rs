//! The case tables on both store engines, SQLite (a file) and PostgreSQL (`CGW_TEST_PG_URL`; skipped
//! locally when unset, mandatory in CI): migration 0003 turns the diagnosis records of 0002 into
//! `diagnosed` events, complaint events reject UPDATE and DELETE, a change written against a stale version
//! writes nothing, and the projection written equals the replay of the events read back.
use complaint_gateway::cases::model::{Complaint, State};
use complaint_gateway::cases::ops::{self, Intake, Op, SubscriberFacts};
use complaint_gateway::cases::rules;
use complaint_gateway::cases::store::{CaseStore, CaseWrite, ListFilter, STALE};
use complaint_gateway::store::Store;
use complaint_gateway::testkit;

/// Applies migrations 0001 and 0002 only (a gateway from before cases), with one diagnosis record.
async fn old_gateway(url: &str) {
    sqlx::any::install_default_drivers();
    let dir = tempfile::tempdir().unwrap();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/gateway");
    for f in ["0001_identity_audit.sql", "0002_complaints.sql"] {
        std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
    }
    let migrator = sqlx::migrate::Migrator::new(dir.path()).await.unwrap();
    let url = if url.starts_with("sqlite:") {
        format!("{url}?mode=rwc")
    } else {
        url.to_string()
    };
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    migrator.run(&pool).await.unwrap();
    sqlx::query(
        "INSERT INTO complaints (complaint_id, first_at_us, last_at_us, caller, region, category, confidence, \
         category_source, scenario_id, cause_code, outcome, reply_without_question, answers, diagnoses) \
         VALUES ('OLD-1', 100, 200, 'h-hz-01', '0571', 'billing.unexpected_charge', 0.75, 'classifier', \
         'billing.duplicate_fee', 'DUPLICATE_MONTHLY_FEE', 'cause', 1, 0, 2)",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
}

async fn exercise(url: &str) {
    old_gateway(url).await;
    let store = Store::connect(url, 4).await.unwrap();
    // The old record is a diagnosed event now, and the old table is gone.
    let row: (String, i64, i64, String, String, String, String, f64, String, i64) = sqlx::query_as(
        "SELECT kind, seq, at_us, caller, region, category, cause_code, confidence, diag_outcome, \
         reply_without_question FROM complaint_events WHERE complaint_id = 'OLD-1'",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(
        row,
        (
            "diagnosed".into(),
            1,
            200,
            "h-hz-01".into(),
            "0571".into(),
            "billing.unexpected_charge".into(),
            "DUPLICATE_MONTHLY_FEE".into(),
            0.75,
            "cause".into(),
            1
        )
    );
    assert!(sqlx::query("SELECT COUNT(*) FROM complaints")
        .fetch_one(store.pool())
        .await
        .is_err());

    // A case written through the operations reads back as its replay.
    let set = rules::load(&rules::embedded()).unwrap();
    let cases = CaseStore::new(store.clone());
    let intake = Intake {
        complaint_id: "C-1".into(),
        msisdn: "13800000001".into(),
        channel: "hotline".into(),
        text: "月租扣了两次".into(),
        category: "billing.unexpected_charge".into(),
        confidence: 1.0,
        category_source: "request".into(),
        abstained: false,
    };
    let facts = SubscriberFacts {
        region: "0571".into(),
        ..Default::default()
    };
    let t0 = 1_777_536_000_000_000;
    cases
        .write(&CaseWrite(ops::intake(&set, &intake, &facts, None, "h-hz-01", t0)))
        .await
        .unwrap();
    let events = cases.events("C-1").await.unwrap();
    let row = cases.get("C-1").await.unwrap().unwrap();
    assert_eq!(Complaint::replay(&events).unwrap(), row.complaint);
    assert_eq!((row.complaint.state, row.complaint.version), (State::Triaged, 2));
    assert!(row.deadlines.next_due_us.is_some());

    // Two changes made from the same version: the second writes nothing.
    let a = ops::apply(&set, &events, Op::Note { text: "a".into() }, "h-1", t0 + 1).unwrap();
    let b = ops::apply(&set, &events, Op::Note { text: "b".into() }, "h-2", t0 + 2).unwrap();
    cases.write(&CaseWrite(vec![a])).await.unwrap();
    let e = cases.write(&CaseWrite(vec![b])).await.unwrap_err();
    assert!(e.contains(STALE), "{e}");
    let events = cases.events("C-1").await.unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(events[2].reason, "a");

    // A second intake under the same id writes nothing either.
    let again = ops::intake(&set, &intake, &facts, None, "h-hz-01", t0 + 5);
    assert!(cases.write(&CaseWrite(again)).await.is_err());
    assert_eq!(cases.events("C-1").await.unwrap().len(), 3);

    // Events are append-only, whatever client tries.
    for sql in [
        "UPDATE complaint_events SET reason = 'x' WHERE complaint_id = 'C-1'",
        "DELETE FROM complaint_events WHERE complaint_id = 'C-1'",
    ] {
        let e = sqlx::query(sql).execute(store.pool()).await.unwrap_err();
        assert!(e.to_string().contains("complaint_events is append-only"), "{e}");
    }
    // Lists see it in its region only.
    let f = |regions: &[&str]| ListFilter {
        regions: Some(regions.iter().map(|r| r.to_string()).collect()),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(cases.list(&f(&["0571"])).await.unwrap().0.len(), 1);
    assert!(cases.list(&f(&["0574"])).await.unwrap().0.is_empty());
    // Pages by due time: a second complaint, one a page.
    let second = Intake {
        complaint_id: "C-2".into(),
        ..intake.clone()
    };
    cases
        .write(&CaseWrite(ops::intake(
            &set,
            &second,
            &facts,
            None,
            "h-hz-01",
            t0 + 60_000_000,
        )))
        .await
        .unwrap();
    let mut page = f(&["0571"]);
    page.limit = 1;
    let (first, next) = cases.list(&page).await.unwrap();
    assert_eq!(first[0].complaint.id, "C-1");
    page.after = next;
    let (rest, next) = cases.list(&page).await.unwrap();
    assert_eq!((rest[0].complaint.id.as_str(), next), ("C-2", None));
    assert_eq!(cases.count(&page).await.unwrap(), 2);

    // Who an id belongs to: a case's number and region; else its first event's (the migrated record
    // knew no number); else nobody.
    let c2 = &rest[0].complaint;
    assert!(!c2.msisdn.is_empty());
    assert_eq!(
        cases.owner_of("C-2").await.unwrap(),
        Some((c2.msisdn.clone(), c2.region.clone()))
    );
    assert_eq!(
        cases.owner_of("OLD-1").await.unwrap(),
        Some((String::new(), "0571".to_string()))
    );
    assert_eq!(cases.owner_of("NOBODY-1").await.unwrap(), None);
    // Whether the id is a case's: C-2 is, OLD-1 was only diagnosed.
    assert_eq!(cases.owner("C-2").await.unwrap().map(|o| o.case), Some(true));
    assert_eq!(cases.owner("OLD-1").await.unwrap().map(|o| o.case), Some(false));
    store.close().await;
}

#[tokio::test]
async fn sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    exercise(&format!("sqlite://{}", dir.path().join("gateway.db").display())).await;
}

#[tokio::test]
async fn postgres() {
    let Some(admin) = testkit::db_url("CGW_TEST_PG_URL") else {
        return;
    };
    let db = testkit::TestDatabase::create(&admin, "casestore").await.unwrap();
    exercise(&db.url).await;
    db.drop_db().await;
}
