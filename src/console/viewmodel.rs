//! What the pages show of the services' answers: the subscriber view as labelled parts (each with the
//! sources that fill it, their state and the age of stale data), a diagnosis with its step trace, and
//! complaints with their deadline clocks. Only presentation: every value comes from a service's answer.
use super::pages::{beijing, span};
use crate::diagnosis::evidence::Coverage;
use crate::proto::complaint::v1::{self as pb, SourceState};
use prost::Message;
use serde_json::{json, Map, Value};

/// The parts of the view, in display order, with their Chinese names.
const PARTS: &[(&str, &str)] = &[
    ("customer", "客户资料"),
    ("account", "账户"),
    ("plan", "套餐"),
    ("recent_bills", "近期账单"),
    ("usage", "用量"),
    ("vas_subscriptions", "增值业务"),
    ("payments", "缴费记录"),
    ("service_orders", "服务工单"),
    ("marketing", "营销偏好"),
    ("line", "号卡与终端"),
    ("network", "网络与小区"),
];

/// A source state's Chinese name.
pub fn state_label(s: SourceState) -> &'static str {
    match s {
        SourceState::Ok => "正常",
        SourceState::NotFound => "无此用户记录",
        SourceState::Unavailable => "不可用",
        SourceState::Timeout => "超时",
        SourceState::Stale => "缓存数据（源系统不可用）",
        SourceState::Denied => "已拒绝",
        SourceState::Unspecified => "未知",
    }
}

fn state_class(s: SourceState) -> &'static str {
    match s {
        SourceState::Ok => "ok",
        SourceState::NotFound => "muted",
        SourceState::Stale => "warn",
        _ => "bad",
    }
}

/// `¥12.34` for 1234 fen.
pub fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    format!("{sign}¥{}.{:02}", fen.abs() / 100, fen.abs() % 100)
}

/// A scalar of the view as text: money in yuan, times in Beijing time, enum prefixes dropped.
fn scalar(key: &str, v: &Value) -> String {
    match v {
        Value::String(s) => {
            if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
                return t
                    .with_timezone(&crate::cases::calendar::beijing())
                    .format("%Y-%m-%d %H:%M")
                    .to_string();
            }
            if key.ends_with("_fen") {
                if let Ok(n) = s.parse::<i64>() {
                    return yuan(n);
                }
            }
            s.clone()
        }
        Value::Number(n) if key.ends_with("_fen") => n.as_i64().map(yuan).unwrap_or_else(|| n.to_string()),
        Value::Bool(b) => if *b { "是" } else { "否" }.into(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `(key, text)` rows of an object, nested objects as `a.b`, lists of objects summarised inline.
fn rows(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                rows(&key, x, out);
            }
        }
        Value::Array(items) => {
            let text: Vec<String> = items
                .iter()
                .map(|i| match i {
                    Value::Object(_) => {
                        let mut r = Vec::new();
                        rows("", i, &mut r);
                        r.iter()
                            .map(|(k, v)| format!("{k}: {v}"))
                            .collect::<Vec<_>>()
                            .join("；")
                    }
                    other => scalar(prefix, other),
                })
                .collect();
            out.push((prefix.to_string(), text.join(" ｜ ")));
        }
        other => out.push((prefix.to_string(), scalar(prefix, other))),
    }
}

/// A table of a list part: columns are the union of the items' flattened keys.
fn table(items: &[Value]) -> Value {
    let mut columns: Vec<String> = Vec::new();
    let mut body = Vec::new();
    for i in items {
        let mut r = Vec::new();
        rows("", i, &mut r);
        for (k, _) in &r {
            if !columns.contains(k) {
                columns.push(k.clone());
            }
        }
        body.push(r);
    }
    let cells: Vec<Vec<String>> = body
        .iter()
        .map(|r| {
            columns
                .iter()
                .map(|c| {
                    r.iter()
                        .find(|(k, _)| k == c)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default()
                })
                .collect()
        })
        .collect();
    json!({"columns": columns, "rows": cells})
}

/// The view as JSON with proto field names (default values left out).
fn view_json(view: &pb::SubscriberView) -> Value {
    let desc = crate::schema::view_descriptor();
    let Ok(dm) = prost_reflect::DynamicMessage::decode(desc, view.encode_to_vec().as_slice()) else {
        return Value::Null;
    };
    let opts = prost_reflect::SerializeOptions::new()
        .use_proto_field_name(true)
        .skip_default_fields(true);
    dm.serialize_with_options(serde_json::value::Serializer, &opts)
        .unwrap_or(Value::Null)
}

