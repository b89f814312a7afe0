//! Running a scenario folder's test cases (`*.cases.toml`) offline: `complaint-gateway scenarios test` and
//! `scenarios check --against`. A case naming a demo number gets that subscriber's view from the demo data,
//! seeded for the occasion into SQLite files in a temporary folder and read through the shipped adapters,
//! as of the demo's date; a case with a view of its own uses it. Nothing is recorded and nothing audited:
//! no gateway store is opened.
use crate::adapters::registry::Registry;
use crate::assets::Folder;
use crate::config::{Config, SourceConfig};
use crate::diagnosis::load::LoadErrors;
use crate::diagnosis::model::ScenarioSet;
use crate::diagnosis::testcases::{self, CaseRun, CoverageTable, Fixture, TestCase};
use crate::diagnosis::Engine;
use crate::proto::complaint::v1::SubscriberView;
use crate::tools::seed::{self, load};
use anyhow::Context;
use chrono::{DateTime, FixedOffset, NaiveDate};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

/// The date the demo data is as of, and so the `now` cases run at: 2026-11-28 10:00 Beijing time.
pub fn demo_now() -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339("2026-11-28T10:00:00+08:00").expect("valid time")
}

fn demo_date() -> NaiveDate {
    demo_now().date_naive()
}

/// The demo subscriber index of a number, if it is a demo number.
pub fn demo_index(number: &str) -> Option<u64> {
    let i: u64 = number.get(3..)?.parse().ok()?;
    (seed::msisdn(i) == number).then_some(i)
}

/// Views of demo numbers, read once from demo data seeded into a temporary folder.
#[derive(Default)]
pub struct DemoViews {
    views: BTreeMap<String, SubscriberView>,
}

impl DemoViews {
    /// Seeds the demo subscribers up to the highest of `numbers` into SQLite files in a temporary folder
    /// and reads each number's view through the shipped adapters. A number that is not a demo number is an
    /// error naming it.
    pub async fn read(numbers: &BTreeSet<String>) -> anyhow::Result<DemoViews> {
        if numbers.is_empty() {
            return Ok(DemoViews::default());
        }
        let mut max = 0;
        for n in numbers {
            let i = demo_index(n)
                .with_context(|| format!("`{n}` is not a demo number (the demo's are e.g. {})", seed::msisdn(1)))?;
            max = max.max(i);
        }
        let dir = tempfile::tempdir().context("a temporary folder for the demo data")?;
        let urls = load::sqlite_urls(dir.path());
        load::seed_urls(&urls, max + 1, demo_date()).await?;
        let mut cfg = Config::parse("").map_err(anyhow::Error::msg)?;
        for (system, url) in &urls {
            cfg.sources.push(SourceConfig {
                definition: PathBuf::from(format!("{}{}", crate::assets::EMBEDDED_PREFIX, system.name())),
                url: Some(url.clone()),
                url_env: None,
                timeout_ms: 5_000,
                max_connections: 2,
                connect_timeout_ms: 2_000,
                enabled: true,
                stack: Default::default(),
            });
        }
        let registry = Registry::from_config(&cfg, &|_| None).map_err(anyhow::Error::msg)?;
        let reader = crate::view::ViewReader::new(registry);
        let sources = reader.select(&[]).map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut views = BTreeMap::new();
        for n in numbers {
            let read = reader
                .read(n, &sources, &|_| None, None)
                .await
                .map_err(|e| anyhow::anyhow!("reading the demo view of {n}: {e}"))?;
            views.insert(n.clone(), std::sync::Arc::unwrap_or_clone(read.view));
        }
        Ok(DemoViews { views })
    }

    /// The view a case runs over.
    pub fn of<'a>(&'a self, case: &'a TestCase) -> Option<&'a SubscriberView> {
        match &case.fixture {
            Fixture::View(v) => Some(v),
            Fixture::Number(n) => self.views.get(n),
        }
    }

    /// Every resolved view by number.
    pub fn into_map(self) -> BTreeMap<String, SubscriberView> {
        self.views
    }
}

/// The demo numbers `cases` name.
pub fn numbers_of(cases: &[TestCase]) -> BTreeSet<String> {
    cases
        .iter()
        .filter_map(|c| match &c.fixture {
            Fixture::Number(n) => Some(n.clone()),
            Fixture::View(_) => None,
        })
        .collect()
}

