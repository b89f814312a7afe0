//! Loading scenarios: files in, a checked and compiled [`ScenarioSet`] out.
//!
//! One TOML file holds one scenario (`file.rs`, see `docs/scenarios.md`). Loading compiles every CEL
//! expression and checks every field path against the view's schema ([`check`], `expression.rs`,
//! `compile.rs`), resolves every step outcome, question and cause (`compile.rs`, `causes.rs`), compiles
//! every reply template and renders it once against a sample view ([`templates`]). Every problem is
//! reported, not just the first, as file:line:col: scenario `id`, step `id`: message ([`errors`]).
//!
//! Files come from a folder on disk ([`load_dir`]), a [`Folder`] on disk or embedded in the binary
//! ([`load_folder`]), or as (name, text) pairs ([`load_texts`]), so a set can be loaded from anywhere its
//! files are kept.
mod causes;
pub mod check;
mod compile;
pub mod errors;
mod expression;
mod file;
pub mod templates;
pub mod types;

pub use errors::{LoadError, LoadErrors};

use super::model::{Question, Scenario, ScenarioSet};
use super::testcases::is_case_file;
use super::value;
use crate::assets::Folder;
use chrono::{DateTime, FixedOffset, TimeZone};
use errors::Source;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What loading needs besides the files.
#[derive(Clone)]
pub struct LoadOptions {
    /// The category codes scenarios may name.
    pub categories: Vec<String>,
    /// The time of the sample data templates are rendered against at load.
    pub sample_time: DateTime<FixedOffset>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            categories: crate::classify::category_codes()
                .iter()
                .map(|c| c.to_string())
                .collect(),
            sample_time: value::beijing()
                .with_ymd_and_hms(2026, 11, 28, 10, 0, 0)
                .single()
                .expect("valid time"),
        }
    }
}

/// The scenario files of `dir` (`*.toml` but not test cases, `*.cases.toml`; sub-folders included),
/// sorted; or `dir` itself if it is a file.
pub fn scenario_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    Ok(toml_files(dir)?
        .into_iter()
        .filter(|p| !is_case_file(&p.to_string_lossy()))
        .collect())
}

/// Every `*.toml` of `dir` (scenarios and their test cases), sorted; or `dir` itself if it is a file.
pub fn toml_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    if dir.is_file() {
        return Ok(vec![dir.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "toml") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Loads, checks and compiles every scenario under `dir` (a folder or one file). All problems are
/// reported, not just the first.
pub fn load_dir(dir: &Path, opts: &LoadOptions) -> Result<ScenarioSet, LoadErrors> {
    let texts: Vec<(String, String)> = dir_texts(dir)?.into_iter().filter(|(n, _)| !is_case_file(n)).collect();
    load_texts(&texts, dir, opts)
}

/// Every `*.toml` under `dir` (a folder or one file) as (name relative to the folder, text).
fn dir_texts(dir: &Path) -> Result<Vec<(String, String)>, LoadErrors> {
    let io_err = |file: &Path, e: std::io::Error| {
        LoadErrors(vec![LoadError::of_file(
            file.display().to_string(),
            format!("cannot read: {e}"),
        )])
    };
    let files = toml_files(dir).map_err(|e| io_err(dir, e))?;
    let base = if dir.is_file() {
        dir.parent().unwrap_or(Path::new(".")).to_path_buf()
    } else {
        dir.to_path_buf()
    };
    let mut texts = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).map_err(|e| io_err(f, e))?;
        let name = f.strip_prefix(&base).unwrap_or(f).display().to_string();
        texts.push((name, text));
    }
    Ok(texts)
}

/// Every `*.toml` of `folder` (scenarios and test cases) as (name, text), sorted by name.
pub fn folder_texts(folder: &Folder) -> Result<Vec<(String, String)>, LoadErrors> {
    match folder {
        Folder::Disk(dir) => dir_texts(dir),
        Folder::Embedded { .. } => folder
            .files("toml")
            .map_err(|e| LoadErrors(vec![LoadError::of_file(folder.describe(), format!("cannot read: {e}"))])),
    }
}

