//! Measuring a scaffold against a known-good mapping: the share of unified fields it maps to the right
//! column. Ground truth is either a reviewed adapter folder (its SQL is read to find which table each
//! result column comes from) or a file of `"target.field" = "table.column"` lines.
use super::Proposal;
use crate::adapters::sql::definition::Definition;
use std::collections::BTreeMap;
use std::path::Path;

pub use super::{ColumnRef, Equality};
/// A part's target, its SQL text, and its (result column, field path) pairs.
type Part = (String, String, Vec<(String, String)>);

/// The right column for each unified field a backend holds: `target.path` → (table, column).
#[derive(Debug, Clone, Default)]
pub struct Truth {
    pub fields: BTreeMap<String, ColumnRef>,
    /// Column pairs the reviewed queries join on (equal values either way).
    pub equalities: Vec<Equality>,
    /// The subscriber-number column a person keys the view on.
    pub number: Option<ColumnRef>,
    /// Fields no single column holds (a person derives them).
    pub derived: Vec<String>,
    /// The links between tables a person's queries use.
    pub joins: Vec<Equality>,
}

impl Truth {
    /// Reads `"target.field" = "table.column"` pairs, either at the top level or, in a person's mapping
    /// (`expected.toml`), under `[fields]` with the subscriber-number column (`number`), the fields no
    /// column holds (`[derived]`) and the links between tables (`[joins] expected = ["a.x = b.y"]`).
    pub fn from_file(path: &Path) -> Result<Truth, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let doc: toml::Table = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut t = Truth::default();
        let bad = |k: &str, v: &str| format!("{}: `{k}` = `{v}` is not table.column", path.display());
        let col = |k: &str, v: &toml::Value| -> Result<ColumnRef, String> {
            let v = v.as_str().ok_or_else(|| bad(k, &v.to_string()))?;
            let (table, c) = v.split_once('.').ok_or_else(|| bad(k, v))?;
            Ok((table.to_string(), c.to_ascii_lowercase()))
        };
        let fields = match doc.get("fields") {
            Some(toml::Value::Table(f)) => f.clone(),
            _ => doc.clone(),
        };
        for (k, v) in &fields {
            t.fields.insert(k.clone(), col(k, v)?);
        }
        if let Some(n) = doc.get("number") {
            t.number = Some(col("number", n)?);
        }
        if let Some(toml::Value::Table(d)) = doc.get("derived") {
            t.derived = d.keys().cloned().collect();
        }
        if let Some(j) = doc
            .get("joins")
            .and_then(|j| j.get("expected"))
            .and_then(|e| e.as_array())
        {
            for e in j {
                let e = e.as_str().unwrap_or_default();
                let (l, r) = e.split_once('=').ok_or_else(|| bad("joins", e))?;
                let side = |x: &str| col("joins", &toml::Value::String(x.trim().to_string()));
                t.joins.push((side(l)?, side(r)?));
            }
        }
        Ok(t)
    }

    /// Derives the truth from a reviewed adapter folder: each mapped result column is traced through its
    /// query's select list (`alias.column [AS name]`) and FROM/JOIN aliases to its table.
    pub fn from_definition(dir: &Path) -> Result<Truth, String> {
        let def = Definition::load(dir).map_err(|e| e.to_string())?;
        let mut t = Truth::default();
        let mut parts: Vec<Part> = Vec::new();
        for e in &def.entities {
            let sql = sql_text(e.sql_file.as_deref(), &e.sql);
            parts.push((
                e.target_text.clone(),
                sql,
                e.fields
                    .iter()
                    .map(|f| (f.column.clone(), f.path.text.clone()))
                    .collect(),
            ));
        }
        for s in &def.streams {
            let sql = sql_text(s.sql_file.as_deref(), &s.sql);
            parts.push((
                "usage_records".to_string(),
                sql,
                s.fields
                    .iter()
                    .map(|f| (f.column.clone(), f.path.text.clone()))
                    .collect(),
            ));
        }
        for (target, sql, fields) in parts {
            let (select, aliases, eqs) = parse_select(&sql);
            t.equalities.extend(eqs);
            for (column, path) in fields {
                if let Some((alias, col)) = select.get(&column) {
                    let table = aliases.get(alias).cloned().unwrap_or_else(|| alias.clone());
                    t.fields.insert(format!("{target}.{path}"), (table, col.clone()));
                }
            }
        }
        Ok(t)
    }
}

