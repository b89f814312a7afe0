//! Running one scenario over one view: step by step, forwards only, recording what each step read and
//! found. A step that fails at run time (a missing optional field, a type mismatch) ends the scenario
//! with an error in its trace; it never fails the call.
use super::evidence::Evidence;
use super::model::{cel_env, Expression, Outcome, Scenario};
use super::provenance::{Absent, Provenance};
use super::{bound, value};
use cel::extractors::Arguments;
use cel::objects::{Key, KeyRef, Map};
use cel::{Context, ExecutionError, Value};
use chrono::{DateTime, FixedOffset};
use std::collections::HashMap;
use std::sync::Arc;

/// How a scenario ended.
#[derive(Debug, Clone, PartialEq)]
pub enum RunOutcome {
    /// A cause (index into `Scenario::causes`).
    Cause(usize),
    /// A step needs this question answered first.
    Question(String),
    /// The steps ended without a cause.
    NoCause,
    /// A step stopped on data the read could not give (no source provides it, or its source did not
    /// answer): nothing can be concluded until it is checked where it is kept.
    Undecided { step: String, missing: Vec<Absent> },
    /// A step failed at run time.
    Error { step: String, message: String },
    /// The precondition does not hold.
    NotApplicable,
}

impl RunOutcome {
    /// Rank for choosing a scenario: causes first, then questions, then the rest.
    pub fn rank(&self) -> u8 {
        match self {
            RunOutcome::Cause(_) => 0,
            RunOutcome::Question(_) => 1,
            RunOutcome::Undecided { .. } => 2,
            RunOutcome::NoCause => 3,
            RunOutcome::Error { .. } => 4,
            RunOutcome::NotApplicable => 5,
        }
    }
}

/// A member chain a step read, with its value.
#[derive(Debug, Clone)]
pub struct Read {
    pub path: String,
    pub segments: Vec<String>,
    /// Shown as short JSON, or `<unset>`.
    pub value: Shown,
}

/// A value a step read or computed, written out (short JSON, see [`value::short`]) only when it is
/// shown: every scenario of a category runs, but only the chosen one's trace reaches an answer, so the
/// others' values are never written.
#[derive(Debug, Clone)]
pub struct Shown(Option<Value>);

impl Shown {
    /// A value that was there.
    pub fn of(v: Value) -> Shown {
        Shown(Some(v))
    }

    /// A field that was absent.
    pub fn unset() -> Shown {
        Shown(None)
    }
}

impl std::fmt::Display for Shown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(v) => f.write_str(&value::short(v)),
            None => f.write_str("<unset>"),
        }
    }
}

/// One step as it ran.
#[derive(Debug, Clone)]
pub struct TraceEntry {
    pub step_id: String,
    pub description: String,
    pub expression: String,
    pub reads: Vec<Read>,
    pub result: Option<String>,
    pub outcome: String,
    pub error: Option<String>,
    pub values: Vec<(String, Shown)>,
    /// The sources behind the view fields the step read (filled for the chosen scenario, from the
    /// sources' answers; see [`super::evidence`]).
    pub evidence: Vec<Evidence>,
}

/// A scenario's run.
pub struct ScenarioRun {
    pub scenario: Arc<Scenario>,
    pub outcome: RunOutcome,
    pub trace: Vec<TraceEntry>,
    /// Values the steps computed, in order.
    pub values: Vec<(String, Value)>,
    /// The same values as the expressions see them (`values`).
    computed: Computed,
}

impl ScenarioRun {
    /// Binds the values the steps computed as `values` in `scope` (for the cause's actions).
    pub fn bind_values<'a>(&'a self, scope: &mut Context<'_, 'a>) {
        scope.set_variable_resolver(&self.computed);
    }
}

/// The root evaluation context of a complaint that names no period (see [`eval_context_with`]).
pub fn eval_context(
    view: &Value,
    now: DateTime<FixedOffset>,
    answers: &HashMap<String, String>,
) -> Context<'static, 'static> {
    eval_context_with(view, now, answers, &super::period::complaint_value(None, now))
}

/// The root evaluation context: `view`, `now`, `answers`, `complaint` (the period the text names, see
/// [`super::period`]), an empty `values`, and `sum`/`max`/`min`.
pub fn eval_context_with(
    view: &Value,
    now: DateTime<FixedOffset>,
    answers: &HashMap<String, String>,
    complaint: &Value,
) -> Context<'static, 'static> {
    let mut ctx = base_context(now, answers, complaint);
    ctx.add_variable_from_value("view", view.clone());
    ctx
}

