//! Shared by the identity and API-security tests: a seeded gateway, clients, tokens, audit queries.
#![allow(dead_code)]
use complaint_gateway::config::Config;
use complaint_gateway::identity::Role;
use complaint_gateway::proto::complaint::v1::audit_service_client::AuditServiceClient;
use complaint_gateway::proto::complaint::v1::complaint_data_service_client::ComplaintDataServiceClient;
use complaint_gateway::proto::complaint::v1::identity_admin_service_client::IdentityAdminServiceClient;
use complaint_gateway::proto::complaint::v1::*;
use complaint_gateway::testkit::{self, RunningServer};
use complaint_gateway::tools::demo;
use complaint_gateway::tools::seed;
use tonic::transport::Channel;

/// Subscribers seeded per test gateway.
pub const SUBSCRIBERS: u64 = 40;

pub struct Env {
    pub dir: tempfile::TempDir,
    pub srv: RunningServer,
}

/// A gateway over freshly seeded SQLite backends; `tweak` adjusts the config first.
pub async fn start(tweak: impl FnOnce(&mut Config, &std::path::Path)) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let urls = testkit::sqlite_urls(dir.path());
    testkit::seed(&urls, SUBSCRIBERS).await.unwrap();
    let mut cfg = testkit::config(&urls);
    tweak(&mut cfg, dir.path());
    let srv = testkit::spawn(cfg).await.unwrap();
    Env { dir, srv }
}

/// The `skip`-th seeded subscriber number in `city`.
pub fn number_in(city: &str, skip: usize) -> String {
    seed::msisdn(demo::subscriber_in(city, SUBSCRIBERS, skip).unwrap_or_else(|| panic!("no subscriber in {city}")))
}

pub async fn channel(srv: &RunningServer) -> Channel {
    Channel::from_shared(srv.url()).unwrap().connect().await.unwrap()
}

pub async fn data(srv: &RunningServer) -> ComplaintDataServiceClient<Channel> {
    ComplaintDataServiceClient::new(channel(srv).await)
}

pub async fn audit(srv: &RunningServer) -> AuditServiceClient<Channel> {
    AuditServiceClient::new(channel(srv).await)
}

pub async fn admin(srv: &RunningServer) -> IdentityAdminServiceClient<Channel> {
    IdentityAdminServiceClient::new(channel(srv).await)
}

pub fn handler(subject: &str, regions: &[&str]) -> String {
    testkit::token(subject, &[Role::Handler], regions)
}

pub fn view_req(msisdn: &str) -> GetSubscriberViewRequest {
    GetSubscriberViewRequest {
        msisdn: msisdn.to_string(),
        ..Default::default()
    }
}

/// Reads a view as the holder of `token`.
pub async fn view(srv: &RunningServer, token: &str, msisdn: &str) -> Result<GetSubscriberViewResponse, tonic::Status> {
    data(srv)
        .await
        .get_subscriber_view(testkit::with_token(view_req(msisdn), token))
        .await
        .map(|r| r.into_inner())
}

/// Every audit event of `caller` (all pages), newest first, read through `ListAuditEvents`.
pub async fn events_of(srv: &RunningServer, caller: &str) -> Vec<AuditEvent> {
    let mut c = audit(srv).await;
    let mut out = Vec::new();
    let mut token = String::new();
    loop {
        let r = c
            .list_audit_events(testkit::with_token(
                ListAuditEventsRequest {
                    caller: caller.to_string(),
                    page_size: 1000,
                    page_token: token.clone(),
                    ..Default::default()
                },
                &testkit::admin_token(),
            ))
            .await
            .unwrap()
            .into_inner();
        out.extend(r.events);
        if r.next_page_token.is_empty() {
            return out;
        }
        token = r.next_page_token;
    }
}
