//! Outside check of the complaint classifier on `../shared/data/complaints-dev.jsonl`, a set the
//! project never trains or tunes on. Skips (with a message) where that file is absent: the project stands
//! alone, and its own held-out check is `tests/classify_hard.rs`.
//!
//! Run with `cargo test --release --test classify_dev -- --nocapture`.

use std::path::PathBuf;

use complaint_gateway::classify::{category_codes, Classifier, Corpus, DEFAULT_THRESHOLD};

/// Measured 95–96% top-1 accuracy; the floor leaves a few points of slack.
const ACCURACY_FLOOR: f64 = 0.91;
/// Measured ≥ 97.7% precision at ≥ 95% coverage at the default threshold.
const PRECISION_FLOOR: f64 = 0.95;
const COVERAGE_FLOOR: f64 = 0.85;

fn dev_set() -> Option<Vec<(String, String)>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/complaints-dev.jsonl");
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!("skipping: {} is absent", path.display());
        return None;
    };
    let rows = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("dev line is JSON");
            (
                v["text"].as_str().unwrap_or_default().to_string(),
                v["category"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    Some(rows)
}

#[test]
fn dev_accuracy_and_precision_at_threshold() {
    let Some(rows) = dev_set() else { return };
    let clf = Classifier::shared();
    let mut correct = 0usize;
    let (mut answered, mut answered_correct) = (0usize, 0usize);
    for (text, want) in &rows {
        assert!(category_codes().contains(&want.as_str()), "unknown dev category {want}");
        let c = clf.classify(text).expect("dev texts are not empty");
        let ok = c.category() == want;
        correct += usize::from(ok);
        if !c.abstained {
            answered += 1;
            answered_correct += usize::from(ok);
        }
    }
    let n = rows.len() as f64;
    let accuracy = correct as f64 / n;
    let precision = answered_correct as f64 / answered.max(1) as f64;
    let coverage = answered as f64 / n;
    eprintln!(
        "dev: accuracy {accuracy:.4}, at threshold {DEFAULT_THRESHOLD}: precision {precision:.4}, coverage {coverage:.4}"
    );
    assert!(accuracy >= ACCURACY_FLOOR, "accuracy {accuracy}");
    assert!(precision >= PRECISION_FLOOR, "precision at threshold {precision}");
    assert!(coverage >= COVERAGE_FLOOR, "coverage at threshold {coverage}");
}

#[test]
fn corpus_does_not_copy_the_dev_set() {
    let Some(rows) = dev_set() else { return };
    let corpus = Corpus::embedded().expect("corpus parses");
    for e in corpus.examples() {
        let t = e.text.trim();
        for (d, _) in &rows {
            let d = d.trim();
            assert_ne!(t, d, "corpus text appears verbatim in the dev set");
            if t.chars().count() >= 12 {
                assert!(!d.contains(t), "corpus text {t:?} appears inside a dev text");
            }
            if d.chars().count() >= 12 {
                assert!(!t.contains(d), "a dev text appears inside corpus text {t:?}");
            }
        }
    }
}
