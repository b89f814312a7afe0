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
#[derive(Debug, Clone)]
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

/// A stream of usage records.
pub type UsageStream = BoxStream<'static, Result<UsageRecord, AdapterError>>;

/// A backend system.
pub trait Adapter: Send + Sync + 'static {
    /// The source name (`billing`, `crm`, …), unique in a gateway.
    fn name(&self) -> &str;
    /// The view fields this adapter can fill, for docs and `SourceStatus.entities`.
    fn entities(&self) -> Vec<String>;
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
}
