//! `complaint.v1.ComplaintDataService`.
use super::Gateway;
use crate::adapters::UsageQuery;
use crate::cache::ReadPolicy;
use crate::error::Error;
use crate::identity::reads::AuditNote;
use crate::identity::{Identity, Permission};
use crate::msisdn;
use crate::proto::complaint::v1::complaint_data_service_server::ComplaintDataService;
use crate::proto::complaint::v1::{
    CacheMode, GetSubscriberViewRequest, GetSubscriberViewResponse, StreamUsageRequest, StreamUsageResponse,
};
use crate::view::ViewOutcome;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use futures::StreamExt;
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub struct DataApi {
    gw: Arc<Gateway>,
}

impl DataApi {
    pub fn new(gw: Arc<Gateway>) -> DataApi {
        DataApi { gw }
    }
}

fn to_utc(field: &str, ts: Option<&prost_types::Timestamp>) -> Result<DateTime<Utc>, Error> {
    let ts = ts.ok_or_else(|| Error::invalid(field, "required"))?;
    if !(0..1_000_000_000).contains(&ts.nanos) {
        return Err(Error::invalid(field, "nanos must be in [0, 999999999]"));
    }
    DateTime::from_timestamp(ts.seconds, ts.nanos as u32).ok_or_else(|| Error::invalid(field, "out of range"))
}

/// The one path every read of subscriber data takes (views, and diagnosis through [`read_view_then`]): the
/// request's metadata and extensions carry the caller; identity, authorisation, cache policy, masking and
/// audit hook in here, so no RPC can read around them.
pub async fn read_view<T>(
    gw: &Gateway,
    request: &Request<T>,
    raw_msisdn: &str,
    source_filter: &[String],
    purpose: &str,
) -> Result<ViewOutcome, Error> {
    let keep = |outcome| Ok((outcome, None));
    let (outcome, _) = read_view_then(gw, request, raw_msisdn, source_filter, purpose, keep).await?;
    Ok(outcome)
}

/// [`read_view`] for a call that goes on to produce something from the view, committing its own rows
/// with the read's audit event: see [`crate::identity::reads::guarded_view`].
pub async fn read_view_then<T, R>(
    gw: &Gateway,
    request: &Request<T>,
    raw_msisdn: &str,
    source_filter: &[String],
    purpose: &str,
    then: impl FnOnce(ViewOutcome) -> crate::identity::reads::Made<R>,
) -> Result<(R, crate::identity::audit::RiderResult), Error> {
    let deadline = super::deadline(request);
    // The caller's cache policy, where the RPC carries one (see `cache_policy`).
    let policy = request.extensions().get::<ReadPolicy>().cloned().unwrap_or_default();
    // Authorise (permission, region after the read), bind operator IDs, mask, audit: see identity::reads.
    crate::identity::reads::guarded_view(gw, request, raw_msisdn, source_filter, purpose, deadline, &policy, then).await
}

/// The cache policy of a `GetSubscriberView` request, checked.
pub fn cache_policy(req: &GetSubscriberViewRequest) -> Result<ReadPolicy, Error> {
    let bypass = match CacheMode::try_from(req.cache_mode) {
        Ok(CacheMode::Unspecified | CacheMode::Use) => false,
        Ok(CacheMode::Bypass) => true,
        Err(_) => {
            return Err(Error::invalid(
                "cache_mode",
                format!(
                    "{} is not a cache mode (CACHE_MODE_USE = 1, CACHE_MODE_BYPASS = 2)",
                    req.cache_mode
                ),
            ))
        }
    };
    Ok(ReadPolicy {
        max_staleness: (req.max_staleness_ms > 0)
            .then(|| std::time::Duration::from_millis(req.max_staleness_ms.into())),
        bypass,
    })
}

#[tonic::async_trait]
impl ComplaintDataService for DataApi {
    async fn get_subscriber_view(
        &self,
        mut request: Request<GetSubscriberViewRequest>,
    ) -> Result<Response<GetSubscriberViewResponse>, Status> {
        let policy = match cache_policy(request.get_ref()) {
            Ok(p) => p,
            Err(e) => {
                let r = request.get_ref();
                return Err(
                    crate::identity::reads::reject(&self.gw, &request, &r.msisdn, &r.purpose, e)
                        .await
                        .into(),
                );
            }
        };
        request.extensions_mut().insert(policy);
        let req = request.get_ref();
        let outcome = read_view(&self.gw, &request, &req.msisdn, &req.sources, &req.purpose).await?;
        Ok(Response::new(GetSubscriberViewResponse {
            view: Some(outcome.view),
            sources: outcome.statuses,
        }))
    }

