//! The diagnosis evaluation (`corpus/eval/diagnosis.jsonl`: unseen, hard complaint texts about every demo
//! situation and about subscribers with no anomaly) run as `Diagnose` takes them: at least 95% get the
//! right cause or outcome with a reply carrying the subscriber's own figures, and no confident wrong
//! cause. `complaint-gateway scenarios eval` prints the same figures.
use complaint_gateway::assets::Folder;
use complaint_gateway::tools::diagnosis_eval::{read_items, run};
use complaint_gateway::tools::seed::SITUATIONS;
use std::collections::BTreeSet;
use std::path::Path;

#[tokio::test]
async fn the_evaluation_set_gets_the_right_cause_with_the_subscribers_figures() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let items = read_items(&std::fs::read_to_string(root.join("corpus/eval/diagnosis.jsonl")).unwrap()).unwrap();
    assert!(items.len() >= 150, "{} texts", items.len());
    // Every demo situation (two subscribers of most) and subscribers with no anomaly.
    let numbers: BTreeSet<u64> = items
        .iter()
        .map(|i| complaint_gateway::tools::scenario_cases::demo_index(&i.number).unwrap())
        .collect();
    for s in SITUATIONS {
        assert!(
            numbers
                .iter()
                .any(|i| complaint_gateway::tools::seed::Situation::of(*i) == s),
            "no text about {}",
            s.name()
        );
    }
    assert!(items.iter().filter(|i| i.kinds.iter().any(|k| k == "normal")).count() >= 10);
    tokio::task::spawn_blocking(|| {
        complaint_gateway::classify::Classifier::shared();
    })
    .await
    .unwrap();
    let report = run(&Folder::Disk(root.join("scenarios")), &items).await.unwrap();
    let text = report.render();
    println!("{text}");
    assert!(report.accuracy() >= 0.95, "{text}");
    assert_eq!(report.wrong_causes(), 0, "{text}");
    // Every cause's reply carries figures the text expects.
    assert!(report
        .runs
        .iter()
        .filter(|r| r.got.starts_with("cause:"))
        .all(|r| !r.reply.is_empty()));
}
