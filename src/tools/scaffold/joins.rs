//! Join paths: how the tables holding a part's fields connect to a table keyed by the subscriber's
//! number. Edges come from declared foreign keys, from key columns two tables share by name (`yhbh`,
//! `customer_id`), from number columns named differently (`sjhm` and `svc_num`), and, for tables nothing
//! else reaches, from value overlap (a sample of `r_fault.ne_no` found in `r_cell.cell_no`).
use super::introspect::{Schema, Table};
use super::names;
use crate::adapters::sql::column_type::ColumnType;
use std::collections::{BTreeMap, BTreeSet};

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

pub(super) fn joinable(a: ColumnType, b: ColumnType) -> bool {
    use ColumnType as C;
    matches!(
        (a, b),
        (C::Text, C::Text) | (C::Integer, C::Integer) | (C::Text, C::Integer) | (C::Integer, C::Text)
    ) || a == C::Unknown
        || b == C::Unknown
}

/// Audit and bookkeeping columns: equal by accident, never a link.
pub(super) const AUDIT: &[&str] = &[
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
pub(super) fn named_parent<'a>(
    schema: &'a Schema,
    t: &Table,
    spelled: &str,
    name: &str,
) -> Option<(&'a Table, String)> {
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
            // A declared key between the two tables may be another link than this one (`offers.id_user`,
            // the agent who made an offer, beside `users.id_offer`): the data decides between them later.
            let same_column = edges.iter().any(|e| {
                e.a == t.name && e.b == p.name && e.on.iter().any(|(x, _)| *x == c.name)
                    || e.b == t.name && e.a == p.name && e.on.iter().any(|(_, y)| *y == c.name)
            });
            if same_column || !joinable(c.class, pc) {
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
