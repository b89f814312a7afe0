//! `complaint.v1.ComplaintService`: request validation and proto ⇄ domain translation around
//! [`crate::cases::service::Cases`], which applies identity, region scoping, masking and audit.
use crate::cases::model::{Channel, Complaint, Event, State, VisitOutcome};
use crate::cases::ops::{Intake, Op};
use crate::cases::service::{check_id, check_text, CaseView, Cases};
use crate::cases::sla::{Status, TargetState};
use crate::cases::store::{CaseRow, ListFilter};
use crate::classify::{Classifier, ClassifyError};
use crate::error::Error;
use crate::identity::{call_info, caller};
use crate::proto::complaint::v1::complaint_service_server::ComplaintService;
use crate::proto::complaint::v1::{self as pb, ComplaintChannel, ComplaintState, ReturnVisitOutcome, SlaStatus};
use std::sync::Arc;
use tonic::{Request, Response, Status as GrpcStatus};

/// The complaint case service.
pub struct CasesApi {
    cases: Arc<Cases>,
}

impl CasesApi {
    pub fn new(cases: Arc<Cases>) -> CasesApi {
        CasesApi { cases }
    }
}

fn ts(us: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: us.div_euclid(1_000_000),
        nanos: (us.rem_euclid(1_000_000) * 1_000) as i32,
    }
}

fn us_of(t: &prost_types::Timestamp) -> i64 {
    t.seconds.saturating_mul(1_000_000) + i64::from(t.nanos) / 1_000
}

/// An optional timestamp filter `field`, checked: seconds from 1970 to 9999, nanos in [0, 999999999].
fn time_filter(field: &str, t: &Option<prost_types::Timestamp>) -> Result<Option<i64>, Error> {
    let Some(t) = t else { return Ok(None) };
    if !(0..=253_402_300_799).contains(&t.seconds) {
        return Err(Error::invalid(
            field,
            "a time between 1970-01-01 and 9999-12-31 (seconds since the Unix epoch)",
        ));
    }
    if !(0..1_000_000_000).contains(&t.nanos) {
        return Err(Error::invalid(field, "nanos must be in [0, 999999999]"));
    }
    Ok(Some(us_of(t)))
}

pub fn channel_to_pb(name: &str) -> ComplaintChannel {
    match Channel::parse(name) {
        Some(Channel::Hotline) => ComplaintChannel::Hotline,
        Some(Channel::App) => ComplaintChannel::App,
        Some(Channel::Store) => ComplaintChannel::Store,
        Some(Channel::Online) => ComplaintChannel::Online,
        Some(Channel::Regulator) => ComplaintChannel::Regulator,
        Some(Channel::SocialMedia) => ComplaintChannel::SocialMedia,
        None => ComplaintChannel::Unspecified,
    }
}

fn channel_of(field: &str, c: i32) -> Result<Channel, Error> {
    let channel = match ComplaintChannel::try_from(c) {
        Ok(ComplaintChannel::Hotline) => Channel::Hotline,
        Ok(ComplaintChannel::App) => Channel::App,
        Ok(ComplaintChannel::Store) => Channel::Store,
        Ok(ComplaintChannel::Online) => Channel::Online,
        Ok(ComplaintChannel::Regulator) => Channel::Regulator,
        Ok(ComplaintChannel::SocialMedia) => Channel::SocialMedia,
        _ => {
            return Err(Error::invalid(
                field,
                "one of HOTLINE, APP, STORE, ONLINE, REGULATOR, SOCIAL_MEDIA",
            ))
        }
    };
    Ok(channel)
}

pub fn state_to_pb(s: State) -> ComplaintState {
    match s {
        State::New => ComplaintState::New,
        State::Triaged => ComplaintState::Triaged,
        State::InProgress => ComplaintState::InProgress,
        State::AwaitingCustomer => ComplaintState::AwaitingCustomer,
        State::Replied => ComplaintState::Replied,
        State::Closed => ComplaintState::Closed,
    }
}

