//! Secrets stay out of logs, errors and config dumps: a run with failing password-protected backends and a
//! failing password-protected store, with every log line captured at TRACE level.
mod identity_support;

use complaint_gateway::config::Config;
use complaint_gateway::identity::IdentityServices;
use complaint_gateway::proto::complaint::v1::*;
use complaint_gateway::testkit::{self, with_token};
use identity_support::*;
use std::sync::{Arc, Mutex};
use tonic::Code;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn passwords_keys_and_tokens_appear_in_no_log_error_or_dump() {
    let logs = Captured::default();
    tracing_subscriber::fmt()
        .with_env_filter("trace")
        .with_ansi(false)
        .with_writer(logs.clone())
        .init();

    let (api_key, api_hash) = complaint_gateway::identity::auth::new_api_key();
    let env = start(move |cfg, _| {
        cfg.sources[1].url = Some("postgres://gateway:S3cretPw@127.0.0.1:1/crm".into());
        cfg.sources[2].url = Some("mysql://gateway:MyPw77x@127.0.0.1:1/resource?ssl-mode=disabled".into());
        // Long enough for the connection error (not a time-out) to be what is reported.
        for s in &mut cfg.sources[1..] {
            s.timeout_ms = 15_000;
            s.connect_timeout_ms = 300;
        }
        cfg.auth
            .api_keys
            .push(complaint_gateway::identity::config::ApiKeyConfig {
                id: "svc".into(),
                sha256: api_hash,
                subject: "svc-1".into(),
                roles: vec!["service".into()],
                regions: vec![],
            });
    })
    .await;
    let mut c = data(&env.srv).await;
    let admin = testkit::admin_token();
    let r = c
        .get_subscriber_view(with_token(view_req(&complaint_gateway::tools::seed::msisdn(1)), &admin))
        .await
        .unwrap()
        .into_inner();
    let crm = &r.sources[1];
    assert_eq!((crm.source.as_str(), crm.state()), ("crm", SourceState::Unavailable));
    for s in &r.sources {
        assert!(
            !s.detail.contains("S3cretPw") && !s.detail.contains("MyPw77x"),
            "{}",
            s.detail
        );
    }
    // An API-key call, a refused forged token and a refused unknown key: none of them is logged.
    let mut k = tonic::Request::new(view_req(&complaint_gateway::tools::seed::msisdn(2)));
    k.metadata_mut().insert("x-api-key", api_key.parse().unwrap());
    c.get_subscriber_view(k).await.unwrap();
    let forged = format!("{}x", &admin[..admin.len() - 1]);
    let e = c
        .get_subscriber_view(with_token(
            view_req(&complaint_gateway::tools::seed::msisdn(2)),
            &forged,
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    let mut k = tonic::Request::new(view_req(&complaint_gateway::tools::seed::msisdn(2)));
    k.metadata_mut()
        .insert("x-api-key", "cgw_WrongKeyMaterial123".parse().unwrap());
    assert_eq!(
        c.get_subscriber_view(k).await.unwrap_err().code(),
        Code::Unauthenticated
    );

    // A store that cannot be reached: the error names the store, not its password.
    let mut cfg: Config = env.srv.gateway.config.clone();
    cfg.store.url = "postgres://gateway:StorePw5@127.0.0.1:1/gateway".into();
    let e = IdentityServices::open(&cfg.auth, &cfg.store, &testkit::test_env)
        .await
        .unwrap_err();
    assert!(e.contains("127.0.0.1:1") && !e.contains("StorePw5"), "{e}");
    tracing::error!(error = %e, "store failed (as main would log it)");
    // The config dump.
    let dump = cfg.redacted_toml();
    assert!(dump.contains("***"), "{dump}");

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        // Failures are summarised (the first of each interval in full): a source's failure reads
        // "backend unavailable: …" or "source billing failed: …".
        (text.contains("backend unavailable") || text.contains(" failed: ")) && text.contains("call refused"),
        "the logs were captured"
    );
    for secret in [
        "S3cretPw",
        "MyPw77x",
        "StorePw5",
        "complaint-gateway-test-signing-key-not-for-production",
        admin.as_str(),
        forged.as_str(),
        api_key.as_str(),
        "cgw_WrongKeyMaterial123",
    ] {
        assert!(!text.contains(secret), "`{secret}` is in the logs");
        assert!(!dump.contains(secret), "`{secret}` is in the config dump");
    }
}
