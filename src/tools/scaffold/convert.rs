//! Conversions a proposed column needs on its way to its field: declared types, units, timestamp
//! formats, code maps.
use super::catalog::{FieldKind, Semantic, UnifiedField};
use super::introspect::Schema;
use super::matching::Analysis;
use super::Conversion;
use crate::adapters::sql::column_type::ColumnType;

/// The conversions a column needs for a field: units, timestamp formats, code maps.
pub(super) fn conversion(f: &UnifiedField, schema: &Schema, a: &Analysis, table: &str, column: &str) -> Conversion {
    let mut c = Conversion::default();
    let Some(col) = schema.table(table).and_then(|t| t.column(column)) else {
        return c;
    };
    let p = &a.profiles[&(table.to_string(), column.to_string())];
    let declared = |cls: ColumnType| cls.declarable().then_some(cls);
    match f.semantic {
        Semantic::Money => {
            c.column_type = declared(col.class);
            match col.class {
                ColumnType::Integer => c.note = Some("an integer column: assumed to hold fen already".into()),
                _ => c.convert = Some("yuan_to_fen"),
            }
        }
        Semantic::Count => c.column_type = declared(col.class),
        // A bill's date read as its cycle (`YYYYMM`) where no cycle column exists.
        Semantic::Cycle
            if matches!(col.class, ColumnType::Timestamp | ColumnType::Date) || p.time >= 0.8 || p.epoch >= 0.8 =>
        {
            c.column_type = declared(col.class);
            c.convert = Some("date_to_cycle");
            if matches!(col.class, ColumnType::Text | ColumnType::Integer) && p.compact_time >= 0.8 {
                c.format = Some("%Y%m%d%H%M%S".into());
            } else if col.class == ColumnType::Integer && p.epoch >= 0.8 {
                c.format = Some("%s".into());
            }
            c.note = Some("a date read as its billing cycle (YYYYMM) in utc_offset".into());
        }
        Semantic::Time => {
            c.column_type = declared(col.class);
            let epoch = |v: &String| {
                v.parse::<i64>()
                    .is_ok_and(|n| (946_684_800..4_102_444_800).contains(&n))
            };
            if matches!(col.class, ColumnType::Text | ColumnType::Integer) && p.compact_time >= 0.8 {
                c.format = Some("%Y%m%d%H%M%S".into());
            } else if col.class == ColumnType::Integer && !p.examples.is_empty() && p.examples.iter().all(epoch) {
                // Unix seconds: UTC by definition.
                c.format = Some("%s".into());
                c.note = Some("Unix seconds".into());
            } else if col.class == ColumnType::Text && p.non_null == 0 {
                c.note = Some("no rows sampled: set `format` if the text is not ISO-like".into());
            }
        }
        Semantic::Code => {
            c.column_type = declared(col.class);
            if let FieldKind::Enum(values) = &f.kind {
                match &p.codes {
                    Some(codes) if !codes.is_empty() => {
                        let enum_names = codes
                            .iter()
                            .all(|code| values.iter().any(|v| v.eq_ignore_ascii_case(code)));
                        if !enum_names {
                            c.map = guess_map(codes, values);
                            if c.map.iter().any(|(_, _, g)| *g) {
                                c.note = Some("codes matched to values by order or initial: check each".into());
                            }
                        }
                    }
                    _ => c.note = Some("no rows sampled: add a `map` unless the codes are the enum's names".into()),
                }
            }
        }
        Semantic::Flag => {
            c.column_type = declared(col.class);
            if col.class != ColumnType::Bool && !p.is_flag() {
                if let Some(codes) = p.codes.as_ref().filter(|c| c.len() == 2) {
                    c.map = guess_flag(codes);
                    c.note = Some("which code means true was guessed: check it".into());
                }
            }
        }
        _ => {
            if col.class != ColumnType::Text {
                c.column_type = declared(col.class);
            }
        }
    }
    c
}

