//! Registered identities and their operator IDs in each backend system, in the gateway's store. The CLI
//! (`complaint-gateway identities …`) and `IdentityAdminService` both go through here.
use super::authz::Role;
use super::OperatorId;
use crate::store::{now_us, Store, StoreError};
use sqlx::Row;
use std::collections::BTreeSet;

/// One registered identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredIdentity {
    pub id: String,
    pub display_name: String,
    pub roles: BTreeSet<Role>,
    pub regions: BTreeSet<String>,
    pub disabled: bool,
    pub created_at_us: i64,
    pub updated_at_us: i64,
    pub operator_ids: Vec<OperatorId>,
}

/// What a write changes.
#[derive(Debug, Clone, Default)]
pub struct IdentityFields {
    pub display_name: String,
    pub roles: BTreeSet<Role>,
    pub regions: BTreeSet<String>,
    pub disabled: bool,
}

/// Why a directory operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DirectoryError {
    #[error("identity `{0}` already exists")]
    AlreadyExists(String),
    #[error("no identity `{0}`")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<DirectoryError> for crate::error::Error {
    fn from(e: DirectoryError) -> Self {
        use crate::error::Error;
        match e {
            DirectoryError::AlreadyExists(_) => Error::FailedPrecondition(e.to_string()),
            DirectoryError::NotFound(_) => Error::NotFound(e.to_string()),
            DirectoryError::Store(s) => {
                tracing::error!(error = %s, "identity store");
                Error::StoreUnavailable("the identity store is unavailable".into())
            }
        }
    }
}

