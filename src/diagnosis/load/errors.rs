//! Load errors: a problem in a scenario file with where it is (`file:line:col`), and the byte-span to
//! line:col arithmetic that puts it there, exactly, even inside a multi-line string.
use crate::diagnosis::model::ViewFields;
use std::fmt;
use std::ops::Range;

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
pub struct Source<'a> {
    pub file: &'a str,
    pub text: &'a str,
}

impl Source<'_> {
    pub fn line_col(&self, byte: usize) -> (usize, usize) {
        let byte = byte.min(self.text.len());
        let before = &self.text[..byte];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        (line, self.text[line_start..byte].chars().count() + 1)
    }

    pub fn at(&self, span: Range<usize>, message: String) -> LoadError {
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
    pub fn in_string(&self, span: &Range<usize>, value: &str, offset: usize, message: String) -> LoadError {
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
    /// A problem of a whole file or folder (unreadable, empty), not of a place in it.
    pub fn of_file(file: impl Into<String>, message: impl Into<String>) -> LoadError {
        LoadError {
            file: file.into(),
            line: 0,
            col: 0,
            scenario: None,
            step: None,
            message: message.into(),
        }
    }

    /// Tags the problem with the scenario it is in (none for an empty id).
    pub fn scenario(mut self, id: &str) -> LoadError {
        if !id.is_empty() {
            self.scenario = Some(id.to_string());
        }
        self
    }
    /// Tags the problem with the step it is in.
    pub fn step(mut self, id: Option<&str>) -> LoadError {
        self.step = id.map(str::to_string);
        self
    }
}

/// The problems of one file, each tagged with the scenario id (and, collected on the way, what of the
/// view its templates read).
pub struct Errs {
    pub list: Vec<LoadError>,
    sid: String,
    pub view_fields: ViewFields,
}

impl Errs {
    /// No problems yet in scenario `sid`.
    pub fn new(sid: &str) -> Errs {
        Errs {
            list: Vec::new(),
            sid: sid.to_string(),
            view_fields: ViewFields::default(),
        }
    }

    /// Notes a problem, tagged with the scenario and the step it is in.
    pub fn push(&mut self, e: LoadError, step: Option<&str>) {
        self.list.push(e.scenario(&self.sid).step(step));
    }
}
