//! Complaint cases: intake + diagnose + close cycles per second against bare `Diagnose` calls in the same
//! run, and list latency over 1,000,000 complaints in PostgreSQL against a count over the same rows.
//!
//! Part 1 runs a real server on `127.0.0.1:0` over seeded SQLite backends (store: a SQLite file), every
//! call authenticated and audited, the load generator in the same process. A cycle is six calls:
//! CreateComplaint, Diagnose on it, TransitionComplaint (in progress), RecordReply, RecordReturnVisit,
//! TransitionComplaint (closed). Phases alternate (diagnose, cycle, diagnose, cycle).
//!
//! Part 2 (needs `CGW_TEST_PG_URL`) seeds `BENCH_CASES` complaints (default 1,000,000; made with the
//! intake operation, bulk-inserted, with progress) into a fresh PostgreSQL database, then measures the
//! handler's list (one region, open states, by due time, 50 a page, random pages) against a count of the
//! same region and states, each query alone, `BENCH_QUERIES` times (default 300).
//!
//!     CGW_TEST_PG_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench --bench cases
//!
//! Knobs: `BENCH_SUBSCRIBERS` (default 2000), `BENCH_SECS` (per phase, default 8), `BENCH_CONCURRENCY`
//! (default 16), `BENCH_CASES`, `BENCH_QUERIES`, `BENCH_KEEP_DB=1` (keep the seeded database). Writes
//! `BENCHMARKS.cases.md`.
use complaint_gateway::cases::model::State;
use complaint_gateway::cases::ops::{self, Intake, SubscriberFacts};
use complaint_gateway::cases::rules;
use complaint_gateway::cases::store::{CaseStore, ListFilter};
use complaint_gateway::proto::complaint::v1::complaint_service_client::ComplaintServiceClient;
use complaint_gateway::proto::complaint::v1::diagnosis_service_client::DiagnosisServiceClient;
use complaint_gateway::proto::complaint::v1::{
    ComplaintChannel, ComplaintState, CreateComplaintRequest, DiagnoseRequest, RecordReplyRequest,
    RecordReturnVisitRequest, ReturnVisitOutcome, TransitionComplaintRequest,
};
use complaint_gateway::store::Store;
use complaint_gateway::testkit;
use complaint_gateway::tools::seed::{self, Situation, CYCLE};
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic::transport::Channel;

fn env_or(k: &str, d: u64) -> u64 {
    std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d)
}

use complaint_gateway::testkit::percentile_ms as percentile;

struct Phase {
    name: &'static str,
    done: usize,
    errors: usize,
    secs: f64,
    p50_ms: f64,
    p99_ms: f64,
}

static FIRST_ERROR: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// One cycle (or one bare diagnosis, `cycle == false`) for subscriber `msisdn`; the error text if a call
/// failed.
async fn once(ch: &Channel, msisdn: &str, cycle: bool) -> Result<(), String> {
    let mut diag = DiagnosisServiceClient::new(ch.clone());
    let e = |s: tonic::Status| s.to_string();
    let mut id = String::new();
    if cycle {
        let mut cases = ComplaintServiceClient::new(ch.clone());
        id = cases
            .create_complaint(testkit::req(CreateComplaintRequest {
                msisdn: msisdn.into(),
                text: "月租扣了两次".into(),
                channel: ComplaintChannel::Hotline as i32,
                category: "billing.unexpected_charge".into(),
                complaint_id: String::new(),
            }))
            .await
            .map_err(e)?
            .into_inner()
            .detail
            .and_then(|d| d.complaint)
            .map(|c| c.complaint_id)
            .unwrap_or_default();
    }
    diag.diagnose(testkit::req(DiagnoseRequest {
        msisdn: msisdn.into(),
        text: String::new(),
        category: "billing.unexpected_charge".into(),
        answers: vec![],
        complaint_id: id.clone(),
        ..Default::default()
    }))
    .await
    .map_err(e)?;
    if !cycle {
        return Ok(());
    }
    let mut cases = ComplaintServiceClient::new(ch.clone());
    let to = |s: ComplaintState| {
        testkit::req(TransitionComplaintRequest {
            complaint_id: id.clone(),
            to_state: s as i32,
            reason: String::new(),
        })
    };
    cases
        .transition_complaint(to(ComplaintState::InProgress))
        .await
        .map_err(e)?;
    cases
        .record_reply(testkit::req(RecordReplyRequest {
            complaint_id: id.clone(),
            reply: "已退还重复扣取的月租".into(),
        }))
        .await
        .map_err(e)?;
    cases
        .record_return_visit(testkit::req(RecordReturnVisitRequest {
            complaint_id: id.clone(),
            outcome: ReturnVisitOutcome::Satisfied as i32,
            note: String::new(),
        }))
        .await
        .map_err(e)?;
    cases
        .transition_complaint(to(ComplaintState::Closed))
        .await
        .map_err(e)?;
    Ok(())
}

