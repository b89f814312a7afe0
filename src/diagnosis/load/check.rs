//! Load-time checks of scenario expressions, over the parsed CEL AST.
//!
//! Every member chain rooted at `view` is checked against the proto schema through the schema's one path
//! resolver ([`schema::Shape::select`], shared with adapter definitions and reply templates), following
//! repeated fields into their element type inside comprehension macros (`exists`, `all`, `filter`, `map`,
//! …) and through `[i]`. Comparisons of an enum field with a string literal must name one of
//! the enum's values. `answers.x` must be a question of the scenario and `values.x` a value computed by a
//! step before. Comprehensions nest at most [`MAX_NESTING`] deep, which (with the bounded inputs of
//! `value`) bounds the work any expression can do. The chains an expression reads are returned, so a
//! trace can show their values.
use super::types::{self, Class, Ty, DYN};
use crate::diagnosis::model::ReadPath;
use crate::schema::{self, SelectError, Shape};
use cel::common::ast::{operators, Expr, LiteralValue};
use cel::{IdedExpr, Program};
use prost_reflect::EnumDescriptor;

/// Deepest nesting of comprehension macros inside one another.
pub const MAX_NESTING: usize = 2;
/// Longest expression accepted, in characters.
pub const MAX_EXPRESSION_CHARS: usize = 4_000;

/// The variables an expression sees.
pub const VARIABLES: [&str; 5] = ["view", "now", "answers", "values", "complaint"];

/// What an expression may refer to besides the view.
pub struct Names<'a> {
    /// Question ids of the scenario (`answers.<id>`).
    pub questions: &'a [String],
    /// The values computed before this expression (`values.<name>`), each with its type.
    pub values: &'a [(String, Ty)],
    /// The allowed answers of each question, so `answers.x == "…"` compares with one of them (empty:
    /// not checked).
    pub allowed: &'a [(String, Vec<String>)],
}

/// A problem found in an expression, at a character offset in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub offset: usize,
    pub message: String,
}

/// Type names CEL lets an expression use as identifiers (`type(x) == int`).
const TYPE_IDENTS: [&str; 11] = [
    "int",
    "uint",
    "double",
    "bool",
    "string",
    "bytes",
    "list",
    "map",
    "null_type",
    "type",
    "dyn",
];

struct Walker<'a> {
    program: &'a Program,
    names: &'a Names<'a>,
    scope: Vec<(String, Ty)>,
    nesting: usize,
    reads: Vec<ReadPath>,
}

/// Checks `program` (compiled from one scenario expression) and returns the chains it reads.
pub fn check(program: &Program, names: &Names) -> Result<Vec<ReadPath>, Problem> {
    check_typed(program, names).map(|(reads, _)| reads)
}

/// [`check`] for a condition (a precondition or a step's `expr`): it must give true or false, so one that
/// gives a list, a message, a number, a string or a timestamp is a problem at its start.
pub fn check_condition(program: &Program, names: &Names) -> Result<Vec<ReadPath>, Problem> {
    let (reads, ty) = check_typed(program, names)?;
    let what = match ty.class() {
        Class::Bool | Class::Unknown => None,
        _ => Some(ty.describe()),
    };
    match what {
        Some(w) => Err(Problem {
            offset: 0,
            message: format!("must be true or false, but gives {w}; compare it (`==`, `>`, `size(…) > 0`)"),
        }),
        None => Ok(reads),
    }
}

/// [`check`], also giving the type of the expression's value (for `values.<name>`).
pub fn check_typed(program: &Program, names: &Names) -> Result<(Vec<ReadPath>, Ty), Problem> {
    let mut w = Walker {
        program,
        names,
        scope: Vec::new(),
        nesting: 0,
        reads: Vec::new(),
    };
    let ty = w.walk(program.expression(), false)?;
    Ok((w.reads, ty))
}

