//! Joins checked against the data: naming conventions confirmed by sampled values, columns of one name
//! indexed in two tables, value containment for tables nothing else reaches, and every join from the
//! subscriber's row run for the sampled subscribers' keys. Every lookup binds the sampled values as
//! parameters.
use super::introspect::{quote, Schema, Table};
use super::joins::{joinable, key_like, named_parent, reachable, ubiquitous, Edge, EdgeKind, AUDIT};
use crate::adapters::sql::column_type::ColumnType;
use crate::adapters::sql::decode::DbValue;
use crate::adapters::sql::{Bind, Pool};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Checks naming-convention edges against the data: the share of the column's sampled values found in the
/// other table. An edge whose values are mostly not there is dropped; one without values stays, marked.
pub async fn verify_naming(pool: &Pool, schema: &Schema, edges: &mut Vec<Edge>) {
    let mut keep = Vec::with_capacity(edges.len());
    for mut e in std::mem::take(edges) {
        if e.kind == EdgeKind::Naming(None) {
            let (col, target) = e.on[0].clone();
            let (Some(t), Some(p)) = (schema.table(&e.a), schema.table(&e.b)) else {
                continue;
            };
            let prof = super::sniff::profile(&t.values(&col));
            let values: Vec<String> = prof.examples.iter().filter(|v| v.as_str() != "0").cloned().collect();
            if values.len() >= 2 {
                let found = overlap(pool, schema, p, &target, &values).await;
                if found < 0.5 {
                    continue;
                }
                e.kind = EdgeKind::Naming(Some(found));
            }
        }
        keep.push(e);
    }
    *edges = keep;
}

/// A join reaching fewer of the sampled subscribers than this links something else (the one agent or
/// administrator who made every row of the other table), unless the other table's keys are all
/// subscribers' (a table few subscribers have rows in).
const RARE_LINK: f32 = 0.05;

/// Most joins whose reach over the subscribers one scaffold checks against the data.
const MAX_COVERAGE_CHECKS: usize = 400;

/// How many subscribers a join from a number-keyed table reaches: the share of the subscribers' sampled
/// join values (rows with a number) found in the other table. A declared foreign key can point the other way
/// from the subscriber's link (`pkg_offer.id_user` is the agent who made an offer; the subscriber's offer is
/// `pkg_user.id_offer`): a join almost no subscriber has a row through is dropped, and where two joins link the same
/// tables, one reaching far fewer subscribers than the other is dropped too.
///
/// Returns, for each table one kept join away from a number-keyed table, how that join reaches it.
/// A table whose numbers are none of the other number tables' (the staff's own phones in `operators`) holds
/// someone else's numbers: it stops counting as keyed by the subscriber's number.
pub async fn prune_by_coverage(
    pool: &Pool,
    schema: &Schema,
    numbers: &mut BTreeMap<String, String>,
    edges: &mut Vec<Edge>,
) -> BTreeMap<String, Link> {
    let mut coverage: Vec<Option<f32>> = Vec::with_capacity(edges.len());
    let mut checked = 0;
    for e in edges.iter() {
        // Each check costs one or two lookups: past the budget, a join is kept as its evidence says.
        let touches = numbers.contains_key(&e.a) || numbers.contains_key(&e.b);
        let c = if touches && checked < MAX_COVERAGE_CHECKS {
            checked += 1;
            subscriber_coverage(pool, schema, numbers, e).await
        } else {
            None
        };
        coverage.push(c);
    }
    let pair = |e: &Edge| {
        let (x, y) = if e.a <= e.b { (&e.a, &e.b) } else { (&e.b, &e.a) };
        (x.clone(), y.clone())
    };
    let mut best: BTreeMap<(String, String), f32> = BTreeMap::new();
    for (e, c) in edges.iter().zip(&coverage) {
        if let Some(c) = c {
            let b = best.entry(pair(e)).or_default();
            *b = b.max(*c);
        }
    }
    // Number tables whose every number-to-number join found none of the other's numbers.
    let mut foreign: BTreeMap<String, bool> = BTreeMap::new();
    for (e, c) in edges.iter().zip(&coverage) {
        if let (EdgeKind::Number, Some(c)) = (&e.kind, c) {
            for t in [&e.a, &e.b] {
                let f = foreign.entry(t.clone()).or_insert(true);
                *f &= *c < RARE_LINK;
            }
        }
    }
    let rows = |t: &str| schema.table(t).map_or(0, |t| t.sample.len());
    let most = numbers.keys().map(|t| rows(t)).max().unwrap_or(0);
    for (t, f) in foreign {
        if f && rows(&t) < most {
            if std::env::var("CGW_SCAFFOLD_DEBUG").is_ok() {
                eprintln!("numbers of {t} are no subscriber's");
            }
            numbers.remove(&t);
        }
    }
    let mut keep = Vec::with_capacity(edges.len());
    let mut links: BTreeMap<String, Link> = BTreeMap::new();
    for (e, c) in std::mem::take(edges).into_iter().zip(coverage) {
        if e.kind == EdgeKind::Number && !(numbers.contains_key(&e.a) && numbers.contains_key(&e.b)) {
            continue;
        }
        let drop = c.is_some_and(|c| c < RARE_LINK || c * 2.0 < best[&pair(&e)]);
        if std::env::var("CGW_SCAFFOLD_DEBUG").is_ok() {
            eprintln!(
                "coverage {} -- {}: {c:?}{}",
                e.a,
                e.b,
                if drop { " dropped" } else { "" }
            );
        }
        if drop {
            continue;
        }
        if let Some(c) = c {
            let to = if numbers.contains_key(&e.a) { &e.b } else { &e.a };
            if !numbers.contains_key(to) {
                let fan_out = fan_out(schema, to, &e.from_side(to)[0].0);
                let l = links.entry(to.clone()).or_insert(Link { coverage: c, fan_out });
                if c > l.coverage {
                    *l = Link { coverage: c, fan_out };
                }
            }
        }
        keep.push(e);
    }
    *edges = keep;
    links
}

