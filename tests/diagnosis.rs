//! Diagnosis end to end, over a real server on seeded SQLite backends: the shipped test cases
//! (`scenarios/*.cases.toml`, a demo subscriber and a complaint for every cause and question) give their
//! scenario, cause or question and reply figures through `Diagnose`; a missing-data case asks and then
//! concludes; bad input is refused naming the field; records land in the gateway's store.
use chrono::DateTime;
use complaint_gateway::assets::Folder;
use complaint_gateway::diagnosis::records::SqlComplaintStore;
use complaint_gateway::diagnosis::testcases::{self, Fixture};
use complaint_gateway::error::Error;
use complaint_gateway::proto::complaint::v1::diagnosis_service_client::DiagnosisServiceClient;
use complaint_gateway::proto::complaint::v1::{
    ActionKind, Answer, ClassifyRequest, DiagnoseRequest, DiagnoseResponse, DiagnosisOutcome, GetScenarioRequest,
    GetSubscriberViewRequest, ListScenariosRequest, SubscriberView,
};
use complaint_gateway::testkit::{self, RunningServer};
use complaint_gateway::tools::seed::{self, Situation};
use std::collections::BTreeSet;
use tonic::transport::Channel;
use tonic::Code;

/// Subscribers seeded: two full cycles of situations.
const SUBSCRIBERS: u64 = 80;

struct Env {
    _dir: tempfile::TempDir,
    server: RunningServer,
    store_url: String,
}

