//! Authentication: bearer JWTs (HS256, RS256, ES256), hashed API keys and client certificates, each
//! turned into a [`Principal`]. Failures say why (missing, expired, bad signature, wrong audience, unknown
//! key) and never echo key material.
use super::authz::{parse_regions, parse_roles, Role};
use super::config::{parse_hex32, AuthConfig, JwtKeyConfig};
use super::AuthMethod;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

/// Who a credential says the caller is, before the store is consulted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub subject: String,
    pub display_name: String,
    pub roles: BTreeSet<Role>,
    pub regions: BTreeSet<String>,
    pub method: AuthMethod,
}

/// Why a caller is not authenticated. The text is what the client sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing credentials: send `authorization: Bearer <token>` or `x-api-key: <key>`")]
    Missing,
    #[error("malformed credentials: {0}")]
    Malformed(String),
    #[error("token expired")]
    Expired,
    #[error("token not yet valid (nbf is in the future)")]
    NotYetValid,
    #[error("bad token signature")]
    BadSignature,
    #[error("wrong token audience: expected `{0}`")]
    WrongAudience(String),
    #[error("wrong token issuer: expected `{0}`")]
    WrongIssuer(String),
    #[error("token lacks the `{0}` claim")]
    MissingClaim(String),
    #[error("token claim {0}")]
    BadClaim(String),
    #[error("token algorithm {0} is not accepted by this gateway")]
    Algorithm(String),
    #[error("token key id is not configured on this gateway")]
    UnknownKeyId,
    #[error("unknown API key")]
    UnknownApiKey,
    #[error("client certificate is not mapped to an identity")]
    UnknownCertificate,
    #[error("identity `{0}` is disabled")]
    Disabled(String),
    #[error("identity `{0}` is not registered with this gateway")]
    NotRegistered(String),
}

/// The claims the gateway reads from a token (signature, `exp`, `nbf`, `iss` and `aud` are checked by
/// the JWT library before these are trusted).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The handler or client id.
    pub sub: String,
    pub iss: String,
    pub aud: String,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// Role names, e.g. `["handler"]`.
    #[serde(default)]
    pub roles: Vec<String>,
    /// City codes, e.g. `["0571"]`.
    #[serde(default)]
    pub regions: Vec<String>,
    /// A display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Deserialize)]
struct ReadClaims {
    // Defaulted so that a missing `sub` is reported as such by the claim validation.
    #[serde(default)]
    sub: String,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    regions: Vec<String>,
    #[serde(default)]
    name: Option<String>,
    /// Checked by the validation (a required claim); read again to bound how long the token is remembered.
    #[serde(default)]
    exp: Option<f64>,
}

struct JwtKey {
    kid: Option<String>,
    alg: Algorithm,
    key: DecodingKey,
}

struct Mapped {
    id: String,
    subject: String,
    roles: BTreeSet<Role>,
    regions: BTreeSet<String>,
}

/// Verifies credentials against the configured keys.
pub struct Authenticator {
    issuer: String,
    audience: String,
    leeway: u64,
    jwt_keys: Vec<JwtKey>,
    api_keys: HashMap<[u8; 32], Mapped>,
    client_certs: HashMap<[u8; 32], Mapped>,
    /// Bearer tokens whose signature and claims were verified, until they expire (see [`Verified`]).
    verified: Verified,
}

/// Tokens already verified, so that a caller who sends the same token on every call pays for the
/// signature check (HMAC; RSA or ECDSA verification costs far more) and the claims' JSON once, not per call
/// (as Envoy's `jwt_authn` keeps a cache of verified tokens). Keyed by the whole token text, so a hit is
/// the very token that was checked; remembered only on success and never past the token's own `exp` (plus
/// the configured leeway), nor longer than [`VERIFIED_TTL`]. The cache belongs to this `Authenticator`: new
/// keys mean a new authenticator and an empty cache. Whether the identity is disabled is still read from
/// the store on every call, after this.
struct Verified {
    tokens: moka::sync::Cache<Box<str>, std::sync::Arc<(Principal, u64)>>,
}

/// Longest a verified token is remembered, whatever its `exp`.
const VERIFIED_TTL: std::time::Duration = std::time::Duration::from_secs(300);
/// Bytes of remembered tokens (each weighed as its text plus its principal's share).
const VERIFIED_MAX_BYTES: u64 = 8 << 20;

