//! Helpers for tests and benchmarks: seed demo backends, build a config, run a real server on
//! `127.0.0.1:0`. Not used by the server itself.
use crate::adapters::registry::Registry;
use crate::api::{self, Gateway};
use crate::config::{Config, SourceConfig};
use crate::seed::{self, load};
use crate::view::ViewReader;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// The fixed as-of date of test data, so assertions on dates are stable.
pub fn as_of() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2026, 11, 28).expect("valid")
}

/// The repository's `adapters/` folder.
pub fn adapters_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("adapters")
}

/// Seeds `subscribers` into each (system, url) pair.
pub async fn seed(targets: &[(load::System, String)], subscribers: u64) -> anyhow::Result<()> {
    let mut ts = Vec::new();
    for (s, u) in targets {
        ts.push(load::Target::connect(*s, u).await?);
    }
    let opts = seed::SeedOptions::new(subscribers, as_of());
    let r = load::seed(&ts, &opts, true, &AtomicBool::new(false), &|_, _, _| {}).await?;
    for t in ts {
        t.close().await;
    }
    anyhow::ensure!(!r.stopped && r.subscribers == subscribers, "seeding stopped early");
    Ok(())
}

/// SQLite URLs for the three demo systems in `dir`.
pub fn sqlite_urls(dir: &Path) -> Vec<(load::System, String)> {
    load::System::ALL
        .iter()
        .map(|s| {
            (
                *s,
                format!("sqlite://{}", dir.join(format!("{}.db", s.name())).display()),
            )
        })
        .collect()
}

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
    }
}

/// A config over the demo adapters at the given URLs.
pub fn config(urls: &[(load::System, String)]) -> Config {
    let mut cfg = Config::parse("").expect("empty config parses");
    cfg.server.listen = "127.0.0.1:0".parse().expect("valid");
    for (s, u) in urls {
        cfg.sources.push(source(adapters_dir().join(s.name()), u, 2_000));
    }
    cfg
}

/// A server running on an ephemeral port; stops when dropped.
pub struct RunningServer {
    pub addr: SocketAddr,
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
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let gateway = Arc::new(Gateway {
        reader: ViewReader::new(registry),
        config: cfg,
    });
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let gw = gateway.clone();
    let handle = tokio::spawn(async move {
        api::serve(gw, listener, async {
            let _ = rx.await;
        })
        .await
    });
    Ok(RunningServer {
        addr,
        gateway,
        stop: Some(tx),
        handle: Some(handle),
    })
}

/// A PostgreSQL or MariaDB test database, created fresh and dropped afterwards (best effort).
pub struct TestDatabase {
    pub url: String,
    admin_url: String,
    name: String,
}

impl TestDatabase {
    /// Creates database `cgw_<tag>_<pid>_<n>` on the server of `admin_url` (e.g. `postgres://postgres@127.0.0.1:5432/postgres`).
    pub async fn create(admin_url: &str, tag: &str) -> anyhow::Result<TestDatabase> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!("cgw_{tag}_{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        let mut url = url::Url::parse(admin_url)?;
        match crate::adapters::sqltext::Driver::from_url(admin_url) {
            Some(crate::adapters::sqltext::Driver::Postgres) => {
                let pool = sqlx::PgPool::connect(admin_url).await?;
                sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name}")))
                    .execute(&pool)
                    .await?;
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&pool)
                    .await?;
                pool.close().await;
            }
            Some(crate::adapters::sqltext::Driver::MySql) => {
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

/// Wraps a request message for a test call, with the default test caller's credentials (if the server
/// requires any). Tests that check authentication build their requests by hand instead.
pub fn req<T>(message: T) -> tonic::Request<T> {
    tonic::Request::new(message)
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
