//! The authentication layer: a tower layer around every gRPC service of the server. Health checks and
//! reflection pass through; every other call must authenticate, or it is answered UNAUTHENTICATED with the
//! reason before any service code runs. The caller's [`Identity`] (credential, capped by the store's record)
//! and the call's [`CallInfo`] go into the request extensions.
//!
//! Calls that fail authentication, and reflection calls (which need none), are counted per peer address
//! ([`PeerLimiter`], `[server] unauthenticated_per_minute`); a peer over the limit is refused at once,
//! before any credential is checked. Refusals are logged as a summary per interval (`logsum`), never one
//! line per call.
use super::auth::{AuthError, Authenticator, Principal};
use super::directory::Directory;
use super::{CallInfo, Identity};
use crate::error::Error;
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;
use tonic::body::Body;
use tonic::codegen::http;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tonic::Status;

/// Liveness probes: served without credentials and without counting.
const HEALTH_PREFIX: &str = "/grpc.health.v1.Health/";

/// Paths served without credentials: liveness probes and schema discovery carry no subscriber data.
const OPEN_PREFIXES: &[&str] = &[
    HEALTH_PREFIX,
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
    /// The per-caller limit counted across replicas (`[redis] shared_rate_limits`); `limiter` counts
    /// while it is unavailable.
    shared: std::sync::OnceLock<Arc<dyn SharedLimits>>,
}

/// A per-caller limit counted across replicas (the shared tier, `src/cluster/limits.rs`): takes one of
/// `subject`'s `per_minute` calls, `Some(admitted)`, or `None` when the tier cannot be used now (the
/// gateway then counts on its own).
#[tonic::async_trait]
pub trait SharedLimits: Send + Sync {
    async fn admit(&self, subject: &str, per_minute: u32) -> Option<bool>;
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
            shared: std::sync::OnceLock::new(),
        }
    }

    /// Counts the per-caller limit in the shared tier (each replica counts alone while it is down).
    pub fn share_limits(&self, shared: Arc<dyn SharedLimits>) {
        let _ = self.shared.set(shared);
    }

    /// One of `subject`'s calls: counted across replicas when the shared tier is usable, else here.
    async fn admit(&self, subject: &str) -> bool {
        if self.limiter.per_minute == 0 {
            return true;
        }
        if let Some(shared) = self.shared.get() {
            if let Some(admitted) = shared.admit(subject, self.limiter.per_minute).await {
                return admitted;
            }
        }
        self.limiter.admit(subject)
    }

    /// Authenticates one request from its headers and TLS peer certificate.
    pub async fn authenticate(&self, headers: &http::HeaderMap, peer_cert: Option<&[u8]>) -> Result<Identity, Status> {
        let principal = self.principal(headers, peer_cert).map_err(unauthenticated)?;
        let identity = self.resolve(principal).await?;
        if !self.admit(&identity.subject).await {
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

/// Counts calls without valid credentials per peer address (GCRA, `governor`), and remembers which
/// peers are over the limit so their calls are refused before any credential is checked.
pub struct PeerLimiter {
    per_minute: u32,
    limiter: governor::DefaultKeyedRateLimiter<IpAddr>,
    blocked: Mutex<HashMap<IpAddr, Instant>>,
    charged: AtomicU64,
}

impl PeerLimiter {
    /// `per_minute` such calls per peer address; `None` for 0 (no limit).
    pub fn new(per_minute: u32) -> Option<PeerLimiter> {
        let n = std::num::NonZeroU32::new(per_minute)?;
        Some(PeerLimiter {
            per_minute,
            limiter: governor::RateLimiter::keyed(governor::Quota::per_minute(n)),
            blocked: Mutex::new(HashMap::new()),
            charged: AtomicU64::new(0),
        })
    }

    /// How long `ip` stays refused, if it is over the limit now.
    fn blocked(&self, ip: IpAddr) -> Option<std::time::Duration> {
        let b = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
        let until = *b.get(&ip)?;
        until.checked_duration_since(Instant::now())
    }

    /// Counts one call without valid credentials from `ip`: `Err(wait)` once it is over the limit.
    fn charge(&self, ip: IpAddr) -> Result<(), std::time::Duration> {
        if self.charged.fetch_add(1, Ordering::Relaxed) % 10_000 == 9_999 {
            // Forget peers that have been quiet long enough to be full again.
            self.limiter.retain_recent();
            let now = Instant::now();
            self.blocked
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .retain(|_, until| *until > now);
        }
        match self.limiter.check_key(&ip) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                use governor::clock::Clock;
                let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
                self.blocked
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(ip, Instant::now() + wait);
                Err(wait)
            }
        }
    }

    fn refusal(&self, wait: std::time::Duration) -> Status {
        Error::RateLimited(format!(
            "too many calls without valid credentials from your address (at most {} a minute); retry in {} ms",
            self.per_minute,
            wait.as_millis().max(1)
        ))
        .into()
    }
}

