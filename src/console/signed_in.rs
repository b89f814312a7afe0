//! The signed-in user of a request, as an axum extractor: a handler that takes [`SignedIn`] runs only for
//! a live session whose credential the gRPC authentication path accepts again, now. [`Caller`], which
//! every service call of a page needs, is made here only, so a handler cannot reach a service without
//! having been through the check.
//!
//! Refused: a page (a browser navigating, a form posted) is sent to the sign-in page (303), or shown it
//! with the authentication layer's reason when the session's token stopped working (401); a script's
//! `fetch` or a JSON client gets 401 with a JSON body. CSRF tokens are checked by the handlers of forms
//! ([`check_csrf`]), on top of this.
use super::calls::{code_name, CallError};
use super::session::{self, COOKIE};
use super::Console;
use crate::identity::{CallInfo, Identity, Permission};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use std::net::SocketAddr;
use std::sync::Arc;

/// The signed-in user of one request. Its fields are private: only the [`SignedIn`] extractor makes one.
#[derive(Clone)]
pub struct Caller {
    who: Identity,
    /// `console <browser address>`: what the audit trail records as the peer.
    peer: String,
    /// The session's CSRF token (every form posts it back).
    csrf: String,
}

impl Caller {
    /// Who is signed in, as the authentication layer found them on this request.
    pub fn who(&self) -> &Identity {
        &self.who
    }

    /// The session's CSRF token.
    pub fn csrf(&self) -> &str {
        &self.csrf
    }

    /// A request for `/complaint.v1.<method>` carrying `msg` from this caller.
    pub fn request<T>(&self, method: &str, msg: T) -> tonic::Request<T> {
        let mut r = tonic::Request::new(msg);
        r.extensions_mut().insert(self.who.clone());
        r.extensions_mut().insert(CallInfo {
            method: format!("/complaint.v1.{method}"),
            peer: self.peer.clone(),
        });
        r
    }

    /// Whether the user may read subscriber data (handlers, managers, analysts).
    pub fn reads_views(&self) -> bool {
        self.who.can(Permission::ReadView)
    }

    /// Whether the user sees the manager's dashboard.
    pub fn is_manager(&self) -> bool {
        self.who
            .roles
            .iter()
            .any(|r| matches!(r, crate::identity::Role::Manager | crate::identity::Role::Analyst))
    }
}

/// The extractor: the signed-in user, or the refusal (see the module docs).
pub struct SignedIn(pub Caller);

/// Whether the request comes from a script or a JSON client rather than a browser showing a page: such a
/// caller gets 401 instead of a redirect it cannot follow usefully.
pub fn wants_json(headers: &HeaderMap) -> bool {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
    let accept = get("accept");
    let json = accept.contains("application/json") && !accept.contains("text/html");
    // Sec-Fetch-Mode is `navigate` for pages and forms; `cors`/`same-origin`/`no-cors` for fetch().
    let fetch = matches!(get("sec-fetch-mode"), "cors" | "same-origin" | "no-cors");
    json || fetch || get("x-requested-with").eq_ignore_ascii_case("XMLHttpRequest")
}

