//! `complaint.v1.AnalyticsService`: request validation and proto ⇄ domain translation around
//! [`crate::analytics::service::Analytics`], which applies identity, region scope, masking and audit.
use crate::analytics::causes::MajorIssue;
use crate::analytics::hotspots::{Hotspot, HotspotQuery, Sample};
use crate::analytics::keywords::Keyword;
use crate::analytics::kpi::Grouping;
use crate::analytics::service::{Analytics, Ask};
use crate::analytics::volumes::Dimension;
use crate::analytics::Grain;
use crate::error::Error;
use crate::identity::{call_info, caller};
use crate::proto::complaint::v1::analytics_service_server::AnalyticsService;
use crate::proto::complaint::v1::{self as pb, Granularity, KpiGrouping};
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// The analytics service.
pub struct AnalyticsApi {
    analytics: Arc<Analytics>,
}

impl AnalyticsApi {
    pub fn new(analytics: Arc<Analytics>) -> AnalyticsApi {
        AnalyticsApi { analytics }
    }
}

fn ts(us: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: us.div_euclid(1_000_000),
        nanos: (us.rem_euclid(1_000_000) * 1_000) as i32,
    }
}

fn us_of(field: &str, t: &Option<prost_types::Timestamp>) -> Result<i64, Error> {
    let t = t
        .as_ref()
        .ok_or_else(|| Error::invalid(field, "required (a timestamp)"))?;
    if !(0..=253_402_300_799).contains(&t.seconds) {
        return Err(Error::invalid(field, "a timestamp between 1970 and 9999"));
    }
    Ok(t.seconds * 1_000_000 + i64::from(t.nanos.clamp(0, 999_999_999)) / 1_000)
}

fn ask(
    from: &Option<prost_types::Timestamp>,
    to: &Option<prost_types::Timestamp>,
    f: &Option<pb::AnalyticsFilter>,
) -> Result<Ask, Error> {
    let f = f.clone().unwrap_or_default();
    Ok(Ask {
        from_us: us_of("from", from)?,
        to_us: us_of("to", to)?,
        regions: f.regions,
        category: f.category,
    })
}

fn grain(g: i32, default: Grain) -> Result<Grain, Error> {
    match Granularity::try_from(g) {
        Ok(Granularity::Unspecified) => Ok(default),
        Ok(Granularity::Hour) => Ok(Grain::Hour),
        Ok(Granularity::Day) => Ok(Grain::Day),
        Ok(Granularity::Week) => Ok(Grain::Week),
        Err(_) => Err(Error::invalid("granularity", "HOUR, DAY or WEEK")),
    }
}

fn dimension(d: i32) -> Result<Dimension, Error> {
    use pb::Dimension as D;
    Ok(match D::try_from(d) {
        Ok(D::Unspecified) | Ok(D::Category) => Dimension::Category,
        Ok(D::Region) => Dimension::Region,
        Ok(D::Cause) => Dimension::Cause,
        Ok(D::Channel) => Dimension::Channel,
        Ok(D::Scenario) => Dimension::Scenario,
        Ok(D::HandlerGroup) => Dimension::Group,
        Ok(D::Cell) => Dimension::Cell,
        Ok(D::VasProvider) => Dimension::VasProvider,
        Ok(D::PaymentChannel) => Dimension::PaymentChannel,
        Err(_) => {
            return Err(Error::invalid(
                "dimension",
                "REGION, CATEGORY, CAUSE, CHANNEL, SCENARIO, HANDLER_GROUP, CELL, VAS_PROVIDER or PAYMENT_CHANNEL",
            ))
        }
    })
}

fn grouping(g: i32) -> Result<Grouping, Error> {
    Ok(match KpiGrouping::try_from(g) {
        Ok(KpiGrouping::Unspecified) => Grouping::Overall,
        Ok(KpiGrouping::Region) => Grouping::Region,
        Ok(KpiGrouping::HandlerGroup) => Grouping::Group,
        Ok(KpiGrouping::Handler) => Grouping::Handler,
        Ok(KpiGrouping::Category) => Grouping::Category,
        Err(_) => return Err(Error::invalid("grouping", "REGION, HANDLER_GROUP, HANDLER or CATEGORY")),
    })
}

