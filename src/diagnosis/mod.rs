//! Diagnosis: the steps experienced handlers take to find a complaint's cause, written down as data
//! (`scenarios/*.toml`) and run over the subscriber's unified view.
//!
//! - [`model`]: the compiled scenarios (steps, causes, questions, templates), depending on nothing else
//!   here;
//! - [`load`]: the file format, compiling and checking scenario files into a [`model::ScenarioSet`], load
//!   errors with `file:line:col`, and the render check of every template against a sample view;
//! - [`value`] turns the view into a CEL value; [`run`] runs one scenario step by step; [`reply`] renders
//!   templates; [`conclude`] renders a cause and evaluates its actions;
//! - [`evidence`]: which source stood behind each view field a step read; [`routing`]: which category a
//!   complaint is diagnosed under and why; [`records`]: one row per complaint in the gateway's store;
//! - [`Engine`] holds the loaded set (swapped atomically on reload, see [`reload`]), validates a request
//!   against it, runs every scenario of the category, ranks them and concludes the best one: its cause,
//!   reply and actions, or the question to ask.
//!
//! The files depend one way: `model` ← `load`, `run`, `reply`, `conclude` ← this module (the engine) ←
//! `records`, `reload`. The gRPC surface is `api::diagnosis`; it reads the view through
//! `read::Reads::view_then`, the one path where identity, masking, cache and audit apply.
pub mod bound;
pub mod conclude;
pub use crate::config::diagnosis as config;
pub mod evidence;
pub mod load;
pub mod model;
pub mod period;
pub mod provenance;
pub mod records;
pub mod reload;
pub mod reply;
pub mod route;
pub mod routing;
pub mod run;
pub mod testcases;
pub mod value;

/// The loader under the name it had before loading and the compiled types were separated
/// (`diagnosis::scenario::load_dir`); new code names [`load`].
pub use load as scenario;

pub use conclude::{ActionOut, Conclusion};

use crate::assets::Folder;
use crate::error::Error;
use crate::proto::complaint::v1::{SourceStatus, SubscriberView};
use crate::view::ViewOutcome;
use chrono::{DateTime, FixedOffset, Utc};
use evidence::Coverage;
use load::{LoadErrors, LoadOptions};
use model::{Question, ScenarioSet};
use run::{RunOutcome, ScenarioRun};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// Longest complaint text accepted, in characters.
pub const MAX_TEXT_CHARS: usize = 4_000;
/// Most answers one request may carry.
pub const MAX_ANSWERS: usize = 32;

/// The loaded scenarios and the clock they run against.
pub struct Engine {
    set: RwLock<Arc<ScenarioSet>>,
    /// Where the scenarios come from: a folder on disk, or the set embedded in the binary.
    folder: Folder,
    /// The folder on disk (hot reload polls it), or what is embedded.
    dir: PathBuf,
    opts: LoadOptions,
    /// A fixed `now` (tests, demos over data of a fixed date); the wall clock otherwise.
    clock: Option<DateTime<FixedOffset>>,
    /// The wall clock (the system's; tests replace it to show a result does not depend on the hour).
    wall: WallClock,
    /// The test cases a reload must keep passing, and the views of the demo numbers they name.
    guard: RwLock<Guard>,
}

/// Where the engine reads the time when no `now` is fixed.
pub type WallClock = Arc<dyn Fn() -> DateTime<FixedOffset> + Send + Sync>;

/// The system clock in Beijing time.
pub fn system_clock() -> WallClock {
    Arc::new(|| Utc::now().with_timezone(&value::beijing()))
}

/// What a reload replays before it replaces the set in force (see [`Engine::reload`]).
#[derive(Default)]
struct Guard {
    /// The test cases of the folder in force (`*.cases.toml`).
    cases: Vec<testcases::TestCase>,
    /// Views of demo numbers cases name, where the caller provided them ([`Engine::set_case_views`]);
    /// a case naming a number without a view here is not replayed.
    views: std::collections::BTreeMap<String, SubscriberView>,
    /// Whether a folder that breaks a test case is refused (`[diagnosis] reload_keeps_cases`).
    refuse_regressions: bool,
}

