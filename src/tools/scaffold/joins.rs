//! Join paths: how the tables holding a part's fields connect to a table keyed by the subscriber's
//! number. Edges come from declared foreign keys, from key columns two tables share by name (`yhbh`,
//! `customer_id`), from number columns named differently (`sjhm` and `svc_num`), and, for tables nothing
//! else reaches, from value overlap (a sample of `r_fault.ne_no` found in `r_cell.cell_no`).
use super::introspect::{quote, Schema, Table};
use super::names;
use crate::adapters::sql::column_type::ColumnType;
use crate::adapters::sql::decode::DbValue;
use crate::adapters::sql::{Bind, Pool};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Why two tables are joinable.
#[derive(Debug, Clone, PartialEq)]
pub enum EdgeKind {
    ForeignKey,
    /// Key columns of the same name.
    SharedKey,
    /// Both tables hold the subscriber's number.
    Number,
    /// Sampled values of one column were found in the other (the fraction found).
    Values(f32),
}

/// Two joinable tables and the column pairs to join on.
#[derive(Debug, Clone)]
pub struct Edge {
    pub a: String,
    pub b: String,
    /// (column of `a`, column of `b`).
    pub on: Vec<(String, String)>,
    pub kind: EdgeKind,
}

impl Edge {
    fn cost(&self) -> f32 {
        match self.kind {
            EdgeKind::ForeignKey => 0.9,
            EdgeKind::SharedKey | EdgeKind::Number => 1.0,
            EdgeKind::Values(_) => 1.5,
        }
    }

    /// The join columns seen from `from`: (column of `from`, column of the other table).
    pub fn from_side(&self, from: &str) -> Vec<(String, String)> {
        if self.a == from {
            self.on.clone()
        } else {
            self.on.iter().map(|(x, y)| (y.clone(), x.clone())).collect()
        }
    }

    pub fn other(&self, t: &str) -> &str {
        if self.a == t {
            &self.b
        } else {
            &self.a
        }
    }
}

fn key_like(name: &str) -> bool {
    let words = names::tokens(name);
    words.last().is_some_and(|w| {
        matches!(
            w.as_str(),
            "id" | "bh" | "no" | "num" | "nbr" | "code" | "cd" | "dm" | "bm" | "key" | "bs" | "sn" | "lsh"
        ) || w.ends_with("bh") && w.len() <= 6
            || w.ends_with("id") && w.len() <= 8
    })
}

fn joinable(a: ColumnType, b: ColumnType) -> bool {
    use ColumnType as C;
    matches!(
        (a, b),
        (C::Text, C::Text) | (C::Integer, C::Integer) | (C::Text, C::Integer) | (C::Integer, C::Text)
    ) || a == C::Unknown
        || b == C::Unknown
}

/// Edges from declared foreign keys, shared key names and number columns. `numbers` maps a table to its
/// subscriber-number column.
pub fn schema_edges(schema: &Schema, numbers: &BTreeMap<String, String>) -> Vec<Edge> {
    let mut edges: Vec<Edge> = Vec::new();
    for t in &schema.tables {
        for fk in &t.foreign_keys {
            if schema.table(&fk.ref_table).is_some() && fk.ref_table != t.name {
                edges.push(Edge {
                    a: t.name.clone(),
                    b: fk.ref_table.clone(),
                    on: fk.columns.iter().cloned().zip(fk.ref_columns.iter().cloned()).collect(),
                    kind: EdgeKind::ForeignKey,
                });
            }
        }
    }
    let has = |a: &str, b: &str, edges: &[Edge]| edges.iter().any(|e| e.a == a && e.b == b || e.a == b && e.b == a);
    for (i, a) in schema.tables.iter().enumerate() {
        for b in &schema.tables[i + 1..] {
            if has(&a.name, &b.name, &edges) {
                continue;
            }
            let mut on = Vec::new();
            for ca in &a.columns {
                let Some(cb) = b.column(&ca.name) else { continue };
                let keyed = a.is_keyed(&ca.name) || b.is_keyed(&ca.name) || key_like(&ca.spelled);
                if keyed && joinable(ca.class, cb.class) {
                    on.push((ca.name.clone(), cb.name.clone()));
                }
            }
            if !on.is_empty() {
                edges.push(Edge {
                    a: a.name.clone(),
                    b: b.name.clone(),
                    on,
                    kind: EdgeKind::SharedKey,
                });
                continue;
            }
            if let (Some(na), Some(nb)) = (numbers.get(&a.name), numbers.get(&b.name)) {
                edges.push(Edge {
                    a: a.name.clone(),
                    b: b.name.clone(),
                    on: vec![(na.clone(), nb.clone())],
                    kind: EdgeKind::Number,
                });
            }
        }
    }
    edges
}

