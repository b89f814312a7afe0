//! Identity on the read path: every read of subscriber data is authorised (permission, then the
//! subscriber's region as the backends report it), bound to the caller's operator IDs, masked for callers
//! without `read_pii`, and audited before the response leaves. The view cache sits below all of this, so
//! whatever it holds is checked again for each caller.
use super::audit::{AuditEvent, AuditLog, Outcome, Rider, RiderResult};
use super::auth::Authenticator;
use super::directory::Directory;
use super::layer::AuthState;
use super::{clip, masking, CallInfo, Identity, Permission};
use crate::adapters::registry::Source;
use crate::api::Gateway;
use crate::cache::ReadPolicy;
use crate::config::Config;
use crate::error::Error;
use crate::msisdn;
use crate::store::Store;
use crate::view::ViewOutcome;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The identity side of a running gateway: store, directory, audit trail and the authentication state.
pub struct IdentityServices {
    pub store: Store,
    pub directory: Directory,
    pub audit: AuditLog,
    pub auth: Arc<AuthState>,
}

impl std::fmt::Debug for IdentityServices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityServices").field("store", &self.store).finish()
    }
}

impl IdentityServices {
    /// Loads the keys of `[auth]`, opens (and migrates) the store of `[store]` and starts the audit writer.
    pub async fn open(cfg: &Config, env: &dyn Fn(&str) -> Option<String>) -> Result<IdentityServices, String> {
        let authenticator = Authenticator::from_config(&cfg.auth, env)?;
        if !authenticator.has_credentials() {
            tracing::warn!(
                "[auth] configures no JWT key, API key or client certificate: every call except health and reflection will be refused"
            );
        }
        let store = Store::open(&cfg.store, env).await.map_err(|e| e.to_string())?;
        let directory = Directory::new(store.clone());
        let audit = AuditLog::start(store.clone(), cfg.store.audit_batch_max);
        let auth = Arc::new(AuthState::new(
            authenticator,
            directory.clone(),
            cfg.auth.require_registered,
            cfg.auth.rate_limit_per_minute,
        ));
        Ok(IdentityServices {
            store,
            directory,
            audit,
            auth,
        })
    }

    /// Appends the note's event with the outcome of `result`. An `Err` here means the event is not
    /// recorded and the response must not be sent.
    pub async fn record<R>(&self, note: AuditNote, result: &Result<R, Error>) -> Result<(), Error> {
        let mut ev = note.into_event();
        if let Err(e) = result {
            ev.outcome = Outcome::of_error(e);
            ev.detail = clip(&e.to_string(), 512);
        }
        self.audit.append(ev).await
    }
}

/// The audit event of a call in progress; the read path fills in what it learns (number, sources, region).
pub struct AuditNote {
    event: Mutex<AuditEvent>,
}

impl AuditNote {
    /// A note for `caller`'s call about `raw_msisdn` (recorded as given until it is normalised).
    pub fn new(caller: &Identity, call: &CallInfo, raw_msisdn: &str, purpose: &str) -> AuditNote {
        let mut ev = AuditEvent::new(caller, call, Outcome::Ok);
        ev.msisdn = clip(raw_msisdn.trim(), 32);
        ev.purpose = clip(purpose, 256);
        AuditNote { event: Mutex::new(ev) }
    }

    fn with(&self, f: impl FnOnce(&mut AuditEvent)) {
        f(&mut self.event.lock().unwrap_or_else(|p| p.into_inner()));
    }

    pub fn set_msisdn(&self, msisdn: &str) {
        self.with(|e| e.msisdn = msisdn.to_string());
    }

    pub fn set_region(&self, region: &str) {
        self.with(|e| e.region = region.to_string());
    }

    /// Adds sources touched (each once).
    pub fn touch<'a>(&self, sources: impl IntoIterator<Item = &'a str>) {
        self.with(|e| {
            for s in sources {
                if !e.sources.iter().any(|x| x == s) {
                    e.sources.push(s.to_string());
                }
            }
        });
    }

    pub fn into_event(self) -> AuditEvent {
        self.event.into_inner().unwrap_or_else(|p| p.into_inner())
    }
}

