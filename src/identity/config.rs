//! `[auth]` and `[tls]`: how callers prove who they are, and the server's TLS. Key material is never in
//! this file: secrets come from environment variables or files, API keys are stored as SHA-256 hashes.
use super::authz::{parse_regions, parse_roles};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// `[auth]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// The `iss` every token must carry.
    #[serde(default = "default_issuer")]
    pub issuer: String,
    /// The `aud` every token must carry (one of, if the token lists several).
    #[serde(default = "default_audience")]
    pub audience: String,
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    #[serde(default = "default_leeway")]
    pub leeway_secs: u64,
    /// Refuse callers that are not registered in the store (`complaint-gateway identities add`). On by
    /// default: a token then grants no more than the store's record of its subject (roles and regions
    /// are intersected), and an identity can be disabled at once. Off (the demo's choice, and for an
    /// identity provider whose tokens are trusted as they are), an unregistered token's roles and
    /// regions are taken as it claims them.
    #[serde(default = "default_require_registered")]
    pub require_registered: bool,
    /// Requests one caller may make per minute (a token bucket of this size); 0 turns the limit off.
    #[serde(default = "default_rate")]
    pub rate_limit_per_minute: u32,
    /// How long, in milliseconds, a gateway keeps an identity's record (roles, regions, disabled, operator
    /// IDs) after reading it for a call. A change through this gateway's admin RPCs applies at once; one
    /// made through another replica or the command line within this time. 0: read it for every call.
    #[serde(default = "default_identity_cache_ms")]
    pub identity_cache_ms: u64,
    /// Keys that verify bearer tokens (JWT).
    #[serde(default)]
    pub jwt_keys: Vec<JwtKeyConfig>,
    /// API keys of service clients.
    #[serde(default)]
    pub api_keys: Vec<ApiKeyConfig>,
    /// Client certificates (mutual TLS) mapped to identities; needs `[tls] client_ca_file`.
    #[serde(default)]
    pub client_certs: Vec<ClientCertConfig>,
}

fn default_require_registered() -> bool {
    true
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            issuer: default_issuer(),
            audience: default_audience(),
            leeway_secs: default_leeway(),
            require_registered: default_require_registered(),
            rate_limit_per_minute: default_rate(),
            identity_cache_ms: default_identity_cache_ms(),
            jwt_keys: Vec::new(),
            api_keys: Vec::new(),
            client_certs: Vec::new(),
        }
    }
}

fn default_issuer() -> String {
    "complaint-gateway".into()
}
fn default_audience() -> String {
    "complaint-gateway".into()
}
fn default_leeway() -> u64 {
    30
}
fn default_identity_cache_ms() -> u64 {
    1_000
}
fn default_rate() -> u32 {
    1_200
}

/// One JWT verification (and, for `complaint-gateway token`, signing) key.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JwtKeyConfig {
    /// Matched against the token header's `kid`; tokens without a `kid` try every key of their algorithm.
    #[serde(default)]
    pub kid: Option<String>,
    /// `HS256`, `RS256` or `ES256`.
    pub algorithm: String,
    /// HS256: environment variable holding the shared secret (at least 32 bytes).
    #[serde(default)]
    pub secret_env: Option<String>,
    /// HS256: file holding the shared secret (surrounding whitespace is ignored).
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// RS256/ES256: PEM file of the public key that verifies tokens.
    #[serde(default)]
    pub public_key_file: Option<PathBuf>,
    /// RS256/ES256: environment variable holding the PEM public key.
    #[serde(default)]
    pub public_key_env: Option<String>,
    /// RS256/ES256: PEM private key, used only by `complaint-gateway token`; the server never reads it.
    #[serde(default)]
    pub private_key_file: Option<PathBuf>,
}

/// One API key of a service client.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// Names the key in logs and the audit trail (not secret).
    pub id: String,
    /// Hex SHA-256 of the key (`complaint-gateway identities new-api-key` prints a key and its hash).
    pub sha256: String,
    /// The identity the key acts as.
    pub subject: String,
    #[serde(default)]
    pub roles: Vec<String>,
    /// City codes; empty unless a role grants every region.
    #[serde(default)]
    pub regions: Vec<String>,
}

/// A client certificate mapped to an identity.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCertConfig {
    /// SHA-256 fingerprint of the certificate (DER), hex, colons allowed
    /// (`openssl x509 -noout -fingerprint -sha256 -in client.pem`).
    pub sha256: String,
    pub subject: String,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub regions: Vec<String>,
}

