//! Training: TF-IDF vocabulary, softmax regression, stratified cross-validation and temperature scaling.

use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::features::HashIndex;
use super::logreg::{self, Csr, TrainOptions, Weights};
use super::{CV_FOLDS, L2_PENALTY, MIN_DF};

const FOLD_SEED: u64 = 20_240_606;

/// A document as the trainer sees it: its feature occurrences (hash, clause weight).
pub(crate) type Doc = Vec<(u64, f32)>;

/// TF-IDF vocabulary: feature hash → column, and the idf per column.
pub(crate) struct Vectorizer {
    pub index: HashIndex<u32>,
    pub idf: Vec<f64>,
}

impl Vectorizer {
    fn fit(docs: &[Doc], rows: &[usize], min_df: usize) -> Vectorizer {
        let mut df: HashIndex<u32> = HashIndex::default();
        let mut seen: Vec<u64> = Vec::new();
        for &r in rows {
            seen.clear();
            seen.extend(docs[r].iter().map(|f| f.0));
            seen.sort_unstable();
            seen.dedup();
            for &h in &seen {
                *df.entry(h).or_insert(0) += 1;
            }
        }
        let mut keys: Vec<(u64, u32)> = df.into_iter().filter(|&(_, c)| c as usize >= min_df).collect();
        keys.sort_unstable();
        let n = rows.len() as f64;
        let mut index = HashIndex::default();
        let mut idf = Vec::with_capacity(keys.len());
        for (j, (h, c)) in keys.into_iter().enumerate() {
            index.insert(h, j as u32);
            idf.push(((1.0 + n) / (1.0 + f64::from(c))).ln() + 1.0);
        }
        Vectorizer { index, idf }
    }

    /// Sparse TF-IDF row (sorted columns, L2-normalised) of a document's weighted feature occurrences.
    ///
    /// The term frequency of a feature is the sum of its occurrences' weights (each 1 unless its clause
    /// was weighted, see `discourse`), made sublinear: `1 + ln(tf)` from 1 up, `tf` itself below 1.
    pub(crate) fn transform(&self, feats: impl Iterator<Item = (u64, f32)>, idx: &mut Vec<u32>, val: &mut Vec<f64>) {
        idx.clear();
        val.clear();
        let mut cols: Vec<(u32, f32)> = feats.filter_map(|(h, w)| self.index.get(&h).map(|&j| (j, w))).collect();
        cols.sort_unstable_by_key(|c| c.0);
        let mut i = 0;
        while i < cols.len() {
            let j = cols[i].0;
            let mut tf = 0.0f64;
            while i < cols.len() && cols[i].0 == j {
                tf += f64::from(cols[i].1);
                i += 1;
            }
            let tf = if tf >= 1.0 { 1.0 + tf.ln() } else { tf };
            idx.push(j);
            val.push(tf * self.idf[j as usize]);
        }
        let norm = val.iter().map(|v| v * v).sum::<f64>().sqrt();
        if norm > 0.0 {
            val.iter_mut().for_each(|v| *v /= norm);
        }
    }

    fn matrix(&self, docs: &[Doc], rows: &[usize]) -> Csr {
        let mut x = Csr {
            indptr: vec![0],
            n_cols: self.idf.len(),
            ..Default::default()
        };
        let (mut idx, mut val) = (Vec::new(), Vec::new());
        for &r in rows {
            self.transform(docs[r].iter().copied(), &mut idx, &mut val);
            x.indices.extend_from_slice(&idx);
            x.values.extend_from_slice(&val);
            x.indptr.push(x.indices.len());
        }
        x
    }
}

/// Stratified fold assignment: within each class, a seeded shuffle dealt round-robin.
fn stratified_folds(labels: &[usize], k: usize, folds: usize, seed: u64) -> Vec<usize> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut fold_of = vec![0; labels.len()];
    let mut offset = 0;
    for c in 0..k {
        let mut members: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == c).collect();
        members.shuffle(&mut rng);
        for (r, &i) in members.iter().enumerate() {
            fold_of[i] = (r + offset) % folds;
        }
        offset += members.len();
    }
    fold_of
}

/// Mean negative log-likelihood of labels under softmax(logits / t).
fn nll_at(logits: &[Vec<f64>], labels: &[usize], t: f64) -> f64 {
    let mut z = Vec::new();
    let mut total = 0.0;
    for (l, &y) in logits.iter().zip(labels) {
        z.clear();
        z.extend(l.iter().map(|v| v / t));
        let zy = z[y];
        total += logreg::softmax(&mut z) - zy;
    }
    total / logits.len().max(1) as f64
}

