//! End-to-end: the view cache through a real server on 127.0.0.1:0 — one backend query per source for a
//! herd of callers, hits with their age, the per-request cache policy, admin invalidation, and
//! PostgreSQL LISTEN/NOTIFY invalidation.
use complaint_gateway::adapters::registry::Registry;
use complaint_gateway::proto::complaint::v1::gateway_admin_service_client::GatewayAdminServiceClient;
use complaint_gateway::proto::complaint::v1::*;
use complaint_gateway::testkit::{self, req};
use complaint_gateway::tools::seed::{self, load, Situation};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tonic::Code;

use testkit::count_fetches;

fn counts_of(counts: &BTreeMap<String, Arc<AtomicUsize>>) -> Vec<(String, usize)> {
    let mut v: Vec<_> = counts
        .iter()
        .map(|(k, c)| (k.clone(), c.load(Ordering::SeqCst)))
        .collect();
    v.sort();
    v
}

fn all(n: usize) -> Vec<(String, usize)> {
    ["billing", "crm", "resource"]
        .iter()
        .map(|s| (s.to_string(), n))
        .collect()
}

async fn sqlite_server(dir: &std::path::Path, n: u64) -> (testkit::RunningServer, BTreeMap<String, Arc<AtomicUsize>>) {
    let urls = testkit::sqlite_urls(dir);
    testkit::seed(&urls, n).await.unwrap();
    let cfg = testkit::config(&urls);
    let mut registry = Registry::from_config(&cfg, &testkit::test_env).unwrap();
    let counts = count_fetches(&mut registry);
    (testkit::spawn_with(cfg, registry).await.unwrap(), counts)
}

fn view_req(msisdn: &str) -> GetSubscriberViewRequest {
    GetSubscriberViewRequest {
        msisdn: msisdn.into(),
        ..Default::default()
    }
}

fn states(r: &GetSubscriberViewResponse) -> Vec<(String, SourceState)> {
    r.sources.iter().map(|s| (s.source.clone(), s.state())).collect()
}

