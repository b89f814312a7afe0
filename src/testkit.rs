//! Helpers for tests and benchmarks: seed demo backends, build a config, run a real server on
//! `127.0.0.1:0`. Not used by the server itself.
use crate::adapters::registry::Registry;
use crate::config::{Config, SourceConfig};
use crate::server::{self, Gateway};
use crate::tools::seed::{self, load};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The fixed as-of date of test data, so assertions on dates are stable.
pub fn as_of() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2026, 11, 28).expect("valid")
}

/// The repository's `adapters/` folder (the binary itself never reads it: its shipped files are
/// embedded, see `crate::assets`).
pub fn adapters_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("adapters")
}

/// Seeds `subscribers` into each (system, url) pair, as of [`as_of`].
pub async fn seed(targets: &[(load::System, String)], subscribers: u64) -> anyhow::Result<()> {
    load::seed_urls(targets, subscribers, as_of()).await
}

pub use load::sqlite_urls;

/// A source entry for an adapter folder and URL.
pub fn source(definition: PathBuf, url: &str, timeout_ms: u64) -> SourceConfig {
    SourceConfig {
        definition,
        url: Some(url.to_string()),
        url_env: None,
        timeout_ms,
        max_connections: 4,
        connect_timeout_ms: 1_000,
        enabled: true,
        stack: Default::default(),
    }
}

/// A config over the demo adapters at the given URLs.
pub fn config(urls: &[(load::System, String)]) -> Config {
    let mut cfg = Config::parse("").expect("empty config parses");
    cfg.server.listen = "127.0.0.1:0".parse().expect("valid");
    for (s, u) in urls {
        cfg.sources.push(source(adapters_dir().join(s.name()), u, 2_000));
    }
    with_test_identity(&mut cfg);
    cfg
}

/// The environment variable (seen only by test servers, not the process) holding the test signing key.
pub const TEST_SECRET_ENV: &str = "CGW_TEST_JWT_SECRET";
/// The key id of the test signing key.
pub const TEST_KID: &str = "test";
const TEST_SECRET: &str = "complaint-gateway-test-signing-key-not-for-production";

/// Adds the test signing key to `[auth]` and, unless the test chose a store, an in-memory store (tests
/// never write `gateway.db` into the working directory).
pub fn with_test_identity(cfg: &mut Config) {
    // Tests sign tokens for subjects they never register.
    cfg.auth.require_registered = false;
    if !cfg.auth.jwt_keys.iter().any(|k| k.kid.as_deref() == Some(TEST_KID)) {
        cfg.auth.jwt_keys.push(crate::identity::config::JwtKeyConfig {
            kid: Some(TEST_KID.into()),
            algorithm: "HS256".into(),
            secret_env: Some(TEST_SECRET_ENV.into()),
            secret_file: None,
            public_key_file: None,
            public_key_env: None,
            private_key_file: None,
        });
    }
    if cfg.store.url == crate::store::StoreConfig::default().url {
        cfg.store.url = "sqlite::memory:".into();
    }
}

/// The environment a test server sees: the process environment plus the test signing key.
pub fn test_env(k: &str) -> Option<String> {
    if k == TEST_SECRET_ENV {
        return Some(TEST_SECRET.into());
    }
    std::env::var(k).ok()
}

/// Signs tokens with the test key (for the default issuer and audience).
pub fn test_issuer() -> crate::identity::auth::TokenIssuer {
    crate::identity::auth::TokenIssuer::hs256(
        "complaint-gateway",
        "complaint-gateway",
        Some(TEST_KID),
        TEST_SECRET.as_bytes(),
    )
    .expect("the test secret is long enough")
}

/// A test token for `subject` with `roles` in `regions`, valid for an hour.
pub fn token(subject: &str, roles: &[crate::identity::Role], regions: &[&str]) -> String {
    let regions: Vec<String> = regions.iter().map(|r| r.to_string()).collect();
    test_issuer()
        .issue(subject, roles, &regions, 3600)
        .expect("signing with the test key")
}

/// A token holding every role and every demo city: sees everything unmasked, may administer and audit.
pub fn admin_token() -> String {
    static T: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    T.get_or_init(|| {
        let cities: Vec<&str> = seed::CITIES.iter().map(|(c, _, _)| *c).collect();
        token("test-admin", &crate::identity::Role::ALL, &cities)
    })
    .clone()
}

/// `message` with `authorization: Bearer <token>`.
pub fn with_token<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    r.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("a token is ASCII"),
    );
    r
}

