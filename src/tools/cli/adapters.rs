//! `complaint-gateway adapters …`: the tools a platform team uses to add a backend.
use crate::config::Config;
use crate::tools::{check, scaffold};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};

/// `adapters` and its subcommands.
#[derive(Debug, Args)]
pub struct AdaptersArgs {
    #[command(subcommand)]
    pub command: AdaptersCommand,
}

#[derive(Debug, Subcommand)]
pub enum AdaptersCommand {
    /// Prepare every entity's and stream's query against its live database and check that each mapped
    /// column exists with a compatible type. Prints one line per problem (file, entity, column) and exits
    /// 1 if there is any: for CI.
    Check {
        /// One adapter folder, or a folder of them. Default: the config's sources with --config, else
        /// `./adapters` if there is one, else the adapters embedded in the binary. With --config: only the
        /// config's sources under this folder.
        dir: Option<PathBuf>,
        /// Take the sources and URLs from a gateway config (as `serve` would). Without it, URLs come
        /// from CGW_SOURCE_<NAME>_URL or the definition's `url_env`.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Read a database's schema and sample rows, and propose an adapter folder by similar-field
    /// matching: each mapping's score and runners-up in a comment, low-confidence ones commented out.
    Scaffold {
        /// The database: postgres://, mysql:// (MariaDB too) or sqlite:// (the env var keeps a password
        /// out of the shell history).
        #[arg(long, env = "CGW_SCAFFOLD_URL")]
        url: String,
        /// The new source's name, `[a-z0-9_]+`.
        #[arg(long)]
        system: String,
        /// Where to write the folder (default `adapters/<system>`).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Overwrite an existing `adapter.toml` there.
        #[arg(long)]
        force: bool,
        /// Proposals scoring below this (0..1) are written commented out.
        #[arg(long, default_value_t = 0.5)]
        min_score: f32,
    },
}

/// The folder `adapters check` reads, said on stderr: DIR if named (it must hold adapter folders), else
/// with a config its sources, else `./adapters` if there is one, else the embedded adapters (`None`).
fn pick_folder(dir: Option<PathBuf>, config: Option<&Path>) -> anyhow::Result<Option<PathBuf>> {
    use crate::adapters::sql::definition::DEFINITION_FILE;
    let holds = |d: &Path| {
        d.join(DEFINITION_FILE).is_file()
            || std::fs::read_dir(d).is_ok_and(|rd| rd.flatten().any(|e| e.path().join(DEFINITION_FILE).is_file()))
    };
    match (dir, config) {
        (Some(d), _) => {
            if !d.exists() {
                anyhow::bail!(
                    "{}: no such folder; name an adapter folder (holding {DEFINITION_FILE}) or a folder of them",
                    d.display()
                );
            }
            if config.is_none() && !holds(&d) {
                anyhow::bail!(
                    "{}: holds no {DEFINITION_FILE}, nor do its sub-folders; name an adapter folder or a folder of them",
                    d.display()
                );
            }
            eprintln!("checking the adapters in {}", d.display());
            Ok(Some(d))
        }
        (None, Some(c)) => {
            eprintln!("checking the sources of {}", c.display());
            Ok(None)
        }
        (None, None) if holds(Path::new("adapters")) => {
            eprintln!("checking the adapters in ./adapters");
            Ok(Some(PathBuf::from("adapters")))
        }
        (None, None) => {
            let names = crate::assets::Folder::embedded_adapter_names();
            eprintln!(
                "no ./adapters here: checking the adapters embedded in the binary ({}); their URLs come from CGW_SOURCE_<NAME>_URL or each definition's url_env, or pass --config",
                names.join(", ")
            );
            Ok(None)
        }
    }
}

/// Runs an `adapters` subcommand. `check` exits the process with status 1 when it finds a problem.
pub async fn run(args: AdaptersArgs) -> anyhow::Result<()> {
    match args.command {
        AdaptersCommand::Check { dir, config } => {
            let cfg = match &config {
                Some(c) => Some(Config::load(c)?),
                None => None,
            };
            let env = |k: &str| std::env::var(k).ok();
            let dir = pick_folder(dir, config.as_deref())?;
            let targets = check::targets(dir.as_deref(), cfg.as_ref(), &env);
            let report = check::run(&targets).await;
            print!("{}", report.render());
            if !report.ok() {
                std::process::exit(1);
            }
            Ok(())
        }
        AdaptersCommand::Scaffold {
            url,
            system,
            out,
            force,
            min_score,
        } => {
            let out = out.unwrap_or_else(|| PathBuf::from("adapters").join(&system));
            let file = out.join(crate::adapters::sql::definition::DEFINITION_FILE);
            if file.exists() && !force {
                anyhow::bail!(
                    "{} exists: choose another --out, or pass --force to overwrite it",
                    file.display()
                );
            }
            let mut opts = scaffold::Options::new(&system);
            opts.min_score = min_score;
            let proposal = scaffold::scaffold(&url, &opts).await.map_err(anyhow::Error::msg)?;
            let written = proposal.write(&out)?;
            eprintln!(
                "read {} tables; subscriber-number columns: {}",
                proposal.tables,
                proposal
                    .numbers
                    .iter()
                    .map(|(t, c)| format!("{t}.{c}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            eprint!("{}", proposal.summary());
            for w in &written {
                println!("wrote {}", w.display());
            }
            eprintln!(
                "next: review {} (scores and runners-up are in its comments), then run\n  CGW_SOURCE_{}_URL=… complaint-gateway adapters check {}",
                file.display(),
                system.to_ascii_uppercase(),
                out.display()
            );
            Ok(())
        }
    }
}
