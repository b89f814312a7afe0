//! Gateway benchmarks, each with its baseline measured in the same run. See BENCHMARKS.md.
//!
//! ```text
//! cargo bench --bench gateway                      # all benches at 10,000 subscribers (< 10 min)
//! cargo bench --bench gateway -- seed 1000000      # one-off: seed 1,000,000 subscribers (long; progress)
//! cargo bench --bench gateway -- scale 1000000 [SWEEP]  # cold latency, herd, memory after a sweep of
//!                                                       # SWEEP subscribers spread over the data (default all)
//! cargo bench --bench gateway -- warm              # warm view vs health check and echo, SQLite and PostgreSQL stores
//! cargo bench --bench gateway -- herd3             # cold herd over three replicas, with and without Redis
//! ```
//!
//! Billing is on PostgreSQL (`CGW_BENCH_PG_URL`, else `CGW_TEST_PG_URL`, else
//! postgres://postgres@127.0.0.1:5432/postgres), CRM on MariaDB (`CGW_BENCH_MYSQL_URL`, else
//! `CGW_TEST_MYSQL_URL`, else mysql://root@127.0.0.1:3306/mysql), resource on SQLite under
//! `target/bench-data/`. The bench creates databases `cgw_bench_<n>` on those servers and seeds them once;
//! later runs reuse them.
use complaint_gateway::adapters::registry::Registry;
use complaint_gateway::adapters::sql::definition::Definition;
use complaint_gateway::adapters::sql::text::Driver;
use complaint_gateway::config::Config;
use complaint_gateway::proto::complaint::v1::complaint_data_service_client::ComplaintDataServiceClient;
use complaint_gateway::proto::complaint::v1::complaint_data_service_server::{
    ComplaintDataService, ComplaintDataServiceServer,
};
use complaint_gateway::proto::complaint::v1::*;
use complaint_gateway::testkit;
use complaint_gateway::tools::seed::{self, load};
use prost::Message;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic::transport::Channel;

/// The shipped binary's allocator (`src/main.rs`), so the in-process gateway runs as it does in production.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "gateway_parts/replicas.rs"]
mod replicas;

type Client = ComplaintDataServiceClient<Channel>;

const CONCURRENCY: usize = 32;
const CONNECTIONS: usize = 4;

// ---------------------------------------------------------------------------------------------------------
// Backends

struct Servers {
    pg_admin: String,
    my_admin: String,
}

impl Servers {
    fn from_env() -> Servers {
        let var = |a: &str, b: &str, d: &str| {
            std::env::var(a)
                .or_else(|_| std::env::var(b))
                .unwrap_or_else(|_| d.to_string())
        };
        Servers {
            pg_admin: var(
                "CGW_BENCH_PG_URL",
                "CGW_TEST_PG_URL",
                "postgres://postgres@127.0.0.1:5432/postgres",
            ),
            my_admin: var(
                "CGW_BENCH_MYSQL_URL",
                "CGW_TEST_MYSQL_URL",
                "mysql://root@127.0.0.1:3306/mysql",
            ),
        }
    }

    /// The three backends of a data set of `n` subscribers (databases created when missing).
    async fn backends(&self, n: u64) -> anyhow::Result<Vec<(load::System, String)>> {
        let name = format!("cgw_bench_{n}");
        let pg = with_db(&self.pg_admin, &name)?;
        let my = with_db(&self.my_admin, &name)?;
        let admin = sqlx::PgPool::connect(&self.pg_admin).await?;
        let exists: Option<(i32,)> = sqlx::query_as("SELECT 1 FROM pg_database WHERE datname = $1")
            .bind(&name)
            .fetch_optional(&admin)
            .await?;
        if exists.is_none() {
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&admin)
                .await?;
        }
        admin.close().await;
        let admin = sqlx::MySqlPool::connect(&self.my_admin).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE IF NOT EXISTS {name} CHARACTER SET utf8mb4"
        )))
        .execute(&admin)
        .await?;
        admin.close().await;
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
        std::fs::create_dir_all(&dir)?;
        let lite = format!("sqlite://{}", dir.join(format!("resource-{n}.db")).display());
        let mut v = vec![(load::System::Billing, pg), (load::System::Crm, my)];
        // The large data sets are billing (PostgreSQL) and CRM (MariaDB) only, as the scale bench asks
        // (and it keeps the one-off seeding of 1,000,000 subscribers to about seven minutes).
        if n < 100_000 {
            v.push((load::System::Resource, lite));
        }
        Ok(v)
    }
}