/// The tower layer.
#[derive(Clone)]
pub struct AuthLayer {
    state: Arc<AuthState>,
    peers: Option<Arc<PeerLimiter>>,
}

impl AuthLayer {
    pub fn new(state: Arc<AuthState>) -> AuthLayer {
        AuthLayer { state, peers: None }
    }

    /// Limits calls without valid credentials (and reflection calls) to `per_minute` per peer address.
    pub fn limit_unauthenticated(mut self, per_minute: u32) -> AuthLayer {
        self.peers = PeerLimiter::new(per_minute).map(Arc::new);
        self
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;
    fn layer(&self, inner: S) -> AuthService<S> {
        AuthService {
            inner,
            state: self.state.clone(),
            peers: self.peers.clone(),
        }
    }
}

/// The service the layer wraps around the gRPC routes.
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    state: Arc<AuthState>,
    peers: Option<Arc<PeerLimiter>>,
}

fn peer_of(ext: &http::Extensions) -> (Option<std::net::SocketAddr>, Option<Vec<u8>>) {
    if let Some(tls) = ext.get::<TlsConnectInfo<TcpConnectInfo>>() {
        let cert = tls.peer_certs().and_then(|c| c.first().map(|d| d.as_ref().to_vec()));
        return (tls.get_ref().remote_addr(), cert);
    }
    (ext.get::<TcpConnectInfo>().and_then(|c| c.remote_addr()), None)
}

/// A refused call: counted, logged as a summary, answered with `status`.
fn refuse(path: &str, peer: &str, status: Status) -> http::Response<Body> {
    let code = format!("{:?}", status.code());
    metrics::counter!("cgw_calls_refused_total", "code" => code.clone()).increment(1);
    crate::logsum::REFUSALS.note(&code, || {
        format!("call refused: {path} from {peer}: {code}: {}", status.message())
    });
    status.into_http()
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
        let path = req.uri().path().to_string();
        if path.starts_with(HEALTH_PREFIX) {
            return Box::pin(inner.call(req));
        }
        let (addr, cert) = peer_of(req.extensions());
        let peer = addr.map(|a| a.to_string()).unwrap_or_default();
        let limit = self.peers.clone().zip(addr.map(|a| a.ip()));
        if let Some((l, ip)) = &limit {
            // A peer over the limit is refused before anything is checked.
            if let Some(wait) = l.blocked(*ip) {
                let refused = refuse(&path, &peer, l.refusal(wait));
                return Box::pin(async move { Ok(refused) });
            }
        }
        if is_open(&path) {
            // Reflection: no credential, but counted like a call without one.
            if let Some((l, ip)) = &limit {
                if let Err(wait) = l.charge(*ip) {
                    let refused = refuse(&path, &peer, l.refusal(wait));
                    return Box::pin(async move { Ok(refused) });
                }
            }
            return Box::pin(inner.call(req));
        }
        let state = self.state.clone();
        Box::pin(async move {
            match state.authenticate(req.headers(), cert.as_deref()).await {
                Ok(identity) => {
                    req.extensions_mut().insert(identity);
                    req.extensions_mut().insert(CallInfo { method: path, peer });
                    // Every RPC behind this layer takes exactly one request message.
                    let req = req.map(|b| Body::new(crate::framing::OneMessage::new(b)));
                    inner.call(req).await
                }
                Err(status) => {
                    let status = match &limit {
                        Some((l, ip)) if status.code() == tonic::Code::Unauthenticated => match l.charge(*ip) {
                            Ok(()) => status,
                            Err(wait) => l.refusal(wait),
                        },
                        _ => status,
                    };
                    Ok(refuse(&path, &peer, status))
                }
            }
        })
    }
}
