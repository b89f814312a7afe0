//! `complaint.v1.DiagnosisService`: request validation and proto ⇄ domain translation around
//! [`crate::diagnosis::Engine`]. The view is read through [`crate::read::Reads::view_then`], so identity,
//! masking, cache and audit apply to diagnosis exactly as to `GetSubscriberView`; the diagnosis, its
//! evidence and its complaint record are built in [`crate::diagnosis`].
use crate::cases::model::{Event, EventKind};
use crate::cases::ops::{Op, SubscriberFacts};
use crate::cases::service::Cases;
use crate::cases::store::CaseWrite;
use crate::classify::{Classifier, ClassifyError};
use crate::config::diagnosis::DiagnosisConfig;
use crate::diagnosis::evidence::{Coverage, Evidence};
use crate::diagnosis::model::{Outcome, Question, Scenario, ScenarioSet};
use crate::diagnosis::records::ComplaintRecord;
use crate::diagnosis::route::{self, Candidates};
use crate::diagnosis::routing::{RoutedBy, Routing};
use crate::diagnosis::run::{RunOutcome, TraceEntry};
use crate::diagnosis::{self, reload, DiagnoseInput, Diagnosis, Engine, MAX_TEXT_CHARS};
use crate::error::Error;
use crate::proto::complaint::v1::diagnosis_service_server::DiagnosisService;
use crate::proto::complaint::v1::{
    self as pb, ActionDefinition, AllowedAnswer, CategoryScore, CategorySource, ClassifyRequest, ClassifyResponse,
    DiagnoseRequest, DiagnoseResponse, DiagnosisOutcome, FieldRead, GetScenarioRequest, GetScenarioResponse,
    ListScenariosRequest, ListScenariosResponse, ScenarioMatch, ScenarioStep, ScenarioSummary, TraceStep,
};
use crate::read::{Made, Reads};
use std::sync::Arc;
use std::time::Duration;
use tonic::{Request, Response, Status};

/// The diagnosis service: the loaded scenarios, and where complaint records go.
pub struct DiagnosisApi {
    reads: Arc<Reads>,
    /// Complaint cases a diagnosis is attached to, and the owners of complaint ids.
    cases: Arc<Cases>,
    engine: Arc<Engine>,
    /// Whether each diagnosis is recorded (`[diagnosis] record_complaints`).
    record_complaints: bool,
    /// Which view fields each configured source can fill (for evidence of missing data).
    coverage: Coverage,
}

impl DiagnosisApi {
    /// Loads the scenarios of `[diagnosis]` (failing start-up on a broken folder, naming every problem),
    /// starts hot reload.
    pub fn start(reads: Arc<Reads>, cases: Arc<Cases>, cfg: &DiagnosisConfig) -> anyhow::Result<DiagnosisApi> {
        // A folder named in `[diagnosis] scenarios_dir` wins; else the scenarios embedded in the binary.
        let folder = cfg
            .scenarios_dir
            .clone()
            .map(crate::assets::Folder::Disk)
            .unwrap_or_else(diagnosis::default_dir);
        let categories = match &cfg.corpus_dir {
            Some(dir) => retrain_classifier(dir)?,
            None => crate::classify::category_codes()
                .iter()
                .map(|c| c.to_string())
                .collect(),
        };
        let engine = Engine::load_with_categories(&folder, cfg.now, categories)
            .map_err(|e| anyhow::anyhow!("loading {}:\n{e}", folder.describe()))?;
        engine.set_refuse_regressions(cfg.reload_refuses_broken_cases);
        let engine = Arc::new(engine);
        // Only a folder on disk can change.
        if cfg.reload_interval_ms > 0 && matches!(folder, crate::assets::Folder::Disk(_)) {
            // Ends by itself once the engine (held by this service) is dropped.
            reload::spawn(&engine, Duration::from_millis(cfg.reload_interval_ms));
        }
        let record_complaints = cfg.record_complaints;
        tracing::info!(
            from = %folder.describe(),
            scenarios = engine.scenarios().scenarios.len(),
            "diagnosis scenarios loaded"
        );
        let coverage = Coverage::of(reads.reader().registry());
        Ok(DiagnosisApi {
            reads,
            cases,
            engine,
            record_complaints,
            coverage,
        })
    }
}

