//! The handler desk: a number and a complaint text → the subscriber's unified view (each part with its
//! sources and their state), the complaint history, and on request the diagnosis with its step trace,
//! the question to ask, the reply to copy and the actions to confirm; and the form that opens a complaint.
//! The number travels in POST bodies only, never in a URL.
use super::calls::{bounded, CallError, Caller};
use super::pages;
use super::signed_in::{check_csrf, SignedIn};
use super::{viewmodel, Console};
use crate::proto::complaint::v1::complaint_data_service_server::ComplaintDataService;
use crate::proto::complaint::v1::complaint_service_server::ComplaintService;
use crate::proto::complaint::v1::diagnosis_service_server::DiagnosisService;
use crate::proto::complaint::v1::{self as pb};
use axum::extract::State;
use axum::response::Response;
use axum::Form;
use serde_json::{json, Value};
use std::sync::Arc;

/// The channels a complaint can come in by, for the intake form.
pub const CHANNELS: &[(&str, &str)] = &[
    ("HOTLINE", "热线"),
    ("APP", "手机营业厅"),
    ("STORE", "营业厅"),
    ("ONLINE", "网上营业厅"),
    ("REGULATOR", "工信部转办"),
    ("SOCIAL_MEDIA", "社交媒体"),
];

/// What the desk form posted.
#[derive(Default)]
pub struct DeskInput {
    pub csrf: String,
    pub action: String,
    pub msisdn: String,
    pub text: String,
    pub complaint_id: String,
    /// (question id, value) answers to earlier questions.
    pub answers: Vec<(String, String)>,
}

impl DeskInput {
    /// From form pairs: `answer.<question id>` fields are answers.
    pub fn from_pairs(pairs: Vec<(String, String)>) -> DeskInput {
        let mut d = DeskInput::default();
        for (k, v) in pairs {
            match k.as_str() {
                "csrf" => d.csrf = v,
                "action" => d.action = v,
                "msisdn" => d.msisdn = v.trim().to_string(),
                "text" => d.text = v,
                "complaint_id" => d.complaint_id = v.trim().to_string(),
                _ => {
                    if let Some(q) = k.strip_prefix("answer.") {
                        if !v.is_empty() && d.answers.len() < 32 {
                            d.answers.retain(|(id, _)| id != q);
                            d.answers.push((q.to_string(), v));
                        }
                    }
                }
            }
        }
        d
    }
}

fn base(input: &DeskInput) -> Value {
    json!({
        "msisdn": input.msisdn,
        "text": input.text,
        "complaint_id": input.complaint_id,
        "answers": input.answers.iter().map(|(q, v)| json!({"id": q, "value": v})).collect::<Vec<_>>(),
        "channels": CHANNELS.iter().map(|(v, l)| json!({"value": v, "label": l})).collect::<Vec<_>>(),
        "nav": "desk",
    })
}

/// GET /desk: the empty desk.
pub async fn page(State(c): State<Arc<Console>>, SignedIn(caller): SignedIn) -> Response {
    pages::render(&c, "desk.html", Some(&caller), base(&DeskInput::default()))
}

/// POST /desk: look the number up (`action=lookup`) or diagnose the complaint (`action=diagnose`).
pub async fn submit(
    State(c): State<Arc<Console>>,
    SignedIn(caller): SignedIn,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let input = DeskInput::from_pairs(pairs);
    if let Err(r) = check_csrf(&c, &caller, &input.csrf) {
        return *r;
    }
    let ctx = desk(&c, &caller, &input).await;
    pages::render(&c, "desk.html", Some(&caller), ctx)
}

/// The desk's answer for `input`: the view (or why not), the history, and the diagnosis if asked.
pub async fn desk(c: &Console, caller: &Caller, input: &DeskInput) -> Value {
    let mut ctx = base(input);
    let t = c.call_timeout;
    let s = &c.services;
    let view_req = caller.request(
        "ComplaintDataService/GetSubscriberView",
        pb::GetSubscriberViewRequest {
            msisdn: input.msisdn.clone(),
            purpose: "console desk".into(),
            ..Default::default()
        },
    );
    let view = match bounded(t, s.data.get_subscriber_view(view_req)).await.and_then(|v| {
        v.into_decoded()
            .map_err(|e| CallError::new(tonic::Code::Internal, format!("the kept view does not decode: {e}")))
    }) {
        Ok(v) => v,
        Err(e) => {
            ctx["error"] = json!(e);
            return ctx;
        }
    };
    ctx["view"] = viewmodel::view(&view, &c.coverage);
    let history_req = caller.request(
        "ComplaintService/GetSubscriberHistory",
        pb::GetSubscriberHistoryRequest {
            msisdn: input.msisdn.clone(),
        },
    );
    let now = chrono::Utc::now().timestamp();
    match bounded(t, s.cases.get_subscriber_history(history_req)).await {
        Ok(h) => {
            ctx["history"] = json!(h
                .complaints
                .iter()
                .map(|x| viewmodel::complaint_row(x, now))
                .collect::<Vec<_>>())
        }
        Err(e) => ctx["history_error"] = json!(e),
    }
    if input.action == "diagnose" {
        if input.text.trim().is_empty() {
            ctx["diagnosis_error"] = json!(CallError::new(
                tonic::Code::InvalidArgument,
                "text: write down what the customer complains about"
            ));
            return ctx;
        }
        let req = caller.request(
            "DiagnosisService/Diagnose",
            pb::DiagnoseRequest {
                msisdn: input.msisdn.clone(),
                text: input.text.clone(),
                complaint_id: input.complaint_id.clone(),
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
        match bounded(t, s.diagnosis.diagnose(req)).await {
            Ok(d) => ctx["diagnosis"] = viewmodel::diagnosis(&d),
            Err(e) => ctx["diagnosis_error"] = json!(e),
        }
    }
    ctx
}
