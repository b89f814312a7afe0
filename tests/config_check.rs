//! `complaint-gateway check-config`: prints the configuration in effect (the file, its relative paths
//! resolved against its folder, then the environment's overrides; passwords redacted) and fails, naming
//! it, on a missing secret, key file or SQLite file, or on every bad key at once.
use std::path::Path;
use std::process::Command;

const SECRET: &str = "a-test-secret-of-more-than-thirty-two-bytes";

/// `check-config --config CONFIG` in `cwd` with exactly the `CGW_*` variables given: (exit code, stdout,
/// stderr).
fn check_config(cwd: &Path, config: &Path, env: &[(&str, &str)]) -> (i32, String, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_complaint-gateway"));
    c.current_dir(cwd)
        .args(["check-config", "--config", config.to_str().unwrap()])
        .env("RUST_BACKTRACE", "0");
    for (k, _) in std::env::vars() {
        if k.starts_with("CGW_") {
            c.env_remove(k);
        }
    }
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The example configuration (as `config example` prints it) in a fresh folder, with three SQLite
/// files for its sources. Returns the folder, the config path and the `CGW_*` URL variables.
fn example_setup() -> (tempfile::TempDir, std::path::PathBuf, Vec<(String, String)>) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_complaint-gateway"))
        .args(["config", "example"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let config = dir.path().join("gateway.toml");
    std::fs::write(&config, &out.stdout).unwrap();
    let mut urls = Vec::new();
    for s in ["billing", "crm", "resource"] {
        let f = dir.path().join(format!("{s}.db"));
        std::fs::write(&f, b"").unwrap();
        urls.push((
            format!("CGW_{}_URL", s.to_uppercase()),
            format!("sqlite://{}", f.display()),
        ));
    }
    (dir, config, urls)
}

fn with<'a>(urls: &'a [(String, String)], more: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut v: Vec<(&str, &str)> = urls.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    v.extend_from_slice(more);
    v
}

#[test]
fn the_example_config_passes_with_its_secrets_and_files_in_place_and_says_the_store_is_created_later() {
    let (dir, config, urls) = example_setup();
    let (code, stdout, stderr) = check_config(dir.path(), &config, &with(&urls, &[("CGW_JWT_SECRET", SECRET)]));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("[[sources]]") && stdout.contains("definition = \"embedded:billing\""),
        "{stdout}"
    );
    assert!(!stdout.contains(SECRET), "the secret is never printed");
    assert!(
        stderr.contains(&format!(
            "note: key `store.url`: the SQLite file {} does not exist yet; the server creates it",
            dir.path().join("gateway.db").display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("ok: 3 source(s): billing (the embedded adapter `billing`)")
            && stderr.contains("scenarios: the embedded scenarios (30)"),
        "{stderr}"
    );
    assert!(!dir.path().join("gateway.db").exists(), "check-config creates nothing");
}

#[test]
fn a_missing_secret_fails_naming_the_variable() {
    let (dir, config, urls) = example_setup();
    let (code, _, stderr) = check_config(dir.path(), &config, &with(&urls, &[]));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("error: key `auth.jwt_keys[0].secret_env`: environment variable CGW_JWT_SECRET is not set"),
        "{stderr}"
    );
    assert!(stderr.contains("1 problem(s)"), "{stderr}");
}

#[test]
fn a_missing_key_file_and_a_short_secret_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gateway.toml");
    std::fs::write(
        &config,
        "[[auth.jwt_keys]]\nkid = \"a\"\nalgorithm = \"ES256\"\npublic_key_file = \"keys/idp.pem\"\n\
         [tls]\ncert_file = \"tls/server.pem\"\nkey_file = \"tls/server.key\"\n",
    )
    .unwrap();
    let (code, _, stderr) = check_config(dir.path(), &config, &[]);
    assert_eq!(code, 1);
    for (key, file) in [
        ("auth.jwt_keys[0].public_key_file", "keys/idp.pem"),
        ("tls.cert_file", "tls/server.pem"),
        ("tls.key_file", "tls/server.key"),
    ] {
        let expected = format!("error: key `{key}`: no file {}", dir.path().join(file).display());
        assert!(stderr.contains(&expected), "expected {expected} in\n{stderr}");
    }
    // A secret that is there but too short is caught once nothing is missing.
    std::fs::write(
        &config,
        "[[auth.jwt_keys]]\nalgorithm = \"HS256\"\nsecret_file = \"jwt.key\"\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("jwt.key"), "short\n").unwrap();
    let (code, _, stderr) = check_config(dir.path(), &config, &[]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("error: key `auth.jwt_keys[0]`: an HS256 secret must be at least 32 bytes"),
        "{stderr}"
    );
}

#[test]
fn a_missing_sqlite_file_fails_naming_it() {
    let (dir, config, mut urls) = example_setup();
    let missing = dir.path().join("nowhere/resource.db");
    urls[2].1 = format!("sqlite://{}", missing.display());
    let (code, _, stderr) = check_config(dir.path(), &config, &with(&urls, &[("CGW_JWT_SECRET", SECRET)]));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "error: key `sources[2].url`: the SQLite file {} does not exist (the source would answer UNAVAILABLE)",
            missing.display()
        )),
        "{stderr}"
    );
}

