//! Rows → unified messages. Each entity's rows become elements of its target, built as dynamic messages
//! from the schema, so a new backend needs a definition file, not code.
use super::decode::{DbRow, DbValue};
use super::definition::{CompiledField, CompiledPath, Convert, Target};
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};
use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, Value};
use rust_decimal::prelude::ToPrimitive;

/// Values that could not be mapped are skipped and counted; the count reaches `SourceStatus.detail`.
#[derive(Debug, Default)]
pub struct MapReport {
    pub skipped: Vec<String>,
}

impl MapReport {
    fn skip(&mut self, column: &str, why: String) {
        if self.skipped.len() < 20 {
            self.skipped.push(format!("{column}: {why}"));
        }
    }
}

/// Builds the elements of one entity's target from its rows.
pub fn build_elements(
    element: &MessageDescriptor,
    fields: &[CompiledField],
    key: &[String],
    rows: &[DbRow],
    offset: FixedOffset,
    report: &mut MapReport,
) -> Vec<DynamicMessage> {
    // Group rows by key (first-appearance order); without a key each row is its own element.
    let mut groups: Vec<(Vec<Option<String>>, Vec<&DbRow>)> = Vec::new();
    for row in rows {
        if key.is_empty() {
            groups.push((vec![], vec![row]));
            continue;
        }
        let k: Vec<Option<String>> = key.iter().map(|c| row.get(c).and_then(DbValue::as_text)).collect();
        match groups.iter_mut().find(|(gk, _)| *gk == k) {
            Some((_, g)) => g.push(row),
            None => groups.push((k, vec![row])),
        }
    }
    groups
        .into_iter()
        .map(|(_, g)| build_one(element, fields, &g, offset, report))
        .collect()
}

fn build_one(
    element: &MessageDescriptor,
    fields: &[CompiledField],
    rows: &[&DbRow],
    offset: FixedOffset,
    report: &mut MapReport,
) -> DynamicMessage {
    let mut msg = DynamicMessage::new(element.clone());
    let first = rows[0];
    for f in fields.iter().filter(|f| f.path.list.is_none()) {
        if let Some(v) = convert_column(first, f, offset, report) {
            set_path(&mut msg, &f.path.prefix, v);
        }
    }
    // One child per row for each list path (`items[].x`), skipping rows where all its columns are NULL
    // (a LEFT JOIN without a match).
    let mut lists: Vec<&CompiledPath> = Vec::new();
    for f in fields.iter().filter(|f| f.path.list.is_some()) {
        if !lists.iter().any(|p| same_list(p, &f.path)) {
            lists.push(&f.path);
        }
    }
    for lp in lists {
        let (list_fd, _) = lp.list.as_ref().expect("list path");
        let Kind::Message(child_desc) = list_fd.kind() else {
            continue;
        };
        let members: Vec<&CompiledField> = fields.iter().filter(|f| same_list(lp, &f.path)).collect();
        let mut children = Vec::new();
        for row in rows {
            let mut child = DynamicMessage::new(child_desc.clone());
            let mut any = false;
            for f in &members {
                if let Some(v) = convert_column(row, f, offset, report) {
                    let (_, inner) = f.path.list.as_ref().expect("list path");
                    set_path(&mut child, inner, v);
                    any = true;
                }
            }
            if any {
                children.push(Value::Message(child));
            }
        }
        let holder = descend(&mut msg, &lp.prefix);
        holder.set_field(list_fd, Value::List(children));
    }
    msg
}

fn same_list(a: &CompiledPath, b: &CompiledPath) -> bool {
    match (&a.list, &b.list) {
        (Some((la, _)), Some((lb, _))) => la == lb && a.prefix == b.prefix,
        _ => false,
    }
}

/// The message at the end of a chain of singular message fields, created on the way.
fn descend<'a>(msg: &'a mut DynamicMessage, path: &[FieldDescriptor]) -> &'a mut DynamicMessage {
    let mut cur = msg;
    for fd in path {
        let v = cur.get_field_mut(fd);
        cur = match v {
            Value::Message(m) => m,
            _ => unreachable!("compiled paths only descend through message fields"),
        };
    }
    cur
}

fn set_path(msg: &mut DynamicMessage, path: &[FieldDescriptor], value: Value) {
    let (leaf, parents) = path.split_last().expect("non-empty path");
    descend(msg, parents).set_field(leaf, value);
}

/// Places elements at the entity's target inside a partial view.
pub fn place(view: &mut DynamicMessage, target: &Target, mut elements: Vec<DynamicMessage>) {
    let Target::Field { path, repeated, .. } = target else {
        return;
    };
    if elements.is_empty() {
        return;
    }
    let (leaf, parents) = path.split_last().expect("non-empty target");
    let holder = descend(view, parents);
    if *repeated {
        let existing = holder.get_field_mut(leaf);
        if let Value::List(list) = existing {
            list.extend(elements.into_iter().map(Value::Message));
        }
    } else {
        let first = elements.swap_remove(0);
        if let Value::Message(m) = holder.get_field_mut(leaf) {
            // Merge so two entities can fill one message (e.g. plan and its pending change).
            for (fd, v) in first.fields() {
                m.set_field(&fd, v.clone());
            }
        }
    }
}