/// Temperature minimising the NLL: golden-section search on the inverse temperature,
/// in which the NLL is convex.
fn fit_temperature(logits: &[Vec<f64>], labels: &[usize]) -> f64 {
    let (mut a, mut b) = (0.05f64, 20.0f64);
    let phi = (5f64.sqrt() - 1.0) / 2.0;
    let f = |beta: f64| nll_at(logits, labels, 1.0 / beta);
    let mut c = b - phi * (b - a);
    let mut d = a + phi * (b - a);
    let (mut fc, mut fd) = (f(c), f(d));
    for _ in 0..80 {
        if fc < fd {
            b = d;
            d = c;
            fd = fc;
            c = b - phi * (b - a);
            fc = f(c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + phi * (b - a);
            fd = f(d);
        }
    }
    1.0 / ((a + b) / 2.0)
}

/// Trains vocabulary + weights on `rows`.
fn fit_model(docs: &[Doc], labels: &[usize], k: usize, rows: &[usize]) -> (Vectorizer, Weights) {
    let vec = Vectorizer::fit(docs, rows, MIN_DF);
    let x = vec.matrix(docs, rows);
    let y: Vec<usize> = rows.iter().map(|&r| labels[r]).collect();
    let opts = TrainOptions {
        lambda: L2_PENALTY,
        ..TrainOptions::default()
    };
    let w = logreg::train(&x, &y, k, opts);
    (vec, w)
}

/// Out-of-fold logits of one fold's model.
fn fold_logits(docs: &[Doc], labels: &[usize], k: usize, fold_of: &[usize], f: usize) -> Vec<(usize, Vec<f64>)> {
    let train: Vec<usize> = (0..docs.len()).filter(|&i| fold_of[i] != f).collect();
    let test: Vec<usize> = (0..docs.len()).filter(|&i| fold_of[i] == f).collect();
    let (vec, w) = fit_model(docs, labels, k, &train);
    let (mut idx, mut val) = (Vec::new(), Vec::new());
    test.into_iter()
        .map(|i| {
            vec.transform(docs[i].iter().copied(), &mut idx, &mut val);
            let mut z = vec![0.0; k];
            w.logits(&idx, &val, &mut z);
            (i, z)
        })
        .collect()
}

/// What [`fit`] returns: the final model, its temperature and the out-of-fold predictions.
pub(crate) struct Fitted {
    pub vec: Vectorizer,
    pub weights: Weights,
    pub temperature: f64,
    /// (example, label, predicted class, calibrated confidence) for every example.
    pub oof: Vec<(usize, usize, usize, f64)>,
}

/// Trains the final model on all documents and, for the temperature and the held-out figures, a
/// stratified cross-validation; the jobs run on up to two threads and are deterministic.
pub(crate) fn fit(docs: &[Doc], labels: &[usize], k: usize) -> Option<Fitted> {
    let folds = CV_FOLDS.min(docs.len()).max(2);
    let fold_of = stratified_folds(labels, k, folds, FOLD_SEED);
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 2);
    // Jobs: 0 = the final model on all examples, 1..=folds = one CV fold each; dealt
    // round-robin to the threads. Every job is deterministic, so the result is too.
    let mut oof: Vec<Vec<f64>> = vec![Vec::new(); docs.len()];
    let mut final_model: Option<(Vectorizer, Weights)> = None;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let fold_of = &fold_of;
                s.spawn(move || {
                    let mut model = None;
                    let mut logits = Vec::new();
                    for job in (t..=folds).step_by(threads) {
                        if job == 0 {
                            let all: Vec<usize> = (0..docs.len()).collect();
                            model = Some(fit_model(docs, labels, k, &all));
                        } else {
                            logits.extend(fold_logits(docs, labels, k, fold_of, job - 1));
                        }
                    }
                    (model, logits)
                })
            })
            .collect();
        for h in handles {
            if let Ok((model, logits)) = h.join() {
                if model.is_some() {
                    final_model = model;
                }
                for (i, z) in logits {
                    oof[i] = z;
                }
            }
        }
    });
    let (vec, weights) = final_model?;
    let have: Vec<usize> = (0..docs.len()).filter(|&i| !oof[i].is_empty()).collect();
    let oof_logits: Vec<Vec<f64>> = have.iter().map(|&i| oof[i].clone()).collect();
    let oof_labels: Vec<usize> = have.iter().map(|&i| labels[i]).collect();
    let temperature = fit_temperature(&oof_logits, &oof_labels);
    let oof = have
        .iter()
        .zip(&oof_logits)
        .map(|(&i, l)| {
            let mut z: Vec<f64> = l.iter().map(|v| v / temperature).collect();
            logreg::softmax(&mut z);
            let (predicted, confidence) = argmax(&z);
            (i, labels[i], predicted, confidence)
        })
        .collect();
    Some(Fitted {
        vec,
        weights,
        temperature,
        oof,
    })
}

/// Index and value of the largest element.
pub(crate) fn argmax(z: &[f64]) -> (usize, f64) {
    let mut best = (0, f64::NEG_INFINITY);
    for (i, &v) in z.iter().enumerate() {
        if v > best.1 {
            best = (i, v);
        }
    }
    best
}
