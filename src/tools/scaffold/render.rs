//! Writing a proposal out: `adapter.toml` with each mapping's score, runners-up and notes in comments.
use super::{Candidate, FieldProposal, Proposal};
use std::fmt::Write as _;

fn toml_key(k: &str) -> String {
    if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        k.to_string()
    } else {
        format!("\"{}\"", k.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

fn toml_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

impl FieldProposal {
    /// The mapping as written in `adapter.toml` (without comment).
    fn spec(&self) -> String {
        let c = &self.conversion;
        let simple = c.column_type.is_none() && c.convert.is_none() && c.format.is_none() && c.map.is_empty();
        if simple {
            return format!("{} = {}", toml_key(&self.result_column), toml_str(&self.field.path));
        }
        let mut parts = vec![format!("field = {}", toml_str(&self.field.path))];
        if let Some(t) = c.column_type {
            parts.push(format!("type = {}", toml_str(t.name())));
        }
        if let Some(v) = c.convert {
            parts.push(format!("convert = {}", toml_str(v)));
        }
        if let Some(fm) = &c.format {
            parts.push(format!("format = {}", toml_str(fm)));
        }
        if !c.map.is_empty() {
            let m: Vec<String> = c
                .map
                .iter()
                .map(|(k, v, _)| format!("{} = {}", toml_str(k), toml_str(v)))
                .collect();
            parts.push(format!("map = {{ {} }}", m.join(", ")));
        }
        format!("{} = {{ {} }}", toml_key(&self.result_column), parts.join(", "))
    }

    fn comment(&self) -> String {
        let mut s = match &self.best {
            Some(b) => format!("{}.{} {:.2}", b.table, b.column, b.score),
            None => String::new(),
        };
        if self.active && self.best.as_ref().is_some_and(|b| b.score < super::CONFIDENT) {
            s.push_str(" (REVIEW: below the confident score)");
        }
        if !self.runners_up.is_empty() {
            let r: Vec<String> = self.runners_up.iter().map(Candidate::label).collect();
            let _ = write!(s, "; runners-up: {}", r.join(", "));
        }
        if let Some(n) = &self.conversion.note {
            let _ = write!(s, "; {n}");
        }
        s
    }
}

impl Proposal {
    /// The proposed `adapter.toml`, with scores and runners-up in comments.
    pub fn adapter_toml(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "## Proposed by `complaint-gateway adapters scaffold` for a {} database.",
            self.driver.as_str()
        );
        let _ = writeln!(
            s,
            "## Each mapping's comment: the chosen column and its score (0..1), then the runners-up."
        );
        let _ = writeln!(
            s,
            "## Commented-out mappings scored low or could not be joined: review them, then run"
        );
        let _ = writeln!(
            s,
            "## `complaint-gateway adapters check` against the database. See docs/adapters.md."
        );
        let _ = writeln!(s, "name = {}", toml_str(&self.system));
        let _ = writeln!(
            s,
            "description = {}",
            toml_str(&format!("{} (scaffolded: review)", self.system))
        );
        let _ = writeln!(
            s,
            "url_env = {}",
            toml_str(&format!("CGW_{}_URL", self.system.to_ascii_uppercase()))
        );
        match &self.primary {
            Some(p) => {
                let _ = writeln!(s, "primary = {}", toml_str(p));
            }
            None => {
                let _ = writeln!(
                    s,
                    "## No entity was confident enough to be primary: choose one.\n# primary = \"\""
                );
            }
        }
        match (&self.time_zone.offset, self.time_zone.needs_review()) {
            (Some(o), false) => {
                let _ = writeln!(s, "utc_offset = {}  # {}", toml_str(o), self.time_zone.summary());
            }
            (Some(o), true) => {
                let _ = writeln!(s, "## TIME ZONE TO CONFIRM: {}", self.time_zone.summary());
                let _ = writeln!(s, "utc_offset = {}", toml_str(o));
            }
            (None, _) => {
                let _ = writeln!(s, "## TIME ZONE UNKNOWN: {}", self.time_zone.summary());
                let _ = writeln!(s, "# utc_offset = \"+00:00\"  # or \"+08:00\": decide, then uncomment");
            }
        }
        let numbers: Vec<String> = self.numbers.iter().map(|(t, c)| format!("{t}.{c}")).collect();
        let _ = writeln!(
            s,
            "## Subscriber-number columns found: {}",
            if numbers.is_empty() {
                "none".to_string()
            } else {
                numbers.join(", ")
            }
        );
        for e in &self.entities {
            let section = if e.stream {
                format!("streams.{}", e.name)
            } else {
                format!("entities.{}", e.name)
            };
            let on = if e.enabled { "" } else { "# " };
            s.push('\n');
            if let Some(n) = &e.note {
                let _ = writeln!(s, "## {}: {n}", e.target);
            }
            let rows = e
                .sampled
                .map(|(h, n)| format!("; its query returned rows for {h} of {n} sampled subscribers"))
                .unwrap_or_default();
            let _ = writeln!(s, "## {}: confidence {:.2}{rows}", e.target, e.confidence);
            let _ = writeln!(s, "{on}[{section}]");
            if !e.stream {
                let _ = writeln!(s, "{on}target = {}", toml_str(&e.target));
            }
            if e.sql.is_some() {
                let _ = writeln!(s, "{on}sql = {}", toml_str(&format!("{}.sql", e.name)));
            }
            if let Some(f) = &e.time_param_format {
                let _ = writeln!(s, "{on}time_param_format = {}", toml_str(f));
            }
            if !e.key.is_empty() {
                let keys: Vec<String> = e.key.iter().map(|k| toml_str(k)).collect();
                let _ = writeln!(s, "{on}key = [{}]", keys.join(", "));
            }
            let _ = writeln!(s, "{on}[{section}.fields]");
            for f in e.fields.iter().filter(|f| f.best.is_some()) {
                let live = e.enabled && f.active;
                let prefix = if live { "" } else { "# " };
                let reason = f
                    .inactive_reason
                    .as_deref()
                    .map(|r| format!(" [{r}]"))
                    .unwrap_or_default();
                let _ = writeln!(s, "{prefix}{}  # {}{reason}", f.spec(), f.comment());
            }
            let missing: Vec<&str> = e
                .fields
                .iter()
                .filter(|f| f.best.is_none())
                .map(|f| f.field.path.as_str())
                .collect();
            if !missing.is_empty() {
                let _ = writeln!(s, "## not found in this schema: {}", missing.join(", "));
            }
        }
        if !self.derived.is_empty() {
            s.push_str(
                "\n## Fields no single column holds: the usual derivation, to review and add to the SQL by hand.\n",
            );
            for d in &self.derived {
                let _ = writeln!(s, "## {}: {}", d.field, d.needs);
                if let Some(q) = &d.sql {
                    let _ = writeln!(s, "##     {q}");
                }
            }
        }
        s
    }
}
