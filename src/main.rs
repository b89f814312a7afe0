//! `complaint-gateway`: the gateway binary. `serve` runs against your databases; `demo` seeds three SQLite
//! backends and serves them; `seed` loads the demo data into PostgreSQL, MariaDB or SQLite.
use anyhow::Context;
use clap::{Parser, Subcommand};
use complaint_gateway::adapters::registry::Registry;
use complaint_gateway::config::{Config, SourceConfig};
use complaint_gateway::server;
use complaint_gateway::tools::seed::{self, load};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "complaint-gateway",
    version,
    about = "One gRPC API for telecom complaint data"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the gRPC API with a configuration file.
    Serve {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Create (on first run) and serve three seeded SQLite backends.
    Demo {
        #[arg(long, default_value = "127.0.0.1:50051")]
        listen: std::net::SocketAddr,
        #[arg(long, default_value = "demo-data")]
        data_dir: PathBuf,
        #[arg(long, default_value_t = 10_000)]
        subscribers: u64,
        /// Re-create the backends even if they exist.
        #[arg(long)]
        reset: bool,
        /// Folder holding the adapter definitions.
        #[arg(long)]
        adapters: Option<PathBuf>,
        /// Serve Prometheus metrics at http://ADDR/metrics.
        #[arg(long, env = "CGW_METRICS_LISTEN")]
        metrics_listen: Option<std::net::SocketAddr>,
    },
    /// Load the deterministic demo data into databases of your choice.
    Seed {
        #[arg(long, env = "CGW_BILLING_URL")]
        billing_url: Option<String>,
        #[arg(long, env = "CGW_CRM_URL")]
        crm_url: Option<String>,
        #[arg(long, env = "CGW_RESOURCE_URL")]
        resource_url: Option<String>,
        #[arg(long, default_value_t = 10_000)]
        subscribers: u64,
        /// The date the data is as of (YYYY-MM-DD); default today.
        #[arg(long)]
        as_of: Option<chrono::NaiveDate>,
        /// Drop the demo tables first.
        #[arg(long)]
        reset: bool,
    },
    /// Validate a configuration and its adapter definitions; print it with secrets redacted.
    CheckConfig {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Issue a signed token (JWT) for an identity with a key of the config's `[auth]`.
    Token(complaint_gateway::tools::cli::identities::TokenArgs),
    /// Manage identities and their operator IDs in the gateway's store.
    Identities(complaint_gateway::tools::cli::identities::IdentitiesArgs),
    /// Classify complaints offline: JSON lines `{"id", "text"}` on stdin → one JSON line each on stdout
    /// `{"id", "category", "confidence", "abstained", "keywords"}`, in input order.
    Classify {
        /// Below this top probability the answer is marked `abstained` (the category is still the top one).
        #[arg(long, default_value_t = complaint_gateway::classify::DEFAULT_THRESHOLD)]
        threshold: f64,
        /// Add the categories (`categories.toml`) and labelled examples (`*.jsonl`) of this folder to the
        /// shipped ones and train on them; the held-out figures are printed on stderr.
        #[arg(long, value_name = "DIR")]
        corpus: Option<std::path::PathBuf>,
    },
    /// Print a new API key for a service client and the hash to put in `[[auth.api_keys]]`.
    NewApiKey,
    /// Tools for diagnosis scenario authors: `scenarios check [DIR]`.
    Scenarios(complaint_gateway::tools::cli::scenarios::ScenariosArgs),
    /// Tools for adding a backend: `adapters check [DIR]`, `adapters scaffold --url URL --system NAME`.
    Adapters(complaint_gateway::tools::cli::adapters::AdaptersArgs),
}

fn init_logs(format: &str, level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        b.json().init();
    } else {
        b.init();
    }
}

