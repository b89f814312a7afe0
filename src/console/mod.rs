//! The web console: server-rendered pages for complaint handlers and managers, on their own listener
//! (`[console] listen`). Every page calls the same gRPC service implementations as a gRPC client would,
//! in process, with the caller's [`Identity`] in the request extensions exactly as the authentication
//! layer puts it there: region rules, masking, audit and validation are the services' own; the console
//! adds no business rule of its own.
//!
//! - Sign-in takes a token (JWT or API key), checked by the gRPC authentication path on every request;
//!   a session cookie (HttpOnly, SameSite=Strict) names it. Every form POST carries the session's CSRF
//!   token. With `[console] demo_sign_in` the sign-in page lists the registered identities.
//! - Every response carries a strict Content-Security-Policy (scripts and styles from the console only,
//!   no inline script), `X-Frame-Options: DENY` and `nosniff`. Templates escape every value.
//! - Templates, script and style are embedded in the binary (`src/console/templates`, `static`).
pub mod calls;
pub mod complaints;
pub mod dashboard;
pub mod desk;
pub mod pages;
pub mod scenarios;
pub mod session;
pub mod signed_in;
pub mod signin;
pub mod viewmodel;

use crate::api::analytics::AnalyticsApi;
use crate::api::cases::CasesApi;
use crate::api::data::DataApi;
use crate::api::diagnosis::DiagnosisApi;
use crate::cases::service::Cases;
use crate::config::console::ConsoleConfig;
use crate::diagnosis::evidence::Coverage;
use crate::identity::auth::TokenIssuer;
use crate::identity::directory::Directory;
use crate::identity::layer::AuthState;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The Content-Security-Policy of every response: nothing inline, nothing from elsewhere.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The gRPC services the console calls (the same instances the gRPC server serves).
#[derive(Clone)]
pub struct Services {
    pub data: Arc<DataApi>,
    pub diagnosis: Arc<DiagnosisApi>,
    pub cases: Arc<CasesApi>,
    pub analytics: Arc<AnalyticsApi>,
}

/// What the console needs from the gateway.
pub struct Console {
    pub services: Services,
    pub auth: Arc<AuthState>,
    /// The registered identities (the demo sign-in page lists them).
    pub directory: Directory,
    /// Signs the demo sign-in's tokens (`[console] demo_sign_in` only).
    pub demo_issuer: Option<Arc<TokenIssuer>>,
    pub sessions: session::Sessions,
    pub cfg: ConsoleConfig,
    /// Upper bound on one service call made for a page.
    pub call_timeout: Duration,
    /// Which view parts each source can fill (to label the parts of the view with their sources).
    pub coverage: Coverage,
    /// The complaint service's rules in force (the queue's handler groups).
    pub cases: Arc<Cases>,
    templates: minijinja::Environment<'static>,
}

/// How a console is built (see [`Console::new`]).
pub struct ConsoleParts {
    pub services: Services,
    pub auth: Arc<AuthState>,
    pub directory: Directory,
    pub demo_issuer: Option<Arc<TokenIssuer>>,
    pub cfg: ConsoleConfig,
    pub call_timeout: Duration,
    pub coverage: Coverage,
    pub cases: Arc<Cases>,
}

impl Console {
    pub fn new(p: ConsoleParts) -> Console {
        Console {
            sessions: session::Sessions::new(Duration::from_secs(p.cfg.session_idle_minutes * 60)),
            services: p.services,
            auth: p.auth,
            directory: p.directory,
            demo_issuer: p.demo_issuer,
            cfg: p.cfg,
            call_timeout: p.call_timeout,
            coverage: p.coverage,
            cases: p.cases,
            templates: pages::templates(),
        }
    }

    /// The handler groups the routing rules in force send complaints to.
    pub fn groups(&self) -> Vec<String> {
        let set = self.cases.rules();
        let mut out: Vec<String> = set.rules.iter().map(|r| r.group.clone()).collect();
        out.push(set.default_route.group.clone());
        out.sort();
        out.dedup();
        out
    }
}

/// The console's routes, with the security headers on every response.
pub fn router(console: Arc<Console>) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/signin", get(signin::page).post(signin::token))
        .route("/signin/demo", post(signin::demo))
        .route("/signout", post(signin::signout))
        .route("/desk", get(desk::page).post(desk::submit))
        .route("/queue", get(complaints::queue))
        .route("/complaints", get(complaints::list).post(complaints::create))
        .route("/complaints/{id}", get(complaints::detail).post(complaints::change))
        .route("/scenarios", get(scenarios::list))
        .route("/scenarios/{id}", get(scenarios::detail))
        .route("/dashboard", get(dashboard::page))
        .route("/dashboard/issues/{id}", get(dashboard::major_issue))
        .route("/dashboard/kpis/{name}", get(dashboard::kpi))
        .route("/static/console.js", get(script))
        .route("/static/console.css", get(style))
        .fallback(not_found)
        .layer(axum::middleware::map_response(security_headers))
        .with_state(console)
}

async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // Pages hold subscriber data: not kept by the browser or anything between.
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
}

async fn home() -> Redirect {
    Redirect::to("/desk")
}

async fn not_found() -> Response {
    (axum::http::StatusCode::NOT_FOUND, "没有这个页面 (not found)").into_response()
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", include_str!("static/console.js"))
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", include_str!("static/console.css"))
}

/// Serves the console on `listener` until `shutdown` resolves.
pub async fn serve(
    console: Arc<Console>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(console).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}
