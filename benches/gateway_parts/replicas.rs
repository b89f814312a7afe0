//! Benches for several gateways as one (`cargo bench --bench gateway -- warm` and `-- herd3`):
//!
//! - `warm [N]`: the warm GetSubscriberView (audit on, every call authenticated and audited) against the
//!   same server's health check and a bare tonic echo, in one run, on a SQLite file store and on a
//!   PostgreSQL store;
//! - `herd3 [N]`: 1,000 callers on one cold subscriber spread over three replicas on one PostgreSQL store,
//!   with the shared tier in Redis (`CGW_BENCH_REDIS_URL`, else `CGW_TEST_REDIS_URL`, else
//!   redis://127.0.0.1:6379) against the same three replicas without it.
use super::*;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

type Health = HealthClient<Channel>;

async fn health_clients(url: &str) -> anyhow::Result<Vec<Health>> {
    let mut out = Vec::new();
    for _ in 0..CONNECTIONS {
        let ch = tonic::transport::Endpoint::from_shared(url.to_string())?
            .connect()
            .await?;
        out.push(HealthClient::new(ch));
    }
    Ok(out)
}

async fn audit_rows(gw: &Gateway) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM audit_events")
        .fetch_one(gw.server.gateway.identity.store.pool())
        .await
        .unwrap_or(-1)
}

/// The audit writer's totals so far, from the process's metrics: transactions, events, seconds committing.
fn audit_totals() -> (f64, f64, f64) {
    let text = complaint_gateway::metrics::install().render();
    let value = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse::<f64>().ok()))
            .unwrap_or(0.0)
    };
    (
        value("cgw_audit_batch_events_count "),
        value("cgw_audit_batch_events_sum "),
        value("cgw_audit_commit_seconds_sum "),
    )
}

/// One store's row: warm view, health and echo in the same run (the second of two rounds).
async fn measure(store: &str, gw: &Gateway, n: u64, out: &mut Vec<String>) -> anyhow::Result<()> {
    eprintln!("- warm view vs health check and echo, {store}");
    let numbers = Arc::new(spread(n, 1_000, 0));
    let url = gw.server.url();
    let cs = clients(&url).await?;
    let hs = health_clients(&url).await?;
    let mut c = cs[0].clone();
    let sample = c
        .get_subscriber_view(view_req(numbers[1].clone(), false))
        .await?
        .into_inner();
    let size = sample.encoded_len();
    let ecs = clients(&start_echo(sample).await?).await?;
    let dur = Duration::from_secs(4);
    for round in 0..2 {
        let nums = numbers.clone();
        closed_loop(&cs, Duration::from_secs(30), nums.len(), move |mut c, i| {
            let m = nums[i].clone();
            async move { c.get_subscriber_view(view_req(m, true)).await.is_ok() }
        })
        .await;
        let (fetched_before, audited_before) = (gw.counts(), audit_rows(gw).await);
        let batches_before = audit_totals();
        let nums = numbers.clone();
        let g = closed_loop(&cs, dur, usize::MAX, move |mut c, i| {
            let m = nums[i % nums.len()].clone();
            async move { c.get_subscriber_view(view_req(m, false)).await.is_ok() }
        })
        .await;
        let fetched = delta(&gw.counts(), &fetched_before);
        let audited = audit_rows(gw).await - audited_before;
        let (b1, b0) = (audit_totals(), batches_before);
        let (txs, events, secs) = (b1.0 - b0.0, b1.1 - b0.1, b1.2 - b0.2);
        let batches = format!(
            "{txs:.0} audit transactions, {:.1} events and {:.2} ms each",
            events / txs.max(1.0),
            secs * 1e3 / txs.max(1.0)
        );
        let h = closed_loop(&hs, dur, usize::MAX, |mut c, _| async move {
            c.check(HealthCheckRequest { service: String::new() }).await.is_ok()
        })
        .await;
        let nums = numbers.clone();
        let e = closed_loop(&ecs, dur, usize::MAX, move |mut c, i| {
            let m = nums[i % nums.len()].clone();
            async move { c.get_subscriber_view(view_req(m, false)).await.is_ok() }
        })
        .await;
        if round == 1 {
            out.push(format!(
                "| warm view, {store}, {CONCURRENCY} callers, {CONNECTIONS} connections, response {size} B | {:.0}/s, p50 {}, p99 {} ({} errors; audit events committed {audited} for {} calls in {batches}; backend fetches: {fetched}) | health check, same server: {:.0}/s, p50 {}, p99 {}; echo: {:.0}/s, p50 {}, p99 {} | {:.2}× health (target ≥ 0.5×), p99 {:.2}× health (target ≤ 2×); {:.2}× echo, p99 {:.2}× echo |",
                g.rps(), ms(g.p50), ms(g.p99), g.errors, g.n,
                h.rps(), ms(h.p50), ms(h.p99),
                e.rps(), ms(e.p50), ms(e.p99),
                g.rps() / h.rps(), g.p99.as_secs_f64() / h.p99.as_secs_f64(),
                g.rps() / e.rps(), g.p99.as_secs_f64() / e.p99.as_secs_f64(),
            ));
        }
    }
    Ok(())
}

