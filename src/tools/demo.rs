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

/// The demo's signing key file and store in `data_dir`.
pub struct DemoSetup {
    pub key_file: PathBuf,
    pub store_url: String,
    pub auth: AuthConfig,
}

/// Creates (first run) or reuses the demo signing key in `data_dir` and returns the `[auth]` section that
/// trusts it and the store URL.
pub fn prepare(data_dir: &Path) -> std::io::Result<DemoSetup> {
    let key_file = data_dir.join("demo-jwt-hs256.key");
    if !key_file.exists() {
        write_private(&key_file, &crate::identity::auth::new_hs256_secret())?;
    }
    let mut auth = AuthConfig::default();
    auth.jwt_keys.push(JwtKeyConfig {
        kid: Some(DEMO_KID.into()),
        algorithm: "HS256".into(),
        secret_env: None,
        secret_file: Some(key_file.clone()),
        public_key_file: None,
        public_key_env: None,
        private_key_file: None,
    });
    Ok(DemoSetup {
        store_url: format!("sqlite://{}", data_dir.join("gateway.db").display()),
        key_file,
        auth,
    })
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

/// What the demo prints about identities once it listens.
pub struct DemoBanner {
    /// The handler the ready-made token is for.
    pub subject: &'static str,
    pub city: &'static str,
    pub token: String,
    /// The config file written for `complaint-gateway token` and `serve`.
    pub config_path: PathBuf,
    pub key_file: PathBuf,
}

impl DemoBanner {
    /// Lines to print: the identities, the token and how to pass it.
    pub fn lines(&self, addr: std::net::SocketAddr, msisdn: &str) -> Vec<String> {
        let mut out = vec![format!("Identities (signing key {}):", self.key_file.display())];
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
        out.push(format!(
            "A token for {} (handler, {}), valid 8 hours:",
            self.subject, self.city
        ));
        out.push(format!("  export TOKEN={}", self.token));
        out.push(String::new());
        out.push("Try (buf from npm, or grpcurl):".into());
        out.push(format!(
            "  npx buf curl --protocol grpc --http2-prior-knowledge -H \"authorization: Bearer $TOKEN\" -d '{{\"msisdn\":\"{msisdn}\"}}' http://{addr}/complaint.v1.ComplaintDataService/GetSubscriberView"
        ));
        out.push(format!(
            "  grpcurl -plaintext -H \"authorization: Bearer $TOKEN\" -d '{{\"msisdn\":\"{msisdn}\"}}' {addr} complaint.v1.ComplaintDataService/GetSubscriberView"
        ));
        out.push(format!(
            "Tokens for the others: complaint-gateway token --config {} --subject m-hz-01",
            self.config_path.display()
        ));
        out
    }
}

/// Sets up the demo's identity side on `cfg`: the signing key and store in `data_dir`, the identities
/// registered, a config file for `complaint-gateway token`, and a handler's token.
pub async fn setup(cfg: &mut crate::config::Config, data_dir: &Path) -> anyhow::Result<DemoBanner> {
    let d = prepare(data_dir)?;
    cfg.auth = d.auth.clone();
    cfg.store.url = d.store_url.clone();
    let store = Store::connect(&d.store_url, 2).await?;
    register(&store).await?;
    store.close().await;
    let config_path = data_dir.join("gateway.toml");
    let text = format!(
        "## Written by `complaint-gateway demo`: the demo's sources, signing key and store.\n{}",
        toml::to_string_pretty(&*cfg)?
    );
    write_private(&config_path, &text)?;
    let secret = std::fs::read_to_string(&d.key_file)?;
    let issuer = crate::identity::auth::TokenIssuer::hs256(
        &cfg.auth.issuer,
        &cfg.auth.audience,
        Some(DEMO_KID),
        secret.trim().as_bytes(),
    )
    .map_err(anyhow::Error::msg)?;
    let h = &IDENTITIES[0];
    let regions: Vec<String> = h.regions.iter().map(|r| r.to_string()).collect();
    let token = issuer
        .issue(h.id, h.roles, &regions, 8 * 3600)
        .map_err(anyhow::Error::msg)?;
    Ok(DemoBanner {
        subject: h.id,
        city: h.regions[0],
        token,
        config_path,
        key_file: d.key_file,
    })
}

/// The first example subscriber (by situation) in `city`, for the demo's ready-to-run command.
pub fn example_in(city: &str, subscribers: u64) -> Option<String> {
    seed::SITUATIONS
        .iter()
        .map(|s| s.first_index())
        .filter(|i| *i < subscribers)
        .find(|i| city_of(*i) == city)
        .or_else(|| subscriber_in(city, subscribers.min(400), 0))
        .map(seed::msisdn)
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
        assert!(IDENTITIES.iter().any(|d| d.roles.contains(&Role::Auditor)));
    }
}
