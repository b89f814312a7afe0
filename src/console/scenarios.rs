//! The scenarios browser: the loaded scenarios (`ListScenarios`), and one scenario's steps, questions,
//! causes, reply templates and actions (`GetScenario`).
use super::calls::bounded;
use super::pages;
use super::signed_in::SignedIn;
use super::Console;
use crate::proto::complaint::v1::diagnosis_service_server::DiagnosisService;
use crate::proto::complaint::v1::{self as pb};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;
use std::sync::Arc;

/// GET /scenarios.
pub async fn list(State(c): State<Arc<Console>>, SignedIn(caller): SignedIn) -> Response {
    let req = caller.request("DiagnosisService/ListScenarios", pb::ListScenariosRequest::default());
    match bounded(c.call_timeout, c.services.diagnosis.list_scenarios(req)).await {
        Ok(r) => pages::render(
            &c,
            "scenarios.html",
            Some(&caller),
            json!({
                "nav": "scenarios",
                "generation": r.generation,
                "loaded_at": pages::beijing(r.loaded_at.as_ref()),
                "scenarios": r.scenarios.iter().map(|s| json!({
                    "id": s.id, "title": s.title, "categories": s.categories, "priority": s.priority,
                    "causes": s.cause_codes, "questions": s.question_ids, "steps": s.step_count, "file": s.file,
                })).collect::<Vec<_>>(),
            }),
        ),
        Err(e) => pages::message(&c, Some(&caller), StatusCode::BAD_GATEWAY, "无法读取场景", &e),
    }
}

/// GET /scenarios/{id}.
pub async fn detail(State(c): State<Arc<Console>>, SignedIn(caller): SignedIn, Path(id): Path<String>) -> Response {
    let req = caller.request("DiagnosisService/GetScenario", pb::GetScenarioRequest { id });
    match bounded(c.call_timeout, c.services.diagnosis.get_scenario(req)).await {
        Ok(r) => {
            let s = r.summary.unwrap_or_default();
            pages::render(
                &c,
                "scenario.html",
                Some(&caller),
                json!({
                    "nav": "scenarios",
                    "id": s.id, "title": s.title, "categories": s.categories, "file": s.file,
                    "precondition": r.precondition,
                    "steps": r.steps.iter().map(|st| json!({
                        "id": st.id, "description": st.description, "expression": st.expression,
                        "ask": st.ask, "then": st.then, "otherwise": st.otherwise,
                        "values": st.values.iter().map(|(k, v)| json!({"name": k, "expr": v})).collect::<Vec<_>>(),
                    })).collect::<Vec<_>>(),
                    "questions": r.questions.iter().map(|q| json!({
                        "id": q.id, "text": q.text,
                        "allowed": q.allowed.iter().map(|a| json!({"value": a.value, "label": a.label})).collect::<Vec<_>>(),
                    })).collect::<Vec<_>>(),
                    "causes": r.causes.iter().map(|cd| json!({
                        "code": cd.code, "title": cd.title, "explanation": cd.explanation, "reply": cd.reply,
                        "actions": cd.actions.iter().map(|a| json!({
                            "kind": super::viewmodel::action_kind_label(a.kind), "description": a.description,
                            "amount_fen": a.amount_fen,
                        })).collect::<Vec<_>>(),
                    })).collect::<Vec<_>>(),
                }),
            )
        }
        Err(e) => pages::message(&c, Some(&caller), StatusCode::NOT_FOUND, "无法打开场景", &e),
    }
}
