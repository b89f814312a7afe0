//! Prometheus metrics on the admin port (`[admin] metrics_listen`): `GET /metrics`.
//!
//! Series (all prefixed `cgw_`; `source` labels name the backend):
//! - `source_requests_total{source,state}`, `source_latency_seconds{source,cache}`: each source's part of
//!   each view, by the state reported and how the cache served it (hit, miss, bypass, stale);
//! - `source_errors_total{source,kind}`: failed calls by kind (unavailable, timeout, query, circuit_open,
//!   overloaded); `backend_queries_total{source,outcome}`, `backend_query_seconds{source}`: what reached
//!   the backend; `retries_total`, `retry_budget_exhausted_total`;
//! - `cache_hits_total`, `cache_misses_total`, `cache_loads_total`, `cache_stale_served_total`,
//!   `cache_bypass_total` per source; `cache_evictions_total{cause}`; `cache_weighted_size_bytes`,
//!   `cache_capacity_bytes`, `cache_entries`;
//! - `breaker_state{source}` (0 closed, 1 open, 2 half-open), `breaker_transitions_total{source,to}`;
//! - `pool_connections{source}`, `pool_idle_connections{source}`, `pool_max_connections{source}`.
//!
//! - `audit_batch_events`, `audit_commit_seconds`: events per audit transaction and how long each took
//!   (every answer waits for its event's commit, so this is the floor of a read's latency).
//!
//! Gauges that describe state (cache size, pools, breakers) are sampled at each scrape.
//!
//! Per RPC, without the prefix and in the usual shape (`rpc.rs`): `grpc_server_started_total`,
//! `grpc_server_handled_total{grpc_code}`, `grpc_server_handling_seconds`, by `grpc_service` and
//! `grpc_method`.
pub mod rpc;

use crate::view::ViewReader;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Latency buckets in seconds: 100 µs to 10 s.
const BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder (once; later calls return the same handle).
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
                .expect("buckets are not empty")
                .build_recorder();
            let handle = recorder.handle();
            if ::metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder is installed; /metrics will be empty");
            }
            handle
        })
        .clone()
}

/// Sets the state gauges from the reader: cache size, pool usage, breaker states.
pub fn sample(reader: &ViewReader) {
    let (bytes, entries) = reader.cache().usage();
    ::metrics::gauge!("cgw_cache_weighted_size_bytes").set(bytes as f64);
    ::metrics::gauge!("cgw_cache_entries").set(entries as f64);
    ::metrics::gauge!("cgw_cache_capacity_bytes").set(reader.cache().settings().max_bytes as f64);
    for s in &reader.registry().sources {
        let name = s.adapter.name().to_string();
        if let Some(pool) = s.adapter.pool_usage() {
            ::metrics::gauge!("cgw_pool_connections", "source" => name.clone()).set(pool.open as f64);
            ::metrics::gauge!("cgw_pool_idle_connections", "source" => name.clone()).set(pool.idle as f64);
            ::metrics::gauge!("cgw_pool_max_connections", "source" => name.clone()).set(pool.max as f64);
        }
        if let Some(stack) = reader.stack(&name) {
            ::metrics::gauge!("cgw_breaker_state", "source" => name).set(stack.breaker().state().gauge());
        }
    }
}

/// Binds `addr` and serves `/metrics` in the background. Returns the bound address (useful with port 0).
pub async fn start(addr: SocketAddr, reader: ViewReader) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let handle = install();
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let task = tokio::spawn(serve(listener, handle, reader));
    Ok((bound, task))
}

/// Serves `GET /metrics` (HTTP/1.1, one request per connection) and runs the recorder's upkeep.
pub async fn serve(listener: TcpListener, handle: PrometheusHandle, reader: ViewReader) {
    let mut upkeep = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = upkeep.tick() => handle.run_upkeep(),
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let handle = handle.clone();
                    let reader = reader.clone();
                    tokio::spawn(async move {
                        if let Err(e) = answer(stream, &handle, &reader).await {
                            tracing::debug!(error = %e, "metrics request failed");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics listener: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
}

async fn answer(mut stream: TcpStream, handle: &PrometheusHandle, reader: &ViewReader) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let read_head = async {
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        Ok::<_, std::io::Error>(())
    };
    if tokio::time::timeout(Duration::from_secs(5), read_head).await.is_err() {
        return Ok(());
    }
    let head = String::from_utf8_lossy(&buf);
    let mut parts = head.lines().next().unwrap_or_default().split_whitespace();
    let (method, path) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    let (status, ctype, body) = match (method, path.split('?').next().unwrap_or_default()) {
        ("GET", "/metrics") => {
            reader.cache().sync().await;
            sample(reader);
            ("200 OK", "text/plain; version=0.0.4; charset=utf-8", handle.render())
        }
        ("GET", _) => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "try /metrics\n".to_string(),
        ),
        _ => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            "GET only\n".to_string(),
        ),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}
