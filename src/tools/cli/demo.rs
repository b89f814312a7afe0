//! `complaint-gateway demo` and `complaint-gateway seed`: the demo backends, seeded and served.
//!
//! `demo` seeds three SQLite backends in its data folder (first run, or `--reset`), registers the demo
//! identities in a store there, writes `gateway.toml` beside them (relative paths, so the folder can be
//! moved) and serves that file exactly as `serve --config` would: what the demo runs, an operator can run.
use crate::config::Config;
use crate::tools::demo::{self, Banner};
use crate::tools::seed::{self, load};
use anyhow::Context;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// `complaint-gateway demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// gRPC listen address (port 0: any free port, printed once listening). Written to the demo's
    /// `gateway.toml`, which is then served as `serve` would: `CGW_LISTEN`, if set, wins.
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    /// Where the backends, the store, the signing key and `gateway.toml` go.
    #[arg(long, default_value = "demo-data")]
    pub data_dir: PathBuf,
    #[arg(long, default_value_t = 10_000)]
    pub subscribers: u64,
    /// Re-create the backends even if they exist.
    #[arg(long)]
    pub reset: bool,
    /// A folder of adapter folders (`billing/`, `crm/`, `resource/`); default: the ones embedded in the
    /// binary.
    #[arg(long)]
    pub adapters: Option<PathBuf>,
    /// A scenario folder (hot-reloaded); default: the scenarios embedded in the binary.
    #[arg(long)]
    pub scenarios: Option<PathBuf>,
    /// The web console's address (http://ADDR/; port 0: any free port). Its sign-in page lists the demo
    /// identities.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub console_listen: SocketAddr,
    /// Serve Prometheus metrics at http://ADDR/metrics.
    #[arg(long)]
    pub metrics_listen: Option<SocketAddr>,
    /// Complaints in the seeded complaint history (first run, or `--reset`); 0: none.
    #[arg(long, default_value_t = 20_000)]
    pub history_complaints: u64,
    /// Days of complaint history, ending now.
    #[arg(long, default_value_t = 90)]
    pub history_days: i64,
    /// Serve this many replicas of the gateway on one store and one Redis, on consecutive ports from
    /// `--listen` (put a load balancer in front: docs/deploy.md). More than one needs Redis.
    #[arg(long, default_value_t = 1)]
    pub replicas: u16,
    /// The Redis the replicas share (written to `gateway.toml` as `[redis] url` when `--replicas` > 1).
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,
}

/// `complaint-gateway seed`.
#[derive(Debug, clap::Args)]
pub struct SeedArgs {
    #[arg(long, env = "CGW_BILLING_URL")]
    pub billing_url: Option<String>,
    #[arg(long, env = "CGW_CRM_URL")]
    pub crm_url: Option<String>,
    #[arg(long, env = "CGW_RESOURCE_URL")]
    pub resource_url: Option<String>,
    #[arg(long, default_value_t = 10_000)]
    pub subscribers: u64,
    /// The date the data is as of (YYYY-MM-DD); default today.
    #[arg(long)]
    pub as_of: Option<chrono::NaiveDate>,
    /// Drop the demo tables first.
    #[arg(long)]
    pub reset: bool,
}

/// The name of the configuration file the demo writes in its data folder.
pub const CONFIG_FILE: &str = "gateway.toml";

/// Loads the demo data into the databases named.
pub async fn seed(args: SeedArgs) -> anyhow::Result<()> {
    let as_of = args.as_of.unwrap_or_else(|| chrono::Local::now().date_naive());
    let opts = seed::SeedOptions::new(args.subscribers, as_of);
    let mut targets = Vec::new();
    for (system, url) in load::System::ALL
        .into_iter()
        .zip([args.billing_url, args.crm_url, args.resource_url])
    {
        if let Some(url) = url {
            targets.push(load::Target::connect(system, &url).await?);
        }
    }
    if targets.is_empty() {
        anyhow::bail!("give at least one of --billing-url, --crm-url, --resource-url");
    }
    seed_targets(targets, &opts, args.reset).await
}