/// `[tls]`: the server's certificate and, for mutual TLS, the CA that signs client certificates.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain of the server. Without it the server speaks plaintext HTTP/2.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// PEM private key of the server.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// PEM CA bundle for client certificates; enables mutual TLS.
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
    /// With a client CA: `true` refuses connections without a client certificate; `false` (default)
    /// accepts them so callers may use tokens or API keys instead.
    #[serde(default)]
    pub require_client_cert: bool,
}

impl AuthConfig {
    /// Checks the keys of `[auth]`; the error names every bad key, one a line.
    pub fn validate(&self) -> Result<(), String> {
        joined(self.problems())
    }

    /// Every bad key of `[auth]`, each message naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.issuer.trim().is_empty() {
            out.push("key `auth.issuer`: must not be empty".into());
        }
        if self.audience.trim().is_empty() {
            out.push("key `auth.audience`: must not be empty".into());
        }
        for (i, k) in self.jwt_keys.iter().enumerate() {
            let at = format!("auth.jwt_keys[{i}]");
            match k.algorithm.as_str() {
                "HS256" => {
                    if k.secret_env.is_none() && k.secret_file.is_none() {
                        out.push(format!(
                            "key `{at}.secret_env`: HS256 needs `secret_env` or `secret_file`"
                        ));
                    }
                    if k.public_key_file.is_some() || k.public_key_env.is_some() {
                        out.push(format!(
                            "key `{at}.public_key_file`: HS256 uses a shared secret, not a public key"
                        ));
                    }
                }
                "RS256" | "ES256" => {
                    if k.public_key_file.is_none() && k.public_key_env.is_none() {
                        out.push(format!(
                            "key `{at}.public_key_file`: {} needs `public_key_file` or `public_key_env`",
                            k.algorithm
                        ));
                    }
                    if k.secret_env.is_some() || k.secret_file.is_some() {
                        out.push(format!(
                            "key `{at}.secret_env`: {} uses a public key, not a secret",
                            k.algorithm
                        ));
                    }
                }
                other => out.push(format!(
                    "key `{at}.algorithm`: `{}` must be HS256, RS256 or ES256",
                    super::clip(other, 16)
                )),
            }
        }
        for (i, k) in self.api_keys.iter().enumerate() {
            let at = format!("auth.api_keys[{i}]");
            if k.id.trim().is_empty() {
                out.push(format!("key `{at}.id`: must not be empty"));
            }
            if parse_hex32(&k.sha256).is_none() {
                out.push(format!(
                    "key `{at}.sha256`: must be 64 hex digits (the SHA-256 of the key)"
                ));
            }
            mapping_problems(&at, &k.subject, &k.roles, &k.regions, &mut out);
        }
        for (i, c) in self.client_certs.iter().enumerate() {
            let at = format!("auth.client_certs[{i}]");
            if parse_hex32(&c.sha256).is_none() {
                out.push(format!(
                    "key `{at}.sha256`: must be a SHA-256 fingerprint (64 hex digits)"
                ));
            }
            mapping_problems(&at, &c.subject, &c.roles, &c.regions, &mut out);
        }
        out
    }

    /// The secrets and key files `[auth]` names that cannot be found (an unset environment variable with no
    /// file to fall back on, a missing file), each naming its key and the variable or file. The values
    /// are never read into the message. Signing keys (`private_key_file`, used only by `token`) are not
    /// needed to serve and are not checked here.
    pub fn missing_material(&self, env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
        let mut out = Vec::new();
        for (i, k) in self.jwt_keys.iter().enumerate() {
            let at = format!("auth.jwt_keys[{i}]");
            let (var, file, var_key, file_key) = if k.algorithm == "HS256" {
                (&k.secret_env, &k.secret_file, "secret_env", "secret_file")
            } else {
                (
                    &k.public_key_env,
                    &k.public_key_file,
                    "public_key_env",
                    "public_key_file",
                )
            };
            if let Some(v) = var {
                if env(v).is_some_and(|x| !x.trim().is_empty()) {
                    continue;
                }
                if file.is_none() {
                    out.push(format!("key `{at}.{var_key}`: environment variable {v} is not set"));
                    continue;
                }
            }
            if let Some(f) = file {
                if !f.is_file() {
                    out.push(format!("key `{at}.{file_key}`: no file {}", f.display()));
                }
            }
        }
        out
    }

    /// Resolves relative key-file paths against the config file's folder.
    pub fn resolve_paths(&mut self, base: &Path) {
        for k in &mut self.jwt_keys {
            for p in [&mut k.secret_file, &mut k.public_key_file, &mut k.private_key_file]
                .into_iter()
                .flatten()
            {
                if p.is_relative() {
                    *p = base.join(&*p);
                }
            }
        }
    }
}

