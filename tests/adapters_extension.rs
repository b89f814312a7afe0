//! A fourth backend is a folder plus a config entry, no Rust; a broken definition fails at start-up
//! naming the file and key.
use complaint_gateway::adapters::registry::Registry;
use complaint_gateway::proto::complaint::v1::*;
use complaint_gateway::testkit::{self, req};
use complaint_gateway::tools::seed;
use prost_types::value::Kind;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[tokio::test]
async fn fourth_backend_from_a_folder_appears_in_the_view() {
    let dir = tempfile::tempdir().unwrap();
    let urls = testkit::sqlite_urls(dir.path());
    testkit::seed(&urls, 5).await.unwrap();

    // The loyalty system's own database.
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("loyalty.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    for stmt in std::fs::read_to_string(fixture("loyalty/schema.sql"))
        .unwrap()
        .split(';')
        .filter(|s| !s.trim().is_empty())
    {
        sqlx::query(sqlx::AssertSqlSafe(stmt.to_string()))
            .execute(&pool)
            .await
            .unwrap();
    }
    let number = seed::msisdn(2);
    sqlx::query("INSERT INTO member VALUES (?, 1200, 'G', '2027-06-30')")
        .bind(&number)
        .execute(&pool)
        .await
        .unwrap();
    for (item, cost) in [("话费券", 500), ("流量包", 300)] {
        sqlx::query("INSERT INTO redemption VALUES (?, ?, ?)")
            .bind(&number)
            .bind(item)
            .bind(cost)
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;

    let mut cfg = testkit::config(&urls);
    cfg.sources.push(testkit::source(fixture("loyalty"), &url, 2_000));
    let srv = testkit::spawn(cfg).await.unwrap();
    let mut c = testkit::data_client(&srv).await.unwrap();
    let r = c
        .get_subscriber_view(req(GetSubscriberViewRequest {
            msisdn: number.clone(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    let loyalty = r
        .sources
        .iter()
        .find(|s| s.source == "loyalty")
        .expect("a status for the new source");
    assert_eq!(loyalty.state(), SourceState::Ok);
    let ext = &r.view.unwrap().extensions["loyalty"].fields;
    assert_eq!(ext["points"].kind, Some(Kind::NumberValue(1200.0)));
    assert_eq!(ext["tier"].kind, Some(Kind::StringValue("gold".into())));
    assert_eq!(
        ext["points_expire_on"].kind,
        Some(Kind::StringValue("2027-06-30".into()))
    );
    let Some(Kind::ListValue(list)) = &ext["redemptions"].kind else {
        panic!("redemptions is a list: {ext:?}")
    };
    assert_eq!(list.values.len(), 2);

    // A subscriber the loyalty system does not know: NOT_FOUND there, the rest still served.
    let r = c
        .get_subscriber_view(req(GetSubscriberViewRequest {
            msisdn: seed::msisdn(3),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    let states: Vec<_> = r.sources.iter().map(|s| (s.source.as_str(), s.state())).collect();
    assert_eq!(states[3], ("loyalty", SourceState::NotFound));
    assert!(states[..3].iter().all(|(_, s)| *s == SourceState::Ok));
    assert!(r.view.unwrap().extensions.is_empty());
}

#[test]
fn misspelt_field_fails_at_start_naming_file_and_key() {
    let mut cfg = testkit::config(&[]);
    cfg.sources
        .push(testkit::source(fixture("broken_adapter"), "sqlite://unused.db", 1_000));
    let err = Registry::from_config(&cfg, &|_| None)
        .err()
        .expect("a broken definition is refused");
    assert!(err.contains("broken_adapter/adapter.toml"), "{err}");
    assert!(
        err.contains("entities.account: fields.zhye: field `balanse_fen`: `Account` has no field `balanse_fen`; did you mean `balance_fen`?"),
        "{err}"
    );
}

#[tokio::test]
async fn missing_url_names_the_variables_to_set() {
    let mut cfg = testkit::config(&[]);
    let mut s = testkit::source(testkit::adapters_dir().join("crm"), "", 1_000);
    s.url = None;
    cfg.sources.push(s);
    let err = Registry::from_config(&cfg, &|_| None).err().unwrap();
    assert_eq!(
        err,
        "key `sources[0].url` (crm): no URL: set `url`, or the environment variable CGW_CRM_URL or CGW_SOURCE_CRM_URL"
    );
    // The env override wins.
    let reg = Registry::from_config(&cfg, &|k| {
        (k == "CGW_SOURCE_CRM_URL").then(|| "sqlite://x.db".to_string())
    })
    .unwrap();
    assert_eq!(reg.names(), vec!["crm"]);
}
