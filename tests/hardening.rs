//! Hardening found by an outside probe (issue 18), over a real server: admin RPCs scoped and audited like
//! reads; input that must not get through (fullwidth digits, bidirectional controls, malformed protobuf);
//! existence of other cities' subscribers not told apart.
mod identity_support;

use complaint_gateway::identity::Role;
use complaint_gateway::proto::complaint::v1::gateway_admin_service_client::GatewayAdminServiceClient;
use complaint_gateway::proto::complaint::v1::*;
use complaint_gateway::testkit::{self, with_token};
use identity_support::*;
use tonic::Code;
use tonic_types::StatusExt;

fn reason(s: &tonic::Status) -> String {
    s.get_details_error_info().map(|i| i.reason).unwrap_or_default()
}

fn invalidate(msisdn: &str) -> InvalidateSubscriberRequest {
    InvalidateSubscriberRequest {
        msisdn: msisdn.into(),
        sources: vec![],
    }
}

#[tokio::test]
async fn invalidate_subscriber_is_for_admins_and_services_within_their_regions_and_audited() {
    let env = start(|_, _| {}).await;
    let mut admin_rpc = GatewayAdminServiceClient::new(channel(&env.srv).await);
    let own = number_in("0571", 0);
    let ningbo = number_in("0574", 0);

    // A handler may not, whatever the city.
    let hz = handler("h-hz", &["0571"]);
    for m in [&own, &ningbo] {
        let e = admin_rpc
            .invalidate_subscriber(with_token(invalidate(m), &hz))
            .await
            .unwrap_err();
        assert_eq!(
            (e.code(), reason(&e).as_str()),
            (Code::PermissionDenied, "ROLE_REQUIRED"),
            "{e:?}"
        );
        assert!(e.message().contains("invalidate_cache"), "{}", e.message());
    }
    // An admin of Hangzhou may, in Hangzhou only.
    let hz_admin = testkit::token("a-hz", &[Role::Admin], &["0571"]);
    let r = admin_rpc
        .invalidate_subscriber(with_token(invalidate(&own), &hz_admin))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.sources, vec!["billing", "crm", "resource"]);
    let e = admin_rpc
        .invalidate_subscriber(with_token(invalidate(&ningbo), &hz_admin))
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), reason(&e).as_str()),
        (Code::PermissionDenied, "OUT_OF_REGION")
    );
    // A service client (every region) may anywhere.
    let svc = testkit::token("svc-crm", &[Role::Service], &[]);
    admin_rpc
        .invalidate_subscriber(with_token(invalidate(&ningbo), &svc))
        .await
        .unwrap();

    // Every call is on the record, with the number, the outcome and (for the admin) what was removed.
    let h = events_of(&env.srv, "h-hz").await;
    assert_eq!(h.len(), 2);
    assert!(
        h.iter()
            .all(|e| e.outcome() == AuditOutcome::Denied
                && e.action.ends_with("GatewayAdminService/InvalidateSubscriber"))
    );
    let a = events_of(&env.srv, "a-hz").await;
    assert_eq!(a.len(), 2);
    let ok = a.iter().find(|e| e.outcome() == AuditOutcome::Ok).unwrap();
    assert_eq!((ok.msisdn.as_str(), ok.region.as_str()), (own.as_str(), "0571"));
    assert!(
        ok.detail.starts_with("removed ") && ok.detail.ends_with("cached answer(s)"),
        "{}",
        ok.detail
    );
    let refused = a.iter().find(|e| e.outcome() == AuditOutcome::Denied).unwrap();
    assert_eq!(
        (refused.msisdn.as_str(), refused.region.as_str()),
        (ningbo.as_str(), "0574")
    );
    assert_eq!(events_of(&env.srv, "svc-crm").await.len(), 1);
}

