//! `complaint-gateway token`, `complaint-gateway identities …` and `complaint-gateway new-api-key`: issuing
//! tokens and managing identities and operator IDs from the command line. Changes made here are audited
//! like the admin RPCs, with the operating-system user as the caller.
use crate::config::Config;
use crate::identity::audit::{AuditEvent, AuditLog, Outcome};
use crate::identity::auth::TokenIssuer;
use crate::identity::authz::{parse_regions, parse_roles, Role};
use crate::identity::directory::{Directory, IdentityFields, StoredIdentity};
use crate::identity::{validate_operator_id, validate_subject};
use crate::store::Store;
use clap::{Args, Subcommand};

/// `complaint-gateway token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The gateway configuration whose `[auth]` key signs the token.
    #[arg(long, short)]
    pub config: std::path::PathBuf,
    /// The identity the token is for.
    #[arg(long)]
    pub subject: String,
    /// Roles, comma-separated; default: the registered identity's roles.
    #[arg(long, value_delimiter = ',')]
    pub roles: Vec<String>,
    /// City codes, comma-separated; default: the registered identity's regions.
    #[arg(long, value_delimiter = ',')]
    pub regions: Vec<String>,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 8 * 3600)]
    pub ttl_secs: u64,
    /// The `[[auth.jwt_keys]]` entry that signs, by `kid` or index; default: the first.
    #[arg(long)]
    pub key: Option<String>,
}

/// `complaint-gateway identities`.
#[derive(Debug, Args)]
pub struct IdentitiesArgs {
    /// The gateway configuration (its `[store]` and `[[sources]]`).
    #[arg(long, short)]
    pub config: std::path::PathBuf,
    #[command(subcommand)]
    pub action: IdentitiesAction,
}

/// What to do with identities.
#[derive(Debug, Subcommand)]
pub enum IdentitiesAction {
    /// List registered identities with their operator IDs.
    List,
    /// Show one identity.
    Show { id: String },
    /// Register an identity.
    Add {
        id: String,
        #[arg(long, default_value = "")]
        name: String,
        /// Comma-separated: handler, analyst, manager, auditor, admin, service.
        #[arg(long, value_delimiter = ',', required = true)]
        roles: Vec<String>,
        /// Comma-separated city codes.
        #[arg(long, value_delimiter = ',')]
        regions: Vec<String>,
    },
    /// Change an identity's name, roles or regions, or disable / enable it.
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long, value_delimiter = ',')]
        roles: Option<Vec<String>>,
        #[arg(long, value_delimiter = ',')]
        regions: Option<Vec<String>>,
        #[arg(long, conflicts_with = "enable")]
        disable: bool,
        #[arg(long)]
        enable: bool,
    },
    /// Set an identity's operator ID in a backend system (for one city with --city).
    SetOperatorId {
        id: String,
        system: String,
        operator_id: String,
        #[arg(long, default_value = "")]
        city: String,
    },
    /// Remove an operator ID.
    DeleteOperatorId {
        id: String,
        system: String,
        #[arg(long, default_value = "")]
        city: String,
    },
}

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok()
}

fn key_index(cfg: &Config, key: Option<&str>) -> anyhow::Result<usize> {
    match key {
        None => Ok(0),
        Some(k) => {
            if let Some(i) = cfg.auth.jwt_keys.iter().position(|j| j.kid.as_deref() == Some(k)) {
                return Ok(i);
            }
            k.parse::<usize>()
                .map_err(|_| anyhow::anyhow!("no `[[auth.jwt_keys]]` entry with kid `{k}`"))
        }
    }
}

/// Issues a token; prints it on stdout, and on stderr what it carries and what the server will make of
/// it: a registered identity caps the token's roles and regions to its own (see `identity::layer`), so
/// the token is narrowed, or refused when the identity is disabled or, with `require_registered`, unknown.
pub async fn token(args: TokenArgs) -> anyhow::Result<()> {
    let cfg = Config::load(&args.config)?;
    validate_subject(&args.subject).map_err(|m| anyhow::anyhow!("--subject: {m}"))?;
    let issuer =
        TokenIssuer::from_config(&cfg.auth, key_index(&cfg, args.key.as_deref())?, &env).map_err(anyhow::Error::msg)?;
    let registered = registered(&cfg, &args.subject).await?;
    let (roles, regions): (Vec<Role>, Vec<String>) = if args.roles.is_empty() {
        let found = match &registered {
            Lookup::Found(found) => found,
            _ => anyhow::bail!(
                "`{}` is not registered; give --roles (and --regions) or register it with `identities add`",
                args.subject
            ),
        };
        if found.disabled {
            anyhow::bail!("`{}` is disabled", args.subject);
        }
        let regions = if args.regions.is_empty() {
            found.regions.iter().cloned().collect()
        } else {
            parse_regions(&args.regions)
                .map_err(|m| anyhow::anyhow!("--regions: {m}"))?
                .into_iter()
                .collect()
        };
        (found.roles.iter().copied().collect(), regions)
    } else {
        (
            parse_roles(&args.roles)
                .map_err(|m| anyhow::anyhow!("--roles: {m}"))?
                .into_iter()
                .collect(),
            parse_regions(&args.regions)
                .map_err(|m| anyhow::anyhow!("--regions: {m}"))?
                .into_iter()
                .collect::<Vec<String>>(),
        )
    };
    let t = issuer
        .issue(&args.subject, &roles, &regions, args.ttl_secs)
        .map_err(anyhow::Error::msg)?;
    println!("{t}");
    eprintln!(
        "token for {} (roles: {}; regions: {}), valid {} s. Send it as `authorization: Bearer <token>`.",
        args.subject,
        names(roles.iter().map(|r| r.name())),
        names(regions.iter().map(String::as_str)),
        args.ttl_secs
    );
    if let Some(note) = narrowing(
        &args.subject,
        &roles,
        &regions,
        &registered,
        cfg.auth.require_registered,
    ) {
        eprintln!("{note}");
    }
    Ok(())
}