fn all_ok() -> Vec<(String, SourceState)> {
    ["billing", "crm", "resource"]
        .iter()
        .map(|s| (s.to_string(), SourceState::Ok))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_herd_of_1000_cold_callers_sends_one_query_per_source() {
    let dir = tempfile::tempdir().unwrap();
    let (srv, counts) = sqlite_server(dir.path(), 40).await;
    let number = seed::msisdn(Situation::VasNoConsent.first_index());
    // Eight HTTP/2 connections, 125 callers each, released together.
    let mut channels = Vec::new();
    for _ in 0..8 {
        channels.push(
            tonic::transport::Endpoint::from_shared(srv.url())
                .unwrap()
                .connect()
                .await
                .unwrap(),
        );
    }
    let gate = Arc::new(tokio::sync::Barrier::new(1000));
    let mut calls = Vec::new();
    for i in 0..1000 {
        let mut c =
            complaint_gateway::proto::complaint::v1::complaint_data_service_client::ComplaintDataServiceClient::new(
                channels[i % 8].clone(),
            );
        let gate = gate.clone();
        let number = number.clone();
        calls.push(tokio::spawn(async move {
            gate.wait().await;
            c.get_subscriber_view(req(view_req(&number)))
                .await
                .map(|r| r.into_inner())
        }));
    }
    let mut answered = 0;
    for call in calls {
        let r = call.await.unwrap().unwrap();
        assert_eq!(states(&r), all_ok());
        let v = r.view.unwrap();
        assert_eq!(v.account.unwrap().account_id, "ZH0000000001");
        answered += 1;
    }
    assert_eq!(answered, 1000);
    assert_eq!(
        counts_of(&counts),
        all(1),
        "one backend query per source for 1,000 callers"
    );

    // A repeat is a hit: no query, and each source says how old its answer is.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut c = testkit::data_client(&srv).await.unwrap();
    let r = c
        .get_subscriber_view(req(view_req(&number)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(states(&r), all_ok());
    for s in &r.sources {
        assert!(s.age_ms >= 20 && s.age_ms < 5_000, "{}: age_ms {}", s.source, s.age_ms);
    }
    assert_eq!(counts_of(&counts), all(1));
}

#[tokio::test]
async fn the_request_chooses_bypass_or_a_maximum_staleness() {
    let dir = tempfile::tempdir().unwrap();
    let (srv, counts) = sqlite_server(dir.path(), 20).await;
    let mut c = testkit::data_client(&srv).await.unwrap();
    let number = seed::msisdn(3);

    let r = c
        .get_subscriber_view(req(view_req(&number)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(states(&r), all_ok());
    assert!(r.sources.iter().all(|s| s.age_ms == 0), "a fresh load has age 0");
    c.get_subscriber_view(req(view_req(&number))).await.unwrap();
    assert_eq!(counts_of(&counts), all(1));

    // Bypass: every source is read again.
    let bypass = GetSubscriberViewRequest {
        cache_mode: CacheMode::Bypass as i32,
        ..view_req(&number)
    };
    let r = c.get_subscriber_view(req(bypass)).await.unwrap().into_inner();
    assert_eq!(states(&r), all_ok());
    assert_eq!(counts_of(&counts), all(2));

    // A caller that accepts at most 30 ms: an answer 60 ms old is read again; a fresh one is not.
    tokio::time::sleep(Duration::from_millis(60)).await;
    let strict = GetSubscriberViewRequest {
        max_staleness_ms: 30,
        ..view_req(&number)
    };
    c.get_subscriber_view(req(strict.clone())).await.unwrap();
    assert_eq!(counts_of(&counts), all(3));
    c.get_subscriber_view(req(strict)).await.unwrap();
    assert_eq!(counts_of(&counts), all(3));

    // Only billing, bypassing: only billing is read.
    let only = GetSubscriberViewRequest {
        sources: vec!["billing".into()],
        cache_mode: CacheMode::Bypass as i32,
        ..view_req(&number)
    };
    c.get_subscriber_view(req(only)).await.unwrap();
    assert_eq!(
        counts_of(&counts),
        vec![("billing".into(), 4), ("crm".into(), 3), ("resource".into(), 3)]
    );

    // An unknown mode is refused, naming the field.
    let bad = GetSubscriberViewRequest {
        cache_mode: 7,
        ..view_req(&number)
    };
    let e = c.get_subscriber_view(req(bad)).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(
        e.message(),
        "cache_mode: 7 is not a cache mode (CACHE_MODE_USE = 1, CACHE_MODE_BYPASS = 2)"
    );
}

#[tokio::test]
async fn not_found_is_remembered_briefly() {
    let dir = tempfile::tempdir().unwrap();
    let urls = testkit::sqlite_urls(dir.path());
    testkit::seed(&urls, 10).await.unwrap();
    let mut cfg = testkit::config(&urls);
    cfg.cache.not_found_ttl_secs = 1;
    let mut registry = Registry::from_config(&cfg, &testkit::test_env).unwrap();
    let counts = count_fetches(&mut registry);
    let srv = testkit::spawn_with(cfg, registry).await.unwrap();
    let mut c = testkit::data_client(&srv).await.unwrap();
    let unknown = "13999999999";
    for _ in 0..3 {
        let e = c.get_subscriber_view(req(view_req(unknown))).await.unwrap_err();
        assert_eq!(e.code(), Code::NotFound);
        assert_eq!(e.message(), "no subscriber 13999999999 in any source");
    }
    assert_eq!(counts_of(&counts), all(1), "NOT_FOUND answers are cached");
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let e = c.get_subscriber_view(req(view_req(unknown))).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert_eq!(counts_of(&counts), all(2), "but only for not_found_ttl_secs");
}

/// The detail of the newest audited invalidation: how many answers it removed (the caller is not told).
async fn last_invalidation(srv: &testkit::RunningServer) -> String {
    let (events, _) = srv
        .gateway
        .identity
        .audit
        .list(&complaint_gateway::identity::audit::AuditFilter {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    events
        .into_iter()
        .find(|e| e.action.ends_with("/InvalidateSubscriber"))
        .map(|e| e.detail)
        .unwrap_or_default()
}

#[tokio::test]
async fn invalidate_subscriber_drops_cached_answers() {
    let dir = tempfile::tempdir().unwrap();
    let (srv, counts) = sqlite_server(dir.path(), 20).await;
    let mut c = testkit::data_client(&srv).await.unwrap();
    let mut admin = GatewayAdminServiceClient::connect(srv.url()).await.unwrap();
    let number = seed::msisdn(5);
    let other = seed::msisdn(6);
    c.get_subscriber_view(req(view_req(&number))).await.unwrap();
    c.get_subscriber_view(req(view_req(&other))).await.unwrap();
    assert_eq!(counts_of(&counts), all(2));

    let r = admin
        .invalidate_subscriber(req(InvalidateSubscriberRequest {
            msisdn: format!("+86{number}"),
            sources: vec!["crm".into()],
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.sources, vec!["crm".to_string()]);
    assert_eq!(last_invalidation(&srv).await, "removed 1 cached answer(s)");
    c.get_subscriber_view(req(view_req(&number))).await.unwrap();
    assert_eq!(
        counts_of(&counts),
        vec![("billing".into(), 2), ("crm".into(), 3), ("resource".into(), 2)]
    );

    let r = admin
        .invalidate_subscriber(req(InvalidateSubscriberRequest {
            msisdn: number.clone(),
            sources: vec![],
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.sources, vec!["billing".to_string(), "crm".into(), "resource".into()]);
    assert_eq!(last_invalidation(&srv).await, "removed 3 cached answer(s)");
    c.get_subscriber_view(req(view_req(&number))).await.unwrap();
    c.get_subscriber_view(req(view_req(&other))).await.unwrap();
    assert_eq!(
        counts_of(&counts),
        vec![("billing".into(), 3), ("crm".into(), 4), ("resource".into(), 3)],
        "the other subscriber stays cached"
    );

    let e = admin
        .invalidate_subscriber(req(InvalidateSubscriberRequest {
            msisdn: "12345".into(),
            sources: vec![],
        }))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().starts_with("msisdn: "), "{}", e.message());
    let e = admin
        .invalidate_subscriber(req(InvalidateSubscriberRequest {
            msisdn: number.clone(),
            sources: vec!["billing".into(), "ledger".into()],
        }))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(
        e.message(),
        "sources[1]: unknown source `ledger`; configured sources: billing, crm, resource"
    );
    // Without credentials the admin service is closed like every other.
    let e = admin
        .invalidate_subscriber(InvalidateSubscriberRequest {
            msisdn: number,
            sources: vec![],
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
}

/// A copy of the billing adapter that listens on `channel` for invalidations.
fn billing_with_channel(dir: &std::path::Path, channel: &str) -> std::path::PathBuf {
    let src = testkit::adapters_dir().join("billing");
    let dst = dir.join("billing");
    std::fs::create_dir_all(&dst).unwrap();
    for f in std::fs::read_dir(&src).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), dst.join(f.file_name())).unwrap();
    }
    let toml = std::fs::read_to_string(dst.join("adapter.toml")).unwrap();
    let toml = toml.replacen(
        "primary = \"account\"\n",
        &format!("primary = \"account\"\nnotify_channel = \"{channel}\"\n"),
        1,
    );
    assert!(toml.contains("notify_channel"));
    std::fs::write(dst.join("adapter.toml"), toml).unwrap();
    dst
}

#[tokio::test]
async fn postgres_notify_invalidates_a_subscriber() {
    let Some(admin_url) = testkit::db_url("CGW_TEST_PG_URL") else {
        return;
    };
    let db = testkit::TestDatabase::create(&admin_url, "cachenotify").await.unwrap();
    testkit::seed(&[(load::System::Billing, db.url.clone())], 10)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = testkit::config(&[]);
    cfg.sources.push(testkit::source(
        billing_with_channel(dir.path(), "cgw_billing_changes"),
        &db.url,
        2_000,
    ));
    let mut registry = Registry::from_config(&cfg, &testkit::test_env).unwrap();
    let counts = count_fetches(&mut registry);
    let billing = counts["billing"].clone();
    let srv = testkit::spawn_with(cfg, registry).await.unwrap();
    let mut c = testkit::data_client(&srv).await.unwrap();
    let number = seed::msisdn(2);
    let other = seed::msisdn(3);
    c.get_subscriber_view(req(view_req(&number))).await.unwrap();
    c.get_subscriber_view(req(view_req(&other))).await.unwrap();
    c.get_subscriber_view(req(view_req(&number))).await.unwrap();
    assert_eq!(billing.load(Ordering::SeqCst), 2);

    // The listener connects in the background: notify until a read goes to the backend (at most 5 s).
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let mut reloaded = false;
    for _ in 0..50 {
        sqlx::query("SELECT pg_notify('cgw_billing_changes', $1)")
            .bind(format!("+86 {number}"))
            .execute(&pool)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let r = c
            .get_subscriber_view(req(view_req(&number)))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.sources[0].state(), SourceState::Ok);
        if billing.load(Ordering::SeqCst) > 2 {
            reloaded = true;
            break;
        }
    }
    assert!(reloaded, "a NOTIFY naming the subscriber drops its cached answer");
    let before = billing.load(Ordering::SeqCst);
    c.get_subscriber_view(req(view_req(&other))).await.unwrap();
    assert_eq!(billing.load(Ordering::SeqCst), before, "other subscribers stay cached");
    pool.close().await;
    drop(srv);
    db.drop_db().await;
}

async fn read_view(
    c: &complaint_data_service_client::ComplaintDataServiceClient<tonic::transport::Channel>,
    number: &str,
    sources: &[&str],
) -> GetSubscriberViewResponse {
    let mut r = view_req(number);
    r.sources = sources.iter().map(|s| s.to_string()).collect();
    c.clone().get_subscriber_view(req(r)).await.unwrap().into_inner()
}

/// A repeat read of the same cached answers takes the view merged last time (`view/assembled.rs`): what a
/// caller can check is that nothing of it goes stale — each read's ages are its own, a changed backend
/// shows once its answer is invalidated, and another source list is another view.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeat_reads_keep_their_own_ages_and_see_an_invalidated_change() {
    let dir = tempfile::tempdir().unwrap();
    let (srv, counts) = sqlite_server(dir.path(), 10).await;
    let c = testkit::data_client(&srv).await.unwrap();
    let mut admin = GatewayAdminServiceClient::connect(srv.url()).await.unwrap();
    let number = seed::msisdn(4);
    let cold = read_view(&c, &number, &[]).await;
    let first = read_view(&c, &number, &[]).await; // merged, and kept
    tokio::time::sleep(Duration::from_millis(120)).await;
    let second = read_view(&c, &number, &[]).await; // the kept view
    assert_eq!(counts_of(&counts), all(1));
    assert_eq!(states(&second), all_ok());
    assert_eq!(second.view, first.view);
    assert_eq!(first.view, cold.view);
    for (a, b) in first.sources.iter().zip(&second.sources) {
        assert_eq!(a.source, b.source);
        assert_eq!(a.entities, b.entities);
        assert!(
            b.age_ms >= a.age_ms + 100,
            "{}: a later read of the same answer is older: {} then {} ms",
            a.source,
            a.age_ms,
            b.age_ms
        );
        let (fa, fb) = (a.fetched_at.unwrap(), b.fetched_at.unwrap());
        let apart_ms = (fb.seconds - fa.seconds) * 1000 + (fb.nanos - fa.nanos) as i64 / 1_000_000;
        assert!(
            apart_ms.abs() <= 20,
            "{}: one answer, one fetch time ({apart_ms} ms apart)",
            a.source
        );
    }
    let name = second.view.as_ref().unwrap().customer.as_ref().unwrap().name.clone();
    assert!(!name.is_empty());

    // Another source list: another view, not the kept one.
    let billing_only = read_view(&c, &number, &["billing"]).await;
    assert_eq!(billing_only.sources.len(), 1);
    assert!(billing_only.view.as_ref().unwrap().customer.is_none());
    assert!(billing_only.view.as_ref().unwrap().account.is_some());

    // The CRM changes the customer's name; once the gateway is told, the next read says so.
    let crm_url = testkit::sqlite_urls(dir.path())
        .into_iter()
        .find(|(s, _)| *s == load::System::Crm)
        .unwrap()
        .1;
    let crm = sqlx::SqlitePool::connect(&crm_url).await.unwrap();
    let changed = sqlx::query(
        "UPDATE customers SET full_name = '改名后' WHERE customer_id = (SELECT customer_id FROM subscriptions WHERE msisdn = ?)",
    )
    .bind(&number)
    .execute(&crm)
    .await
    .unwrap();
    assert_eq!(changed.rows_affected(), 1);
    crm.close().await;
    let still = read_view(&c, &number, &[]).await;
    assert_eq!(
        still.view.as_ref().unwrap().customer.as_ref().unwrap().name,
        name,
        "cached until told"
    );
    admin
        .invalidate_subscriber(req(InvalidateSubscriberRequest {
            msisdn: number.clone(),
            sources: vec!["crm".into()],
        }))
        .await
        .unwrap();
    let after = read_view(&c, &number, &[]).await;
    assert_eq!(after.view.as_ref().unwrap().customer.as_ref().unwrap().name, "改名后");
    let again = read_view(&c, &number, &[]).await;
    assert_eq!(again.view, after.view);
    assert_eq!(
        counts_of(&counts),
        vec![("billing".into(), 1), ("crm".into(), 2), ("resource".into(), 1)]
    );
    // The unchanged parts are the same as before; only the customer moved.
    let (mut a, mut b) = (after.view.unwrap(), second.view.unwrap());
    a.customer = None;
    b.customer = None;
    assert_eq!(a, b);
}