/// Trains the classifier on the shipped corpus plus `dir` (`[diagnosis] corpus_dir`), logs its held-out
/// accuracy, makes it the one `Classify` and `Diagnose` use, and returns its category codes.
fn retrain_classifier(dir: &std::path::Path) -> anyhow::Result<Vec<String>> {
    let mut corpus = crate::classify::Corpus::embedded().map_err(|e| anyhow::anyhow!("the shipped corpus: {e}"))?;
    corpus
        .extend_from_dir(dir)
        .map_err(|e| anyhow::anyhow!("key `diagnosis.corpus_dir` ({}): {e}", dir.display()))?;
    let clf = Classifier::train(&corpus).map_err(|e| anyhow::anyhow!("training the classifier: {e}"))?;
    let report = clf.report();
    tracing::info!(
        corpus = %dir.display(),
        categories = clf.categories().len(),
        "classifier retrained with the extra corpus; held-out accuracy:\n{}",
        report.summary()
    );
    let codes: Vec<String> = clf.categories().iter().map(|c| c.code.clone()).collect();
    Classifier::install_shared(clf).map_err(|_| {
        anyhow::anyhow!("key `diagnosis.corpus_dir`: the classifier was already in use in this process; it is trained once, at start")
    })?;
    Ok(codes)
}

/// What the audit trail's action of a dry-run diagnosis ends with: nothing is recorded but the read.
pub const DRY_RUN_SUFFIX: &str = " (dry run)";

/// Complaint ids: what the ticketing systems use, nothing that needs escaping anywhere.
fn check_complaint_id(id: &str) -> Result<(), Error> {
    if id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        return Err(Error::invalid(
            "complaint_id",
            "at most 64 characters: letters, digits, '-', '_' or '.'",
        ));
    }
    Ok(())
}

fn new_complaint_id() -> String {
    let now = chrono::Utc::now().with_timezone(&diagnosis::value::beijing());
    format!("CMP-{}-{:08x}", now.format("%Y%m%d%H%M%S"), rand::random::<u32>())
}

/// The request's `now`: a valid time, at most a day ahead of the gateway's clock (`clock`).
fn check_now(
    now: Option<&prost_types::Timestamp>,
    clock: chrono::DateTime<chrono::FixedOffset>,
) -> Result<Option<chrono::DateTime<chrono::FixedOffset>>, Error> {
    let Some(t) = now else { return Ok(None) };
    let at = u32::try_from(t.nanos)
        .ok()
        .and_then(|n| chrono::DateTime::from_timestamp(t.seconds, n))
        .ok_or_else(|| Error::invalid("now", "not a valid time (seconds and nanos out of range)"))?
        .with_timezone(&diagnosis::value::beijing());
    if at > clock + chrono::Duration::days(1) {
        return Err(Error::invalid(
            "now",
            format!(
                "{} is more than a day ahead of the gateway's clock ({}); leave it unset to use the clock",
                at.format("%Y-%m-%d %H:%M"),
                clock.format("%Y-%m-%d %H:%M")
            ),
        ));
    }
    Ok(Some(at))
}

fn check_text(text: &str) -> Result<(), Error> {
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(Error::invalid("text", format!("at most {MAX_TEXT_CHARS} characters")));
    }
    Ok(())
}

/// Classifies a complaint and each of its clauses (second issues) off the request threads.
async fn classify_candidates(text: String) -> Result<Candidates, Error> {
    tokio::task::spawn_blocking(move || Candidates::of_text(Classifier::shared(), &text))
        .await
        .map_err(|e| Error::Internal(format!("classifier task: {e}")))?
        .map_err(|e| match e {
            ClassifyError::Empty => Error::invalid("text", e.to_string()),
            other => Error::Internal(other.to_string()),
        })
}

/// Classifies off the request threads (the first call trains the shared model).
async fn classify(text: String) -> Result<crate::classify::Classification, Error> {
    tokio::task::spawn_blocking(move || Classifier::shared().classify(&text))
        .await
        .map_err(|e| Error::Internal(format!("classifier task: {e}")))?
        .map_err(|e| match e {
            ClassifyError::Empty => Error::invalid("text", e.to_string()),
            other => Error::Internal(other.to_string()),
        })
}