/// What a diagnosis needs besides the view.
#[derive(Debug, Clone)]
pub struct DiagnoseInput {
    pub category: String,
    /// Validated answers: question id → value.
    pub answers: HashMap<String, String>,
    pub complaint_id: String,
    pub msisdn: String,
    /// The time the complaint is diagnosed as of (the request's `now`); `None`: the engine's clock.
    pub now: Option<DateTime<FixedOffset>>,
    /// The complaint's text (or, for one issue of a text with several, the part about it): the period it
    /// names is what scenarios see as `complaint.period` ([`period`]). Empty: no period named.
    pub text: String,
}

/// Every scenario of the category as it ran, ranked, and what the best one concluded.
pub struct Diagnosis {
    pub set: Arc<ScenarioSet>,
    /// Best first: causes, questions, no cause, errors, not applicable; then by priority.
    pub runs: Vec<ScenarioRun>,
    /// Index into `runs` of the chosen scenario, if any ran to a cause, a question or its end.
    pub chosen: Option<usize>,
    pub conclusion: Option<Conclusion>,
    pub pending: Vec<Question>,
    /// What each source answered in the read diagnosed (empty when a view was diagnosed on its own).
    pub sources: Vec<SourceStatus>,
    /// The view fields the read could not give (none when a view was diagnosed on its own).
    pub provenance: Arc<provenance::Provenance>,
    /// For the handler when no cause is stated: what was checked, with the subscriber's figures, and what
    /// to ask or whom to hand over to (a question's text; the data to check where the data is missing).
    /// Never empty unless a cause was concluded.
    pub handling: String,
}

impl Diagnosis {
    /// The run of the chosen scenario.
    pub fn chosen_run(&self) -> Option<&ScenarioRun> {
        self.chosen.map(|c| &self.runs[c])
    }

    /// How the diagnosis ended: the chosen scenario's outcome (a cause, a question or no cause); no cause
    /// when no scenario was chosen.
    pub fn outcome(&self) -> &RunOutcome {
        static NO_CAUSE: RunOutcome = RunOutcome::NoCause;
        self.chosen_run().map(|r| &r.outcome).unwrap_or(&NO_CAUSE)
    }
}

impl Engine {
    /// Loads `folder` (a path on disk, or the embedded set); `clock` fixes `now` (else the system clock).
    pub fn load(folder: impl Into<Folder>, clock: Option<DateTime<FixedOffset>>) -> Result<Engine, LoadErrors> {
        Engine::load_with_categories(folder, clock, LoadOptions::default().categories)
    }

    /// [`Engine::load`] with the category codes scenarios may name (the shipped ones and any a deployment's
    /// classifier corpus adds).
    pub fn load_with_categories(
        folder: impl Into<Folder>,
        clock: Option<DateTime<FixedOffset>>,
        categories: Vec<String>,
    ) -> Result<Engine, LoadErrors> {
        let folder = folder.into();
        let opts = LoadOptions {
            sample_time: clock.unwrap_or_else(|| Utc::now().with_timezone(&value::beijing())),
            categories,
        };
        let mut set = load::load_folder(&folder, &opts)?;
        set.generation = 1;
        let cases = testcases::load_cases(&folder)?;
        Ok(Engine {
            guard: RwLock::new(Guard {
                cases,
                views: Default::default(),
                refuse_regressions: true,
            }),
            set: RwLock::new(Arc::new(set)),
            dir: match &folder {
                Folder::Disk(p) => p.clone(),
                Folder::Embedded { .. } => PathBuf::from(folder.describe()),
            },
            folder,
            opts,
            clock,
            wall: system_clock(),
        })
    }

    /// The engine reading `wall` instead of the system clock where no `now` is fixed (tests).
    pub fn with_wall_clock(mut self, wall: WallClock) -> Engine {
        self.wall = wall;
        self
    }

    /// The `now` fixed at load (`[diagnosis] now`), if any.
    pub fn fixed_now(&self) -> Option<DateTime<FixedOffset>> {
        self.clock
    }

    /// The scenario folder (for an embedded set, what it is).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the scenarios come from.
    pub fn folder(&self) -> &Folder {
        &self.folder
    }