/// Whether a source fills the customer part of the view, which carries the region.
fn provides_region(s: &Source) -> bool {
    s.adapter.entities().iter().any(|e| e == "customer")
}

fn region_of(outcome: &ViewOutcome) -> Option<String> {
    outcome
        .view
        .customer
        .as_ref()
        .map(|c| c.region_code.trim().to_string())
        .filter(|r| !r.is_empty())
}

fn outside_regions(caller: &Identity) -> Error {
    let mine: Vec<&str> = caller.regions.iter().map(String::as_str).collect();
    Error::PermissionDenied(format!(
        "permission denied: this subscriber is not in your regions ({})",
        if mine.is_empty() {
            "none".to_string()
        } else {
            mine.join(", ")
        }
    ))
}

fn region_unknown() -> Error {
    Error::PermissionDenied(
        "permission denied: the subscriber's region could not be established from the backends, and your roles do not grant every region"
            .into(),
    )
}

/// What a call makes of the view it read: its answer and, optionally, its own rows to commit with the
/// audit event (see [`guarded_view`]).
pub type Made<R> = Result<(R, Option<Box<dyn Rider>>), Error>;

/// The one path of every view read (`api::data::read_view` and `read_view_then` call it). `then` runs on
/// the authorised, masked view before the audit event is recorded, so the event records how the whole
/// call ended; a call that goes on to produce something (a diagnosis) returns it with its own rows, the
/// rider, committed in the event's transaction. Besides the answer, says whether the rider's rows were
/// written.
#[allow(clippy::too_many_arguments)]
pub async fn guarded_view<T, R>(
    gw: &Gateway,
    request: &tonic::Request<T>,
    raw_msisdn: &str,
    source_filter: &[String],
    purpose: &str,
    deadline: Option<Instant>,
    policy: &ReadPolicy,
    then: impl FnOnce(ViewOutcome) -> Made<R>,
) -> Result<(R, RiderResult), Error> {
    let caller = super::caller(request)?;
    let call = super::call_info(request);
    let note = AuditNote::new(&caller, &call, raw_msisdn, purpose);
    let result = view_inner(gw, &caller, &note, raw_msisdn, source_filter, purpose, deadline, policy)
        .await
        .and_then(then);
    match result {
        Ok((answer, Some(rider))) => {
            let written = gw.identity.audit.append_with(note.into_event(), rider).await?;
            Ok((answer, written))
        }
        Ok((answer, None)) => {
            gw.identity.record(note, &Ok::<(), Error>(())).await?;
            Ok((answer, Ok(())))
        }
        Err(e) => {
            gw.identity.record(note, &Err::<(), _>(e.clone())).await?;
            Err(e)
        }
    }
}

/// Audits a read refused before it started (a malformed request field outside `read_view`'s own checks).
pub async fn reject<T>(gw: &Gateway, request: &tonic::Request<T>, raw_msisdn: &str, purpose: &str, e: Error) -> Error {
    let caller = match super::caller(request) {
        Ok(c) => c,
        Err(unauth) => return unauth,
    };
    let note = AuditNote::new(&caller, &super::call_info(request), raw_msisdn, purpose);
    match gw.identity.record(note, &Err::<(), _>(e.clone())).await {
        Ok(()) => e,
        Err(audit) => audit,
    }
}

