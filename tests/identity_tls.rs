//! TLS for the server, client certificates mapped to identities (mutual TLS), and ES256 tokens verified
//! with a public key read from a file.
mod identity_support;

use complaint_gateway::identity::auth::TokenIssuer;
use complaint_gateway::identity::config::{ClientCertConfig, JwtKeyConfig};
use complaint_gateway::identity::Role;
use complaint_gateway::proto::complaint::v1::complaint_data_service_client::ComplaintDataServiceClient;
use complaint_gateway::testkit::{self, with_token};
use identity_support::*;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use sha2::Digest;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity as TlsIdentity};
use tonic::Code;

struct Pki {
    ca_pem: String,
    server: (String, String),
    client: (String, String, Vec<u8>),
    stranger: (String, String),
}

fn pki() -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf = |names: Vec<String>, cn: &str| {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(names).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        let cert = p.signed_by(&key, &ca).unwrap();
        (cert.pem(), key.serialize_pem(), cert.der().to_vec())
    };
    let (s_cert, s_key, _) = leaf(vec!["localhost".into()], "gateway");
    let client = leaf(vec!["ivr.example".into()], "svc-ivr");
    let (x_cert, x_key, _) = leaf(vec!["stranger.example".into()], "stranger");
    Pki {
        ca_pem: ca.pem(),
        server: (s_cert, s_key),
        client,
        stranger: (x_cert, x_key),
    }
}

async fn tls_channel(
    srv: &testkit::RunningServer,
    ca: &str,
    client: Option<(&str, &str)>,
) -> Result<Channel, tonic::transport::Error> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca))
        .domain_name("localhost");
    if let Some((cert, key)) = client {
        tls = tls.identity(TlsIdentity::from_pem(cert, key));
    }
    Channel::from_shared(format!("https://{}", srv.addr))
        .unwrap()
        .tls_config(tls)?
        .connect()
        .await
}

#[tokio::test]
async fn tls_and_client_certificates_mapped_to_identities() {
    let pki = pki();
    let fingerprint = hex::encode(sha2::Sha256::digest(&pki.client.2));
    let env = start(|cfg, dir| {
        let write = |name: &str, text: &str| {
            let p = dir.join(name);
            std::fs::write(&p, text).unwrap();
            Some(p)
        };
        cfg.tls.cert_file = write("server.pem", &pki.server.0);
        cfg.tls.key_file = write("server.key", &pki.server.1);
        cfg.tls.client_ca_file = write("ca.pem", &pki.ca_pem);
        cfg.auth.client_certs.push(ClientCertConfig {
            sha256: fingerprint.clone(),
            subject: "svc-ivr".into(),
            roles: vec!["service".into()],
            regions: vec![],
        });
    })
    .await;
    let number = number_in("0577", 0);

    // The mapped client certificate alone authenticates.
    let ch = tls_channel(&env.srv, &pki.ca_pem, Some((&pki.client.0, &pki.client.1)))
        .await
        .unwrap();
    let v = ComplaintDataServiceClient::new(ch.clone())
        .get_subscriber_view(tonic::Request::new(view_req(&number)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(v.view.unwrap().customer.unwrap().region_code, "0577");
    // (The server speaks TLS only: read the trail from the store rather than over plaintext.)
    let filter = complaint_gateway::identity::audit::AuditFilter {
        caller: Some("svc-ivr".into()),
        limit: 10,
        ..Default::default()
    };
    let (events, _) = env.srv.gateway.identity.audit.list(&filter).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].auth_method, format!("client_cert:{}…", &fingerprint[..16]));

    // A certificate from the same CA that is not mapped: refused with the reason.
    let ch = tls_channel(&env.srv, &pki.ca_pem, Some((&pki.stranger.0, &pki.stranger.1)))
        .await
        .unwrap();
    let e = ComplaintDataServiceClient::new(ch.clone())
        .get_subscriber_view(tonic::Request::new(view_req(&number)))
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (Code::Unauthenticated, "client certificate is not mapped to an identity")
    );
    // ...but a token still works over that connection (client certificates are optional here).
    let ok = ComplaintDataServiceClient::new(ch)
        .get_subscriber_view(with_token(view_req(&number), &handler("h-wz", &["0577"])))
        .await;
    assert!(ok.is_ok(), "{ok:?}");

    // No certificate, no token.
    let ch = tls_channel(&env.srv, &pki.ca_pem, None).await.unwrap();
    let e = ComplaintDataServiceClient::new(ch)
        .get_subscriber_view(tonic::Request::new(view_req(&number)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    assert!(e.message().contains("missing credentials"));

    // Plaintext against the TLS port does not get a gRPC answer.
    let plain = Channel::from_shared(env.srv.url()).unwrap().connect().await;
    if let Ok(ch) = plain {
        let r = ComplaintDataServiceClient::new(ch)
            .get_subscriber_view(with_token(view_req(&number), &testkit::admin_token()))
            .await;
        assert!(r.is_err(), "a plaintext call was served over the TLS port");
    }
}

#[tokio::test]
async fn required_client_certificates_refuse_connections_without_one() {
    let pki = pki();
    let env = start(|cfg, dir| {
        let write = |name: &str, text: &str| {
            let p = dir.join(name);
            std::fs::write(&p, text).unwrap();
            Some(p)
        };
        cfg.tls.cert_file = write("server.pem", &pki.server.0);
        cfg.tls.key_file = write("server.key", &pki.server.1);
        cfg.tls.client_ca_file = write("ca.pem", &pki.ca_pem);
        cfg.tls.require_client_cert = true;
    })
    .await;
    let number = number_in("0571", 0);
    let without = match tls_channel(&env.srv, &pki.ca_pem, None).await {
        Err(_) => true,
        Ok(ch) => ComplaintDataServiceClient::new(ch)
            .get_subscriber_view(with_token(view_req(&number), &testkit::admin_token()))
            .await
            .is_err(),
    };
    assert!(without, "a connection without a client certificate was served");
    // With a certificate (even an unmapped one) the connection is accepted and a token identifies the caller.
    let ch = tls_channel(&env.srv, &pki.ca_pem, Some((&pki.stranger.0, &pki.stranger.1)))
        .await
        .unwrap();
    let v = ComplaintDataServiceClient::new(ch)
        .get_subscriber_view(with_token(view_req(&number), &handler("h-hz", &["0571"])))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(v.view.unwrap().customer.unwrap().region_code, "0571");
}

#[tokio::test]
async fn es256_tokens_are_verified_with_a_public_key_file() {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let other = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let public_pem = key.public_key_pem();
    let env = start(|cfg, dir| {
        let p = dir.join("idp-es256.pub.pem");
        std::fs::write(&p, &public_pem).unwrap();
        cfg.auth.jwt_keys.push(JwtKeyConfig {
            kid: Some("idp-1".into()),
            algorithm: "ES256".into(),
            secret_env: None,
            secret_file: None,
            public_key_file: Some(p),
            public_key_env: None,
            private_key_file: None,
        });
    })
    .await;
    let idp = TokenIssuer::from_pem(
        "complaint-gateway",
        "complaint-gateway",
        Some("idp-1"),
        "ES256",
        key.serialize_pem().as_bytes(),
    )
    .unwrap();
    let t = idp.issue("h-es", &[Role::Handler], &["0574".into()], 600).unwrap();
    let v = view(&env.srv, &t, &number_in("0574", 0)).await.unwrap();
    assert_eq!(v.view.unwrap().customer.unwrap().region_code, "0574");
    // Signed by another key under the same kid: bad signature.
    let forger = TokenIssuer::from_pem(
        "complaint-gateway",
        "complaint-gateway",
        Some("idp-1"),
        "ES256",
        other.serialize_pem().as_bytes(),
    )
    .unwrap();
    let e = view(
        &env.srv,
        &forger.issue("h-es", &[Role::Manager], &["0574".into()], 600).unwrap(),
        &number_in("0574", 0),
    )
    .await
    .unwrap_err();
    assert_eq!((e.code(), e.message()), (Code::Unauthenticated, "bad token signature"));
    // An unknown key id.
    let stray = TokenIssuer::from_pem(
        "complaint-gateway",
        "complaint-gateway",
        Some("idp-9"),
        "ES256",
        key.serialize_pem().as_bytes(),
    )
    .unwrap();
    let e = view(
        &env.srv,
        &stray.issue("h-es", &[Role::Handler], &[], 600).unwrap(),
        &number_in("0574", 0),
    )
    .await
    .unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (Code::Unauthenticated, "token key id is not configured on this gateway")
    );
}