#[test]
fn a_sqlite_file_in_the_file_is_relative_to_the_file_not_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("conf");
    std::fs::create_dir(&conf).unwrap();
    let config = conf.join("gateway.toml");
    std::fs::write(
        &config,
        "[store]\nurl = \"sqlite://state/gw.db\"\n\
         [[sources]]\ndefinition = \"embedded:billing\"\nurl = \"sqlite://billing.db\"\n",
    )
    .unwrap();
    // Run from the parent folder: billing.db is looked for beside the config, not in the parent.
    std::fs::write(dir.path().join("billing.db"), b"").unwrap();
    let (code, stdout, stderr) = check_config(dir.path(), Path::new("conf/gateway.toml"), &[]);
    assert_eq!(code, 1);
    let expected = std::path::absolute(conf.join("billing.db")).unwrap();
    assert!(
        stderr.contains(&format!("the SQLite file {} does not exist", expected.display())),
        "{stderr}"
    );
    // The store's folder does not exist either: it could not be created at first start.
    assert!(
        stderr.contains("error: key `store.url`: the folder of the SQLite file") && stderr.contains("state/gw.db"),
        "{stderr}"
    );
    assert!(
        stdout.contains(&format!("url = \"sqlite://{}\"", expected.display())),
        "{stdout}"
    );
    std::fs::write(conf.join("billing.db"), b"").unwrap();
    std::fs::create_dir(conf.join("state")).unwrap();
    let (code, _, stderr) = check_config(dir.path(), Path::new("conf/gateway.toml"), &[]);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn environment_overrides_are_printed_as_in_effect_with_passwords_redacted() {
    let (dir, config, urls) = example_setup();
    let env = with(
        &urls,
        &[
            ("CGW_JWT_SECRET", SECRET),
            ("CGW_LISTEN", "127.0.0.1:5999"),
            ("CGW_LOG_FORMAT", "json"),
            ("CGW_SOURCE_BILLING_URL", "postgres://gw:s3cret-pw@billing-db:5432/bss"),
            ("CGW_STORE_URL", "postgres://gw:st0re-pw@store-db/gateway"),
        ],
    );
    let (code, stdout, stderr) = check_config(dir.path(), &config, &env);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("listen = \"127.0.0.1:5999\""), "{stdout}");
    assert!(stdout.contains("format = \"json\""), "{stdout}");
    assert!(
        stdout.contains("url = \"postgres://gw:***@billing-db:5432/bss\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("url = \"postgres://gw:***@store-db/gateway\""),
        "{stdout}"
    );
    assert!(!stdout.contains("s3cret-pw") && !stderr.contains("s3cret-pw") && !stdout.contains("st0re-pw"));
    for line in [
        "## `server.listen` from the environment variable CGW_LISTEN",
        "## `store.url` from the environment variable CGW_STORE_URL",
        "## `sources[0].url` from the environment variable CGW_SOURCE_BILLING_URL",
        "## `sources[1].url` from the environment variable CGW_CRM_URL",
    ] {
        assert!(stdout.contains(line), "{line} in\n{stdout}");
    }
    // A store on PostgreSQL: nothing to say about a SQLite file.
    assert!(!stderr.contains("store.url"), "{stderr}");
}

#[test]
fn every_bad_key_is_reported_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gateway.toml");
    std::fs::write(
        &config,
        "[server]\nrequest_timeout_ms = 0\n[log]\nformat = \"xml\"\n[cache]\nmax_size_mib = 0\n\
         [[sources]]\ndefinition = \"embedded:billing\"\ntimeout_ms = 0\nmax_connections = 0\n",
    )
    .unwrap();
    let (code, stdout, stderr) = check_config(dir.path(), &config, &[("CGW_METRICS_LISTEN", "nowhere")]);
    assert_eq!(code, 1);
    assert!(stdout.is_empty(), "{stdout}");
    for key in [
        "env CGW_METRICS_LISTEN: `nowhere` is not an address",
        "key `log.format`",
        "key `server.request_timeout_ms`",
        "key `sources[0].timeout_ms`",
        "key `sources[0].max_connections`",
        "key `cache.max_size_mib`",
    ] {
        assert!(stderr.contains(key), "{key} in\n{stderr}");
    }
    assert!(stderr.contains("6 problem(s)"), "{stderr}");
}

#[test]
fn token_says_when_the_server_will_narrow_its_regions() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gateway.toml");
    std::fs::write(
        &config,
        // Unregistered tokens accepted as they claim (the demo's setting; off by default).
        "[auth]\nrequire_registered = false\n[[auth.jwt_keys]]\nalgorithm = \"HS256\"\nsecret_env = \"CGW_TEST_TOKEN_SECRET\"\n",
    )
    .unwrap();
    let cfg = config.to_str().unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_complaint-gateway"))
            .current_dir(dir.path())
            .args(args)
            .env("CGW_TEST_TOKEN_SECRET", SECRET)
            .env_remove("CGW_STORE_URL")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    // Not registered (and no store yet): the token is taken as it is, and no store is created.
    let stderr = run(&[
        "token",
        "--config",
        cfg,
        "--subject",
        "h-1",
        "--roles",
        "handler",
        "--regions",
        "0571,0574",
    ]);
    assert!(
        stderr.contains("regions: 0571,0574") && !stderr.contains("note:"),
        "{stderr}"
    );
    assert!(!dir.path().join("gateway.db").exists());
    run(&[
        "identities",
        "--config",
        cfg,
        "add",
        "h-1",
        "--roles",
        "handler",
        "--regions",
        "0571",
    ]);
    let stderr = run(&["token", "--config", cfg, "--subject", "h-1", "--regions", "0571,0574"]);
    assert!(
        stderr.contains(
            "note: `h-1` is registered with roles handler and regions 0571: the server narrows this token to roles handler and regions 0571"
        ),
        "{stderr}"
    );
    let stderr = run(&["token", "--config", cfg, "--subject", "h-1"]);
    assert!(!stderr.contains("note:"), "nothing to narrow: {stderr}");
}