/// The classifier's category for a case naming none.
pub fn classify(text: &str) -> Result<String, String> {
    crate::classify::Classifier::shared()
        .classify(text)
        .map(|c| c.category().to_string())
        .map_err(|e| e.to_string())
}

/// The cases of a folder run against a scenario set, and what they exercised.
pub struct Report {
    pub runs: Vec<CaseRun>,
    pub coverage: CoverageTable,
}

impl Report {
    pub fn failed(&self) -> Vec<&CaseRun> {
        self.runs.iter().filter(|r| !r.passed()).collect()
    }

    /// One line per failing case (its file, line and name, then each difference), then the table.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for r in self.failed() {
            out.push_str(&format!("FAIL {}\n", r.case.label()));
            for d in &r.diffs {
                out.push_str(&format!("    {d}\n"));
            }
        }
        out.push_str(&format!(
            "{} case(s): {} passed, {} failed\n\n{}\n",
            self.runs.len(),
            self.runs.len() - self.failed().len(),
            self.failed().len(),
            self.coverage
        ));
        out
    }
}

/// Runs `cases` with the scenarios of `engine` (its set in force), their views from `views`.
pub fn run_cases(engine: &Engine, set: &Arc<ScenarioSet>, cases: &[TestCase], views: &DemoViews) -> Report {
    let runs: Vec<CaseRun> = cases
        .iter()
        .map(|c| match views.of(c) {
            Some(v) => testcases::run_case(engine, set, c, v, &classify),
            None => CaseRun {
                case: c.clone(),
                got: Default::default(),
                diffs: vec!["no view for this case's number".into()],
            },
        })
        .collect();
    let coverage = CoverageTable::of(set, &runs);
    Report { runs, coverage }
}

/// Loads `folder` (its scenarios and its cases) and runs every case. Load problems are errors.
pub async fn test_folder(folder: &Folder) -> anyhow::Result<Report> {
    let engine = Engine::load(folder.clone(), Some(demo_now())).map_err(|e| anyhow::anyhow!("{e}"))?;
    let cases = testcases::load_cases(folder).map_err(|e: LoadErrors| anyhow::anyhow!("{e}"))?;
    let views = DemoViews::read(&numbers_of(&cases)).await?;
    Ok(run_cases(&engine, &engine.scenarios(), &cases, &views))
}

/// Replays the test cases of `old` and of `new` (each once, by file and name) against the scenarios of
/// `new`: every case whose outcome differs from what it expects, as `file:line (name): differences`.
pub async fn regressions(old: &Folder, new: &Folder) -> anyhow::Result<Vec<String>> {
    let engine = Engine::load(new.clone(), Some(demo_now())).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut cases = testcases::load_cases(old).map_err(|e| anyhow::anyhow!("{}: {e}", old.describe()))?;
    let mut seen: BTreeSet<(String, String)> = cases.iter().map(|c| (c.file.clone(), c.name.clone())).collect();
    for c in testcases::load_cases(new).map_err(|e| anyhow::anyhow!("{}: {e}", new.describe()))? {
        if seen.insert((c.file.clone(), c.name.clone())) {
            cases.push(c);
        }
    }
    let views = DemoViews::read(&numbers_of(&cases)).await?;
    let report = run_cases(&engine, &engine.scenarios(), &cases, &views);
    Ok(report
        .failed()
        .iter()
        .map(|r| format!("{}: {}", r.case.label(), r.diffs.join("; ")))
        .collect())
}

/// What `scenarios try` diagnoses: a demo number or a view, a complaint, its category (none: the
/// classifier decides) and answers.
pub struct Trial {
    pub fixture: Fixture,
    pub text: String,
    pub category: Option<String>,
    pub answers: Vec<(String, String)>,
}

