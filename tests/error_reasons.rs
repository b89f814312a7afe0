//! Every refusal carries a `google.rpc.ErrorInfo` with a domain reason next to the gRPC code, so a client
//! can act on the reason without parsing the message: out of region, missing role, rate limit, malformed
//! number, unknown source, unknown subscriber.
mod identity_support;

use complaint_gateway::error::DOMAIN;
use complaint_gateway::identity::Role;
use complaint_gateway::testkit::{self, with_token};
use identity_support::*;
use tonic::Code;
use tonic_types::StatusExt;

/// The status's code, ErrorInfo reason and domain.
fn reason(s: &tonic::Status) -> (Code, String) {
    let info = s
        .get_details_error_info()
        .unwrap_or_else(|| panic!("no ErrorInfo in {s:?}"));
    assert_eq!(info.domain, DOMAIN);
    (s.code(), info.reason)
}

#[tokio::test]
async fn refusals_carry_their_domain_reason() {
    let env = start(|cfg, _| cfg.auth.rate_limit_per_minute = 600).await;
    let hz = handler("h-hz", &["0571"]);

    // Another city's subscriber.
    let e = view(&env.srv, &hz, &number_in("0574", 0)).await.unwrap_err();
    assert_eq!(reason(&e), (Code::PermissionDenied, "OUT_OF_REGION".into()));
    assert!(e.message().contains("not in your regions (0571)"), "{}", e.message());

    // A role that may not read views.
    let auditor = testkit::token("a-1", &[Role::Auditor], &["0571"]);
    let e = view(&env.srv, &auditor, &number_in("0571", 0)).await.unwrap_err();
    assert_eq!(reason(&e), (Code::PermissionDenied, "ROLE_REQUIRED".into()));
    assert!(e.message().contains("read_view"), "{}", e.message());

    // A malformed number: the reason, and the field it concerns.
    let e = view(&env.srv, &hz, "1380013800").await.unwrap_err();
    assert_eq!(reason(&e), (Code::InvalidArgument, "INVALID_MSISDN".into()));
    let v = e.get_details_bad_request().unwrap().field_violations;
    assert_eq!(v[0].field, "msisdn");
    assert!(v[0].description.contains("11-digit"), "{}", v[0].description);

    // An unknown source in the filter names the configured ones.
    let mut c = data(&env.srv).await;
    let mut r = view_req(&number_in("0571", 0));
    r.sources = vec!["billing".into(), "biling".into()];
    let e = c.get_subscriber_view(with_token(r, &hz)).await.unwrap_err();
    assert_eq!(reason(&e), (Code::InvalidArgument, "UNKNOWN_SOURCE".into()));
    assert_eq!(
        e.get_details_bad_request().unwrap().field_violations[0].field,
        "sources[1]"
    );
    assert!(
        e.message().contains("configured sources: billing, crm, resource"),
        "{}",
        e.message()
    );

    // A number no backend knows.
    let e = view(&env.srv, &testkit::admin_token(), "13000000000")
        .await
        .unwrap_err();
    assert_eq!(reason(&e), (Code::NotFound, "NOT_FOUND".into()));

    // No credential at all.
    let e = c
        .get_subscriber_view(tonic::Request::new(view_req(&number_in("0571", 0))))
        .await
        .unwrap_err();
    assert_eq!(reason(&e), (Code::Unauthenticated, "UNAUTHENTICATED".into()));
}

#[tokio::test]
async fn the_rate_limit_says_rate_limited() {
    let env = start(|cfg, _| cfg.auth.rate_limit_per_minute = 3).await;
    let hz = handler("h-hz", &["0571"]);
    let number = number_in("0571", 0);
    let mut last = None;
    for _ in 0..5 {
        if let Err(e) = view(&env.srv, &hz, &number).await {
            last = Some(e);
            break;
        }
    }
    let e = last.expect("the fourth call within a minute is refused");
    assert_eq!(reason(&e), (Code::ResourceExhausted, "RATE_LIMITED".into()));
    assert!(e.message().contains("at most 3 requests a minute"), "{}", e.message());
}
