//! A backend that is not SQL: an HTTP/JSON service, as a worked example of implementing [`Adapter`] in Rust.
//!
//! The service speaks the unified schema's JSON (the proto3 JSON mapping), so the gateway needs no field
//! mapping for it:
//! - `GET {base_url}/subscribers/{msisdn}` answers 200 with a partial `SubscriberView` as JSON, or 404
//!   when it does not know the subscriber;
//! - `GET {base_url}/subscribers/{msisdn}/usage?from=RFC3339&to=RFC3339` (when `usage_stream` is set)
//!   answers 200 with one `UsageRecord` JSON object per line (NDJSON), streamed.
//!
//! The caller's operator ID goes in the `x-operator-id` header, a bearer token (from an environment
//! variable, never logged) in `authorization`. Failures map onto [`AdapterError`]: refused connections,
//! 429, 502, 503 and 504 are `Unavailable`; the adapter's own request time-out is `Timeout`; other 4xx and
//! 5xx answers and bodies that are not the unified JSON are `Query`. It is registered from Rust with
//! [`crate::adapters::registry::Registry::push`] (see `docs/adapters.md`).
use super::{Adapter, AdapterError, FetchRequest, SourceData, UsageQuery, UsageStream};
use crate::proto::complaint::v1::{SubscriberView, UsageRecord};
use crate::schema::{self, PathErrorKind, PathStep, SelectError};
use bytes::{Bytes, BytesMut};
use futures::future::BoxFuture;
use futures::StreamExt;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use prost::Message;
use prost_reflect::{DynamicMessage, MessageDescriptor};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

/// The settings of one HTTP/JSON source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSourceConfig {
    /// Source name, `[a-z0-9_]+`, unique in the gateway.
    pub name: String,
    /// `http://host:port[/prefix]`: the service's base URL. (Put TLS in front of the service at the
    /// network edge; this client speaks plain HTTP/1.1.)
    pub base_url: String,
    /// The view parts the service answers for (`line`, `network.broadband`, …). Parts outside this list
    /// in its answers are dropped with a note in `SourceStatus.detail`.
    pub entities: Vec<String>,
    /// Whether the service serves usage records (`StreamUsage`).
    #[serde(default)]
    pub usage_stream: bool,
    /// The adapter's own limit for one request, up to the response headers, in milliseconds. The
    /// gateway's per-source time-out still applies on top.
    #[serde(default = "default_request_timeout")]
    pub request_timeout_ms: u64,
    /// Environment variable holding a bearer token for the service.
    #[serde(default)]
    pub token_env: Option<String>,
}

fn default_request_timeout() -> u64 {
    2_000
}

/// An adapter over an HTTP/JSON service.
pub struct HttpAdapter {
    name: String,
    base: String,
    entities: Vec<String>,
    usage_stream: bool,
    timeout: Duration,
    token: Option<Arc<str>>,
    client: Client<HttpConnector, Empty<Bytes>>,
}

impl std::fmt::Debug for HttpAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token stays out of debug output.
        f.debug_struct("HttpAdapter")
            .field("name", &self.name)
            .field("base", &self.base)
            .field("entities", &self.entities)
            .finish_non_exhaustive()
    }
}

impl HttpAdapter {
    /// Validates the settings (name, URL, view parts) and builds the client. `env` resolves `token_env`.
    pub fn new(cfg: HttpSourceConfig, env: &dyn Fn(&str) -> Option<String>) -> Result<HttpAdapter, String> {
        let at = |m: String| format!("http source `{}`: {m}", cfg.name);
        if cfg.name.is_empty()
            || !cfg
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(at("`name` must be non-empty and match [a-z0-9_]+".into()));
        }
        let uri: http::Uri = cfg
            .base_url
            .parse()
            .map_err(|e| at(format!("`base_url` `{}` is not a URL: {e}", cfg.base_url)))?;
        if uri.scheme_str() != Some("http") || uri.host().is_none() {
            return Err(at(format!(
                "`base_url` `{}` must be http://host[:port][/prefix] (terminate TLS in front of the service)",
                cfg.base_url
            )));
        }
        if uri.query().is_some() {
            return Err(at("`base_url` must not carry a query".into()));
        }
        if cfg.entities.is_empty() {
            return Err(at(
                "`entities` is empty: list the view parts the service answers for".into()
            ));
        }
        for e in &cfg.entities {
            view_part(e).map_err(|m| at(format!("`entities`: `{e}`: {m}")))?;
        }
        let token = match &cfg.token_env {
            Some(var) => Some(Arc::from(
                env(var)
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| at(format!("`token_env`: environment variable {var} is not set")))?
                    .as_str(),
            )),
            None => None,
        };
        let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
        Ok(HttpAdapter {
            base: cfg.base_url.trim_end_matches('/').to_string(),
            name: cfg.name,
            entities: cfg.entities,
            usage_stream: cfg.usage_stream,
            timeout: Duration::from_millis(cfg.request_timeout_ms.max(1)),
            token,
            client,
        })
    }

    fn request(
        &self,
        path_and_query: &str,
        operator_id: &Option<String>,
    ) -> Result<http::Request<Empty<Bytes>>, AdapterError> {
        let mut b = http::Request::get(format!("{}{path_and_query}", self.base)).header("accept", "application/json");
        if let Some(op) = operator_id {
            b = b.header("x-operator-id", op.as_str());
        }
        if let Some(t) = &self.token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        b.body(Empty::new()).map_err(|e| AdapterError::Query {
            entity: "*".into(),
            message: format!("cannot build the request: {e}"),
        })
    }
}

