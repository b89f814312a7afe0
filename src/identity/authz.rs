//! Authorisation: roles, the permissions each grants, and the region rule.
//!
//! | permission        | what it allows                                                  | handler | analyst | manager | auditor | admin | service |
//! |-------------------|-----------------------------------------------------------------|---------|---------|---------|---------|-------|---------|
//! | `read_view`       | `GetSubscriberView` (and diagnosis, which reads the view)        | ✓       | ✓       | ✓       |         |       | ✓       |
//! | `read_usage`      | `StreamUsage`: call, SMS and data records                        | ✓       |         | ✓       |         |       | ✓       |
//! | `read_pii`        | unmasked names, ID numbers, addresses, bank accounts, numbers    |         |         | ✓       |         |       |         |
//! | `all_regions`     | subscribers of every city, not only the caller's regions         |         | ✓       |         |         |       | ✓       |
//! | `read_audit`      | `ListAuditEvents`                                                |         |         |         | ✓       | ✓     |         |
//! | `manage_identities` | `IdentityAdminService` writes and reads of other identities    |         |         |         |         | ✓     |         |
//! | `invalidate_cache` | `InvalidateSubscriber` (within the caller's regions unless `all_regions`) |  |        |         |         | ✓     | ✓       |
//!
//! A caller's permissions are the union over its roles. Auditors and admins read no subscriber data; a
//! service client that needs unmasked data everywhere holds both `service` and `manager`.
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// A role, as carried in tokens (`"handler"`) and stored with identities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A complaint handler: reads subscribers of their own cities, masked.
    Handler,
    /// Looks at patterns across cities: views of every city, masked, no call records.
    Analyst,
    /// A city's team lead: like a handler, unmasked.
    Manager,
    /// Reads the audit trail; no subscriber data.
    Auditor,
    /// Manages identities and operator IDs; reads the audit trail; no subscriber data.
    Admin,
    /// A system client (IVR, CRM front-end): every city, masked.
    Service,
}

impl Role {
    /// Every role, in documentation order.
    pub const ALL: [Role; 6] = [
        Role::Handler,
        Role::Analyst,
        Role::Manager,
        Role::Auditor,
        Role::Admin,
        Role::Service,
    ];

    /// The lower-case name used in tokens, config and the store.
    pub fn name(self) -> &'static str {
        match self {
            Role::Handler => "handler",
            Role::Analyst => "analyst",
            Role::Manager => "manager",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
            Role::Service => "service",
        }
    }

    /// Parses a role name (case-insensitive).
    pub fn parse(s: &str) -> Option<Role> {
        let s = s.trim().to_ascii_lowercase();
        Role::ALL.into_iter().find(|r| r.name() == s)
    }

    /// What this role may do.
    pub fn permissions(self) -> &'static [Permission] {
        use Permission::*;
        match self {
            Role::Handler => &[ReadView, ReadUsage],
            Role::Analyst => &[ReadView, AllRegions],
            Role::Manager => &[ReadView, ReadUsage, ReadPii],
            Role::Auditor => &[ReadAudit],
            Role::Admin => &[ReadAudit, ManageIdentities, InvalidateCache],
            Role::Service => &[ReadView, ReadUsage, AllRegions, InvalidateCache],
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Something a role allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Permission {
    ReadView,
    ReadUsage,
    ReadPii,
    AllRegions,
    ReadAudit,
    ManageIdentities,
    InvalidateCache,
}

impl Permission {
    /// Every permission.
    pub const ALL: [Permission; 7] = [
        Permission::ReadView,
        Permission::ReadUsage,
        Permission::ReadPii,
        Permission::AllRegions,
        Permission::ReadAudit,
        Permission::ManageIdentities,
        Permission::InvalidateCache,
    ];

    /// The snake-case name used in messages and docs.
    pub fn name(self) -> &'static str {
        match self {
            Permission::ReadView => "read_view",
            Permission::ReadUsage => "read_usage",
            Permission::ReadPii => "read_pii",
            Permission::AllRegions => "all_regions",
            Permission::ReadAudit => "read_audit",
            Permission::ManageIdentities => "manage_identities",
            Permission::InvalidateCache => "invalidate_cache",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The union of the permissions of `roles`.
pub fn permissions_of(roles: &BTreeSet<Role>) -> BTreeSet<Permission> {
    roles.iter().flat_map(|r| r.permissions().iter().copied()).collect()
}

/// Parses a list of role names; the error names the first unknown one.
pub fn parse_roles<S: AsRef<str>>(names: &[S]) -> Result<BTreeSet<Role>, String> {
    let mut out = BTreeSet::new();
    for n in names {
        let n = n.as_ref();
        if n.trim().is_empty() {
            continue;
        }
        out.insert(Role::parse(n).ok_or_else(|| {
            format!(
                "unknown role `{}`; roles are {}",
                crate::identity::clip(n, 32),
                Role::ALL.map(Role::name).join(", ")
            )
        })?);
    }
    Ok(out)
}

/// Whether `s` is a city (region) code such as `0571`: a 0 then two or three digits.
pub fn is_region_code(s: &str) -> bool {
    s.len() >= 3 && s.len() <= 4 && s.starts_with('0') && s.bytes().all(|b| b.is_ascii_digit())
}

/// Parses a list of region codes; the error names the first malformed one.
pub fn parse_regions<S: AsRef<str>>(codes: &[S]) -> Result<BTreeSet<String>, String> {
    let mut out = BTreeSet::new();
    for c in codes {
        let c = c.as_ref().trim();
        if c.is_empty() {
            continue;
        }
        if !is_region_code(c) {
            return Err(format!(
                "`{}` is not a city code like 0571 (0 and two or three digits)",
                crate::identity::clip(c, 32)
            ));
        }
        out.insert(c.to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_table_holds() {
        use Permission::*;
        let has = |r: Role, p: Permission| r.permissions().contains(&p);
        // Only managers see PII; auditors and admins read no subscriber data.
        assert_eq!(
            Role::ALL.into_iter().filter(|r| has(*r, ReadPii)).collect::<Vec<_>>(),
            vec![Role::Manager]
        );
        for r in [Role::Auditor, Role::Admin] {
            assert!(!has(r, ReadView) && !has(r, ReadUsage), "{r}");
        }
        assert!(has(Role::Handler, ReadView) && !has(Role::Handler, AllRegions));
        assert!(has(Role::Analyst, AllRegions) && !has(Role::Analyst, ReadUsage));
        assert!(has(Role::Service, AllRegions) && !has(Role::Service, ReadPii));
        assert_eq!(
            Role::ALL
                .into_iter()
                .filter(|r| has(*r, ManageIdentities))
                .collect::<Vec<_>>(),
            vec![Role::Admin]
        );
    }

    #[test]
    fn parsing_names_the_bad_value() {
        assert_eq!(parse_roles(&["Handler", " manager "]).unwrap().len(), 2);
        let e = parse_roles(&["handler", "root"]).unwrap_err();
        assert!(e.contains("`root`") && e.contains("auditor"), "{e}");
        assert!(parse_regions(&["0571", "0574"]).is_ok());
        assert!(parse_regions(&["571"]).unwrap_err().contains("`571`"));
        assert!(parse_regions(&["0571' OR 1=1"]).is_err());
    }
}
