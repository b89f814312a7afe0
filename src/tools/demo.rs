//! The demo's identities: a signing key in the data folder, handlers in each demo city, a handler of two
//! cities, a manager, an auditor and an admin, with operator IDs in each backend system. Also the helpers
//! tests use to pick a seeded subscriber of a given city.
use crate::identity::authz::Role;
use crate::identity::config::{AuthConfig, JwtKeyConfig};
use crate::identity::directory::{Directory, DirectoryError, IdentityFields};
use crate::store::Store;
use crate::tools::seed::{self, SeedOptions, SeedValue};
use std::path::{Path, PathBuf};

/// The key id of the demo signing key.
pub const DEMO_KID: &str = "demo";

/// One demo identity: id, display name, roles, regions, and operator IDs as (system, city, id).
pub struct DemoIdentity {
    pub id: &'static str,
    pub name: &'static str,
    pub roles: &'static [Role],
    pub regions: &'static [&'static str],
    pub operator_ids: &'static [(&'static str, &'static str, &'static str)],
}

/// The demo identities (cities from `seed::CITIES`).
pub const IDENTITIES: &[DemoIdentity] = &[
    DemoIdentity {
        id: "h-hz-01",
        name: "杭州 handler",
        roles: &[Role::Handler],
        regions: &["0571"],
        operator_ids: &[
            ("billing", "", "JF0571001"),
            ("crm", "", "HZ-E1001"),
            ("resource", "", "ZY0571-01"),
        ],
    },
    DemoIdentity {
        id: "h-nb-01",
        name: "宁波 handler",
        roles: &[Role::Handler],
        regions: &["0574"],
        operator_ids: &[
            ("billing", "", "JF0574001"),
            ("crm", "", "NB-E2001"),
            ("resource", "", "ZY0574-01"),
        ],
    },
    DemoIdentity {
        id: "h-wz-01",
        name: "温州 handler",
        roles: &[Role::Handler],
        regions: &["0577"],
        operator_ids: &[("billing", "", "JF0577001"), ("crm", "", "WZ-E3001")],
    },
    DemoIdentity {
        id: "h-jh-01",
        name: "金华 handler",
        roles: &[Role::Handler],
        regions: &["0579"],
        operator_ids: &[("billing", "", "JF0579001"), ("crm", "", "JH-E4001")],
    },
    DemoIdentity {
        id: "h-hznb-01",
        name: "杭州+宁波 handler (per-city billing IDs)",
        roles: &[Role::Handler],
        regions: &["0571", "0574"],
        operator_ids: &[
            ("billing", "0571", "JF0571077"),
            ("billing", "0574", "JF0574077"),
            ("crm", "", "ZJ-E9077"),
        ],
    },
    DemoIdentity {
        id: "m-hz-01",
        name: "杭州 manager",
        roles: &[Role::Manager],
        regions: &["0571"],
        operator_ids: &[("billing", "", "JF0571900"), ("crm", "", "HZ-M0001")],
    },
    DemoIdentity {
        id: "auditor-01",
        name: "auditor",
        roles: &[Role::Auditor],
        regions: &[],
        operator_ids: &[],
    },
    DemoIdentity {
        id: "admin-01",
        name: "admin",
        roles: &[Role::Admin],
        regions: &[],
        operator_ids: &[],
    },
];

/// The file name of the demo's signing key, in the data folder.
pub const KEY_FILE: &str = "demo-jwt-hs256.key";

/// Creates the demo signing key in `data_dir` on the first run (readable by its owner only) and returns
/// its path.
pub fn prepare_key(data_dir: &Path) -> std::io::Result<PathBuf> {
    let key_file = data_dir.join(KEY_FILE);
    if !key_file.exists() {
        write_private(&key_file, &crate::identity::auth::new_hs256_secret())?;
    }
    Ok(key_file)
}

/// The `[auth]` section that trusts the demo key at `key_file` (as the config names it).
pub fn auth_config(key_file: &Path) -> AuthConfig {
    // The demo prints tokens for its registered identities, and `complaint-gateway token` makes more for
    // trying things out: unregistered subjects are served (as their tokens claim) in the demo only.
    let mut auth = AuthConfig {
        require_registered: false,
        ..AuthConfig::default()
    };
    auth.jwt_keys.push(JwtKeyConfig {
        kid: Some(DEMO_KID.into()),
        algorithm: "HS256".into(),
        secret_env: None,
        secret_file: Some(key_file.to_path_buf()),
        public_key_file: None,
        public_key_env: None,
        private_key_file: None,
    });
    auth
}

/// Writes a file readable by its owner only.
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(text.as_bytes())?;
    f.write_all(b"\n")
}

