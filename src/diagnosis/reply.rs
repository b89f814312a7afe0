//! Rendering replies: minijinja, with filters for the way the company writes money and dates.
//!
//! Filters: `money` (fen → `12.34元`), `date` (→ `2026年11月28日`, Beijing time), `datetime`
//! (→ `2026年11月28日 10:00`), `cycle` (`202611` → `2026年11月`), `data_mb` (MB → `2.0GB` / `512MB`).
//! A template sees `view` (the subscriber view, as in the JSON of `GetSubscriberView` but with proto field
//! names), `values` (what the steps computed), `answers`, `now`, `complaint` (the period its text names),
//! `cause` (`code`, `title`), `complaint_id` and `msisdn`. Templates are compiled, checked and rendered once against a sample view at load
//! (`super::load`); here is what they are rendered with.
use super::value;
use cel::objects::{Key, KeyRef};
use chrono::{DateTime, FixedOffset};
use minijinja::value::{Enumerator, Object, ObjectRepr, Value as JValue, ValueKind};
use minijinja::{Environment, Error as JError, ErrorKind, UndefinedBehavior};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Variables a template sees.
pub const TEMPLATE_VARIABLES: [&str; 8] = [
    "view",
    "values",
    "answers",
    "now",
    "complaint",
    "cause",
    "complaint_id",
    "msisdn",
];

/// The template environment: the filters, and undefined values that render as empty.
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    // A field a subscriber lacks renders as empty rather than failing the reply; paths are checked at load.
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.add_filter("money", money);
    env.add_filter("date", date);
    env.add_filter("datetime", datetime);
    env.add_filter("cycle", cycle);
    env.add_filter("data_mb", data_mb);
    env.add_filter("country", country);
    env
}

/// `{{ code | country }}`: an ISO 3166 country or region code as its Chinese name (`JP` → 日本), so a
/// reply never shows a code; a code not in the table is shown as it is.
pub fn country(code: String) -> String {
    country_name(&code).map(str::to_string).unwrap_or(code)
}

/// The Chinese name of an ISO 3166 alpha-2 code (countries and regions Chinese subscribers roam in most).
pub fn country_name(code: &str) -> Option<&'static str> {
    const NAMES: [(&str, &str); 40] = [
        ("JP", "日本"),
        ("KR", "韩国"),
        ("TH", "泰国"),
        ("SG", "新加坡"),
        ("MY", "马来西亚"),
        ("VN", "越南"),
        ("ID", "印度尼西亚"),
        ("PH", "菲律宾"),
        ("KH", "柬埔寨"),
        ("LA", "老挝"),
        ("MM", "缅甸"),
        ("IN", "印度"),
        ("LK", "斯里兰卡"),
        ("MV", "马尔代夫"),
        ("NP", "尼泊尔"),
        ("AE", "阿联酋"),
        ("TR", "土耳其"),
        ("EG", "埃及"),
        ("RU", "俄罗斯"),
        ("GB", "英国"),
        ("FR", "法国"),
        ("DE", "德国"),
        ("IT", "意大利"),
        ("ES", "西班牙"),
        ("CH", "瑞士"),
        ("NL", "荷兰"),
        ("GR", "希腊"),
        ("PT", "葡萄牙"),
        ("US", "美国"),
        ("CA", "加拿大"),
        ("MX", "墨西哥"),
        ("BR", "巴西"),
        ("AU", "澳大利亚"),
        ("NZ", "新西兰"),
        ("ZA", "南非"),
        ("HK", "中国香港"),
        ("MO", "中国澳门"),
        ("TW", "中国台湾"),
        ("MN", "蒙古"),
        ("KZ", "哈萨克斯坦"),
    ];
    let code = code.trim().to_ascii_uppercase();
    NAMES.iter().find(|(c, _)| *c == code).map(|(_, n)| *n)
}

