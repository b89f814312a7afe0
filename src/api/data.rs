//! `complaint.v1.ComplaintDataService`.
use crate::adapters::UsageQuery;
use crate::cache::ReadPolicy;
use crate::error::Error;
use crate::identity::audit::AuditNote;
use crate::identity::{Identity, Permission};
use crate::msisdn;
use crate::proto::complaint::v1::complaint_data_service_server::ComplaintDataService;
use crate::proto::complaint::v1::{
    CacheMode, FieldConflict, GetSubscriberViewRequest, GetSubscriberViewResponse, StreamUsageRequest,
    StreamUsageResponse,
};
use crate::read::Reads;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use futures::StreamExt;
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub struct DataApi {
    reads: Arc<Reads>,
    /// Largest time range one `StreamUsage` call may ask for (`[server] max_usage_range_days`).
    max_usage_range_days: u32,
}

impl DataApi {
    pub fn new(reads: Arc<Reads>, max_usage_range_days: u32) -> DataApi {
        DataApi {
            reads,
            max_usage_range_days,
        }
    }
}

fn to_utc(field: &str, ts: Option<&prost_types::Timestamp>) -> Result<DateTime<Utc>, Error> {
    let ts = ts.ok_or_else(|| Error::invalid(field, "required"))?;
    if !(0..1_000_000_000).contains(&ts.nanos) {
        return Err(Error::invalid(field, "nanos must be in [0, 999999999]"));
    }
    DateTime::from_timestamp(ts.seconds, ts.nanos as u32).ok_or_else(|| Error::invalid(field, "out of range"))
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
        request: Request<GetSubscriberViewRequest>,
    ) -> Result<Response<GetSubscriberViewResponse>, Status> {
        let req = request.get_ref();
        let mut read = super::read_request(&request, &req.msisdn, &req.purpose)?;
        read.sources = req.sources.clone();
        read.policy = match cache_policy(req) {
            Ok(p) => p,
            Err(e) => return Err(self.reads.refuse(&read, e).await.into()),
        };
        let outcome = self.reads.view(read).await?;
        // A warm read sends the kept view's bytes; any other read, its view encoded as usual.
        let encoded_view = outcome.encoded_view();
        let view = match encoded_view {
            Some(_) => None,
            None => Some(std::sync::Arc::unwrap_or_clone(outcome.view)),
        };
        Ok(Response::new(GetSubscriberViewResponse {
            view,
            encoded_view,
            sources: outcome.statuses,
            conflicts: outcome
                .conflicts
                .into_iter()
                .map(|c| FieldConflict {
                    reason: c.reason().to_string(),
                    field: c.field,
                    sources: c.sources,
                    chosen_source: c.chosen,
                })
                .collect(),
        }))
    }

    type StreamUsageStream = BoxStream<'static, Result<StreamUsageResponse, Status>>;

    async fn stream_usage(
        &self,
        request: Request<StreamUsageRequest>,
    ) -> Result<Response<Self::StreamUsageStream>, Status> {
        // The caller is authorised, the first record (or the stream's end or failure) awaited, and the
        // audit event recorded, saying which, before anything is sent.
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
        self.reads.record(note, &outcome).await?;
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
        let max_days = i64::from(self.max_usage_range_days);
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
        let grant = self.reads.authorise_subscriber(caller, note, &msisdn, deadline).await?;
        let mask = !caller.can(Permission::ReadPii);
        let reader = self.reads.reader();
        let mut streams = Vec::new();
        for s in reader
            .registry()
            .sources
            .iter()
            .filter(|s| s.adapter.has_usage_stream())
        {
            let name = s.adapter.name();
            note.touch([name]);
            let q = UsageQuery {
                msisdn: msisdn.clone(),
                operator_id: caller.operator_id(name, grant.region.as_deref()),
                from,
                to,
            };
            let opened = match reader.stack(name) {
                Some(stack) => {
                    crate::usage::open(stack, s.adapter.as_ref(), q, deadline).map_err(|e| match Error::from(e) {
                        Error::SourceUnavailable(m) => Error::SourceUnavailable(format!("{name}: {m}")),
                        other => other,
                    })?
                }
                // A source outside the registry's stacks (tests): as it is.
                None => s.adapter.stream_usage(q),
            };
            streams.extend(opened);
        }
        if streams.is_empty() {
            return Err(Error::FailedPrecondition(
                "no configured source provides usage records".into(),
            ));
        }
        let mut records = futures::stream::iter(streams)
            .flatten()
            .filter(move |r| {
                let keep = match r {
                    Ok(rec) => kinds.is_empty() || kinds.contains(&rec.kind),
                    Err(_) => true,
                };
                futures::future::ready(keep)
            })
            .map(move |r| {
                r.map(|mut record| {
                    if mask {
                        crate::identity::masking::mask_usage(&mut record);
                    }
                    StreamUsageResponse { record: Some(record) }
                })
            })
            .boxed();
        // The first record decides what the audit event says: a stream whose backend does not answer is
        // an outage (UNAVAILABLE, nothing sent), one with no records in range says so.
        match records.next().await {
            None => {
                note.set_detail("no records in range");
                Ok(futures::stream::empty().boxed())
            }
            Some(Err(e)) => Err(Error::from(e)),
            Some(Ok(first)) => {
                note.set_detail("records sent");
                let rest = records.map(|r| r.map_err(|e| Status::from(Error::from(e))));
                Ok(futures::stream::once(async move { Ok(first) }).chain(rest).boxed())
            }
        }
    }
}