pub async fn warm_on_both_stores(servers: &Servers, n: u64) -> anyhow::Result<()> {
    let backends = servers.backends(n).await?;
    ensure_seeded(&backends, n).await?;
    let mut out = Vec::new();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    let file = dir.join(format!("store-warm-{}.db", std::process::id()));
    {
        let url = format!("sqlite://{}", file.display());
        let gw = Gateway::start_on(&backends, 256, Some(url), |_| {}).await?;
        measure("SQLite file store", &gw, n, &mut out).await?;
    }
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
    }
    let db = testkit::TestDatabase::create(&servers.pg_admin, "benchstore").await?;
    {
        let gw = Gateway::start_on(&backends, 256, Some(db.url.clone()), |_| {}).await?;
        measure("PostgreSQL store", &gw, n, &mut out).await?;
    }
    db.drop_db().await;
    header(n);
    for l in out {
        println!("{l}");
    }
    Ok(())
}

fn redis_url() -> String {
    std::env::var("CGW_BENCH_REDIS_URL")
        .or_else(|_| std::env::var("CGW_TEST_REDIS_URL"))
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// 1,000 callers at once on one cold subscriber, spread over `gws`: backend fetches per source (summed over
/// the replicas) and latencies.
async fn herd_over(gws: &[Gateway], number: &str) -> anyhow::Result<(String, Stats)> {
    let mut cs = Vec::new();
    for g in gws {
        cs.push(clients(&g.server.url()).await?);
    }
    let sum = || {
        let mut all = BTreeMap::new();
        for g in gws {
            for (k, v) in g.counts() {
                *all.entry(k).or_insert(0) += v;
            }
        }
        all
    };
    let before = sum();
    let gate = Arc::new(tokio::sync::Barrier::new(1_000));
    let mut tasks = Vec::new();
    for i in 0..1_000 {
        let mut c = cs[i % cs.len()][(i / cs.len()) % CONNECTIONS].clone();
        let gate = gate.clone();
        let m = number.to_string();
        tasks.push(tokio::spawn(async move {
            gate.wait().await;
            let t0 = Instant::now();
            let ok = c.get_subscriber_view(view_req(m, false)).await.is_ok();
            (t0.elapsed(), ok)
        }));
    }
    let mut lat = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (d, ok) = t.await?;
        if ok {
            lat.push(d);
        } else {
            errors += 1;
        }
    }
    Ok((delta(&sum(), &before), stats(lat, errors, Duration::ZERO)))
}

pub async fn cold_herd_over_three(servers: &Servers, n: u64) -> anyhow::Result<()> {
    let backends = servers.backends(n).await?;
    ensure_seeded(&backends, n).await?;
    let db = testkit::TestDatabase::create(&servers.pg_admin, "benchherd").await?;
    let prefix = format!("cgwbench:{}:{}:", std::process::id(), crate_now_us());
    let mut rows = Vec::new();
    for (label, shared, idx) in [
        ("three replicas, shared tier in Redis", true, n / 5),
        ("the same three replicas, each alone (baseline)", false, n / 5 + 1),
    ] {
        eprintln!("- cold herd over three replicas: {label}");
        let mut gws = Vec::new();
        for _ in 0..3 {
            let url = db.url.clone();
            let prefix = prefix.clone();
            gws.push(
                Gateway::start_on(&backends, 256, Some(url), move |cfg| {
                    if shared {
                        cfg.redis.url = Some(redis_url());
                        cfg.redis.key_prefix = prefix.clone();
                    }
                })
                .await?,
            );
        }
        let (fetched, st) = herd_over(&gws, &seed::msisdn(idx.max(1))).await?;
        rows.push(format!(
            "| herd of 1,000 on one cold subscriber at {n}, {label} | backend fetches per source (all replicas): {fetched} | p50 {}, p99 {}; {} errors | |",
            ms(st.p50),
            ms(st.p99),
            st.errors
        ));
        for g in gws {
            g.server.stop().await;
        }
    }
    db.drop_db().await;
    header(n);
    for l in rows {
        println!("{l}");
    }
    Ok(())
}

fn crate_now_us() -> i64 {
    complaint_gateway::store::now_us()
}
