//! Test cases beside scenarios: `<scenario>.cases.toml` next to `<scenario>.toml` holds cases, each a
//! fixture (a demo number, or a partial view in the proto's JSON form), the complaint's text and answers,
//! and what the diagnosis must give: the category, the scenario, the cause (or the question asked, or no
//! cause) and figures the reply must contain.
//!
//! This module reads case files ([`parse_cases`]), runs one case over a view ([`run_case`]: no store, no
//! audit, nothing recorded), says how the outcome differs from the expectation, and counts what the cases
//! exercise ([`CoverageTable`]): which causes, questions and step branches. Resolving a demo number to its
//! view needs the demo data, which is the caller's (`complaint-gateway scenarios test` seeds it).
use super::load::LoadErrors;
use super::model::ScenarioSet;
use super::run::RunOutcome;
use super::{DiagnoseInput, Engine};
use crate::assets::Folder;
use crate::proto::complaint::v1::SubscriberView;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

/// Case files end in this.
pub const CASES_SUFFIX: &str = ".cases.toml";

/// Whether a file name is a case file (not a scenario).
pub fn is_case_file(name: &str) -> bool {
    name.ends_with(CASES_SUFFIX)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CasesToml {
    #[serde(default)]
    cases: Vec<toml::Spanned<CaseToml>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseToml {
    name: String,
    /// A demo subscriber's number.
    number: Option<String>,
    /// A partial `SubscriberView` in the proto's JSON form.
    view: Option<String>,
    text: String,
    /// The category the request names; none: the classifier decides.
    category: Option<String>,
    #[serde(default)]
    answers: BTreeMap<String, String>,
    expect: ExpectToml,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectToml {
    category: Option<String>,
    scenario: Option<String>,
    cause: Option<String>,
    question: Option<String>,
    #[serde(default)]
    no_cause: bool,
    #[serde(default)]
    figures: Vec<String>,
}

/// Where a case's view comes from.
#[derive(Debug, Clone)]
pub enum Fixture {
    /// A demo subscriber's number (resolved by the caller from the demo data).
    Number(String),
    /// A view written in the case.
    View(Box<SubscriberView>),
}

/// What a case expects.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expect {
    pub category: Option<String>,
    pub scenario: Option<String>,
    /// `Some(code)`: this cause; checked with `question` and `no_cause` as the outcome.
    pub cause: Option<String>,
    pub question: Option<String>,
    pub no_cause: bool,
    pub figures: Vec<String>,
}

/// One test case.
#[derive(Debug, Clone)]
pub struct TestCase {
    /// The case file, relative to the folder, and the line of its `[[cases]]`.
    pub file: String,
    pub line: usize,
    pub name: String,
    pub fixture: Fixture,
    pub text: String,
    pub category: Option<String>,
    pub answers: BTreeMap<String, String>,
    pub expect: Expect,
}

impl TestCase {
    /// `file:line (name)`.
    pub fn label(&self) -> String {
        format!("{}:{} ({})", self.file, self.line, self.name)
    }
}

/// A view in the proto's JSON form (field names as in the proto or in lowerCamelCase).
pub fn view_from_json(json: &str) -> Result<SubscriberView, String> {
    let desc = crate::schema::pool()
        .get_message_by_name("complaint.v1.SubscriberView")
        .ok_or("the schema has no complaint.v1.SubscriberView")?;
    let mut de = serde_json::Deserializer::from_str(json);
    let msg = prost_reflect::DynamicMessage::deserialize(desc, &mut de).map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    msg.transcode_to::<SubscriberView>().map_err(|e| e.to_string())
}

/// The cases of one case file; every problem is reported with its line.
pub fn parse_cases(file: &str, text: &str) -> Result<Vec<TestCase>, LoadErrors> {
    let src = super::load::errors::Source { file, text };
    let parsed: CasesToml = toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        LoadErrors(vec![src.at(span, e.message().to_string())])
    })?;
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for spanned in parsed.cases {
        let span = spanned.span();
        let line = src.line_col(span.start).0;
        let c = spanned.into_inner();
        let err = |m: String| src.at(span.clone(), format!("case `{}`: {m}", c.name));
        let fixture = match (&c.number, &c.view) {
            (Some(n), None) => Fixture::Number(n.clone()),
            (None, Some(v)) => match view_from_json(v) {
                Ok(v) => Fixture::View(Box::new(v)),
                Err(e) => {
                    errors.push(err(format!("`view` is not a SubscriberView in JSON: {e}")));
                    continue;
                }
            },
            _ => {
                errors.push(err(
                    "give exactly one of `number` (a demo subscriber) or `view` (JSON)".into()
                ));
                continue;
            }
        };
        let e = &c.expect;
        let outcomes = usize::from(e.cause.is_some()) + usize::from(e.question.is_some()) + usize::from(e.no_cause);
        if outcomes != 1 {
            errors.push(err(
                "`expect` needs exactly one of `cause`, `question` or `no_cause = true`".into(),
            ));
            continue;
        }
        out.push(TestCase {
            file: file.to_string(),
            line,
            name: c.name.clone(),
            fixture,
            text: c.text.clone(),
            category: c.category.clone(),
            answers: c.answers.clone(),
            expect: Expect {
                category: e.category.clone(),
                scenario: e.scenario.clone(),
                cause: e.cause.clone(),
                question: e.question.clone(),
                no_cause: e.no_cause,
                figures: e.figures.clone(),
            },
        });
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(LoadErrors(errors))
    }
}

