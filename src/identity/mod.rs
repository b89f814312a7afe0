//! One identity for every caller: who they are ([`auth`]), what they may do ([`authz`]), what they see
//! ([`masking`]), which operator ID they act under in each backend ([`directory`]), and the record of every
//! read ([`audit`]).
//!
//! The request path: the [`layer::AuthLayer`] authenticates every RPC except health and reflection and puts
//! an [`Identity`] into the request extensions; `api::data::read_view` (the one path of every subscriber
//! read) authorises the region after the view is read, masks it, and appends the audit event before the
//! response leaves. See `docs/identity.md`.
pub mod audit;
pub mod auth;
pub mod authz;
pub mod chain;
pub mod config;
pub mod directory;
pub mod layer;
pub mod masking;

use crate::error::Error;
use crate::store::{Store, StoreConfig};
use audit::{AuditLog, AuditNote};
use auth::Authenticator;
pub use authz::{Permission, Role};
use config::AuthConfig;
use directory::Directory;
use layer::AuthState;
use std::collections::BTreeSet;
use std::sync::Arc;

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
    pub async fn open(
        auth_cfg: &AuthConfig,
        store_cfg: &StoreConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<IdentityServices, String> {
        let authenticator = Authenticator::from_config(auth_cfg, env)?;
        if !authenticator.has_credentials() {
            tracing::warn!(
                "[auth] configures no JWT key, API key or client certificate: every call except health and reflection will be refused"
            );
        }
        let store = Store::open(store_cfg).await.map_err(|e| e.to_string())?;
        let directory = Directory::cached(
            store.clone(),
            std::time::Duration::from_millis(auth_cfg.identity_cache_ms),
        );
        let audit = AuditLog::start_with(
            store.clone(),
            audit::BatchSettings {
                max: store_cfg.audit_batch_max.max(1),
                wait: std::time::Duration::from_micros(store_cfg.audit_batch_wait_us),
            },
        );
        let auth = Arc::new(AuthState::new(
            authenticator,
            directory.clone(),
            auth_cfg.require_registered,
            auth_cfg.rate_limit_per_minute,
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
        self.audit.append(note.finish(result)).await
    }
}

/// How the caller proved who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMethod {
    /// A bearer JWT, verified with the key of this id (empty when the key has no `kid`).
    Jwt { key_id: String },
    /// An API key; `key_id` is its configured id (not the key).
    ApiKey { key_id: String },
    /// A client certificate, by SHA-256 fingerprint.
    ClientCert { fingerprint: String },
}

impl AuthMethod {
    /// `jwt`, `api_key:<id>`, `client_cert:<fingerprint prefix>`, for the audit trail.
    pub fn describe(&self) -> String {
        match self {
            AuthMethod::Jwt { key_id } if key_id.is_empty() => "jwt".into(),
            AuthMethod::Jwt { key_id } => format!("jwt:{key_id}"),
            AuthMethod::ApiKey { key_id } => format!("api_key:{key_id}"),
            AuthMethod::ClientCert { fingerprint } => format!("client_cert:{}", clip(fingerprint, 16)),
        }
    }
}

/// A handler's operator ID in one backend system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorId {
    /// The source name (`billing`, `crm`, …).
    pub system: String,
    /// `""` for every city, or the city where this ID applies.
    pub city: String,
    pub operator_id: String,
}

/// An authenticated caller, as every handler sees it (from the request extensions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The handler or client id (`sub`).
    pub subject: String,
    pub display_name: String,
    /// Effective roles: what the credential claims, capped by the store's record if there is one.
    pub roles: BTreeSet<Role>,
    /// Effective city codes, capped the same way.
    pub regions: BTreeSet<String>,
    pub method: AuthMethod,
    /// Operator IDs from the store.
    pub operator_ids: Vec<OperatorId>,
}

/// What the authentication layer knows about the call besides the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallInfo {
    /// `/package.Service/Method`.
    pub method: String,
    /// The peer's address, where known.
    pub peer: String,
}

impl Identity {
    /// The union of the permissions of the caller's roles.
    pub fn permissions(&self) -> BTreeSet<Permission> {
        authz::permissions_of(&self.roles)
    }

