//! Reply templates: minijinja, with filters for the way the company writes money and dates.
//!
//! Filters: `money` (fen → `12.34元`), `date` (→ `2026年11月28日`, Beijing time), `datetime`
//! (→ `2026年11月28日 10:00`), `cycle` (`202611` → `2026年11月`), `data_mb` (MB → `2.0GB` / `512MB`).
//! A template sees `view` (the subscriber view, as in the JSON of `GetSubscriberView` but with proto field
//! names), `values` (what the steps computed), `answers`, `now`, `cause` (`code`, `title`), `complaint_id`
//! and `msisdn`. At load every template is compiled, its `view.…`, `values.…` and `answers.…` paths are
//! checked, and it is rendered once against a sample view.
use super::run;
use super::scenario::{LoadError, Scenario};
use super::value;
use crate::schema;
use cel::objects::{Key, KeyRef};
use chrono::{DateTime, FixedOffset};
use minijinja::value::{Enumerator, Object, ObjectRepr, Value as JValue, ValueKind};
use minijinja::{Environment, Error as JError, ErrorKind, UndefinedBehavior};
use prost_reflect::Kind;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Variables a template sees.
pub const TEMPLATE_VARIABLES: [&str; 7] = ["view", "values", "answers", "now", "cause", "complaint_id", "msisdn"];

/// Compiles templates for a scenario set.
pub struct TemplateBuilder {
    env: Environment<'static>,
    positions: HashMap<String, (usize, usize)>,
}

/// The compiled templates of a scenario set, and where each was written (line, column).
pub struct Templates {
    env: Environment<'static>,
    positions: HashMap<String, (usize, usize)>,
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    // A field a subscriber lacks renders as empty rather than failing the reply; paths are checked at load.
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.add_filter("money", money);
    env.add_filter("date", date);
    env.add_filter("datetime", datetime);
    env.add_filter("cycle", cycle);
    env.add_filter("data_mb", data_mb);
    env
}

fn describe(e: &JError) -> String {
    match e.detail() {
        Some(d) => format!("{}: {d}", e.kind()),
        None => e.kind().to_string(),
    }
}

impl Default for TemplateBuilder {
    fn default() -> Self {
        TemplateBuilder::new()
    }
}

impl TemplateBuilder {
    pub fn new() -> TemplateBuilder {
        TemplateBuilder {
            env: environment(),
            positions: HashMap::new(),
        }
    }

    /// Records where template `name` is written, for errors found when it is rendered at load.
    pub fn set_position(&mut self, name: &str, line: usize, col: usize) {
        self.positions.insert(name.to_string(), (line, col));
    }

    /// Compiles a template and checks the variables it uses; returns them (`view.plan.name`, …). The error
    /// carries the template line, if known.
    pub fn add(
        &mut self,
        name: &str,
        source: &str,
        questions: &[String],
        values: &[String],
    ) -> Result<Vec<String>, (Option<usize>, String)> {
        self.env
            .add_template_owned(name.to_string(), source.to_string())
            .map_err(|e| (e.line(), describe(&e)))?;
        let tmpl = self.env.get_template(name).map_err(|e| (e.line(), describe(&e)))?;
        let mut used: Vec<String> = tmpl.undeclared_variables(true).into_iter().collect();
        used.sort();
        for path in &used {
            check_path(&self.env, path, questions, values).map_err(|m| (None, m))?;
        }
        Ok(used)
    }

    pub fn finish(self) -> Templates {
        Templates {
            env: self.env,
            positions: self.positions,
        }
    }
}

fn check_path(env: &Environment, path: &str, questions: &[String], values: &[String]) -> Result<(), String> {
    let segs: Vec<&str> = path.split('.').collect();
    let root = segs[0];
    match root {
        "view" => check_view_path(&segs),
        "values" => match segs.get(1) {
            Some(v) if !values.iter().any(|x| x == v) => Err(format!(
                "`values.{v}` is not computed by any step (values: {})",
                if values.is_empty() {
                    "none".to_string()
                } else {
                    values.join(", ")
                }
            )),
            _ => Ok(()),
        },
        "answers" => match segs.get(1) {
            Some(q) if !questions.iter().any(|x| x == q) => {
                Err(format!("`answers.{q}`: the scenario has no question `{q}`"))
            }
            _ => Ok(()),
        },
        "cause" => match segs.get(1) {
            Some(f) if !["code", "title"].contains(f) => Err(format!("`cause.{f}`: a cause has `code` and `title`")),
            _ => Ok(()),
        },
        r if TEMPLATE_VARIABLES.contains(&r) => Ok(()),
        r if env.globals().any(|(n, _)| n == r) => Ok(()),
        r => Err(format!(
            "unknown variable `{r}`; templates see {}",
            TEMPLATE_VARIABLES.map(|v| format!("`{v}`")).join(", ")
        )),
    }
}

