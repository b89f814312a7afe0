//! Loading a configuration file: parse it, resolve its relative paths against the file's folder, apply
//! the environment overrides, validate. This is the one place `CGW_*` overrides are read, so the loaded
//! [`Config`] is the configuration in effect (what `check-config` prints):
//!
//! | variable                 | overrides                                                               |
//! |--------------------------|-------------------------------------------------------------------------|
//! | `CGW_LISTEN`             | `server.listen`                                                         |
//! | `CGW_LOG_FORMAT`         | `log.format`                                                            |
//! | `CGW_METRICS_LISTEN`     | `admin.metrics_listen`                                                  |
//! | `CGW_CONSOLE_LISTEN`     | `console.listen` (the web console)                                      |
//! | `CGW_STORE_URL`          | `store.url` (then the variable named by `store.url_env`, then `url`)    |
//! | `CGW_REDIS_URL`          | `redis.url` (then the variable named by `redis.url_env`, then `url`)    |
//! | `CGW_SOURCE_<NAME>_URL`  | `sources[i].url` of source NAME (then `url`, then the variable named by `url_env` here or in the definition) |
//!
//! Paths that come from the environment are taken as they are (relative to the working directory);
//! paths written in the file are relative to the file's folder.
use super::{Config, ConfigError, SourceConfig};
use crate::assets::{Folder, EMBEDDED_PREFIX};
use std::path::{Path, PathBuf};

/// A value that came from the environment rather than the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvOverride {
    /// The key it set (`server.listen`, `sources[0].url`).
    pub key: String,
    /// The variable it came from.
    pub var: String,
}

impl Config {
    /// Reads `path`, resolves its relative paths, applies the process environment's overrides and
    /// validates; the error lists every problem found.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::load_with_env(path, &|k| std::env::var(k).ok())
    }

    /// [`Config::load`] with the environment given (tests).
    pub fn load_with_env(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let fail = |problems: Vec<String>| ConfigError {
            file: file.clone(),
            problems,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(vec![format!("cannot read: {e}")]))?;
        let mut cfg = Config::parse(&text).map_err(|e| fail(vec![e.trim_end().to_string()]))?;
        cfg.resolve_paths(&folder_of(path));
        let mut problems = cfg.apply_env(env);
        problems.extend(cfg.problems());
        if problems.is_empty() {
            Ok(cfg)
        } else {
            Err(fail(problems))
        }
    }

    /// Makes every relative path of the file absolute against `base` (the file's folder): adapter
    /// folders (not `embedded:` ones), SQLite files of sources and store, key and certificate files,
    /// the scenario folder.
    pub fn resolve_paths(&mut self, base: &Path) {
        for s in &mut self.sources {
            if !s.definition.to_string_lossy().starts_with(EMBEDDED_PREFIX) {
                s.definition = resolve_path(base, &s.definition);
            }
            if let Some(u) = &mut s.url {
                *u = resolve_sqlite_url(u, base);
            }
        }
        self.store.url = resolve_sqlite_url(&self.store.url, base);
        self.auth.resolve_paths(base);
        self.tls.resolve_paths(base);
        if let Some(d) = &mut self.diagnosis.scenarios_dir {
            *d = resolve_path(base, d);
        }
        if let Some(d) = &mut self.diagnosis.corpus_dir {
            *d = resolve_path(base, d);
        }
        if let Some(d) = &mut self.cases.rules_dir {
            *d = resolve_path(base, d);
        }
    }

    /// Applies every environment override (see the module table) and records each in
    /// [`Config::overrides`]. Returns the problems: a variable whose value does not parse. A source whose
    /// definition cannot be read, or that has no URL, is left as it is, for the registry (and
    /// `check-config`) to report.
    pub fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
        let mut problems = Vec::new();
        let mut applied = Vec::new();
        let mut var = |name: &str, key: &str| {
            let v = env(name).filter(|v| !v.trim().is_empty())?;
            applied.push(EnvOverride {
                key: key.into(),
                var: name.into(),
            });
            Some(v)
        };
        if let Some(l) = var("CGW_LISTEN", "server.listen") {
            match l.parse() {
                Ok(a) => self.server.listen = a,
                Err(_) => problems.push(format!("env CGW_LISTEN: `{l}` is not an address like 127.0.0.1:50051")),
            }
        }
        if let Some(f) = var("CGW_LOG_FORMAT", "log.format") {
            self.log.format = f;
        }
        if let Some(l) = var("CGW_CONSOLE_LISTEN", "console.listen") {
            match l.parse() {
                Ok(a) => self.console.listen = Some(a),
                Err(_) => problems.push(format!(
                    "env CGW_CONSOLE_LISTEN: `{l}` is not an address like 127.0.0.1:8080"
                )),
            }
        }
        if let Some(l) = var("CGW_METRICS_LISTEN", "admin.metrics_listen") {
            match l.parse() {
                Ok(a) => self.admin.metrics_listen = Some(a),
                Err(_) => problems.push(format!(
                    "env CGW_METRICS_LISTEN: `{l}` is not an address like 127.0.0.1:9464"
                )),
            }
        }
        if let Some(u) = var("CGW_REDIS_URL", "redis.url") {
            self.redis.url = Some(u);
        } else if let Some(name) = self.redis.url_env.clone() {
            if let Some(u) = var(&name, "redis.url") {
                self.redis.url = Some(u);
            }
        }
        if let Some(u) = var("CGW_STORE_URL", "store.url") {
            self.store.url = u;
        } else if let Some(name) = self.store.url_env.clone() {
            if let Some(u) = var(&name, "store.url") {
                self.store.url = u;
            }
        }
        for (i, s) in self.sources.iter_mut().enumerate() {
            if !s.enabled {
                continue;
            }
            let Ok(def) = definition_header(&s.definition) else {
                continue;
            };
            if let Ok((url, Some(from))) = source_url(Some(s), &def.name, def.url_env.as_deref(), env) {
                s.url = Some(url);
                applied.push(EnvOverride {
                    key: format!("sources[{i}].url"),
                    var: from,
                });
            }
        }
        self.overrides = applied;
        problems
    }
}