    /// The set in force.
    pub fn scenarios(&self) -> Arc<ScenarioSet> {
        self.set.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Views of the demo numbers test cases name, so a reload can replay those cases too.
    pub fn set_case_views(&self, views: std::collections::BTreeMap<String, SubscriberView>) {
        self.guard.write().unwrap_or_else(|p| p.into_inner()).views = views;
    }

    /// Whether a reload refuses a folder that breaks a test case (default: yes).
    pub fn set_refuse_regressions(&self, refuse: bool) {
        self.guard.write().unwrap_or_else(|p| p.into_inner()).refuse_regressions = refuse;
    }

    /// The test cases of the folder in force.
    pub fn cases(&self) -> Vec<testcases::TestCase> {
        self.guard.read().unwrap_or_else(|p| p.into_inner()).cases.clone()
    }

    /// Reloads the folder. Before the new set replaces the old one, the test cases of the folder in force
    /// and of the new folder are replayed against it (those with a view: written in the case, or a demo
    /// number's given to [`Engine::set_case_views`]); a folder that changes the outcome of any is refused,
    /// naming each case and what changed (unless regressions are allowed). On success the new set replaces
    /// the old one at once (calls under way keep the set they started with) and its generation is
    /// returned; on failure the old set stays.
    pub fn reload(&self) -> Result<u64, LoadErrors> {
        let mut set = load::load_folder(&self.folder, &self.opts)?;
        let new_cases = testcases::load_cases(&self.folder)?;
        {
            let guard = self.guard.read().unwrap_or_else(|p| p.into_inner());
            if guard.refuse_regressions {
                let shared = Arc::new(set);
                let broken = self.replay(&shared, &guard, &new_cases);
                if !broken.is_empty() {
                    return Err(LoadErrors(broken));
                }
                // The replayed diagnoses are gone: the set is ours again.
                set = Arc::try_unwrap(shared).map_err(|_| {
                    LoadErrors(vec![load::LoadError::of_file(
                        self.dir.display().to_string(),
                        "internal: set still shared after replay",
                    )])
                })?;
            }
        }
        self.guard.write().unwrap_or_else(|p| p.into_inner()).cases = new_cases;
        let mut guard = self.set.write().unwrap_or_else(|p| p.into_inner());
        set.generation = guard.generation + 1;
        let generation = set.generation;
        *guard = Arc::new(set);
        Ok(generation)
    }

    /// Runs the cases of `guard` and `new_cases` (each once, by file and name) that have a view against
    /// `set`; one error per case that fails, at the case.
    fn replay(&self, set: &Arc<ScenarioSet>, guard: &Guard, new_cases: &[testcases::TestCase]) -> Vec<load::LoadError> {
        let mut seen = std::collections::BTreeSet::new();
        let mut out = Vec::new();
        for case in guard.cases.iter().chain(new_cases) {
            if !seen.insert((case.file.clone(), case.name.clone())) {
                continue;
            }
            let view = match &case.fixture {
                testcases::Fixture::View(v) => v.as_ref(),
                testcases::Fixture::Number(n) => match guard.views.get(n) {
                    Some(v) => v,
                    None => continue,
                },
            };
            let run = testcases::run_case(self, set, case, view, &|text| {
                crate::classify::Classifier::shared()
                    .classify(text)
                    .map(|c| c.category().to_string())
                    .map_err(|e| e.to_string())
            });
            if !run.passed() {
                out.push(load::LoadError {
                    file: case.file.clone(),
                    line: case.line,
                    col: 1,
                    scenario: None,
                    step: None,
                    message: format!(
                        "test case `{}` no longer passes with this folder: {}",
                        case.name,
                        run.diffs.join("; ")
                    ),
                });
            }
        }
        out
    }

    /// The time scenarios see as `now` when the request fixes none: the configured one, else the wall
    /// clock.
    pub fn now(&self) -> DateTime<FixedOffset> {
        self.clock.unwrap_or_else(|| (self.wall)())
    }

    /// The `now` of a diagnosis: the request's, else [`Engine::now`].
    pub fn now_of(&self, input: &DiagnoseInput) -> DateTime<FixedOffset> {
        input.now.unwrap_or_else(|| self.now())
    }

    /// Checks a category code.
    pub fn check_category(&self, category: &str) -> Result<(), Error> {
        if self.opts.categories.iter().any(|c| c == category) {
            Ok(())
        } else {
            Err(Error::invalid(
                "category",
                format!(
                    "unknown category `{}`; one of: {}",
                    clip(category, 64),
                    self.opts.categories.join(", ")
                ),
            ))
        }
    }

    /// Checks answers against the questions of the set in force: each must name a question and give
    /// one of its allowed values, once.
    pub fn check_answers(set: &ScenarioSet, answers: &[(String, String)]) -> Result<HashMap<String, String>, Error> {
        if answers.len() > MAX_ANSWERS {
            return Err(Error::invalid("answers", format!("at most {MAX_ANSWERS} answers")));
        }
        let mut out = HashMap::new();
        for (i, (q, v)) in answers.iter().enumerate() {
            let Some(question) = set.questions.get(q) else {
                return Err(Error::invalid(
                    format!("answers[{i}].question_id"),
                    format!("unknown question `{}`", clip(q, 64)),
                ));
            };
            if !question.answers.iter().any(|(value, _)| value == v) {
                return Err(Error::invalid(
                    format!("answers[{i}].value"),
                    format!(
                        "`{}` is not an allowed answer to `{q}`; allowed: {}",
                        clip(v, 64),
                        question
                            .answers
                            .iter()
                            .map(|a| a.0.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            if out.insert(q.clone(), v.clone()).is_some() {
                return Err(Error::invalid(
                    format!("answers[{i}].question_id"),
                    format!("`{q}` is answered twice"),
                ));
            }
        }
        Ok(out)
    }

    /// Runs every scenario of `input.category` over `view` with the set `set`, ranks them and concludes
    /// the best. Never fails on a scenario's own error: that scenario is reported and skipped. Every
    /// field of `view` counts as provided (a written view; see [`Engine::diagnose_with`]).
    pub fn diagnose(
        &self,
        set: Arc<ScenarioSet>,
        input: &DiagnoseInput,
        view: &SubscriberView,
    ) -> Result<Diagnosis, Error> {
        self.diagnose_with(set, input, view, Arc::new(provenance::Provenance::complete()))
    }

    /// [`Engine::diagnose`] over a view some of whose fields the read could not give (`provenance`):
    /// those are removed from what the steps see, and a step that stops on one cannot decide.
    pub fn diagnose_with(
        &self,
        set: Arc<ScenarioSet>,
        input: &DiagnoseInput,
        view: &SubscriberView,
        provenance: Arc<provenance::Provenance>,
    ) -> Result<Diagnosis, Error> {
        let view = bound::CelView::with_provenance(view, provenance).map_err(Error::Internal)?;
        self.diagnose_category(set, input, &view)
    }

    /// [`Engine::diagnose_with`] over a view already read for CEL (shared by the passes of one complaint).
    pub fn diagnose_category(
        &self,
        set: Arc<ScenarioSet>,
        input: &DiagnoseInput,
        view: &bound::CelView,
    ) -> Result<Diagnosis, Error> {
        // Only the parts of the view the category's scenarios read are converted.
        let held = set.clone();
        let fields = held.view_fields_of(&input.category);
        let scenarios: Vec<Arc<model::Scenario>> = held.of_category(&input.category).cloned().collect();
        self.diagnose_scenarios(set, &scenarios, fields, input, view)
    }

    /// Runs `scenarios` (of `set`) over `view`, converting only the top-level `fields` (all: `None`),
    /// ranks them and concludes the best.
    pub fn diagnose_scenarios(
        &self,
        set: Arc<ScenarioSet>,
        scenarios: &[Arc<model::Scenario>],
        fields: Option<&std::collections::BTreeSet<String>>,
        input: &DiagnoseInput,
        view: &bound::CelView,
    ) -> Result<Diagnosis, Error> {
        let now = self.now_of(input);
        let provenance = view.provenance().clone();
        // The view as the trace and the templates read it; the expressions read `view` itself.
        let view_value = view.value(fields);
        let named = period::parse(&input.text, now);
        let complaint = period::complaint_value(named.as_ref(), now);
        let root = run::eval_context_over(view, now, &input.answers, &complaint);
        let inputs = run::Inputs {
            view: &view_value,
            answers: &input.answers,
            now,
            provenance: &provenance,
            complaint: &complaint,
        };
        let mut runs: Vec<ScenarioRun> = scenarios.iter().map(|s| run::run(s, &root, &inputs)).collect();
        // Stable: file order breaks ties.
        runs.sort_by_key(|r| (r.outcome.rank(), -r.scenario.priority));
        let mut conclusion = None;
        let mut chosen = None;
        for (i, r) in runs.iter_mut().enumerate() {
            match r.outcome.clone() {
                RunOutcome::Cause(c) => {
                    match conclude::conclude(&set, r, c, &root, &inputs, &input.complaint_id, &input.msisdn) {
                        Ok(done) => {
                            conclusion = Some(done);
                            chosen = Some(i);
                            break;
                        }
                        Err(message) => {
                            let step = r.trace.last().map(|t| t.step_id.clone()).unwrap_or_default();
                            // The reply or an action needed data the read could not give.
                            let missing = run::missing_for(&provenance, &[], &[], &message);
                            if let Some(last) = r.trace.last_mut() {
                                last.error = Some(message.clone());
                            }
                            if missing.is_empty() {
                                tracing::warn!(scenario = %r.scenario.id, error = %message, "concluding a cause failed");
                                r.outcome = RunOutcome::Error { step, message };
                            } else {
                                r.outcome = RunOutcome::Undecided { step, missing };
                                chosen = Some(i);
                                break;
                            }
                        }
                    }
                }
                RunOutcome::Question(_) | RunOutcome::Undecided { .. } | RunOutcome::NoCause => {
                    chosen = Some(i);
                    break;
                }
                RunOutcome::Error { .. } | RunOutcome::NotApplicable => {}
            }
        }
        // A cause that failed to conclude became an error: rank again, keeping the chosen one first.
        if let Some(c) = chosen {
            let picked = runs.remove(c);
            runs.sort_by_key(|r| (r.outcome.rank(), -r.scenario.priority));
            runs.insert(0, picked);
            chosen = Some(0);
        } else {
            runs.sort_by_key(|r| (r.outcome.rank(), -r.scenario.priority));
        }
        let pending: Vec<Question> = match chosen.map(|c| &runs[c].outcome) {
            Some(RunOutcome::Question(q)) => set.questions.get(q).cloned().into_iter().collect(),
            _ => Vec::new(),
        };
        let handling = match chosen.map(|c| &runs[c].outcome) {
            Some(RunOutcome::Cause(_)) => String::new(),
            Some(RunOutcome::Question(_)) => pending
                .iter()
                .map(|q| {
                    format!(
                        "请先向客户确认：{}（{}），答复后再次诊断。",
                        q.text,
                        q.answers.iter().map(|a| a.1.as_str()).collect::<Vec<_>>().join(" / ")
                    )
                })
                .collect(),
            Some(RunOutcome::Undecided { missing, .. }) => format!(
                "无法判断：{}。请到对应系统核实后再处理，不要按默认值答复客户。",
                missing.iter().map(|m| m.check()).collect::<Vec<_>>().join("；")
            ),
            _ => {
                let text = conclude::no_cause_text(&set, &runs, chosen, &inputs, &input.complaint_id, &input.msisdn);
                // Nothing found for the period the customer named is said as such, never answered about
                // another period.
                match &named {
                    Some(p) if !text.contains(&p.label()) => {
                        format!("按客户所说的期间“{}”（{}）核查：{text}", p.words, p.label())
                    }
                    _ => text,
                }
            }
        };
        Ok(Diagnosis {
            set,
            runs,
            chosen,
            conclusion,
            pending,
            sources: Vec::new(),
            provenance,
            handling,
        })
    }

    /// Diagnoses a view as it was read (the view and what each source answered), and notes on each step
    /// of the chosen scenario the evidence behind the view fields it read.
    pub fn diagnose_read(
        &self,
        set: Arc<ScenarioSet>,
        input: &DiagnoseInput,
        read: &ViewOutcome,
        coverage: &Coverage,
    ) -> Result<Diagnosis, Error> {
        let provenance = coverage.providers().of_read(&read.statuses);
        let mut d = self.diagnose_with(set, input, &read.view, provenance.clone())?;
        if let Some(c) = d.chosen {
            for entry in &mut d.runs[c].trace {
                entry.evidence = coverage.evidence_with(
                    entry.reads.iter().map(|r| r.segments.as_slice()),
                    &read.statuses,
                    &provenance,
                    &[entry.expression.as_str()],
                    entry.error.as_deref().unwrap_or(""),
                );
            }
        }
        d.sources = read.statuses.clone();
        Ok(d)
    }
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

/// The scenarios used when no folder is named: the set embedded in the binary.
pub fn default_dir() -> Folder {
    Folder::embedded_scenarios()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::proto::complaint::v1::{Account, AccountStatus, Customer, SourceState};

    /// One scenario: a suspended line is a cause at once; otherwise the modem's light decides.
    const LINE: &str = r#"
id = "t.line"
title = "线路"
categories = ["network.broadband_fault"]

[[questions]]
id = "modem_light"
text = "光猫指示灯是什么颜色？"
answers = [{ value = "red", label = "红色" }, { value = "green", label = "绿色" }]

[[steps]]
id = "suspended"
description = "停机？"
expr = 'view.account.status == "ACCOUNT_STATUS_SUSPENDED"'
then = "cause:LINE_SUSPENDED"

[[steps]]
id = "light"
description = "光猫红灯？"
ask = "modem_light"
expr = 'answers.modem_light == "red"'
then = "cause:LINE_FAULT"

[[causes]]
code = "LINE_SUSPENDED"
title = "停机"
explanation = "{{ view.msisdn }} 已停机"
reply = "您的号码已停机。"

[[causes]]
code = "LINE_FAULT"
title = "线路故障"
explanation = "光猫红灯"
reply = "线路故障，已派单。"
"#;

    /// An engine over a folder holding [`LINE`] (kept alive by `dir`).
    pub(crate) fn engine(dir: &tempfile::TempDir) -> Engine {
        std::fs::write(dir.path().join("line.toml"), LINE).unwrap();
        let now = DateTime::parse_from_rfc3339("2026-11-28T10:00:00+08:00").unwrap();
        Engine::load(dir.path(), Some(now)).unwrap()
    }

    /// A view of a line in `status`, of a Hangzhou customer.
    pub(crate) fn view(status: AccountStatus) -> SubscriberView {
        SubscriberView {
            msisdn: "13800138000".into(),
            account: Some(Account {
                status: status as i32,
                ..Default::default()
            }),
            customer: Some(Customer {
                region_code: "0571".into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// A diagnosis of the category of [`LINE`] with `answers`.
    pub(crate) fn input(answers: &[(&str, &str)]) -> DiagnoseInput {
        DiagnoseInput {
            category: "network.broadband_fault".into(),
            answers: answers.iter().map(|(q, v)| (q.to_string(), v.to_string())).collect(),
            complaint_id: "C-1".into(),
            msisdn: "13800138000".into(),
            now: None,
            text: String::new(),
        }
    }

    #[test]
    fn the_chosen_steps_carry_the_evidence_of_the_sources_behind_what_they_read() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine(&dir);
        let coverage = Coverage::new(vec![
            ("billing".into(), vec!["account".into()]),
            ("crm".into(), vec!["customer".into()]),
        ]);
        let statuses = vec![
            SourceStatus {
                source: "billing".into(),
                state: SourceState::Ok as i32,
                entities: vec!["account".into()],
                ..Default::default()
            },
            SourceStatus {
                source: "crm".into(),
                state: SourceState::Ok as i32,
                entities: vec!["customer".into()],
                ..Default::default()
            },
        ];
        let read = ViewOutcome::new(view(AccountStatus::Suspended), statuses.clone(), vec![]);
        let d = engine
            .diagnose_read(engine.scenarios(), &input(&[]), &read, &coverage)
            .unwrap();
        assert_eq!(d.conclusion.as_ref().map(|c| c.code.as_str()), Some("LINE_SUSPENDED"));
        assert_eq!(d.sources, statuses);
        let trace = &d.chosen_run().unwrap().trace;
        assert_eq!(trace.len(), 1);
        let got: Vec<(&str, &str, bool)> = trace[0]
            .evidence
            .iter()
            .map(|e| (e.field.as_str(), e.source.as_str(), e.supplied))
            .collect();
        assert_eq!(got, [("account", "billing", true)]);
        // A view diagnosed on its own has no sources and no evidence.
        let d = engine.diagnose(engine.scenarios(), &input(&[]), &read.view).unwrap();
        assert!(d.sources.is_empty() && d.chosen_run().unwrap().trace[0].evidence.is_empty());
    }
}
