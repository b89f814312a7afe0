//! Time in diagnosis: scenarios see `now` from the request, else the configured one, else the clock; the
//! demo fixes `now` at the moment its data describes, so its diagnoses are the same at 09:00 and at 23:30.
use chrono::{DateTime, FixedOffset};
use complaint_gateway::diagnosis::{self, DiagnoseInput, Engine};
use complaint_gateway::proto::complaint::v1::SubscriberView;
use complaint_gateway::tools::cli::demo::{demo_config, DemoArgs};
use complaint_gateway::tools::scenario_cases::{demo_now, DemoViews};
use complaint_gateway::tools::seed::{self, Situation, SITUATIONS};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

fn at(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).unwrap()
}

fn demo_args() -> DemoArgs {
    DemoArgs {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: "demo-data".into(),
        subscribers: 100,
        reset: false,
        adapters: None,
        scenarios: None,
        console_listen: "127.0.0.1:0".parse().unwrap(),
        metrics_listen: None,
        history_complaints: 0,
        history_days: 90,
        replicas: 1,
        redis_url: "redis://127.0.0.1:6379".into(),
    }
}

/// One demo number of every situation, with its view (demo data as of the demo's date).
async fn views() -> BTreeMap<String, SubscriberView> {
    let numbers: BTreeSet<String> = SITUATIONS.iter().map(|s| seed::msisdn(s.first_index())).collect();
    DemoViews::read(&numbers).await.unwrap().into_map()
}

/// Every number diagnosed under every category: (number, category) → scenario, outcome, cause, reply,
/// question.
fn diagnose_all(
    engine: &Engine,
    views: &BTreeMap<String, SubscriberView>,
    now: Option<DateTime<FixedOffset>>,
) -> Vec<String> {
    let set = engine.scenarios();
    let mut out = Vec::new();
    for (number, view) in views {
        for category in complaint_gateway::classify::category_codes() {
            let input = DiagnoseInput {
                category: category.to_string(),
                answers: Default::default(),
                complaint_id: "T".into(),
                msisdn: number.clone(),
                now,
                text: String::new(),
            };
            let d = engine.diagnose(set.clone(), &input, view).unwrap();
            out.push(format!(
                "{number} {category}: {} {:?} {} {}",
                d.chosen_run().map(|r| r.scenario.id.as_str()).unwrap_or("-"),
                d.outcome(),
                d.conclusion.as_ref().map(|c| c.code.as_str()).unwrap_or("-"),
                d.conclusion.as_ref().map(|c| c.reply.as_str()).unwrap_or("-"),
            ));
        }
    }
    out
}

fn wall(t: &'static str) -> diagnosis::WallClock {
    Arc::new(move || at(t))
}

#[tokio::test]
async fn demo_diagnoses_are_the_same_at_nine_and_at_half_past_eleven_at_night() {
    let views = views().await;
    // The demo's configuration fixes `now` at 10:00 Beijing time of the day its data is as of.
    let as_of = demo_now().date_naive();
    let cfg = demo_config(&demo_args(), as_of).unwrap();
    assert_eq!(cfg.diagnosis.now, Some(seed::moment_of(as_of)));
    assert_eq!(cfg.diagnosis.now, Some(demo_now()));
    let load = |now: Option<DateTime<FixedOffset>>, wall_clock: &'static str| {
        Engine::load(diagnosis::default_dir(), now)
            .unwrap()
            .with_wall_clock(wall(wall_clock))
    };
    let morning = diagnose_all(&load(cfg.diagnosis.now, "2026-11-28T09:00:00+08:00"), &views, None);
    let night = diagnose_all(&load(cfg.diagnosis.now, "2026-11-28T23:30:00+08:00"), &views, None);
    assert_eq!(
        morning.len(),
        views.len() * complaint_gateway::classify::category_codes().len()
    );
    assert_eq!(morning, night);

    // Without the fixed `now`, the same data reads differently late in the day (a top-up three hours
    // old is "over a day" old by the next morning's standards, an outage's repair time has passed):
    // the check above can fail.
    let morning = diagnose_all(&load(None, "2026-11-28T10:30:00+08:00"), &views, None);
    let night = diagnose_all(&load(None, "2026-11-29T23:30:00+08:00"), &views, None);
    let changed: Vec<_> = morning.iter().zip(&night).filter(|(a, b)| a != b).collect();
    assert!(!changed.is_empty(), "nothing depends on the hour?");

    // The request's `now` wins over the clock and the configured one.
    let fixed = load(cfg.diagnosis.now, "2026-11-28T09:00:00+08:00");
    let asked = diagnose_all(&fixed, &views, Some(at("2026-11-29T23:30:00+08:00")));
    assert_eq!(asked, night);
}

#[test]
fn the_requests_now_wins_then_the_configured_then_the_wall_clock() {
    let engine = Engine::load(diagnosis::default_dir(), None)
        .unwrap()
        .with_wall_clock(wall("2026-11-28T23:30:00+08:00"));
    let mut input = DiagnoseInput {
        category: "service.suspension".into(),
        answers: Default::default(),
        complaint_id: "T".into(),
        msisdn: seed::msisdn(Situation::TopupPending.first_index()),
        now: None,
        text: String::new(),
    };
    assert_eq!(engine.now_of(&input), at("2026-11-28T23:30:00+08:00"));
    input.now = Some(at("2026-11-28T10:00:00+08:00"));
    assert_eq!(engine.now_of(&input), at("2026-11-28T10:00:00+08:00"));
    let fixed = Engine::load(diagnosis::default_dir(), Some(demo_now()))
        .unwrap()
        .with_wall_clock(wall("2026-11-28T23:30:00+08:00"));
    assert_eq!(fixed.now(), demo_now());
    assert_eq!(fixed.now_of(&input), at("2026-11-28T10:00:00+08:00"));
}