/// Sends `frames` (raw bytes, one gRPC message each) to a unary method.
async fn raw_call(
    srv: &complaint_gateway::testkit::RunningServer,
    path: &'static str,
    frames: Vec<Vec<u8>>,
    token: &str,
) -> tonic::Status {
    use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
    #[derive(Default)]
    struct Raw;
    struct RawEncoder;
    struct Ignore;
    impl Encoder for RawEncoder {
        type Item = Vec<u8>;
        type Error = tonic::Status;
        fn encode(&mut self, item: Vec<u8>, buf: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
            use bytes::BufMut;
            buf.put_slice(&item);
            Ok(())
        }
    }
    impl Decoder for Ignore {
        type Item = ();
        type Error = tonic::Status;
        fn decode(&mut self, _buf: &mut DecodeBuf<'_>) -> Result<Option<()>, tonic::Status> {
            Ok(Some(()))
        }
    }
    impl Codec for Raw {
        type Encode = Vec<u8>;
        type Decode = ();
        type Encoder = RawEncoder;
        type Decoder = Ignore;
        fn encoder(&mut self) -> RawEncoder {
            RawEncoder
        }
        fn decoder(&mut self) -> Ignore {
            Ignore
        }
    }
    let mut grpc = tonic::client::Grpc::new(channel(srv).await);
    grpc.ready().await.unwrap();
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(path);
    let req = with_token(futures::stream::iter(frames), token);
    grpc.client_streaming(req, path, Raw).await.unwrap_err()
}

#[tokio::test]
async fn malformed_protobuf_and_extra_messages_are_invalid_arguments() {
    let env = start(|_, _| {}).await;
    let admin = testkit::admin_token();
    const VIEW: &str = "/complaint.v1.ComplaintDataService/GetSubscriberView";
    // Field 1 (msisdn) says 255 bytes follow; none do.
    let e = raw_call(&env.srv, VIEW, vec![vec![0x0a, 0xff, 0x01]], &admin).await;
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert_eq!(reason(&e), "INVALID_ARGUMENT");
    assert!(
        e.message().starts_with("request: malformed protobuf"),
        "{}",
        e.message()
    );
    // Two well-formed requests in one unary call: refused, not half-read.
    let one = {
        use prost::Message;
        view_req(&number_in("0571", 0)).encode_to_vec()
    };
    let e = raw_call(&env.srv, VIEW, vec![one.clone(), one.clone()], &admin).await;
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("exactly one request message"), "{}", e.message());
    // The same for the admin and diagnosis services.
    for path in [
        "/complaint.v1.GatewayAdminService/InvalidateSubscriber",
        "/complaint.v1.DiagnosisService/Diagnose",
    ] {
        let e = raw_call(&env.srv, path, vec![vec![0x0a, 0xff, 0x01]], &admin).await;
        assert_eq!(e.code(), Code::InvalidArgument, "{path}: {e:?}");
    }
}

