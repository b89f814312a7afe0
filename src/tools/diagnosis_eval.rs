//! The diagnosis evaluation: complaint texts nobody tuned the classifier or the scenarios on, each about a
//! demo subscriber, with the outcome a careful handler would reach and the subscriber's figures the
//! reply must carry (`corpus/eval/diagnosis.jsonl`, see its README). Each text goes the way `Diagnose`
//! takes it — classifier, clauses, line state, routing, scenarios, reply — over the demo data as of the
//! demo's date, offline (nothing recorded). `complaint-gateway scenarios eval [FILE]` prints the figures;
//! `tests/diagnosis_eval.rs` holds them to the bars.
use crate::assets::Folder;
use crate::diagnosis::provenance::Provenance;
use crate::diagnosis::route::{Candidates, Routed};
use crate::diagnosis::run::RunOutcome;
use crate::diagnosis::{DiagnoseInput, Engine};
use crate::tools::scenario_cases::{demo_now, DemoViews};
use anyhow::Context;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::sync::Arc;

/// One evaluation text.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalItem {
    pub id: String,
    /// A demo subscriber's number.
    pub number: String,
    pub text: String,
    /// `cause:CODE`, `question:ID` (the data cannot decide without the customer), or `no_cause`.
    pub expect: String,
    /// Other outcomes as right as `expect` (e.g. a question before the same cause).
    #[serde(default)]
    pub also: Vec<String>,
    /// Strings the reply (or, for no cause, the handling note) must carry: the subscriber's own figures.
    #[serde(default)]
    pub figures: Vec<String>,
    /// A second issue's expected cause (`cause:CODE`), if the text has one.
    #[serde(default)]
    pub second: Option<String>,
    /// What makes it hard: colloquial, typo, homophone, dialect, pinyin, english, long, number, two_issue,
    /// contradicts (a claim the data does not bear out), normal (no anomaly), line_state.
    #[serde(default)]
    pub kinds: Vec<String>,
}

/// What one text got.
#[derive(Debug, Clone)]
pub struct EvalRun {
    pub item: EvalItem,
    /// `cause:CODE`, `question:ID`, `no_cause`, `cannot_decide`.
    pub got: String,
    pub category: String,
    pub reply: String,
    pub routing_reason: String,
    pub secondary: Vec<String>,
    /// Right outcome, with every figure in the reply.
    pub right: bool,
    /// A cause stated that the text's expectation does not allow.
    pub wrong_cause: bool,
    pub missing_figures: Vec<String>,
}

/// The figures of a run over an evaluation file.
pub struct EvalReport {
    pub runs: Vec<EvalRun>,
}

impl EvalReport {
    pub fn right(&self) -> usize {
        self.runs.iter().filter(|r| r.right).count()
    }
    pub fn wrong_causes(&self) -> usize {
        self.runs.iter().filter(|r| r.wrong_cause).count()
    }
    pub fn accuracy(&self) -> f64 {
        self.right() as f64 / self.runs.len().max(1) as f64
    }
    /// Second issues expected, and found.
    pub fn seconds(&self) -> (usize, usize) {
        let with: Vec<&EvalRun> = self.runs.iter().filter(|r| r.item.second.is_some()).collect();
        let found = with
            .iter()
            .filter(|r| r.secondary.iter().any(|s| Some(s) == r.item.second.as_ref()))
            .count();
        (with.len(), found)
    }