fn outcome_of(o: &RunOutcome) -> DiagnosisOutcome {
    match o {
        RunOutcome::Cause(_) => DiagnosisOutcome::Cause,
        RunOutcome::Question(_) => DiagnosisOutcome::Question,
        RunOutcome::NoCause => DiagnosisOutcome::NoCause,
        RunOutcome::Undecided { .. } => DiagnosisOutcome::CannotDecide,
        RunOutcome::Error { .. } => DiagnosisOutcome::Error,
        RunOutcome::NotApplicable => DiagnosisOutcome::NotApplicable,
    }
}

fn question(q: &Question) -> pb::Question {
    pb::Question {
        id: q.id.clone(),
        text: q.text.clone(),
        allowed: q
            .answers
            .iter()
            .map(|(value, label)| AllowedAnswer {
                value: value.clone(),
                label: label.clone(),
            })
            .collect(),
    }
}

fn evidence(e: &Evidence) -> pb::Evidence {
    pb::Evidence {
        field: e.field.clone(),
        source: e.source.clone(),
        state: e.state as i32,
        fetched_at: e.fetched_at,
        age_ms: e.age_ms,
        supplied: e.supplied,
        absent: e.absent.clone(),
    }
}

fn missing(a: &crate::diagnosis::provenance::Absent) -> pb::MissingData {
    pb::MissingData {
        field: a.field(),
        reason: a.reason(),
        systems: a.systems.clone(),
        check: a.check(),
    }
}

fn trace_step(entry: &TraceEntry) -> TraceStep {
    TraceStep {
        step_id: entry.step_id.clone(),
        description: entry.description.clone(),
        expression: entry.expression.clone(),
        reads: entry
            .reads
            .iter()
            .map(|r| FieldRead {
                path: r.path.clone(),
                value: r.value.to_string(),
            })
            .collect(),
        result: entry.result.clone().unwrap_or_default(),
        outcome: entry.outcome.clone(),
        evidence: entry.evidence.iter().map(evidence).collect(),
        error: entry.error.clone().unwrap_or_default(),
        values: entry.values.iter().map(|(k, v)| (k.clone(), v.to_string())).collect(),
    }
}

/// The proto answer of a routed diagnosis: the primary finding, with why its category, and each second
/// issue's finding.
fn routed_response(routed: route::Routed, complaint_id: String) -> DiagnoseResponse {
    let reason = routed.primary.routing.reason.clone();
    let mut out = response_of(routed.primary.diagnosis, routed.primary.routing, complaint_id);
    out.routing_reason = reason;
    out.secondary_findings = routed
        .secondary
        .into_iter()
        .map(|f| {
            let r = response_of(f.diagnosis, f.routing.clone(), String::new());
            pb::SecondaryFinding {
                category: f.routing.category,
                confidence: f.routing.confidence,
                routing_reason: f.routing.reason,
                scenario_id: r.scenario_id,
                cause: r.cause,
                reply: r.reply,
                actions: r.actions,
                trace: r.trace,
            }
        })
        .collect();
    out
}