/// Checks that `path` names a part of `SubscriberView` an adapter can fill (`account`, `network.cells`,
/// `extensions`).
fn view_part(path: &str) -> Result<(), String> {
    if path == "extensions" {
        return Ok(());
    }
    let (steps, failed) = match schema::resolve(&schema::view_descriptor(), path, schema::Items::Index) {
        Ok(r) => (r.steps, None),
        Err(e) => (e.resolved.clone(), Some(e)),
    };
    // Segment by segment as written: each names a message field (a list of messages is filled whole).
    for (seg, step) in path.split('.').zip(&steps) {
        match step {
            PathStep::Field(fd) if matches!(fd.kind(), prost_reflect::Kind::Message(_)) => {}
            _ => return Err(format!("`{seg}` is not a part of the view")),
        }
    }
    match failed {
        None => Ok(()),
        Some(e) => Err(match &e.kind {
            PathErrorKind::Select(SelectError::UnknownField(u)) => {
                format!("`{}` has no field `{}`", u.message.name(), u.name)
            }
            PathErrorKind::Select(SelectError::OfList(_)) => format!(
                "`{}` is a list: an adapter fills it whole",
                e.previous().unwrap_or_default()
            ),
            PathErrorKind::Select(SelectError::NoFields) | PathErrorKind::NotAList => {
                format!("`{}` is not a part of the view", e.segment())
            }
        }),
    }
}

fn digits_only(msisdn: &str) -> Result<&str, AdapterError> {
    if !msisdn.is_empty() && msisdn.bytes().all(|b| b.is_ascii_digit()) {
        Ok(msisdn)
    } else {
        Err(AdapterError::Query {
            entity: "*".into(),
            message: "the number must be digits only".into(),
        })
    }
}

fn transport_error(e: impl std::error::Error) -> AdapterError {
    // Include the cause chain (connection refused, reset) but never the request's headers.
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    AdapterError::Unavailable(msg)
}

fn status_error(status: http::StatusCode, body: &[u8], entity: &str) -> AdapterError {
    let text: String = String::from_utf8_lossy(body).chars().take(200).collect();
    let msg = format!(
        "HTTP {status}{}",
        if text.trim().is_empty() {
            String::new()
        } else {
            format!(": {}", text.trim())
        }
    );
    match status.as_u16() {
        429 | 502 | 503 | 504 => AdapterError::Unavailable(msg),
        _ => AdapterError::Query {
            entity: entity.into(),
            message: msg,
        },
    }
}

/// The parts of a decoded view that are set: top-level message fields, and the fields inside
/// containers such as `network`.
fn present_parts(view: &DynamicMessage) -> Vec<String> {
    let mut out = Vec::new();
    for (fd, v) in view.fields() {
        match v {
            prost_reflect::Value::Message(m) if fd.name() == "network" => {
                for (inner, _) in m.fields() {
                    out.push(format!("network.{}", inner.name()));
                }
            }
            prost_reflect::Value::Message(_) | prost_reflect::Value::List(_) | prost_reflect::Value::Map(_) => {
                out.push(fd.name().to_string())
            }
            _ => {}
        }
    }
    out
}

fn clear_part(view: &mut DynamicMessage, part: &str) {
    match part.split_once('.') {
        Some((outer, inner)) => {
            if let Some(prost_reflect::Value::Message(m)) = view.get_field_by_name_mut(outer) {
                m.clear_field_by_name(inner);
            }
        }
        None => view.clear_field_by_name(part),
    }
}

fn decode_json(desc: MessageDescriptor, body: &[u8]) -> Result<DynamicMessage, String> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let m = DynamicMessage::deserialize(desc, &mut de).map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    Ok(m)
}

impl Adapter for HttpAdapter {
    fn name(&self) -> &str {
        &self.name
    }

    fn entities(&self) -> Vec<String> {
        self.entities.clone()
    }

    fn fills(&self, entity: &str) -> bool {
        self.entities.iter().any(|e| e == entity)
    }

