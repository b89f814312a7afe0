//! Scenario files: their format, and loading them into a checked, compiled [`ScenarioSet`].
//!
//! One TOML file under `scenarios/` holds one scenario (see `docs/scenarios.md`). Loading compiles every
//! CEL expression, checks every field path against the view's schema ([`super::check`]), resolves every
//! step outcome, question and cause, compiles every reply template and renders it once against a sample
//! view. Every problem is reported as `file:line:col: scenario `id`, step `id`: message`.
use super::check::{self, Names, ReadPath};
use super::reply::{self, Templates};
use super::value;
use crate::proto::complaint::v1::ActionKind;
use chrono::{DateTime, FixedOffset, TimeZone};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;
use toml::Spanned;

/// The CEL environment every scenario expression is compiled and run with: the standard library and
/// its macros (`has`, `all`, `exists`, `exists_one`, `map`, `filter`), plus `sum`, `max` and `min` over
/// lists, which `super::run` adds to each evaluation context.
pub fn cel_env() -> &'static Arc<cel::Env> {
    static ENV: OnceLock<Arc<cel::Env>> = OnceLock::new();
    ENV.get_or_init(|| Arc::new(cel::Env::stdlib()))
}

// ---- the file format ----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    id: Spanned<String>,
    title: String,
    categories: Vec<Spanned<String>>,
    #[serde(default)]
    priority: i32,
    #[serde(default)]
    precondition: Option<Spanned<String>>,
    #[serde(default)]
    questions: Vec<QuestionFile>,
    steps: Vec<StepFile>,
    #[serde(default)]
    causes: Vec<CauseFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QuestionFile {
    id: Spanned<String>,
    text: String,
    answers: Vec<AnswerFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerFile {
    value: String,
    label: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepFile {
    id: Spanned<String>,
    description: String,
    #[serde(default)]
    ask: Option<Spanned<String>>,
    expr: Spanned<String>,
    #[serde(default)]
    values: BTreeMap<String, Spanned<String>>,
    then: Spanned<String>,
    #[serde(rename = "else", default)]
    otherwise: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CauseFile {
    code: Spanned<String>,
    title: String,
    explanation: Spanned<String>,
    reply: Spanned<String>,
    #[serde(default)]
    actions: Vec<ActionFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionFile {
    kind: Spanned<String>,
    description: Spanned<String>,
    #[serde(default)]
    amount_fen: Option<Spanned<String>>,
    #[serde(default)]
    service_code: Option<Spanned<String>>,
    #[serde(default)]
    element_id: Option<Spanned<String>>,
    #[serde(default)]
    target: Option<Spanned<String>>,
}

// ---- the compiled form ----

/// A compiled CEL expression and the member chains it reads.
pub struct Expression {
    pub text: String,
    pub program: cel::Program,
    /// Each member chain it reads (for the trace).
    pub reads: Vec<ReadPath>,
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

// ---- errors ----

/// A problem in a scenario file, with where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadError {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub scenario: Option<String>,
    pub step: Option<String>,
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.col)?;
        if let Some(s) = &self.scenario {
            write!(f, "scenario `{s}`, ")?;
        }
        if let Some(s) = &self.step {
            write!(f, "step `{s}`, ")?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found in a folder.
#[derive(Debug, Clone)]
pub struct LoadErrors(pub Vec<LoadError>);

impl fmt::Display for LoadErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadErrors {}

/// The text of one file, for turning byte spans into line:col.
struct Source<'a> {
    file: &'a str,
    text: &'a str,
}

impl Source<'_> {
    fn line_col(&self, byte: usize) -> (usize, usize) {
        let byte = byte.min(self.text.len());
        let before = &self.text[..byte];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        (line, self.text[line_start..byte].chars().count() + 1)
    }

    fn at(&self, span: Range<usize>, message: String) -> LoadError {
        let (line, col) = self.line_col(span.start);
        LoadError {
            file: self.file.to_string(),
            line,
            col,
            scenario: None,
            step: None,
            message,
        }
    }

    /// Where byte `offset` of a string value lies in the file. Exact for literal strings ('…', '''…''')
    /// and basic strings without escapes; otherwise the value's start, with the offset.
    fn in_string(&self, span: &Range<usize>, value: &str, offset: usize, message: String) -> LoadError {
        let raw = &self.text[span.clone()];
        let mut start = span.start;
        if raw.starts_with("'''") || raw.starts_with("\"\"\"") {
            start += 3;
            if self.text[start..].starts_with("\r\n") {
                start += 2;
            } else if self.text[start..].starts_with('\n') {
                start += 1;
            }
        } else if raw.starts_with('\'') || raw.starts_with('"') {
            start += 1;
        }
        if self.text.get(start..).is_some_and(|t| t.starts_with(value)) {
            let mut byte = offset.min(value.len());
            while !value.is_char_boundary(byte) {
                byte -= 1;
            }
            let (line, col) = self.line_col(start + byte);
            LoadError {
                file: self.file.to_string(),
                line,
                col,
                scenario: None,
                step: None,
                message,
            }
        } else {
            let chars = value.get(..offset).map(|p| p.chars().count()).unwrap_or(offset);
            self.at(
                span.clone(),
                format!("{message} (at character {} of the expression)", chars + 1),
            )
        }
    }
}

impl LoadError {
    fn scenario(mut self, id: &str) -> LoadError {
        if !id.is_empty() {
            self.scenario = Some(id.to_string());
        }
        self
    }
    fn step(mut self, id: Option<&str>) -> LoadError {
        self.step = id.map(str::to_string);
        self
    }
}

// ---- loading ----

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

/// The scenario files of `dir` (`*.toml`, sub-folders included), sorted; or `dir` itself if it is a file.
pub fn scenario_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
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
    let io_err = |file: &Path, e: std::io::Error| {
        LoadErrors(vec![LoadError {
            file: file.display().to_string(),
            line: 0,
            col: 0,
            scenario: None,
            step: None,
            message: format!("cannot read: {e}"),
        }])
    };
    let files = scenario_files(dir).map_err(|e| io_err(dir, e))?;
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
    load_texts(&texts, dir, opts)
}

/// Loads scenarios from (file name, text) pairs; `dir` is recorded in the set.
pub fn load_texts(files: &[(String, String)], dir: &Path, opts: &LoadOptions) -> Result<ScenarioSet, LoadErrors> {
    let mut errors = Vec::new();
    let mut templates = reply::TemplateBuilder::new();
    let mut scenarios: Vec<Arc<Scenario>> = Vec::new();
    let mut questions: BTreeMap<String, (Question, String)> = BTreeMap::new();
    let mut ids: HashMap<String, String> = HashMap::new();
    for (name, text) in files {
        let src = Source { file: name, text };
        match compile_file(&src, opts, &mut templates) {
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
    if files.is_empty() {
        errors.push(LoadError {
            file: dir.display().to_string(),
            line: 0,
            col: 0,
            scenario: None,
            step: None,
            message: "no scenario files (*.toml)".into(),
        });
    }
    if !errors.is_empty() {
        return Err(LoadErrors(errors));
    }
    let templates = templates.finish();
    // Render every template once against the sample view.
    for s in &scenarios {
        if let Err(mut e) = reply::check_render(s, &templates, opts.sample_time) {
            errors.append(&mut e);
        }
    }
    if !errors.is_empty() {
        return Err(LoadErrors(errors));
    }
    let mut view_fields: BTreeMap<String, ViewFields> = BTreeMap::new();
    for sc in &scenarios {
        for c in &sc.categories {
            view_fields.entry(c.clone()).or_default().merge(&sc.view_fields);
        }
    }
    Ok(ScenarioSet {
        scenarios,
        view_fields,
        templates,
        questions: questions.into_iter().map(|(k, (q, _))| (k, q)).collect(),
        dir: dir.to_path_buf(),
        loaded_at: SystemTime::now(),
        generation: 0,
    })
}

/// The problems of one file, each tagged with the scenario id (and, collected on the way, what of the
/// view its templates read).
struct Errs {
    list: Vec<LoadError>,
    sid: String,
    view_fields: ViewFields,
}

impl Errs {
    fn push(&mut self, e: LoadError, step: Option<&str>) {
        self.list.push(e.scenario(&self.sid).step(step));
    }
}

/// What the templates of one scenario may refer to.
struct TemplateNames<'a> {
    questions: &'a [String],
    values: &'a [String],
}

fn add_template(
    src: &Source,
    templates: &mut reply::TemplateBuilder,
    errs: &mut Errs,
    name: String,
    t: &Spanned<String>,
    names: &TemplateNames,
) -> Option<String> {
    let (line, col) = src.line_col(t.span().start);
    templates.set_position(&name, line, col);
    match templates.add(&name, t.get_ref(), names.questions, names.values) {
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

fn compile_file(
    src: &Source,
    opts: &LoadOptions,
    templates: &mut reply::TemplateBuilder,
) -> Result<Scenario, Vec<LoadError>> {
    let file: ScenarioFile = toml::from_str(src.text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        vec![src.at(span, format!("not a valid scenario: {}", e.message()))]
    })?;
    let sid = file.id.get_ref().clone();
    let mut errs = Errs {
        list: Vec::new(),
        sid: sid.clone(),
        view_fields: ViewFields::default(),
    };

    if sid.is_empty() || !sid.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
        errs.push(
            src.at(
                file.id.span(),
                "`id` must be non-empty ASCII letters, digits, '.', '_' or '-'".into(),
            ),
            None,
        );
    }
    if file.categories.is_empty() {
        errs.push(
            src.at(file.id.span(), "`categories` must name at least one category".into()),
            None,
        );
    }
    for c in &file.categories {
        if !opts.categories.iter().any(|k| k == c.get_ref()) {
            let hint = crate::schema::closest(c.get_ref(), opts.categories.iter().map(|s| s.as_str()))
                .map(|h| format!(" (did you mean `{h}`?)"))
                .unwrap_or_default();
            errs.push(
                src.at(c.span(), format!("unknown category `{}`{hint}", c.get_ref())),
                None,
            );
        }
    }
    if file.steps.is_empty() {
        errs.push(
            src.at(file.id.span(), "a scenario needs at least one step".into()),
            None,
        );
    }

    // Questions.
    let mut questions: Vec<Question> = Vec::new();
    for q in &file.questions {
        let id = q.id.get_ref();
        if !is_ident(id) {
            errs.push(
                src.at(
                    q.id.span(),
                    format!("question id `{id}` must be a lowercase identifier (a-z, 0-9, _)"),
                ),
                None,
            );
        }
        if questions.iter().any(|x| &x.id == id) {
            errs.push(src.at(q.id.span(), format!("question `{id}` is defined twice")), None);
        }
        if q.answers.is_empty() {
            errs.push(
                src.at(q.id.span(), format!("question `{id}` lists no allowed answers")),
                None,
            );
        }
        let mut seen = Vec::new();
        for a in &q.answers {
            if a.value.is_empty() || seen.contains(&&a.value) {
                errs.push(
                    src.at(
                        q.id.span(),
                        format!("question `{id}`: answer values must be non-empty and distinct"),
                    ),
                    None,
                );
            }
            seen.push(&a.value);
        }
        if !file
            .steps
            .iter()
            .any(|s| s.ask.as_ref().map(|a| a.get_ref()) == Some(id))
        {
            errs.push(
                src.at(
                    q.id.span(),
                    format!("question `{id}` is never asked (no step has `ask = \"{id}\"`)"),
                ),
                None,
            );
        }
        questions.push(Question {
            id: id.clone(),
            text: q.text.clone(),
            answers: q.answers.iter().map(|a| (a.value.clone(), a.label.clone())).collect(),
        });
    }
    let question_ids: Vec<String> = questions.iter().map(|q| q.id.clone()).collect();
    let all_values: Vec<String> = file.steps.iter().flat_map(|s| s.values.keys().cloned()).collect();
    let step_ids: Vec<String> = file.steps.iter().map(|s| s.id.get_ref().clone()).collect();
    let cause_codes: Vec<String> = file.causes.iter().map(|c| c.code.get_ref().clone()).collect();

    let compile = |text: &Spanned<String>, values: &[String]| -> Result<Expression, LoadError> {
        compile_expression(
            src,
            text,
            &Names {
                questions: &question_ids,
                values,
            },
        )
    };

    let precondition = match &file.precondition {
        Some(p) => match compile(p, &[]) {
            Ok(e) => Some(e),
            Err(e) => {
                errs.push(e, None);
                None
            }
        },
        None => None,
    };

    // Steps.
    let mut steps = Vec::new();
    let mut values_so_far: Vec<String> = Vec::new();
    for (i, s) in file.steps.iter().enumerate() {
        let id = s.id.get_ref();
        let here = Some(id.as_str());
        if !is_ident(id) {
            errs.push(
                src.at(
                    s.id.span(),
                    format!("step id `{id}` must be a lowercase identifier (a-z, 0-9, _)"),
                ),
                here,
            );
        }
        if step_ids[..i].contains(id) {
            errs.push(src.at(s.id.span(), format!("step `{id}` is defined twice")), here);
        }
        if let Some(a) = &s.ask {
            if !question_ids.contains(a.get_ref()) {
                errs.push(
                    src.at(
                        a.span(),
                        format!(
                            "`ask`: no question `{}` in this scenario (questions: {})",
                            a.get_ref(),
                            or_none(&question_ids)
                        ),
                    ),
                    here,
                );
            }
        }
        let mut values = Vec::new();
        for (name, text) in &s.values {
            if !is_ident(name) {
                errs.push(
                    src.at(
                        text.span(),
                        format!("value name `{name}` must be a lowercase identifier"),
                    ),
                    here,
                );
            }
            if values_so_far.contains(name) {
                errs.push(
                    src.at(
                        text.span(),
                        format!("value `{name}` is already computed by an earlier step"),
                    ),
                    here,
                );
            }
            match compile(text, &values_so_far) {
                Ok(e) => values.push((name.clone(), e)),
                Err(e) => errs.push(e, here),
            }
        }
        values_so_far.extend(s.values.keys().cloned());
        let expr = match compile(&s.expr, &values_so_far) {
            Ok(e) => Some(e),
            Err(e) => {
                errs.push(e, here);
                None
            }
        };
        let then = parse_outcome(src, &s.then, i, &step_ids, &cause_codes);
        let otherwise = match &s.otherwise {
            Some(o) => parse_outcome(src, o, i, &step_ids, &cause_codes),
            None => Ok(Outcome::Next),
        };
        match (expr, then, otherwise) {
            (Some(expr), Ok(then), Ok(otherwise)) => steps.push(Step {
                id: id.clone(),
                description: s.description.clone(),
                ask: s.ask.as_ref().map(|a| a.get_ref().clone()),
                expr,
                values,
                then,
                otherwise,
            }),
            (_, t, o) => {
                for e in [t.err(), o.err()].into_iter().flatten() {
                    errs.push(e, here);
                }
            }
        }
    }

    // Causes.
    let names = TemplateNames {
        questions: &question_ids,
        values: &all_values,
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
            &mut errs,
            format!("{key}/explanation"),
            &c.explanation,
            &names,
        );
        let reply_name = add_template(src, templates, &mut errs, format!("{key}/reply"), &c.reply, &names);
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
                &mut errs,
                format!("{key}/action{ai}"),
                &a.description,
                &names,
            );
            let target = a
                .target
                .as_ref()
                .and_then(|t| add_template(src, templates, &mut errs, format!("{key}/action{ai}.target"), t, &names));
            let mut cel_field = |t: &Option<Spanned<String>>| -> Option<Expression> {
                t.as_ref().and_then(|t| match compile(t, &all_values) {
                    Ok(e) => Some(e),
                    Err(e) => {
                        errs.push(e, None);
                        None
                    }
                })
            };
            let amount_fen = cel_field(&a.amount_fen);
            let service_code = cel_field(&a.service_code);
            let element_id = cel_field(&a.element_id);
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
                actions,
                explanation_source: c.explanation.get_ref().clone(),
                reply_source: c.reply.get_ref().clone(),
            });
        }
    }
    if !errs.list.is_empty() {
        return Err(errs.list);
    }
    let mut view_fields = errs.view_fields;
    let mut note = |e: &Expression| {
        for r in &e.reads {
            view_fields.add(&r.segments);
        }
    };
    precondition.iter().for_each(&mut note);
    for st in &steps {
        note(&st.expr);
        st.values.iter().for_each(|(_, e)| note(e));
    }
    for c in &causes {
        for a in &c.actions {
            [&a.amount_fen, &a.service_code, &a.element_id]
                .into_iter()
                .flatten()
                .for_each(&mut note);
        }
    }
    Ok(Scenario {
        id: sid,
        title: file.title,
        categories: file.categories.into_iter().map(Spanned::into_inner).collect(),
        priority: file.priority,
        file: src.file.to_string(),
        source: src.text.to_string(),
        precondition,
        questions,
        steps,
        causes,
        view_fields,
    })
}

