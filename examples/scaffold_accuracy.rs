//! Scaffold accuracy: the share of unified fields `adapters scaffold` maps to the right column.
//!
//! `cargo run --example scaffold_accuracy -- [--verbose] [--write DIR] [--subscribers N]` measures the
//! three demo schemas (truth: the reviewed `adapters/*/adapter.toml`) and the fixture schemas named
//! differently again (truth: `tests/fixtures/scaffold_*/truth.toml`); N demo subscribers are seeded per
//! system (default 300: the scaffold samples at most 200 rows per table and scans at most 5,000 for code
//! sets, so a larger N changes its run time little and its result not at all).
//!
//! `cargo run --example scaffold_accuracy -- --real [--measured] [--verbose] [--write DIR] [--only NAME]` measures the
//! real open-source schemas (`tests/fixtures/scaffold_real_*`) against a person's mapping
//! (`expected.toml`), each on its own: fields right / wrong / missed, joins, enabled queries that return
//! rows. It needs `CGW_TEST_MYSQL_URL` and `CGW_TEST_PG_URL`. Without `--measured` only the two tuning
//! schemas (ASTPP, X2CRM) are run, so that tuning never looks at the measured ones.
use complaint_gateway::tools::scaffold::accuracy;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let flag = |f: &str| args.iter().any(|a| a == f);
    let verbose = flag("--verbose");
    let write = args
        .iter()
        .position(|a| a == "--write")
        .and_then(|i| args.get(i + 1))
        .cloned();
    if flag("--real") {
        let only = args
            .iter()
            .position(|a| a == "--only")
            .and_then(|i| args.get(i + 1))
            .cloned();
        return real(verbose, flag("--measured"), write.as_deref(), only.as_deref()).await;
    }
    let subscribers: u64 = match args
        .iter()
        .position(|a| a == "--subscribers")
        .and_then(|i| args.get(i + 1))
    {
        Some(n) => n.parse()?,
        None => 300,
    };
    let dir = tempfile::tempdir()?;
    let started = std::time::Instant::now();
    let runs = accuracy::measure_all(dir.path(), subscribers).await?;
    let (mut right, mut total) = (0, 0);
    for (acc, proposal) in &runs {
        right += acc.right;
        total += acc.fields;
        if verbose {
            print!("{}", acc.render());
        } else {
            print!("{}", acc.render().lines().next().unwrap_or_default().to_string() + "\n");
        }
        if let Some(w) = &write {
            proposal.write(&std::path::Path::new(w).join(&acc.system))?;
        }
    }
    println!(
        "overall          {right:>3}/{total:<3} right ({:.1}%) in {:.1}s",
        100.0 * right as f64 / total.max(1) as f64,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn real(verbose: bool, measured: bool, write: Option<&str>, only: Option<&str>) -> anyhow::Result<()> {
    let url = |v: &str| std::env::var(v).map_err(|_| anyhow::anyhow!("set {v}"));
    // Live mappings' scores and whether they were right, tuning schemas apart from measured ones.
    let mut tuned: Vec<(f32, bool)> = vec![];
    let mut measured_scores: Vec<(f32, bool)> = vec![];
    for (name, driver, tuning) in accuracy::REAL {
        if (!tuning && !measured) || only.is_some_and(|o| o != *name) {
            continue;
        }
        let admin = match driver {
            complaint_gateway::adapters::sql::text::Driver::Postgres => url("CGW_TEST_PG_URL")?,
            _ => url("CGW_TEST_MYSQL_URL")?,
        };
        let db = complaint_gateway::testkit::TestDatabase::create(&admin, &format!("real_{name}")).await?;
        let run = accuracy::measure_real(name, &db.url, *tuning).await;
        db.drop_db().await;
        let run = run?;
        println!("== {name} ({})", if *tuning { "tuning" } else { "measured" });
        if verbose {
            print!("{}", run.render());
            print!("{}", run.proposal.summary());
        } else {
            let r = run.render();
            let mut lines = r.lines();
            println!("{}", lines.next().unwrap_or_default());
            if let Some(j) = r.lines().find(|l| l.trim_start().starts_with("joins:")) {
                println!("{j}");
            }
        }
        if let Some(w) = write {
            run.proposal.write(&std::path::Path::new(w).join(name))?;
        }
        if *tuning {
            tuned.extend(run.accuracy.scored.iter().copied());
        } else {
            measured_scores.extend(run.accuracy.scored.iter().copied());
        }
    }
    // Calibration: the share of live mappings right at or above each score.
    println!("calibration (live mappings of a person's fields at or above the score: right / live)");
    let share = |v: &[(f32, bool)], t: f32| {
        let above: Vec<bool> = v.iter().filter(|(s, _)| *s >= t).map(|(_, r)| *r).collect();
        let right = above.iter().filter(|r| **r).count();
        format!(
            "{right:>3}/{:<3} ({:>5.1}%)",
            above.len(),
            100.0 * right as f64 / above.len().max(1) as f64
        )
    };
    for step in 0..9 {
        let t = 0.5 + 0.05 * step as f32;
        println!(
            "  >= {t:.2}  tuning {}  measured {}",
            share(&tuned, t),
            if measured {
                share(&measured_scores, t)
            } else {
                "-".into()
            }
        );
    }
    Ok(())
}
