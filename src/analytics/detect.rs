//! Hotspot detection on count series: a seasonal baseline, a Poisson tail test per bucket and a Poisson
//! CUSUM for slow departures. Pure functions over counts; `docs/analytics.md` explains the method and
//! `examples/analytics_eval.rs` measures it on labelled incidents.
//!
//! For bucket `t` of a series `y`:
//! 1. **Baseline.** `λ_t = L_t · s_t`: `s_t` is the seasonal index of `t`'s phase (hour of week, day of
//!    week) from the profile the caller passes (the scope's total series, which is dense even when one
//!    series is sparse); `L_t` is the robust level of the series' de-seasonalised counts over the
//!    `baseline` buckets before `t`, winsorised at median + 3·max(1.4826·MAD, √median, 1) so that earlier
//!    incidents do not raise it, and skipping buckets already flagged. `λ_t ≥ floor`.
//! 2. **Poisson tail.** `p_t = P(Y ≥ y_t | λ_t)`; flagged when `p_t < alpha`, `y_t ≥ min_count` and
//!    `y_t ≥ min_ratio · λ_t`.
//! 3. **CUSUM.** `S_t = max(0, S_{t-1} + y_t·ln k − λ_t·(k − 1))` (the log-likelihood ratio of rate
//!    `k·λ` against `λ`); flagged while `S_t ≥ h` and `y_t > λ_t`: catches ramps whose single buckets are
//!    not extreme. Its start is the bucket after `S` was last 0. `S` restarts from 0 after a signal.
//!
//! Flagged buckets closer than `merge_gap` form one hotspot.
//!
//! **Warm-up.** A series has history only from its first complaint on (a new deployment, a new cell or
//! category): before that its zeros say nothing. A bucket is tested (tail test and CUSUM) only once the
//! series has at least `min_history` buckets since its first non-zero one; earlier buckets are never
//! flagged and do not feed the CUSUM, but they do form the baseline of the buckets after them. The
//! baseline window never reaches back before the first non-zero bucket.

/// Detector parameters (see the module docs; defaults in [`Params::daily`] and [`Params::hourly`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    /// Buckets the baseline level is estimated from.
    pub baseline: usize,
    /// Buckets in one season (7 for days, 168 for hours, 1 for none).
    pub season: usize,
    pub alpha: f64,
    pub min_count: i64,
    pub min_ratio: f64,
    /// CUSUM: the rate ratio it is tuned to detect, and its threshold.
    pub cusum_k: f64,
    pub cusum_h: f64,
    /// Smallest expected count per bucket.
    pub floor: f64,
    /// Unflagged buckets allowed inside one hotspot.
    pub merge_gap: usize,
    /// Warm-up: buckets of history (counted from the series' first non-zero bucket) a bucket's baseline
    /// window must hold before the bucket is tested. 7 days for days, 72 hours for hours.
    pub min_history: usize,
}

impl Params {
    /// Daily buckets: 28 days of baseline, weekly season.
    pub fn daily() -> Params {
        Params {
            baseline: 28,
            season: 7,
            alpha: 5e-3,
            min_count: 5,
            min_ratio: 1.8,
            cusum_k: 1.5,
            cusum_h: 6.0,
            floor: 0.2,
            merge_gap: 1,
            min_history: 7,
        }
    }

    /// Hourly buckets: 28 days of baseline, hour-of-week season.
    pub fn hourly() -> Params {
        Params {
            baseline: 28 * 24,
            season: 168,
            alpha: 1e-5,
            min_count: 5,
            min_ratio: 2.0,
            cusum_k: 2.0,
            cusum_h: 10.0,
            floor: 0.05,
            merge_gap: 2,
            min_history: 3 * 24,
        }
    }
}

/// A run of flagged buckets of one series.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// Index of its first and last bucket (inclusive).
    pub start: usize,
    pub end: usize,
    /// The first bucket flagged (when it would have been reported, bucket by bucket).
    pub alarm: usize,
    pub observed: i64,
    pub expected: f64,
    /// The smallest tail probability among its buckets.
    pub p_value: f64,
    /// `poisson` when a bucket passed the tail test, else `cusum`.
    pub method: &'static str,
}

