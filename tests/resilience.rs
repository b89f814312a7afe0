//! End-to-end: what callers see when a backend fails — stale answers with their age, then UNAVAILABLE past
//! the limit; the circuit breaker (fast failures while open, per-source health, recovery); retries; load
//! shedding; and the client's deadline with a slow PostgreSQL backend.
use complaint_gateway::adapters::registry::Registry;
use complaint_gateway::adapters::{Adapter, AdapterError, FetchRequest, SourceData};
use complaint_gateway::config::{Config, StackConfig};
use complaint_gateway::proto::complaint::v1::*;
use complaint_gateway::testkit::{self, req};
use futures::future::BoxFuture;
use prost::Message;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

type DataClient = complaint_gateway::proto::complaint::v1::complaint_data_service_client::ComplaintDataServiceClient<
    tonic::transport::Channel,
>;

const UP: u8 = 0;
const DOWN: u8 = 1;
/// Fails once, then answers.
const FLAKY_ONCE: u8 = 2;

/// A backend under the test's control: up, down (refusing after `delay`), or failing once.
struct Scripted {
    name: String,
    mode: Arc<AtomicU8>,
    calls: Arc<AtomicUsize>,
    delay: Duration,
}

impl Adapter for Scripted {
    fn name(&self) -> &str {
        &self.name
    }
    fn entities(&self) -> Vec<String> {
        vec!["account".into()]
    }
    fn fetch(&self, req: FetchRequest) -> BoxFuture<'static, Result<SourceData, AdapterError>> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        let mode = self.mode.clone();
        let delay = self.delay;
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            let m = mode.load(Ordering::SeqCst);
            if m == DOWN || (m == FLAKY_ONCE && n == 0) {
                return Err(AdapterError::Unavailable("connection refused (scripted)".into()));
            }
            let view = SubscriberView {
                account: Some(Account {
                    account_id: format!("A-{}", req.msisdn),
                    balance_fen: 1234,
                    ..Default::default()
                }),
                ..Default::default()
            };
            Ok(SourceData {
                found: true,
                view: view.encode_to_vec().into(),
                entities: vec!["account".into()],
                notes: vec![],
            })
        })
    }
}

struct Backend {
    mode: Arc<AtomicU8>,
    calls: Arc<AtomicUsize>,
}

