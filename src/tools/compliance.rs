//! A compliance harness any [`Adapter`] can run: the contract of `docs/adapters.md`, checked.
//!
//! A test builds a [`Subject`] (the adapter over a working backend, a subscriber it knows and one it does
//! not, and optionally the same adapter over an unreachable, a broken and a slow backend) and calls
//! [`run`]. Each check is a MUST or a SHOULD of the contract; [`Report::assert_compliant`] fails the test
//! on any MUST that fails and prints every outcome. Used by the tests of the SQL adapter and of the HTTP
//! example adapter alike.
use crate::adapters::{Adapter, AdapterError, FetchRequest, SourceData, UsageQuery};
use crate::proto::complaint::v1::{SubscriberView, UsageRecord};
use futures::future::BoxFuture;
use futures::StreamExt;
use prost::Message;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Counts the backend's requests (or statements) in progress for the subject, to see cancellation reach it.
pub type Probe = Arc<dyn Fn() -> BoxFuture<'static, usize> + Send + Sync>;

/// What the harness exercises.
pub struct Subject {
    /// The adapter over a working backend.
    pub adapter: Arc<dyn Adapter>,
    /// A subscriber the backend knows…
    pub known: FetchRequest,
    /// …and the view parts it must fill for them.
    pub known_entities: Vec<String>,
    /// A subscriber the backend does not know.
    pub unknown: FetchRequest,
    /// A range with at least one usage record of `known`, if the adapter streams usage.
    pub usage: Option<UsageQuery>,
    /// A request the backend takes longer than `deadline` to answer (same adapter instance).
    pub slow: Option<FetchRequest>,
    /// A usage range whose stream is longer than any client reads (same adapter instance).
    pub endless_usage: Option<UsageQuery>,
    /// Backend work in progress, for the cancellation checks.
    pub probe: Option<Probe>,
    /// The same adapter configured against an address where nothing listens.
    pub unreachable: Option<Arc<dyn Adapter>>,
    /// The same adapter against a backend that answers nonsense (a failing query, a malformed body).
    pub broken: Option<Arc<dyn Adapter>>,
    /// Strings that must never appear in an error (passwords, tokens).
    pub secrets: Vec<String>,
    /// The per-source time-out the gateway would apply.
    pub deadline: Duration,
}

impl Subject {
    /// A subject with the required parts; the optional ones are set with the `with_*` methods.
    pub fn new(adapter: Arc<dyn Adapter>, known: &str, known_entities: &[&str], unknown: &str) -> Subject {
        let req = |m: &str| FetchRequest {
            msisdn: m.to_string(),
            operator_id: None,
        };
        Subject {
            adapter,
            known: req(known),
            known_entities: known_entities.iter().map(|s| s.to_string()).collect(),
            unknown: req(unknown),
            usage: None,
            slow: None,
            endless_usage: None,
            probe: None,
            unreachable: None,
            broken: None,
            secrets: vec![],
            deadline: Duration::from_secs(2),
        }
    }
}

/// How binding a check is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Must,
    Should,
}

/// A check's result.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Pass,
    Fail(String),
    /// The subject did not provide what the check needs.
    Skipped(String),
}

/// One check of the contract.
#[derive(Debug, Clone)]
pub struct CheckResult {
    pub name: &'static str,
    pub level: Level,
    pub outcome: Outcome,
}

/// Every check's outcome for one adapter.
#[derive(Debug, Clone)]
pub struct Report {
    pub adapter: String,
    pub results: Vec<CheckResult>,
}

impl Report {
    /// The MUST checks that failed.
    pub fn must_failures(&self) -> Vec<&CheckResult> {
        self.results
            .iter()
            .filter(|r| r.level == Level::Must && matches!(r.outcome, Outcome::Fail(_)))
            .collect()
    }

    /// The outcome of a check by name.
    pub fn outcome(&self, name: &str) -> Option<&Outcome> {
        self.results.iter().find(|r| r.name == name).map(|r| &r.outcome)
    }

    /// One line per check.
    pub fn render(&self) -> String {
        let mut s = format!("compliance of adapter `{}`:\n", self.adapter);
        for r in &self.results {
            let level = match r.level {
                Level::Must => "MUST",
                Level::Should => "SHOULD",
            };
            let _ = match &r.outcome {
                Outcome::Pass => writeln!(s, "  pass  {level:<6} {}", r.name),
                Outcome::Fail(m) => writeln!(s, "  FAIL  {level:<6} {}: {m}", r.name),
                Outcome::Skipped(m) => writeln!(s, "  skip  {level:<6} {}: {m}", r.name),
            };
        }
        s
    }