fn join<I: IntoIterator<Item = S>, S: AsRef<str>>(it: I) -> String {
    it.into_iter()
        .map(|s| s.as_ref().to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn split_roles(s: &str) -> BTreeSet<Role> {
    s.split(',').filter_map(Role::parse).collect()
}

fn split_regions(s: &str) -> BTreeSet<String> {
    s.split(',').filter(|r| !r.is_empty()).map(str::to_string).collect()
}

/// Identities and operator IDs over a [`Store`].
#[derive(Clone)]
pub struct Directory {
    store: Store,
    /// Records read recently (see [`Directory::cached`]); changes made through this directory drop theirs.
    recent: Option<moka::future::Cache<String, Option<StoredIdentity>>>,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory").field("store", &self.store).finish()
    }
}

const SELECT: &str = "SELECT id, display_name, roles, regions, disabled, created_at_us, updated_at_us FROM identities";

impl Directory {
    pub fn new(store: Store) -> Directory {
        Directory { store, recent: None }
    }

    /// A directory that remembers each record it reads for `ttl` (`[auth] identity_cache_ms`): every
    /// authenticated call reads its caller's record, and a warm read should not pay two store queries for
    /// it. A change made through this directory (the admin RPCs of this gateway) applies at once; one
    /// made elsewhere (another replica, the command line) within `ttl`.
    pub fn cached(store: Store, ttl: std::time::Duration) -> Directory {
        let recent = (!ttl.is_zero()).then(|| {
            moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ttl)
                .build()
        });
        Directory { store, recent }
    }

    async fn forget(&self, id: &str) {
        if let Some(c) = &self.recent {
            c.invalidate(id).await;
        }
    }

    fn err(&self, what: &str, e: sqlx::Error) -> DirectoryError {
        DirectoryError::Store(self.store.error(what, &e))
    }

    fn row(r: &sqlx::any::AnyRow) -> Result<StoredIdentity, sqlx::Error> {
        Ok(StoredIdentity {
            id: r.try_get("id")?,
            display_name: r.try_get("display_name")?,
            roles: split_roles(&r.try_get::<String, _>("roles")?),
            regions: split_regions(&r.try_get::<String, _>("regions")?),
            disabled: r.try_get::<i64, _>("disabled")? != 0,
            created_at_us: r.try_get("created_at_us")?,
            updated_at_us: r.try_get("updated_at_us")?,
            operator_ids: Vec::new(),
        })
    }

    /// One identity with its operator IDs.
    pub async fn get(&self, id: &str) -> Result<Option<StoredIdentity>, DirectoryError> {
        if let Some(c) = &self.recent {
            if let Some(hit) = c.get(id).await {
                return Ok(hit);
            }
            let found = self.read(id).await?;
            c.insert(id.to_string(), found.clone()).await;
            return Ok(found);
        }
        self.read(id).await
    }

    async fn read(&self, id: &str) -> Result<Option<StoredIdentity>, DirectoryError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} WHERE id = $1")))
            .bind(id)
            .fetch_optional(self.store.pool())
            .await
            .map_err(|e| self.err("reading an identity", e))?;
        let Some(row) = row else { return Ok(None) };
        let mut ident = Self::row(&row).map_err(|e| self.err("decoding an identity", e))?;
        ident.operator_ids = self.operator_ids(id).await?;
        Ok(Some(ident))
    }

    async fn operator_ids(&self, id: &str) -> Result<Vec<OperatorId>, DirectoryError> {
        let rows = sqlx::query(
            "SELECT system, city, operator_id FROM operator_ids WHERE identity_id = $1 ORDER BY system, city",
        )
        .bind(id)
        .fetch_all(self.store.pool())
        .await
        .map_err(|e| self.err("reading operator IDs", e))?;
        rows.iter()
            .map(|r| {
                Ok(OperatorId {
                    system: r.try_get("system")?,
                    city: r.try_get("city")?,
                    operator_id: r.try_get("operator_id")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(|e| self.err("decoding operator IDs", e))
    }

    /// Identities ordered by id, after `after` (exclusive), at most `limit`.
    pub async fn list(&self, after: &str, limit: u32) -> Result<Vec<StoredIdentity>, DirectoryError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT} WHERE id > $1 ORDER BY id LIMIT $2"
        )))
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(self.store.pool())
        .await
        .map_err(|e| self.err("listing identities", e))?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let mut ident = Self::row(r).map_err(|e| self.err("decoding an identity", e))?;
            ident.operator_ids = self.operator_ids(&ident.id).await?;
            out.push(ident);
        }
        Ok(out)
    }

    /// Registers a new identity.
    pub async fn create(&self, id: &str, f: &IdentityFields) -> Result<StoredIdentity, DirectoryError> {
        let now = now_us();
        let r = sqlx::query(
            "INSERT INTO identities (id, display_name, roles, regions, disabled, created_at_us, updated_at_us) \
             VALUES ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(id)
        .bind(&f.display_name)
        .bind(join(f.roles.iter().map(|r| r.name())))
        .bind(join(&f.regions))
        .bind(i64::from(f.disabled))
        .bind(now)
        .execute(self.store.pool())
        .await;
        match r {
            Ok(_) => {}
            Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                return Err(DirectoryError::AlreadyExists(id.to_string()))
            }
            Err(e) => return Err(self.err("creating an identity", e)),
        }
        self.forget(id).await;
        self.get(id)
            .await?
            .ok_or_else(|| DirectoryError::NotFound(id.to_string()))
    }

    /// Replaces an identity's name, roles, regions and disabled flag.
    pub async fn update(&self, id: &str, f: &IdentityFields) -> Result<StoredIdentity, DirectoryError> {
        let r = sqlx::query(
            "UPDATE identities SET display_name = $2, roles = $3, regions = $4, disabled = $5, updated_at_us = $6 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(&f.display_name)
        .bind(join(f.roles.iter().map(|r| r.name())))
        .bind(join(&f.regions))
        .bind(i64::from(f.disabled))
        .bind(now_us())
        .execute(self.store.pool())
        .await
        .map_err(|e| self.err("updating an identity", e))?;
        self.forget(id).await;
        if r.rows_affected() == 0 {
            return Err(DirectoryError::NotFound(id.to_string()));
        }
        self.get(id)
            .await?
            .ok_or_else(|| DirectoryError::NotFound(id.to_string()))
    }

    /// Sets (inserts or replaces) the operator ID of `id` in `system` for `city` (`""`: every city).
    pub async fn set_operator_id(
        &self,
        id: &str,
        system: &str,
        city: &str,
        operator_id: &str,
    ) -> Result<StoredIdentity, DirectoryError> {
        if self.get(id).await?.is_none() {
            return Err(DirectoryError::NotFound(id.to_string()));
        }
        sqlx::query(
            "INSERT INTO operator_ids (identity_id, system, city, operator_id, updated_at_us) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (identity_id, system, city) DO UPDATE SET operator_id = excluded.operator_id, \
             updated_at_us = excluded.updated_at_us",
        )
        .bind(id)
        .bind(system)
        .bind(city)
        .bind(operator_id)
        .bind(now_us())
        .execute(self.store.pool())
        .await
        .map_err(|e| self.err("setting an operator ID", e))?;
        self.forget(id).await;
        self.get(id)
            .await?
            .ok_or_else(|| DirectoryError::NotFound(id.to_string()))
    }

    /// Removes one operator ID; false when there was none.
    pub async fn delete_operator_id(&self, id: &str, system: &str, city: &str) -> Result<bool, DirectoryError> {
        let r = sqlx::query("DELETE FROM operator_ids WHERE identity_id = $1 AND system = $2 AND city = $3")
            .bind(id)
            .bind(system)
            .bind(city)
            .execute(self.store.pool())
            .await
            .map_err(|e| self.err("deleting an operator ID", e))?;
        self.forget(id).await;
        Ok(r.rows_affected() > 0)
    }
}
