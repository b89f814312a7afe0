//! Complaint cases in the console: opening one from the desk (with the desk's diagnosis attached), its
//! page with the deadline clocks, events and the next steps its state allows, the queue of open
//! complaints by due time, and filtered lists (the dashboard's drill-downs). Every step is the
//! `ComplaintService` call a gRPC client would make; the service decides what is allowed.
use super::calls::{bounded, CallError, Caller};
use super::pages;
use super::signed_in::{check_csrf, SignedIn};
use super::{viewmodel, Console};
use crate::proto::complaint::v1::complaint_service_server::ComplaintService;
use crate::proto::complaint::v1::diagnosis_service_server::DiagnosisService;
use crate::proto::complaint::v1::{self as pb, ComplaintChannel, ComplaintState, ReturnVisitOutcome};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

fn channel_of(s: &str) -> ComplaintChannel {
    ComplaintChannel::from_str_name(&format!("COMPLAINT_CHANNEL_{s}")).unwrap_or(ComplaintChannel::Unspecified)
}

/// POST /complaints: opens a complaint for the desk's number and text, attaches the desk's diagnosis
/// (with its answers) to it, and shows it.
pub async fn create(
    State(c): State<Arc<Console>>,
    SignedIn(caller): SignedIn,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let input = super::desk::DeskInput::from_pairs(pairs.clone());
    if let Err(r) = check_csrf(&c, &caller, &input.csrf) {
        return *r;
    }
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let req = caller.request(
        "ComplaintService/CreateComplaint",
        pb::CreateComplaintRequest {
            msisdn: input.msisdn.clone(),
            text: input.text.clone(),
            channel: channel_of(&field("channel")) as i32,
            category: field("category"),
            ..Default::default()
        },
    );
    let created = match bounded(c.call_timeout, c.services.cases.create_complaint(req)).await {
        Ok(r) => r,
        Err(e) => {
            let mut ctx = super::desk::desk(&c, &caller, &input).await;
            ctx["create_error"] = json!(e);
            return pages::render(&c, "desk.html", Some(&caller), ctx);
        }
    };
    let id = created
        .detail
        .and_then(|d| d.complaint)
        .map(|x| x.complaint_id)
        .unwrap_or_default();
    if field("attach_diagnosis") == "1" {
        let req = caller.request(
            "DiagnosisService/Diagnose",
            pb::DiagnoseRequest {
                msisdn: input.msisdn.clone(),
                text: input.text.clone(),
                complaint_id: id.clone(),
                answers: input
                    .answers
                    .iter()
                    .map(|(q, v)| pb::Answer {
                        question_id: q.clone(),
                        value: v.clone(),
                    })
                    .collect(),
                ..Default::default()
            },
        );
        // The complaint stands without it; its page shows whether a diagnosis is attached.
        if let Err(e) = bounded(c.call_timeout, c.services.diagnosis.diagnose(req)).await {
            tracing::warn!(code = %e.code, "console: attaching the diagnosis to a new complaint");
        }
    }
    // The recommended actions the handler ticked are noted on the complaint.
    let confirmed: Vec<String> = pairs
        .iter()
        .filter(|(k, v)| k == "confirm" && !v.trim().is_empty())
        .map(|(_, v)| v.clone())
        .take(20)
        .collect();
    if !confirmed.is_empty() {
        let req = caller.request(
            "ComplaintService/AddComplaintNote",
            pb::AddComplaintNoteRequest {
                complaint_id: id.clone(),
                note: format!("已确认建议操作：{}", confirmed.join("；")),
            },
        );
        if let Err(e) = bounded(c.call_timeout, c.services.cases.add_complaint_note(req)).await {
            tracing::warn!(code = %e.code, "console: noting the confirmed actions on a new complaint");
        }
    }
    Redirect::to(&format!("/complaints/{}", urlencode(&id))).into_response()
}

/// Percent-encodes a path segment (complaint ids are `[A-Za-z0-9._-]`; anything else is encoded).
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn detail_ctx(c: &Console, caller: &Caller, id: &str) -> Result<Value, CallError> {
    let req = caller.request(
        "ComplaintService/GetComplaint",
        pb::GetComplaintRequest {
            complaint_id: id.to_string(),
        },
    );
    let r = bounded(c.call_timeout, c.services.cases.get_complaint(req)).await?;
    let d = r.detail.unwrap_or_default();
    let now = chrono::Utc::now().timestamp();
    let mut ctx = viewmodel::complaint_detail(&d, now);
    let state = d.complaint.as_ref().map(|x| x.state()).unwrap_or_default();
    let steps: &[&str] = match state {
        ComplaintState::New | ComplaintState::Triaged => &["start", "note"],
        ComplaintState::InProgress => &["reply", "await", "note"],
        ComplaintState::AwaitingCustomer => &["resume", "note"],
        ComplaintState::Replied => &["visit", "close", "resume", "note"],
        ComplaintState::Closed => &["reopen"],
        ComplaintState::Unspecified => &[],
    };
    ctx["steps"] = json!(steps);
    ctx["nav"] = json!("queue");
    Ok(ctx)
}