fn limit(n: i32, default: u32, max: u32) -> u32 {
    if n <= 0 {
        default
    } else {
        (n as u32).min(max)
    }
}

fn sample(s: &Sample) -> pb::ComplaintSample {
    pb::ComplaintSample {
        complaint_id: s.complaint_id.clone(),
        msisdn: s.msisdn.clone(),
        text: s.text.clone(),
        created_at: Some(ts(s.created_at_us)),
        region: s.region.clone(),
        category: s.category.clone(),
        cause_code: s.cause_code.clone(),
    }
}

fn hotspot(h: &Hotspot) -> pb::Hotspot {
    pb::Hotspot {
        series_dimension: h.dimension.clone(),
        series_value: h.value.clone(),
        region: h.region.clone(),
        start: Some(ts(h.start_us)),
        end: Some(ts(h.end_us)),
        buckets: h.buckets as i32,
        observed: h.observed,
        expected: h.expected,
        excess: h.excess(),
        ratio: if h.expected > 0.0 {
            h.observed as f64 / h.expected
        } else {
            0.0
        },
        p_value: h.p_value,
        method: h.method.to_string(),
        contributors: h
            .contributors
            .iter()
            .map(|c| pb::Contributor {
                dimension: c.dimension.clone(),
                value: c.value.clone(),
                observed: c.observed,
                expected: c.expected,
                share_of_excess: c.share_of_excess,
            })
            .collect(),
        samples: h.samples.iter().map(sample).collect(),
        major_issue_id: h.major_issue_id.clone(),
    }
}

fn keyword(k: &Keyword) -> pb::Keyword {
    pb::Keyword {
        term: k.term.clone(),
        documents: k.documents,
        score: k.score,
        reference_documents: k.reference_documents,
        expected: k.expected,
        examples: k.examples.iter().map(sample).collect(),
    }
}

fn issue(i: &MajorIssue) -> pb::MajorIssue {
    pb::MajorIssue {
        issue_id: i.issue_id.clone(),
        category: i.category.clone(),
        place_dimension: i.place_dim.clone(),
        place_value: i.place_value.clone(),
        region: i.region.clone(),
        owner_group: i.owner_group.clone(),
        first_at: Some(ts(i.first_at_us)),
        last_at: Some(ts(i.last_at_us)),
        complaints: i.complaints,
    }
}

fn hotspot_query(r: &pb::ListHotspotsRequest) -> Result<HotspotQuery, Error> {
    let g = grain(r.granularity, Grain::Day)?;
    if g == Grain::Week {
        return Err(Error::invalid(
            "granularity",
            "hotspots are found in HOUR or DAY buckets",
        ));
    }
    let mut q = HotspotQuery::defaults(g);
    if r.alpha != 0.0 {
        if !(r.alpha > 0.0 && r.alpha < 0.5) {
            return Err(Error::invalid(
                "alpha",
                "a tail probability between 0 and 0.5, e.g. 0.0001",
            ));
        }
        q.params.alpha = r.alpha;
    }
    if r.baseline_days != 0 {
        if !(7..=120).contains(&r.baseline_days) {
            return Err(Error::invalid("baseline_days", "between 7 and 120"));
        }
        q.baseline_days = i64::from(r.baseline_days);
        q.params.baseline = r.baseline_days as usize * if g == Grain::Hour { 24 } else { 1 };
    }
    if r.min_ratio != 0.0 {
        if !(1.0..=100.0).contains(&r.min_ratio) {
            return Err(Error::invalid("min_ratio", "between 1 and 100"));
        }
        q.params.min_ratio = r.min_ratio;
    }
    if r.min_count != 0 {
        if !(1..=100_000).contains(&r.min_count) {
            return Err(Error::invalid("min_count", "between 1 and 100000"));
        }
        q.params.min_count = i64::from(r.min_count);
    }
    if r.warm_up_days != 0 {
        if !(1..=q.baseline_days).contains(&i64::from(r.warm_up_days)) {
            return Err(Error::invalid(
                "warm_up_days",
                format!("between 1 and baseline_days ({})", q.baseline_days),
            ));
        }
        q.params.min_history = r.warm_up_days as usize * if g == Grain::Hour { 24 } else { 1 };
    }
    Ok(q)
}