/// How a table one join from the subscriber's row is reached.
#[derive(Debug, Clone, Copy)]
pub struct Link {
    /// The share of sampled subscribers with a row in it.
    pub coverage: f32,
    /// Its rows per subscriber that has any (1 for a lookup or a one-to-one side table).
    pub fan_out: f32,
}

/// Rows per distinct join value in a table's sample (1 where the column is unique).
fn fan_out(schema: &Schema, table: &str, column: &str) -> f32 {
    let Some(t) = schema.table(table) else { return 1.0 };
    if t.is_unique(column) {
        return 1.0;
    }
    let values: Vec<String> = t.values(column).into_iter().filter_map(|v| v.as_text()).collect();
    let distinct: BTreeSet<&String> = values.iter().collect();
    if distinct.is_empty() {
        return 1.0;
    }
    values.len() as f32 / distinct.len() as f32
}

/// The share of subscribers (sampled rows of a number-keyed side that hold a number) whose join value is
/// found on the other side; `None` where it cannot be told (no number table, no values, an empty table).
async fn subscriber_coverage(
    pool: &Pool,
    schema: &Schema,
    numbers: &BTreeMap<String, String>,
    e: &Edge,
) -> Option<f32> {
    if e.on.len() != 1 || e.a == e.b {
        return None;
    }
    let (from, to) = if numbers.contains_key(&e.a) {
        (&e.a, &e.b)
    } else if numbers.contains_key(&e.b) {
        (&e.b, &e.a)
    } else {
        return None;
    };
    let (col, other_col) = e.from_side(from).into_iter().next()?;
    let (t, o) = (schema.table(from)?, schema.table(to)?);
    if o.sample.is_empty() {
        return None;
    }
    let number = &numbers[from];
    let mut values: Vec<String> = Vec::new();
    for r in &t.sample {
        if r.get(number).is_none_or(|v| v.is_null()) {
            continue;
        }
        if let Some(v) = r.get(&col).and_then(|v| v.as_text()).map(|v| v.trim().to_string()) {
            if !v.is_empty() && !values.contains(&v) {
                values.push(v);
            }
        }
        if values.len() >= 100 {
            break;
        }
    }
    if values.len() < 2 {
        return None;
    }
    let found = overlap(pool, schema, o, &other_col, &values).await;
    if found >= RARE_LINK {
        return Some(found);
    }
    // Few subscribers have a row there. A table some subscribers use (roaming, a ticket) holds many of
    // their keys, all of them known; one whose rows all point at one or two owners (the administrator
    // who made every offer), or at keys the subscribers' table does not hold, links something else.
    let theirs = super::sniff::profile(&o.values(&other_col));
    let back: Vec<String> = theirs.examples.iter().filter(|v| v.as_str() != "0").cloned().collect();
    if theirs.distinct <= 2 || back.len() < 2 {
        return Some(found);
    }
    let known = overlap(pool, schema, t, &col, &back).await;
    Some(if known >= 0.8 { RARE_LINK } else { found })
}

