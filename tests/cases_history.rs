//! The demo's complaint history: made through the case operations from the subscribers' real views, the
//! same for the same seed, spread over states, channels, categories and causes, every case's projection
//! equal to the replay of its events, and the three incidents there to be found.
use complaint_gateway::adapters::registry::Registry;
use complaint_gateway::cases::model::Complaint;
use complaint_gateway::cases::rules;
use complaint_gateway::cases::store::{CaseStore, ListFilter};
use complaint_gateway::diagnosis::Engine;
use complaint_gateway::store::Store;
use complaint_gateway::testkit;
use complaint_gateway::tools::history::{generate, HistoryOptions};
use complaint_gateway::view::ViewReader;
use std::collections::BTreeSet;
use std::sync::atomic::AtomicBool;

/// An event row as compared across runs.
type EventRow = (String, i64, i64, String, String, String, String, String, String);

/// Every event row, in a stable order, as text (for comparing two runs).
async fn dump(store: &Store) -> Vec<String> {
    let rows: Vec<EventRow> = sqlx::query_as(
        "SELECT complaint_id, seq, at_us, kind, caller, category, cause_code, to_state, cell_id \
         FROM complaint_events ORDER BY complaint_id, seq",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    rows.into_iter().map(|r| format!("{r:?}")).collect()
}

#[tokio::test]
async fn the_history_is_made_through_the_operations_deterministically_with_its_incidents() {
    let dir = tempfile::tempdir().unwrap();
    let urls = testkit::sqlite_urls(dir.path());
    let subscribers = 400;
    testkit::seed(&urls, subscribers).await.unwrap();
    let cfg = testkit::config(&urls);
    let registry = Registry::from_config(&cfg, &|k| std::env::var(k).ok()).unwrap();
    let reader = ViewReader::from_config(registry, &cfg);
    let set = rules::load(&rules::embedded()).unwrap();
    let clock = chrono::DateTime::parse_from_rfc3339("2026-11-28T10:00:00+08:00").unwrap();
    let engine = Engine::load(complaint_gateway::diagnosis::default_dir(), Some(clock)).unwrap();
    let opts = HistoryOptions {
        complaints: 1_500,
        days: 90,
        seed: 42,
        end_us: clock.timestamp_micros(),
        subscribers,
    };
    let mut dumps = Vec::new();
    let mut stores = Vec::new();
    for run in 0..2 {
        let store = Store::connect(
            &format!("sqlite://{}", dir.path().join(format!("g{run}.db")).display()),
            2,
        )
        .await
        .unwrap();
        let report = generate(
            &CaseStore::new(store.clone()),
            &set,
            &engine,
            &reader,
            &opts,
            &AtomicBool::new(false),
            &|_, _| {},
        )
        .await
        .unwrap();
        assert_eq!(report.complaints, 1_500);
        assert!(!report.stopped);
        dumps.push(dump(&store).await);
        stores.push((store, report));
    }
    assert_eq!(dumps[0], dumps[1], "the same seed gives the same history");
    let (store, report) = &stores[0];
    // Spread over states, old ones closed and recent ones still open.
    let states: BTreeSet<&str> = report.by_state.keys().map(String::as_str).collect();
    for s in ["closed", "in_progress", "replied", "triaged"] {
        assert!(states.contains(s), "{:?}", report.by_state);
    }
    assert!(report.by_state["closed"] > 900, "{:?}", report.by_state);
    let distinct = |col: &'static str| async move {
        let sql = match col {
            "channel" => "SELECT COUNT(DISTINCT channel) FROM complaint_cases",
            "category" => "SELECT COUNT(DISTINCT category) FROM complaint_cases",
            "region" => "SELECT COUNT(DISTINCT region) FROM complaint_cases",
            _ => "SELECT COUNT(DISTINCT cause_code) FROM complaint_cases WHERE cause_code <> ''",
        };
        sqlx::query_scalar::<_, i64>(sql).fetch_one(store.pool()).await.unwrap()
    };
    assert_eq!(distinct("channel").await, 6);
    assert_eq!(distinct("category").await, 12);
    assert_eq!(distinct("region").await, 4);
    assert!(distinct("cause").await >= 15, "{}", distinct("cause").await);
    // Diagnosed through the scenarios, repeats linked, some reopened, deadlines missed and met.
    let n = |sql: &'static str| async move { sqlx::query_scalar::<_, i64>(sql).fetch_one(store.pool()).await.unwrap() };
    assert_eq!(
        n("SELECT COUNT(DISTINCT complaint_id) FROM complaint_events WHERE kind = 'diagnosed'").await,
        1_500
    );
    assert!(n("SELECT COUNT(*) FROM complaint_cases WHERE repeat_of <> ''").await > 20);
    assert!(n("SELECT COUNT(*) FROM complaint_cases WHERE reopen_count > 0").await > 10);
    assert!(n("SELECT COUNT(*) FROM complaint_cases WHERE breached_late = 1").await > 50);
    // Every projection is the replay of its events.
    let cases = CaseStore::new(store.clone());
    let (rows, _) = cases
        .list(&ListFilter {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    for r in rows.iter().step_by(7) {
        let events = cases.events(&r.complaint.id).await.unwrap();
        assert_eq!(Complaint::replay(&events).as_ref(), Some(&r.complaint));
    }
    // The incidents: a burst of coverage complaints from one cell in six hours, a week of complaints naming
    // one value-added-service provider, a day of top-ups through one channel.
    assert_eq!(report.incidents.len(), 3);
    let burst: (String, i64) = sqlx::query_as(
        "SELECT cell_id, COUNT(*) AS n FROM complaint_cases WHERE category = 'network.mobile_coverage' \
         AND cell_id <> '' GROUP BY cell_id, created_at_us / 21600000000 ORDER BY n DESC LIMIT 1",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert!(burst.1 >= 15, "{burst:?}");
    assert!(report.incidents[0].1.contains(&burst.0), "{:?}", report.incidents);
}
