//! `complaint-gateway scenarios …`: tools for scenario authors.
use crate::assets::Folder;
use crate::diagnosis::load::{self, LoadErrors, LoadOptions};
use crate::diagnosis::model::ScenarioSet;
use crate::diagnosis::testcases::{self, Fixture};
use crate::tools::scenario_cases;
use anyhow::Context;
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
        /// Warn where a cause depends on a view field none of this gateway's sources provides (their
        /// adapter definitions); without it (or --adapters), the shipped adapters are assumed.
        #[arg(long, value_name = "FILE", conflicts_with = "adapters")]
        config: Option<PathBuf>,
        /// As --config, for a folder of adapter folders (`billing/`, `crm/`, …) served together.
        #[arg(long, value_name = "DIR")]
        adapters: Option<PathBuf>,
    },
    /// Run the test cases beside the scenarios (`*.cases.toml`) of DIR (default as for `check`): each
    /// case's demo number or written view, text and answers, against its expected category, scenario,
    /// cause or question and reply figures. Nothing is recorded or audited. Prints each failing case with
    /// the differences, then which causes, questions and step branches the cases exercise.
    Test {
        /// A scenario folder.
        dir: Option<PathBuf>,
    },
    /// Run the diagnosis evaluation: unseen complaint texts about demo subscribers, each diagnosed as
    /// `Diagnose` would (classifier, line state, routing, scenarios of DIR, replies), offline; prints the
    /// share with the right outcome and the subscriber's figures, the confident wrong causes, and each
    /// miss. Exit 1 below 95% or with any confident wrong cause.
    Eval {
        /// The evaluation file (JSON lines); default corpus/eval/diagnosis.jsonl.
        #[arg(long, default_value = "corpus/eval/diagnosis.jsonl")]
        file: PathBuf,
        /// A scenario folder (default as for `check`).
        dir: Option<PathBuf>,
    },
    /// Diagnose one complaint with the scenarios of DIR (default as for `check`), offline: a demo number
    /// (its data as of the demo's date) or a view in JSON, the text, the category (none: the classifier
    /// decides) and answers. Prints every scenario's outcome, the chosen one's steps with what they read
    /// and computed, and the cause with its reply and actions, or the question. Nothing is recorded or
    /// audited. (On a live number, `Diagnose` with `dry_run = true` does the same through the gateway.)
    Try {
        /// A scenario folder.
        dir: Option<PathBuf>,
        /// A demo subscriber's number, e.g. 13900000001.
        #[arg(long, conflicts_with = "view")]
        number: Option<String>,
        /// A file holding a (partial) SubscriberView in the proto's JSON form.
        #[arg(long)]
        view: Option<PathBuf>,
        /// The complaint's text.
        #[arg(long)]
        text: String,
        /// The category; without it the classifier decides from the text.
        #[arg(long)]
        category: Option<String>,
        /// An answer, QUESTION=VALUE (repeatable).
        #[arg(long = "answer", value_name = "QUESTION=VALUE")]
        answers: Vec<String>,
    },
}

