//! Concluding a cause: its explanation, reply and action templates rendered ([`super::reply`]) and its
//! action amounts and codes evaluated ([`super::run`]) for this subscriber, with the values the scenario's
//! steps computed.
use super::model::{Expression, Scenario, ScenarioSet};
use super::run::{self, Inputs, ScenarioRun};
use super::{reply, value};
use crate::proto::complaint::v1::ActionKind;
use std::collections::BTreeMap;

/// A cause concluded, with its rendered texts and actions.
#[derive(Debug, Clone)]
pub struct Conclusion {
    pub code: String,
    pub title: String,
    pub explanation: String,
    pub reply: String,
    pub actions: Vec<ActionOut>,
}

/// A recommended action, evaluated for this subscriber.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionOut {
    pub kind: ActionKind,
    pub description: String,
    pub amount_fen: i64,
    pub service_code: String,
    pub element_id: String,
    pub target: String,
}

/// Renders and evaluates cause `cause_index` of the scenario run `r`, which ran with the root context
/// `root` built from `inputs`; an error names the cause and what of it failed.
pub fn conclude(
    set: &ScenarioSet,
    r: &ScenarioRun,
    cause_index: usize,
    root: &cel::Context,
    inputs: &Inputs,
    complaint_id: &str,
    msisdn: &str,
) -> Result<Conclusion, String> {
    let s: &Scenario = &r.scenario;
    let cause = &s.causes[cause_index];
    let answers: BTreeMap<String, String> = inputs.answers.clone().into_iter().collect();
    let ctx = reply::context(&reply::ReplyInput {
        view: inputs.view,
        values: &r.values,
        answers: &answers,
        now: inputs.now,
        cause_code: &cause.code,
        cause_title: &cause.title,
        complaint_id,
        msisdn,
    });
    let render = |name: &str, what: &str| {
        set.templates
            .render(name, &ctx)
            .map_err(|e| format!("cause `{}`, {what}: {e}", cause.code))
    };
    let explanation = render(&cause.explanation, "explanation")?;
    let reply_text = render(&cause.reply, "reply")?;
    let mut scope = root.new_inner_scope();
    run::bind_values(&mut scope, &r.values);
    let mut actions = Vec::new();
    for a in &cause.actions {
        let description = render(&a.description, "action description")?;
        let target = match &a.target {
            Some(t) => render(t, "action target")?,
            None => String::new(),
        };
        let eval = |e: &Expression, what: &str| {
            e.program
                .execute(&scope)
                .map_err(|err| format!("cause `{}`, action {what}: {err}", cause.code))
        };
        let amount_fen = match &a.amount_fen {
            Some(e) => match eval(e, "amount_fen")? {
                cel::Value::Int(i) => i,
                cel::Value::UInt(u) => i64::try_from(u).unwrap_or(i64::MAX),
                cel::Value::Float(f) => f.round() as i64,
                other => {
                    return Err(format!(
                        "cause `{}`, action amount_fen: expected an integer amount in fen, got {}",
                        cause.code,
                        value::short(&other)
                    ))
                }
            },
            None => 0,
        };
        let strings = |e: &Option<Expression>, what: &str| -> Result<Vec<String>, String> {
            match e {
                None => Ok(vec![String::new()]),
                Some(e) => match eval(e, what)? {
                    cel::Value::String(s) => Ok(vec![s.to_string()]),
                    cel::Value::List(items) => items
                        .iter()
                        .map(|i| match i {
                            cel::Value::String(s) => Ok(s.to_string()),
                            other => Err(format!(
                                "cause `{}`, action {what}: expected strings, got {}",
                                cause.code,
                                value::short(other)
                            )),
                        })
                        .collect(),
                    other => Err(format!(
                        "cause `{}`, action {what}: expected a string or a list of strings, got {}",
                        cause.code,
                        value::short(&other)
                    )),
                },
            }
        };
        // A list of service codes or elements gives one action each.
        for service_code in strings(&a.service_code, "service_code")? {
            for element_id in strings(&a.element_id, "element_id")? {
                actions.push(ActionOut {
                    kind: a.kind,
                    description: description.clone(),
                    amount_fen,
                    service_code: service_code.clone(),
                    element_id,
                    target: target.clone(),
                });
            }
        }
    }
    Ok(Conclusion {
        code: cause.code.clone(),
        title: cause.title.clone(),
        explanation,
        reply: reply_text,
        actions,
    })
}