impl Verified {
    #[allow(clippy::borrowed_box)] // moka's weigher takes the key type by reference
    fn new() -> Verified {
        Verified {
            tokens: moka::sync::Cache::builder()
                .name("verified-tokens")
                .max_capacity(VERIFIED_MAX_BYTES)
                .weigher(|k: &Box<str>, v: &std::sync::Arc<(Principal, u64)>| {
                    let p = &v.0;
                    let claims: usize = p.regions.iter().map(|r| r.len() + 32).sum::<usize>() + p.roles.len() * 16;
                    (k.len() + p.subject.len() + p.display_name.len() + claims + 256).min(u32::MAX as usize) as u32
                })
                .time_to_live(VERIFIED_TTL)
                .build(),
        }
    }

    /// The principal of `token` if it was verified and has not expired since (`now`, `leeway` in seconds).
    fn get(&self, token: &str, now: u64, leeway: u64) -> Option<Principal> {
        let hit = self.tokens.get(token)?;
        if hit.1.saturating_add(leeway) < now {
            self.tokens.invalidate(token);
            return None;
        }
        Some(hit.0.clone())
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("jwt_keys", &self.jwt_keys.len())
            .field("api_keys", &self.api_keys.len())
            .field("client_certs", &self.client_certs.len())
            .finish()
    }
}

