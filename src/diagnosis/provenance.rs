//! Provenance: for each field of the view, whether any source selected for the read provides it (from
//! the adapter definitions) and whether that source answered. A field no selected source provides, or
//! whose every provider was down, timed out, was denied or served data stale beyond
//! [`MAX_STALE_MS`], is *absent*: diagnosis removes it from the CEL value (so `has()` is false and an
//! expression that reads it fails instead of seeing a proto3 default such as `""` or `0`), and a step
//! that stops on it cannot decide ("check X in system Y") instead of concluding a cause.
//!
//! Absence is worked out over the schema once per combination of (sources asked, sources that
//! answered) and cached: a read where everything is provided and answered costs a lookup.
use crate::proto::complaint::v1::{SourceState, SourceStatus};
use crate::schema;
use prost_reflect::{Kind, MessageDescriptor};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Data served from cache while its source is down, older than this, counts as absent (ms).
pub const MAX_STALE_MS: u64 = 24 * 3600 * 1000;

/// Why a field is absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// No source selected for the read declares it.
    NotProvided,
    /// Declared by these sources, none of which answered (source, its state).
    NotAnswered(Vec<(String, SourceState)>),
}

/// A view field that is absent from a read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Absent {
    /// The field's path below `view`, list items without `[]` (`vas_subscriptions.consent_record`).
    pub path: Vec<String>,
    pub why: Why,
    /// The systems to check it in: its providers that did not answer; for a field nobody provides, the
    /// sources that provide the nearest enclosing field (e.g. `billing` for a subscription's consent
    /// record), if any.
    pub systems: Vec<String>,
}

impl Absent {
    /// `vas_subscriptions.consent_record`.
    pub fn field(&self) -> String {
        self.path.join(".")
    }

    /// Why, in words: "not provided by any source", "source billing: UNAVAILABLE".
    pub fn reason(&self) -> String {
        match &self.why {
            Why::NotProvided => "not provided by any source".to_string(),
            Why::NotAnswered(s) => s
                .iter()
                .map(|(src, st)| format!("source {src}: {}", state_word(*st)))
                .collect::<Vec<_>>()
                .join("; "),
        }
    }

    /// "cannot decide: check vas_subscriptions.consent_record in system billing (not provided by any
    /// source)".
    pub fn check(&self) -> String {
        let systems = if self.systems.is_empty() {
            "the system of record".to_string()
        } else {
            format!("system {}", self.systems.join(" / "))
        };
        format!("cannot decide: check {} in {systems} ({})", self.field(), self.reason())
    }
}

fn state_word(s: SourceState) -> &'static str {
    match s {
        SourceState::Unavailable => "unavailable",
        SourceState::Timeout => "timed out",
        SourceState::Denied => "denied",
        SourceState::Stale => "stale beyond limits",
        _ => "no answer",
    }
}

/// Which fields of the view a read could not give.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Provenance {
    /// Absent fields, outermost only (a field inside an absent one is not listed again).
    pub absent: Vec<Absent>,
}

impl Provenance {
    /// Everything provided (a view diagnosed on its own, e.g. a test case's written view).
    pub fn complete() -> Provenance {
        Provenance::default()
    }

    /// The absent field at or above `path` (segments below `view`), if any.
    pub fn absent_at(&self, path: &[String]) -> Option<&Absent> {
        self.absent
            .iter()
            .find(|a| a.path.len() <= path.len() && a.path.iter().zip(path).all(|(x, y)| x == y))
    }

    /// Absent fields that overlap `path`: at or above it, or inside it.
    pub fn overlapping<'a>(&'a self, path: &'a [String]) -> impl Iterator<Item = &'a Absent> + 'a {
        self.absent.iter().filter(move |a| {
            let n = a.path.len().min(path.len());
            a.path[..n] == path[..n]
        })
    }
}

/// What each configured source provides (from the adapter definitions), and the provenance of reads,
/// cached per combination of sources asked and answered.
#[derive(Debug, Default)]
pub struct Providers {
    /// (source, the view fields it provides, dotted, list items without `[]`), in configuration order.
    sources: Vec<(String, Vec<Vec<String>>)>,
    cache: Mutex<HashMap<(u64, u64), Arc<Provenance>>>,
}

