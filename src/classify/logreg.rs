//! Multinomial logistic regression (softmax, L2) trained by full-batch L-BFGS.
//!
//! Hand-written on purpose: the design matrix is sparse (tens to a few hundred non-zeros per
//! complaint, ~10^4 columns, ~10^3 rows) and small, so one exact full-batch gradient costs a
//! few million multiply-adds and L-BFGS converges in 40–70 of them, deterministic
//! and dependency-free. The Rust crates for logistic regression are dense-only
//! (linfa-logistic on ndarray) or binary-only, and would pull in a linear-algebra stack
//! for what is ~150 lines here.

/// A sparse row-major matrix (compressed sparse rows).
#[derive(Debug, Clone, Default)]
pub(crate) struct Csr {
    pub indptr: Vec<usize>,
    pub indices: Vec<u32>,
    pub values: Vec<f64>,
    pub n_cols: usize,
}

impl Csr {
    pub(crate) fn n_rows(&self) -> usize {
        self.indptr.len().saturating_sub(1)
    }
    pub(crate) fn row(&self, i: usize) -> (&[u32], &[f64]) {
        let (a, b) = (self.indptr[i], self.indptr[i + 1]);
        (&self.indices[a..b], &self.values[a..b])
    }
}

/// Trained weights: `w` is feature-major (`w[j * k + c]`), so a feature's class weights
/// are contiguous; `b` has one bias per class.
#[derive(Debug, Clone)]
pub(crate) struct Weights {
    pub k: usize,
    pub w: Vec<f64>,
    pub b: Vec<f64>,
}

impl Weights {
    /// Class logits for one sparse row.
    pub(crate) fn logits(&self, idx: &[u32], val: &[f64], out: &mut [f64]) {
        out.copy_from_slice(&self.b);
        for (&j, &x) in idx.iter().zip(val) {
            let row = &self.w[j as usize * self.k..(j as usize + 1) * self.k];
            for (o, &wv) in out.iter_mut().zip(row) {
                *o += x * wv;
            }
        }
    }
}

/// Optimiser settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TrainOptions {
    /// L2 penalty on the weights (not the biases), per the mean loss.
    pub lambda: f64,
    pub max_iter: usize,
    /// Stop when the gradient's infinity norm falls below this.
    pub grad_tol: f64,
    /// L-BFGS history length.
    pub memory: usize,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            lambda: 1e-4,
            max_iter: 400,
            grad_tol: 3e-5,
            memory: 4,
        }
    }
}

/// In-place softmax; returns log-sum-exp of the input.
pub(crate) fn softmax(z: &mut [f64]) -> f64 {
    let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut s = 0.0;
    for v in z.iter_mut() {
        *v = (*v - m).exp();
        s += *v;
    }
    for v in z.iter_mut() {
        *v /= s;
    }
    m + s.ln()
}

/// Mean cross-entropy + L2 and its gradient, at `theta` = [w (d*K), b (K)].
///
/// `K` is the lane count (a block width the loops unroll for); only the first `k <= K` classes are real:
/// the padded lanes are masked out of the softmax, so their gradients and weights stay zero.
fn objective<const K: usize>(x: &Csr, y: &[usize], k: usize, lambda: f64, theta: &[f64], grad: &mut [f64]) -> f64 {
    let d = x.n_cols;
    let n = x.n_rows();
    let (w, b) = theta.split_at(d * K);
    grad.iter_mut().for_each(|g| *g = 0.0);
    let (gw, gb) = grad.split_at_mut(d * K);
    // Fixed-size rows: the per-feature class loops unroll and vectorise.
    let (wrows, _) = w.as_chunks::<K>();
    let (grows, _) = gw.as_chunks_mut::<K>();
    let mut z = [0.0; K];
    let mut loss = 0.0;
    let inv_n = 1.0 / n as f64;
    for (i, &yi) in y.iter().enumerate().take(n) {
        let (idx, val) = x.row(i);
        z.copy_from_slice(b);
        for (&j, &v) in idx.iter().zip(val) {
            let row = &wrows[j as usize];
            for c in 0..K {
                z[c] += v * row[c];
            }
        }
        z[k..].fill(f64::NEG_INFINITY);
        let zy = z[yi];
        let lse = softmax(&mut z);
        loss += lse - zy;
        z[yi] -= 1.0;
        for (g, &r) in gb.iter_mut().zip(&z) {
            *g += r * inv_n;
        }
        for (&j, &v) in idx.iter().zip(val) {
            let row = &mut grows[j as usize];
            let s = v * inv_n;
            for c in 0..K {
                row[c] += s * z[c];
            }
        }
    }
    axpy(lambda, w, gw);
    loss * inv_n + 0.5 * lambda * dot(w, w)
}

