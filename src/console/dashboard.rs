//! The manager dashboard: volumes, hotspots with their key contributors, rising keywords, causes, KPIs
//! against the seed's figures (80% of complaints detected automatically, 54% answered automatically) and
//! major issues, each from `AnalyticsService` as a gRPC client would ask for it. Every chart drills down:
//! a category's bar to its complaints, a hotspot's bar to its sample complaints and major issue, a KPI to
//! the complaints behind its figure, a cause to its complaints, an issue to its complaints.
use super::calls::{bounded, CallError, Caller};
use super::pages::{self, beijing};
use super::signed_in::SignedIn;
use super::Console;
use crate::proto::complaint::v1::analytics_service_server::AnalyticsService;
use crate::proto::complaint::v1::{self as pb, Dimension, Granularity};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

const DAY: i64 = 86_400;

#[derive(Deserialize, Default)]
pub struct RangeQuery {
    /// Days back from now (default 60, at most 365).
    #[serde(default)]
    days: Option<i64>,
}

fn range(q: &RangeQuery) -> (i64, prost_types::Timestamp, prost_types::Timestamp) {
    let days = q.days.unwrap_or(60).clamp(1, 365);
    let now = chrono::Utc::now().timestamp();
    let ts = |s: i64| prost_types::Timestamp { seconds: s, nanos: 0 };
    (days, ts(now - days * DAY), ts(now + 60))
}

fn pct(v: f64) -> String {
    format!("{:.1}%", v * 100.0)
}

/// Horizontal bars: each `(label, value, link)` as a row of an SVG chart (geometry computed here, text
/// escaped by the template).
fn bars(items: &[(String, f64, String)], unit: &str) -> Value {
    let max = items.iter().map(|i| i.1).fold(0.0_f64, f64::max).max(1.0);
    let row = 22.0;
    json!({
        "height": (items.len() as f64 * row + 6.0),
        "bars": items.iter().enumerate().map(|(n, (label, v, link))| json!({
            "y": n as f64 * row + 3.0,
            "ty": n as f64 * row + 17.0,
            "w": (v / max * 430.0).max(1.0),
            "vx": (v / max * 430.0).max(1.0) + 216.0,
            "label": label,
            "value": if unit == "%" { pct(*v) } else { format!("{v:.0}") },
            "link": link,
        })).collect::<Vec<_>>(),
    })
}

/// Daily totals as columns, each linking to the complaints created that day (`/complaints?day=…`).
fn columns(buckets: &[prost_types::Timestamp], counts: &[i64]) -> Value {
    let max = counts.iter().copied().max().unwrap_or(1).max(1) as f64;
    let w = 660.0 / counts.len().max(1) as f64;
    json!({
        "max": max,
        "cols": counts.iter().enumerate().map(|(i, c)| {
            let day = beijing(buckets.get(i)).get(..10).unwrap_or("").to_string();
            json!({
                "x": 40.0 + i as f64 * w,
                "y": 150.0 - *c as f64 / max * 140.0,
                "w": (w - 1.0).max(1.0),
                "h": (*c as f64 / max * 140.0).max(0.5),
                "title": format!("{day}：{c} 件"),
                "link": format!("/complaints?day={day}&from=日期 {day}"),
                "day": day,
            })
        }).collect::<Vec<_>>(),
        "first": beijing(buckets.first()).get(..10).unwrap_or("").to_string(),
        "last": beijing(buckets.last()).get(..10).unwrap_or("").to_string(),
    })
}

fn sample(s: &pb::ComplaintSample) -> Value {
    json!({
        "id": s.complaint_id, "msisdn": s.msisdn, "text": s.text, "at": beijing(s.created_at.as_ref()),
        "region": pages::region_label(&s.region), "category": s.category, "cause": s.cause_code,
    })
}

fn dimension_label(d: &str) -> &str {
    match d {
        "cell" => "小区",
        "vas_provider" => "增值业务提供商",
        "payment_channel" => "缴费渠道",
        "category" => "投诉分类",
        "cause" => "原因",
        "region" => "地市",
        "channel" => "受理渠道",
        other => other,
    }
}

/// GET /dashboard.
pub async fn page(State(c): State<Arc<Console>>, SignedIn(caller): SignedIn, Query(q): Query<RangeQuery>) -> Response {
    let ctx = dashboard(&c, &caller, &q).await;
    pages::render(&c, "dashboard.html", Some(&caller), ctx)
}