/// GET /complaints/{id}.
pub async fn detail(State(c): State<Arc<Console>>, SignedIn(caller): SignedIn, Path(id): Path<String>) -> Response {
    match detail_ctx(&c, &caller, &id).await {
        Ok(ctx) => pages::render(&c, "complaint.html", Some(&caller), ctx),
        Err(e) => pages::message(&c, Some(&caller), StatusCode::NOT_FOUND, "无法打开投诉单", &e),
    }
}

#[derive(Deserialize)]
pub struct ChangeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    op: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    outcome: String,
}

/// POST /complaints/{id}: one step (`op`): start, await, resume, reply, visit, close, note, reopen.
pub async fn change(
    State(c): State<Arc<Console>>,
    SignedIn(caller): SignedIn,
    Path(id): Path<String>,
    Form(f): Form<ChangeForm>,
) -> Response {
    if let Err(r) = check_csrf(&c, &caller, &f.csrf) {
        return *r;
    }
    let svc = &c.services.cases;
    let t = c.call_timeout;
    let transition = |to: ComplaintState| {
        caller.request(
            "ComplaintService/TransitionComplaint",
            pb::TransitionComplaintRequest {
                complaint_id: id.clone(),
                to_state: to as i32,
                reason: f.text.clone(),
            },
        )
    };
    let done: Result<(), CallError> = match f.op.as_str() {
        "start" | "resume" => bounded(t, svc.transition_complaint(transition(ComplaintState::InProgress)))
            .await
            .map(|_| ()),
        "await" => bounded(
            t,
            svc.transition_complaint(transition(ComplaintState::AwaitingCustomer)),
        )
        .await
        .map(|_| ()),
        "close" => bounded(t, svc.transition_complaint(transition(ComplaintState::Closed)))
            .await
            .map(|_| ()),
        "reply" => {
            let req = caller.request(
                "ComplaintService/RecordReply",
                pb::RecordReplyRequest {
                    complaint_id: id.clone(),
                    reply: f.text.clone(),
                },
            );
            bounded(t, svc.record_reply(req)).await.map(|_| ())
        }
        "visit" => {
            let outcome = match f.outcome.as_str() {
                "satisfied" => ReturnVisitOutcome::Satisfied,
                "unsatisfied" => ReturnVisitOutcome::Unsatisfied,
                "unreachable" => ReturnVisitOutcome::Unreachable,
                _ => ReturnVisitOutcome::Unspecified,
            };
            let req = caller.request(
                "ComplaintService/RecordReturnVisit",
                pb::RecordReturnVisitRequest {
                    complaint_id: id.clone(),
                    outcome: outcome as i32,
                    note: f.text.clone(),
                },
            );
            bounded(t, svc.record_return_visit(req)).await.map(|_| ())
        }
        "note" => {
            let req = caller.request(
                "ComplaintService/AddComplaintNote",
                pb::AddComplaintNoteRequest {
                    complaint_id: id.clone(),
                    note: f.text.clone(),
                },
            );
            bounded(t, svc.add_complaint_note(req)).await.map(|_| ())
        }
        "reopen" => {
            let req = caller.request(
                "ComplaintService/ReopenComplaint",
                pb::ReopenComplaintRequest {
                    complaint_id: id.clone(),
                    reason: f.text.clone(),
                },
            );
            bounded(t, svc.reopen_complaint(req)).await.map(|_| ())
        }
        _ => Err(CallError::new(
            tonic::Code::InvalidArgument,
            "op: one of start, await, resume, reply, visit, close, note, reopen",
        )),
    };
    match done {
        Ok(()) => Redirect::to(&format!("/complaints/{}", urlencode(&id))).into_response(),
        Err(e) => match detail_ctx(&c, &caller, &id).await {
            Ok(mut ctx) => {
                ctx["error"] = json!(e);
                let mut r = pages::render(&c, "complaint.html", Some(&caller), ctx);
                *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
                r
            }
            Err(_) => pages::message(&c, Some(&caller), StatusCode::UNPROCESSABLE_ENTITY, "操作未完成", &e),
        },
    }
}

/// Filters of the queue and of drill-down lists (all optional; no subscriber data in them).
#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub mine: String,
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub cause: String,
    #[serde(default)]
    pub channel: String,
    #[serde(default)]
    pub region: String,
    #[serde(default)]
    pub risk: String,
    #[serde(default)]
    pub open: String,
    /// Created on this Beijing day (`2026-11-28`): the dashboard's per-day volumes.
    #[serde(default)]
    pub day: String,
    /// What the list drills down from (shown as its title).
    #[serde(default)]
    pub from: String,
}

