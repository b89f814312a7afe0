//! What a column's name says beyond its words: the kind of value its class word names (`_id`, `_type`,
//! `_date`), and, for times, the moment its qualifiers put it at (`due`, `paid`, `reminded`).
use super::catalog::UnifiedField;
use super::names;

/// The field a part's rows are identified by: a table's own key holds it where no column is named so.
pub(super) const OWN_ID: &[&str] = &[
    "customer.customer_id",
    "account.account_id",
    "plan.plan_id",
    "payments.payment_id",
    "service_orders.order_id",
    "usage_records.record_id",
    "network.outages.outage_id",
    "network.cells.cell_id",
];

/// Representation terms (ISO/IEC 11179 class words): the word a name ends in says what kind of value the
/// column holds. A column whose class word is of another kind than the field's (`customer_type` for a
/// customer id, `charge_id` for a description) names another thing, however many words it shares.
/// `code` fits identifiers and classifiers alike, and counts are left out (`sessiontime` is a duration).
fn class_of(word: &str) -> Option<&'static str> {
    Some(match word {
        "id" | "no" | "num" | "number" | "nbr" | "key" | "ref" | "reference" | "uuid" | "sn" => "ident",
        "type" | "kind" | "category" | "class" => "kind",
        "date" | "time" | "at" | "dt" | "datetime" | "timestamp" | "stamp" => "time",
        "amount" | "amt" | "fee" | "price" | "total" | "balance" | "cost" | "charge" | "cents" | "sum" => "money",
        "name" | "title" | "label" | "desc" | "description" | "note" | "remark" | "subject" | "comment" => "text",
        "status" | "state" | "flag" | "sts" | "statut" => "state",
        "quantity" | "qty" | "count" | "cnt" => "count",
        _ => return None,
    })
}

/// The kind of value a name's last class word says it holds (units such as `_fen` skipped).
fn name_class(words: &[String]) -> Option<&'static str> {
    // `number_of_x`, `num_of_x`: a count, whatever x is.
    if words.len() > 2 && words[1] == "of" && matches!(words[0].as_str(), "number" | "num" | "no" | "nb" | "count") {
        return Some("count");
    }
    words
        .iter()
        .rev()
        .filter(|w| !names::MONEY_UNITS.contains(&w.as_str()) && !matches!(w.as_str(), "mb" | "min" | "mbps"))
        .find_map(|w| class_of(w))
}

/// Words that put a time at another moment than the one a field records: a due date is not when a bill
/// was paid, an anchor or a grace period not when it was issued, and a time named for another event
/// (`paid_at`, `reminded_at`) not the time of this one.
const OTHER_MOMENT: &[&str] = &[
    "due",
    "expire",
    "expiry",
    "expiration",
    "deadline",
    "grace",
    "next",
    "planned",
    "scheduled",
    "anchor",
    "dispute",
    "disputed",
    "deleted",
    "updated",
    "modified",
    "trial",
    "last",
    "reminder",
    "paid",
    "issued",
    "cancelled",
    "canceled",
    "suspended",
    "unsuspended",
    "terminated",
    "closed",
    "refunded",
    "reminded",
    "voided",
];

/// A multiplier for a column's name score from its class word and, for times, its qualifiers.
pub(super) fn qualifiers(field: &UnifiedField, words: &[String]) -> f32 {
    let own = super::names::tokens(&field.name);
    let mut m = 1.0;
    let (f, c) = (name_class(&own), name_class(words));
    if let (Some(f), Some(c)) = (f, c) {
        // A duration is often named a time (`sessiontime` for a call's seconds).
        if f != c && !matches!((f, c), ("count", "time")) {
            m *= 0.5;
        }
    }
    // A part's own identifier qualified by another thing (`payment_provider_id`, `payment_method_id`,
    // `workflowid` for a payment or an order id) identifies that other thing: a reference.
    if OWN_ID.contains(&field.key().as_str()) && c == Some("ident") {
        let dict = super::names::dictionary();
        let labels: std::collections::HashSet<String> = super::names::expand(
            dict,
            &super::names::label_words(&field.key()).into_iter().collect::<Vec<_>>(),
        )
        .into_iter()
        .collect();
        let foreign = super::names::expand(dict, words)
            .iter()
            .any(|w| class_of(w).is_none() && w.len() > 1 && !labels.contains(w));
        if foreign {
            m *= 0.6;
        }
    }
    if field.semantic == super::catalog::Semantic::Time {
        // One qualifier of another moment is enough: the field's own words (and their inflections) are not.
        let labels = super::names::label_words(&field.key());
        let other = words
            .iter()
            .any(|w| OTHER_MOMENT.contains(&w.as_str()) && !labels.iter().any(|l| super::names::same_word(l, w)));
        if other {
            m *= 0.6;
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::scaffold::catalog::Catalog;

    fn field(key: &str) -> UnifiedField {
        Catalog::load()
            .fields
            .into_iter()
            .find(|f| f.key() == key)
            .expect("a field of the view")
    }

    fn words(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn a_class_word_of_another_kind_or_another_moment_weakens_a_name() {
        let id = field("customer.customer_id");
        assert_eq!(qualifiers(&id, &words(&["customer", "id"])), 1.0);
        assert_eq!(
            qualifiers(&id, &words(&["customer", "type"])),
            0.5,
            "a kind is not an identifier"
        );
        assert_eq!(
            qualifiers(&id, &words(&["customer", "code"])),
            1.0,
            "codes identify and classify"
        );
        assert_eq!(
            qualifiers(&id, &words(&["number", "of", "runs"])),
            0.5,
            "number_of_x is a count"
        );
        let description = field("recent_bills.items[].description");
        assert_eq!(qualifiers(&description, &words(&["charge", "id"])), 0.5);
        let charge_type = field("recent_bills.items[].charge_type");
        assert_eq!(qualifiers(&charge_type, &words(&["charge", "type"])), 1.0);
        let amount = field("payments.amount_fen");
        assert_eq!(
            qualifiers(&amount, &words(&["amount", "cents"])),
            1.0,
            "cents are a unit, as fen"
        );
        let paid = field("payments.paid_at");
        assert_eq!(qualifiers(&paid, &words(&["paid", "at"])), 1.0);
        assert_eq!(
            qualifiers(&paid, &words(&["payment", "due", "date"])),
            0.6,
            "due is another moment"
        );
        let issued = field("recent_bills.issued_at");
        assert_eq!(
            qualifiers(&issued, &words(&["paid", "at"])),
            0.6,
            "paid is another event"
        );
        assert_eq!(qualifiers(&issued, &words(&["reminded", "at"])), 0.6);
        assert_eq!(qualifiers(&issued, &words(&["created", "at"])), 1.0);
        assert_eq!(qualifiers(&paid, &words(&["paid", "at"])), 1.0, "its own event");
        let since = field("customer.customer_since");
        assert_eq!(qualifiers(&since, &words(&["updated", "at"])), 0.6);
    }
}
