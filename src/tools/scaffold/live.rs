//! Live tables over the rest: a subscriber's current state lives in tables that are neither history, log,
//! audit, backup, archive nor staging copies, and that hold rows. Names and row counts are the evidence;
//! the factor scales every score a table's columns get, and anchors the queries on live tables.
use super::introspect::{Schema, Table};
use super::names::tokens;

/// Words that mark a table as a copy, a trail or a log rather than the current state.
const NOT_LIVE: &[&str] = &[
    "history",
    "hist",
    "his",
    "lishi",
    "log",
    "logs",
    "rz",
    "rizhi",
    "audit",
    "audits",
    "trail",
    "bak",
    "backup",
    "backups",
    "archive",
    "archived",
    "arch",
    "guidang",
    "old",
    "prev",
    "staging",
    "tmp",
    "temp",
    "changelog",
    "changes",
    "version",
    "versions",
    "snapshot",
    "snap",
    "trash",
    "deleted",
    "copy",
    "tracking",
    "webhook",
    "webhooks",
    "event",
    "events",
    "session",
    "sessions",
    "syslog",
];

/// Why a table does not look like it holds the current state, if it does not.
pub fn not_live_reason(t: &Table, schema: &Schema) -> Option<String> {
    let words = tokens(&t.name);
    // A run-together name (`usertracking`, `accounthistory`) ends with the word.
    let lower = t.name.to_ascii_lowercase();
    let word = words
        .iter()
        .find(|w| NOT_LIVE.contains(&w.as_str()))
        .cloned()
        .or_else(|| {
            ["history", "tracking", "backup", "archive", "audit", "changelog", "log"]
                .iter()
                .find(|w| lower.ends_with(*w) && lower.len() > w.len() + 2)
                .map(|w| w.to_string())
        });
    // `rz` (日志) is pinyin initials only as the suffix of a longer name.
    let word = word.filter(|w| w != "rz" || words.len() > 1 && words.last() == Some(w));
    // An event table holding the subscriber's records (`usage_event`) is what a usage stream reads: the
    // word alone is weak evidence, unless a table of the same name without it exists.
    if let Some(w) = word {
        let base: Vec<&String> = words.iter().filter(|x| **x != w).collect();
        let twin = schema.tables.iter().any(|o| {
            o.name != t.name && {
                let ow = tokens(&o.name);
                ow.len() == base.len() && ow.iter().zip(&base).all(|(a, b)| a == *b)
            }
        });
        let weak = matches!(
            w.as_str(),
            "event" | "events" | "version" | "session" | "sessions" | "changes"
        );
        if !weak || twin {
            return Some(if twin {
                format!(
                    "`{}` looks like a `{w}` copy of `{}`",
                    t.name,
                    base.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("_")
                )
            } else {
                format!("`{}` is named like a {w} table", t.name)
            });
        }
    }
    if t.sample.is_empty() {
        return Some(format!("`{}` has no rows", t.name));
    }
    None
}

/// The factor a table's column scores are multiplied by: 1 for a live table with rows.
pub fn factor(t: &Table, schema: &Schema) -> f32 {
    match not_live_reason(t, schema) {
        None => 1.0,
        Some(r) if r.ends_with("has no rows") => 0.6,
        Some(_) if t.sample.is_empty() => 0.3,
        Some(_) => 0.5,
    }
}