/// The proto answer of a diagnosis of complaint `complaint_id`, routed by `routing`.
fn response_of(mut d: Diagnosis, routing: Routing, complaint_id: String) -> DiagnoseResponse {
    let matches = d
        .runs
        .iter()
        .map(|r| ScenarioMatch {
            scenario_id: r.scenario.id.clone(),
            title: r.scenario.title.clone(),
            outcome: outcome_of(&r.outcome) as i32,
            cause_code: match &r.outcome {
                RunOutcome::Cause(c) => r.scenario.causes[*c].code.clone(),
                _ => String::new(),
            },
            error: match &r.outcome {
                RunOutcome::Error { step, message } => format!("step `{step}`: {message}"),
                RunOutcome::Undecided { step, missing } => format!(
                    "step `{step}`: {}",
                    missing.iter().map(|m| m.check()).collect::<Vec<_>>().join("; ")
                ),
                _ => String::new(),
            },
            priority: r.scenario.priority,
        })
        .collect();
    let mut out = DiagnoseResponse {
        complaint_id,
        category: routing.category,
        confidence: routing.confidence,
        category_source: match routing.by {
            RoutedBy::Request => CategorySource::Request,
            RoutedBy::Classifier => CategorySource::Classifier,
        } as i32,
        keywords: routing.keywords,
        classifier_abstained: routing.abstained,
        matches,
        sources: std::mem::take(&mut d.sources),
        ..Default::default()
    };
    out.set_outcome(outcome_of(d.outcome()));
    if let RunOutcome::Undecided { missing: m, .. } = d.outcome() {
        out.missing = m.iter().map(missing).collect();
    }
    if let Some(run) = d.chosen_run() {
        out.scenario_id = run.scenario.id.clone();
        out.trace = run.trace.iter().map(trace_step).collect();
    }
    if let Some(c) = &d.conclusion {
        out.cause = Some(pb::Cause {
            code: c.code.clone(),
            title: c.title.clone(),
            explanation: c.explanation.clone(),
        });
        out.reply = c.reply.clone();
        out.actions = c
            .actions
            .iter()
            .map(|a| pb::Action {
                kind: a.kind as i32,
                description: a.description.clone(),
                amount_fen: a.amount_fen,
                service_code: a.service_code.clone(),
                element_id: a.element_id.clone(),
                target: a.target.clone(),
            })
            .collect();
    }
    out.pending_questions = d.pending.iter().map(question).collect();
    if d.conclusion.is_none() {
        out.handling = std::mem::take(&mut d.handling);
        if matches!(d.outcome(), RunOutcome::NoCause) {
            out.reply = out.handling.clone();
        }
    }
    out
}

fn summary(s: &Scenario) -> ScenarioSummary {
    ScenarioSummary {
        id: s.id.clone(),
        title: s.title.clone(),
        categories: s.categories.clone(),
        priority: s.priority,
        file: s.file.clone(),
        cause_codes: s.causes.iter().map(|c| c.code.clone()).collect(),
        question_ids: s.questions.iter().map(|q| q.id.clone()).collect(),
        step_count: s.steps.len() as i32,
    }
}

fn outcome_text(o: &Outcome, s: &Scenario) -> String {
    match o {
        Outcome::Next => "next".into(),
        Outcome::End => "end".into(),
        Outcome::Goto(j) => format!("goto {}", s.steps[*j].id),
        Outcome::Cause(c) => format!("cause {}", s.causes[*c].code),
    }
}

fn timestamp(t: std::time::SystemTime) -> prost_types::Timestamp {
    prost_types::Timestamp::from(t)
}