impl Providers {
    /// (source, fields it provides) pairs.
    pub fn new(sources: Vec<(String, Vec<String>)>) -> Providers {
        Providers {
            sources: sources
                .into_iter()
                .map(|(s, fields)| {
                    (
                        s,
                        fields
                            .iter()
                            .map(|f| f.replace("[]", "").split('.').map(str::to_string).collect())
                            .collect(),
                    )
                })
                .collect(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The configured sources' names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.sources.iter().map(|(s, _)| s.as_str())
    }

    /// The provenance of a read, given what each source asked answered.
    pub fn of_read(&self, statuses: &[SourceStatus]) -> Arc<Provenance> {
        let mut asked = 0u64;
        let mut answered = 0u64;
        for (i, (name, _)) in self.sources.iter().enumerate().take(64) {
            if let Some(st) = statuses.iter().find(|s| &s.source == name) {
                asked |= 1 << i;
                if answered_state(st) {
                    answered |= 1 << i;
                }
            }
        }
        let key = (asked, answered);
        if let Some(p) = self.cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return p.clone();
        }
        let states: HashMap<&str, SourceState> = statuses.iter().map(|s| (s.source.as_str(), s.state())).collect();
        let p = Arc::new(self.compute(asked, answered, &states));
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        // Bounded: a handful of sources give few combinations, but never grow without limit.
        if cache.len() > 1024 {
            cache.clear();
        }
        cache.insert(key, p.clone());
        p
    }

    /// The provenance when every configured source is asked and answers: what no source provides at all
    /// (`scenarios check`'s warnings).
    pub fn when_all_answer(&self) -> Provenance {
        let all = if self.sources.len() >= 64 {
            u64::MAX
        } else {
            (1u64 << self.sources.len()) - 1
        };
        self.compute(all, all, &HashMap::new())
    }

    fn compute(&self, asked: u64, answered: u64, states: &HashMap<&str, SourceState>) -> Provenance {
        let mut out = Provenance::default();
        let desc = schema::view_descriptor();
        let mut path = Vec::new();
        self.walk(&desc, &mut path, asked, answered, states, &mut out.absent);
        out
    }

    fn walk(
        &self,
        desc: &MessageDescriptor,
        path: &mut Vec<String>,
        asked: u64,
        answered: u64,
        states: &HashMap<&str, SourceState>,
        out: &mut Vec<Absent>,
    ) {
        for field in desc.fields() {
            // The number comes from the request; extensions are free-form and read with `has()`.
            if path.is_empty() && matches!(field.name(), "msisdn" | "extensions") {
                continue;
            }
            path.push(field.name().to_string());
            let mut full_answered = false;
            let mut full_unanswered = Vec::new();
            let mut partial = false;
            for (i, (source, fields)) in self.sources.iter().enumerate().take(64) {
                if asked & (1 << i) == 0 {
                    continue;
                }
                for f in fields {
                    if f.len() <= path.len() && f[..] == path[..f.len()] {
                        if answered & (1 << i) != 0 {
                            full_answered = true;
                        } else if !full_unanswered.iter().any(|(s, _)| s == source) {
                            let st = states.get(source.as_str()).copied().unwrap_or(SourceState::Unavailable);
                            full_unanswered.push((source.clone(), st));
                        }
                    } else if f.len() > path.len() && f[..path.len()] == path[..] {
                        partial = true;
                    }
                }
            }
            let message = match field.kind() {
                Kind::Message(m) if !is_well_known(&m) && !field.is_map() => Some(m),
                _ => None,
            };
            if full_answered {
                // Provided.
            } else if partial && message.is_some() {
                if let Some(m) = &message {
                    self.walk(m, path, asked, answered, states, out);
                }
            } else if !full_unanswered.is_empty() {
                out.push(Absent {
                    path: path.clone(),
                    systems: full_unanswered.iter().map(|(s, _)| s.clone()).collect(),
                    why: Why::NotAnswered(full_unanswered),
                });
            } else {
                out.push(Absent {
                    path: path.clone(),
                    why: Why::NotProvided,
                    systems: self.enclosing_providers(path, asked),
                });
            }
            path.pop();
        }
    }

    /// The sources asked that provide something inside the field enclosing `path` (nearest first); for a
    /// top-level field, those providing a related record ([`RELATED`]: usage is kept where bills are).
    fn enclosing_providers(&self, path: &[String], asked: u64) -> Vec<String> {
        let provides_top = |i: usize, fields: &[Vec<String>], top: &str| {
            i < 64 && asked & (1 << i) != 0 && fields.iter().any(|f| f.first().map(String::as_str) == Some(top))
        };
        if path.len() == 1 {
            let Some(group) = RELATED.iter().find(|g| g.contains(&path[0].as_str())) else {
                return Vec::new();
            };
            return self
                .sources
                .iter()
                .enumerate()
                .filter(|(i, (_, fields))| group.iter().any(|top| provides_top(*i, fields, top)))
                .map(|(_, (s, _))| s.clone())
                .collect();
        }
        for n in (1..path.len()).rev() {
            let parent = &path[..n];
            let found: Vec<String> = self
                .sources
                .iter()
                .enumerate()
                .filter(|(i, (_, fields))| {
                    *i < 64 && asked & (1 << i) != 0 && fields.iter().any(|f| f.len() > n && f[..n] == *parent)
                })
                .map(|(_, (s, _))| s.clone())
                .collect();
            if !found.is_empty() {
                return found;
            }
        }
        Vec::new()
    }
}

/// Top-level view fields kept together in one kind of system (billing, CRM, network resources): where
/// no source provides a field, the sources providing its relatives are the ones to check it in.
const RELATED: [&[&str]; 3] = [
    &[
        "account",
        "plan",
        "recent_bills",
        "usage",
        "vas_subscriptions",
        "payments",
    ],
    &["customer", "service_orders", "marketing"],
    &["line", "network"],
];

fn is_well_known(m: &MessageDescriptor) -> bool {
    m.full_name().starts_with("google.protobuf.")
}

/// Whether a source's answer counts: it answered (found or not), or served cached data not older than
/// [`MAX_STALE_MS`].
fn answered_state(st: &SourceStatus) -> bool {
    match st.state() {
        SourceState::Ok | SourceState::NotFound => true,
        SourceState::Stale => st.age_ms <= MAX_STALE_MS,
        _ => false,
    }
}

/// The absent fields of `p` that expressions reading the member chains `reads` (texts `texts`) need:
/// those overlapping a view field read (one inside a list read counts where an expression names it,
/// `.consent_record`), or named in `error` (what a failed evaluation said).
pub fn needed(p: &Provenance, reads: &[&[String]], texts: &[&str], error: &str) -> Vec<Absent> {
    let named = |seg: &str| {
        let dotted = format!(".{seg}");
        (!error.is_empty() && error.contains(seg)) || texts.iter().any(|t| t.contains(&dotted))
    };
    p.absent
        .iter()
        .filter(|a| {
            let last = a.path.last().map(String::as_str).unwrap_or("");
            let by_read = reads.iter().any(|r| match r.split_first() {
                Some((root, rest)) if root == "view" => {
                    let n = a.path.len().min(rest.len());
                    a.path[..n] == rest[..n] && (a.path.len() <= rest.len() || named(last))
                }
                _ => false,
            });
            by_read || (!last.is_empty() && !error.is_empty() && error.contains(last))
        })
        .cloned()
        .collect()
}

/// Where a scenario's causes depend on fields `p` holds absent (for `scenarios check` over the configured
/// sources): one line per (scenario, cause, field), naming the file.
pub fn cause_warnings(set: &super::model::ScenarioSet, p: &Provenance) -> Vec<String> {
    use super::model::Outcome;
    let mut out = Vec::new();
    for s in &set.scenarios {
        for (c, cause) in s.causes.iter().enumerate() {
            // The last step that can conclude this cause; every step up to it (and the precondition)
            // may be on the way.
            let Some(last) = s
                .steps
                .iter()
                .rposition(|st| st.then == Outcome::Cause(c) || st.otherwise == Outcome::Cause(c))
            else {
                continue;
            };
            let mut exprs: Vec<&super::model::Expression> = s.precondition.iter().collect();
            for st in &s.steps[..=last] {
                exprs.push(&st.expr);
                exprs.extend(st.values.iter().map(|(_, e)| e));
            }
            let reads: Vec<&[String]> = exprs
                .iter()
                .flat_map(|e| e.reads.iter().map(|r| r.segments.as_slice()))
                .collect();
            let texts: Vec<&str> = exprs.iter().map(|e| e.text.as_str()).collect();
            for a in needed(p, &reads, &texts, "") {
                out.push(format!(
                    "warning: {}: scenario `{}`, cause {}: depends on view.{}, {}; the scenario cannot conclude it here",
                    s.file,
                    s.id,
                    cause.code,
                    a.field(),
                    a.reason()
                ));
            }
        }
    }
    out
}

/// Removes the absent fields of `p` from `view` (a CEL map of the view): in lists, from every item.
pub fn prune(view: &mut cel::Value, p: &Provenance) {
    for a in &p.absent {
        remove(view, &a.path);
    }
}

/// Top-level field `name` of the view (`value`) without what `p` says is absent; `None` when the
/// field itself is.
pub fn prune_field(name: &str, mut value: cel::Value, p: &Provenance) -> Option<cel::Value> {
    for a in &p.absent {
        match a.path.split_first() {
            Some((first, rest)) if first == name => {
                if rest.is_empty() {
                    return None;
                }
                remove(&mut value, rest);
            }
            _ => {}
        }
    }
    Some(value)
}

fn remove(v: &mut cel::Value, path: &[String]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    match v {
        cel::Value::Map(m) => {
            let key = cel::objects::Key::String(Arc::new(first.clone()));
            let map = Arc::make_mut(&mut m.map);
            if rest.is_empty() {
                map.remove(&key);
            } else if let Some(child) = map.get_mut(&key) {
                remove(child, rest);
            }
        }
        cel::Value::List(items) => {
            for item in Arc::make_mut(items).iter_mut() {
                remove(item, path);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(source: &str, state: SourceState) -> SourceStatus {
        SourceStatus {
            source: source.into(),
            state: state as i32,
            ..Default::default()
        }
    }

    fn providers() -> Providers {
        Providers::new(vec![
            (
                "billing".into(),
                vec![
                    "account".into(),
                    "vas_subscriptions.service_code".into(),
                    "vas_subscriptions.status".into(),
                    "recent_bills[].items[].amount_fen".into(),
                ],
            ),
            ("resource".into(), vec!["network.cells".into(), "line".into()]),
        ])
    }

    fn fields(p: &Provenance) -> Vec<(String, String)> {
        p.absent.iter().map(|a| (a.field(), a.reason())).collect()
    }

    #[test]
    fn fields_no_source_provides_are_absent_naming_the_system_that_holds_their_record() {
        let pv = providers();
        let p = pv.of_read(&[status("billing", SourceState::Ok), status("resource", SourceState::Ok)]);
        let got = fields(&p);
        let consent = got
            .iter()
            .find(|(f, _)| f == "vas_subscriptions.consent_record")
            .unwrap();
        assert_eq!(consent.1, "not provided by any source");
        assert!(got.iter().any(|(f, _)| f == "usage"));
        assert!(got.iter().any(|(f, _)| f == "network.outages"));
        assert!(got.iter().any(|(f, _)| f == "recent_bills.cycle"));
        // Provided fields (and everything inside them) are not listed.
        for provided in [
            "account",
            "vas_subscriptions.service_code",
            "network.cells",
            "line",
            "msisdn",
        ] {
            assert!(!got.iter().any(|(f, _)| f.starts_with(provided)), "{provided}: {got:?}");
        }
        let a = p
            .absent_at(&["vas_subscriptions".into(), "consent_record".into()])
            .unwrap();
        assert_eq!(a.systems, ["billing"]);
        assert_eq!(
            a.check(),
            "cannot decide: check vas_subscriptions.consent_record in system billing (not provided by any source)"
        );
        assert_eq!(pv.when_all_answer(), *p);
    }

    #[test]
    fn fields_of_a_source_that_did_not_answer_are_absent_and_say_why() {
        let pv = providers();
        let p = pv.of_read(&[
            status("billing", SourceState::Ok),
            status("resource", SourceState::Timeout),
        ]);
        let a = p
            .absent_at(&["network".into(), "cells".into(), "cell_id".into()])
            .unwrap();
        assert_eq!(a.field(), "network.cells");
        assert_eq!(a.why, Why::NotAnswered(vec![("resource".into(), SourceState::Timeout)]));
        assert_eq!(a.reason(), "source resource: timed out");
        // A source not asked provides nothing in this read.
        let p = pv.of_read(&[status("billing", SourceState::Ok)]);
        assert_eq!(p.absent_at(&["line".into()]).unwrap().why, Why::NotProvided);
        // Stale data within the limit counts as an answer.
        let mut stale = status("resource", SourceState::Stale);
        stale.age_ms = 60_000;
        let p = pv.of_read(&[status("billing", SourceState::Ok), stale]);
        assert!(p.absent_at(&["line".into()]).is_none());
    }

    #[test]
    fn pruning_removes_absent_fields_from_every_list_item() {
        use crate::proto::complaint::v1::{SubscriberView, VasSubscription};
        let view = SubscriberView {
            vas_subscriptions: vec![
                VasSubscription {
                    service_code: "A".into(),
                    ..Default::default()
                },
                VasSubscription {
                    service_code: "B".into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let mut v = super::super::value::view_to_cel(&view).unwrap();
        let pv = providers();
        let p = pv.of_read(&[status("billing", SourceState::Ok), status("resource", SourceState::Ok)]);
        prune(&mut v, &p);
        let ctx = {
            let mut c = cel::Context::default();
            c.add_variable_from_value("view", v);
            c
        };
        let eval = |e: &str| cel::Program::compile(e).unwrap().execute(&ctx);
        assert_eq!(
            eval("view.vas_subscriptions.all(s, !has(s.consent_record))"),
            Ok(cel::Value::Bool(true))
        );
        assert_eq!(
            eval("view.vas_subscriptions.all(s, has(s.service_code))"),
            Ok(cel::Value::Bool(true))
        );
        assert!(eval("view.vas_subscriptions.filter(s, s.consent_record == '').size() > 0").is_err());
        assert!(eval("size(view.usage) == 0").is_err());
    }
}
