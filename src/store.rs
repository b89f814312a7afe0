//! The gateway's own store: identities, operator-ID mappings and the audit trail (and, from other
//! modules, complaint cases and their events). SQLite by default (`sqlite://gateway.db`, created on first start, WAL), PostgreSQL
//! by URL. The schema is `migrations/gateway/*.sql`, embedded at build time and applied at start-up.
//!
//! Queries go through sqlx's `Any` driver with `$1`-style placeholders, which both engines accept, so
//! each query is written once. Every caller value is a bound parameter.
use crate::secrets;
use serde::{Deserialize, Serialize};
use sqlx::AnyPool;
use std::time::Duration;

/// The embedded schema of the gateway's own tables.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/gateway");

/// `[store]`: where the gateway keeps its own data.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite://gateway.db` (a file, created if missing; relative to the config file's folder),
    /// `sqlite::memory:` (tests: gone at exit) or `postgres://user@host/db`. Env `CGW_STORE_URL` wins;
    /// keep passwords there or in `url_env`, not in the file (see `config::load`).
    #[serde(default = "default_url")]
    pub url: String,
    /// Environment variable holding the URL (used when set and `CGW_STORE_URL` is not).
    #[serde(default)]
    pub url_env: Option<String>,
    /// Connection pool size (an in-memory SQLite store always uses one connection).
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// Most audit events written in one transaction by the audit writer.
    #[serde(default = "default_audit_batch")]
    pub audit_batch_max: usize,
    /// Longest an audit batch waits to fill, in microseconds, while calls are arriving (a call alone
    /// never waits): more calls share one commit. 0: commit what is there.
    #[serde(default = "default_audit_batch_wait")]
    pub audit_batch_wait_us: u64,
    /// Apply the schema migrations and the audit trail's guards at start-up. Set false when the gateway
    /// logs in as a role that does not own the tables (the PostgreSQL set-up of `docs/security.md`): the
    /// owner runs `complaint-gateway store migrate`, and the gateway only checks that the schema is
    /// current.
    #[serde(default = "default_migrate")]
    pub migrate: bool,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: default_url(),
            url_env: None,
            max_connections: default_max_connections(),
            audit_batch_max: default_audit_batch(),
            audit_batch_wait_us: default_audit_batch_wait(),
            migrate: default_migrate(),
        }
    }
}

fn default_url() -> String {
    "sqlite://gateway.db".into()
}
fn default_max_connections() -> u32 {
    8
}
fn default_audit_batch() -> usize {
    256
}
/// The default of `[store] audit_batch_wait_us`.
pub const DEFAULT_AUDIT_BATCH_WAIT_US: u64 = 200;
fn default_audit_batch_wait() -> u64 {
    DEFAULT_AUDIT_BATCH_WAIT_US
}
fn default_migrate() -> bool {
    true
}

impl StoreConfig {
    /// Checks the keys of `[store]`; the error names every bad key, one a line.
    pub fn validate(&self) -> Result<(), String> {
        let p = self.problems();
        if p.is_empty() {
            Ok(())
        } else {
            Err(p.join("\n"))
        }
    }

    /// Every bad key of `[store]`.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if StoreKind::of(&self.url).is_none() {
            out.push(format!(
                "key `store.url`: `{}` must start with sqlite: or postgres://",
                secrets::redact_url(&self.url)
            ));
        }
        if self.max_connections == 0 {
            out.push("key `store.max_connections`: must be > 0".into());
        }
        if self.audit_batch_max == 0 {
            out.push("key `store.audit_batch_max`: must be > 0".into());
        }
        if self.audit_batch_wait_us > 100_000 {
            out.push("key `store.audit_batch_wait_us`: at most 100000 (every call under load waits up to it)".into());
        }
        out
    }
}

/// Rows committed with an audit event, in its transaction: a call that produces something of its own (a
/// diagnosis's complaint record) waits for one commit instead of two, and its event is never lost because
/// the rows failed (see `identity::audit`).
pub trait Rider: std::any::Any + Send + Sync + 'static {
    /// What it writes, for logs (`complaint record`).
    fn what(&self) -> &'static str;
    /// Writes the rows on `conn`, inside the event's transaction.
    fn write<'c>(
        &'c self,
        conn: &'c mut sqlx::AnyConnection,
    ) -> futures::future::BoxFuture<'c, Result<(), sqlx::Error>>;
    /// Riders written together: the riders of one audit transaction in the same group are handed to the
    /// group's writer at once (one multi-row INSERT, say, instead of a statement or two each: on a busy
    /// gateway the transaction holds dozens). `None` (the default): written alone with [`Rider::write`].
    fn group(&self) -> Option<RiderGroup> {
        None
    }
}

/// Writes several riders of one group in one go, all of the group's own type (the writer takes them
/// back with `downcast_ref`); an error fails them all (the audit writer then writes each alone).
pub type GroupWrite = for<'c> fn(
    &'c [&'c dyn Rider],
    &'c mut sqlx::AnyConnection,
) -> futures::future::BoxFuture<'c, Result<(), sqlx::Error>>;

