//! `complaint.v1.IdentityAdminService` and `complaint.v1.AuditService`, and the server's TLS settings.
//! Every call here is audited like a read.
use crate::error::Error;
use crate::identity::audit::AuditNote;
use crate::identity::audit::{AuditFilter, Outcome};
use crate::identity::authz::{is_region_code, Role};
use crate::identity::directory::{IdentityFields, StoredIdentity};
use crate::identity::IdentityServices;
use crate::identity::{self as ident, clip, Identity, Permission};
use crate::msisdn;
use crate::proto::complaint::v1 as pb;
use crate::proto::complaint::v1::audit_service_server::{AuditService, AuditServiceServer};
use crate::proto::complaint::v1::identity_admin_service_server::{IdentityAdminService, IdentityAdminServiceServer};
use std::collections::BTreeSet;
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// Largest request these services accept: their messages are small, so a big one is refused early.
const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// The identity-admin and audit services, ready to add to a server.
/// `systems` are the configured source names (operator IDs are kept per system).
pub fn servers(
    identity: Arc<IdentityServices>,
    systems: Vec<String>,
) -> (IdentityAdminServiceServer<IdentityApi>, AuditServiceServer<IdentityApi>) {
    let api = IdentityApi {
        identity,
        systems: Arc::new(systems),
    };
    (
        IdentityAdminServiceServer::new(api.clone()).max_decoding_message_size(MAX_REQUEST_BYTES),
        AuditServiceServer::new(api).max_decoding_message_size(MAX_REQUEST_BYTES),
    )
}

/// Both services over the gateway's identities and audit trail.
#[derive(Clone)]
pub struct IdentityApi {
    identity: Arc<IdentityServices>,
    /// The configured source names.
    systems: Arc<Vec<String>>,
}

fn role_to_pb(r: Role) -> pb::Role {
    match r {
        Role::Handler => pb::Role::Handler,
        Role::Analyst => pb::Role::Analyst,
        Role::Manager => pb::Role::Manager,
        Role::Auditor => pb::Role::Auditor,
        Role::Admin => pb::Role::Admin,
        Role::Service => pb::Role::Service,
    }
}

fn roles_from_pb(field: &str, roles: &[i32]) -> Result<BTreeSet<Role>, Error> {
    let mut out = BTreeSet::new();
    for (i, r) in roles.iter().enumerate() {
        let role = match pb::Role::try_from(*r) {
            Ok(pb::Role::Handler) => Role::Handler,
            Ok(pb::Role::Analyst) => Role::Analyst,
            Ok(pb::Role::Manager) => Role::Manager,
            Ok(pb::Role::Auditor) => Role::Auditor,
            Ok(pb::Role::Admin) => Role::Admin,
            Ok(pb::Role::Service) => Role::Service,
            Ok(pb::Role::Unspecified) | Err(_) => {
                return Err(Error::invalid(
                    format!("{field}[{i}]"),
                    format!("{r} is not a role (ROLE_HANDLER = 1 … ROLE_SERVICE = 6)"),
                ))
            }
        };
        out.insert(role);
    }
    Ok(out)
}

fn regions_from(field: &str, regions: &[String]) -> Result<BTreeSet<String>, Error> {
    let mut out = BTreeSet::new();
    for (i, r) in regions.iter().enumerate() {
        if !is_region_code(r) {
            return Err(Error::invalid(
                format!("{field}[{i}]"),
                format!("`{}` is not a city code like 0571", clip(r, 16).escape_debug()),
            ));
        }
        out.insert(r.clone());
    }
    Ok(out)
}

fn check_id(field: &str, id: &str) -> Result<(), Error> {
    ident::validate_subject(id).map_err(|m| Error::invalid(field, m))
}

fn display_name(field: &str, s: &str) -> Result<String, Error> {
    if s.chars().count() > 64 {
        return Err(Error::invalid(field, "at most 64 characters"));
    }
    ident::check_visible(field, s)?;
    Ok(s.trim().to_string())
}

fn ts(us: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: us.div_euclid(1_000_000),
        nanos: (us.rem_euclid(1_000_000) * 1_000) as i32,
    }
}

