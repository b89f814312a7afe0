//! Compiling one scenario file: its id, categories, questions and steps checked, every CEL expression
//! compiled and checked against the schema ([`super::expression`]), every step outcome resolved; its
//! causes are compiled by [`super::causes`]. Every problem of the file is collected, each with its place.
use super::causes;
use super::check::Names;
use super::errors::{Errs, LoadError, Source};
use super::expression::{compile_condition, compile_typed};
use super::file::ScenarioFile;
use super::templates::TemplateBuilder;
use super::types::{Ty, DYN};
use crate::diagnosis::model::{Expression, Outcome, Question, Scenario, Step};
use toml::Spanned;

/// Compiles one scenario file, or returns every problem in it; `categories` are the codes a scenario may
/// name.
pub fn compile_file(
    src: &Source,
    categories: &[String],
    templates: &mut TemplateBuilder,
) -> Result<Scenario, Vec<LoadError>> {
    let file: ScenarioFile = toml::from_str(src.text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        vec![src.at(span, format!("not a valid scenario: {}", e.message()))]
    })?;
    let sid = file.id.get_ref().clone();
    let mut errs = Errs::new(&sid);

    if sid.is_empty() || !sid.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
        errs.push(
            src.at(
                file.id.span(),
                "`id` must be non-empty ASCII letters, digits, '.', '_' or '-'".into(),
            ),
            None,
        );
    }
    if file.categories.is_empty() {
        errs.push(
            src.at(file.id.span(), "`categories` must name at least one category".into()),
            None,
        );
    }
    for c in file.categories.iter().chain(&file.line_state_for) {
        if !categories.iter().any(|k| k == c.get_ref()) {
            let hint = crate::schema::closest(c.get_ref(), categories.iter().map(|s| s.as_str()))
                .map(|h| format!(" (did you mean `{h}`?)"))
                .unwrap_or_default();
            errs.push(
                src.at(c.span(), format!("unknown category `{}`{hint}", c.get_ref())),
                None,
            );
        }
    }
    if file.steps.is_empty() {
        errs.push(
            src.at(file.id.span(), "a scenario needs at least one step".into()),
            None,
        );
    }

    // Questions.
    let mut questions: Vec<Question> = Vec::new();
    for q in &file.questions {
        let id = q.id.get_ref();
        if !is_ident(id) {
            errs.push(
                src.at(
                    q.id.span(),
                    format!("question id `{id}` must be a lowercase identifier (a-z, 0-9, _)"),
                ),
                None,
            );
        }
        if questions.iter().any(|x| &x.id == id) {
            errs.push(src.at(q.id.span(), format!("question `{id}` is defined twice")), None);
        }
        if q.answers.is_empty() {
            errs.push(
                src.at(q.id.span(), format!("question `{id}` lists no allowed answers")),
                None,
            );
        }
        let mut seen = Vec::new();
        for a in &q.answers {
            if a.value.is_empty() || seen.contains(&&a.value) {
                errs.push(
                    src.at(
                        q.id.span(),
                        format!("question `{id}`: answer values must be non-empty and distinct"),
                    ),
                    None,
                );
            }
            seen.push(&a.value);
        }
        if !file
            .steps
            .iter()
            .any(|s| s.ask.as_ref().map(|a| a.get_ref()) == Some(id))
        {
            errs.push(
                src.at(
                    q.id.span(),
                    format!("question `{id}` is never asked (no step has `ask = \"{id}\"`)"),
                ),
                None,
            );
        }
        questions.push(Question {
            id: id.clone(),
            text: q.text.clone(),
            answers: q.answers.iter().map(|a| (a.value.clone(), a.label.clone())).collect(),
        });
    }
    let question_ids: Vec<String> = questions.iter().map(|q| q.id.clone()).collect();
    let step_ids: Vec<String> = file.steps.iter().map(|s| s.id.get_ref().clone()).collect();
    let cause_codes: Vec<String> = file.causes.iter().map(|c| c.code.get_ref().clone()).collect();

    let allowed: Vec<(String, Vec<String>)> = questions
        .iter()
        .map(|q| (q.id.clone(), q.answers.iter().map(|a| a.0.clone()).collect()))
        .collect();
    let compile = |text: &Spanned<String>, values: &[(String, Ty)]| -> Result<(Expression, Ty), LoadError> {
        compile_typed(
            src,
            text,
            &Names {
                questions: &question_ids,
                values,
                allowed: &allowed,
            },
        )
    };
    let condition = |text: &Spanned<String>, values: &[(String, Ty)]| -> Result<Expression, LoadError> {
        compile_condition(
            src,
            text,
            &Names {
                questions: &question_ids,
                values,
                allowed: &allowed,
            },
        )
    };

    let precondition = match &file.precondition {
        Some(p) => match condition(p, &[]) {
            Ok(e) => Some(e),
            Err(e) => {
                errs.push(e, None);
                None
            }
        },
        None => None,
    };

    // Steps.
    let mut steps = Vec::new();
    let mut values_so_far: Vec<(String, Ty)> = Vec::new();
    for (i, s) in file.steps.iter().enumerate() {
        let id = s.id.get_ref();
        let here = Some(id.as_str());
        if !is_ident(id) {
            errs.push(
                src.at(
                    s.id.span(),
                    format!("step id `{id}` must be a lowercase identifier (a-z, 0-9, _)"),
                ),
                here,
            );
        }
        if step_ids[..i].contains(id) {
            errs.push(src.at(s.id.span(), format!("step `{id}` is defined twice")), here);
        }
        if let Some(a) = &s.ask {
            if !question_ids.contains(a.get_ref()) {
                errs.push(
                    src.at(
                        a.span(),
                        format!(
                            "`ask`: no question `{}` in this scenario (questions: {})",
                            a.get_ref(),
                            or_none(&question_ids)
                        ),
                    ),
                    here,
                );
            }
        }
        let mut values = Vec::new();
        // In file order: a value may use the values written above it in the same step.
        let mut in_order: Vec<(&String, &Spanned<String>)> = s.values.iter().collect();
        in_order.sort_by_key(|(_, t)| t.span().start);
        for (name, text) in in_order {
            if !is_ident(name) {
                errs.push(
                    src.at(
                        text.span(),
                        format!("value name `{name}` must be a lowercase identifier"),
                    ),
                    here,
                );
            }
            if values_so_far.iter().any(|(n, _)| n == name) {
                errs.push(
                    src.at(
                        text.span(),
                        format!("value `{name}` is already computed by an earlier step"),
                    ),
                    here,
                );
            }
            let ty = match compile(text, &values_so_far) {
                Ok((e, ty)) => {
                    values.push((name.clone(), e));
                    ty
                }
                Err(e) => {
                    errs.push(e, here);
                    DYN
                }
            };
            values_so_far.push((name.clone(), ty));
        }
        let expr = match condition(&s.expr, &values_so_far) {
            Ok(e) => Some(e),
            Err(e) => {
                errs.push(e, here);
                None
            }
        };
        let then = parse_outcome(src, &s.then, i, &step_ids, &cause_codes);
        let otherwise = match &s.otherwise {
            Some(o) => parse_outcome(src, o, i, &step_ids, &cause_codes),
            None => Ok(Outcome::Next),
        };
        match (expr, then, otherwise) {
            (Some(expr), Ok(then), Ok(otherwise)) => steps.push(Step {
                id: id.clone(),
                description: s.description.clone(),
                ask: s.ask.as_ref().map(|a| a.get_ref().clone()),
                expr,
                values,
                then,
                otherwise,
            }),
            (_, t, o) => {
                for e in [t.err(), o.err()].into_iter().flatten() {
                    errs.push(e, here);
                }
            }
        }
    }

    // Which values are computed on every path to each cause (known when every step compiled).
    // A step or value that did not compile would make every later use look uncomputed: skip the check then.
    let on_path =
        (errs.list.is_empty() && steps.len() == file.steps.len()).then(|| values_on_paths(&steps, cause_codes.len()));
    let names = causes::Names {
        questions: &question_ids,
        values: &values_so_far,
        causes: &cause_codes,
        on_path: on_path.as_deref(),
    };
    let causes = causes::compile(src, &file, &names, templates, &mut errs);
    // The no-cause reply may use any value (each renders empty where it was not computed).
    let no_cause = file.no_cause.as_ref().and_then(|t| {
        causes::add_template(
            src,
            templates,
            &mut errs,
            format!("{}#/no_cause", src.file),
            t,
            &names,
            usize::MAX,
        )
    });
    if !errs.list.is_empty() {
        return Err(errs.list);
    }
    let mut view_fields = errs.view_fields;
    let mut note = |e: &Expression| {
        for r in &e.reads {
            view_fields.add(&r.segments);
        }
    };
    precondition.iter().for_each(&mut note);
    for st in &steps {
        note(&st.expr);
        st.values.iter().for_each(|(_, e)| note(e));
    }
    for c in &causes {
        for a in &c.actions {
            [&a.amount_fen, &a.service_code, &a.element_id]
                .into_iter()
                .flatten()
                .for_each(&mut note);
        }
    }
    Ok(Scenario {
        id: sid,
        title: file.title,
        categories: file.categories.into_iter().map(Spanned::into_inner).collect(),
        line_state_for: file.line_state_for.into_iter().map(Spanned::into_inner).collect(),
        no_cause,
        priority: file.priority,
        file: src.file.to_string(),
        source: src.text.to_string(),
        precondition,
        questions,
        steps,
        causes,
        view_fields,
    })
}