/// Registers (or refreshes) the demo identities and their operator IDs.
pub async fn register(store: &Store) -> Result<(), DirectoryError> {
    let dir = Directory::new(store.clone());
    for d in IDENTITIES {
        let fields = IdentityFields {
            display_name: d.name.to_string(),
            roles: d.roles.iter().copied().collect(),
            regions: d.regions.iter().map(|r| r.to_string()).collect(),
            disabled: false,
        };
        match dir.create(d.id, &fields).await {
            Ok(_) => {}
            Err(DirectoryError::AlreadyExists(_)) => {
                dir.update(d.id, &fields).await?;
            }
            Err(e) => return Err(e),
        }
        for (system, city, op) in d.operator_ids {
            dir.set_operator_id(d.id, system, city, op).await?;
        }
    }
    Ok(())
}

/// The city code of seeded subscriber `i` (the generator picks it first, so it does not depend on the
/// as-of date).
pub fn city_of(i: u64) -> String {
    let opts = SeedOptions::new(i + 1, chrono::NaiveDate::from_ymd_opt(2026, 11, 28).expect("valid"));
    let mut b = seed::Batch::default();
    seed::subscriber_rows(&opts, i, &mut b);
    b.crm
        .iter()
        .find(|t| t.table == "customers")
        .and_then(|t| {
            let col = t.columns.iter().position(|c| *c == "city_code")?;
            match t.rows.first()?.get(col)? {
                SeedValue::Text(Some(c)) => Some(c.clone()),
                _ => None,
            }
        })
        .unwrap_or_default()
}

/// The first seeded subscriber index below `limit` in `city`, skipping `skip` matches.
pub fn subscriber_in(city: &str, limit: u64, skip: usize) -> Option<u64> {
    (0..limit).filter(|i| city_of(*i) == city).nth(skip)
}

/// The demo handler of exactly one city, `city`.
pub fn handler_of(city: &str) -> Option<&'static DemoIdentity> {
    IDENTITIES
        .iter()
        .find(|d| d.roles == [Role::Handler] && d.regions == [city])
}

/// A token for one city's handler.
#[derive(Clone)]
pub struct CityToken {
    pub city: &'static str,
    pub city_name: &'static str,
    pub subject: &'static str,
    pub token: String,
}

impl CityToken {
    /// The shell variable the demo prints it as: `TOKEN_0571`.
    pub fn var(&self) -> String {
        format!("TOKEN_{}", self.city)
    }
}

/// A token, valid `ttl_secs`, for the handler of each demo city, signed with the first key of `auth`
/// (the demo key), carrying the regions the handler is registered with, so the server narrows nothing.
pub fn city_tokens(
    auth: &AuthConfig,
    env: &dyn Fn(&str) -> Option<String>,
    ttl_secs: u64,
) -> Result<Vec<CityToken>, String> {
    let issuer = crate::identity::auth::TokenIssuer::from_config(auth, 0, env)?;
    let mut out = Vec::new();
    for (city, name, _) in seed::CITIES {
        let h = handler_of(city).ok_or_else(|| format!("no demo handler of {city}"))?;
        let regions: Vec<String> = h.regions.iter().map(|r| r.to_string()).collect();
        out.push(CityToken {
            city,
            city_name: name,
            subject: h.id,
            token: issuer.issue(h.id, h.roles, &regions, ttl_secs)?,
        });
    }
    Ok(out)
}

/// The city name of a city code (`杭州` for `0571`).
pub fn city_name(code: &str) -> &'static str {
    seed::CITIES
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|(_, n, _)| *n)
        .unwrap_or("?")
}

/// What the demo prints once it listens: where its files are, the identities, one token per city,
/// ready-to-run calls, and each seeded situation's number with its city and the token that reads it.
#[derive(Clone)]
pub struct Banner {
    pub config_path: PathBuf,
    pub key_file: PathBuf,
    /// Which adapters and scenarios the demo serves (`the embedded adapters`, a folder).
    pub adapters: String,
    pub scenarios: String,
    pub tokens: Vec<CityToken>,
    /// Seeded subscribers: (situation, number, city code), one per situation.
    pub examples: Vec<(seed::Situation, String, String)>,
}

