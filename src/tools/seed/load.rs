//! Loading the demo data into SQLite, PostgreSQL or MariaDB: schema from `migrations/backends/`, rows from
//! the generator, inserted in multi-row statements with bound values, committed per chunk of subscribers.
//! Progress is reported as it goes and a stop request ends the run between chunks.
use super::{reference_rows, subscriber_rows, Batch, SeedOptions, SeedValue, TableRows};
use crate::adapters::sql::text::Driver;
use crate::secrets::redact_url;
use anyhow::{bail, Context};
use sqlx::AssertSqlSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// One of the three demo systems.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum System {
    Billing,
    Crm,
    Resource,
}

impl System {
    pub const ALL: [System; 3] = [System::Billing, System::Crm, System::Resource];

    pub fn name(self) -> &'static str {
        match self {
            System::Billing => "billing",
            System::Crm => "crm",
            System::Resource => "resource",
        }
    }

    /// The schema, embedded so a binary seeds without the source tree.
    pub fn schema(self) -> &'static str {
        match self {
            System::Billing => include_str!("../../../migrations/backends/billing.sql"),
            System::Crm => include_str!("../../../migrations/backends/crm.sql"),
            System::Resource => include_str!("../../../migrations/backends/resource.sql"),
        }
    }

    fn rows(self, b: &Batch) -> &[TableRows] {
        match self {
            System::Billing => &b.billing,
            System::Crm => &b.crm,
            System::Resource => &b.resource,
        }
    }
}