/// Loads, checks and compiles every scenario of `folder` (on disk: a folder, searched recursively, or
/// one file; embedded: the shipped set). Every problem is reported.
pub fn load_folder(folder: &Folder, opts: &LoadOptions) -> Result<ScenarioSet, LoadErrors> {
    match folder {
        Folder::Disk(dir) => load_dir(dir, opts),
        Folder::Embedded { .. } => {
            let files: Vec<(String, String)> = folder_texts(folder)?
                .into_iter()
                .filter(|(n, _)| !is_case_file(n))
                .collect();
            load_texts(&files, &PathBuf::from(folder.describe()), opts)
        }
    }
}

/// Loads scenarios from (file name, text) pairs; `dir` is recorded in the set.
pub fn load_texts(files: &[(String, String)], dir: &Path, opts: &LoadOptions) -> Result<ScenarioSet, LoadErrors> {
    let mut errors = Vec::new();
    let mut templates = templates::TemplateBuilder::new();
    let mut scenarios: Vec<Arc<Scenario>> = Vec::new();
    let mut questions: BTreeMap<String, (Question, String)> = BTreeMap::new();
    let mut ids: HashMap<String, String> = HashMap::new();
    for (name, text) in files {
        let src = Source { file: name, text };
        match compile::compile_file(&src, &opts.categories, &mut templates) {
            Ok(s) => {
                if let Some(other) = ids.insert(s.id.clone(), name.clone()) {
                    errors.push(LoadError {
                        file: name.clone(),
                        line: 1,
                        col: 1,
                        scenario: Some(s.id.clone()),
                        step: None,
                        message: format!("scenario id `{}` is also used by {other}", s.id),
                    });
                }
                for q in &s.questions {
                    match questions.get(&q.id) {
                        Some((prev, file)) if prev != q => errors.push(LoadError {
                            file: name.clone(),
                            line: 1,
                            col: 1,
                            scenario: Some(s.id.clone()),
                            step: None,
                            message: format!(
                                "question `{}` differs from the question with that id in {file}; one id must mean one question",
                                q.id
                            ),
                        }),
                        Some(_) => {}
                        None => {
                            questions.insert(q.id.clone(), (q.clone(), name.clone()));
                        }
                    }
                }
                scenarios.push(Arc::new(s));
            }
            Err(mut e) => errors.append(&mut e),
        }
    }
    errors.append(&mut priority_ties(&scenarios, files));
    if files.is_empty() {
        errors.push(LoadError::of_file(
            dir.display().to_string(),
            "no scenario files (*.toml)",
        ));
    }
    if !errors.is_empty() {
        return Err(LoadErrors(errors));
    }
    let templates = templates.finish();
    // Render every template once against the sample view.
    for s in &scenarios {
        if let Err(mut e) = templates::check_render(s, &templates, opts.sample_time) {
            errors.append(&mut e);
        }
    }
    if !errors.is_empty() {
        return Err(LoadErrors(errors));
    }
    Ok(ScenarioSet::new(
        scenarios,
        templates,
        questions.into_iter().map(|(k, (q, _))| (k, q)).collect(),
        dir.to_path_buf(),
    ))
}