fn rs256_fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/rs256")
            .join(name),
    )
    .unwrap()
}

#[tokio::test]
async fn rs256_tokens_are_verified_and_other_algorithms_under_the_kid_refused() {
    let public_pem = rs256_fixture("idp.pub.pem");
    let env = start(|cfg, dir| {
        let p = dir.join("idp-rs256.pub.pem");
        std::fs::write(&p, &public_pem).unwrap();
        cfg.auth.jwt_keys.push(JwtKeyConfig {
            kid: Some("idp-rsa".into()),
            algorithm: "RS256".into(),
            secret_env: None,
            secret_file: None,
            public_key_file: Some(p),
            public_key_env: None,
            private_key_file: None,
        });
    })
    .await;
    let issuer = |kid: &str, key: &str| {
        TokenIssuer::from_pem(
            "complaint-gateway",
            "complaint-gateway",
            Some(kid),
            "RS256",
            &rs256_fixture(key),
        )
        .unwrap()
    };
    let number = number_in("0571", 0);
    let t = issuer("idp-rsa", "idp.key.pem")
        .issue("h-rs", &[Role::Handler], &["0571".into()], 600)
        .unwrap();
    let v = view(&env.srv, &t, &number).await.unwrap();
    let c = v.view.unwrap().customer.unwrap();
    // A handler: in their region, masked.
    assert_eq!(c.region_code, "0571");
    assert!(c.name.ends_with('*'), "{}", c.name);

    // Another RSA key (PKCS#8) under the same kid: bad signature.
    let forged = issuer("idp-rsa", "other.key.pem")
        .issue("h-rs", &[Role::Manager], &["0571".into()], 600)
        .unwrap();
    let e = view(&env.srv, &forged, &number).await.unwrap_err();
    assert_eq!((e.code(), e.message()), (Code::Unauthenticated, "bad token signature"));

    // Algorithm confusion: HS256 "signed" with the RSA public key as the shared secret, under the RSA
    // key's kid. The kid's algorithm decides, so it is refused.
    let confused = TokenIssuer::hs256("complaint-gateway", "complaint-gateway", Some("idp-rsa"), &public_pem)
        .unwrap()
        .issue("h-rs", &[Role::Manager], &["0571".into()], 600)
        .unwrap();
    let e = view(&env.srv, &confused, &number).await.unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (
            Code::Unauthenticated,
            "token algorithm HS256 is not accepted by this gateway"
        )
    );
}