    /// Panics, printing the report, if a MUST failed.
    pub fn assert_compliant(&self) {
        let f = self.must_failures();
        assert!(f.is_empty(), "{} MUST check(s) failed\n{}", f.len(), self.render());
    }
}

struct Run {
    results: Vec<CheckResult>,
    errors: Vec<String>,
}

impl Run {
    fn record(&mut self, name: &'static str, level: Level, r: Result<(), String>) {
        self.results.push(CheckResult {
            name,
            level,
            outcome: match r {
                Ok(()) => Outcome::Pass,
                Err(m) => Outcome::Fail(m),
            },
        });
    }

    fn skip(&mut self, name: &'static str, level: Level, why: &str) {
        self.results.push(CheckResult {
            name,
            level,
            outcome: Outcome::Skipped(why.to_string()),
        });
    }
}

/// Slack allowed over a time limit for scheduling.
const SLACK: Duration = Duration::from_millis(300);

async fn fetch_within(
    a: &Arc<dyn Adapter>,
    req: &FetchRequest,
    limit: Duration,
) -> Result<Result<SourceData, AdapterError>, String> {
    tokio::time::timeout(limit, a.fetch(req.clone()))
        .await
        .map_err(|_| format!("no answer within {limit:?}"))
}

fn decode(d: &SourceData) -> Result<SubscriberView, String> {
    SubscriberView::decode(d.view.clone()).map_err(|e| format!("`view` is not an encoded SubscriberView: {e}"))
}

/// Whether a view part is filled in a decoded view.
fn filled(v: &SubscriberView, part: &str) -> bool {
    let n = v.network.clone().unwrap_or_default();
    match part {
        "customer" => v.customer.is_some(),
        "account" => v.account.is_some(),
        "plan" => v.plan.is_some(),
        "recent_bills" => !v.recent_bills.is_empty(),
        "usage" => !v.usage.is_empty(),
        "vas_subscriptions" => !v.vas_subscriptions.is_empty(),
        "payments" => !v.payments.is_empty(),
        "service_orders" => !v.service_orders.is_empty(),
        "marketing" => v.marketing.is_some(),
        "line" => v.line.is_some(),
        "network" => v.network.is_some(),
        "network.cells" => !n.cells.is_empty(),
        "network.outages" => !n.outages.is_empty(),
        "network.broadband" => n.broadband.is_some(),
        "extensions" => !v.extensions.is_empty(),
        _ => false,
    }
}

const PARTS: &[&str] = &[
    "customer",
    "account",
    "plan",
    "recent_bills",
    "usage",
    "vas_subscriptions",
    "payments",
    "service_orders",
    "marketing",
    "line",
    "network.cells",
    "network.outages",
    "network.broadband",
    "extensions",
];

