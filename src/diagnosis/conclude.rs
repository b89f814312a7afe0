//! Concluding a cause: its explanation, reply and action templates rendered ([`super::reply`]) and its
//! action amounts and codes evaluated ([`super::run`]) for this subscriber, with the values the scenario's
//! steps computed.
use super::model::{Expression, Scenario, ScenarioSet};
use super::run::{Inputs, ScenarioRun};
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
        complaint: inputs.complaint,
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
    r.bind_values(&mut scope);
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

/// What the handler is told when no cause is concluded: the chosen scenario's `no_cause` template
/// rendered with what its steps computed, else what every scenario that ran checked, with the figures
/// they computed, and what to do next. Never empty.
pub fn no_cause_text(
    set: &ScenarioSet,
    runs: &[ScenarioRun],
    chosen: Option<usize>,
    inputs: &Inputs,
    complaint_id: &str,
    msisdn: &str,
) -> String {
    use super::run::RunOutcome;
    if let Some(r) = chosen.map(|c| &runs[c]) {
        if let Some(name) = &r.scenario.no_cause {
            let answers: BTreeMap<String, String> = inputs.answers.clone().into_iter().collect();
            let ctx = reply::context(&reply::ReplyInput {
                view: inputs.view,
                values: &r.values,
                answers: &answers,
                now: inputs.now,
                complaint: inputs.complaint,
                cause_code: "",
                cause_title: "",
                complaint_id,
                msisdn,
            });
            match set.templates.render(name, &ctx) {
                Ok(text) if !text.trim().is_empty() => return text.trim().to_string(),
                Ok(_) => {}
                Err(e) => tracing::warn!(scenario = %r.scenario.id, error = %e, "no_cause template failed"),
            }
        }
    }
    let checked: Vec<String> = runs
        .iter()
        .filter(|r| matches!(r.outcome, RunOutcome::NoCause))
        .map(|r| {
            let steps: Vec<&str> = r
                .trace
                .iter()
                .filter(|t| t.step_id != "precondition")
                .map(|t| t.description.as_str())
                .collect();
            let figures: Vec<String> = r
                .values
                .iter()
                .filter_map(|(k, v)| match v {
                    cel::Value::Int(i) if k.ends_with("_fen") => Some(format!("{k} = {}", reply::format_fen(*i))),
                    cel::Value::Int(i) => Some(format!("{k} = {i}")),
                    _ => None,
                })
                .collect();
            format!(
                "{}（{}{}）",
                r.scenario.title,
                steps.join("；"),
                if figures.is_empty() {
                    String::new()
                } else {
                    format!("；{}", figures.join("，"))
                }
            )
        })
        .collect();
    if checked.is_empty() {
        "未找到适用于该用户的诊断场景，数据中没有可说明该投诉的记录。请向客户核实投诉的具体时间、金额或现象，并转人工专席处理。".into()
    } else {
        format!(
            "已核查{}，均未发现能解释该投诉的异常。请向客户核实投诉的具体时间、金额或现象；仍有异议的，转人工专席处理。",
            checked.join("；")
        )
    }
}
