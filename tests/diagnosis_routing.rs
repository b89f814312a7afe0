//! Routing and replies (issue 12): the line's state first, categories tried after an unsure classifier
//! state a cause only where its evidence holds, a second issue gets its own finding, replies speak of
//! unconfirmed actions in the future tense and name countries and channels, not codes.
use complaint_gateway::diagnosis::provenance::Provenance;
use complaint_gateway::diagnosis::route::{Candidates, Routed};
use complaint_gateway::diagnosis::run::RunOutcome;
use complaint_gateway::diagnosis::{self, DiagnoseInput, Engine};
use complaint_gateway::proto::complaint::v1::SubscriberView;
use complaint_gateway::tools::scenario_cases::{demo_now, DemoViews};
use complaint_gateway::tools::seed::{self, Situation};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

async fn views(situations: &[Situation]) -> BTreeMap<String, SubscriberView> {
    let numbers: BTreeSet<String> = situations.iter().map(|s| seed::msisdn(s.first_index())).collect();
    DemoViews::read(&numbers).await.unwrap().into_map()
}

fn engine() -> Engine {
    Engine::load(diagnosis::default_dir(), Some(demo_now())).unwrap()
}

fn unsure(ranked: &[(&str, f64)]) -> Candidates {
    Candidates {
        ranked: ranked.iter().map(|(c, p)| (c.to_string(), *p)).collect(),
        abstained: true,
        ..Default::default()
    }
}

fn route(e: &Engine, cands: &Candidates, view: &SubscriberView, answers: &[(&str, &str)]) -> Routed {
    let input = DiagnoseInput {
        category: cands.first().0.to_string(),
        answers: answers.iter().map(|(q, v)| (q.to_string(), v.to_string())).collect(),
        complaint_id: "T".into(),
        msisdn: view.msisdn.clone(),
        now: None,
        text: String::new(),
    };
    e.diagnose_routed(e.scenarios(), cands, &input, view, Arc::new(Provenance::complete()))
        .unwrap()
}

fn cause(r: &Routed) -> Option<&str> {
    r.primary.diagnosis.conclusion.as_ref().map(|c| c.code.as_str())
}

#[tokio::test]
async fn an_unsure_classifier_gets_a_cause_only_where_a_tried_categorys_evidence_holds() {
    let v = views(&[Situation::MarketingThirdParty, Situation::DuplicateMonthlyFee]).await;
    let e = engine();
    // No marketing contact is recorded for this subscriber.
    let normal = &v[&seed::msisdn(Situation::MarketingThirdParty.first_index())];
    // Marketing would conclude "third-party marketing" (guidance: nothing in the data singles it out);
    // under an unsure classifier that is not stated, and the other categories show nothing.
    let r = route(
        &e,
        &unsure(&[
            ("marketing.harassment", 0.45),
            ("plan.change_issue", 0.30),
            ("roaming.charges", 0.10),
        ]),
        normal,
        &[],
    );
    assert_eq!(cause(&r), None, "{}", r.primary.routing.reason);
    assert_eq!(r.primary.withheld.as_deref(), Some("THIRD_PARTY_MARKETING"));
    assert!(matches!(r.primary.diagnosis.outcome(), RunOutcome::NoCause));
    assert!(
        r.primary.diagnosis.handling.contains("确认"),
        "{}",
        r.primary.diagnosis.handling
    );
    assert!(
        r.primary.routing.reason.contains("plan.change_issue (0.30): no cause"),
        "{}",
        r.primary.routing.reason
    );
    // The same text is certain: the guidance is the answer.
    let mut sure = unsure(&[("marketing.harassment", 0.95)]);
    sure.abstained = false;
    assert_eq!(cause(&route(&e, &sure, normal, &[])), Some("THIRD_PARTY_MARKETING"));

    // The first category finds nothing; the next plausible one has evidence (the fee billed twice).
    let dup = &v[&seed::msisdn(Situation::DuplicateMonthlyFee.first_index())];
    let r = route(
        &e,
        &unsure(&[("plan.change_issue", 0.5), ("billing.unexpected_charge", 0.4)]),
        dup,
        &[],
    );
    assert_eq!(cause(&r), Some("DUPLICATE_MONTHLY_FEE"));
    assert_eq!(r.primary.routing.category, "billing.unexpected_charge");
    assert!(
        r.primary.routing.reason.contains("has evidence"),
        "{}",
        r.primary.routing.reason
    );
    // A category below the floor is not tried.
    let r = route(
        &e,
        &unsure(&[("plan.change_issue", 0.97), ("billing.unexpected_charge", 0.01)]),
        dup,
        &[],
    );
    assert_eq!(cause(&r), None);
    assert!(!r.primary.diagnosis.handling.is_empty());
}

