//! The log under abuse: a flood of 10,000 refused calls writes a handful of lines (the first refusal of
//! each interval, then a count), not one per call; and no subscriber number appears in clear in any line
//! the gateway writes, at any level, while handlers read, are refused and invalidate.
mod identity_support;

use complaint_gateway::identity::Role;
use complaint_gateway::proto::complaint::v1::gateway_admin_service_client::GatewayAdminServiceClient;
use complaint_gateway::proto::complaint::v1::*;
use complaint_gateway::testkit::{self, with_token};
use identity_support::*;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture() -> Captured {
    static LOG: OnceLock<Captured> = OnceLock::new();
    LOG.get_or_init(|| {
        let c = Captured::default();
        let w = c.clone();
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("info,complaint_gateway=debug"))
            .with_writer(move || w.clone())
            .with_ansi(false)
            .init();
        c
    })
    .clone()
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
    fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

/// Lines the gateway wrote at INFO or above (what a production log keeps).
fn kept_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.contains(" INFO ") || l.contains(" WARN ") || l.contains(" ERROR "))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_ten_thousand_refusals_logs_a_few_lines_and_no_number_is_logged_in_clear() {
    let log = capture();
    let env = start(|_, _| {}).await;
    let own = number_in("0571", 0);
    let ningbo = number_in("0574", 0);
    let unknown = "13999999999".to_string();

    // Ordinary traffic, refusals and an invalidation, with numbers in every request.
    let hz = handler("h-hz", &["0571"]);
    view(&env.srv, &hz, &own).await.unwrap();
    view(&env.srv, &hz, &format!("+86 {own}")).await.unwrap();
    assert!(view(&env.srv, &hz, &ningbo).await.is_err());
    assert!(view(&env.srv, &hz, &unknown).await.is_err());
    let mut admin = GatewayAdminServiceClient::new(channel(&env.srv).await);
    admin
        .invalidate_subscriber(with_token(
            InvalidateSubscriberRequest {
                msisdn: own.clone(),
                sources: vec![],
            },
            &testkit::token("a-1", &[Role::Admin], &["0571"]),
        ))
        .await
        .unwrap();
    let text = log.text();
    assert!(text.contains("cache invalidated"), "the invalidation is logged");
    assert!(text.contains(&format!("{}****{}", &own[..3], &own[7..])), "masked");
    for n in [&own, &ningbo, &unknown] {
        assert!(!text.contains(n.as_str()), "{n} in clear in the log:\n{text}");
    }

    // The flood: 10,000 calls without (valid) credentials from one address.
    let before = log.len();
    let ch = channel(&env.srv).await;
    let mut tasks = Vec::new();
    for t in 0..50 {
        let ch = ch.clone();
        let own = own.clone();
        tasks.push(tokio::spawn(async move {
            let mut c =
                complaint_gateway::proto::complaint::v1::complaint_data_service_client::ComplaintDataServiceClient::new(
                    ch,
                );
            let mut refused = 0;
            for i in 0..200 {
                let r = GetSubscriberViewRequest {
                    msisdn: own.clone(),
                    ..Default::default()
                };
                let r = if (t + i) % 2 == 0 {
                    c.get_subscriber_view(r).await
                } else {
                    c.get_subscriber_view(with_token(r, "forged.token.value")).await
                };
                if r.is_err() {
                    refused += 1;
                }
            }
            refused
        }));
    }
    let mut refused = 0;
    for t in tasks {
        refused += t.await.unwrap();
    }
    assert_eq!(refused, 10_000);
    let flood = log.text()[before..].to_string();
    let lines = kept_lines(&flood);
    // The first refusal of each 10 s interval in full, then one count per interval: the flood takes a
    // few seconds, so a few lines; the bound leaves room for a slow machine.
    assert!(lines.len() <= 12, "{} lines:\n{}", lines.len(), flood);
    assert!(
        flood.len() <= 8 * 1024,
        "{} bytes of log for 10,000 refusals",
        flood.len()
    );
    assert!(!flood.contains(own.as_str()));
}