#[tokio::test]
async fn fullwidth_numbers_read_and_invisible_characters_are_refused() {
    let env = start(|_, _| {}).await;
    let hz = handler("h-hz", &["0571"]);
    let own = number_in("0571", 0);
    let fullwidth: String = own
        .chars()
        .map(|c| char::from_u32(c as u32 - '0' as u32 + 0xFF10).unwrap())
        .collect();
    assert_eq!(fullwidth.len(), 33, "33 bytes, 11 characters");
    let r = view(&env.srv, &hz, &fullwidth).await.unwrap();
    assert_eq!(r.view.unwrap().msisdn, own);
    let r = view(&env.srv, &hz, &format!("＋８６ {fullwidth}")).await.unwrap();
    assert_eq!(r.view.unwrap().msisdn, own);

    // A purpose that reads differently on screen than it is stored, or hides characters: refused.
    let mut c = data(&env.srv).await;
    for purpose in ["工单\u{202E}1001-PC", "TICKET\u{200B}-1", "\u{2066}x\u{2069}"] {
        let mut r = view_req(&own);
        r.purpose = purpose.into();
        let e = c.get_subscriber_view(with_token(r, &hz)).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        assert!(
            e.message()
                .starts_with("purpose: must not contain bidirectional controls"),
            "{}",
            e.message()
        );
    }
    // And a display name.
    let mut admin_rpc = admin(&env.srv).await;
    let e = admin_rpc
        .create_identity(with_token(
            CreateIdentityRequest {
                id: "h-new".into(),
                display_name: "Zhang\u{202E}San".into(),
                roles: vec![pb_role_handler()],
                regions: vec!["0571".into()],
            },
            &testkit::admin_token(),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().starts_with("display_name: "), "{}", e.message());
}

#[tokio::test]
async fn other_cities_numbers_and_unknown_numbers_are_refused_alike() {
    let env = start(|_, _| {}).await;
    let hz = handler("h-hz", &["0571"]);
    let ningbo = number_in("0574", 0);
    let unknown = "13999999999";
    let a = view(&env.srv, &hz, &ningbo).await.unwrap_err();
    let b = view(&env.srv, &hz, unknown).await.unwrap_err();
    assert_eq!((a.code(), reason(&a)), (b.code(), reason(&b)));
    assert_eq!(a.message(), b.message());
    assert_eq!(a.code(), Code::PermissionDenied);
    // The same for usage streams and invalidation.
    let mut c = data(&env.srv).await;
    let usage = |m: &str| StreamUsageRequest {
        msisdn: m.into(),
        from: Some(prost_types::Timestamp {
            seconds: 1_790_000_000,
            nanos: 0,
        }),
        to: Some(prost_types::Timestamp {
            seconds: 1_790_086_400,
            nanos: 0,
        }),
        ..Default::default()
    };
    let a = c.stream_usage(with_token(usage(&ningbo), &hz)).await.err().unwrap();
    let b = c.stream_usage(with_token(usage(unknown), &hz)).await.err().unwrap();
    assert_eq!((a.code(), a.message()), (b.code(), b.message()));
    // The audit trail knows which was which.
    let events = events_of(&env.srv, "h-hz").await;
    let of = |m: &str| -> Vec<AuditOutcome> { events.iter().filter(|e| e.msisdn == m).map(|e| e.outcome()).collect() };
    assert_eq!(of(&ningbo), vec![AuditOutcome::Denied; 2]);
    assert_eq!(of(unknown), vec![AuditOutcome::NotFound; 2]);
    // A caller of every region still hears NOT_FOUND.
    let svc = testkit::token("svc", &[Role::Service], &[]);
    assert_eq!(view(&env.srv, &svc, unknown).await.unwrap_err().code(), Code::NotFound);
}

#[tokio::test]
async fn diagnose_checks_the_caller_and_the_number_before_classifying() {
    let env = start(|_, _| {}).await;
    let mut d = complaint_gateway::proto::complaint::v1::diagnosis_service_client::DiagnosisServiceClient::new(
        channel(&env.srv).await,
    );
    let req = |m: &str| DiagnoseRequest {
        msisdn: m.into(),
        text: "我已经交了钱为什么还停机".into(),
        ..Default::default()
    };
    let e = d
        .diagnose(with_token(req("12345"), &handler("h-hz", &["0571"])))
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), reason(&e).as_str()),
        (Code::InvalidArgument, "INVALID_MSISDN")
    );
    let auditor = testkit::token("aud", &[Role::Auditor], &[]);
    let e = d
        .diagnose(with_token(req(&number_in("0571", 0)), &auditor))
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), reason(&e).as_str()),
        (Code::PermissionDenied, "ROLE_REQUIRED")
    );
    // Both refusals are on the record.
    assert_eq!(
        events_of(&env.srv, "h-hz").await[0].outcome(),
        AuditOutcome::InvalidArgument
    );
    assert_eq!(events_of(&env.srv, "aud").await[0].outcome(), AuditOutcome::Denied);
}

fn pb_role_handler() -> i32 {
    complaint_gateway::proto::complaint::v1::Role::Handler as i32
}
