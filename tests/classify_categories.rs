//! Categories as data (issue 19): a category and its labelled examples added by configuration — a folder
//! with `categories.toml` and `*.jsonl` — are learnt at load, unseen texts of it are routed to it, and the
//! shipped categories keep their accuracy.
//!
//! Run with `cargo test --release --test classify_categories -- --nocapture` (debug works, slower).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use complaint_gateway::classify::{category_codes, Classifier, Corpus, DEFAULT_THRESHOLD};

const NEW: &str = "terminal.sim_card";

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/classify/sim_card")
}

/// Texts of the new category that are not among its 30 labelled examples.
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

fn hard_split() -> Vec<(String, String)> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus/eval/hard.jsonl");
    std::fs::read_to_string(path)
        .expect("hard split ships with the repository")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("JSON");
            (
                v["text"].as_str().unwrap_or_default().to_string(),
                v["category"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_category_added_by_configuration_routes_unseen_texts_and_keeps_the_others_accurate() {
    let mut corpus = Corpus::embedded().expect("embedded corpus");
    corpus.extend_from_dir(&fixture()).expect("fixture folder is valid");
    assert_eq!(corpus.categories().len(), category_codes().len() + 1);
    let clf = Classifier::train(&corpus).expect("trains");
    let report = clf.report();
    eprintln!("{}", report.summary());

    // The new category is learnt: held-out recall in the cross-validation, then unseen texts.
    let new = report
        .per_category
        .iter()
        .find(|c| c.code == NEW)
        .expect("listed in the report");
    assert_eq!(new.examples, 30);
    assert!(new.recall >= 0.8, "held-out recall of {NEW}: {}", new.recall);
    let mut routed = 0;
    for t in UNSEEN {
        let c = clf.classify(t).expect("classifies");
        eprintln!("{:.3} {} {t}", c.confidence(), c.category());
        if c.category() == NEW && !c.abstained {
            routed += 1;
        }
    }
    assert!(
        routed >= 8,
        "{routed} of 10 unseen texts routed to {NEW} at threshold {DEFAULT_THRESHOLD}"
    );

    // The shipped categories keep their accuracy on the hard split, and the new one takes none of them.
    let rows = hard_split();
    let (mut correct, mut answered, mut answered_correct, mut taken) = (0usize, 0usize, 0usize, 0usize);
    for (text, want) in &rows {
        let c = clf.classify(text).expect("classifies");
        let ok = c.category() == want;
        correct += usize::from(ok);
        taken += usize::from(c.category() == NEW);
        if !c.abstained {
            answered += 1;
            answered_correct += usize::from(ok);
        }
    }
    let accuracy = correct as f64 / rows.len() as f64;
    let precision = answered_correct as f64 / answered.max(1) as f64;
    eprintln!("hard split with {NEW} added: accuracy {accuracy:.4}, precision {precision:.4}, {taken} taken by {NEW}");
    assert!(accuracy >= 0.95, "accuracy {accuracy}");
    assert!(precision >= 0.97, "precision {precision}");
    assert!(taken <= 2, "{taken} hard-split texts routed to {NEW}");
    for c in report.per_category.iter().filter(|c| c.code != NEW) {
        assert!(c.recall >= 0.85, "{}: held-out recall {}", c.code, c.recall);
    }

    // Installed at load, it is the classifier every caller of `Classifier::shared` gets; once only.
    let shared = Classifier::install_shared(clf).expect("nothing used the shared classifier yet");
    assert!(shared.categories().iter().any(|c| c.code == NEW));
    assert_eq!(Classifier::shared().categories().len(), category_codes().len() + 1);
    let shipped = Corpus::embedded().expect("embedded corpus");
    let subset = Corpus::new(
        shipped.categories().to_vec(),
        shipped.examples().iter().step_by(8).cloned().collect(),
    )
    .expect("a valid subset");
    let again = Classifier::train(&subset).expect("trains");
    assert!(
        Classifier::install_shared(again).is_err(),
        "a second install is refused"
    );
}

#[test]
fn the_classify_command_trains_on_a_configured_folder() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_complaint-gateway"))
        .args(["classify", "--corpus"])
        .arg(fixture())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all("{\"id\":\"a\",\"text\":\"手机一直提示无SIM卡，换了卡槽也不行\"}\n{\"id\":\"b\",\"text\":\"宽带断网三天了\"}\n".as_bytes())
        .expect("writes");
    let out = child.wait_with_output().expect("finishes");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("held-out accuracy") && stderr.contains(NEW), "{stderr}");
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines[0]["category"], NEW);
    assert_eq!(lines[1]["category"], "network.broadband_fault");
}

#[test]
fn the_classify_command_names_the_problem_in_a_bad_folder() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("x.jsonl"),
        "{\"text\": \"手机卡坏了\", \"category\": \"terminal.simcard\"}\n",
    )
    .expect("writes");
    let out = Command::new(env!("CARGO_BIN_EXE_complaint-gateway"))
        .args(["classify", "--corpus"])
        .arg(dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("x.jsonl:1") && stderr.contains("unknown category \"terminal.simcard\""),
        "{stderr}"
    );
}
