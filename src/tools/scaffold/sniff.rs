//! Value sniffing: what a sample of a column's values looks like (mobile numbers, ID-card numbers,
//! money with two decimals, timestamps including `YYYYMMDDHHMMSS` text, billing cycles, small code sets),
//! and how well that fits a unified field.
use super::catalog::{FieldKind, Semantic, UnifiedField};
use crate::adapters::sql::column_type::ColumnType;
use crate::adapters::sql::decode::DbValue;
use chrono::{NaiveDate, NaiveDateTime};
use std::collections::BTreeSet;

/// What a column's sampled values look like. Fractions are of the non-null values.
#[derive(Debug, Clone, Default)]
pub struct Profile {
    pub rows: usize,
    pub non_null: usize,
    pub distinct: usize,
    /// 11-digit mainland mobile numbers.
    pub mobile: f32,
    /// 18-character resident ID numbers with a valid check digit.
    pub id_card: f32,
    pub iccid: f32,
    pub imei: f32,
    pub email: f32,
    /// YYYYMM.
    pub cycle: f32,
    /// `YYYYMMDDHHMMSS` as text or digits.
    pub compact_time: f32,
    /// Timestamps or dates: typed, or text such as `2026-11-28 10:00:00`.
    pub time: f32,
    /// Whole numbers that read as Unix seconds of 2000..2100 (`createDate` = 1764316800).
    pub epoch: f32,
    /// Two upper-case letters.
    pub country: f32,
    /// 2G/3G/4G/5G.
    pub technology: f32,
    /// Decimal values with at most two decimals, some with cents.
    pub money: f32,
    /// Whole numbers (typed, or digits in text).
    pub integer: f32,
    /// Short identifiers: letters, digits, `-` and `_` only.
    pub id_like: f32,
    /// Values with Chinese characters.
    pub cjk: f32,
    /// The distinct values, when there are few (a code set).
    pub codes: Option<Vec<String>>,
    /// A few distinct values, for join discovery.
    pub examples: Vec<String>,
}

impl Profile {
    /// Whether the values form a small set of codes (status, type, flag).
    pub fn is_code_set(&self) -> bool {
        self.codes
            .as_ref()
            .is_some_and(|c| !c.is_empty() && c.len() <= 10 && (self.non_null >= 3 * c.len() || self.non_null >= 20))
    }

    /// Whether the codes look like a yes/no flag.
    pub fn is_flag(&self) -> bool {
        let Some(codes) = &self.codes else { return false };
        !codes.is_empty()
            && codes.len() <= 2
            && codes.iter().all(|c| {
                matches!(
                    c.to_ascii_lowercase().as_str(),
                    "0" | "1" | "y" | "n" | "t" | "f" | "true" | "false" | "yes" | "no" | "是" | "否"
                )
            })
    }
}