/// Converts one column of a row for its field; `None` when NULL or not convertible (then reported).
pub fn convert_column(row: &DbRow, f: &CompiledField, offset: FixedOffset, report: &mut MapReport) -> Option<Value> {
    let raw = row.get(&f.column).cloned().unwrap_or(DbValue::Null);
    let raw = match (&raw, &f.mapping.default) {
        (DbValue::Null, Some(d)) => DbValue::Text(d.clone()),
        _ => raw,
    };
    if f.mapping.convert == Some(Convert::Present) {
        let present = match &raw {
            DbValue::Null => false,
            DbValue::Text(s) => !s.trim().is_empty(),
            _ => true,
        };
        return Some(Value::Bool(present));
    }
    if raw.is_null() {
        return None;
    }
    match convert_value(&raw, f, offset) {
        Ok(v) => Some(v),
        Err(why) => {
            report.skip(&f.column, why);
            None
        }
    }
}

/// Converts a value to the field's protobuf type: codes through `map`, units through `convert`,
/// text timestamps through `format`.
pub fn convert_value(raw: &DbValue, f: &CompiledField, offset: FixedOffset) -> Result<Value, String> {
    let mut raw = raw.clone();
    if let Some(map) = &f.mapping.map {
        let code = raw.as_text().unwrap_or_default();
        let code = code.trim();
        match map.get(code) {
            Some(v) => raw = DbValue::Text(v.clone()),
            None => return Err(format!("code `{code}` is not in the mapping")),
        }
    }
    if f.path.prefix.is_empty() && f.path.list.is_none() {
        // Extension field: keep the natural type.
        return Ok(natural(&raw));
    }
    let leaf = f.path.leaf();
    let numeric = || -> Result<f64, String> {
        let v = match &raw {
            DbValue::Int(i) => *i as f64,
            DbValue::Float(x) => *x,
            DbValue::Decimal(d) => d.to_f64().ok_or("decimal out of range")?,
            DbValue::Bool(b) => f64::from(u8::from(*b)),
            DbValue::Text(s) => s.trim().parse::<f64>().map_err(|_| format!("`{s}` is not a number"))?,
            other => return Err(format!("a {} is not a number", other.kind())),
        };
        Ok(match f.mapping.convert {
            Some(Convert::YuanToFen) => (v * 100.0).round(),
            Some(Convert::KbToMb) => (v / 1024.0).round(),
            Some(Convert::SecondsToMinutes) => (v / 60.0).ceil(),
            _ => v,
        })
    };
    let int = || -> Result<i64, String> {
        let v = numeric()?;
        if v.fract() != 0.0 && f.mapping.convert.is_none() {
            return Err(format!("{v} is not a whole number"));
        }
        if !v.is_finite() || v.abs() > 9.0e18 {
            return Err(format!("{v} is out of range"));
        }
        Ok(v.round() as i64)
    };
    if f.mapping.convert == Some(Convert::DateToCycle) {
        let t = to_utc(&raw, f.mapping.format.as_deref(), offset)?;
        return Ok(Value::String(t.with_timezone(&offset).format("%Y%m").to_string()));
    }
    Ok(match leaf.kind() {
        Kind::String => Value::String(raw.as_text().unwrap_or_default()),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(int()?),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            Value::I32(i32::try_from(int()?).map_err(|_| "out of range for int32".to_string())?)
        }
        Kind::Uint32 | Kind::Fixed32 => {
            Value::U32(u32::try_from(int()?).map_err(|_| "out of range for uint32".to_string())?)
        }
        Kind::Uint64 | Kind::Fixed64 => {
            Value::U64(u64::try_from(int()?).map_err(|_| "out of range for uint64".to_string())?)
        }
        Kind::Double => Value::F64(numeric()?),
        Kind::Float => Value::F32(numeric()? as f32),
        Kind::Bool => Value::Bool(match &raw {
            DbValue::Bool(b) => *b,
            DbValue::Int(i) => *i != 0,
            DbValue::Text(s) => match s.trim().to_ascii_lowercase().as_str() {
                "1" | "y" | "yes" | "true" | "t" | "是" => true,
                "0" | "n" | "no" | "false" | "f" | "否" | "" => false,
                other => return Err(format!("`{other}` is not a boolean")),
            },
            other => return Err(format!("a {} is not a boolean", other.kind())),
        }),
        Kind::Enum(e) => {
            let v = match &raw {
                DbValue::Int(i) => e
                    .get_value(*i as i32)
                    .ok_or_else(|| format!("{i} is not a value of {}", e.name()))?,
                other => {
                    let t = other.as_text().unwrap_or_default();
                    crate::schema::enum_value(&e, &t).ok_or_else(|| format!("`{t}` is not a value of {}", e.name()))?
                }
            };
            Value::EnumNumber(v.number())
        }
        Kind::Message(m) if m.full_name() == "google.protobuf.Timestamp" => {
            let t = to_utc(&raw, f.mapping.format.as_deref(), offset)?;
            let mut ts = DynamicMessage::new(m);
            ts.set_field_by_name("seconds", Value::I64(t.timestamp()));
            ts.set_field_by_name("nanos", Value::I32(t.timestamp_subsec_nanos() as i32));
            Value::Message(ts)
        }
        other => return Err(format!("unsupported field type {other:?}")),
    })
}