    type StreamUsageStream = BoxStream<'static, Result<StreamUsageResponse, Status>>;

    async fn stream_usage(
        &self,
        request: Request<StreamUsageRequest>,
    ) -> Result<Response<Self::StreamUsageStream>, Status> {
        // The caller is authorised and the audit event recorded before the first record is sent.
        let caller = crate::identity::caller(&request)?;
        let deadline = super::deadline(&request);
        let note = AuditNote::new(
            &caller,
            &crate::identity::call_info(&request),
            &request.get_ref().msisdn,
            &request.get_ref().purpose,
        );
        let result = self.usage_stream(&caller, &note, request.into_inner(), deadline).await;
        // (A stream is not Sync: record the outcome, not the stream.)
        let outcome = result.as_ref().map(|_| ()).map_err(Clone::clone);
        self.gw.identity.record(note, &outcome).await?;
        Ok(Response::new(result?))
    }
}

impl DataApi {
    async fn usage_stream(
        &self,
        caller: &Identity,
        note: &AuditNote,
        req: StreamUsageRequest,
        deadline: Option<std::time::Instant>,
    ) -> Result<BoxStream<'static, Result<StreamUsageResponse, Status>>, Error> {
        caller.require(Permission::ReadUsage, "StreamUsage")?;
        crate::identity::validate_free_text("purpose", &req.purpose)?;
        let msisdn = msisdn::normalize("msisdn", &req.msisdn)?;
        note.set_msisdn(&msisdn);
        let from = to_utc("from", req.from.as_ref())?;
        let to = to_utc("to", req.to.as_ref())?;
        if to <= from {
            return Err(Error::invalid("to", "must be after `from`"));
        }
        let max_days = i64::from(self.gw.config.server.max_usage_range_days);
        if (to - from).num_days() > max_days {
            return Err(Error::invalid(
                "to",
                format!("the range may span at most {max_days} days"),
            ));
        }
        let mut kinds = Vec::new();
        for (i, k) in req.kinds.iter().enumerate() {
            match crate::proto::complaint::v1::UsageKind::try_from(*k) {
                Ok(crate::proto::complaint::v1::UsageKind::Unspecified) | Err(_) => {
                    return Err(Error::invalid(
                        format!("kinds[{i}]"),
                        format!("{k} is not a usage kind"),
                    ))
                }
                Ok(_) => kinds.push(*k),
            }
        }
        let grant = crate::identity::reads::authorise_subscriber(&self.gw, caller, note, &msisdn, deadline).await?;
        let mask = !caller.can(Permission::ReadPii);
        let streams: Vec<_> = self
            .gw
            .reader
            .registry()
            .sources
            .iter()
            .filter(|s| s.adapter.has_usage_stream())
            .filter_map(|s| {
                note.touch([s.adapter.name()]);
                s.adapter.stream_usage(UsageQuery {
                    msisdn: msisdn.clone(),
                    operator_id: caller.operator_id(s.adapter.name(), grant.region.as_deref()),
                    from,
                    to,
                })
            })
            .collect();
        if streams.is_empty() {
            return Err(Error::FailedPrecondition(
                "no configured source provides usage records".into(),
            ));
        }
        let out = futures::stream::iter(streams)
            .flatten()
            .filter_map(move |r| {
                let keep = match &r {
                    Ok(rec) => kinds.is_empty() || kinds.contains(&rec.kind),
                    Err(_) => true,
                };
                async move {
                    keep.then(|| {
                        r.map(|mut record| {
                            if mask {
                                crate::identity::masking::mask_usage(&mut record);
                            }
                            StreamUsageResponse { record: Some(record) }
                        })
                        .map_err(|e| Status::unavailable(e.to_string()))
                    })
                }
            })
            .boxed();
        Ok(out)
    }
}