    /// Whether the caller holds `p`.
    pub fn can(&self, p: Permission) -> bool {
        self.roles.iter().any(|r| r.permissions().contains(&p))
    }

    /// PERMISSION_DENIED unless the caller holds `p`; `what` says what was attempted.
    pub fn require(&self, p: Permission, what: &str) -> Result<(), Error> {
        if self.can(p) {
            return Ok(());
        }
        Err(Error::RoleRequired(format!(
            "{what} needs the `{p}` permission; your roles ({}) do not grant it",
            self.role_names().join(", ")
        )))
    }

    /// Role names, sorted.
    pub fn role_names(&self) -> Vec<String> {
        if self.roles.is_empty() {
            return vec!["none".into()];
        }
        self.roles.iter().map(|r| r.name().to_string()).collect()
    }

    /// Whether the caller may see a subscriber of `region` (`None`: the region is unknown, which only
    /// callers of every region may read).
    pub fn may_see_region(&self, region: Option<&str>) -> bool {
        if self.can(Permission::AllRegions) {
            return true;
        }
        match region {
            Some(r) if !r.is_empty() => self.regions.contains(r),
            _ => false,
        }
    }

    /// Whether reads must be checked against the caller's regions.
    pub fn region_scoped(&self) -> bool {
        !self.can(Permission::AllRegions)
    }

    /// The caller's operator ID in `system` for a subscriber of `city` (when known): the city's own ID,
    /// else the system-wide one, else (no city known) the one ID every city shares.
    pub fn operator_id(&self, system: &str, city: Option<&str>) -> Option<String> {
        let mut of_system = self.operator_ids.iter().filter(|m| m.system == system).peekable();
        of_system.peek()?;
        let all: Vec<&OperatorId> = of_system.collect();
        if let Some(c) = city {
            if let Some(m) = all.iter().find(|m| m.city == c) {
                return Some(m.operator_id.clone());
            }
        }
        if let Some(m) = all.iter().find(|m| m.city.is_empty()) {
            return Some(m.operator_id.clone());
        }
        if city.is_none() {
            let first = &all[0].operator_id;
            if all.iter().all(|m| &m.operator_id == first) {
                return Some(first.clone());
            }
        }
        None
    }

    /// The caller's one region, when there is exactly one: the best guess of the subscriber's city before
    /// the view is read.
    pub fn city_hint(&self) -> Option<&str> {
        if self.regions.len() == 1 {
            self.regions.iter().next().map(String::as_str)
        } else {
            None
        }
    }
}

/// The caller of a request, put there by the authentication layer. A service mounted without the layer
/// gets UNAUTHENTICATED rather than an anonymous read.
pub fn caller<T>(request: &tonic::Request<T>) -> Result<Identity, Error> {
    request
        .extensions()
        .get::<Identity>()
        .cloned()
        .ok_or_else(|| Error::Unauthenticated(auth::AuthError::Missing.to_string()))
}

/// The call's method and peer (empty when the layer did not run).
pub fn call_info<T>(request: &tonic::Request<T>) -> CallInfo {
    request.extensions().get::<CallInfo>().cloned().unwrap_or_default()
}

/// At most `n` characters of `s`, with `…` when cut (for echoing caller input in messages).
pub fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

/// Identity ids: 1–64 of letters, digits and `. _ @ -`.
pub fn validate_subject(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 64 {
        return Err("must be 1 to 64 characters".into());
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-'))
    {
        return Err(format!(
            "`{}` may hold only letters, digits and . _ @ -",
            clip(s, 64).escape_debug()
        ));
    }
    Ok(())
}

/// Operator IDs: 1–64 of letters (any script), digits and `. _ @ - : /`.
pub fn validate_operator_id(s: &str) -> Result<(), String> {
    if s.is_empty() || s.chars().count() > 64 {
        return Err("must be 1 to 64 characters".into());
    }
    if !s
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '@' | '-' | ':' | '/'))
    {
        return Err(format!(
            "`{}` may hold only letters, digits and . _ @ - : /",
            clip(s, 64).escape_debug()
        ));
    }
    Ok(())
}

