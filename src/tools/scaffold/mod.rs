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
pub mod introspect;
pub mod joins;
pub mod names;
pub mod sniff;

use self::catalog::{Catalog, FieldKind, Semantic, UnifiedField};
use self::introspect::{quote, Schema};
use self::joins::{Edge, JoinPlan};
use self::sniff::Profile;
use crate::adapters::sql::text::Driver;
use crate::adapters::sql::{Pool, PoolSettings};
use crate::tools::check::TypeClass;
use std::collections::{BTreeMap, BTreeSet, HashMap};
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
    pub column_type: Option<&'static str>,
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

/// Per-column evidence, computed once.
pub struct Analysis {
    /// (table, column) → name scores per dictionary key.
    names: HashMap<(String, String), names::Scores>,
    /// table → view-part scores.
    tables: HashMap<String, names::Scores>,
    profiles: HashMap<(String, String), Profile>,
    /// table → its subscriber-number column.
    pub numbers: BTreeMap<String, String>,
}

/// Scores every column and table name, profiles sampled values, and finds the number columns.
pub fn analyse(schema: &Schema, m: &names::Matcher) -> Analysis {
    let mut a = Analysis {
        names: HashMap::new(),
        tables: HashMap::new(),
        profiles: HashMap::new(),
        numbers: BTreeMap::new(),
    };
    for t in &schema.tables {
        a.tables.insert(t.name.clone(), m.table(&t.name));
        let mut best_number: Option<(f32, String)> = None;
        for c in &t.columns {
            let key = (t.name.clone(), c.name.clone());
            let scores = m.column(&c.spelled, c.comment.as_deref());
            let mut p = sniff::profile(&t.values(&c.name));
            if let Some(codes) = t.code_sets.get(&c.name) {
                p.codes = Some(codes.clone());
            }
            let named = scores.get("t:msisdn").copied().unwrap_or(0.0);
            // A number column is named like one more than like any field (`contact_phone` is a field).
            let as_field = scores
                .iter()
                .filter(|(k, _)| k.starts_with("f:"))
                .map(|(_, v)| *v)
                .fold(0.0, f32::max);
            let named = if as_field > named { 0.0 } else { named };
            let values_ok = p.non_null == 0 || p.mobile >= 0.5;
            let textual = matches!(c.class, TypeClass::Text | TypeClass::Integer | TypeClass::Unknown);
            if named >= 0.6 && values_ok && textual {
                let s = named + p.mobile * 0.2 + if t.is_unique(&c.name) { 0.05 } else { 0.0 };
                if best_number.as_ref().is_none_or(|b| s > b.0) {
                    best_number = Some((s, c.name.clone()));
                }
            }
            a.names.insert(key.clone(), scores);
            a.profiles.insert(key, p);
        }
        if let Some((_, c)) = best_number {
            a.numbers.insert(t.name.clone(), c);
        }
    }
    a
}

/// Scores one column for one field.
fn score(field: &UnifiedField, a: &Analysis, table: &str, column: &str, class: TypeClass) -> f32 {
    let key = (table.to_string(), column.to_string());
    let names = &a.names[&key];
    let name = names.get(&format!("f:{}", field.key())).copied().unwrap_or(0.0);
    let (fit, bonus) = sniff::fit(field, class, &a.profiles[&key]);
    if name < 0.3 && bonus < 0.1 {
        return 0.0;
    }
    let tables = &a.tables[table];
    let ctx_key = format!("t:{}", field.context_key());
    let mut ctx = tables.get(&ctx_key).copied().unwrap_or(0.0);
    // The column's own name may carry the part (`acct_bal_amt`).
    ctx = ctx.max(names.get(&ctx_key).copied().unwrap_or(0.0) * 0.8);
    if field.list.is_some() {
        // A list child's table is often named after its parent too (`bill_item`).
        ctx = ctx.max(tables.get(&format!("t:{}", field.target)).copied().unwrap_or(0.0) * 0.5);
    }
    let s = name * (0.6 + 0.4 * ctx) * fit + bonus * if name >= 0.3 { 1.0 } else { 0.5 };
    s.min(1.0)
}

