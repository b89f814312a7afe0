//! The same view with billing on PostgreSQL and CRM on MariaDB; a slow backend (pg_sleep) bounded by its
//! time-out; a cancelled usage stream stops its statement at the backend. These tests need
//! `CGW_TEST_PG_URL` and `CGW_TEST_MYSQL_URL` (mandatory in CI via `CGW_REQUIRE_DBS=1`).
use complaint_gateway::proto::complaint::v1::*;
use complaint_gateway::testkit::{self, req, TestDatabase};
use complaint_gateway::tools::seed::{self, load::System, Situation};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn strip_times(mut r: GetSubscriberViewResponse) -> GetSubscriberViewResponse {
    for s in &mut r.sources {
        s.fetched_at = None;
        s.latency_ms = 0;
        s.detail.clear();
    }
    r
}

#[tokio::test]
async fn same_view_with_billing_on_postgres_and_crm_on_mariadb() {
    let (Some(pg), Some(my)) = (
        testkit::db_url("CGW_TEST_PG_URL"),
        testkit::db_url("CGW_TEST_MYSQL_URL"),
    ) else {
        return;
    };
    let billing = TestDatabase::create(&pg, "billing").await.unwrap();
    let crm = TestDatabase::create(&my, "crm").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let lite = testkit::sqlite_urls(dir.path());
    let mixed = vec![
        (System::Billing, billing.url.clone()),
        (System::Crm, crm.url.clone()),
        (System::Resource, lite[2].1.clone()),
    ];
    testkit::seed(&mixed, 45).await.unwrap();
    // The all-SQLite reference, from the same generator.
    let ref_dir = tempfile::tempdir().unwrap();
    let reference = testkit::sqlite_urls(ref_dir.path());
    testkit::seed(&reference, 45).await.unwrap();

    let srv = testkit::spawn(testkit::config(&mixed)).await.unwrap();
    let ref_srv = testkit::spawn(testkit::config(&reference)).await.unwrap();
    let mut c = testkit::data_client(&srv).await.unwrap();
    let mut rc = testkit::data_client(&ref_srv).await.unwrap();
    for i in [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 39] {
        let q = GetSubscriberViewRequest {
            msisdn: seed::msisdn(i),
            ..Default::default()
        };
        let a = c.get_subscriber_view(req(q.clone())).await.unwrap().into_inner();
        assert!(
            a.sources.iter().all(|s| s.state() == SourceState::Ok),
            "{:?}",
            a.sources
        );
        let b = rc.get_subscriber_view(req(q)).await.unwrap().into_inner();
        assert_eq!(
            strip_times(a),
            strip_times(b),
            "subscriber {i}: engines must not change the view"
        );
    }
    // Spot-check values decoded from NUMERIC / DECIMAL / DATETIME / BOOLEAN columns.
    let q = GetSubscriberViewRequest {
        msisdn: seed::msisdn(Situation::MarketingAfterOptOut.first_index()),
        ..Default::default()
    };
    let v = c.get_subscriber_view(req(q)).await.unwrap().into_inner().view.unwrap();
    assert!(v.marketing.unwrap().opted_out);
    assert!(v.customer.unwrap().customer_since.is_some());
    assert!(v.account.unwrap().balance_fen > 0);
    srv.stop().await;
    ref_srv.stop().await;
    billing.drop_db().await;
    crm.drop_db().await;
}

#[tokio::test]
async fn slow_backend_times_out_and_the_rest_is_returned() {
    let Some(pg) = testkit::db_url("CGW_TEST_PG_URL") else {
        return;
    };
    let billing = TestDatabase::create(&pg, "slow").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut urls = testkit::sqlite_urls(dir.path());
    urls[0].1 = billing.url.clone();
    testkit::seed(&urls, 3).await.unwrap();
    let mut cfg = testkit::config(&urls);
    cfg.sources[0] = testkit::source(fixture("slow_billing"), &billing.url, 300);
    let srv = testkit::spawn(cfg).await.unwrap();
    let mut c = testkit::data_client(&srv).await.unwrap();

    let t0 = Instant::now();
    let r = c
        .get_subscriber_view(req(GetSubscriberViewRequest {
            msisdn: seed::msisdn(1),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    let elapsed = t0.elapsed();
    assert!(
        elapsed < Duration::from_millis(300 + 700),
        "returned after {elapsed:?}, time-out 300 ms"
    );
    assert_eq!(r.sources[0].state(), SourceState::Timeout);
    // The budget left when the attempt started: the source's 300 ms, less what the fan-out took.
    let ms: u64 = r.sources[0]
        .detail
        .strip_prefix("no answer within ")
        .and_then(|d| d.strip_suffix(" ms"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected detail {:?}", r.sources[0].detail));
    assert!((250..=300).contains(&ms), "{ms}");
    assert_eq!(r.sources[1].state(), SourceState::Ok);
    assert_eq!(r.sources[2].state(), SourceState::Ok);
    let v = r.view.unwrap();
    assert!(v.account.is_none() && v.customer.is_some());
    srv.stop().await;
    billing.drop_db().await;
}

#[tokio::test]
async fn cancelled_stream_stops_the_backend_statement() {
    let Some(pg) = testkit::db_url("CGW_TEST_PG_URL") else {
        return;
    };
    let billing = TestDatabase::create(&pg, "stream").await.unwrap();
    // The endless series would be JIT-compiled before its first row (`TestDatabase::without_jit`).
    billing.without_jit().await.unwrap();
    testkit::seed(&[(System::Billing, billing.url.clone())], 2)
        .await
        .unwrap();
    let mut cfg = testkit::config(&[]);
    cfg.sources
        .push(testkit::source(fixture("endless_usage"), &billing.url, 2_000));
    let srv = testkit::spawn(cfg).await.unwrap();
    let mut c = testkit::data_client(&srv).await.unwrap();
    let ts = |s: i64| prost_types::Timestamp { seconds: s, nanos: 0 };
    let mut stream = c
        .stream_usage(req(StreamUsageRequest {
            msisdn: seed::msisdn(1),
            from: Some(ts(1_790_000_000)),
            to: Some(ts(1_790_100_000)),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    for _ in 0..100 {
        let rec = stream.message().await.unwrap().unwrap().record.unwrap();
        assert_eq!(rec.kind(), UsageKind::Data);
    }
    let admin = sqlx::PgPool::connect(&pg).await.unwrap();
    // This test's own database only: a statement of another run (another database) is not ours.
    let active = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = $1 AND query LIKE '%cgw-endless-stream%' AND query NOT LIKE '%pg_stat_activity%'",
        )
        .bind(billing.name())
        .fetch_one(&admin)
        .await
        .unwrap()
    };
    assert_eq!(active().await, 1, "the statement runs while the client reads");
    drop(stream); // the client cancels
    let t0 = Instant::now();
    while active().await > 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the statement still runs 10 s after the client cancelled"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    srv.stop().await;
    admin.close().await;
    billing.drop_db().await;
}
