//! Test cases beside scenarios, run offline as `complaint-gateway scenarios test` runs them (no store, no
//! audit): the shipped cases pass and exercise every cause and question; a broken case fails naming the
//! case and the difference; a folder that takes over another scenario's case is a regression for
//! `scenarios check --against`, and hot reload refuses it, keeping the previous set.
use complaint_gateway::assets::Folder;
use complaint_gateway::diagnosis::testcases;
use complaint_gateway::diagnosis::Engine;
use complaint_gateway::tools::scenario_cases::{self, demo_now};
use std::path::Path;

fn shipped() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

/// A copy of the shipped folder to change.
fn copy_shipped() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(shipped()).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, dir.path().join(p.file_name().unwrap())).unwrap();
    }
    dir
}

#[tokio::test]
async fn the_shipped_cases_pass_and_exercise_every_cause_and_question() {
    let report = scenario_cases::test_folder(&Folder::Disk(shipped())).await.unwrap();
    assert!(report.runs.len() >= 40, "{} cases", report.runs.len());
    assert!(report.failed().is_empty(), "{}", report.render());
    let (causes, questions, _branches) = report.coverage.missing();
    assert_eq!(causes, Vec::<String>::new(), "causes no case concludes");
    assert_eq!(questions, Vec::<String>::new(), "questions no case asks");
    let table = report.coverage.to_string();
    let total = table.lines().last().unwrap();
    assert!(
        total.starts_with("total") && total.contains("40/40") && total.contains("8/8"),
        "{table}"
    );
    assert!(table.contains("vas.no_consent"), "{table}");
}