fn natural(raw: &DbValue) -> Value {
    match raw {
        DbValue::Bool(b) => Value::Bool(*b),
        DbValue::Int(i) => Value::I64(*i),
        DbValue::Float(x) => Value::F64(*x),
        DbValue::Decimal(d) => Value::F64(d.to_f64().unwrap_or_default()),
        other => Value::String(other.as_text().unwrap_or_default()),
    }
}

/// Interprets a timestamp column: typed timestamps as they are, zone-less ones in `offset`, text or digits
/// with `format` (or common layouts).
pub fn to_utc(raw: &DbValue, format: Option<&str>, offset: FixedOffset) -> Result<DateTime<Utc>, String> {
    let local = |n: NaiveDateTime| -> Result<DateTime<Utc>, String> {
        offset
            .from_local_datetime(&n)
            .single()
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| format!("{n} does not exist in {offset}"))
    };
    match raw {
        DbValue::Timestamp(t) => Ok(*t),
        DbValue::DateTime(n) => local(*n),
        DbValue::Date(d) => local(d.and_hms_opt(0, 0, 0).expect("midnight")),
        DbValue::Int(_) | DbValue::Text(_) | DbValue::Decimal(_) => {
            let s = raw.as_text().unwrap_or_default();
            let s = s.trim();
            if let Some(fmt) = format {
                if let Ok(n) = NaiveDateTime::parse_from_str(s, fmt) {
                    return local(n);
                }
                if let Ok(d) = NaiveDate::parse_from_str(s, fmt) {
                    return local(d.and_hms_opt(0, 0, 0).expect("midnight"));
                }
                return Err(format!("`{s}` does not match format `{fmt}`"));
            }
            if let Ok(t) = DateTime::parse_from_rfc3339(s) {
                return Ok(t.with_timezone(&Utc));
            }
            for fmt in [
                "%Y-%m-%d %H:%M:%S%.f",
                "%Y-%m-%dT%H:%M:%S%.f",
                "%Y%m%d%H%M%S",
                "%Y/%m/%d %H:%M:%S",
            ] {
                if let Ok(n) = NaiveDateTime::parse_from_str(s, fmt) {
                    return local(n);
                }
            }
            for fmt in ["%Y-%m-%d", "%Y%m%d"] {
                if let Ok(d) = NaiveDate::parse_from_str(s, fmt) {
                    return local(d.and_hms_opt(0, 0, 0).expect("midnight"));
                }
            }
            Err(format!("`{s}` is not a recognisable timestamp (set `format`)"))
        }
        other => Err(format!("a {} is not a timestamp", other.kind())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::sql::definition::compile_path;

    fn field(path: &str, convert: Option<Convert>, format: Option<&str>) -> CompiledField {
        CompiledField {
            column: "c".into(),
            path: compile_path(&crate::schema::message("complaint.v1.Bill"), path).unwrap(),
            mapping: crate::adapters::sql::definition::FieldMapping {
                field: path.into(),
                convert,
                format: format.map(str::to_string),
                ..Default::default()
            },
        }
    }

    #[test]
    fn a_bill_date_gives_its_cycle_in_the_adapter_offset() {
        let cycle = field("cycle", Some(Convert::DateToCycle), None);
        let east8 = FixedOffset::east_opt(8 * 3600).unwrap();
        let utc = FixedOffset::east_opt(0).unwrap();
        let at = |raw: DbValue, offset| convert_value(&raw, &cycle, offset).unwrap();
        let s = |t: &str| Value::String(t.into());
        // 2026-11-30 20:00 UTC is already December in Beijing.
        let t = chrono::DateTime::parse_from_rfc3339("2026-11-30T20:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(at(DbValue::Timestamp(t), east8), s("202612"));
        assert_eq!(at(DbValue::Timestamp(t), utc), s("202611"));
        let naive = chrono::NaiveDate::from_ymd_opt(2026, 10, 31).unwrap();
        assert_eq!(at(DbValue::Date(naive), east8), s("202610"));
        assert_eq!(at(DbValue::Text("2026-09-15 10:00:00".into()), east8), s("202609"));
        let epoch = field("cycle", Some(Convert::DateToCycle), Some("%s"));
        assert_eq!(
            convert_value(&DbValue::Int(1_764_316_800), &epoch, utc).unwrap(),
            s("202511"),
            "Unix seconds"
        );
        let compact = field("cycle", Some(Convert::DateToCycle), Some("%Y%m%d%H%M%S"));
        assert_eq!(
            convert_value(&DbValue::Text("20260801093000".into()), &compact, east8).unwrap(),
            s("202608")
        );
        let err = convert_value(&DbValue::Text("next month".into()), &cycle, east8).unwrap_err();
        assert!(err.contains("not a recognisable timestamp"), "{err}");
    }
}
