//! The OWASP API Security Top 10 items that apply to this gateway, walked over a real server. Each case is
//! an assertion on what a client gets back (code, message, fields) or on what was stored.
//!
//! API1 broken object-level authorisation · API2 broken authentication · API3 broken object-property-level
//! authorisation (excessive data exposure, mass assignment) · API4 unrestricted resource consumption ·
//! API5 broken function-level authorisation · injection (API8:2019) in every string field of every request.
mod identity_support;

use base64::Engine;
use complaint_gateway::identity::Role;
use complaint_gateway::proto::complaint::v1::{self as pb, *};
use complaint_gateway::testkit::{self, with_token};
use identity_support::*;
use tonic::Code;
use tonic_types::StatusExt;

fn ts(s: &str) -> prost_types::Timestamp {
    let t = chrono::DateTime::parse_from_rfc3339(s).unwrap();
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    }
}

fn usage_req(msisdn: &str) -> StreamUsageRequest {
    StreamUsageRequest {
        msisdn: msisdn.into(),
        from: Some(ts("2026-11-01T00:00:00+08:00")),
        to: Some(ts("2026-11-29T00:00:00+08:00")),
        ..Default::default()
    }
}

// ---- API1: broken object-level authorisation ----------------------------------------------------------

#[tokio::test]
async fn api1_a_caller_reaches_only_the_subscribers_of_their_regions() {
    let env = start(|_, _| {}).await;
    let hz_handler = handler("h-hz", &["0571"]);
    let ningbo = number_in("0574", 0);
    // Warm the cache with the full, unmasked view first: the cache must not hand it on.
    view(&env.srv, &testkit::admin_token(), &ningbo).await.unwrap();
    let mut c = data(&env.srv).await;
    let variants = [
        ningbo.clone(),
        format!("+86{ningbo}"),
        format!("86{ningbo}"),
        format!("+86 {ningbo}"),
    ];
    for v in &variants {
        let e = view(&env.srv, &hz_handler, v).await.unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied, "`{v}`: {e:?}");
    }
    for filter in [vec!["billing"], vec!["resource"], vec!["billing", "resource"]] {
        let mut r = view_req(&ningbo);
        r.sources = filter.iter().map(|s| s.to_string()).collect();
        let e = c.get_subscriber_view(with_token(r, &hz_handler)).await.unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied, "sources {filter:?}");
    }
    let e = c
        .stream_usage(with_token(usage_req(&ningbo), &hz_handler))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    // A handler with no regions at all sees no subscriber.
    let e = view(&env.srv, &handler("h-none", &[]), &number_in("0571", 0))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert!(e.message().contains("(none)"), "{}", e.message());
    // Every refusal is on the record.
    let denied = events_of(&env.srv, "h-hz").await;
    assert_eq!(denied.len(), variants.len() + 4);
    assert!(denied
        .iter()
        .all(|e| e.outcome() == AuditOutcome::Denied && e.msisdn == ningbo));
}

// ---- API2: broken authentication -----------------------------------------------------------------------