/// Joins on a column of the same name in two tables that no other join links, where the name is indexed
/// in either and the sampled values of one are found in the other: schemas without foreign keys often
/// link by a login (`username` in every RADIUS table) or by a name (`planName`). Codes (few distinct
/// values), times and amounts are not links.
pub async fn shared_name_edges(pool: &Pool, schema: &Schema, edges: &[Edge]) -> Vec<Edge> {
    let common = ubiquitous(schema);
    let linked = |a: &str, b: &str, out: &[Edge]| {
        edges
            .iter()
            .chain(out.iter())
            .any(|e| e.a == a && e.b == b || e.a == b && e.b == a)
    };
    let mut out: Vec<Edge> = Vec::new();
    let mut queries = 0;
    for (i, a) in schema.tables.iter().enumerate() {
        for b in &schema.tables[i + 1..] {
            if linked(&a.name, &b.name, &out) {
                continue;
            }
            for ca in &a.columns {
                let Some(cb) = b.column(&ca.name) else { continue };
                // A column many tables carry (`username` in every RADIUS table) is a link only where both
                // index it; bookkeeping columns never are.
                let everywhere = common.contains(&ca.name);
                if AUDIT.contains(&ca.name.as_str())
                    || everywhere && !(a.is_keyed(&ca.name) && b.is_keyed(&cb.name))
                    || !(a.is_keyed(&ca.name) || b.is_keyed(&cb.name))
                    || a.primary_key == [ca.name.clone()] && b.primary_key == [cb.name.clone()]
                    || !matches!(ca.class, ColumnType::Text | ColumnType::Integer)
                    || !joinable(ca.class, cb.class)
                {
                    continue;
                }
                let names_third = named_parent(schema, a, &ca.spelled, &ca.name)
                    .is_some_and(|(p, _)| p.name != a.name && p.name != b.name);
                if names_third {
                    continue;
                }
                // The side with fewer distinct values is looked up in the other.
                let pa = super::sniff::profile(&a.values(&ca.name));
                let pb = super::sniff::profile(&b.values(&cb.name));
                let (from, to, col) = if pa.distinct <= pb.distinct {
                    (&pa, b, &cb.name)
                } else {
                    (&pb, a, &ca.name)
                };
                let values: Vec<String> = from.examples.iter().filter(|v| v.as_str() != "0").cloned().collect();
                if from.distinct < 5 || values.len() < 5 || from.time >= 0.5 || from.money >= 0.5 {
                    continue;
                }
                // One side holds each value once (a user's row, a plan): two tables that each hold many
                // rows per user (sessions and check attributes, or two children carrying their account's
                // key) are siblings, not parent and child.
                let once = |t: &Table, c: &str, p: &super::sniff::Profile| {
                    t.is_unique(c) || p.non_null > 0 && p.distinct * 10 >= p.non_null * 9
                };
                if !(once(a, &ca.name, &pa) || once(b, &cb.name, &pb)) {
                    continue;
                }
                if queries >= MAX_OVERLAP_QUERIES {
                    return out;
                }
                queries += 1;
                let found = overlap(pool, schema, to, col, &values).await;
                if std::env::var("CGW_SCAFFOLD_DEBUG").is_ok() {
                    eprintln!("shared name {}.{} ~ {}.{}: {found}", a.name, ca.name, b.name, cb.name);
                }
                if found >= 0.8 {
                    out.push(Edge {
                        a: a.name.clone(),
                        b: b.name.clone(),
                        on: vec![(ca.name.clone(), cb.name.clone())],
                        kind: EdgeKind::SharedName(found),
                    });
                    break;
                }
            }
        }
    }
    out
}

/// Most value-overlap queries one scaffold runs.
const MAX_OVERLAP_QUERIES: usize = 200;

