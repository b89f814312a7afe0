//! `complaint-gateway scenarios …`: tools for scenario authors.
use crate::diagnosis::scenario::{self, LoadOptions, ScenarioSet};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// `scenarios` subcommands.
#[derive(clap::Args, Debug)]
pub struct ScenariosArgs {
    #[command(subcommand)]
    pub command: ScenariosCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum ScenariosCommand {
    /// Load and check every scenario file of DIR (default: ./scenarios): CEL expressions compiled, field
    /// paths checked against the view's schema, templates compiled and rendered against a sample view.
    Check {
        /// A scenario folder or one scenario file.
        dir: Option<PathBuf>,
    },
}

/// Runs a `scenarios` subcommand: prints a summary, or every problem (one a line) and fails.
pub fn run(args: ScenariosArgs) -> anyhow::Result<()> {
    match args.command {
        ScenariosCommand::Check { dir } => {
            let dir = dir.unwrap_or_else(crate::diagnosis::default_dir);
            match check(&dir) {
                Ok(summary) => {
                    println!("{summary}");
                    Ok(())
                }
                Err(problems) => {
                    eprintln!("{problems}");
                    anyhow::bail!("{}: {} problem(s)", dir.display(), problems.0.len())
                }
            }
        }
    }
}

/// Loads `dir` and summarises it.
pub fn check(dir: &Path) -> Result<String, scenario::LoadErrors> {
    let set = scenario::load_dir(dir, &LoadOptions::default())?;
    Ok(summary(&set, &LoadOptions::default().categories))
}

/// `ok: 26 scenarios, 40 causes, 8 questions; categories 12/12`, with the categories no scenario covers.
pub fn summary(set: &ScenarioSet, categories: &[String]) -> String {
    let covered: BTreeSet<&str> = set
        .scenarios
        .iter()
        .flat_map(|s| s.categories.iter().map(|c| c.as_str()))
        .collect();
    let causes: usize = set.scenarios.iter().map(|s| s.causes.len()).sum();
    let missing: Vec<&str> = categories
        .iter()
        .map(|c| c.as_str())
        .filter(|c| !covered.contains(c))
        .collect();
    let mut out = format!(
        "ok: {} scenarios, {causes} causes, {} questions; categories {}/{}",
        set.scenarios.len(),
        set.questions.len(),
        categories.len() - missing.len(),
        categories.len()
    );
    if !missing.is_empty() {
        out.push_str(&format!(" (none for: {})", missing.join(", ")));
    }
    out
}
