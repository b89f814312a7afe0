//! The extension point for backends.
//!
//! An [`Adapter`] answers for one backend system: what it knows about a subscriber, as a partial
//! `SubscriberView`, and optionally a stream of usage records. Most backends are SQL and need no Rust: a
//! folder under `adapters/` with an `adapter.toml` is compiled into a [`sql::SqlAdapter`]. A backend that is
//! not SQL implements the trait (see `docs/adapters.md`).
pub mod http;
pub mod registry;
pub mod sql;

use crate::proto::complaint::v1::UsageRecord;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use std::time::Duration;

/// What a view read asks of one source.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FetchRequest {
    /// Normalised 11-digit number.
    pub msisdn: String,
    /// The caller's operator ID in this system, where the gateway knows one.
    pub operator_id: Option<String>,
}

/// A usage-record query.
#[derive(Debug, Clone)]
pub struct UsageQuery {
    pub msisdn: String,
    pub operator_id: Option<String>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// One source's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceData {
    /// Whether the source knows the subscriber (its primary entity returned a row).
    pub found: bool,
    /// A protobuf-encoded partial `SubscriberView`; views are assembled by protobuf merge.
    pub view: Bytes,
    /// The view fields this source filled.
    pub entities: Vec<String>,
    /// Values that could not be mapped, for `SourceStatus.detail`.
    pub notes: Vec<String>,
}

/// Why a source could not answer. Messages never carry credentials.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AdapterError {
    /// The backend could not be reached or refused the connection.
    #[error("backend unavailable: {0}")]
    Unavailable(String),
    /// The backend did not answer in time.
    #[error("backend did not answer within {0:?}")]
    Timeout(Duration),
    /// A query failed at the backend (bad SQL, missing column, decode error).
    #[error("entity `{entity}`: {message}")]
    Query { entity: String, message: String },
    /// This adapter does not offer what was asked.
    #[error("{0}")]
    Unsupported(String),
}

impl AdapterError {
    /// Whether trying again may help (connection trouble and time-outs; not a broken query).
    pub fn is_retryable(&self) -> bool {
        matches!(self, AdapterError::Unavailable(_) | AdapterError::Timeout(_))
    }
}

/// A source's failure as the caller sees it: retryable unavailability with a short reason. The backend's
/// own text (which may name hosts, users or SQL) goes to the log, not to the caller.
impl From<AdapterError> for crate::error::Error {
    fn from(e: AdapterError) -> Self {
        use crate::error::Error;
        match e {
            AdapterError::Unavailable(detail) => {
                crate::logsum::SOURCE_FAILURES.note("backend unavailable", || format!("backend unavailable: {detail}"));
                Error::SourceUnavailable("a backend is unavailable; retry later".into())
            }
            AdapterError::Timeout(d) => Error::SourceUnavailable(format!(
                "a backend did not answer within {} ms; retry later",
                d.as_millis()
            )),
            AdapterError::Query { entity, message } => {
                crate::logsum::SOURCE_FAILURES.note(&format!("query failed ({entity})"), || {
                    format!("backend query failed (entity `{entity}`): {message}")
                });
                Error::SourceUnavailable(format!(
                    "a backend query failed (entity `{entity}`); the gateway log has the details"
                ))
            }
            AdapterError::Unsupported(m) => Error::FailedPrecondition(m),
        }
    }
}

/// A stream of usage records.
pub type UsageStream = BoxStream<'static, Result<UsageRecord, AdapterError>>;

/// What a backend says has changed, so cached answers go (see [`Adapter::invalidations`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalidation {
    /// One subscriber's data changed (a normalised 11-digit number).
    Subscriber(String),
    /// Anything may have changed (a `*` notification, or a lost notification connection during which
    /// changes may have been missed).
    All,
}

/// A stream of invalidations pushed by a backend.
pub type InvalidationStream = BoxStream<'static, Invalidation>;

/// A connection pool's state, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUsage {
    /// Connections open.
    pub open: u32,
    /// Of those, idle.
    pub idle: usize,
    /// The pool's limit.
    pub max: u32,
}

/// A backend system.
pub trait Adapter: Send + Sync + 'static {
    /// The source name (`billing`, `crm`, …), unique in a gateway.
    fn name(&self) -> &str;
    /// The view fields this adapter can fill, for docs and `SourceStatus.entities`.
    fn entities(&self) -> Vec<String>;
    /// Whether this adapter fills `entity` (one of [`entities`](Self::entities)); asked on every read,
    /// so adapters answer it without building the list.
    fn fills(&self, entity: &str) -> bool {
        self.entities().iter().any(|e| e == entity)
    }
    /// The view fields this adapter fills, as finely as it knows them (`vas_subscriptions.service_code`,
    /// `recent_bills.items.amount_fen`; list items without `[]`): a field under none of these is not
    /// provided by this source, and diagnosis reads it as absent, not as empty. Default: the whole of
    /// every entity ([`entities`](Self::entities)).
    fn provides(&self) -> Vec<String> {
        self.entities()
    }
    /// Reads what this backend knows about one subscriber.
    fn fetch(&self, req: FetchRequest) -> BoxFuture<'static, Result<SourceData, AdapterError>>;
    /// Streams usage records in `[from, to)`, if this backend has them.
    fn stream_usage(&self, _q: UsageQuery) -> Option<UsageStream> {
        None
    }
    /// Whether this adapter serves `StreamUsage`.
    fn has_usage_stream(&self) -> bool {
        false
    }
    /// How long each entity's data stays fresh (`("bills", 60 s)`). The cache keeps a source's whole answer
    /// for the shortest of these; empty: the gateway's `[cache] default_ttl_secs`.
    fn freshness(&self) -> Vec<(String, Duration)> {
        Vec::new()
    }
    /// Whether the answer depends on the caller's operator ID. Then the ID is part of the cache key, and a
    /// read whose subscriber turns out to be in another city than guessed re-fetches this source with the
    /// ID of that city. The default, `true`, is the safe answer for an adapter that does not know.
    fn depends_on_operator(&self) -> bool {
        true
    }
    /// Changes the backend pushes (PostgreSQL LISTEN/NOTIFY for a SQL adapter with `notify_channel`).
    /// Called once when the gateway starts; the stream ends when the adapter stops following. `None`: this
    /// backend pushes nothing, and cached answers expire by [`freshness`](Self::freshness) alone.
    fn invalidations(&self) -> Option<InvalidationStream> {
        None
    }
    /// The adapter's connection pool, where it has one (metrics).
    fn pool_usage(&self) -> Option<PoolUsage> {
        None
    }
}