/// A JSON refusal: `{"error": {"code": …, "message": …}}` with `status`.
fn json_error(status: StatusCode, code: tonic::Code, message: &str) -> Response {
    let body = serde_json::json!({"error": {"code": code_name(code), "message": message}}).to_string();
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

/// Why a request has no signed-in user.
enum Refusal {
    /// No session (or a malformed one): sign in.
    NoSession,
    /// The session's token stopped authenticating (expired, identity disabled): the session has ended.
    Unauthenticated(tonic::Status),
    /// The authentication path refused for another reason (rate limit).
    Other(tonic::Status),
}

impl Refusal {
    async fn response(self, c: &Console, json: bool) -> Response {
        match (self, json) {
            (Refusal::NoSession, false) => Redirect::to("/signin").into_response(),
            (Refusal::NoSession, true) => json_error(
                StatusCode::UNAUTHORIZED,
                tonic::Code::Unauthenticated,
                "not signed in: sign in at /signin",
            ),
            (Refusal::Unauthenticated(s), false) => {
                super::signin::render_page(c, Some(CallError::from(s)), StatusCode::UNAUTHORIZED).await
            }
            (Refusal::Unauthenticated(s), true) => json_error(StatusCode::UNAUTHORIZED, s.code(), s.message()),
            (Refusal::Other(s), false) => {
                super::pages::message(c, None, StatusCode::TOO_MANY_REQUESTS, "请求被拒绝", &s.into())
            }
            (Refusal::Other(s), true) => json_error(StatusCode::TOO_MANY_REQUESTS, s.code(), s.message()),
        }
    }
}

/// The signed-in user of `headers`' session, authenticated again with the session's credential.
async fn authenticate(c: &Console, headers: &HeaderMap, peer: String) -> Result<Caller, Refusal> {
    let sid = session::cookie(headers, COOKIE).ok_or(Refusal::NoSession)?;
    let s = c.sessions.get(sid).ok_or(Refusal::NoSession)?;
    let Ok(v) = s.credential.parse() else {
        c.sessions.end(sid);
        return Err(Refusal::NoSession);
    };
    let mut h = HeaderMap::new();
    h.insert(header::AUTHORIZATION, v);
    match c.auth.authenticate(&h, None).await {
        Ok(who) => Ok(Caller {
            who,
            peer,
            csrf: s.csrf,
        }),
        Err(status) if status.code() == tonic::Code::Unauthenticated => {
            // The token expired or the identity was disabled: the session ends with it.
            c.sessions.end(sid);
            Err(Refusal::Unauthenticated(status))
        }
        Err(status) => Err(Refusal::Other(status)),
    }
}

impl FromRequestParts<Arc<Console>> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, c: &Arc<Console>) -> Result<SignedIn, Response> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(a)| format!("console {a}"))
            .unwrap_or_else(|| "console".to_string());
        match authenticate(c, &parts.headers, peer).await {
            Ok(caller) => Ok(SignedIn(caller)),
            Err(refusal) => Err(refusal.response(c, wants_json(&parts.headers)).await),
        }
    }
}

/// The signed-in user if there is one (pages that also serve signed-out visitors, such as sign-out).
pub async fn optional(c: &Console, headers: &HeaderMap, peer: SocketAddr) -> Option<Caller> {
    authenticate(c, headers, format!("console {peer}")).await.ok()
}

/// FORBIDDEN unless `posted` is the session's CSRF token.
pub fn check_csrf(c: &Console, caller: &Caller, posted: &str) -> Result<(), Box<Response>> {
    if session::same(&caller.csrf, posted) {
        return Ok(());
    }
    Err(Box::new(super::pages::message(
        c,
        Some(caller),
        StatusCode::FORBIDDEN,
        "表单已失效",
        &CallError::new(
            tonic::Code::PermissionDenied,
            "the form's CSRF token does not match this session; reload the page and submit again",
        ),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_and_json_clients_are_told_apart_from_pages() {
        let h = |pairs: &[(&'static str, &'static str)]| {
            let mut m = HeaderMap::new();
            for (k, v) in pairs {
                m.insert(*k, HeaderValue::from_static(v));
            }
            m
        };
        // A browser navigating or posting a form; a bare client (curl) is treated as a page.
        assert!(!wants_json(&h(&[
            ("accept", "text/html,application/xhtml+xml,*/*;q=0.8"),
            ("sec-fetch-mode", "navigate")
        ])));
        assert!(!wants_json(&h(&[])));
        // fetch() from the console's script, a JSON client, an XHR.
        assert!(wants_json(&h(&[("accept", "*/*"), ("sec-fetch-mode", "cors")])));
        assert!(wants_json(&h(&[("sec-fetch-mode", "same-origin")])));
        assert!(wants_json(&h(&[("accept", "application/json")])));
        assert!(wants_json(&h(&[("x-requested-with", "XMLHttpRequest")])));
        assert!(!wants_json(&h(&[("accept", "text/html, application/json")])));
    }
}
