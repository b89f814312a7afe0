//! `complaint-gateway identities …`, `token` and `new-api-key`, run as a user would.
use complaint_gateway::config::Config;
use complaint_gateway::identity::audit::{AuditFilter, AuditLog};
use complaint_gateway::identity::auth::{sha256, Authenticator};
use complaint_gateway::identity::Role;
use complaint_gateway::store::Store;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_complaint-gateway"))
        .args(args)
        .env_remove("CGW_STORE_URL")
        .output()
        .expect("the binary runs")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[tokio::test]
async fn identities_and_tokens_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("jwt.key");
    std::fs::write(&secret, "cli-test-secret-that-is-long-enough-0123456789\n").unwrap();
    let store = format!("sqlite://{}", dir.path().join("gateway.db").display());
    let cfg_path = dir.path().join("gateway.toml");
    std::fs::write(
        &cfg_path,
        format!(
            "[store]\nurl = \"{store}\"\n[[auth.jwt_keys]]\nkid = \"k1\"\nalgorithm = \"HS256\"\nsecret_file = \"jwt.key\"\n"
        ),
    )
    .unwrap();
    let c = cfg_path.to_str().unwrap();

    let o = run(&[
        "identities",
        "--config",
        c,
        "add",
        "h-1",
        "--name",
        "王芳",
        "--roles",
        "handler",
        "--regions",
        "0571,0574",
    ]);
    assert!(o.status.success(), "{:?}", text(&o));
    let o = run(&[
        "identities",
        "--config",
        c,
        "set-operator-id",
        "h-1",
        "billing",
        "JF0571001",
        "--city",
        "0571",
    ]);
    assert!(o.status.success(), "{:?}", text(&o));
    let o = run(&["identities", "--config", c, "show", "h-1"]);
    let (out, _) = text(&o);
    assert!(out.contains("h-1  王芳  roles=handler  regions=0571,0574"), "{out}");
    assert!(
        out.contains("billing") && out.contains("0571") && out.contains("JF0571001"),
        "{out}"
    );

    // Bad input is refused naming what is wrong, and nothing is written.
    let o = run(&[
        "identities",
        "--config",
        c,
        "add",
        "x'; DROP TABLE identities;--",
        "--roles",
        "handler",
    ]);
    assert!(!o.status.success());
    assert!(text(&o).1.contains("id:"), "{:?}", text(&o));
    let o = run(&["identities", "--config", c, "add", "h-2", "--roles", "root"]);
    assert!(
        !o.status.success() && text(&o).1.contains("unknown role `root`"),
        "{:?}",
        text(&o)
    );

    // A token with the registered roles and regions, verified by the same config's key.
    let o = run(&["token", "--config", c, "--subject", "h-1", "--ttl-secs", "600"]);
    assert!(o.status.success(), "{:?}", text(&o));
    let token = text(&o).0.trim().to_string();
    let cfg = Config::load(&cfg_path).unwrap();
    let p = Authenticator::from_config(&cfg.auth, &|_| None)
        .unwrap()
        .verify_token(&token)
        .unwrap();
    assert_eq!(p.subject, "h-1");
    assert_eq!(p.roles.into_iter().collect::<Vec<_>>(), vec![Role::Handler]);
    assert_eq!(p.regions.into_iter().collect::<Vec<_>>(), vec!["0571", "0574"]);
    // Explicit roles for an unregistered subject; none for an unknown one.
    let o = run(&["token", "--config", c, "--subject", "svc-x", "--roles", "service"]);
    assert!(o.status.success(), "{:?}", text(&o));
    let o = run(&["token", "--config", c, "--subject", "ghost"]);
    assert!(
        !o.status.success() && text(&o).1.contains("`ghost` is not registered"),
        "{:?}",
        text(&o)
    );
    // Disabled: no more tokens.
    let o = run(&["identities", "--config", c, "update", "h-1", "--disable"]);
    assert!(o.status.success() && text(&o).0.contains("DISABLED"), "{:?}", text(&o));
    let o = run(&["token", "--config", c, "--subject", "h-1"]);
    assert!(!o.status.success() && text(&o).1.contains("disabled"), "{:?}", text(&o));

    // The changes are on the audit trail, with the operating-system user as the caller.
    let s = Store::connect(&store, 1).await.unwrap();
    let (events, _) = AuditLog::start(s.clone(), 4)
        .list(&AuditFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        vec![
            "cli/identities update",
            "cli/identities set-operator-id",
            "cli/identities add"
        ]
    );
    assert!(events.iter().all(|e| e.caller.starts_with("cli:")));
    assert_eq!(events[1].sources, vec!["billing"]);

    // A new API key and the hash the config needs.
    let o = run(&["new-api-key"]);
    let (out, _) = text(&o);
    let key = out.lines().next().unwrap().rsplit(' ').next().unwrap().to_string();
    let hash = out
        .lines()
        .find(|l| l.starts_with("sha256 = "))
        .unwrap()
        .trim_start_matches("sha256 = ")
        .trim_matches('"');
    assert!(key.starts_with("cgw_"));
    assert_eq!(hash, hex::encode(sha256(key.as_bytes())));
}
