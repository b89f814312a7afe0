//! `complaint-gateway adapters scaffold`: proposes an adapter definition for a backend by similar-field
//! matching.
//!
//! For every unified field (see [`catalog`]) it scores every column of the backend's schema by name
//! similarity across naming conventions ([`names`]: English and abbreviations, pinyin initials and full
//! pinyin through a dictionary of telecom terms), by how well the table's name fits the part of the view
//! the field belongs to, and by its type and sampled values ([`sniff`]). Fields are assigned their best
//! free column, best scores first; the tables a part needs are joined to a table keyed by the
//! subscriber's number ([`joins`]). Every proposal carries its score and runners-up in a comment, and
//! proposals below the confidence threshold are written commented out for the team to decide.
#[cfg(any(test, feature = "testkit"))]
pub mod accuracy;

/// A column of a table: (table, column).
pub type ColumnRef = (String, String);
/// Two columns a join condition makes equal.
pub type Equality = (ColumnRef, ColumnRef);
pub mod catalog;
mod convert;
mod derive;
pub mod evidence;
pub mod introspect;
pub mod joins;
pub mod live;
mod matching;
pub mod names;
mod qualify;
mod query;
mod render;
pub mod sniff;
mod tz;
mod verify;

pub use self::matching::{analyse, propose, Analysis};

use self::catalog::UnifiedField;
use self::joins::JoinPlan;
use crate::adapters::sql::text::Driver;
use crate::adapters::sql::{Pool, PoolSettings};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Live mappings scoring at least this are "confident": calibrated on the tuning schemas (ASTPP, X2CRM) so
/// that such mappings were right at least 85% of the time there (BENCHMARKS.adapters.md). Live mappings
/// below it are written live but listed for review.
pub const CONFIDENT: f32 = 0.6;

/// Scaffold settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// The new source's name (`[a-z0-9_]+`).
    pub system: String,
    /// Proposals scoring below this are written commented out.
    pub min_score: f32,
    /// Runners-up listed in each proposal's comment.
    pub runners_up: usize,
}

impl Options {
    pub fn new(system: &str) -> Options {
        Options {
            system: system.to_string(),
            min_score: 0.5,
            runners_up: 3,
        }
    }
}

/// A column proposed for a field.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub table: String,
    pub column: String,
    pub score: f32,
}

impl Candidate {
    fn label(&self) -> String {
        format!("{}.{} {:.2}", self.table, self.column, self.score)
    }
}

/// How a proposed column is converted on its way to the field.
#[derive(Debug, Clone, Default)]
pub struct Conversion {
    pub column_type: Option<crate::adapters::sql::column_type::ColumnType>,
    pub convert: Option<&'static str>,
    pub format: Option<String>,
    /// Backend code → unified value, with whether each pair was guessed.
    pub map: Vec<(String, String, bool)>,
    /// Something a reviewer should know (a guessed map, an assumed unit).
    pub note: Option<String>,
}

/// The proposal for one unified field.
#[derive(Debug, Clone)]
pub struct FieldProposal {
    pub field: UnifiedField,
    pub best: Option<Candidate>,
    pub runners_up: Vec<Candidate>,
    /// Written as a live mapping (confident, and its table joins to the subscriber).
    pub active: bool,
    /// Why a proposal with a candidate is commented out.
    pub inactive_reason: Option<String>,
    pub conversion: Conversion,
    /// The result column name in the proposed query (the column, or an alias where names clash).
    pub result_column: String,
}

/// The proposal for one part of the view: an `[entities.*]` (or the usage stream) with its query.
#[derive(Debug, Clone)]
pub struct EntityProposal {
    /// `account`, `recent_bills`, `network.cells`, `usage_records`.
    pub target: String,
    /// The entity name in `adapter.toml`.
    pub name: String,
    pub stream: bool,
    /// Written live (it has enough confident fields and a join path).
    pub enabled: bool,
    pub fields: Vec<FieldProposal>,
    pub plan: Option<JoinPlan>,
    pub key: Vec<String>,
    /// The proposed SQL (named parameters), when there is a plan.
    pub sql: Option<String>,
    /// `time_param_format` for the stream.
    pub time_param_format: Option<String>,
    pub note: Option<String>,
    /// How far the part can be trusted (0..1): its live fields' scores and its joins' evidence.
    pub confidence: f32,
    /// The proposed query run for the sampled subscribers: (subscribers with rows, subscribers tried).
    pub sampled: Option<(usize, usize)>,
}

