//! The period complained about (issue 12): the last billed cycle unless the text names another (上个月, 9月份,
//! 这个月, 前天…). The same subscriber and complaint with two named periods get replies about two cycles with
//! each cycle's own figures; a named period without a record gets no cause about another period; a period
//! of one issue of a two-issue text does not steer the other; the routing explanation and the trace show
//! the period found.
use chrono::{DateTime, FixedOffset};
use complaint_gateway::diagnosis::provenance::Provenance;
use complaint_gateway::diagnosis::route::{Candidates, Routed};
use complaint_gateway::diagnosis::run::RunOutcome;
use complaint_gateway::diagnosis::testcases::view_from_json;
use complaint_gateway::diagnosis::{self, DiagnoseInput, Diagnosis, Engine};
use complaint_gateway::proto::complaint::v1::SubscriberView;
use complaint_gateway::tools::scenario_cases::{demo_now, DemoViews};
use complaint_gateway::tools::seed::{self, Situation};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Two billed cycles with voice beyond the plan: October 130 minutes (24.70元), September 60 (11.40元);
/// November is not billed yet.
const VIEW: &str = r#"{
  "msisdn": "13800138000",
  "plan": {"planId": "P58", "name": "4G畅享58元套餐", "monthlyFeeFen": "5800", "includedDataMb": "10240",
           "includedVoiceMin": "300", "includedSms": "100"},
  "recentBills": [
    {"cycle": "202610", "totalFen": "8270", "status": "BILL_STATUS_PAID", "issuedAt": "2026-10-31T18:00:00Z",
     "items": [{"chargeType": "CHARGE_TYPE_MONTHLY_FEE", "description": "月租", "amountFen": "5800"},
               {"chargeType": "CHARGE_TYPE_VOICE", "description": "国内语音超出", "amountFen": "2470"}]},
    {"cycle": "202609", "totalFen": "6940", "status": "BILL_STATUS_PAID", "issuedAt": "2026-09-30T18:00:00Z",
     "items": [{"chargeType": "CHARGE_TYPE_MONTHLY_FEE", "description": "月租", "amountFen": "5800"},
               {"chargeType": "CHARGE_TYPE_VOICE", "description": "国内语音超出", "amountFen": "1140"}]}
  ],
  "usage": [
    {"cycle": "202611", "voiceMin": "100"},
    {"cycle": "202610", "voiceMin": "430", "voiceOverPlanMin": "130"},
    {"cycle": "202609", "voiceMin": "360", "voiceOverPlanMin": "60"}
  ]
}"#;

fn engine() -> Engine {
    Engine::load(diagnosis::default_dir(), Some(demo_now())).unwrap()
}

fn at(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).unwrap()
}

fn input(category: &str, text: &str, view: &SubscriberView) -> DiagnoseInput {
    DiagnoseInput {
        category: category.into(),
        answers: Default::default(),
        complaint_id: "P".into(),
        msisdn: view.msisdn.clone(),
        now: None,
        text: text.into(),
    }
}

fn diagnose(e: &Engine, category: &str, text: &str, view: &SubscriberView) -> Diagnosis {
    e.diagnose(e.scenarios(), &input(category, text, view), view).unwrap()
}

fn reply(d: &Diagnosis) -> String {
    d.conclusion.as_ref().map(|c| c.reply.clone()).unwrap_or_default()
}

fn code(d: &Diagnosis) -> Option<&str> {
    d.conclusion.as_ref().map(|c| c.code.as_str())
}

async fn demo(situations: &[Situation]) -> BTreeMap<String, SubscriberView> {
    let numbers: BTreeSet<String> = situations.iter().map(|s| seed::msisdn(s.first_index())).collect();
    DemoViews::read(&numbers).await.unwrap().into_map()
}

