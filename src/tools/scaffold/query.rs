//! The query of one part: its join plan, key, order and SQL.
use super::introspect::{quote, Schema};
use super::joins::{self, Edge};
use super::matching::Analysis;
use super::{names, EntityProposal, FieldProposal, Options};
use crate::adapters::sql::text::Driver;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

/// Joins, key, order and SQL for one part; disables it if too little of it was found.
pub(super) fn plan_entity(
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
    let mut enough = live.len() >= 2.max((total * 3).div_ceil(10)) || live.len() == total;
    // The subscriber's own details (a ticketing system's customer: name, email, since) are no
    // coincidence when confident and found in the row keyed by the number or one join from it.
    if !enough && live.len() >= 3 && super::matching::SUBSCRIBER_PARTS.contains(&e.target.as_str()) {
        let hops = joins::hops(&a.numbers, edges);
        enough = live.iter().all(|f| {
            f.best
                .as_ref()
                .is_some_and(|b| b.score >= super::CONFIDENT && hops.get(&b.table).is_some_and(|h| *h <= 1))
        });
    }
    // Nor is a part whose own table (one named as the part: `pkg_plan`, `billing_plans`) holds two of its
    // fields at a high score, where the joins to it rest on good evidence (checked below, with the plan).
    let mut by_role = false;
    if !enough {
        let key = format!("t:{}", e.target);
        let mut held: BTreeMap<&str, usize> = BTreeMap::new();
        for f in &live {
            if let Some(b) = f.best.as_ref().filter(|b| b.score >= 0.8) {
                *held.entry(b.table.as_str()).or_default() += 1;
            }
        }
        by_role = held
            .iter()
            .any(|(t, n)| *n >= 2 && a.tables.get(*t).and_then(|s| s.get(&key)).is_some_and(|r| *r >= 0.7));
    }
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
    let mut list_only: BTreeSet<String> = list_tables.into_iter().filter(|(_, v)| *v).map(|(k, _)| k).collect();
    // A table holding only doubtful fields is LEFT JOINed: where it has no row, the part's confident
    // fields still come back.
    for t in &needed {
        let doubtful = live
            .iter()
            .filter(|f| f.best.as_ref().is_some_and(|b| b.table == *t))
            .all(|f| f.best.as_ref().is_some_and(|b| b.score < super::CONFIDENT));
        if doubtful {
            list_only.insert(t.clone());
        }
    }
    let Some((plan, unreachable)) = joins::plan(&needed, &list_only, &a.numbers, schema, edges, &a.live) else {
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
    if by_role {
        enough = plan.steps.iter().all(|s| s.confidence >= 0.8);
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
