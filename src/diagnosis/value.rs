//! The subscriber view as a CEL value, and CEL values as JSON (for traces and reply templates).
//!
//! The view goes through prost-reflect: the typed message is re-read as a `DynamicMessage` of
//! `schema::view_descriptor()` and walked field by field, so CEL sees the proto field names (snake_case),
//! enums by their value names (`"ACCOUNT_STATUS_SUSPENDED"`, as in the JSON of `GetSubscriberView`),
//! timestamps as CEL timestamps (Beijing time) and unset message fields as absent (`has()` tests them).
//! Scalars are always present with their proto3 defaults. Inputs are bounded: a list keeps at most
//! [`MAX_LIST`] items and a string at most [`MAX_STRING`] bytes, so no expression can be handed
//! an unbounded input.
use super::bound::CelView;
use crate::proto::complaint::v1::SubscriberView;
use crate::schema;
use cel::objects::{Key, Map};
use cel::Value;
use chrono::{DateTime, FixedOffset, TimeZone};
use prost_reflect::{DynamicMessage, Kind, MessageDescriptor, ReflectMessage, Value as PValue};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, OnceLock};

/// Most items of one repeated field that an expression sees.
pub const MAX_LIST: usize = 200;
/// Longest string (bytes) an expression sees.
pub const MAX_STRING: usize = 4096;

/// Beijing time (UTC+8), in which dates are shown and timestamps handed to CEL.
pub fn beijing() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("valid offset")
}

/// The view as a CEL map.
pub fn view_to_cel(view: &SubscriberView) -> Result<Value, String> {
    view_fields_to_cel(view, None)
}

/// The view as a CEL map with only the top-level `fields` named (all when `None`): scenarios declare by
/// their expressions and templates which parts of the view they read, and the rest is not converted.
pub fn view_fields_to_cel(view: &SubscriberView, fields: Option<&BTreeSet<String>>) -> Result<Value, String> {
    Ok(CelView::new(view)?.value(fields))
}

/// A message as a CEL map (well-known types as their natural values).
pub fn message_to_cel(msg: &DynamicMessage) -> Value {
    let desc = msg.descriptor();
    match desc.full_name() {
        "google.protobuf.Timestamp" => return timestamp_of(msg).map(Value::Timestamp).unwrap_or(Value::Null),
        "google.protobuf.Struct" | "google.protobuf.Value" | "google.protobuf.ListValue" => {
            return serde_json::to_value(msg)
                .map(|j| json_to_cel(&j))
                .unwrap_or(Value::Null)
        }
        _ => {}
    }
    message_fields_to_cel(msg, &|_| true)
}

fn message_fields_to_cel(msg: &DynamicMessage, keep: &dyn Fn(&str) -> bool) -> Value {
    let desc = msg.descriptor();
    let names = field_keys(&desc);
    let mut map: HashMap<Key, Value> = HashMap::with_capacity(desc.fields().len());
    for (i, field) in desc.fields().enumerate() {
        if (field.supports_presence() && !msg.has_field(&field)) || !keep(field.name()) {
            continue;
        }
        let v = msg.get_field(&field);
        let key = match names.get(i) {
            Some(k) => k.clone(),
            None => Key::String(Arc::new(field.name().to_string())),
        };
        map.insert(key, field_to_cel(&v, &field.kind()));
    }
    Value::Map(Map { map: Arc::new(map) })
}

/// The field names of every message of the contract as CEL map keys, built once (a view has a few
/// hundred fields; allocating each name on every diagnosis showed in profiles).
pub(super) fn field_keys(desc: &MessageDescriptor) -> Arc<Vec<Key>> {
    static KEYS: OnceLock<HashMap<String, Arc<Vec<Key>>>> = OnceLock::new();
    let all = KEYS.get_or_init(|| {
        schema::pool()
            .all_messages()
            .map(|m| {
                let keys = m
                    .fields()
                    .map(|f| Key::String(Arc::new(f.name().to_string())))
                    .collect();
                (m.full_name().to_string(), Arc::new(keys))
            })
            .collect()
    });
    all.get(desc.full_name()).cloned().unwrap_or_default()
}

