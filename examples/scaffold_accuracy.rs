//! Scaffold accuracy: the share of unified fields `adapters scaffold` maps to the right column, on the
//! three demo schemas (truth: the reviewed `adapters/*/adapter.toml`) and the fixture schemas named
//! differently again (truth: `tests/fixtures/scaffold_*/truth.toml`).
//!
//! `cargo run --example scaffold_accuracy -- [--verbose] [--write DIR] [--subscribers N]` (N demo
//! subscribers seeded per system, default 300: the scaffold samples at most 200 rows per table and scans
//! at most 5,000 for code sets, so a larger N changes its run time little and its result not at all).
use complaint_gateway::tools::scaffold::accuracy;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let verbose = args.iter().any(|a| a == "--verbose");
    let write = args
        .iter()
        .position(|a| a == "--write")
        .and_then(|i| args.get(i + 1))
        .cloned();
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