/// Reads a secret or key from the environment variable or file named; the error names the key, never
/// the value.
fn read_material(
    at: &str,
    env_name: Option<&str>,
    file: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<u8>, String> {
    if let Some(var) = env_name {
        if let Some(v) = env(var).filter(|v| !v.trim().is_empty()) {
            return Ok(v.trim().as_bytes().to_vec());
        }
        if file.is_none() {
            return Err(format!("key `{at}`: environment variable {var} is not set"));
        }
    }
    if let Some(f) = file {
        let bytes = std::fs::read(f).map_err(|e| format!("key `{at}`: cannot read {}: {e}", f.display()))?;
        let text = String::from_utf8_lossy(&bytes);
        return Ok(text.trim().as_bytes().to_vec());
    }
    Err(format!("key `{at}`: no source configured"))
}

fn algorithm(name: &str) -> Option<Algorithm> {
    match name {
        "HS256" => Some(Algorithm::HS256),
        "RS256" => Some(Algorithm::RS256),
        "ES256" => Some(Algorithm::ES256),
        _ => None,
    }
}

/// The SHA-256 of an API key or certificate.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// A fresh API key (`cgw_` and 43 characters: 256 random bits) and its hex SHA-256 for the config.
pub fn new_api_key() -> (String, String) {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let key = format!("cgw_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw));
    let hash = hex::encode(sha256(key.as_bytes()));
    (key, hash)
}

/// A fresh HS256 secret: 32 random bytes, hex-encoded.
pub fn new_hs256_secret() -> String {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    hex::encode(raw)
}

fn mapped(id: &str, subject: &str, roles: &[String], regions: &[String]) -> Result<Mapped, String> {
    Ok(Mapped {
        id: id.to_string(),
        subject: subject.to_string(),
        roles: parse_roles(roles)?,
        regions: parse_regions(regions)?,
    })
}

impl Authenticator {
    /// Loads every key of `[auth]` (secrets from env or files). Errors name the config key.
    pub fn from_config(cfg: &AuthConfig, env: &dyn Fn(&str) -> Option<String>) -> Result<Authenticator, String> {
        cfg.validate()?;
        let mut jwt_keys = Vec::new();
        for (i, k) in cfg.jwt_keys.iter().enumerate() {
            let at = format!("auth.jwt_keys[{i}]");
            let alg = algorithm(&k.algorithm).ok_or_else(|| format!("key `{at}.algorithm`: unsupported"))?;
            let key = match alg {
                Algorithm::HS256 => {
                    let secret = read_material(
                        &format!("{at}.secret_env"),
                        k.secret_env.as_deref(),
                        k.secret_file.as_deref(),
                        env,
                    )?;
                    if secret.len() < 32 {
                        return Err(format!("key `{at}`: an HS256 secret must be at least 32 bytes"));
                    }
                    DecodingKey::from_secret(&secret).map_err(|e| format!("key `{at}`: {e}"))?
                }
                _ => {
                    let pem = read_material(
                        &format!("{at}.public_key_file"),
                        k.public_key_env.as_deref(),
                        k.public_key_file.as_deref(),
                        env,
                    )?;
                    let r = if alg == Algorithm::RS256 {
                        DecodingKey::from_rsa_pem(&pem)
                    } else {
                        DecodingKey::from_ec_pem(&pem)
                    };
                    r.map_err(|e| {
                        format!(
                            "key `{at}.public_key_file`: not a {} public key in PEM: {e}",
                            k.algorithm
                        )
                    })?
                }
            };
            jwt_keys.push(JwtKey {
                kid: k.kid.clone(),
                alg,
                key,
            });
        }
        let mut api_keys = HashMap::new();
        for (i, k) in cfg.api_keys.iter().enumerate() {
            let hash = parse_hex32(&k.sha256).ok_or_else(|| format!("key `auth.api_keys[{i}].sha256`: not hex"))?;
            let m = mapped(&k.id, &k.subject, &k.roles, &k.regions)
                .map_err(|e| format!("key `auth.api_keys[{i}]`: {e}"))?;
            if api_keys.insert(hash, m).is_some() {
                return Err(format!(
                    "key `auth.api_keys[{i}].sha256`: the same key is configured twice"
                ));
            }
        }
        let mut client_certs = HashMap::new();
        for (i, c) in cfg.client_certs.iter().enumerate() {
            let fp = parse_hex32(&c.sha256).ok_or_else(|| format!("key `auth.client_certs[{i}].sha256`: not hex"))?;
            let id = hex::encode(fp);
            let m = mapped(&id, &c.subject, &c.roles, &c.regions)
                .map_err(|e| format!("key `auth.client_certs[{i}]`: {e}"))?;
            client_certs.insert(fp, m);
        }
        Ok(Authenticator {
            issuer: cfg.issuer.clone(),
            audience: cfg.audience.clone(),
            leeway: cfg.leeway_secs,
            jwt_keys,
            api_keys,
            client_certs,
            verified: Verified::new(),
        })
    }

    /// Whether any credential at all can succeed (a server without keys refuses every call).
    pub fn has_credentials(&self) -> bool {
        !self.jwt_keys.is_empty() || !self.api_keys.is_empty() || !self.client_certs.is_empty()
    }

    /// Verifies a bearer token.
    pub fn verify_token(&self, token: &str) -> Result<Principal, AuthError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        if token.len() > 8 * 1024 {
            return Err(AuthError::Malformed("token longer than 8 KiB".into()));
        }
        let now = unix_now();
        if let Some(p) = self.verified.get(token, now, self.leeway) {
            return Ok(p);
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| AuthError::Malformed("not a JWT with a supported algorithm (HS256, RS256, ES256)".into()))?;
        let candidates: Vec<&JwtKey> = match &header.kid {
            Some(kid) => {
                let c: Vec<&JwtKey> = self.jwt_keys.iter().filter(|k| k.kid.as_deref() == Some(kid)).collect();
                if c.is_empty() {
                    return Err(AuthError::UnknownKeyId);
                }
                c
            }
            None => self.jwt_keys.iter().collect(),
        };
        let candidates: Vec<&JwtKey> = candidates.into_iter().filter(|k| k.alg == header.alg).collect();
        if candidates.is_empty() {
            return Err(AuthError::Algorithm(format!("{:?}", header.alg)));
        }
        let mut validation = Validation::new(header.alg);
        validation.leeway = self.leeway;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.set_audience(&[&self.audience]);
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let mut last = AuthError::BadSignature;
        for k in candidates {
            match jsonwebtoken::decode::<ReadClaims>(token, &k.key, &validation) {
                Ok(data) => {
                    let exp = data.claims.exp.map_or(0, |e| e.max(0.0) as u64);
                    let p = self.principal_from_claims(data.claims, k.kid.as_deref())?;
                    if exp.saturating_add(self.leeway) >= now {
                        self.verified
                            .tokens
                            .insert(token.into(), std::sync::Arc::new((p.clone(), exp)));
                    }
                    return Ok(p);
                }
                Err(e) => {
                    last = self.map_error(e.into_kind());
                    if last != AuthError::BadSignature {
                        // The signature was good with this key: the claims are what failed.
                        return Err(last);
                    }
                }
            }
        }
        Err(last)
    }

    fn map_error(&self, kind: ErrorKind) -> AuthError {
        match kind {
            ErrorKind::InvalidSignature => AuthError::BadSignature,
            ErrorKind::ExpiredSignature => AuthError::Expired,
            ErrorKind::ImmatureSignature => AuthError::NotYetValid,
            ErrorKind::InvalidAudience => AuthError::WrongAudience(self.audience.clone()),
            ErrorKind::InvalidIssuer => AuthError::WrongIssuer(self.issuer.clone()),
            ErrorKind::MissingRequiredClaim(c) => AuthError::MissingClaim(c),
            ErrorKind::InvalidAlgorithm => AuthError::Algorithm("in the header".into()),
            ErrorKind::InvalidClaimFormat(c) => AuthError::BadClaim(format!("`{c}` has the wrong type")),
            ErrorKind::Json(_) => {
                AuthError::BadClaim("set is not the expected JSON (roles and regions are lists of strings)".into())
            }
            _ => AuthError::Malformed("not a valid JWT".into()),
        }
    }

    fn principal_from_claims(&self, c: ReadClaims, kid: Option<&str>) -> Result<Principal, AuthError> {
        super::validate_subject(&c.sub).map_err(|m| AuthError::BadClaim(format!("`sub`: {m}")))?;
        let roles = parse_roles(&c.roles).map_err(|m| AuthError::BadClaim(format!("`roles`: {m}")))?;
        let regions = parse_regions(&c.regions).map_err(|m| AuthError::BadClaim(format!("`regions`: {m}")))?;
        Ok(Principal {
            display_name: c.name.map(|n| super::clip(&n, 64)).unwrap_or_default(),
            subject: c.sub,
            roles,
            regions,
            method: AuthMethod::Jwt {
                key_id: kid.unwrap_or("").to_string(),
            },
        })
    }

    /// Verifies an API key.
    pub fn verify_api_key(&self, key: &str) -> Result<Principal, AuthError> {
        let key = key.trim();
        if key.is_empty() {
            return Err(AuthError::Missing);
        }
        // Looked up by hash: the secret itself is never compared byte by byte.
        let m = self
            .api_keys
            .get(&sha256(key.as_bytes()))
            .ok_or(AuthError::UnknownApiKey)?;
        Ok(Principal {
            subject: m.subject.clone(),
            display_name: String::new(),
            roles: m.roles.clone(),
            regions: m.regions.clone(),
            method: AuthMethod::ApiKey { key_id: m.id.clone() },
        })
    }

    /// Maps a client certificate (DER) to its identity.
    pub fn verify_client_cert(&self, der: &[u8]) -> Result<Principal, AuthError> {
        let m = self
            .client_certs
            .get(&sha256(der))
            .ok_or(AuthError::UnknownCertificate)?;
        Ok(Principal {
            subject: m.subject.clone(),
            display_name: String::new(),
            roles: m.roles.clone(),
            regions: m.regions.clone(),
            method: AuthMethod::ClientCert {
                fingerprint: m.id.clone(),
            },
        })
    }

    /// Whether client certificates are mapped (so an unmapped one is worth reporting).
    pub fn maps_client_certs(&self) -> bool {
        !self.client_certs.is_empty()
    }
}

/// Signs tokens with a configured key, for `complaint-gateway token`, the demo and tests.
pub struct TokenIssuer {
    issuer: String,
    audience: String,
    alg: Algorithm,
    kid: Option<String>,
    key: EncodingKey,
}

impl TokenIssuer {
    /// An HS256 issuer over a shared secret.
    pub fn hs256(issuer: &str, audience: &str, kid: Option<&str>, secret: &[u8]) -> Result<TokenIssuer, String> {
        if secret.len() < 32 {
            return Err("an HS256 secret must be at least 32 bytes".into());
        }
        Ok(TokenIssuer {
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            alg: Algorithm::HS256,
            kid: kid.map(str::to_string),
            key: EncodingKey::from_secret(secret).map_err(|e| format!("bad HS256 secret: {e}"))?,
        })
    }

    /// An RS256 or ES256 issuer over a PEM private key.
    pub fn from_pem(
        issuer: &str,
        audience: &str,
        kid: Option<&str>,
        alg: &str,
        pem: &[u8],
    ) -> Result<TokenIssuer, String> {
        let (alg, key) = match alg {
            "RS256" => (Algorithm::RS256, EncodingKey::from_rsa_pem(pem)),
            "ES256" => (Algorithm::ES256, EncodingKey::from_ec_pem(pem)),
            other => return Err(format!("cannot sign with {other} from a PEM key")),
        };
        Ok(TokenIssuer {
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            alg,
            kid: kid.map(str::to_string),
            key: key.map_err(|e| format!("not a private key in PEM: {e}"))?,
        })
    }

    /// The issuer for key `index` of `[auth] jwt_keys` (HS256 secret, or `private_key_file`).
    pub fn from_config(
        cfg: &AuthConfig,
        index: usize,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<TokenIssuer, String> {
        let k: &JwtKeyConfig = cfg
            .jwt_keys
            .get(index)
            .ok_or_else(|| format!("no key {index} in `auth.jwt_keys` ({} configured)", cfg.jwt_keys.len()))?;
        let at = format!("auth.jwt_keys[{index}]");
        if k.algorithm == "HS256" {
            let secret = read_material(
                &format!("{at}.secret_env"),
                k.secret_env.as_deref(),
                k.secret_file.as_deref(),
                env,
            )?;
            TokenIssuer::hs256(&cfg.issuer, &cfg.audience, k.kid.as_deref(), &secret)
        } else {
            let path = k
                .private_key_file
                .as_deref()
                .ok_or_else(|| format!("key `{at}.private_key_file`: needed to sign {} tokens", k.algorithm))?;
            let pem = std::fs::read(path)
                .map_err(|e| format!("key `{at}.private_key_file`: cannot read {}: {e}", path.display()))?;
            TokenIssuer::from_pem(&cfg.issuer, &cfg.audience, k.kid.as_deref(), &k.algorithm, &pem)
        }
    }

    /// Signs a token for `subject` valid for `ttl_secs` from now.
    pub fn issue(&self, subject: &str, roles: &[Role], regions: &[String], ttl_secs: u64) -> Result<String, String> {
        let now = jsonwebtoken::get_current_timestamp();
        self.sign(&Claims {
            sub: subject.to_string(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            exp: now + ttl_secs,
            nbf: Some(now.saturating_sub(1)),
            iat: Some(now),
            roles: roles.iter().map(|r| r.name().to_string()).collect(),
            regions: regions.to_vec(),
            name: None,
        })
    }

    /// Signs arbitrary claims (tests build expired or wrong-audience tokens with this).
    pub fn sign(&self, claims: &Claims) -> Result<String, String> {
        let mut header = Header::new(self.alg);
        header.kid = self.kid.clone();
        jsonwebtoken::encode(&header, claims, &self.key).map_err(|e| format!("signing failed: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef-test";

    fn auth() -> Authenticator {
        let mut cfg = AuthConfig::default();
        cfg.jwt_keys.push(JwtKeyConfig {
            kid: None,
            algorithm: "HS256".into(),
            secret_env: Some("T_SECRET".into()),
            secret_file: None,
            public_key_file: None,
            public_key_env: None,
            private_key_file: None,
        });
        Authenticator::from_config(&cfg, &|k| (k == "T_SECRET").then(|| SECRET.to_string())).unwrap()
    }

    fn issuer() -> TokenIssuer {
        TokenIssuer::hs256("complaint-gateway", "complaint-gateway", None, SECRET.as_bytes()).unwrap()
    }

    #[test]
    fn a_good_token_yields_its_claims() {
        let t = issuer()
            .issue("h-0571-01", &[Role::Handler], &["0571".into()], 60)
            .unwrap();
        let p = auth().verify_token(&t).unwrap();
        assert_eq!(p.subject, "h-0571-01");
        assert_eq!(p.roles.into_iter().collect::<Vec<_>>(), vec![Role::Handler]);
        assert_eq!(p.regions.into_iter().collect::<Vec<_>>(), vec!["0571".to_string()]);
    }

    #[test]
    fn each_failure_says_why() {
        let a = auth();
        let now = jsonwebtoken::get_current_timestamp();
        let base = Claims {
            sub: "h1".into(),
            iss: "complaint-gateway".into(),
            aud: "complaint-gateway".into(),
            exp: now + 60,
            nbf: None,
            iat: None,
            roles: vec!["handler".into()],
            regions: vec![],
            name: None,
        };
        let sign = |c: &Claims| issuer().sign(c).unwrap();
        assert_eq!(
            a.verify_token(&sign(&Claims {
                exp: now - 120,
                ..base.clone()
            })),
            Err(AuthError::Expired)
        );
        assert_eq!(
            a.verify_token(&sign(&Claims {
                nbf: Some(now + 3600),
                ..base.clone()
            })),
            Err(AuthError::NotYetValid)
        );
        assert!(matches!(
            a.verify_token(&sign(&Claims {
                aud: "other".into(),
                ..base.clone()
            })),
            Err(AuthError::WrongAudience(_))
        ));
        assert!(matches!(
            a.verify_token(&sign(&Claims {
                iss: "evil".into(),
                ..base.clone()
            })),
            Err(AuthError::WrongIssuer(_))
        ));
        let other = TokenIssuer::hs256(
            "complaint-gateway",
            "complaint-gateway",
            None,
            b"another-secret-of-at-least-32-bytes!!",
        )
        .unwrap();
        assert_eq!(
            a.verify_token(&other.sign(&base).unwrap()),
            Err(AuthError::BadSignature)
        );
        assert!(matches!(
            a.verify_token(&sign(&Claims { roles: vec!["god".into()], ..base.clone() })),
            Err(AuthError::BadClaim(m)) if m.contains("god")
        ));
        assert!(matches!(a.verify_token("not-a-jwt"), Err(AuthError::Malformed(_))));
        assert_eq!(a.verify_token(""), Err(AuthError::Missing));
    }

    #[test]
    fn a_verified_token_is_remembered_until_it_expires_and_only_that_very_token() {
        let a = auth();
        let t = issuer()
            .issue("h-0571-01", &[Role::Handler], &["0571".into()], 60)
            .unwrap();
        let first = a.verify_token(&t).unwrap();
        let now = unix_now();
        // Remembered: the second call is answered from the cache, with the same principal.
        assert_eq!(a.verified.get(&t, now, 0), Some(first.clone()));
        assert_eq!(a.verify_token(&t).unwrap(), first);
        // Past its `exp` (and the leeway) it is forgotten: the next call goes through the full check.
        assert_eq!(a.verified.get(&t, now + 61 + a.leeway, a.leeway), None);
        assert_eq!(a.verified.tokens.get(t.as_str()), None);
        // A token that differs from a remembered one in its signature is checked, not taken from the cache.
        let a = auth();
        a.verify_token(&t).unwrap();
        let at = t.len() - 10; // inside the signature, away from base64's padding bits
        let swap = if &t[at..=at] == "A" { "B" } else { "A" };
        let forged = format!("{}{swap}{}", &t[..at], &t[at + 1..]);
        assert!(a.verify_token(&forged).is_err());
        // A refused token is not remembered.
        assert_eq!(a.verified.tokens.get(forged.as_str()), None);
        // Another gateway configuration (other keys) starts with nothing remembered.
        let other = Authenticator::from_config(&AuthConfig::default(), &|_| None).unwrap();
        assert!(other.verify_token(&t).is_err());
    }

    #[test]
    fn api_keys_are_found_by_hash_only() {
        let (key, hash) = new_api_key();
        assert!(key.starts_with("cgw_") && key.len() == 47, "{key}");
        let mut cfg = AuthConfig::default();
        cfg.api_keys.push(super::super::config::ApiKeyConfig {
            id: "ivr".into(),
            sha256: hash,
            subject: "svc-ivr".into(),
            roles: vec!["service".into()],
            regions: vec![],
        });
        let a = Authenticator::from_config(&cfg, &|_| None).unwrap();
        assert_eq!(a.verify_api_key(&key).unwrap().subject, "svc-ivr");
        assert_eq!(a.verify_api_key("cgw_guess"), Err(AuthError::UnknownApiKey));
        // The error text never carries the key.
        assert!(!AuthError::UnknownApiKey.to_string().contains("cgw_"));
    }
}