fn state_of(field: &str, s: i32) -> Result<State, Error> {
    State::ALL
        .into_iter()
        .find(|x| state_to_pb(*x) as i32 == s)
        .ok_or_else(|| {
            Error::invalid(
                field,
                "one of NEW, TRIAGED, IN_PROGRESS, AWAITING_CUSTOMER, REPLIED, CLOSED",
            )
        })
}

fn visit_to_pb(v: Option<VisitOutcome>) -> ReturnVisitOutcome {
    match v {
        Some(VisitOutcome::Satisfied) => ReturnVisitOutcome::Satisfied,
        Some(VisitOutcome::Unsatisfied) => ReturnVisitOutcome::Unsatisfied,
        Some(VisitOutcome::Unreachable) => ReturnVisitOutcome::Unreachable,
        None => ReturnVisitOutcome::Unspecified,
    }
}

fn status_to_pb(s: Status) -> SlaStatus {
    match s {
        Status::OnTrack => SlaStatus::OnTrack,
        Status::AtRisk => SlaStatus::AtRisk,
        Status::Met => SlaStatus::Met,
        Status::Breached => SlaStatus::Breached,
    }
}

/// The proto of a complaint; `at_risk`/`breached` judged at `now_us` from its deadline columns.
pub fn complaint_to_pb(c: &Complaint, row: Option<&CaseRow>, now_us: i64) -> pb::Complaint {
    let d = row.map(|r| r.deadlines).unwrap_or_default();
    pb::Complaint {
        complaint_id: c.id.clone(),
        msisdn: c.msisdn.clone(),
        region: c.region.clone(),
        channel: channel_to_pb(&c.channel) as i32,
        text: c.text.clone(),
        category: c.category.clone(),
        cause_code: c.cause_code.clone(),
        scenario_id: c.scenario_id.clone(),
        state: state_to_pb(c.state) as i32,
        handler_group: c.group.clone(),
        owner: c.owner.clone(),
        priority: c.priority as i32,
        sla_policy: c.policy_id.clone(),
        vip_level: c.vip_level as i32,
        repeat_of: c.repeat_of.clone(),
        repeat_count: c.repeat_count as i32,
        reopen_count: c.reopen_count as i32,
        diagnoses: c.diagnoses as i32,
        replied: c.replied,
        visit_outcome: visit_to_pb(c.visit) as i32,
        visit_attempts: c.visit_attempts as i32,
        created_at: Some(ts(c.created_at_us)),
        updated_at: Some(ts(c.updated_at_us)),
        closed_at: c.closed_at_us.map(ts),
        next_due_at: d.next_due_us.map(ts),
        at_risk: d.next_warn_us.is_some_and(|w| w <= now_us) && d.next_due_us.is_some_and(|x| x > now_us),
        breached: d.breached_late || d.next_due_us.is_some_and(|x| x <= now_us),
        cell_id: c.cell_id.clone(),
        vas_provider: c.vas_provider.clone(),
        payment_channel: c.payment_channel.clone(),
    }
}

fn target_to_pb(t: &TargetState, calendar: &str) -> pb::SlaTarget {
    pb::SlaTarget {
        target: t.target.name().into(),
        started_at: Some(ts(t.started_us)),
        due_at: t.due_us.map(ts),
        warn_at: t.warn_us.map(ts),
        met_at: t.met_us.map(ts),
        status: status_to_pb(t.status) as i32,
        paused: t.paused,
        calendar: calendar.into(),
    }
}

