//! `complaint-gateway complaints …`: complaint cases for operators, under the same rules as the gRPC
//! service. The operator names a registered identity (`--as`); its roles and regions decide what it sees
//! and may change (a handler only the complaints of their regions, numbers masked without read_pii), and
//! every command is audited as `cli/complaints <command>` with that identity as the caller.
use crate::adapters::registry::Registry;
use crate::cases::model::{State, VisitOutcome};
use crate::cases::ops::{Intake, Op};
use crate::cases::service::CaseView;
use crate::cases::store::{CaseRow, ListFilter};
use crate::config::Config;
use crate::identity::directory::Directory;
use crate::identity::{AuthMethod, CallInfo, Identity};
use crate::read::ReadRequest;
use crate::server::Gateway;
use clap::{Args, Subcommand};

/// `complaint-gateway complaints`.
#[derive(Debug, Args)]
pub struct ComplaintsArgs {
    /// The gateway configuration (its `[store]`, `[[sources]]` and `[cases]`).
    #[arg(long, short)]
    pub config: std::path::PathBuf,
    /// The registered identity to act as (its roles and regions apply).
    #[arg(long = "as", value_name = "IDENTITY")]
    pub as_identity: String,
    #[command(subcommand)]
    pub action: ComplaintsAction,
}

/// What to do with complaints.
#[derive(Debug, Subcommand)]
pub enum ComplaintsAction {
    /// List complaints by due time.
    List {
        /// new, triaged, in_progress, awaiting_customer, replied, closed (comma-separated).
        #[arg(long, value_delimiter = ',')]
        state: Vec<String>,
        #[arg(long, value_delimiter = ',')]
        region: Vec<String>,
        #[arg(long)]
        category: Option<String>,
        #[arg(long)]
        owner: Option<String>,
        #[arg(long)]
        group: Option<String>,
        #[arg(long)]
        at_risk: bool,
        #[arg(long)]
        breached: bool,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Show one complaint with its deadlines and events.
    Show { id: String },
    /// Take a complaint in (reads the subscriber's view through the configured sources).
    Create {
        #[arg(long)]
        msisdn: String,
        #[arg(long)]
        text: String,
        /// hotline, app, store, online, regulator, social_media.
        #[arg(long, default_value = "hotline")]
        channel: String,
        /// A category code (required here: the CLI does not load the classifier).
        #[arg(long)]
        category: String,
    },
    /// Set the owner and/or the handler group.
    Assign {
        id: String,
        #[arg(long, default_value = "")]
        owner: String,
        #[arg(long, default_value = "")]
        group: String,
    },
    /// Move a complaint to another state.
    Transition {
        id: String,
        state: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Add a note.
    Note { id: String, text: String },
    /// Record the reply sent.
    Reply { id: String, text: String },
    /// Record a return visit: satisfied, unsatisfied or unreachable.
    Visit {
        id: String,
        outcome: String,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Reopen a closed complaint.
    Reopen {
        id: String,
        #[arg(long)]
        reason: String,
    },
    /// A subscriber's complaints, newest first.
    History { msisdn: String },
}

fn parse_state(s: &str) -> anyhow::Result<State> {
    State::parse(s).ok_or_else(|| {
        anyhow::anyhow!(
            "unknown state `{s}`; states: {}",
            State::ALL.map(State::name).join(", ")
        )
    })
}

fn row_line(r: &CaseRow) -> String {
    let c = &r.complaint;
    format!(
        "{:<32} {:<17} {:<5} {:<13} {:<28} {:<14} due {}",
        c.id,
        c.state.name(),
        c.region,
        c.msisdn,
        c.category,
        c.group,
        r.deadlines
            .next_due_us
            .map(crate::cases::calendar::show)
            .unwrap_or_else(|| "-".into())
    )
}

fn print_view(v: &CaseView) {
    let c = &v.complaint;
    println!(
        "{}  {}  {} {}  channel {}",
        c.id, c.state, c.region, c.msisdn, c.channel
    );
    println!(
        "  category {}  cause {}  scenario {}",
        c.category, c.cause_code, c.scenario_id
    );
    println!(
        "  group {}  owner {}  priority {}  policy {}  repeat of {}  repeats {}  reopened {}",
        c.group,
        if c.owner.is_empty() { "-" } else { &c.owner },
        c.priority,
        c.policy_id,
        if c.repeat_of.is_empty() { "-" } else { &c.repeat_of },
        c.repeat_count,
        c.reopen_count
    );
    println!("  text: {}", c.text);
    for t in &v.sla.targets {
        println!(
            "  {:<15} {:<9} due {}{}",
            t.target.name(),
            t.status.name(),
            t.due_us.map(crate::cases::calendar::show).unwrap_or_else(|| "-".into()),
            if t.paused { " (paused)" } else { "" }
        );
    }
    for e in &v.events {
        println!(
            "  #{:<3} {} {:<16} {:<12} {}{}",
            e.seq,
            crate::cases::calendar::show(e.at_us),
            e.kind.name(),
            e.caller,
            e.to_state.map(|s| format!("→ {s} ")).unwrap_or_default(),
            e.reason
        );
    }
}

/// Runs a `complaints` command.
pub async fn run(args: ComplaintsArgs) -> anyhow::Result<()> {
    let cfg = Config::load(&args.config)?;
    let env = |k: &str| std::env::var(k).ok();
    let registry = Registry::from_config(&cfg, &env).map_err(anyhow::Error::msg)?;
    let gw = Gateway::open(cfg, registry, &env).await?;
    let dir = Directory::new(gw.identity.store.clone());
    let who = dir
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
    let command = format!("{:?}", args.action)
        .split([' ', '{'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let call = CallInfo {
        method: format!("cli/complaints {command}"),
        peer: format!("cli:{}", crate::identity::clip(&user, 32)),
    };
    let cases = &gw.cases;
    let change = |id: String, op: Op| {
        let (caller, call) = (caller.clone(), call.clone());
        async move { cases.change(&caller, &call, &id, op).await }
    };
    let shown = match args.action {
        ComplaintsAction::List {
            state,
            region,
            category,
            owner,
            group,
            at_risk,
            breached,
            limit,
        } => {
            let f = ListFilter {
                states: state.iter().map(|s| parse_state(s)).collect::<anyhow::Result<_>>()?,
                regions: (!region.is_empty()).then_some(region),
                category,
                owner,
                group,
                at_risk,
                breached,
                limit,
                ..Default::default()
            };
            let (rows, _) = cases.list(&caller, &call, f).await?;
            for r in &rows {
                println!("{}", row_line(r));
            }
            eprintln!("{} complaints", rows.len());
            None
        }
        ComplaintsAction::History { msisdn } => {
            let rows = cases.history(&caller, &call, &msisdn).await?;
            for r in &rows {
                println!("{}", row_line(r));
            }
            None
        }
        ComplaintsAction::Show { id } => Some(cases.get(&caller, &call, &id).await?),
        ComplaintsAction::Create {
            msisdn,
            text,
            channel,
            category,
        } => {
            let ch = crate::cases::model::Channel::parse(&channel).ok_or_else(|| {
                anyhow::anyhow!("--channel: one of hotline, app, store, online, regulator, social_media")
            })?;
            crate::cases::service::check_text("text", &text, true)?;
            if !crate::classify::category_codes().contains(&category.as_str()) {
                anyhow::bail!(
                    "--category: unknown `{category}`; one of: {}",
                    crate::classify::category_codes().join(", ")
                );
            }
            let read = ReadRequest::new(caller.clone(), call.clone(), msisdn, "");
            let intake = Intake {
                channel: ch.name().into(),
                text,
                category,
                confidence: 1.0,
                category_source: "request".into(),
                ..Default::default()
            };
            Some(cases.create(read, intake).await?)
        }
        ComplaintsAction::Assign { id, owner, group } => {
            if owner.is_empty() && group.is_empty() {
                anyhow::bail!("give --owner, --group or both");
            }
            Some(change(id, Op::Assign { owner, group }).await?)
        }
        ComplaintsAction::Transition { id, state, reason } => {
            let to = parse_state(&state)?;
            Some(change(id, Op::Transition { to, reason }).await?)
        }
        ComplaintsAction::Note { id, text } => Some(change(id, Op::Note { text }).await?),
        ComplaintsAction::Reply { id, text } => Some(change(id, Op::Reply { text }).await?),
        ComplaintsAction::Visit { id, outcome, note } => {
            let outcome = VisitOutcome::parse(&outcome)
                .ok_or_else(|| anyhow::anyhow!("outcome: one of satisfied, unsatisfied, unreachable"))?;
            Some(change(id, Op::Visit { outcome, note }).await?)
        }
        ComplaintsAction::Reopen { id, reason } => Some(change(id, Op::Reopen { reason }).await?),
    };
    if let Some(v) = shown {
        print_view(&v);
    }
    gw.identity.store.close().await;
    Ok(())
}
