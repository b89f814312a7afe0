//! Diagnoses per second with warm data, against the warm view alone (`GetSubscriberView`) in the same run.
//!
//! A real server on `127.0.0.1:0` over seeded SQLite backends, the view cache on, every call authenticated
//! and audited; the load generator runs in the same process. Phases alternate (view, diagnose, view,
//! diagnose) over the same subscribers so drift shows; the ratio compares the two in this run.
//!
//!     cargo bench --bench diagnosis
//!
//! Knobs (environment): `BENCH_SUBSCRIBERS` (seeded, default 2000), `BENCH_SECS` (per phase, default 8),
//! `BENCH_CONCURRENCY` (levels of calls in flight, default `32,128`), `BENCH_RECORDS=0` (no complaint
//! records), `BENCH_ONLY=view|diagnose` (one kind of phase, e.g. under a profiler). Writes
//! `BENCHMARKS.diagnosis.md`.
use complaint_gateway::diagnosis::{DiagnoseInput, Engine};
use complaint_gateway::proto::complaint::v1::complaint_data_service_client::ComplaintDataServiceClient;
use complaint_gateway::proto::complaint::v1::diagnosis_service_client::DiagnosisServiceClient;
use complaint_gateway::proto::complaint::v1::{Answer, DiagnoseRequest, DiagnosisOutcome, GetSubscriberViewRequest};
use complaint_gateway::testkit;
use complaint_gateway::tools::seed::{self, Situation};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic::transport::Channel;

fn env_or(k: &str, d: u64) -> u64 {
    std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d)
}

/// A complaint that fits the subscriber's situation (category and, where a scenario asks, the answer).
fn complaint_for(s: Situation) -> (&'static str, &'static [(&'static str, &'static str)]) {
    use Situation::*;
    match s {
        VasNoConsent => ("vas.unsolicited_subscription", &[]),
        VasConsented => ("vas.unsolicited_subscription", &[("recalls_consent", "no")]),
        PaidStillSuspended | SuspendedForRealName | SuspendedArrears => ("service.suspension", &[]),
        PendingPlanChange | PlanChangeRejected => ("plan.change_issue", &[]),
        RoamingNoPack => ("roaming.charges", &[("bought_pack", "no")]),
        CellOutage | TerminalNot5g => ("network.mobile_coverage", &[]),
        BroadbandAlarm | BroadbandInstallDelayed => ("network.broadband_fault", &[]),
        TopupPending | TopupPendingOverdue | TopupFailed | DoublePayment => ("payment.topup_not_credited", &[]),
        PortOutRejected => ("portability.blocked", &[]),
        DataOverage | DataBilledEarly => ("billing.data_overage", &[]),
        DuplicateMonthlyFee | VoiceOverage => ("billing.unexpected_charge", &[]),
        MarketingAfterOptOut | MarketingFrequent | MarketingThirdParty => ("marketing.harassment", &[]),
        CancelledStillBilled | SmsAndInternational => ("billing.unexpected_charge", &[]),
        RefundIssued | PaymentWrongNumber => ("payment.topup_not_credited", &[("has_receipt", "yes")]),
        SimReplaced => ("network.mobile_coverage", &[("weak_where", "indoor")]),
        Normal => ("network.mobile_coverage", &[("weak_where", "indoor")]),
    }
}

struct Phase {
    name: &'static str,
    calls: usize,
    errors: usize,
    secs: f64,
    p50_ms: f64,
    p99_ms: f64,
}

impl Phase {
    fn rate(&self) -> f64 {
        self.calls as f64 / self.secs
    }
}

use complaint_gateway::testkit::percentile_ms as percentile;

#[derive(Clone, Copy)]
enum Kind {
    View,
    Diagnose,
}

/// The first failed call's status, for the report.
static FIRST_ERROR: std::sync::OnceLock<String> = std::sync::OnceLock::new();