fn event_to_pb(e: &Event) -> pb::ComplaintEvent {
    pb::ComplaintEvent {
        seq: e.seq,
        at: Some(ts(e.at_us)),
        kind: e.kind.name().into(),
        caller: e.caller.clone(),
        from_state: e.from_state.map(state_to_pb).unwrap_or_default() as i32,
        to_state: e.to_state.map(state_to_pb).unwrap_or_default() as i32,
        reason: e.reason.clone(),
        visit_outcome: visit_to_pb(e.visit) as i32,
        related_id: e.related_id.clone(),
        handler_group: e.group.clone(),
        owner: e.owner.clone(),
        priority: e.priority as i32,
        category: e.category.clone(),
        cause_code: e.cause_code.clone(),
        scenario_id: e.scenario_id.clone(),
    }
}

impl CasesApi {
    fn detail(&self, v: CaseView) -> pb::ComplaintDetail {
        let set = self.cases.rules();
        let calendar = set.policy(&v.complaint.policy_id).calendar.clone();
        let next = v.sla.next_due();
        let row = CaseRow {
            complaint: v.complaint.clone(),
            deadlines: crate::cases::store::Deadlines {
                next_due_us: next.map(|n| n.0),
                next_warn_us: next.map(|n| n.1),
                breached_late: v.sla.breached_late(),
                targets: Default::default(),
            },
        };
        pb::ComplaintDetail {
            complaint: Some(complaint_to_pb(&v.complaint, Some(&row), self.cases.now())),
            sla: v.sla.targets.iter().map(|t| target_to_pb(t, &calendar)).collect(),
            events: v.events.iter().map(event_to_pb).collect(),
        }
    }

    async fn change<T>(&self, request: &Request<T>, id: &str, op: Op) -> Result<pb::ComplaintDetail, Error> {
        let who = caller(request)?;
        let v = self.cases.change(&who, &call_info(request), id, op).await?;
        Ok(self.detail(v))
    }
}

/// Classifies off the request threads.
async fn classify(text: String) -> Result<crate::classify::Classification, Error> {
    tokio::task::spawn_blocking(move || Classifier::shared().classify(&text))
        .await
        .map_err(|e| Error::Internal(format!("classifier task: {e}")))?
        .map_err(|e| match e {
            ClassifyError::Empty => Error::invalid("text", e.to_string()),
            other => Error::Internal(other.to_string()),
        })
}

fn check_category(c: &str) -> Result<(), Error> {
    let codes = crate::classify::category_codes();
    if codes.contains(&c) {
        Ok(())
    } else {
        Err(Error::invalid(
            "category",
            format!(
                "unknown category `{}`; one of: {}",
                crate::identity::clip(c, 64),
                codes.join(", ")
            ),
        ))
    }
}

#[tonic::async_trait]
impl ComplaintService for CasesApi {
    async fn create_complaint(
        &self,
        request: Request<pb::CreateComplaintRequest>,
    ) -> Result<Response<pb::CreateComplaintResponse>, GrpcStatus> {
        let r = request.get_ref();
        let read = super::read_request(&request, &r.msisdn, &r.complaint_id)?;
        let checked = (|| {
            let channel = channel_of("channel", r.channel)?;
            check_text("text", &r.text, true)?;
            if !r.complaint_id.is_empty() {
                check_id("complaint_id", &r.complaint_id)?;
            }
            if !r.category.is_empty() {
                check_category(&r.category)?;
            }
            Ok::<_, Error>(channel)
        })();
        let channel = match checked {
            Ok(c) => c,
            Err(e) => return Err(self.cases.reads().refuse(&read, e).await.into()),
        };
        let mut intake = Intake {
            complaint_id: r.complaint_id.clone(),
            channel: channel.name().into(),
            text: r.text.clone(),
            category: r.category.clone(),
            confidence: 1.0,
            category_source: "request".into(),
            ..Default::default()
        };
        if r.category.is_empty() {
            let c = classify(r.text.clone()).await?;
            intake.category = c.category().to_string();
            intake.confidence = c.confidence();
            intake.abstained = c.abstained;
            intake.category_source = "classifier".into();
        }
        let v = self.cases.create(read, intake).await?;
        Ok(Response::new(pb::CreateComplaintResponse {
            detail: Some(self.detail(v)),
        }))
    }

