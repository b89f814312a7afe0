//! Gateway configuration: defaults, then the TOML file, then environment overrides, then validation.
//! Mistakes fail at start-up naming the file and key. See `config/gateway.example.toml`.
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub log: LogConfig,
    /// Backends, in the order their statuses are reported.
    #[serde(default)]
    pub sources: Vec<SourceConfig>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// gRPC listen address. Env: `CGW_LISTEN`.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Upper bound on a whole view read, whatever the per-source time-outs, in milliseconds.
    #[serde(default = "default_request_timeout")]
    pub request_timeout_ms: u64,
    /// Largest time range one `StreamUsage` call may ask for, in days.
    #[serde(default = "default_max_range")]
    pub max_usage_range_days: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: default_listen(),
            request_timeout_ms: default_request_timeout(),
            max_usage_range_days: default_max_range(),
        }
    }
}

fn default_listen() -> SocketAddr {
    "127.0.0.1:50051".parse().expect("valid")
}
fn default_request_timeout() -> u64 {
    10_000
}
fn default_max_range() -> u32 {
    366
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `human` or `json`. Env: `CGW_LOG_FORMAT`.
    #[serde(default = "default_format")]
    pub format: String,
    /// A tracing filter such as `info` or `complaint_gateway=debug`. Env: `RUST_LOG` wins.
    #[serde(default = "default_level")]
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: default_format(),
            level: default_level(),
        }
    }
}

fn default_format() -> String {
    "human".into()
}
fn default_level() -> String {
    "info".into()
}

/// One backend.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// The adapter folder (holding `adapter.toml`), relative to this config file.
    pub definition: PathBuf,
    /// Connection URL. Prefer `url_env` for URLs with passwords. Env `CGW_SOURCE_<NAME>_URL` wins.
    #[serde(default)]
    pub url: Option<String>,
    /// Environment variable holding the URL (overrides the definition's `url_env`).
    #[serde(default)]
    pub url_env: Option<String>,
    /// Per-source time-out for one view read, in milliseconds.
    #[serde(default = "default_source_timeout")]
    pub timeout_ms: u64,
    /// Connection pool size.
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// How long to wait for a connection, in milliseconds.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_ms: u64,
    /// Set false to keep the entry but not query it.
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn default_source_timeout() -> u64 {
    2_000
}
fn default_max_connections() -> u32 {
    8
}
fn default_connect_timeout() -> u64 {
    2_000
}
fn yes() -> bool {
    true
}

/// A configuration error, naming the file and key.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct ConfigError {
    pub file: String,
    pub message: String,
}

impl Config {
    /// Reads, applies env overrides and validates. Relative definition paths are resolved against the
    /// config file's folder.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let err = |message: String| ConfigError {
            file: file.clone(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
        let mut cfg = Config::parse(&text).map_err(err)?;
        let base = path.parent().unwrap_or(Path::new("."));
        for s in &mut cfg.sources {
            if s.definition.is_relative() {
                s.definition = base.join(&s.definition);
            }
        }
        cfg.apply_env(|k| std::env::var(k).ok()).map_err(|m| ConfigError {
            file: file.clone(),
            message: m,
        })?;
        cfg.validate().map_err(|m| ConfigError { file, message: m })?;
        Ok(cfg)
    }

    /// Parses TOML text (no env, no validation).
    pub fn parse(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// Environment overrides: `CGW_LISTEN`, `CGW_LOG_FORMAT`.
    pub fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), String> {
        if let Some(l) = env("CGW_LISTEN") {
            self.server.listen = l
                .parse()
                .map_err(|_| format!("env CGW_LISTEN: `{l}` is not an address like 127.0.0.1:50051"))?;
        }
        if let Some(f) = env("CGW_LOG_FORMAT") {
            self.log.format = f;
        }
        Ok(())
    }

    pub fn validate(&self) -> Result<(), String> {
        if !matches!(self.log.format.as_str(), "human" | "json") {
            return Err(format!(
                "key `log.format`: `{}` must be \"human\" or \"json\"",
                self.log.format
            ));
        }
        if self.server.request_timeout_ms == 0 {
            return Err("key `server.request_timeout_ms`: must be > 0".into());
        }
        for (i, s) in self.sources.iter().enumerate() {
            if s.timeout_ms == 0 {
                return Err(format!("key `sources[{i}].timeout_ms`: must be > 0"));
            }
            if s.max_connections == 0 {
                return Err(format!("key `sources[{i}].max_connections`: must be > 0"));
            }
        }
        Ok(())
    }

    /// The configuration as TOML with every URL's password redacted, for `config show`.
    pub fn redacted_toml(&self) -> String {
        let mut c = self.clone();
        for s in &mut c.sources {
            s.url = s.url.as_deref().map(crate::secrets::redact_url);
        }
        toml::to_string_pretty(&c).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_parses_and_validates() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/gateway.example.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let cfg = Config::parse(&text).unwrap();
        cfg.validate().unwrap();
        assert_eq!(cfg.sources.len(), 3);
        assert_eq!(cfg.server.listen.port(), 50051);
    }

    #[test]
    fn unknown_key_is_named() {
        let e = Config::parse("[server]\nlisten = \"127.0.0.1:1\"\nlisten_adress = 3\n").unwrap_err();
        assert!(e.contains("listen_adress"), "{e}");
    }

    #[test]
    fn env_overrides_listen() {
        let mut c = Config::parse("").unwrap();
        c.apply_env(|k| (k == "CGW_LISTEN").then(|| "0.0.0.0:9000".to_string()))
            .unwrap();
        assert_eq!(c.server.listen.port(), 9000);
        let e = c
            .apply_env(|k| (k == "CGW_LISTEN").then(|| "nope".to_string()))
            .unwrap_err();
        assert!(e.contains("CGW_LISTEN"), "{e}");
    }

    #[test]
    fn redacted_dump_hides_passwords() {
        let c = Config::parse("[[sources]]\ndefinition = \"a\"\nurl = \"postgres://u:topsecret@h/db\"\n").unwrap();
        let dump = c.redacted_toml();
        assert!(!dump.contains("topsecret") && dump.contains("***"), "{dump}");
    }
}