/// Proposes a definition from an analysed schema and its join edges (no database access).
pub fn propose(schema: &Schema, a: &Analysis, edges: &[Edge], opts: &Options) -> Proposal {
    let catalog = Catalog::load();
    let dict = names::dictionary();
    let number_cols: BTreeSet<(String, String)> = a.numbers.iter().map(|(t, c)| (t.clone(), c.clone())).collect();
    // Every (field, column) pair worth considering.
    let mut pairs: Vec<(usize, Candidate)> = Vec::new();
    for (fi, f) in catalog.fields.iter().enumerate() {
        for t in &schema.tables {
            for c in &t.columns {
                if number_cols.contains(&(t.name.clone(), c.name.clone())) {
                    continue;
                }
                let s = score(f, a, &t.name, &c.name, c.class);
                if s >= 0.15 {
                    pairs.push((
                        fi,
                        Candidate {
                            table: t.name.clone(),
                            column: c.name.clone(),
                            score: s,
                        },
                    ));
                }
            }
        }
    }
    pairs.sort_by(|x, y| y.1.score.total_cmp(&x.1.score).then(x.0.cmp(&y.0)));
    let assign = |pairs: &[(usize, Candidate)]| {
        let mut best: BTreeMap<usize, Candidate> = BTreeMap::new();
        let mut used: BTreeSet<(String, String)> = BTreeSet::new();
        for (fi, c) in pairs {
            if best.contains_key(fi) || used.contains(&(c.table.clone(), c.column.clone())) {
                continue;
            }
            used.insert((c.table.clone(), c.column.clone()));
            best.insert(*fi, c.clone());
        }
        best
    };
    let first = assign(&pairs);
    // Coherence: a part's fields usually come from a few tables. Columns of the tables that already hold
    // a part's confident fields gain a little for that part's other fields; then assign again.
    let mut home: HashMap<String, BTreeMap<String, f32>> = HashMap::new();
    for (fi, c) in &first {
        if c.score >= opts.min_score {
            *home
                .entry(catalog.fields[*fi].context_key())
                .or_default()
                .entry(c.table.clone())
                .or_default() += c.score;
        }
    }
    let mut pairs2: Vec<(usize, Candidate)> = pairs
        .iter()
        .map(|(fi, c)| {
            let f = &catalog.fields[*fi];
            let held = home
                .get(&f.context_key())
                .and_then(|h| h.get(&c.table))
                .copied()
                .unwrap_or(0.0);
            let mut c = c.clone();
            if held >= 1.0 {
                c.score = (c.score * 1.1).min(1.0);
            }
            (*fi, c)
        })
        .collect();
    pairs2.sort_by(|x, y| y.1.score.total_cmp(&x.1.score).then(x.0.cmp(&y.0)));
    let chosen = assign(&pairs2);
    let reach = joins::reachable(&a.numbers, edges);

    let mut entities = Vec::new();
    for target in &catalog.targets {
        let terms = dict.targets.get(&target.path).cloned().unwrap_or_default();
        let mut fields: Vec<FieldProposal> = Vec::new();
        for (fi, f) in catalog
            .fields
            .iter()
            .enumerate()
            .filter(|(_, f)| f.target == target.path)
        {
            let best = chosen.get(&fi).cloned();
            let mut runners: Vec<Candidate> = pairs2
                .iter()
                .filter(|(x, c)| *x == fi && Some(c) != best.as_ref())
                .map(|(_, c)| c.clone())
                .collect();
            runners.truncate(opts.runners_up);
            let (active, reason) = match &best {
                None => (false, None),
                Some(b) if b.score < opts.min_score => (
                    false,
                    Some(format!("low confidence ({:.2} < {:.2})", b.score, opts.min_score)),
                ),
                Some(b) if !reach.contains(&b.table) => (
                    false,
                    Some(format!(
                        "no join path from `{}` to a table keyed by the subscriber's number",
                        b.table
                    )),
                ),
                Some(_) => (true, None),
            };
            let conversion = best
                .as_ref()
                .map(|b| conversion(f, schema, a, &b.table, &b.column))
                .unwrap_or_default();
            fields.push(FieldProposal {
                field: f.clone(),
                result_column: best.as_ref().map(|b| b.column.clone()).unwrap_or_default(),
                best,
                runners_up: runners,
                active,
                inactive_reason: reason,
                conversion,
            });
        }
        let name = terms.name.clone().unwrap_or_else(|| target.path.replace('.', "_"));
        let mut e = EntityProposal {
            target: target.path.clone(),
            name,
            stream: target.stream,
            enabled: false,
            fields,
            plan: None,
            key: vec![],
            sql: None,
            time_param_format: None,
            note: None,
        };
        plan_entity(&mut e, schema, a, edges, &terms, opts);
        // Parts with nothing better than a weak candidate would only clutter the file.
        if e.fields
            .iter()
            .any(|f| f.best.as_ref().is_some_and(|b| b.score >= 0.35))
        {
            entities.push(e);
        }
    }
    // The primary entity: one row per subscriber, from a table whose number column is unique.
    let primary = entities
        .iter()
        .filter(|e| e.enabled && !e.stream)
        .max_by_key(|e| {
            let t = catalog.target(&e.target);
            let singular = t.is_some_and(|t| !t.repeated);
            let unique = e.plan.as_ref().is_some_and(|p| {
                schema
                    .table(&p.steps[0].table)
                    .is_some_and(|t| t.is_unique(&p.number_column))
            });
            // The parts a backend is usually "about" come first.
            let usual = PRIMARY_PREFERENCE
                .iter()
                .rev()
                .position(|p| *p == e.target)
                .map_or(0, |i| i + 1);
            (
                singular && unique,
                singular,
                usual,
                e.fields.iter().filter(|f| f.active).count(),
            )
        })
        .map(|e| e.name.clone());
    Proposal {
        system: opts.system.clone(),
        driver: schema.driver,
        entities,
        primary,
        numbers: a.numbers.clone(),
        tables: schema.tables.len(),
    }
}