/// The folder a config file's relative paths are relative to (absolute, so messages and `check-config`
/// show where things are).
pub fn folder_of(file: &Path) -> PathBuf {
    let abs = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
    abs.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// `p` against `base` when relative.
pub fn resolve_path(base: &Path, p: &Path) -> PathBuf {
    if p.is_relative() {
        base.join(p)
    } else {
        p.to_path_buf()
    }
}

/// The file a `sqlite:` URL names (`None` for other URLs and in-memory databases), as written.
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let memory = path.is_empty()
        || path == ":memory:"
        || url::form_urlencoded::parse(query.as_bytes()).any(|(k, v)| k == "mode" && v == "memory");
    if memory {
        return None;
    }
    Some(PathBuf::from(percent_decode(path)))
}

/// `%XX` escapes decoded, as sqlx reads a SQLite file name.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A `sqlite:` URL whose file is relative made absolute against `base`; any other URL unchanged.
pub fn resolve_sqlite_url(url: &str, base: &Path) -> String {
    match sqlite_file(url) {
        Some(f) if f.is_relative() => {
            let query = url.split_once('?').map(|(_, q)| format!("?{q}")).unwrap_or_default();
            sqlite_url(&base.join(f), &query)
        }
        _ => url.to_string(),
    }
}

/// `sqlite://PATH` for a file path, with the characters a URL would misread escaped.
pub fn sqlite_url(path: &Path, query: &str) -> String {
    let p = path
        .display()
        .to_string()
        .replace('%', "%25")
        .replace('?', "%3F")
        .replace('#', "%23");
    format!("sqlite://{p}{query}")
}

/// The variable that overrides source `name`'s URL: `CGW_SOURCE_<NAME>_URL`.
pub fn source_override_var(name: &str) -> String {
    format!("CGW_SOURCE_{}_URL", name.to_ascii_uppercase())
}

