//! AnalyticsService over gRPC on a small fixed history written through the case operations, with the
//! gateway store on SQLite or PostgreSQL (`CGW_TEST_PG_URL`; mandatory in CI): KPIs equal the hand counts
//! (and the SLA figures equal a replay of each complaint's events), every figure drills down to its
//! complaints, a region-scoped caller sees only their regions and is refused another's, samples are masked
//! without read_pii, a term injected into a burst of complaints is a top-5 rising keyword for its period
//! and place, and every call is audited.
use complaint_gateway::cases::model::{Event, EventKind, State, VisitOutcome};
use complaint_gateway::cases::ops::{self, Intake, Op, SubscriberFacts};
use complaint_gateway::cases::rules;
use complaint_gateway::cases::store::{CaseStore, CaseWrite};
use complaint_gateway::identity::Role;
use complaint_gateway::proto::complaint::v1::analytics_service_client::AnalyticsServiceClient;
use complaint_gateway::proto::complaint::v1::{
    AnalyticsFilter, DrillDownKpiRequest, GetKeywordsRequest, GetKpisRequest, GetVolumesRequest, KpiGrouping,
    ListHotspotsRequest,
};
use complaint_gateway::testkit;
use std::collections::BTreeMap;
use tonic::Code;

const DAY: i64 = 86_400_000_000;
const T0: i64 = 1_793_000_000_000_000; // 2026-10-26 ~ Beijing

fn ts(us: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: us / 1_000_000,
        nanos: 0,
    })
}

struct Writer<'a> {
    set: &'a rules::RuleSet,
    store: &'a CaseStore,
    events: BTreeMap<String, Vec<Event>>,
}

impl Writer<'_> {
    #[allow(clippy::too_many_arguments)]
    async fn create(
        &mut self,
        id: &str,
        msisdn: &str,
        region: &str,
        channel: &str,
        text: &str,
        source: &str,
        abstained: bool,
        t: i64,
    ) {
        let intake = Intake {
            complaint_id: id.into(),
            msisdn: msisdn.into(),
            channel: channel.into(),
            text: text.into(),
            category: "billing.unexpected_charge".into(),
            confidence: 0.9,
            category_source: source.into(),
            abstained,
        };
        let facts = SubscriberFacts {
            region: region.into(),
            ..Default::default()
        };
        let earlier = self
            .events
            .iter()
            .filter(|(_, ev)| ev[0].msisdn == msisdn)
            .map(|(_, ev)| ev.clone())
            .next_back();
        let row = earlier.as_ref().map(|ev| complaint_gateway::cases::store::CaseRow {
            complaint: complaint_gateway::cases::model::Complaint::replay(ev).unwrap(),
            deadlines: Default::default(),
        });
        let changes = ops::intake(
            self.set,
            &intake,
            &facts,
            row.as_ref().zip(earlier.as_deref()),
            "h-1",
            t,
        );
        self.store.write(&CaseWrite(changes.clone())).await.unwrap();
        self.events.insert(id.into(), changes[0].events.clone());
        if let Some(ch) = changes.get(1) {
            self.events.get_mut(&ch.after.id).unwrap().extend(ch.events.clone());
        }
    }

    async fn op(&mut self, id: &str, op: Op, t: i64) {
        let ev = self.events[id].clone();
        let ch = ops::apply(self.set, &ev, op, "h-1", t).unwrap();
        self.store.write(&CaseWrite(vec![ch.clone()])).await.unwrap();
        self.events.get_mut(id).unwrap().extend(ch.events);
    }

    async fn diagnose(&mut self, id: &str, auto: bool, t: i64) {
        let mut e = Event::blank(id, 0, EventKind::Diagnosed, t);
        e.category = "billing.unexpected_charge".into();
        e.scenario_id = "billing.unexpected_charge".into();
        e.cause_code = if auto { "DUPLICATE_FEE".into() } else { String::new() };
        e.diag_outcome = if auto { "cause".into() } else { "question".into() };
        e.reply_without_question = auto;
        self.op(id, Op::Diagnosed(Box::new(e)), t).await;
    }

    async fn close(&mut self, id: &str, visit: VisitOutcome, t: i64) {
        let tr = |to| Op::Transition { to, reason: "r".into() };
        self.op(id, tr(State::InProgress), t + 3_600_000_000).await;
        self.op(id, Op::Reply { text: "ok".into() }, t + 2 * 3_600_000_000)
            .await;
        self.op(
            id,
            Op::Visit {
                outcome: visit,
                note: String::new(),
            },
            t + 3 * 3_600_000_000,
        )
        .await;
        self.op(id, tr(State::Closed), t + 4 * 3_600_000_000).await;
    }
}