async fn phase(
    name: &'static str,
    cycle: bool,
    ch: &[Channel],
    numbers: Arc<Vec<String>>,
    secs: u64,
    conc: usize,
) -> Phase {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let until = started + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for t in 0..conc {
        let ch = ch[t % ch.len()].clone();
        let (numbers, next) = (numbers.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let (mut lat, mut errors) = (Vec::new(), 0usize);
            while Instant::now() < until {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let t0 = Instant::now();
                match once(&ch, &numbers[k % numbers.len()], cycle).await {
                    Ok(()) => lat.push(t0.elapsed().as_micros() as u32),
                    Err(e) => {
                        FIRST_ERROR.get_or_init(|| e);
                        errors += 1;
                    }
                }
            }
            (lat, errors)
        }));
    }
    let (mut lat, mut errors) = (Vec::new(), 0);
    for t in tasks {
        let (l, e) = t.await.expect("task");
        lat.extend(l);
        errors += e;
    }
    let secs = started.elapsed().as_secs_f64();
    lat.sort_unstable();
    Phase {
        name,
        done: lat.len(),
        errors,
        secs,
        p50_ms: percentile(&lat, 0.5),
        p99_ms: percentile(&lat, 0.99),
    }
}

/// Seeds `n` complaints made by the intake operation over 90 days in 4 cities, every eighth one moved on.
async fn seed_cases(store: &Store, n: u64) -> anyhow::Result<()> {
    let set = rules::load(&rules::embedded()).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let cases = CaseStore::new(store.clone());
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let end = complaint_gateway::store::now_us();
    let cats = complaint_gateway::classify::category_codes();
    let started = Instant::now();
    let chunk = 5_000u64;
    let mut done = 0u64;
    while done < n {
        let mut batch = Vec::new();
        for i in done..(done + chunk).min(n) {
            let region = seed::CITIES[(i % 4) as usize].0;
            let intake = Intake {
                complaint_id: format!("B-{i:08}"),
                msisdn: seed::msisdn(i % 200_000),
                channel: "hotline".into(),
                text: "bench".into(),
                category: cats[rng.random_range(0..cats.len())].to_string(),
                confidence: 1.0,
                category_source: "request".into(),
                abstained: false,
            };
            let facts = SubscriberFacts {
                region: region.into(),
                ..Default::default()
            };
            let t0 = end - rng.random_range(0..90 * 86_400i64) * 1_000_000;
            let mut chs = ops::intake(&set, &intake, &facts, None, "bench", t0);
            if i % 8 == 0 {
                let events = chs[0].events.clone();
                let op = ops::Op::Transition {
                    to: State::InProgress,
                    reason: String::new(),
                };
                let next = ops::apply(&set, &events, op, "bench", t0 + 600_000_000)?;
                chs[0].events.extend(next.events);
                chs[0].after = next.after;
                chs[0].deadlines = next.deadlines;
            }
            batch.extend(chs);
        }
        cases.insert_new(&batch).await.map_err(anyhow::Error::msg)?;
        done = (done + chunk).min(n);
        let rate = done as f64 / started.elapsed().as_secs_f64();
        eprint!(
            "\r  seeded {done}/{n} complaints, {rate:.0}/s, eta {:.0}s   ",
            (n - done) as f64 / rate
        );
    }
    eprintln!();
    Ok(())
}