/// A proposed adapter definition.
#[derive(Debug, Clone)]
pub struct Proposal {
    pub system: String,
    pub driver: Driver,
    pub entities: Vec<EntityProposal>,
    pub primary: Option<String>,
    /// Tables found keyed by the subscriber's number: table → column.
    pub numbers: BTreeMap<String, String>,
    pub tables: usize,
    /// Where the subscribers every proposed query was run for were sampled from (`table.column`).
    pub sampled_from: Option<String>,
    /// The offset of zone-less times, and the evidence for it (or that there is none).
    pub time_zone: tz::TimeZone,
    /// Fields no single column holds, with the SQL of the usual derivation or what it needs.
    pub derived: Vec<derive::Derivation>,
}

impl Proposal {
    /// Live field mappings: (`target.path`, table, column).
    pub fn active(&self) -> Vec<(String, String, String)> {
        self.entities
            .iter()
            .filter(|e| e.enabled)
            .flat_map(|e| e.fields.iter().filter(|f| f.active))
            .filter_map(|f| {
                f.best
                    .as_ref()
                    .map(|b| (f.field.key(), b.table.clone(), b.column.clone()))
            })
            .collect()
    }

    /// Column pairs the proposed queries join on (their values are equal in every row).
    pub fn join_equalities(&self, target: &str) -> Vec<Equality> {
        let Some(e) = self.entities.iter().find(|e| e.target == target) else {
            return vec![];
        };
        let Some(plan) = &e.plan else { return vec![] };
        let table_of = |alias: &str| {
            plan.steps
                .iter()
                .find(|s| s.alias == alias)
                .map(|s| s.table.clone())
                .unwrap_or_default()
        };
        plan.steps
            .iter()
            .flat_map(|s| s.on.iter())
            .map(|((a1, c1), (a2, c2))| ((table_of(a1), c1.clone()), (table_of(a2), c2.clone())))
            .collect()
    }

    /// Writes `adapter.toml` and one SQL file per entity into `dir` (created if missing).
    pub fn write(&self, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir)?;
        let mut written = Vec::new();
        for e in &self.entities {
            if let Some(sql) = &e.sql {
                let p = dir.join(format!("{}.sql", e.name));
                std::fs::write(&p, sql)?;
                written.push(p);
            }
        }
        let p = dir.join(crate::adapters::sql::definition::DEFINITION_FILE);
        std::fs::write(&p, self.adapter_toml())?;
        written.push(p);
        Ok(written)
    }

    /// The summary for the terminal: the parts written live with their confidence and sampled rows,
    /// then everything a person has to decide (parts and fields left for review, derived fields, the
    /// time zone).
    pub fn summary(&self) -> String {
        let mut s = String::from("confident (written live):\n");
        let mut review = String::new();
        for e in &self.entities {
            let live = e.fields.iter().filter(|f| f.active).count();
            let unsure: Vec<String> = e
                .fields
                .iter()
                .filter(|f| f.active && f.best.as_ref().is_some_and(|b| b.score < CONFIDENT))
                .map(|f| f.field.path.clone())
                .collect();
            let doubtful = e.fields.iter().filter(|f| f.best.is_some() && !f.active).count();
            let rows = e
                .sampled
                .map(|(h, n)| format!(", rows for {h}/{n} sampled subscribers"))
                .unwrap_or_default();
            if e.enabled {
                let _ = writeln!(
                    s,
                    "  {:<22} {live:>2} field{} mapped, confidence {:.2}{rows}{}",
                    e.name,
                    if live == 1 { "" } else { "s" },
                    e.confidence,
                    if doubtful > 0 {
                        format!("; {doubtful} more for review")
                    } else {
                        String::new()
                    }
                );
                if !unsure.is_empty() {
                    let _ = writeln!(
                        review,
                        "  {:<22} written live below the confident score {CONFIDENT:.2}: {}",
                        e.name,
                        unsure.join(", ")
                    );
                }
            } else {
                let _ = writeln!(
                    review,
                    "  {:<22} not enabled ({} candidate field{}){}",
                    e.name,
                    live + doubtful,
                    if live + doubtful == 1 { "" } else { "s" },
                    e.note.as_deref().map(|n| format!(": {n}")).unwrap_or_default()
                );
            }
        }
        for d in &self.derived {
            let _ = writeln!(
                review,
                "  derived {:<14} {}{}",
                d.field,
                d.needs,
                d.sql
                    .as_deref()
                    .map(|q| format!(" — proposed: {q}"))
                    .unwrap_or_default()
            );
        }
        if self.time_zone.needs_review() {
            let _ = writeln!(review, "  time zone: {}", self.time_zone.summary());
        }
        if !review.is_empty() {
            s.push_str("needs review:\n");
            s.push_str(&review);
        }
        s
    }
}