/// Dot product with eight independent accumulators (vectorises; fixed summation order,
/// so results are reproducible).
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let (ca, ra) = a.as_chunks::<8>();
    let (cb, rb) = b.as_chunks::<8>();
    let mut acc = [0.0; 8];
    for (x, y) in ca.iter().zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut sum: f64 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        sum += x * y;
    }
    sum
}

/// `y += a * x`.
fn axpy(a: f64, x: &[f64], y: &mut [f64]) {
    for (yv, &xv) in y.iter_mut().zip(x) {
        *yv += a * xv;
    }
}

/// Largest absolute value (eight lanes, vectorises).
fn max_abs(v: &[f64]) -> f64 {
    let (c, r) = v.as_chunks::<8>();
    let mut acc = [0.0f64; 8];
    for x in c {
        for l in 0..8 {
            acc[l] = acc[l].max(x[l].abs());
        }
    }
    r.iter().chain(acc.iter()).fold(0.0f64, |m, x| m.max(x.abs()))
}

/// Widest class block the trainer unrolls for; more classes are refused (see `corpus::MAX_CATEGORIES`).
pub(crate) const MAX_CLASSES: usize = 64;

/// Trains softmax regression with `k` classes (`2..=MAX_CLASSES`) on rows `x` with labels `y` in `0..k`.
///
/// The class count picks a fixed lane width (4, 8, 12, 16, 24, 32, 48 or 64) so the inner loops unroll
/// and vectorise as they would for a compile-time class count; padded lanes are masked out.
pub(crate) fn train(x: &Csr, y: &[usize], k: usize, opts: TrainOptions) -> Weights {
    assert!(
        (1..=MAX_CLASSES).contains(&k),
        "class count {k} outside 1..={MAX_CLASSES}"
    );
    match k {
        0..=4 => train_lanes::<4>(x, y, k, opts),
        5..=8 => train_lanes::<8>(x, y, k, opts),
        9..=12 => train_lanes::<12>(x, y, k, opts),
        13..=16 => train_lanes::<16>(x, y, k, opts),
        17..=24 => train_lanes::<24>(x, y, k, opts),
        25..=32 => train_lanes::<32>(x, y, k, opts),
        33..=48 => train_lanes::<48>(x, y, k, opts),
        _ => train_lanes::<64>(x, y, k, opts),
    }
}

