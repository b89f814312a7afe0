//! The gRPC surface: thin service impls that translate proto ⇄ domain, plus health and reflection.
pub mod admin;
pub mod data;
pub mod diagnosis;
pub mod identity;

use crate::config::Config;
use crate::proto::complaint::v1::complaint_data_service_server::ComplaintDataServiceServer;
use crate::proto::complaint::v1::diagnosis_service_server::DiagnosisServiceServer;
use crate::view::ViewReader;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// What every service shares.
pub struct Gateway {
    pub config: Config,
    pub reader: ViewReader,
    /// Authentication state, identities, operator IDs and the audit trail (see `crate::identity`).
    pub identity: crate::identity::IdentityServices,
}

/// Serves the gateway on `listener` until `shutdown` resolves.
pub async fn serve(
    gateway: Arc<Gateway>,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<ComplaintDataServiceServer<data::DataApi>>().await;
    // Scenarios load before serving: a broken scenario folder fails start-up, naming every problem.
    let diagnosis = DiagnosisServiceServer::new(diagnosis::DiagnosisApi::start(gateway.clone())?)
        .max_decoding_message_size(64 * 1024);
    health
        .set_serving::<DiagnosisServiceServer<diagnosis::DiagnosisApi>>()
        .await;
    // The overall status ("") answers plain health checks.
    health
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    // Per-source health: `complaint.v1.source.<name>` is NOT_SERVING while that source's breaker is open.
    let mut watchers = Vec::new();
    for s in &gateway.reader.registry().sources {
        let name = s.adapter.name().to_string();
        if let Some(stack) = gateway.reader.stack(&name) {
            watchers.push(tokio::spawn(admin::report_breaker(
                health.clone(),
                name,
                stack.breaker().subscribe(),
            )));
        }
    }
    let admin = admin::admin_server(gateway.clone());
    // Requests are a number and a few filters: anything near the 4 MiB default is abuse, refused early.
    let data =
        ComplaintDataServiceServer::new(data::DataApi::new(gateway.clone())).max_decoding_message_size(64 * 1024);
    let (identity_admin, audit) = identity::servers(gateway.clone());
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = identity::tls_config(&gateway.config.tls)? {
        builder = builder.tls_config(tls)?;
    }
    let served = builder
        // One span per RPC; the view reader's per-source events nest under it.
        .trace_fn(|req| tracing::info_span!("rpc", method = %req.uri().path()))
        // Every RPC but health and reflection authenticates here, before any service code runs.
        .layer(crate::identity::layer::AuthLayer::new(gateway.identity.auth.clone()))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(data)
        .add_service(diagnosis)
        .add_service(admin)
        .add_service(identity_admin)
        .add_service(audit)
        // TCP_NODELAY on accepted connections: without it small answers wait ~40 ms for delayed ACKs
        // (Nagle), which dominated every call's latency. `Server::serve(addr)` sets it; an incoming stream
        // of our own must too.
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown,
        )
        .await;
    for w in watchers {
        w.abort();
    }
    served?;
    Ok(())
}

/// The client's deadline from `grpc-timeout`, if it sent one, less a margin (a tenth, at most 20 ms) for
/// assembling and sending the answer: backend work stops early enough that the caller gets the sources
/// that did answer, with TIMEOUT for the rest, instead of tonic's bare DEADLINE_EXCEEDED.
pub fn deadline<T>(req: &tonic::Request<T>) -> Option<Instant> {
    let v = req.metadata().get("grpc-timeout")?.to_str().ok()?;
    parse_grpc_timeout(v).map(|d| Instant::now() + d - (d / 10).min(Duration::from_millis(20)))
}

/// Parses a `grpc-timeout` header value such as `100m` or `2S`.
pub fn parse_grpc_timeout(v: &str) -> Option<Duration> {
    if v.len() < 2 || v.len() > 9 {
        return None;
    }
    let (n, unit) = v.split_at(v.len() - 1);
    let n: u64 = n.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::parse_grpc_timeout;
    use std::time::Duration;

    #[test]
    fn grpc_timeout_units() {
        assert_eq!(parse_grpc_timeout("100m"), Some(Duration::from_millis(100)));
        assert_eq!(parse_grpc_timeout("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse_grpc_timeout("5x"), None);
        assert_eq!(parse_grpc_timeout("m"), None);
    }
}