fn sql_text(file: Option<&Path>, _t: &crate::adapters::sql::text::SqlTemplate) -> String {
    file.and_then(|f| std::fs::read_to_string(f).ok()).unwrap_or_default()
}

/// Result column → (alias, column); alias → table; `a.x = b.y` equalities (as table columns).
#[allow(clippy::type_complexity)]
fn parse_select(
    sql: &str,
) -> (
    BTreeMap<String, (String, String)>,
    BTreeMap<String, String>,
    Vec<((String, String), (String, String))>,
) {
    let text: String = sql
        .lines()
        .map(|l| l.split("--").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join(" ");
    let upper = text.to_ascii_uppercase();
    let mut select = BTreeMap::new();
    let mut aliases = BTreeMap::new();
    let (Some(s), Some(f)) = (upper.find("SELECT"), upper.find(" FROM ")) else {
        return (select, aliases, vec![]);
    };
    for item in text[s + 6..f].split(',') {
        let words: Vec<&str> = item.split_whitespace().collect();
        let Some(first) = words.first() else { continue };
        let (alias, col) = first.split_once('.').unwrap_or(("", first));
        let name = if words.len() >= 3 && words[words.len() - 2].eq_ignore_ascii_case("AS") {
            words[words.len() - 1]
        } else {
            col
        };
        select.insert(name.to_ascii_lowercase(), (alias.to_string(), col.to_ascii_lowercase()));
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    for (i, w) in words.iter().enumerate() {
        if (w.eq_ignore_ascii_case("FROM") || w.eq_ignore_ascii_case("JOIN")) && i + 1 < words.len() {
            let table = words[i + 1].trim_end_matches(',');
            if table.starts_with('(') {
                continue;
            }
            let alias = words
                .get(i + 2)
                .filter(|a| {
                    !["ON", "JOIN", "LEFT", "WHERE", "INNER", "ORDER", "LIMIT", "CROSS"]
                        .iter()
                        .any(|k| a.eq_ignore_ascii_case(k))
                })
                .map(|a| a.trim_end_matches(','))
                .unwrap_or(table);
            aliases.insert(alias.to_string(), table.to_string());
        }
    }
    let mut eqs = Vec::new();
    for (i, w) in words.iter().enumerate() {
        if *w == "=" && i > 0 && i + 1 < words.len() {
            let (l, r) = (words[i - 1], words[i + 1]);
            if let (Some((la, lc)), Some((ra, rc))) = (l.split_once('.'), r.split_once('.')) {
                if let (Some(lt), Some(rt)) = (aliases.get(la), aliases.get(ra)) {
                    eqs.push((
                        (lt.clone(), lc.to_ascii_lowercase()),
                        (rt.clone(), rc.to_ascii_lowercase()),
                    ));
                }
            }
        }
    }
    (select, aliases, eqs)
}

/// How a proposal compares with the truth.
#[derive(Debug, Clone, Default)]
pub struct Accuracy {
    pub system: String,
    /// Fields the backend holds (the truth's size).
    pub fields: usize,
    /// Of those, mapped live to the right column.
    pub right: usize,
    /// Mapped live to another column: (field, expected, proposed).
    pub wrong: Vec<(String, String, String)>,
    /// Not mapped live (left commented out for review, or not found): (field, expected).
    pub missed: Vec<(String, String)>,
    /// Live mappings of fields the backend does not hold: (field, proposed).
    pub extra: Vec<(String, String)>,
    /// Wall time of the scaffold (introspection, sampling, matching), where measured.
    pub scaffold_secs: f64,
    /// Every live mapping of a field the truth holds: (its score, whether it is right). What the
    /// confidence threshold is calibrated on.
    pub scored: Vec<(f32, bool)>,
    /// Per field of the truth: the proposal's best column and runners-up with their scores, printed after
    /// each wrong or missed field (what to look at when tuning).
    pub detail: BTreeMap<String, String>,
}

impl Accuracy {
    /// The share of the backend's fields mapped to the right column.
    pub fn share(&self) -> f64 {
        if self.fields == 0 {
            return 0.0;
        }
        self.right as f64 / self.fields as f64
    }

    /// A few lines for a report.
    pub fn render(&self) -> String {
        let mut s = format!(
            "{:<16} {:>3}/{:<3} right ({:>5.1}%), {} wrong, {} left for review, {} extra; scaffold {:.2}s\n",
            self.system,
            self.right,
            self.fields,
            100.0 * self.share(),
            self.wrong.len(),
            self.missed.len(),
            self.extra.len(),
            self.scaffold_secs
        );
        let confident: Vec<bool> = self
            .scored
            .iter()
            .filter(|(sc, _)| *sc >= super::CONFIDENT)
            .map(|(_, r)| *r)
            .collect();
        s.push_str(&format!(
            "    confident (score >= {:.2}): {} of {} right\n",
            super::CONFIDENT,
            confident.iter().filter(|r| **r).count(),
            confident.len()
        ));
        let detail = |f: &str| self.detail.get(f).map(|d| format!(" [{d}]")).unwrap_or_default();
        for (f, e, g) in &self.wrong {
            s.push_str(&format!("    wrong   {f}: proposed {g}, right is {e}{}\n", detail(f)));
        }
        for (f, e) in &self.missed {
            s.push_str(&format!("    review  {f}: right is {e}{}\n", detail(f)));
        }
        for (f, g) in &self.extra {
            s.push_str(&format!("    extra   {f}: proposed {g}\n"));
        }
        s
    }
}

/// Compares a proposal's live mappings with the truth. A proposed column counts as right when it is the
/// true column or equal to it by a join condition of either query (`yh_zl.tcbh = tc_dy.tcbh`).
pub fn evaluate(system: &str, proposal: &Proposal, truth: &Truth) -> Accuracy {
    let active: BTreeMap<String, (String, String)> =
        proposal.active().into_iter().map(|(k, t, c)| (k, (t, c))).collect();
    let scores: BTreeMap<String, f32> = proposal
        .entities
        .iter()
        .filter(|e| e.enabled)
        .flat_map(|e| e.fields.iter().filter(|f| f.active))
        .filter_map(|f| f.best.as_ref().map(|b| (f.field.key(), b.score)))
        .collect();
    let mut acc = Accuracy {
        system: system.to_string(),
        fields: truth.fields.len(),
        ..Default::default()
    };
    for (field, expected) in &truth.fields {
        let target = field.split('.').take_while(|_| true).collect::<Vec<_>>();
        let target = proposal
            .entities
            .iter()
            .map(|e| e.target.as_str())
            .find(|t| field.starts_with(&format!("{t}.")))
            .unwrap_or(target[0])
            .to_string();
        let mut eq = truth.equalities.clone();
        eq.extend(truth.joins.iter().cloned());
        eq.extend(proposal.join_equalities(&target));
        let show = |(t, c): &(String, String)| format!("{t}.{c}");
        let score = scores.get(field).copied().unwrap_or(0.0);
        let proposed = proposal
            .entities
            .iter()
            .flat_map(|e| e.fields.iter())
            .find(|f| f.field.key() == *field);
        if let Some(p) = proposed {
            let listed: Vec<String> = p.best.iter().chain(p.runners_up.iter()).map(|c| c.label()).collect();
            acc.detail.insert(field.clone(), listed.join(", "));
        }
        match active.get(field) {
            Some(got) if got == expected || equal_by_join(got, expected, &eq) => {
                acc.right += 1;
                acc.scored.push((score, true));
            }
            Some(got) => {
                acc.wrong.push((field.clone(), show(expected), show(got)));
                acc.scored.push((score, false));
            }
            None => acc.missed.push((field.clone(), show(expected))),
        }
    }
    for (field, got) in &active {
        if !truth.fields.contains_key(field) {
            acc.extra.push((field.clone(), format!("{}.{}", got.0, got.1)));
        }
    }
    acc
}

fn equal_by_join(a: &ColumnRef, b: &ColumnRef, eqs: &[Equality]) -> bool {
    // Transitive closure over a handful of pairs.
    let mut class = vec![a.clone()];
    let mut changed = true;
    while changed {
        changed = false;
        for (x, y) in eqs {
            for (p, q) in [(x, y), (y, x)] {
                if class.contains(p) && !class.contains(q) {
                    class.push(q.clone());
                    changed = true;
                }
            }
        }
    }
    class.contains(b)
}

/// Runs SQL files (statements separated by `;` at line ends) against `url`: how fixtures are loaded.
pub async fn load_sql_files(url: &str, files: &[&Path]) -> anyhow::Result<()> {
    use crate::adapters::sql::text::Driver;
    let mut statements = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
        let body: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("--"))
            .collect::<Vec<_>>()
            .join("\n");
        statements.extend(
            body.split(";\n")
                .map(|s| s.trim().trim_end_matches(';').to_string())
                .filter(|s| !s.is_empty()),
        );
    }
    macro_rules! run {
        ($pool:expr) => {{
            let pool = $pool;
            for s in &statements {
                sqlx::query(sqlx::AssertSqlSafe(s.clone()))
                    .execute(&pool)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}: {}", s.lines().next().unwrap_or("")))?;
            }
            pool.close().await;
        }};
    }
    match Driver::from_url(url) {
        Some(Driver::Sqlite) => {
            let opts: sqlx::sqlite::SqliteConnectOptions = url.parse()?;
            run!(
                sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with(opts.create_if_missing(true))
                    .await?
            )
        }
        // One connection: a fixture may set its session's sql_mode first.
        Some(Driver::MySql) => run!(
            sqlx::mysql::MySqlPoolOptions::new()
                .max_connections(1)
                .connect(url)
                .await?
        ),
        Some(Driver::Postgres) => run!(sqlx::PgPool::connect(url).await?),
        None => anyhow::bail!("unsupported URL scheme"),
    }
    Ok(())
}

