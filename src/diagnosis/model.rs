//! The compiled form of scenarios: what loading ([`super::load`]) produces and running ([`super::run`]) and
//! rendering ([`super::reply`]) consume. Nothing here knows the file format or how a scenario runs.
//!
//! A [`ScenarioSet`] holds every [`Scenario`] of a folder with their compiled reply [`Templates`] and their
//! [`Question`]s by id. A scenario's [`Step`]s each hold a compiled CEL [`Expression`] (with the member
//! chains it reads, [`ReadPath`]), named values, and the [`Outcome`] of either result; its [`Cause`]s hold
//! template names and [`ActionSpec`]s.
use crate::proto::complaint::v1::ActionKind;
use minijinja::value::Value as JValue;
use minijinja::Environment;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

/// The CEL environment every scenario expression is compiled and run with: the standard library and
/// its macros (`has`, `all`, `exists`, `exists_one`, `map`, `filter`), plus `sum`, `max` and `min` over
/// lists, which `super::run` adds to each evaluation context.
pub fn cel_env() -> &'static Arc<cel::Env> {
    static ENV: OnceLock<Arc<cel::Env>> = OnceLock::new();
    ENV.get_or_init(|| Arc::new(cel::Env::stdlib()))
}

/// A member chain an expression reads, e.g. `view.account.status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadPath {
    /// The chain as written, root first.
    pub segments: Vec<String>,
}

impl ReadPath {
    /// `view.account.status`.
    pub fn text(&self) -> String {
        self.segments.join(".")
    }
}

/// A compiled CEL expression and the member chains it reads.
pub struct Expression {
    pub text: String,
    pub program: cel::Program,
    /// Each member chain it reads (for the trace).
    pub reads: Vec<ReadPath>,
    /// Where it is written (`scenarios/x.toml:12:8`), for run-time errors.
    pub place: String,
}

impl fmt::Debug for Expression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// What follows a step.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The next step in the file; after the last one, the scenario ends without a cause.
    Next,
    /// A later step (by index).
    Goto(usize),
    /// A cause of the scenario (by index).
    Cause(usize),
    /// The scenario ends without a cause.
    End,
}

/// One step.
#[derive(Debug)]
pub struct Step {
    pub id: String,
    pub description: String,
    /// A question that must be answered before the step runs.
    pub ask: Option<String>,
    pub expr: Expression,
    /// Named values computed before `expr` (which may use them).
    pub values: Vec<(String, Expression)>,
    pub then: Outcome,
    pub otherwise: Outcome,
}

/// A question with its allowed answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    pub id: String,
    pub text: String,
    /// (value, label).
    pub answers: Vec<(String, String)>,
}

/// An action template of a cause.
#[derive(Debug)]
pub struct ActionSpec {
    pub kind: ActionKind,
    /// Template names.
    pub description: String,
    pub target: Option<String>,
    pub amount_fen: Option<Expression>,
    pub service_code: Option<Expression>,
    pub element_id: Option<Expression>,
    /// As written, for `GetScenario`.
    pub source: BTreeMap<&'static str, String>,
}

/// A cause a scenario can conclude.
#[derive(Debug)]
pub struct Cause {
    pub code: String,
    pub title: String,
    /// Template names of the explanation and the reply.
    pub explanation: String,
    pub reply: String,
    /// Advice or an explanation, not a fault the data shows: stated only under a certain category.
    pub guidance: bool,
    pub actions: Vec<ActionSpec>,
    /// As written, for `GetScenario`.
    pub explanation_source: String,
    pub reply_source: String,
}

/// The top-level view fields a scenario reads (in expressions and templates), so a diagnosis converts
/// only those; `all` when something reads `view` as a whole.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ViewFields {
    pub all: bool,
    pub fields: BTreeSet<String>,
}

impl ViewFields {
    /// Notes a member chain (`["view", "account", "status"]`).
    pub fn add<S: AsRef<str>>(&mut self, segments: &[S]) {
        if segments.first().map(|s| s.as_ref()) == Some("view") {
            match segments.get(1) {
                Some(f) => {
                    self.fields.insert(f.as_ref().to_string());
                }
                None => self.all = true,
            }
        }
    }

    pub fn merge(&mut self, other: &ViewFields) {
        self.all |= other.all;
        self.fields.extend(other.fields.iter().cloned());
    }

    /// The fields to convert, or `None` for the whole view.
    pub fn filter(&self) -> Option<&BTreeSet<String>> {
        (!self.all).then_some(&self.fields)
    }
}