async fn list_vs_count(store: &Store, queries: u64) -> anyhow::Result<(f64, f64, f64, f64)> {
    let cases = CaseStore::new(store.clone());
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let (mut list_lat, mut count_lat) = (Vec::new(), Vec::new());
    let open = vec![State::Triaged, State::InProgress];
    for q in 0..queries {
        let region = seed::CITIES[(q % 4) as usize].0.to_string();
        // A random page: start after a random due time.
        let after = rng.random_range(0..90 * 86_400i64) * 1_000_000 + complaint_gateway::store::now_us()
            - 80 * 86_400 * 1_000_000;
        let f = ListFilter {
            states: open.clone(),
            regions: Some(vec![region.clone()]),
            after: Some((after, String::new())),
            limit: 50,
            now_us: complaint_gateway::store::now_us(),
            ..Default::default()
        };
        let t0 = Instant::now();
        let (rows, _) = cases.list(&f).await.map_err(anyhow::Error::msg)?;
        list_lat.push(t0.elapsed().as_micros() as u32);
        anyhow::ensure!(!rows.is_empty() || q > 0, "the list returned nothing");
        let t0 = Instant::now();
        let n = cases.count(&f).await.map_err(anyhow::Error::msg)?;
        count_lat.push(t0.elapsed().as_micros() as u32);
        anyhow::ensure!(n > 0, "the count found nothing");
    }
    list_lat.sort_unstable();
    count_lat.sort_unstable();
    Ok((
        percentile(&list_lat, 0.5),
        percentile(&list_lat, 0.99),
        percentile(&count_lat, 0.5),
        percentile(&count_lat, 0.99),
    ))
}

