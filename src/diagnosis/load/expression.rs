//! Compiling one CEL expression of a scenario file: parsed with [`cel_env`], checked against the schema
//! and the scenario's names ([`super::check`]); a problem points at its place in the file.
use super::check::{self, Names};
use super::errors::{LoadError, Source};
use super::types::{Ty, DYN};
use crate::diagnosis::model::{cel_env, Expression};
use toml::Spanned;

/// Compiles one CEL expression and checks it against the schema and `names`; a problem points into the
/// file. The type of its value comes with it (for a step's `values` and action arguments).
pub fn compile_typed(src: &Source, text: &Spanned<String>, names: &Names) -> Result<(Expression, Ty), LoadError> {
    compile_checked(src, text, names, check::check_typed)
}

/// [`compile_typed`] for a condition (a precondition or a step's `expr`): it must give true or false.
pub fn compile_condition(src: &Source, text: &Spanned<String>, names: &Names) -> Result<Expression, LoadError> {
    compile_checked(src, text, names, |p, n| check::check_condition(p, n).map(|r| (r, DYN))).map(|(e, _)| e)
}

type Checker = fn(&cel::Program, &Names) -> Result<(Vec<crate::diagnosis::model::ReadPath>, Ty), check::Problem>;

fn compile_checked(
    src: &Source,
    text: &Spanned<String>,
    names: &Names,
    checker: Checker,
) -> Result<(Expression, Ty), LoadError> {
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
    let (reads, ty) = checker(&program, names).map_err(|p| src.in_string(&text.span(), expr, p.offset, p.message))?;
    let at = src.in_string(&text.span(), expr, 0, String::new());
    Ok((
        Expression {
            text: expr.clone(),
            program,
            reads,
            place: format!("{}:{}:{}", at.file, at.line, at.col),
        },
        ty,
    ))
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

    #[test]
    fn parse_error_positions() {
        let e = cel_env().compile("view.a == )").unwrap_err();
        let off = offset_of_pos("view.a == )", e.errors[0].pos);
        assert_eq!(&"view.a == )"[off..off + 1], ")", "{:?}", e.errors[0].pos);
    }
}
