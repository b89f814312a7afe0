//! The shipped defaults, embedded in the binary so that a copied or installed binary needs no checkout:
//! the demo's adapter folders (`adapters/`), the diagnosis scenarios (`scenarios/`) and the example
//! configuration. A folder named in the configuration or on the command line always wins; whatever uses a
//! [`Folder`] says which one it used ([`Folder::describe`]).
use include_dir::{include_dir, Dir};
use std::path::{Path, PathBuf};

static ADAPTERS: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/adapters");
static SCENARIOS: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/scenarios");

/// The example configuration (`config/gateway.example.toml`), every key documented.
pub const EXAMPLE_CONFIG: &str = include_str!("../config/gateway.example.toml");

/// The prefix that names an embedded adapter folder in a configuration: `definition = "embedded:billing"`.
pub const EMBEDDED_PREFIX: &str = "embedded:";

/// A folder of definition files: on disk, or embedded in the binary.
#[derive(Debug, Clone)]
pub enum Folder {
    Disk(PathBuf),
    Embedded {
        /// What it is, for messages (`embedded scenarios`, `embedded adapter billing`).
        label: String,
        dir: &'static Dir<'static>,
    },
}

impl Folder {
    /// The embedded scenario set.
    pub fn embedded_scenarios() -> Folder {
        Folder::Embedded {
            label: "the embedded scenarios".into(),
            dir: &SCENARIOS,
        }
    }

    /// The embedded adapter folder of one demo system (`billing`, `crm`, `resource`), if there is one.
    pub fn embedded_adapter(system: &str) -> Option<Folder> {
        ADAPTERS.get_dir(system).map(|dir| Folder::Embedded {
            label: format!("the embedded adapter `{system}`"),
            dir,
        })
    }

    /// The names of the embedded adapter folders, sorted.
    pub fn embedded_adapter_names() -> Vec<String> {
        let mut names: Vec<String> = ADAPTERS
            .dirs()
            .filter_map(|d| d.path().file_name().map(|n| n.to_string_lossy().to_string()))
            .collect();
        names.sort();
        names
    }

    /// A configured definition path: `embedded:<system>` or a folder on disk.
    pub fn from_config(path: &Path) -> Result<Folder, String> {
        let text = path.to_string_lossy();
        match text.strip_prefix(EMBEDDED_PREFIX) {
            Some(system) => Folder::embedded_adapter(system).ok_or_else(|| {
                format!(
                    "`{text}`: no embedded adapter `{system}`; embedded: {}",
                    Folder::embedded_adapter_names().join(", ")
                )
            }),
            None => Ok(Folder::Disk(path.to_path_buf())),
        }
    }

    /// Where the folder is, for messages: its path, or what is embedded.
    pub fn describe(&self) -> String {
        match self {
            Folder::Disk(p) => p.display().to_string(),
            Folder::Embedded { label, .. } => label.clone(),
        }
    }

    /// How a configuration names this folder: its path, or `embedded:<name>`.
    pub fn config_path(&self) -> PathBuf {
        match self {
            Folder::Disk(p) => p.clone(),
            Folder::Embedded { dir, .. } => PathBuf::from(format!("{EMBEDDED_PREFIX}{}", dir.path().display())),
        }
    }

    /// The path of `name` inside the folder, for messages (`embedded:billing/account.sql` when embedded).
    pub fn path_of(&self, name: &str) -> String {
        match self {
            Folder::Disk(p) => p.join(name).display().to_string(),
            Folder::Embedded { dir, .. } => format!("{EMBEDDED_PREFIX}{}", dir.path().join(name).display()),
        }
    }

    /// Reads a file of the folder.
    pub fn read(&self, name: &str) -> std::io::Result<String> {
        match self {
            Folder::Disk(p) => std::fs::read_to_string(p.join(name)),
            Folder::Embedded { dir, .. } => dir
                .get_file(dir.path().join(name))
                .and_then(|f| f.contents_utf8())
                .map(str::to_string)
                .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, format!("no embedded file {name}"))),
        }
    }

    /// Whether the folder holds a file `name`.
    pub fn has(&self, name: &str) -> bool {
        match self {
            Folder::Disk(p) => p.join(name).is_file(),
            Folder::Embedded { dir, .. } => dir.get_file(dir.path().join(name)).is_some(),
        }
    }

    /// The files of the folder (not recursive) whose names end in `.{ext}`, sorted by name, with their
    /// text.
    pub fn files(&self, ext: &str) -> std::io::Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        match self {
            Folder::Disk(p) => {
                for e in std::fs::read_dir(p)? {
                    let path = e?.path();
                    if path.is_file() && path.extension().is_some_and(|x| x == ext) {
                        let name = path
                            .file_name()
                            .map(|n| n.to_string_lossy().to_string())
                            .unwrap_or_default();
                        out.push((name, std::fs::read_to_string(&path)?));
                    }
                }
            }
            Folder::Embedded { dir, .. } => {
                for f in dir.files() {
                    if f.path().extension().is_some_and(|x| x == ext) {
                        let name = f
                            .path()
                            .file_name()
                            .map(|n| n.to_string_lossy().to_string())
                            .unwrap_or_default();
                        out.push((name, f.contents_utf8().unwrap_or_default().to_string()));
                    }
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }
}

impl From<&Path> for Folder {
    fn from(p: &Path) -> Folder {
        Folder::Disk(p.to_path_buf())
    }
}

impl From<PathBuf> for Folder {
    fn from(p: PathBuf) -> Folder {
        Folder::Disk(p)
    }
}

impl From<&PathBuf> for Folder {
    fn from(p: &PathBuf) -> Folder {
        Folder::Disk(p.clone())
    }
}

impl From<&Folder> for Folder {
    fn from(f: &Folder) -> Folder {
        f.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_sets_hold_the_shipped_files() {
        assert_eq!(Folder::embedded_adapter_names(), vec!["billing", "crm", "resource"]);
        let billing = Folder::embedded_adapter("billing").unwrap();
        assert!(billing.has("adapter.toml"));
        assert!(billing.read("adapter.toml").unwrap().contains("billing"));
        assert_eq!(billing.path_of("account.sql"), "embedded:billing/account.sql");
        assert_eq!(billing.config_path(), PathBuf::from("embedded:billing"));
        assert_eq!(
            Folder::from_config(&billing.config_path()).unwrap().describe(),
            "the embedded adapter `billing`"
        );
        let scenarios = Folder::embedded_scenarios().files("toml").unwrap();
        assert!(scenarios.len() >= 20, "{}", scenarios.len());
        assert!(EXAMPLE_CONFIG.contains("[[sources]]"));
        let e = Folder::from_config(Path::new("embedded:nope")).unwrap_err();
        assert!(e.contains("embedded: billing, crm, resource"), "{e}");
    }
}
