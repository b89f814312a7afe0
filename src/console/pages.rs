//! Page plumbing: the embedded templates (HTML-escaped), rendering with the signed-in user's details,
//! and times shown in Beijing time. The signed-in user and the CSRF check: [`super::signed_in`].
use super::calls::{CallError, Caller};
use super::Console;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde_json::{json, Value};

/// The templates, embedded; every `.html` template escapes what it prints.
pub fn templates() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    for (name, text) in [
        ("layout.html", include_str!("templates/layout.html")),
        ("signin.html", include_str!("templates/signin.html")),
        ("desk.html", include_str!("templates/desk.html")),
        ("view.html", include_str!("templates/view.html")),
        ("diagnosis.html", include_str!("templates/diagnosis.html")),
        ("complaint.html", include_str!("templates/complaint.html")),
        ("queue.html", include_str!("templates/queue.html")),
        ("scenarios.html", include_str!("templates/scenarios.html")),
        ("scenario.html", include_str!("templates/scenario.html")),
        ("message.html", include_str!("templates/message.html")),
        ("dashboard.html", include_str!("templates/dashboard.html")),
        ("drill.html", include_str!("templates/drill.html")),
        ("error.html", include_str!("templates/error.html")),
        ("due.html", include_str!("templates/due.html")),
    ] {
        env.add_template(name, text)
            .unwrap_or_else(|e| panic!("console template {name}: {e}"));
    }
    env
}

/// Renders `name` with `ctx` plus the user's name, roles, CSRF token and navigation.
pub fn render(c: &Console, name: &str, caller: Option<&Caller>, mut ctx: Value) -> Response {
    if let (Some(obj), Some(u)) = (ctx.as_object_mut(), caller) {
        obj.insert(
            "user".into(),
            json!({
                "subject": u.who().subject,
                "name": u.who().display_name,
                "roles": u.who().roles.iter().map(|r| role_label(r.name())).collect::<Vec<_>>(),
                "regions": u.who().regions.iter().map(|r| region_label(r)).collect::<Vec<_>>(),
                "reads_views": u.reads_views(),
                "manager": u.is_manager(),
            }),
        );
        obj.insert("csrf".into(), json!(u.csrf()));
    }
    match c
        .templates
        .get_template(name)
        .and_then(|t| t.render(minijinja::value::Serde(&ctx)))
    {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(template = name, error = %e, "console template");
            (StatusCode::INTERNAL_SERVER_ERROR, "页面生成失败 (template error)").into_response()
        }
    }
}

/// A page that only says something (an error, a refusal), with `status`.
pub fn message(c: &Console, caller: Option<&Caller>, status: StatusCode, title: &str, err: &CallError) -> Response {
    let mut r = render(c, "message.html", caller, json!({"title": title, "error": err}));
    *r.status_mut() = status;
    r
}

/// A role's Chinese name.
pub fn role_label(role: &str) -> &'static str {
    match role {
        "handler" => "投诉处理员",
        "analyst" => "分析员",
        "manager" => "经理",
        "auditor" => "审计员",
        "admin" => "管理员",
        "service" => "系统服务",
        _ => "其他",
    }
}

/// `杭州 0571` for `0571`.
pub fn region_label(code: &str) -> String {
    let name = match code {
        "0571" => "杭州",
        "0574" => "宁波",
        "0577" => "温州",
        "0579" => "金华",
        "0573" => "嘉兴",
        "0575" => "绍兴",
        _ => "",
    };
    if name.is_empty() {
        code.to_string()
    } else {
        format!("{name} {code}")
    }
}

/// A protobuf timestamp in Beijing time, `2026-11-28 14:05`.
pub fn beijing(t: Option<&prost_types::Timestamp>) -> String {
    t.and_then(|t| chrono::DateTime::from_timestamp(t.seconds, 0))
        .map(|d| {
            d.with_timezone(&crate::cases::calendar::beijing())
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_default()
}

/// A duration in words: `2天3小时`, `3小时12分`, `12分钟`.
pub fn span(secs: i64) -> String {
    let s = secs.abs();
    let (d, h, m) = (s / 86_400, (s % 86_400) / 3_600, (s % 3_600) / 60);
    if d > 0 {
        format!("{d}天{h}小时")
    } else if h > 0 {
        format!("{h}小时{m}分")
    } else if m > 0 {
        format!("{m}分钟")
    } else {
        "不到1分钟".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_load_and_escape_what_they_print() {
        let env = templates();
        let t = env.template_from_str("{{ x }}").unwrap();
        assert_eq!(
            t.render(minijinja::value::Serde(json!({"x": "<b>"}))).unwrap(),
            "<b>",
            "ad-hoc templates are not .html"
        );
        let html = env
            .get_template("message.html")
            .unwrap()
            .render(minijinja::value::Serde(
                json!({"title": "t", "error": {"code": "X", "label": "l", "message": "<script>alert(1)</script>"}}),
            ))
            .unwrap();
        assert!(html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"), "{html}");
        assert!(!html.contains("<script>alert"));
    }

    #[test]
    fn spans_read_as_days_hours_and_minutes() {
        assert_eq!(span(90), "1分钟");
        assert_eq!(span(20), "不到1分钟");
        assert_eq!(span(3 * 3600 + 12 * 60), "3小时12分");
        assert_eq!(span(-(2 * 86_400 + 3 * 3600)), "2天3小时");
    }
}
