//! Matching: every column scored for every unified field (names, table context, types and sampled
//! values), fields assigned their best free column, then each part planned.
use super::catalog::{Catalog, UnifiedField};
use super::convert::conversion;
use super::introspect::Schema;
use super::joins::{self, Edge};
use super::query::plan_entity;
use super::sniff::{self, Profile};
use super::{names, Candidate, EntityProposal, FieldProposal, Options, Proposal};
use crate::adapters::sql::column_type::ColumnType;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Per-column evidence, computed once.
pub struct Analysis {
    /// (table, column) → name scores per dictionary key.
    pub(super) names: HashMap<(String, String), names::Scores>,
    /// table → view-part scores.
    pub(super) tables: HashMap<String, names::Scores>,
    pub(super) profiles: HashMap<(String, String), Profile>,
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
            let textual = matches!(c.class, ColumnType::Text | ColumnType::Integer | ColumnType::Unknown);
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
fn score(field: &UnifiedField, a: &Analysis, table: &str, column: &str, class: ColumnType) -> f32 {
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