/// Parts that make a good `primary` entity, best first: what a backend is about.
const PRIMARY_PREFERENCE: &[&str] = &["account", "customer", "line", "network.broadband", "plan", "marketing"];

/// Joins, key, order and SQL for one part; disables it if too little of it was found.
fn plan_entity(
    e: &mut EntityProposal,
    schema: &Schema,
    a: &Analysis,
    edges: &[Edge],
    terms: &names::TermSet,
    opts: &Options,
) {
    let live: Vec<&FieldProposal> = e.fields.iter().filter(|f| f.active).collect();
    let total = e.fields.len();
    // A few confident fields of a part are more often a coincidence than the part (`name` and
    // `status` in a table of another kind): ask for at least two, and for three tenths of a large part.
    let enough = live.len() >= 2.max((total * 3).div_ceil(10)) || live.len() == total;
    if live.is_empty() {
        e.note = Some("nothing confident: fill in by hand or leave out".into());
        return;
    }
    if e.stream && !live.iter().any(|f| f.field.name == "started_at") {
        e.note = Some("no start-time column found: the stream needs one for its time range".into());
        return;
    }
    let mut needed: Vec<String> = Vec::new();
    let mut list_tables: BTreeMap<String, bool> = BTreeMap::new();
    for f in &live {
        let t = f.best.as_ref().map(|b| b.table.clone()).unwrap_or_default();
        if !needed.contains(&t) {
            needed.push(t.clone());
        }
        let only = list_tables.entry(t).or_insert(true);
        *only &= f.field.list.is_some();
    }
    let list_only: BTreeSet<String> = list_tables.into_iter().filter(|(_, v)| *v).map(|(k, _)| k).collect();
    let Some((plan, unreachable)) = joins::plan(&needed, &list_only, &a.numbers, schema, edges) else {
        e.note = Some("no table keyed by the subscriber's number reaches these columns".into());
        return;
    };
    for f in e.fields.iter_mut() {
        if let Some(b) = &f.best {
            if f.active && unreachable.contains(&b.table) {
                f.active = false;
                f.inactive_reason = Some(format!("no join path from `{}` to `{}`", plan.steps[0].table, b.table));
            }
        }
    }
    // Result column names must be unique: alias clashes.
    let mut counts: HashMap<String, usize> = HashMap::new();
    for f in e
        .fields
        .iter()
        .filter(|f| f.best.as_ref().is_some_and(|b| plan.alias_of(&b.table).is_some()))
    {
        *counts.entry(f.result_column.clone()).or_default() += 1;
    }
    for f in e.fields.iter_mut() {
        if let Some(b) = &f.best {
            if counts.get(&f.result_column).copied().unwrap_or(0) > 1 {
                if let Some(al) = plan.alias_of(&b.table) {
                    f.result_column = format!("{al}_{}", b.column);
                }
            }
        }
    }
    let live_count = e.fields.iter().filter(|f| f.active).count();
    e.enabled = live_count > 0 && enough;
    if !e.enabled {
        e.note = Some(format!(
            "only {live_count} confident field{}: review before enabling",
            if live_count == 1 { "" } else { "s" }
        ));
    }
    // Key: the field that identifies an element when rows fan out into sub-lists.
    if let Some(k) = &terms.key {
        let has_lists = e.fields.iter().any(|f| f.active && f.field.list.is_some());
        if has_lists {
            if let Some(f) = e.fields.iter().find(|f| f.active && f.field.path == *k) {
                e.key = vec![f.result_column.clone()];
            }
        }
    }
    let column_ref = |f: &FieldProposal| -> Option<String> {
        let b = f.best.as_ref()?;
        Some(format!(
            "{}.{}",
            plan.alias_of(&b.table)?,
            ident(schema.driver, &b.column)
        ))
    };
    // SELECT every live column, and review candidates from tables already joined.
    let mut select: Vec<String> = Vec::new();
    for f in e.fields.iter().filter(|f| f.best.is_some()) {
        let b = f.best.as_ref().expect("filtered");
        let in_query = plan.alias_of(&b.table).is_some();
        if !(f.active || in_query && b.score >= opts.min_score * 0.5) {
            continue;
        }
        let Some(r) = column_ref(f) else { continue };
        let item = if f.result_column != b.column {
            format!("{r} AS {}", ident(schema.driver, &f.result_column))
        } else {
            r
        };
        if !select.contains(&item) {
            select.push(item);
        }
    }
    let from = &plan.steps[0];
    let mut sql = String::new();
    let _ = writeln!(
        sql,
        "-- Proposed by `complaint-gateway adapters scaffold` for `{}`: review the joins, then run `adapters check`.",
        e.target
    );
    let _ = writeln!(sql, "SELECT {}", select.join(", "));
    let _ = writeln!(sql, "FROM {} {}", ident(schema.driver, &from.table), from.alias);
    for s in &plan.steps[1..] {
        if let Some(n) = &s.note {
            let _ = writeln!(sql, "-- {n}");
        }
        let on: Vec<String> =
            s.on.iter()
                .map(|((a1, c1), (a2, c2))| {
                    format!("{a1}.{} = {a2}.{}", ident(schema.driver, c1), ident(schema.driver, c2))
                })
                .collect();
        let _ = writeln!(
            sql,
            "{}JOIN {} {} ON {}",
            if s.left { "LEFT " } else { "" },
            ident(schema.driver, &s.table),
            s.alias,
            on.join(" AND ")
        );
    }
    let _ = write!(
        sql,
        "WHERE {}.{} = :msisdn",
        from.alias,
        ident(schema.driver, &plan.number_column)
    );
    if e.stream {
        let start = e
            .fields
            .iter()
            .find(|f| f.active && f.field.name == "started_at")
            .and_then(column_ref);
        if let Some(s) = &start {
            let _ = write!(sql, "\n  AND {s} >= :from AND {s} < :to");
        }
        let started = e.fields.iter().find(|f| f.active && f.field.name == "started_at");
        e.time_param_format = started.and_then(|f| f.conversion.format.clone());
    }
    if let Some(order) = &terms.order {
        let mut parts = order.split_whitespace();
        let field = parts.next().unwrap_or("");
        let dir = parts.next().unwrap_or("");
        if let Some(r) = e
            .fields
            .iter()
            .find(|f| f.active && f.field.path == field)
            .and_then(column_ref)
        {
            let _ = write!(
                sql,
                "\nORDER BY {r}{}",
                if dir.is_empty() {
                    String::new()
                } else {
                    format!(" {dir}")
                }
            );
        }
    }
    if let Some(l) = terms.limit {
        if e.fields.iter().all(|f| f.field.list.is_none() || !f.active) {
            let _ = write!(sql, "\nLIMIT {l}");
        }
    }
    sql.push('\n');
    e.sql = Some(sql);
    e.plan = Some(plan);
}

