//! The generic SQL adapter: one [`Definition`] over one sqlx pool, whose driver the URL chooses.
pub mod column_type;
pub mod decode;
pub mod definition;
pub mod mapping;
pub mod notify;
pub mod text;

use self::decode::DbRow;
use self::definition::{CompiledEntity, CompiledStream, Definition, Target};
use self::mapping::MapReport;
use self::text::Driver;
use super::{Adapter, AdapterError, FetchRequest, SourceData, UsageQuery, UsageStream};
use crate::db::pool_options;
use crate::proto::complaint::v1::{SubscriberView, UsageRecord};
use crate::secrets;
use chrono::NaiveDateTime;
use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use prost::Message;
use prost_reflect::DynamicMessage;
use sqlx::AssertSqlSafe;
use std::sync::Arc;
use std::time::Duration;

/// A connection pool for one of the supported engines.
#[derive(Clone, Debug)]
pub enum Pool {
    Postgres(sqlx::PgPool),
    MySql(sqlx::MySqlPool),
    Sqlite(sqlx::SqlitePool),
}

/// Pool settings from the gateway config.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max_connections: u32,
    pub connect_timeout: Duration,
}

impl Pool {
    /// A lazily connecting pool: an unreachable backend does not stop the gateway from starting, it shows
    /// up as UNAVAILABLE in `SourceStatus`.
    pub fn connect_lazy(url: &str, settings: &PoolSettings) -> Result<Pool, String> {
        let redacted = secrets::redact_url(url);
        let driver = Driver::from_url(url)
            .ok_or_else(|| format!("`{redacted}`: unsupported scheme (use postgres://, mysql:// or sqlite://)"))?;
        let bad = |e: sqlx::Error| {
            format!(
                "`{redacted}`: {}",
                secrets::scrub(&e.to_string(), &secrets::secrets_of_url(url))
            )
        };
        Ok(match driver {
            Driver::Postgres => {
                let opts: sqlx::postgres::PgConnectOptions = url.parse().map_err(bad)?;
                Pool::Postgres(
                    pool_options::<sqlx::Postgres>()
                        .max_connections(settings.max_connections)
                        .acquire_timeout(settings.connect_timeout)
                        .connect_lazy_with(opts),
                )
            }
            Driver::MySql => {
                let opts: sqlx::mysql::MySqlConnectOptions = url.parse().map_err(bad)?;
                Pool::MySql(
                    pool_options::<sqlx::MySql>()
                        .max_connections(settings.max_connections)
                        .acquire_timeout(settings.connect_timeout)
                        .connect_lazy_with(opts),
                )
            }
            Driver::Sqlite => {
                let opts: sqlx::sqlite::SqliteConnectOptions = url.parse().map_err(bad)?;
                // Read-only: the gateway never writes to a backend.
                let opts = opts.read_only(true);
                Pool::Sqlite(
                    pool_options::<sqlx::Sqlite>()
                        .max_connections(settings.max_connections)
                        .acquire_timeout(settings.connect_timeout)
                        .connect_lazy_with(opts),
                )
            }
        })
    }

    pub fn driver(&self) -> Driver {
        match self {
            Pool::Postgres(_) => Driver::Postgres,
            Pool::MySql(_) => Driver::MySql,
            Pool::Sqlite(_) => Driver::Sqlite,
        }
    }

    /// Runs a statement with bound values and decodes every row.
    pub async fn fetch_all(&self, sql: &Arc<str>, binds: &[Bind]) -> Result<Vec<DbRow>, sqlx::Error> {
        macro_rules! run {
            ($pool:expr, $decode:path) => {{
                let mut q = sqlx::query(AssertSqlSafe(sql.clone()));
                for b in binds {
                    q = match b {
                        Bind::Text(t) => q.bind(t.clone()),
                        Bind::DateTime(t) => q.bind(*t),
                    };
                }
                let rows = q.fetch_all($pool).await?;
                rows.iter().map($decode).collect()
            }};
        }
        match self {
            Pool::Postgres(p) => run!(p, decode::from_pg),
            Pool::MySql(p) => run!(p, decode::from_mysql),
            Pool::Sqlite(p) => run!(p, decode::from_sqlite),
        }
    }