async fn run() -> anyhow::Result<()> {
    let subscribers = env_or("BENCH_SUBSCRIBERS", 2_000);
    let secs = env_or("BENCH_SECS", 8);
    let conc = env_or("BENCH_CONCURRENCY", 16) as usize;
    let mut md = String::from("# Complaint cases: benchmarks\n\n");
    md.push_str("Machine: 2 cores (shared with other work), date 2026-12-02. Command:\n\n");
    md.push_str("    CGW_TEST_PG_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench --bench cases\n\n");

    // Part 1: cycles against bare diagnoses.
    let dir = tempfile::tempdir()?;
    let urls = testkit::sqlite_urls(dir.path());
    eprintln!("seeding {subscribers} subscribers…");
    testkit::seed(&urls, subscribers).await?;
    let mut cfg = testkit::config(&urls);
    cfg.store.url = format!("sqlite://{}", dir.path().join("gateway.db").display());
    cfg.log.level = "warn".into();
    cfg.auth.rate_limit_per_minute = 0;
    cfg.diagnosis.reload_interval_ms = 0;
    cfg.cases.reload_interval_ms = 0;
    let server = testkit::spawn(cfg).await?;
    let mut channels = Vec::new();
    for _ in 0..4 {
        let mut ch = None;
        for _ in 0..50 {
            if let Ok(c) = Channel::from_shared(server.url())?.connect().await {
                ch = Some(c);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        channels.push(ch.ok_or_else(|| anyhow::anyhow!("the server did not come up"))?);
    }
    let first = Situation::DuplicateMonthlyFee.first_index();
    let numbers: Arc<Vec<String>> = Arc::new(
        (0..)
            .map(|k| first + k * CYCLE)
            .take_while(|i| *i < subscribers)
            .map(seed::msisdn)
            .collect(),
    );
    // Warm the cache and the classifier-free path once.
    once(&channels[0], &numbers[0], true)
        .await
        .map_err(anyhow::Error::msg)?;
    let mut phases = Vec::new();
    for _ in 0..2 {
        phases.push(phase("bare Diagnose", false, &channels, numbers.clone(), secs, conc).await);
        phases.push(
            phase(
                "intake+diagnose+close cycle",
                true,
                &channels,
                numbers.clone(),
                secs,
                conc,
            )
            .await,
        );
    }
    md.push_str(&format!(
        "## Intake + diagnose + close\n\n{conc} in flight, {} subscribers of one situation (their views warm \
         in the cache), store SQLite (WAL, synchronous=FULL), every call authenticated and audited. A cycle is \
         six calls (CreateComplaint, Diagnose on it, in progress, RecordReply, RecordReturnVisit, closed).\n\n\
         | phase | per second | p50 ms | p99 ms | errors |\n| --- | --- | --- | --- | --- |\n",
        numbers.len()
    ));
    for p in &phases {
        md.push_str(&format!(
            "| {} | {:.1} | {:.1} | {:.1} | {} |\n",
            p.name,
            p.done as f64 / p.secs,
            p.p50_ms,
            p.p99_ms,
            p.errors
        ));
    }
    let rate = |name: &str| {
        let ps: Vec<&Phase> = phases.iter().filter(|p| p.name == name).collect();
        ps.iter().map(|p| p.done as f64).sum::<f64>() / ps.iter().map(|p| p.secs).sum::<f64>()
    };
    let (d, c) = (rate("bare Diagnose"), rate("intake+diagnose+close cycle"));
    md.push_str(&format!(
        "\nCycles per second / bare diagnoses per second in this run: **{:.3}** ({c:.1} / {d:.1}); a cycle makes \
         six calls with six audit commits against one.\n",
        c / d
    ));
    if let Some(e) = FIRST_ERROR.get() {
        md.push_str(&format!("\nFirst error: `{e}`\n"));
    }
    server.stop().await;

    // Part 2: list p99 over 1,000,000 complaints in PostgreSQL.
    match std::env::var("CGW_TEST_PG_URL") {
        Ok(admin) if !admin.is_empty() => {
            let n = env_or("BENCH_CASES", 1_000_000);
            let queries = env_or("BENCH_QUERIES", 300);
            let db = testkit::TestDatabase::create(&admin, "benchcases").await?;
            let store = Store::connect(&db.url, 4).await?;
            eprintln!("seeding {n} complaints into PostgreSQL…");
            let t0 = Instant::now();
            seed_cases(&store, n).await?;
            let seeded = t0.elapsed().as_secs_f64();
            sqlx::query("ANALYZE").execute(store.pool()).await?;
            let (l50, l99, c50, c99) = list_vs_count(&store, queries).await?;
            md.push_str(&format!(
                "\n## List over {n} complaints (PostgreSQL)\n\nSeeded in {seeded:.0} s through the intake \
                 operation, bulk-inserted. {queries} queries of each kind, one at a time: a handler's list (one \
                 region of four, triaged or in progress, by due time, 50 a page from a random due time) against a \
                 count of the same region and states.\n\n| query | p50 ms | p99 ms |\n| --- | --- | --- |\n\
                 | list (page of 50) | {l50:.2} | {l99:.2} |\n| count, same filter (baseline) | {c50:.2} | {c99:.2} |\n\n\
                 List p99 / count p99: **{:.3}**.\n",
                l99 / c99
            ));
            store.close().await;
            if std::env::var("BENCH_KEEP_DB").as_deref() != Ok("1") {
                db.drop_db().await;
            }
        }
        _ => md.push_str("\n## List over 1,000,000 complaints\n\nNot run: set CGW_TEST_PG_URL.\n"),
    }
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.cases.md");
    std::fs::write(&out, &md)?;
    println!("{md}");
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(run())
}