    /// The summary, per kind, then each miss.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let (seconds, found) = self.seconds();
        let _ = writeln!(
            out,
            "texts {}; right cause/outcome with the subscriber's figures {} ({:.1}%); confident wrong causes {}; second issues found {found}/{seconds}",
            self.runs.len(),
            self.right(),
            100.0 * self.accuracy(),
            self.wrong_causes()
        );
        let mut kinds: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for r in &self.runs {
            for k in &r.item.kinds {
                let e = kinds.entry(k.as_str()).or_default();
                e.0 += 1;
                e.1 += usize::from(r.right);
            }
        }
        for (k, (n, right)) in kinds {
            let _ = writeln!(out, "  {k:<12} {right}/{n}");
        }
        for r in self.runs.iter().filter(|r| !r.right || r.wrong_cause) {
            let _ = writeln!(
                out,
                "{} {}: {} — expected {}, got {} ({}){}{}\n    reply: {}\n    why: {}",
                if r.wrong_cause { "WRONG" } else { "miss " },
                r.item.id,
                r.item.text,
                r.item.expect,
                r.got,
                r.category,
                if r.missing_figures.is_empty() {
                    String::new()
                } else {
                    format!("; figures missing: {}", r.missing_figures.join(", "))
                },
                if r.secondary.is_empty() {
                    String::new()
                } else {
                    format!("; second: {}", r.secondary.join(", "))
                },
                r.reply.replace('\n', " "),
                r.routing_reason
            );
        }
        for r in &self.runs {
            if let Some(second) = r.item.second.as_ref().filter(|s| !r.secondary.contains(s)) {
                let _ = writeln!(
                    out,
                    "second missed {}: {} — expected {second}, got {}",
                    r.item.id,
                    r.item.text,
                    if r.secondary.is_empty() {
                        "none".to_string()
                    } else {
                        r.secondary.join(", ")
                    }
                );
            }
        }
        out
    }
}

/// Reads an evaluation file (JSON lines; `#` lines and blank lines skipped).
pub fn read_items(text: &str) -> anyhow::Result<Vec<EvalItem>> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|(i, l)| serde_json::from_str(l).with_context(|| format!("line {}", i + 1)))
        .collect()
}

/// The outcome of a routed diagnosis as the file writes it, and its reply (or handling note).
pub fn outcome_of(r: &Routed) -> (String, String) {
    let d = &r.primary.diagnosis;
    match d.outcome() {
        RunOutcome::Cause(_) => (
            format!("cause:{}", d.conclusion.as_ref().map(|c| c.code.as_str()).unwrap_or("")),
            d.conclusion.as_ref().map(|c| c.reply.clone()).unwrap_or_default(),
        ),
        RunOutcome::Question(q) => (format!("question:{q}"), d.handling.clone()),
        RunOutcome::Undecided { .. } => ("cannot_decide".into(), d.handling.clone()),
        _ => ("no_cause".into(), d.handling.clone()),
    }
}

/// Diagnoses every item over the demo data with the scenarios of `folder` and the shared classifier.
pub async fn run(folder: &Folder, items: &[EvalItem]) -> anyhow::Result<EvalReport> {
    let engine = Engine::load(folder.clone(), Some(demo_now())).map_err(|e| anyhow::anyhow!("{e}"))?;
    let set = engine.scenarios();
    let numbers: BTreeSet<String> = items.iter().map(|i| i.number.clone()).collect();
    let views = DemoViews::read(&numbers).await?.into_map();
    let clf = crate::classify::Classifier::shared();
    let mut runs = Vec::new();
    for item in items {
        let view = views.get(&item.number).context("view")?;
        let cands = Candidates::of_text(clf, &item.text).map_err(|e| anyhow::anyhow!("{}: {e}", item.id))?;
        let input = DiagnoseInput {
            category: cands.first().0.to_string(),
            answers: Default::default(),
            complaint_id: item.id.clone(),
            msisdn: item.number.clone(),
            now: None,
            text: item.text.clone(),
        };
        let routed = engine
            .diagnose_routed(set.clone(), &cands, &input, view, Arc::new(Provenance::complete()))
            .map_err(|e| anyhow::anyhow!("{}: {e}", item.id))?;
        let (got, reply) = outcome_of(&routed);
        let allowed: Vec<&String> = std::iter::once(&item.expect).chain(&item.also).collect();
        let missing_figures: Vec<String> = item
            .figures
            .iter()
            .filter(|f| !reply.contains(f.as_str()))
            .cloned()
            .collect();
        let right = allowed.contains(&&got) && missing_figures.is_empty() && !reply.trim().is_empty();
        let wrong_cause = got.starts_with("cause:") && !allowed.contains(&&got);
        let secondary = routed
            .secondary
            .iter()
            .filter_map(|f| f.diagnosis.conclusion.as_ref().map(|c| format!("cause:{}", c.code)))
            .collect();
        runs.push(EvalRun {
            item: item.clone(),
            got,
            category: routed.primary.routing.category.clone(),
            reply,
            routing_reason: routed.primary.routing.reason.clone(),
            secondary,
            right,
            wrong_cause,
            missing_figures,
        });
    }
    Ok(EvalReport { runs })
}