fn default_adapters_dir() -> PathBuf {
    let local = PathBuf::from("adapters");
    if local.join("billing").exists() {
        local
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("adapters")
    }
}

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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => {
            let cfg = Config::load(&config)?;
            init_logs(&cfg.log.format, &cfg.log.level);
            server::run(cfg, |addr| eprintln!("complaint-gateway listening on {addr}")).await
        }
        Command::Token(args) => complaint_gateway::tools::cli::identities::token(args).await,
        Command::Identities(args) => {
            init_logs("human", "warn");
            complaint_gateway::tools::cli::identities::identities(args).await
        }
        Command::Classify { threshold, corpus } => {
            if !(0.0..=1.0).contains(&threshold) {
                anyhow::bail!("--threshold must be between 0 and 1, got {threshold}");
            }
            let stdin = std::io::stdin();
            let stdout = std::io::stdout();
            let out = std::io::BufWriter::new(stdout.lock());
            match corpus {
                None => complaint_gateway::classify::run_cli(stdin.lock(), out, threshold),
                Some(dir) => {
                    use complaint_gateway::classify::{Classifier, Corpus};
                    let mut c = Corpus::embedded()?;
                    c.extend_from_dir(&dir)?;
                    let clf = Classifier::train(&c)?;
                    eprintln!("{}", clf.report().summary());
                    complaint_gateway::classify::run_cli_with(&clf, stdin.lock(), out, threshold)
                }
            }
        }
        Command::NewApiKey => {
            complaint_gateway::tools::cli::identities::new_api_key();
            Ok(())
        }
        Command::Scenarios(args) => complaint_gateway::tools::cli::scenarios::run(args),
        Command::Adapters(args) => {
            init_logs("human", "warn");
            complaint_gateway::tools::cli::adapters::run(args).await
        }
        Command::CheckConfig { config } => {
            let cfg = Config::load(&config)?;
            let registry = Registry::from_config(&cfg, &|k| std::env::var(k).ok()).map_err(anyhow::Error::msg)?;
            println!("{}", cfg.redacted_toml());
            eprintln!(
                "ok: {} source(s): {}",
                registry.sources.len(),
                registry.names().join(", ")
            );
            Ok(())
        }
        Command::Seed {
            billing_url,
            crm_url,
            resource_url,
            subscribers,
            as_of,
            reset,
        } => {
            init_logs("human", "warn");
            let opts = seed::SeedOptions::new(subscribers, as_of.unwrap_or_else(|| chrono::Local::now().date_naive()));
            let mut targets = Vec::new();
            for (system, url) in load::System::ALL.into_iter().zip([billing_url, crm_url, resource_url]) {
                if let Some(url) = url {
                    targets.push(load::Target::connect(system, &url).await?);
                }
            }
            if targets.is_empty() {
                anyhow::bail!("give at least one of --billing-url, --crm-url, --resource-url");
            }
            seed_targets(targets, &opts, reset).await
        }
        Command::Demo {
            listen,
            data_dir,
            subscribers,
            reset,
            adapters,
            metrics_listen,
        } => {
            init_logs("human", "info");
            std::fs::create_dir_all(&data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
            let data_dir = data_dir.canonicalize()?;
            let url = |s: load::System| format!("sqlite://{}", data_dir.join(format!("{}.db", s.name())).display());
            let mut targets = Vec::new();
            let mut existing = None;
            for s in load::System::ALL {
                let t = load::Target::connect(s, &url(s)).await?;
                existing = match (t.seeded().await, existing) {
                    (Some(x), None) if s == load::System::Billing => Some(x),
                    (Some(x), Some(prev)) if x == prev => Some(prev),
                    _ => None,
                };
                targets.push(t);
            }
            let seeded = match existing {
                Some((n, as_of)) if !reset => {
                    eprintln!(
                        "using the demo backends in {} ({n} subscribers as of {as_of})",
                        data_dir.display()
                    );
                    for t in targets {
                        t.close().await;
                    }
                    n
                }
                _ => {
                    let opts = seed::SeedOptions::new(subscribers, chrono::Local::now().date_naive());
                    eprintln!(
                        "creating demo backends in {} ({subscribers} subscribers)…",
                        data_dir.display()
                    );
                    seed_targets(targets, &opts, true).await?;
                    subscribers
                }
            };
            let adapters = adapters.unwrap_or_else(default_adapters_dir);
            let mut cfg = Config::parse("").map_err(anyhow::Error::msg)?;
            cfg.server.listen = listen;
            cfg.admin.metrics_listen = metrics_listen;
            for s in load::System::ALL {
                cfg.sources.push(SourceConfig {
                    definition: adapters.join(s.name()),
                    url: Some(url(s)),
                    url_env: None,
                    timeout_ms: 2_000,
                    max_connections: 4,
                    connect_timeout_ms: 2_000,
                    enabled: true,
                    stack: Default::default(),
                });
            }
            // Identities: a demo signing key, handlers per city, a manager, an auditor (see identity::demo).
            let ids = complaint_gateway::tools::demo::setup(&mut cfg, &data_dir).await?;
            cfg.validate().map_err(anyhow::Error::msg)?;
            let examples = seed::examples(seeded);
            server::run(cfg, move |addr| {
                let number = complaint_gateway::tools::demo::example_in(ids.city, seeded).unwrap_or_default();
                println!("\ncomplaint-gateway demo listening on {addr}\n");
                for line in ids.lines(addr, &number) {
                    println!("{line}");
                }
                println!("\nSeeded subscribers by situation (a handler sees only their own cities):");
                for (s, n) in &examples {
                    println!("  {n}  {:<26} {}", s.name(), s.describe());
                }
                println!("\nCtrl-C stops the server.");
            })
            .await
        }
    }
}
