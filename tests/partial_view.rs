//! One failing backend never fails the call: its status says why and the rest is returned.
use complaint_gateway::proto::complaint::v1::*;
use complaint_gateway::testkit::{self, req};
use complaint_gateway::tools::seed;

#[tokio::test]
async fn unreachable_backend_is_unavailable_and_the_rest_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let urls = testkit::sqlite_urls(dir.path());
    testkit::seed(&urls, 5).await.unwrap();
    let mut cfg = testkit::config(&urls);
    // CRM points at a port where nothing listens, with a password that must not leak.
    cfg.sources[1].url = Some("postgres://gateway:Sup3rSecret@127.0.0.1:1/crm".into());
    let srv = testkit::spawn(cfg).await.unwrap();
    let mut c = testkit::data_client(&srv).await.unwrap();
    let r = c
        .get_subscriber_view(req(GetSubscriberViewRequest {
            msisdn: seed::msisdn(1),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    let crm = &r.sources[1];
    assert_eq!((crm.source.as_str(), crm.state()), ("crm", SourceState::Unavailable));
    assert!(crm.detail.starts_with("backend unavailable"), "{}", crm.detail);
    assert!(!crm.detail.contains("Sup3rSecret"), "{}", crm.detail);
    assert_eq!(r.sources[0].state(), SourceState::Ok);
    assert_eq!(r.sources[2].state(), SourceState::Ok);
    let v = r.view.unwrap();
    assert!(v.customer.is_none());
    assert!(v.account.is_some() && v.line.is_some());
}

#[tokio::test]
async fn all_backends_down_is_not_not_found() {
    let mut cfg = testkit::config(&[]);
    for s in ["billing", "crm"] {
        cfg.sources.push(testkit::source(
            testkit::adapters_dir().join(s),
            "mysql://root@127.0.0.1:1/x",
            3_000,
        ));
    }
    let srv = testkit::spawn(cfg).await.unwrap();
    let mut c = testkit::data_client(&srv).await.unwrap();
    let r = c
        .get_subscriber_view(req(GetSubscriberViewRequest {
            msisdn: seed::msisdn(1),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(
        r.sources.iter().all(|s| s.state() == SourceState::Unavailable),
        "{:?}",
        r.sources
    );
}