#[tonic::async_trait]
impl AnalyticsService for AnalyticsApi {
    async fn get_volumes(
        &self,
        req: Request<pb::GetVolumesRequest>,
    ) -> Result<Response<pb::GetVolumesResponse>, Status> {
        let who = caller(&req)?;
        let call = call_info(&req);
        let r = req.into_inner();
        let a = ask(&r.from, &r.to, &r.filter)?;
        let v = self
            .analytics
            .volumes(
                &who,
                &call,
                &a,
                grain(r.granularity, Grain::Day)?,
                dimension(r.dimension)?,
                limit(r.top, 20, 200) as usize,
            )
            .await?;
        Ok(Response::new(pb::GetVolumesResponse {
            buckets: v.buckets.iter().map(|b| ts(*b)).collect(),
            series: v
                .series
                .iter()
                .map(|s| pb::VolumeSeries {
                    value: s.value.clone(),
                    counts: s.counts.clone(),
                    total: s.total,
                    previous_total: s.previous_total,
                    share: s.share,
                    change: s.change,
                })
                .collect(),
            total: v.total,
            previous_total: v.previous_total,
            previous_from: Some(ts(v.previous_from_us)),
        }))
    }

    async fn get_kpis(&self, req: Request<pb::GetKpisRequest>) -> Result<Response<pb::GetKpisResponse>, Status> {
        let who = caller(&req)?;
        let call = call_info(&req);
        let r = req.into_inner();
        let a = ask(&r.from, &r.to, &r.filter)?;
        let groups = self.analytics.kpis(&who, &call, &a, grouping(r.grouping)?).await?;
        Ok(Response::new(pb::GetKpisResponse {
            groups: groups
                .into_iter()
                .map(|g| pb::KpiGroup {
                    key: g.key,
                    kpis: g
                        .figures
                        .iter()
                        .map(|f| pb::Kpi {
                            name: f.name.into(),
                            label: f.label.into(),
                            numerator: f.numerator,
                            denominator: f.denominator,
                            value: f.value,
                            reference: f.reference.unwrap_or(0.0),
                        })
                        .collect(),
                })
                .collect(),
        }))
    }

    async fn drill_down_kpi(
        &self,
        req: Request<pb::DrillDownKpiRequest>,
    ) -> Result<Response<pb::DrillDownKpiResponse>, Status> {
        let who = caller(&req)?;
        let call = call_info(&req);
        let r = req.into_inner();
        let a = ask(&r.from, &r.to, &r.filter)?;
        let (ids, total) = self
            .analytics
            .drill_down(
                &who,
                &call,
                &a,
                &r.kpi,
                grouping(r.grouping)?,
                &r.key,
                r.denominator,
                limit(r.limit, 100, 1000),
            )
            .await?;
        Ok(Response::new(pb::DrillDownKpiResponse {
            complaint_ids: ids,
            total,
        }))
    }

    async fn list_hotspots(
        &self,
        req: Request<pb::ListHotspotsRequest>,
    ) -> Result<Response<pb::ListHotspotsResponse>, Status> {
        let who = caller(&req)?;
        let call = call_info(&req);
        let r = req.into_inner();
        let a = ask(&r.from, &r.to, &r.filter)?;
        let q = hotspot_query(&r)?;
        let found = self.analytics.hotspots(&who, &call, &a, q).await?;
        let p = &q.params;
        let warm_up = if q.grain == Grain::Hour {
            format!("{} hours", p.min_history)
        } else {
            format!("{} days", p.min_history)
        };
        Ok(Response::new(pb::ListHotspotsResponse {
            hotspots: found.hotspots.iter().map(hotspot).collect(),
            method: format!(
                "seasonal baseline (robust level over {} days, season {} buckets) with a Poisson tail test (alpha {}, at least {} complaints and {}x expected) and a Poisson CUSUM (k {}, h {}); detection starts after a warm-up: a series is tested only once it has {warm_up} of history since its first complaint ({} of {} series were still warming up during the range); see docs/analytics.md",
                q.baseline_days, p.season, p.alpha, p.min_count, p.min_ratio, p.cusum_k, p.cusum_h,
                found.warming_up, found.series
            ),
            series_in_warm_up: found.warming_up.min(i32::MAX as usize) as i32,
            series_scanned: found.series.min(i32::MAX as usize) as i32,
        }))
    }

