//! Identity benchmarks, each against a baseline measured in the same run (`cargo bench --bench identity`):
//!
//! 1. audit appends: the batching writer (`audit_batch_max = 256`) against one transaction per event
//!    (`audit_batch_max = 1`), 2,000 concurrent appends to a SQLite file store (WAL, synchronous = FULL);
//! 2. credential checks: verifying an HS256 JWT and an ES256 JWT against looking up an API key hash;
//! 3. masking a full subscriber view against encoding it (the work every response does anyway).
use complaint_gateway::identity::audit::{new_event_id, AuditEvent, AuditLog, Outcome};
use complaint_gateway::identity::auth::{new_api_key, Authenticator, TokenIssuer};
use complaint_gateway::identity::config::{ApiKeyConfig, AuthConfig, JwtKeyConfig};
use complaint_gateway::identity::{masking, Role};
use complaint_gateway::proto::complaint::v1::*;
use complaint_gateway::store::{now_us, Store};
use prost::Message;
use std::time::Instant;

fn event(n: usize) -> AuditEvent {
    let at_us = now_us();
    AuditEvent {
        event_id: new_event_id(at_us),
        at_us,
        caller: format!("h-{}", n % 50),
        auth_method: "jwt".into(),
        roles: vec!["handler".into()],
        action: "complaint.v1.ComplaintDataService/GetSubscriberView".into(),
        msisdn: format!("138{:08}", n),
        region: "0571".into(),
        sources: vec!["billing".into(), "crm".into(), "resource".into()],
        purpose: format!("CP-{n}"),
        outcome: Outcome::Ok,
        detail: String::new(),
        peer: "127.0.0.1:40000".into(),
    }
}

async fn appends_per_sec(batch_max: usize, n: usize) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite://{}", dir.path().join("g.db").display()), 8)
        .await
        .unwrap();
    let log = AuditLog::start(store.clone(), batch_max);
    let t0 = Instant::now();
    let all = (0..n).map(|i| {
        let log = log.clone();
        tokio::spawn(async move { log.append(event(i)).await })
    });
    for r in futures::future::join_all(all).await {
        r.unwrap().unwrap();
    }
    let rate = n as f64 / t0.elapsed().as_secs_f64();
    assert_eq!(log.count().await.unwrap(), n as i64);
    store.close().await;
    rate
}

fn per_call_us(n: usize, mut f: impl FnMut()) -> f64 {
    let t0 = Instant::now();
    for _ in 0..n {
        f();
    }
    t0.elapsed().as_secs_f64() * 1e6 / n as f64
}

#[tokio::main]
async fn main() {
    // 1. Audit batching.
    let n = 2_000;
    let batched = appends_per_sec(256, n).await;
    let single = appends_per_sec(1, n).await;
    println!("audit appends, {n} concurrent, SQLite WAL + synchronous=FULL:");
    println!("  batched (256)      {batched:>10.0} events/s");
    println!("  baseline (1 per tx){single:>10.0} events/s");
    println!("  ratio              {:>10.1}x", batched / single);

    // 2. Credential checks.
    let secret = "bench-secret-that-is-long-enough-0123456789";
    let es = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pub_file = dir.path().join("es.pub.pem");
    std::fs::write(&pub_file, es.public_key_pem()).unwrap();
    let (api_key, hash) = new_api_key();
    let mut cfg = AuthConfig::default();
    let key = |kid: &str, alg: &str| JwtKeyConfig {
        kid: Some(kid.into()),
        algorithm: alg.into(),
        secret_env: (alg == "HS256").then(|| "B_SECRET".into()),
        secret_file: None,
        public_key_file: (alg == "ES256").then(|| pub_file.clone()),
        public_key_env: None,
        private_key_file: None,
    };
    cfg.jwt_keys = vec![key("hs", "HS256"), key("es", "ES256")];
    cfg.api_keys.push(ApiKeyConfig {
        id: "b".into(),
        sha256: hash,
        subject: "svc".into(),
        roles: vec!["service".into()],
        regions: vec![],
    });
    let auth = Authenticator::from_config(&cfg, &|k| (k == "B_SECRET").then(|| secret.to_string())).unwrap();
    let hs = TokenIssuer::hs256("complaint-gateway", "complaint-gateway", Some("hs"), secret.as_bytes())
        .unwrap()
        .issue("h-1", &[Role::Handler], &["0571".into()], 3600)
        .unwrap();
    let est = TokenIssuer::from_pem(
        "complaint-gateway",
        "complaint-gateway",
        Some("es"),
        "ES256",
        es.serialize_pem().as_bytes(),
    )
    .unwrap()
    .issue("h-1", &[Role::Handler], &["0571".into()], 3600)
    .unwrap();
    let k = 5_000;
    let api_us = per_call_us(k, || {
        auth.verify_api_key(&api_key).unwrap();
    });
    let hs_us = per_call_us(k, || {
        auth.verify_token(&hs).unwrap();
    });
    let es_us = per_call_us(1_000, || {
        auth.verify_token(&est).unwrap();
    });
    println!("credential checks (per call):");
    println!("  API key (baseline) {api_us:>8.2} µs");
    println!("  HS256 JWT          {hs_us:>8.2} µs  ({:.1}x)", hs_us / api_us);
    println!("  ES256 JWT          {es_us:>8.2} µs  ({:.1}x)", es_us / api_us);

    // 3. Masking a view.
    let view = SubscriberView {
        msisdn: "13800138000".into(),
        customer: Some(Customer {
            customer_id: "C1".into(),
            name: "王芳".into(),
            id_number: "330106199001011234".into(),
            address: "浙江省杭州市文三路123号4幢501室".into(),
            region_code: "0571".into(),
            contact_phone: "13800138000".into(),
            email: "user1@example.com".into(),
            ..Default::default()
        }),
        account: Some(Account {
            bank_account: "6222000012345678".into(),
            ..Default::default()
        }),
        recent_bills: (0..6)
            .map(|m| Bill {
                cycle: format!("2026{m:02}"),
                items: (0..6)
                    .map(|i| Charge {
                        description: format!("item {i}"),
                        amount_fen: 100 * i,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        line: Some(Line {
            imei: "861234567890123".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let encode_us = per_call_us(k, || {
        std::hint::black_box(view.encode_to_vec());
    });
    let mask_us = per_call_us(k, || {
        let mut v = view.clone();
        masking::mask_view(&mut v);
        std::hint::black_box(v);
    });
    // The generic path through the descriptor (what `mask_view` did before it went typed).
    let reflective_us = per_call_us(k, || {
        let mut v = view.clone();
        masking::mask_typed("complaint.v1.SubscriberView", &mut v);
        std::hint::black_box(v);
    });
    println!("masking a view ({} bytes encoded, per call):", view.encoded_len());
    println!("  encode (baseline)  {encode_us:>8.2} µs");
    println!("  mask               {mask_us:>8.2} µs  ({:.1}x)", mask_us / encode_us);
    println!(
        "  mask, reflective   {reflective_us:>8.2} µs  ({:.1}x)",
        reflective_us / encode_us
    );
}