fn with_db(admin: &str, name: &str) -> anyhow::Result<String> {
    let mut u = url::Url::parse(admin)?;
    u.set_path(&format!("/{name}"));
    Ok(u.to_string())
}

/// Seeds the backends with `n` subscribers unless they already hold exactly that seed.
async fn ensure_seeded(backends: &[(load::System, String)], n: u64) -> anyhow::Result<()> {
    let mut targets = Vec::new();
    let mut fresh = true;
    for (s, u) in backends {
        let t = load::Target::connect(*s, u).await?;
        let want = testkit::as_of().to_string();
        if t.seeded().await.is_none_or(|(m, a)| m != n || a != want) {
            fresh = false;
        }
        targets.push(t);
    }
    if fresh {
        eprintln!("  data set of {n} subscribers: already seeded");
    } else {
        let names: Vec<&str> = backends.iter().map(|(s, _)| s.name()).collect();
        eprintln!(
            "  seeding {n} subscribers into {} (billing → PostgreSQL, crm → MariaDB, resource → SQLite)…",
            names.join(", ")
        );
        let started = Instant::now();
        let opts = seed::SeedOptions::new(n, testkit::as_of());
        let r = load::seed(&targets, &opts, true, &AtomicBool::new(false), &|d, t, rows| {
            let s = started.elapsed().as_secs_f64().max(0.001);
            eprint!(
                "\r  seeded {d}/{t} ({:.1}%), {rows} rows, {:.0} subscribers/s, eta {:.0} s   ",
                100.0 * d as f64 / t.max(1) as f64,
                d as f64 / s,
                (t - d) as f64 / (d as f64 / s).max(0.001)
            );
        })
        .await?;
        eprintln!(
            "\n  seeded {} subscribers, {} rows in {:.0} s",
            r.subscribers, r.rows, r.seconds
        );
    }
    for t in targets {
        t.close().await;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------
// The gateway under test, with a fetch counter per source

struct Gateway {
    server: testkit::RunningServer,
    counts: BTreeMap<String, Arc<AtomicUsize>>,
}

impl Gateway {
    /// The gateway over `backends`; `file_store` puts the audit store in a file (as configured in
    /// production) instead of the tests' in-memory SQLite, whose rows would count as gateway memory.
    async fn start(backends: &[(load::System, String)], cache_mib: u64, file_store: bool) -> anyhow::Result<Gateway> {
        let store = if file_store {
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
            let file = dir.join(format!("store-{}.db", std::process::id()));
            Some(format!("sqlite://{}", file.display()))
        } else {
            None
        };
        Gateway::start_on(backends, cache_mib, store, |_| {}).await
    }

    /// The gateway over `backends` with its store at `store` (`None`: in memory); `tune` adjusts the config.
    async fn start_on(
        backends: &[(load::System, String)],
        cache_mib: u64,
        store: Option<String>,
        tune: impl Fn(&mut Config),
    ) -> anyhow::Result<Gateway> {
        let mut cfg: Config = testkit::config(backends);
        if let Some(url) = store {
            cfg.store.url = url;
        }
        cfg.cache.max_size_mib = cache_mib;
        // One caller makes every call here: the per-caller rate limit (a policy, not a cost) is off.
        cfg.auth.rate_limit_per_minute = 0;
        for s in &mut cfg.sources {
            s.max_connections = 8;
            s.timeout_ms = 5_000;
        }
        // For trying the audit writer's batching under load: `BENCH_AUDIT_WAIT_US=0` and the like.
        if let Some(us) = std::env::var("BENCH_AUDIT_WAIT_US").ok().and_then(|v| v.parse().ok()) {
            cfg.store.audit_batch_wait_us = us;
        }
        tune(&mut cfg);
        let mut registry = Registry::from_config(&cfg, &testkit::test_env).map_err(anyhow::Error::msg)?;
        let counts = testkit::count_fetches(&mut registry);
        let server = testkit::spawn_with(cfg, registry).await?;
        Ok(Gateway { server, counts })
    }

    fn counts(&self) -> BTreeMap<String, usize> {
        self.counts
            .iter()
            .map(|(k, v)| (k.clone(), v.load(Ordering::Relaxed)))
            .collect()
    }
}

fn delta(after: &BTreeMap<String, usize>, before: &BTreeMap<String, usize>) -> String {
    after
        .iter()
        .map(|(k, v)| format!("{k} {}", v - before.get(k).copied().unwrap_or(0)))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn clients(url: &str) -> anyhow::Result<Vec<Client>> {
    let mut out = Vec::new();
    for _ in 0..CONNECTIONS {
        let ch = tonic::transport::Endpoint::from_shared(url.to_string())?
            .connect()
            .await?;
        out.push(ComplaintDataServiceClient::new(ch).max_decoding_message_size(64 << 20));
    }
    Ok(out)
}

fn view_req(msisdn: String, bypass: bool) -> tonic::Request<GetSubscriberViewRequest> {
    testkit::req(GetSubscriberViewRequest {
        msisdn,
        cache_mode: if bypass { CacheMode::Bypass as i32 } else { 0 },
        ..Default::default()
    })
}

/// A bare tonic unary service answering every call with the same response: the gRPC floor.
struct Echo(GetSubscriberViewResponse);

#[tonic::async_trait]
impl ComplaintDataService for Echo {
    async fn get_subscriber_view(
        &self,
        _r: tonic::Request<GetSubscriberViewRequest>,
    ) -> Result<tonic::Response<GetSubscriberViewResponse>, tonic::Status> {
        Ok(tonic::Response::new(self.0.clone()))
    }
    type StreamUsageStream = futures::stream::BoxStream<'static, Result<StreamUsageResponse, tonic::Status>>;
    async fn stream_usage(
        &self,
        _r: tonic::Request<StreamUsageRequest>,
    ) -> Result<tonic::Response<Self::StreamUsageStream>, tonic::Status> {
        Err(tonic::Status::unimplemented("echo"))
    }
}

async fn start_echo(resp: GetSubscriberViewResponse) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(ComplaintDataServiceServer::new(Echo(resp)))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true))),
    );
    Ok(format!("http://{addr}"))
}

