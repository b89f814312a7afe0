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
pub mod introspect;
pub mod joins;
mod matching;
pub mod names;
mod query;
mod render;
pub mod sniff;

pub use self::matching::{analyse, propose, Analysis};

use self::catalog::UnifiedField;
use self::joins::JoinPlan;
use crate::adapters::sql::text::Driver;
use crate::adapters::sql::{Pool, PoolSettings};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

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

    /// A one-line-per-part summary for the terminal.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        for e in &self.entities {
            let live = e.fields.iter().filter(|f| f.active).count();
            let proposed = e.fields.iter().filter(|f| f.best.is_some()).count();
            let _ = writeln!(
                s,
                "  {:<12} {:<22} {live:>2} mapped, {:>2} left for review{}",
                if e.enabled { "entity" } else { "(disabled)" },
                e.name,
                proposed - live,
                e.note.as_deref().map(|n| format!(" — {n}")).unwrap_or_default()
            );
        }
        s
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
    let analysed = analyse(&schema, &m);
    let mut edges = joins::schema_edges(&schema, &analysed.numbers);
    edges.extend(joins::value_edges(&pool, &schema, &analysed.numbers, &edges).await);
    match &pool {
        Pool::Postgres(p) => p.close().await,
        Pool::MySql(p) => p.close().await,
        Pool::Sqlite(p) => p.close().await,
    }
    Ok(propose(&schema, &analysed, &edges, opts))
}