fn check_view_path(segs: &[&str]) -> Result<(), String> {
    enum T {
        Msg(prost_reflect::MessageDescriptor),
        List(Box<T>),
        Leaf,
        Any,
    }
    let of = |f: &prost_reflect::FieldDescriptor| -> T {
        let one = match f.kind() {
            Kind::Message(_) if f.is_map() => return T::Any,
            Kind::Message(m) if m.full_name().starts_with("google.protobuf.") => T::Leaf,
            Kind::Message(m) => T::Msg(m),
            _ => T::Leaf,
        };
        if f.is_list() {
            T::List(Box::new(one))
        } else {
            one
        }
    };
    let mut t = T::Msg(schema::view_descriptor());
    let mut so_far = String::from("view");
    for seg in &segs[1..] {
        t = match t {
            T::Msg(m) => match m.get_field_by_name(seg) {
                Some(f) => of(&f),
                None => {
                    let names: Vec<String> = m.fields().map(|f| f.name().to_string()).collect();
                    let hint = schema::closest(seg, names.iter().map(|s| s.as_str()))
                        .map(|c| format!(" (did you mean `{c}`?)"))
                        .unwrap_or_default();
                    return Err(format!(
                        "`{so_far}.{seg}`: `{seg}` is not a field of {}{hint}",
                        m.full_name()
                    ));
                }
            },
            T::List(inner) if seg.parse::<usize>().is_ok() => *inner,
            T::List(_) => {
                return Err(format!(
                    "`{so_far}.{seg}`: `{so_far}` is a list; loop over it or index it"
                ))
            }
            T::Leaf => return Err(format!("`{so_far}.{seg}`: `{so_far}` has no fields")),
            T::Any => return Ok(()),
        };
        so_far.push('.');
        so_far.push_str(seg);
    }
    Ok(())
}

/// What a reply template is rendered with.
pub struct ReplyInput<'a> {
    /// The view as a CEL value (handed to the template without copying).
    pub view: &'a cel::Value,
    pub values: &'a [(String, cel::Value)],
    pub answers: &'a BTreeMap<String, String>,
    pub now: DateTime<FixedOffset>,
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
    ctx.insert("cause".into(), JValue::from_object(cause));
    ctx.insert("complaint_id".into(), JValue::from(i.complaint_id));
    ctx.insert("msisdn".into(), JValue::from(i.msisdn));
    JValue::from_object(ctx)
}

impl Templates {
    /// Renders template `name`.
    pub fn render(&self, name: &str, ctx: &JValue) -> Result<String, String> {
        let t = self.env.get_template(name).map_err(|e| describe(&e))?;
        t.render(ctx).map(|s| s.trim().to_string()).map_err(|e| {
            let line = e.line().map(|l| format!(" (template line {l})")).unwrap_or_default();
            format!("{}{line}", describe(&e))
        })
    }
}

/// Renders every template of `s` once against a sample view, so a template that fails on real data
/// shape (a filter given the wrong kind of value, a bad loop) fails at load.
pub fn check_render(s: &Scenario, templates: &Templates, at: DateTime<FixedOffset>) -> Result<(), Vec<LoadError>> {
    let sample = value::message_to_cel(&value::sample_view(at));
    let answers: BTreeMap<String, String> = s
        .questions
        .iter()
        .filter_map(|q| q.answers.first().map(|a| (q.id.clone(), a.0.clone())))
        .collect();
    let answer_map: HashMap<String, String> = answers.clone().into_iter().collect();
    let root = run::eval_context(&sample, at, &answer_map);
    // Values on the sample view, where they evaluate; the rest stay undefined.
    let mut values: Vec<(String, cel::Value)> = Vec::new();
    for step in &s.steps {
        for (name, e) in &step.values {
            let mut scope = root.new_inner_scope();
            run::bind_values(&mut scope, &values);
            if let Ok(v) = e.program.execute(&scope) {
                values.push((name.clone(), v));
            }
        }
    }
    let mut errors = Vec::new();
    for c in &s.causes {
        let ctx = context(&ReplyInput {
            view: &sample,
            values: &values,
            answers: &answers,
            now: at,
            cause_code: &c.code,
            cause_title: &c.title,
            complaint_id: "C-SAMPLE",
            msisdn: "13800138000",
        });
        let mut names = vec![("explanation", &c.explanation), ("reply", &c.reply)];
        for a in &c.actions {
            names.push(("action description", &a.description));
            if let Some(t) = &a.target {
                names.push(("action target", t));
            }
        }
        for (what, name) in names {
            if let Err(m) = templates.render(name, &ctx) {
                let (line, col) = templates.positions.get(name.as_str()).copied().unwrap_or((1, 1));
                errors.push(LoadError {
                    file: s.file.clone(),
                    line,
                    col,
                    scenario: Some(s.id.clone()),
                    step: None,
                    message: format!(
                        "cause `{}`, {what}: rendering against the sample view failed: {m}",
                        c.code
                    ),
                });
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
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
    if absent(&v) {
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

    #[test]
    fn template_paths_are_checked() {
        let mut b = TemplateBuilder::new();
        let q = vec!["modem_light".to_string()];
        let v = vec!["refund_fen".to_string()];
        b.add("ok", "{{ view.account.balance_fen | money }} {{ values.refund_fen }} {{ answers.modem_light }} {% for x in view.recent_bills %}{{ x.cycle }}{% endfor %}", &q, &v)
            .unwrap();
        let e = b.add("bad", "{{ view.account.balanse_fen }}", &q, &v).unwrap_err();
        assert!(e.1.contains("did you mean `balance_fen`?"), "{e:?}");
        assert!(b
            .add("bad2", "{{ values.nope }}", &q, &v)
            .unwrap_err()
            .1
            .contains("values.nope"));
        assert!(b
            .add("bad3", "{{ answer.x }}", &q, &v)
            .unwrap_err()
            .1
            .contains("unknown variable `answer`"));
        assert!(b
            .add("bad4", "{{ view.recent_bills.cycle }}", &q, &v)
            .unwrap_err()
            .1
            .contains("is a list"));
    }
}
