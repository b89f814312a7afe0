//! `complaint-gateway scenarios …`: tools for scenario authors.
use crate::assets::Folder;
use crate::diagnosis::load::{self, LoadErrors, LoadOptions};
use crate::diagnosis::model::ScenarioSet;
use crate::tools::scenario_cases;
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
    /// Load and check every scenario file of DIR: CEL expressions compiled, field paths checked against
    /// the view's schema, templates compiled and rendered against a sample view. Without DIR: ./scenarios
    /// if there is one, else the scenarios embedded in the binary. Says which it checked.
    Check {
        /// A scenario folder or one scenario file.
        dir: Option<PathBuf>,
        /// The folder in force before (e.g. the shipped set): its test cases and DIR's own are replayed
        /// against DIR's scenarios, and any case whose outcome DIR changes is reported (a regression).
        #[arg(long, value_name = "OLD_DIR")]
        against: Option<PathBuf>,
    },
    /// Run the test cases beside the scenarios (`*.cases.toml`) of DIR (default as for `check`): each
    /// case's demo number or written view, text and answers, against its expected category, scenario,
    /// cause or question and reply figures. Nothing is recorded or audited. Prints each failing case with
    /// the differences, then which causes, questions and step branches the cases exercise.
    Test {
        /// A scenario folder.
        dir: Option<PathBuf>,
    },
}

/// Runs a `scenarios` subcommand: prints a summary, or every problem (one a line) and fails.
pub async fn run(args: ScenariosArgs) -> anyhow::Result<()> {
    match args.command {
        ScenariosCommand::Check { dir, against } => {
            let folder = pick(dir);
            match check_folder(&folder) {
                Ok(summary) => println!("{summary}"),
                Err(problems) => {
                    eprintln!("{problems}");
                    anyhow::bail!("{}: {} problem(s)", folder.describe(), problems.0.len())
                }
            }
            if let Some(old) = against {
                let old = Folder::Disk(old);
                let regressions = scenario_cases::regressions(&old, &folder).await?;
                if !regressions.is_empty() {
                    eprintln!("{}", regressions.join("\n"));
                    anyhow::bail!(
                        "{}: {} test case(s) of {} or {} change outcome",
                        folder.describe(),
                        regressions.len(),
                        old.describe(),
                        folder.describe()
                    );
                }
                println!(
                    "no regression: every test case of {} and {} passes",
                    old.describe(),
                    folder.describe()
                );
            }
            Ok(())
        }
        ScenariosCommand::Test { dir } => {
            let folder = pick(dir);
            let report = scenario_cases::test_folder(&folder).await?;
            print!("{}", report.render());
            let failed = report.failed().len();
            if failed > 0 {
                anyhow::bail!("{}: {failed} test case(s) failed", folder.describe());
            }
            Ok(())
        }
    }
}

/// The folder `scenarios check` reads: DIR if named, else `./scenarios` if it is a folder, else the
/// embedded set.
pub fn pick(dir: Option<PathBuf>) -> Folder {
    match dir {
        Some(d) => Folder::Disk(d),
        None if Path::new("scenarios").is_dir() => Folder::Disk(PathBuf::from("scenarios")),
        None => crate::diagnosis::default_dir(),
    }
}

/// Loads `folder` and summarises it: the counts, then which folder (or embedded set) it was and its
/// files.
pub fn check_folder(folder: &Folder) -> Result<String, LoadErrors> {
    let set = load::load_folder(folder, &LoadOptions::default())?;
    let mut files: Vec<&str> = set.scenarios.iter().map(|s| s.file.as_str()).collect();
    files.sort();
    files.dedup();
    Ok(format!(
        "{}\nchecked {}: {} file(s): {}",
        summary(&set, &LoadOptions::default().categories),
        folder.describe(),
        files.len(),
        files.join(", ")
    ))
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