#[tokio::test]
async fn a_coverage_complaint_on_a_suspended_line_gets_the_suspension() {
    let v = views(&[Situation::SuspendedArrears, Situation::PaidStillSuspended]).await;
    let e = engine();
    for (s, expected) in [
        (Situation::SuspendedArrears, "ARREARS_SUSPENSION"),
        (Situation::PaidStillSuspended, "LINE_NOT_RESTORED_AFTER_PAYMENT"),
    ] {
        let view = &v[&seed::msisdn(s.first_index())];
        let r = route(&e, &Candidates::requested("network.mobile_coverage"), view, &[]);
        assert_eq!(cause(&r), Some(expected), "{s:?}: {}", r.primary.routing.reason);
        assert_eq!(r.primary.routing.category, "service.suspension");
        assert!(
            r.primary.routing.reason.contains("line's state"),
            "{}",
            r.primary.routing.reason
        );
        assert!(r.primary.routing.reason.contains("network.mobile_coverage"));
    }
}

#[tokio::test]
async fn a_complaint_with_two_issues_gets_two_findings() {
    let v = views(&[Situation::DuplicateMonthlyFee, Situation::CellOutage]).await;
    let e = engine();
    // A subscriber billed the monthly fee twice whose serving cell is also down.
    let mut view = v[&seed::msisdn(Situation::DuplicateMonthlyFee.first_index())].clone();
    view.network = v[&seed::msisdn(Situation::CellOutage.first_index())].network.clone();
    let text_cands = Candidates {
        ranked: vec![
            ("billing.unexpected_charge".into(), 0.88),
            ("network.mobile_coverage".into(), 0.07),
        ],
        abstained: false,
        clauses: vec![
            ("billing.unexpected_charge".into(), 0.97),
            ("network.mobile_coverage".into(), 0.93),
        ],
        ..Default::default()
    };
    let r = route(&e, &text_cands, &view, &[]);
    assert_eq!(cause(&r), Some("DUPLICATE_MONTHLY_FEE"));
    assert_eq!(r.secondary.len(), 1);
    let second = &r.secondary[0];
    assert_eq!(second.routing.category, "network.mobile_coverage");
    assert_eq!(
        second.diagnosis.conclusion.as_ref().map(|c| c.code.as_str()),
        Some("CELL_OUTAGE")
    );
    assert!(
        second.routing.reason.contains("a clause of the text"),
        "{}",
        second.routing.reason
    );
    // One issue only: no second finding.
    let mut one = text_cands.clone();
    one.clauses.clear();
    assert!(route(&e, &one, &view, &[]).secondary.is_empty());
    // The clauses a second issue is looked for in.
    assert_eq!(
        diagnosis::route::clauses("月租扣了两次，另外家里手机一点信号都没有"),
        ["月租扣了两次", "另外家里手机一点信号都没有"]
    );
}

#[tokio::test]
async fn replies_promise_unconfirmed_actions_and_name_countries_and_channels() {
    let v = views(&[
        Situation::PaidStillSuspended,
        Situation::VasNoConsent,
        Situation::RoamingNoPack,
        Situation::TopupPending,
    ])
    .await;
    let e = engine();
    let reply = |s: Situation, category: &str, answers: &[(&str, &str)]| {
        let r = route(
            &e,
            &Candidates::requested(category),
            &v[&seed::msisdn(s.first_index())],
            answers,
        );
        r.primary
            .diagnosis
            .conclusion
            .as_ref()
            .map(|c| c.reply.clone())
            .unwrap_or_default()
    };
    let restore = reply(Situation::PaidStillSuspended, "service.suspension", &[]);
    assert!(restore.contains("我们将为您人工复机"), "{restore}");
    assert!(!restore.contains("已为您人工复机"), "{restore}");
    let vas = reply(Situation::VasNoConsent, "vas.unsolicited_subscription", &[]);
    assert!(vas.contains("将为您退订") && !vas.contains("已为您退订"), "{vas}");
    let roaming = reply(Situation::RoamingNoPack, "roaming.charges", &[("bought_pack", "no")]);
    assert!(roaming.contains("在日本漫游期间"), "{roaming}");
    assert!(!roaming.contains("JP"), "{roaming}");
    let topup = reply(Situation::TopupPending, "payment.topup_not_credited", &[]);
    assert!(topup.contains("通过微信支付充值"), "{topup}");
    // Every shipped reply is checked for actions spoken of as done.
    for s in &e.scenarios().scenarios {
        for c in &s.causes {
            assert!(
                !c.reply_source.contains("我们已为您"),
                "{} {}: {}",
                s.id,
                c.code,
                c.reply_source
            );
            assert!(!c.reply_source.contains("country_code }}"), "{} {}", s.id, c.code);
        }
    }
}