/// What the store says of an identity.
enum Lookup {
    Found(StoredIdentity),
    NotRegistered,
    /// The store was not consulted (why).
    Unknown(String),
}

/// Looks `subject` up in the store without creating it: a SQLite store that does not exist yet holds
/// nobody.
async fn registered(cfg: &Config, subject: &str) -> anyhow::Result<Lookup> {
    if let Some(f) = crate::config::load::sqlite_file(&cfg.store.url) {
        if !f.is_file() {
            return Ok(Lookup::NotRegistered);
        }
    }
    let store = match Store::open(&cfg.store).await {
        Ok(s) => s,
        Err(e) => return Ok(Lookup::Unknown(e.to_string())),
    };
    let found = Directory::new(store.clone()).get(subject).await;
    store.close().await;
    Ok(match found? {
        Some(f) => Lookup::Found(f),
        None => Lookup::NotRegistered,
    })
}

/// The note `token` prints when the server will not take the token as issued: the registered identity's
/// roles and regions cap the token's (their intersection is what the server uses), a disabled identity
/// is refused, and with `require_registered` so is an unknown one.
fn narrowing(
    subject: &str,
    roles: &[Role],
    regions: &[String],
    registered: &Lookup,
    require_registered: bool,
) -> Option<String> {
    match registered {
        Lookup::Found(r) if r.disabled => Some(format!(
            "note: `{subject}` is disabled in the store: the server refuses this token"
        )),
        Lookup::Found(r) => {
            let kept_roles: Vec<&str> = roles.iter().filter(|x| r.roles.contains(x)).map(|x| x.name()).collect();
            let kept_regions: Vec<&str> = regions
                .iter()
                .filter(|x| r.regions.contains(*x))
                .map(String::as_str)
                .collect();
            if kept_roles.len() == roles.len() && kept_regions.len() == regions.len() {
                return None;
            }
            Some(format!(
                "note: `{subject}` is registered with roles {} and regions {}: the server narrows this token to roles {} and regions {}",
                names(r.roles.iter().map(|x| x.name())),
                names(r.regions.iter().map(String::as_str)),
                names(kept_roles.into_iter()),
                names(kept_regions.into_iter()),
            ))
        }
        Lookup::NotRegistered if require_registered => Some(format!(
            "note: `{subject}` is not registered and `auth.require_registered` is on: the server refuses this token until `identities add` registers it"
        )),
        Lookup::NotRegistered => None,
        Lookup::Unknown(why) => Some(format!(
            "note: could not look `{subject}` up in the store ({why}); if it is registered there, the server narrows this token to its roles and regions"
        )),
    }
}

/// Comma-separated, or `none`.
fn names<'a>(it: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<&str> = it.collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(",")
    }
}

/// Prints a new API key and its hash.
pub fn new_api_key() {
    let (key, hash) = crate::identity::auth::new_api_key();
    println!("API key (give it to the client; it is not stored): {key}");
    println!("\nAdd to the gateway config:\n");
    println!("[[auth.api_keys]]\nid = \"my-client\"\nsha256 = \"{hash}\"\nsubject = \"svc-my-client\"\nroles = [\"service\"]");
}

fn print(i: &StoredIdentity) {
    println!(
        "{}  {}  roles={}  regions={}{}",
        i.id,
        if i.display_name.is_empty() {
            "-"
        } else {
            &i.display_name
        },
        i.roles.iter().map(|r| r.name()).collect::<Vec<_>>().join(","),
        i.regions.iter().cloned().collect::<Vec<_>>().join(","),
        if i.disabled { "  DISABLED" } else { "" }
    );
    for o in &i.operator_ids {
        let city = if o.city.is_empty() { "every city" } else { &o.city };
        println!("    {:<10} {:<10} {}", o.system, city, o.operator_id);
    }
}