#[test]
fn two_named_months_get_two_cycles_with_their_own_figures() {
    let e = engine();
    let view = view_from_json(VIEW).unwrap();
    let charge = "billing.unexpected_charge";

    let last = diagnose(&e, charge, "上个月话费比平时高了好多", &view);
    assert_eq!(code(&last), Some("VOICE_OVERAGE"));
    let r = reply(&last);
    assert!(
        r.contains("2026年10月") && r.contains("130分钟") && r.contains("24.70元"),
        "{r}"
    );
    assert!(!r.contains("2026年9月") && !r.contains("11.40元"), "{r}");

    let sept = diagnose(&e, charge, "9月份话费比平时高了好多", &view);
    assert_eq!(code(&sept), Some("VOICE_OVERAGE"));
    let r = reply(&sept);
    assert!(
        r.contains("2026年9月") && r.contains("60分钟") && r.contains("11.40元"),
        "{r}"
    );
    assert!(!r.contains("2026年10月") && !r.contains("24.70元"), "{r}");

    // Nothing named: the last billed cycle. "This month" is not billed yet: the bill issued this month.
    for text in ["话费比平时高了好多", "这个月话费怎么这么高"] {
        let r = reply(&diagnose(&e, charge, text, &view));
        assert!(r.contains("2026年10月") && r.contains("24.70元"), "{text}: {r}");
    }

    // "Last month" is relative to the diagnosis' now: said in mid-October it is September.
    let mut i = input(charge, "上个月话费比平时高了好多", &view);
    i.now = Some(at("2026-10-15T10:00:00+08:00"));
    let d = e.diagnose(e.scenarios(), &i, &view).unwrap();
    let r = reply(&d);
    assert!(r.contains("2026年9月") && r.contains("11.40元"), "{r}");
}

#[test]
fn a_named_period_without_a_bill_gets_no_cause_about_another_period() {
    let e = engine();
    let view = view_from_json(VIEW).unwrap();
    for (text, label) in [
        ("7月份话费比平时高了好多", "2026年7月"),
        ("去年12月的话费多扣了", "2025年12月"),
    ] {
        let d = diagnose(&e, "billing.unexpected_charge", text, &view);
        assert_eq!(code(&d), None, "{text}: {}", reply(&d));
        assert!(matches!(d.outcome(), RunOutcome::NoCause), "{text}");
        assert!(d.handling.contains(label), "{text}: {}", d.handling);
        assert!(
            !d.handling.contains("24.70元") && !d.handling.contains("11.40元"),
            "{text}: {}",
            d.handling
        );
    }
    // The bill step says why: no bill of that period.
    let d = diagnose(&e, "billing.unexpected_charge", "7月份话费比平时高了好多", &view);
    let voice = d
        .runs
        .iter()
        .find(|r| r.scenario.id == "billing.voice_overage")
        .unwrap();
    let bill = voice.trace.iter().find(|t| t.step_id == "bill").unwrap();
    assert_eq!(bill.result.as_deref(), Some("false"));
    let read = bill.reads.iter().find(|r| r.path == "complaint.period.cycles").unwrap();
    let shown = read.value.to_string();
    assert!(shown.contains("\"202607\""), "{shown}");
}

#[test]
fn the_routing_explanation_names_the_period_found() {
    let e = engine();
    let view = view_from_json(VIEW).unwrap();
    let cands = Candidates::requested("billing.unexpected_charge");
    let routed = |text: &str| -> Routed {
        e.diagnose_routed(
            e.scenarios(),
            &cands,
            &input("billing.unexpected_charge", text, &view),
            &view,
            Arc::new(Provenance::complete()),
        )
        .unwrap()
    };
    let r = routed("9月份话费比平时高了好多");
    assert!(
        r.primary
            .routing
            .reason
            .ends_with("; period named in the text: “9月份” → 2026年9月 (cycle 202609)"),
        "{}",
        r.primary.routing.reason
    );
    let r = routed("话费比平时高了好多");
    assert!(
        !r.primary.routing.reason.contains("period"),
        "{}",
        r.primary.routing.reason
    );
}