    /// Streams rows, mapped by `map`, into `tx` until the statement ends or the receiver is dropped
    /// (the client went away), which stops reading and cancels the statement.
    async fn stream_into<T: Send>(
        &self,
        sql: Arc<str>,
        binds: Vec<Bind>,
        map: impl Fn(DbRow) -> Option<T> + Send,
        tx: &tokio::sync::mpsc::Sender<Result<T, AdapterError>>,
    ) -> Result<(), sqlx::Error> {
        macro_rules! run {
            ($pool:expr, $decode:path) => {{
                let mut q = sqlx::query(AssertSqlSafe(sql));
                for b in binds {
                    q = match b {
                        Bind::Text(t) => q.bind(t),
                        Bind::DateTime(t) => q.bind(t),
                    };
                }
                // A connection of its own, so an abandoned stream can be cut off at the socket. The
                // receiver going away (the client left, or the gateway's time-out dropped the stream)
                // stops the work wherever it waits: for a connection, for the backend, or to send.
                let mut conn = tokio::select! {
                    c = $pool.acquire() => c?,
                    _ = tx.closed() => return Ok(()),
                };
                let outcome: Result<bool, sqlx::Error> = {
                    let work = async {
                        let mut rows = q.fetch(&mut *conn);
                        while let Some(row) = rows.try_next().await? {
                            if let Some(item) = map($decode(&row)?) {
                                if tx.send(Ok(item)).await.is_err() {
                                    return Ok(true);
                                }
                            }
                        }
                        Ok(false)
                    };
                    tokio::select! {
                        r = work => r,
                        _ = tx.closed() => Ok(true),
                    }
                };
                match outcome {
                    Ok(false) => Ok(()),
                    // Abandoned mid-statement, or failed: closing the connection ends the statement at
                    // the backend instead of draining its rows, and never hands a connection in an
                    // unknown state (or stuck on a silent backend) back to the pool.
                    Ok(true) => {
                        conn.close_on_drop();
                        Ok(())
                    }
                    Err(e) => {
                        conn.close_on_drop();
                        Err(e)
                    }
                }
            }};
        }
        match self {
            Pool::Postgres(p) => run!(p, decode::from_pg),
            Pool::MySql(p) => run!(p, decode::from_mysql),
            Pool::Sqlite(p) => run!(p, decode::from_sqlite),
        }
    }

    /// Pool size and idle connections, for metrics.
    pub fn usage(&self) -> (u32, usize) {
        match self {
            Pool::Postgres(p) => (p.size(), p.num_idle()),
            Pool::MySql(p) => (p.size(), p.num_idle()),
            Pool::Sqlite(p) => (p.size(), p.num_idle()),
        }
    }
}

/// A value bound to a statement parameter.
#[derive(Debug, Clone)]
pub enum Bind {
    Text(Option<String>),
    DateTime(NaiveDateTime),
}

struct Prepared {
    sql: Arc<str>,
    binds: Vec<String>,
}

/// An adapter built from a declarative definition.
pub struct SqlAdapter {
    def: Arc<Definition>,
    pool: Pool,
    entities: Arc<Vec<(CompiledEntity, Prepared)>>,
    stream: Option<Arc<(CompiledStream, Prepared)>>,
    secrets: Arc<Vec<String>>,
    max_connections: u32,
}

impl SqlAdapter {
    pub fn new(def: Definition, url: &str, settings: &PoolSettings) -> Result<SqlAdapter, String> {
        let pool = Pool::connect_lazy(url, settings)?;
        let driver = pool.driver();
        let prep = |t: &self::text::SqlTemplate| {
            let (sql, binds) = t.render(driver);
            Prepared {
                sql: Arc::from(sql),
                binds,
            }
        };
        let entities = def.entities.iter().map(|e| (e.clone(), prep(&e.sql))).collect();
        let stream = def
            .streams
            .iter()
            .find(|s| s.name == "usage_records")
            .map(|s| Arc::new((s.clone(), prep(&s.sql))));
        Ok(SqlAdapter {
            def: Arc::new(def),
            pool,
            entities: Arc::new(entities),
            stream,
            secrets: Arc::new(secrets::secrets_of_url(url)),
            max_connections: settings.max_connections,
        })
    }

    pub fn definition(&self) -> &Definition {
        &self.def
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }
}

fn map_sqlx(e: sqlx::Error, entity: &str, secrets: &[String]) -> AdapterError {
    let msg = secrets::scrub(&e.to_string(), secrets).into_owned();
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => AdapterError::Unavailable(msg),
        sqlx::Error::Database(ref d)
            if d.code().is_some_and(|c| {
                c.starts_with("08") || c.starts_with("28") || c == "1045" || c == "57P01" || c == "57P03"
            }) =>
        {
            AdapterError::Unavailable(msg)
        }
        _ => AdapterError::Query {
            entity: entity.to_string(),
            message: msg,
        },
    }
}