fn us_of(field: &str, t: &prost_types::Timestamp) -> Result<i64, Error> {
    if !(0..1_000_000_000).contains(&t.nanos) {
        return Err(Error::invalid(field, "nanos must be in [0, 999999999]"));
    }
    t.seconds
        .checked_mul(1_000_000)
        .and_then(|s| s.checked_add(i64::from(t.nanos / 1_000)))
        .ok_or_else(|| Error::invalid(field, "out of range"))
}

fn operator_ids_pb(ids: &[ident::OperatorId]) -> Vec<pb::OperatorId> {
    ids.iter()
        .map(|o| pb::OperatorId {
            system: o.system.clone(),
            city: o.city.clone(),
            operator_id: o.operator_id.clone(),
        })
        .collect()
}

fn identity_pb(s: StoredIdentity) -> pb::Identity {
    pb::Identity {
        id: s.id,
        display_name: s.display_name,
        roles: s.roles.into_iter().map(|r| role_to_pb(r) as i32).collect(),
        regions: s.regions.into_iter().collect(),
        disabled: s.disabled,
        operator_ids: operator_ids_pb(&s.operator_ids),
        created_at: Some(ts(s.created_at_us)),
        updated_at: Some(ts(s.updated_at_us)),
    }
}

fn outcome_pb(o: Outcome) -> pb::AuditOutcome {
    match o {
        Outcome::Ok => pb::AuditOutcome::Ok,
        Outcome::Denied => pb::AuditOutcome::Denied,
        Outcome::NotFound => pb::AuditOutcome::NotFound,
        Outcome::InvalidArgument => pb::AuditOutcome::InvalidArgument,
        Outcome::Outage => pb::AuditOutcome::Outage,
        Outcome::Error => pb::AuditOutcome::Error,
    }
}

impl IdentityApi {
    /// Runs an audited call: the caller from the request, `work` with a note to fill, then the audit event
    /// (the response is sent only once it is recorded).
    async fn audited<T, R, F, Fut>(&self, request: Request<T>, work: F) -> Result<Response<R>, Status>
    where
        F: FnOnce(Identity, T, Arc<AuditNote>) -> Fut,
        Fut: std::future::Future<Output = Result<R, Error>>,
    {
        let caller = ident::caller(&request)?;
        let note = Arc::new(AuditNote::new(&caller, &ident::call_info(&request), "", ""));
        let result = work(caller, request.into_inner(), note.clone()).await;
        let note = Arc::try_unwrap(note).map_err(|_| Error::Internal("audit note still in use".into()))?;
        self.identity.record(note, &result).await?;
        Ok(Response::new(result?))
    }

    fn check_system(&self, field: &str, system: &str) -> Result<(), Error> {
        let names = &self.systems;
        if names.iter().any(|n| n == system) {
            return Ok(());
        }
        Err(Error::invalid(
            field,
            format!(
                "unknown source `{}`; configured sources: {}",
                clip(system, 32).escape_debug(),
                names.join(", ")
            ),
        ))
    }
}

#[tonic::async_trait]
impl IdentityAdminService for IdentityApi {
    async fn get_current_identity(
        &self,
        request: Request<pb::GetCurrentIdentityRequest>,
    ) -> Result<Response<pb::GetCurrentIdentityResponse>, Status> {
        let c = ident::caller(&request)?;
        let registered = self
            .identity
            .directory
            .get(&c.subject)
            .await
            .map_err(Error::from)?
            .is_some();
        Ok(Response::new(pb::GetCurrentIdentityResponse {
            id: c.subject.clone(),
            display_name: c.display_name.clone(),
            roles: c.roles.iter().map(|r| role_to_pb(*r) as i32).collect(),
            regions: c.regions.iter().cloned().collect(),
            permissions: c.permissions().iter().map(|p| p.name().to_string()).collect(),
            auth_method: c.method.describe(),
            operator_ids: operator_ids_pb(&c.operator_ids),
            registered,
        }))
    }

    async fn create_identity(
        &self,
        request: Request<pb::CreateIdentityRequest>,
    ) -> Result<Response<pb::CreateIdentityResponse>, Status> {
        let identity = self.identity.clone();
        self.audited(request, |caller, req, _note| async move {
            caller.require(Permission::ManageIdentities, "CreateIdentity")?;
            check_id("id", &req.id)?;
            let fields = IdentityFields {
                display_name: display_name("display_name", &req.display_name)?,
                roles: roles_from_pb("roles", &req.roles)?,
                regions: regions_from("regions", &req.regions)?,
                disabled: false,
            };
            let created = identity.directory.create(&req.id, &fields).await?;
            tracing::info!(by = %caller.subject, identity = %created.id, "identity created");
            Ok(pb::CreateIdentityResponse {
                identity: Some(identity_pb(created)),
            })
        })
        .await
    }