async fn phase(
    name: &'static str,
    kind: Kind,
    channels: &[Channel],
    numbers: Arc<Vec<(String, Situation)>>,
    secs: u64,
    concurrency: usize,
) -> Phase {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let until = started + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for t in 0..concurrency {
        let ch = channels[t % channels.len()].clone();
        let numbers = numbers.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let first_error = &FIRST_ERROR;
            let mut view = ComplaintDataServiceClient::new(ch.clone());
            let mut diag = DiagnosisServiceClient::new(ch);
            let mut lat: Vec<u32> = Vec::new();
            let mut errors = 0usize;
            while Instant::now() < until {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let (msisdn, situation) = &numbers[k % numbers.len()];
                let t0 = Instant::now();
                let ok = match kind {
                    Kind::View => view
                        .get_subscriber_view(testkit::req(GetSubscriberViewRequest {
                            msisdn: msisdn.clone(),
                            ..Default::default()
                        }))
                        .await
                        .map_err(|e| first_error.get_or_init(|| e.to_string()))
                        .is_ok(),
                    Kind::Diagnose => {
                        let (category, answers) = complaint_for(*situation);
                        diag.diagnose(testkit::req(DiagnoseRequest {
                            msisdn: msisdn.clone(),
                            text: String::new(),
                            category: category.into(),
                            answers: answers
                                .iter()
                                .map(|(q, v)| Answer {
                                    question_id: q.to_string(),
                                    value: v.to_string(),
                                })
                                .collect(),
                            complaint_id: format!("B-{name}-{k}"),
                            dry_run: false,
                            now: None,
                        }))
                        .await
                        .map_err(|e| first_error.get_or_init(|| e.to_string()))
                        .map(|r| r.into_inner().outcome() != DiagnosisOutcome::Unspecified)
                        .unwrap_or(false)
                    }
                };
                if ok {
                    lat.push(t0.elapsed().as_micros().min(u32::MAX as u128) as u32);
                } else {
                    errors += 1;
                }
            }
            (lat, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.expect("load task");
        all.extend(l);
        errors += e;
    }
    let secs = started.elapsed().as_secs_f64();
    all.sort_unstable();
    Phase {
        name,
        calls: all.len(),
        errors,
        secs,
        p50_ms: percentile(&all, 0.50),
        p99_ms: percentile(&all, 0.99),
    }
}

/// Runs `Engine::diagnose` over `views` on one thread per core for `secs`.
fn engine_only(
    views: Arc<Vec<(complaint_gateway::proto::complaint::v1::SubscriberView, Situation)>>,
    secs: u64,
) -> anyhow::Result<Phase> {
    let engine = Arc::new(Engine::load(
        complaint_gateway::diagnosis::default_dir(),
        Some(chrono::DateTime::parse_from_rfc3339("2026-11-28T10:00:00+08:00")?),
    )?);
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let started = Instant::now();
    let until = started + Duration::from_secs(secs);
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (engine, views) = (engine.clone(), views.clone());
            std::thread::spawn(move || -> anyhow::Result<Vec<u32>> {
                let mut lat = Vec::new();
                let mut k = t;
                while Instant::now() < until {
                    let (view, situation) = &views[k % views.len()];
                    k += threads;
                    let (category, answers) = complaint_for(*situation);
                    let set = engine.scenarios();
                    let answers: Vec<(String, String)> =
                        answers.iter().map(|(q, v)| (q.to_string(), v.to_string())).collect();
                    let input = DiagnoseInput {
                        category: category.into(),
                        answers: Engine::check_answers(&set, &answers)?,
                        complaint_id: format!("E-{k}"),
                        msisdn: view.msisdn.clone(),
                        now: None,
                        text: String::new(),
                    };
                    let t0 = Instant::now();
                    let d = engine.diagnose(set, &input, view)?;
                    anyhow::ensure!(d.chosen.is_some(), "no scenario chosen for {}", view.msisdn);
                    lat.push(t0.elapsed().as_micros().min(u32::MAX as u128) as u32);
                }
                Ok(lat)
            })
        })
        .collect();
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.join().map_err(|_| anyhow::anyhow!("engine thread panicked"))??);
    }
    let secs = started.elapsed().as_secs_f64();
    all.sort_unstable();
    Ok(Phase {
        name: "engine only",
        calls: all.len(),
        errors: 0,
        secs,
        p50_ms: percentile(&all, 0.50),
        p99_ms: percentile(&all, 0.99),
    })
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let subscribers = env_or("BENCH_SUBSCRIBERS", 2_000);
    let secs = env_or("BENCH_SECS", 8);
    let levels: Vec<usize> = std::env::var("BENCH_CONCURRENCY")
        .unwrap_or_else(|_| "32,128".into())
        .split(',')
        .filter_map(|c| c.trim().parse().ok())
        .collect();
    anyhow::ensure!(
        !levels.is_empty(),
        "BENCH_CONCURRENCY: comma-separated numbers, e.g. 32,128"
    );
    let dir = tempfile::tempdir()?;
    let urls = testkit::sqlite_urls(dir.path());
    testkit::seed(&urls, subscribers).await?;
    let mut cfg = testkit::config(&urls);
    cfg.diagnosis.now = Some(chrono::DateTime::parse_from_rfc3339("2026-11-28T10:00:00+08:00")?);
    cfg.diagnosis.reload_interval_ms = 0;
    // BENCH_RECORDS=0 leaves complaint records out, to see what they cost.
    cfg.diagnosis.record_complaints = env_or("BENCH_RECORDS", 1) != 0;
    cfg.store.url = format!("sqlite://{}", dir.path().join("gateway.db").display());
    cfg.log.level = "warn".into();
    // One test caller makes every call: its per-caller rate limit would measure the limiter, not the path.
    cfg.auth.rate_limit_per_minute = 0;
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
        channels.push(ch.ok_or_else(|| anyhow::anyhow!("server did not come up"))?);
    }
    // 400 subscribers of every situation, all warm in the view cache before measuring.
    let numbers: Arc<Vec<(String, Situation)>> = Arc::new(
        (0..subscribers.min(400))
            .map(|i| (seed::msisdn(i), Situation::of(i)))
            .collect(),
    );
    let warm = phase("warm-up", Kind::Diagnose, &channels, numbers.clone(), 2, levels[0]).await;
    anyhow::ensure!(
        warm.errors == 0,
        "{} diagnoses failed while warming up, e.g. {}",
        warm.errors,
        FIRST_ERROR.get().map(String::as_str).unwrap_or("")
    );

    // At each level of calls in flight, alternate view and diagnose twice, so drift shows.
    let mut phases = Vec::new();
    for &c in &levels {
        for round in 1..=2 {
            for kind in [Kind::View, Kind::Diagnose] {
                let name = match kind {
                    Kind::View => "view",
                    Kind::Diagnose => "diagnose",
                };
                if std::env::var("BENCH_ONLY").is_ok_and(|only| only != name) {
                    continue;
                }
                let p = phase(name, kind, &channels, numbers.clone(), secs, c).await;
                eprintln!(
                    "{name}-{round} at {c}: {:.0}/s p50 {:.2} ms p99 {:.2} ms ({} errors)",
                    p.rate(),
                    p.p50_ms,
                    p.p99_ms,
                    p.errors
                );
                phases.push((c, round, p));
            }
        }
    }
    // The diagnosis logic alone (view → CEL, every scenario of the category, reply and actions), over the
    // same subscribers' views read once through the server, on one thread per core.
    let mut views = Vec::new();
    {
        let mut c = ComplaintDataServiceClient::new(channels[0].clone());
        for (msisdn, situation) in numbers.iter() {
            let v = c
                .get_subscriber_view(testkit::req(GetSubscriberViewRequest {
                    msisdn: msisdn.clone(),
                    ..Default::default()
                }))
                .await?
                .into_inner()
                .view
                .ok_or_else(|| anyhow::anyhow!("no view"))?;
            views.push((v, *situation));
        }
    }
    server.stop().await;
    let engine_phase = engine_only(Arc::new(views), secs)?;
    eprintln!(
        "{}: {:.0}/s p50 {:.3} ms p99 {:.3} ms",
        engine_phase.name,
        engine_phase.rate(),
        engine_phase.p50_ms,
        engine_phase.p99_ms
    );
    let errors: usize = phases.iter().map(|(_, _, p)| p.errors).sum();
    anyhow::ensure!(
        errors == 0,
        "{errors} calls failed, e.g. {}",
        FIRST_ERROR.get().map(String::as_str).unwrap_or("")
    );

    // Per level: both rounds together; p99 the worse of the two.
    let sum = |c: usize, name: &str| -> (f64, f64) {
        let ps: Vec<&Phase> = phases
            .iter()
            .filter(|(l, _, p)| *l == c && p.name == name)
            .map(|(_, _, p)| p)
            .collect();
        let calls: usize = ps.iter().map(|p| p.calls).sum();
        let secs: f64 = ps.iter().map(|p| p.secs).sum();
        let p99 = ps.iter().map(|p| p.p99_ms).fold(0.0, f64::max);
        (calls as f64 / secs, p99)
    };
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mut md = String::new();
    md.push_str("# Diagnosis throughput\n\n");
    md.push_str(&format!(
        "- Command: `cargo bench --bench diagnosis` (BENCH_SUBSCRIBERS={subscribers}, BENCH_SECS={secs} per phase, \
         BENCH_CONCURRENCY={})\n",
        levels.iter().map(|l| l.to_string()).collect::<Vec<_>>().join(",")
    ));
    md.push_str(&format!("- Machine: {cores} cores ({}), release build\n", cpu_model()));
    md.push_str(&format!(
        "- Date: {}\n",
        chrono::Local::now().format("%Y-%m-%d %H:%M %z")
    ));
    md.push_str(
        "- Setup: one server on 127.0.0.1 over seeded SQLite backends (view cache on, warmed), JWT-authenticated and \
         audited calls (audit and complaint records in a SQLite store, committed before each answer); the load \
         generator runs in the same process and shares the cores. 400 subscribers of every situation, in turn; \
         each Diagnose names its category (and answers, where a scenario asks), so the classifier is not \
         measured. Phases alternate view / diagnose twice at each level of calls in flight.\n\n",
    );
    md.push_str(
        "| in flight | phase | calls | errors | calls/s | p50 ms | p99 ms |\n|---:|---|---:|---:|---:|---:|---:|\n",
    );
    for (c, round, p) in &phases {
        md.push_str(&format!(
            "| {c} | {}-{round} | {} | {} | {:.0} | {:.2} | {:.2} |\n",
            p.name,
            p.calls,
            p.errors,
            p.rate(),
            p.p50_ms,
            p.p99_ms
        ));
    }
    md.push_str(&format!(
        "| – | engine only | {} | 0 | {:.0} | {:.3} | {:.3} |\n\n",
        engine_phase.calls,
        engine_phase.rate(),
        engine_phase.p50_ms,
        engine_phase.p99_ms
    ));
    for &c in &levels {
        let (view_rate, view_p99) = sum(c, "view");
        let (diag_rate, diag_p99) = sum(c, "diagnose");
        md.push_str(&format!(
            "- **{c} in flight: Diagnose {diag_rate:.0}/s, p99 {diag_p99:.2} ms; warm view alone {view_rate:.0}/s, p99 \
             {view_p99:.2} ms; ratio {:.2}**\n",
            diag_rate / view_rate
        ));
    }
    md.push_str(&format!(
        "- The diagnosis logic alone (`engine only`: view → CEL value, every scenario of the category, reply and \
         actions; no network, no store), one thread per core: **{:.0}/s**, p99 {:.3} ms.\n- Target: ≥ 2,000 \
         diagnoses/s.\n",
        engine_phase.rate(),
        engine_phase.p99_ms
    ));
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.diagnosis.md");
    // This run's section replaces the first one; the sections after it (the evaluation set) stay.
    let rest = std::fs::read_to_string(&out)
        .ok()
        .and_then(|old| old.match_indices("\n# ").next().map(|(i, _)| old[i..].to_string()))
        .unwrap_or_default();
    std::fs::write(&out, format!("{md}{rest}"))?;
    println!("{md}");
    eprintln!("written to {}", out.display());
    Ok(())
}