/// The view fields a definition fills, one per mapped column (`vas_subscriptions.service_code`,
/// `recent_bills.items.amount_fen`): what [`Adapter::provides`] says for a SQL adapter.
pub fn provided_fields(def: &Definition) -> Vec<String> {
    let mut out = Vec::new();
    for e in &def.entities {
        match &e.target {
            Target::Extensions => out.push("extensions".to_string()),
            Target::Field { .. } if e.fields.is_empty() => out.push(e.target_text.clone()),
            Target::Field { .. } => out.extend(
                e.fields
                    .iter()
                    .map(|f| format!("{}.{}", e.target_text, f.path.text.replace("[]", ""))),
            ),
        }
    }
    out
}

fn binds_for(names: &[String], msisdn: &str, operator_id: &Option<String>) -> Vec<Bind> {
    names
        .iter()
        .map(|n| match n.as_str() {
            "msisdn" => Bind::Text(Some(msisdn.to_string())),
            "operator_id" => Bind::Text(operator_id.clone()),
            other => unreachable!("parameter `{other}` was rejected at load"),
        })
        .collect()
}

impl Adapter for SqlAdapter {
    fn name(&self) -> &str {
        &self.def.name
    }

    fn entities(&self) -> Vec<String> {
        self.def.entities.iter().map(|e| e.target_text.clone()).collect()
    }

    fn fills(&self, entity: &str) -> bool {
        self.def.entities.iter().any(|e| e.target_text == entity)
    }

    fn provides(&self) -> Vec<String> {
        provided_fields(&self.def)
    }

    fn has_usage_stream(&self) -> bool {
        self.stream.is_some()
    }

    fn freshness(&self) -> Vec<(String, Duration)> {
        self.def
            .entities
            .iter()
            .filter_map(|e| e.ttl_secs.map(|s| (e.name.clone(), Duration::from_secs(s))))
            .collect()
    }

    fn depends_on_operator(&self) -> bool {
        let binds = |p: &Prepared| p.binds.iter().any(|b| b == "operator_id");
        self.entities.iter().any(|(_, p)| binds(p))
    }

    fn invalidations(&self) -> Option<super::InvalidationStream> {
        match (&self.def.notify_channel, &self.pool) {
            (Some(channel), Pool::Postgres(pool)) => {
                Some(notify::follow(pool.clone(), channel.clone(), self.def.name.clone()))
            }
            _ => None,
        }
    }

    fn pool_usage(&self) -> Option<super::PoolUsage> {
        let (open, idle) = self.pool.usage();
        Some(super::PoolUsage {
            open,
            idle,
            max: self.max_connections,
        })
    }