/// A source's URL by the precedence of the module table: `CGW_SOURCE_<NAME>_URL`, then `url`, then the
/// variable named by the config's `url_env`, then the one named by the definition's `url_env`. `Ok`
/// holds the URL and the variable it came from (`None`: the file's `url`); `Err` says what to set.
/// Without a source entry (`adapters check` with no config) only the variables count.
pub fn source_url(
    s: Option<&SourceConfig>,
    name: &str,
    definition_url_env: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(String, Option<String>), String> {
    let get = |v: &str| env(v).filter(|u| !u.trim().is_empty());
    let over = source_override_var(name);
    if let Some(u) = get(&over) {
        return Ok((u, Some(over)));
    }
    if let Some(u) = s.and_then(|s| s.url.clone()).filter(|u| !u.is_empty()) {
        return Ok((u, None));
    }
    let named = s.and_then(|s| s.url_env.as_deref()).or(definition_url_env);
    if let Some(v) = named {
        if let Some(u) = get(v) {
            return Ok((u, Some(v.to_string())));
        }
    }
    Err(format!(
        "no URL: set `url`, or the environment variable {}{over}",
        named.map(|v| format!("{v} or ")).unwrap_or_default()
    ))
}

/// What the configuration needs of an adapter definition before it is compiled: its name (for
/// `CGW_SOURCE_<NAME>_URL`) and the variable its URL may come from.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct DefinitionHeader {
    pub name: String,
    #[serde(default)]
    pub url_env: Option<String>,
}

/// Reads the header of the definition at `definition` (a folder or `embedded:<system>`).
pub fn definition_header(definition: &Path) -> Result<DefinitionHeader, String> {
    let folder = Folder::from_config(definition)?;
    let text = folder
        .read("adapter.toml")
        .map_err(|e| format!("{}: cannot read: {e}", folder.path_of("adapter.toml")))?;
    toml::from_str(&text).map_err(|e| format!("{}: {e}", folder.path_of("adapter.toml")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_resolve_against_the_folder() {
        let base = Path::new("/etc/cgw");
        assert_eq!(
            resolve_sqlite_url("sqlite://billing.db", base),
            "sqlite:///etc/cgw/billing.db"
        );
        assert_eq!(
            resolve_sqlite_url("sqlite:data/x.db?mode=ro", base),
            "sqlite:///etc/cgw/data/x.db?mode=ro"
        );
        assert_eq!(resolve_sqlite_url("sqlite:///var/x.db", base), "sqlite:///var/x.db");
        assert_eq!(resolve_sqlite_url("sqlite::memory:", base), "sqlite::memory:");
        assert_eq!(
            resolve_sqlite_url("sqlite://?mode=memory", base),
            "sqlite://?mode=memory"
        );
        assert_eq!(resolve_sqlite_url("postgres://u:p@h/db", base), "postgres://u:p@h/db");
        assert_eq!(
            sqlite_file(&sqlite_url(Path::new("/x/a&b?#%.db"), "")),
            Some(PathBuf::from("/x/a&b?#%.db"))
        );
    }

    #[test]
    fn source_url_precedence() {
        let mut s: SourceConfig = toml::from_str("definition = \"x\"\nurl_env = \"MY_URL\"\n").unwrap();
        let env = |k: &str| match k {
            "CGW_SOURCE_CRM_URL" => Some("sqlite://over.db".to_string()),
            "MY_URL" => Some("sqlite://named.db".to_string()),
            _ => None,
        };
        assert_eq!(
            source_url(Some(&s), "crm", None, &env).unwrap(),
            ("sqlite://over.db".into(), Some("CGW_SOURCE_CRM_URL".into()))
        );
        assert_eq!(
            source_url(Some(&s), "billing", None, &env).unwrap(),
            ("sqlite://named.db".into(), Some("MY_URL".into()))
        );
        s.url = Some("sqlite://file.db".into());
        assert_eq!(
            source_url(Some(&s), "billing", None, &env).unwrap(),
            ("sqlite://file.db".into(), None)
        );
        s.url = None;
        s.url_env = None;
        assert_eq!(
            source_url(Some(&s), "billing", Some("DEF_URL"), &|_| None).unwrap_err(),
            "no URL: set `url`, or the environment variable DEF_URL or CGW_SOURCE_BILLING_URL"
        );
    }
}