#[tokio::test]
async fn api2_tokens_cannot_be_forged_stripped_or_stretched() {
    let env = start(|cfg, _| cfg.auth.require_registered = false).await;
    let number = number_in("0571", 0);
    let b64 = |v: &serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let now = jsonwebtoken::get_current_timestamp();
    let payload = serde_json::json!({
        "sub": "h-x", "iss": "complaint-gateway", "aud": "complaint-gateway", "exp": now + 600,
        "roles": ["manager", "service"], "regions": ["0571"]
    });
    // alg=none, unsigned.
    let none = format!(
        "{}.{}.",
        b64(&serde_json::json!({"alg": "none", "typ": "JWT"})),
        b64(&payload)
    );
    // A real handler token whose payload is swapped for a more powerful one, signature kept.
    let real = handler("h-x", &["0571"]);
    let parts: Vec<&str> = real.split('.').collect();
    let tampered = format!("{}.{}.{}", parts[0], b64(&payload), parts[2]);
    // Claims missing: no exp; no sub. Signed with the real test key, so only the claims are wrong.
    let mut no_exp = payload.clone();
    no_exp.as_object_mut().unwrap().remove("exp");
    let sign = |p: &serde_json::Value| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header {
                kid: Some("test".into()),
                ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256)
            },
            p,
            &jsonwebtoken::EncodingKey::from_secret(b"complaint-gateway-test-signing-key-not-for-production").unwrap(),
        )
        .unwrap()
    };
    let mut no_sub = payload.clone();
    no_sub.as_object_mut().unwrap().remove("sub");
    let mut future = payload.clone();
    future["nbf"] = serde_json::json!(now + 3600);
    let mut bad_region = payload.clone();
    bad_region["regions"] = serde_json::json!(["*"]);
    let cases = [
        ("alg none", none, "supported algorithm"),
        ("tampered payload", tampered, "bad token signature"),
        ("no exp", sign(&no_exp), "lacks the `exp` claim"),
        ("no sub", sign(&no_sub), "lacks the `sub` claim"),
        ("not yet valid", sign(&future), "not yet valid"),
        ("wildcard region", sign(&bad_region), "`regions`"),
        ("empty bearer", String::new(), "missing credentials"),
        ("oversized", "a".repeat(9000), "longer than 8 KiB"),
    ];
    let mut c = data(&env.srv).await;
    for (what, token, reason) in cases {
        let mut r = tonic::Request::new(view_req(&number));
        r.metadata_mut()
            .insert("authorization", format!("Bearer {token}").trim().parse().unwrap());
        let e = c.get_subscriber_view(r).await.unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated, "{what}: {e:?}");
        assert!(
            e.message().contains(reason),
            "{what}: `{}` lacks `{reason}`",
            e.message()
        );
    }
}

#[tokio::test]
async fn api2_unregistered_callers_are_refused_when_registration_is_required() {
    let env = start(|cfg, _| cfg.auth.require_registered = true).await;
    let e = view(&env.srv, &handler("h-ghost", &["0571"]), &number_in("0571", 0))
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (
            Code::Unauthenticated,
            "identity `h-ghost` is not registered with this gateway"
        )
    );
}

// ---- API3: broken object-property-level authorisation ----------------------------------------------------

#[tokio::test]
async fn api3_responses_carry_only_what_the_role_may_see() {
    let env = start(|_, _| {}).await;
    let number = number_in("0571", 0);
    // The manager's unmasked read is cached first; the handler still gets masked data.
    let full = view(&env.srv, &testkit::token("m-hz", &[Role::Manager], &["0571"]), &number)
        .await
        .unwrap();
    let masked = view(&env.srv, &handler("h-hz", &["0571"]), &number).await.unwrap();
    let (f, m) = (
        full.view.unwrap().customer.unwrap(),
        masked.view.unwrap().customer.unwrap(),
    );
    assert_ne!(f.id_number, m.id_number);
    assert!(m.id_number.contains("********") && m.name.ends_with('*') && m.address.ends_with("****"));
    // A denial is an error and nothing else: no view, only its reason in the details, nothing from the
    // record in the text or the details.
    let e = view(&env.srv, &handler("h-nb", &["0574"]), &number).await.unwrap_err();
    let details = e.get_error_details();
    let info = details.error_info().expect("the reason is sent");
    assert_eq!(info.reason, "OUT_OF_REGION");
    assert!(info.metadata.is_empty(), "{:?}", info.metadata);
    assert!(details.bad_request().is_none() && details.debug_info().is_none() && details.help().is_none());
    let raw = String::from_utf8_lossy(e.details()).to_string();
    for leak in [&f.name, &f.id_number, &f.address, &f.customer_id, &f.city_name, &number] {
        assert!(!e.message().contains(leak.as_str()));
        assert!(!raw.contains(leak.as_str()));
    }
    // Mass assignment: a handler cannot grant itself roles, even for its own identity.
    let mut a = admin(&env.srv).await;
    let e = a
        .update_identity(with_token(
            UpdateIdentityRequest {
                id: "h-hz".into(),
                roles: vec![pb::Role::Manager as i32, pb::Role::Admin as i32],
                regions: vec!["0571".into(), "0574".into()],
                ..Default::default()
            },
            &handler("h-hz", &["0571"]),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    // GetCurrentIdentity tells the caller about themselves only.
    let me = a
        .get_current_identity(with_token(GetCurrentIdentityRequest {}, &handler("h-hz", &["0571"])))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (me.id.as_str(), me.permissions),
        ("h-hz", vec!["read_view".to_string(), "read_usage".to_string()])
    );
}

// ---- API4: unrestricted resource consumption -------------------------------------------------------------

#[tokio::test]
async fn api4_each_caller_has_a_rate_limit() {
    let env = start(|cfg, _| cfg.auth.rate_limit_per_minute = 5).await;
    let number = number_in("0571", 0);
    let t = handler("h-busy", &["0571"]);
    for _ in 0..5 {
        view(&env.srv, &t, &number).await.unwrap();
    }
    let e = view(&env.srv, &t, &number).await.unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted);
    assert!(e.message().contains("at most 5 requests a minute"), "{}", e.message());
    // The limit is per caller: another caller is served.
    view(&env.srv, &handler("h-calm", &["0571"]), &number).await.unwrap();
}