/// Every case file of `folder` (its `*.cases.toml`), parsed.
pub fn load_cases(folder: &Folder) -> Result<Vec<TestCase>, LoadErrors> {
    let files = super::load::folder_texts(folder)?;
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (name, text) in files.iter().filter(|(n, _)| is_case_file(n)) {
        match parse_cases(name, text) {
            Ok(mut c) => out.append(&mut c),
            Err(mut e) => errors.append(&mut e.0),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(LoadErrors(errors))
    }
}

/// What a diagnosis gave, in the terms a case expects.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Got {
    pub category: String,
    pub scenario: String,
    pub cause: Option<String>,
    pub question: Option<String>,
    pub reply: String,
    /// (scenario, step, branch taken: `then`, `else` or `ask`) of the steps of every scenario that ran.
    pub branches: Vec<(String, String, String)>,
    /// Errors of scenarios of the category that failed at run time (`scenario: step: message`).
    pub errors: Vec<String>,
}

impl fmt::Display for Got {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let outcome = match (&self.cause, &self.question) {
            (Some(c), _) => format!("cause {c}"),
            (None, Some(q)) => format!("question {q}"),
            _ => "no cause".into(),
        };
        write!(f, "{} / {} / {outcome}", self.category, self.scenario)
    }
}

/// A case as it ran: what it gave and how that differs from what it expects (empty: it passed).
#[derive(Debug, Clone)]
pub struct CaseRun {
    pub case: TestCase,
    pub got: Got,
    pub diffs: Vec<String>,
}

impl CaseRun {
    pub fn passed(&self) -> bool {
        self.diffs.is_empty()
    }
}

