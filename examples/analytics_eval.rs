//! Labelled evaluation of the hotspot detector (`src/analytics/detect.rs`): 30 daily series with weekly
//! seasonality (Monday 1.15 … Sunday 0.7) and Poisson noise at levels from 5 to 80 complaints a day,
//! 4 weeks of history then an 8-week replay into which 24 incidents are injected: 8 sudden steps (2× for
//! a week), 8 short spikes (3× for one day), 8 slow ramps (1× rising to 3× over a week), each on its own
//! series and week. The detector runs exactly as `ListHotspots` does with daily buckets (defaults of
//! `Params::daily`, Bonferroni over the 30 series). Reported: recall, precision, detection delay in
//! buckets (first alarm − incident start), whether every 3× spike is flagged within 2 buckets, and false
//! hotspots per series-week over the quiet series-weeks. Then the warm-up (`Params::min_history`): 10 new
//! series with ordinary counts and no history before the replay (a new deployment, cell or category),
//! scanned from their first day with and without it. Deterministic (ChaCha seed 14).
//!
//!     cargo run --example analytics_eval            # prints the table
//!     cargo run --example analytics_eval -- --write # and writes it into BENCHMARKS.analytics.md
use complaint_gateway::analytics::detect::{self, Params};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const WEEKDAY: [f64; 7] = [1.15, 1.1, 1.05, 1.0, 1.0, 0.8, 0.7];
const WARMUP: usize = 28;
const DAYS: usize = WARMUP + 56;

fn poisson(rng: &mut ChaCha8Rng, lambda: f64) -> i64 {
    // Arrivals of a unit-rate process within λ: exact for any λ.
    let mut t = 0.0;
    let mut n = -1;
    while t <= lambda {
        t -= (1.0 - rng.random::<f64>()).ln();
        n += 1;
    }
    n
}

#[derive(Clone, Copy, PartialEq)]
enum Shape {
    Step,
    Spike,
    Ramp,
}

struct Incident {
    series: usize,
    shape: Shape,
    start: usize,
    len: usize,
}