    async fn update_identity(
        &self,
        request: Request<pb::UpdateIdentityRequest>,
    ) -> Result<Response<pb::UpdateIdentityResponse>, Status> {
        let identity = self.identity.clone();
        self.audited(request, |caller, req, _note| async move {
            caller.require(Permission::ManageIdentities, "UpdateIdentity")?;
            check_id("id", &req.id)?;
            let fields = IdentityFields {
                display_name: display_name("display_name", &req.display_name)?,
                roles: roles_from_pb("roles", &req.roles)?,
                regions: regions_from("regions", &req.regions)?,
                disabled: req.disabled,
            };
            let updated = identity.directory.update(&req.id, &fields).await?;
            tracing::info!(by = %caller.subject, identity = %updated.id, disabled = updated.disabled, "identity updated");
            Ok(pb::UpdateIdentityResponse {
                identity: Some(identity_pb(updated)),
            })
        })
        .await
    }

    async fn get_identity(
        &self,
        request: Request<pb::GetIdentityRequest>,
    ) -> Result<Response<pb::GetIdentityResponse>, Status> {
        let identity = self.identity.clone();
        self.audited(request, |caller, req, _note| async move {
            caller.require(Permission::ManageIdentities, "GetIdentity")?;
            check_id("id", &req.id)?;
            let found = identity
                .directory
                .get(&req.id)
                .await?
                .ok_or_else(|| Error::NotFound(format!("no identity `{}`", req.id)))?;
            Ok(pb::GetIdentityResponse {
                identity: Some(identity_pb(found)),
            })
        })
        .await
    }

    async fn list_identities(
        &self,
        request: Request<pb::ListIdentitiesRequest>,
    ) -> Result<Response<pb::ListIdentitiesResponse>, Status> {
        let identity = self.identity.clone();
        self.audited(request, |caller, req, _note| async move {
            caller.require(Permission::ManageIdentities, "ListIdentities")?;
            let size = match req.page_size {
                0 => 100,
                n @ 1..=500 => n as u32,
                n => return Err(Error::invalid("page_size", format!("{n} is not in 0..=500"))),
            };
            if !req.page_token.is_empty() {
                check_id("page_token", &req.page_token)?;
            }
            let mut page = identity.directory.list(&req.page_token, size + 1).await?;
            let next = if page.len() > size as usize {
                page.truncate(size as usize);
                page.last().map(|i| i.id.clone()).unwrap_or_default()
            } else {
                String::new()
            };
            Ok(pb::ListIdentitiesResponse {
                identities: page.into_iter().map(identity_pb).collect(),
                next_page_token: next,
            })
        })
        .await
    }

    async fn set_operator_id(
        &self,
        request: Request<pb::SetOperatorIdRequest>,
    ) -> Result<Response<pb::SetOperatorIdResponse>, Status> {
        let identity = self.identity.clone();
        let this = self.clone();
        self.audited(request, |caller, req, note| async move {
            caller.require(Permission::ManageIdentities, "SetOperatorId")?;
            check_id("identity_id", &req.identity_id)?;
            let o = req
                .operator_id
                .ok_or_else(|| Error::invalid("operator_id", "required"))?;
            this.check_system("operator_id.system", &o.system)?;
            if !o.city.is_empty() && !is_region_code(&o.city) {
                return Err(Error::invalid(
                    "operator_id.city",
                    format!(
                        "`{}` is not a city code like 0571 (empty: every city)",
                        clip(&o.city, 16).escape_debug()
                    ),
                ));
            }
            ident::validate_operator_id(&o.operator_id).map_err(|m| Error::invalid("operator_id.operator_id", m))?;
            note.touch([o.system.as_str()]);
            let updated = identity
                .directory
                .set_operator_id(&req.identity_id, &o.system, &o.city, &o.operator_id)
                .await?;
            Ok(pb::SetOperatorIdResponse {
                identity: Some(identity_pb(updated)),
            })
        })
        .await
    }

