//! `complaint-gateway`: the gateway binary. `serve` runs against your databases; `demo` seeds three SQLite
//! backends and serves them; `seed` loads the demo data into PostgreSQL, MariaDB or SQLite.
use clap::{Parser, Subcommand};
use complaint_gateway::config::Config;
use complaint_gateway::server;
use complaint_gateway::tools::cli;
use std::path::PathBuf;

/// mimalloc rather than the system allocator: see `BENCHMARKS.md` ("The allocator and the kept view").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Create (on first run) three seeded SQLite backends, write a `gateway.toml` for them and serve it.
    Demo(cli::demo::DemoArgs),
    /// Load the deterministic demo data into databases of your choice.
    Seed(cli::demo::SeedArgs),
    /// Validate a configuration as `serve` would load it: print the configuration in effect (after
    /// environment overrides, passwords redacted), then check every secret, key file, SQLite file, adapter
    /// definition and scenario it needs; exit 1 naming each problem.
    CheckConfig {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// The example configuration: `config example` prints it.
    Config(cli::config::ConfigArgs),
    /// Issue a signed token (JWT) for an identity with a key of the config's `[auth]`.
    Token(cli::identities::TokenArgs),
    /// Manage identities and their operator IDs in the gateway's store.
    Identities(cli::identities::IdentitiesArgs),
    /// Complaint cases for operators: `complaints --as ID list|show|create|assign|transition|note|reply|visit|reopen|history`,
    /// under the identity's roles and regions, audited.
    Complaints(cli::complaints::ComplaintsArgs),
    /// The analytics report of a range (HTML with SVG charts): `report --config … --as ID --from YYYY-MM-DD
    /// --to YYYY-MM-DD --out report.html`, under the identity's regions and masking, audited.
    Report(cli::report::ReportArgs),
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
    Scenarios(cli::scenarios::ScenariosArgs),
    /// Tools for adding a backend: `adapters check [DIR]`, `adapters scaffold --url URL --system NAME`.
    Adapters(cli::adapters::AdaptersArgs),
    /// The audit trail: `audit verify` checks its hash chain and names the first broken link (exit 1).
    Audit(cli::audit::AuditArgs),
    /// The gateway's own store: `store migrate` applies its schema (as the tables' owner).
    Store(cli::audit::StoreCommand),
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => {
            let cfg = Config::load(&config)?;
            init_logs(&cfg.log.format, &cfg.log.level);
            server::run(cfg, |addr, console| {
                eprintln!("complaint-gateway listening on {addr}");
                if let Some(c) = console {
                    eprintln!("web console: http://{c}/");
                }
            })
            .await
        }
        Command::Token(args) => cli::identities::token(args).await,
        Command::Identities(args) => {
            init_logs("human", "warn");
            cli::identities::identities(args).await
        }
        Command::Complaints(args) => {
            init_logs("human", "warn");
            cli::complaints::run(args).await
        }
        Command::Report(args) => {
            init_logs("human", "warn");
            cli::report::run(args).await
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
            cli::identities::new_api_key();
            Ok(())
        }
        Command::Scenarios(args) => cli::scenarios::run(args).await,
        Command::Adapters(args) => {
            init_logs("human", "warn");
            cli::adapters::run(args).await
        }
        Command::CheckConfig { config } => {
            init_logs("human", "warn");
            cli::config::check_config(&config).await
        }
        Command::Config(args) => {
            cli::config::run(args);
            Ok(())
        }
        Command::Seed(args) => {
            init_logs("human", "warn");
            cli::demo::seed(args).await
        }
        Command::Demo(args) => {
            init_logs("human", "info");
            cli::demo::demo(args).await
        }
        Command::Audit(args) => {
            init_logs("human", "warn");
            if !cli::audit::audit(args).await? {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Store(args) => {
            init_logs("human", "warn");
            cli::audit::store(args).await
        }
    }
}