/// Quotes an identifier only where it needs it (not a plain lower-case name, or a reserved word).
fn ident(driver: Driver, name: &str) -> String {
    const RESERVED: &[&str] = &[
        "order", "user", "group", "select", "from", "where", "desc", "asc", "limit", "key", "range", "rank",
        "interval", "table", "check", "default", "to", "by", "in", "is", "on", "as", "and", "or", "not", "all", "case",
        "end", "when", "then", "else", "join", "left", "right", "union", "column", "index", "primary",
    ];
    let plain = name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain && !RESERVED.contains(&name) {
        name.to_string()
    } else {
        quote(driver, name)
    }
}

/// The conversions a column needs for a field: units, timestamp formats, code maps.
fn conversion(f: &UnifiedField, schema: &Schema, a: &Analysis, table: &str, column: &str) -> Conversion {
    let mut c = Conversion::default();
    let Some(col) = schema.table(table).and_then(|t| t.column(column)) else {
        return c;
    };
    let p = &a.profiles[&(table.to_string(), column.to_string())];
    let declared = |cls: TypeClass| -> Option<&'static str> {
        Some(match cls {
            TypeClass::Text => "text",
            TypeClass::Integer => "integer",
            TypeClass::Decimal => "decimal",
            TypeClass::Float => "float",
            TypeClass::Timestamp => "timestamp",
            TypeClass::Date => "date",
            TypeClass::Bool => "bool",
            _ => return None,
        })
    };
    match f.semantic {
        Semantic::Money => {
            c.column_type = declared(col.class);
            match col.class {
                TypeClass::Integer => c.note = Some("an integer column: assumed to hold fen already".into()),
                _ => c.convert = Some("yuan_to_fen"),
            }
        }
        Semantic::Count => c.column_type = declared(col.class),
        Semantic::Time => {
            c.column_type = declared(col.class);
            if matches!(col.class, TypeClass::Text | TypeClass::Integer) && p.compact_time >= 0.8 {
                c.format = Some("%Y%m%d%H%M%S".into());
            } else if col.class == TypeClass::Text && p.non_null == 0 {
                c.note = Some("no rows sampled: set `format` if the text is not ISO-like".into());
            }
        }
        Semantic::Code => {
            c.column_type = declared(col.class);
            if let FieldKind::Enum(values) = &f.kind {
                match &p.codes {
                    Some(codes) if !codes.is_empty() => {
                        let enum_names = codes
                            .iter()
                            .all(|code| values.iter().any(|v| v.eq_ignore_ascii_case(code)));
                        if !enum_names {
                            c.map = guess_map(codes, values);
                            if c.map.iter().any(|(_, _, g)| *g) {
                                c.note = Some("codes matched to values by order or initial: check each".into());
                            }
                        }
                    }
                    _ => c.note = Some("no rows sampled: add a `map` unless the codes are the enum's names".into()),
                }
            }
        }
        Semantic::Flag => {
            c.column_type = declared(col.class);
            if col.class != TypeClass::Bool && !p.is_flag() {
                if let Some(codes) = p.codes.as_ref().filter(|c| c.len() == 2) {
                    c.map = guess_flag(codes);
                    c.note = Some("which code means true was guessed: check it".into());
                }
            }
        }
        _ => {
            if col.class != TypeClass::Text {
                c.column_type = declared(col.class);
            }
        }
    }
    c
}