/// The fixture schemas named differently again (`tests/fixtures/scaffold_*`): each holds `schema.sql`,
/// `data.sql` and `truth.toml`.
pub const FIXTURES: &[&str] = &[
    "scaffold_city2_billing",
    "scaffold_abbrev_crm",
    "scaffold_camel_inventory",
];

/// The folder of a scaffold fixture.
pub fn fixture_dir(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// Scaffolds the three demo schemas (seeded with `subscribers` into SQLite under `dir`) and the fixture
/// schemas, and measures each against its truth.
pub async fn measure_all(dir: &Path, subscribers: u64) -> anyhow::Result<Vec<(Accuracy, Proposal)>> {
    let urls = crate::tools::seed::load::sqlite_urls(dir);
    let as_of = chrono::NaiveDate::from_ymd_opt(2026, 11, 28).expect("a valid date");
    crate::tools::seed::load::seed_urls(&urls, subscribers, as_of).await?;
    let mut out = Vec::new();
    for (system, url) in &urls {
        let started = std::time::Instant::now();
        let p = super::scaffold(url, &super::Options::new(system.name()))
            .await
            .map_err(anyhow::Error::msg)?;
        let secs = started.elapsed().as_secs_f64();
        let truth = Truth::from_definition(
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("adapters")
                .join(system.name()),
        )
        .map_err(anyhow::Error::msg)?;
        let mut acc = evaluate(system.name(), &p, &truth);
        acc.scaffold_secs = secs;
        out.push((acc, p));
    }
    for name in FIXTURES {
        let fx = fixture_dir(name);
        let url = format!("sqlite://{}?mode=rwc", dir.join(format!("{name}.db")).display());
        load_sql_files(&url, &[&fx.join("schema.sql"), &fx.join("data.sql")]).await?;
        let system = name.trim_start_matches("scaffold_");
        let started = std::time::Instant::now();
        let p = super::scaffold(&url, &super::Options::new(system))
            .await
            .map_err(anyhow::Error::msg)?;
        let secs = started.elapsed().as_secs_f64();
        let truth = Truth::from_file(&fx.join("truth.toml")).map_err(anyhow::Error::msg)?;
        let mut acc = evaluate(system, &p, &truth);
        acc.scaffold_secs = secs;
        out.push((acc, p));
    }
    Ok(out)
}

/// The real open-source schemas (`tests/fixtures/scaffold_real_<name>`): name, engine, and whether the
/// scaffold was tuned on it (the others are measured only).
pub const REAL: &[(&str, crate::adapters::sql::text::Driver, bool)] = &[
    ("astpp", crate::adapters::sql::text::Driver::MySql, true),
    ("x2crm", crate::adapters::sql::text::Driver::MySql, true),
    ("osticket", crate::adapters::sql::text::Driver::MySql, false),
    ("phpipam", crate::adapters::sql::text::Driver::MySql, false),
    ("lago", crate::adapters::sql::text::Driver::Postgres, false),
    ("a2billing", crate::adapters::sql::text::Driver::MySql, false),
    ("dolibarr", crate::adapters::sql::text::Driver::MySql, false),
    ("fossbilling", crate::adapters::sql::text::Driver::MySql, false),
    ("magnusbilling", crate::adapters::sql::text::Driver::MySql, false),
    ("daloradius", crate::adapters::sql::text::Driver::MySql, false),
];

/// A scaffold of one real schema against a person's mapping.
pub struct RealRun {
    pub accuracy: Accuracy,
    pub proposal: Proposal,
    pub tuning: bool,
    /// The person's joins the proposed queries use.
    pub joins_right: Vec<String>,
    /// Joins the proposed queries use that the person's mapping does not.
    pub joins_other: Vec<String>,
    /// The person's joins among tables the proposal uses, not proposed.
    pub joins_missed: Vec<String>,
    /// Enabled entities, and those whose query returned rows for the sampled subscribers.
    pub enabled: usize,
    pub enabled_with_rows: usize,
    /// Whether the proposal keyed the subscriber on the person's number column.
    pub number_right: bool,
}

impl RealRun {
    pub fn render(&self) -> String {
        let mut s = self.accuracy.render();
        s.push_str(&format!(
            "    joins: {} right, {} other, {} missed; enabled queries returning rows: {}/{}; number column {}\n",
            self.joins_right.len(),
            self.joins_other.len(),
            self.joins_missed.len(),
            self.enabled_with_rows,
            self.enabled,
            if self.number_right { "right" } else { "WRONG" }
        ));
        for j in &self.joins_other {
            s.push_str(&format!("    other join   {j}\n"));
        }
        for j in &self.joins_missed {
            s.push_str(&format!("    missed join  {j}\n"));
        }
        s
    }
}

fn same_pair(a: &Equality, b: &Equality) -> bool {
    a == b || (a.0 == b.1 && a.1 == b.0)
}

/// Loads a real fixture into the empty database at `url` (MariaDB or PostgreSQL; the caller creates and
/// drops it, e.g. with the test kit's `TestDatabase`), scaffolds it and compares the proposal with
/// `expected.toml`.
pub async fn measure_real(name: &str, url: &str, tuning: bool) -> anyhow::Result<RealRun> {
    let fx = fixture_dir(&format!("scaffold_real_{name}"));
    load_sql_files(url, &[&fx.join("schema.sql"), &fx.join("data.sql")]).await?;
    let run = async {
        let started = std::time::Instant::now();
        let p = super::scaffold(url, &super::Options::new(name))
            .await
            .map_err(anyhow::Error::msg)?;
        let truth = Truth::from_file(&fx.join("expected.toml")).map_err(anyhow::Error::msg)?;
        let mut accuracy = evaluate(name, &p, &truth);
        accuracy.scaffold_secs = started.elapsed().as_secs_f64();
        let show = |(a, b): &Equality| format!("{}.{} = {}.{}", a.0, a.1, b.0, b.1);
        let mut proposed: Vec<Equality> = Vec::new();
        let mut used: std::collections::BTreeSet<String> = Default::default();
        for e in p.entities.iter().filter(|e| e.enabled) {
            for eq in p.join_equalities(&e.target) {
                if !proposed.iter().any(|x| same_pair(x, &eq)) {
                    proposed.push(eq);
                }
            }
            if let Some(plan) = &e.plan {
                used.extend(plan.steps.iter().map(|s| s.table.clone()));
            }
        }
        let (right, other): (Vec<Equality>, Vec<Equality>) = proposed
            .into_iter()
            .partition(|x| truth.joins.iter().any(|t| same_pair(t, x)));
        let missed = truth
            .joins
            .iter()
            .filter(|t| used.contains(&t.0 .0) && used.contains(&t.1 .0) && !right.iter().any(|r| same_pair(r, t)))
            .map(show)
            .collect();
        let enabled: Vec<&super::EntityProposal> = p.entities.iter().filter(|e| e.enabled).collect();
        let number_right = truth.number.as_ref().is_some_and(|(t, c)| {
            enabled
                .iter()
                .filter_map(|e| e.plan.as_ref())
                .any(|pl| pl.steps[0].table == *t && pl.number_column == *c)
        });
        Ok(RealRun {
            enabled: enabled.len(),
            enabled_with_rows: enabled
                .iter()
                .filter(|e| e.sampled.is_some_and(|(hits, _)| hits > 0))
                .count(),
            accuracy,
            tuning,
            joins_right: right.iter().map(show).collect(),
            joins_other: other.iter().map(show).collect(),
            joins_missed: missed,
            number_right,
            proposal: p,
        })
    }
    .await;
    run
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traces_result_columns_to_tables() {
        let (sel, al, eqs) = parse_select(
            "-- c\nSELECT y.tcbh, t.tcmc, p.tcmc AS yytcmc\nFROM yh_zl y\nJOIN tc_dy t ON t.tcbh = y.tcbh\nLEFT JOIN tc_dy p ON p.tcbh = y.yytcbh\nWHERE y.sjhm = :msisdn",
        );
        assert_eq!(sel["yytcmc"], ("p".to_string(), "tcmc".to_string()));
        assert_eq!(al["p"], "tc_dy");
        assert!(eqs.contains(&(("tc_dy".into(), "tcbh".into()), ("yh_zl".into(), "tcbh".into()))));
    }

    #[test]
    fn demo_truth_covers_every_mapped_field() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("adapters");
        let billing = Truth::from_definition(&dir.join("billing")).unwrap();
        assert_eq!(billing.fields["account.balance_fen"], ("zh_xx".into(), "zhye".into()));
        assert_eq!(
            billing.fields["plan.pending_plan_name"],
            ("tc_dy".into(), "tcmc".into())
        );
        assert_eq!(
            billing.fields["usage_records.started_at"],
            ("xd_jl".into(), "kssj".into())
        );
        assert_eq!(billing.fields.len(), 62);
        assert_eq!(Truth::from_definition(&dir.join("crm")).unwrap().fields.len(), 24);
        assert_eq!(Truth::from_definition(&dir.join("resource")).unwrap().fields.len(), 25);
    }
}