/// Runs a `scenarios` subcommand: prints a summary, or every problem (one a line) and fails.
pub async fn run(args: ScenariosArgs) -> anyhow::Result<()> {
    match args.command {
        ScenariosCommand::Check {
            dir,
            against,
            config,
            adapters,
        } => {
            let folder = pick(dir);
            match check_folder(&folder) {
                Ok(summary) => println!("{summary}"),
                Err(problems) => {
                    eprintln!("{problems}");
                    anyhow::bail!("{}: {} problem(s)", folder.describe(), problems.0.len())
                }
            }
            let sources = sources_for_check(config.as_deref(), adapters.as_deref())?;
            let warnings = provenance_warnings(&folder, &sources)?;
            for w in &warnings {
                println!("{w}");
            }
            println!(
                "provenance: {} warning(s) over the sources {}",
                warnings.len(),
                sources.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>().join(", ")
            );
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
        ScenariosCommand::Try {
            dir,
            number,
            view,
            text,
            category,
            answers,
        } => {
            let fixture = match (number, view) {
                (Some(n), None) => Fixture::Number(n),
                (None, Some(f)) => {
                    let json = std::fs::read_to_string(&f).with_context(|| format!("reading {}", f.display()))?;
                    let v = testcases::view_from_json(&json)
                        .map_err(|e| anyhow::anyhow!("{}: not a SubscriberView in JSON: {e}", f.display()))?;
                    Fixture::View(Box::new(v))
                }
                _ => anyhow::bail!("give --number (a demo subscriber) or --view (a JSON file)"),
            };
            let answers = answers
                .iter()
                .map(|a| {
                    a.split_once('=')
                        .map(|(q, v)| (q.to_string(), v.to_string()))
                        .ok_or_else(|| anyhow::anyhow!("--answer `{a}`: QUESTION=VALUE"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let trial = scenario_cases::Trial {
                fixture,
                text,
                category,
                answers,
            };
            println!("{}", scenario_cases::try_one(&pick(dir), &trial).await?);
            Ok(())
        }
        ScenariosCommand::Eval { file, dir } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let items = crate::tools::diagnosis_eval::read_items(&text)?;
            // The classifier trains once, before the first text.
            crate::classify::Classifier::shared();
            let report = crate::tools::diagnosis_eval::run(&pick(dir), &items).await?;
            print!("{}", report.render());
            if report.accuracy() < 0.95 || report.wrong_causes() > 0 {
                anyhow::bail!(
                    "{}: {:.1}% right, {} confident wrong cause(s)",
                    file.display(),
                    100.0 * report.accuracy(),
                    report.wrong_causes()
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

/// The sources `scenarios check` weighs causes against, with the view fields each provides: those of a
/// gateway's configuration, of a folder of adapter folders, or the shipped adapters.
pub fn sources_for_check(config: Option<&Path>, adapters: Option<&Path>) -> anyhow::Result<Vec<(String, Vec<String>)>> {
    use crate::adapters::sql::definition::Definition;
    let definitions: Vec<PathBuf> = match (config, adapters) {
        (Some(file), _) => {
            let cfg = crate::config::Config::load(file)?;
            cfg.sources
                .iter()
                .filter(|s| s.enabled)
                .map(|s| s.definition.clone())
                .collect()
        }
        (None, Some(dir)) => {
            let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
                .with_context(|| format!("reading {}", dir.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.join("adapter.toml").is_file())
                .collect();
            dirs.sort();
            anyhow::ensure!(
                !dirs.is_empty(),
                "{}: no adapter folder (with adapter.toml) in it",
                dir.display()
            );
            dirs
        }
        (None, None) => crate::assets::Folder::embedded_adapter_names()
            .iter()
            .map(|n| PathBuf::from(format!("{}{n}", crate::assets::EMBEDDED_PREFIX)))
            .collect(),
    };
    definitions
        .iter()
        .map(|d| {
            let def = Definition::load(d).map_err(|e| anyhow::anyhow!("{e}"))?;
            Ok((def.name.clone(), crate::adapters::sql::provided_fields(&def)))
        })
        .collect()
}

/// One warning per (scenario, cause, view field) where a cause of `folder` depends on a field none of
/// `sources` provides.
pub fn provenance_warnings(folder: &Folder, sources: &[(String, Vec<String>)]) -> anyhow::Result<Vec<String>> {
    let set = load::load_folder(folder, &LoadOptions::default()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let providers = crate::diagnosis::provenance::Providers::new(sources.to_vec());
    Ok(crate::diagnosis::provenance::cause_warnings(
        &set,
        &providers.when_all_answer(),
    ))
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

/// `ok: 30 scenarios, 40 causes, 8 questions; categories 12/12`, with the categories no scenario covers.
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
