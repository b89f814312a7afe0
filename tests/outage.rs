//! Outages are not denials. With the CRM (the source that knows each subscriber's region) black-holed or
//! dropping connections behind a TCP proxy, a handler's read of their own city's subscriber is answered
//! from the other sources, authorised by the region the gateway last heard from the CRM (its age said in
//! the CRM's status and the audit event); with no region on record it is UNAVAILABLE (REGION_UNAVAILABLE,
//! retryable) and audited as OUTAGE. No outage turns into PERMISSION_DENIED. A burst that fills the CRM's
//! queue does not refuse handlers either: their region lookups take the stack's reserved lane.
mod fault_proxy;

use complaint_gateway::adapters::registry::Registry;
use complaint_gateway::adapters::{Adapter, AdapterError, FetchRequest, SourceData};
use complaint_gateway::config::StackConfig;
use complaint_gateway::identity::audit::{AuditFilter, Outcome};
use complaint_gateway::identity::Role;
use complaint_gateway::proto::complaint::v1::*;
use complaint_gateway::testkit::{self, with_token, TestDatabase};
use complaint_gateway::tools::{demo, seed, seed::load::System};
use fault_proxy::{FaultProxy, Mode};
use futures::future::BoxFuture;
use prost::Message;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic::Code;
use tonic_types::StatusExt;

const SUBSCRIBERS: u64 = 60;

fn number_in(city: &str, skip: usize) -> String {
    seed::msisdn(demo::subscriber_in(city, SUBSCRIBERS, skip).unwrap())
}

fn view_req(msisdn: &str) -> GetSubscriberViewRequest {
    GetSubscriberViewRequest {
        msisdn: msisdn.into(),
        ..Default::default()
    }
}