impl Backend {
    fn set(&self, m: u8) {
        self.mode.store(m, Ordering::SeqCst);
    }
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

/// A server over one scripted source named `ledger`.
async fn scripted_server(
    cfg: Config,
    stack: StackConfig,
    delay: Duration,
    timeout: Duration,
) -> (testkit::RunningServer, Backend) {
    let mode = Arc::new(AtomicU8::new(UP));
    let calls = Arc::new(AtomicUsize::new(0));
    let mut registry = Registry::default();
    registry.push(
        Arc::new(Scripted {
            name: "ledger".into(),
            mode: mode.clone(),
            calls: calls.clone(),
            delay,
        }),
        timeout,
    );
    registry.sources[0].stack = stack;
    let srv = testkit::spawn_with(cfg, registry).await.unwrap();
    (srv, Backend { mode, calls })
}

fn base_config() -> Config {
    testkit::config(&[])
}

fn no_retry() -> StackConfig {
    StackConfig {
        max_retries: 0,
        ..Default::default()
    }
}

fn view_req(msisdn: &str) -> GetSubscriberViewRequest {
    GetSubscriberViewRequest {
        msisdn: msisdn.into(),
        ..Default::default()
    }
}

async fn ledger(c: &mut DataClient, msisdn: &str) -> (SourceStatus, Option<SubscriberView>) {
    let r = c.get_subscriber_view(req(view_req(msisdn))).await.unwrap().into_inner();
    assert_eq!(r.sources.len(), 1);
    (r.sources[0].clone(), r.view)
}

#[tokio::test]
async fn a_failing_backend_serves_stale_with_its_age_then_unavailable_past_the_limit() {
    let mut cfg = base_config();
    cfg.cache.default_ttl_secs = 1;
    cfg.cache.stale_max_age_secs = 2;
    let (srv, backend) = scripted_server(cfg, no_retry(), Duration::ZERO, Duration::from_secs(1)).await;
    let mut c = testkit::data_client(&srv).await.unwrap();
    let number = "13800000042";

    let (st, view) = ledger(&mut c, number).await;
    assert_eq!(st.state(), SourceState::Ok);
    assert_eq!(view.unwrap().account.unwrap().account_id, "A-13800000042");

    backend.set(DOWN);
    // Within the TTL the cache answers; the backend is not asked.
    let (st, _) = ledger(&mut c, number).await;
    assert_eq!(st.state(), SourceState::Ok);
    assert_eq!(backend.calls(), 1);

    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let (st, view) = ledger(&mut c, number).await;
    assert_eq!(st.state(), SourceState::Stale);
    assert!((1_100..2_000).contains(&st.age_ms), "age_ms {}", st.age_ms);
    assert!(
        st.detail
            .starts_with("backend unavailable (the gateway log has the details); serving the answer cached"),
        "{}",
        st.detail
    );
    assert_eq!(st.entities, vec!["account".to_string()]);
    assert_eq!(
        view.unwrap().account.unwrap().balance_fen,
        1234,
        "the stale answer is served"
    );
    assert_eq!(backend.calls(), 2, "the backend was tried");

    // A caller that accepts at most 500 ms gets no stale data.
    let strict = GetSubscriberViewRequest {
        max_staleness_ms: 500,
        ..view_req(number)
    };
    let r = c.get_subscriber_view(req(strict)).await.unwrap().into_inner();
    assert_eq!(r.sources[0].state(), SourceState::Unavailable);

    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let e = c.get_subscriber_view(req(view_req(number))).await;
    // Past the limit nothing is cached any more: UNAVAILABLE, and since no source knows the number the
    // view is empty but not an error.
    let r = e.unwrap().into_inner();
    let st = &r.sources[0];
    assert_eq!(st.state(), SourceState::Unavailable);
    assert!(
        st.detail
            .starts_with("backend unavailable (the gateway log has the details)"),
        "{}",
        st.detail
    );
    assert_eq!(st.age_ms, 0);
    assert!(r.view.unwrap().account.is_none());

    backend.set(UP);
    let (st, _) = ledger(&mut c, number).await;
    assert_eq!(st.state(), SourceState::Ok);
}

async fn source_health(srv: &testkit::RunningServer) -> ServingStatus {
    let channel = tonic::transport::Endpoint::from_shared(srv.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut h = HealthClient::new(channel);
    let r = h
        .check(HealthCheckRequest {
            service: "complaint.v1.source.ledger".into(),
        })
        .await
        .unwrap()
        .into_inner();
    r.status()
}

#[tokio::test]
async fn the_breaker_opens_after_n_failures_fails_fast_and_closes_after_recovery() {
    let mut cfg = base_config();
    cfg.cache.stale_max_age_secs = 0;
    let stack = StackConfig {
        max_retries: 0,
        breaker_failures: 3,
        breaker_cooldown_ms: 400,
        ..Default::default()
    };
    // A failing backend that takes 150 ms to refuse, so a fast failure is visibly the breaker's.
    let (srv, backend) = scripted_server(cfg, stack, Duration::from_millis(150), Duration::from_secs(1)).await;
    let mut c = testkit::data_client(&srv).await.unwrap();
    assert_eq!(source_health(&srv).await, ServingStatus::Serving);
    backend.set(DOWN);
    for i in 0..3 {
        let (st, _) = ledger(&mut c, &format!("1380000010{i}")).await;
        assert_eq!(st.state(), SourceState::Unavailable);
        assert_eq!(st.detail, "backend unavailable (the gateway log has the details)");
    }
    assert_eq!(backend.calls(), 3);
    assert_eq!(source_health(&srv).await, ServingStatus::NotServing);

    for i in 0..5 {
        let t0 = Instant::now();
        let (st, _) = ledger(&mut c, &format!("1380000020{i}")).await;
        let took = t0.elapsed();
        assert!(
            took < Duration::from_millis(50),
            "an open breaker answers at once, took {took:?}"
        );
        assert_eq!(st.state(), SourceState::Unavailable);
        assert!(
            st.detail
                .starts_with("circuit open after 3 consecutive failures; next probe in "),
            "{}",
            st.detail
        );
    }
    assert_eq!(
        backend.calls(),
        3,
        "no call reaches the backend while the breaker is open"
    );

    backend.set(UP);
    tokio::time::sleep(Duration::from_millis(450)).await;
    let (st, view) = ledger(&mut c, "13800000300").await;
    assert_eq!(st.state(), SourceState::Ok, "{}", st.detail);
    assert_eq!(view.unwrap().account.unwrap().account_id, "A-13800000300");
    assert_eq!(backend.calls(), 4, "one probe");
    // Health follows the breaker (the reporter task runs asynchronously).
    let mut status = source_health(&srv).await;
    for _ in 0..20 {
        if status == ServingStatus::Serving {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        status = source_health(&srv).await;
    }
    assert_eq!(status, ServingStatus::Serving);
    let (st, _) = ledger(&mut c, "13800000301").await;
    assert_eq!(st.state(), SourceState::Ok);
}

#[tokio::test]
async fn a_retryable_failure_is_retried_within_the_call() {
    let stack = StackConfig {
        max_retries: 2,
        retry_backoff_ms: 5,
        ..Default::default()
    };
    let (srv, backend) = scripted_server(base_config(), stack, Duration::ZERO, Duration::from_secs(1)).await;
    backend.set(FLAKY_ONCE);
    let mut c = testkit::data_client(&srv).await.unwrap();
    let (st, view) = ledger(&mut c, "13800000500").await;
    assert_eq!(st.state(), SourceState::Ok, "{}", st.detail);
    assert_eq!(view.unwrap().account.unwrap().account_id, "A-13800000500");
    assert_eq!(backend.calls(), 2, "the first attempt failed, the retry answered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_beyond_the_queue_are_shed_at_once() {
    let stack = StackConfig {
        max_concurrency: 1,
        max_queue: 1,
        max_retries: 0,
        ..Default::default()
    };
    let (srv, backend) =
        scripted_server(base_config(), stack, Duration::from_millis(300), Duration::from_secs(2)).await;
    let mut calls = Vec::new();
    for i in 0..6 {
        let mut c = testkit::data_client(&srv).await.unwrap();
        calls.push(tokio::spawn(async move {
            let t0 = Instant::now();
            let bypass = GetSubscriberViewRequest {
                cache_mode: CacheMode::Bypass as i32,
                ..view_req(&format!("1380000060{i}"))
            };
            let r = c.get_subscriber_view(req(bypass)).await.unwrap().into_inner();
            (r.sources[0].clone(), t0.elapsed())
        }));
    }
    let mut ok = 0;
    let mut shed = 0;
    for call in calls {
        let (st, took) = call.await.unwrap();
        match st.state() {
            SourceState::Ok => ok += 1,
            SourceState::Unavailable => {
                assert_eq!(st.detail, "overloaded: 1 calls already wait for this backend");
                assert!(took < Duration::from_millis(250), "shed at once, took {took:?}");
                shed += 1;
            }
            other => panic!("unexpected {other:?}: {}", st.detail),
        }
    }
    assert_eq!(ok + shed, 6);
    assert!(ok >= 2 && shed >= 1, "ok {ok}, shed {shed}");
    assert_eq!(backend.calls(), ok, "shed calls never reach the backend");
}

/// A billing adapter whose one query sleeps 2 s in PostgreSQL.
fn pg_sleep_fixture() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pg_sleep_billing")
}

#[tokio::test]
async fn a_100_ms_client_deadline_is_honoured_with_a_slow_backend() {
    let Some(admin_url) = testkit::db_url("CGW_TEST_PG_URL") else {
        return;
    };
    let db = testkit::TestDatabase::create(&admin_url, "deadline").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let urls = testkit::sqlite_urls(dir.path());
    testkit::seed(&urls[1..2], 5).await.unwrap();
    let mut cfg = testkit::config(&urls[1..2]);
    // The source would wait 5 s; the client allows 100 ms.
    cfg.sources
        .insert(0, testkit::source(pg_sleep_fixture(), &db.url, 5_000));
    let srv = testkit::spawn(cfg).await.unwrap();
    let mut c = testkit::data_client(&srv).await.unwrap();
    let number = complaint_gateway::tools::seed::msisdn(1);
    let mut request = req(view_req(&number));
    request.set_timeout(Duration::from_millis(100));
    let t0 = Instant::now();
    let r = c.get_subscriber_view(request).await.unwrap().into_inner();
    let took = t0.elapsed();
    assert!(took < Duration::from_millis(200), "answered after {took:?}");
    let billing = &r.sources[0];
    assert_eq!(billing.source, "billing");
    assert_eq!(billing.state(), SourceState::Timeout);
    assert!(billing.detail.starts_with("no answer within "), "{}", billing.detail);
    let ms: u64 = billing.detail["no answer within ".len()..]
        .trim_end_matches(" ms")
        .parse()
        .unwrap();
    assert!(
        (50..100).contains(&ms),
        "the source's 5 s gave way to the client's deadline: {ms} ms"
    );
    // The fast source still answered: a partial view, not an error.
    assert_eq!(r.sources[1].source, "crm");
    assert_eq!(r.sources[1].state(), SourceState::Ok);
    assert!(r.view.unwrap().customer.is_some());
    drop(srv);
    db.drop_db().await;
}
