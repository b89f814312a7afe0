//! Reply templates at load: each is compiled, the variables it uses are checked (`view.…` paths against the
//! schema, `values.…` against the values the scenario computes, `answers.…` against its questions), and
//! every template of a scenario is rendered once against a sample view ([`check_render`]), so a template
//! that fails on the real shape of the data (a filter given the wrong kind of value, a bad loop) fails
//! at load, not in front of a customer.
use super::errors::LoadError;
use super::types::{Class, Ty};
use crate::diagnosis::model::{describe_template_error, Scenario, Templates};
use crate::diagnosis::{reply, run, value};
use crate::schema::{self, Items, PathErrorKind, SelectError};
use chrono::{DateTime, FixedOffset};
use minijinja::Environment;
use std::collections::{BTreeMap, HashMap};

/// Compiles the templates of a scenario set.
pub struct TemplateBuilder {
    env: Environment<'static>,
    positions: HashMap<String, (usize, usize)>,
}

impl Default for TemplateBuilder {
    fn default() -> Self {
        TemplateBuilder::new()
    }
}

impl TemplateBuilder {
    pub fn new() -> TemplateBuilder {
        TemplateBuilder {
            env: reply::environment(),
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
        values: &ValueNames,
    ) -> Result<Vec<String>, (Option<usize>, String)> {
        self.env
            .add_template_owned(name.to_string(), source.to_string())
            .map_err(|e| (e.line(), describe_template_error(&e)))?;
        let tmpl = self
            .env
            .get_template(name)
            .map_err(|e| (e.line(), describe_template_error(&e)))?;
        let mut used: Vec<String> = tmpl.undeclared_variables(true).into_iter().collect();
        used.sort();
        for path in &used {
            check_path(&self.env, path, questions, values).map_err(|m| (None, m))?;
        }
        check_filters(source, values).map_err(|(line, m)| (Some(line), m))?;
        Ok(used)
    }

    /// The compiled templates.
    pub fn finish(self) -> Templates {
        Templates::new(self.env, self.positions)
    }
}

/// The values a template may use: every value the scenario computes, with its type, and those computed on
/// every path to the cause the template belongs to (`None`: not known, every value counts).
pub struct ValueNames<'a> {
    pub all: &'a [(String, Ty)],
    pub on_path: Option<&'a [String]>,
    /// The cause the template belongs to, for messages.
    pub cause: Option<&'a str>,
}

fn check_path(env: &Environment, path: &str, questions: &[String], values: &ValueNames) -> Result<(), String> {
    let segs: Vec<&str> = path.split('.').collect();
    let root = segs[0];
    match root {
        "view" => match path.split_once('.') {
            Some((_, rest)) => check_view_path(rest),
            None => Ok(()),
        },
        "values" => match segs.get(1) {
            Some(v) => {
                let names: Vec<String> = values.all.iter().map(|(n, _)| n.clone()).collect();
                if !names.iter().any(|x| x == v) {
                    return Err(format!(
                        "`values.{v}` is not computed by any step (values: {})",
                        if names.is_empty() {
                            "none".to_string()
                        } else {
                            names.join(", ")
                        }
                    ));
                }
                if let Some(on_path) = values.on_path {
                    if !on_path.iter().any(|x| x == v) {
                        return Err(format!(
                            "`values.{v}` is not computed on every path to cause `{}`: a step concludes it before (or without) the step that computes `{v}`, so the reply would show nothing there; compute it earlier or use it only where it is computed",
                            values.cause.unwrap_or("?")
                        ));
                    }
                }
                value_path_type(path, values).map(|_| ())
            }
            None => Ok(()),
        },
        "answers" => match segs.get(1) {
            Some(q) if !questions.iter().any(|x| x == q) => {
                Err(format!("`answers.{q}`: the scenario has no question `{q}`"))
            }
            _ => Ok(()),
        },
        "complaint" => check_complaint_path(&segs[1..]).map(|_| ()),
        "cause" => match segs.get(1) {
            Some(f) if !["code", "title"].contains(f) => Err(format!("`cause.{f}`: a cause has `code` and `title`")),
            _ => Ok(()),
        },
        r if reply::TEMPLATE_VARIABLES.contains(&r) => Ok(()),
        r if env.globals().any(|(n, _)| n == r) => Ok(()),
        r => Err(format!(
            "unknown variable `{r}`; templates see {}",
            reply::TEMPLATE_VARIABLES.map(|v| format!("`{v}`")).join(", ")
        )),
    }
}