/// The sources behind one part, with what each answered.
fn part_sources(part: &str, coverage: &Coverage, statuses: &[pb::SourceStatus]) -> Vec<Value> {
    let path = [part.to_string()];
    let mut names: Vec<&str> = coverage.fillers(&path).map(|(s, _)| s).collect();
    for st in statuses {
        if st
            .entities
            .iter()
            .any(|e| e == part || e.starts_with(&format!("{part}.")))
        {
            names.push(&st.source);
        }
    }
    names.dedup();
    let mut seen = std::collections::BTreeSet::new();
    names
        .into_iter()
        .filter(|n| seen.insert(n.to_string()))
        .filter_map(|n| statuses.iter().find(|s| s.source == n))
        .map(|s| {
            json!({
                "source": s.source,
                "state": state_label(s.state()),
                "class": state_class(s.state()),
                "stale": s.state() == SourceState::Stale || s.age_ms > 0,
                "age": (s.age_ms > 0).then(|| span((s.age_ms / 1000) as i64)),
            })
        })
        .collect()
}

/// The view as labelled parts, and the sources' statuses.
pub fn view(resp: &pb::GetSubscriberViewResponse, coverage: &Coverage) -> Value {
    let v = resp.view.as_ref().map(view_json).unwrap_or(Value::Null);
    let empty = Map::new();
    let obj = v.as_object().unwrap_or(&empty);
    let parts: Vec<Value> = PARTS
        .iter()
        .map(|(key, label)| {
            let value = obj.get(*key);
            let (kind, body) = match value {
                Some(Value::Array(items)) if items.iter().all(Value::is_object) => ("table", table(items)),
                Some(x @ Value::Object(_)) => {
                    let mut r = Vec::new();
                    rows("", x, &mut r);
                    (
                        "fields",
                        json!(r.iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>()),
                    )
                }
                Some(x) => {
                    let mut r = Vec::new();
                    rows(key, x, &mut r);
                    (
                        "fields",
                        json!(r.iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>()),
                    )
                }
                None => ("empty", Value::Null),
            };
            json!({
                "key": key,
                "label": label,
                "kind": kind,
                "body": body,
                "sources": part_sources(key, coverage, &resp.sources),
            })
        })
        .collect();
    json!({
        "msisdn": obj.get("msisdn").cloned().unwrap_or(Value::Null),
        "parts": parts,
        "sources": resp.sources.iter().map(|s| json!({
            "source": s.source,
            "state": state_label(s.state()),
            "class": state_class(s.state()),
            "latency_ms": s.latency_ms,
            "age": (s.age_ms > 0).then(|| span((s.age_ms / 1000) as i64)),
            "detail": s.detail,
            "fetched_at": beijing(s.fetched_at.as_ref()),
        })).collect::<Vec<_>>(),
        "conflicts": resp.conflicts.iter().map(|c| json!({
            "field": c.field, "sources": c.sources, "chosen": c.chosen_source, "reason": c.reason,
        })).collect::<Vec<_>>(),
    })
}

pub fn action_kind_label(k: i32) -> &'static str {
    match pb::ActionKind::try_from(k) {
        Ok(pb::ActionKind::Refund) => "退费",
        Ok(pb::ActionKind::Unsubscribe) => "退订",
        Ok(pb::ActionKind::RestoreLine) => "恢复号码",
        Ok(pb::ActionKind::NetworkTicket) => "网络工单",
        Ok(pb::ActionKind::Escalate) => "升级处理",
        _ => "其他",
    }
}

fn outcome_label(o: pb::DiagnosisOutcome) -> &'static str {
    match o {
        pb::DiagnosisOutcome::Cause => "已查明原因",
        pb::DiagnosisOutcome::Question => "需要向客户确认",
        pb::DiagnosisOutcome::NoCause => "未查明原因，请人工处理",
        pb::DiagnosisOutcome::Error => "诊断步骤出错",
        pb::DiagnosisOutcome::NotApplicable => "无适用场景",
        pb::DiagnosisOutcome::CannotDecide => "数据不足，无法判断（请人工核实）",
        pb::DiagnosisOutcome::Unspecified => "",
    }
}

fn action_target(a: &pb::Action) -> String {
    [a.service_code.as_str(), a.element_id.as_str(), a.target.as_str()]
        .iter()
        .filter(|s| !s.is_empty())
        .cloned()
        .collect::<Vec<_>>()
        .join(" ")
}