/// A server running on an ephemeral port; stops when dropped.
pub struct RunningServer {
    pub addr: SocketAddr,
    /// The metrics endpoint, when the config asked for one.
    pub metrics_addr: Option<SocketAddr>,
    /// The web console, when the config asked for one (`[console] listen`; port 0 is fine).
    pub console_addr: Option<SocketAddr>,
    pub gateway: Arc<Gateway>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl RunningServer {
    /// `http://127.0.0.1:PORT`, for tonic clients.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(h) = self.handle.take() {
            let _ = h.await;
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// Starts a server for `cfg` on `127.0.0.1:0`.
pub async fn spawn(cfg: Config) -> anyhow::Result<RunningServer> {
    let registry = Registry::from_config(&cfg, &|k| std::env::var(k).ok()).map_err(anyhow::Error::msg)?;
    spawn_with(cfg, registry).await
}

/// Starts a server for `cfg` over an already built `registry` (tests that wrap or add adapters). With
/// `cfg.admin.metrics_listen` set (port 0 is fine) the metrics endpoint runs too: see `metrics_addr`.
pub async fn spawn_with(mut cfg: Config, registry: Registry) -> anyhow::Result<RunningServer> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    if cfg.auth.jwt_keys.is_empty() && cfg.auth.api_keys.is_empty() && cfg.auth.client_certs.is_empty() {
        with_test_identity(&mut cfg);
    }
    if cfg.store.url == crate::store::StoreConfig::default().url {
        cfg.store.url = "sqlite::memory:".into();
    }
    let gateway = Arc::new(Gateway::open(cfg, registry, &test_env).await?);
    let metrics_addr = match gateway.config.admin.metrics_listen {
        Some(m) => Some(crate::metrics::start(m, gateway.reader.clone()).await?.0),
        None => None,
    };
    let console = match gateway.config.console.listen {
        Some(c) => Some(tokio::net::TcpListener::bind(c).await?),
        None => None,
    };
    let console_addr = match &console {
        Some(l) => Some(l.local_addr()?),
        None => None,
    };
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let gw = gateway.clone();
    let handle = tokio::spawn(async move {
        server::serve_all(gw, listener, console, async {
            let _ = rx.await;
        })
        .await
    });
    Ok(RunningServer {
        addr,
        metrics_addr,
        console_addr,
        gateway,
        stop: Some(tx),
        handle: Some(handle),
    })
}

/// Counts the fetches that reach an adapter (each fetch runs the source's queries once) and forwards
/// everything else, so the wrapped source keeps its freshness, operator keying, invalidations and pool.
pub struct Counting {
    pub inner: Arc<dyn crate::adapters::Adapter>,
    pub calls: Arc<std::sync::atomic::AtomicUsize>,
}

impl crate::adapters::Adapter for Counting {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn entities(&self) -> Vec<String> {
        self.inner.entities()
    }
    fn fills(&self, entity: &str) -> bool {
        self.inner.fills(entity)
    }
    fn provides(&self) -> Vec<String> {
        self.inner.provides()
    }
    fn fetch(
        &self,
        req: crate::adapters::FetchRequest,
    ) -> futures::future::BoxFuture<'static, Result<crate::adapters::SourceData, crate::adapters::AdapterError>> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.fetch(req)
    }
    fn stream_usage(&self, q: crate::adapters::UsageQuery) -> Option<crate::adapters::UsageStream> {
        self.inner.stream_usage(q)
    }
    fn has_usage_stream(&self) -> bool {
        self.inner.has_usage_stream()
    }
    fn freshness(&self) -> Vec<(String, std::time::Duration)> {
        self.inner.freshness()
    }
    fn depends_on_operator(&self) -> bool {
        self.inner.depends_on_operator()
    }
    fn invalidations(&self) -> Option<crate::adapters::InvalidationStream> {
        self.inner.invalidations()
    }
    fn pool_usage(&self) -> Option<crate::adapters::PoolUsage> {
        self.inner.pool_usage()
    }
}

/// Wraps every source of `registry` in a [`Counting`] adapter; the counters by source name.
pub fn count_fetches(
    registry: &mut Registry,
) -> std::collections::BTreeMap<String, Arc<std::sync::atomic::AtomicUsize>> {
    let mut counts = std::collections::BTreeMap::new();
    for s in &mut registry.sources {
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        counts.insert(s.adapter.name().to_string(), calls.clone());
        s.adapter = Arc::new(Counting {
            inner: s.adapter.clone(),
            calls,
        });
    }
    counts
}