#[tokio::test]
async fn a_broken_case_fails_naming_the_case_and_the_difference() {
    let dir = copy_shipped();
    let file = dir.path().join("vas_no_consent.cases.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    // The reply says 30.00元 was charged; the case now expects 45.00元, and another cause.
    let broken = text
        .replace("\"30.00元\"", "\"45.00元\"")
        .replace("cause = \"VAS_NO_CONSENT\"", "cause = \"VAS_CONSENT_CONFIRMED\"");
    assert_ne!(broken, text);
    std::fs::write(&file, broken).unwrap();
    let report = scenario_cases::test_folder(&Folder::Disk(dir.path().to_path_buf()))
        .await
        .unwrap();
    let failed = report.failed();
    assert_eq!(failed.len(), 1, "{}", report.render());
    let f = failed[0];
    assert_eq!(f.case.file, "vas_no_consent.cases.toml");
    assert_eq!(f.case.line, 4, "the line of its [[cases]]");
    assert_eq!(
        f.diffs[0],
        "outcome: expected cause VAS_CONSENT_CONFIRMED, got cause VAS_NO_CONSENT"
    );
    assert!(
        f.diffs[1].starts_with("reply lacks `45.00元`: 尊敬的客户"),
        "{:?}",
        f.diffs
    );
    let out = report.render();
    assert!(
        out.starts_with("FAIL vas_no_consent.cases.toml:4 (VAS_NO_CONSENT for vas_no_consent"),
        "{out}"
    );
    assert!(out.contains("1 failed"), "{out}");
}

/// A scenario that takes the docs' worked example (a value-added service with no consent, unsubscribe and
/// refund) over: same category, a higher priority, and its own, cheaper cause.
const TAKEOVER: &str = r#"
id = "vas.goodwill"
title = "增值业务争议：仅退当月"
categories = ["vas.unsolicited_subscription"]
priority = 35
precondition = 'size(view.vas_subscriptions) > 0'

[[steps]]
id = "any"
description = "有增值业务"
expr = 'view.vas_subscriptions.exists(v, v.status == "VAS_STATUS_ACTIVE")'
then = "cause:VAS_GOODWILL_REFUND"

[[causes]]
code = "VAS_GOODWILL_REFUND"
title = "退当月费用"
explanation = "退当月"
reply = "尊敬的客户，您好！已为您退还当月费用。"
"#;

#[tokio::test]
async fn check_against_reports_a_scenario_that_takes_over_another_case() {
    let dir = copy_shipped();
    std::fs::write(dir.path().join("vas_goodwill.toml"), TAKEOVER).unwrap();
    let new = Folder::Disk(dir.path().to_path_buf());
    // The folder loads: nothing in it is wrong on its own.
    Engine::load(new.clone(), Some(demo_now())).unwrap();
    let found = scenario_cases::regressions(&Folder::Disk(shipped()), &new)
        .await
        .unwrap();
    assert!(!found.is_empty());
    assert!(
        found
            .iter()
            .all(|r| r.contains("scenario: expected `vas.") && r.contains("got `vas.goodwill`")),
        "{found:#?}"
    );
    assert!(
        found
            .iter()
            .any(|r| r.starts_with("vas_no_consent.cases.toml:4 (VAS_NO_CONSENT")
                && r.contains("outcome: expected cause VAS_NO_CONSENT, got cause VAS_GOODWILL_REFUND")),
        "{found:#?}"
    );
    // The shipped folder against itself: no regression.
    let none = scenario_cases::regressions(&Folder::Disk(shipped()), &Folder::Disk(shipped()))
        .await
        .unwrap();
    assert_eq!(none, Vec::<String>::new());
}

#[tokio::test]
async fn hot_reload_keeps_the_previous_set_when_a_folder_breaks_a_case() {
    let dir = copy_shipped();
    let engine = Engine::load(Folder::Disk(dir.path().to_path_buf()), Some(demo_now())).unwrap();
    // The demo numbers' views, as `scenarios test` reads them, so the reload can replay those cases.
    let cases = engine.cases();
    assert!(cases.len() >= 40);
    let views = scenario_cases::DemoViews::read(&scenario_cases::numbers_of(&cases))
        .await
        .unwrap();
    engine.set_case_views(views.into_map());
    let before = engine.scenarios();
    std::fs::write(dir.path().join("vas_goodwill.toml"), TAKEOVER).unwrap();
    let e = engine.reload().unwrap_err().to_string();
    assert!(
        e.contains("vas_no_consent.cases.toml:4:1: test case `VAS_NO_CONSENT for vas_no_consent")
            && e.contains("no longer passes with this folder: scenario: expected `vas.no_consent`, got `vas.goodwill`"),
        "{e}"
    );
    // The previous set stays in force.
    let after = engine.scenarios();
    assert_eq!(after.generation, before.generation);
    assert!(after.get("vas.goodwill").is_none());
    // The poller (which logs that error as the reason) keeps it too.
    complaint_gateway::diagnosis::reload::poll_once(&engine, Vec::new());
    assert_eq!(engine.scenarios().generation, before.generation);

    // Told to allow regressions, the reload goes through.
    engine.set_refuse_regressions(false);
    let generation = engine.reload().unwrap();
    assert_eq!(generation, before.generation + 1);
    assert!(engine.scenarios().get("vas.goodwill").is_some());
}

#[test]
fn case_files_report_their_problems_with_a_line() {
    let e = testcases::parse_cases(
        "x.cases.toml",
        "[[cases]]\nname = \"a\"\ntext = \"t\"\nexpect = { cause = \"X\" }\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("x.cases.toml:1:1: case `a`: give exactly one of `number`"),
        "{e}"
    );
    let e = testcases::parse_cases(
        "x.cases.toml",
        "\n[[cases]]\nname = \"b\"\nview = '{\"msisdn\": 5}'\ntext = \"t\"\nexpect = { no_cause = true }\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("x.cases.toml:2:1: case `b`: `view` is not a SubscriberView in JSON"),
        "{e}"
    );
    let e = testcases::parse_cases(
        "x.cases.toml",
        "[[cases]]\nname = \"c\"\nnumber = \"1\"\ntext = \"t\"\nexpect = {}\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("`expect` needs exactly one of `cause`, `question` or `no_cause = true`"),
        "{e}"
    );
    // A written view.
    let ok = testcases::parse_cases(
        "x.cases.toml",
        "[[cases]]\nname = \"d\"\nview = '{\"msisdn\": \"13800138000\", \"account\": {\"status\": \"ACCOUNT_STATUS_SUSPENDED\", \"balanceFen\": \"-100\"}}'\ntext = \"t\"\nexpect = { no_cause = true }\n",
    )
    .unwrap();
    let testcases::Fixture::View(v) = &ok[0].fixture else {
        panic!()
    };
    assert_eq!(v.account.as_ref().unwrap().balance_fen, -100);
}