/// For each cause (by index), the values computed on every path of steps that concludes it; steps run
/// forwards (`goto` only jumps ahead), so one pass in order settles it. A cause no step reaches gets an
/// empty list.
fn values_on_paths(steps: &[Step], causes: usize) -> Vec<Vec<String>> {
    use std::collections::BTreeSet;
    fn meet(slot: &mut Option<BTreeSet<String>>, set: &BTreeSet<String>) {
        *slot = Some(match slot.take() {
            Some(s) => s.intersection(set).cloned().collect(),
            None => set.clone(),
        });
    }
    let mut entry: Vec<Option<BTreeSet<String>>> = vec![None; steps.len()];
    let mut at_cause: Vec<Option<BTreeSet<String>>> = vec![None; causes];
    if let Some(first) = entry.first_mut() {
        *first = Some(BTreeSet::new());
    }
    for (i, step) in steps.iter().enumerate() {
        let Some(mut set) = entry[i].clone() else { continue };
        set.extend(step.values.iter().map(|(n, _)| n.clone()));
        for outcome in [&step.then, &step.otherwise] {
            match outcome {
                Outcome::Next if i + 1 < steps.len() => meet(&mut entry[i + 1], &set),
                Outcome::Goto(j) if *j < steps.len() => meet(&mut entry[*j], &set),
                Outcome::Cause(c) if *c < causes => meet(&mut at_cause[*c], &set),
                _ => {}
            }
        }
    }
    at_cause
        .into_iter()
        .map(|s| s.map(|s| s.into_iter().collect()).unwrap_or_default())
        .collect()
}

