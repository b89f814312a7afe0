//! `complaint-gateway report --config … --as ID --from YYYY-MM-DD --to YYYY-MM-DD --out report.html`: the
//! analytics report (HTML with SVG charts) of complaints created in `[from, to)` (Beijing days), under the
//! identity's roles and regions, audited as `cli/report`. The same page `GetReport` serves.
use crate::adapters::registry::Registry;
use crate::analytics::service::Ask;
use crate::config::Config;
use crate::identity::directory::Directory;
use crate::identity::{AuthMethod, CallInfo, Identity};
use crate::server::Gateway;
use clap::Args;

/// `complaint-gateway report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The gateway configuration (its `[store]` holds the complaints).
    #[arg(long, short)]
    pub config: std::path::PathBuf,
    /// The registered identity the report is made for (its regions and masking apply).
    #[arg(long = "as", value_name = "IDENTITY")]
    pub as_identity: String,
    /// First day (Beijing), YYYY-MM-DD.
    #[arg(long)]
    pub from: chrono::NaiveDate,
    /// Day after the last (Beijing), YYYY-MM-DD.
    #[arg(long)]
    pub to: chrono::NaiveDate,
    /// Where to write the HTML.
    #[arg(long)]
    pub out: std::path::PathBuf,
    /// Only these regions (within the identity's).
    #[arg(long, value_delimiter = ',')]
    pub region: Vec<String>,
    /// Only this category.
    #[arg(long, default_value = "")]
    pub category: String,
}

fn beijing_midnight(d: chrono::NaiveDate) -> i64 {
    d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc().timestamp_micros() - crate::cases::facts::BEIJING_OFFSET_US
}

pub async fn run(args: ReportArgs) -> anyhow::Result<()> {
    let cfg = Config::load(&args.config)?;
    let env = |k: &str| std::env::var(k).ok();
    let registry = Registry::from_config(&cfg, &env).map_err(anyhow::Error::msg)?;
    let gw = Gateway::open(cfg, registry, &env).await?;
    let who = Directory::new(gw.identity.store.clone())
        .get(&args.as_identity)
        .await?
        .ok_or_else(|| anyhow::anyhow!("--as: no registered identity `{}`", args.as_identity))?;
    if who.disabled {
        anyhow::bail!("--as: identity `{}` is disabled", who.id);
    }
    let caller = Identity {
        subject: who.id.clone(),
        display_name: who.display_name.clone(),
        roles: who.roles.clone(),
        regions: who.regions.clone(),
        method: AuthMethod::ApiKey { key_id: "cli".into() },
        operator_ids: who.operator_ids.clone(),
    };
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let call = CallInfo {
        method: "cli/report".into(),
        peer: format!("cli:{}", crate::identity::clip(&user, 32)),
    };
    let ask = Ask {
        from_us: beijing_midnight(args.from),
        to_us: beijing_midnight(args.to),
        regions: args.region.clone(),
        category: args.category.clone(),
    };
    let html = gw
        .analytics
        .report(&caller, &call, &ask)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    std::fs::write(&args.out, &html).map_err(|e| anyhow::anyhow!("writing {}: {e}", args.out.display()))?;
    println!("wrote {} ({} bytes)", args.out.display(), html.len());
    Ok(())
}
