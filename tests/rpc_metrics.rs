//! End-to-end: the standard per-RPC series (`grpc_server_started_total`, `grpc_server_handled_total` by
//! code, `grpc_server_handling_seconds`) on the metrics endpoint follow real calls, failures and refusals
//! included. (One test per binary: the recorder is global.)
use complaint_gateway::proto::complaint::v1::*;
use complaint_gateway::testkit::{self, req};
use complaint_gateway::tools::seed;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn scrape(addr: std::net::SocketAddr) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out.split_once("\r\n\r\n").unwrap().1.to_string()
}

/// The value of the series `name` whose labels include every `labels` pair (0 when absent).
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| {
            let (series, _) = l.rsplit_once(' ').unwrap_or((l, ""));
            let bare = series.split('{').next().unwrap_or_default();
            bare == name && labels.iter().all(|(k, v)| series.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit_once(' ')?.1.parse().ok())
        .unwrap_or(0.0)
}

const VIEW: (&str, &str) = ("grpc_method", "GetSubscriberView");
const DATA: (&str, &str) = ("grpc_service", "complaint.v1.ComplaintDataService");

#[tokio::test]
async fn every_call_is_counted_by_method_and_code_with_its_latency() {
    let dir = tempfile::tempdir().unwrap();
    let urls = testkit::sqlite_urls(dir.path());
    testkit::seed(&urls, 10).await.unwrap();
    let mut cfg = testkit::config(&urls);
    cfg.admin.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    let srv = testkit::spawn(cfg).await.unwrap();
    let metrics = srv.metrics_addr.unwrap();
    let mut client = testkit::data_client(&srv).await.unwrap();
    let before = scrape(metrics).await;

    let number = seed::msisdn(1);
    for _ in 0..3 {
        client
            .get_subscriber_view(req(GetSubscriberViewRequest {
                msisdn: number.clone(),
                ..Default::default()
            }))
            .await
            .unwrap();
    }
    // A malformed number: INVALID_ARGUMENT from the service.
    let bad = client
        .get_subscriber_view(req(GetSubscriberViewRequest {
            msisdn: "12345".into(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    // No credential: refused by the authentication layer before any service runs.
    let refused = client
        .get_subscriber_view(tonic::Request::new(GetSubscriberViewRequest {
            msisdn: number.clone(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);

    let after = scrape(metrics).await;
    let delta = |name: &str, labels: &[(&str, &str)]| value(&after, name, labels) - value(&before, name, labels);
    assert_eq!(
        delta("grpc_server_started_total", &[DATA, VIEW, ("grpc_type", "unary")]),
        5.0,
        "{after}"
    );
    assert_eq!(
        delta("grpc_server_handled_total", &[DATA, VIEW, ("grpc_code", "OK")]),
        3.0,
        "{after}"
    );
    assert_eq!(
        delta(
            "grpc_server_handled_total",
            &[DATA, VIEW, ("grpc_code", "InvalidArgument")]
        ),
        1.0
    );
    assert_eq!(
        delta(
            "grpc_server_handled_total",
            &[DATA, VIEW, ("grpc_code", "Unauthenticated")]
        ),
        1.0
    );
    assert_eq!(delta("grpc_server_handling_seconds_count", &[DATA, VIEW]), 5.0);
    let seconds = delta("grpc_server_handling_seconds_sum", &[DATA, VIEW]);
    assert!(seconds > 0.0 && seconds < 30.0, "handling seconds {seconds}");
    // Buckets are cumulative: the slowest bucket holds every call.
    assert_eq!(
        delta("grpc_server_handling_seconds_bucket", &[DATA, VIEW, ("le", "+Inf")]),
        5.0
    );

    // A server-streaming call is typed as one and counted when its stream ends.
    let channel = tonic::transport::Channel::from_shared(srv.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    health
        .check(tonic_health::pb::HealthCheckRequest { service: String::new() })
        .await
        .unwrap();
    let ts = |secs: i64| prost_types::Timestamp {
        seconds: secs,
        nanos: 0,
    };
    let mut stream = client
        .stream_usage(req(StreamUsageRequest {
            msisdn: number,
            // 2026-10-15 to 2026-11-29 (+08:00): the seeded cycles.
            from: Some(ts(1_791_993_600)),
            to: Some(ts(1_795_881_600)),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    let mut streamed = 0;
    while stream.message().await.unwrap().is_some() {
        streamed += 1;
    }
    let last = scrape(metrics).await;
    assert_eq!(
        value(
            &last,
            "grpc_server_handled_total",
            &[
                ("grpc_service", "grpc.health.v1.Health"),
                ("grpc_method", "Check"),
                ("grpc_code", "OK")
            ]
        ),
        value(
            &before,
            "grpc_server_handled_total",
            &[
                ("grpc_service", "grpc.health.v1.Health"),
                ("grpc_method", "Check"),
                ("grpc_code", "OK")
            ]
        ) + 1.0
    );
    let stream_ok = value(
        &last,
        "grpc_server_handled_total",
        &[
            ("grpc_method", "StreamUsage"),
            ("grpc_type", "server_stream"),
            ("grpc_code", "OK"),
        ],
    );
    assert_eq!(stream_ok, 1.0, "streamed {streamed} records\n{last}");
    srv.stop().await;
}
