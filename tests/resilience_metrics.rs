//! End-to-end: the Prometheus endpoint on the admin port exposes the per-source, cache, breaker and pool
//! series, and their values follow what the gateway does. (One test per binary: the recorder is global.)
use complaint_gateway::adapters::registry::Registry;
use complaint_gateway::adapters::{Adapter, AdapterError, FetchRequest, SourceData};
use complaint_gateway::proto::complaint::v1::*;
use complaint_gateway::testkit::{self, req};
use complaint_gateway::tools::seed;
use futures::future::BoxFuture;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A source that is always down.
struct Down;

impl Adapter for Down {
    fn name(&self) -> &str {
        "ledger"
    }
    fn entities(&self) -> Vec<String> {
        vec![]
    }
    fn fetch(&self, _req: FetchRequest) -> BoxFuture<'static, Result<SourceData, AdapterError>> {
        Box::pin(async { Err(AdapterError::Unavailable("connection refused (scripted)".into())) })
    }
}

async fn get(addr: std::net::SocketAddr, path: &str) -> (String, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_string(), body.to_string())
}

/// The value of the series `name` whose labels include every `labels` pair.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| {
            let (series, _) = l.rsplit_once(' ').unwrap_or((l, ""));
            let bare = series.split('{').next().unwrap_or_default();
            bare == name && labels.iter().all(|(k, v)| series.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit_once(' ')?.1.parse().ok())
}

#[tokio::test]
async fn the_metrics_endpoint_exposes_the_series_and_they_move() {
    let dir = tempfile::tempdir().unwrap();
    let urls = testkit::sqlite_urls(dir.path());
    testkit::seed(&urls, 10).await.unwrap();
    let mut cfg = testkit::config(&urls);
    cfg.admin.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    let mut registry = Registry::from_config(&cfg, &testkit::test_env).unwrap();
    registry.push(std::sync::Arc::new(Down), Duration::from_secs(1));
    registry.sources[3].stack.max_retries = 0;
    let srv = testkit::spawn_with(cfg, registry).await.unwrap();
    let addr = srv.metrics_addr.expect("the metrics endpoint runs");
    let mut c = testkit::data_client(&srv).await.unwrap();
    let number = seed::msisdn(2);
    let view = || GetSubscriberViewRequest {
        msisdn: number.clone(),
        ..Default::default()
    };

    let r = c.get_subscriber_view(req(view())).await.unwrap().into_inner();
    assert_eq!(r.sources[3].state(), SourceState::Unavailable);
    let (status, m) = get(addr, "/metrics").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    let billing = [("source", "billing")];
    assert_eq!(value(&m, "cgw_cache_misses_total", &billing), Some(1.0), "{m}");
    assert_eq!(value(&m, "cgw_cache_hits_total", &billing), None);
    assert_eq!(value(&m, "cgw_cache_loads_total", &billing), Some(1.0));
    assert_eq!(
        value(
            &m,
            "cgw_backend_queries_total",
            &[("source", "billing"), ("outcome", "ok")]
        ),
        Some(1.0)
    );
    assert_eq!(value(&m, "cgw_backend_query_seconds_count", &billing), Some(1.0));
    assert_eq!(
        value(
            &m,
            "cgw_backend_query_seconds_bucket",
            &[("source", "billing"), ("le", "+Inf")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&m, "cgw_source_requests_total", &[("source", "crm"), ("state", "ok")]),
        Some(1.0)
    );
    assert_eq!(
        value(
            &m,
            "cgw_source_errors_total",
            &[("source", "ledger"), ("kind", "unavailable")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &m,
            "cgw_source_requests_total",
            &[("source", "ledger"), ("state", "unavailable")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&m, "cgw_cache_entries", &[]),
        Some(3.0),
        "three answers cached, the failure not"
    );
    let size = value(&m, "cgw_cache_weighted_size_bytes", &[]).unwrap();
    assert!(size > 1_000.0 && size < 100_000.0, "weighted size {size}");
    assert_eq!(
        value(&m, "cgw_cache_capacity_bytes", &[]),
        Some(256.0 * 1024.0 * 1024.0)
    );
    assert_eq!(value(&m, "cgw_breaker_state", &billing), Some(0.0));
    assert!(value(&m, "cgw_pool_connections", &billing).unwrap() >= 1.0);
    assert_eq!(value(&m, "cgw_pool_max_connections", &billing), Some(4.0));

    // Two more reads: hits move, misses and backend queries do not; the failing source counts up and,
    // after 5 consecutive failures, its breaker opens.
    for _ in 0..5 {
        c.get_subscriber_view(req(view())).await.unwrap();
    }
    let (_, m) = get(addr, "/metrics").await;
    assert_eq!(value(&m, "cgw_cache_hits_total", &billing), Some(5.0));
    assert_eq!(value(&m, "cgw_cache_misses_total", &billing), Some(1.0));
    assert_eq!(
        value(
            &m,
            "cgw_backend_queries_total",
            &[("source", "billing"), ("outcome", "ok")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &m,
            "cgw_source_latency_seconds_count",
            &[("source", "billing"), ("cache", "hit")]
        ),
        Some(5.0)
    );
    assert_eq!(
        value(
            &m,
            "cgw_source_errors_total",
            &[("source", "ledger"), ("kind", "unavailable")]
        ),
        Some(5.0)
    );
    assert_eq!(
        value(
            &m,
            "cgw_source_errors_total",
            &[("source", "ledger"), ("kind", "circuit_open")]
        ),
        Some(1.0)
    );
    assert_eq!(value(&m, "cgw_breaker_state", &[("source", "ledger")]), Some(1.0));
    assert_eq!(
        value(
            &m,
            "cgw_breaker_transitions_total",
            &[("source", "ledger"), ("to", "open")]
        ),
        Some(1.0)
    );

    // Invalidation shows up as an eviction.
    srv.gateway.reader.cache().invalidate(&number, &[]).await;
    let (_, m) = get(addr, "/metrics").await;
    assert_eq!(
        value(&m, "cgw_cache_evictions_total", &[("cause", "invalidated")]),
        Some(3.0)
    );
    assert_eq!(value(&m, "cgw_cache_entries", &[]), Some(0.0));

    let (status, _) = get(addr, "/other").await;
    assert_eq!(status, "HTTP/1.1 404 Not Found");
}
