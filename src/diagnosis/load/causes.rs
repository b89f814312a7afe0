//! Compiling the causes of one scenario file: codes checked, explanation, reply and action templates
//! compiled ([`super::templates`]), action amounts and codes compiled as CEL, every cause concluded by some
//! step.
use super::errors::{Errs, LoadError, Source};
use super::expression::compile_typed;
use super::file::ScenarioFile;
use super::templates::TemplateBuilder;
use super::templates::ValueNames;
use super::types::{Class, Ty};
use crate::diagnosis::model::{ActionSpec, Cause, Expression};
use crate::proto::complaint::v1::ActionKind;
use std::collections::BTreeMap;
use toml::Spanned;

/// What the causes of one scenario may refer to.
pub struct Names<'a> {
    /// The scenario's question ids (`answers.<id>`).
    pub questions: &'a [String],
    /// Every value any of its steps computes (`values.<name>`), with its type.
    pub values: &'a [(String, Ty)],
    /// Its cause codes, in file order.
    pub causes: &'a [String],
    /// For each cause (by index), the values computed on every path to it (`None`: not known).
    pub on_path: Option<&'a [Vec<String>]>,
}

pub(super) fn add_template(
    src: &Source,
    templates: &mut TemplateBuilder,
    errs: &mut Errs,
    name: String,
    t: &Spanned<String>,
    names: &Names,
    cause: usize,
) -> Option<String> {
    let (line, col) = src.line_col(t.span().start);
    templates.set_position(&name, line, col);
    let values = ValueNames {
        all: names.values,
        on_path: names.on_path.and_then(|p| p.get(cause)).map(Vec::as_slice),
        cause: names.causes.get(cause).map(String::as_str),
    };
    match templates.add(&name, t.get_ref(), names.questions, &values) {
        Ok(used) => {
            for path in used {
                let segments: Vec<&str> = path.split('.').collect();
                errs.view_fields.add(&segments);
            }
            Some(name)
        }
        Err((line, msg)) => {
            let what = name.rsplit('#').next().unwrap_or(&name).replace('/', ", ");
            let mut e = src.in_string(&t.span(), t.get_ref(), 0, format!("cause {what}: {msg}"));
            if let Some(l) = line {
                e.line += l.saturating_sub(1);
            }
            errs.push(e, None);
            None
        }
    }
}