/// `a, b, c`, or `none`.
pub fn or_none(xs: &[String]) -> String {
    if xs.is_empty() {
        "none".into()
    } else {
        xs.join(", ")
    }
}

/// A lowercase identifier: `a-z`, `0-9`, `_`, starting with a letter.
pub fn is_ident(s: &str) -> bool {
    !s.is_empty()
        && s.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn parse_outcome(
    src: &Source,
    o: &Spanned<String>,
    index: usize,
    step_ids: &[String],
    cause_codes: &[String],
) -> Result<Outcome, LoadError> {
    let text = o.get_ref().trim();
    if text == "next" {
        return Ok(Outcome::Next);
    }
    if text == "end" {
        return Ok(Outcome::End);
    }
    if let Some(target) = text.strip_prefix("goto:") {
        return match step_ids.iter().position(|s| s == target.trim()) {
            Some(j) if j > index => Ok(Outcome::Goto(j)),
            Some(_) => Err(src.at(
                o.span(),
                format!("`goto:{target}` must go to a later step (steps run forwards, so a scenario always ends)"),
            )),
            None => Err(src.at(
                o.span(),
                format!("`goto:{target}`: no step `{target}` (steps: {})", step_ids.join(", ")),
            )),
        };
    }
    if let Some(code) = text.strip_prefix("cause:") {
        return match cause_codes.iter().position(|c| c == code.trim()) {
            Some(j) => Ok(Outcome::Cause(j)),
            None => Err(src.at(
                o.span(),
                format!(
                    "`cause:{code}`: no cause `{code}` in this scenario (causes: {})",
                    or_none(cause_codes)
                ),
            )),
        };
    }
    Err(src.at(
        o.span(),
        format!("outcome `{text}` must be `next`, `end`, `goto:<step>` or `cause:<CODE>`"),
    ))
}