/// Diagnoses `view` for `case` with `set` (nothing recorded, nothing audited) and compares. `route`
/// chooses a category for a case that names none (the classifier, normally).
pub fn run_case(
    engine: &Engine,
    set: &Arc<ScenarioSet>,
    case: &TestCase,
    view: &SubscriberView,
    route: &dyn Fn(&str) -> Result<String, String>,
) -> CaseRun {
    let mut got = Got::default();
    let mut diffs = Vec::new();
    let category = match &case.category {
        Some(c) => Ok(c.clone()),
        None => route(&case.text),
    };
    match category {
        Err(e) => diffs.push(format!("routing failed: {e}")),
        Ok(category) => {
            got.category = category.clone();
            let answers: Vec<(String, String)> = case.answers.clone().into_iter().collect();
            match Engine::check_answers(set, &answers) {
                Err(e) => diffs.push(format!("answers: {e}")),
                Ok(answers) => {
                    let input = DiagnoseInput {
                        category,
                        answers,
                        complaint_id: "CASE".into(),
                        msisdn: view.msisdn.clone(),
                        now: None,
                        text: case.text.clone(),
                    };
                    match engine.diagnose(set.clone(), &input, view) {
                        Err(e) => diffs.push(format!("diagnosis failed: {e}")),
                        Ok(d) => {
                            if let Some(run) = d.chosen_run() {
                                got.scenario = run.scenario.id.clone();
                            }
                            // Every scenario of the category ran: each step's branch counts.
                            for run in &d.runs {
                                for t in &run.trace {
                                    let branch = match (t.result.as_deref(), t.outcome.as_str()) {
                                        (_, o) if o.starts_with("ask ") => "ask",
                                        (Some("true"), _) => "then",
                                        (Some("false"), _) => "else",
                                        _ => continue,
                                    };
                                    got.branches
                                        .push((run.scenario.id.clone(), t.step_id.clone(), branch.into()));
                                }
                            }
                            match d.outcome() {
                                RunOutcome::Cause(_) => {
                                    got.cause = d.conclusion.as_ref().map(|c| c.code.clone());
                                    got.reply = d.conclusion.as_ref().map(|c| c.reply.clone()).unwrap_or_default();
                                }
                                RunOutcome::Question(q) => got.question = Some(q.clone()),
                                // No cause: the figures are looked for in what the handler is told.
                                _ => got.reply = d.handling.clone(),
                            }
                            for r in &d.runs {
                                if let RunOutcome::Error { step, message } = &r.outcome {
                                    got.errors.push(format!("{}: step `{step}`: {message}", r.scenario.id));
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    if diffs.is_empty() {
        diffs = compare(&case.expect, &got);
    }
    CaseRun {
        case: case.clone(),
        got,
        diffs,
    }
}

/// How `got` differs from `expect`, one line each.
pub fn compare(expect: &Expect, got: &Got) -> Vec<String> {
    let mut out = Vec::new();
    let mut want = |what: &str, e: Option<&str>, g: Option<&str>| {
        if let Some(e) = e {
            if Some(e) != g {
                out.push(format!("{what}: expected `{e}`, got `{}`", g.unwrap_or("(none)")));
            }
        }
    };
    want("category", expect.category.as_deref(), Some(got.category.as_str()));
    want(
        "scenario",
        expect.scenario.as_deref(),
        Some(got.scenario.as_str()).filter(|s| !s.is_empty()),
    );
    let outcome = |cause: Option<&str>, question: Option<&str>| match (cause, question) {
        (Some(c), _) => format!("cause {c}"),
        (None, Some(q)) => format!("question {q}"),
        _ => "no cause".to_string(),
    };
    let (e, g) = (
        outcome(expect.cause.as_deref(), expect.question.as_deref()),
        outcome(got.cause.as_deref(), got.question.as_deref()),
    );
    if e != g {
        out.push(format!("outcome: expected {e}, got {g}"));
    }
    for f in &expect.figures {
        if !got.reply.contains(f.as_str()) {
            out.push(format!("reply lacks `{f}`: {}", got.reply));
        }
    }
    if !out.is_empty() && !got.errors.is_empty() {
        out.push(format!("scenarios that failed: {}", got.errors.join("; ")));
    }
    out
}

/// What the cases exercise of each scenario: causes concluded, questions asked, step branches taken.
#[derive(Debug, Default)]
pub struct CoverageTable {
    rows: Vec<CoverageRow>,
}

#[derive(Debug)]
struct CoverageRow {
    scenario: String,
    causes: (Vec<String>, Vec<String>),
    questions: (Vec<String>, Vec<String>),
    branches: (Vec<String>, Vec<String>),
}

impl CoverageTable {
    /// Counts what `runs` exercised of every scenario of `set`. A step has a `then` and an `else` branch
    /// where they lead to different places, and an `ask` branch where it asks a question.
    pub fn of(set: &ScenarioSet, runs: &[CaseRun]) -> CoverageTable {
        let causes: BTreeSet<(&str, &str)> = runs
            .iter()
            .filter_map(|r| r.got.cause.as_deref().map(|c| (r.got.scenario.as_str(), c)))
            .collect();
        let questions: BTreeSet<(&str, &str)> = runs
            .iter()
            .filter_map(|r| r.got.question.as_deref().map(|q| (r.got.scenario.as_str(), q)))
            .collect();
        let branches: BTreeSet<(&str, &str, &str)> = runs
            .iter()
            .flat_map(|r| {
                r.got
                    .branches
                    .iter()
                    .map(|(s, st, b)| (s.as_str(), st.as_str(), b.as_str()))
            })
            .collect();
        let split = |all: Vec<String>, hit: &dyn Fn(&str) -> bool| -> (Vec<String>, Vec<String>) {
            all.into_iter().partition(|x| hit(x))
        };
        let rows = set
            .scenarios
            .iter()
            .map(|s| {
                let id = s.id.as_str();
                let all_causes: Vec<String> = s.causes.iter().map(|c| c.code.clone()).collect();
                let asked: Vec<String> = s
                    .steps
                    .iter()
                    .filter_map(|st| st.ask.clone())
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                let mut all_branches = Vec::new();
                for st in &s.steps {
                    if st.ask.is_some() {
                        all_branches.push(format!("{}:ask", st.id));
                    }
                    all_branches.push(format!("{}:then", st.id));
                    // `expr = 'true'` (a step that only computes values) has one way on.
                    if st.then != st.otherwise && st.expr.text.trim() != "true" {
                        all_branches.push(format!("{}:else", st.id));
                    }
                }
                // Where both results lead to the same place, either counts as the one branch.
                let single: BTreeSet<&str> = s
                    .steps
                    .iter()
                    .filter(|st| st.then == st.otherwise || st.expr.text.trim() == "true")
                    .map(|st| st.id.as_str())
                    .collect();
                CoverageRow {
                    scenario: id.to_string(),
                    causes: split(all_causes, &|c| causes.contains(&(id, c))),
                    questions: split(asked, &|q| questions.contains(&(id, q))),
                    branches: split(all_branches, &|b| {
                        let (step, br) = b.rsplit_once(':').unwrap_or((b, ""));
                        branches.contains(&(id, step, br))
                            || (br == "then" && single.contains(step) && branches.contains(&(id, step, "else")))
                    }),
                }
            })
            .collect();
        CoverageTable { rows }
    }

    /// Causes, questions and branches no case exercises, as `scenario: item`.
    pub fn missing(&self) -> (Vec<String>, Vec<String>, Vec<String>) {
        let list = |f: &dyn Fn(&CoverageRow) -> &Vec<String>| -> Vec<String> {
            self.rows
                .iter()
                .flat_map(|r| f(r).iter().map(move |x| format!("{}: {x}", r.scenario)))
                .collect()
        };
        (
            list(&|r| &r.causes.1),
            list(&|r| &r.questions.1),
            list(&|r| &r.branches.1),
        )
    }
}

impl fmt::Display for CoverageTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self.rows.iter().map(|r| r.scenario.len()).max().unwrap_or(8).max(8);
        writeln!(
            f,
            "{:width$}  {:>7}  {:>9}  {:>8}  not exercised",
            "scenario", "causes", "questions", "branches"
        )?;
        let frac = |p: &(Vec<String>, Vec<String>)| format!("{}/{}", p.0.len(), p.0.len() + p.1.len());
        let mut totals = [(0, 0); 3];
        for r in &self.rows {
            let missing: Vec<&str> = r
                .causes
                .1
                .iter()
                .chain(&r.questions.1)
                .chain(&r.branches.1)
                .map(|s| s.as_str())
                .collect();
            for (t, p) in totals.iter_mut().zip([&r.causes, &r.questions, &r.branches]) {
                t.0 += p.0.len();
                t.1 += p.0.len() + p.1.len();
            }
            writeln!(
                f,
                "{:width$}  {:>7}  {:>9}  {:>8}  {}",
                r.scenario,
                frac(&r.causes),
                frac(&r.questions),
                frac(&r.branches),
                if missing.is_empty() {
                    "-".to_string()
                } else {
                    missing.join(", ")
                }
            )?;
        }
        write!(
            f,
            "{:width$}  {:>7}  {:>9}  {:>8}",
            "total",
            format!("{}/{}", totals[0].0, totals[0].1),
            format!("{}/{}", totals[1].0, totals[1].1),
            format!("{}/{}", totals[2].0, totals[2].1)
        )
    }
}