/// Compiles the causes of `file`; problems go to `errs`, and a cause with a broken template is left out.
pub fn compile(
    src: &Source,
    file: &ScenarioFile,
    names: &Names,
    templates: &mut TemplateBuilder,
    errs: &mut Errs,
) -> Vec<Cause> {
    let cause_codes = names.causes;
    // Action arguments see the values computed on every path to their cause, and must be of the kind
    // the action takes (an amount is a number, a service code or an element id a string).
    let compile = |text: &Spanned<String>, cause: usize, arg: &str, wants: Class| -> Result<Expression, LoadError> {
        let on_path = names.on_path.and_then(|p| p.get(cause));
        let visible: Vec<(String, Ty)> = names
            .values
            .iter()
            .filter(|(n, _)| on_path.is_none_or(|p| p.contains(n)))
            .cloned()
            .collect();
        let (e, ty) = compile_typed(
            src,
            text,
            &super::check::Names {
                questions: names.questions,
                values: &visible,
                allowed: &[],
            },
        )?;
        let class = ty.class();
        // A string argument may also be a list of strings: one action each.
        let fits = class == Class::Unknown
            || class == wants
            || (wants == Class::Text && class == Class::Enum)
            || (wants == Class::Text
                && class == Class::List
                && matches!(ty.item().class(), Class::Text | Class::Unknown));
        if !fits {
            let wanted = if wants == Class::Number {
                "a number (fen)"
            } else {
                "a string or a list of strings"
            };
            return Err(src.at(
                text.span(),
                format!(
                    "cause `{}`: action argument `{arg}` must be {wanted}, but `{}` gives {}",
                    names.causes.get(cause).map(String::as_str).unwrap_or("?"),
                    text.get_ref(),
                    ty.describe()
                ),
            ));
        }
        Ok(e)
    };
    let mut causes = Vec::new();
    for (ci, c) in file.causes.iter().enumerate() {
        let code = c.code.get_ref();
        if code.is_empty()
            || !code
                .chars()
                .all(|ch| ch.is_ascii_uppercase() || ch.is_ascii_digit() || ch == '_')
        {
            errs.push(
                src.at(c.code.span(), format!("cause code `{code}` must be UPPER_SNAKE_CASE")),
                None,
            );
        }
        if cause_codes[..ci].contains(code) {
            errs.push(src.at(c.code.span(), format!("cause `{code}` is defined twice")), None);
        }
        let target = format!("cause:{code}");
        let concluded = file.steps.iter().any(|s| {
            s.then.get_ref().trim() == target || s.otherwise.as_ref().is_some_and(|o| o.get_ref().trim() == target)
        });
        if !concluded {
            errs.push(
                src.at(c.code.span(), format!("cause `{code}` is never concluded by a step")),
                None,
            );
        }
        let key = format!("{}#{code}", src.file);
        let explanation = add_template(
            src,
            templates,
            errs,
            format!("{key}/explanation"),
            &c.explanation,
            names,
            ci,
        );
        let reply_name = add_template(src, templates, errs, format!("{key}/reply"), &c.reply, names, ci);
        let mut actions = Vec::new();
        for (ai, a) in c.actions.iter().enumerate() {
            let kind = match a.kind.get_ref().as_str() {
                "refund" => ActionKind::Refund,
                "unsubscribe" => ActionKind::Unsubscribe,
                "restore_line" => ActionKind::RestoreLine,
                "network_ticket" => ActionKind::NetworkTicket,
                "escalate" => ActionKind::Escalate,
                other => {
                    errs.push(
                        src.at(
                            a.kind.span(),
                            format!(
                                "cause `{code}`: unknown action kind `{other}` (refund, unsubscribe, restore_line, network_ticket, escalate)"
                            ),
                        ),
                        None,
                    );
                    continue;
                }
            };
            let (field, present) = match kind {
                ActionKind::Refund => ("amount_fen", a.amount_fen.is_some()),
                ActionKind::Unsubscribe => ("service_code", a.service_code.is_some()),
                ActionKind::NetworkTicket => ("element_id", a.element_id.is_some()),
                ActionKind::Escalate => ("target", a.target.is_some()),
                _ => ("", true),
            };
            if !present {
                errs.push(
                    src.at(
                        a.kind.span(),
                        format!("cause `{code}`: a `{}` action needs `{field}`", a.kind.get_ref()),
                    ),
                    None,
                );
            }
            let description = add_template(
                src,
                templates,
                errs,
                format!("{key}/action{ai}"),
                &a.description,
                names,
                ci,
            );
            let target = a
                .target
                .as_ref()
                .and_then(|t| add_template(src, templates, errs, format!("{key}/action{ai}.target"), t, names, ci));
            let mut cel_field = |t: &Option<Spanned<String>>, arg: &str, wants: Class| -> Option<Expression> {
                t.as_ref().and_then(|t| match compile(t, ci, arg, wants) {
                    Ok(e) => Some(e),
                    Err(e) => {
                        errs.push(e, None);
                        None
                    }
                })
            };
            let amount_fen = cel_field(&a.amount_fen, "amount_fen", Class::Number);
            let service_code = cel_field(&a.service_code, "service_code", Class::Text);
            let element_id = cel_field(&a.element_id, "element_id", Class::Text);
            let mut source = BTreeMap::new();
            source.insert("description", a.description.get_ref().clone());
            for (k, v) in [
                ("amount_fen", &a.amount_fen),
                ("service_code", &a.service_code),
                ("element_id", &a.element_id),
                ("target", &a.target),
            ] {
                if let Some(v) = v {
                    source.insert(k, v.get_ref().clone());
                }
            }
            if let Some(description) = description {
                actions.push(ActionSpec {
                    kind,
                    description,
                    target,
                    amount_fen,
                    service_code,
                    element_id,
                    source,
                });
            }
        }
        if let (Some(explanation), Some(reply)) = (explanation, reply_name) {
            causes.push(Cause {
                code: code.clone(),
                title: c.title.clone(),
                explanation,
                reply,
                guidance: c.guidance,
                actions,
                explanation_source: c.explanation.get_ref().clone(),
                reply_source: c.reply.get_ref().clone(),
            });
        }
    }
    causes
}
