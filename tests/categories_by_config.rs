//! Categories by configuration, end to end: `[diagnosis] corpus_dir` names a folder with a new category
//! (`terminal.sim_card`) and its 30 labelled examples; the server retrains the classifier at start, a
//! scenario of the scenario folder names the new category, and complaints the examples do not contain are
//! routed to it and diagnosed by that scenario (no category in the request).
//!
//! One test per binary: the classifier a configuration trains is the process's one.
use chrono::DateTime;
use complaint_gateway::proto::complaint::v1::diagnosis_service_client::DiagnosisServiceClient;
use complaint_gateway::proto::complaint::v1::{CategorySource, ClassifyRequest, DiagnoseRequest, DiagnosisOutcome};
use complaint_gateway::testkit;
use complaint_gateway::tools::seed::{self, Situation};
use std::path::{Path, PathBuf};

/// The scenario for the new category: what the resource system says of the SIM card.
const SIM_SCENARIO: &str = r#"
id = "sim.card_state"
title = "SIM卡状态"
categories = ["terminal.sim_card"]
priority = 10
precondition = 'has(view.line)'

[[steps]]
id = "replaced"
description = "资源系统中的SIM卡已被替换（补卡/换卡后旧卡失效）？"
expr = 'view.line.sim_status == "SIM_STATUS_REPLACED"'
then = "cause:SIM_REPLACED"
else = "cause:SIM_CHECK_IN_SHOP"

[[causes]]
code = "SIM_REPLACED"
title = "SIM卡已更换"
explanation = "卡号{{ view.line.iccid }}已被替换。"
reply = "尊敬的客户，您好！您的号码已办理换卡，原卡（{{ view.line.iccid }}）已失效，请使用新卡。"

[[causes]]
code = "SIM_CHECK_IN_SHOP"
title = "SIM卡需到厅检测"
explanation = "卡状态正常，需检测卡片。"
reply = "尊敬的客户，您好！系统中您的SIM卡状态正常，请携带证件到营业厅检测或免费补卡。"
"#;

/// Complaints of the new category that are not among its labelled examples.
const UNSEEN: [&str; 10] = [
    "新换的手机卡插上去提示无服务，卡槽也擦过了，还是识别不了",
    "手机一开机就说没有SIM卡，我的卡一直插着啊",
    "营业厅补的卡拿回家就不能用了，打不了电话也上不了网，旧卡也没了",
    "我想把实体卡换成eSIM，操作了三次都激活失败",
    "这张电话卡用了十年了，最近经常读不出来，是不是该换了",
    "换了个新手机，插卡后提示SIM卡无效",
    "卡放进去手机没反应，拿到别人手机上也读不出来",
    "手表开一号双终端总是失败，客服也说不清楚原因",
    "手机卡突然失灵，屏幕上显示请插入SIM卡",
    "补办的SIM卡一直没激活，到现在都用不了",
];

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/classify/sim_card")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_category_added_by_configuration_is_routed_to_its_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let urls = testkit::sqlite_urls(dir.path());
    testkit::seed(&urls, 40).await.unwrap();
    let scenarios = dir.path().join("scenarios");
    std::fs::create_dir(&scenarios).unwrap();
    for e in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, scenarios.join(p.file_name().unwrap())).unwrap();
    }
    std::fs::write(scenarios.join("sim_card_state.toml"), SIM_SCENARIO).unwrap();
    let mut cfg = testkit::config(&urls);
    cfg.diagnosis.now = Some(DateTime::parse_from_rfc3339("2026-11-28T10:00:00+08:00").unwrap());
    cfg.diagnosis.scenarios_dir = Some(scenarios.clone());
    cfg.diagnosis.corpus_dir = Some(corpus());
    cfg.diagnosis.reload_interval_ms = 0;
    let server = testkit::spawn(cfg).await.unwrap();
    let mut c = None;
    for _ in 0..600 {
        if let Ok(cl) = DiagnosisServiceClient::connect(server.url()).await {
            c = Some(cl);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let mut c = c.expect("the server came up");

    // Classify knows 13 categories now.
    let cls = c
        .classify(testkit::req(ClassifyRequest { text: UNSEEN[0].into() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(cls.top.len(), 13, "{cls:?}");

    let replaced = seed::msisdn(Situation::SimReplaced.first_index());
    let mut routed = 0;
    for (k, text) in UNSEEN.iter().enumerate() {
        let r = c
            .diagnose(testkit::req(DiagnoseRequest {
                msisdn: replaced.clone(),
                text: text.to_string(),
                complaint_id: format!("SIM-{k}"),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.category_source(), CategorySource::Classifier);
        if r.category == "terminal.sim_card" && !r.classifier_abstained {
            routed += 1;
            assert_eq!(r.outcome(), DiagnosisOutcome::Cause, "{text}");
            assert_eq!(r.scenario_id, "sim.card_state", "{text}");
            assert_eq!(r.cause.as_ref().unwrap().code, "SIM_REPLACED", "{text}");
            assert!(r.reply.contains("原卡（898600"), "{}", r.reply);
        }
    }
    assert!(
        routed >= 8,
        "{routed} of 10 unseen texts routed to terminal.sim_card and its scenario"
    );

    // The shipped categories still route: a value-added complaint is not taken by the new one.
    let r = c
        .diagnose(testkit::req(DiagnoseRequest {
            msisdn: seed::msisdn(Situation::VasNoConsent.first_index()),
            text: "我从来没有订购过视频彩铃会员，每个月被扣10元，要求退费并取消".into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.category, "vas.unsolicited_subscription");
    assert_eq!(r.cause.unwrap().code, "VAS_NO_CONSENT");
}