#[tokio::test]
async fn api4_sizes_pages_and_ranges_are_bounded() {
    let env = start(|_, _| {}).await;
    let number = number_in("0571", 0);
    let admin_t = testkit::token("big-admin", &Role::ALL, &["0571"]);
    let mut c = data(&env.srv).await;
    // An oversized request is refused before it is decoded.
    let mut r = view_req(&number);
    r.purpose = "x".repeat(100 * 1024);
    let e = c.get_subscriber_view(with_token(r, &admin_t)).await.unwrap_err();
    assert_eq!(e.code(), Code::OutOfRange);
    assert!(e.message().contains("message length too large"), "{}", e.message());
    let mut r = view_req(&number);
    r.purpose = "x".repeat(300);
    let e = c.get_subscriber_view(with_token(r, &admin_t)).await.unwrap_err();
    assert_eq!((e.code(), bad_field(&e).as_str()), (Code::InvalidArgument, "purpose"));
    let mut r = usage_req(&number);
    r.from = Some(ts("2025-01-01T00:00:00+08:00"));
    let e = c.stream_usage(with_token(r, &admin_t)).await.unwrap_err();
    assert_eq!((e.code(), bad_field(&e).as_str()), (Code::InvalidArgument, "to"));
    let mut r = view_req(&number);
    r.sources = (0..1000).map(|i| format!("nope{i}")).collect();
    let e = c.get_subscriber_view(with_token(r, &admin_t)).await.unwrap_err();
    assert_eq!(
        (e.code(), bad_field(&e).as_str()),
        (Code::InvalidArgument, "sources[0]")
    );
    assert!(e.message().len() < 300, "the error does not echo the whole request");
    let e = audit(&env.srv)
        .await
        .list_audit_events(with_token(
            ListAuditEventsRequest {
                page_size: 100_000,
                ..Default::default()
            },
            &admin_t,
        ))
        .await
        .unwrap_err();
    assert_eq!((e.code(), bad_field(&e).as_str()), (Code::InvalidArgument, "page_size"));
    let e = admin(&env.srv)
        .await
        .list_identities(with_token(
            ListIdentitiesRequest {
                page_size: 501,
                ..Default::default()
            },
            &admin_t,
        ))
        .await
        .unwrap_err();
    assert_eq!((e.code(), bad_field(&e).as_str()), (Code::InvalidArgument, "page_size"));
}

// ---- API5: broken function-level authorisation -------------------------------------------------------------