// ---------------------------------------------------------------------------------------------------------
// Measuring

#[derive(Debug, Clone)]
struct Stats {
    n: usize,
    errors: usize,
    wall: Duration,
    p50: Duration,
    p99: Duration,
}

impl Stats {
    fn rps(&self) -> f64 {
        self.n as f64 / self.wall.as_secs_f64()
    }
}

fn stats(mut lat: Vec<Duration>, errors: usize, wall: Duration) -> Stats {
    lat.sort();
    let pick = |q: f64| {
        if lat.is_empty() {
            Duration::ZERO
        } else {
            lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)]
        }
    };
    Stats {
        n: lat.len(),
        errors,
        wall,
        p50: pick(0.50),
        p99: pick(0.99),
    }
}

/// Calls `call(i)` from `CONCURRENCY` workers for `dur` (or `limit` calls); latencies of successes.
async fn closed_loop<C, F, Fut>(clients: &[C], dur: Duration, limit: usize, call: F) -> Stats
where
    C: Clone + Send + 'static,
    F: Fn(C, usize) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..CONCURRENCY {
        let c = clients[w % clients.len()].clone();
        let next = next.clone();
        let call = call.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0;
            while started.elapsed() < dur {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= limit {
                    break;
                }
                let t0 = Instant::now();
                if call(c.clone(), i).await {
                    lat.push(t0.elapsed());
                } else {
                    errors += 1;
                }
            }
            (lat, errors)
        }));
    }
    let mut lat = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.expect("worker");
        lat.extend(l);
        errors += e;
    }
    stats(lat, errors, started.elapsed())
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// Resident memory of this process, in MiB.
fn rss_mib() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

// ---------------------------------------------------------------------------------------------------------
// Direct queries: each source's statements run with sqlx on a pool of its own (the baseline)

enum DirectPool {
    Pg(sqlx::PgPool),
    My(sqlx::MySqlPool),
    Lite(sqlx::SqlitePool),
}

struct DirectSource {
    name: String,
    pool: DirectPool,
    statements: Vec<(String, Vec<String>)>,
}