/// Two scenarios of one category at one priority that can both conclude a cause: which one's cause a
/// subscriber gets would depend on file names. Reported at the later file's `priority` (or its first line).
fn priority_ties(scenarios: &[Arc<Scenario>], files: &[(String, String)]) -> Vec<LoadError> {
    let mut first: BTreeMap<(&str, i32), &Scenario> = BTreeMap::new();
    let mut out = Vec::new();
    for s in scenarios.iter().filter(|s| !s.causes.is_empty()) {
        for c in &s.categories {
            match first.get(&(c.as_str(), s.priority)) {
                None => {
                    first.insert((c.as_str(), s.priority), s);
                }
                Some(other) => {
                    let line = files
                        .iter()
                        .find(|(n, _)| *n == s.file)
                        .and_then(|(_, t)| t.lines().position(|l| l.trim_start().starts_with("priority")))
                        .map_or(1, |i| i + 1);
                    out.push(LoadError {
                        file: s.file.clone(),
                        line,
                        col: 1,
                        scenario: Some(s.id.clone()),
                        step: None,
                        message: format!(
                            "priority {} in category `{c}` is also `{}`'s ({}), and both can conclude a cause: which \
                             one a subscriber gets would depend on file names; give one a higher priority",
                            s.priority, other.id, other.file
                        ),
                    });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnosis::model::Outcome;
    use std::collections::BTreeSet;

    fn load_one(text: &str) -> Result<ScenarioSet, LoadErrors> {
        load_texts(
            &[("t.toml".into(), text.into())],
            Path::new("scenarios"),
            &LoadOptions::default(),
        )
    }

    /// Runs `s` over an empty view at 2026-11-28 10:00 Beijing time, every source complete, no answers.
    fn run_on_empty_view(s: &std::sync::Arc<Scenario>) -> crate::diagnosis::run::ScenarioRun {
        let view = crate::diagnosis::value::view_to_cel(&Default::default()).unwrap();
        let now = value::beijing().with_ymd_and_hms(2026, 11, 28, 10, 0, 0).unwrap();
        let answers = HashMap::new();
        let root = crate::diagnosis::run::eval_context(&view, now, &answers);
        let inputs = crate::diagnosis::run::Inputs {
            view: &view,
            answers: &answers,
            now,
            provenance: &crate::diagnosis::provenance::Provenance::complete(),
            complaint: &crate::diagnosis::period::complaint_value(None, now),
        };
        crate::diagnosis::run::run(s, &root, &inputs)
    }

    const OK: &str = r#"
id = "t.ok"
title = "t"
categories = ["vas.unsolicited_subscription"]

[[steps]]
id = "s1"
description = "d"
expr = 'view.vas_subscriptions.exists(v, v.consent_record == "")'
then = "cause:X"

[[causes]]
code = "X"
title = "x"
explanation = "{{ view.msisdn }}"
reply = "{{ 100 | money }}"
"#;

    #[test]
    fn a_good_file_loads() {
        let set = load_one(OK).unwrap();
        assert_eq!(set.scenarios[0].steps[0].then, Outcome::Cause(0));
        // What it reads of the view: the expression's list and the explanation's number.
        let f = &set.scenarios[0].view_fields;
        assert!(!f.all);
        // The same, per category, as a diagnosis converts it.
        let cat = &set.scenarios[0].categories[0];
        assert_eq!(set.view_fields_of(cat), Some(&f.fields));
        assert_eq!(set.view_fields_of("no.such_category"), Some(&BTreeSet::new()));
        assert_eq!(
            f.fields.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            ["msisdn", "vas_subscriptions"]
        );
    }

    #[test]
    fn misspelt_path_names_file_scenario_step_and_position() {
        let bad = OK.replace("v.consent_record", "v.consnt_record");
        let e = load_one(&bad).unwrap_err();
        let e = &e.0[0];
        assert_eq!(
            (e.file.as_str(), e.scenario.as_deref(), e.step.as_deref()),
            ("t.toml", Some("t.ok"), Some("s1"))
        );
        // The `expr` line of the file, at the misspelt field.
        let (n, line) = bad.lines().enumerate().find(|(_, l)| l.starts_with("expr")).unwrap();
        assert_eq!(e.line, n + 1, "{e}");
        assert_eq!(e.col, line.find("consnt_record").unwrap() + 1, "{e}");
        assert!(
            e.to_string()
                .contains("`consnt_record` is not a field of complaint.v1.VasSubscription"),
            "{e}"
        );
    }

    #[test]
    fn syntax_errors_unknown_outcomes_and_categories_are_reported() {
        let e = load_one(&OK.replace("v.consent_record == \"\")", "v.consent_record == )")).unwrap_err();
        assert!(e.to_string().contains("CEL syntax error"), "{e}");
        let (n, line) = OK.lines().enumerate().find(|(_, l)| l.starts_with("expr")).unwrap();
        let col = line.find("== \"\")").unwrap() + 4;
        assert!(
            e.to_string().starts_with(&format!(
                "t.toml:{}:{col}: scenario `t.ok`, step `s1`, CEL syntax error",
                n + 1
            )),
            "{e}"
        );
        let e = load_one(&OK.replace("cause:X", "cause:Y")).unwrap_err();
        assert!(e.to_string().contains("no cause `Y`"), "{e}");
        let e = load_one(&OK.replace("vas.unsolicited_subscription", "vas.unsolicited")).unwrap_err();
        assert!(e.to_string().contains("unknown category `vas.unsolicited`"), "{e}");
        let e = load_one(&OK.replace("{{ 100 | money }}", "{{ view.acount.balance_fen }}")).unwrap_err();
        assert!(e.to_string().contains("acount"), "{e}");
        let e = load_one(&OK.replace("{{ 100 | money }}", "{% if %}")).unwrap_err();
        assert!(e.to_string().contains("reply"), "{e}");
    }

    #[test]
    fn values_see_the_values_above_them_in_their_step() {
        let text = OK
            .replace(
                "expr = 'view.vas_subscriptions.exists(v, v.consent_record == \"\")'",
                "expr = 'values.second == 6'",
            )
            .replace(
                "then = \"cause:X\"",
                "then = \"cause:X\"\n[steps.values]\nzfirst = '2'\nsecond = 'values.zfirst * 3'",
            );
        let set = load_one(&text).unwrap();
        let s = &set.scenarios[0];
        // File order, not name order.
        let names: Vec<&str> = s.steps[0].values.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["zfirst", "second"]);
        let r = run_on_empty_view(s);
        assert_eq!(r.outcome, crate::diagnosis::run::RunOutcome::Cause(0));
        let shown: Vec<(String, String)> = r.trace[0]
            .values
            .iter()
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect();
        assert_eq!(
            shown,
            [("zfirst".to_string(), "2".to_string()), ("second".into(), "6".into())]
        );
        // A value below cannot be used above.
        let e = load_one(&text.replace(
            "zfirst = '2'\nsecond = 'values.zfirst * 3'",
            "second = 'values.zfirst * 3'\nzfirst = '2'",
        ))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("`values.zfirst` is not computed by an earlier step or above it in this step"),
            "{e}"
        );
    }

    #[test]
    fn a_condition_that_is_not_true_or_false_is_reported_at_load() {
        let bad = OK.replace(
            "expr = 'view.vas_subscriptions.exists(v, v.consent_record == \"\")'",
            "expr = 'view.vas_subscriptions'",
        );
        let e = load_one(&bad).unwrap_err();
        let (n, line) = bad.lines().enumerate().find(|(_, l)| l.starts_with("expr")).unwrap();
        assert_eq!(
            e.to_string(),
            format!(
                "t.toml:{}:{}: scenario `t.ok`, step `s1`, must be true or false, but gives a list of complaint.v1.VasSubscription; compare it (`==`, `>`, `size(…) > 0`)",
                n + 1,
                line.find('v').unwrap() + 1
            )
        );
        let e = load_one(&OK.replacen("[[steps]]", "precondition = 'view.account.balance_fen'\n\n[[steps]]", 1))
            .unwrap_err();
        assert!(
            e.to_string().contains("must be true or false, but gives a number"),
            "{e}"
        );
    }

    #[test]
    fn answers_are_compared_with_their_allowed_values_at_load() {
        let q = "[[questions]]\nid = \"x\"\ntext = \"?\"\nanswers = [{ value = \"yes\", label = \"是\" }, { value = \"no\", label = \"否\" }]\n\n[[steps]]";
        let with = |expr: &str| {
            OK.replacen("[[steps]]", q, 1)
                .replace("description = \"d\"", "description = \"d\"\nask = \"x\"")
                .replace(
                    "expr = 'view.vas_subscriptions.exists(v, v.consent_record == \"\")'",
                    &format!("expr = '{expr}'"),
                )
        };
        assert!(load_one(&with("answers.x == \"yes\"")).is_ok());
        let bad = with("answers.x == \"ys\"");
        let e = load_one(&bad).unwrap_err();
        let (n, line) = bad.lines().enumerate().find(|(_, l)| l.starts_with("expr")).unwrap();
        assert_eq!(
            e.to_string(),
            format!(
                "t.toml:{}:{}: scenario `t.ok`, step `s1`, \"ys\" is not an allowed answer to `x`; allowed: yes, no",
                n + 1,
                line.find("\"ys").unwrap() + 1
            )
        );
        let e = load_one(&with("answers.x in [\"no\", \"maybe\"]")).unwrap_err();
        assert!(
            e.to_string().contains("\"maybe\" is not an allowed answer to `x`"),
            "{e}"
        );
    }

    #[test]
    fn equal_priorities_in_a_category_are_reported_at_the_later_file() {
        let other = OK
            .replace("t.ok", "t.other")
            .replace("code = \"X\"", "code = \"Y\"")
            .replace("cause:X", "cause:Y");
        let files = [
            (
                "a.toml".to_string(),
                OK.replace("[[steps]]", "priority = 20\n\n[[steps]]"),
            ),
            (
                "b.toml".to_string(),
                other.replace("[[steps]]", "priority = 20\n\n[[steps]]"),
            ),
        ];
        let e = load_texts(&files, Path::new("scenarios"), &LoadOptions::default()).unwrap_err();
        let (n, _) = files[1]
            .1
            .lines()
            .enumerate()
            .find(|(_, l)| l.starts_with("priority"))
            .unwrap();
        assert_eq!(
            e.to_string(),
            format!(
                "b.toml:{}:1: scenario `t.other`, priority 20 in category `vas.unsolicited_subscription` is also \
                 `t.ok`'s (a.toml), and both can conclude a cause: which one a subscriber gets would depend on \
                 file names; give one a higher priority",
                n + 1
            )
        );
        // Different priorities load.
        let files = [
            files[0].clone(),
            (
                "b.toml".into(),
                other.replace("[[steps]]", "priority = 21\n\n[[steps]]"),
            ),
        ];
        assert!(load_texts(&files, Path::new("scenarios"), &LoadOptions::default()).is_ok());
    }

    /// `OK` with `values` computed by its step and its expression, reply and an action replaced.
    fn typed(values: &str, expr: &str, reply: &str, action: &str) -> String {
        OK.replace(
            "expr = 'view.vas_subscriptions.exists(v, v.consent_record == \"\")'",
            &format!("expr = '{expr}'"),
        )
        .replace(
            "then = \"cause:X\"",
            &format!("then = \"cause:X\"\n[steps.values]\n{values}"),
        )
        .replace(
            "reply = \"{{ 100 | money }}\"",
            &format!("reply = \"{reply}\"\n{action}"),
        )
    }

    fn line_of(text: &str, starts: &str) -> usize {
        text.lines().position(|l| l.starts_with(starts)).unwrap() + 1
    }

    #[test]
    fn field_paths_into_computed_values_are_checked_at_load() {
        let vals = "un = 'view.vas_subscriptions.filter(v, v.consent_record == \"\")'";
        let good = typed(
            vals,
            "values.un.exists(v, v.monthly_fee_fen > 0)",
            "{{ values.un.0.service_name }}",
            "",
        );
        assert!(load_one(&good).is_ok(), "{:?}", load_one(&good).err());
        // In an expression: the items of a filtered list keep their message type.
        let bad = typed(vals, "values.un.exists(v, v.monthly_fe_fen > 0)", "x", "");
        let e = load_one(&bad).unwrap_err().to_string();
        let line = bad.lines().find(|l| l.starts_with("expr")).unwrap();
        assert!(
            e.starts_with(&format!(
                "t.toml:{}:{}:",
                line_of(&bad, "expr"),
                line.find("monthly_fe_fen").unwrap() + 1
            )),
            "{e}"
        );
        assert!(
            e.contains(
                "`monthly_fe_fen` is not a field of complaint.v1.VasSubscription (did you mean `monthly_fee_fen`?)"
            ),
            "{e}"
        );
        // In a template.
        let bad = typed(vals, "size(values.un) > 0", "{{ values.un.0.service_nme }}", "");
        let e = load_one(&bad).unwrap_err().to_string();
        assert!(e.starts_with(&format!("t.toml:{}:", line_of(&bad, "reply"))), "{e}");
        assert!(
            e.contains("`values.un.0.service_nme`: `service_nme` is not a field of complaint.v1.VasSubscription"),
            "{e}"
        );
    }

    #[test]
    fn a_template_filter_given_the_wrong_kind_of_value_is_reported_at_load() {
        let vals = "names = 'view.vas_subscriptions.map(v, v.service_name)'";
        let bad = typed(vals, "size(values.names) > 0", "共{{ values.names | money }}", "");
        let e = load_one(&bad).unwrap_err().to_string();
        assert!(e.starts_with(&format!("t.toml:{}:", line_of(&bad, "reply"))), "{e}");
        assert!(
            e.contains("`values.names | money`: `money` formats an amount in fen (a number), but `values.names` is a list of strings"),
            "{e}"
        );
        let e = load_one(&typed(vals, "true", "{{ view.account.status | date }}", ""))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`date` formats a timestamp, but `view.account.status` is an enum value"),
            "{e}"
        );
        assert!(load_one(&typed(
            vals,
            "true",
            "{{ values.names | length }}{{ view.account.balance_fen | money }}",
            ""
        ))
        .is_ok());
    }

    #[test]
    fn a_template_using_a_value_not_computed_on_the_path_to_its_cause_is_reported() {
        // s1 concludes X before s2 computes `late`.
        let text = OK
            .replace("then = \"cause:X\"", "then = \"cause:X\"\n\n[[steps]]\nid = \"s2\"\ndescription = \"d2\"\nexpr = 'values.late > 0'\nthen = \"cause:X\"\n[steps.values]\nlate = '1'")
            .replace("reply = \"{{ 100 | money }}\"", "reply = \"{{ values.late | money }}\"");
        let e = load_one(&text).unwrap_err().to_string();
        assert!(e.starts_with(&format!("t.toml:{}:", line_of(&text, "reply"))), "{e}");
        assert!(
            e.contains("`values.late` is not computed on every path to cause `X`"),
            "{e}"
        );
        // Concluded only after it is computed: fine.
        assert!(load_one(&text.replacen("then = \"cause:X\"", "then = \"next\"", 1)).is_ok());
    }

    #[test]
    fn an_action_argument_of_the_wrong_kind_is_reported_at_load() {
        let action = "[[causes.actions]]\nkind = \"refund\"\ndescription = \"退费\"\namount_fen = 'view.msisdn'";
        let bad = typed("n = '1'", "true", "r", action);
        let e = load_one(&bad).unwrap_err().to_string();
        let line = bad.lines().find(|l| l.starts_with("amount_fen")).unwrap();
        assert!(
            e.starts_with(&format!(
                "t.toml:{}:{}:",
                line_of(&bad, "amount_fen"),
                line.find('\'').unwrap() + 1
            )),
            "{e}"
        );
        assert!(
            e.contains("action argument `amount_fen` must be a number (fen), but `view.msisdn` gives a string"),
            "{e}"
        );
        let ok = typed("n = '1'", "true", "r", &action.replace("view.msisdn", "values.n * 100"));
        assert!(load_one(&ok).is_ok(), "{:?}", load_one(&ok).err());
    }

    #[test]
    fn a_run_time_evaluation_error_names_its_place_in_the_trace() {
        let text = typed("zero = '0'", "10 / values.zero == 1", "r", "");
        let set = load_one(&text).unwrap();
        let r = run_on_empty_view(&set.scenarios[0]);
        let line = text.lines().find(|l| l.starts_with("expr")).unwrap();
        let place = format!("t.toml:{}:{}", line_of(&text, "expr"), line.find('1').unwrap() + 1);
        let error = r.trace[0].error.clone().unwrap();
        assert!(error.starts_with(&format!("{place}: ")), "{error}");
        assert!(error.to_lowercase().contains("divi"), "{error}");
    }
}