/// What a reply template is rendered with.
pub struct ReplyInput<'a> {
    /// The view as a CEL value (handed to the template without copying).
    pub view: &'a cel::Value,
    pub values: &'a [(String, cel::Value)],
    pub answers: &'a BTreeMap<String, String>,
    pub now: DateTime<FixedOffset>,
    /// `complaint` (the period the text names, see [`super::period`]).
    pub complaint: &'a cel::Value,
    pub cause_code: &'a str,
    pub cause_title: &'a str,
    pub complaint_id: &'a str,
    pub msisdn: &'a str,
}

/// A CEL map as a template sees it: fields are converted when a template reads them, not before.
#[derive(Debug)]
struct CelMap(cel::objects::Map);

/// A CEL list as a template sees it.
#[derive(Debug)]
struct CelList(Arc<Vec<cel::Value>>);

impl Object for CelMap {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }
    fn get_value(self: &Arc<Self>, key: &JValue) -> Option<JValue> {
        key.as_str().and_then(|k| self.get_value_by_str(k))
    }
    fn get_value_by_str(self: &Arc<Self>, key: &str) -> Option<JValue> {
        self.0.get(&KeyRef::String(key)).map(to_template)
    }
    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let mut keys: Vec<&Key> = self.0.map.keys().collect();
        keys.sort();
        Enumerator::Values(
            keys.into_iter()
                .map(|k| match k {
                    Key::String(s) => JValue::from(s.as_str()),
                    Key::Int(i) => JValue::from(*i),
                    Key::Uint(u) => JValue::from(*u),
                    Key::Bool(b) => JValue::from(*b),
                })
                .collect(),
        )
    }
    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.0.map.len())
    }
}

impl Object for CelList {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }
    fn get_value(self: &Arc<Self>, key: &JValue) -> Option<JValue> {
        key.as_usize().and_then(|i| self.0.get(i)).map(to_template)
    }
    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Seq(self.0.len())
    }
}

/// A CEL value as a template value: timestamps become RFC 3339 text in Beijing time (for `date` and
/// `datetime`), maps and lists are wrapped, not copied.
pub fn to_template(v: &cel::Value) -> JValue {
    match v {
        cel::Value::Null => JValue::from(()),
        cel::Value::Bool(b) => JValue::from(*b),
        cel::Value::Int(i) => JValue::from(*i),
        cel::Value::UInt(u) => JValue::from(*u),
        cel::Value::Float(f) => JValue::from(*f),
        cel::Value::String(s) => JValue::from(s.as_str()),
        cel::Value::Timestamp(t) => JValue::from(t.with_timezone(&value::beijing()).to_rfc3339()),
        cel::Value::Duration(d) => JValue::from(format!("{}s", d.num_seconds())),
        cel::Value::List(items) => JValue::from_object(CelList(items.clone())),
        cel::Value::Map(m) => JValue::from_object(CelMap(m.clone())),
        other => JValue::from(value::short(other)),
    }
}

/// The template context.
pub fn context(i: &ReplyInput) -> JValue {
    let values: BTreeMap<String, JValue> = i.values.iter().map(|(k, v)| (k.clone(), to_template(v))).collect();
    let mut cause = BTreeMap::new();
    cause.insert("code".to_string(), JValue::from(i.cause_code));
    cause.insert("title".to_string(), JValue::from(i.cause_title));
    let mut ctx: BTreeMap<String, JValue> = BTreeMap::new();
    ctx.insert("view".into(), to_template(i.view));
    ctx.insert("values".into(), JValue::from_object(values));
    ctx.insert("answers".into(), JValue::from_object(i.answers.clone()));
    ctx.insert("now".into(), JValue::from(i.now.to_rfc3339()));
    ctx.insert("complaint".into(), to_template(i.complaint));
    ctx.insert("cause".into(), JValue::from_object(cause));
    ctx.insert("complaint_id".into(), JValue::from(i.complaint_id));
    ctx.insert("msisdn".into(), JValue::from(i.msisdn));
    JValue::from_object(ctx)
}

// ---- filters ----

fn absent(v: &JValue) -> bool {
    matches!(v.kind(), ValueKind::Undefined | ValueKind::None)
}