/// Seeds (or reuses) the demo backends, writes the demo's `gateway.toml` and serves it until Ctrl-C.
pub async fn demo(args: DemoArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data_dir).with_context(|| format!("creating {}", args.data_dir.display()))?;
    let data_dir = args.data_dir.canonicalize()?;
    let (seeded, as_of) = seed_backends(&data_dir, args.subscribers, args.reset).await?;
    let key_file = demo::prepare_key(&data_dir)?;
    let config_path = data_dir.join(CONFIG_FILE);
    write_config(&config_path, &args, as_of)?;
    // From here on the demo is `serve --config demo-data/gateway.toml`.
    let cfg = Config::load(&config_path)?;
    if args.reset {
        // The complaint history is append-only: starting over means a new store.
        for f in ["gateway.db", "gateway.db-wal", "gateway.db-shm"] {
            let _ = std::fs::remove_file(data_dir.join(f));
        }
    }
    let store = crate::store::Store::open(&cfg.store).await?;
    demo::register(&store).await?;
    if args.history_complaints > 0 {
        seed_history(&cfg, &store, seeded, &args).await?;
    }
    store.close().await;
    let env = |k: &str| std::env::var(k).ok();
    let tokens = demo::city_tokens(&cfg.auth, &env, 8 * 3600).map_err(anyhow::Error::msg)?;
    let banner = Banner {
        config_path,
        key_file,
        adapters: match &args.adapters {
            Some(d) => d.display().to_string(),
            None => format!(
                "the embedded adapters ({})",
                crate::assets::Folder::embedded_adapter_names().join(", ")
            ),
        },
        scenarios: match &cfg.diagnosis.scenarios_dir {
            Some(d) => d.display().to_string(),
            None => crate::diagnosis::default_dir().describe(),
        },
        tokens,
        examples: demo::examples_with_cities(seeded),
    };
    if args.replicas <= 1 {
        return crate::server::run(cfg, move |addr, console| {
            println!();
            for line in banner.lines(addr, console) {
                println!("{line}");
            }
        })
        .await;
    }
    // Several replicas in this process, each a whole gateway (its own cache, stacks, audit writer and
    // limits) sharing the store and Redis, as separate processes behind a load balancer would.
    let mut replicas = Vec::new();
    for i in 0..args.replicas {
        let mut c = cfg.clone();
        if c.server.listen.port() != 0 {
            c.server.listen.set_port(c.server.listen.port() + i);
        }
        if i > 0 {
            // One metrics endpoint shows every replica's series (one process, one recorder); the first
            // replica serves the console.
            c.admin.metrics_listen = None;
            c.console.listen = None;
        }
        let banner = (i == 0).then(|| banner.clone());
        replicas.push(crate::server::run(c, move |addr, console| match banner {
            Some(b) => {
                println!();
                for line in b.lines(addr, console) {
                    println!("{line}");
                }
                println!("replica 1 of {} listening on {addr}", args.replicas);
            }
            None => println!("replica {} of {} listening on {addr}", i + 1, args.replicas),
        }));
    }
    futures::future::try_join_all(replicas).await.map(|_| ())
}

