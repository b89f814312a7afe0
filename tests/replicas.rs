//! Several gateways as one: three replicas (in-process servers) on one PostgreSQL store and the machine's
//! Redis (`CGW_TEST_REDIS_URL`, reached through a TCP proxy the tests can stop), over the same seeded
//! SQLite backends. Mandatory with `CGW_REQUIRE_DBS=1`; each test uses its own database and key prefix.
use complaint_gateway::adapters::registry::Registry;
use complaint_gateway::config::Config;
use complaint_gateway::identity::Role;
use complaint_gateway::proto::complaint::v1::gateway_admin_service_client::GatewayAdminServiceClient;
use complaint_gateway::proto::complaint::v1::*;
use complaint_gateway::testkit::{self, req, RunningServer, TestDatabase};
use complaint_gateway::tools::seed;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};

type Client = complaint_gateway::proto::complaint::v1::complaint_data_service_client::ComplaintDataServiceClient<
    tonic::transport::Channel,
>;

/// A TCP proxy in front of Redis: stopping it closes every connection and refuses new ones, as a Redis
/// that went away would.
struct Proxy {
    addr: std::net::SocketAddr,
    tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(upstream: std::net::SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let t = tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let conn = tokio::spawn(async move {
                    if let Ok(mut out) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    }
                });
                t.lock().unwrap().push(conn);
            }
        });
        tasks.lock().unwrap().push(accept);
        Proxy { addr, tasks }
    }

    fn stop(&self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

/// Three replicas and what the tests look at.
struct Cluster {
    servers: Vec<RunningServer>,
    counts: Vec<BTreeMap<String, Arc<AtomicUsize>>>,
    proxy: Proxy,
    db: TestDatabase,
    prefix: String,
    redis_url: String,
    urls: Vec<(seed::load::System, String)>,
    _dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts three replicas; `None` when the test is skipped (no PostgreSQL or Redis configured).
    async fn start(tag: &str, tune: impl Fn(&mut Config)) -> Option<Cluster> {
        let pg = testkit::db_url("CGW_TEST_PG_URL")?;
        let redis_url = testkit::db_url("CGW_TEST_REDIS_URL")?;
        let upstream = url::Url::parse(&redis_url).unwrap();
        let upstream = tokio::net::lookup_host((
            upstream.host_str().unwrap().to_string(),
            upstream.port().unwrap_or(6379),
        ))
        .await
        .unwrap()
        .next()
        .unwrap();
        let proxy = Proxy::start(upstream).await;
        let dir = tempfile::tempdir().unwrap();
        let urls = testkit::sqlite_urls(dir.path());
        testkit::seed(&urls, 20).await.unwrap();
        let db = TestDatabase::create(&pg, tag).await.unwrap();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let prefix = format!("cgwtest:{tag}:{}:{nanos}:", std::process::id());
        let mut servers = Vec::new();
        let mut counts = Vec::new();
        // One after another: the first migrates the store.
        for _ in 0..3 {
            let mut cfg = testkit::config(&urls);
            cfg.store.url = db.url.clone();
            cfg.redis.url = Some(format!("redis://{}/", proxy.addr));
            cfg.redis.key_prefix = prefix.clone();
            cfg.redis.retry_ms = 300;
            // A loaded test machine can take longer than the default 250 ms for a command; a stopped
            // proxy fails at once regardless.
            cfg.redis.op_timeout_ms = 1_000;
            tune(&mut cfg);
            let mut registry = Registry::from_config(&cfg, &testkit::test_env).unwrap();
            counts.push(testkit::count_fetches(&mut registry));
            servers.push(testkit::spawn_with(cfg, registry).await.unwrap());
        }
        Some(Cluster {
            servers,
            counts,
            proxy,
            db,
            prefix,
            redis_url,
            urls,
            _dir: dir,
        })
    }

    async fn clients(&self) -> Vec<Client> {
        let mut out = Vec::new();
        for s in &self.servers {
            out.push(testkit::data_client(s).await.unwrap());
        }
        out
    }

    /// Backend fetches per source, summed over the replicas.
    fn fetches(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for c in &self.counts {
            for (k, v) in c {
                *out.entry(k.clone()).or_insert(0) += v.load(Ordering::SeqCst);
            }
        }
        out
    }

    async fn audit_rows(&self, action: &str) -> i64 {
        let pool = self.servers[0].gateway.identity.store.pool();
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE action = $1 AND outcome = 'OK'")
            .bind(action)
            .fetch_one(pool)
            .await
            .unwrap()
    }

    async fn finish(self) {
        self.proxy.stop();
        // Best effort: this run's keys (they expire on their own as well).
        if let Ok(client) = redis::Client::open(self.redis_url.as_str()) {
            if let Ok(mut c) = client.get_multiplexed_async_connection().await {
                let keys: Vec<String> = redis::cmd("KEYS")
                    .arg(format!("{}*", self.prefix))
                    .query_async(&mut c)
                    .await
                    .unwrap_or_default();
                if !keys.is_empty() {
                    let _: Result<i64, _> = redis::cmd("DEL").arg(keys).query_async(&mut c).await;
                }
            }
        }
        for s in self.servers {
            s.stop().await;
        }
        self.db.drop_db().await;
    }
}

fn view(msisdn: &str) -> GetSubscriberViewRequest {
    GetSubscriberViewRequest {
        msisdn: msisdn.to_string(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_herd_of_1000_callers_over_three_replicas_sends_one_query_per_source_and_each_call_is_audited() {
    let Some(cluster) = Cluster::start("herd", |_| {}).await else {
        return;
    };
    let clients = cluster.clients().await;
    let number = seed::msisdn(3);
    let served = Arc::new(AtomicUsize::new(0));
    let mut calls = Vec::new();
    for i in 0..1000 {
        let mut c = clients[i % 3].clone();
        let number = number.clone();
        let served = served.clone();
        calls.push(tokio::spawn(async move {
            let r = c.get_subscriber_view(req(view(&number))).await;
            let r = r.unwrap_or_else(|e| panic!("call {i}: {e:?}")).into_inner();
            assert_eq!(r.view.unwrap().msisdn, number);
            served.fetch_add(1, Ordering::SeqCst);
        }));
    }
    for c in calls {
        c.await.unwrap();
    }
    assert_eq!(served.load(Ordering::SeqCst), 1000);
    let fetches = cluster.fetches();
    assert_eq!(
        fetches,
        BTreeMap::from([("billing".into(), 1), ("crm".into(), 1), ("resource".into(), 1)]),
        "one backend query per source for the whole herd"
    );
    assert_eq!(
        cluster
            .audit_rows("complaint.v1.ComplaintDataService/GetSubscriberView")
            .await,
        1000,
        "one committed audit event per call served, across the replicas"
    );
    let report = complaint_gateway::identity::chain::verify(&cluster.servers[0].gateway.identity.store, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(report.broken, None, "one unbroken chain across the replicas");
    assert!(report.checked >= 1000);
    cluster.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_invalidation_sent_to_one_replica_is_seen_by_all_within_a_second() {
    let Some(cluster) = Cluster::start("inval", |_| {}).await else {
        return;
    };
    let mut clients = cluster.clients().await;
    let number = seed::msisdn(4);
    let name = |r: GetSubscriberViewResponse| r.view.unwrap().customer.unwrap().name;
    let mut before = Vec::new();
    for c in &mut clients {
        before.push(name(
            c.get_subscriber_view(req(view(&number))).await.unwrap().into_inner(),
        ));
    }
    assert!(before.iter().all(|n| *n == before[0] && !n.is_empty()), "{before:?}");
    // The CRM changes the customer's name behind the cache's back.
    let crm = &cluster.urls.iter().find(|(s, _)| s.name() == "crm").unwrap().1;
    let pool = sqlx::SqlitePool::connect(crm).await.unwrap();
    sqlx::query(
        "UPDATE customers SET full_name = '新名字' WHERE customer_id = (SELECT customer_id FROM subscriptions WHERE msisdn = ?)",
    )
    .bind(&number)
    .execute(&pool)
    .await
    .unwrap();
    // Still cached everywhere.
    for c in &mut clients {
        assert_eq!(
            name(c.get_subscriber_view(req(view(&number))).await.unwrap().into_inner()),
            before[0]
        );
    }
    let mut admin = GatewayAdminServiceClient::connect(cluster.servers[0].url())
        .await
        .unwrap();
    let t0 = Instant::now();
    admin
        .invalidate_subscriber(req(InvalidateSubscriberRequest {
            msisdn: number.clone(),
            sources: vec!["crm".into()],
        }))
        .await
        .unwrap();
    for (i, c) in clients.iter_mut().enumerate() {
        loop {
            let n = name(c.get_subscriber_view(req(view(&number))).await.unwrap().into_inner());
            if n == "新名字" {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(1),
                "replica {i} still serves {n:?} {:?} after the invalidation",
                t0.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    assert!(t0.elapsed() < Duration::from_secs(1));
    cluster.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_going_away_mid_load_loses_no_call() {
    let Some(cluster) = Cluster::start("outage", |_| {}).await else {
        return;
    };
    let clients = cluster.clients().await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for w in 0..12 {
        let mut c = clients[w % 3].clone();
        let (stop, served) = (stop.clone(), served.clone());
        // Each worker has its own caller (the per-caller limit is not what this test is about).
        let token = testkit::token(&format!("load-{w}"), &Role::ALL, &["0571", "0574", "0577", "0579"]);
        workers.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                // A spread of subscribers: hits, misses and loads through the shared tier.
                let number = seed::msisdn(i % 20);
                let r = c
                    .get_subscriber_view(testkit::with_token(view(&number), &token))
                    .await
                    .unwrap_or_else(|e| panic!("worker {w} call {i} failed: {e:?}"));
                assert_eq!(r.into_inner().view.unwrap().msisdn, number);
                served.fetch_add(1, Ordering::SeqCst);
                i += 1;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    let before = served.load(Ordering::SeqCst);
    cluster.proxy.stop();
    // With Redis gone, invalidations still work (here only) and what they drop comes from the backends.
    for s in &cluster.servers {
        for i in 0..20 {
            s.gateway.reader.cache().invalidate(&seed::msisdn(i), &[]).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.await.unwrap();
    }
    let after = served.load(Ordering::SeqCst);
    for (i, s) in cluster.servers.iter().enumerate() {
        let tier = s.gateway.reader.cache().shared().unwrap();
        assert!(!tier.is_up(), "replica {i} noticed that Redis went away");
    }
    assert!(
        before > 0 && after > before + 12,
        "load went on after Redis went away: {before} then {after}"
    );
    assert_eq!(
        cluster
            .audit_rows("complaint.v1.ComplaintDataService/GetSubscriberView")
            .await as usize,
        after,
        "every call served is audited"
    );
    cluster.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_callers_limit_holds_across_the_three_replicas() {
    let Some(cluster) = Cluster::start("limit", |cfg| cfg.auth.rate_limit_per_minute = 30).await else {
        return;
    };
    let mut clients = cluster.clients().await;
    let token = testkit::token("limited-caller", &Role::ALL, &["0571", "0574", "0577", "0579"]);
    let number = seed::msisdn(1);
    let mut admitted = [0usize; 3];
    let mut refused = [0usize; 3];
    let t0 = Instant::now();
    for i in 0..60 {
        let r = clients[i % 3]
            .get_subscriber_view(testkit::with_token(view(&number), &token))
            .await;
        match r {
            Ok(_) => admitted[i % 3] += 1,
            Err(e) => {
                assert_eq!(e.code(), tonic::Code::ResourceExhausted, "{e:?}");
                assert!(e.message().contains("30 requests a minute"), "{}", e.message());
                refused[i % 3] += 1;
            }
        }
    }
    let total: usize = admitted.iter().sum();
    // 30 a minute in all (plus what refilled at half a call a second while the calls ran), though each
    // replica saw only 20 calls, fewer than its own limit.
    let refilled = (t0.elapsed().as_secs_f64() * 0.5).ceil() as usize;
    assert!(
        (30..=30 + refilled).contains(&total),
        "admitted {admitted:?}, refused {refused:?} in {:?}",
        t0.elapsed()
    );
    assert!(
        refused.iter().all(|r| *r > 0),
        "every replica refused some: {refused:?}"
    );
    cluster.finish().await;
}