/// [`eval_context_with`] over a view read for a diagnosis: `view` is borrowed, each of its fields
/// converted once for all the expressions (see [`bound::CelView`]).
pub fn eval_context_over<'v>(
    view: &'v bound::CelView,
    now: DateTime<FixedOffset>,
    answers: &HashMap<String, String>,
    complaint: &Value,
) -> Context<'v, 'v> {
    let mut ctx = base_context(now, answers, complaint);
    view.bind(&mut ctx);
    ctx
}

fn base_context<'v>(
    now: DateTime<FixedOffset>,
    answers: &HashMap<String, String>,
    complaint: &Value,
) -> Context<'v, 'v> {
    let mut ctx = Context::with_env(cel_env().clone());
    ctx.add_variable_from_value("now", Value::Timestamp(now));
    ctx.add_variable_from_value("complaint", complaint.clone());
    let answers: HashMap<Key, Value> = answers
        .iter()
        .map(|(k, v)| (Key::String(Arc::new(k.clone())), Value::String(Arc::new(v.clone()))))
        .collect();
    ctx.add_variable_from_value("answers", Value::Map(Map { map: Arc::new(answers) }));
    ctx.add_variable_from_value(
        "values",
        Value::Map(Map {
            map: Arc::new(HashMap::new()),
        }),
    );
    // These names are not standard overloads, so adding them cannot fail.
    let _ = ctx.add_function("sum", sum);
    let _ = ctx.add_function("max", cel::functions::max);
    let _ = ctx.add_function("min", cel::functions::min);
    ctx
}

/// `sum(list)`: the sum of a list of integers (or numbers), 0 for an empty list.
fn sum(Arguments(args): Arguments) -> Result<Value, ExecutionError> {
    let items: &[Value] = match args.as_slice() {
        [Value::List(l)] => l.as_slice(),
        other => other,
    };
    let mut int: i64 = 0;
    let mut float: Option<f64> = None;
    for v in items {
        match v {
            Value::Int(i) => {
                int = int
                    .checked_add(*i)
                    .ok_or_else(|| ExecutionError::function_error("sum", "integer overflow"))?
            }
            Value::UInt(u) => {
                int = int
                    .checked_add(i64::try_from(*u).unwrap_or(i64::MAX))
                    .ok_or_else(|| ExecutionError::function_error("sum", "integer overflow"))?
            }
            Value::Float(f) => *float.get_or_insert(0.0) += f,
            other => {
                return Err(ExecutionError::function_error(
                    "sum",
                    format!("can only add numbers, got {}", value::short(other)),
                ))
            }
        }
    }
    Ok(match float {
        Some(f) => Value::Float(f + int as f64),
        None => Value::Int(int),
    })
}

/// Binds `values` in a scope.
pub fn bind_values(scope: &mut Context, values: &[(String, Value)]) {
    let map: HashMap<Key, Value> = values
        .iter()
        .map(|(k, v)| (Key::String(Arc::new(k.clone())), v.clone()))
        .collect();
    scope.add_variable_from_value("values", Value::Map(Map { map: Arc::new(map) }));
}

/// `values` as the expressions of a step see it: the values computed so far, each converted for CEL
/// once, when it is computed (binding them as a fresh map for every expression converted every value
/// again, which was a fifth of a diagnosis).
struct Computed(cel::common::types::CelMap<'static>);

impl Default for Computed {
    fn default() -> Computed {
        Computed(HashMap::new().into())
    }
}

impl Computed {
    /// Adds (or replaces) value `name`.
    fn add(&mut self, name: &str, v: &Value) -> Result<(), String> {
        let val: Box<dyn cel::common::value::Val> = v
            .clone()
            .try_into()
            .map_err(|e| format!("the value cannot be used in expressions: {e}"))?;
        let mut map = std::mem::replace(&mut self.0, HashMap::new().into()).into_inner();
        map.insert(cel::common::types::CelMapKey::from(name.to_string()), val);
        self.0 = map.into();
        Ok(())
    }
}

impl cel::context::VariableResolver for Computed {
    fn resolve<'b>(&'b self, variable: &str) -> Option<cel::common::value::CowVal<'b, 'b>> {
        (variable == "values").then(|| cel::common::value::CowVal::Borrowed(&self.0 as &dyn cel::common::value::Val))
    }
}

/// What a scenario runs over, besides its own computed values.
pub struct Inputs<'a> {
    /// The view as a CEL value (the same one bound as `view`).
    pub view: &'a Value,
    pub answers: &'a HashMap<String, String>,
    pub now: DateTime<FixedOffset>,
    /// The view fields the read could not give (removed from `view`).
    pub provenance: &'a Provenance,
    /// `complaint` as the expressions see it (the period its text names).
    pub complaint: &'a Value,
}