/// Maps codes to enum values: same names first, then a unique initial (`A` → ACTIVE), then the remaining
/// codes in sorted order to the remaining values in declaration order (`1`,`2`,`9` → ACTIVE, SUSPENDED,
/// CLOSED). The last two are guesses.
fn guess_map(codes: &[String], values: &[String]) -> Vec<(String, String, bool)> {
    let mut out: Vec<(String, String, bool)> = Vec::new();
    let mut free: Vec<String> = values.to_vec();
    let mut rest: Vec<String> = Vec::new();
    for code in codes {
        match free.iter().position(|v| v.eq_ignore_ascii_case(code)) {
            Some(i) => out.push((code.clone(), free.remove(i), false)),
            None => rest.push(code.clone()),
        }
    }
    let mut rest2 = Vec::new();
    for code in rest {
        let first = code.chars().next().map(|c| c.to_ascii_uppercase());
        let hits: Vec<usize> = free
            .iter()
            .enumerate()
            .filter(|(_, v)| {
                code.len() <= 2 && code.chars().all(|c| c.is_ascii_alphabetic()) && v.starts_with(first.unwrap_or(' '))
            })
            .map(|(i, _)| i)
            .collect();
        if hits.len() == 1 {
            out.push((code, free.remove(hits[0]), true));
        } else {
            rest2.push(code);
        }
    }
    rest2.sort_by(|x, y| match (x.parse::<i64>(), y.parse::<i64>()) {
        (Ok(a), Ok(b)) => a.cmp(&b),
        _ => x.cmp(y),
    });
    for (i, code) in rest2.into_iter().enumerate() {
        let v = free
            .get(i)
            .cloned()
            .or_else(|| values.last().cloned())
            .unwrap_or_default();
        out.push((code, v, true));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Two codes of a yes/no column: the one that reads as "yes" (Y…, 1, T…, 是) is true; otherwise the
/// first in sorted order (a guess either way).
fn guess_flag(codes: &[String]) -> Vec<(String, String, bool)> {
    let yes = |c: &str| {
        let u = c.to_ascii_uppercase();
        u.starts_with('Y') || u.starts_with('T') || u == "1" || c.starts_with('是')
    };
    let t = codes.iter().position(|c| yes(c)).unwrap_or(0);
    codes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.clone(), if i == t { "true" } else { "false" }.to_string(), true))
        .collect()
}

