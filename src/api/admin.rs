//! `complaint.v1.GatewayAdminService` (cache invalidation) and per-source health reporting.
use crate::error::Error;
use crate::identity::audit::AuditNote;
use crate::identity::masking::mask_phone;
use crate::identity::{Identity, Permission};
use crate::msisdn;
use crate::proto::complaint::v1::gateway_admin_service_server::{GatewayAdminService, GatewayAdminServiceServer};
use crate::proto::complaint::v1::{InvalidateSubscriberRequest, InvalidateSubscriberResponse};
use crate::read::Reads;
use crate::stack::BreakerState;
use std::sync::Arc;
use std::time::Instant;
use tonic::{Request, Response, Status};

/// The admin service over the gateway's cache.
pub struct AdminApi {
    reads: Arc<Reads>,
}

impl AdminApi {
    pub fn new(reads: Arc<Reads>) -> AdminApi {
        AdminApi { reads }
    }

    /// Checks and performs one invalidation: the sources cleared and how many answers were removed.
    async fn invalidate(
        &self,
        caller: &Identity,
        note: &AuditNote,
        req: &InvalidateSubscriberRequest,
        deadline: Option<Instant>,
    ) -> Result<(String, Vec<String>, u64), Error> {
        // Dropping cached answers forces backend reads and takes away the copies STALE answers come from
        // during an outage: operators and the systems that change subscriber data only.
        caller.require(Permission::InvalidateCache, "invalidating cached answers")?;
        let msisdn = msisdn::normalize("msisdn", &req.msisdn)?;
        note.set_msisdn(&msisdn);
        let reader = self.reads.reader();
        let sources: Vec<String> = reader
            .select(&req.sources)?
            .iter()
            .map(|s| s.adapter.name().to_string())
            .collect();
        note.touch(sources.iter().map(String::as_str));
        // Within the caller's regions, like a read.
        self.reads.authorise_subscriber(caller, note, &msisdn, deadline).await?;
        let removed = reader.cache().invalidate(&msisdn, &sources).await;
        Ok((msisdn, sources, removed))
    }
}

/// The admin service, ready to add to a server.
pub fn admin_server(reads: Arc<Reads>) -> GatewayAdminServiceServer<AdminApi> {
    GatewayAdminServiceServer::new(AdminApi::new(reads))
}

#[tonic::async_trait]
impl GatewayAdminService for AdminApi {
    async fn invalidate_subscriber(
        &self,
        request: Request<InvalidateSubscriberRequest>,
    ) -> Result<Response<InvalidateSubscriberResponse>, Status> {
        let caller = crate::identity::caller(&request)?;
        let call = crate::identity::call_info(&request);
        let deadline = super::deadline(&request);
        let req = request.into_inner();
        let note = AuditNote::new(&caller, &call, &req.msisdn, "");
        let result = self.invalidate(&caller, &note, &req, deadline).await;
        if let Ok((_, _, removed)) = &result {
            // How many answers were cached says whether someone read the subscriber recently: it goes to
            // the audit trail, not to the caller.
            note.set_detail(&format!("removed {removed} cached answer(s)"));
        }
        self.reads.record(note, &result).await?;
        let (msisdn, sources, removed) = result?;
        tracing::info!(caller = %caller.subject, msisdn = %mask_phone(&msisdn), sources = ?sources, removed, "cache invalidated");
        Ok(Response::new(InvalidateSubscriberResponse { sources }))
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