async fn setup() -> Env {
    // The classifier trains once per process (as `serve` does before listening), not inside a call.
    tokio::task::spawn_blocking(|| {
        complaint_gateway::classify::Classifier::shared();
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let urls = testkit::sqlite_urls(dir.path());
    testkit::seed(&urls, SUBSCRIBERS).await.unwrap();
    let mut cfg = testkit::config(&urls);
    // The data is as of 2026-11-28 10:00 Beijing time: scenarios compare dates against that.
    cfg.diagnosis.now = Some(DateTime::parse_from_rfc3339("2026-11-28T10:00:00+08:00").unwrap());
    cfg.diagnosis.reload_interval_ms = 0;
    let store_url = format!("sqlite://{}", dir.path().join("gateway.db").display());
    cfg.store.url = store_url.clone();
    let server = testkit::spawn(cfg).await.unwrap();
    Env {
        _dir: dir,
        server,
        store_url,
    }
}

async fn client(env: &Env) -> DiagnosisServiceClient<Channel> {
    // The server starts serving once the scenarios are loaded: retry the connection briefly.
    for _ in 0..50 {
        if let Ok(c) = DiagnosisServiceClient::connect(env.server.url()).await {
            return c;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the server did not come up");
}

async fn view_of(env: &Env, msisdn: &str) -> SubscriberView {
    let mut c = testkit::data_client(&env.server).await.unwrap();
    c.get_subscriber_view(testkit::req(GetSubscriberViewRequest {
        msisdn: msisdn.into(),
        ..Default::default()
    }))
    .await
    .unwrap()
    .into_inner()
    .view
    .unwrap()
}

fn diagnose_req(msisdn: &str, category: &str, text: &str, answers: &[(&str, &str)], id: &str) -> DiagnoseRequest {
    DiagnoseRequest {
        msisdn: msisdn.into(),
        text: text.into(),
        category: category.into(),
        answers: answers
            .iter()
            .map(|(q, v)| Answer {
                question_id: q.to_string(),
                value: v.to_string(),
            })
            .collect(),
        complaint_id: id.into(),
        dry_run: false,
        now: None,
    }
}

fn yuan(fen: i64) -> String {
    format!(
        "{}{}.{:02}元",
        if fen < 0 { "-" } else { "" },
        fen.abs() / 100,
        fen.abs() % 100
    )
}

/// An ordinary subscriber (no situation) whose view has no broadband port.
async fn no_broadband(env: &Env) -> String {
    for i in (0..SUBSCRIBERS).filter(|i| Situation::of(*i) == Situation::Normal) {
        let n = seed::msisdn(i);
        if view_of(env, &n).await.network.and_then(|n| n.broadband).is_none() {
            return n;
        }
    }
    panic!("no ordinary subscriber without broadband among the first {SUBSCRIBERS}");
}

/// The shipped test cases (`scenarios/*.cases.toml`, a case per cause and question; `scenarios test` runs
/// them offline) hold over a real server too: each demo number's case gives its scenario and cause (or
/// question) through `Diagnose`, with the reply's figures, and the steps' reads name their sources.
#[tokio::test]
async fn the_shipped_test_cases_hold_over_the_server() {
    let env = setup().await;
    let mut c = client(&env).await;
    let list = c
        .list_scenarios(testkit::req(ListScenariosRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert!(list.scenarios.len() >= 20, "{} scenarios", list.scenarios.len());
    let cases = testcases::load_cases(&Folder::embedded_scenarios()).unwrap();
    // Every cause of every loaded scenario has a case.
    let all: BTreeSet<(String, String)> = list
        .scenarios
        .iter()
        .flat_map(|s| s.cause_codes.iter().map(|c| (s.id.clone(), c.clone())))
        .collect();
    let covered: BTreeSet<(String, String)> = cases
        .iter()
        .filter_map(|c| Some((c.expect.scenario.clone()?, c.expect.cause.clone()?)))
        .collect();
    assert_eq!(
        all.difference(&covered).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "causes without a case"
    );

    let mut failures = Vec::new();
    for (n, case) in cases.iter().enumerate() {
        let Fixture::Number(msisdn) = &case.fixture else {
            continue;
        };
        let answers: Vec<(&str, &str)> = case.answers.iter().map(|(q, v)| (q.as_str(), v.as_str())).collect();
        let r: DiagnoseResponse = c
            .diagnose(testkit::req(diagnose_req(
                msisdn,
                case.category.as_deref().unwrap_or(""),
                &case.text,
                &answers,
                &format!("T-{n}"),
            )))
            .await
            .unwrap_or_else(|e| panic!("{}: {e:?}", case.label()))
            .into_inner();
        let got = testcases::Got {
            category: r.category.clone(),
            scenario: r.scenario_id.clone(),
            cause: r.cause.as_ref().map(|c| c.code.clone()),
            question: r.pending_questions.first().map(|q| q.id.clone()),
            reply: r.reply.clone(),
            ..Default::default()
        };
        let diffs = testcases::compare(&case.expect, &got);
        if !diffs.is_empty() {
            failures.push(format!("{}: {}", case.label(), diffs.join("; ")));
            continue;
        }
        let label = case.label();
        assert_eq!(Some(&r.category), case.category.as_ref(), "{label}");
        assert!(!r.trace.is_empty(), "{label}");
        assert_eq!(
            r.matches[0].scenario_id, r.scenario_id,
            "{label}: the chosen scenario ranks first"
        );
        match &case.expect.cause {
            Some(cause) => {
                assert_eq!(r.outcome(), DiagnosisOutcome::Cause, "{label}");
                assert!(r.reply.starts_with("尊敬的客户"), "{label}: {}", r.reply);
                assert!(!r.cause.as_ref().unwrap().explanation.is_empty(), "{label}");
                assert_eq!(r.confidence, 1.0);
                assert!(r.pending_questions.is_empty(), "{label}");
                assert_eq!(r.trace.last().unwrap().outcome, format!("cause {cause}"), "{label}");
                // The view fields the steps read name their source.
                assert!(
                    r.trace.iter().any(|t| t.evidence.iter().any(|e| !e.source.is_empty())),
                    "{label}: no evidence in {:?}",
                    r.trace
                );
            }
            // No cause (a period named without a record): said, with what was checked.
            None if case.expect.no_cause => {
                assert_eq!(r.outcome(), DiagnosisOutcome::NoCause, "{label}");
                assert!(!r.reply.is_empty() && r.cause.is_none(), "{label}");
            }
            None => {
                assert_eq!(r.outcome(), DiagnosisOutcome::Question, "{label}");
                assert!(r.reply.is_empty() && r.cause.is_none(), "{label}");
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn actions_carry_the_subscribers_amounts_and_codes() {
    let env = setup().await;
    let mut c = client(&env).await;
    let msisdn = seed::msisdn(Situation::VasNoConsent.first_index());
    let view = view_of(&env, &msisdn).await;
    let vas = &view.vas_subscriptions[0];
    let billed: i64 = view
        .recent_bills
        .iter()
        .flat_map(|b| &b.items)
        .filter(|i| i.service_code == vas.service_code)
        .map(|i| i.amount_fen)
        .sum();
    assert!(billed > 0);
    let r = c
        .diagnose(testkit::req(diagnose_req(
            &msisdn,
            "vas.unsolicited_subscription",
            "乱扣费",
            &[],
            "T-ACT-1",
        )))
        .await
        .unwrap()
        .into_inner();
    let unsub = r.actions.iter().find(|a| a.kind() == ActionKind::Unsubscribe).unwrap();
    assert_eq!(unsub.service_code, vas.service_code);
    let refund = r.actions.iter().find(|a| a.kind() == ActionKind::Refund).unwrap();
    assert_eq!(refund.amount_fen, billed);
    assert!(refund.description.contains(&yuan(billed)), "{}", refund.description);
    let esc = r.actions.iter().find(|a| a.kind() == ActionKind::Escalate).unwrap();
    assert_eq!(esc.target, "增值业务稽核组");

    // The trace shows what was read: the step found the unconsented service, from billing.
    let step = r.trace.iter().find(|t| t.step_id == "unconsented").unwrap();
    assert_eq!(step.result, "true");
    assert!(
        step.values["unconsented"].contains(&vas.service_code),
        "{:?}",
        step.values
    );
    let ev = step.evidence.iter().find(|e| e.field == "vas_subscriptions").unwrap();
    assert_eq!(ev.source, "billing");
    assert!(ev.fetched_at.is_some());

    let msisdn = seed::msisdn(Situation::PaidStillSuspended.first_index());
    let r = c
        .diagnose(testkit::req(diagnose_req(
            &msisdn,
            "service.suspension",
            "交了钱还停机",
            &[],
            "T-ACT-2",
        )))
        .await
        .unwrap()
        .into_inner();
    assert!(
        r.actions.iter().any(|a| a.kind() == ActionKind::RestoreLine),
        "{:?}",
        r.actions
    );

    let msisdn = seed::msisdn(Situation::CellOutage.first_index());
    let view = view_of(&env, &msisdn).await;
    let outage = view
        .network
        .unwrap()
        .outages
        .into_iter()
        .find(|o| o.resolved_at.is_none())
        .unwrap();
    let r = c
        .diagnose(testkit::req(diagnose_req(
            &msisdn,
            "network.mobile_coverage",
            "没信号",
            &[],
            "T-ACT-3",
        )))
        .await
        .unwrap()
        .into_inner();
    let ticket = r
        .actions
        .iter()
        .find(|a| a.kind() == ActionKind::NetworkTicket)
        .unwrap();
    assert_eq!(ticket.element_id, outage.element_id);
}

#[tokio::test]
async fn missing_data_asks_and_the_answer_concludes_and_both_are_recorded() {
    let env = setup().await;
    let mut c = client(&env).await;
    let msisdn = no_broadband(&env).await;
    let first = c
        .diagnose(testkit::req(diagnose_req(
            &msisdn,
            "network.broadband_fault",
            "宽带断网了",
            &[],
            "",
        )))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.outcome(), DiagnosisOutcome::Question);
    assert_eq!(first.scenario_id, "broadband.modem_check");
    assert!(first.cause.is_none() && first.reply.is_empty() && first.actions.is_empty());
    let q = &first.pending_questions[0];
    assert_eq!(q.id, "modem_light");
    assert!(q.text.contains("LOS"), "{}", q.text);
    let allowed: Vec<&str> = q.allowed.iter().map(|a| a.value.as_str()).collect();
    assert_eq!(allowed, ["los_red", "normal"]);
    // The trace shows why: no port data, then the question.
    let steps: Vec<(&str, &str)> = first
        .trace
        .iter()
        .map(|t| (t.step_id.as_str(), t.outcome.as_str()))
        .collect();
    assert_eq!(
        steps,
        [
            ("precondition", "next"),
            ("port_data", "next"),
            ("ask_light", "ask modem_light")
        ]
    );
    assert_eq!(first.trace[1].result, "false");
    // The evidence names where the missing data would have come from.
    let ev = &first.trace[1].evidence;
    assert!(
        ev.iter()
            .any(|e| e.field == "network.broadband" && e.source == "resource" && !e.supplied),
        "{ev:?}"
    );
    assert!(first.complaint_id.starts_with("CMP-"), "{}", first.complaint_id);

    let second = c
        .diagnose(testkit::req(diagnose_req(
            &msisdn,
            "network.broadband_fault",
            "宽带断网了",
            &[("modem_light", "los_red")],
            &first.complaint_id,
        )))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.outcome(), DiagnosisOutcome::Cause);
    assert_eq!(second.cause.as_ref().unwrap().code, "OPTICAL_LINE_SUSPECTED");
    assert!(second.reply.contains(&msisdn), "{}", second.reply);
    assert!(second.pending_questions.is_empty());

    // One row per complaint, updated by the second call.
    let store = complaint_gateway::store::Store::connect(&env.store_url, 1)
        .await
        .unwrap();
    let records = SqlComplaintStore::new(store.clone());
    let row = records.get(&first.complaint_id).await.unwrap().expect("recorded");
    assert_eq!(row.diagnoses, 2);
    // Each diagnosis was audited (committed with its record), under the complaint id.
    let audited: Vec<(String, String)> =
        sqlx::query_as("SELECT action, outcome FROM audit_events WHERE purpose = $1 ORDER BY event_id")
            .bind(&first.complaint_id)
            .fetch_all(store.pool())
            .await
            .unwrap();
    let diagnose = ("complaint.v1.DiagnosisService/Diagnose".to_string(), "OK".to_string());
    assert_eq!(audited, [diagnose.clone(), diagnose]);
    let r = &row.record;
    assert_eq!(
        (
            r.category.as_str(),
            r.scenario_id.as_str(),
            r.cause_code.as_str(),
            r.outcome.as_str()
        ),
        (
            "network.broadband_fault",
            "broadband.modem_check",
            "OPTICAL_LINE_SUSPECTED",
            "cause"
        )
    );
    assert_eq!((r.answers, r.reply_without_question), (1, false));
    assert_eq!(r.caller, "test-admin");
    let view = view_of(&env, &msisdn).await;
    assert_eq!(r.region, view.customer.unwrap().region_code);
    assert_eq!((r.confidence, r.category_source.as_str()), (1.0, "request"));

    // A cause found without a question is recorded as such.
    let n = seed::msisdn(Situation::DuplicateMonthlyFee.first_index());
    c.diagnose(testkit::req(diagnose_req(
        &n,
        "billing.unexpected_charge",
        "月租扣了两次",
        &[],
        "T-REC-2",
    )))
    .await
    .unwrap();
    let row = records.get("T-REC-2").await.unwrap().expect("recorded");
    assert!(row.record.reply_without_question);
    assert_eq!(row.record.cause_code, "DUPLICATE_MONTHLY_FEE");
}

async fn invalid(c: &mut DiagnosisServiceClient<Channel>, req: DiagnoseRequest) -> (String, String) {
    let s = c.diagnose(testkit::req(req)).await.unwrap_err();
    assert_eq!(s.code(), Code::InvalidArgument, "{s:?}");
    match Error::from(s) {
        Error::InvalidArgument { field, message } | Error::InvalidMsisdn { field, message } => (field, message),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_field() {
    let env = setup().await;
    let mut c = client(&env).await;
    let n = seed::msisdn(Situation::Normal.first_index());
    let (f, m) = invalid(&mut c, diagnose_req(&n, "billing.unknown", "x", &[], "")).await;
    assert_eq!(f, "category");
    assert!(
        m.contains("unknown category `billing.unknown`") && m.contains("billing.unexpected_charge"),
        "{m}"
    );

    let (f, m) = invalid(
        &mut c,
        diagnose_req(&n, "network.broadband_fault", "x", &[("modem_lite", "los_red")], ""),
    )
    .await;
    assert_eq!(
        (f.as_str(), m.as_str()),
        ("answers[0].question_id", "unknown question `modem_lite`")
    );

    let (f, m) = invalid(
        &mut c,
        diagnose_req(&n, "network.broadband_fault", "x", &[("modem_light", "green")], ""),
    )
    .await;
    assert_eq!(f, "answers[0].value");
    assert_eq!(
        m,
        "`green` is not an allowed answer to `modem_light`; allowed: los_red, normal"
    );

    let (f, m) = invalid(
        &mut c,
        diagnose_req(
            &n,
            "network.broadband_fault",
            "x",
            &[("modem_light", "normal"), ("modem_light", "los_red")],
            "",
        ),
    )
    .await;
    assert_eq!(
        (f.as_str(), m.as_str()),
        ("answers[1].question_id", "`modem_light` is answered twice")
    );

    let (f, _) = invalid(&mut c, diagnose_req(&n, "", "  ", &[], "")).await;
    assert_eq!(f, "text");
    let (f, _) = invalid(
        &mut c,
        diagnose_req(&n, "billing.data_overage", "x", &[], "id with spaces"),
    )
    .await;
    assert_eq!(f, "complaint_id");
    let (f, _) = invalid(&mut c, diagnose_req("12345", "billing.data_overage", "x", &[], "")).await;
    assert_eq!(f, "msisdn");

    let s = c
        .classify(testkit::req(ClassifyRequest { text: " ".into() }))
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::InvalidArgument);
    assert!(s.message().starts_with("text:"), "{}", s.message());

    let s = c
        .get_scenario(testkit::req(GetScenarioRequest { id: "nope".into() }))
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::NotFound);
    assert!(s.message().contains("no scenario `nope`"), "{}", s.message());
    let s = c
        .list_scenarios(testkit::req(ListScenariosRequest {
            category: "nope".into(),
        }))
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::InvalidArgument);

    // Unknown subscribers are NOT_FOUND, as for GetSubscriberView.
    let s = c
        .diagnose(testkit::req(diagnose_req(
            "13012345678",
            "billing.data_overage",
            "x",
            &[],
            "",
        )))
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::NotFound, "{s:?}");
    // Without credentials nothing is diagnosed.
    let s = c
        .diagnose(tonic::Request::new(diagnose_req(
            &n,
            "billing.data_overage",
            "x",
            &[],
            "",
        )))
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn without_a_category_the_classifier_decides() {
    let env = setup().await;
    let mut c = client(&env).await;
    let text = "我从来没有订购过视频彩铃会员，每个月被扣10元，要求退费并取消";
    // The test server runs in this process: train its classifier here first (as `serve` does in the
    // background at start), so the call is not bounded by the one-off training on a loaded machine.
    tokio::task::spawn_blocking(|| {
        complaint_gateway::classify::Classifier::shared();
    })
    .await
    .unwrap();
    let cls = c
        .classify(testkit::req(ClassifyRequest { text: text.into() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(cls.top.len(), 12);
    assert_eq!(cls.category, cls.top[0].category);
    let msisdn = seed::msisdn(Situation::VasNoConsent.first_index());
    let r = c
        .diagnose(testkit::req(diagnose_req(&msisdn, "", text, &[], "")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        r.category_source(),
        complaint_gateway::proto::complaint::v1::CategorySource::Classifier
    );
    assert_eq!(r.category, cls.category);
    assert!((r.confidence - cls.confidence).abs() < 1e-9);
    assert_eq!(r.category, "vas.unsolicited_subscription", "{cls:?}");
    assert_eq!(r.cause.unwrap().code, "VAS_NO_CONSENT");
}

#[tokio::test]
async fn scenarios_are_listed_and_shown_as_written() {
    let env = setup().await;
    let mut c = client(&env).await;
    let list = c
        .list_scenarios(testkit::req(ListScenariosRequest {
            category: "network.broadband_fault".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<&str> = list.scenarios.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "broadband.install_delay",
            "broadband.modem_check",
            "broadband.port_alarm"
        ]
    );
    assert_eq!(list.generation, 1);
    let s = c
        .get_scenario(testkit::req(GetScenarioRequest {
            id: "broadband.modem_check".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(s.summary.as_ref().unwrap().file, "broadband_modem_check.toml");
    let ask = s.steps.iter().find(|st| st.id == "ask_light").unwrap();
    assert_eq!(ask.ask, "modem_light");
    assert_eq!(
        (ask.then.as_str(), ask.otherwise.as_str()),
        ("cause OPTICAL_LINE_SUSPECTED", "cause HOME_NETWORK_ISSUE")
    );
    assert_eq!(s.questions[0].allowed.len(), 2);
    assert!(s.source.contains("id = \"broadband.modem_check\""));
    assert!(s.causes.iter().any(|c| c.reply.contains("{{")));
}

#[tokio::test]
async fn a_dry_run_records_no_complaint_and_is_audited_as_a_dry_run() {
    let env = setup().await;
    let mut c = client(&env).await;
    let n = seed::msisdn(Situation::DuplicateMonthlyFee.first_index());
    let mut req = diagnose_req(&n, "billing.unexpected_charge", "月租扣了两次", &[], "T-DRY-1");
    req.dry_run = true;
    let r = c.diagnose(testkit::req(req.clone())).await.unwrap().into_inner();
    // The diagnosis is the same as a real one's.
    assert_eq!(r.cause.as_ref().unwrap().code, "DUPLICATE_MONTHLY_FEE");
    assert!(r.reply.starts_with("尊敬的客户"), "{}", r.reply);
    let store = complaint_gateway::store::Store::connect(&env.store_url, 1)
        .await
        .unwrap();
    let records = SqlComplaintStore::new(store.clone());
    assert!(
        records.get("T-DRY-1").await.unwrap().is_none(),
        "a dry run records no complaint"
    );
    let audited = |id: &'static str| {
        let pool = store.pool().clone();
        async move {
            sqlx::query_as::<_, (String, String)>(
                "SELECT action, outcome FROM audit_events WHERE purpose = $1 ORDER BY event_id",
            )
            .bind(id)
            .fetch_all(&pool)
            .await
            .unwrap()
        }
    };
    let dry = (
        "complaint.v1.DiagnosisService/Diagnose (dry run)".to_string(),
        "OK".to_string(),
    );
    assert_eq!(audited("T-DRY-1").await, std::slice::from_ref(&dry));
    // The same call without the flag is recorded, and audited as a diagnosis.
    req.dry_run = false;
    c.diagnose(testkit::req(req)).await.unwrap();
    let row = records.get("T-DRY-1").await.unwrap().expect("recorded");
    assert_eq!(
        (row.diagnoses, row.record.cause_code.as_str()),
        (1, "DUPLICATE_MONTHLY_FEE")
    );
    assert_eq!(
        audited("T-DRY-1").await,
        [
            dry,
            ("complaint.v1.DiagnosisService/Diagnose".to_string(), "OK".to_string())
        ]
    );
}