/// The schema's statements for one engine.
pub fn schema_statements(system: System, driver: Driver) -> Vec<String> {
    let (ts, boolean) = match driver {
        Driver::Postgres => ("TIMESTAMP", "BOOLEAN"),
        Driver::MySql => ("DATETIME", "BOOLEAN"),
        Driver::Sqlite => ("TEXT", "INTEGER"),
    };
    let text: String = system
        .schema()
        .lines()
        .map(|l| l.split("--").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("$TS", ts)
        .replace("$BOOL", boolean);
    text.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// Table names a schema creates, for `--reset`.
pub fn schema_tables(system: System) -> Vec<String> {
    schema_statements(system, Driver::Sqlite)
        .iter()
        .filter_map(|s| {
            s.strip_prefix("CREATE TABLE ")
                .map(|r| r.split_whitespace().next().unwrap_or("").to_string())
        })
        .collect()
}

enum Pool {
    Pg(sqlx::PgPool),
    My(sqlx::MySqlPool),
    Lite(sqlx::SqlitePool),
}

/// A connection to one target database.
pub struct Target {
    pub system: System,
    pool: Pool,
    url_redacted: String,
}

impl Target {
    /// Connects (creating a SQLite file if missing).
    pub async fn connect(system: System, url: &str) -> anyhow::Result<Target> {
        let url_redacted = redact_url(url);
        let driver = Driver::from_url(url).with_context(|| format!("{url_redacted}: unsupported scheme"))?;
        let pool = match driver {
            Driver::Postgres => Pool::Pg(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(2)
                    .connect(url)
                    .await
                    .with_context(|| format!("connecting to {url_redacted}"))?,
            ),
            Driver::MySql => Pool::My(
                sqlx::mysql::MySqlPoolOptions::new()
                    .max_connections(2)
                    .connect(url)
                    .await
                    .with_context(|| format!("connecting to {url_redacted}"))?,
            ),
            Driver::Sqlite => {
                let opts: sqlx::sqlite::SqliteConnectOptions = url.parse()?;
                let opts = opts
                    .create_if_missing(true)
                    .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sqlx::sqlite::SqliteSynchronous::Normal);
                Pool::Lite(
                    sqlx::sqlite::SqlitePoolOptions::new()
                        .max_connections(1)
                        .connect_with(opts)
                        .await
                        .with_context(|| format!("opening {url_redacted}"))?,
                )
            }
        };
        Ok(Target {
            system,
            pool,
            url_redacted,
        })
    }

    fn driver(&self) -> Driver {
        match self.pool {
            Pool::Pg(_) => Driver::Postgres,
            Pool::My(_) => Driver::MySql,
            Pool::Lite(_) => Driver::Sqlite,
        }
    }

    async fn exec(&self, sql: String) -> anyhow::Result<()> {
        let r = match &self.pool {
            Pool::Pg(p) => sqlx::query(AssertSqlSafe(sql.clone())).execute(p).await.map(|_| ()),
            Pool::My(p) => sqlx::query(AssertSqlSafe(sql.clone())).execute(p).await.map(|_| ()),
            Pool::Lite(p) => sqlx::query(AssertSqlSafe(sql.clone())).execute(p).await.map(|_| ()),
        };
        r.with_context(|| format!("{}: {}", self.url_redacted, sql.lines().next().unwrap_or("")))
    }

    /// The seed recorded in this database, if it was seeded to the end: (subscribers, as-of date).
    pub async fn seeded(&self) -> Option<(u64, String)> {
        let sql = "SELECT subscribers, as_of FROM seed_meta WHERE complete = 1";
        let row: Option<(i64, String)> = match &self.pool {
            Pool::Pg(p) => sqlx::query_as(sql).fetch_optional(p).await.ok()?,
            Pool::My(p) => sqlx::query_as(sql).fetch_optional(p).await.ok()?,
            Pool::Lite(p) => sqlx::query_as(sql).fetch_optional(p).await.ok()?,
        };
        row.map(|(n, d)| (n as u64, d))
    }

    /// Drops the demo tables (for `--reset`).
    pub async fn drop_tables(&self) -> anyhow::Result<()> {
        for t in schema_tables(self.system).into_iter().chain(["seed_meta".to_string()]) {
            self.exec(format!("DROP TABLE IF EXISTS {t}")).await?;
        }
        Ok(())
    }

    pub async fn create_schema(&self) -> anyhow::Result<()> {
        for s in schema_statements(self.system, self.driver()) {
            self.exec(s).await?;
        }
        self.exec("CREATE TABLE seed_meta (subscribers BIGINT NOT NULL, seed BIGINT NOT NULL, as_of VARCHAR(10) NOT NULL, complete INTEGER NOT NULL)".into())
            .await
    }

    async fn mark(&self, opts: &SeedOptions, done: u64, complete: bool) -> anyhow::Result<()> {
        let c = i64::from(complete);
        let as_of = opts.as_of.format("%Y-%m-%d").to_string();
        let seed = opts.seed as i64;
        match &self.pool {
            Pool::Pg(p) => {
                sqlx::query("DELETE FROM seed_meta").execute(p).await?;
                sqlx::query("INSERT INTO seed_meta VALUES ($1, $2, $3, $4)")
                    .bind(done as i64)
                    .bind(seed)
                    .bind(as_of)
                    .bind(c as i32)
                    .execute(p)
                    .await?;
            }
            Pool::My(p) => {
                sqlx::query("DELETE FROM seed_meta").execute(p).await?;
                sqlx::query("INSERT INTO seed_meta VALUES (?, ?, ?, ?)")
                    .bind(done as i64)
                    .bind(seed)
                    .bind(as_of)
                    .bind(c)
                    .execute(p)
                    .await?;
            }
            Pool::Lite(p) => {
                sqlx::query("DELETE FROM seed_meta").execute(p).await?;
                sqlx::query("INSERT INTO seed_meta VALUES (?, ?, ?, ?)")
                    .bind(done as i64)
                    .bind(seed)
                    .bind(as_of)
                    .bind(c)
                    .execute(p)
                    .await?;
            }
        }
        Ok(())
    }

    /// Inserts the rows of a batch for this system in one transaction.
    async fn insert(&self, batch: &Batch) -> anyhow::Result<u64> {
        let tables = self.system.rows(batch);
        let mut n = 0;
        macro_rules! run {
            ($pool:expr, $money:expr) => {{
                let mut tx = $pool.begin().await?;
                for t in tables {
                    let per = (60_000 / t.columns.len()).min(400);
                    for chunk in t.rows.chunks(per) {
                        let sql = insert_sql(self.driver(), t.table, t.columns, chunk.len());
                        let mut q = sqlx::query(AssertSqlSafe(sql));
                        for row in chunk {
                            for v in row {
                                q = match v {
                                    SeedValue::Text(s) => q.bind(s.clone()),
                                    SeedValue::Int(i) => q.bind(*i),
                                    SeedValue::Money(f) => q.bind($money(*f)),
                                    SeedValue::Ts(d) => q.bind(*d),
                                    SeedValue::Bool(b) => q.bind(*b),
                                };
                            }
                        }
                        q.execute(&mut *tx)
                            .await
                            .with_context(|| format!("{}: insert into {}", self.url_redacted, t.table))?;
                        n += chunk.len() as u64;
                    }
                }
                tx.commit().await?;
            }};
        }
        match &self.pool {
            Pool::Pg(p) => run!(p, |f: i64| rust_decimal::Decimal::new(f, 2)),
            Pool::My(p) => run!(p, |f: i64| rust_decimal::Decimal::new(f, 2)),
            Pool::Lite(p) => run!(p, |f: i64| f as f64 / 100.0),
        }
        Ok(n)
    }

    pub async fn close(self) {
        match self.pool {
            Pool::Pg(p) => p.close().await,
            Pool::My(p) => p.close().await,
            Pool::Lite(p) => p.close().await,
        }
    }
}

fn insert_sql(driver: Driver, table: &str, columns: &[&str], rows: usize) -> String {
    let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
    let mut n = 0;
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..columns.len() {
            if c > 0 {
                sql.push_str(", ");
            }
            n += 1;
            match driver {
                Driver::Postgres => sql.push_str(&format!("${n}")),
                _ => sql.push('?'),
            }
        }
        sql.push(')');
    }
    sql
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct SeedReport {
    pub subscribers: u64,
    pub rows: u64,
    pub stopped: bool,
    pub seconds: f64,
}

/// Seeds `targets` (each system at most once) with `opts.subscribers` subscribers. `progress` is called
/// after each chunk with (done, total, rows); `stop` ends the run between chunks (committed data stays).
pub async fn seed(
    targets: &[Target],
    opts: &SeedOptions,
    reset: bool,
    stop: &AtomicBool,
    progress: &dyn Fn(u64, u64, u64),
) -> anyhow::Result<SeedReport> {
    let started = Instant::now();
    for t in targets {
        if reset {
            t.drop_tables().await?;
        } else if t.seeded().await.is_some() {
            bail!(
                "{} is already seeded; pass --reset to drop and reload the demo tables",
                t.url_redacted
            );
        }
        t.create_schema().await?;
        t.mark(opts, 0, false).await?;
    }
    let reference = reference_rows(opts);
    let mut rows = 0;
    for t in targets {
        rows += t.insert(&reference).await?;
    }
    const CHUNK: u64 = 500;
    let mut done = 0;
    let mut stopped = false;
    while done < opts.subscribers {
        if stop.load(Ordering::Relaxed) {
            stopped = true;
            break;
        }
        let end = (done + CHUNK).min(opts.subscribers);
        let mut batch = Batch::default();
        for i in done..end {
            subscriber_rows(opts, i, &mut batch);
        }
        let inserted = futures::future::try_join_all(targets.iter().map(|t| t.insert(&batch))).await?;
        rows += inserted.iter().sum::<u64>();
        done = end;
        progress(done, opts.subscribers, rows);
    }
    for t in targets {
        t.mark(opts, done, !stopped).await?;
    }
    Ok(SeedReport {
        subscribers: done,
        rows,
        stopped,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Seeds `subscribers` as of `as_of` into each (system, url) pair, from scratch, without progress output
/// (tests, benchmarks, evaluation harnesses).
pub async fn seed_urls(targets: &[(System, String)], subscribers: u64, as_of: chrono::NaiveDate) -> anyhow::Result<()> {
    let mut ts = Vec::new();
    for (s, u) in targets {
        ts.push(Target::connect(*s, u).await?);
    }
    let opts = super::SeedOptions::new(subscribers, as_of);
    let r = seed(
        &ts,
        &opts,
        true,
        &std::sync::atomic::AtomicBool::new(false),
        &|_, _, _| {},
    )
    .await?;
    for t in ts {
        t.close().await;
    }
    anyhow::ensure!(!r.stopped && r.subscribers == subscribers, "seeding stopped early");
    Ok(())
}

/// SQLite URLs for the three demo systems in `dir` (`billing.db`, `crm.db`, `resource.db`).
pub fn sqlite_urls(dir: &std::path::Path) -> Vec<(System, String)> {
    System::ALL
        .iter()
        .map(|s| {
            (
                *s,
                format!("sqlite://{}", dir.join(format!("{}.db", s.name())).display()),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_translates_per_engine() {
        let pg = schema_statements(System::Crm, Driver::Postgres).join("\n");
        assert!(pg.contains("created_at TIMESTAMP NOT NULL") && !pg.contains("$TS"));
        let my = schema_statements(System::Crm, Driver::MySql).join("\n");
        assert!(my.contains("created_at DATETIME NOT NULL"));
        assert_eq!(
            schema_tables(System::Resource),
            vec!["r_sim", "r_cell", "r_grid_cell", "r_fault", "r_bb_port"]
        );
    }

    #[test]
    fn insert_placeholders_per_driver() {
        assert_eq!(
            insert_sql(Driver::Postgres, "t", &["a", "b"], 2),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)"
        );
        assert_eq!(
            insert_sql(Driver::Sqlite, "t", &["a"], 2),
            "INSERT INTO t (a) VALUES (?), (?)"
        );
    }
}