impl Run {
    pub fn excess(&self) -> f64 {
        self.observed as f64 - self.expected
    }
}

/// ln(n!) (exact sums below 256, Stirling's series above).
fn ln_factorial(n: i64) -> f64 {
    if n < 256 {
        (2..=n).map(|k| (k as f64).ln()).sum()
    } else {
        let x = n as f64 + 1.0;
        (x - 0.5) * x.ln() - x + 0.5 * (2.0 * std::f64::consts::PI).ln() + 1.0 / (12.0 * x) - 1.0 / (360.0 * x.powi(3))
    }
}

/// P(Y ≥ y) for Y ~ Poisson(λ).
pub fn poisson_sf(y: i64, lambda: f64) -> f64 {
    if y <= 0 {
        return 1.0;
    }
    if lambda <= 0.0 {
        return 0.0;
    }
    let ln_l = lambda.ln();
    let term = |k: i64| (-lambda + k as f64 * ln_l - ln_factorial(k)).exp();
    if (y as f64) < lambda {
        // Upper tail is large: 1 − P(Y < y).
        let below: f64 = (0..y).map(term).sum();
        return (1.0 - below).clamp(0.0, 1.0);
    }
    let mut sum = 0.0;
    let mut k = y;
    loop {
        let t = term(k);
        sum += t;
        if t < sum * 1e-15 || k > y + 10_000 {
            break;
        }
        k += 1;
    }
    sum.min(1.0)
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// The robust level of `xs`: the mean after winsorising at median + 3·max(1.4826·MAD, √median, 1).
pub fn robust_level(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    let mut v = xs.to_vec();
    let med = median(&mut v);
    let mut dev: Vec<f64> = xs.iter().map(|x| (x - med).abs()).collect();
    let mad = median(&mut dev);
    let cap = med + 3.0 * (1.4826 * mad).max(med.sqrt()).max(1.0);
    xs.iter().map(|x| x.min(cap)).sum::<f64>() / xs.len() as f64
}

/// Seasonal indices (mean 1) of `total` by phase `i % season`, from the buckets in `range`.
pub fn seasonal_profile(total: &[f64], season: usize, range: std::ops::Range<usize>) -> Vec<f64> {
    if season <= 1 {
        return vec![1.0; total.len()];
    }
    let mut sum = vec![0.0; season];
    let mut n = vec![0usize; season];
    for i in range.clone().filter(|i| *i < total.len()) {
        sum[i % season] += total[i];
        n[i % season] += 1;
    }
    let means: Vec<f64> = (0..season)
        .map(|p| if n[p] > 0 { sum[p] / n[p] as f64 } else { 0.0 })
        .collect();
    let overall = means.iter().sum::<f64>() / season as f64;
    let idx: Vec<f64> = means
        .iter()
        .map(|m| if overall > 0.0 { (m / overall).max(0.05) } else { 1.0 })
        .collect();
    (0..total.len()).map(|i| idx[i % season]).collect()
}

/// The expected count of bucket `t` from the baseline window before it, given the buckets flagged so far.
/// The window starts no earlier than `first`, the series' first non-zero bucket: zeros before a series
/// existed are not observations.
fn expected_at(y: &[i64], s: &[f64], t: usize, first: usize, flagged: &[bool], p: &Params) -> f64 {
    let lo = t.saturating_sub(p.baseline).max(first.min(t));
    let xs: Vec<f64> = (lo..t).filter(|&i| !flagged[i]).map(|i| y[i] as f64 / s[i]).collect();
    (robust_level(&xs) * s[t]).max(p.floor)
}

/// The first bucket of `y` that may be tested: `min_history` buckets after its first non-zero one
/// (`y.len()` when the series is all zeros).
pub fn warm_from(y: &[i64], p: &Params) -> usize {
    y.iter()
        .position(|v| *v > 0)
        .map_or(y.len(), |first| (first + p.min_history).min(y.len()))
}

/// The hotspots of series `y` among buckets `from..y.len()` (buckets before `from` are baseline only),
/// with seasonal indices `s` (same length as `y`), and each bucket's expected count. Buckets before
/// [`warm_from`] are not tested (warm-up).
pub fn detect(y: &[i64], s: &[f64], from: usize, p: &Params) -> (Vec<Run>, Vec<f64>) {
    let n = y.len();
    let warm = warm_from(y, p);
    let first = y.iter().position(|v| *v > 0).unwrap_or(n);
    let mut flagged = vec![false; n];
    let mut expected = vec![0.0; n];
    let mut pvals = vec![1.0; n];
    let mut by_tail = vec![false; n];
    let mut cusum = 0.0;
    let mut cusum_start = from;
    let mut cusum_runs: Vec<(usize, usize)> = Vec::new();
    let ln_k = p.cusum_k.ln();
    for t in from.min(n)..n {
        let lambda = expected_at(y, s, t, first, &flagged, p);
        expected[t] = lambda;
        let obs = y[t];
        if t < warm {
            // Warm-up: too little history to judge this bucket; the CUSUM starts after it.
            continue;
        }
        let pv = poisson_sf(obs, lambda);
        pvals[t] = pv;
        let tail = pv < p.alpha && obs >= p.min_count && obs as f64 >= p.min_ratio * lambda;
        if cusum == 0.0 {
            cusum_start = t;
        }
        cusum = (cusum + obs as f64 * ln_k - lambda * (p.cusum_k - 1.0)).max(0.0);
        let by_cusum = cusum >= p.cusum_h && obs as f64 > lambda;
        if by_cusum {
            cusum_runs.push((cusum_start, t));
        }
        // Signalled (or explained by the tail test): start accumulating afresh, so one spike does not keep
        // the sum above h for weeks.
        if by_cusum || tail {
            cusum = 0.0;
        }
        if tail || by_cusum {
            flagged[t] = true;
            by_tail[t] = tail;
        }
    }
    // Flagged buckets, merged across short gaps; a CUSUM run starts where its sum left 0.
    let mut runs: Vec<Run> = Vec::new();
    let mut t = from.min(n);
    while t < n {
        if !flagged[t] {
            t += 1;
            continue;
        }
        let mut end = t;
        let mut k = t + 1;
        while k < n && k <= end + p.merge_gap + 1 {
            if flagged[k] {
                end = k;
            }
            k += 1;
        }
        let mut start = t;
        let any_tail = by_tail[t..=end].iter().any(|b| *b);
        for &(cs, ce) in cusum_runs.iter().filter(|_| !any_tail) {
            if ce >= t && ce <= end && cs < start {
                // Only back to buckets above their expectation.
                let mut s0 = cs;
                while s0 < start && (y[s0] as f64) <= expected[s0] {
                    s0 += 1;
                }
                start = s0.max(from);
            }
        }
        let observed: i64 = y[start..=end].iter().sum();
        let exp: f64 = expected[start..=end].iter().sum();
        let p_value = pvals[start..=end].iter().cloned().fold(1.0, f64::min);
        let method = if by_tail[start..=end].iter().any(|b| *b) {
            "poisson"
        } else {
            "cusum"
        };
        // A run reaching back into the previous one (a CUSUM start) continues it.
        if let Some(prev) = runs.last_mut().filter(|r| start <= r.end + p.merge_gap + 1) {
            let from = prev.start;
            prev.end = end;
            prev.observed = y[from..=end].iter().sum();
            prev.expected = expected[from..=end].iter().sum();
            prev.p_value = prev.p_value.min(p_value);
            if method == "poisson" {
                prev.method = method;
            }
            t = end + 1;
            continue;
        }
        if observed >= p.min_count && observed as f64 - exp > 0.0 {
            runs.push(Run {
                start,
                end,
                alarm: t,
                observed,
                expected: exp,
                p_value,
                method,
            });
        }
        t = end + 1;
    }
    (runs, expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisson_tail_matches_known_values() {
        // P(Y >= 1 | 1) = 1 - e^-1; P(Y >= 10 | 2) ≈ 4.65e-5.
        assert!((poisson_sf(1, 1.0) - (1.0 - (-1.0f64).exp())).abs() < 1e-12);
        assert!(
            (poisson_sf(10, 2.0) - 4.6498e-5).abs() < 1e-8,
            "{}",
            poisson_sf(10, 2.0)
        );
        assert!((poisson_sf(0, 3.0) - 1.0).abs() < 1e-12);
        assert!(poisson_sf(400, 300.0) < 1e-7 && poisson_sf(400, 300.0) > 1e-10);
    }

    #[test]
    fn robust_level_ignores_a_past_spike() {
        let mut xs = vec![10.0; 27];
        xs.push(200.0);
        assert!(robust_level(&xs) < 11.0, "{}", robust_level(&xs));
    }

    #[test]
    fn a_step_is_found_where_it_starts_and_a_flat_series_is_quiet() {
        let mut y: Vec<i64> = (0..60).map(|i| 20 + (i % 3) as i64).collect();
        let s = vec![1.0; 60];
        let (runs, _) = detect(&y, &s, 28, &Params::daily());
        assert!(runs.is_empty(), "{runs:?}");
        for v in y.iter_mut().skip(45) {
            *v = 60;
        }
        let (runs, _) = detect(&y, &s, 28, &Params::daily());
        assert_eq!(runs.len(), 1, "{runs:?}");
        assert_eq!(runs[0].start, 45);
        assert!(runs[0].excess() > 500.0);
    }

    /// Ordinary counts with weekday noise (15..27 a day), starting at bucket `first` (zeros before).
    fn new_series(n: usize, first: usize) -> Vec<i64> {
        (0..n)
            .map(|i| if i < first { 0 } else { 15 + ((i * 7) % 13) as i64 })
            .collect()
    }

    #[test]
    fn a_series_without_history_is_not_flagged_during_its_warm_up() {
        let p = Params::daily();
        let s = vec![1.0; 40];
        // A new deployment: the range starts with the series' first complaints, no baseline before it.
        let y = new_series(40, 0);
        let (runs, _) = detect(&y, &s, 0, &p);
        assert!(runs.is_empty(), "{runs:?}");
        // Without the warm-up its first days, judged against the floor, are a hotspot.
        let cold = Params { min_history: 0, ..p };
        let (runs, _) = detect(&y, &s, 0, &cold);
        assert_eq!(runs.first().map(|r| r.start), Some(0), "{runs:?}");
        // A new cell or category: 28 days of baseline buckets hold nothing, then ordinary counts.
        let y = new_series(60, 28);
        let s = vec![1.0; 60];
        assert_eq!(warm_from(&y, &p), 35);
        let (runs, _) = detect(&y, &s, 28, &p);
        assert!(runs.is_empty(), "{runs:?}");
        let (runs, _) = detect(&y, &s, 28, &cold);
        assert_eq!(runs.first().map(|r| r.start), Some(28), "{runs:?}");
        // An all-zero series is never tested.
        assert_eq!(warm_from(&[0, 0, 0], &p), 3);
    }

    #[test]
    fn a_spike_after_the_warm_up_is_still_found_and_one_inside_it_is_not() {
        let p = Params::daily();
        let s = vec![1.0; 40];
        let mut y = new_series(40, 0);
        y[20] = 90;
        let (runs, _) = detect(&y, &s, 0, &p);
        assert_eq!(runs.len(), 1, "{runs:?}");
        assert_eq!((runs[0].start, runs[0].end, runs[0].method), (20, 20, "poisson"));
        // Day 8 (index 7) is the first one tested: a spike there is found, one on day 7 is not.
        let mut y = new_series(40, 0);
        y[7] = 90;
        let (runs, _) = detect(&y, &s, 0, &p);
        assert_eq!(runs.iter().map(|r| r.start).collect::<Vec<_>>(), vec![7]);
        let mut y = new_series(40, 0);
        y[6] = 90;
        let (runs, _) = detect(&y, &s, 0, &p);
        assert!(runs.is_empty(), "{runs:?}");
    }
}
