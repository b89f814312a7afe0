//! `complaint-gateway audit verify` (walks the audit trail's hash chain and reports the first broken link)
//! and `complaint-gateway store migrate` (applies the gateway store's schema as the tables' owner, for a
//! gateway that logs in without owning them; see `docs/security.md`).
use crate::config::Config;
use crate::identity::chain;
use crate::store::Store;
use clap::{Args, Subcommand};

/// Where the store is: the config's `[store]` (after environment overrides), or a URL given here.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// The gateway configuration whose `[store]` to use.
    #[arg(long, short, required_unless_present = "url")]
    pub config: Option<std::path::PathBuf>,
    /// The store's URL instead (e.g. the owner's login for `store migrate`). Keep passwords in the
    /// environment: `--url "$CGW_STORE_OWNER_URL"`.
    #[arg(long)]
    pub url: Option<String>,
}

impl StoreArgs {
    fn url(&self) -> anyhow::Result<String> {
        match (&self.url, &self.config) {
            (Some(u), _) => Ok(u.clone()),
            (None, Some(c)) => Ok(Config::load(c)?.store.url),
            (None, None) => anyhow::bail!("give --config or --url"),
        }
    }
}

/// `complaint-gateway audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub action: AuditAction,
}

#[derive(Debug, Subcommand)]
pub enum AuditAction {
    /// Check the audit trail's hash chain; exit 1 naming the first broken link (a row rewritten, removed
    /// or inserted behind the gateway's back). Prints the chain's head: keep it elsewhere to detect a
    /// trail cut short later.
    Verify(StoreArgs),
}

/// `complaint-gateway store`.
#[derive(Debug, Args)]
pub struct StoreCommand {
    #[command(subcommand)]
    pub action: StoreAction,
}

#[derive(Debug, Subcommand)]
pub enum StoreAction {
    /// Apply the store's migrations and the audit trail's guards (run it as the tables' owner).
    Migrate(StoreArgs),
}

/// Runs `audit verify`: `Ok(false)` when the chain is broken.
pub async fn audit(args: AuditArgs) -> anyhow::Result<bool> {
    match args.action {
        AuditAction::Verify(s) => {
            let store = Store::connect_with(&s.url()?, 2, false).await?;
            let mut last = std::time::Instant::now();
            let report = chain::verify(&store, &mut |n| {
                if last.elapsed() > std::time::Duration::from_secs(1) {
                    eprintln!("… {n} events checked");
                    last = std::time::Instant::now();
                }
            })
            .await
            .map_err(anyhow::Error::msg)?;
            println!("{}", describe(&report));
            Ok(report.broken.is_none())
        }
    }
}

/// The report as `audit verify` prints it.
pub fn describe(r: &chain::Report) -> String {
    let mut out = match &r.broken {
        None => format!("audit chain intact: {} events checked", r.checked),
        Some(b) => format!("audit chain BROKEN at {b}; {} events before it are intact", r.checked),
    };
    out.push_str(&format!("\nhead: seq {} hash {}", r.head.seq, r.head.hash));
    if r.unchained > 0 {
        out.push_str(&format!(
            "\n{} events written before the chain existed are not covered",
            r.unchained
        ));
    }
    out
}

/// Runs `store migrate`.
pub async fn store(args: StoreCommand) -> anyhow::Result<()> {
    match args.action {
        StoreAction::Migrate(s) => {
            let store = Store::connect_with(&s.url()?, 1, true).await?;
            println!(
                "store {} is current ({} migrations)",
                store.redacted_url(),
                crate::store::MIGRATOR.iter().count()
            );
            Ok(())
        }
    }
}
