//! Evaluates the complaint classifier on labelled JSON-lines files.
//!
//! `cargo run --release --example classify_eval [-- PATH ...] [--corpus DIR] [--cv-errors]`
//!
//! PATHs default to the held-out hard split `corpus/eval/hard.jsonl`, the fresh post-tuning set
//! `corpus/eval/fresh.jsonl` and the outside dev set `../shared/data/complaints-dev.jsonl` (skipped when
//! absent). `--corpus DIR` trains on the embedded
//! corpus extended with a folder (`categories.toml` + `*.jsonl`). Prints the training report (held-out
//! cross-validation figures and the threshold sweep behind `DEFAULT_THRESHOLD`), then per file: accuracy,
//! macro F1, per-category recall and precision, top confusions, precision and coverage at the threshold,
//! and accuracy per `kinds` tag when the file has them; then single-thread throughput against jieba
//! segmentation alone. Only aggregate figures are printed, never evaluation texts (`--cv-errors` lists the
//! training corpus's own out-of-fold mistakes, to see where the corpus needs more examples).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use complaint_gateway::classify::{Classifier, Corpus, CV_FOLDS, DEFAULT_THRESHOLD};

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

struct Row {
    text: String,
    label: usize,
    kinds: Vec<String>,
}

fn read_rows(path: &Path, codes: &[&str]) -> anyhow::Result<Vec<Row>> {
    let text = std::fs::read_to_string(path)?;
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line)?;
        let c = v["category"].as_str().unwrap_or_default();
        let Some(label) = codes.iter().position(|k| *k == c) else {
            anyhow::bail!("{}:{}: unknown category {c:?}", path.display(), n + 1);
        };
        let kinds = v["kinds"]
            .as_array()
            .map(|a| a.iter().filter_map(|k| k.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        rows.push(Row {
            text: v["text"].as_str().unwrap_or_default().to_string(),
            label,
            kinds,
        });
    }
    Ok(rows)
}

fn evaluate(clf: &Classifier, path: &Path, rows: &[Row], codes: &[&str]) -> anyhow::Result<()> {
    let k = codes.len();
    let mut confusion = vec![vec![0usize; k]; k];
    let mut preds: Vec<(f64, bool)> = Vec::new();
    let mut by_kind: BTreeMap<&str, Vec<(f64, bool)>> = BTreeMap::new();
    for r in rows {
        let c = clf.classify(&r.text)?;
        let p = codes.iter().position(|k| *k == c.category()).unwrap_or(0);
        confusion[r.label][p] += 1;
        let pred = (c.confidence(), p == r.label);
        preds.push(pred);
        for kind in &r.kinds {
            by_kind.entry(kind.as_str()).or_default().push(pred);
        }
    }
    let n = rows.len();
    let acc = preds.iter().filter(|p| p.1).count() as f64 / n.max(1) as f64;
    println!("\n## evaluation: {} ({n} complaints)", path.display());
    println!(
        "top-1 accuracy {:.2}% ({}/{n})",
        acc * 100.0,
        preds.iter().filter(|p| p.1).count()
    );
    let (p, c) = at_threshold(&preds, DEFAULT_THRESHOLD);
    println!(
        "at default threshold {DEFAULT_THRESHOLD}: precision {:.2}%  coverage {:.2}%",
        p * 100.0,
        c * 100.0
    );
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
            codes[c],
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
        println!("  {m} x {} -> {}", codes[*a], codes[*b]);
    }
    println!("threshold sweep:");
    for t in [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9] {
        let (p, c) = at_threshold(&preds, t);
        println!("  t={t:.2}  precision {:.2}%  coverage {:.2}%", p * 100.0, c * 100.0);
    }
    if !by_kind.is_empty() {
        println!("| kind | texts | accuracy | precision at threshold | coverage at threshold |");
        println!("| --- | --- | --- | --- | --- |");
        for (kind, v) in &by_kind {
            let a = v.iter().filter(|p| p.1).count() as f64 / v.len() as f64;
            let (p, c) = at_threshold(v, DEFAULT_THRESHOLD);
            println!(
                "| {kind} | {} | {:.1}% | {:.1}% | {:.1}% |",
                v.len(),
                a * 100.0,
                p * 100.0,
                c * 100.0
            );
        }
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let show_cv_errors = args.iter().any(|a| a == "--cv-errors");
    let mut corpus_dir = None;
    let mut paths = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--cv-errors" => {}
            "--corpus" => corpus_dir = it.next().map(PathBuf::from),
            other => paths.push(PathBuf::from(other)),
        }
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if paths.is_empty() {
        paths.push(root.join("corpus/eval/hard.jsonl"));
        paths.push(root.join("corpus/eval/fresh.jsonl"));
        paths.push(root.join("../shared/data/complaints-dev.jsonl"));
    }

    let mut corpus = Corpus::embedded()?;
    if let Some(dir) = &corpus_dir {
        corpus.extend_from_dir(dir)?;
    }
    let t0 = Instant::now();
    let clf = Classifier::train(&corpus)?;
    let train_s = t0.elapsed().as_secs_f64();
    let r = clf.report();
    println!("## training");
    println!("{}", r.summary());
    println!(
        "features {}  temperature {:.3}  train time {:.0} ms (incl. {CV_FOLDS}-fold CV and jieba load)",
        r.features,
        r.temperature,
        train_s * 1e3,
    );
    let cv: Vec<(f64, bool)> = r.cv_predictions.iter().map(|p| (p.confidence, p.correct())).collect();
    println!("CV threshold sweep (out-of-fold, calibrated):");
    for t in [0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9] {
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
    let codes: Vec<&str> = clf.categories().iter().map(|c| c.code.as_str()).collect();
    if show_cv_errors {
        // Our own corpus only (never the evaluation texts): where the corpus is weak.
        for p in r.cv_predictions.iter().filter(|p| !p.correct()) {
            println!(
                "CV-ERR\t{}\t{}\t{:.2}\t{}",
                codes[p.label],
                codes[p.predicted],
                p.confidence,
                corpus.examples()[p.example].text
            );
        }
    }

    let mut bench_texts: Vec<String> = Vec::new();
    for path in &paths {
        let Ok(rows) = read_rows(path, &codes) else {
            println!("\nevaluation file {} is absent or unreadable: skipped", path.display());
            continue;
        };
        evaluate(&clf, path, &rows, &codes)?;
        if bench_texts.is_empty() {
            bench_texts = rows.into_iter().map(|r| r.text).collect();
        }
    }
    if bench_texts.is_empty() {
        bench_texts = corpus.examples().iter().map(|e| e.text.clone()).collect();
    }

    println!(
        "\n## throughput (single thread, {} evaluation texts repeated for >= 2 s)",
        bench_texts.len()
    );
    let budget = Duration::from_secs(2);
    let (mut done, start) = (0usize, Instant::now());
    while start.elapsed() < budget {
        for t in &bench_texts {
            std::hint::black_box(clf.classify(t)?);
        }
        done += bench_texts.len();
    }
    let cls_rate = done as f64 / start.elapsed().as_secs_f64();
    let jieba = jieba_rs::Jieba::new();
    let (mut cut, start) = (0usize, Instant::now());
    while start.elapsed() < budget {
        for t in &bench_texts {
            std::hint::black_box(jieba.cut(t, true));
        }
        cut += bench_texts.len();
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
                        for t in &bench_texts {
                            let _ = std::hint::black_box(clf.classify(t));
                        }
                        d += bench_texts.len();
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