/// The absent fields a step that failed needed (see [`super::provenance::needed`]).
pub fn missing_for(p: &Provenance, reads: &[Read], texts: &[&str], error: &str) -> Vec<Absent> {
    let chains: Vec<&[String]> = reads.iter().map(|r| r.segments.as_slice()).collect();
    super::provenance::needed(p, &chains, texts, error)
}

/// The value at a member chain such as `view.account.status`, looked up in the values themselves
/// (no evaluation, no copy); `None` where a field is absent.
fn lookup(inputs: &Inputs, values: &[(String, Value)], segments: &[String]) -> Option<Value> {
    let (root, rest) = segments.split_first()?;
    let mut cur = match root.as_str() {
        "view" => inputs.view.clone(),
        "now" => Value::Timestamp(inputs.now),
        "complaint" => inputs.complaint.clone(),
        "answers" => {
            let q = rest.first()?;
            return inputs.answers.get(q).map(|a| Value::String(Arc::new(a.clone())));
        }
        "values" => {
            let name = rest.first()?;
            let mut v = values.iter().rev().find(|(k, _)| k == name)?.1.clone();
            for seg in &rest[1..] {
                v = field(&v, seg)?;
            }
            return Some(v);
        }
        _ => return None,
    };
    for seg in rest {
        cur = field(&cur, seg)?;
    }
    Some(cur)
}

fn field(v: &Value, name: &str) -> Option<Value> {
    match v {
        Value::Map(m) => m.get(&KeyRef::String(name)).cloned(),
        _ => None,
    }
}

fn reads_of(e: &Expression, inputs: &Inputs, values: &[(String, Value)]) -> Vec<Read> {
    e.reads
        .iter()
        .map(|path| Read {
            path: path.text(),
            segments: path.segments.clone(),
            value: match lookup(inputs, values, &path.segments) {
                Some(v) => Shown::of(v),
                None => Shown::unset(),
            },
        })
        .collect()
}

/// Adds reads not yet listed (values a step computes often read what its expression reads again).
fn add_reads(to: &mut Vec<Read>, reads: Vec<Read>) {
    for r in reads {
        if !to.iter().any(|x| x.path == r.path) {
            to.push(r);
        }
    }
}

fn outcome_text(s: &Scenario, o: &Outcome, index: usize) -> String {
    match o {
        Outcome::Next if index + 1 < s.steps.len() => "next".into(),
        Outcome::Next | Outcome::End => "end".into(),
        Outcome::Goto(j) => format!("goto {}", s.steps[*j].id),
        Outcome::Cause(c) => format!("cause {}", s.causes[*c].code),
    }
}