impl TlsConfig {
    /// Checks the keys of `[tls]`; the error names every bad key, one a line.
    pub fn validate(&self) -> Result<(), String> {
        joined(self.problems())
    }

    /// Every bad key of `[tls]`.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        match (&self.cert_file, &self.key_file) {
            (Some(_), None) => out.push("key `tls.key_file`: needed with `tls.cert_file`".into()),
            (None, Some(_)) => out.push("key `tls.cert_file`: needed with `tls.key_file`".into()),
            _ => {}
        }
        if self.client_ca_file.is_some() && self.cert_file.is_none() {
            out.push("key `tls.client_ca_file`: mutual TLS needs `tls.cert_file` and `tls.key_file`".into());
        }
        if self.require_client_cert && self.client_ca_file.is_none() {
            out.push("key `tls.require_client_cert`: needs `tls.client_ca_file`".into());
        }
        out
    }

    /// The certificate and key files `[tls]` names that do not exist, each naming its key and file.
    pub fn missing_files(&self) -> Vec<String> {
        [
            ("cert_file", &self.cert_file),
            ("key_file", &self.key_file),
            ("client_ca_file", &self.client_ca_file),
        ]
        .into_iter()
        .filter_map(|(key, f)| {
            let f = f.as_ref()?;
            (!f.is_file()).then(|| format!("key `tls.{key}`: no file {}", f.display()))
        })
        .collect()
    }

    /// Whether the server speaks TLS.
    pub fn enabled(&self) -> bool {
        self.cert_file.is_some()
    }

    /// Resolves relative paths against the config file's folder.
    pub fn resolve_paths(&mut self, base: &Path) {
        for p in [&mut self.cert_file, &mut self.key_file, &mut self.client_ca_file]
            .into_iter()
            .flatten()
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }
}

/// The problems of an identity mapping (API key or client certificate) at `at`.
fn mapping_problems(at: &str, subject: &str, roles: &[String], regions: &[String], out: &mut Vec<String>) {
    if let Err(m) = super::validate_subject(subject) {
        out.push(format!("key `{at}.subject`: {m}"));
    }
    if let Err(m) = parse_roles(roles) {
        out.push(format!("key `{at}.roles`: {m}"));
    }
    if let Err(m) = parse_regions(regions) {
        out.push(format!("key `{at}.regions`: {m}"));
    }
}

/// `Ok` for no problems, else every problem, one a line.
fn joined(problems: Vec<String>) -> Result<(), String> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// Parses 64 hex digits (colons and case ignored) into 32 bytes.
pub fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    let clean: String = s.chars().filter(|c| *c != ':').collect();
    let bytes = hex::decode(clean.trim()).ok()?;
    bytes.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> AuthConfig {
        #[derive(Deserialize)]
        struct W {
            auth: AuthConfig,
        }
        toml::from_str::<W>(text).unwrap().auth
    }

    #[test]
    fn validation_names_the_key() {
        let c = parse("[auth]\n[[auth.jwt_keys]]\nalgorithm = \"none\"\n");
        assert!(c.validate().unwrap_err().contains("auth.jwt_keys[0].algorithm"));
        let c = parse("[auth]\n[[auth.jwt_keys]]\nalgorithm = \"HS256\"\n");
        assert!(c.validate().unwrap_err().contains("auth.jwt_keys[0].secret_env"));
        let c = parse("[auth]\n[[auth.jwt_keys]]\nalgorithm = \"ES256\"\nsecret_env = \"X\"\n");
        assert!(c.validate().unwrap_err().contains("public_key_file"));
        let c = parse(&format!(
            "[auth]\n[[auth.api_keys]]\nid = \"k\"\nsha256 = \"{}\"\nsubject = \"svc\"\nroles = [\"root\"]\n",
            "ab".repeat(32)
        ));
        let e = c.validate().unwrap_err();
        assert!(e.contains("auth.api_keys[0].roles") && e.contains("root"), "{e}");
        let c = parse("[auth]\n[[auth.api_keys]]\nid = \"k\"\nsha256 = \"abc\"\nsubject = \"svc\"\n");
        assert!(c.validate().unwrap_err().contains("auth.api_keys[0].sha256"));
    }

    #[test]
    fn fingerprints_parse_with_colons() {
        let fp = (0..32).map(|i| format!("{i:02X}")).collect::<Vec<_>>().join(":");
        assert_eq!(parse_hex32(&fp).unwrap()[31], 31);
        assert!(parse_hex32("zz").is_none());
    }
}
