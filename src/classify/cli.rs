//! The `classify` command-line contract: JSON lines in, JSON lines out.

use std::io::{BufRead, Write};

use serde_json::{json, Value};

use super::Classifier;

/// Reads JSON lines `{"id": ..., "text": "..."}` and writes, in input order, one JSON line
/// per input line: `{"id", "category", "confidence", "abstained", "keywords"}`.
///
/// `category` is always the top prediction, also when `abstained` is true (top
/// probability below `threshold`). A line that is not valid UTF-8 or JSON, has no string
/// `text`, or whose text is empty gives `{"id": ..., "line": n, "error": "..."}` (`id` is
/// the line's id when it has one, else the 1-based line number) and processing goes on.
/// Blank lines are skipped. Only I/O errors end the run.
pub fn run_cli(input: impl BufRead, output: impl Write, threshold: f64) -> anyhow::Result<()> {
    run_cli_with(Classifier::shared(), input, output, threshold)
}

/// [`run_cli`] with a given classifier (one trained on a configured corpus).
pub fn run_cli_with(
    clf: &Classifier,
    mut input: impl BufRead,
    mut output: impl Write,
    threshold: f64,
) -> anyhow::Result<()> {
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    loop {
        buf.clear();
        if input.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        line_no += 1;
        let reply = match std::str::from_utf8(&buf) {
            Err(e) => error_line(json!(line_no), line_no, &format!("line is not valid UTF-8: {e}")),
            Ok(line) if line.trim().is_empty() => continue,
            Ok(line) => answer(clf, line, line_no, threshold),
        };
        serde_json::to_writer(&mut output, &reply)?;
        output.write_all(b"\n")?;
    }
    output.flush()?;
    Ok(())
}

fn error_line(id: Value, line_no: u64, msg: &str) -> Value {
    json!({"id": id, "line": line_no, "error": msg})
}

fn answer(clf: &Classifier, line: &str, line_no: u64, threshold: f64) -> Value {
    let v: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => return error_line(json!(line_no), line_no, &format!("invalid JSON: {e}")),
    };
    let id = match v.get("id") {
        Some(id) if !id.is_null() => id.clone(),
        _ => json!(line_no),
    };
    let Some(text) = v.get("text").and_then(Value::as_str) else {
        return error_line(id, line_no, "missing string field \"text\"");
    };
    match clf.classify_with_threshold(text, threshold) {
        Ok(c) => json!({
            "id": id,
            "category": c.category(),
            "confidence": (c.confidence() * 1e4).round() / 1e4,
            "abstained": c.abstained,
            "keywords": c.keywords,
        }),
        Err(e) => error_line(id, line_no, &e.to_string()),
    }
}
