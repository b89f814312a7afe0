//! What a loaded configuration names but this machine lacks: secrets in unset environment variables,
//! key and certificate files that do not exist, SQLite files of sources that do not exist, a scenario
//! folder that is not there. `check-config` reports these (with the adapter definitions and scenarios it
//! compiles) so that a configuration it passes starts; `serve` would fail, or answer UNAVAILABLE, on each.
use super::load::sqlite_file;
use super::Config;

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The server would not start, or a source would be unavailable.
    Error,
    /// Worth knowing; nothing fails (a store file created at first start).
    Note,
}

/// One thing `check-config` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    /// Names the key and the variable or file.
    pub message: String,
}

impl Finding {
    /// A finding that fails the check.
    pub fn error(message: String) -> Finding {
        Finding {
            severity: Severity::Error,
            message,
        }
    }
    /// A finding worth knowing that fails nothing.
    pub fn note(message: String) -> Finding {
        Finding {
            severity: Severity::Note,
            message,
        }
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let label = match self.severity {
            Severity::Error => "error",
            Severity::Note => "note",
        };
        write!(f, "{label}: {}", self.message)
    }
}

impl Config {
    /// Looks for every secret, file and folder the configuration needs at start-up (see the module
    /// docs). `env` resolves the variables the file names.
    pub fn check_environment(&self, env: &dyn Fn(&str) -> Option<String>) -> Vec<Finding> {
        let mut out: Vec<Finding> = self
            .auth
            .missing_material(env)
            .into_iter()
            .map(Finding::error)
            .collect();
        for (i, k) in self.auth.jwt_keys.iter().enumerate() {
            if let Some(f) = k.private_key_file.as_ref().filter(|f| !f.is_file()) {
                out.push(Finding::note(format!(
                    "key `auth.jwt_keys[{i}].private_key_file`: no file {} (only `complaint-gateway token` needs it)",
                    f.display()
                )));
            }
        }
        out.extend(self.tls.missing_files().into_iter().map(Finding::error));
        for (i, s) in self.sources.iter().enumerate() {
            if !s.enabled {
                continue;
            }
            if let Some(f) = s.url.as_deref().and_then(sqlite_file) {
                if !f.is_file() {
                    out.push(Finding::error(format!(
                        "key `sources[{i}].url`: the SQLite file {} does not exist (the source would answer UNAVAILABLE)",
                        f.display()
                    )));
                }
            }
        }
        if let Some(f) = sqlite_file(&self.store.url) {
            let folder = f.parent().filter(|p| !p.as_os_str().is_empty());
            if folder.is_some_and(|p| !p.is_dir()) {
                out.push(Finding::error(format!(
                    "key `store.url`: the folder of the SQLite file {} does not exist, so the store cannot be created",
                    f.display()
                )));
            } else if !f.is_file() {
                out.push(Finding::note(format!(
                    "key `store.url`: the SQLite file {} does not exist yet; the server creates it (and its tables) at first start",
                    f.display()
                )));
            }
        }
        let store_from_env = self.overrides.iter().any(|o| o.key == "store.url");
        if let (Some(v), false) = (&self.store.url_env, store_from_env) {
            out.push(Finding::note(format!(
                "key `store.url_env`: environment variable {v} is not set; using `store.url`"
            )));
        }
        if let Some(d) = &self.diagnosis.corpus_dir {
            if !d.is_dir() {
                out.push(Finding::error(format!(
                    "key `diagnosis.corpus_dir`: no folder {}",
                    d.display()
                )));
            }
        }
        if let Some(d) = &self.diagnosis.scenarios_dir {
            if !d.exists() {
                out.push(Finding::error(format!(
                    "key `diagnosis.scenarios_dir`: no folder {}",
                    d.display()
                )));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(f: &[Finding]) -> Vec<&str> {
        f.iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| f.message.as_str())
            .collect()
    }

    #[test]
    fn a_missing_secret_and_sqlite_file_are_named_and_a_new_store_is_a_note() {
        let dir = tempfile::tempdir().unwrap();
        let text = "[[auth.jwt_keys]]\nalgorithm = \"HS256\"\nsecret_env = \"T_SECRET\"\n\
                    [[auth.jwt_keys]]\nalgorithm = \"ES256\"\npublic_key_file = \"keys/idp.pem\"\n\
                    [store]\nurl = \"sqlite://gw.db\"\n\
                    [[sources]]\ndefinition = \"embedded:billing\"\nurl = \"sqlite://billing.db\"\n";
        let mut cfg = Config::parse(text).unwrap();
        cfg.resolve_paths(dir.path());
        let found = cfg.check_environment(&|_| None);
        assert_eq!(
            errors(&found),
            vec![
                "key `auth.jwt_keys[0].secret_env`: environment variable T_SECRET is not set".to_string(),
                format!(
                    "key `auth.jwt_keys[1].public_key_file`: no file {}",
                    dir.path().join("keys/idp.pem").display()
                ),
                format!(
                    "key `sources[0].url`: the SQLite file {} does not exist (the source would answer UNAVAILABLE)",
                    dir.path().join("billing.db").display()
                ),
            ]
        );
        assert!(found
            .iter()
            .any(|f| f.severity == Severity::Note
                && f.message.contains("gw.db does not exist yet; the server creates it")));
        // Present: nothing to say but the new store.
        std::fs::write(dir.path().join("billing.db"), b"").unwrap();
        std::fs::create_dir(dir.path().join("keys")).unwrap();
        std::fs::write(dir.path().join("keys/idp.pem"), b"x").unwrap();
        let env = |k: &str| (k == "T_SECRET").then(|| "s".repeat(32));
        assert!(errors(&cfg.check_environment(&env)).is_empty());
    }
}