async fn dashboard(c: &Console, caller: &Caller, q: &RangeQuery) -> Value {
    let (days, from, to) = range(q);
    let a = &c.services.analytics;
    let t = c.call_timeout;
    let mut ctx = json!({"nav": "dashboard", "days": days, "from": beijing(Some(&from)), "to": beijing(Some(&to))});
    let mut errors: Vec<CallError> = Vec::new();

    let req = |m: &str| m.to_string();
    let volumes = bounded(
        t,
        a.get_volumes(caller.request(
            &req("AnalyticsService/GetVolumes"),
            pb::GetVolumesRequest {
                from: Some(from),
                to: Some(to),
                granularity: Granularity::Day as i32,
                dimension: Dimension::Category as i32,
                top: 12,
                ..Default::default()
            },
        )),
    )
    .await;
    match volumes {
        Ok(v) => {
            let mut daily = vec![0i64; v.buckets.len()];
            for s in &v.series {
                for (i, n) in s.counts.iter().enumerate() {
                    if let Some(d) = daily.get_mut(i) {
                        *d += n;
                    }
                }
            }
            ctx["total"] = json!(v.total);
            ctx["previous_total"] = json!(v.previous_total);
            ctx["daily"] = columns(&v.buckets, &daily);
            let items: Vec<(String, f64, String)> = v
                .series
                .iter()
                .map(|s| {
                    (
                        s.value.clone(),
                        s.total as f64,
                        format!("/complaints?category={}&from=分类 {}", s.value, s.value),
                    )
                })
                .collect();
            ctx["categories"] = bars(&items, "");
        }
        Err(e) => errors.push(e),
    }

    match bounded(
        t,
        a.list_hotspots(caller.request(
            "AnalyticsService/ListHotspots",
            pb::ListHotspotsRequest {
                from: Some(from),
                to: Some(to),
                granularity: Granularity::Day as i32,
                ..Default::default()
            },
        )),
    )
    .await
    {
        Ok(h) => {
            ctx["hotspot_method"] = json!(h.method);
            // The request leaves the warm-up at its default for daily buckets.
            ctx["hotspot_warm_up"] = json!(format!("{} 天", crate::analytics::detect::Params::daily().min_history));
            ctx["hotspot_warming"] = json!(h.series_in_warm_up);
            let items: Vec<(String, f64, String)> = h
                .hotspots
                .iter()
                .enumerate()
                .map(|(n, x)| {
                    (
                        format!("{} {}", dimension_label(&x.series_dimension), x.series_value),
                        x.excess,
                        format!("#hotspot-{n}"),
                    )
                })
                .collect();
            ctx["hotspot_chart"] = bars(&items, "");
            ctx["hotspots"] = json!(h
                .hotspots
                .iter()
                .enumerate()
                .map(|(n, x)| json!({
                    "n": n,
                    "dimension": dimension_label(&x.series_dimension),
                    "value": x.series_value,
                    "region": pages::region_label(&x.region),
                    "start": beijing(x.start.as_ref()),
                    "end": beijing(x.end.as_ref()),
                    "observed": x.observed,
                    "expected": format!("{:.1}", x.expected),
                    "ratio": format!("{:.1}", x.ratio),
                    "method": x.method,
                    "contributors": x.contributors.iter().take(3).map(|k| json!({
                        "dimension": dimension_label(&k.dimension), "value": k.value,
                        "observed": k.observed, "expected": format!("{:.1}", k.expected),
                        "share": pct(k.share_of_excess.clamp(0.0, 1.0)),
                    })).collect::<Vec<_>>(),
                    "samples": x.samples.iter().take(5).map(sample).collect::<Vec<_>>(),
                    "issue": x.major_issue_id,
                }))
                .collect::<Vec<_>>());
        }
        Err(e) => errors.push(e),
    }

    match bounded(
        t,
        a.get_kpis(caller.request(
            "AnalyticsService/GetKpis",
            pb::GetKpisRequest {
                from: Some(from),
                to: Some(to),
                ..Default::default()
            },
        )),
    )
    .await
    {
        Ok(k) => {
            let kpis: Vec<Value> = k
                .groups
                .first()
                .map(|g| g.kpis.clone())
                .unwrap_or_default()
                .iter()
                .map(|k| {
                    json!({
                        "name": k.name, "label": k.label, "value": pct(k.value),
                        "numerator": k.numerator, "denominator": k.denominator,
                        "reference": (k.reference > 0.0).then(|| pct(k.reference)),
                        "class": if k.reference <= 0.0 { "" } else if k.value >= k.reference { "ok" } else { "bad" },
                    })
                })
                .collect();
            ctx["kpis"] = json!(kpis);
        }
        Err(e) => errors.push(e),
    }

    match bounded(
        t,
        a.get_keywords(caller.request(
            "AnalyticsService/GetKeywords",
            pb::GetKeywordsRequest {
                from: Some(prost_types::Timestamp {
                    seconds: to.seconds - 14 * DAY,
                    nanos: 0,
                }),
                to: Some(to),
                top: 10,
                ..Default::default()
            },
        )),
    )
    .await
    {
        Ok(k) => {
            ctx["rising"] = json!(k
                .rising
                .iter()
                .map(|w| json!({
                    "term": w.term, "documents": w.documents, "expected": format!("{:.1}", w.expected),
                    "score": format!("{:.1}", w.score),
                    "examples": w.examples.iter().take(3).map(sample).collect::<Vec<_>>(),
                }))
                .collect::<Vec<_>>())
        }
        Err(e) => errors.push(e),
    }

    match bounded(
        t,
        a.get_causes(caller.request(
            "AnalyticsService/GetCauses",
            pb::GetCausesRequest {
                from: Some(from),
                to: Some(to),
                ..Default::default()
            },
        )),
    )
    .await
    {
        Ok(r) => {
            let mut causes = r.causes.clone();
            causes.sort_by_key(|x| std::cmp::Reverse(x.count));
            ctx["causes"] = json!(causes
                .iter()
                .take(15)
                .map(|x| json!({
                    "category": x.category, "cause": x.cause_code, "count": x.count,
                    "previous": x.previous_count, "auto": pct(x.auto_reply_share),
                }))
                .collect::<Vec<_>>());
        }
        Err(e) => errors.push(e),
    }

    match bounded(
        t,
        a.list_major_issues(caller.request(
            "AnalyticsService/ListMajorIssues",
            pb::ListMajorIssuesRequest {
                from: Some(from),
                to: Some(to),
                ..Default::default()
            },
        )),
    )
    .await
    {
        Ok(r) => ctx["issues"] = json!(r.issues.iter().map(issue).collect::<Vec<_>>()),
        Err(e) => errors.push(e),
    }
    if !errors.is_empty() {
        ctx["error"] = json!(errors[0]);
    }
    ctx
}

