//! Signing in and out. A token (JWT, or an API key) is checked exactly as the gRPC authentication layer
//! checks it; a session then names it. The sign-in form is protected by a double-submitted CSRF token
//! (a cookie and a hidden field), so another site cannot sign a browser in as someone else.
use super::calls::CallError;
use super::pages::{self, region_label, role_label};
use super::session::{self, COOKIE, PRE_COOKIE};
use super::Console;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;

/// Longest credential accepted from the form.
const MAX_CREDENTIAL: usize = 8 * 1024;
/// How long a demo sign-in's token lasts.
const DEMO_TOKEN_SECS: u64 = 8 * 3600;

/// The sign-in page with a fresh form token (set as a cookie too), and `error` if the last try failed.
pub async fn render_page(c: &Console, error: Option<CallError>, status: StatusCode) -> Response {
    let form_token = session::random_token();
    let mut demo = Vec::new();
    if c.cfg.demo_sign_in && c.demo_issuer.is_some() {
        match c.directory.list("", 100).await {
            Ok(list) => {
                for i in list.into_iter().filter(|i| !i.disabled) {
                    demo.push(json!({
                        "id": i.id,
                        "name": i.display_name,
                        "roles": i.roles.iter().map(|r| role_label(r.name())).collect::<Vec<_>>(),
                        "regions": i.regions.iter().map(|r| region_label(r)).collect::<Vec<_>>(),
                    }));
                }
            }
            Err(e) => tracing::error!(error = %e, "console: listing the demo identities"),
        }
    }
    let mut r = pages::render(
        c,
        "signin.html",
        None,
        json!({"form_token": form_token, "error": error, "demo": demo, "demo_mode": c.cfg.demo_sign_in}),
    );
    *r.status_mut() = status;
    if let Ok(v) = session::set_cookie(PRE_COOKIE, &form_token, 3600, c.cfg.secure_cookie).parse() {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

pub async fn page(State(c): State<Arc<Console>>) -> Response {
    render_page(&c, None, StatusCode::OK).await
}

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    form_token: String,
    #[serde(default)]
    token: String,
}

#[derive(Deserialize)]
pub struct DemoForm {
    #[serde(default)]
    form_token: String,
    #[serde(default)]
    subject: String,
}

fn form_token_ok(headers: &HeaderMap, posted: &str) -> bool {
    session::cookie(headers, PRE_COOKIE).is_some_and(|c| !posted.is_empty() && session::same(c, posted))
}

/// Checks `credential` as the gRPC layer would; on success starts a session and sends the user on.
async fn sign_in_with(c: &Console, credential: String) -> Response {
    let mut h = HeaderMap::new();
    match credential.parse() {
        Ok(v) => {
            h.insert(header::AUTHORIZATION, v);
        }
        Err(_) => {
            let e = CallError::new(
                tonic::Code::Unauthenticated,
                "the token holds characters a token cannot hold",
            );
            return render_page(c, Some(e), StatusCode::UNAUTHORIZED).await;
        }
    }
    let who = match c.auth.authenticate(&h, None).await {
        Ok(who) => who,
        Err(s) => return render_page(c, Some(s.into()), StatusCode::UNAUTHORIZED).await,
    };
    let sid = c.sessions.start(credential);
    tracing::info!(subject = %who.subject, "console sign-in");
    use crate::identity::Role;
    let manages = who.roles.iter().any(|r| matches!(r, Role::Manager | Role::Analyst));
    let to = if manages && !who.roles.contains(&Role::Handler) {
        "/dashboard"
    } else {
        "/desk"
    };
    let mut r = Redirect::to(to).into_response();
    let max_age = c.cfg.session_idle_minutes * 60 * 48;
    for v in [
        session::set_cookie(COOKIE, &sid, max_age, c.cfg.secure_cookie),
        session::set_cookie(PRE_COOKIE, "", 0, c.cfg.secure_cookie),
    ] {
        if let Ok(v) = v.parse() {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    r
}

fn stale_form() -> CallError {
    CallError::new(
        tonic::Code::PermissionDenied,
        "the sign-in form expired or came from another page; sign in again from this page",
    )
}

/// POST /signin: a token as gRPC clients send it (`Bearer` is implied; `ApiKey …` for an API key).
pub async fn token(State(c): State<Arc<Console>>, headers: HeaderMap, Form(f): Form<TokenForm>) -> Response {
    if !form_token_ok(&headers, &f.form_token) {
        return render_page(&c, Some(stale_form()), StatusCode::FORBIDDEN).await;
    }
    let t = f.token.trim();
    if t.is_empty() || t.len() > MAX_CREDENTIAL {
        let e = CallError::new(
            tonic::Code::InvalidArgument,
            format!("token: paste the token (JWT) or `ApiKey <key>`, at most {MAX_CREDENTIAL} characters"),
        );
        return render_page(&c, Some(e), StatusCode::BAD_REQUEST).await;
    }
    let credential = if t.starts_with("ApiKey ") || t.starts_with("Bearer ") {
        t.to_string()
    } else {
        format!("Bearer {t}")
    };
    sign_in_with(&c, credential).await
}

/// POST /signin/demo: signs in as a registered identity (`[console] demo_sign_in` only), with a token
/// issued for its registered roles and regions, checked like any other.
pub async fn demo(State(c): State<Arc<Console>>, headers: HeaderMap, Form(f): Form<DemoForm>) -> Response {
    if !form_token_ok(&headers, &f.form_token) {
        return render_page(&c, Some(stale_form()), StatusCode::FORBIDDEN).await;
    }
    let (true, Some(issuer)) = (c.cfg.demo_sign_in, c.demo_issuer.as_ref()) else {
        let e = CallError::new(
            tonic::Code::PermissionDenied,
            "demo sign-in is off; sign in with a token",
        );
        return render_page(&c, Some(e), StatusCode::FORBIDDEN).await;
    };
    let record = match c.directory.get(&f.subject).await {
        Ok(Some(r)) if !r.disabled => r,
        Ok(_) => {
            let e = CallError::new(
                tonic::Code::NotFound,
                "no such registered identity; pick one from the list",
            );
            return render_page(&c, Some(e), StatusCode::BAD_REQUEST).await;
        }
        Err(e) => {
            tracing::error!(error = %e, "console: demo sign-in");
            let e = CallError::new(tonic::Code::Unavailable, "the identity store is unavailable");
            return render_page(&c, Some(e), StatusCode::SERVICE_UNAVAILABLE).await;
        }
    };
    let roles: Vec<_> = record.roles.iter().copied().collect();
    let regions: Vec<String> = record.regions.iter().cloned().collect();
    match issuer.issue(&record.id, &roles, &regions, DEMO_TOKEN_SECS) {
        Ok(t) => sign_in_with(&c, format!("Bearer {t}")).await,
        Err(e) => {
            tracing::error!(error = %e, "console: issuing a demo token");
            let e = CallError::new(tonic::Code::Internal, "could not issue a demo token");
            render_page(&c, Some(e), StatusCode::INTERNAL_SERVER_ERROR).await
        }
    }
}

#[derive(Deserialize)]
pub struct SignOutForm {
    #[serde(default)]
    csrf: String,
}

/// POST /signout: ends the session (its CSRF token must match, so another site cannot sign a user out).
pub async fn signout(
    State(c): State<Arc<Console>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<SignOutForm>,
) -> Response {
    if let Some(sid) = session::cookie(&headers, COOKIE) {
        if let Some(s) = c.sessions.get(sid) {
            if !session::same(&s.csrf, &f.csrf) {
                let caller = super::signed_in::optional(&c, &headers, peer).await;
                return pages::message(
                    &c,
                    caller.as_ref(),
                    StatusCode::FORBIDDEN,
                    "表单已失效",
                    &CallError::new(tonic::Code::PermissionDenied, "reload the page and sign out again"),
                );
            }
            c.sessions.end(sid);
        }
    }
    let mut r = Redirect::to("/signin").into_response();
    if let Ok(v) = session::set_cookie(COOKIE, "", 0, c.cfg.secure_cookie).parse() {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}
