//! Diagnosis: the steps experienced handlers take to find a complaint's cause, written down as data
//! (`scenarios/*.toml`) and run over the subscriber's unified view.
//!
//! - [`scenario`] loads and checks scenario files (CEL expressions compiled, field paths checked against
//!   the proto schema by [`check`], templates compiled and rendered once by [`reply`]);
//! - [`value`] turns the view into a CEL value; [`run`] runs one scenario step by step;
//! - [`Engine`] holds the loaded set (swapped atomically on reload, see [`reload`]), validates a request
//!   against it, runs every scenario of the category, ranks them and concludes the best one: its cause,
//!   reply and actions, or the question to ask;
//! - [`records`] keeps one row per complaint in the gateway's store.
//!
//! The gRPC surface is `api::diagnosis`; it reads the view through `api::data::read_view`, the one path
//! where identity, masking, cache and audit apply.
pub mod check;
pub mod config;
pub mod records;
pub mod reload;
pub mod reply;
pub mod run;
pub mod scenario;
pub mod value;

use crate::assets::Folder;
use crate::error::Error;
use crate::proto::complaint::v1::{ActionKind, SubscriberView};
use chrono::{DateTime, FixedOffset, Utc};
use run::{RunOutcome, ScenarioRun};
use scenario::{LoadErrors, LoadOptions, Question, Scenario, ScenarioSet};
use std::collections::{BTreeMap, HashMap};
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
    /// A fixed `now` (tests, demos over data of a fixed date); the system clock otherwise.
    clock: Option<DateTime<FixedOffset>>,
}

/// What a diagnosis needs besides the view.
#[derive(Debug, Clone)]
pub struct DiagnoseInput {
    pub category: String,
    /// Validated answers: question id → value.
    pub answers: HashMap<String, String>,
    pub complaint_id: String,
    pub msisdn: String,
}

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

/// Every scenario of the category as it ran, ranked, and what the best one concluded.
pub struct Diagnosis {
    pub set: Arc<ScenarioSet>,
    /// Best first: causes, questions, no cause, errors, not applicable; then by priority.
    pub runs: Vec<ScenarioRun>,
    /// Index into `runs` of the chosen scenario, if any ran to a cause, a question or its end.
    pub chosen: Option<usize>,
    pub conclusion: Option<Conclusion>,
    pub pending: Vec<Question>,
}

impl Engine {
    /// Loads `folder` (a path on disk, or the embedded set); `clock` fixes `now` (else the system clock).
    pub fn load(folder: impl Into<Folder>, clock: Option<DateTime<FixedOffset>>) -> Result<Engine, LoadErrors> {
        let folder = folder.into();
        let opts = LoadOptions {
            sample_time: clock.unwrap_or_else(|| Utc::now().with_timezone(&value::beijing())),
            ..LoadOptions::default()
        };
        let mut set = load_folder(&folder, &opts)?;
        set.generation = 1;
        Ok(Engine {
            set: RwLock::new(Arc::new(set)),
            dir: match &folder {
                Folder::Disk(p) => p.clone(),
                Folder::Embedded { .. } => PathBuf::from(folder.describe()),
            },
            folder,
            opts,
            clock,
        })
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

    /// Reloads the folder. On success the new set replaces the old one at once (calls under way keep the
    /// set they started with) and its generation is returned; on failure the old set stays.
    pub fn reload(&self) -> Result<u64, LoadErrors> {
        let mut set = load_folder(&self.folder, &self.opts)?;
        let mut guard = self.set.write().unwrap_or_else(|p| p.into_inner());
        set.generation = guard.generation + 1;
        let generation = set.generation;
        *guard = Arc::new(set);
        Ok(generation)
    }

    /// The time scenarios see as `now`.
    pub fn now(&self) -> DateTime<FixedOffset> {
        self.clock
            .unwrap_or_else(|| Utc::now().with_timezone(&value::beijing()))
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
    /// the best. Never fails on a scenario's own error: that scenario is reported and skipped.
    pub fn diagnose(
        &self,
        set: Arc<ScenarioSet>,
        input: &DiagnoseInput,
        view: &SubscriberView,
    ) -> Result<Diagnosis, Error> {
        let now = self.now();
        // Only the parts of the view the category's scenarios read are converted.
        let fields = set.view_fields_of(&input.category);
        let view_value = value::view_fields_to_cel(view, fields).map_err(Error::Internal)?;
        let root = run::eval_context(&view_value, now, &input.answers);
        let inputs = run::Inputs {
            view: &view_value,
            answers: &input.answers,
            now,
        };
        let mut runs: Vec<ScenarioRun> = set
            .of_category(&input.category)
            .map(|s| run::run(s, &root, &inputs))
            .collect();
        // Stable: file order breaks ties.
        runs.sort_by_key(|r| (r.outcome.rank(), -r.scenario.priority));
        let mut conclusion = None;
        let mut chosen = None;
        for (i, r) in runs.iter_mut().enumerate() {
            match r.outcome.clone() {
                RunOutcome::Cause(c) => match conclude(&set, r, c, &root, &view_value, input, now) {
                    Ok(done) => {
                        conclusion = Some(done);
                        chosen = Some(i);
                        break;
                    }
                    Err(message) => {
                        tracing::warn!(scenario = %r.scenario.id, error = %message, "concluding a cause failed");
                        if let Some(last) = r.trace.last_mut() {
                            last.error = Some(message.clone());
                        }
                        r.outcome = RunOutcome::Error {
                            step: r.trace.last().map(|t| t.step_id.clone()).unwrap_or_default(),
                            message,
                        };
                    }
                },
                RunOutcome::Question(_) | RunOutcome::NoCause => {
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
        let pending = match chosen.map(|c| &runs[c].outcome) {
            Some(RunOutcome::Question(q)) => set.questions.get(q).cloned().into_iter().collect(),
            _ => Vec::new(),
        };
        Ok(Diagnosis {
            set,
            runs,
            chosen,
            conclusion,
            pending,
        })
    }
}

fn conclude(
    set: &ScenarioSet,
    r: &ScenarioRun,
    cause_index: usize,
    root: &cel::Context,
    view: &cel::Value,
    input: &DiagnoseInput,
    now: DateTime<FixedOffset>,
) -> Result<Conclusion, String> {
    let s: &Scenario = &r.scenario;
    let cause = &s.causes[cause_index];
    let answers: BTreeMap<String, String> = input.answers.clone().into_iter().collect();
    let ctx = reply::context(&reply::ReplyInput {
        view,
        values: &r.values,
        answers: &answers,
        now,
        cause_code: &cause.code,
        cause_title: &cause.title,
        complaint_id: &input.complaint_id,
        msisdn: &input.msisdn,
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
        let eval = |e: &scenario::Expression, what: &str| {
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
        let strings = |e: &Option<scenario::Expression>, what: &str| -> Result<Vec<String>, String> {
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

/// Loads, checks and compiles every scenario of `folder` (on disk: a folder, searched recursively, or
/// one file; embedded: the shipped set). Every problem is reported.
pub fn load_folder(folder: &Folder, opts: &LoadOptions) -> Result<ScenarioSet, LoadErrors> {
    match folder {
        Folder::Disk(dir) => scenario::load_dir(dir, opts),
        Folder::Embedded { .. } => {
            let files = folder.files("toml").map_err(|e| {
                LoadErrors(vec![scenario::LoadError {
                    file: folder.describe(),
                    line: 0,
                    col: 0,
                    scenario: None,
                    step: None,
                    message: format!("cannot read: {e}"),
                }])
            })?;
            scenario::load_texts(&files, &PathBuf::from(folder.describe()), opts)
        }
    }
}