/// Runs `adapters check` on the folder as it would be written: a live mapping whose sampled values do not
/// convert (a text column of `provider` / `manual` proposed for a yes/no field) is left for review with the
/// reason, and a part left with no live field is not enabled. The folder written then passes the check it
/// tells its reader to run.
async fn self_check(url: &str, p: &mut Proposal) {
    let Ok(dir) = tempfile::tempdir() else { return };
    if p.write(dir.path()).is_err() {
        return;
    }
    let report = crate::tools::check::run(&[crate::tools::check::Target {
        dir: dir.path().to_path_buf(),
        url: Ok(url.to_string()),
    }])
    .await;
    for problem in report.problems() {
        let (Some(name), Some(column)) = (problem.part.strip_prefix("entities."), &problem.column) else {
            continue;
        };
        if !problem.message.contains("does not fill") {
            continue;
        }
        let Some(e) = p.entities.iter_mut().find(|e| e.name == name && e.enabled) else {
            continue;
        };
        for f in e.fields.iter_mut().filter(|f| f.active && f.result_column == *column) {
            f.active = false;
            let why = problem
                .message
                .split_once(": ")
                .map_or(problem.message.as_str(), |(_, w)| w);
            f.inactive_reason = Some(format!("sampled values do not convert ({why})"));
        }
        if !e.fields.iter().any(|f| f.active) {
            e.enabled = false;
            e.note = Some("no field's sampled values convert: review before enabling".into());
        }
    }
}

/// Connects to `url`, reads its schema and samples, and proposes a definition.
pub async fn scaffold(url: &str, opts: &Options) -> Result<Proposal, String> {
    if opts.system.is_empty()
        || !opts
            .system
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(format!("--system `{}` must match [a-z0-9_]+", opts.system));
    }
    let settings = PoolSettings {
        max_connections: 2,
        connect_timeout: Duration::from_secs(10),
    };
    let pool = Pool::connect_lazy(url, &settings)?;
    let secrets = crate::secrets::secrets_of_url(url);
    let fail = |e: sqlx::Error| {
        format!(
            "reading the schema of `{}`: {}",
            crate::secrets::redact_url(url),
            crate::secrets::scrub(&e.to_string(), &secrets)
        )
    };
    let schema = introspect::introspect(&pool).await.map_err(fail)?;
    if schema.tables.is_empty() {
        return Err(format!("`{}` has no tables", crate::secrets::redact_url(url)));
    }
    let m = names::Matcher::new();
    let mut analysed = analyse(&schema, &m);
    let mut edges = joins::schema_edges(&schema, &analysed.numbers);
    evidence::verify_naming(&pool, &schema, &mut edges).await;
    let shared = evidence::shared_name_edges(&pool, &schema, &edges).await;
    edges.extend(shared);
    edges.extend(evidence::value_edges(&pool, &schema, &analysed.numbers, &edges).await);
    analysed.links = evidence::prune_by_coverage(&pool, &schema, &mut analysed.numbers, &mut edges).await;
    if std::env::var("CGW_SCAFFOLD_DEBUG").is_ok() {
        for (t, scores) in &analysed.tables {
            let mut v: Vec<_> = scores.iter().filter(|(_, s)| **s >= 0.3).collect();
            v.sort_by(|a, b| b.1.total_cmp(a.1));
            eprintln!("table {t}: {v:?}");
        }
        for e in &edges {
            eprintln!("edge {} -- {}: {}", e.a, e.b, e.evidence());
        }
    }
    let mut proposal = propose(&schema, &analysed, &edges, opts);
    verify::run(&pool, &schema, &mut proposal).await;
    let zone = tz::database_zone(&pool).await;
    proposal.time_zone = tz::decide(&schema, &proposal, zone.as_deref());
    proposal.derived = derive::propose(&schema, &proposal);
    self_check(url, &mut proposal).await;
    match &pool {
        Pool::Postgres(p) => p.close().await,
        Pool::MySql(p) => p.close().await,
        Pool::Sqlite(p) => p.close().await,
    }
    Ok(proposal)
}