/// One loaded scenario.
#[derive(Debug)]
pub struct Scenario {
    pub id: String,
    pub title: String,
    pub categories: Vec<String>,
    /// Categories whose complaints this scenario answers first when it concludes (a line-state
    /// scenario: suspended, closed, SIM replaced, broadband port down).
    pub line_state_for: Vec<String>,
    /// The template name of what the handler is told when the steps end without a cause.
    pub no_cause: Option<String>,
    pub priority: i32,
    /// The file, relative to the scenario folder.
    pub file: String,
    /// The file's text.
    pub source: String,
    pub precondition: Option<Expression>,
    pub questions: Vec<Question>,
    pub steps: Vec<Step>,
    pub causes: Vec<Cause>,
    /// What of the view it reads.
    pub view_fields: ViewFields,
}

/// Every scenario of a folder, checked and compiled, with their templates.
pub struct ScenarioSet {
    pub scenarios: Vec<Arc<Scenario>>,
    pub templates: Templates,
    /// Every question of every scenario, by id (one id means one question everywhere).
    pub questions: BTreeMap<String, Question>,
    pub dir: PathBuf,
    pub loaded_at: SystemTime,
    /// Bumped by the engine on each successful reload.
    pub generation: u64,
    /// What of the view each category's scenarios read together (computed once, at load).
    view_fields: BTreeMap<String, ViewFields>,
}

impl fmt::Debug for ScenarioSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScenarioSet")
            .field("dir", &self.dir)
            .field("scenarios", &self.scenarios.iter().map(|s| &s.id).collect::<Vec<_>>())
            .finish()
    }
}

impl ScenarioSet {
    /// A set of checked scenarios loaded from `dir` now, generation 0; what of the view each category
    /// reads is computed here, once.
    pub fn new(
        scenarios: Vec<Arc<Scenario>>,
        templates: Templates,
        questions: BTreeMap<String, Question>,
        dir: PathBuf,
    ) -> ScenarioSet {
        let mut view_fields: BTreeMap<String, ViewFields> = BTreeMap::new();
        for sc in &scenarios {
            for c in &sc.categories {
                view_fields.entry(c.clone()).or_default().merge(&sc.view_fields);
            }
        }
        ScenarioSet {
            scenarios,
            templates,
            questions,
            dir,
            loaded_at: SystemTime::now(),
            generation: 0,
            view_fields,
        }
    }

    /// The scenario with this id.
    pub fn get(&self, id: &str) -> Option<&Arc<Scenario>> {
        self.scenarios.iter().find(|s| s.id == id)
    }

    /// The scenarios of a category, in file order.
    pub fn of_category<'a>(&'a self, category: &'a str) -> impl Iterator<Item = &'a Arc<Scenario>> + 'a {
        self.scenarios
            .iter()
            .filter(move |s| s.categories.iter().any(|c| c == category))
    }

    /// The top-level view fields a diagnosis of `category` converts: what its scenarios read (nothing for
    /// a category without scenarios), or `None` for the whole view.
    pub fn view_fields_of(&self, category: &str) -> Option<&BTreeSet<String>> {
        static NONE: BTreeSet<String> = BTreeSet::new();
        match self.view_fields.get(category) {
            Some(f) => f.filter(),
            None => Some(&NONE),
        }
    }
}

/// The compiled reply templates of a scenario set, and where each was written (line, column).
pub struct Templates {
    env: Environment<'static>,
    positions: HashMap<String, (usize, usize)>,
}

impl Templates {
    /// Compiled templates (`env`, with the filters they use) and their positions in the files.
    pub fn new(env: Environment<'static>, positions: HashMap<String, (usize, usize)>) -> Templates {
        Templates { env, positions }
    }

    /// Renders template `name`.
    pub fn render(&self, name: &str, ctx: &JValue) -> Result<String, String> {
        let t = self.env.get_template(name).map_err(|e| describe_template_error(&e))?;
        t.render(ctx).map(|s| s.trim().to_string()).map_err(|e| {
            let line = e.line().map(|l| format!(" (template line {l})")).unwrap_or_default();
            format!("{}{line}", describe_template_error(&e))
        })
    }

    /// Where template `name` is written in its file (line, column), if known.
    pub fn position(&self, name: &str) -> Option<(usize, usize)> {
        self.positions.get(name).copied()
    }
}

/// A template error as one line: its kind and detail.
pub fn describe_template_error(e: &minijinja::Error) -> String {
    match e.detail() {
        Some(d) => format!("{}: {d}", e.kind()),
        None => e.kind().to_string(),
    }
}