#[allow(clippy::too_many_arguments)]
async fn view_inner(
    gw: &Gateway,
    caller: &Identity,
    note: &AuditNote,
    raw_msisdn: &str,
    source_filter: &[String],
    purpose: &str,
    deadline: Option<Instant>,
    policy: &ReadPolicy,
) -> Result<ViewOutcome, Error> {
    caller.require(Permission::ReadView, "reading a subscriber view")?;
    super::validate_free_text("purpose", purpose)?;
    let msisdn = msisdn::normalize("msisdn", raw_msisdn)?;
    note.set_msisdn(&msisdn);
    let sources = gw.reader.select(source_filter)?;
    // A region-scoped caller whose filter leaves out the customer's source still needs the region: read it
    // alongside (through the cache), without returning it.
    let probe: Vec<Source> = if caller.region_scoped() && !sources.iter().any(provides_region) {
        gw.reader
            .registry()
            .sources
            .iter()
            .filter(|s| provides_region(s))
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    note.touch(sources.iter().chain(&probe).map(|s| s.adapter.name()));
    let hint = caller.city_hint().map(str::to_string);
    let ids_hint = |sys: &str| caller.operator_id(sys, hint.as_deref());
    let (main, probed) = futures::join!(
        gw.reader.read_with(&msisdn, &sources, &ids_hint, deadline, policy),
        async {
            if probe.is_empty() {
                None
            } else {
                Some(gw.reader.read_with(&msisdn, &probe, &ids_hint, deadline, policy).await)
            }
        }
    );
    let region = match &probed {
        Some(Ok(p)) => region_of(p),
        Some(Err(_)) => None,
        None => main.as_ref().ok().and_then(region_of),
    };
    if let Some(r) = &region {
        note.set_region(r);
    }
    if caller.region_scoped() {
        // Nobody has the number: nothing to protect, say so.
        let nowhere = main.is_err() && probed.as_ref().is_none_or(|p| p.is_err());
        if let (Err(Error::NotFound(m)), true) = (&main, nowhere) {
            return Err(Error::NotFound(m.clone()));
        }
        match &region {
            Some(r) if caller.may_see_region(Some(r)) => {}
            Some(_) => return Err(outside_regions(caller)),
            None => return Err(region_unknown()),
        }
    }
    let mut outcome = main?;
    // Per-city operator IDs: once the region is known, re-read the sources whose ID differs from the guess.
    if let Some(r) = &region {
        let stale: Vec<Source> = sources
            .iter()
            .filter(|s| {
                caller.operator_id(s.adapter.name(), hint.as_deref()) != caller.operator_id(s.adapter.name(), Some(r))
            })
            .cloned()
            .collect();
        if !stale.is_empty() {
            let ids_city = |sys: &str| caller.operator_id(sys, Some(r));
            outcome = gw
                .reader
                .read_with(&msisdn, &sources, &ids_city, deadline, policy)
                .await?;
            if caller.region_scoped() && region_of(&outcome).as_deref().is_some_and(|r2| r2 != r) {
                return Err(outside_regions(caller));
            }
        }
    }
    if !caller.can(Permission::ReadPii) {
        masking::mask_view(&mut outcome.view);
    }
    Ok(outcome)
}

/// What a caller may stream for one subscriber: the region (when read) for operator-ID binding.
#[derive(Debug, Clone, Default)]
pub struct SubscriberGrant {
    pub region: Option<String>,
}

/// Checks that `caller` may see subscriber `msisdn` (normalised): for region-scoped callers the region is
/// read from the customer's source (through the cache). Used by `StreamUsage`, which reads no view.
pub async fn authorise_subscriber(
    gw: &Gateway,
    caller: &Identity,
    note: &AuditNote,
    msisdn: &str,
    deadline: Option<Instant>,
) -> Result<SubscriberGrant, Error> {
    if !caller.region_scoped() {
        return Ok(SubscriberGrant::default());
    }
    let probe: Vec<Source> = gw
        .reader
        .registry()
        .sources
        .iter()
        .filter(|s| provides_region(s))
        .cloned()
        .collect();
    note.touch(probe.iter().map(|s| s.adapter.name()));
    let hint = caller.city_hint().map(str::to_string);
    let ids = |sys: &str| caller.operator_id(sys, hint.as_deref());
    let region = match gw
        .reader
        .read_with(msisdn, &probe, &ids, deadline, &ReadPolicy::default())
        .await
    {
        Ok(o) => region_of(&o),
        Err(Error::NotFound(m)) => return Err(Error::NotFound(m)),
        Err(_) => None,
    };
    if let Some(r) = &region {
        note.set_region(r);
    }
    match &region {
        Some(r) if caller.may_see_region(Some(r)) => Ok(SubscriberGrant { region }),
        Some(_) => Err(outside_regions(caller)),
        None => Err(region_unknown()),
    }
}