fn check_city(city: &str) -> anyhow::Result<()> {
    if !city.is_empty() {
        parse_regions(&[city]).map_err(|m| anyhow::anyhow!("--city: {m}"))?;
    }
    Ok(())
}

/// Runs an `identities` action against the configured store.
pub async fn identities(args: IdentitiesArgs) -> anyhow::Result<()> {
    let cfg = Config::load(&args.config)?;
    let store = Store::open(&cfg.store).await?;
    let dir = Directory::new(store.clone());
    let audit = AuditLog::start(store.clone(), 16);
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let record = |action: &str, detail: String, sources: Vec<String>| {
        let at_us = crate::store::now_us();
        AuditEvent {
            event_id: crate::identity::audit::new_event_id(at_us),
            at_us,
            caller: format!("cli:{}", crate::identity::clip(&user, 32)),
            auth_method: "cli".into(),
            roles: vec![],
            action: format!("cli/identities {action}"),
            msisdn: String::new(),
            region: String::new(),
            sources,
            purpose: String::new(),
            outcome: Outcome::Ok,
            detail,
            peer: String::new(),
        }
    };
    let result: anyhow::Result<()> = async {
        match args.action {
            IdentitiesAction::List => {
                let mut after = String::new();
                loop {
                    let page = dir.list(&after, 200).await?;
                    for i in &page {
                        print(i);
                    }
                    match page.last() {
                        Some(l) if page.len() == 200 => after = l.id.clone(),
                        _ => break,
                    }
                }
            }
            IdentitiesAction::Show { id } => {
                let i = dir
                    .get(&id)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("no identity `{id}`"))?;
                print(&i);
            }
            IdentitiesAction::Add {
                id,
                name,
                roles,
                regions,
            } => {
                validate_subject(&id).map_err(|m| anyhow::anyhow!("id: {m}"))?;
                let f = IdentityFields {
                    display_name: name,
                    roles: parse_roles(&roles).map_err(|m| anyhow::anyhow!("--roles: {m}"))?,
                    regions: parse_regions(&regions).map_err(|m| anyhow::anyhow!("--regions: {m}"))?,
                    disabled: false,
                };
                let i = dir.create(&id, &f).await?;
                audit.append(record("add", format!("identity {id}"), vec![])).await?;
                print(&i);
            }
            IdentitiesAction::Update {
                id,
                name,
                roles,
                regions,
                disable,
                enable,
            } => {
                let cur = dir
                    .get(&id)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("no identity `{id}`"))?;
                let f = IdentityFields {
                    display_name: name.unwrap_or(cur.display_name),
                    roles: match roles {
                        Some(r) => parse_roles(&r).map_err(|m| anyhow::anyhow!("--roles: {m}"))?,
                        None => cur.roles,
                    },
                    regions: match regions {
                        Some(r) => parse_regions(&r).map_err(|m| anyhow::anyhow!("--regions: {m}"))?,
                        None => cur.regions,
                    },
                    disabled: if disable {
                        true
                    } else if enable {
                        false
                    } else {
                        cur.disabled
                    },
                };
                let i = dir.update(&id, &f).await?;
                audit.append(record("update", format!("identity {id}"), vec![])).await?;
                print(&i);
            }
            IdentitiesAction::SetOperatorId {
                id,
                system,
                operator_id,
                city,
            } => {
                if !cfg.sources.is_empty() {
                    let names: Vec<String> = cfg
                        .sources
                        .iter()
                        .filter_map(|s| s.definition.file_name().map(|n| n.to_string_lossy().into_owned()))
                        .collect();
                    if !names.contains(&system) {
                        eprintln!(
                            "note: `{system}` is not one of the configured sources ({})",
                            names.join(", ")
                        );
                    }
                }
                check_city(&city)?;
                validate_operator_id(&operator_id).map_err(|m| anyhow::anyhow!("operator_id: {m}"))?;
                let i = dir.set_operator_id(&id, &system, &city, &operator_id).await?;
                audit
                    .append(record(
                        "set-operator-id",
                        format!("identity {id} city `{city}`"),
                        vec![system],
                    ))
                    .await?;
                print(&i);
            }
            IdentitiesAction::DeleteOperatorId { id, system, city } => {
                check_city(&city)?;
                let deleted = dir.delete_operator_id(&id, &system, &city).await?;
                audit
                    .append(record(
                        "delete-operator-id",
                        format!("identity {id} city `{city}`"),
                        vec![system],
                    ))
                    .await?;
                println!(
                    "{}",
                    if deleted {
                        "deleted"
                    } else {
                        "there was no such operator ID"
                    }
                );
            }
        }
        Ok(())
    }
    .await;
    drop(audit);
    store.close().await;
    result
}