    async fn get_complaint(
        &self,
        request: Request<pb::GetComplaintRequest>,
    ) -> Result<Response<pb::GetComplaintResponse>, GrpcStatus> {
        let who = caller(&request)?;
        let v = self
            .cases
            .get(&who, &call_info(&request), &request.get_ref().complaint_id)
            .await?;
        Ok(Response::new(pb::GetComplaintResponse {
            detail: Some(self.detail(v)),
        }))
    }

    async fn list_complaints(
        &self,
        request: Request<pb::ListComplaintsRequest>,
    ) -> Result<Response<pb::ListComplaintsResponse>, GrpcStatus> {
        let who = caller(&request)?;
        let r = request.get_ref();
        let mut f = ListFilter {
            limit: if r.page_size <= 0 {
                50
            } else {
                r.page_size.min(1000) as u32
            },
            at_risk: r.at_risk,
            breached: r.breached,
            due_before_us: r.due_before.as_ref().map(us_of),
            created_from_us: time_filter("created_from", &r.created_from)?,
            created_to_us: time_filter("created_to", &r.created_to)?,
            ..Default::default()
        };
        if let (Some(from), Some(to)) = (f.created_from_us, f.created_to_us) {
            if to <= from {
                return Err(Error::invalid("created_to", "must be after created_from").into());
            }
        }
        for (i, s) in r.states.iter().enumerate() {
            f.states.push(state_of(&format!("states[{i}]"), *s)?);
        }
        if !r.regions.is_empty() {
            let regions =
                crate::identity::authz::parse_regions(&r.regions).map_err(|e| Error::invalid("regions", e))?;
            f.regions = Some(regions.into_iter().collect());
        }
        let text = |v: &str| (!v.is_empty()).then(|| v.to_string());
        f.category = text(&r.category);
        f.cause_code = text(&r.cause_code);
        f.owner = text(&r.owner);
        f.group = text(&r.handler_group);
        if r.channel != 0 {
            f.channel = Some(channel_of("channel", r.channel)?.name().to_string());
        }
        for (field, v) in [
            ("category", &r.category),
            ("cause_code", &r.cause_code),
            ("owner", &r.owner),
        ] {
            if v.chars().count() > 128 {
                return Err(Error::invalid(field, "at most 128 characters").into());
            }
        }
        if !r.page_token.is_empty() {
            let bad = || Error::invalid("page_token", "not a token this service returned; start without one");
            let (due, id) = r.page_token.split_once(':').ok_or_else(bad)?;
            f.after = Some((due.parse().map_err(|_| bad())?, id.to_string()));
        }
        let (rows, next) = self.cases.list(&who, &call_info(&request), f).await?;
        let now = self.cases.now();
        Ok(Response::new(pb::ListComplaintsResponse {
            complaints: rows
                .iter()
                .map(|r| complaint_to_pb(&r.complaint, Some(r), now))
                .collect(),
            next_page_token: next.map(|(d, id)| format!("{d}:{id}")).unwrap_or_default(),
        }))
    }

    async fn assign_complaint(
        &self,
        request: Request<pb::AssignComplaintRequest>,
    ) -> Result<Response<pb::AssignComplaintResponse>, GrpcStatus> {
        let r = request.get_ref();
        if r.owner.is_empty() && r.handler_group.is_empty() {
            return Err(Error::invalid("owner", "give an owner, a handler group or both").into());
        }
        if !r.owner.is_empty() {
            crate::identity::validate_subject(&r.owner).map_err(|e| Error::invalid("owner", e))?;
        }
        if !r.handler_group.is_empty() {
            crate::identity::validate_subject(&r.handler_group).map_err(|e| Error::invalid("handler_group", e))?;
        }
        let op = Op::Assign {
            owner: r.owner.clone(),
            group: r.handler_group.clone(),
        };
        let detail = self.change(&request, &r.complaint_id, op).await?;
        Ok(Response::new(pb::AssignComplaintResponse { detail: Some(detail) }))
    }

