//! Fields no single column holds, derived the usual way: a bill's total from its items, a name from its
//! parts, the region from the city, the current plan from subscription rows, a balance from payments and
//! bills, a bill's status from its due date. Each is proposed as SQL to review, or listed with what it
//! needs; none is written live.
use super::introspect::Schema;
use super::names::tokens;
use super::Proposal;
use crate::adapters::sql::decode::DbValue;

/// A derivation for one unified field.
#[derive(Debug, Clone, PartialEq)]
pub struct Derivation {
    /// `target.path`.
    pub field: String,
    /// The SQL expression or clause to review, where the schema has what it needs.
    pub sql: Option<String>,
    /// What it rests on, or what is missing.
    pub needs: String,
}

/// The region codes of the cities the demo backends use (区号), for `CASE city WHEN …`.
const CITY_CODES: &[(&str, &str)] = &[
    ("杭州", "0571"),
    ("宁波", "0574"),
    ("温州", "0577"),
    ("嘉兴", "0573"),
    ("湖州", "0572"),
    ("绍兴", "0575"),
    ("金华", "0579"),
    ("衢州", "0570"),
    ("舟山", "0580"),
    ("台州", "0576"),
    ("丽水", "0578"),
];

fn live_column(p: &Proposal, key: &str) -> Option<(String, String)> {
    p.entities
        .iter()
        .filter(|e| e.enabled)
        .flat_map(|e| e.fields.iter())
        .find(|f| f.active && f.field.key() == key)
        .and_then(|f| f.best.as_ref().map(|b| (b.table.clone(), b.column.clone())))
}

fn has_live(p: &Proposal, key: &str) -> bool {
    live_column(p, key).is_some()
}

/// A column of `table` whose name has one of `words` (as a whole word).
fn column_with(schema: &Schema, table: &str, words: &[&str]) -> Option<String> {
    let t = schema.table(table)?;
    t.columns
        .iter()
        .find(|c| tokens(&c.spelled).iter().any(|w| words.contains(&w.as_str())))
        .map(|c| c.name.clone())
}