/// Diagnoses one complaint with the scenarios of `folder`, offline (demo data as of the demo's date, or
/// the view given; nothing recorded, nothing audited), and describes it: the category, every scenario's
/// outcome, the chosen one's steps with what they computed, then the cause with its explanation, reply
/// and actions, or the question.
pub async fn try_one(folder: &Folder, trial: &Trial) -> anyhow::Result<String> {
    use crate::diagnosis::run::RunOutcome;
    use std::fmt::Write;
    let engine = Engine::load(folder.clone(), Some(demo_now())).map_err(|e| anyhow::anyhow!("{e}"))?;
    let set = engine.scenarios();
    let view = match &trial.fixture {
        Fixture::View(v) => v.as_ref().clone(),
        Fixture::Number(n) => DemoViews::read(&BTreeSet::from([n.clone()]))
            .await?
            .into_map()
            .remove(n)
            .context("no view")?,
    };
    let (category, by) = match &trial.category {
        Some(c) => (c.clone(), "given"),
        None => (classify(&trial.text).map_err(anyhow::Error::msg)?, "classifier"),
    };
    engine.check_category(&category).map_err(|e| anyhow::anyhow!("{e}"))?;
    let answers = Engine::check_answers(&set, &trial.answers).map_err(|e| anyhow::anyhow!("{e}"))?;
    let input = crate::diagnosis::DiagnoseInput {
        category: category.clone(),
        answers,
        complaint_id: "TRY".into(),
        msisdn: view.msisdn.clone(),
        now: None,
        text: trial.text.clone(),
    };
    let d = engine
        .diagnose(set.clone(), &input, &view)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut out = String::new();
    let _ = writeln!(out, "category: {category} ({by})");
    for r in &d.runs {
        let what = match &r.outcome {
            RunOutcome::Cause(c) => format!("cause {}", r.scenario.causes[*c].code),
            RunOutcome::Question(q) => format!("question {q}"),
            RunOutcome::NoCause => "no cause".into(),
            RunOutcome::Undecided { step, missing } => format!(
                "cannot decide at step `{step}`: {}",
                missing.iter().map(|m| m.check()).collect::<Vec<_>>().join("; ")
            ),
            RunOutcome::Error { step, message } => format!("error in step `{step}`: {message}"),
            RunOutcome::NotApplicable => "not applicable".into(),
        };
        let _ = writeln!(out, "  {} (priority {}): {what}", r.scenario.id, r.scenario.priority);
    }
    if let Some(run) = d.chosen_run() {
        let _ = writeln!(out, "steps of {}:", run.scenario.id);
        for t in &run.trace {
            let _ = writeln!(
                out,
                "  {} — {}: {} → {}",
                t.step_id,
                t.description,
                t.result.as_deref().unwrap_or("-"),
                t.outcome
            );
            for r in &t.reads {
                let _ = writeln!(out, "      read {} = {}", r.path, r.value);
            }
            for (k, v) in &t.values {
                let _ = writeln!(out, "      value {k} = {v}");
            }
            if let Some(e) = &t.error {
                let _ = writeln!(out, "      error: {e}");
            }
        }
    }
    match (&d.conclusion, d.pending.first()) {
        (Some(c), _) => {
            let _ = writeln!(out, "cause: {} — {}", c.code, c.title);
            let _ = writeln!(out, "explanation: {}", c.explanation);
            let _ = writeln!(out, "reply: {}", c.reply);
            for a in &c.actions {
                let _ = writeln!(
                    out,
                    "action: {:?}{}{}{}{} — {}",
                    a.kind,
                    if a.amount_fen != 0 {
                        format!(" {} fen", a.amount_fen)
                    } else {
                        String::new()
                    },
                    if a.service_code.is_empty() {
                        String::new()
                    } else {
                        format!(" {}", a.service_code)
                    },
                    if a.element_id.is_empty() {
                        String::new()
                    } else {
                        format!(" {}", a.element_id)
                    },
                    if a.target.is_empty() {
                        String::new()
                    } else {
                        format!(" to {}", a.target)
                    },
                    a.description
                );
            }
        }
        (None, Some(q)) => {
            let allowed: Vec<String> = q.answers.iter().map(|(v, l)| format!("{v} ({l})")).collect();
            let _ = writeln!(out, "question {}: {}\n  answers: {}", q.id, q.text, allowed.join(", "));
        }
        (None, None) => {
            let _ = writeln!(out, "no cause");
        }
    }
    let _ = write!(out, "(a trial: nothing recorded, nothing audited)");
    Ok(out)
}