impl Banner {
    /// The lines to print for a server listening on `addr`, with its web console on `console`.
    pub fn lines(&self, addr: std::net::SocketAddr, console: Option<std::net::SocketAddr>) -> Vec<String> {
        let var = |city: &str| format!("$TOKEN_{city}");
        let mut out = vec![format!("complaint-gateway demo listening on {addr}")];
        if let Some(c) = console {
            out.push(format!(
                "web console: http://{c}/  (sign in as any identity below: the sign-in page lists them)"
            ));
        }
        out.extend([
            format!("configuration: {}", self.config_path.display()),
            format!(
                "  (serve it again with: complaint-gateway serve --config {})",
                self.config_path.display()
            ),
            format!("adapters: {}; scenarios: {}", self.adapters, self.scenarios),
            String::new(),
            format!("Identities (signing key {}):", self.key_file.display()),
        ]);
        for d in IDENTITIES {
            out.push(format!(
                "  {:<10} {:<8} {:<10} {}",
                d.id,
                d.roles.iter().map(|r| r.name()).collect::<Vec<_>>().join(","),
                if d.regions.is_empty() {
                    "-".to_string()
                } else {
                    d.regions.join(",")
                },
                d.name
            ));
        }
        out.push(String::new());
        out.push("Tokens, one per city (a handler reads only subscribers of their own cities), valid 8 hours:".into());
        for t in &self.tokens {
            out.push(format!(
                "  export {}={}   # {}: handler, {} {}",
                t.var(),
                t.token,
                t.subject,
                t.city,
                t.city_name
            ));
        }
        out.push(format!(
            "Tokens for the others: complaint-gateway token --config {} --subject m-hz-01",
            self.config_path.display()
        ));
        let first = self
            .examples
            .iter()
            .find(|(s, _, _)| *s != seed::Situation::Normal)
            .or(self.examples.first());
        if let Some((_, number, city)) = first {
            out.push(String::new());
            out.push("Try (grpcurl, or buf from npm):".into());
            let h = format!("-H \"authorization: Bearer {}\"", var(city));
            out.push(format!(
                "  grpcurl -plaintext {h} -d '{{\"msisdn\":\"{number}\"}}' {addr} complaint.v1.ComplaintDataService/GetSubscriberView"
            ));
            out.push(format!(
                "  npx buf curl --protocol grpc --http2-prior-knowledge {h} -d '{{\"msisdn\":\"{number}\"}}' http://{addr}/complaint.v1.ComplaintDataService/GetSubscriberView"
            ));
        }
        if let Some((_, number, city)) = self
            .examples
            .iter()
            .find(|(s, _, _)| *s == seed::Situation::PaidStillSuspended)
        {
            out.push(format!(
                "  grpcurl -plaintext -H \"authorization: Bearer {}\" -d '{{\"msisdn\":\"{number}\",\"text\":\"我已经交了钱为什么还停机\"}}' {addr} complaint.v1.DiagnosisService/Diagnose",
                var(city)
            ));
        }
        out.push(String::new());
        out.push("Seeded subscribers by situation: the number, its city, and the token that reads it:".into());
        for (s, number, city) in &self.examples {
            out.push(format!(
                "  {number}  {city} {}  {:<12} {:<26} {}",
                city_name(city),
                var(city),
                s.name(),
                s.describe()
            ));
        }
        out.push(
            "Any of them works in the calls above: put the number in \"msisdn\" and use the token of its city.".into(),
        );
        out.push(String::new());
        out.push("Ctrl-C stops the server.".into());
        out
    }
}

/// One seeded subscriber per situation (as [`seed::examples`]) with its city code.
pub fn examples_with_cities(subscribers: u64) -> Vec<(seed::Situation, String, String)> {
    seed::SITUATIONS
        .iter()
        .filter(|s| s.first_index() < subscribers)
        .map(|s| (*s, seed::msisdn(s.first_index()), city_of(s.first_index())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cities_are_the_seeded_ones_and_every_city_has_subscribers() {
        for (code, _, _) in seed::CITIES {
            assert!(
                subscriber_in(code, 40, 0).is_some(),
                "no subscriber of {code} among the first 40"
            );
        }
        assert!(seed::CITIES.iter().any(|(c, _, _)| *c == city_of(0)));
    }

    #[test]
    fn demo_identities_are_valid() {
        for d in IDENTITIES {
            crate::identity::validate_subject(d.id).unwrap();
            for r in d.regions {
                assert!(seed::CITIES.iter().any(|(c, _, _)| c == r), "{r}");
            }
        }
        assert!(IDENTITIES.iter().any(|d| d.roles.contains(&Role::Manager)));
        // Every city the seed uses has a handler of its own, so the demo can print a token per city.
        for (code, _, _) in seed::CITIES {
            assert_eq!(handler_of(code).map(|h| h.regions), Some(&[code][..]), "{code}");
        }
        assert!(IDENTITIES.iter().any(|d| d.roles.contains(&Role::Auditor)));
    }
}