/// Whether a text is a UUID in its usual form (`8-4-4-4-12` hex digits).
pub fn is_uuid(t: &str) -> bool {
    let parts: Vec<&str> = t.split('-').collect();
    parts.len() == 5
        && parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Profiles a column from its sampled values.
pub fn profile(values: &[&DbValue]) -> Profile {
    let mut p = Profile {
        rows: values.len(),
        ..Default::default()
    };
    let mut distinct: BTreeSet<String> = BTreeSet::new();
    let mut counts = [0usize; 15];
    let mut cents = 0usize;
    for v in values {
        if v.is_null() {
            continue;
        }
        p.non_null += 1;
        let text = v.as_text().unwrap_or_default();
        let t = text.trim();
        if distinct.len() <= 200 {
            distinct.insert(t.to_string());
        }
        let digits = !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        let checks = [
            digits && t.len() == 11 && t.starts_with('1') && matches!(t.as_bytes()[1], b'3'..=b'9'),
            is_id_card(t),
            t.len() >= 19 && t.len() <= 20 && t.starts_with("89") && t[..19].bytes().all(|b| b.is_ascii_digit()),
            digits && t.len() == 15,
            t.contains('@') && t.contains('.') && !t.contains(' '),
            digits && t.len() == 6 && is_cycle(t),
            digits && t.len() == 14 && NaiveDateTime::parse_from_str(t, "%Y%m%d%H%M%S").is_ok(),
            matches!(v, DbValue::Timestamp(_) | DbValue::DateTime(_) | DbValue::Date(_)) || is_time_text(t),
            t.len() == 2 && t.bytes().all(|b| b.is_ascii_uppercase()),
            matches!(
                t.to_ascii_uppercase().as_str(),
                "2G" | "3G" | "4G" | "5G" | "NR" | "LTE"
            ),
            is_money(v, t),
            matches!(v, DbValue::Int(_)) || digits && t.len() <= 12,
            !t.is_empty() && t.len() <= 40 && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            t.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
            digits
                && t.len() == 10
                && t.parse::<i64>()
                    .is_ok_and(|n| (946_684_800..4_102_444_800).contains(&n)),
        ];
        for (i, c) in checks.iter().enumerate() {
            if *c {
                counts[i] += 1;
            }
        }
        if has_cents(v, t) {
            cents += 1;
        }
    }
    let n = p.non_null.max(1) as f32;
    let f = |i: usize| counts[i] as f32 / n;
    p.mobile = f(0);
    p.id_card = f(1);
    p.iccid = f(2);
    p.imei = f(3);
    p.email = f(4);
    p.cycle = f(5);
    p.compact_time = f(6);
    p.time = f(7).max(p.compact_time);
    p.country = f(8);
    p.technology = f(9);
    // Money: values with at most two decimals, and some of them with cents.
    p.money = if cents > 0 { f(10) } else { 0.0 };
    p.integer = f(11);
    p.id_like = f(12);
    p.cjk = f(13);
    p.epoch = f(14);
    p.distinct = distinct.len();
    if distinct.len() <= 10 {
        p.codes = Some(distinct.iter().cloned().collect());
    }
    p.examples = distinct.into_iter().filter(|s| !s.is_empty()).take(20).collect();
    p
}

fn is_cycle(t: &str) -> bool {
    let (y, m) = (t[..4].parse::<u32>().unwrap_or(0), t[4..].parse::<u32>().unwrap_or(0));
    (1990..=2100).contains(&y) && (1..=12).contains(&m)
}

fn is_time_text(t: &str) -> bool {
    if t.len() < 8 {
        return false;
    }
    chrono::DateTime::parse_from_rfc3339(t).is_ok()
        || ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y/%m/%d %H:%M:%S"]
            .iter()
            .any(|f| NaiveDateTime::parse_from_str(t, f).is_ok())
        || ["%Y-%m-%d", "%Y/%m/%d"]
            .iter()
            .any(|f| NaiveDate::parse_from_str(t, f).is_ok())
}

fn is_money(v: &DbValue, t: &str) -> bool {
    match v {
        DbValue::Decimal(d) => d.scale() <= 2 || d.normalize().scale() <= 2,
        DbValue::Float(x) => ((x * 100.0).round() - x * 100.0).abs() < 1e-6,
        DbValue::Text(_) => {
            let mut parts = t.splitn(2, '.');
            let whole = parts.next().unwrap_or("");
            let frac = parts.next();
            !whole.is_empty()
                && whole.trim_start_matches('-').bytes().all(|b| b.is_ascii_digit())
                && frac.is_some_and(|f| !f.is_empty() && f.len() <= 2 && f.bytes().all(|b| b.is_ascii_digit()))
        }
        _ => false,
    }
}

fn has_cents(v: &DbValue, t: &str) -> bool {
    match v {
        DbValue::Decimal(d) => !d.fract().is_zero(),
        DbValue::Float(x) => x.fract() != 0.0,
        DbValue::Text(_) => t.contains('.') && !t.ends_with(".00") && !t.ends_with(".0"),
        _ => false,
    }
}

/// A resident ID number: 17 digits and a check digit (ISO 7064 MOD 11-2).
pub fn is_id_card(t: &str) -> bool {
    let b = t.as_bytes();
    if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) {
        return false;
    }
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const C: &[u8; 11] = b"10X98765432";
    let sum: u32 = b[..17].iter().zip(W).map(|(d, w)| u32::from(d - b'0') * w).sum();
    b[17].to_ascii_uppercase() == C[(sum % 11) as usize]
}