fn reason(s: &tonic::Status) -> String {
    s.get_details_error_info().map(|i| i.reason).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crm_outage_answers_from_the_remembered_region_or_unavailable_never_denied() {
    let Some(my) = testkit::db_url("CGW_TEST_MYSQL_URL") else {
        return;
    };
    let crm = TestDatabase::create(&my, "outage_crm").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let lite = testkit::sqlite_urls(dir.path());
    let direct = vec![lite[0].clone(), (System::Crm, crm.url.clone()), lite[2].clone()];
    testkit::seed(&direct, SUBSCRIBERS).await.unwrap();
    let proxy = FaultProxy::start(&format!(
        "{}:{}",
        url::Url::parse(&crm.url).unwrap().host_str().unwrap(),
        url::Url::parse(&crm.url).unwrap().port().unwrap_or(3306)
    ))
    .await;
    let mut cfg = testkit::config(&direct);
    // No cached answers: what decides during the outage is the region memory alone.
    cfg.cache.enabled = false;
    for s in &mut cfg.sources {
        if s.definition.ends_with("crm") {
            s.url = Some(proxy.url_for(&crm.url));
            s.timeout_ms = 400;
            s.connect_timeout_ms = 400;
        }
    }
    let srv = testkit::spawn(cfg).await.unwrap();
    let mut c = testkit::data_client(&srv).await.unwrap();
    let hz = testkit::token("h-hz", &[Role::Handler], &["0571"]);
    let warm: Vec<String> = (0..3).map(|i| number_in("0571", i)).collect();
    let cold: Vec<String> = (3..6).map(|i| number_in("0571", i)).collect();
    let ningbo = number_in("0574", 0);

    // Healthy: the handler reads some of their city's subscribers (and is refused a Ningbo one).
    for m in &warm {
        let r = c
            .get_subscriber_view(with_token(view_req(m), &hz))
            .await
            .unwrap()
            .into_inner();
        assert!(
            r.sources.iter().all(|s| s.state() == SourceState::Ok),
            "{:?}",
            r.sources
        );
    }
    let e = c
        .get_subscriber_view(with_token(view_req(&ningbo), &hz))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);

    let mut denied_by_outage = 0;
    let mut unavailable = 0;
    let mut answered = 0;
    for mode in [Mode::BlackHole, Mode::Drop] {
        proxy.set(mode);
        for round in 0..3 {
            for m in &warm {
                let t0 = Instant::now();
                let r = c.get_subscriber_view(with_token(view_req(m), &hz)).await;
                match r {
                    Ok(r) => {
                        let r = r.into_inner();
                        answered += 1;
                        let crm = r.sources.iter().find(|s| s.source == "crm").unwrap();
                        assert!(
                            matches!(crm.state(), SourceState::Unavailable | SourceState::Timeout),
                            "{mode:?} round {round}: {crm:?}"
                        );
                        assert!(crm.detail.contains("region 0571 as last reported"), "{}", crm.detail);
                        let billing = r.sources.iter().find(|s| s.source == "billing").unwrap();
                        assert_eq!(billing.state(), SourceState::Ok);
                        assert!(r.view.unwrap().account.is_some(), "the other sources still answer");
                        assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
                    }
                    Err(e) if e.code() == Code::PermissionDenied => denied_by_outage += 1,
                    Err(e) => panic!("{mode:?}: {m}: {e:?}"),
                }
            }
            for m in &cold {
                let e = c.get_subscriber_view(with_token(view_req(m), &hz)).await.unwrap_err();
                if e.code() == Code::PermissionDenied {
                    denied_by_outage += 1;
                    continue;
                }
                assert_eq!(e.code(), Code::Unavailable, "{mode:?}: {e:?}");
                assert_eq!(reason(&e), "REGION_UNAVAILABLE");
                assert!(e.message().contains("crm did not answer"), "{}", e.message());
                unavailable += 1;
            }
        }
        // A region the gateway knows still refuses what it should: Ningbo's subscriber stays Ningbo's.
        let e = c
            .get_subscriber_view(with_token(view_req(&ningbo), &hz))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
        // StreamUsage's region check follows the same rule.
        let e = match c
            .stream_usage(with_token(
                StreamUsageRequest {
                    msisdn: cold[0].clone(),
                    from: Some(prost_types::Timestamp {
                        seconds: 1_790_000_000,
                        nanos: 0,
                    }),
                    to: Some(prost_types::Timestamp {
                        seconds: 1_790_086_400,
                        nanos: 0,
                    }),
                    ..Default::default()
                },
                &hz,
            ))
            .await
        {
            Ok(_) => panic!("no region, no stream"),
            Err(e) => e,
        };
        assert_eq!(
            (e.code(), reason(&e).as_str()),
            (Code::Unavailable, "REGION_UNAVAILABLE")
        );
    }
    assert_eq!(denied_by_outage, 0, "an outage must never read as a denial");
    assert_eq!(answered, 2 * 3 * warm.len());
    assert_eq!(unavailable, 2 * 3 * cold.len());

    // The audit trail says outage, not denial.
    let (events, _) = srv
        .gateway
        .identity
        .audit
        .list(&AuditFilter {
            caller: Some("h-hz".into()),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    let outages: Vec<_> = events.iter().filter(|e| e.outcome == Outcome::Outage).collect();
    assert_eq!(outages.len(), unavailable + 2, "every cold read and both streams");
    assert!(outages.iter().all(|e| cold.contains(&e.msisdn)));
    assert!(outages
        .iter()
        .all(|e| e.detail.contains("region could not be established")));
    let remembered: Vec<_> = events
        .iter()
        .filter(|e| e.outcome == Outcome::Ok && e.detail.contains("as last reported"))
        .collect();
    assert_eq!(remembered.len(), answered);
    assert!(remembered.iter().all(|e| e.region == "0571"));
    let denied: Vec<_> = events.iter().filter(|e| e.outcome == Outcome::Denied).collect();
    assert_eq!(
        denied.len(),
        3,
        "only the Ningbo subscriber, once healthy and once per fault"
    );
    assert!(denied.iter().all(|e| e.msisdn == ningbo && e.region == "0574"));

    // Back up: the cold numbers read again.
    proxy.set(Mode::Pass);
    let t0 = Instant::now();
    loop {
        match c.get_subscriber_view(with_token(view_req(&cold[0]), &hz)).await {
            Ok(r) => {
                let r = r.into_inner();
                if r.sources.iter().all(|s| s.state() == SourceState::Ok) {
                    break;
                }
            }
            Err(e) => assert_eq!(e.code(), Code::Unavailable, "{e:?}"),
        }
        assert!(t0.elapsed() < Duration::from_secs(15), "the CRM did not come back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    srv.stop().await;
    drop(proxy);
    crm.drop_db().await;
}

/// A customer source that answers every number in 0571 after `delay`.
struct SlowCrm {
    delay: Duration,
}

impl Adapter for SlowCrm {
    fn name(&self) -> &str {
        "crm"
    }
    fn entities(&self) -> Vec<String> {
        vec!["customer".into()]
    }
    fn fetch(&self, req: FetchRequest) -> BoxFuture<'static, Result<SourceData, AdapterError>> {
        let delay = self.delay;
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            let view = SubscriberView {
                customer: Some(Customer {
                    customer_id: format!("C-{}", req.msisdn),
                    region_code: "0571".into(),
                    ..Default::default()
                }),
                ..Default::default()
            };
            Ok(SourceData {
                found: true,
                view: view.encode_to_vec().into(),
                entities: vec!["customer".into()],
                notes: vec![],
            })
        })
    }
}

async fn burst(reserved: u32) -> (usize, Vec<tonic::Status>) {
    let mut registry = Registry::default();
    registry.push(
        Arc::new(SlowCrm {
            delay: Duration::from_millis(200),
        }),
        Duration::from_secs(3),
    );
    registry.sources[0].stack = StackConfig {
        max_concurrency: 1,
        max_queue: 1,
        max_retries: 0,
        reserved_concurrency: reserved,
        ..Default::default()
    };
    let mut cfg = testkit::config(&[]);
    cfg.cache.enabled = false;
    let srv = testkit::spawn_with(cfg, registry).await.unwrap();
    let hz = testkit::token("h-hz", &[Role::Handler], &["0571"]);
    let mut calls = Vec::new();
    for i in 0..8 {
        let mut c = testkit::data_client(&srv).await.unwrap();
        let hz = hz.clone();
        calls.push(tokio::spawn(async move {
            c.get_subscriber_view(with_token(view_req(&format!("1380000070{i}")), &hz))
                .await
        }));
    }
    let mut ok = 0;
    let mut errors = Vec::new();
    for call in calls {
        match call.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) => errors.push(e),
        }
    }
    srv.stop().await;
    (ok, errors)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_that_fills_the_crm_queue_does_not_refuse_handlers() {
    // With the reserved lane every handler read is served, in turn.
    let (ok, errors) = burst(2).await;
    assert_eq!((ok, errors.len()), (8, 0), "{errors:?}");
    // Without it the shed reads have no region: UNAVAILABLE, retryable — still never PERMISSION_DENIED.
    let (ok, errors) = burst(0).await;
    assert!(ok >= 2 && !errors.is_empty(), "ok {ok}, errors {errors:?}");
    for e in &errors {
        assert_eq!(
            (e.code(), reason(e).as_str()),
            (Code::Unavailable, "REGION_UNAVAILABLE"),
            "{e:?}"
        );
    }
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_usage_against_a_black_holed_billing_ends_within_its_time_out_and_frees_the_connection() {
    let Some(pg) = testkit::db_url("CGW_TEST_PG_URL") else {
        return;
    };
    let billing = TestDatabase::create(&pg, "outage_usage").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let lite = testkit::sqlite_urls(dir.path());
    let direct = vec![(System::Billing, billing.url.clone()), lite[1].clone(), lite[2].clone()];
    testkit::seed(&direct, SUBSCRIBERS).await.unwrap();
    let u = url::Url::parse(&billing.url).unwrap();
    let proxy = FaultProxy::start(&format!("{}:{}", u.host_str().unwrap(), u.port().unwrap_or(5432))).await;
    let mut cfg = testkit::config(&direct);
    for s in &mut cfg.sources {
        if s.definition.ends_with("billing") {
            s.url = Some(proxy.url_for(&billing.url));
            s.timeout_ms = 500;
            s.connect_timeout_ms = 500;
            s.stack.breaker_cooldown_ms = 300;
        }
    }
    let srv = testkit::spawn(cfg).await.unwrap();
    let number = seed::msisdn(seed::Situation::RoamingNoPack.first_index());
    let pool = || {
        srv.gateway
            .reader
            .registry()
            .get("billing")
            .unwrap()
            .adapter
            .pool_usage()
            .unwrap()
    };
    let in_use = || {
        let p = pool();
        p.open as usize - p.idle
    };
    let mut c = testkit::data_client(&srv).await.unwrap();
    let mut healthy = c
        .stream_usage(testkit::req(usage_req(&number)))
        .await
        .unwrap()
        .into_inner();
    let mut records = 0;
    while let Some(m) = healthy.message().await.unwrap() {
        assert!(m.record.is_some());
        records += 1;
    }
    assert!(records >= 5, "{records} records");
    // The connection goes back to the pool (sqlx pings it first) before the fault starts.
    let t0 = Instant::now();
    while in_use() > 0 || pool().open == 0 {
        assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", pool());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    proxy.set(Mode::BlackHole);
    // Twelve callers, each willing to wait 30 s: each is answered within the source's time-out.
    let mut calls = Vec::new();
    for _ in 0..12 {
        let mut c = testkit::data_client(&srv).await.unwrap();
        let number = number.clone();
        calls.push(tokio::spawn(async move {
            let mut r = testkit::req(usage_req(&number));
            r.set_timeout(Duration::from_secs(30));
            let t0 = Instant::now();
            let e = match c.stream_usage(r).await {
                Ok(s) => {
                    let mut s = s.into_inner();
                    // Nothing may be sent before the backend answers: a stream is not opened at all.
                    panic!("a stream was opened: {:?}", s.message().await);
                }
                Err(e) => e,
            };
            (e, t0.elapsed())
        }));
    }
    for call in calls {
        let (e, took) = call.await.unwrap();
        assert_eq!(e.code(), Code::Unavailable, "{e:?}");
        assert!(took < Duration::from_millis(1_500), "answered after {took:?}");
    }
    // No task holds a connection to the silent backend once the calls are over.
    let t0 = Instant::now();
    while in_use() > 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(8),
            "{} billing connection(s) still held: {:?}",
            in_use(),
            pool()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Each is audited as an outage that delivered nothing.
    let (events, _) = srv
        .gateway
        .identity
        .audit
        .list(&AuditFilter {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    let streams: Vec<_> = events.iter().filter(|e| e.action.ends_with("/StreamUsage")).collect();
    assert_eq!(streams.len(), 13);
    assert_eq!(streams.iter().filter(|e| e.outcome == Outcome::Outage).count(), 12);
    assert_eq!(
        streams
            .iter()
            .filter(|e| e.outcome == Outcome::Ok)
            .map(|e| e.detail.as_str())
            .collect::<Vec<_>>(),
        vec!["records sent"]
    );

    // Back up: streams flow again once the breaker lets a probe through.
    proxy.set(Mode::Pass);
    let t0 = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(350)).await;
        if let Ok(s) = c.stream_usage(testkit::req(usage_req(&number))).await {
            let mut s = s.into_inner();
            let mut n = 0;
            while let Ok(Some(_)) = s.message().await {
                n += 1;
            }
            if n == records {
                break;
            }
        }
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "billing streams did not come back"
        );
    }
    srv.stop().await;
    drop(proxy);
    billing.drop_db().await;
}