    async fn get_keywords(
        &self,
        req: Request<pb::GetKeywordsRequest>,
    ) -> Result<Response<pb::GetKeywordsResponse>, Status> {
        let who = caller(&req)?;
        let call = call_info(&req);
        let r = req.into_inner();
        let a = ask(&r.from, &r.to, &r.filter)?;
        let reference_days = if r.reference_days == 0 {
            28
        } else {
            i64::from(r.reference_days)
        };
        if !(1..=365).contains(&reference_days) {
            return Err(Error::invalid("reference_days", "between 1 and 365").into());
        }
        let (top, rising, n, nr) = self
            .analytics
            .keywords(&who, &call, &a, limit(r.top, 10, 50) as usize, reference_days)
            .await?;
        Ok(Response::new(pb::GetKeywordsResponse {
            top: top.iter().map(keyword).collect(),
            rising: rising.iter().map(keyword).collect(),
            documents: n,
            reference_documents: nr,
        }))
    }

    async fn get_causes(&self, req: Request<pb::GetCausesRequest>) -> Result<Response<pb::GetCausesResponse>, Status> {
        let who = caller(&req)?;
        let call = call_info(&req);
        let r = req.into_inner();
        let a = ask(&r.from, &r.to, &r.filter)?;
        let rows = self.analytics.causes(&who, &call, &a, r.by_region).await?;
        Ok(Response::new(pb::GetCausesResponse {
            causes: rows
                .into_iter()
                .map(|c| pb::CauseRow {
                    category: c.category,
                    cause_code: c.cause_code,
                    region: c.region,
                    count: c.count,
                    previous_count: c.previous_count,
                    auto_reply_share: c.auto_reply_share,
                })
                .collect(),
        }))
    }

    async fn list_major_issues(
        &self,
        req: Request<pb::ListMajorIssuesRequest>,
    ) -> Result<Response<pb::ListMajorIssuesResponse>, Status> {
        let who = caller(&req)?;
        let call = call_info(&req);
        let r = req.into_inner();
        let a = ask(&r.from, &r.to, &r.filter)?;
        let issues = self.analytics.major_issues(&who, &call, &a).await?;
        Ok(Response::new(pb::ListMajorIssuesResponse {
            issues: issues.iter().map(issue).collect(),
        }))
    }

    async fn get_major_issue(
        &self,
        req: Request<pb::GetMajorIssueRequest>,
    ) -> Result<Response<pb::GetMajorIssueResponse>, Status> {
        let who = caller(&req)?;
        let call = call_info(&req);
        let r = req.into_inner();
        let (i, children) = self
            .analytics
            .major_issue(&who, &call, &r.issue_id, limit(r.limit, 100, 1000))
            .await?;
        Ok(Response::new(pb::GetMajorIssueResponse {
            issue: Some(issue(&i)),
            children: children.iter().map(sample).collect(),
        }))
    }

    async fn get_report(&self, req: Request<pb::GetReportRequest>) -> Result<Response<pb::GetReportResponse>, Status> {
        let who = caller(&req)?;
        let call = call_info(&req);
        let r = req.into_inner();
        let a = ask(&r.from, &r.to, &r.filter)?;
        let html = self.analytics.report(&who, &call, &a).await?;
        Ok(Response::new(pb::GetReportResponse { html }))
    }
}