/// Maps codes to enum values: same names first, then a unique initial (`A` → ACTIVE), then the remaining
/// codes in sorted order to the remaining values in declaration order (`1`,`2`,`9` → ACTIVE, SUSPENDED,
/// CLOSED). The last two are guesses.
fn guess_map(codes: &[String], values: &[String]) -> Vec<(String, String, bool)> {
    let mut out: Vec<(String, String, bool)> = Vec::new();
    let mut free: Vec<String> = values.to_vec();
    let mut rest: Vec<String> = Vec::new();
    for code in codes {
        match free.iter().position(|v| v.eq_ignore_ascii_case(code)) {
            Some(i) => out.push((code.clone(), free.remove(i), false)),
            None => rest.push(code.clone()),
        }
    }
    let mut rest2 = Vec::new();
    for code in rest {
        let first = code.chars().next().map(|c| c.to_ascii_uppercase());
        let hits: Vec<usize> = free
            .iter()
            .enumerate()
            .filter(|(_, v)| {
                code.len() <= 2 && code.chars().all(|c| c.is_ascii_alphabetic()) && v.starts_with(first.unwrap_or(' '))
            })
            .map(|(i, _)| i)
            .collect();
        if hits.len() == 1 {
            out.push((code, free.remove(hits[0]), true));
        } else {
            rest2.push(code);
        }
    }
    rest2.sort_by(|x, y| match (x.parse::<i64>(), y.parse::<i64>()) {
        (Ok(a), Ok(b)) => a.cmp(&b),
        _ => x.cmp(y),
    });
    for (i, code) in rest2.into_iter().enumerate() {
        let v = free
            .get(i)
            .cloned()
            .or_else(|| values.last().cloned())
            .unwrap_or_default();
        out.push((code, v, true));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Two codes of a yes/no column: the one that reads as "yes" (Y…, 1, T…, 是) is true; otherwise the
/// first in sorted order (a guess either way).
fn guess_flag(codes: &[String]) -> Vec<(String, String, bool)> {
    let yes = |c: &str| {
        let u = c.to_ascii_uppercase();
        u.starts_with('Y') || u.starts_with('T') || u == "1" || c.starts_with('是')
    };
    let t = codes.iter().position(|c| yes(c)).unwrap_or(0);
    codes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.clone(), if i == t { "true" } else { "false" }.to_string(), true))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_seconds_read_as_utc() {
        let t = crate::adapters::sql::mapping::to_utc(
            &crate::adapters::sql::decode::DbValue::Int(1_764_316_800),
            Some("%s"),
            chrono::FixedOffset::east_opt(0).unwrap(),
        )
        .unwrap();
        assert_eq!(t.to_rfc3339(), "2025-11-28T08:00:00+00:00");
    }

    #[test]
    fn guesses_code_maps() {
        let v = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let m = guess_map(&v(&["1", "2", "9"]), &v(&["ACTIVE", "SUSPENDED", "CLOSED"]));
        assert_eq!(
            m.iter().map(|(a, b, _)| (a.as_str(), b.as_str())).collect::<Vec<_>>(),
            vec![("1", "ACTIVE"), ("2", "SUSPENDED"), ("9", "CLOSED")]
        );
        let m = guess_map(
            &v(&["DONE", "PENDING", "REJECTED"]),
            &v(&["PENDING", "COMPLETED", "REJECTED", "CANCELLED"]),
        );
        assert!(m.contains(&("PENDING".into(), "PENDING".into(), false)), "{m:?}");
        assert!(m.contains(&("DONE".into(), "COMPLETED".into(), true)), "{m:?}");
        let m = guess_map(
            &v(&["A", "I", "R", "S"]),
            &v(&["ACTIVE", "SUSPENDED", "INACTIVE", "REPLACED"]),
        );
        assert!(
            m.contains(&("S".into(), "SUSPENDED".into(), true)) && m.contains(&("R".into(), "REPLACED".into(), true)),
            "{m:?}"
        );
        let f = guess_flag(&v(&["HF", "YF"]));
        assert_eq!(f[1], ("YF".into(), "true".into(), true));
    }
}