/// Runs every check the subject allows.
pub async fn run(s: &Subject) -> Report {
    let mut r = Run {
        results: vec![],
        errors: vec![],
    };
    let a = &s.adapter;
    let name = a.name().to_string();
    r.record(
        "name is [a-z0-9_]+",
        Level::Must,
        if !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            Ok(())
        } else {
            Err(format!("`{name}`"))
        },
    );
    let declared = a.entities();
    r.record(
        "entities() lists view parts",
        Level::Must,
        if declared.is_empty() {
            Err("no entities declared".into())
        } else if let Some(bad) = declared.iter().find(|e| !PARTS.contains(&e.as_str())) {
            Err(format!(
                "`{bad}` is not a part of SubscriberView (parts: {})",
                PARTS.join(", ")
            ))
        } else {
            Ok(())
        },
    );

    // A known subscriber: found, a decodable view, the parts it claims filled and declared.
    let known = fetch_within(a, &s.known, s.deadline + SLACK).await;
    let known_view = match &known {
        Ok(Ok(d)) => decode(d).ok(),
        _ => None,
    };
    r.record(
        "known subscriber is found",
        Level::Must,
        match &known {
            Err(e) => Err(e.clone()),
            Ok(Err(e)) => Err(e.to_string()),
            Ok(Ok(d)) if !d.found => Err("found = false".into()),
            Ok(Ok(d)) => (|| {
                let v = decode(d)?;
                if let Some(x) = d.entities.iter().find(|e| !declared.contains(e)) {
                    return Err(format!("answer lists `{x}`, which entities() does not declare"));
                }
                if let Some(x) = s.known_entities.iter().find(|e| !d.entities.contains(e)) {
                    return Err(format!(
                        "`{x}` is not among the parts filled ({})",
                        d.entities.join(", ")
                    ));
                }
                if let Some(x) = d.entities.iter().find(|e| !filled(&v, e)) {
                    return Err(format!("answer lists `{x}` but the view leaves it empty"));
                }
                if let Some(x) = PARTS
                    .iter()
                    .find(|p| filled(&v, p) && !declared.iter().any(|d| d == *p))
                {
                    return Err(format!("the view fills `{x}`, which entities() does not declare"));
                }
                Ok(())
            })(),
        },
    );
    if let Ok(Err(e)) = &known {
        r.errors.push(e.to_string());
    }

    let unknown = fetch_within(a, &s.unknown, s.deadline + SLACK).await;
    r.record(
        "unknown subscriber is not found, not an error",
        Level::Must,
        match unknown {
            Err(e) => Err(e),
            Ok(Err(e)) => Err(format!("error: {e}")),
            Ok(Ok(d)) if d.found => Err("found = true for a subscriber the backend does not know".into()),
            Ok(Ok(d)) if !d.entities.is_empty() => Err(format!("found = false but lists parts {:?}", d.entities)),
            Ok(Ok(d)) => decode(&d).map(|_| ()),
        },
    );

    // Concurrent reads of one instance agree with a single read.
    match &known_view {
        Some(expected) => {
            let many = futures::future::join_all((0..8).map(|_| fetch_within(a, &s.known, s.deadline + SLACK))).await;
            let bad = many.into_iter().find_map(|x| match x {
                Err(e) => Some(e),
                Ok(Err(e)) => Some(e.to_string()),
                Ok(Ok(d)) => match decode(&d) {
                    Ok(v) if v == *expected => None,
                    Ok(_) => Some("a concurrent answer differs from a single one".to_string()),
                    Err(e) => Some(e),
                },
            });
            r.record("concurrent reads agree", Level::Must, bad.map_or(Ok(()), Err));
        }
        None => r.skip(
            "concurrent reads agree",
            Level::Must,
            "the known subscriber was not read",
        ),
    }

    // Error mapping.
    match &s.unreachable {
        Some(u) => {
            let started = Instant::now();
            let x = fetch_within(u, &s.known, s.deadline + SLACK).await;
            if let Ok(Err(e)) = &x {
                r.errors.push(e.to_string());
            }
            r.record(
                "unreachable backend: a retryable error, in time",
                Level::Must,
                match x {
                    Err(e) => Err(format!("{e} (an unreachable backend must fail fast, not hang)")),
                    Ok(Ok(_)) => Err("answered although nothing listens".into()),
                    Ok(Err(e)) => {
                        if e.is_retryable() {
                            Ok(())
                        } else {
                            Err(format!(
                                "{e:?} is not retryable (expected Unavailable) after {:?}",
                                started.elapsed()
                            ))
                        }
                    }
                },
            );
        }
        None => r.skip(
            "unreachable backend: a retryable error, in time",
            Level::Must,
            "no unreachable adapter given",
        ),
    }
    match &s.broken {
        Some(b) => {
            let x = fetch_within(b, &s.known, s.deadline + SLACK).await;
            if let Ok(Err(e)) = &x {
                r.errors.push(e.to_string());
            }
            r.record(
                "broken backend answer: a Query error",
                Level::Must,
                match x {
                    Err(e) => Err(e),
                    Ok(Ok(d)) => Err(format!("answered found = {} instead of failing", d.found)),
                    Ok(Err(AdapterError::Query { .. })) => Ok(()),
                    Ok(Err(other)) => Err(format!(
                        "{other:?}: a broken query or body is not retryable; expected Query"
                    )),
                },
            );
        }
        None => r.skip(
            "broken backend answer: a Query error",
            Level::Must,
            "no broken adapter given",
        ),
    }

    // Time-outs and cancellation: the gateway drops a source's future at its deadline.
    match &s.slow {
        Some(slow) => {
            let limit = Duration::from_millis(200);
            let started = Instant::now();
            let x = tokio::time::timeout(limit, a.fetch(slow.clone())).await;
            let took = started.elapsed();
            r.record(
                "a time-out can cancel a read at once",
                Level::Must,
                match x {
                    _ if took > limit + SLACK => Err(format!(
                        "dropping the read took {took:?}: the future blocks the runtime"
                    )),
                    Err(_) => Ok(()),
                    Ok(Err(AdapterError::Timeout(_))) => Ok(()),
                    Ok(Err(e)) => Err(format!(
                        "{e:?} for a slow backend: expected to be cancelled, or a Timeout error"
                    )),
                    Ok(Ok(_)) => Err("the slow request answered at once: it does not exercise a time-out".into()),
                },
            );
            let after = fetch_within(a, &s.known, s.deadline + SLACK).await;
            r.record(
                "the adapter still answers after a cancelled read",
                Level::Must,
                match after {
                    Ok(Ok(d)) if d.found => Ok(()),
                    Ok(Ok(_)) => Err("the known subscriber is no longer found".into()),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(e) => Err(e),
                },
            );
            match &s.probe {
                Some(p) => {
                    let drained = drained(p, Duration::from_secs(3)).await;
                    r.record("a cancelled read stops the backend's work", Level::Should, drained);
                }
                None => r.skip(
                    "a cancelled read stops the backend's work",
                    Level::Should,
                    "no probe given",
                ),
            }
        }
        None => {
            r.skip(
                "a time-out can cancel a read at once",
                Level::Must,
                "no slow request given",
            );
            r.skip(
                "the adapter still answers after a cancelled read",
                Level::Must,
                "no slow request given",
            );
        }
    }

    // Usage streams.
    if a.has_usage_stream() {
        match &s.usage {
            Some(q) => {
                let x = match a.stream_usage(q.clone()) {
                    None => Err("has_usage_stream() is true but stream_usage() returned None".to_string()),
                    Some(st) => tokio::time::timeout(s.deadline + SLACK, st.collect::<Vec<_>>())
                        .await
                        .map_err(|_| format!("the stream did not end within {:?}", s.deadline + SLACK))
                        .and_then(|items| check_records(items, q, &name)),
                };
                r.record(
                    "usage stream: records of the range, labelled with the source",
                    Level::Must,
                    x,
                );
            }
            None => r.skip(
                "usage stream: records of the range, labelled with the source",
                Level::Must,
                "no usage range given",
            ),
        }
        match (&s.endless_usage, &s.probe) {
            (Some(q), Some(p)) => {
                let x = match a.stream_usage(q.clone()) {
                    None => Err("stream_usage() returned None".to_string()),
                    Some(mut st) => match tokio::time::timeout(s.deadline + SLACK, st.next()).await {
                        Ok(Some(Ok(_))) => {
                            drop(st);
                            drained(p, Duration::from_secs(3)).await
                        }
                        Ok(Some(Err(e))) => Err(e.to_string()),
                        Ok(None) => Err("the endless stream ended at once".into()),
                        Err(_) => Err("no first record in time".into()),
                    },
                };
                r.record("a dropped usage stream stops the backend's work", Level::Should, x);
            }
            _ => r.skip(
                "a dropped usage stream stops the backend's work",
                Level::Should,
                "no endless range and probe given",
            ),
        }
    } else {
        r.record(
            "no usage stream: stream_usage() is None",
            Level::Must,
            match s.usage.clone().and_then(|q| a.stream_usage(q)) {
                Some(_) => Err("has_usage_stream() is false but stream_usage() returned a stream".into()),
                None => Ok(()),
            },
        );
    }

    // Secrets never reach error messages.
    let leaked: Vec<&String> = s
        .secrets
        .iter()
        .filter(|sec| !sec.is_empty() && r.errors.iter().any(|e| e.contains(sec.as_str())))
        .collect();
    if s.secrets.is_empty() {
        r.skip("errors carry no secrets", Level::Must, "no secrets given");
    } else {
        r.record(
            "errors carry no secrets",
            Level::Must,
            if leaked.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "{} secret(s) appear in: {}",
                    leaked.len(),
                    r.errors.join(" | ")
                ))
            },
        );
    }
    Report {
        adapter: name,
        results: r.results,
    }
}

fn check_records(items: Vec<Result<UsageRecord, AdapterError>>, q: &UsageQuery, source: &str) -> Result<(), String> {
    if items.is_empty() {
        return Err("no records in a range that has some".into());
    }
    for it in items {
        let rec = it.map_err(|e| e.to_string())?;
        if rec.source != source {
            return Err(format!(
                "record {} has source `{}`, expected `{source}`",
                rec.record_id, rec.source
            ));
        }
        let Some(t) = rec.started_at else {
            return Err(format!("record {} has no started_at", rec.record_id));
        };
        let secs = t.seconds;
        if secs < q.from.timestamp() || secs >= q.to.timestamp() {
            return Err(format!("record {} started outside [from, to)", rec.record_id));
        }
    }
    Ok(())
}

async fn drained(p: &Probe, within: Duration) -> Result<(), String> {
    let until = Instant::now() + within;
    loop {
        let n = p().await;
        if n == 0 {
            return Ok(());
        }
        if Instant::now() >= until {
            return Err(format!(
                "{n} request(s) still in progress at the backend {within:?} after the client went away"
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