pub(super) fn field_to_cel(v: &PValue, kind: &Kind) -> Value {
    match v {
        PValue::Bool(b) => Value::Bool(*b),
        PValue::I32(i) => Value::Int(i64::from(*i)),
        PValue::I64(i) => Value::Int(*i),
        PValue::U32(u) => Value::UInt(u64::from(*u)),
        PValue::U64(u) => Value::UInt(*u),
        PValue::F32(f) => Value::Float(f64::from(*f)),
        PValue::F64(f) => Value::Float(*f),
        PValue::String(s) => Value::String(Arc::new(bounded(s).to_string())),
        PValue::Bytes(b) => Value::Bytes(Arc::new(b.iter().take(MAX_STRING).copied().collect())),
        PValue::EnumNumber(n) => match kind {
            Kind::Enum(e) => match e.get_value(*n) {
                Some(ev) => Value::String(Arc::new(ev.name().to_string())),
                None => Value::Int(i64::from(*n)),
            },
            _ => Value::Int(i64::from(*n)),
        },
        PValue::Message(m) => message_to_cel(m),
        PValue::List(items) => Value::List(Arc::new(
            items.iter().take(MAX_LIST).map(|i| field_to_cel(i, kind)).collect(),
        )),
        PValue::Map(entries) => {
            let value_kind = match kind {
                Kind::Message(entry) => entry.map_entry_value_field().kind(),
                other => other.clone(),
            };
            let mut map = HashMap::with_capacity(entries.len().min(MAX_LIST));
            for (k, v) in entries.iter().take(MAX_LIST) {
                let key = match k {
                    prost_reflect::MapKey::Bool(b) => Key::Bool(*b),
                    prost_reflect::MapKey::I32(i) => Key::Int(i64::from(*i)),
                    prost_reflect::MapKey::I64(i) => Key::Int(*i),
                    prost_reflect::MapKey::U32(u) => Key::Uint(u64::from(*u)),
                    prost_reflect::MapKey::U64(u) => Key::Uint(*u),
                    prost_reflect::MapKey::String(s) => Key::String(Arc::new(s.clone())),
                };
                map.insert(key, field_to_cel(v, &value_kind));
            }
            Value::Map(Map { map: Arc::new(map) })
        }
    }
}

fn bounded(s: &str) -> &str {
    if s.len() <= MAX_STRING {
        return s;
    }
    let mut end = MAX_STRING;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn timestamp_of(msg: &DynamicMessage) -> Option<DateTime<FixedOffset>> {
    let seconds = msg.get_field_by_name("seconds")?.as_i64()?;
    let nanos = msg.get_field_by_name("nanos")?.as_i32()?;
    let utc = DateTime::from_timestamp(seconds, u32::try_from(nanos).ok()?)?;
    Some(beijing().from_utc_datetime(&utc.naive_utc()))
}

/// A JSON value as a CEL value (numbers that fit stay integers).
pub fn json_to_cel(j: &serde_json::Value) -> Value {
    match j {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(0.0)),
        },
        serde_json::Value::String(s) => Value::String(Arc::new(bounded(s).to_string())),
        serde_json::Value::Array(a) => Value::List(Arc::new(a.iter().take(MAX_LIST).map(json_to_cel).collect())),
        serde_json::Value::Object(o) => {
            let map: HashMap<Key, Value> = o
                .iter()
                .take(MAX_LIST)
                .map(|(k, v)| (Key::String(Arc::new(k.clone())), json_to_cel(v)))
                .collect();
            Value::Map(Map { map: Arc::new(map) })
        }
    }
}

/// A CEL value as JSON: timestamps as RFC 3339 in Beijing time, durations as seconds with an `s`.
pub fn cel_to_json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(i) => J::from(*i),
        Value::UInt(u) => J::from(*u),
        Value::Float(f) => serde_json::Number::from_f64(*f).map(J::Number).unwrap_or(J::Null),
        Value::String(s) => J::String(s.to_string()),
        Value::Bytes(b) => J::String(format!("<{} bytes>", b.len())),
        Value::Timestamp(t) => J::String(t.with_timezone(&beijing()).to_rfc3339()),
        Value::Duration(d) => J::String(format!("{}s", d.num_seconds())),
        Value::List(items) => J::Array(items.iter().map(cel_to_json).collect()),
        Value::Map(m) => {
            let mut keys: Vec<(&Key, &Value)> = m.map.iter().collect();
            keys.sort_by(|a, b| a.0.cmp(b.0));
            J::Object(keys.into_iter().map(|(k, v)| (key_text(k), cel_to_json(v))).collect())
        }
        other => J::String(format!("{other:?}")),
    }
}

