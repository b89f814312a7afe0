//! Matching: every column scored for every unified field (names, table context, types and sampled
//! values), fields assigned their best free column, then each part planned.
use super::catalog::{Catalog, UnifiedField};
use super::convert::conversion;
use super::introspect::Schema;
use super::joins::{self, Edge};
use super::qualify::{qualifiers, OWN_ID};
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
    /// (table, column) → the column name's words, run-together words split (`chargetype` → charge, type).
    pub(super) words: HashMap<(String, String), Vec<String>>,
    /// table → how much it looks like the current state (1) rather than history, a log or an empty copy.
    pub live: HashMap<String, f32>,
    /// table → its subscriber-number column.
    pub numbers: BTreeMap<String, String>,
    /// Columns that are numbered slots of one stem (`custom_1` … `custom_10`, `f1` … `f10`).
    pub(super) slots: std::collections::HashSet<(String, String)>,
    /// table one join from a number-keyed table → how many subscribers reach it, and how many rows each
    /// (from the data; empty until the joins are checked against it).
    pub links: BTreeMap<String, super::evidence::Link>,
}

/// Scores every column and table name, profiles sampled values, and finds the number columns.
pub fn analyse(schema: &Schema, m: &names::Matcher) -> Analysis {
    let mut a = Analysis {
        names: HashMap::new(),
        tables: HashMap::new(),
        profiles: HashMap::new(),
        words: HashMap::new(),
        live: HashMap::new(),
        numbers: BTreeMap::new(),
        links: BTreeMap::new(),
        slots: Default::default(),
    };
    let prefix = names::table_prefix(m, schema.tables.iter().map(|t| t.name.as_str()));
    for t in &schema.tables {
        a.live.insert(t.name.clone(), super::live::factor(t, schema));
        // Without the application's prefix (`cc_card` → `card`, `pkg_user` → `user`): the rest says what
        // the table holds, and the prefix nothing (`pkg` would make every table a package).
        let scores = match prefix
            .as_deref()
            .and_then(|p| t.name.strip_prefix(p))
            .and_then(|r| r.strip_prefix('_'))
        {
            Some(rest) => m.table(rest),
            None => m.table(&t.name),
        };
        a.tables.insert(t.name.clone(), scores);
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
            // Numbers in the values, or a table with no rows to tell (a column of NULLs is not one).
            let values_ok = p.mobile >= 0.5 || t.sample.is_empty();
            let textual = matches!(c.class, ColumnType::Text | ColumnType::Integer | ColumnType::Unknown);
            if named >= 0.6 && values_ok && textual {
                let s = named + p.mobile * 0.2 + if t.is_unique(&c.name) { 0.05 } else { 0.0 };
                if best_number.as_ref().is_none_or(|b| s > b.0) {
                    best_number = Some((s, c.name.clone()));
                }
            }
            a.names.insert(key.clone(), scores);
            a.words.insert(key.clone(), m.words(&c.spelled));
            a.profiles.insert(key, p);
        }
        if let Some((_, c)) = best_number {
            a.numbers.insert(t.name.clone(), c);
        }
    }
    for t in &schema.tables {
        let mut stems: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for c in &t.columns {
            let stem = c.name.trim_end_matches(|ch: char| ch.is_ascii_digit());
            if stem.len() < c.name.len() && !stem.is_empty() {
                stems
                    .entry(stem.trim_end_matches('_').to_string())
                    .or_default()
                    .push(&c.name);
            }
        }
        for cols in stems.values().filter(|v| v.len() >= 3) {
            for c in cols {
                a.slots.insert((t.name.clone(), c.to_string()));
            }
        }
    }
    roles_from_columns(schema, &mut a);
    // No column is named like the subscriber's number: a phone column whose values are mobile numbers
    // (`customers.contact_phone` of an inventory) is the best there is.
    if a.numbers.is_empty() {
        let mut best: Option<(f32, String, String)> = None;
        for t in &schema.tables {
            for c in &t.columns {
                let key = (t.name.clone(), c.name.clone());
                let p = &a.profiles[&key];
                let named = a.names[&key]
                    .iter()
                    .filter(|(k, _)| k.as_str() == "t:msisdn" || k.as_str() == "f:customer.contact_phone")
                    .map(|(_, v)| *v)
                    .fold(0.0, f32::max);
                let s = named * p.mobile * a.live.get(&t.name).copied().unwrap_or(1.0);
                if named >= 0.6 && p.mobile >= 0.8 && best.as_ref().is_none_or(|b| s > b.0) {
                    best = Some((s, t.name.clone(), c.name.clone()));
                }
            }
        }
        if let Some((_, t, c)) = best {
            a.numbers.insert(t, c);
        }
    }
    a
}