/// A request's free text (purpose): at most 256 characters, no control characters, no invisible
/// formatting characters.
pub fn validate_free_text(field: &str, s: &str) -> Result<(), Error> {
    if s.chars().count() > 256 {
        return Err(Error::invalid(field, "at most 256 characters"));
    }
    check_visible(field, s)
}

/// Bidirectional controls (which make text read differently on screen than it is stored, e.g. an
/// audit trail's purpose shown reversed) and zero-width characters (which make two different values
/// look alike).
pub fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        | '\u{200B}'..='\u{200D}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{180E}'
    )
}

/// Rejects control characters, bidirectional controls and zero-width characters in a free-text
/// identity field (purpose, display name).
pub fn check_visible(field: &str, s: &str) -> Result<(), Error> {
    if s.chars().any(|c| c.is_control()) {
        return Err(Error::invalid(field, "must not contain control characters"));
    }
    if let Some(c) = s.chars().find(|c| is_invisible_format(*c)) {
        return Err(Error::invalid(
            field,
            format!(
                "must not contain bidirectional controls or zero-width characters (found U+{:04X})",
                c as u32
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handler(regions: &[&str], ids: &[(&str, &str, &str)]) -> Identity {
        Identity {
            subject: "h1".into(),
            display_name: String::new(),
            roles: [Role::Handler].into(),
            regions: regions.iter().map(|s| s.to_string()).collect(),
            method: AuthMethod::Jwt { key_id: String::new() },
            operator_ids: ids
                .iter()
                .map(|(s, c, o)| OperatorId {
                    system: s.to_string(),
                    city: c.to_string(),
                    operator_id: o.to_string(),
                })
                .collect(),
        }
    }

    #[test]
    fn region_rule() {
        let h = handler(&["0571", "0574"], &[]);
        assert!(h.may_see_region(Some("0571")) && h.may_see_region(Some("0574")));
        assert!(!h.may_see_region(Some("0577")) && !h.may_see_region(None) && !h.may_see_region(Some("")));
        let mut s = h.clone();
        s.roles = [Role::Service].into();
        assert!(s.may_see_region(None) && s.may_see_region(Some("0579")));
    }

    #[test]
    fn operator_id_resolution() {
        let h = handler(
            &["0571", "0574"],
            &[
                ("billing", "0571", "HZ01"),
                ("billing", "0574", "NB07"),
                ("crm", "", "E100"),
            ],
        );
        assert_eq!(h.operator_id("billing", Some("0574")).as_deref(), Some("NB07"));
        assert_eq!(h.operator_id("billing", None), None);
        assert_eq!(h.operator_id("crm", Some("0571")).as_deref(), Some("E100"));
        assert_eq!(h.operator_id("resource", None), None);
        let one = handler(&["0571"], &[("billing", "0571", "HZ01")]);
        assert_eq!(one.operator_id("billing", None).as_deref(), Some("HZ01"));
        assert_eq!(one.operator_id("billing", one.city_hint()).as_deref(), Some("HZ01"));
    }

    #[test]
    fn denial_names_the_permission_and_roles() {
        let mut a = handler(&[], &[]);
        a.roles = [Role::Auditor].into();
        let e = a.require(Permission::ReadView, "GetSubscriberView").unwrap_err();
        assert!(
            matches!(&e, Error::RoleRequired(m) if m.contains("read_view") && m.contains("auditor")),
            "{e}"
        );
    }

    #[test]
    fn input_validation() {
        assert!(validate_subject("h-0571.01@hz").is_ok());
        assert!(validate_subject("x'; DROP TABLE identities;--").is_err());
        assert!(validate_subject("").is_err());
        assert!(validate_operator_id("杭州GH0571").is_ok());
        assert!(validate_operator_id("a b").is_err());
        assert!(validate_free_text("purpose", "工单 CP-2026-001").is_ok());
        assert!(validate_free_text("purpose", "a\u{0}b").is_err());
        for sneaky in ["工单\u{202E}100-PC", "CP\u{200B}-1", "\u{2067}x", "\u{FEFF}x"] {
            let e = validate_free_text("purpose", sneaky).unwrap_err();
            assert!(e.to_string().contains("bidirectional controls or zero-width"), "{e}");
        }
    }
}
