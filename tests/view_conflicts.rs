//! Two sources that give one subscriber different values: the configuration's `[owners]` decides which
//! value the view holds, and the disagreement is reported in the response and counted in
//! `cgw_view_conflicts_total`, instead of the two systems' values being mixed silently. (One test: the
//! metrics recorder is global.)
use complaint_gateway::config::Owners;
use complaint_gateway::proto::complaint::v1::*;
use complaint_gateway::testkit::{self, req};
use complaint_gateway::tools::seed;
use std::path::PathBuf;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/crm_other")
}

async fn metrics(addr: std::net::SocketAddr) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test]
async fn two_sources_disagreeing_are_reported_and_the_owner_wins() {
    let dir = tempfile::tempdir().unwrap();
    let urls = testkit::sqlite_urls(dir.path());
    testkit::seed(&urls, 5).await.unwrap();
    let number = seed::msisdn(2);
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("crm_other.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let ddl = std::fs::read_to_string(fixture().join("schema.sql")).unwrap();
    sqlx::query(sqlx::AssertSqlSafe(ddl)).execute(&pool).await.unwrap();
    sqlx::query("INSERT INTO kh_zl VALUES (?, '另一个名字', '110101199001010011')")
        .bind(&number)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let view = |sources: &[&str]| GetSubscriberViewRequest {
        msisdn: number.clone(),
        sources: sources.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };

    // The CRM alone, for its own values.
    let mut cfg = testkit::config(&urls);
    cfg.sources.push(testkit::source(fixture(), &url, 2_000));
    cfg.owners.insert("customer".into(), Owners::One("crm".into()));
    cfg.admin.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    let srv = testkit::spawn(cfg.clone()).await.unwrap();
    let mut c = testkit::data_client(&srv).await.unwrap();
    let crm = c.get_subscriber_view(req(view(&["crm"]))).await.unwrap().into_inner();
    let crm_customer = crm.view.unwrap().customer.unwrap();
    assert_ne!(crm_customer.name, "另一个名字");
    assert!(crm.conflicts.is_empty());

    // Both: the CRM owns `customer`, so its name and ID number stay, and both disagreements are reported.
    let r = c.get_subscriber_view(req(view(&[]))).await.unwrap().into_inner();
    let customer = r.view.unwrap().customer.unwrap();
    assert_eq!(customer.name, crm_customer.name);
    assert_eq!(customer.id_number, crm_customer.id_number);
    assert!(
        r.sources.iter().all(|s| s.state() == SourceState::Ok),
        "{:?}",
        r.sources
    );
    let owned = |field: &str| FieldConflict {
        field: field.into(),
        sources: vec!["crm".into(), "crm_other".into()],
        chosen_source: "crm".into(),
        reason: "owner".into(),
    };
    assert_eq!(r.conflicts, vec![owned("customer.id_number"), owned("customer.name")]);
    let m = metrics(srv.metrics_addr.expect("the metrics endpoint runs")).await;
    assert!(
        m.lines().any(|l| l.starts_with("cgw_view_conflicts_total{")
            && l.contains("field=\"customer.name\"")
            && l.contains("resolution=\"owner\"")
            && l.ends_with(" 1")),
        "{m}"
    );
    srv.stop().await;

    // Precedence for one field: the other system first for the name; the CRM still owns the rest.
    let mut cfg2 = cfg.clone();
    cfg2.admin.metrics_listen = None;
    cfg2.owners.insert(
        "customer.name".into(),
        Owners::Precedence(vec!["crm_other".into(), "crm".into()]),
    );
    let srv = testkit::spawn(cfg2).await.unwrap();
    let mut c = testkit::data_client(&srv).await.unwrap();
    let r = c.get_subscriber_view(req(view(&[]))).await.unwrap().into_inner();
    let customer = r.view.unwrap().customer.unwrap();
    assert_eq!(customer.name, "另一个名字");
    assert_eq!(customer.id_number, crm_customer.id_number);
    assert_eq!(r.conflicts[1].field, "customer.name");
    assert_eq!(r.conflicts[1].chosen_source, "crm_other");
    srv.stop().await;

    // No owner: the disagreement is still reported, with what the view kept.
    let mut cfg3 = cfg.clone();
    cfg3.admin.metrics_listen = None;
    cfg3.owners.clear();
    let srv = testkit::spawn(cfg3).await.unwrap();
    let mut c = testkit::data_client(&srv).await.unwrap();
    let r = c.get_subscriber_view(req(view(&[]))).await.unwrap().into_inner();
    assert_eq!(r.view.unwrap().customer.unwrap().name, "另一个名字");
    assert_eq!(r.conflicts[1].chosen_source, "crm_other");
    assert_eq!(
        r.conflicts[1].reason,
        "no owner configured: the last source in configuration order kept"
    );
    srv.stop().await;

    // An owner that is not a configured source fails at start-up, naming it; so does a path off the view.
    let mut bad = cfg.clone();
    bad.admin.metrics_listen = None;
    bad.owners.insert("plan".into(), Owners::One("billling".into()));
    let e = testkit::spawn(bad)
        .await
        .err()
        .expect("an unknown owner fails")
        .to_string();
    assert!(
        e.contains("key `owners.\"plan\"`: `billling` is not a configured source; configured sources: billing, crm, resource, crm_other"),
        "{e}"
    );
    let mut bad = cfg.clone();
    bad.owners.insert("customer.nme".into(), Owners::One("crm".into()));
    assert_eq!(
        bad.problems(),
        vec!["key `owners.\"customer.nme\"`: `nme` is not a field of Customer; did you mean `name`?".to_string()]
    );
}