/// A group of riders (see [`Rider::group`]).
#[derive(Clone, Copy)]
pub struct RiderGroup {
    pub name: &'static str,
    pub write: GroupWrite,
}

/// Writes the riders of `riders` on `conn`: those without a group one by one in order, then each
/// group at once (a group of one with its rider's own [`Rider::write`]).
pub async fn write_riders<'a>(
    riders: impl Iterator<Item = &'a dyn Rider>,
    conn: &mut sqlx::AnyConnection,
) -> Result<(), sqlx::Error> {
    let mut groups: Vec<(RiderGroup, Vec<&dyn Rider>)> = Vec::new();
    for rider in riders {
        match rider.group() {
            Some(g) => match groups.iter_mut().find(|(h, _)| h.name == g.name) {
                Some((_, members)) => members.push(rider),
                None => groups.push((g, vec![rider])),
            },
            None => rider.write(conn).await?,
        }
    }
    for (g, members) in &groups {
        match members.as_slice() {
            [one] => one.write(conn).await?,
            all => (g.write)(all, conn).await?,
        }
    }
    Ok(())
}

/// How a rider fared once its event is committed: `Err` says why its rows were not written.
pub type RiderResult = Result<(), String>;

/// The engine behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Sqlite,
    Postgres,
}

impl StoreKind {
    /// The engine a URL names.
    pub fn of(url: &str) -> Option<StoreKind> {
        if url.starts_with("sqlite:") {
            Some(StoreKind::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(StoreKind::Postgres)
        } else {
            None
        }
    }
}

/// Why the store could not be used. Messages never carry the URL's password.
#[derive(Debug, Clone, thiserror::Error)]
#[error("gateway store ({url}): {message}")]
pub struct StoreError {
    pub url: String,
    pub message: String,
}

/// A connected, migrated store.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    kind: StoreKind,
    url: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("url", &self.url).finish()
    }
}

impl Store {
    /// Connects to `cfg.url` (environment overrides are already applied by `Config::load`), applies the
    /// migrations and installs the append-only triggers.
    pub async fn open(cfg: &StoreConfig) -> Result<Store, StoreError> {
        Store::connect_with(&cfg.url, cfg.max_connections, cfg.migrate).await
    }

    /// Connects to `url`, applies the migrations and installs the append-only triggers.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Store, StoreError> {
        Store::connect_with(url, max_connections, true).await
    }

    /// Connects to `url`; with `migrate`, applies the migrations and installs the append-only triggers,
    /// else checks that whoever owns the tables has applied every migration this gateway knows.
    pub async fn connect_with(url: &str, max_connections: u32, migrate: bool) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let redacted = secrets::redact_url(url);
        let secret_parts = secrets::secrets_of_url(url);
        let fail = |what: &str, e: &dyn std::fmt::Display| StoreError {
            url: redacted.clone(),
            message: secrets::scrub(&format!("{what}: {e}"), &secret_parts).into_owned(),
        };
        let kind = StoreKind::of(url).ok_or_else(|| StoreError {
            url: redacted.clone(),
            message: "the URL must start with sqlite: or postgres://".into(),
        })?;
        let memory = kind == StoreKind::Sqlite && url.contains(":memory:");
        let mut url = url.to_string();
        if kind == StoreKind::Sqlite && !memory && !url.contains("mode=") {
            url.push_str(if url.contains('?') { "&mode=rwc" } else { "?mode=rwc" });
        }
        let mut opts = crate::db::pool_options::<sqlx::Any>()
            .max_connections(if memory { 1 } else { max_connections.max(1) })
            .acquire_timeout(Duration::from_secs(10));
        if memory {
            // Every connection to `:memory:` is its own database: keep exactly one, forever.
            opts = opts.min_connections(1).idle_timeout(None).max_lifetime(None);
        }
        if kind == StoreKind::Sqlite {
            opts = opts.after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if !memory {
                        // Readers never block the (single) writer and vice versa.
                        sqlx::query("PRAGMA journal_mode = WAL").execute(&mut *conn).await?;
                    }
                    // An audit record is durable when its append is confirmed.
                    sqlx::query("PRAGMA synchronous = FULL").execute(&mut *conn).await?;
                    sqlx::query("PRAGMA busy_timeout = 5000").execute(&mut *conn).await?;
                    sqlx::query("PRAGMA foreign_keys = ON").execute(&mut *conn).await?;
                    Ok(())
                })
            });
        }
        let pool = opts.connect(&url).await.map_err(|e| fail("cannot connect", &e))?;
        if !migrate {
            let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success = TRUE")
                .fetch_all(&pool)
                .await
                .map_err(|e| fail("reading the applied migrations (store.migrate = false)", &e))?;
            let missing: Vec<String> = MIGRATOR
                .iter()
                .filter(|m| !applied.contains(&m.version))
                .map(|m| format!("{} {}", m.version, m.description))
                .collect();
            if !missing.is_empty() {
                return Err(fail(
                    "the schema is not current (store.migrate = false)",
                    &format!(
                        "migrations not applied: {}; run `complaint-gateway store migrate` as the tables' owner",
                        missing.join(", ")
                    ),
                ));
            }
            return Ok(Store {
                pool,
                kind,
                url: redacted,
            });
        }
        MIGRATOR.run(&pool).await.map_err(|e| fail("migrations failed", &e))?;
        let triggers = match kind {
            StoreKind::Sqlite => SQLITE_APPEND_ONLY,
            StoreKind::Postgres => POSTGRES_APPEND_ONLY,
        };
        sqlx::raw_sql(triggers)
            .execute(&pool)
            .await
            .map_err(|e| fail("installing the append-only triggers", &e))?;
        Ok(Store {
            pool,
            kind,
            url: redacted,
        })
    }

    /// The connection pool (queries use `$1`-style placeholders).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The engine.
    pub fn kind(&self) -> StoreKind {
        self.kind
    }

    /// The URL with its password redacted, for logs.
    pub fn redacted_url(&self) -> &str {
        &self.url
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A store error for `e`, with the URL redacted.
    pub fn error(&self, what: &str, e: &dyn std::fmt::Display) -> StoreError {
        StoreError {
            url: self.url.clone(),
            message: format!("{what}: {e}"),
        }
    }
}