impl DirectSource {
    /// The baseline's pools skip sqlx's ping per acquire, as the gateway's do (`pool_options`), so the
    /// ratio is the gateway's own cost.
    async fn open(system: load::System, url: &str) -> anyhow::Result<DirectSource> {
        use complaint_gateway::db::pool_options;
        let def = Definition::load(&testkit::adapters_dir().join(system.name()))?;
        let driver = Driver::from_url(url).expect("known scheme");
        let statements = def.entities.iter().map(|e| e.sql.render(driver)).collect();
        let pool = match driver {
            Driver::Postgres => DirectPool::Pg(pool_options::<sqlx::Postgres>().max_connections(8).connect(url).await?),
            Driver::MySql => DirectPool::My(pool_options::<sqlx::MySql>().max_connections(8).connect(url).await?),
            Driver::Sqlite => DirectPool::Lite(
                pool_options::<sqlx::Sqlite>()
                    .max_connections(8)
                    .connect_with(url.parse::<sqlx::sqlite::SqliteConnectOptions>()?.read_only(true))
                    .await?,
            ),
        };
        Ok(DirectSource {
            name: def.name,
            pool,
            statements,
        })
    }

    /// All the source's statements for one subscriber, concurrently on the pool (as the adapter runs
    /// them); returns the rows fetched.
    async fn fetch(&self, msisdn: &str) -> anyhow::Result<usize> {
        macro_rules! run {
            ($pool:expr) => {{
                let futs = self.statements.iter().map(|(sql, params)| {
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.clone()));
                    for p in params {
                        q = q.bind(if p == "msisdn" {
                            Some(msisdn.to_string())
                        } else {
                            None::<String>
                        });
                    }
                    q.fetch_all($pool)
                });
                let rows = futures::future::try_join_all(futs).await?;
                Ok(rows.iter().map(Vec::len).sum())
            }};
        }
        match &self.pool {
            DirectPool::Pg(p) => run!(p),
            DirectPool::My(p) => run!(p),
            DirectPool::Lite(p) => run!(p),
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// The benches

/// Subscriber numbers spread over the data set.
fn spread(n: u64, count: usize, offset: u64) -> Vec<String> {
    let step = (n / count as u64).max(1);
    (0..count as u64)
        .map(|i| seed::msisdn((i * step + offset) % n))
        .collect()
}

async fn warm_vs_echo(gw: &Gateway, n: u64, out: &mut Vec<String>) -> anyhow::Result<()> {
    eprintln!("- warm view throughput vs a bare tonic echo of the same size");
    let numbers = Arc::new(spread(n, 1_000, 0));
    let cs = clients(&gw.server.url()).await?;
    // A real response of a typical subscriber is the echo's answer.
    let mut c = cs[0].clone();
    let sample = c
        .get_subscriber_view(view_req(numbers[1].clone(), false))
        .await?
        .into_inner();
    let size = sample.encoded_len();
    let echo_url = start_echo(sample).await?;
    let ecs = clients(&echo_url).await?;
    let dur = Duration::from_secs(4);
    let mut rows = Vec::new();
    for round in 0..2 {
        // Refresh every number (bypass: billing's TTL is 10 s, so the measured pass must start on
        // answers just read).
        let nums = numbers.clone();
        closed_loop(&cs, Duration::from_secs(30), nums.len(), move |mut c, i| {
            let m = nums[i].clone();
            async move { c.get_subscriber_view(view_req(m, true)).await.is_ok() }
        })
        .await;
        let before = gw.counts();
        let nums = numbers.clone();
        let g = closed_loop(&cs, dur, usize::MAX, move |mut c, i| {
            let m = nums[i % nums.len()].clone();
            async move { c.get_subscriber_view(view_req(m, false)).await.is_ok() }
        })
        .await;
        let fetched = delta(&gw.counts(), &before);
        let nums = numbers.clone();
        let e = closed_loop(&ecs, dur, usize::MAX, move |mut c, i| {
            let m = nums[i % nums.len()].clone();
            async move { c.get_subscriber_view(view_req(m, false)).await.is_ok() }
        })
        .await;
        if round == 1 {
            rows.push(format!(
                "| warm view, {CONCURRENCY} callers, {CONNECTIONS} connections, response {size} B | {:.0}/s, p50 {}, p99 {} ({} errors; backend fetches during the run: {fetched}) | echo: {:.0}/s, p50 {}, p99 {} | throughput {:.2}× echo (target ≥ 0.5×), p99 {:.2}× echo (target ≤ 2×) |",
                g.rps(), ms(g.p50), ms(g.p99), g.errors, e.rps(), ms(e.p50), ms(e.p99),
                g.rps() / e.rps(), g.p99.as_secs_f64() / e.p99.as_secs_f64()
            ));
        }
    }
    out.extend(rows);
    // The view reader alone (cache hits, merge; no gRPC, no identity): what the cache path costs.
    let reader = gw.server.gateway.reader.clone();
    let sources = reader.select(&[])?;
    for m in numbers.iter() {
        reader
            .read_with(
                m,
                &sources,
                &|_| None,
                None,
                &complaint_gateway::cache::ReadPolicy::default(),
            )
            .await?;
    }
    let t0 = Instant::now();
    let mut reads = 0u64;
    while t0.elapsed() < Duration::from_secs(1) {
        for m in numbers.iter().take(100) {
            reader
                .read_with(
                    m,
                    &sources,
                    &|_| None,
                    None,
                    &complaint_gateway::cache::ReadPolicy::default(),
                )
                .await?;
            reads += 1;
        }
    }
    let per = t0.elapsed() / reads as u32;
    out.push(format!(
        "| warm view inside the process (ViewReader::read_with, 1 task, no gRPC or identity) | {:.1} µs per view ({:.0}/s) | | |",
        per.as_secs_f64() * 1e6,
        1.0 / per.as_secs_f64()
    ));
    Ok(())
}

async fn cold_vs_direct(
    gw: &Gateway,
    backends: &[(load::System, String)],
    n: u64,
    count: usize,
    out: &mut Vec<String>,
) -> anyhow::Result<()> {
    eprintln!("- cold view (cache bypassed) vs the direct queries");
    let mut direct = Vec::new();
    for (s, u) in backends {
        direct.push(DirectSource::open(*s, u).await?);
    }
    let numbers = spread(n, count, 7);
    let mut c = clients(&gw.server.url()).await?.remove(0);
    // Warm the pools of both sides.
    for m in numbers.iter().take(20) {
        c.get_subscriber_view(view_req(m.clone(), true)).await?;
        for d in &direct {
            d.fetch(m).await?;
        }
    }
    let reader = gw.server.gateway.reader.clone();
    let all = reader.select(&[])?;
    let bypass = complaint_gateway::cache::ReadPolicy {
        max_staleness: None,
        bypass: true,
    };
    let mut inproc = Vec::new();
    let mut gw_lat = Vec::new();
    let mut slowest = Vec::new();
    let mut sum = Vec::new();
    let mut per_source: Vec<Vec<Duration>> = vec![Vec::new(); direct.len()];
    let mut per_source_gw: Vec<Vec<u32>> = vec![Vec::new(); direct.len()];
    for m in &numbers {
        let t0 = Instant::now();
        let r = c.get_subscriber_view(view_req(m.clone(), true)).await?.into_inner();
        gw_lat.push(t0.elapsed());
        for (i, s) in r.sources.iter().enumerate().take(direct.len()) {
            per_source_gw[i].push(s.latency_ms);
        }
        // The view reader alone: fan-out through the stacks, mapping, merge (no gRPC, identity, audit).
        let t0 = Instant::now();
        reader.read_with(m, &all, &|_| None, None, &bypass).await?;
        inproc.push(t0.elapsed());
        // The three run one after another: what a naive integration pays.
        let t0 = Instant::now();
        let mut worst = Duration::ZERO;
        for (i, d) in direct.iter().enumerate() {
            let t = Instant::now();
            d.fetch(m).await?;
            let took = t.elapsed();
            per_source[i].push(took);
            worst = worst.max(took);
        }
        sum.push(t0.elapsed());
        slowest.push(worst);
    }
    let g = stats(gw_lat, 0, Duration::ZERO);
    let s = stats(slowest, 0, Duration::ZERO);
    let q = stats(sum, 0, Duration::ZERO);
    out.push(format!(
        "| cold view at {n} subscribers (bypass), {count} sequential reads | p50 {}, p99 {} | slowest direct query p50 {}; the three in sequence p50 {} | {:.2}× slowest (target ≤ 1.2×), {:.2}× sequence (target ≤ 0.6×) |",
        ms(g.p50), ms(g.p99), ms(s.p50), ms(q.p50),
        g.p50.as_secs_f64() / s.p50.as_secs_f64(), g.p50.as_secs_f64() / q.p50.as_secs_f64()
    ));
    let ip = stats(inproc, 0, Duration::ZERO);
    out.push(format!(
        "| — the same reads inside the process (ViewReader::read_with, bypass; no gRPC, identity or audit) | p50 {}, p99 {} | as above | {:.2}× slowest, {:.2}× sequence |",
        ms(ip.p50), ms(ip.p99),
        ip.p50.as_secs_f64() / s.p50.as_secs_f64(), ip.p50.as_secs_f64() / q.p50.as_secs_f64()
    ));
    for (i, d) in direct.iter().enumerate() {
        let st = stats(per_source[i].clone(), 0, Duration::ZERO);
        let mut gl = per_source_gw[i].clone();
        gl.sort();
        out.push(format!(
            "| — {} at {n} subscribers | direct sqlx p50 {}, p99 {} | (in the gateway: source latency p50 {} ms) | |",
            d.name,
            ms(st.p50),
            ms(st.p99),
            gl.get(gl.len() / 2).copied().unwrap_or(0)
        ));
    }
    Ok(())
}

async fn herd(gw: &Gateway, n: u64, out: &mut Vec<String>) -> anyhow::Result<()> {
    eprintln!("- herd of 1,000 callers on one cold subscriber");
    let cs = clients(&gw.server.url()).await?;
    for (label, bypass, idx) in [
        ("cache (coalesced)", false, n / 3),
        ("bypass (baseline)", true, n / 3 + 1),
    ] {
        let m = seed::msisdn(idx.max(1));
        let before = gw.counts();
        let gate = Arc::new(tokio::sync::Barrier::new(1_000));
        let mut tasks = Vec::new();
        for i in 0..1_000 {
            let mut c = cs[i % cs.len()].clone();
            let gate = gate.clone();
            let m = m.clone();
            tasks.push(tokio::spawn(async move {
                gate.wait().await;
                let t0 = Instant::now();
                let r = c.get_subscriber_view(view_req(m, bypass)).await;
                let shed = r.as_ref().map_or(0, |r| {
                    r.get_ref()
                        .sources
                        .iter()
                        .filter(|s| s.detail.starts_with("overloaded"))
                        .count()
                });
                (t0.elapsed(), r.is_ok(), shed)
            }));
        }
        let mut lat = Vec::new();
        let mut shed = 0;
        let mut errors = 0;
        for t in tasks {
            let (d, ok, s) = t.await?;
            lat.push(d);
            shed += s;
            errors += usize::from(!ok);
        }
        let st = stats(lat, errors, Duration::ZERO);
        out.push(format!(
            "| herd of 1,000 on one cold subscriber at {n}, {label} | backend fetches per source: {} | p50 {}, p99 {}; {} source answers shed as overloaded; {} errors | |",
            delta(&gw.counts(), &before),
            ms(st.p50),
            ms(st.p99),
            shed,
            errors
        ));
    }
    Ok(())
}

/// `sweep <n> <cache_mib> [count]`: a fresh process reads `count` subscribers (default all `n`, spread over
/// the data set) once each, then reports memory.
async fn sweep(servers: &Servers, n: u64, cache_mib: u64, count: u64) -> anyhow::Result<()> {
    let count = count.clamp(1, n);
    let step = n / count;
    let backends = servers.backends(n).await?;
    let before = rss_mib();
    let gw = Gateway::start(&backends, cache_mib, true).await?;
    let cs = clients(&gw.server.url()).await?;
    let started = Instant::now();
    let done = Arc::new(AtomicUsize::new(0));
    let d2 = done.clone();
    let progress = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(10)).await;
            let d = d2.load(Ordering::Relaxed);
            eprintln!(
                "    swept {d}/{count} ({:.0}/s), rss {:.0} MiB",
                d as f64 / started.elapsed().as_secs_f64(),
                rss_mib()
            );
        }
    });
    let st = closed_loop(&cs, Duration::from_secs(3_600), count as usize, move |mut c, i| {
        let m = seed::msisdn(i as u64 * step);
        let done = done.clone();
        async move {
            let ok = c.get_subscriber_view(view_req(m, false)).await.is_ok();
            done.fetch_add(1, Ordering::Relaxed);
            ok
        }
    })
    .await;
    progress.abort();
    gw.server.gateway.reader.cache().sync().await;
    let (bytes, entries) = gw.server.gateway.reader.cache().usage();
    println!(
        "SWEEP n={n} count={count} cache_mib={cache_mib} reads={} errors={} secs={:.1} rss_before_mib={before:.1} rss_after_mib={:.1} cache_weighted_mib={:.1} cache_entries={entries}",
        st.n,
        st.errors,
        st.wall.as_secs_f64(),
        rss_mib(),
        bytes as f64 / (1024.0 * 1024.0)
    );
    drop(gw);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.join(format!("store-{}.db{suffix}", std::process::id())));
    }
    Ok(())
}