    fn fetch(&self, req: FetchRequest) -> BoxFuture<'static, Result<SourceData, AdapterError>> {
        let pool = self.pool.clone();
        let entities = self.entities.clone();
        let def = self.def.clone();
        let secrets = self.secrets.clone();
        Box::pin(async move {
            // Every entity of a source runs concurrently on its pool.
            let results = futures::future::join_all(entities.iter().map(|(e, p)| {
                let binds = binds_for(&p.binds, &req.msisdn, &req.operator_id);
                let pool = &pool;
                async move {
                    let rows = pool.fetch_all(&p.sql, &binds).await;
                    (e, rows)
                }
            }))
            .await;
            let mut view = DynamicMessage::new(crate::schema::view_descriptor());
            let mut report = MapReport::default();
            let mut filled = Vec::new();
            let mut found = false;
            let mut extensions: Vec<(String, prost_types::Value)> = Vec::new();
            for (e, rows) in results {
                let rows = rows.map_err(|err| map_sqlx(err, &e.name, &secrets))?;
                if e.name == def.primary {
                    found = !rows.is_empty();
                }
                if rows.is_empty() {
                    continue;
                }
                filled.push(e.target_text.clone());
                match &e.target {
                    Target::Field { element, .. } => {
                        let els =
                            mapping::build_elements(element, &e.fields, &e.key, &rows, def.utc_offset, &mut report);
                        mapping::place(&mut view, &e.target, els);
                    }
                    Target::Extensions => {
                        extensions.extend(extension_values(e, &rows, def.utc_offset, &mut report));
                    }
                }
            }
            if !found {
                return Ok(SourceData {
                    found: false,
                    view: Default::default(),
                    entities: vec![],
                    notes: vec![],
                });
            }
            let mut typed: SubscriberView = view.transcode_to().map_err(|err| AdapterError::Query {
                entity: "*".into(),
                message: format!("internal mapping error: {err}"),
            })?;
            if !extensions.is_empty() {
                let fields = extensions.into_iter().collect();
                typed
                    .extensions
                    .insert(def.name.clone(), prost_types::Struct { fields });
            }
            Ok(SourceData {
                found: true,
                view: typed.encode_to_vec().into(),
                entities: filled,
                notes: report.skipped,
            })
        })
    }

    fn stream_usage(&self, q: UsageQuery) -> Option<UsageStream> {
        let stream = self.stream.clone()?;
        let pool = self.pool.clone();
        let def = self.def.clone();
        let secrets = self.secrets.clone();
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<UsageRecord, AdapterError>>(64);
        tokio::spawn(async move {
            let (s, p) = &*stream;
            let offset = def.utc_offset;
            let time = |t: chrono::DateTime<chrono::Utc>| -> Bind {
                let local = t.with_timezone(&offset).naive_local();
                match &s.time_param_format {
                    Some(f) => Bind::Text(Some(local.format(f).to_string())),
                    None => Bind::DateTime(local),
                }
            };
            let binds: Vec<Bind> = p
                .binds
                .iter()
                .map(|n| match n.as_str() {
                    "msisdn" => Bind::Text(Some(q.msisdn.clone())),
                    "operator_id" => Bind::Text(q.operator_id.clone()),
                    "from" => time(q.from),
                    "to" => time(q.to),
                    other => unreachable!("parameter `{other}` was rejected at load"),
                })
                .collect();
            let record_desc = crate::schema::message("complaint.v1.UsageRecord");
            let source = def.name.clone();
            let result = pool
                .stream_into(
                    p.sql.clone(),
                    binds,
                    |row| {
                        let mut report = MapReport::default();
                        let els = mapping::build_elements(
                            &record_desc,
                            &s.fields,
                            &[],
                            std::slice::from_ref(&row),
                            offset,
                            &mut report,
                        );
                        let mut rec: UsageRecord = els.into_iter().next()?.transcode_to().ok()?;
                        rec.source = source.clone();
                        Some(rec)
                    },
                    &tx,
                )
                .await;
            if let Err(e) = result {
                let _ = tx.send(Err(map_sqlx(e, "usage_records", &secrets))).await;
            }
        });
        Some(tokio_stream::wrappers::ReceiverStream::new(rx).boxed())
    }
}

fn extension_values(
    e: &CompiledEntity,
    rows: &[DbRow],
    offset: chrono::FixedOffset,
    report: &mut MapReport,
) -> Vec<(String, prost_types::Value)> {
    use prost_types::value::Kind as K;
    let to_pb = |v: prost_reflect::Value| -> prost_types::Value {
        let kind = match v {
            prost_reflect::Value::Bool(b) => K::BoolValue(b),
            prost_reflect::Value::I64(i) => K::NumberValue(i as f64),
            prost_reflect::Value::F64(x) => K::NumberValue(x),
            prost_reflect::Value::String(s) => K::StringValue(s),
            other => K::StringValue(format!("{other:?}")),
        };
        prost_types::Value { kind: Some(kind) }
    };
    let row_struct = |row: &DbRow, report: &mut MapReport| -> Vec<(String, prost_types::Value)> {
        e.fields
            .iter()
            .map(|f| {
                let v = mapping::convert_column(row, f, offset, report)
                    .map(to_pb)
                    .unwrap_or(prost_types::Value {
                        kind: Some(K::NullValue(0)),
                    });
                (f.path.text.clone(), v)
            })
            .collect()
    };
    if rows.len() == 1 {
        row_struct(&rows[0], report)
    } else {
        // Several rows: one list per entity, each row a struct.
        let items = rows
            .iter()
            .map(|r| prost_types::Value {
                kind: Some(K::StructValue(prost_types::Struct {
                    fields: row_struct(r, report).into_iter().collect(),
                })),
            })
            .collect();
        vec![(
            e.name.clone(),
            prost_types::Value {
                kind: Some(K::ListValue(prost_types::ListValue { values: items })),
            },
        )]
    }
}
