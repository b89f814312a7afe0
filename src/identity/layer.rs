//! The authentication layer: a tower layer around every gRPC service of the server. Health checks and
//! reflection pass through; every other call must authenticate, or it is answered UNAUTHENTICATED with the
//! reason before any service code runs. The caller's [`Identity`] (credential, capped by the store's record)
//! and the call's [`CallInfo`] go into the request extensions.
use super::auth::{AuthError, Authenticator, Principal};
use super::directory::Directory;
use super::{CallInfo, Identity};
use crate::error::Error;
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;
use tonic::body::Body;
use tonic::codegen::http;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tonic::Status;

/// Paths served without credentials: liveness probes and schema discovery carry no subscriber data.
const OPEN_PREFIXES: &[&str] = &[
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
];

/// Whether `path` is served without credentials.
pub fn is_open(path: &str) -> bool {
    OPEN_PREFIXES.iter().any(|p| path.starts_with(p))
}

/// What the layer needs, shared by every connection.
pub struct AuthState {
    pub authenticator: Authenticator,
    pub directory: Directory,
    pub require_registered: bool,
    limiter: RateLimiter,
}

impl AuthState {
    pub fn new(
        authenticator: Authenticator,
        directory: Directory,
        require_registered: bool,
        per_minute: u32,
    ) -> AuthState {
        AuthState {
            authenticator,
            directory,
            require_registered,
            limiter: RateLimiter::new(per_minute),
        }
    }

    /// Authenticates one request from its headers and TLS peer certificate.
    pub async fn authenticate(&self, headers: &http::HeaderMap, peer_cert: Option<&[u8]>) -> Result<Identity, Status> {
        let principal = self.principal(headers, peer_cert).map_err(unauthenticated)?;
        let identity = self.resolve(principal).await?;
        if !self.limiter.admit(&identity.subject) {
            return Err(Error::RateLimited(format!(
                "rate limit: at most {} requests a minute per caller; slow down",
                self.limiter.per_minute
            ))
            .into());
        }
        Ok(identity)
    }

    fn principal(&self, headers: &http::HeaderMap, peer_cert: Option<&[u8]>) -> Result<Principal, AuthError> {
        let text = |name: &str| -> Result<Option<&str>, AuthError> {
            match headers.get(name) {
                None => Ok(None),
                Some(v) => v
                    .to_str()
                    .map(Some)
                    .map_err(|_| AuthError::Malformed(format!("`{name}` is not visible ASCII"))),
            }
        };
        if let Some(v) = text("authorization")? {
            let (scheme, rest) = v.trim().split_once(' ').unwrap_or((v.trim(), ""));
            return match scheme.to_ascii_lowercase().as_str() {
                "bearer" => self.authenticator.verify_token(rest),
                "apikey" => self.authenticator.verify_api_key(rest),
                _ => Err(AuthError::Malformed(
                    "`authorization` must be `Bearer <token>` or `ApiKey <key>`".into(),
                )),
            };
        }
        if let Some(k) = text("x-api-key")? {
            return self.authenticator.verify_api_key(k);
        }
        if let Some(der) = peer_cert {
            return self.authenticator.verify_client_cert(der);
        }
        Err(AuthError::Missing)
    }

    /// The store's record caps the credential: roles and regions are intersected; a disabled identity is
    /// refused; with `require_registered` an unknown one is too.
    async fn resolve(&self, p: Principal) -> Result<Identity, Status> {
        let record = self.directory.get(&p.subject).await.map_err(|e| {
            tracing::error!(error = %e, "identity store");
            Status::from(Error::StoreUnavailable("the identity store is unavailable".into()))
        })?;
        let mut id = Identity {
            subject: p.subject,
            display_name: p.display_name,
            roles: p.roles,
            regions: p.regions,
            method: p.method,
            operator_ids: Vec::new(),
        };
        match record {
            Some(r) => {
                if r.disabled {
                    return Err(unauthenticated(AuthError::Disabled(id.subject)));
                }
                id.roles = id.roles.intersection(&r.roles).copied().collect();
                id.regions = id.regions.intersection(&r.regions).cloned().collect();
                if id.display_name.is_empty() {
                    id.display_name = r.display_name;
                }
                id.operator_ids = r.operator_ids;
            }
            None if self.require_registered => return Err(unauthenticated(AuthError::NotRegistered(id.subject))),
            None => {}
        }
        Ok(id)
    }
}

fn unauthenticated(e: AuthError) -> Status {
    Error::Unauthenticated(e.to_string()).into()
}

/// A token bucket per caller: `per_minute` requests, refilled continuously.
struct RateLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    fn new(per_minute: u32) -> RateLimiter {
        RateLimiter {
            per_minute,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn admit(&self, subject: &str) -> bool {
        if self.per_minute == 0 {
            return true;
        }
        let cap = f64::from(self.per_minute);
        let now = Instant::now();
        let mut b = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if b.len() > 100_000 {
            // Only authenticated subjects get here; forget the full buckets of idle callers.
            b.retain(|_, (tokens, at)| *tokens + now.duration_since(*at).as_secs_f64() * cap / 60.0 < cap);
        }
        let (tokens, at) = b.entry(subject.to_string()).or_insert((cap, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * cap / 60.0).min(cap);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The tower layer.
#[derive(Clone)]
pub struct AuthLayer {
    state: Arc<AuthState>,
}

impl AuthLayer {
    pub fn new(state: Arc<AuthState>) -> AuthLayer {
        AuthLayer { state }
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;
    fn layer(&self, inner: S) -> AuthService<S> {
        AuthService {
            inner,
            state: self.state.clone(),
        }
    }
}

/// The service the layer wraps around the gRPC routes.
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    state: Arc<AuthState>,
}

fn peer_of(ext: &http::Extensions) -> (String, Option<Vec<u8>>) {
    if let Some(tls) = ext.get::<TlsConnectInfo<TcpConnectInfo>>() {
        let peer = tls.get_ref().remote_addr().map(|a| a.to_string()).unwrap_or_default();
        let cert = tls.peer_certs().and_then(|c| c.first().map(|d| d.as_ref().to_vec()));
        return (peer, cert);
    }
    let peer = ext
        .get::<TcpConnectInfo>()
        .and_then(|c| c.remote_addr())
        .map(|a| a.to_string())
        .unwrap_or_default();
    (peer, None)
}

impl<S> tower::Service<http::Request<Body>> for AuthService<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<Body>) -> Self::Future {
        // The clone takes the place of the service that was polled ready.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        if is_open(req.uri().path()) {
            return Box::pin(inner.call(req));
        }
        let state = self.state.clone();
        Box::pin(async move {
            let (peer, cert) = peer_of(req.extensions());
            match state.authenticate(req.headers(), cert.as_deref()).await {
                Ok(identity) => {
                    let method = req.uri().path().to_string();
                    req.extensions_mut().insert(identity);
                    req.extensions_mut().insert(CallInfo { method, peer });
                    inner.call(req).await
                }
                Err(status) => {
                    tracing::info!(path = %req.uri().path(), %peer, code = ?status.code(), reason = %status.message(), "call refused");
                    Ok(status.into_http())
                }
            }
        })
    }
}