    fn has_usage_stream(&self) -> bool {
        self.usage_stream
    }

    fn fetch(&self, req: FetchRequest) -> BoxFuture<'static, Result<SourceData, AdapterError>> {
        let client = self.client.clone();
        let declared = self.entities.clone();
        let name = self.name.clone();
        let timeout = self.timeout;
        let request =
            digits_only(&req.msisdn).and_then(|m| self.request(&format!("/subscribers/{m}"), &req.operator_id));
        Box::pin(async move {
            let request = request?;
            let answer = tokio::time::timeout(timeout, async {
                let resp = client.request(request).await.map_err(transport_error)?;
                let status = resp.status();
                let body = resp.into_body().collect().await.map_err(transport_error)?.to_bytes();
                Ok::<_, AdapterError>((status, body))
            })
            .await
            .map_err(|_| AdapterError::Timeout(timeout))??;
            let (status, body) = answer;
            if status == http::StatusCode::NOT_FOUND {
                return Ok(SourceData {
                    found: false,
                    view: Bytes::new(),
                    entities: vec![],
                    notes: vec![],
                });
            }
            if !status.is_success() {
                return Err(status_error(status, &body, "*"));
            }
            let mut view = decode_json(crate::schema::view_descriptor(), &body).map_err(|e| AdapterError::Query {
                entity: "*".into(),
                message: format!("the response is not a SubscriberView in JSON: {e}"),
            })?;
            let mut notes = Vec::new();
            let mut filled = Vec::new();
            for part in present_parts(&view) {
                if declared.contains(&part) {
                    filled.push(part);
                } else {
                    notes.push(format!("`{part}` is not among this source's entities: dropped"));
                    clear_part(&mut view, &part);
                }
            }
            let mut typed: SubscriberView = view.transcode_to().map_err(|e| AdapterError::Query {
                entity: "*".into(),
                message: format!("internal mapping error: {e}"),
            })?;
            // Extensions of other sources are not this source's to fill.
            typed.extensions.retain(|k, _| {
                let keep = *k == name;
                if !keep {
                    notes.push(format!("extensions[`{k}`] belongs to another source: dropped"));
                }
                keep
            });
            Ok(SourceData {
                found: true,
                view: typed.encode_to_vec().into(),
                entities: filled,
                notes,
            })
        })
    }

    fn stream_usage(&self, q: UsageQuery) -> Option<UsageStream> {
        if !self.usage_stream {
            return None;
        }
        let client = self.client.clone();
        let timeout = self.timeout;
        let source = self.name.clone();
        let fmt = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let request = digits_only(&q.msisdn).and_then(|m| {
            self.request(
                &format!("/subscribers/{m}/usage?from={}&to={}", fmt(q.from), fmt(q.to)),
                &q.operator_id,
            )
        });
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<UsageRecord, AdapterError>>(64);
        tokio::spawn(async move {
            let fail = |e: AdapterError| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send(Err(e)).await;
                }
            };
            let request = match request {
                Ok(r) => r,
                Err(e) => return fail(e).await,
            };
            let resp = match tokio::time::timeout(timeout, client.request(request)).await {
                Err(_) => return fail(AdapterError::Timeout(timeout)).await,
                Ok(Err(e)) => return fail(transport_error(e)).await,
                Ok(Ok(r)) => r,
            };
            let status = resp.status();
            let mut body = resp.into_body();
            if !status.is_success() {
                let bytes = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                return fail(status_error(status, &bytes, "usage_records")).await;
            }
            let record_desc = crate::schema::message("complaint.v1.UsageRecord");
            let mut buf = BytesMut::new();
            loop {
                let frame = match body.frame().await {
                    None => break,
                    Some(Err(e)) => return fail(transport_error(e)).await,
                    Some(Ok(f)) => f,
                };
                let Ok(data) = frame.into_data() else { continue };
                buf.extend_from_slice(&data);
                while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
                    let line = buf.split_to(nl + 1);
                    let line = &line[..nl];
                    if line.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    let rec = decode_json(record_desc.clone(), line)
                        .and_then(|m| m.transcode_to::<UsageRecord>().map_err(|e| e.to_string()));
                    match rec {
                        Ok(mut r) => {
                            r.source = source.clone();
                            if tx.send(Ok(r)).await.is_err() {
                                // The client went away: dropping the body closes the connection, which
                                // tells the service to stop.
                                return;
                            }
                        }
                        Err(e) => {
                            return fail(AdapterError::Query {
                                entity: "usage_records".into(),
                                message: format!("a line is not a UsageRecord in JSON: {e}"),
                            })
                            .await
                        }
                    }
                }
            }
        });
        Some(tokio_stream::wrappers::ReceiverStream::new(rx).boxed())
    }
}