/// Full-batch L-BFGS (two-loop recursion) with a backtracking Armijo line search, from
/// zero weights: the objective is strictly convex, so the result does not depend on
/// row order or any seed. Returns weights of the `k` real classes.
fn train_lanes<const K: usize>(x: &Csr, y: &[usize], k: usize, opts: TrainOptions) -> Weights {
    let d = x.n_cols;
    let p = d * K + K;
    let mut theta = vec![0.0; p];
    let mut grad = vec![0.0; p];
    if x.n_rows() == 0 {
        return Weights {
            k,
            w: vec![0.0; d * k],
            b: vec![0.0; k],
        };
    }
    let mut f = objective::<K>(x, y, k, opts.lambda, &theta, &mut grad);
    let m = opts.memory.max(1);
    // History of (s, y) pairs, oldest first; `spare` recycles the evicted buffers.
    let mut s_hist: Vec<Vec<f64>> = Vec::with_capacity(m);
    let mut spare: Option<(Vec<f64>, Vec<f64>)> = None;
    let mut y_hist: Vec<Vec<f64>> = Vec::with_capacity(m);
    let mut rho: Vec<f64> = Vec::with_capacity(m);
    let mut dir = vec![0.0; p];
    let mut alpha = vec![0.0; m];
    let mut new_theta = vec![0.0; p];
    let mut new_grad = vec![0.0; p];
    for iter in 0..opts.max_iter {
        let gmax = max_abs(&grad);
        if gmax < opts.grad_tol {
            break;
        }
        // Two-loop recursion: dir = -H * grad.
        dir.copy_from_slice(&grad);
        let h = s_hist.len();
        for i in (0..h).rev() {
            alpha[i] = rho[i] * dot(&s_hist[i], &dir);
            axpy(-alpha[i], &y_hist[i], &mut dir);
        }
        let gamma = if h > 0 {
            dot(&s_hist[h - 1], &y_hist[h - 1]) / dot(&y_hist[h - 1], &y_hist[h - 1])
        } else {
            1.0 / gmax.max(1e-12)
        };
        dir.iter_mut().for_each(|v| *v *= gamma);
        for i in 0..h {
            let beta = rho[i] * dot(&y_hist[i], &dir);
            axpy(alpha[i] - beta, &s_hist[i], &mut dir);
        }
        dir.iter_mut().for_each(|v| *v = -*v);
        let mut slope = dot(&grad, &dir);
        if slope >= 0.0 {
            // Not a descent direction (numerical trouble): restart from steepest descent.
            s_hist.clear();
            y_hist.clear();
            rho.clear();
            for (dv, &g) in dir.iter_mut().zip(&grad) {
                *dv = -g / gmax.max(1e-12);
            }
            slope = dot(&grad, &dir);
        }
        // Backtracking Armijo line search.
        let mut step = 1.0;
        let mut new_f;
        let mut tries = 0;
        loop {
            for ((nt, &t), &dv) in new_theta.iter_mut().zip(&theta).zip(&dir) {
                *nt = t + step * dv;
            }
            new_f = objective::<K>(x, y, k, opts.lambda, &new_theta, &mut new_grad);
            if new_f <= f + 1e-4 * step * slope || tries >= 30 {
                break;
            }
            step *= 0.5;
            tries += 1;
        }
        let (mut s, mut yv) = spare.take().unwrap_or_else(|| (vec![0.0; p], vec![0.0; p]));
        for ((sv, &a), &b) in s.iter_mut().zip(&new_theta).zip(&theta) {
            *sv = a - b;
        }
        for ((yy, &a), &b) in yv.iter_mut().zip(&new_grad).zip(&grad) {
            *yy = a - b;
        }
        let sy = dot(&s, &yv);
        std::mem::swap(&mut theta, &mut new_theta);
        std::mem::swap(&mut grad, &mut new_grad);
        let df = f - new_f;
        f = new_f;
        if sy > 1e-12 {
            if s_hist.len() == m {
                spare = Some((s_hist.remove(0), y_hist.remove(0)));
                rho.remove(0);
            }
            rho.push(1.0 / sy);
            s_hist.push(s);
            y_hist.push(yv);
        } else {
            spare = Some((s, yv));
        }
        if iter > 5 && df.abs() < 1e-12 * f.abs().max(1.0) {
            break;
        }
    }
    // Keep the k real classes of each feature's block of K lanes.
    let (w, b) = theta.split_at(d * K);
    let mut real = Vec::with_capacity(d * k);
    for row in w.chunks_exact(K) {
        real.extend_from_slice(&row[..k]);
    }
    Weights {
        k,
        w: real,
        b: b[..k].to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separates_a_toy_problem() {
        // Three classes, each marked by its own feature, plus a shared noise feature.
        let mut x = Csr {
            indptr: vec![0],
            n_cols: 4,
            ..Default::default()
        };
        let mut y = Vec::new();
        for i in 0..30 {
            let c = i % 3;
            x.indices.extend([c as u32, 3]);
            x.values.extend([1.0, 0.5]);
            x.indptr.push(x.indices.len());
            y.push(c);
        }
        let w = train(&x, &y, 3, TrainOptions::default());
        let mut z = vec![0.0; 3];
        for c in 0..3 {
            w.logits(&[c as u32], &[1.0], &mut z);
            softmax(&mut z);
            assert!(z[c] > 0.9, "class {c}: {z:?}");
        }
    }
}