fn or_none(xs: &[String]) -> String {
    if xs.is_empty() {
        "none".into()
    } else {
        xs.join(", ")
    }
}

fn is_ident(s: &str) -> bool {
    !s.is_empty()
        && s.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn parse_outcome(
    src: &Source,
    o: &Spanned<String>,
    index: usize,
    step_ids: &[String],
    cause_codes: &[String],
) -> Result<Outcome, LoadError> {
    let text = o.get_ref().trim();
    if text == "next" {
        return Ok(Outcome::Next);
    }
    if text == "end" {
        return Ok(Outcome::End);
    }
    if let Some(target) = text.strip_prefix("goto:") {
        return match step_ids.iter().position(|s| s == target.trim()) {
            Some(j) if j > index => Ok(Outcome::Goto(j)),
            Some(_) => Err(src.at(
                o.span(),
                format!("`goto:{target}` must go to a later step (steps run forwards, so a scenario always ends)"),
            )),
            None => Err(src.at(
                o.span(),
                format!("`goto:{target}`: no step `{target}` (steps: {})", step_ids.join(", ")),
            )),
        };
    }
    if let Some(code) = text.strip_prefix("cause:") {
        return match cause_codes.iter().position(|c| c == code.trim()) {
            Some(j) => Ok(Outcome::Cause(j)),
            None => Err(src.at(
                o.span(),
                format!(
                    "`cause:{code}`: no cause `{code}` in this scenario (causes: {})",
                    or_none(cause_codes)
                ),
            )),
        };
    }
    Err(src.at(
        o.span(),
        format!("outcome `{text}` must be `next`, `end`, `goto:<step>` or `cause:<CODE>`"),
    ))
}

fn compile_expression(src: &Source, text: &Spanned<String>, names: &Names) -> Result<Expression, LoadError> {
    let expr = text.get_ref();
    if expr.trim().is_empty() {
        return Err(src.at(text.span(), "empty expression".into()));
    }
    if expr.chars().count() > check::MAX_EXPRESSION_CHARS {
        return Err(src.at(
            text.span(),
            format!("expression longer than {} characters", check::MAX_EXPRESSION_CHARS),
        ));
    }
    let program = cel_env().compile(expr).map_err(|errs| {
        let (offset, msg) = match errs.errors.first() {
            Some(e) => (offset_of_pos(expr, e.pos), e.msg.clone()),
            None => (0, "does not parse".into()),
        };
        src.in_string(&text.span(), expr, offset, format!("CEL syntax error: {msg}"))
    })?;
    let reads = check::check(&program, names).map_err(|p| src.in_string(&text.span(), expr, p.offset, p.message))?;
    Ok(Expression {
        text: expr.clone(),
        program,
        reads,
    })
}

/// A parser position (1-based line and column, in characters) as a byte offset into `expr`.
fn offset_of_pos(expr: &str, pos: (isize, isize)) -> usize {
    let (line, col) = (pos.0.max(1) as usize, pos.1.max(1) as usize);
    let mut lines = expr.split_inclusive('\n');
    let before: usize = lines.by_ref().take(line - 1).map(str::len).sum();
    let in_line: usize = lines
        .next()
        .map(|l| l.chars().take(col - 1).map(char::len_utf8).sum())
        .unwrap_or(0);
    before + in_line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_one(text: &str) -> Result<ScenarioSet, LoadErrors> {
        load_texts(
            &[("t.toml".into(), text.into())],
            Path::new("scenarios"),
            &LoadOptions::default(),
        )
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
    fn parse_error_positions() {
        let e = cel_env().compile("view.a == )").unwrap_err();
        let off = offset_of_pos("view.a == )", e.errors[0].pos);
        assert_eq!(&"view.a == )"[off..off + 1], ")", "{:?}", e.errors[0].pos);
    }
}