#[tokio::test]
async fn api5_each_function_needs_its_permission() {
    let env = start(|_, _| {}).await;
    let number = number_in("0571", 0);
    let tok = |r: Role| testkit::token(&format!("{r}-1"), &[r], &["0571"]);
    let mut a = admin(&env.srv).await;
    let mut au = audit(&env.srv).await;
    let mut d = data(&env.srv).await;
    for role in [
        Role::Handler,
        Role::Analyst,
        Role::Manager,
        Role::Service,
        Role::Auditor,
    ] {
        let t = tok(role);
        let denied = [
            a.create_identity(with_token(
                CreateIdentityRequest {
                    id: "x1".into(),
                    ..Default::default()
                },
                &t,
            ))
            .await
            .err(),
            a.update_identity(with_token(
                UpdateIdentityRequest {
                    id: "x1".into(),
                    ..Default::default()
                },
                &t,
            ))
            .await
            .err(),
            a.get_identity(with_token(GetIdentityRequest { id: "x1".into() }, &t))
                .await
                .err(),
            a.list_identities(with_token(ListIdentitiesRequest::default(), &t))
                .await
                .err(),
            a.set_operator_id(with_token(
                SetOperatorIdRequest {
                    identity_id: "x1".into(),
                    ..Default::default()
                },
                &t,
            ))
            .await
            .err(),
            a.delete_operator_id(with_token(
                DeleteOperatorIdRequest {
                    identity_id: "x1".into(),
                    ..Default::default()
                },
                &t,
            ))
            .await
            .err(),
        ];
        for e in denied {
            let e = e.unwrap_or_else(|| panic!("{role} reached an admin function"));
            assert_eq!(e.code(), Code::PermissionDenied, "{role}");
            assert!(e.message().contains("manage_identities"), "{}", e.message());
        }
        let e = au
            .list_audit_events(with_token(ListAuditEventsRequest::default(), &t))
            .await;
        assert_eq!(e.is_ok(), role == Role::Auditor, "{role} ListAuditEvents");
    }
    for role in [Role::Auditor, Role::Admin] {
        let e = d
            .get_subscriber_view(with_token(view_req(&number), &tok(role)))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied, "{role}");
        assert!(e.message().contains("read_view"), "{}", e.message());
        let e = d
            .stream_usage(with_token(usage_req(&number), &tok(role)))
            .await
            .unwrap_err();
        assert!(e.message().contains("read_usage"), "{}", e.message());
    }
    // A token with no role at all can do nothing but ask who it is.
    let nobody = testkit::token("nobody", &[], &["0571"]);
    assert_eq!(
        view(&env.srv, &nobody, &number).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    assert!(a
        .get_current_identity(with_token(GetCurrentIdentityRequest {}, &nobody))
        .await
        .is_ok());
}

// ---- Injection in every string field ----------------------------------------------------------------------

const PAYLOADS: &[&str] = &[
    "' OR '1'='1",
    "1; DROP TABLE audit_events; --",
    "13800000000' UNION SELECT id_number FROM customers --",
    "$(rm -rf /)",
    "{{7*7}}${7*7}",
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "%s%n%x",
    "\u{0}\u{7}\n",
    "０５７１",
    "😀😀😀",
];

fn bad_field(e: &tonic::Status) -> String {
    e.get_details_bad_request()
        .and_then(|b| b.field_violations.first().map(|v| v.field.clone()))
        .unwrap_or_default()
}

/// Either refused as INVALID_ARGUMENT naming `field`, or (where free text is allowed) accepted.
fn refused_or_accepted<T: std::fmt::Debug>(
    what: &str,
    field: &str,
    payload: &str,
    r: &Result<T, tonic::Status>,
    free_text: bool,
) -> bool {
    match r {
        Err(e) => {
            assert_eq!(e.code(), Code::InvalidArgument, "{what} `{payload:?}`: {e:?}");
            assert_eq!(bad_field(e), field, "{what} `{payload:?}`: {}", e.message());
            false
        }
        Ok(_) => {
            assert!(free_text, "{what}: `{payload:?}` was accepted in `{field}`");
            true
        }
    }
}