/// The derivations worth proposing for `p`.
pub fn propose(schema: &Schema, p: &Proposal) -> Vec<Derivation> {
    let mut out = Vec::new();
    // A person's name in two columns.
    if !has_live(p, "customer.name") {
        let holder = live_column(p, "customer.address")
            .or_else(|| live_column(p, "customer.email"))
            .or_else(|| live_column(p, "customer.city_name"));
        if let Some((t, _)) = holder {
            let first = column_with(schema, &t, &["first", "firstname", "given", "fname"]);
            let last = column_with(schema, &t, &["last", "lastname", "family", "surname", "lname"]);
            if let (Some(f), Some(l)) = (first, last) {
                out.push(Derivation {
                    field: "customer.name".into(),
                    sql: Some(format!("CONCAT({t}.{l}, {t}.{f}) AS name")),
                    needs: format!("`{t}` keeps the name in `{l}` and `{f}`"),
                });
            }
        }
    }
    // The region from the city.
    if !has_live(p, "customer.region_code") {
        match live_column(p, "customer.city_name") {
            Some((t, c)) => {
                let cities: Vec<String> = schema
                    .table(&t)
                    .map(|tb| tb.values(&c).into_iter().filter_map(DbValue::as_text).collect())
                    .unwrap_or_default();
                let known: Vec<&(&str, &str)> = CITY_CODES
                    .iter()
                    .filter(|(name, _)| cities.iter().any(|x| x.trim_end_matches('市') == *name))
                    .collect();
                let sql = (!known.is_empty()).then(|| {
                    let arms: Vec<String> = known
                        .iter()
                        .map(|(n, code)| format!("WHEN '{n}' THEN '{code}'"))
                        .collect();
                    format!("CASE {t}.{c} {} END AS region_code", arms.join(" "))
                });
                out.push(Derivation {
                    field: "customer.region_code".into(),
                    needs: format!(
                        "the city in `{t}.{c}` mapped to its region code{}",
                        if sql.is_some() {
                            ""
                        } else {
                            ": its sampled cities are not in the built-in table; map them by hand"
                        }
                    ),
                    sql,
                });
            }
            None => out.push(Derivation {
                field: "customer.region_code".into(),
                sql: None,
                needs: "no region or city column found: the region is needed to authorise handlers by city".into(),
            }),
        }
    }
    // A bill's total from its items.
    if has_live(p, "recent_bills.cycle") && !has_live(p, "recent_bills.total_fen") {
        match live_column(p, "recent_bills.items[].amount_fen") {
            Some((t, c)) => out.push(Derivation {
                field: "recent_bills.total_fen".into(),
                sql: Some(format!(
                    "SUM({t}.{c}) per bill (GROUP BY the bill's key, or a subquery on `{t}` by its bill column)"
                )),
                needs: format!("the bill has no total column; its items' amounts are `{t}.{c}`"),
            }),
            None => out.push(Derivation {
                field: "recent_bills.total_fen".into(),
                sql: None,
                needs: "no total column and no item amounts found".into(),
            }),
        }
    }
    // A bill's status from its due date.
    if let Some((t, _)) = live_column(p, "recent_bills.cycle") {
        if !has_live(p, "recent_bills.status") {
            let due = column_with(schema, &t, &["due", "deadline", "jzrq"]);
            out.push(Derivation {
                field: "recent_bills.status".into(),
                sql: due.as_ref().map(|d| {
                    format!("CASE WHEN <paid> THEN 'PAID' WHEN {t}.{d} < CURRENT_DATE THEN 'OVERDUE' ELSE 'OPEN' END AS status")
                }),
                needs: match due {
                    Some(d) => format!("`{t}.{d}` is the due date; <paid> needs the bill's payment record"),
                    None => "a due date and the bill's payments".into(),
                },
            });
        }
    }
    // The current plan from subscription or order rows.
    if let Some(e) = p.entities.iter().find(|e| e.enabled && e.target == "plan") {
        if let Some(plan) = &e.plan {
            for s in &plan.steps[1..] {
                let Some(t) = schema.table(&s.table) else { continue };
                let end = t.columns.iter().find(|c| {
                    let w = tokens(&c.spelled);
                    w.iter().any(|x| {
                        matches!(
                            x.as_str(),
                            "terminated" | "ended" | "ending" | "end" | "expiry" | "expired" | "canceled" | "cancelled"
                        )
                    }) && matches!(
                        c.class,
                        crate::adapters::sql::column_type::ColumnType::Timestamp
                            | crate::adapters::sql::column_type::ColumnType::Integer
                            | crate::adapters::sql::column_type::ColumnType::Bool
                    )
                });
                if let Some(c) = end {
                    out.push(Derivation {
                        field: "plan.name".into(),
                        sql: Some(format!(
                            "{}.{} IS NULL (or not yet passed), the latest first: ORDER BY its start DESC LIMIT 1",
                            s.alias, c.name
                        )),
                        needs: format!(
                            "`{}` holds every plan the subscriber had: keep the current one",
                            s.table
                        ),
                    });
                    break;
                }
            }
        }
    }
    // A balance from payments and bills.
    if !has_live(p, "account.balance_fen")
        && (has_live(p, "payments.amount_fen") || has_live(p, "recent_bills.total_fen"))
    {
        let pay = live_column(p, "payments.amount_fen").map(|(t, c)| format!("{t}.{c}"));
        let bill = live_column(p, "recent_bills.total_fen").map(|(t, c)| format!("{t}.{c}"));
        out.push(Derivation {
            field: "account.balance_fen".into(),
            sql: match (&pay, &bill) {
                (Some(pa), Some(b)) => Some(format!("SUM({pa}) - SUM({b}) for the subscriber's account")),
                _ => None,
            },
            needs: format!(
                "no balance column: payments ({}) less bills ({})",
                pay.as_deref().unwrap_or("not found"),
                bill.as_deref().unwrap_or("not found")
            ),
        });
    }
    out
}