/// Value-overlap edges for tables nothing else reaches: each identifier-like column's sampled values are
/// looked up (bound as parameters) in the key columns of reachable tables.
pub async fn value_edges(
    pool: &Pool,
    schema: &Schema,
    numbers: &BTreeMap<String, String>,
    edges: &[Edge],
) -> Vec<Edge> {
    let mut out: Vec<Edge> = Vec::new();
    let mut queries = 0;
    // Rounds: a table reached by overlap can be the parent of another (incidents → cells → grid links).
    for _round in 0..3 {
        // A naming convention no value confirms does not make a table reached: look for better evidence.
        let all: Vec<Edge> = edges
            .iter()
            .chain(out.iter())
            .filter(|e| e.kind != EdgeKind::Naming(None))
            .cloned()
            .collect();
        let reach = reachable(numbers, &all);
        let before = out.len();
        let tried: BTreeSet<String> = out.iter().map(|e| e.a.clone()).collect();
        // Live tables first: the query budget is better spent on them than on logs and copies.
        let mut pending: Vec<&Table> = schema
            .tables
            .iter()
            .filter(|t| !reach.contains(&t.name) && !tried.contains(&t.name))
            .collect();
        pending.sort_by_key(|t| (super::live::not_live_reason(t, schema).is_some(), t.name.clone()));
        value_round(pool, schema, &reach, &pending, &mut out, &mut queries).await;
        if out.len() == before {
            break;
        }
    }
    out
}

async fn value_round(
    pool: &Pool,
    schema: &Schema,
    reach: &BTreeSet<String>,
    pending: &[&Table],
    out: &mut Vec<Edge>,
    queries: &mut usize,
) {
    for t in pending {
        // Columns named like keys (`contactId`) first.
        let mut columns: Vec<&super::introspect::ColumnInfo> = t.columns.iter().collect();
        columns.sort_by_key(|c| !key_like(&c.spelled));
        for c in columns {
            if t.is_unique(&c.name) {
                continue; // its own identifier: other tables reference it, not the other way round
            }
            let p = super::sniff::profile(&t.values(&c.name));
            let keyish = p.id_like >= 0.9 || key_like(&c.spelled) && p.distinct * 3 >= p.non_null;
            if p.non_null < 3 || !keyish || p.examples.len() < 2 || p.integer >= 0.9 && p.distinct <= 10 {
                continue;
            }
            // Every key-like column of a reachable table that holds enough of the sampled values (a
            // fault's element may be a cell or a port: both are edges; the planner picks the shorter path).
            for parent in schema.tables.iter().filter(|x| reach.contains(&x.name)) {
                let keys = parent
                    .columns
                    .iter()
                    .filter(|pc| (parent.is_keyed(&pc.name) || key_like(&pc.spelled)) && joinable(pc.class, c.class));
                for pc in keys {
                    if *queries >= MAX_OVERLAP_QUERIES {
                        break;
                    }
                    *queries += 1;
                    let found = overlap(pool, schema, parent, &pc.name, &p.examples).await;
                    // Small whole numbers are in every surrogate key: they need most values found.
                    let needed = if p.integer >= 0.9 { 0.8 } else { 0.3 };
                    if found >= needed {
                        out.push(Edge {
                            a: t.name.clone(),
                            b: parent.name.clone(),
                            on: vec![(c.name.clone(), pc.name.clone())],
                            kind: EdgeKind::Values(found),
                        });
                    }
                }
            }
        }
    }
}

async fn overlap(pool: &Pool, schema: &Schema, parent: &Table, column: &str, values: &[String]) -> f32 {
    let d = schema.driver;
    let marks: Vec<String> = (1..=values.len())
        .map(|i| match d {
            crate::adapters::sql::text::Driver::Postgres => format!("${i}"),
            _ => "?".to_string(),
        })
        .collect();
    let col = quote(d, column);
    let cast = match d {
        crate::adapters::sql::text::Driver::Postgres => format!("CAST({col} AS TEXT)"),
        _ => col.clone(),
    };
    let sql = format!(
        "SELECT COUNT(DISTINCT {col}) AS n FROM {} WHERE {cast} IN ({})",
        quote(d, &parent.name),
        marks.join(", ")
    );
    let binds: Vec<Bind> = values.iter().map(|v| Bind::Text(Some(v.clone()))).collect();
    match pool.fetch_all(&Arc::from(sql.as_str()), &binds).await {
        Ok(rows) => {
            let n = match rows.first().and_then(|r| r.get("n")) {
                Some(DbValue::Int(n)) => *n as f32,
                Some(v) => v.as_text().and_then(|t| t.parse().ok()).unwrap_or(0.0),
                None => 0.0,
            };
            n / values.len() as f32
        }
        Err(e) => {
            if std::env::var("CGW_SCAFFOLD_DEBUG").is_ok() {
                eprintln!("overlap {}.{column}: {e}", parent.name);
            }
            0.0
        }
    }
}
