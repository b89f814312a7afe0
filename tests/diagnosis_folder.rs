//! Scenario folders at run time: hot reload swaps the set atomically, a broken file keeps the previous set
//! and the log says why; a scenario that fails at run time is reported and skipped, never a failed call.
use chrono::DateTime;
use complaint_gateway::diagnosis::{reload, Engine};
use complaint_gateway::proto::complaint::v1::diagnosis_service_client::DiagnosisServiceClient;
use complaint_gateway::proto::complaint::v1::{DiagnoseRequest, DiagnosisOutcome, ListScenariosRequest};
use complaint_gateway::testkit;
use complaint_gateway::tools::seed::{self, Situation};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Everything logged by this test binary.
fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || Sink(sink.clone()))
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber per test binary");
        buf
    })
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logged() -> String {
    String::from_utf8_lossy(&logs().lock().unwrap()).into_owned()
}

const PLAN_OK: &str = r#"
id = "t.plan_known"
title = "套餐已知"
categories = ["plan.change_issue"]

[[steps]]
id = "plan"
description = "有套餐数据"
expr = 'has(view.plan)'
then = "cause:PLAN_KNOWN"
else = "end"

[[causes]]
code = "PLAN_KNOWN"
title = "套餐已知"
explanation = "{{ view.plan.name }}"
reply = "尊敬的客户，您好！您的套餐是“{{ view.plan.name }}”，月租{{ view.plan.monthly_fee_fen | money }}。"
"#;

/// Higher priority than PLAN_OK, but reads a timestamp most subscribers lack: fails at run time.
const PLAN_FAILS: &str = r#"
id = "t.pending_date"
title = "预约生效时间"
categories = ["plan.change_issue"]
priority = 100

[[steps]]
id = "pending_date"
description = "读取预约生效时间（多数用户没有）"
expr = 'view.plan.pending_effective_at < now'
then = "cause:PENDING_PAST"
else = "end"

[[causes]]
code = "PENDING_PAST"
title = "预约已过期"
explanation = "{{ view.plan.pending_plan_name }}"
reply = "尊敬的客户，您好！"
"#;

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

#[test]
fn a_broken_file_keeps_the_previous_set_and_logs_why() {
    logs();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "plan_ok.toml", PLAN_OK);
    let engine = Engine::load(dir.path(), None).unwrap();
    let before = engine.scenarios();
    assert_eq!((before.generation, before.scenarios.len()), (1, 1));
    let listing = reload::fingerprint(dir.path());

    write(
        dir.path(),
        "broken.toml",
        &PLAN_FAILS.replace("pending_effective_at", "pending_efective_at"),
    );
    let listing = reload::poll_once(&engine, listing);
    let after = engine.scenarios();
    assert!(Arc::ptr_eq(&before, &after), "the previous set stays in force");
    let log = logged();
    assert!(
        log.contains("does not load; the previous scenarios stay in force"),
        "{log}"
    );
    assert!(
        log.contains("broken.toml:") && log.contains("`pending_efective_at` is not a field of complaint.v1.Plan"),
        "{log}"
    );

    // Fixed: the next poll swaps in the new set.
    write(dir.path(), "broken.toml", PLAN_FAILS);
    let listing = reload::poll_once(&engine, listing);
    let fixed = engine.scenarios();
    assert_eq!((fixed.generation, fixed.scenarios.len()), (2, 2));
    // An unchanged folder is not reloaded.
    reload::poll_once(&engine, listing);
    assert!(Arc::ptr_eq(&fixed, &engine.scenarios()));
}

async fn server(dir: &Path, data: &Path, reload_ms: u64) -> testkit::RunningServer {
    let urls = testkit::sqlite_urls(data);
    testkit::seed(&urls, 40).await.unwrap();
    let mut cfg = testkit::config(&urls);
    cfg.diagnosis.scenarios_dir = Some(dir.to_path_buf());
    cfg.diagnosis.reload_interval_ms = reload_ms;
    cfg.diagnosis.now = Some(DateTime::parse_from_rfc3339("2026-11-28T10:00:00+08:00").unwrap());
    testkit::spawn(cfg).await.unwrap()
}

async fn connect(s: &testkit::RunningServer) -> DiagnosisServiceClient<tonic::transport::Channel> {
    for _ in 0..50 {
        if let Ok(c) = DiagnosisServiceClient::connect(s.url()).await {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the server did not come up");
}

fn plan_complaint(msisdn: String) -> DiagnoseRequest {
    DiagnoseRequest {
        msisdn,
        text: "套餐有问题".into(),
        category: "plan.change_issue".into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_scenario_failing_at_run_time_is_reported_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    write(dir.path(), "plan_ok.toml", PLAN_OK);
    write(dir.path(), "plan_fails.toml", PLAN_FAILS);
    let s = server(dir.path(), data.path(), 0).await;
    let mut c = connect(&s).await;
    let msisdn = seed::msisdn(Situation::Normal.first_index());
    let r = c
        .diagnose(testkit::req(plan_complaint(msisdn)))
        .await
        .expect("a failing scenario never fails the call")
        .into_inner();
    assert_eq!(r.outcome(), DiagnosisOutcome::Cause);
    assert_eq!(
        (r.scenario_id.as_str(), r.cause.unwrap().code.as_str()),
        ("t.plan_known", "PLAN_KNOWN")
    );
    let failed = r.matches.iter().find(|m| m.scenario_id == "t.pending_date").unwrap();
    assert_eq!(failed.outcome(), DiagnosisOutcome::Error);
    assert!(
        failed.error.starts_with("step `pending_date`:") && failed.error.contains("pending_effective_at"),
        "{}",
        failed.error
    );
    assert_eq!(r.matches[0].scenario_id, "t.plan_known");
}

#[tokio::test]
async fn the_server_swaps_in_changed_scenarios() {
    let dir = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    write(dir.path(), "plan_fails.toml", PLAN_FAILS);
    let s = server(dir.path(), data.path(), 100).await;
    let mut c = connect(&s).await;
    let list = |c: &mut DiagnosisServiceClient<tonic::transport::Channel>| {
        let mut c = c.clone();
        async move {
            c.list_scenarios(testkit::req(ListScenariosRequest::default()))
                .await
                .unwrap()
                .into_inner()
        }
    };
    assert_eq!(list(&mut c).await.generation, 1);
    let msisdn = seed::msisdn(Situation::Normal.first_index());
    let r = c
        .diagnose(testkit::req(plan_complaint(msisdn.clone())))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.outcome(), DiagnosisOutcome::NoCause, "{:?}", r.matches);

    write(dir.path(), "plan_ok.toml", PLAN_OK);
    let mut generation = 1;
    for _ in 0..100 {
        generation = list(&mut c).await.generation;
        if generation == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(generation, 2, "the new file was not picked up");
    let r = c
        .diagnose(testkit::req(plan_complaint(msisdn.clone())))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.cause.unwrap().code, "PLAN_KNOWN");

    // A broken edit: the server keeps answering with the previous set.
    write(
        dir.path(),
        "plan_ok.toml",
        &PLAN_OK.replace("has(view.plan)", "has(view.plan"),
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    let l = list(&mut c).await;
    assert_eq!((l.generation, l.scenarios.len()), (2, 2));
    let r = c
        .diagnose(testkit::req(plan_complaint(msisdn)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.cause.unwrap().code, "PLAN_KNOWN");
}