async fn run(store_url: String) {
    let dir = tempfile::tempdir().unwrap();
    let urls = testkit::sqlite_urls(dir.path());
    testkit::seed(&urls, 60).await.unwrap();
    let mut cfg = testkit::config(&urls);
    cfg.diagnosis.reload_interval_ms = 0;
    cfg.store.url = store_url;
    let server = testkit::spawn(cfg).await.unwrap();
    let now = T0 + 10 * DAY;
    server.gateway.analytics.set_now(Some(now));
    let set = rules::load(&rules::embedded()).unwrap();
    let store = server.gateway.cases.store().clone();
    let mut w = Writer {
        set: &set,
        store: &store,
        events: BTreeMap::new(),
    };
    // The fixed history (all in 0571 but K-5, created within T0 .. T0 + 2 days).
    w.create(
        "K-1",
        "13800000001",
        "0571",
        "hotline",
        "月租扣了两次",
        "classifier",
        false,
        T0,
    )
    .await;
    w.diagnose("K-1", true, T0 + 60_000_000).await;
    w.close("K-1", VisitOutcome::Satisfied, T0).await;
    w.create(
        "K-2",
        "13800000002",
        "0571",
        "app",
        "账单有不认识的扣费",
        "classifier",
        true,
        T0 + 1_000,
    )
    .await;
    w.diagnose("K-2", false, T0 + 60_000_000).await;
    w.close("K-2", VisitOutcome::Unsatisfied, T0).await;
    w.op("K-2", Op::Reopen { reason: "again".into() }, T0 + DAY).await;
    w.create(
        "K-3",
        "13800000003",
        "0571",
        "hotline",
        "话费多扣了",
        "request",
        false,
        T0 + 2_000,
    )
    .await;
    w.diagnose("K-3", true, T0 + 60_000_000).await;
    w.create(
        "K-4",
        "13800000003",
        "0571",
        "hotline",
        "话费又多扣了",
        "classifier",
        false,
        T0 + 2 * DAY,
    )
    .await;
    w.create(
        "K-5",
        "13800000005",
        "0574",
        "regulator",
        "工信部转来：扣费13800000005",
        "classifier",
        false,
        T0 + 3_000,
    )
    .await;
    w.create(
        "K-6",
        "13800000006",
        "0571",
        "store",
        "月租扣了两次",
        "classifier",
        true,
        T0 + 4_000,
    )
    .await;
    w.close("K-6", VisitOutcome::Unsatisfied, T0).await;

    let mut client = AnalyticsServiceClient::connect(server.url()).await.unwrap();
    let analyst = testkit::token("an-1", &[Role::Analyst], &[]);
    let manager_0571 = testkit::token("m-hz", &[Role::Manager], &["0571"]);
    let from = T0 - DAY;
    let to = T0 + 7 * DAY;
    let kpis = |token: &str, grouping: KpiGrouping| {
        testkit::with_token(
            GetKpisRequest {
                from: ts(from),
                to: ts(to),
                grouping: grouping as i32,
                filter: None,
            },
            token,
        )
    };
    let groups = client
        .get_kpis(kpis(&analyst, KpiGrouping::Unspecified))
        .await
        .unwrap()
        .into_inner()
        .groups;
    assert_eq!(groups.len(), 1);
    let got: BTreeMap<String, (i64, i64)> = groups[0]
        .kpis
        .iter()
        .map(|k| (k.name.clone(), (k.numerator, k.denominator)))
        .collect();
    // Hand counts over K-1 … K-6.
    let hand: &[(&str, (i64, i64))] = &[
        ("auto_detected", (3, 6)),       // K-1, K-4, K-5 (K-2, K-6 abstained; K-3 chosen by a person)
        ("auto_replied", (2, 6)),        // K-1, K-3
        ("verified_auto_reply", (1, 6)), // K-3 was repeated by K-4 within 7 days
        ("first_contact_resolution", (2, 2)), // closed: K-1, K-6 (K-2 was reopened)
        ("satisfaction", (1, 2)),        // K-1 satisfied, K-6 unsatisfied (K-2's visit undone by reopening)
        ("repeat_rate", (1, 6)),         // K-4
        ("reopen_rate", (1, 6)),         // K-2
        ("regulator_referred", (1, 6)),  // K-5
    ];
    for (name, expected) in hand {
        assert_eq!(got[*name], *expected, "{name}");
    }
    // SLA figures: the same as replaying each complaint's events with the policies, judged at `now`.
    let mut sla: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    let mut closed_in_time = 0;
    for ev in w.events.values() {
        let c = complaint_gateway::cases::model::Complaint::replay(ev).unwrap();
        let (_, state) = ops::deadlines(&set, ev, &c.policy_id, now);
        for (t, name) in state
            .targets
            .iter()
            .zip(["sla_first_response", "sla_reply", "sla_resolution"])
        {
            let e = sla.entry(name).or_default();
            let late = t.status == complaint_gateway::cases::sla::Status::Breached;
            if t.met_us.is_some() && !late {
                e.0 += 1;
            }
            if t.met_us.is_some() || t.due_us.is_some_and(|d| d < now) {
                e.1 += 1;
            }
            if name == "sla_resolution" && c.state == State::Closed && t.met_us.is_some() && !late {
                closed_in_time += 1;
            }
        }
    }
    for (name, expected) in &sla {
        assert_eq!(got[*name], *expected, "{name}");
    }
    assert_eq!(got["closed_within_deadline"], (closed_in_time, 2));

    // By region, and the drill-down to complaint ids.
    let groups = client
        .get_kpis(kpis(&analyst, KpiGrouping::Region))
        .await
        .unwrap()
        .into_inner()
        .groups;
    let keys: Vec<&str> = groups.iter().map(|g| g.key.as_str()).collect();
    assert_eq!(keys, ["0571", "0574"]);
    let drill = |kpi: &str, key: &str, denominator: bool, token: &str| {
        testkit::with_token(
            DrillDownKpiRequest {
                from: ts(from),
                to: ts(to),
                kpi: kpi.into(),
                grouping: KpiGrouping::Region as i32,
                key: key.into(),
                denominator,
                filter: None,
                limit: 0,
            },
            token,
        )
    };
    let d = client
        .drill_down_kpi(drill("auto_replied", "0571", false, &analyst))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (d.complaint_ids, d.total),
        (vec!["K-1".to_string(), "K-3".to_string()], 2)
    );
    let d = client
        .drill_down_kpi(drill("auto_detected", "0571", true, &analyst))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(d.total, 5);
    let e = client
        .drill_down_kpi(drill("nope", "0571", false, &analyst))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("auto_replied"), "{}", e.message());

    // A manager of 0571 sees 0571 only, and is refused 0574.
    let groups = client
        .get_kpis(kpis(&manager_0571, KpiGrouping::Region))
        .await
        .unwrap()
        .into_inner()
        .groups;
    assert_eq!(groups.iter().map(|g| g.key.as_str()).collect::<Vec<_>>(), ["0571"]);
    let refused = client
        .get_volumes(testkit::with_token(
            GetVolumesRequest {
                from: ts(from),
                to: ts(to),
                filter: Some(AnalyticsFilter {
                    regions: vec!["0574".into()],
                    category: String::new(),
                }),
                ..Default::default()
            },
            &manager_0571,
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let bad = client
        .get_volumes(testkit::with_token(
            GetVolumesRequest {
                from: ts(to),
                to: ts(from),
                ..Default::default()
            },
            &analyst,
        ))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    let v = client
        .get_volumes(testkit::with_token(
            GetVolumesRequest {
                from: ts(from),
                to: ts(to),
                ..Default::default()
            },
            &manager_0571,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(v.total, 5);

    // A burst: 28 days of background in both cities, then a day in 0571 where 8 complaints name 光猫.
    let texts = ["宽带断网了", "话费扣多了", "手机没信号", "充值没到账"];
    for k in 0..56 {
        let t = T0 + 3 * DAY + k * DAY / 2;
        let region = if k % 2 == 0 { "0571" } else { "0574" };
        w.create(
            &format!("B-{k}"),
            &format!("139{:08}", k),
            region,
            "hotline",
            texts[k as usize % 4],
            "classifier",
            false,
            t,
        )
        .await;
    }
    let burst_day = T0 + 31 * DAY;
    for k in 0..12 {
        let text = if k < 8 {
            "小区光猫坏了宽带断网"
        } else {
            texts[k % 4]
        };
        let region = if k < 8 { "0571" } else { "0574" };
        w.create(
            &format!("X-{k}"),
            &format!("137{:08}", k),
            region,
            "app",
            text,
            "classifier",
            false,
            burst_day + k as i64 * 60_000_000,
        )
        .await;
    }
    let kw = client
        .get_keywords(testkit::with_token(
            GetKeywordsRequest {
                from: ts(burst_day - 3_600_000_000),
                to: ts(burst_day + DAY),
                filter: Some(AnalyticsFilter {
                    regions: vec!["0571".into()],
                    category: String::new(),
                }),
                top: 5,
                reference_days: 28,
            },
            &analyst,
        ))
        .await
        .unwrap()
        .into_inner();
    let rising: Vec<&str> = kw.rising.iter().map(|k| k.term.as_str()).collect();
    assert!(rising.contains(&"光猫"), "{rising:?}");
    let example = &kw.rising.iter().find(|k| k.term == "光猫").unwrap().examples[0];
    assert!(
        example.msisdn.contains('*'),
        "an analyst sees numbers masked: {example:?}"
    );

    // Hotspots over the whole history, which starts with the range: detection starts after the 7-day
    // warm-up (every series is still in it for part of the range, and said so), and the day of the burst,
    // after it, is a hotspot of its category in 0571 whose contributors account for at most all of it.
    let hot = |warm_up_days: i32| {
        let mut client = client.clone();
        let analyst = analyst.clone();
        async move {
            client
                .list_hotspots(testkit::with_token(
                    ListHotspotsRequest {
                        from: ts(T0),
                        to: ts(burst_day + DAY),
                        warm_up_days,
                        ..Default::default()
                    },
                    &analyst,
                ))
                .await
        }
    };
    let h = hot(0).await.unwrap().into_inner();
    assert!(
        h.method.contains("warm-up") && h.method.contains("7 days of history"),
        "{}",
        h.method
    );
    assert!(h.series_scanned > 0);
    assert_eq!(
        h.series_in_warm_up, h.series_scanned,
        "no series has history before the range"
    );
    assert!(h
        .hotspots
        .iter()
        .all(|x| x.start.as_ref().unwrap().seconds * 1_000_000 >= T0 + 7 * DAY - DAY));
    let burst = h
        .hotspots
        .iter()
        .find(|x| x.series_dimension == "category" && x.region == "0571")
        .unwrap_or_else(|| panic!("the burst is not a hotspot: {:?}", h.hotspots));
    let start = burst.start.as_ref().unwrap().seconds * 1_000_000;
    assert!(start <= burst_day && burst_day < start + DAY, "{burst:?}");
    assert!(burst.observed >= 8, "{burst:?}");
    assert!(burst
        .contributors
        .iter()
        .all(|c| c.share_of_excess > 0.0 && c.share_of_excess <= 1.0));
    let refused = hot(29).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(refused.message(), "warm_up_days: between 1 and baseline_days (28)");

    // Every call was audited, the refusal included.
    let audited: Vec<(String, String)> =
        sqlx::query_as("SELECT purpose, outcome FROM audit_events WHERE purpose LIKE 'analytics%' ORDER BY at_us")
            .fetch_all(server.gateway.identity.store.pool())
            .await
            .unwrap();
    assert!(audited.len() >= 9, "{audited:?}");
    assert!(audited.iter().any(|(_, o)| o != "ok"), "{audited:?}");
    server.stop().await;
}

#[tokio::test]
async fn kpis_equal_hand_counts_scoped_masked_and_audited_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    run(format!("sqlite://{}", dir.path().join("gateway.db").display())).await;
}

#[tokio::test]
async fn kpis_equal_hand_counts_scoped_masked_and_audited_on_postgres() {
    let Some(admin) = testkit::db_url("CGW_TEST_PG_URL") else {
        return;
    };
    let db = testkit::TestDatabase::create(&admin, "analytics").await.unwrap();
    run(db.url.clone()).await;
    db.drop_db().await;
}