fn key_text(k: &Key) -> String {
    match k {
        Key::Int(i) => i.to_string(),
        Key::Uint(u) => u.to_string(),
        Key::Bool(b) => b.to_string(),
        Key::String(s) => s.to_string(),
    }
}

/// A short JSON rendering for traces: nested messages field by field (a bill's items with their amounts),
/// lists their first items and their length, long strings cut.
/// Written straight from the CEL value, stopping once the text is long enough.
pub fn short(v: &Value) -> String {
    let mut out = String::with_capacity(64);
    write_short(v, 0, &mut out);
    if out.len() > SHORT_MAX {
        let mut end = SHORT_MAX;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        out.push('…');
    }
    out
}

/// Longest trace value, in bytes (then cut with `…`).
const SHORT_MAX: usize = 4_000;
/// How deep a trace value is written field by field (a bill's items, each item's fields, are at 3).
const SHORT_DEPTH: usize = 5;

/// Writes `s` as a JSON string, cut after 120 characters.
fn write_json_str(s: &str, out: &mut String) {
    use std::fmt::Write;
    out.push('"');
    for (i, c) in s.chars().enumerate() {
        if i == 120 {
            out.push('…');
            break;
        }
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_short(v: &Value, depth: usize, out: &mut String) {
    use std::fmt::Write;
    if out.len() > SHORT_MAX {
        return;
    }
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::UInt(u) => {
            let _ = write!(out, "{u}");
        }
        Value::Float(f) => out.push_str(&cel_to_json(&Value::Float(*f)).to_string()),
        Value::String(s) => write_json_str(s, out),
        Value::List(items) if depth > SHORT_DEPTH => {
            let _ = write!(out, "\"[… {} item(s)]\"", items.len());
        }
        Value::List(items) => {
            out.push('[');
            for (i, x) in items.iter().take(3).enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_short(x, depth + 1, out);
            }
            if items.len() > 3 {
                let _ = write!(out, ",\"… {} items in all\"", items.len());
            }
            out.push(']');
        }
        Value::Map(m) if depth > SHORT_DEPTH => {
            let _ = write!(out, "\"{{… {} field(s)}}\"", m.map.len());
        }
        Value::Map(m) => {
            let mut entries: Vec<(&Key, &Value)> = m.map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, x)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_str(&key_text(k), out);
                out.push(':');
                write_short(x, depth + 1, out);
            }
            out.push('}');
        }
        other => out.push_str(&cel_to_json(other).to_string()),
    }
}

/// A complete sample view: every field set (lists with two items, enums at their first real value,
/// timestamps at `at`), so reply templates can be rendered once at load.
pub fn sample_view(at: DateTime<FixedOffset>) -> DynamicMessage {
    sample_message(&schema::view_descriptor(), at, 0)
}