fn issue(i: &pb::MajorIssue) -> Value {
    json!({
        "id": i.issue_id, "category": i.category, "dimension": dimension_label(&i.place_dimension),
        "value": i.place_value, "region": pages::region_label(&i.region), "group": i.owner_group,
        "first": beijing(i.first_at.as_ref()), "last": beijing(i.last_at.as_ref()), "complaints": i.complaints,
    })
}

/// GET /dashboard/issues/{id}: a major issue and its complaints.
pub async fn major_issue(
    State(c): State<Arc<Console>>,
    SignedIn(caller): SignedIn,
    Path(id): Path<String>,
) -> Response {
    let req = caller.request(
        "AnalyticsService/GetMajorIssue",
        pb::GetMajorIssueRequest {
            issue_id: id,
            limit: 200,
        },
    );
    match bounded(c.call_timeout, c.services.analytics.get_major_issue(req)).await {
        Ok(r) => {
            let i = r.issue.unwrap_or_default();
            pages::render(
                &c,
                "drill.html",
                Some(&caller),
                json!({
                    "nav": "dashboard",
                    "title": format!("重大问题 {}：{} {}", i.issue_id, dimension_label(&i.place_dimension), i.place_value),
                    "issue": issue(&i),
                    "samples": r.children.iter().map(sample).collect::<Vec<_>>(),
                }),
            )
        }
        Err(e) => pages::message(&c, Some(&caller), StatusCode::NOT_FOUND, "无法打开重大问题", &e),
    }
}

/// GET /dashboard/kpis/{name}: the complaints counted in a KPI's figure over the dashboard's range.
pub async fn kpi(
    State(c): State<Arc<Console>>,
    SignedIn(caller): SignedIn,
    Path(name): Path<String>,
    Query(q): Query<RangeQuery>,
) -> Response {
    let (days, from, to) = range(&q);
    let req = caller.request(
        "AnalyticsService/DrillDownKpi",
        pb::DrillDownKpiRequest {
            from: Some(from),
            to: Some(to),
            kpi: name.clone(),
            limit: 200,
            ..Default::default()
        },
    );
    match bounded(c.call_timeout, c.services.analytics.drill_down_kpi(req)).await {
        Ok(r) => pages::render(
            &c,
            "drill.html",
            Some(&caller),
            json!({
                "nav": "dashboard",
                "title": format!("指标 {name}：近 {days} 天计入的投诉（共 {} 件）", r.total),
                "ids": r.complaint_ids,
            }),
        ),
        Err(e) => pages::message(&c, Some(&caller), StatusCode::BAD_REQUEST, "无法展开指标", &e),
    }
}