/// fen → `12.34元` (`-3.00元` for negative amounts).
pub fn money(v: JValue) -> Result<String, JError> {
    if absent(&v) {
        return Ok(String::new());
    }
    let fen = match v.kind() {
        ValueKind::Number => match v.as_i64() {
            Some(i) => i,
            None => f64::try_from(v.clone())
                .map(|f| f.round() as i64)
                .map_err(|_| kind_err("money", &v))?,
        },
        ValueKind::String => v
            .as_str()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .ok_or_else(|| kind_err("money", &v))?,
        _ => return Err(kind_err("money", &v)),
    };
    Ok(format_fen(fen))
}

/// 1234 → `12.34元`.
pub fn format_fen(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let a = fen.unsigned_abs();
    format!("{sign}{}.{:02}元", a / 100, a % 100)
}

fn kind_err(filter: &str, v: &JValue) -> JError {
    JError::new(
        ErrorKind::InvalidOperation,
        format!("`{filter}` cannot format {} value `{v}`", v.kind()),
    )
}

fn parse_time(filter: &str, v: &JValue) -> Result<Option<DateTime<FixedOffset>>, JError> {
    if absent(v) {
        return Ok(None);
    }
    let s = v.as_str().ok_or_else(|| kind_err(filter, v))?;
    if s.is_empty() {
        return Ok(None);
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| Some(t.with_timezone(&value::beijing())))
        .map_err(|_| kind_err(filter, v))
}

/// RFC 3339 → `2026年11月28日` (Beijing time).
pub fn date(v: JValue) -> Result<String, JError> {
    use chrono::Datelike;
    Ok(parse_time("date", &v)?
        .map(|t| format!("{}年{}月{}日", t.year(), t.month(), t.day()))
        .unwrap_or_default())
}

/// RFC 3339 → `2026年11月28日 10:00` (Beijing time).
pub fn datetime(v: JValue) -> Result<String, JError> {
    use chrono::{Datelike, Timelike};
    Ok(parse_time("datetime", &v)?
        .map(|t| {
            format!(
                "{}年{}月{}日 {:02}:{:02}",
                t.year(),
                t.month(),
                t.day(),
                t.hour(),
                t.minute()
            )
        })
        .unwrap_or_default())
}

/// `202611` → `2026年11月`.
pub fn cycle(v: JValue) -> Result<String, JError> {
    if absent(&v) || v.as_str() == Some("") {
        return Ok(String::new());
    }
    let s = v.to_string();
    match (
        s.get(0..4).and_then(|y| y.parse::<u32>().ok()),
        s.get(4..6).and_then(|m| m.parse::<u32>().ok()),
    ) {
        (Some(y), Some(m)) if s.len() == 6 && (1..=12).contains(&m) => Ok(format!("{y}年{m}月")),
        _ => Err(kind_err("cycle", &v)),
    }
}

/// MB → `2.0GB` from 1,024 MB up, else `512MB`.
pub fn data_mb(v: JValue) -> Result<String, JError> {
    if absent(&v) {
        return Ok(String::new());
    }
    let mb = v.as_i64().ok_or_else(|| kind_err("data_mb", &v))?;
    Ok(if mb.abs() >= 1024 {
        format!("{:.1}GB", mb as f64 / 1024.0)
    } else {
        format!("{mb}MB")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_format_like_the_company_writes() {
        assert_eq!(money(JValue::from(1234)).unwrap(), "12.34元");
        assert_eq!(money(JValue::from(-5)).unwrap(), "-0.05元");
        assert_eq!(money(JValue::from(6000)).unwrap(), "60.00元");
        assert_eq!(money(JValue::UNDEFINED).unwrap(), "");
        assert!(money(JValue::from("abc")).is_err());
        assert_eq!(date(JValue::from("2026-11-27T18:30:00Z")).unwrap(), "2026年11月28日");
        assert_eq!(
            datetime(JValue::from("2026-11-28T10:05:00+08:00")).unwrap(),
            "2026年11月28日 10:05"
        );
        assert_eq!(cycle(JValue::from("202611")).unwrap(), "2026年11月");
        assert_eq!(data_mb(JValue::from(2048)).unwrap(), "2.0GB");
        assert_eq!(data_mb(JValue::from(512)).unwrap(), "512MB");
    }
}