/// A diagnosis: outcome, cause, reply, actions, questions and the chosen scenario's step trace.
pub fn diagnosis(d: &pb::DiagnoseResponse) -> Value {
    json!({
        "complaint_id": d.complaint_id,
        "category": d.category,
        "confidence": format!("{:.0}%", d.confidence * 100.0),
        "keywords": d.keywords,
        "abstained": d.classifier_abstained,
        "outcome": outcome_label(d.outcome()),
        "outcome_code": format!("{:?}", d.outcome()),
        "scenario_id": d.scenario_id,
        "cause": d.cause.as_ref().map(|c| json!({"code": c.code, "title": c.title, "explanation": c.explanation})),
        "reply": d.reply,
        "missing": d.missing.iter().map(|m| json!({"field": m.field, "check": m.check, "systems": m.systems})).collect::<Vec<_>>(),
        "actions": d.actions.iter().map(|a| json!({
            "kind": action_kind_label(a.kind),
            "description": a.description,
            "amount": (a.amount_fen != 0).then(|| yuan(a.amount_fen)),
            "target": action_target(a),
        })).collect::<Vec<_>>(),
        "questions": d.pending_questions.iter().map(|q| json!({
            "id": q.id, "text": q.text,
            "allowed": q.allowed.iter().map(|a| json!({"value": a.value, "label": a.label})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "trace": d.trace.iter().map(|t| json!({
            "step": t.step_id,
            "description": t.description,
            "expression": t.expression,
            "reads": t.reads.iter().map(|r| json!({"path": r.path, "value": r.value})).collect::<Vec<_>>(),
            "result": t.result,
            "passed": t.result == "true",
            "outcome": t.outcome,
            "error": t.error,
            "evidence": t.evidence.iter().map(|e| json!({
                "field": e.field,
                "source": e.source,
                "state": state_label(SourceState::try_from(e.state).unwrap_or_default()),
                "class": state_class(SourceState::try_from(e.state).unwrap_or_default()),
                "age": (e.age_ms > 0).then(|| span((e.age_ms / 1000) as i64)),
                "supplied": e.supplied,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "matches": d.matches.iter().map(|m| json!({
            "scenario": m.scenario_id, "title": m.title,
            "outcome": outcome_label(pb::DiagnosisOutcome::try_from(m.outcome).unwrap_or_default()),
            "cause": m.cause_code, "error": m.error,
        })).collect::<Vec<_>>(),
    })
}

/// A complaint state's Chinese name.
pub fn complaint_state_label(s: pb::ComplaintState) -> &'static str {
    match s {
        pb::ComplaintState::New => "新建",
        pb::ComplaintState::Triaged => "已分派",
        pb::ComplaintState::InProgress => "处理中",
        pb::ComplaintState::AwaitingCustomer => "等待客户",
        pb::ComplaintState::Replied => "已答复",
        pb::ComplaintState::Closed => "已结案",
        pb::ComplaintState::Unspecified => "",
    }
}

/// A channel's Chinese name.
pub fn channel_label(c: pb::ComplaintChannel) -> &'static str {
    match c {
        pb::ComplaintChannel::Hotline => "热线",
        pb::ComplaintChannel::App => "手机营业厅",
        pb::ComplaintChannel::Store => "营业厅",
        pb::ComplaintChannel::Online => "网上营业厅",
        pb::ComplaintChannel::Regulator => "工信部转办",
        pb::ComplaintChannel::SocialMedia => "社交媒体",
        pb::ComplaintChannel::Unspecified => "",
    }
}

/// Seconds from `now` to `t` (negative when past).
fn secs_until(t: Option<&prost_types::Timestamp>, now: i64) -> Option<i64> {
    t.map(|t| t.seconds - now)
}

/// One complaint as a queue or history row: its state, due time with the time left, and its marks.
pub fn complaint_row(c: &pb::Complaint, now: i64) -> Value {
    let left = secs_until(c.next_due_at.as_ref(), now);
    json!({
        "id": c.complaint_id,
        "msisdn": c.msisdn,
        "region": super::pages::region_label(&c.region),
        "channel": channel_label(c.channel()),
        "text": c.text,
        "category": c.category,
        "cause": c.cause_code,
        "state": complaint_state_label(c.state()),
        "closed": c.state() == pb::ComplaintState::Closed,
        "group": c.handler_group,
        "owner": c.owner,
        "priority": c.priority,
        "created": beijing(c.created_at.as_ref()),
        "due": beijing(c.next_due_at.as_ref()),
        "due_epoch": c.next_due_at.as_ref().map(|t| t.seconds),
        "left": left.map(|s| if s >= 0 { format!("剩余 {}", span(s)) } else { format!("已超时 {}", span(s)) }),
        "at_risk": c.at_risk,
        "breached": c.breached,
        "repeat": !c.repeat_of.is_empty(),
    })
}

fn sla_status_label(s: pb::SlaStatus) -> &'static str {
    match s {
        pb::SlaStatus::OnTrack => "正常",
        pb::SlaStatus::AtRisk => "即将超时",
        pb::SlaStatus::Met => "已达成",
        pb::SlaStatus::Breached => "已超时",
        pb::SlaStatus::Unspecified => "",
    }
}

fn target_label(t: &str) -> &str {
    match t {
        "first_response" => "首次响应",
        "reply" => "答复客户",
        "resolution" => "解决结案",
        other => other,
    }
}

/// An event kind's Chinese name.
fn event_label(kind: &str) -> &'static str {
    match kind {
        "created" => "受理",
        "routed" => "分派",
        "diagnosed" => "诊断",
        "assigned" => "指派",
        "transitioned" => "状态变更",
        "note" => "备注",
        "reply_sent" => "答复客户",
        "return_visit" => "回访",
        "reopened" => "重新打开",
        "repeat_reported" => "重复投诉",
        _ => "其他",
    }
}

/// A complaint's detail: the case, its deadline clocks and its events.
pub fn complaint_detail(d: &pb::ComplaintDetail, now: i64) -> Value {
    let c = d.complaint.clone().unwrap_or_default();
    json!({
        "complaint": complaint_row(&c, now),
        "state_code": format!("{:?}", c.state()),
        "sla_policy": c.sla_policy,
        "vip": c.vip_level,
        "repeat_of": c.repeat_of,
        "replied": c.replied,
        "clocks": d.sla.iter().map(|t| {
            let left = if t.met_at.is_some() { None } else { secs_until(t.due_at.as_ref(), now) };
            json!({
                "target": target_label(&t.target),
                "due": beijing(t.due_at.as_ref()),
                "due_epoch": t.due_at.as_ref().map(|x| x.seconds),
                "met": beijing(t.met_at.as_ref()),
                "status": sla_status_label(t.status()),
                "class": match t.status() {
                    pb::SlaStatus::Breached => "bad",
                    pb::SlaStatus::AtRisk => "warn",
                    pb::SlaStatus::Met => "ok",
                    _ => "",
                },
                "paused": t.paused,
                "calendar": t.calendar,
                "left": left.map(|s| if s >= 0 { format!("剩余 {}", span(s)) } else { format!("已超时 {}", span(s)) }),
            })
        }).collect::<Vec<_>>(),
        "events": d.events.iter().map(|e| json!({
            "seq": e.seq,
            "at": beijing(e.at.as_ref()),
            "kind": e.kind,
            "label": event_label(&e.kind),
            "caller": e.caller,
            "to_state": complaint_state_label(e.to_state()),
            "reason": e.reason,
            "group": e.handler_group,
            "owner": e.owner,
            "cause": e.cause_code,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_and_scalars_read_as_a_handler_expects() {
        assert_eq!(yuan(1234), "¥12.34");
        assert_eq!(yuan(-5), "-¥0.05");
        assert_eq!(scalar("balance_fen", &json!("-2500")), "-¥25.00");
        assert_eq!(scalar("x", &json!(true)), "是");
        assert_eq!(scalar("at", &json!("2026-11-28T02:00:00Z")), "2026-11-28 10:00");
    }

    #[test]
    fn a_view_becomes_labelled_parts_with_their_sources() {
        let resp = pb::GetSubscriberViewResponse {
            view: Some(pb::SubscriberView {
                msisdn: "15800000002".into(),
                account: Some(pb::Account {
                    balance_fen: 1250,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            sources: vec![pb::SourceStatus {
                source: "billing".into(),
                state: SourceState::Stale as i32,
                age_ms: 125_000,
                entities: vec!["account".into()],
                ..Default::default()
            }],
            conflicts: vec![],
            encoded_view: None,
        };
        let v = view(&resp, &Coverage::default());
        let account = &v["parts"][1];
        assert_eq!(account["label"], "账户");
        assert_eq!(account["body"][0]["value"], "¥12.50");
        assert_eq!(account["sources"][0]["source"], "billing");
        assert_eq!(account["sources"][0]["age"], "2分钟");
        assert_eq!(v["parts"][0]["kind"], "empty");
    }
}