fn sample_message(desc: &MessageDescriptor, at: DateTime<FixedOffset>, depth: usize) -> DynamicMessage {
    let mut msg = DynamicMessage::new(desc.clone());
    if desc.full_name() == "google.protobuf.Timestamp" {
        msg.set_field_by_name("seconds", PValue::I64(at.timestamp()));
        return msg;
    }
    if depth > 4 || desc.full_name().starts_with("google.protobuf.") {
        return msg;
    }
    for field in desc.fields() {
        let one = |i: usize| -> Option<PValue> {
            Some(match field.kind() {
                Kind::Bool => PValue::Bool(true),
                Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => PValue::I32(100 + i as i32),
                Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => PValue::I64(12_345 + i as i64),
                Kind::Uint32 | Kind::Fixed32 => PValue::U32(100 + i as u32),
                Kind::Uint64 | Kind::Fixed64 => PValue::U64(100 + i as u64),
                Kind::Float => PValue::F32(1.5),
                Kind::Double => PValue::F64(1.5),
                // Strings with a known shape get one; the rest a recognisable sample text.
                Kind::String if field.name() == "cycle" => PValue::String(at.format("%Y%m").to_string()),
                Kind::String => PValue::String(format!("示例{}{}", field.name(), i)),
                Kind::Bytes => PValue::Bytes(bytes::Bytes::from_static(b"x")),
                Kind::Enum(e) => PValue::EnumNumber(e.values().map(|v| v.number()).find(|n| *n != 0).unwrap_or(0)),
                Kind::Message(m) if m.is_map_entry() => return None,
                Kind::Message(m) => PValue::Message(sample_message(&m, at, depth + 1)),
            })
        };
        if field.is_map() {
            continue;
        }
        if field.is_list() {
            let items: Vec<PValue> = (0..2).filter_map(one).collect();
            msg.set_field(&field, PValue::List(items));
        } else if let Some(v) = one(0) {
            msg.set_field(&field, v);
        }
    }
    msg
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::proto::complaint::v1::{Account, VasSubscription};

    /// Field `k` of map `v`.
    pub(in crate::diagnosis) fn get<'a>(v: &'a Value, k: &str) -> Option<&'a Value> {
        match v {
            Value::Map(m) => m.map.get(&Key::String(Arc::new(k.to_string()))),
            _ => None,
        }
    }

    #[test]
    fn view_fields_enums_timestamps_and_presence() {
        let view = SubscriberView {
            msisdn: "13900000001".into(),
            account: Some(Account {
                balance_fen: -250,
                status: 2,
                suspended_at: Some(prost_types::Timestamp {
                    seconds: 1_795_831_200,
                    nanos: 0,
                }),
                ..Default::default()
            }),
            vas_subscriptions: vec![VasSubscription {
                service_name: "视频彩铃会员".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let v = view_to_cel(&view).unwrap();
        let acc = get(&v, "account").unwrap();
        assert_eq!(get(acc, "balance_fen"), Some(&Value::Int(-250)));
        assert_eq!(
            get(acc, "status"),
            Some(&Value::String(Arc::new("ACCOUNT_STATUS_SUSPENDED".into())))
        );
        assert!(
            matches!(get(acc, "suspended_at"), Some(Value::Timestamp(t)) if t.offset().local_minus_utc() == 8 * 3600)
        );
        // Scalars carry their defaults; unset messages are absent.
        assert_eq!(
            get(acc, "suspension_reason"),
            Some(&Value::String(Arc::new(String::new())))
        );
        assert!(get(&v, "plan").is_none());
        let Some(Value::List(vas)) = get(&v, "vas_subscriptions") else {
            panic!()
        };
        assert_eq!(
            get(&vas[0], "consent_record"),
            Some(&Value::String(Arc::new(String::new())))
        );
        assert_eq!(
            get(&vas[0], "status"),
            Some(&Value::String(Arc::new("VAS_STATUS_UNSPECIFIED".into())))
        );
    }

    #[test]
    fn lists_are_bounded() {
        let view = SubscriberView {
            vas_subscriptions: vec![VasSubscription::default(); MAX_LIST + 50],
            ..Default::default()
        };
        let v = view_to_cel(&view).unwrap();
        let Some(Value::List(vas)) = get(&v, "vas_subscriptions") else {
            panic!()
        };
        assert_eq!(vas.len(), MAX_LIST);
    }

    #[test]
    fn sample_view_sets_everything() {
        let at = beijing().with_ymd_and_hms(2026, 11, 28, 10, 0, 0).unwrap();
        let v = message_to_cel(&sample_view(at));
        let net = get(&v, "network").unwrap();
        let bb = get(net, "broadband").unwrap();
        assert!(matches!(get(bb, "last_alarm_at"), Some(Value::Timestamp(_))));
        let Some(Value::List(bills)) = get(&v, "recent_bills") else {
            panic!()
        };
        assert_eq!(bills.len(), 2);
        assert_eq!(
            cel_to_json(get(&bills[0], "status").unwrap()),
            serde_json::json!("BILL_STATUS_OPEN")
        );
    }

    #[test]
    fn short_shows_nested_items_field_by_field() {
        // A bill's items, with the amounts behind a refund, not `{… 4 field(s)}`.
        let at = beijing().with_ymd_and_hms(2026, 11, 28, 10, 0, 0).unwrap();
        let v = message_to_cel(&sample_view(at));
        let bills = get(&v, "recent_bills").unwrap();
        let text = short(bills);
        assert!(!text.contains("field(s)"), "{text}");
        assert!(text.contains(r#""items":[{"amount_fen":"#), "{text}");
    }

    #[test]
    fn short_cuts_long_lists() {
        let v = Value::List(Arc::new((0..10).map(Value::Int).collect()));
        assert_eq!(short(&v), r#"[0,1,2,"… 10 items in all"]"#);
    }
}