fn memory_row(n: u64, cache_mib: u64, count: u64) -> anyhow::Result<String> {
    eprintln!("- memory after a sweep over {count} of {n} subscribers (separate process)");
    let out = std::process::Command::new(std::env::current_exe()?)
        .args(["sweep", &n.to_string(), &cache_mib.to_string(), &count.to_string()])
        .stderr(std::process::Stdio::inherit())
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("SWEEP"))
        .ok_or_else(|| anyhow::anyhow!("the sweep process printed no result: {text}"))?;
    let kv: BTreeMap<&str, &str> = line.split_whitespace().filter_map(|p| p.split_once('=')).collect();
    let rss: f64 = kv["rss_after_mib"].parse()?;
    Ok(format!(
        "| memory after a sweep over {count} of {n} subscribers, cache {cache_mib} MiB | resident {rss:.0} MiB (before start {} MiB; cache holds {} MiB in {} entries; {} reads in {} s, {} errors) | limit: cache + 100 MiB = {} MiB | {} |",
        kv["rss_before_mib"], kv["cache_weighted_mib"], kv["cache_entries"], kv["reads"], kv["secs"], kv["errors"],
        cache_mib + 100,
        if rss <= (cache_mib + 100) as f64 { "within" } else { "over" }
    ))
}

fn header(n: u64) {
    println!(
        "\n{} on {} cores, {} subscribers\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        n
    );
    println!("| bench | gateway | baseline (same run) | ratio |");
    println!("| --- | --- | --- | --- |");
}