fn main() {
    let write = std::env::args().any(|a| a == "--write");
    let mut rng = ChaCha8Rng::seed_from_u64(14);
    let levels = [5.0, 10.0, 20.0, 40.0, 80.0];
    let n_series = 30;
    let mut incidents = Vec::new();
    for k in 0..24 {
        let shape = [Shape::Step, Shape::Spike, Shape::Ramp][k % 3];
        // Week 1..8 of the replay, a weekday chosen at random.
        let week = k % 8;
        let start = WARMUP + week * 7 + rng.random_range(0..4);
        let len = if shape == Shape::Spike { 1 } else { 7 };
        incidents.push(Incident {
            series: k,
            shape,
            start,
            len,
        });
    }
    let mut series: Vec<Vec<i64>> = Vec::new();
    let mut total = vec![0f64; DAYS];
    for s in 0..n_series {
        let level = levels[s % levels.len()];
        let mut y = Vec::with_capacity(DAYS);
        for d in 0..DAYS {
            let mut lambda = level * WEEKDAY[d % 7];
            for i in incidents
                .iter()
                .filter(|i| i.series == s && d >= i.start && d < i.start + i.len)
            {
                lambda *= match i.shape {
                    Shape::Step => 2.0,
                    Shape::Spike => 3.0,
                    Shape::Ramp => 1.0 + 2.0 * (d - i.start + 1) as f64 / i.len as f64,
                };
            }
            let v = poisson(&mut rng, lambda);
            total[d] += v as f64;
            y.push(v);
        }
        series.push(y);
    }
    let profile = detect::seasonal_profile(&total, 7, 0..WARMUP);
    let mut p = Params::daily();
    p.alpha *= 20.0 / n_series.max(20) as f64;
    let mut found = vec![None::<usize>; incidents.len()];
    let (mut true_runs, mut false_runs) = (0, 0);
    for (s, y) in series.iter().enumerate() {
        let (runs, _) = detect::detect(y, &profile, WARMUP, &p);
        for r in runs {
            let hit = incidents
                .iter()
                .position(|i| i.series == s && r.start < i.start + i.len + 1 && i.start <= r.end);
            match hit {
                Some(k) => {
                    true_runs += 1;
                    let delay = r.alarm.saturating_sub(incidents[k].start);
                    found[k] = Some(found[k].map_or(delay, |d: usize| d.min(delay)));
                }
                None => false_runs += 1,
            }
        }
    }
    // Quiet series-weeks: the replay's weeks of every series without an incident in them.
    let quiet_weeks: usize = (0..n_series)
        .map(|s| {
            (0..8)
                .filter(|w| {
                    let (a, b) = (WARMUP + w * 7, WARMUP + w * 7 + 7);
                    !incidents
                        .iter()
                        .any(|i| i.series == s && i.start < b + 7 && a < i.start + i.len + 7)
                })
                .count()
        })
        .sum();
    let mut rows = String::new();
    for shape in [Shape::Step, Shape::Spike, Shape::Ramp] {
        let of: Vec<usize> = (0..incidents.len()).filter(|k| incidents[*k].shape == shape).collect();
        let hit: Vec<usize> = of.iter().filter_map(|k| found[*k]).collect();
        let mean = if hit.is_empty() {
            f64::NAN
        } else {
            hit.iter().sum::<usize>() as f64 / hit.len() as f64
        };
        let name = match shape {
            Shape::Step => "step 2× for 7 days",
            Shape::Spike => "spike 3× for 1 day",
            Shape::Ramp => "ramp 1×→3× over 7 days",
        };
        rows.push_str(&format!(
            "| {name} | {} | {}/{} | {:.2} | {} |\n",
            of.len(),
            hit.len(),
            of.len(),
            mean,
            hit.iter().max().map(|m| m.to_string()).unwrap_or("-".into())
        ));
    }
    let mut missed = String::new();
    for (i, _) in incidents.iter().zip(&found).filter(|(_, f)| f.is_none()) {
        let level = levels[i.series % levels.len()] * WEEKDAY[i.start % 7];
        missed.push_str(&format!(
            "- missed: a {} on a series expecting {level:.1} that day, which drew {} (a 3× rate would be {:.1})\n",
            match i.shape {
                Shape::Step => "step",
                Shape::Spike => "spike",
                Shape::Ramp => "ramp",
            },
            series[i.series][i.start],
            3.0 * level
        ));
    }
    // New series: nothing before the replay, then ordinary counts (no incident). Drawn after the labelled
    // series, so their figures do not move.
    let new_series: Vec<Vec<i64>> = (0..10)
        .map(|s| {
            let level = levels[s % levels.len()];
            (0..DAYS)
                .map(|d| {
                    if d < WARMUP {
                        0
                    } else {
                        poisson(&mut rng, level * WEEKDAY[d % 7])
                    }
                })
                .collect()
        })
        .collect();
    let new_hotspots = |p: &Params| -> (usize, usize) {
        let runs: Vec<detect::Run> = new_series
            .iter()
            .flat_map(|y| detect::detect(y, &profile, WARMUP, p).0)
            .collect();
        let first_week = runs.iter().filter(|r| r.start < WARMUP + 7).count();
        (runs.len(), first_week)
    };
    let (warm_all, warm_first) = new_hotspots(&p);
    let (cold_all, cold_first) = new_hotspots(&Params { min_history: 0, ..p });
    let detected = found.iter().filter(|f| f.is_some()).count();
    let spikes_in_2 = incidents
        .iter()
        .zip(&found)
        .filter(|(i, _)| i.shape == Shape::Spike)
        .all(|(_, f)| f.is_some_and(|d| d <= 2));
    let precision = true_runs as f64 / (true_runs + false_runs).max(1) as f64;
    let per_week = false_runs as f64 / quiet_weeks.max(1) as f64;
    let table = format!(
        "| shape | injected | detected | mean delay (buckets) | max delay |\n| --- | --- | --- | --- | --- |\n{rows}\n{missed}\
         - recall: **{detected}/{} = {:.2}**\n- precision (hotspots overlapping an incident / all hotspots): **{true_runs}/{} = {precision:.2}**\n\
         - every 3× spike flagged within 2 buckets of its start: **{}**\n\
         - false hotspots: **{false_runs} over {quiet_weeks} quiet series-weeks = {per_week:.3} per series-week** (limit 1)\n\
         - warm-up ({} days): 10 new series with ordinary counts and no history, scanned from their first day over 8 weeks \
         (80 series-weeks, no incident): **{warm_all} false hotspots = {:.3} per series-week, {warm_first} in their first week**; \
         without the warm-up {cold_all}, {cold_first} of them in the first week\n",
        incidents.len(),
        detected as f64 / incidents.len() as f64,
        true_runs + false_runs,
        if spikes_in_2 { "yes" } else { "no" },
        p.min_history,
        warm_all as f64 / 80.0,
    );
    println!("{table}");
    if write {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/BENCHMARKS.analytics.md");
        let old = std::fs::read_to_string(path).unwrap_or_default();
        let begin = "<!-- eval:begin -->";
        let end = "<!-- eval:end -->";
        let block = format!(
            "{begin}\nCommand: `cargo run --example analytics_eval -- --write` ({}; deterministic, machine-independent).\n\n{table}{end}",
            chrono::Utc::now().format("%Y-%m-%d")
        );
        let new = match (old.find(begin), old.find(end)) {
            (Some(a), Some(b)) => format!("{}{block}{}", &old[..a], &old[b + end.len()..]),
            _ => format!("{old}\n{block}\n"),
        };
        std::fs::write(path, new).expect("write BENCHMARKS.analytics.md");
    }
}