/// Tables reachable from any number-keyed table over `edges`.
pub fn reachable(numbers: &BTreeMap<String, String>, edges: &[Edge]) -> BTreeSet<String> {
    let mut seen: BTreeSet<String> = numbers.keys().cloned().collect();
    let mut frontier: Vec<String> = seen.iter().cloned().collect();
    while let Some(t) = frontier.pop() {
        for e in edges.iter().filter(|e| e.a == t || e.b == t) {
            let o = e.other(&t).to_string();
            if seen.insert(o.clone()) {
                frontier.push(o);
            }
        }
    }
    seen
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
        let all: Vec<Edge> = edges.iter().chain(out.iter()).cloned().collect();
        let reach = reachable(numbers, &all);
        let before = out.len();
        let tried: BTreeSet<String> = out.iter().map(|e| e.a.clone()).collect();
        let pending: Vec<&Table> = schema
            .tables
            .iter()
            .filter(|t| !reach.contains(&t.name) && !tried.contains(&t.name))
            .collect();
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
        for c in &t.columns {
            if t.is_unique(&c.name) {
                continue; // its own identifier: other tables reference it, not the other way round
            }
            let p = super::sniff::profile(&t.values(&c.name));
            if p.non_null < 3 || p.id_like < 0.9 || p.examples.len() < 2 || p.integer >= 0.9 && p.distinct <= 10 {
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
                    if found >= 0.3 {
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
        Err(_) => 0.0,
    }
}

/// One table of a query with how it joins.
#[derive(Debug, Clone)]
pub struct JoinStep {
    pub table: String,
    pub alias: String,
    /// LEFT JOIN: the table only feeds list children (bill items), which may be missing.
    pub left: bool,
    /// (alias, column) = (alias, column) conditions.
    pub on: Vec<((String, String), (String, String))>,
    /// Why the join was chosen, where it needs a reviewer's eye.
    pub note: Option<String>,
}

/// A query skeleton: FROM the number-keyed table, then joins.
#[derive(Debug, Clone)]
pub struct JoinPlan {
    /// The first step is the FROM table (no conditions).
    pub steps: Vec<JoinStep>,
    /// The subscriber-number column of the FROM table.
    pub number_column: String,
}

impl JoinPlan {
    pub fn alias_of(&self, table: &str) -> Option<&str> {
        self.steps.iter().find(|s| s.table == table).map(|s| s.alias.as_str())
    }
}

fn alias_for(table: &str, taken: &[String]) -> String {
    let words = names::tokens(table);
    let mut base: String = words
        .iter()
        .filter(|w| !matches!(w.as_str(), "r" | "t" | "tb" | "tbl"))
        .filter_map(|w| w.chars().next())
        .collect();
    if base.is_empty() {
        base = "t".into();
    }
    const RESERVED: &[&str] = &[
        "as", "on", "or", "in", "by", "is", "to", "do", "if", "of", "at", "and", "not", "all", "asc", "end", "for",
        "set", "use", "key",
    ];
    let mut a = base.clone();
    let mut n = 1;
    while taken.contains(&a) || RESERVED.contains(&a.as_str()) {
        n += 1;
        a = format!("{base}{n}");
    }
    a
}

/// Plans the joins that bring `needed` tables together with a number-keyed table. `list_only` tables
/// hold only list-child fields and are LEFT JOINed. Unreachable tables are returned separately.
pub fn plan(
    needed: &[String],
    list_only: &BTreeSet<String>,
    numbers: &BTreeMap<String, String>,
    schema: &Schema,
    edges: &[Edge],
) -> Option<(JoinPlan, Vec<String>)> {
    // (rank, tables reached, anchor, shortest paths from it)
    type Choice = (f32, usize, String, BTreeMap<String, (f32, Option<usize>)>);
    let mut best: Option<Choice> = None;
    for (anchor, col) in numbers {
        let dist = dijkstra(anchor, edges);
        let reached = needed.iter().filter(|t| dist.contains_key(*t)).count();
        let cost: f32 = needed.iter().filter_map(|t| dist.get(t).map(|d| d.0)).sum();
        let unique = schema.table(anchor).is_some_and(|t| t.is_unique(col));
        // More tables reached first, then cheaper, then an anchor that is itself needed, then unique.
        let rank = cost - if needed.contains(anchor) { 0.5 } else { 0.0 } - if unique { 0.1 } else { 0.0 };
        let better = match &best {
            None => true,
            Some((r, n, _, _)) => reached > *n || reached == *n && rank < *r,
        };
        if better {
            best = Some((rank, reached, anchor.clone(), dist));
        }
    }
    let (_, reached, anchor, dist) = best?;
    if reached == 0 {
        return None;
    }
    // The tree: every needed table and the tables on its shortest path.
    let mut in_tree: BTreeSet<String> = BTreeSet::new();
    let mut unreachable = Vec::new();
    in_tree.insert(anchor.clone());
    for t in needed {
        let mut cur = t.clone();
        if !dist.contains_key(&cur) {
            unreachable.push(t.clone());
            continue;
        }
        while cur != anchor {
            in_tree.insert(cur.clone());
            let Some((_, Some(e))) = dist.get(&cur) else { break };
            cur = edges[*e].other(&cur).to_string();
        }
    }
    let mut order: Vec<String> = in_tree.iter().filter(|t| **t != anchor).cloned().collect();
    order.sort_by(|a, b| dist[a].0.total_cmp(&dist[b].0).then(a.cmp(b)));
    let mut steps = vec![JoinStep {
        table: anchor.clone(),
        alias: alias_for(&anchor, &[]),
        left: false,
        on: vec![],
        note: None,
    }];
    // A table on the way to LEFT-joined tables only is LEFT-joined too.
    let feeds_only_lists = |t: &str| -> bool {
        if list_only.contains(t) {
            return true;
        }
        if needed.iter().any(|n| n == t) {
            return false;
        }
        let below: Vec<&String> = order
            .iter()
            .filter(|x| {
                let mut cur = (*x).clone();
                while let Some((_, Some(e))) = dist.get(&cur) {
                    let p = edges[*e].other(&cur).to_string();
                    if p == t {
                        return true;
                    }
                    cur = p;
                }
                false
            })
            .collect();
        !below.is_empty() && below.iter().all(|x| list_only.contains(*x))
    };
    // Inner joins first: a LEFT-joined table's conditions may refer to them, never the other way round.
    let lefts: BTreeSet<String> = order.iter().filter(|t| feeds_only_lists(t)).cloned().collect();
    order.sort_by_key(|t| lefts.contains(t));
    for t in &order {
        let taken: Vec<String> = steps.iter().map(|s| s.alias.clone()).collect();
        let alias = alias_for(t, &taken);
        let (_, Some(ei)) = dist[t] else { continue };
        let e = &edges[ei];
        let parent = e.other(t).to_string();
        if !steps.iter().any(|s| s.table == parent) {
            continue; // cannot happen: a parent is nearer, and inner before left keeps parents first
        }
        let parent_alias = steps
            .iter()
            .find(|s| s.table == parent)
            .map(|s| s.alias.clone())
            .unwrap_or_default();
        let mut on: Vec<((String, String), (String, String))> = e
            .from_side(t)
            .into_iter()
            .map(|(mine, theirs)| ((alias.clone(), mine), (parent_alias.clone(), theirs)))
            .collect();
        // Shared keys with other tables already joined, so two joined children do not multiply.
        for s in &steps {
            if s.table == parent {
                continue;
            }
            if let Some(x) = edges
                .iter()
                .find(|x| x.kind == EdgeKind::SharedKey && (x.a == *t && x.b == s.table || x.b == *t && x.a == s.table))
            {
                for (mine, theirs) in x.from_side(t) {
                    on.push(((alias.clone(), mine), (s.alias.clone(), theirs)));
                }
            }
        }
        let note = match e.kind {
            EdgeKind::Values(f) => Some(format!(
                "joined by value overlap: {:.0}% of sampled `{t}.{}` values are in `{parent}.{}`",
                f * 100.0,
                e.from_side(t)[0].0,
                e.from_side(t)[0].1
            )),
            EdgeKind::Number => Some(format!("joined on the subscriber number of `{parent}`")),
            _ => None,
        };
        steps.push(JoinStep {
            table: t.clone(),
            alias,
            left: lefts.contains(t),
            on,
            note,
        });
    }
    Some((
        JoinPlan {
            steps,
            number_column: numbers[&anchor].clone(),
        },
        unreachable,
    ))
}

/// Shortest paths from `from`: table → (cost, index of the edge leading to it).
fn dijkstra(from: &str, edges: &[Edge]) -> BTreeMap<String, (f32, Option<usize>)> {
    let mut dist: BTreeMap<String, (f32, Option<usize>)> = BTreeMap::new();
    dist.insert(from.to_string(), (0.0, None));
    let mut done: BTreeSet<String> = BTreeSet::new();
    loop {
        let next = dist
            .iter()
            .filter(|(t, _)| !done.contains(*t))
            .min_by(|a, b| a.1 .0.total_cmp(&b.1 .0).then(a.0.cmp(b.0)))
            .map(|(t, d)| (t.clone(), d.0));
        let Some((t, d)) = next else { break };
        done.insert(t.clone());
        for (i, e) in edges.iter().enumerate().filter(|(_, e)| e.a == t || e.b == t) {
            let o = e.other(&t).to_string();
            let nd = d + e.cost();
            if dist.get(&o).is_none_or(|x| nd < x.0) {
                dist.insert(o, (nd, Some(i)));
            }
        }
    }
    dist
}