fn toml_key(k: &str) -> String {
    if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        k.to_string()
    } else {
        format!("\"{}\"", k.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

fn toml_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

impl FieldProposal {
    /// The mapping as written in `adapter.toml` (without comment).
    fn spec(&self) -> String {
        let c = &self.conversion;
        let simple = c.column_type.is_none() && c.convert.is_none() && c.format.is_none() && c.map.is_empty();
        if simple {
            return format!("{} = {}", toml_key(&self.result_column), toml_str(&self.field.path));
        }
        let mut parts = vec![format!("field = {}", toml_str(&self.field.path))];
        if let Some(t) = c.column_type {
            parts.push(format!("type = {}", toml_str(t)));
        }
        if let Some(v) = c.convert {
            parts.push(format!("convert = {}", toml_str(v)));
        }
        if let Some(fm) = &c.format {
            parts.push(format!("format = {}", toml_str(fm)));
        }
        if !c.map.is_empty() {
            let m: Vec<String> = c
                .map
                .iter()
                .map(|(k, v, _)| format!("{} = {}", toml_str(k), toml_str(v)))
                .collect();
            parts.push(format!("map = {{ {} }}", m.join(", ")));
        }
        format!("{} = {{ {} }}", toml_key(&self.result_column), parts.join(", "))
    }

    fn comment(&self) -> String {
        let mut s = match &self.best {
            Some(b) => format!("{}.{} {:.2}", b.table, b.column, b.score),
            None => String::new(),
        };
        if !self.runners_up.is_empty() {
            let r: Vec<String> = self.runners_up.iter().map(Candidate::label).collect();
            let _ = write!(s, "; runners-up: {}", r.join(", "));
        }
        if let Some(n) = &self.conversion.note {
            let _ = write!(s, "; {n}");
        }
        s
    }
}

impl Proposal {
    /// The proposed `adapter.toml`, with scores and runners-up in comments.
    pub fn adapter_toml(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "## Proposed by `complaint-gateway adapters scaffold` for a {} database.",
            self.driver.as_str()
        );
        let _ = writeln!(
            s,
            "## Each mapping's comment: the chosen column and its score (0..1), then the runners-up."
        );
        let _ = writeln!(
            s,
            "## Commented-out mappings scored low or could not be joined: review them, then run"
        );
        let _ = writeln!(
            s,
            "## `complaint-gateway adapters check` against the database. See docs/adapters.md."
        );
        let _ = writeln!(s, "name = {}", toml_str(&self.system));
        let _ = writeln!(
            s,
            "description = {}",
            toml_str(&format!("{} (scaffolded: review)", self.system))
        );
        let _ = writeln!(
            s,
            "url_env = {}",
            toml_str(&format!("CGW_{}_URL", self.system.to_ascii_uppercase()))
        );
        match &self.primary {
            Some(p) => {
                let _ = writeln!(s, "primary = {}", toml_str(p));
            }
            None => {
                let _ = writeln!(
                    s,
                    "## No entity was confident enough to be primary: choose one.\n# primary = \"\""
                );
            }
        }
        let _ = writeln!(s, "utc_offset = \"+08:00\"");
        let numbers: Vec<String> = self.numbers.iter().map(|(t, c)| format!("{t}.{c}")).collect();
        let _ = writeln!(
            s,
            "## Subscriber-number columns found: {}",
            if numbers.is_empty() {
                "none".to_string()
            } else {
                numbers.join(", ")
            }
        );
        for e in &self.entities {
            let section = if e.stream {
                format!("streams.{}", e.name)
            } else {
                format!("entities.{}", e.name)
            };
            let on = if e.enabled { "" } else { "# " };
            s.push('\n');
            if let Some(n) = &e.note {
                let _ = writeln!(s, "## {}: {n}", e.target);
            }
            let _ = writeln!(s, "{on}[{section}]");
            if !e.stream {
                let _ = writeln!(s, "{on}target = {}", toml_str(&e.target));
            }
            if e.sql.is_some() {
                let _ = writeln!(s, "{on}sql = {}", toml_str(&format!("{}.sql", e.name)));
            }
            if let Some(f) = &e.time_param_format {
                let _ = writeln!(s, "{on}time_param_format = {}", toml_str(f));
            }
            if !e.key.is_empty() {
                let keys: Vec<String> = e.key.iter().map(|k| toml_str(k)).collect();
                let _ = writeln!(s, "{on}key = [{}]", keys.join(", "));
            }
            let _ = writeln!(s, "{on}[{section}.fields]");
            for f in e.fields.iter().filter(|f| f.best.is_some()) {
                let live = e.enabled && f.active;
                let prefix = if live { "" } else { "# " };
                let reason = f
                    .inactive_reason
                    .as_deref()
                    .map(|r| format!(" [{r}]"))
                    .unwrap_or_default();
                let _ = writeln!(s, "{prefix}{}  # {}{reason}", f.spec(), f.comment());
            }
            let missing: Vec<&str> = e
                .fields
                .iter()
                .filter(|f| f.best.is_none())
                .map(|f| f.field.path.as_str())
                .collect();
            if !missing.is_empty() {
                let _ = writeln!(s, "## not found in this schema: {}", missing.join(", "));
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guesses_code_maps() {
        let v = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let m = guess_map(&v(&["1", "2", "9"]), &v(&["ACTIVE", "SUSPENDED", "CLOSED"]));
        assert_eq!(
            m.iter().map(|(a, b, _)| (a.as_str(), b.as_str())).collect::<Vec<_>>(),
            vec![("1", "ACTIVE"), ("2", "SUSPENDED"), ("9", "CLOSED")]
        );
        let m = guess_map(
            &v(&["DONE", "PENDING", "REJECTED"]),
            &v(&["PENDING", "COMPLETED", "REJECTED", "CANCELLED"]),
        );
        assert!(m.contains(&("PENDING".into(), "PENDING".into(), false)), "{m:?}");
        assert!(m.contains(&("DONE".into(), "COMPLETED".into(), true)), "{m:?}");
        let m = guess_map(
            &v(&["A", "I", "R", "S"]),
            &v(&["ACTIVE", "SUSPENDED", "INACTIVE", "REPLACED"]),
        );
        assert!(
            m.contains(&("S".into(), "SUSPENDED".into(), true)) && m.contains(&("R".into(), "REPLACED".into(), true)),
            "{m:?}"
        );
        let f = guess_flag(&v(&["HF", "YF"]));
        assert_eq!(f[1], ("YF".into(), "true".into(), true));
    }
}