impl Walker<'_> {
    fn offset(&self, e: &IdedExpr) -> usize {
        self.program
            .source_info()
            .offset_for(e.id)
            .map(|(start, _)| start as usize)
            .unwrap_or(0)
    }

    fn problem(&self, e: &IdedExpr, message: String) -> Problem {
        Problem {
            offset: self.offset(e),
            message,
        }
    }

    fn lookup(&self, name: &str) -> Option<&Ty> {
        self.scope.iter().rev().find(|(n, _)| n == name).map(|(_, t)| t)
    }

    /// The chain `root.a.b` spelt by `e`, if its root is a global variable (not a macro's variable).
    fn chain(&self, e: &IdedExpr, tested: Option<&str>) -> Option<ReadPath> {
        let mut segments: Vec<String> = tested.map(|t| vec![t.to_string()]).unwrap_or_default();
        let mut cur = e;
        loop {
            match &cur.expr {
                Expr::Select(s) if !s.test => {
                    segments.push(s.field.clone());
                    cur = &s.operand;
                }
                Expr::Ident(root) => {
                    if self.lookup(root).is_some() || !VARIABLES.contains(&root.as_str()) {
                        return None;
                    }
                    segments.push(root.clone());
                    segments.reverse();
                    return Some(ReadPath { segments });
                }
                _ => return None,
            }
        }
    }

    fn record(&mut self, p: ReadPath) {
        if !self.reads.contains(&p) {
            self.reads.push(p);
        }
    }

    /// Walks `e`; `in_chain` is true when the parent selects a field of `e`.
    fn walk(&mut self, e: &IdedExpr, in_chain: bool) -> Result<Ty, Problem> {
        match &e.expr {
            Expr::Ident(name) => {
                if let Some(t) = self.lookup(name) {
                    return Ok(t.clone());
                }
                let t = match name.as_str() {
                    "view" => Ty::Schema(Shape::view()),
                    "now" => Ty::Schema(Shape::Timestamp),
                    "answers" => Ty::Answers,
                    "values" => Ty::Values,
                    "complaint" => Ty::Complaint,
                    n if TYPE_IDENTS.contains(&n) => return Ok(DYN),
                    other => {
                        return Err(self.problem(
                            e,
                            format!(
                                "unknown variable `{other}`; expressions see {}",
                                VARIABLES.map(|v| format!("`{v}`")).join(", ")
                            ),
                        ))
                    }
                };
                if !in_chain {
                    if let Some(p) = self.chain(e, None) {
                        self.record(p);
                    }
                }
                Ok(t)
            }
            Expr::Select(s) => {
                let operand = self.walk(&s.operand, true)?;
                let t = self.select(e, &operand, &s.field)?;
                if s.test {
                    if let Some(p) = self.chain(&s.operand, Some(&s.field)) {
                        self.record(p);
                    }
                    return Ok(Ty::bool());
                }
                if !in_chain {
                    if let Some(p) = self.chain(e, None) {
                        self.record(p);
                    }
                }
                Ok(t)
            }
            Expr::Call(c) => {
                let target = match &c.target {
                    Some(t) => Some(self.walk(t, false)?),
                    None => None,
                };
                let mut args = Vec::with_capacity(c.args.len());
                for a in &c.args {
                    args.push(self.walk(a, false)?);
                }
                let mut all = Vec::with_capacity(args.len() + 1);
                all.extend(target);
                all.extend(args.iter().cloned());
                match c.func_name.as_str() {
                    operators::EQUALS | operators::NOT_EQUALS if c.args.len() == 2 => {
                        for (i, j) in [(0, 1), (1, 0)] {
                            if let Ty::Schema(Shape::Enum(en)) = &args[i] {
                                self.enum_literal(&en.clone(), &c.args[j])?;
                            }
                            if let Ty::Answer(q) = &args[i] {
                                self.answer_literal(q, &c.args[j])?;
                            }
                        }
                    }
                    operators::IN if c.args.len() == 2 => {
                        if let (Ty::Schema(Shape::Enum(en)), Expr::List(l)) = (&args[0], &c.args[1].expr) {
                            let en = en.clone();
                            for item in &l.elements {
                                self.enum_literal(&en, item)?;
                            }
                        }
                        if let (Ty::Answer(q), Expr::List(l)) = (&args[0], &c.args[1].expr) {
                            for item in &l.elements {
                                self.answer_literal(q, item)?;
                            }
                        }
                    }
                    _ => {}
                }
                Ok(types::call(&c.func_name, &all))
            }
            Expr::Comprehension(c) => {
                let range = self.walk(&c.iter_range, false)?;
                let init = self.walk(&c.accu_init, false)?;
                let elem = match range.class() {
                    Class::List => range.item(),
                    _ => DYN,
                };
                self.nesting += 1;
                if self.nesting > MAX_NESTING {
                    return Err(self.problem(
                        e,
                        format!("macros (exists, all, filter, map, …) nest at most {MAX_NESTING} deep"),
                    ));
                }
                let depth = self.scope.len();
                self.scope.push((c.iter_var.clone(), elem));
                if let Some(v2) = &c.iter_var2 {
                    self.scope.push((v2.clone(), DYN));
                }
                self.scope.push((c.accu_var.clone(), init.clone()));
                // The accumulator's type is refined by its step (`filter` adds the list's items to an
                // empty list), then the result is typed with it.
                let r = (|| {
                    self.walk(&c.loop_cond, false)?;
                    let step = self.walk(&c.loop_step, false)?;
                    if let Some(slot) = self.scope.iter_mut().rev().find(|(n, _)| *n == c.accu_var) {
                        slot.1 = types::refine(&init, &step);
                    }
                    self.walk(&c.result, false)
                })();
                self.scope.truncate(depth);
                self.nesting -= 1;
                r
            }
            Expr::List(l) => {
                // Items of one class give a list of that type (`[v]` in `filter` keeps `v`'s type).
                let mut item: Option<Ty> = None;
                let mut mixed = false;
                for x in &l.elements {
                    let t = self.walk(x, false)?;
                    match &item {
                        None => item = Some(t),
                        Some(i) if i.class() == t.class() => {}
                        Some(_) => mixed = true,
                    }
                }
                Ok(match item {
                    Some(Ty::Schema(shape)) if !mixed => Ty::Schema(Shape::List(Box::new(shape))),
                    Some(Ty::Answer(_)) if !mixed => {
                        Ty::Schema(Shape::List(Box::new(Shape::Scalar(prost_reflect::Kind::String))))
                    }
                    _ => Ty::Schema(Shape::List(Box::new(Shape::Dynamic))),
                })
            }
            Expr::Map(m) => {
                for entry in &m.entries {
                    if let cel::common::ast::EntryExpr::MapEntry(me) = &entry.expr {
                        self.walk(&me.key, false)?;
                        self.walk(&me.value, false)?;
                    }
                }
                Ok(Ty::Schema(Shape::Map(Box::new(Shape::Dynamic))))
            }
            Expr::Struct(s) => {
                for entry in &s.entries {
                    if let cel::common::ast::EntryExpr::StructField(f) = &entry.expr {
                        self.walk(&f.value, false)?;
                    }
                }
                Ok(DYN)
            }
            Expr::Literal(l) => Ok(types::literal(l)),
            Expr::Unspecified => Ok(DYN),
        }
    }

    /// A problem at a field selection, pointing at the field name (the node's offset is its dot).
    fn at_field(&self, e: &IdedExpr, message: String) -> Problem {
        let mut p = self.problem(e, message);
        let src = &self.program.source_info().source;
        if src.as_bytes().get(p.offset) == Some(&b'.') {
            p.offset += 1;
        }
        p
    }

    fn select(&self, e: &IdedExpr, operand: &Ty, field: &str) -> Result<Ty, Problem> {
        match operand {
            Ty::Schema(shape) => match shape.select(field) {
                Ok(selected) => Ok(Ty::Schema(selected.shape)),
                Err(SelectError::UnknownField(u)) => Err(self.at_field(e, u.to_string())),
                Err(SelectError::OfList(item)) => {
                    let what = match &item {
                        Shape::Message(m) => m.full_name().to_string(),
                        _ => "values".into(),
                    };
                    Err(self.at_field(
                        e,
                        format!(
                            "cannot select `{field}` of a list (of {what}); pick an item (`[0]`) or use a macro such as `.exists(x, x.{field} …)`"
                        ),
                    ))
                }
                Err(SelectError::NoFields) => {
                    Err(self.at_field(e, format!("cannot select `{field}`: the value before it has no fields")))
                }
            },
            Ty::Answer(_) => {
                Err(self.at_field(e, format!("cannot select `{field}`: the value before it has no fields")))
            }
            Ty::Answers => {
                if self.names.questions.iter().any(|q| q == field) {
                    Ok(Ty::Answer(field.to_string()))
                } else {
                    Err(self.at_field(
                        e,
                        format!(
                            "`answers.{field}`: the scenario has no question `{field}` (questions: {})",
                            list_or_none(self.names.questions)
                        ),
                    ))
                }
            }
            Ty::Complaint | Ty::Period => types::select_complaint(operand, field).map_err(|m| self.at_field(e, m)),
            Ty::Values => {
                if let Some((_, t)) = self.names.values.iter().find(|(q, _)| q == field) {
                    Ok(t.clone())
                } else {
                    Err(self.at_field(
                        e,
                        format!(
                            "`values.{field}` is not computed by an earlier step or above it in this step (values so far: {})",
                            list_or_none(&self.names.values.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>())
                        ),
                    ))
                }
            }
        }
    }

    /// A string literal compared with `answers.<q>` must be one of the question's allowed answers.
    fn answer_literal(&self, q: &str, e: &IdedExpr) -> Result<(), Problem> {
        let Expr::Literal(LiteralValue::String(s)) = &e.expr else {
            return Ok(());
        };
        let Some((_, allowed)) = self.names.allowed.iter().find(|(id, _)| id == q) else {
            return Ok(());
        };
        let s = s.inner();
        if allowed.iter().any(|a| a == s) {
            return Ok(());
        }
        Err(self.problem(
            e,
            format!(
                "\"{s}\" is not an allowed answer to `{q}`; allowed: {}",
                allowed.join(", ")
            ),
        ))
    }

    fn enum_literal(&self, en: &EnumDescriptor, e: &IdedExpr) -> Result<(), Problem> {
        if let Expr::Literal(LiteralValue::String(s)) = &e.expr {
            let s = s.inner();
            if en.get_value_by_name(s).is_none() {
                let names: Vec<String> = en.values().map(|v| v.name().to_string()).collect();
                let hint = schema::enum_value(en, s)
                    .map(|v| v.name().to_string())
                    .or_else(|| schema::closest(s, names.iter().map(|n| n.as_str())).map(str::to_string))
                    .map(|c| format!("did you mean \"{c}\"?"))
                    .unwrap_or_else(|| format!("values: {}", names.join(", ")));
                return Err(self.problem(e, format!("\"{s}\" is not a value of {} ({hint})", en.full_name())));
            }
        }
        Ok(())
    }
}