/// How well a column fits a field by type and values: a multiplier in (0, 1], and a bonus where the
/// values say what the field is (ID-card numbers for `id_number`).
pub fn fit(field: &UnifiedField, class: ColumnType, p: &Profile) -> (f32, f32) {
    use ColumnType as C;
    let sampled = p.non_null >= 3;
    let strong = |frac: f32| sampled && frac >= 0.8;
    let textual = matches!(class, C::Text);
    let numeric = matches!(class, C::Integer | C::Decimal | C::Float);
    let timeish = matches!(class, C::Timestamp | C::Date);
    match field.semantic {
        Semantic::Money => match class {
            C::Decimal | C::Float => (1.0, if strong(p.money) { 0.05 } else { 0.0 }),
            C::Integer => (0.9, 0.0),
            C::Text if strong(p.money) || strong(p.integer) => (0.6, 0.0),
            C::Text if !sampled => (0.5, 0.0),
            _ => (0.1, 0.0),
        },
        Semantic::Count => match class {
            C::Integer if strong(p.epoch) => (0.3, 0.0),
            C::Integer => (1.0, 0.0),
            C::Decimal | C::Float if sampled && p.money == 0.0 => (0.85, 0.0),
            C::Decimal | C::Float => (0.6, 0.0),
            C::Text if strong(p.integer) => (0.6, 0.0),
            C::Bool => (0.3, 0.0),
            _ => (0.1, 0.0),
        },
        Semantic::Time => match class {
            _ if timeish => (1.0, 0.0),
            C::Text | C::Integer if strong(p.time) => (1.0, if p.compact_time > 0.8 { 0.05 } else { 0.0 }),
            C::Integer if strong(p.epoch) => (1.0, 0.0),
            C::Text if !sampled => (0.6, 0.0),
            _ => (0.1, 0.0),
        },
        Semantic::Code => {
            let FieldKind::Enum(values) = &field.kind else {
                return (1.0, 0.0);
            };
            if !(textual || matches!(class, C::Integer)) {
                return (0.1, 0.0);
            }
            if !sampled {
                return (0.7, 0.0);
            }
            match &p.codes {
                Some(c) if c.len() <= values.len() + 2 => (1.0, 0.0),
                Some(_) => (0.6, 0.0),
                None => (0.3, 0.0),
            }
        }
        Semantic::Flag => match class {
            C::Bool => (1.0, 0.0),
            _ if p.is_flag() => (1.0, 0.0),
            C::Text | C::Integer if p.codes.as_ref().is_some_and(|c| c.len() <= 2) => (0.9, 0.0),
            C::Text | C::Integer if !sampled => (0.7, 0.0),
            C::Text | C::Integer => (0.3, 0.0),
            _ => (0.1, 0.0),
        },
        Semantic::Cycle => match class {
            C::Text | C::Integer if strong(p.cycle) => (1.0, 0.15),
            C::Text | C::Integer if !sampled => (0.7, 0.0),
            C::Text | C::Integer => (0.4, 0.0),
            _ if timeish => (0.4, 0.0),
            _ => (0.1, 0.0),
        },
        Semantic::Phone => pattern(class, sampled, p.mobile, 0.1),
        Semantic::IdCard => pattern(class, sampled, p.id_card, 0.2),
        Semantic::Iccid => pattern(class, sampled, p.iccid, 0.2),
        Semantic::Imei => pattern(class, sampled, p.imei, 0.15),
        Semantic::Email => pattern(class, sampled, p.email, 0.2),
        Semantic::Country => pattern(class, sampled, p.country, 0.1),
        Semantic::Technology => pattern(class, sampled, p.technology, 0.15),
        Semantic::Ident => match class {
            C::Text | C::Integer if !sampled || p.id_like >= 0.8 => (1.0, 0.0),
            C::Text | C::Integer => (0.7, 0.0),
            _ if timeish => (0.2, 0.0),
            C::Decimal | C::Float => (0.3, 0.0),
            _ => (0.4, 0.0),
        },
        Semantic::Text => match class {
            C::Text => (
                if sampled && (p.time >= 0.8 || p.money >= 0.8) {
                    0.5
                } else {
                    1.0
                },
                0.0,
            ),
            _ if numeric => (0.5, 0.0),
            _ => (0.3, 0.0),
        },
    }
}

fn pattern(class: ColumnType, sampled: bool, frac: f32, bonus: f32) -> (f32, f32) {
    match class {
        ColumnType::Text | ColumnType::Integer | ColumnType::Decimal if sampled && frac >= 0.6 => (1.0, bonus),
        ColumnType::Text | ColumnType::Integer if !sampled => (0.8, 0.0),
        ColumnType::Text => (0.6, 0.0),
        ColumnType::Integer => (0.4, 0.0),
        _ => (0.1, 0.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_common_value_shapes() {
        let vals = [
            DbValue::Text("13800138000".into()),
            DbValue::Text("13900139000".into()),
            DbValue::Text("15800158000".into()),
        ];
        let p = profile(&vals.iter().collect::<Vec<_>>());
        assert_eq!(p.mobile, 1.0);
        assert!(is_id_card("11010519491231002X"));
        assert!(!is_id_card("110105194912310021"));
        let times = [
            DbValue::Text("20261128101500".into()),
            DbValue::Text("20261101000000".into()),
        ];
        let p = profile(&times.iter().collect::<Vec<_>>());
        assert_eq!(p.compact_time, 1.0);
        let money = [
            DbValue::Decimal("12.50".parse().unwrap()),
            DbValue::Decimal("3.00".parse().unwrap()),
        ];
        let p = profile(&money.iter().collect::<Vec<_>>());
        assert_eq!(p.money, 1.0);
        let secs = [
            DbValue::Int(1_764_316_800),
            DbValue::Int(1_700_000_000),
            DbValue::Int(1_600_000_000),
        ];
        let p = profile(&secs.iter().collect::<Vec<_>>());
        assert_eq!(p.epoch, 1.0);
        let counts = [DbValue::Int(12), DbValue::Int(300), DbValue::Int(7)];
        assert_eq!(profile(&counts.iter().collect::<Vec<_>>()).epoch, 0.0);
        let codes: Vec<DbValue> = (0..30).map(|i| DbValue::Text(["1", "2", "9"][i % 3].into())).collect();
        let p = profile(&codes.iter().collect::<Vec<_>>());
        assert!(p.is_code_set() && !p.is_flag());
        assert_eq!(p.codes.unwrap(), vec!["1", "2", "9"]);
    }
}