/// Seeds the complaint history (see `tools::history`) unless the store already holds complaints.
async fn seed_history(
    cfg: &Config,
    store: &crate::store::Store,
    subscribers: u64,
    args: &DemoArgs,
) -> anyhow::Result<()> {
    let existing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM complaint_cases")
        .fetch_one(store.pool())
        .await?;
    if existing > 0 {
        eprintln!("using the complaint history in the store ({existing} complaints)");
        return Ok(());
    }
    let env = |k: &str| std::env::var(k).ok();
    let registry = crate::adapters::registry::Registry::from_config(cfg, &env).map_err(anyhow::Error::msg)?;
    let reader = crate::view::ViewReader::from_config(registry, cfg);
    let rules =
        crate::cases::rules::Rules::load(crate::cases::rules::rules_folder(&cfg.cases)).map_err(anyhow::Error::msg)?;
    let folder = cfg
        .diagnosis
        .scenarios_dir
        .clone()
        .map(crate::assets::Folder::Disk)
        .unwrap_or_else(crate::diagnosis::default_dir);
    let engine = crate::diagnosis::Engine::load(&folder, cfg.diagnosis.now).map_err(|e| anyhow::anyhow!("{e}"))?;
    let opts = crate::tools::history::HistoryOptions {
        complaints: args.history_complaints,
        days: args.history_days,
        seed: 20261202,
        end_us: crate::store::now_us(),
        subscribers,
    };
    eprintln!(
        "creating the complaint history ({} complaints over {} days; --history-complaints 0 skips it)…",
        opts.complaints, opts.days
    );
    let stop = stop_on_ctrl_c();
    let started = std::time::Instant::now();
    let report = crate::tools::history::generate(
        &crate::cases::store::CaseStore::new(store.clone()),
        &rules.current(),
        &engine,
        &reader,
        &opts,
        &stop,
        &|done, total| {
            eprint!(
                "\r  {done}/{total} complaints ({:.0}%), {:.0} s   ",
                100.0 * done as f64 / total.max(1) as f64,
                started.elapsed().as_secs_f64()
            )
        },
    )
    .await?;
    eprintln!();
    if report.stopped {
        anyhow::bail!(
            "stopped after {} complaints; run again with --reset to start over",
            report.complaints
        );
    }
    eprintln!(
        "  {} complaints, {} events in {:.1}s; by state: {}",
        report.complaints,
        report.events,
        started.elapsed().as_secs_f64(),
        report
            .by_state
            .iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (what, detail) in &report.incidents {
        eprintln!("  incident: {what}: {detail}");
    }
    Ok(())
}

/// Seeds the three backends in `data_dir` unless they already hold the same demo data (and `reset` is
/// off). Returns the number of subscribers they hold and the date their data is as of.
async fn seed_backends(data_dir: &Path, subscribers: u64, reset: bool) -> anyhow::Result<(u64, chrono::NaiveDate)> {
    let mut targets = Vec::new();
    let mut existing = None;
    for s in load::System::ALL {
        let t = load::Target::connect(s, &backend_url(data_dir, s)).await?;
        existing = match (t.seeded().await, existing) {
            (Some(x), None) if s == load::System::Billing => Some(x),
            (Some(x), Some(prev)) if x == prev => Some(prev),
            _ => None,
        };
        targets.push(t);
    }
    match existing {
        Some((n, as_of)) if !reset && chrono::NaiveDate::parse_from_str(&as_of, "%Y-%m-%d").is_ok() => {
            eprintln!(
                "using the demo backends in {} ({n} subscribers as of {as_of})",
                data_dir.display()
            );
            for t in targets {
                t.close().await;
            }
            Ok((n, chrono::NaiveDate::parse_from_str(&as_of, "%Y-%m-%d")?))
        }
        _ => {
            let opts = seed::SeedOptions::new(subscribers, chrono::Local::now().date_naive());
            eprintln!(
                "creating demo backends in {} ({subscribers} subscribers)…",
                data_dir.display()
            );
            seed_targets(targets, &opts, true).await?;
            Ok((subscribers, opts.as_of))
        }
    }
}

/// The SQLite URL of a demo backend in `data_dir`.
fn backend_url(data_dir: &Path, s: load::System) -> String {
    crate::config::load::sqlite_url(&data_dir.join(db_file(s)), "")
}

fn db_file(s: load::System) -> String {
    format!("{}.db", s.name())
}

/// Writes the demo's configuration: the three sources (embedded adapters unless `--adapters`), their
/// SQLite files, the store and the signing key, all relative to the file's folder; the listen addresses,
/// a scenario folder if one was named, and diagnosis's `now` fixed at the moment the data describes
/// (`seed::moment_of(as_of)`), so that the demo's diagnoses do not change with the hour.
pub fn write_config(path: &Path, args: &DemoArgs, as_of: chrono::NaiveDate) -> anyhow::Result<()> {
    let cfg = demo_config(args, as_of)?;
    let text = format!(
        "## Written by `complaint-gateway demo`: its sources, store and signing key. Relative paths are relative\n\
         ## to this file's folder. Serve it with: complaint-gateway serve --config {}\n{}",
        path.display(),
        toml::to_string_pretty(&cfg)?
    );
    demo::write_private(path, &text)?;
    Ok(())
}

/// The demo's configuration (see [`write_config`]).
pub fn demo_config(args: &DemoArgs, as_of: chrono::NaiveDate) -> anyhow::Result<Config> {
    let mut cfg = Config::parse("").map_err(anyhow::Error::msg)?;
    cfg.server.listen = args.listen;
    cfg.admin.metrics_listen = args.metrics_listen;
    cfg.console.listen = Some(args.console_listen);
    cfg.console.demo_sign_in = true;
    cfg.auth = demo::auth_config(Path::new(demo::KEY_FILE));
    cfg.store.url = "sqlite://gateway.db".into();
    if args.replicas > 1 {
        cfg.redis.url = Some(args.redis_url.clone());
    }
    let adapters = match &args.adapters {
        Some(d) => Some(std::path::absolute(d)?),
        None => None,
    };
    for s in load::System::ALL {
        let definition = match &adapters {
            Some(d) => d.join(s.name()),
            None => PathBuf::from(format!("{}{}", crate::assets::EMBEDDED_PREFIX, s.name())),
        };
        let mut source = crate::config::SourceConfig::new(definition);
        source.url = Some(format!("sqlite://{}", db_file(s)));
        source.max_connections = 4;
        cfg.sources.push(source);
    }
    if let Some(d) = &args.scenarios {
        cfg.diagnosis.scenarios_dir = Some(std::path::absolute(d)?);
    }
    cfg.diagnosis.now = Some(seed::moment_of(as_of));
    Ok(cfg)
}

/// Ctrl-C sets the flag; seeding stops after the chunk under way.
fn stop_on_ctrl_c() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\nstopping after the current chunk (committed data stays)…");
            s.store(true, Ordering::Relaxed);
        }
    });
    stop
}

