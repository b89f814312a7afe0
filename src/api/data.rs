//! `complaint.v1.ComplaintDataService`.
use super::Gateway;
use crate::adapters::UsageQuery;
use crate::error::Error;
use crate::msisdn;
use crate::proto::complaint::v1::complaint_data_service_server::ComplaintDataService;
use crate::proto::complaint::v1::{
    GetSubscriberViewRequest, GetSubscriberViewResponse, StreamUsageRequest, StreamUsageResponse,
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

/// The one path every read of subscriber data takes (views, and diagnosis through it): the request's
/// metadata and extensions carry the caller; identity, authorisation, cache policy, masking and audit hook
/// in here, so no RPC can read around them.
pub async fn read_view<T>(
    gw: &Gateway,
    request: &Request<T>,
    raw_msisdn: &str,
    source_filter: &[String],
    purpose: &str,
) -> Result<ViewOutcome, Error> {
    let _ = purpose;
    let deadline = super::deadline(request);
    let msisdn = msisdn::normalize("msisdn", raw_msisdn)?;
    let sources = gw.reader.select(source_filter)?;
    gw.reader.read(&msisdn, &sources, &|_| None, deadline).await
}

#[tonic::async_trait]
impl ComplaintDataService for DataApi {
    async fn get_subscriber_view(
        &self,
        request: Request<GetSubscriberViewRequest>,
    ) -> Result<Response<GetSubscriberViewResponse>, Status> {
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
        let req = request.into_inner();
        let msisdn = msisdn::normalize("msisdn", &req.msisdn)?;
        let from = to_utc("from", req.from.as_ref())?;
        let to = to_utc("to", req.to.as_ref())?;
        if to <= from {
            return Err(Error::invalid("to", "must be after `from`").into());
        }
        let max_days = i64::from(self.gw.config.server.max_usage_range_days);
        if (to - from).num_days() > max_days {
            return Err(Error::invalid("to", format!("the range may span at most {max_days} days")).into());
        }
        let mut kinds = Vec::new();
        for (i, k) in req.kinds.iter().enumerate() {
            match crate::proto::complaint::v1::UsageKind::try_from(*k) {
                Ok(crate::proto::complaint::v1::UsageKind::Unspecified) | Err(_) => {
                    return Err(Error::invalid(format!("kinds[{i}]"), format!("{k} is not a usage kind")).into())
                }
                Ok(_) => kinds.push(*k),
            }
        }
        let streams: Vec<_> = self
            .gw
            .reader
            .registry()
            .sources
            .iter()
            .filter(|s| s.adapter.has_usage_stream())
            .filter_map(|s| {
                s.adapter.stream_usage(UsageQuery {
                    msisdn: msisdn.clone(),
                    operator_id: None,
                    from,
                    to,
                })
            })
            .collect();
        if streams.is_empty() {
            return Err(Error::FailedPrecondition("no configured source provides usage records".into()).into());
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
                        r.map(|record| StreamUsageResponse { record: Some(record) })
                            .map_err(|e| Status::unavailable(e.to_string()))
                    })
                }
            })
            .boxed();
        Ok(Response::new(out))
    }
}