/// A table's role from its columns: a table whose columns are named like several fields of one part
/// (name, address, city and email: a customer table; `cc_card`, `llx_societe`) holds that part, whatever
/// its own name says. Columns named like fields of many parts (`status`, `name`) say nothing of the role.
fn roles_from_columns(schema: &Schema, a: &mut Analysis) {
    let catalog = Catalog::load();
    for t in &schema.tables {
        let mut hits: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for c in &t.columns {
            // The subscriber's number, and references to other tables (`customer_id` in a table of
            // subnets), say nothing of what this table holds.
            if a.numbers.get(&t.name) == Some(&c.name) || super::joins::key_like(&c.spelled) {
                continue;
            }
            let scores = &a.names[&(t.name.clone(), c.name.clone())];
            let strong: Vec<&UnifiedField> = catalog
                .fields
                .iter()
                .filter(|f| scores.get(&format!("f:{}", f.key())).copied().unwrap_or(0.0) >= 0.75)
                .collect();
            let parts: BTreeSet<String> = strong.iter().map(|f| f.context_key()).collect();
            if parts.len() > 2 {
                continue;
            }
            for f in strong {
                hits.entry(f.context_key()).or_default().insert(f.key());
            }
        }
        let scores = a.tables.get_mut(&t.name).expect("every table is scored");
        for (part, fields) in hits {
            let role = match fields.len() {
                0 | 1 => continue,
                2 => 0.6,
                3 => 0.75,
                _ => 0.85,
            };
            let e = scores.entry(format!("t:{part}")).or_default();
            *e = e.max(role);
        }
    }
}

/// The field a part's rows are dated by: a column named only `date` or `time` in a table holding the part
/// is that field (`payment_transaction.date`).
const MAIN_TIME: &[&str] = &[
    "payments.paid_at",
    "usage_records.started_at",
    "recent_bills.issued_at",
    "service_orders.created_at",
    "vas_subscriptions.subscribed_at",
    "network.outages.started_at",
];

/// The money a part's rows carry: a column named only `amount` or `price` in a table holding the part.
const MAIN_MONEY: &[&str] = &[
    "plan.monthly_fee_fen",
    "payments.amount_fen",
    "recent_bills.total_fen",
    "recent_bills.items[].amount_fen",
    "vas_subscriptions.monthly_fee_fen",
];

/// (field, field whose column it takes where it has none of its own).
const SHARED_COLUMNS: &[(&str, &str)] = &[
    ("recent_bills.cycle", "recent_bills.issued_at"),
    ("network.broadband.address", "customer.address"),
];

/// Parts that describe the subscriber themselves, one row each.
pub(super) const SUBSCRIBER_PARTS: &[&str] = &["customer", "account"];

/// Words that say what kind of value a column holds, not what it is.
const CLASS_WORDS: &[&str] = &[
    "id", "no", "num", "number", "code", "cd", "type", "key", "ref", "value", "val",
];