impl DiagnosisApi {
    async fn diagnose_inner(&self, request: &Request<DiagnoseRequest>) -> Result<DiagnoseResponse, Error> {
        let req = request.get_ref();
        let set: Arc<ScenarioSet> = self.engine.scenarios();
        // Everything about the request is checked before any subscriber data is read, and before the
        // classifier (the expensive part) runs: the caller's permission, the number, the fields.
        crate::identity::caller(request)?.require(crate::identity::Permission::ReadView, "diagnosing a complaint")?;
        crate::msisdn::normalize("msisdn", &req.msisdn)?;
        check_text(&req.text)?;
        check_complaint_id(&req.complaint_id)?;
        if !req.category.is_empty() {
            self.engine.check_category(&req.category)?;
        } else if req.text.trim().is_empty() {
            return Err(Error::invalid("text", "required when no category is given"));
        }
        let answers: Vec<(String, String)> = req
            .answers
            .iter()
            .map(|a| (a.question_id.clone(), a.value.clone()))
            .collect();
        let answers = Engine::check_answers(&set, &answers)?;
        let now = check_now(req.now.as_ref(), self.engine.now())?;
        let complaint_id = if req.complaint_id.is_empty() {
            new_complaint_id()
        } else {
            req.complaint_id.clone()
        };

        // The complaint's category (the classifier, off the request threads) and who its id belongs to
        // (the store) are independent: asked at the same time.
        let classified = async {
            if req.category.is_empty() {
                classify_candidates(req.text.clone()).await
            } else {
                Ok(Candidates::requested(&req.category))
            }
        };
        // A complaint id belongs to the subscriber and region it was first used for: checked on the view
        // (refused and audited there), and again when the record is written. A diagnosis of a complaint
        // case is attached to it as an event, in the read's transaction.
        let owned = async {
            if req.complaint_id.is_empty() {
                return Ok((None, Vec::new()));
            }
            let owner = self.cases.owner(&complaint_id).await?;
            // Only a case has events a diagnosis is attached to (an id diagnosed before has records only).
            let events = match &owner {
                Some(o) if o.case => self.cases.events_of(&complaint_id).await?,
                _ => Vec::new(),
            };
            Ok::<_, Error>((owner.map(|o| (o.msisdn, o.region)), events))
        };
        let (cands, owned) = futures::join!(classified, owned);
        let cands = cands?;
        let (owner, case_events) = owned?;

        let mut read = super::read_request(request, &req.msisdn, &complaint_id)?;
        if req.dry_run {
            read.call.method = format!("{}{DRY_RUN_SUFFIX}", read.call.method);
        }
        let record_complaints = self.record_complaints && !req.dry_run;
        let caller = read.caller.subject.clone();
        let is_case = crate::cases::model::Complaint::replay(&case_events).is_some();
        let rules = self.cases.rules();
        // Synchronous and bounded (see `diagnosis::check`): runs on the view before the read's audit
        // event is recorded, and the complaint record is committed with that event.
        let make = |outcome: crate::view::ViewOutcome| -> Made<DiagnoseResponse> {
            let facts = SubscriberFacts::of(&outcome.view);
            let msisdn = crate::msisdn::normalize("msisdn", &outcome.view.msisdn).unwrap_or_default();
            if let Some((m, r)) = &owner {
                if !ComplaintRecord::same_owner(m, r, &msisdn, &facts.region) {
                    return Err(Error::IdTaken(format!(
                        "complaint id {complaint_id} belongs to another subscriber or region; ids are never reassigned (leave complaint_id empty to get a new one)"
                    )));
                }
            }
            let mut input = DiagnoseInput {
                category: cands.first().0.to_string(),
                answers,
                complaint_id,
                msisdn,
                now,
                text: req.text.clone(),
            };
            let routed = self
                .engine
                .diagnose_read_routed(set, &cands, &input, &outcome, &self.coverage)?;
            input.category = routed.primary.routing.category.clone();
            let record = ComplaintRecord::of(
                &routed.primary.diagnosis,
                &input,
                &routed.primary.routing,
                &caller,
                &facts.region,
            );
            let resp = routed_response(routed, input.complaint_id);
            // A dry run records nothing, on a case or on its own.
            let rider: Option<Box<dyn crate::store::Rider>> = if req.dry_run {
                None
            } else if is_case {
                let mut event = diagnosed_event(&record, &facts);
                // The case's clock (fixed in tests and demos), not the record's.
                event.at_us = self.cases.now();
                let change = crate::cases::ops::apply(
                    &rules,
                    &case_events,
                    Op::Diagnosed(Box::new(event)),
                    &caller,
                    self.cases.now(),
                )?;
                Some(Box::new(CaseWrite(vec![change])))
            } else if record_complaints {
                Some(Box::new(record))
            } else {
                None
            };
            Ok((resp, rider))
        };
        let (resp, recorded) = self.reads.view_then(read, make).await?;
        // The diagnosis stands even if it cannot be recorded (its audit event is); the log says why.
        if let Err(e) = recorded {
            tracing::error!(error = %e, complaint_id = %resp.complaint_id, "complaint record not written");
        }
        Ok(resp)
    }
}

/// The `diagnosed` event of a complaint case for diagnosis record `r` (with the cell, provider and payment
/// channel the view showed).
fn diagnosed_event(r: &ComplaintRecord, facts: &SubscriberFacts) -> Event {
    let mut e = Event::blank(&r.complaint_id, 0, EventKind::Diagnosed, r.at_us);
    e.caller = r.caller.clone();
    e.category = r.category.clone();
    e.confidence = r.confidence;
    e.category_source = r.category_source.clone();
    e.scenario_id = r.scenario_id.clone();
    e.cause_code = r.cause_code.clone();
    e.diag_outcome = r.outcome.clone();
    e.reply_without_question = r.reply_without_question;
    e.answers = i64::from(r.answers);
    e.cell_id = facts.cell_id.clone();
    e.vas_provider = facts.vas_provider.clone();
    e.payment_channel = facts.payment_channel.clone();
    e
}