    async fn transition_complaint(
        &self,
        request: Request<pb::TransitionComplaintRequest>,
    ) -> Result<Response<pb::TransitionComplaintResponse>, GrpcStatus> {
        let r = request.get_ref();
        let to = state_of("to_state", r.to_state)?;
        check_text("reason", &r.reason, false)?;
        let op = Op::Transition {
            to,
            reason: r.reason.clone(),
        };
        let detail = self.change(&request, &r.complaint_id, op).await?;
        Ok(Response::new(pb::TransitionComplaintResponse { detail: Some(detail) }))
    }

    async fn add_complaint_note(
        &self,
        request: Request<pb::AddComplaintNoteRequest>,
    ) -> Result<Response<pb::AddComplaintNoteResponse>, GrpcStatus> {
        let r = request.get_ref();
        check_text("note", &r.note, true)?;
        let op = Op::Note { text: r.note.clone() };
        let detail = self.change(&request, &r.complaint_id, op).await?;
        Ok(Response::new(pb::AddComplaintNoteResponse { detail: Some(detail) }))
    }

    async fn record_reply(
        &self,
        request: Request<pb::RecordReplyRequest>,
    ) -> Result<Response<pb::RecordReplyResponse>, GrpcStatus> {
        let r = request.get_ref();
        check_text("reply", &r.reply, true)?;
        let op = Op::Reply { text: r.reply.clone() };
        let detail = self.change(&request, &r.complaint_id, op).await?;
        Ok(Response::new(pb::RecordReplyResponse { detail: Some(detail) }))
    }

    async fn record_return_visit(
        &self,
        request: Request<pb::RecordReturnVisitRequest>,
    ) -> Result<Response<pb::RecordReturnVisitResponse>, GrpcStatus> {
        let r = request.get_ref();
        let outcome = match ReturnVisitOutcome::try_from(r.outcome) {
            Ok(ReturnVisitOutcome::Satisfied) => VisitOutcome::Satisfied,
            Ok(ReturnVisitOutcome::Unsatisfied) => VisitOutcome::Unsatisfied,
            Ok(ReturnVisitOutcome::Unreachable) => VisitOutcome::Unreachable,
            _ => return Err(Error::invalid("outcome", "one of SATISFIED, UNSATISFIED, UNREACHABLE").into()),
        };
        check_text("note", &r.note, false)?;
        let op = Op::Visit {
            outcome,
            note: r.note.clone(),
        };
        let detail = self.change(&request, &r.complaint_id, op).await?;
        Ok(Response::new(pb::RecordReturnVisitResponse { detail: Some(detail) }))
    }

    async fn reopen_complaint(
        &self,
        request: Request<pb::ReopenComplaintRequest>,
    ) -> Result<Response<pb::ReopenComplaintResponse>, GrpcStatus> {
        let r = request.get_ref();
        check_text("reason", &r.reason, true)?;
        let op = Op::Reopen {
            reason: r.reason.clone(),
        };
        let detail = self.change(&request, &r.complaint_id, op).await?;
        Ok(Response::new(pb::ReopenComplaintResponse { detail: Some(detail) }))
    }

    async fn get_subscriber_history(
        &self,
        request: Request<pb::GetSubscriberHistoryRequest>,
    ) -> Result<Response<pb::GetSubscriberHistoryResponse>, GrpcStatus> {
        let who = caller(&request)?;
        let rows = self
            .cases
            .history(&who, &call_info(&request), &request.get_ref().msisdn)
            .await?;
        let now = self.cases.now();
        Ok(Response::new(pb::GetSubscriberHistoryResponse {
            complaints: rows
                .iter()
                .map(|r| complaint_to_pb(&r.complaint, Some(r), now))
                .collect(),
        }))
    }
}