/// Runs `scenario` with the root context `root` (see [`eval_context`]) built from `inputs`.
pub fn run(scenario: &Arc<Scenario>, root: &Context, inputs: &Inputs) -> ScenarioRun {
    let mut out = ScenarioRun {
        scenario: scenario.clone(),
        outcome: RunOutcome::NoCause,
        trace: Vec::new(),
        values: Vec::new(),
        computed: Computed::default(),
    };
    if let Some(p) = &scenario.precondition {
        let r = p.program.execute(root);
        let mut entry = TraceEntry {
            step_id: "precondition".into(),
            description: "适用条件".into(),
            expression: p.text.clone(),
            reads: reads_of(p, inputs, &[]),
            result: None,
            outcome: String::new(),
            error: None,
            values: Vec::new(),
            evidence: Vec::new(),
        };
        match r {
            Ok(Value::Bool(true)) => {
                entry.result = Some("true".into());
                entry.outcome = "next".into();
                out.trace.push(entry);
            }
            Ok(Value::Bool(false)) => {
                entry.result = Some("false".into());
                entry.outcome = "not applicable".into();
                out.trace.push(entry);
                out.outcome = RunOutcome::NotApplicable;
                return out;
            }
            other => {
                let message = match other {
                    Ok(v) => format!(
                        "{}: the precondition must be true or false, got {}",
                        p.place,
                        value::short(&v)
                    ),
                    Err(e) => format!("{}: {e}", p.place),
                };
                let missing = missing_for(inputs.provenance, &entry.reads, &[p.text.as_str()], &message);
                if missing.is_empty() {
                    tracing::warn!(scenario = %scenario.id, error = %message, "scenario precondition failed at run time");
                }
                entry.error = Some(message.clone());
                out.outcome = if missing.is_empty() {
                    entry.outcome = "error".into();
                    RunOutcome::Error {
                        step: "precondition".into(),
                        message,
                    }
                } else {
                    entry.outcome = "cannot decide".into();
                    RunOutcome::Undecided {
                        step: "precondition".into(),
                        missing,
                    }
                };
                out.trace.push(entry);
                return out;
            }
        }
    }
    let mut i = 0;
    while i < scenario.steps.len() {
        let step = &scenario.steps[i];
        let mut entry = TraceEntry {
            step_id: step.id.clone(),
            description: step.description.clone(),
            expression: step.expr.text.clone(),
            reads: Vec::new(),
            result: None,
            outcome: String::new(),
            error: None,
            values: Vec::new(),
            evidence: Vec::new(),
        };
        if let Some(q) = &step.ask {
            if !inputs.answers.contains_key(q) {
                entry.outcome = format!("ask {q}");
                out.trace.push(entry);
                out.outcome = RunOutcome::Question(q.clone());
                return out;
            }
        }
        // A failure on data the read could not give is "cannot decide", naming the data; any other
        // failure is the scenario's error, naming where the expression is written (trace and log).
        let fail = |entry: &mut TraceEntry, message: String| {
            let mut texts: Vec<&str> = step.values.iter().map(|(_, e)| e.text.as_str()).collect();
            texts.push(step.expr.text.as_str());
            let missing = missing_for(inputs.provenance, &entry.reads, &texts, &message);
            if missing.is_empty() {
                tracing::warn!(scenario = %scenario.id, step = %step.id, error = %message, "scenario expression failed at run time");
            }
            entry.error = Some(message.clone());
            if missing.is_empty() {
                entry.outcome = "error".into();
                RunOutcome::Error {
                    step: step.id.clone(),
                    message,
                }
            } else {
                entry.outcome = "cannot decide".into();
                RunOutcome::Undecided {
                    step: step.id.clone(),
                    missing,
                }
            }
        };
        // A step's values, in file order, see the values of earlier steps and those above them in the
        // step (checked at load); the expression then sees all of them.
        for (name, e) in &step.values {
            add_reads(&mut entry.reads, reads_of(e, inputs, &out.values));
            let computed = {
                let mut scope = root.new_inner_scope();
                scope.set_variable_resolver(&out.computed);
                e.program.execute(&scope)
            };
            match computed
                .map_err(|err| err.to_string())
                .and_then(|v| out.computed.add(name, &v).map(|()| v))
            {
                Ok(v) => {
                    entry.values.push((name.clone(), Shown::of(v.clone())));
                    out.values.push((name.clone(), v));
                }
                Err(err) => {
                    out.outcome = fail(&mut entry, format!("{}: value `{name}`: {err}", e.place));
                    out.trace.push(entry);
                    return out;
                }
            }
        }
        add_reads(&mut entry.reads, reads_of(&step.expr, inputs, &out.values));
        let result = {
            let mut scope = root.new_inner_scope();
            scope.set_variable_resolver(&out.computed);
            step.expr.program.execute(&scope)
        };
        let next = match result {
            Ok(Value::Bool(b)) => {
                entry.result = Some(b.to_string());
                if b {
                    &step.then
                } else {
                    &step.otherwise
                }
            }
            Ok(v) => {
                out.outcome = fail(
                    &mut entry,
                    format!(
                        "{}: the step's expression must be true or false, got {}",
                        step.expr.place,
                        value::short(&v)
                    ),
                );
                out.trace.push(entry);
                return out;
            }
            Err(err) => {
                out.outcome = fail(&mut entry, format!("{}: {err}", step.expr.place));
                out.trace.push(entry);
                return out;
            }
        };
        entry.outcome = outcome_text(scenario, next, i);
        out.trace.push(entry);
        match next {
            Outcome::Next => i += 1,
            Outcome::Goto(j) => i = *j,
            Outcome::Cause(c) => {
                out.outcome = RunOutcome::Cause(*c);
                return out;
            }
            Outcome::End => break,
        }
    }
    out.outcome = RunOutcome::NoCause;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sum_max_min() {
        let ctx = eval_context(
            &Value::Null,
            value::beijing().timestamp_opt(0, 0).unwrap(),
            &HashMap::new(),
        );
        let eval = |s: &str| cel_env().compile(s).unwrap().execute(&ctx);
        assert_eq!(eval("sum([1, 2, 3])"), Ok(Value::Int(6)));
        assert_eq!(eval("sum([])"), Ok(Value::Int(0)));
        assert_eq!(eval("max([1, 5, 3])"), Ok(Value::Int(5)));
        assert_eq!(eval("min([4, 2])"), Ok(Value::Int(2)));
        assert!(eval("sum(['a'])").is_err());
    }

    use chrono::TimeZone;
}