#[tonic::async_trait]
impl DiagnosisService for DiagnosisApi {
    async fn diagnose(&self, request: Request<DiagnoseRequest>) -> Result<Response<DiagnoseResponse>, Status> {
        match self.diagnose_inner(&request).await {
            Ok(r) => Ok(Response::new(r)),
            // A request refused before the view read is audited like a refused read.
            Err(e) if e.is_invalid_argument() || e.is_denial() => {
                let r = request.get_ref();
                let read = super::read_request(&request, &r.msisdn, &r.complaint_id)?;
                Err(self.reads.refuse(&read, e).await.into())
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn classify(&self, request: Request<ClassifyRequest>) -> Result<Response<ClassifyResponse>, Status> {
        crate::identity::caller(&request)?;
        let text = request.into_inner().text;
        check_text(&text)?;
        if text.trim().is_empty() {
            return Err(Error::invalid("text", "required").into());
        }
        let c = classify(text).await?;
        Ok(Response::new(ClassifyResponse {
            category: c.category().to_string(),
            confidence: c.confidence(),
            abstained: c.abstained,
            top: c
                .top
                .iter()
                .map(|(category, probability)| CategoryScore {
                    category: category.clone(),
                    probability: *probability,
                })
                .collect(),
            keywords: c.keywords,
        }))
    }

    async fn list_scenarios(
        &self,
        request: Request<ListScenariosRequest>,
    ) -> Result<Response<ListScenariosResponse>, Status> {
        crate::identity::caller(&request)?;
        let category = &request.get_ref().category;
        if !category.is_empty() {
            self.engine.check_category(category)?;
        }
        let set = self.engine.scenarios();
        Ok(Response::new(ListScenariosResponse {
            scenarios: set
                .scenarios
                .iter()
                .filter(|s| category.is_empty() || s.categories.contains(category))
                .map(|s| summary(s))
                .collect(),
            generation: set.generation,
            loaded_at: Some(timestamp(set.loaded_at)),
        }))
    }

    async fn get_scenario(
        &self,
        request: Request<GetScenarioRequest>,
    ) -> Result<Response<GetScenarioResponse>, Status> {
        crate::identity::caller(&request)?;
        let id = &request.get_ref().id;
        if id.is_empty() {
            return Err(Error::invalid("id", "required").into());
        }
        let set = self.engine.scenarios();
        let s = set.get(id).ok_or_else(|| {
            Error::NotFound(format!(
                "no scenario `{}`; ListScenarios lists them",
                id.chars().take(64).collect::<String>()
            ))
        })?;
        Ok(Response::new(GetScenarioResponse {
            summary: Some(summary(s)),
            precondition: s.precondition.as_ref().map(|p| p.text.clone()).unwrap_or_default(),
            steps: s
                .steps
                .iter()
                .map(|st| ScenarioStep {
                    id: st.id.clone(),
                    description: st.description.clone(),
                    expression: st.expr.text.clone(),
                    ask: st.ask.clone().unwrap_or_default(),
                    then: outcome_text(&st.then, s),
                    otherwise: outcome_text(&st.otherwise, s),
                    values: st.values.iter().map(|(k, e)| (k.clone(), e.text.clone())).collect(),
                })
                .collect(),
            questions: s.questions.iter().map(question).collect(),
            causes: s
                .causes
                .iter()
                .map(|c| pb::CauseDefinition {
                    code: c.code.clone(),
                    title: c.title.clone(),
                    explanation: c.explanation_source.clone(),
                    reply: c.reply_source.clone(),
                    actions: c
                        .actions
                        .iter()
                        .map(|a| ActionDefinition {
                            kind: a.kind as i32,
                            description: a.source.get("description").cloned().unwrap_or_default(),
                            amount_fen: a.source.get("amount_fen").cloned().unwrap_or_default(),
                            service_code: a.source.get("service_code").cloned().unwrap_or_default(),
                            element_id: a.source.get("element_id").cloned().unwrap_or_default(),
                            target: a.source.get("target").cloned().unwrap_or_default(),
                        })
                        .collect(),
                })
                .collect(),
            source: s.source.clone(),
        }))
    }
}
