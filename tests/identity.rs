//! Issue 3 acceptance over a real server: authentication failures say why, region scoping with audited
//! denials, masking by role, operator IDs bound per source and city, and one audit event per read.
mod identity_support;

use complaint_gateway::identity::audit::Outcome;
use complaint_gateway::identity::auth::{Claims, TokenIssuer};
use complaint_gateway::identity::Role;
use complaint_gateway::proto::complaint::v1::*;
use complaint_gateway::testkit::{self, with_token};
use identity_support::*;
use tonic::Code;

fn claims(sub: &str) -> Claims {
    let now = jsonwebtoken::get_current_timestamp();
    Claims {
        sub: sub.into(),
        iss: "complaint-gateway".into(),
        aud: "complaint-gateway".into(),
        exp: now + 600,
        nbf: None,
        iat: Some(now),
        roles: vec!["handler".into()],
        regions: vec!["0571".into()],
        name: None,
    }
}

fn bearer<T>(msg: T, header: &str) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.metadata_mut().insert("authorization", header.parse().unwrap());
    r
}

#[tokio::test]
async fn missing_or_invalid_credentials_are_unauthenticated_with_the_reason() {
    let env = start(|_, _| {}).await;
    let mut c = data(&env.srv).await;
    let number = number_in("0571", 0);
    let issuer = testkit::test_issuer();
    let now = jsonwebtoken::get_current_timestamp();
    let expired = issuer
        .sign(&Claims {
            exp: now - 3600,
            ..claims("h1")
        })
        .unwrap();
    let forged = TokenIssuer::hs256(
        "complaint-gateway",
        "complaint-gateway",
        Some("test"),
        b"not-the-gateway-key-but-32-bytes-long!",
    )
    .unwrap()
    .sign(&claims("h1"))
    .unwrap();
    let wrong_aud = issuer
        .sign(&Claims {
            aud: "billing-portal".into(),
            ..claims("h1")
        })
        .unwrap();
    let wrong_iss = issuer
        .sign(&Claims {
            iss: "someone-else".into(),
            ..claims("h1")
        })
        .unwrap();
    let cases: Vec<(&str, tonic::Request<GetSubscriberViewRequest>, &str)> = vec![
        (
            "no token",
            tonic::Request::new(view_req(&number)),
            "missing credentials",
        ),
        ("expired", with_token(view_req(&number), &expired), "token expired"),
        (
            "wrong signature",
            with_token(view_req(&number), &forged),
            "bad token signature",
        ),
        (
            "wrong audience",
            with_token(view_req(&number), &wrong_aud),
            "wrong token audience",
        ),
        (
            "wrong issuer",
            with_token(view_req(&number), &wrong_iss),
            "wrong token issuer",
        ),
        (
            "not a JWT",
            with_token(view_req(&number), "abc.def"),
            "malformed credentials",
        ),
        (
            "unknown API key",
            {
                let mut r = tonic::Request::new(view_req(&number));
                r.metadata_mut()
                    .insert("x-api-key", "cgw_guessed-key-material".parse().unwrap());
                r
            },
            "unknown API key",
        ),
        (
            "basic auth",
            bearer(view_req(&number), "Basic dXNlcjpwYXNz"),
            "must be `Bearer <token>`",
        ),
    ];
    for (what, request, reason) in cases {
        let e = c.get_subscriber_view(request).await.unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated, "{what}: {e:?}");
        assert!(
            e.message().contains(reason),
            "{what}: `{}` lacks `{reason}`",
            e.message()
        );
        // Never key material: neither the token nor the API key comes back.
        for secret in [
            &expired,
            &forged,
            &wrong_aud,
            "cgw_guessed-key-material",
            "dXNlcjpwYXNz",
        ] {
            assert!(!e.message().contains(secret), "{what}: the message echoes credentials");
        }
    }
    // StreamUsage and the admin services are behind the same layer.
    let e = c
        .stream_usage(tonic::Request::new(StreamUsageRequest {
            msisdn: number.clone(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.message().contains("missing credentials")),
        (Code::Unauthenticated, true)
    );
    let e = audit(&env.srv)
        .await
        .list_audit_events(ListAuditEventsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    // Health and reflection need no credentials.
    let mut h = tonic_health::pb::health_client::HealthClient::new(channel(&env.srv).await);
    let s = h
        .check(tonic_health::pb::HealthCheckRequest { service: String::new() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        s.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    // A good token for the right city works, and nothing of the failures was audited as a read.
    let ok = view(&env.srv, &handler("h1", &["0571"]), &number).await.unwrap();
    assert_eq!(ok.view.unwrap().customer.unwrap().region_code, "0571");
    assert_eq!(events_of(&env.srv, "h1").await.len(), 1);
}

#[tokio::test]
async fn a_handler_of_another_city_is_denied_and_the_denial_is_audited() {
    let env = start(|_, _| {}).await;
    let ningbo = number_in("0574", 0);
    // What the subscriber's record holds, read with full access, so the denial can be checked for it.
    let full = view(&env.srv, &testkit::admin_token(), &ningbo)
        .await
        .unwrap()
        .view
        .unwrap();
    let cust = full.customer.unwrap();
    assert_eq!(cust.region_code, "0574");

    let e = view(&env.srv, &handler("h-hz", &["0571"]), &ningbo).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert!(e.message().contains("not in your regions (0571)"), "{}", e.message());
    for leak in [
        cust.name.as_str(),
        cust.id_number.as_str(),
        cust.city_name.as_str(),
        "0574",
        &cust.customer_id,
    ] {
        assert!(!e.message().contains(leak), "the denial mentions `{leak}`");
    }
    // The details hold the reason and nothing about the subscriber.
    let info = tonic_types::StatusExt::get_details_error_info(&e).expect("the reason is sent");
    assert_eq!(info.reason, "OUT_OF_REGION");
    assert!(info.metadata.is_empty());
    let raw = String::from_utf8_lossy(e.details()).to_string();
    assert!(!raw.contains(&cust.name) && !raw.contains(&cust.id_number) && !raw.contains(&ningbo));
    // Narrowing the sources to one without the region does not get around the check.
    let mut req = view_req(&ningbo);
    req.sources = vec!["billing".into()];
    let e = data(&env.srv)
        .await
        .get_subscriber_view(with_token(req, &handler("h-hz", &["0571"])))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);

    let events = events_of(&env.srv, "h-hz").await;
    assert_eq!(events.len(), 2);
    for ev in &events {
        assert_eq!(ev.outcome(), AuditOutcome::Denied);
        assert_eq!((ev.msisdn.as_str(), ev.region.as_str()), (ningbo.as_str(), "0574"));
        assert_eq!(ev.action, "complaint.v1.ComplaintDataService/GetSubscriberView");
        assert_eq!(ev.roles, vec!["handler".to_string()]);
        assert!(ev.detail.contains("not in your regions"));
        assert!(ev.sources.contains(&"crm".to_string()));
    }
    // The filtered read touched billing for the view and crm for the region.
    assert_eq!(events[0].sources, vec!["billing".to_string(), "crm".to_string()]);
    // The same handler reads their own city.
    let own = view(&env.srv, &handler("h-hz", &["0571"]), &number_in("0571", 0))
        .await
        .unwrap();
    assert_eq!(own.view.unwrap().customer.unwrap().region_code, "0571");
}

#[tokio::test]
async fn a_two_region_handler_reads_both_cities_and_no_other() {
    let env = start(|_, _| {}).await;
    let t = handler("h-two", &["0571", "0574"]);
    for city in ["0571", "0574"] {
        let v = view(&env.srv, &t, &number_in(city, 0)).await.unwrap();
        assert_eq!(v.view.unwrap().customer.unwrap().region_code, city);
    }
    let e = view(&env.srv, &t, &number_in("0577", 0)).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert!(e.message().contains("0571, 0574"), "{}", e.message());
    let outcomes: Vec<AuditOutcome> = events_of(&env.srv, "h-two").await.iter().map(|e| e.outcome()).collect();
    assert_eq!(outcomes, vec![AuditOutcome::Denied, AuditOutcome::Ok, AuditOutcome::Ok]);
}

#[tokio::test]
async fn personal_fields_are_masked_for_roles_without_pii() {
    let env = start(|_, _| {}).await;
    // A Hangzhou subscriber with a bank account (postpaid) and an e-mail, to see every masked kind.
    let mut number = number_in("0571", 0);
    for k in 0..8 {
        let n = number_in("0571", k);
        let v = view(&env.srv, &testkit::admin_token(), &n).await.unwrap().view.unwrap();
        if !v.account.unwrap().bank_account.is_empty() && !v.customer.unwrap().email.is_empty() {
            number = n;
            break;
        }
    }
    let manager = view(&env.srv, &testkit::token("m-hz", &[Role::Manager], &["0571"]), &number)
        .await
        .unwrap()
        .view
        .unwrap();
    let handler_view = view(&env.srv, &handler("h-hz", &["0571"]), &number)
        .await
        .unwrap()
        .view
        .unwrap();
    let service = view(&env.srv, &testkit::token("svc", &[Role::Service], &[]), &number)
        .await
        .unwrap()
        .view
        .unwrap();

    let m = manager.customer.as_ref().unwrap();
    assert!(
        !m.name.contains('*') && m.id_number.len() == 18 && !m.id_number.contains('*'),
        "{m:?}"
    );
    assert!(m.address.starts_with("浙江省杭州市") && !m.address.contains('*'));
    for masked in [&handler_view, &service] {
        let h = masked.customer.as_ref().unwrap();
        let first = m.name.chars().next().unwrap();
        assert_eq!(h.name, format!("{first}{}", "*".repeat(m.name.chars().count() - 1)));
        assert_eq!(
            h.id_number,
            format!("{}********{}", &m.id_number[..6], &m.id_number[14..])
        );
        assert_eq!(h.address, "浙江省杭州市****");
        assert_eq!(
            h.contact_phone,
            format!("{}****{}", &m.contact_phone[..3], &m.contact_phone[7..])
        );
        if !m.email.is_empty() {
            assert!(h.email.contains("***@") && h.email != m.email);
        }
        // What is not personal is the same for everyone.
        assert_eq!(
            (h.region_code.as_str(), h.city_name.as_str(), h.vip_level),
            (m.region_code.as_str(), m.city_name.as_str(), m.vip_level)
        );
        assert_eq!(masked.plan, manager.plan);
        assert_eq!(masked.recent_bills, manager.recent_bills);
        let (ma, ha) = (manager.account.as_ref().unwrap(), masked.account.as_ref().unwrap());
        assert_eq!(ma.balance_fen, ha.balance_fen);
        if !ma.bank_account.is_empty() {
            assert_eq!(
                ha.bank_account,
                format!(
                    "{}{}",
                    "*".repeat(ma.bank_account.len() - 4),
                    &ma.bank_account[ma.bank_account.len() - 4..]
                )
            );
        }
        if let (Some(ml), Some(hl)) = (&manager.line, &masked.line) {
            if !ml.imei.is_empty() {
                assert_eq!(hl.imei, format!("{}{}", &ml.imei[..8], "*".repeat(ml.imei.len() - 8)));
            }
            assert_eq!(hl.terminal_model, ml.terminal_model);
        }
    }
    // Warm reads share one kept view, its masked copy and their encodings: in any order, each caller
    // still gets their own form of it.
    for _ in 0..2 {
        let again = view(&env.srv, &handler("h-hz", &["0571"]), &number)
            .await
            .unwrap()
            .view
            .unwrap();
        assert_eq!(again, handler_view);
        let again = view(&env.srv, &testkit::token("m-hz", &[Role::Manager], &["0571"]), &number)
            .await
            .unwrap()
            .view
            .unwrap();
        assert_eq!(again, manager);
    }
}

#[tokio::test]
async fn operator_ids_are_bound_per_source_and_per_city() {
    // A ticketing backend whose query records who read the subscriber (its own audit column), via
    // :operator_id — the caller never sends it.
    let env = start(|cfg, dir| {
        let url = format!("sqlite://{}?mode=rwc", dir.join("ticketing.db").display());
        let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ticketing");
        cfg.sources.push(testkit::source(folder, &url, 2_000));
    })
    .await;
    let url = format!("sqlite://{}?mode=rwc", env.dir.path().join("ticketing.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("CREATE TABLE subscriber (msisdn TEXT PRIMARY KEY)")
        .execute(&pool)
        .await
        .unwrap();
    let (hz, nb) = (number_in("0571", 0), number_in("0574", 0));
    for n in [&hz, &nb] {
        sqlx::query("INSERT INTO subscriber VALUES (?)")
            .bind(n)
            .execute(&pool)
            .await
            .unwrap();
    }
    let dir = &env.srv.gateway.identity.directory;
    let f = |regions: &[&str]| complaint_gateway::identity::directory::IdentityFields {
        display_name: String::new(),
        roles: [Role::Handler].into(),
        regions: regions.iter().map(|s| s.to_string()).collect(),
        disabled: false,
    };
    dir.create("h-two", &f(&["0571", "0574"])).await.unwrap();
    dir.set_operator_id("h-two", "ticketing", "0571", "TK-HZ-7")
        .await
        .unwrap();
    dir.set_operator_id("h-two", "ticketing", "0574", "TK-NB-7")
        .await
        .unwrap();
    dir.create("h-hz", &f(&["0571"])).await.unwrap();
    dir.set_operator_id("h-hz", "ticketing", "", "TK-ALL-1").await.unwrap();

    let handled_by = |r: &GetSubscriberViewResponse| -> String {
        let ext = &r.view.as_ref().unwrap().extensions["ticketing"];
        match &ext.fields["handled_by"].kind {
            Some(prost_types::value::Kind::StringValue(s)) => s.clone(),
            other => panic!("handled_by is {other:?}"),
        }
    };
    let two = handler("h-two", &["0571", "0574"]);
    assert_eq!(handled_by(&view(&env.srv, &two, &hz).await.unwrap()), "TK-HZ-7");
    assert_eq!(handled_by(&view(&env.srv, &two, &nb).await.unwrap()), "TK-NB-7");
    assert_eq!(
        handled_by(&view(&env.srv, &handler("h-hz", &["0571"]), &hz).await.unwrap()),
        "TK-ALL-1"
    );
    // A caller without a mapping binds nothing; the backend sees NULL, not someone else's ID.
    let none = view(&env.srv, &handler("h-unmapped", &["0571"]), &hz).await.unwrap();
    assert!(matches!(
        none.view.unwrap().extensions["ticketing"]
            .fields
            .get("handled_by")
            .and_then(|v| v.kind.clone()),
        None | Some(prost_types::value::Kind::NullValue(_))
    ));
}

#[tokio::test]
async fn two_hundred_concurrent_reads_produce_exactly_two_hundred_audit_events() {
    // The default store shape: a SQLite file in WAL mode.
    let env = start(|cfg, dir| cfg.store.url = format!("sqlite://{}", dir.join("gateway.db").display())).await;
    let ch = channel(&env.srv).await;
    let t = handler("h-load", &["0571", "0574", "0577", "0579"]);
    let before = env.srv.gateway.identity.audit.count().await.unwrap();
    let reads = (0..200u64).map(|i| {
        let mut c =
            complaint_gateway::proto::complaint::v1::complaint_data_service_client::ComplaintDataServiceClient::new(
                ch.clone(),
            );
        let t = t.clone();
        async move {
            let mut r = view_req(&complaint_gateway::tools::seed::msisdn(i % SUBSCRIBERS));
            r.purpose = format!("CP-{i}");
            c.get_subscriber_view(with_token(r, &t)).await
        }
    });
    let results = futures::future::join_all(reads).await;
    assert!(
        results.iter().all(|r| r.is_ok()),
        "{:?}",
        results.iter().find(|r| r.is_err())
    );
    let events = events_of(&env.srv, "h-load").await;
    assert_eq!(events.len(), 200);
    let mut purposes: Vec<String> = events.iter().map(|e| e.purpose.clone()).collect();
    purposes.sort();
    purposes.dedup();
    assert_eq!(purposes.len(), 200, "one event per read, none doubled");
    assert!(events
        .iter()
        .all(|e| e.outcome() == AuditOutcome::Ok && e.sources == vec!["billing", "crm", "resource"]));
    // Nothing else was written but the ListAuditEvents calls of the check itself.
    let after = env.srv.gateway.identity.audit.count().await.unwrap();
    assert_eq!(after - before, 200 + 1);
    let _ = Outcome::Ok;
}

#[tokio::test]
async fn stream_usage_is_authorised_audited_and_masked() {
    let env = start(|_, _| {}).await;
    let ts = |s: &str| {
        let t = chrono::DateTime::parse_from_rfc3339(s).unwrap();
        prost_types::Timestamp {
            seconds: t.timestamp(),
            nanos: 0,
        }
    };
    let req = |n: &str| StreamUsageRequest {
        msisdn: n.to_string(),
        from: Some(ts("2026-10-01T00:00:00+08:00")),
        to: Some(ts("2026-11-29T00:00:00+08:00")),
        purpose: "CP-77".into(),
        ..Default::default()
    };
    // A Hangzhou subscriber with voice records to someone's number.
    let mut c = data(&env.srv).await;
    let mut picked = None;
    for k in 0..8 {
        let n = number_in("0571", k);
        let mut s = c
            .stream_usage(with_token(req(&n), &testkit::admin_token()))
            .await
            .unwrap()
            .into_inner();
        let mut recs = Vec::new();
        while let Some(m) = s.message().await.unwrap() {
            recs.push(m.record.unwrap());
        }
        if recs
            .iter()
            .any(|r| r.counterpart.len() == 11 && r.counterpart.bytes().all(|b| b.is_ascii_digit()))
        {
            picked = Some((n, recs));
            break;
        }
    }
    let (number, unmasked) = picked.expect("a Hangzhou subscriber with call records");
    let mut s = c
        .stream_usage(with_token(req(&number), &handler("h-hz", &["0571"])))
        .await
        .unwrap()
        .into_inner();
    let mut masked = Vec::new();
    while let Some(m) = s.message().await.unwrap() {
        masked.push(m.record.unwrap());
    }
    assert_eq!(masked.len(), unmasked.len());
    for (m, u) in masked.iter().zip(&unmasked) {
        assert_eq!(
            (m.record_id.as_str(), m.quantity, m.charged_fen),
            (u.record_id.as_str(), u.quantity, u.charged_fen)
        );
        if u.counterpart.len() == 11 && u.counterpart.bytes().all(|b| b.is_ascii_digit()) {
            assert_eq!(
                m.counterpart,
                format!("{}****{}", &u.counterpart[..3], &u.counterpart[7..])
            );
        } else {
            assert_eq!(m.counterpart, u.counterpart);
        }
    }
    // Another city: denied before any record; an analyst (no read_usage): denied.
    let e = c
        .stream_usage(with_token(req(&number_in("0577", 0)), &handler("h-hz", &["0571"])))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let e = c
        .stream_usage(with_token(req(&number), &testkit::token("an-1", &[Role::Analyst], &[])))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert!(e.message().contains("read_usage"), "{}", e.message());
    let events = events_of(&env.srv, "h-hz").await;
    assert_eq!(events.len(), 2);
    assert_eq!(
        (events[0].outcome(), events[1].outcome()),
        (AuditOutcome::Denied, AuditOutcome::Ok)
    );
    assert_eq!(events[1].action, "complaint.v1.ComplaintDataService/StreamUsage");
    assert_eq!(
        (
            events[1].msisdn.as_str(),
            events[1].purpose.as_str(),
            events[1].region.as_str()
        ),
        (number.as_str(), "CP-77", "0571")
    );
    assert_eq!(events[1].sources, vec!["crm".to_string(), "billing".to_string()]);
    assert_eq!(events_of(&env.srv, "an-1").await[0].outcome(), AuditOutcome::Denied);
}

#[tokio::test]
async fn a_registered_identity_caps_its_token_and_can_be_disabled() {
    let env = start(|_, _| {}).await;
    let mut a = admin(&env.srv).await;
    let admin_t = testkit::admin_token();
    a.create_identity(with_token(
        CreateIdentityRequest {
            id: "h-cap".into(),
            display_name: "张三".into(),
            roles: vec![complaint_gateway::proto::complaint::v1::Role::Handler as i32],
            regions: vec!["0571".into()],
        },
        &admin_t,
    ))
    .await
    .unwrap();
    // The token claims manager in two cities; the registry says handler in 0571.
    let greedy = testkit::token("h-cap", &[Role::Handler, Role::Manager], &["0571", "0574"]);
    let me = a
        .get_current_identity(with_token(GetCurrentIdentityRequest {}, &greedy))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        me.roles,
        vec![complaint_gateway::proto::complaint::v1::Role::Handler as i32]
    );
    assert_eq!((me.regions, me.registered), (vec!["0571".to_string()], true));
    assert!(!me.permissions.contains(&"read_pii".to_string()));
    let v = view(&env.srv, &greedy, &number_in("0571", 0)).await.unwrap();
    assert!(
        v.view.unwrap().customer.unwrap().name.contains('*'),
        "capped to handler: masked"
    );
    assert_eq!(
        view(&env.srv, &greedy, &number_in("0574", 0)).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    // Disabled: refused at once, whatever the token says.
    a.update_identity(with_token(
        UpdateIdentityRequest {
            id: "h-cap".into(),
            roles: vec![complaint_gateway::proto::complaint::v1::Role::Handler as i32],
            regions: vec!["0571".into()],
            disabled: true,
            ..Default::default()
        },
        &admin_t,
    ))
    .await
    .unwrap();
    let e = view(&env.srv, &greedy, &number_in("0571", 0)).await.unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (Code::Unauthenticated, "identity `h-cap` is disabled")
    );
}

#[tokio::test]
async fn api_keys_authenticate_service_clients() {
    let (key, hash) = complaint_gateway::identity::auth::new_api_key();
    let env = start(move |cfg, _| {
        cfg.auth
            .api_keys
            .push(complaint_gateway::identity::config::ApiKeyConfig {
                id: "ivr".into(),
                sha256: hash,
                subject: "svc-ivr".into(),
                roles: vec!["service".into()],
                regions: vec![],
            })
    })
    .await;
    let mut c = data(&env.srv).await;
    for (name, value) in [("x-api-key", key.clone()), ("authorization", format!("ApiKey {key}"))] {
        let mut r = tonic::Request::new(view_req(&number_in("0579", 0)));
        r.metadata_mut().insert(name, value.parse().unwrap());
        let v = c.get_subscriber_view(r).await.unwrap().into_inner().view.unwrap();
        // Every region (service), masked (no read_pii).
        let cust = v.customer.unwrap();
        assert_eq!(cust.region_code, "0579");
        assert!(cust.id_number.contains("********"));
    }
    let events = events_of(&env.srv, "svc-ivr").await;
    assert_eq!(events.len(), 2);
    assert!(events
        .iter()
        .all(|e| e.auth_method == "api_key:ivr" && e.roles == vec!["service"]));
}

#[tokio::test]
async fn audit_events_filter_by_caller_subscriber_outcome_and_time_and_page() {
    let env = start(|_, _| {}).await;
    let hz = number_in("0571", 0);
    let t0 = chrono::Utc::now();
    for k in 0..3 {
        view(&env.srv, &handler("h-a", &["0571"]), &number_in("0571", k))
            .await
            .unwrap();
    }
    view(&env.srv, &handler("h-b", &["0577"]), &hz).await.unwrap_err();
    let mut c = audit(&env.srv).await;
    let list = |r: ListAuditEventsRequest| with_token(r, &testkit::admin_token());
    let by_number = c
        .list_audit_events(list(ListAuditEventsRequest {
            msisdn: format!("+86{hz}"),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    let callers: Vec<&str> = by_number.events.iter().map(|e| e.caller.as_str()).collect();
    assert_eq!(callers, vec!["h-b", "h-a"]);
    let denied = c
        .list_audit_events(list(ListAuditEventsRequest {
            outcome: AuditOutcome::Denied as i32,
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(denied.events.len(), 1);
    assert_eq!(denied.events[0].caller, "h-b");
    // Paging: two pages of two for h-a's three reads... and the time window.
    let p1 = c
        .list_audit_events(list(ListAuditEventsRequest {
            caller: "h-a".into(),
            page_size: 2,
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(p1.events.len(), 2);
    let p2 = c
        .list_audit_events(list(ListAuditEventsRequest {
            caller: "h-a".into(),
            page_size: 2,
            page_token: p1.next_page_token.clone(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((p2.events.len(), p2.next_page_token.as_str()), (1, ""));
    assert!(p1.events[1].event_id > p2.events[0].event_id, "newest first");
    let later = prost_types::Timestamp {
        seconds: (t0 + chrono::Duration::hours(1)).timestamp(),
        nanos: 0,
    };
    let none = c
        .list_audit_events(list(ListAuditEventsRequest {
            caller: "h-a".into(),
            from: Some(later),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(none.events.is_empty());
    // Only auditors and admins read the trail.
    let e = c
        .list_audit_events(with_token(
            ListAuditEventsRequest::default(),
            &handler("h-a", &["0571"]),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let ok = c
        .list_audit_events(with_token(
            ListAuditEventsRequest::default(),
            &testkit::token("aud", &[Role::Auditor], &[]),
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(ok.events.iter().any(|e| e.caller == "h-b"));
    // The auditor's own reading is on the record too.
    assert_eq!(
        events_of(&env.srv, "aud").await[0].action,
        "complaint.v1.AuditService/ListAuditEvents"
    );
}
