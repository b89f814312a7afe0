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
