//! `complaint-gateway complaints …`, run as an operator would: the same identity rules as over gRPC (a
//! handler sees and changes the complaints of their regions only, numbers masked), every command audited.
use complaint_gateway::identity::directory::{Directory, IdentityFields};
use complaint_gateway::identity::Role;
use complaint_gateway::store::Store;
use complaint_gateway::testkit;
use complaint_gateway::tools::seed::{self, Situation};
use std::process::{Command, Output};

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[tokio::test]
async fn operators_handle_complaints_from_the_command_line_under_their_regions() {
    let dir = tempfile::tempdir().unwrap();
    let urls = testkit::sqlite_urls(dir.path());
    testkit::seed(&urls, 40).await.unwrap();
    let mut cfg = testkit::config(&urls);
    let store_url = format!("sqlite://{}", dir.path().join("gateway.db").display());
    cfg.store.url = store_url.clone();
    cfg.cases.reload_interval_ms = 0;
    let cfg_path = dir.path().join("gateway.toml");
    std::fs::write(&cfg_path, toml::to_string(&cfg).unwrap()).unwrap();
    let msisdn = seed::msisdn(Situation::DuplicateMonthlyFee.first_index());
    let region = complaint_gateway::tools::demo::city_of(Situation::DuplicateMonthlyFee.first_index());
    let other = seed::CITIES.iter().map(|c| c.0).find(|c| *c != region).unwrap();
    // Two handlers: one of the subscriber's city, one of another.
    let store = Store::connect(&store_url, 1).await.unwrap();
    let directory = Directory::new(store.clone());
    for (id, r) in [("h-own", region.as_str()), ("h-other", other)] {
        let f = IdentityFields {
            display_name: id.into(),
            roles: [Role::Handler].into(),
            regions: [r.to_string()].into(),
            disabled: false,
        };
        directory.create(id, &f).await.unwrap();
    }
    store.close().await;
    let c = cfg_path.to_str().unwrap();
    let run = |who: &str, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_complaint-gateway"))
            .args(["complaints", "--config", c, "--as", who])
            .args(args)
            .env_remove("CGW_STORE_URL")
            .env(
                testkit::TEST_SECRET_ENV,
                "complaint-gateway-test-signing-key-not-for-production",
            )
            .output()
            .expect("the binary runs")
    };

    let o = run(
        "h-own",
        &[
            "create",
            "--msisdn",
            &msisdn,
            "--text",
            "月租扣了两次",
            "--category",
            "billing.unexpected_charge",
        ],
    );
    assert!(o.status.success(), "{:?}", text(&o));
    let (out, _) = text(&o);
    let id = out.split_whitespace().next().unwrap().to_string();
    assert!(id.starts_with("CMP-"), "{out}");
    assert!(out.contains(" triaged ") && out.contains("billing-desk"), "{out}");
    // Masked for a handler.
    assert!(!out.contains(&msisdn) && out.contains(&msisdn[..3]), "{out}");

    // Another region's handler: refused as if it did not exist.
    let o = run("h-other", &["show", &id]);
    assert!(!o.status.success());
    assert!(
        text(&o).1.contains(&format!(
            "permission denied: no complaint {id} in your regions ({other})"
        )),
        "{:?}",
        text(&o)
    );
    let o = run("h-other", &["list"]);
    assert!(o.status.success(), "{:?}", text(&o));
    assert!(!text(&o).0.contains(&id));

    // An invalid transition names the allowed states; a valid one moves it.
    let o = run("h-own", &["transition", &id, "closed"]);
    assert!(!o.status.success());
    assert!(
        text(&o).1.contains("allowed from triaged: in_progress"),
        "{:?}",
        text(&o)
    );
    let o = run("h-own", &["transition", &id, "in_progress", "--reason", "calling back"]);
    assert!(o.status.success(), "{:?}", text(&o));
    assert!(text(&o).0.contains("→ in_progress calling back"), "{:?}", text(&o));
    let o = run("h-own", &["list", "--state", "in_progress"]);
    assert!(text(&o).0.starts_with(&id), "{:?}", text(&o));

    // Audited under the identity, with the command.
    let store = Store::connect(&store_url, 1).await.unwrap();
    let audited: Vec<(String, String, String)> =
        sqlx::query_as("SELECT action, outcome, caller FROM audit_events WHERE purpose = $1 ORDER BY event_id")
            .bind(&id)
            .fetch_all(store.pool())
            .await
            .unwrap();
    let want: Vec<(String, String, String)> = [
        ("cli/complaints create", "OK", "h-own"),
        ("cli/complaints show", "DENIED", "h-other"),
        ("cli/complaints transition", "ERROR", "h-own"),
        ("cli/complaints transition", "OK", "h-own"),
    ]
    .iter()
    .map(|(a, o, c)| (a.to_string(), o.to_string(), c.to_string()))
    .collect();
    assert_eq!(audited, want);
}