async fn suite(servers: &Servers, n: u64, full: bool, sweep_count: u64) -> anyhow::Result<()> {
    let backends = servers.backends(n).await?;
    ensure_seeded(&backends, n).await?;
    let gw = Gateway::start(&backends, 256, false).await?;
    let mut out = Vec::new();
    if full {
        warm_vs_echo(&gw, n, &mut out).await?;
    }
    cold_vs_direct(&gw, &backends, n, 300, &mut out).await?;
    herd(&gw, n, &mut out).await?;
    drop(gw);
    let cache_mib = if n >= 1_000_000 { 256 } else { 16 };
    out.push(memory_row(n, cache_mib, sweep_count)?);
    header(n);
    for l in out {
        println!("{l}");
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; positional words choose the mode.
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let servers = Servers::from_env();
    let num = |i: usize, d: u64| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    rt.block_on(async {
        match args.first().map(String::as_str) {
            Some("seed") => {
                let n = num(1, 1_000_000);
                ensure_seeded(&servers.backends(n).await?, n).await
            }
            Some("scale") => {
                let n = num(1, 1_000_000);
                suite(&servers, n, false, num(2, n)).await
            }
            Some("sweep") => sweep(&servers, num(1, 10_000), num(2, 16), num(3, u64::MAX)).await,
            Some("warm") => replicas::warm_on_both_stores(&servers, num(1, 10_000)).await,
            Some("herd3") => replicas::cold_herd_over_three(&servers, num(1, 10_000)).await,
            Some(other) => {
                anyhow::bail!("unknown mode `{other}` (modes: seed N, scale N, warm N, herd3 N; none runs everything)")
            }
            None => suite(&servers, 10_000, true, 10_000).await,
        }
    })
}