/// Scores one column for one field.
fn score(field: &UnifiedField, a: &Analysis, table: &str, column: &str, class: ColumnType) -> f32 {
    let key = (table.to_string(), column.to_string());
    let names = &a.names[&key];
    let mut name = names.get(&format!("f:{}", field.key())).copied().unwrap_or(0.0);
    // Numbered slots (`custom_1` … `custom_10`) hold whatever an installation puts there.
    if a.slots.contains(&key) {
        name *= 0.3;
    }
    if MAIN_TIME.contains(&field.key().as_str())
        && matches!(column, "date" | "time" | "datetime" | "timestamp" | "dt" | "tm")
    {
        name = name.max(0.6);
    }
    // Likewise the money a part's rows carry: a column named only `amount` or `price` (units aside) in a
    // table holding the part is that field (`plans.amount_cents` for the plan's fee).
    if MAIN_MONEY.contains(&field.key().as_str())
        && a.words[&key].iter().all(|w| {
            matches!(
                w.as_str(),
                "amount" | "amt" | "price" | "fee" | "cents" | "cent" | "value" | "sum" | "total"
            )
        })
    {
        name = name.max(0.6);
    }
    let tables = &a.tables[table];
    let ctx_key = format!("t:{}", field.context_key());
    // A name made of class words only (`id`, `number`, `code`) half-matches many fields (`id` and "id
    // type"): it means the field only in a table that holds the field's part.
    if name < 1.0
        && super::names::tokens(column)
            .iter()
            .all(|w| CLASS_WORDS.contains(&w.as_str()))
    {
        let part = tables.get(&ctx_key).copied().unwrap_or(0.0);
        name *= part;
    }
    name *= qualifiers(field, &a.words[&key]);
    let (mut fit, bonus) = sniff::fit(field, class, &a.profiles[&key]);
    // `amount_cents` (or `_fen`) in whole numbers: cents are fen, no conversion needed.
    if field.semantic == super::catalog::Semantic::Money
        && class == ColumnType::Integer
        && a.words[&key]
            .iter()
            .any(|w| matches!(w.as_str(), "cents" | "cent" | "fen"))
    {
        fit = 1.0;
    }
    if name < 0.3 && bonus < 0.1 {
        return 0.0;
    }
    let mut ctx = tables.get(&ctx_key).copied().unwrap_or(0.0);
    // The column's own name may carry the part (`acct_bal_amt`).
    ctx = ctx.max(names.get(&ctx_key).copied().unwrap_or(0.0) * 0.8);
    if field.list.is_some() {
        // A list child's table is often named after its parent too (`bill_item`).
        ctx = ctx.max(tables.get(&format!("t:{}", field.target)).copied().unwrap_or(0.0) * 0.5);
    }
    let mut s = name * (0.6 + 0.4 * ctx) * fit + bonus * if name >= 0.3 { 1.0 } else { 0.5 };
    // A generated UUID identifies a row to the machine; where a code is named as well, a person shows
    // the code: the UUID loses a tie.
    let p = &a.profiles[&key];
    if field.semantic == super::catalog::Semantic::Ident
        && !p.examples.is_empty()
        && p.examples.iter().all(|v| sniff::is_uuid(v))
    {
        s *= 0.98;
    }
    // History, logs and empty copies hold the same names as the live tables: prefer the live ones.
    (s * a.live.get(table).copied().unwrap_or(1.0)).min(1.0)
}

/// A column no join from the subscriber's number reaches cannot be served as proposed: it competes at this
/// share of its score.
const UNREACHED: f32 = 0.85;

/// The table most of a part's confident fields come from.
fn home_table(home: &HashMap<String, BTreeMap<String, f32>>, part: &str) -> Option<String> {
    home.get(part)?
        .iter()
        .filter(|(_, v)| **v >= 1.0)
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(t, _)| t.clone())
}