/// A PostgreSQL or MariaDB test database, created fresh and dropped afterwards (best effort).
pub struct TestDatabase {
    pub url: String,
    admin_url: String,
    name: String,
}

impl TestDatabase {
    /// The database's name (`cgw_<tag>_<pid>_<n>`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Creates database `cgw_<tag>_<pid>_<n>` on the server of `admin_url` (e.g. `postgres://postgres@127.0.0.1:5432/postgres`).
    pub async fn create(admin_url: &str, tag: &str) -> anyhow::Result<TestDatabase> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!("cgw_{tag}_{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        let mut url = url::Url::parse(admin_url)?;
        match crate::adapters::sql::text::Driver::from_url(admin_url) {
            Some(crate::adapters::sql::text::Driver::Postgres) => {
                let pool = sqlx::PgPool::connect(admin_url).await?;
                sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name}")))
                    .execute(&pool)
                    .await?;
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&pool)
                    .await?;
                pool.close().await;
            }
            Some(crate::adapters::sql::text::Driver::MySql) => {
                let pool = sqlx::MySqlPool::connect(admin_url).await?;
                sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name}")))
                    .execute(&pool)
                    .await?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "CREATE DATABASE {name} CHARACTER SET utf8mb4"
                )))
                .execute(&pool)
                .await?;
                pool.close().await;
            }
            _ => anyhow::bail!("TestDatabase supports postgres:// and mysql:// URLs"),
        }
        url.set_path(&format!("/{name}"));
        Ok(TestDatabase {
            url: url.to_string(),
            admin_url: admin_url.to_string(),
            name,
        })
    }

    /// PostgreSQL: sessions opened on this database from now on run without the JIT. A test whose query
    /// streams a huge generated series has a planned cost far above `jit_above_cost`, and LLVM compiles it
    /// before the first row: ~0.25 s on an idle 2-core machine, seconds under CI load, which a test
    /// bounding the first record's time would measure instead of the stream.
    pub async fn without_jit(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.url.starts_with("postgres"),
            "without_jit is for PostgreSQL test databases"
        );
        let pool = sqlx::PgPool::connect(&self.url).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "ALTER DATABASE {} SET jit = off",
            self.name
        )))
        .execute(&pool)
        .await?;
        pool.close().await;
        Ok(())
    }

    /// Drops the database.
    pub async fn drop_db(self) {
        let sql = format!("DROP DATABASE IF EXISTS {}", self.name);
        if self.admin_url.starts_with("postgres") {
            if let Ok(pool) = sqlx::PgPool::connect(&self.admin_url).await {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!("{sql} WITH (FORCE)")))
                    .execute(&pool)
                    .await;
            }
        } else if let Ok(pool) = sqlx::MySqlPool::connect(&self.admin_url).await {
            let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&pool).await;
        }
    }
}

/// The URL of a server a test needs, from the environment. In CI (`CGW_REQUIRE_DBS=1`) a missing variable
/// fails the test; elsewhere the test is skipped with a note.
pub fn db_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            if std::env::var("CGW_REQUIRE_DBS").as_deref() == Ok("1") {
                panic!("{var} is not set but CGW_REQUIRE_DBS=1: this test is mandatory here");
            }
            eprintln!("skipping: set {var} to run this test");
            None
        }
    }
}

/// Wraps a request message for a test call, with the default test caller's credentials: the
/// [`admin_token`] (every role, every city, unmasked). Tests that check authentication build their
/// requests by hand instead ([`with_token`], [`token`]).
pub fn req<T>(message: T) -> tonic::Request<T> {
    with_token(message, &admin_token())
}

/// A client of `ComplaintDataService` connected to `server`.
pub async fn data_client(
    server: &RunningServer,
) -> anyhow::Result<
    crate::proto::complaint::v1::complaint_data_service_client::ComplaintDataServiceClient<tonic::transport::Channel>,
> {
    Ok(
        crate::proto::complaint::v1::complaint_data_service_client::ComplaintDataServiceClient::connect(server.url())
            .await?,
    )
}

/// The `p` quantile (0..=1, nearest rank) of latencies recorded in microseconds and sorted ascending,
/// in milliseconds; 0 for no samples. The benchmarks share it so their figures mean the same thing.
pub fn percentile_ms(sorted_us: &[u32], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let i = ((sorted_us.len() as f64 - 1.0) * p.clamp(0.0, 1.0)).round() as usize;
    f64::from(sorted_us[i]) / 1000.0
}
