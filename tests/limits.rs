//! Server limits (`[server]`): a connection flood beyond `max_connections` is refused; connections that
//! send nothing are closed after the handshake time-out and quiet ones after the idle time-out; calls
//! without valid credentials (and reflection calls) are limited per peer address; reflection can be
//! switched off.
use complaint_gateway::config::Config;
use complaint_gateway::proto::complaint::v1::*;
use complaint_gateway::testkit::{self, with_token};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tonic::Code;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_types::StatusExt;

/// The HTTP/2 client preface and an empty SETTINGS frame: a connection that has said hello.
const HELLO: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

async fn server(tweak: impl FnOnce(&mut Config)) -> testkit::RunningServer {
    let mut cfg = testkit::config(&[]);
    tweak(&mut cfg);
    testkit::spawn(cfg).await.unwrap()
}

/// Reads until the server closes the connection; how long that took.
async fn closed_after(mut s: TcpStream, limit: Duration) -> Duration {
    let t0 = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(limit.saturating_sub(t0.elapsed()), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return t0.elapsed(),
            Ok(Ok(_)) => continue,
            Err(_) => panic!("the connection was still open after {limit:?}"),
        }
    }
}

async fn healthy(srv: &testkit::RunningServer) -> bool {
    let Ok(ch) = tonic::transport::Channel::from_shared(srv.url())
        .unwrap()
        .connect()
        .await
    else {
        return false;
    };
    HealthClient::new(ch)
        .check(HealthCheckRequest { service: String::new() })
        .await
        .is_ok()
}

#[tokio::test]
async fn a_connection_flood_beyond_the_limit_is_refused() {
    let srv = server(|c| c.server.max_connections = 5).await;
    let mut held = Vec::new();
    for _ in 0..5 {
        let mut s = TcpStream::connect(srv.addr).await.unwrap();
        s.write_all(HELLO).await.unwrap();
        held.push(s);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Every connection past the fifth is closed at once.
    for _ in 0..20 {
        let s = TcpStream::connect(srv.addr).await.unwrap();
        let took = closed_after(s, Duration::from_secs(2)).await;
        assert!(took < Duration::from_millis(500), "{took:?}");
    }
    assert!(!healthy(&srv).await, "no room for a sixth client");
    // The held ones are still served… and once one goes, there is room again.
    drop(held.pop());
    let t0 = Instant::now();
    while !healthy(&srv).await {
        assert!(t0.elapsed() < Duration::from_secs(3), "the freed slot was not reused");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn silent_and_idle_connections_are_closed_after_their_time_outs() {
    let srv = server(|c| {
        c.server.handshake_timeout_ms = 300;
        c.server.idle_timeout_secs = 1;
    })
    .await;
    // Says nothing at all: closed after the handshake time-out.
    let s = TcpStream::connect(srv.addr).await.unwrap();
    let took = closed_after(s, Duration::from_secs(5)).await;
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_millis(900),
        "{took:?}"
    );
    // Says hello, then nothing: closed after the idle time-out.
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    s.write_all(HELLO).await.unwrap();
    let took = closed_after(s, Duration::from_secs(6)).await;
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(2_500),
        "{took:?}"
    );
    // A client that keeps calling is not cut off.
    let ch = tonic::transport::Channel::from_shared(srv.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut h = HealthClient::new(ch);
    for _ in 0..8 {
        h.check(HealthCheckRequest { service: String::new() }).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test]
async fn calls_without_valid_credentials_are_limited_per_address() {
    let srv = server(|c| c.server.unauthenticated_per_minute = 30).await;
    let mut c = testkit::data_client(&srv).await.unwrap();
    let req = || GetSubscriberViewRequest {
        msisdn: "13800000001".into(),
        ..Default::default()
    };
    let (mut unauthenticated, mut limited) = (0, 0);
    for i in 0..200 {
        let r = if i % 2 == 0 {
            c.get_subscriber_view(req()).await
        } else {
            c.get_subscriber_view(with_token(req(), "not-a-token")).await
        };
        let e = r.unwrap_err();
        match e.code() {
            Code::Unauthenticated => unauthenticated += 1,
            Code::ResourceExhausted => {
                assert_eq!(e.get_details_error_info().unwrap().reason, "RATE_LIMITED");
                assert!(e.message().contains("without valid credentials"), "{}", e.message());
                limited += 1
            }
            other => panic!("{other:?}: {e:?}"),
        }
    }
    assert!(
        (30..=32).contains(&unauthenticated),
        "{unauthenticated} answered before the limit"
    );
    assert_eq!(limited, 200 - unauthenticated);
    // While over the limit the address is refused whatever it sends; health checks still pass.
    let e = c
        .get_subscriber_view(with_token(req(), &testkit::admin_token()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted);
    assert!(healthy(&srv).await);
    // Reflection counts against the same budget.
    let ch = tonic::transport::Channel::from_shared(srv.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let e = ServerReflectionClient::new(ch)
        .server_reflection_info(futures::stream::iter([ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        }]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted);
    // It recovers at the quota's pace (30 a minute: one every 2 s).
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    // (This gateway has no sources: the view is empty, but the call is served.)
    c.get_subscriber_view(with_token(req(), &testkit::admin_token()))
        .await
        .expect("a valid caller gets through again");
}

#[tokio::test]
async fn reflection_can_be_switched_off() {
    for on in [true, false] {
        let srv = server(|c| c.server.reflection = on).await;
        let ch = tonic::transport::Channel::from_shared(srv.url())
            .unwrap()
            .connect()
            .await
            .unwrap();
        let r = ServerReflectionClient::new(ch)
            .server_reflection_info(futures::stream::iter([ServerReflectionRequest {
                host: String::new(),
                message_request: Some(MessageRequest::ListServices(String::new())),
            }]))
            .await;
        match r {
            Ok(mut s) => {
                assert!(on);
                let m = s.get_mut().message().await.unwrap().unwrap();
                assert!(format!("{m:?}").contains("complaint.v1.ComplaintDataService"));
            }
            Err(e) => {
                assert!(!on, "{e:?}");
                assert_eq!(e.code(), Code::Unimplemented);
            }
        }
    }
}