#[tokio::test]
async fn demo_usage_of_the_named_month_and_nothing_for_a_month_without_it() {
    let v = demo(&[Situation::DataOverage, Situation::DataBilledEarly]).await;
    let e = engine();
    let over = &v[&seed::msisdn(Situation::DataOverage.first_index())];
    let data = "billing.data_overage";
    // November (current, not billed) and October both carry 2 GB beyond the plan.
    for (text, cycle) in [
        ("这个月流量超了扣了好多钱", "2026年11月"),
        ("上个月流量超了扣了好多钱", "2026年10月"),
    ] {
        let d = diagnose(&e, data, text, over);
        assert_eq!(code(&d), Some("DATA_BEYOND_PLAN"), "{text}");
        assert!(
            reply(&d).contains(cycle) && reply(&d).contains("60.00元"),
            "{text}: {}",
            reply(&d)
        );
    }
    // September has none: no cause, and the handler is told which month has.
    let d = diagnose(&e, data, "9月份流量超了扣了好多钱", over);
    assert_eq!(code(&d), None, "{}", reply(&d));
    assert!(
        d.handling.contains("您所说的9月份（2026年9月）没有套餐外流量费用") && d.handling.contains("另查到2026年10月"),
        "{}",
        d.handling
    );
    // Data billed before the plan's data was used is in November only: a complaint about October is
    // not answered with November's error.
    let early = &v[&seed::msisdn(Situation::DataBilledEarly.first_index())];
    let d = diagnose(&e, data, "上个月流量没用完就扣了超出费", early);
    assert_eq!(code(&d), None, "{}", reply(&d));
    assert!(d.handling.contains("2026年10月"), "{}", d.handling);
    let d = diagnose(&e, data, "这个月流量没用完就扣了超出费", early);
    assert_eq!(code(&d), Some("DATA_BILLED_BEFORE_PLAN_USED"));
    assert!(reply(&d).contains("2026年11月"), "{}", reply(&d));
}

#[tokio::test]
async fn a_top_up_on_another_day_is_answered_saying_which_day_it_was() {
    let v = demo(&[Situation::TopupPendingOverdue]).await;
    let e = engine();
    let view = &v[&seed::msisdn(Situation::TopupPendingOverdue.first_index())];
    let pay = "payment.topup_not_credited";
    // Pending since 2026-11-27 04:00: yesterday.
    let d = diagnose(&e, pay, "昨天充的一百块还没到账", view);
    assert_eq!(code(&d), Some("TOPUP_PENDING_OVERDUE"));
    assert!(!reply(&d).contains("您所说的"), "{}", reply(&d));
    let d = diagnose(&e, pay, "前天充的一百块还没到账", view);
    assert_eq!(code(&d), Some("TOPUP_PENDING_OVERDUE"));
    let r = reply(&d);
    assert!(
        r.contains("您所说的前天（2026年11月26日）没有查到处理中的充值") && r.contains("2026年11月27日 04:00"),
        "{r}"
    );
}

#[tokio::test]
async fn a_period_belongs_to_the_issue_of_its_clause() {
    let v = demo(&[Situation::CellOutage]).await;
    let e = engine();
    let view = &v[&seed::msisdn(Situation::CellOutage.first_index())];
    let text = "手机一点信号都没有，还有上个月话费好像也多了";
    let mut cands = Candidates {
        ranked: vec![
            ("network.mobile_coverage".into(), 0.8),
            ("billing.unexpected_charge".into(), 0.2),
        ],
        ..Default::default()
    };
    let route = |cands: &Candidates| {
        e.diagnose_routed(
            e.scenarios(),
            cands,
            &input("network.mobile_coverage", text, view),
            view,
            Arc::new(Provenance::complete()),
        )
        .unwrap()
    };
    // Read as one text, last month would be the signal's period too, and today's outage did not cause a
    // problem of October.
    let whole = route(&cands);
    assert_eq!(
        whole.primary.diagnosis.conclusion.as_ref().map(|c| c.code.as_str()),
        None
    );
    // Each clause with its issue: the outage answers the signal, last month is the bill's.
    cands.clause_texts = vec![
        ("手机一点信号都没有".into(), "network.mobile_coverage".into()),
        ("还有上个月话费好像也多了".into(), "billing.unexpected_charge".into()),
    ];
    let split = route(&cands);
    assert_eq!(
        split.primary.diagnosis.conclusion.as_ref().map(|c| c.code.as_str()),
        Some("CELL_OUTAGE"),
        "{}",
        split.primary.routing.reason
    );
    assert!(
        split
            .primary
            .routing
            .reason
            .contains("the period “上个月” belongs to another issue of the text"),
        "{}",
        split.primary.routing.reason
    );
}