#[tokio::test]
async fn injection_in_every_string_field_is_refused_or_stored_verbatim() {
    let env = start(|_, _| {}).await;
    let admin_t = testkit::admin_token();
    let number = number_in("0571", 0);
    let long = "A".repeat(10_000);
    let mut payloads: Vec<&str> = PAYLOADS.to_vec();
    payloads.push(&long);
    let mut d = data(&env.srv).await;
    let mut a = admin(&env.srv).await;
    let mut au = audit(&env.srv).await;
    a.create_identity(with_token(
        CreateIdentityRequest {
            id: "victim".into(),
            roles: vec![pb::Role::Handler as i32],
            ..Default::default()
        },
        &admin_t,
    ))
    .await
    .unwrap();
    let role = vec![pb::Role::Handler as i32];
    let mut accepted_purposes = Vec::new();
    for (n, p) in payloads.iter().enumerate() {
        let p = p.to_string();
        let t = &admin_t;
        // ComplaintDataService
        let r = d.get_subscriber_view(with_token(view_req(&p), t)).await;
        refused_or_accepted("GetSubscriberView", "msisdn", &p, &r, false);
        let r = d
            .get_subscriber_view(with_token(
                GetSubscriberViewRequest {
                    msisdn: number.clone(),
                    sources: vec![p.clone()],
                    ..Default::default()
                },
                t,
            ))
            .await;
        refused_or_accepted("GetSubscriberView", "sources[0]", &p, &r, false);
        let r = d
            .get_subscriber_view(with_token(
                GetSubscriberViewRequest {
                    msisdn: number.clone(),
                    purpose: p.clone(),
                    ..Default::default()
                },
                t,
            ))
            .await;
        if refused_or_accepted("GetSubscriberView", "purpose", &p, &r, true) {
            accepted_purposes.push(p.clone());
        }
        let r = d.stream_usage(with_token(usage_req(&p), t)).await;
        refused_or_accepted("StreamUsage", "msisdn", &p, &r, false);
        let r = d
            .stream_usage(with_token(
                StreamUsageRequest {
                    purpose: p.clone(),
                    ..usage_req(&number)
                },
                t,
            ))
            .await;
        refused_or_accepted("StreamUsage", "purpose", &p, &r, true);
        // AuditService
        for (field, req) in [
            (
                "caller",
                ListAuditEventsRequest {
                    caller: p.clone(),
                    ..Default::default()
                },
            ),
            (
                "msisdn",
                ListAuditEventsRequest {
                    msisdn: p.clone(),
                    ..Default::default()
                },
            ),
            (
                "page_token",
                ListAuditEventsRequest {
                    page_token: p.clone(),
                    ..Default::default()
                },
            ),
        ] {
            let r = au.list_audit_events(with_token(req, t)).await;
            refused_or_accepted("ListAuditEvents", field, &p, &r, false);
        }
        // IdentityAdminService
        let r = a
            .create_identity(with_token(
                CreateIdentityRequest {
                    id: p.clone(),
                    roles: role.clone(),
                    ..Default::default()
                },
                t,
            ))
            .await;
        refused_or_accepted("CreateIdentity", "id", &p, &r, false);
        let id = format!("inj-{n}");
        let r = a
            .create_identity(with_token(
                CreateIdentityRequest {
                    id: id.clone(),
                    display_name: p.clone(),
                    roles: role.clone(),
                    ..Default::default()
                },
                t,
            ))
            .await;
        if refused_or_accepted("CreateIdentity", "display_name", &p, &r, true) {
            // Stored and returned verbatim.
            let got = a
                .get_identity(with_token(GetIdentityRequest { id: id.clone() }, t))
                .await
                .unwrap()
                .into_inner();
            assert_eq!(got.identity.unwrap().display_name, p.trim());
        }
        let r = a
            .create_identity(with_token(
                CreateIdentityRequest {
                    id: format!("inj-r{n}"),
                    regions: vec![p.clone()],
                    roles: role.clone(),
                    ..Default::default()
                },
                t,
            ))
            .await;
        refused_or_accepted("CreateIdentity", "regions[0]", &p, &r, false);
        let r = a
            .update_identity(with_token(
                UpdateIdentityRequest {
                    id: p.clone(),
                    ..Default::default()
                },
                t,
            ))
            .await;
        refused_or_accepted("UpdateIdentity", "id", &p, &r, false);
        let r = a
            .update_identity(with_token(
                UpdateIdentityRequest {
                    id: "victim".into(),
                    regions: vec![p.clone()],
                    ..Default::default()
                },
                t,
            ))
            .await;
        refused_or_accepted("UpdateIdentity", "regions[0]", &p, &r, false);
        let r = a
            .get_identity(with_token(GetIdentityRequest { id: p.clone() }, t))
            .await;
        refused_or_accepted("GetIdentity", "id", &p, &r, false);
        let r = a
            .list_identities(with_token(
                ListIdentitiesRequest {
                    page_token: p.clone(),
                    ..Default::default()
                },
                t,
            ))
            .await;
        refused_or_accepted("ListIdentities", "page_token", &p, &r, false);
        let op = |system: &str, city: &str, oid: &str| SetOperatorIdRequest {
            identity_id: "victim".into(),
            operator_id: Some(OperatorId {
                system: system.into(),
                city: city.into(),
                operator_id: oid.into(),
            }),
        };
        let r = a
            .set_operator_id(with_token(
                SetOperatorIdRequest {
                    identity_id: p.clone(),
                    ..op("billing", "", "JF1")
                },
                t,
            ))
            .await;
        refused_or_accepted("SetOperatorId", "identity_id", &p, &r, false);
        let r = a.set_operator_id(with_token(op(&p, "", "JF1"), t)).await;
        refused_or_accepted("SetOperatorId", "operator_id.system", &p, &r, false);
        let r = a.set_operator_id(with_token(op("billing", &p, "JF1"), t)).await;
        refused_or_accepted("SetOperatorId", "operator_id.city", &p, &r, false);
        let r = a.set_operator_id(with_token(op("crm", "", &p), t)).await;
        if refused_or_accepted("SetOperatorId", "operator_id.operator_id", &p, &r, true) {
            let got = r.unwrap().into_inner().identity.unwrap();
            assert!(got.operator_ids.iter().any(|o| o.system == "crm" && o.operator_id == p));
        }
        let r = a
            .delete_operator_id(with_token(
                DeleteOperatorIdRequest {
                    identity_id: p.clone(),
                    system: "crm".into(),
                    ..Default::default()
                },
                t,
            ))
            .await;
        refused_or_accepted("DeleteOperatorId", "identity_id", &p, &r, false);
        let r = a
            .delete_operator_id(with_token(
                DeleteOperatorIdRequest {
                    identity_id: "victim".into(),
                    system: p.clone(),
                    ..Default::default()
                },
                t,
            ))
            .await;
        if refused_or_accepted("DeleteOperatorId", "system", &p, &r, true) {
            assert!(
                !r.unwrap().into_inner().deleted,
                "nothing matches an injected system name"
            );
        }
        let r = a
            .delete_operator_id(with_token(
                DeleteOperatorIdRequest {
                    identity_id: "victim".into(),
                    system: "crm".into(),
                    city: p.clone(),
                },
                t,
            ))
            .await;
        refused_or_accepted("DeleteOperatorId", "city", &p, &r, false);
    }
    // Free text that is allowed is stored verbatim in the audit trail (bound, not interpreted).
    assert!(accepted_purposes.contains(&"1; DROP TABLE audit_events; --".to_string()));
    let events = events_of(&env.srv, "test-admin").await;
    for p in &accepted_purposes {
        assert!(
            events.iter().any(|e| &e.purpose == p),
            "purpose `{p}` not recorded verbatim"
        );
    }
    // Nothing was dropped or rewritten: the trail, the identities and the backends still answer.
    assert!(events.len() > payloads.len() * 10);
    let victim = a
        .get_identity(with_token(GetIdentityRequest { id: "victim".into() }, &admin_t))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(victim.identity.unwrap().roles, role);
    let v = view(&env.srv, &admin_t, &number).await.unwrap();
    assert_eq!(v.view.unwrap().msisdn, number);
}
