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

/// Why two tables are joinable: the evidence a join rests on, strongest first.
#[derive(Debug, Clone, PartialEq)]
pub enum EdgeKind {
    /// A declared foreign key.
    ForeignKey,
    /// A naming convention (`accountid` → `accounts.id`, `topic_id` → `help_topic.topic_id`), with the
    /// share of the column's sampled values found in the other table (`None`: no values to check).
    Naming(Option<f32>),
    /// Key columns of the same, specific name (`yhbh` in both).
    SharedKey,
    /// Both tables hold the subscriber's number.
    Number,
    /// Sampled values of one column were found in the other (the fraction found).
    Values(f32),
    /// A column of the same name, indexed, whose sampled values are found in the other table (`username`
    /// in every RADIUS table, `planName` in a billing info and the plans): the fraction found.
    SharedName(f32),
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
            EdgeKind::Naming(Some(_)) => 0.95,
            EdgeKind::SharedKey => 1.0,
            EdgeKind::Number => 1.2,
            EdgeKind::Values(_) => 1.5,
            EdgeKind::SharedName(_) => 1.05,
            EdgeKind::Naming(None) => 1.8,
        }
    }

    /// How much a query resting on this join can be trusted (0..1).
    pub fn confidence(&self) -> f32 {
        match self.kind {
            EdgeKind::ForeignKey => 1.0,
            EdgeKind::Naming(Some(f)) => 0.8 + 0.2 * f,
            EdgeKind::SharedKey => 0.85,
            EdgeKind::Number => 0.8,
            EdgeKind::Values(f) => 0.6 + 0.3 * f,
            EdgeKind::SharedName(f) => 0.7 + 0.2 * f,
            EdgeKind::Naming(None) => 0.5,
        }
    }

    /// The evidence, for the comment above the join in the proposed SQL.
    pub fn evidence(&self) -> String {
        let cols: Vec<String> = self
            .on
            .iter()
            .map(|(x, y)| format!("{}.{x} = {}.{y}", self.a, self.b))
            .collect();
        let cols = cols.join(" AND ");
        match self.kind {
            EdgeKind::ForeignKey => format!("declared foreign key ({cols})"),
            EdgeKind::Naming(Some(f)) => {
                format!("naming convention ({cols}); {:.0}% of sampled values found", f * 100.0)
            }
            EdgeKind::Naming(None) => format!("naming convention only ({cols}): no sampled values to confirm it"),
            EdgeKind::SharedKey => format!("same key column name ({cols})"),
            EdgeKind::Number => format!("both hold the subscriber's number ({cols})"),
            EdgeKind::Values(f) => format!("value containment ({cols}): {:.0}% of sampled values found", f * 100.0),
            EdgeKind::SharedName(f) => format!(
                "same indexed column name ({cols}); {:.0}% of sampled values found",
                f * 100.0
            ),
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

pub(super) fn key_like(name: &str) -> bool {
    let words = names::tokens(name);
    // `id_invoice`, `fk_soc`: the key word first.
    if words.len() > 1 && matches!(words[0].as_str(), "id" | "fk") {
        return true;
    }
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

/// Audit and bookkeeping columns: equal by accident, never a link.
const AUDIT: &[&str] = &[
    "created_at",
    "updated_at",
    "deleted_at",
    "created_by",
    "updated_by",
    "createdate",
    "lastupdated",
    "updatedby",
    "lastactivity",
    "createdby",
    "modified",
    "modified_at",
    "modified_by",
    "create_time",
    "update_time",
    "created",
    "updated",
    "version",
    "lock_version",
    "visibility",
    "assignedto",
    "status",
    "state",
    "type",
    "name",
    "flags",
    "sort",
    "notes",
    "description",
];

/// Columns every table (or most) carries: surrogate keys, audit columns, the tenant (`organization_id`,
/// `reseller_id`). A join on them matches rows of unrelated records. A column many tables carry that
/// names a table and holds many values (`accountid` in every table of a billing system) is a reference,
/// not bookkeeping: it stays joinable.
pub fn ubiquitous(schema: &Schema) -> BTreeSet<String> {
    let mut count: BTreeMap<&str, Vec<&Table>> = BTreeMap::new();
    for t in &schema.tables {
        for c in &t.columns {
            count.entry(c.name.as_str()).or_default().push(t);
        }
    }
    let n = schema.tables.len();
    let mut out: BTreeSet<String> = BTreeSet::new();
    for (c, tables) in count {
        let k = tables.len();
        if k < 3 || k * 10 < n * 4 {
            continue;
        }
        let spelled = tables[0].column(c).map(|x| x.spelled.clone()).unwrap_or_default();
        let names_a_table = named_parent(schema, tables[0], &spelled, c).is_some();
        // A tenant holds one or two values in every table; a reference holds many.
        let varied = tables
            .iter()
            .filter(|t| {
                let p = super::sniff::profile(&t.values(c));
                p.non_null > 0 && p.distinct > 2
            })
            .count();
        let reference = names_a_table && varied * 2 >= tables.iter().filter(|t| !t.sample.is_empty()).count().max(1);
        let everywhere = k * 10 >= n * 7;
        if !reference || everywhere && !names_a_table {
            out.insert(c.to_string());
        }
    }
    out.extend(AUDIT.iter().map(|s| s.to_string()));
    out
}

/// The word a key column names its table by: `accountid` → `account`, `topic_id` → `topic`,
/// `customerNo` → `customer`; `None` for a bare `id`.
fn stem_of(spelled: &str) -> Option<Vec<String>> {
    let mut words = names::tokens(spelled);
    // `id_invoice`, `fk_facture`, `id_cc_card`: the key word first, the table after it.
    if words.len() > 1 && matches!(words[0].as_str(), "id" | "fk") {
        words.remove(0);
        return Some(words);
    }
    let last = words.last()?.clone();
    let stripped = ["id", "no", "num", "nbr", "code", "cd", "key", "bh", "dm", "uuid"]
        .iter()
        .find_map(|k| (last.len() > k.len() && last.ends_with(k)).then(|| last[..last.len() - k.len()].to_string()));
    match stripped {
        Some(s) => {
            *words.last_mut()? = s;
        }
        None if words.len() > 1
            && matches!(
                last.as_str(),
                "id" | "no" | "num" | "nbr" | "code" | "key" | "uuid" | "bh"
            ) =>
        {
            words.pop();
        }
        None => return None,
    }
    (!words.is_empty()).then_some(words)
}

fn singular(w: &str) -> String {
    if w.len() > 4 && w.ends_with("ies") {
        format!("{}y", &w[..w.len() - 3])
    } else if w.len() > 3 && (w.ends_with("ses") || w.ends_with("xes")) {
        w[..w.len() - 2].to_string()
    } else if w.len() > 2 && w.ends_with('s') && !w.ends_with("ss") {
        w[..w.len() - 1].to_string()
    } else {
        w.to_string()
    }
}

/// The table a key column's name points at, and the column there: a table whose name ends with the
/// column's stem (`accounts`, `ost_help_topic`), joined on its single-column primary key or on a unique
/// column of the same name.
fn named_parent<'a>(schema: &'a Schema, t: &Table, spelled: &str, name: &str) -> Option<(&'a Table, String)> {
    let stem: Vec<String> = stem_of(spelled)?.iter().map(|w| singular(w)).collect();
    let mut best: Option<((usize, usize), &Table, String)> = None;
    for p in schema.tables.iter().filter(|p| p.name != t.name) {
        let words: Vec<String> = names::tokens(&p.name).iter().map(|w| singular(w)).collect();
        if words.len() < stem.len() {
            continue;
        }
        let tail = &words[words.len() - stem.len()..];
        // The same words, or the stem's last word a clipped form of the table's (`soc` for `societe`,
        // `cust` for `customer`), three letters at least.
        let same = tail == &stem[..];
        let clipped = tail[..stem.len() - 1] == stem[..stem.len() - 1]
            && stem[stem.len() - 1].len() >= 3
            && tail[stem.len() - 1].starts_with(stem[stem.len() - 1].as_str());
        if !same && !clipped {
            continue;
        }
        let target = if p.is_unique(name) {
            name.to_string()
        } else if p.primary_key.len() == 1 {
            p.primary_key[0].clone()
        } else {
            continue;
        };
        // The closest name wins: `status_id` → `ticket_status` over `order_status_history`, `soc` →
        // `societe` over `socpeople`.
        let clip = tail[stem.len() - 1].len() - stem[stem.len() - 1].len();
        let extra = (words.len() - stem.len(), clip);
        if best.as_ref().is_none_or(|b| extra < b.0) {
            best = Some((extra, p, target));
        }
    }
    best.map(|(_, p, c)| (p, c))
}

/// Edges from declared foreign keys, naming conventions, shared key names and number columns, never on a
/// column every table carries. `numbers` maps a table to its subscriber-number column.
pub fn schema_edges(schema: &Schema, numbers: &BTreeMap<String, String>) -> Vec<Edge> {
    let common = ubiquitous(schema);
    let mut edges: Vec<Edge> = Vec::new();
    let has = |a: &str, b: &str, edges: &[Edge]| edges.iter().any(|e| e.a == a && e.b == b || e.a == b && e.b == a);
    for t in &schema.tables {
        for fk in &t.foreign_keys {
            let tenant = fk.columns.iter().all(|c| common.contains(c));
            if schema.table(&fk.ref_table).is_some() && fk.ref_table != t.name && !tenant {
                edges.push(Edge {
                    a: t.name.clone(),
                    b: fk.ref_table.clone(),
                    on: fk.columns.iter().cloned().zip(fk.ref_columns.iter().cloned()).collect(),
                    kind: EdgeKind::ForeignKey,
                });
            }
        }
    }
    for t in &schema.tables {
        for c in &t.columns {
            // A primary key can reference another table too (`ost_user__cdata.user_id`: one row per user).
            if common.contains(&c.name) {
                continue;
            }
            let Some((p, target)) = named_parent(schema, t, &c.spelled, &c.name) else {
                continue;
            };
            let pc = p.column(&target).map(|x| x.class).unwrap_or(ColumnType::Unknown);
            if has(&t.name, &p.name, &edges) || !joinable(c.class, pc) {
                continue;
            }
            edges.push(Edge {
                a: t.name.clone(),
                b: p.name.clone(),
                on: vec![(c.name.clone(), target)],
                kind: EdgeKind::Naming(None),
            });
        }
    }
    for (i, a) in schema.tables.iter().enumerate() {
        for b in &schema.tables[i + 1..] {
            if has(&a.name, &b.name, &edges) {
                continue;
            }
            let mut on = Vec::new();
            for ca in &a.columns {
                let Some(cb) = b.column(&ca.name) else { continue };
                if common.contains(&ca.name) {
                    continue;
                }
                // Each table's own surrogate key (`id` in both) is not a link between them.
                if a.primary_key == [ca.name.clone()] && b.primary_key == [ca.name.clone()] {
                    continue;
                }
                // Two children that both reference a third table (`pricelist_id` in accounts and in cdrs)
                // are not linked by it.
                let names_third = named_parent(schema, a, &ca.spelled, &ca.name)
                    .is_some_and(|(p, _)| p.name != a.name && p.name != b.name);
                if !names_third && key_like(&ca.spelled) && joinable(ca.class, cb.class) {
                    on.push((ca.name.clone(), cb.name.clone()));
                }
            }
            // A parent and its child share the parent's key: unique there, alone or together.
            let cols: Vec<String> = on.iter().map(|(x, _)| x.clone()).collect();
            let unique_in = |t: &Table| {
                cols.iter().any(|c| t.is_unique(c))
                    || t.unique
                        .iter()
                        .any(|u| !u.is_empty() && u.iter().all(|c| cols.contains(c)))
            };
            if !(unique_in(a) || unique_in(b)) {
                on.clear();
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
    for e in edges.iter() {
        coverage.push(subscriber_coverage(pool, schema, numbers, e).await);
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

/// Joins from the nearest table keyed by the subscriber's number to each reachable table (0 for those
/// tables themselves).
pub fn hops(numbers: &BTreeMap<String, String>, edges: &[Edge]) -> BTreeMap<String, usize> {
    let mut dist: BTreeMap<String, usize> = numbers.keys().map(|t| (t.clone(), 0)).collect();
    let mut frontier: std::collections::VecDeque<String> = dist.keys().cloned().collect();
    while let Some(t) = frontier.pop_front() {
        let d = dist[&t];
        for e in edges.iter().filter(|e| e.a == t || e.b == t) {
            let o = e.other(&t).to_string();
            if !dist.contains_key(&o) {
                dist.insert(o.clone(), d + 1);
                frontier.push_back(o);
            }
        }
    }
    dist
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

/// One table of a query with how it joins.
#[derive(Debug, Clone)]
pub struct JoinStep {
    pub table: String,
    pub alias: String,
    /// LEFT JOIN: the table only feeds list children (bill items), which may be missing.
    pub left: bool,
    /// (alias, column) = (alias, column) conditions.
    pub on: Vec<((String, String), (String, String))>,
    /// The evidence the join rests on.
    pub note: Option<String>,
    /// How far that evidence can be trusted (1 for the FROM table and declared foreign keys).
    pub confidence: f32,
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
    live: &std::collections::HashMap<String, f32>,
) -> Option<(JoinPlan, Vec<String>)> {
    // (rank, tables reached, anchor, shortest paths from it)
    type Choice = (f32, usize, String, BTreeMap<String, (f32, Option<usize>)>);
    let mut best: Option<Choice> = None;
    for (anchor, col) in numbers {
        let dist = dijkstra(anchor, edges);
        let reached = needed.iter().filter(|t| dist.contains_key(*t)).count();
        let cost: f32 = needed.iter().filter_map(|t| dist.get(t).map(|d| d.0)).sum();
        let unique = schema.table(anchor).is_some_and(|t| t.is_unique(col));
        // More tables reached first, then cheaper, then an anchor that is itself needed, then unique; a
        // history, log or empty table is a poor anchor whatever it reaches.
        let stale = 1.0 - live.get(anchor).copied().unwrap_or(1.0);
        // A table that knows few of the subscribers (contacts of some customers only) is a poor anchor.
        let known = |t: &str| {
            schema.table(t).map_or(0, |x| {
                let c = numbers.get(t).map(String::as_str).unwrap_or_default();
                x.values(c).iter().filter(|v| !v.is_null()).count()
            })
        };
        let most = numbers.keys().map(|t| known(t)).max().unwrap_or(0);
        let sparse = most > 0 && known(anchor) * 2 < most;
        // A number column that also holds landlines or nothing (a billing contact's phone) is a poorer key
        // than one holding every subscriber's mobile.
        let mobile = schema
            .table(anchor)
            .map_or(1.0, |t| super::sniff::profile(&t.values(col)).mobile);
        let rank = cost - if needed.contains(anchor) { 0.5 } else { 0.0 } - if unique { 0.1 } else { 0.0 }
            + 3.0 * stale
            + if sparse { 1.0 } else { 0.0 }
            + 2.0 * (1.0 - mobile);
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
        confidence: 1.0,
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
        let note = Some(e.evidence());
        steps.push(JoinStep {
            table: t.clone(),
            alias,
            left: lefts.contains(t),
            on,
            note,
            confidence: e.confidence(),
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