/// A part's identifier from its table's own key (`x2_contacts.id` for the customer id, `cc_logpayment.id`
/// for the payment id), in tables that hold the part, where no other column of the table is named like it.
fn own_keys(schema: &Schema, a: &Analysis, catalog: &Catalog, pairs: &mut Vec<(usize, Candidate)>) {
    let ctx_of = |t: &str, target: &str| a.tables[t].get(&format!("t:{target}")).copied().unwrap_or(0.0);
    for (fi, f) in catalog.fields.iter().enumerate() {
        if !OWN_ID.contains(&f.key().as_str()) {
            continue;
        }
        for t in &schema.tables {
            let [pk] = t.primary_key.as_slice() else { continue };
            let Some(col) = t.column(pk) else { continue };
            if !matches!(col.class, ColumnType::Integer | ColumnType::Text) {
                continue;
            }
            let ctx = ctx_of(&t.name, &f.target);
            // A table's own key identifies the one part it holds most.
            let strongest = OWN_ID
                .iter()
                .filter_map(|k| k.split_once('.'))
                .all(|(other, _)| ctx_of(&t.name, other) <= ctx);
            if !strongest {
                continue;
            }
            let named_elsewhere = pairs
                .iter()
                .any(|(x, c)| *x == fi && c.table == t.name && c.column != *pk && c.score >= 0.35);
            if ctx < 0.6 || named_elsewhere {
                continue;
            }
            let s = (0.3 + 0.35 * ctx) * a.live.get(&t.name).copied().unwrap_or(1.0);
            match pairs
                .iter_mut()
                .find(|(x, c)| *x == fi && c.table == t.name && c.column == *pk)
            {
                Some((_, c)) => c.score = c.score.max(s),
                None => pairs.push((
                    fi,
                    Candidate {
                        table: t.name.clone(),
                        column: pk.clone(),
                        score: s,
                    },
                )),
            }
        }
    }
}

