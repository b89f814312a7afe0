//! Reply templates at load: each is compiled, the variables it uses are checked (`view.…` paths against the
//! schema, `values.…` against the values the scenario computes, `answers.…` against its questions), and
//! every template of a scenario is rendered once against a sample view ([`check_render`]), so a template
//! that fails on the real shape of the data (a filter given the wrong kind of value, a bad loop) fails
//! at load, not in front of a customer.
use super::errors::LoadError;
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
        values: &[String],
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
        Ok(used)
    }

    /// The compiled templates.
    pub fn finish(self) -> Templates {
        Templates::new(self.env, self.positions)
    }
}

fn check_path(env: &Environment, path: &str, questions: &[String], values: &[String]) -> Result<(), String> {
    let segs: Vec<&str> = path.split('.').collect();
    let root = segs[0];
    match root {
        "view" => match path.split_once('.') {
            Some((_, rest)) => check_view_path(rest),
            None => Ok(()),
        },
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
        r if reply::TEMPLATE_VARIABLES.contains(&r) => Ok(()),
        r if env.globals().any(|(n, _)| n == r) => Ok(()),
        r => Err(format!(
            "unknown variable `{r}`; templates see {}",
            reply::TEMPLATE_VARIABLES.map(|v| format!("`{v}`")).join(", ")
        )),
    }
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

/// Renders every template of `s` once against a sample view of time `at`: the values its steps compute
/// on that view (where they evaluate), the first allowed answer to each question.
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
        let ctx = reply::context(&reply::ReplyInput {
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