/// Rejects UPDATE and DELETE on the audit trail (SQLite), and an INSERT that would replace a row
/// (`INSERT OR REPLACE`, `REPLACE INTO`: SQLite deletes the old row without firing delete triggers).
const SQLITE_APPEND_ONLY: &str = "
CREATE TRIGGER IF NOT EXISTS audit_events_no_replace BEFORE INSERT ON audit_events
WHEN EXISTS (SELECT 1 FROM audit_events WHERE event_id = NEW.event_id OR seq = NEW.seq)
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
CREATE TRIGGER IF NOT EXISTS complaint_events_no_update BEFORE UPDATE ON complaint_events
BEGIN SELECT RAISE(ABORT, 'complaint_events is append-only'); END;
CREATE TRIGGER IF NOT EXISTS complaint_events_no_delete BEFORE DELETE ON complaint_events
BEGIN SELECT RAISE(ABORT, 'complaint_events is append-only'); END;
";

/// Rejects UPDATE, DELETE and TRUNCATE on the audit trail (PostgreSQL).
const POSTGRES_APPEND_ONLY: &str = "
CREATE OR REPLACE FUNCTION cgw_audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END
$fn$;
DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION cgw_audit_events_append_only();
DROP TRIGGER IF EXISTS audit_events_no_truncate ON audit_events;
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION cgw_audit_events_append_only();
CREATE OR REPLACE FUNCTION cgw_complaint_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    RAISE EXCEPTION 'complaint_events is append-only';
END
$fn$;
DROP TRIGGER IF EXISTS complaint_events_append_only ON complaint_events;
CREATE TRIGGER complaint_events_append_only BEFORE UPDATE OR DELETE ON complaint_events
    FOR EACH ROW EXECUTE FUNCTION cgw_complaint_events_append_only();
DROP TRIGGER IF EXISTS complaint_events_no_truncate ON complaint_events;
CREATE TRIGGER complaint_events_no_truncate BEFORE TRUNCATE ON complaint_events
    FOR EACH STATEMENT EXECUTE FUNCTION cgw_complaint_events_append_only();
";

/// How values are marked in SQL text built for many rows. PostgreSQL numbers them (`$1, $2, …`); SQLite
/// gets anonymous `?`, bound in order: for a numbered mark sqlx asks SQLite for the parameter's name,
/// which scans the statement's parameter list, so binding a multi-row `INSERT` with numbered marks is
/// quadratic in its values (a 64-event audit `INSERT` binds 1,024), inside the audit writer's commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marks {
    /// `$1, $2, …` (PostgreSQL).
    Numbered,
    /// `?, ?, …`, bound in the order they appear (SQLite).
    InOrder,
}

impl Marks {
    /// The marks for the connection's engine.
    pub fn of(conn: &sqlx::AnyConnection) -> Marks {
        if conn.backend_name().eq_ignore_ascii_case("sqlite") {
            Marks::InOrder
        } else {
            Marks::Numbered
        }
    }

    /// The mark of the `n`th value bound (from 1); values must be bound in the order of their marks.
    pub fn mark(self, n: usize) -> String {
        match self {
            Marks::Numbered => format!("${n}"),
            Marks::InOrder => "?".to_string(),
        }
    }

    /// `count` marks from the `first`th, comma-separated.
    pub fn list(self, first: usize, count: usize) -> String {
        (first..first + count)
            .map(|n| self.mark(n))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Microseconds since the Unix epoch, now.
pub fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_url_is_named_without_password() {
        let cfg = StoreConfig {
            url: "mysql://u:pw123@h/db".into(),
            ..Default::default()
        };
        let e = cfg.validate().unwrap_err();
        assert!(e.contains("store.url") && !e.contains("pw123"), "{e}");
    }
}
