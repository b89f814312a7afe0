//! Evaluates the complaint classifier on a labelled JSON-lines file.
//!
//! `cargo run --release --example classify_eval [-- PATH] [--cv-errors]`; PATH defaults to
//! `../shared/data/complaints-dev.jsonl` (relative to the crate). Prints training figures,
//! the cross-validation threshold sweep behind `DEFAULT_THRESHOLD`, accuracy, macro F1,
//! per-category recall, top confusions, precision/coverage at the threshold, and
//! single-thread throughput against jieba segmentation alone. Only aggregate figures are
//! printed, never the evaluation texts (`--cv-errors` lists the training corpus's own
//! out-of-fold mistakes, to see where the corpus needs more examples).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use complaint_gateway::classify::{Classifier, CATEGORIES, DEFAULT_THRESHOLD};

/// Precision and coverage of the answers whose confidence is ≥ `t`.
fn at_threshold(preds: &[(f64, bool)], t: f64) -> (f64, f64) {
    let answered: Vec<&(f64, bool)> = preds.iter().filter(|p| p.0 >= t).collect();
    let correct = answered.iter().filter(|p| p.1).count();
    let precision = if answered.is_empty() {
        1.0
    } else {
        correct as f64 / answered.len() as f64
    };
    (precision, answered.len() as f64 / preds.len().max(1) as f64)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let show_cv_errors = args.iter().any(|a| a == "--cv-errors");
    let path = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/complaints-dev.jsonl"));

    let t0 = Instant::now();
    let clf = Classifier::train_default();
    let train_s = t0.elapsed().as_secs_f64();
    let r = clf.report();
    println!("## training");
    println!(
        "examples {}  features {}  temperature {:.3}  train time {:.0} ms (incl. {}-fold CV and jieba load)",
        r.examples,
        r.features,
        r.temperature,
        train_s * 1e3,
        complaint_gateway::classify::CV_FOLDS
    );
    println!("cross-validation accuracy (out-of-fold) {:.2}%", r.cv_accuracy * 100.0);
    let cv: Vec<(f64, bool)> = r.cv_predictions.iter().map(|p| (p.confidence, p.correct())).collect();
    println!("CV threshold sweep (out-of-fold, calibrated):");
    for t in [0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9] {
        let (p, c) = at_threshold(&cv, t);
        let mark = if (t - DEFAULT_THRESHOLD).abs() < 1e-9 {
            "  <- default"
        } else {
            ""
        };
        println!(
            "  t={t:.2}  precision {:.2}%  coverage {:.2}%{mark}",
            p * 100.0,
            c * 100.0
        );
    }

    if show_cv_errors {
        // Our own corpus only (never the evaluation texts): where the corpus is weak.
        let corpus = complaint_gateway::classify::corpus()?;
        for p in r.cv_predictions.iter().filter(|p| !p.correct()) {
            println!(
                "CV-ERR\t{}\t{}\t{:.2}\t{}",
                CATEGORIES[p.label], CATEGORIES[p.predicted], p.confidence, corpus[p.example].text
            );
        }
    }

    let Ok(text) = std::fs::read_to_string(&path) else {
        println!("evaluation file {} is absent: nothing to evaluate", path.display());
        return Ok(());
    };
    let mut rows: Vec<(String, usize)> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line)?;
        let t = v["text"].as_str().unwrap_or_default().to_string();
        let c = v["category"].as_str().unwrap_or_default();
        let Some(y) = CATEGORIES.iter().position(|k| *k == c) else {
            anyhow::bail!("line {}: unknown category {c:?}", n + 1);
        };
        rows.push((t, y));
    }
    let k = CATEGORIES.len();
    let mut confusion = vec![vec![0usize; k]; k];
    let mut preds: Vec<(f64, bool)> = Vec::new();
    for (t, y) in &rows {
        let c = clf.classify(t)?;
        let p = CATEGORIES.iter().position(|k| *k == c.category()).unwrap_or(0);
        confusion[*y][p] += 1;
        preds.push((c.confidence(), p == *y));
    }
    let n = rows.len();
    let acc = preds.iter().filter(|p| p.1).count() as f64 / n.max(1) as f64;
    println!("\n## evaluation: {} ({n} complaints)", path.display());
    println!("top-1 accuracy {:.2}%", acc * 100.0);
    let mut f1_sum = 0.0;
    println!("| category | recall | precision | F1 |");
    println!("| --- | --- | --- | --- |");
    for c in 0..k {
        let tp = confusion[c][c] as f64;
        let support: usize = confusion[c].iter().sum();
        let predicted: usize = (0..k).map(|r| confusion[r][c]).sum();
        let recall = if support > 0 { tp / support as f64 } else { 0.0 };
        let precision = if predicted > 0 { tp / predicted as f64 } else { 0.0 };
        let f1 = if recall + precision > 0.0 {
            2.0 * recall * precision / (recall + precision)
        } else {
            0.0
        };
        f1_sum += f1;
        println!(
            "| {} | {:.1}% ({}/{}) | {:.1}% | {:.3} |",
            CATEGORIES[c],
            recall * 100.0,
            confusion[c][c],
            support,
            precision * 100.0,
            f1
        );
    }
    println!("macro F1 {:.4}", f1_sum / k as f64);
    let mut pairs: Vec<(usize, usize, usize)> = Vec::new();
    for (a, row) in confusion.iter().enumerate() {
        for (b, &m) in row.iter().enumerate() {
            if a != b && m > 0 {
                pairs.push((m, a, b));
            }
        }
    }
    pairs.sort_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(&y.1)));
    println!("top confusions (true -> predicted):");
    for (m, a, b) in pairs.iter().take(8) {
        println!("  {m} x {} -> {}", CATEGORIES[*a], CATEGORIES[*b]);
    }
    let (p, c) = at_threshold(&preds, DEFAULT_THRESHOLD);
    println!(
        "at default threshold {DEFAULT_THRESHOLD}: precision {:.2}%  coverage {:.2}%",
        p * 100.0,
        c * 100.0
    );
    for t in [0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9] {
        let (p, c) = at_threshold(&preds, t);
        println!("  t={t:.2}  precision {:.2}%  coverage {:.2}%", p * 100.0, c * 100.0);
    }

    println!("\n## throughput (single thread, dev texts repeated for >= 2 s)");
    let texts: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    let budget = Duration::from_secs(2);
    let (mut done, start) = (0usize, Instant::now());
    while start.elapsed() < budget {
        for t in &texts {
            std::hint::black_box(clf.classify(t)?);
        }
        done += texts.len();
    }
    let cls_rate = done as f64 / start.elapsed().as_secs_f64();
    let jieba = jieba_rs::Jieba::new();
    let (mut cut, start) = (0usize, Instant::now());
    while start.elapsed() < budget {
        for t in &texts {
            std::hint::black_box(jieba.cut(t, true));
        }
        cut += texts.len();
    }
    let cut_rate = cut as f64 / start.elapsed().as_secs_f64();
    println!("classifications/s {cls_rate:.0}");
    println!(
        "jieba cut (HMM) alone/s {cut_rate:.0}  (classify costs {:.2}x a bare segmentation)",
        cut_rate / cls_rate
    );
    let threads = 2;
    let (mut total, start) = (0usize, Instant::now());
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut d = 0usize;
                    while start.elapsed() < budget {
                        for t in &texts {
                            let _ = std::hint::black_box(clf.classify(t));
                        }
                        d += texts.len();
                    }
                    d
                })
            })
            .collect();
        total = hs.into_iter().map(|h| h.join().unwrap_or(0)).sum();
    });
    println!(
        "classifications/s on {threads} threads {:.0}",
        total as f64 / start.elapsed().as_secs_f64()
    );
    Ok(())
}