fn progress(done: u64, total: u64, rows: u64, started: std::time::Instant) {
    let secs = started.elapsed().as_secs_f64().max(0.001);
    let rate = done as f64 / secs;
    let eta = if rate > 0.0 { (total - done) as f64 / rate } else { 0.0 };
    eprint!(
        "\r  seeded {done}/{total} subscribers ({:.1}%), {rows} rows, {rate:.0} subscribers/s, eta {eta:.0}s   ",
        100.0 * done as f64 / total.max(1) as f64
    );
}

/// Seeds `targets` with progress on stderr; Ctrl-C stops between chunks.
async fn seed_targets(targets: Vec<load::Target>, opts: &seed::SeedOptions, reset: bool) -> anyhow::Result<()> {
    let stop = stop_on_ctrl_c();
    let started = std::time::Instant::now();
    let report = load::seed(&targets, opts, reset, &stop, &|d, t, r| progress(d, t, r, started)).await?;
    eprintln!();
    for t in targets {
        t.close().await;
    }
    if report.stopped {
        anyhow::bail!(
            "stopped after {} subscribers ({} rows); run again with --reset to reload",
            report.subscribers,
            report.rows
        );
    }
    eprintln!(
        "  {} subscribers, {} rows in {:.1}s",
        report.subscribers, report.rows, report.seconds
    );
    Ok(())
}