/// Proposes a definition from an analysed schema and its join edges (no database access).
pub fn propose(schema: &Schema, a: &Analysis, edges: &[Edge], opts: &Options) -> Proposal {
    let catalog = Catalog::load();
    let dict = names::dictionary();
    let number_cols: BTreeSet<(String, String)> = a.numbers.iter().map(|(t, c)| (t.clone(), c.clone())).collect();
    // The referencing side of a join (`accounts_cdr_summary.account_id`, `cdrs.invoiceid`) repeats the key
    // of another table: the field is better taken from that table.
    // Tenant and bookkeeping columns (`reseller_id` in every table) identify nothing of the subscriber's.
    let common = super::joins::ubiquitous(schema);
    let references: BTreeSet<(String, String)> = edges
        .iter()
        .filter(|e| {
            !matches!(
                e.kind,
                super::joins::EdgeKind::SharedKey
                    | super::joins::EdgeKind::Number
                    | super::joins::EdgeKind::SharedName(_)
            )
        })
        .flat_map(|e| e.on.iter().map(move |(x, _)| (e.a.clone(), x.clone())))
        .collect();
    // Every (field, column) pair worth considering.
    let mut pairs: Vec<(usize, Candidate)> = Vec::new();
    for (fi, f) in catalog.fields.iter().enumerate() {
        for t in &schema.tables {
            for c in &t.columns {
                if number_cols.contains(&(t.name.clone(), c.name.clone())) {
                    continue;
                }
                let mut s = score(f, a, &t.name, &c.name, c.class);
                if references.contains(&(t.name.clone(), c.name.clone())) {
                    s *= 0.5;
                }
                let own_key = t.primary_key.len() == 1 && t.primary_key[0] == c.name;
                if common.contains(&c.name) && !own_key && f.semantic == super::catalog::Semantic::Ident {
                    s *= 0.4;
                }
                // Bookkeeping times every table carries (`created_at`) date the row, which is the time of a
                // payment or an order, but not when a plan took effect or a contract ends.
                if common.contains(&c.name)
                    && f.semantic == super::catalog::Semantic::Time
                    && !MAIN_TIME.contains(&f.key().as_str())
                    && f.key() != "customer.customer_since"
                {
                    s *= 0.7;
                }
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
    own_keys(schema, a, &catalog, &mut pairs);
    // A column no join reaches cannot be served: on a near tie, the reachable one wins.
    let reach = joins::reachable(&a.numbers, edges);
    // The subscriber's own details (customer, account) sit in the row keyed by the number or one join
    // from it (`ost_user__cdata` → `ost_user`), not in a department or topic table three joins away.
    let hops = joins::hops(&a.numbers, edges);
    for (fi, c) in pairs.iter_mut() {
        if !reach.contains(&c.table) {
            c.score *= UNREACHED;
        } else if SUBSCRIBER_PARTS.contains(&catalog.fields[*fi].target.as_str()) {
            c.score = (c.score
                * match hops.get(&c.table).copied().unwrap_or(usize::MAX) {
                    0 => 1.1,
                    1 => 1.0,
                    2 => 0.9,
                    _ => 0.8,
                })
            .min(1.0);
            // Of two rows keyed by a number (a person's and their billing contact's), the one whose numbers
            // are all mobiles is the subscriber's: it wins a tie.
            if let Some(n) = a.numbers.get(&c.table) {
                let mobile = a.profiles.get(&(c.table.clone(), n.clone())).map_or(1.0, |p| p.mobile);
                c.score *= 0.98 + 0.02 * mobile;
            }
        }
    }
    // A part the subscriber has one of (an account, a plan) comes from a row every subscriber has one of:
    // not from a table that many subscribers have no row in (the few with a DID number), nor from one
    // holding many rows each (their top-ups).
    for (fi, c) in pairs.iter_mut() {
        let target = catalog.target(&catalog.fields[*fi].target);
        if target.is_none_or(|t| t.repeated || t.stream) {
            continue;
        }
        if let Some(l) = a.links.get(&c.table) {
            if l.fan_out >= 1.5 {
                c.score *= 0.8;
            }
            if l.coverage < 0.5 {
                c.score *= 0.6 + 0.8 * l.coverage;
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
            // A list child (a bill's items) lives in a table joined to the table its parent's fields come
            // from (`invoice_items.invoice_id` → `invoices`), not in another part's table.
            if f.list.is_some() {
                if let Some(parent) = home_table(&home, &f.target) {
                    let adjacent = edges
                        .iter()
                        .any(|e| e.a == c.table && e.b == parent || e.b == c.table && e.a == parent);
                    if adjacent {
                        c.score = (c.score * 1.15).min(1.0);
                    } else if c.table != parent {
                        c.score *= 0.9;
                    }
                }
            }
            (*fi, c)
        })
        .collect();
    pairs2.sort_by(|x, y| y.1.score.total_cmp(&x.1.score).then(x.0.cmp(&y.0)));
    let mut chosen = assign(&pairs2);
    // A column serving a second field: where a field found no column of its own, the column of the field it
    // is usually read from too (a bill's cycle from its date; a line's address is the customer's).
    let mut shared: BTreeSet<usize> = BTreeSet::new();
    for (to, from) in SHARED_COLUMNS {
        let index = |k: &str| catalog.fields.iter().position(|f| f.key() == k);
        let (Some(ti), Some(fi)) = (index(to), index(from)) else {
            continue;
        };
        let own = chosen.get(&ti).is_some_and(|c| c.score >= opts.min_score);
        let Some(src) = chosen.get(&fi).filter(|c| c.score >= super::CONFIDENT).cloned() else {
            continue;
        };
        if !own {
            chosen.insert(
                ti,
                Candidate {
                    score: src.score * 0.85,
                    ..src
                },
            );
            shared.insert(ti);
        }
    }

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
            // A shared column is selected a second time under the field's name.
            let result_column = match &best {
                Some(b) if shared.contains(&fi) => format!("{}_{}", f.name, b.column),
                Some(b) => b.column.clone(),
                None => String::new(),
            };
            fields.push(FieldProposal {
                field: f.clone(),
                result_column,
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
            confidence: 0.0,
            sampled: None,
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
    let primary = primary_of(&entities, schema);
    Proposal {
        system: opts.system.clone(),
        driver: schema.driver,
        entities,
        primary,
        numbers: a.numbers.clone(),
        tables: schema.tables.len(),
        sampled_from: None,
        time_zone: Default::default(),
        derived: vec![],
    }
}

/// The primary entity: one row per subscriber, from a table whose number column is unique.
pub(super) fn primary_of(entities: &[EntityProposal], schema: &Schema) -> Option<String> {
    let catalog = Catalog::load();
    entities
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
        .map(|e| e.name.clone())
}

/// Parts that make a good `primary` entity, best first: what a backend is about.
const PRIMARY_PREFERENCE: &[&str] = &["account", "customer", "line", "network.broadband", "plan", "marketing"];