/// Checks the segments after `complaint` (`period.cycle`) and gives the type they select.
fn check_complaint_path(segs: &[&str]) -> Result<Ty, String> {
    let mut ty = Ty::Complaint;
    let mut so_far = "complaint".to_string();
    for seg in segs {
        ty = super::types::select_complaint(&ty, seg).map_err(|m| format!("`{so_far}.{seg}`: {m}"))?;
        so_far.push('.');
        so_far.push_str(seg);
    }
    Ok(ty)
}

/// Checks `view.<path>` against the schema; list items are picked by index (`recent_bills.0.cycle`) or in
/// a loop.
fn check_view_path(path: &str) -> Result<(), String> {
    let e = match schema::resolve(&schema::view_descriptor(), path, Items::Index) {
        Ok(_) => return Ok(()),
        Err(e) => e,
    };
    let so_far = match e.at {
        0 => "view".to_string(),
        _ => format!("view.{}", e.before()),
    };
    let seg = e.segment();
    Err(match &e.kind {
        PathErrorKind::Select(SelectError::UnknownField(u)) => format!("`{so_far}.{seg}`: {u}"),
        PathErrorKind::Select(SelectError::OfList(_)) => {
            format!("`{so_far}.{seg}`: `{so_far}` is a list; loop over it or index it")
        }
        PathErrorKind::Select(SelectError::NoFields) | PathErrorKind::NotAList => {
            format!("`{so_far}.{seg}`: `{so_far}` has no fields")
        }
    })
}

/// The type of a template path `view.…` or `values.<name>.…` (list items by index); a field that does
/// not exist is a problem.
fn value_path_type(path: &str, values: &ValueNames) -> Result<Ty, String> {
    if let Some(rest) = path.strip_prefix("complaint.") {
        return check_complaint_path(&rest.split('.').collect::<Vec<_>>());
    }
    if let Some(rest) = path.strip_prefix("view.") {
        return schema::resolve(&schema::view_descriptor(), rest, Items::Index)
            .map(|r| Ty::Schema(r.shape))
            .map_err(|_| check_view_path(rest).err().unwrap_or_default());
    }
    let mut segs = path.split('.').skip(1);
    let Some(name) = segs.next() else {
        return Ok(super::types::DYN);
    };
    let Some((_, mut ty)) = values.all.iter().find(|(n, _)| n == name).cloned() else {
        return Ok(super::types::DYN);
    };
    let mut so_far = format!("values.{name}");
    for seg in segs {
        if seg.parse::<usize>().is_ok() && ty.class() == Class::List {
            ty = ty.item();
        } else {
            ty = match &ty {
                Ty::Schema(shape) => match shape.select(seg) {
                    Ok(sel) => Ty::Schema(sel.shape),
                    Err(SelectError::UnknownField(u)) => return Err(format!("`{so_far}.{seg}`: {u}")),
                    Err(SelectError::OfList(_)) => {
                        return Err(format!(
                            "`{so_far}.{seg}`: `{so_far}` is {}; loop over it or index it",
                            ty.describe()
                        ))
                    }
                    Err(SelectError::NoFields) => {
                        return Err(format!(
                            "`{so_far}.{seg}`: `{so_far}` is {} and has no fields",
                            ty.describe()
                        ))
                    }
                },
                _ => super::types::DYN,
            };
        }
        so_far.push('.');
        so_far.push_str(seg);
    }
    Ok(ty)
}

/// What each of the reply filters formats, and which types it takes.
const FILTERS: [(&str, &str, &[Class]); 6] = [
    ("money", "an amount in fen (a number)", &[Class::Number]),
    ("data_mb", "a data volume in MB (a number)", &[Class::Number]),
    ("date", "a timestamp", &[Class::Time, Class::Text]),
    ("datetime", "a timestamp", &[Class::Time, Class::Text]),
    ("cycle", "a billing cycle (`202611`)", &[Class::Text, Class::Number]),
    (
        "length",
        "a list, a map or a string",
        &[Class::List, Class::Map, Class::Text, Class::Enum],
    ),
];