/// The `[start, end)` of Beijing day `day` (`YYYY-MM-DD`) as protobuf timestamps, or why not.
pub fn day_range(day: &str) -> Result<(prost_types::Timestamp, prost_types::Timestamp), CallError> {
    let d = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .ok()
        .filter(|_| day.len() == 10)
        .ok_or_else(|| CallError::new(tonic::Code::InvalidArgument, "day: a date such as 2026-11-28"))?;
    let at = |d: chrono::NaiveDate| prost_types::Timestamp {
        seconds: crate::cases::calendar::local_us(d, chrono::NaiveTime::MIN).div_euclid(1_000_000),
        nanos: 0,
    };
    let next = d
        .succ_opt()
        .ok_or_else(|| CallError::new(tonic::Code::InvalidArgument, "day: a date such as 2026-11-28"))?;
    Ok((at(d), at(next)))
}

const OPEN: [ComplaintState; 5] = [
    ComplaintState::New,
    ComplaintState::Triaged,
    ComplaintState::InProgress,
    ComplaintState::AwaitingCustomer,
    ComplaintState::Replied,
];

async fn list_ctx(c: &Console, caller: &Caller, q: &ListQuery, open_only: bool) -> Value {
    let mut req = pb::ListComplaintsRequest {
        page_size: 200,
        handler_group: q.group.clone(),
        category: q.category.clone(),
        cause_code: q.cause.clone(),
        at_risk: q.risk == "at_risk",
        breached: q.risk == "breached",
        ..Default::default()
    };
    if open_only {
        req.states = OPEN.iter().map(|s| *s as i32).collect();
    }
    if q.mine == "1" {
        req.owner = caller.who().subject.clone();
    }
    if !q.channel.is_empty() {
        req.channel = channel_of(&q.channel) as i32;
    }
    if !q.region.is_empty() {
        req.regions = vec![q.region.clone()];
    }
    let mut ctx = json!({
        "filters": {
            "group": q.group, "mine": q.mine == "1", "category": q.category, "cause": q.cause,
            "channel": q.channel, "region": q.region, "risk": q.risk, "day": q.day, "from": q.from,
        },
        "groups": c.groups(),
        "nav": "queue",
    });
    if !q.day.is_empty() {
        match day_range(&q.day) {
            Ok((from, to)) => {
                req.created_from = Some(from);
                req.created_to = Some(to);
            }
            Err(e) => {
                ctx["error"] = json!(e);
                return ctx;
            }
        }
    }
    let now = chrono::Utc::now().timestamp();
    match bounded(
        c.call_timeout,
        c.services
            .cases
            .list_complaints(caller.request("ComplaintService/ListComplaints", req)),
    )
    .await
    {
        Ok(r) => {
            let rows: Vec<Value> = r.complaints.iter().map(|x| viewmodel::complaint_row(x, now)).collect();
            let mut counts = BTreeMap::new();
            for x in &r.complaints {
                *counts
                    .entry(if x.breached {
                        "breached"
                    } else if x.at_risk {
                        "at_risk"
                    } else {
                        "on_track"
                    })
                    .or_insert(0u32) += 1;
            }
            ctx["complaints"] = json!(rows);
            ctx["counts"] = json!(counts);
            ctx["more"] = json!(!r.next_page_token.is_empty());
        }
        Err(e) => ctx["error"] = json!(e),
    }
    ctx
}

/// GET /queue: the open complaints of my regions (optionally one group's, or mine), by due time.
pub async fn queue(State(c): State<Arc<Console>>, SignedIn(caller): SignedIn, Query(q): Query<ListQuery>) -> Response {
    let mut ctx = list_ctx(&c, &caller, &q, true).await;
    ctx["title"] = json!("待处理队列");
    ctx["queue"] = json!(true);
    pages::render(&c, "queue.html", Some(&caller), ctx)
}

/// GET /complaints: complaints matching the filters, open or not (the dashboard's drill-downs).
pub async fn list(State(c): State<Arc<Console>>, SignedIn(caller): SignedIn, Query(q): Query<ListQuery>) -> Response {
    let mut ctx = list_ctx(&c, &caller, &q, q.open == "1").await;
    ctx["title"] = json!(if q.from.is_empty() {
        "投诉列表".to_string()
    } else {
        format!("投诉列表：{}", q.from)
    });
    ctx["nav"] = json!(if caller.is_manager() { "dashboard" } else { "queue" });
    pages::render(&c, "queue.html", Some(&caller), ctx)
}