fn list_or_none(xs: &[String]) -> String {
    if xs.is_empty() {
        "none".into()
    } else {
        xs.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(src: &str) -> Result<Vec<String>, Problem> {
        let questions = vec!["modem_light".to_string()];
        let values = vec![(
            "unconsented".to_string(),
            Ty::Schema(Shape::List(Box::new(Shape::Dynamic))),
        )];
        let names = Names {
            questions: &questions,
            values: &values,
            allowed: &[],
        };
        let p = crate::diagnosis::model::cel_env().compile(src).expect("parses");
        check(&p, &names).map(|r| r.iter().map(|p| p.text()).collect())
    }

    #[test]
    fn reads_are_collected() {
        let r = run(r#"view.account.status == "ACCOUNT_STATUS_SUSPENDED" && has(view.account.suspended_at) && view.vas_subscriptions.exists(v, v.consent_record == "")"#).unwrap();
        assert_eq!(
            r,
            vec![
                "view.account.status",
                "view.account.suspended_at",
                "view.vas_subscriptions"
            ]
        );
    }

    #[test]
    fn misspelt_field_is_named_with_a_suggestion_and_offset() {
        let src = "view.account.balanse_fen > 0";
        let e = run(src).unwrap_err();
        assert!(
            e.message
                .contains("`balanse_fen` is not a field of complaint.v1.Account"),
            "{e:?}"
        );
        assert!(e.message.contains("did you mean `balance_fen`?"), "{e:?}");
        // The offset points into the misspelt chain.
        assert!((11..=13).contains(&e.offset), "{e:?}");
    }

    #[test]
    fn element_types_inside_macros() {
        let e = run(r#"view.vas_subscriptions.exists(v, v.consnt_record == "")"#).unwrap_err();
        assert!(
            e.message
                .contains("`consnt_record` is not a field of complaint.v1.VasSubscription"),
            "{e:?}"
        );
        let e = run(r#"view.recent_bills[0].items.exists(i, i.amount == 1)"#).unwrap_err();
        assert!(
            e.message.contains("`amount` is not a field of complaint.v1.Charge"),
            "{e:?}"
        );
        run(r#"view.recent_bills[0].items.filter(i, i.charge_type == "CHARGE_TYPE_MONTHLY_FEE").size() > 1"#).unwrap();
    }

    #[test]
    fn list_selection_enum_literals_and_names() {
        assert!(run("view.recent_bills.cycle == ''")
            .unwrap_err()
            .message
            .contains("of a list"));
        let e = run(r#"view.account.status == "SUSPENDED""#).unwrap_err();
        assert!(
            e.message.contains("did you mean \"ACCOUNT_STATUS_SUSPENDED\"?"),
            "{e:?}"
        );
        let e = run(r#"view.account.status in ["ACCOUNT_STATUS_ACTIVE", "ACCOUNT_STATUS_GONE"]"#).unwrap_err();
        assert!(e.message.contains("ACCOUNT_STATUS_GONE"), "{e:?}");
        assert!(run("answers.modem_lite == 'red'")
            .unwrap_err()
            .message
            .contains("no question `modem_lite`"));
        assert!(run("values.missing > 0")
            .unwrap_err()
            .message
            .contains("`values.missing`"));
        assert!(run("foo > 0").unwrap_err().message.contains("unknown variable `foo`"));
        run("size(values.unconsented) > 0 && answers.modem_light == 'red' && now > timestamp('2026-01-01T00:00:00Z')")
            .unwrap();
    }

    #[test]
    fn the_complaint_period_is_typed() {
        run(r#"complaint.period.named && view.recent_bills.exists(b, b.cycle in complaint.period.cycles) && complaint.period.from < now && complaint.period.kind == "month""#).unwrap();
        let e = run("complaint.period.cyle == '202610'").unwrap_err();
        assert_eq!(
            e.message,
            "`cyle` is not a field of complaint.period (did you mean `cycle`?)"
        );
        assert_eq!(
            run("complaint.period.month == '10'").unwrap_err().message,
            "`month` is not a field of complaint.period (fields: named, kind, cycle, cycles, from, to, words, label)"
        );
        assert!(run("complaint.text == ''")
            .unwrap_err()
            .message
            .contains("`text` is not a field of the complaint"));
        let names = Names {
            questions: &[],
            values: &[],
            allowed: &[],
        };
        let p = crate::diagnosis::model::cel_env()
            .compile("complaint.period.from")
            .unwrap();
        assert_eq!(check_typed(&p, &names).unwrap().1.class(), Class::Time);
        let p = crate::diagnosis::model::cel_env()
            .compile("complaint.period.cycles")
            .unwrap();
        assert_eq!(check_typed(&p, &names).unwrap().1.describe(), "a list of strings");
    }

    #[test]
    fn nesting_is_bounded() {
        run("view.payments.exists(a, view.payments.exists(b, a.amount_fen == b.amount_fen))").unwrap();
        let e = run(
            "view.payments.exists(a, view.payments.exists(b, view.payments.exists(c, c.amount_fen == b.amount_fen)))",
        )
        .unwrap_err();
        assert!(e.message.contains("nest at most 2"), "{e:?}");
    }
}
