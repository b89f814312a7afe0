//! `complaint.v1.GatewayAdminService` (cache invalidation) and per-source health reporting.
use crate::msisdn;
use crate::proto::complaint::v1::gateway_admin_service_server::{GatewayAdminService, GatewayAdminServiceServer};
use crate::proto::complaint::v1::{InvalidateSubscriberRequest, InvalidateSubscriberResponse};
use crate::stack::BreakerState;
use crate::view::ViewReader;
use tonic::{Request, Response, Status};

/// The admin service over the gateway's cache.
pub struct AdminApi {
    reader: ViewReader,
}

impl AdminApi {
    pub fn new(reader: ViewReader) -> AdminApi {
        AdminApi { reader }
    }
}

/// The admin service, ready to add to a server.
pub fn admin_server(reader: ViewReader) -> GatewayAdminServiceServer<AdminApi> {
    GatewayAdminServiceServer::new(AdminApi::new(reader))
}

#[tonic::async_trait]
impl GatewayAdminService for AdminApi {
    async fn invalidate_subscriber(
        &self,
        request: Request<InvalidateSubscriberRequest>,
    ) -> Result<Response<InvalidateSubscriberResponse>, Status> {
        // Any caller who may read views may force fresh reads (as CACHE_MODE_BYPASS does); invalidation
        // reveals nothing and writes nothing at a backend.
        crate::identity::caller(&request)?.require(crate::identity::Permission::ReadView, "invalidate cached views")?;
        let req = request.into_inner();
        let msisdn = msisdn::normalize("msisdn", &req.msisdn)?;
        let sources: Vec<String> = self
            .reader
            .select(&req.sources)?
            .iter()
            .map(|s| s.adapter.name().to_string())
            .collect();
        let removed = self.reader.cache().invalidate(&msisdn, &sources).await;
        tracing::info!(msisdn = %msisdn, sources = ?sources, removed, "cache invalidated");
        Ok(Response::new(InvalidateSubscriberResponse {
            entries_removed: removed,
            sources,
        }))
    }
}

/// The health service name of a source: `complaint.v1.source.<name>`.
pub fn source_health_name(source: &str) -> String {
    format!("complaint.v1.source.{source}")
}

/// Keeps a source's health status in step with its breaker: NOT_SERVING while open or probing.
pub async fn report_breaker(
    health: tonic_health::server::HealthReporter,
    source: String,
    mut rx: tokio::sync::watch::Receiver<BreakerState>,
) {
    let name = source_health_name(&source);
    loop {
        let state = *rx.borrow_and_update();
        let status = match state {
            BreakerState::Closed => tonic_health::ServingStatus::Serving,
            BreakerState::Open | BreakerState::HalfOpen => tonic_health::ServingStatus::NotServing,
        };
        health.set_service_status(&name, status).await;
        if rx.changed().await.is_err() {
            return;
        }
    }
}
