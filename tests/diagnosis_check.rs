//! `complaint-gateway scenarios check`: the shipped scenarios load; a misspelt field path is rejected
//! naming the file, scenario, step and line:column.
use complaint_gateway::diagnosis::scenario::{load_dir, LoadOptions};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn shipped() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

#[test]
fn the_shipped_scenarios_load_and_cover_every_category() {
    let set = load_dir(&shipped(), &LoadOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    assert!(set.scenarios.len() >= 20, "{} scenarios", set.scenarios.len());
    let covered: BTreeSet<&str> = set
        .scenarios
        .iter()
        .flat_map(|s| s.categories.iter().map(|c| c.as_str()))
        .collect();
    for c in complaint_gateway::classify::category_codes() {
        assert!(covered.contains(c), "no scenario for {c}");
    }
    for s in &set.scenarios {
        assert!(!s.causes.is_empty(), "{} has no cause", s.id);
    }
}

fn cli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_complaint-gateway"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("runs")
}

#[test]
fn check_accepts_a_good_folder() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        shipped().join("vas_no_consent.toml"),
        dir.path().join("vas_no_consent.toml"),
    )
    .unwrap();
    let out = cli(&["scenarios", "check", dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("ok: 1 scenarios, 1 causes, 0 questions; categories 2/12"),
        "{stdout}"
    );
}

#[test]
fn check_rejects_a_misspelt_field_path_naming_file_step_and_position() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(shipped().join("vas_no_consent.toml"))
        .unwrap()
        .replacen("v.consent_record", "v.consent_recrod", 1);
    std::fs::write(dir.path().join("vas_no_consent.toml"), &text).unwrap();
    let (line_no, line) = text
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains("consent_recrod"))
        .unwrap();
    let col = line[..line.find("consent_recrod").unwrap()].chars().count() + 1;

    let out = cli(&["scenarios", "check", dir.path().to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected = format!(
        "vas_no_consent.toml:{}:{col}: scenario `vas.no_consent`, step `unconsented`, `consent_recrod` is not a field of complaint.v1.VasSubscription (did you mean `consent_record`?)",
        line_no + 1
    );
    assert!(stderr.contains(&expected), "expected\n{expected}\nin\n{stderr}");
    assert!(stderr.contains("1 problem(s)"), "{stderr}");
}

#[test]
fn check_reports_every_problem_of_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let a = std::fs::read_to_string(shipped().join("payment_failed.toml"))
        .unwrap()
        .replace("PAYMENT_STATUS_FAILED", "PAYMENT_STATUS_FAIL");
    std::fs::write(dir.path().join("a.toml"), a).unwrap();
    let b = std::fs::read_to_string(shipped().join("suspension_real_name.toml"))
        .unwrap()
        .replace(
            "view.account.suspended_at | datetime",
            "view.account.suspend_at | datetime",
        );
    std::fs::write(dir.path().join("b.toml"), b).unwrap();
    let out = cli(&["scenarios", "check", dir.path().to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("a.toml:") && stderr.contains("step `failed`") && stderr.contains("\"PAYMENT_STATUS_FAIL\" is not a value of complaint.v1.PaymentStatus (did you mean \"PAYMENT_STATUS_FAILED\"?)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("b.toml:") && stderr.contains("`view.account.suspend_at`: `suspend_at` is not a field of complaint.v1.Account (did you mean `suspended_at`?)"),
        "{stderr}"
    );
}