    async fn delete_operator_id(
        &self,
        request: Request<pb::DeleteOperatorIdRequest>,
    ) -> Result<Response<pb::DeleteOperatorIdResponse>, Status> {
        let identity = self.identity.clone();
        self.audited(request, |caller, req, note| async move {
            caller.require(Permission::ManageIdentities, "DeleteOperatorId")?;
            check_id("identity_id", &req.identity_id)?;
            if req.system.is_empty() || req.system.len() > 64 {
                return Err(Error::invalid("system", "must be 1 to 64 characters"));
            }
            if !req.city.is_empty() && !is_region_code(&req.city) {
                return Err(Error::invalid("city", "must be empty or a city code like 0571"));
            }
            note.touch([req.system.as_str()]);
            let deleted = identity
                .directory
                .delete_operator_id(&req.identity_id, &req.system, &req.city)
                .await?;
            Ok(pb::DeleteOperatorIdResponse { deleted })
        })
        .await
    }
}

#[tonic::async_trait]
impl AuditService for IdentityApi {
    async fn list_audit_events(
        &self,
        request: Request<pb::ListAuditEventsRequest>,
    ) -> Result<Response<pb::ListAuditEventsResponse>, Status> {
        let identity = self.identity.clone();
        self.audited(request, |caller, req, note| async move {
            caller.require(Permission::ReadAudit, "ListAuditEvents")?;
            let mut f = AuditFilter::default();
            if !req.caller.is_empty() {
                check_id("caller", &req.caller)?;
                f.caller = Some(req.caller.clone());
            }
            if !req.msisdn.is_empty() {
                let m = msisdn::normalize("msisdn", &req.msisdn)?;
                note.set_msisdn(&m);
                f.msisdn = Some(m);
            }
            if let Some(t) = &req.from {
                f.from_us = Some(us_of("from", t)?);
            }
            if let Some(t) = &req.to {
                f.to_us = Some(us_of("to", t)?);
            }
            if let (Some(a), Some(b)) = (f.from_us, f.to_us) {
                if b <= a {
                    return Err(Error::invalid("to", "must be after `from`"));
                }
            }
            f.outcome = match pb::AuditOutcome::try_from(req.outcome) {
                Ok(pb::AuditOutcome::Unspecified) => None,
                Ok(pb::AuditOutcome::Ok) => Some(Outcome::Ok),
                Ok(pb::AuditOutcome::Denied) => Some(Outcome::Denied),
                Ok(pb::AuditOutcome::NotFound) => Some(Outcome::NotFound),
                Ok(pb::AuditOutcome::InvalidArgument) => Some(Outcome::InvalidArgument),
                Ok(pb::AuditOutcome::Outage) => Some(Outcome::Outage),
                Ok(pb::AuditOutcome::Error) => Some(Outcome::Error),
                Err(_) => {
                    return Err(Error::invalid(
                        "outcome",
                        format!("{} is not an audit outcome", req.outcome),
                    ))
                }
            };
            f.limit = match req.page_size {
                0 => 100,
                n @ 1..=1000 => n as u32,
                n => return Err(Error::invalid("page_size", format!("{n} is not in 0..=1000"))),
            };
            if !req.page_token.is_empty() {
                if !crate::identity::audit::is_event_id(&req.page_token) {
                    return Err(Error::invalid(
                        "page_token",
                        "not a page token from a previous response",
                    ));
                }
                f.before_id = Some(req.page_token.clone());
            }
            let (events, next) = identity.audit.list(&f).await?;
            Ok(pb::ListAuditEventsResponse {
                events: events
                    .into_iter()
                    .map(|e| pb::AuditEvent {
                        event_id: e.event_id,
                        time: Some(ts(e.at_us)),
                        caller: e.caller,
                        roles: e.roles,
                        auth_method: e.auth_method,
                        action: e.action,
                        msisdn: e.msisdn,
                        region: e.region,
                        sources: e.sources,
                        purpose: e.purpose,
                        outcome: outcome_pb(e.outcome) as i32,
                        detail: e.detail,
                        peer: e.peer,
                    })
                    .collect(),
                next_page_token: next.unwrap_or_default(),
            })
        })
        .await
    }
}