/// `{{ path | filter … }}` where `path` is a `view.…` or `values.…` path: the filter must take the type of
/// the value. Returns the template line and the message of the first mismatch.
fn check_filters(source: &str, values: &ValueNames) -> Result<(), (usize, String)> {
    let mut rest = source;
    let mut consumed = 0;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else { break };
        let inner = after[..close].trim_matches(|c: char| c == '-' || c.is_whitespace());
        let mut parts = inner.split('|');
        let path = parts.next().unwrap_or("").trim();
        let filter = parts.next().map(|f| {
            f.trim()
                .split(|c: char| c == '(' || c.is_whitespace())
                .next()
                .unwrap_or("")
        });
        let line = source[..consumed + open].matches('\n').count() + 1;
        let is_path = path.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        if is_path && (path.starts_with("view.") || path.starts_with("values.") || path.starts_with("complaint.")) {
            // Every segment, list indexes included (`values.un.0.service_name`).
            let ty = value_path_type(path, values).map_err(|m| (line, m))?;
            if let Some(filter) = filter {
                if let Some((_, what, takes)) = FILTERS.iter().find(|(n, _, _)| *n == filter) {
                    let class = ty.class();
                    if class != Class::Unknown && !takes.contains(&class) {
                        return Err((
                            line,
                            format!(
                                "`{path} | {filter}`: `{filter}` formats {what}, but `{path}` is {}",
                                ty.describe()
                            ),
                        ));
                    }
                }
            }
        }
        consumed += open + 2 + close + 2;
        rest = &source[consumed..];
    }
    Ok(())
}

/// Renders every template of `s` once against a sample view of time `at`: the values its steps compute
/// on that view (where they evaluate), the first allowed answer to each question, a complaint naming no
/// period (the paths and filters of `complaint.period` are checked without rendering, see
/// [`TemplateBuilder::add`]: a named period would select records the sample view does not have).
pub fn check_render(s: &Scenario, templates: &Templates, at: DateTime<FixedOffset>) -> Result<(), Vec<LoadError>> {
    let sample = value::message_to_cel(&value::sample_view(at));
    let complaint = crate::diagnosis::period::complaint_value(None, at);
    let answers: BTreeMap<String, String> = s
        .questions
        .iter()
        .filter_map(|q| q.answers.first().map(|a| (q.id.clone(), a.0.clone())))
        .collect();
    let answer_map: HashMap<String, String> = answers.clone().into_iter().collect();
    let root = run::eval_context_with(&sample, at, &answer_map, &complaint);
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
        let ctx = reply::context(&reply::ReplyInput {
            view: &sample,
            values: &values,
            answers: &answers,
            now: at,
            complaint: &complaint,
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
                let (line, col) = templates.position(name).unwrap_or((1, 1));
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
    if let Some(name) = &s.no_cause {
        let ctx = reply::context(&reply::ReplyInput {
            view: &sample,
            values: &values,
            answers: &answers,
            now: at,
            complaint: &complaint,
            cause_code: "",
            cause_title: "",
            complaint_id: "C-SAMPLE",
            msisdn: "13800138000",
        });
        if let Err(m) = templates.render(name, &ctx) {
            let (line, col) = templates.position(name).unwrap_or((1, 1));
            errors.push(LoadError {
                file: s.file.clone(),
                line,
                col,
                scenario: Some(s.id.clone()),
                step: None,
                message: format!("no_cause: rendering against the sample view failed: {m}"),
            });
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_paths_are_checked() {
        let mut b = TemplateBuilder::new();
        let q = vec!["modem_light".to_string()];
        let all = vec![("refund_fen".to_string(), Ty::int())];
        let v = ValueNames {
            all: &all,
            on_path: None,
            cause: None,
        };
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

    #[test]
    fn template_view_paths_keep_their_messages() {
        assert_eq!(
            check_view_path("account.suspend_at").unwrap_err(),
            "`view.account.suspend_at`: `suspend_at` is not a field of complaint.v1.Account (did you mean `suspended_at`?)"
        );
        assert_eq!(
            check_view_path("acount").unwrap_err(),
            "`view.acount`: `acount` is not a field of complaint.v1.SubscriberView (did you mean `account`?)"
        );
        assert_eq!(
            check_view_path("recent_bills.cycle").unwrap_err(),
            "`view.recent_bills.cycle`: `view.recent_bills` is a list; loop over it or index it"
        );
        assert_eq!(
            check_view_path("account.balance_fen.x").unwrap_err(),
            "`view.account.balance_fen.x`: `view.account.balance_fen` has no fields"
        );
        check_view_path("recent_bills.0.items.1.amount_fen").unwrap();
        // Free-form data: nothing below `extensions` is checked.
        check_view_path("extensions.billing.anything.at_all").unwrap();
    }
}
