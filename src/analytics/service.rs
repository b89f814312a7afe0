//! The analytics service: every query under the caller's identity. It needs `read_view`; a caller without
//! `all_regions` sees only their regions (asking for another is PERMISSION_DENIED); samples have numbers
//! and digit runs in texts masked without `read_pii`; every call, refused or not, is audited.
use super::causes::{CauseRow, MajorIssue};
use super::hotspots::{HotspotQuery, HotspotScan, Sample};
use super::keywords::{self, Keyword};
use super::kpi::{self, Grouping, KpiGroup};
use super::report::{self, ReportData};
use super::volumes::{Dimension, Volumes};
use super::{AnalyticsStore, Grain, Scope};
use crate::error::Error;
use crate::identity::audit::AuditNote;
use crate::identity::{masking, CallInfo, Identity, Permission};
use crate::read::Reads;
use std::sync::Arc;

/// Longest range one query covers.
pub const MAX_RANGE_DAYS: i64 = 400;
const DAY: i64 = 86_400_000_000;

/// What a caller asks about: the range and the optional narrowing.
#[derive(Debug, Clone, Default)]
pub struct Ask {
    pub from_us: i64,
    pub to_us: i64,
    pub regions: Vec<String>,
    pub category: String,
}

/// The analytics of a gateway.
pub struct Analytics {
    store: AnalyticsStore,
    reads: Arc<Reads>,
    fixed_now: std::sync::Mutex<Option<i64>>,
}

fn store_error(e: String) -> Error {
    tracing::error!(error = %e, "analytics store");
    Error::StoreUnavailable("the analytics store is unavailable; retry later".into())
}

/// Masks digit runs of 5 or more (numbers, ids, accounts) in a complaint text.
pub fn mask_text(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() {
            let mut j = i;
            while j < chars.len() && chars[j].is_ascii_digit() {
                j += 1;
            }
            if j - i >= 5 {
                out.extend(std::iter::repeat_n('*', j - i));
            } else {
                out.extend(&chars[i..j]);
            }
            i = j;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

impl Analytics {
    pub fn new(store: AnalyticsStore, reads: Arc<Reads>) -> Analytics {
        Analytics {
            store,
            reads,
            fixed_now: std::sync::Mutex::new(None),
        }
    }

    pub fn store(&self) -> &AnalyticsStore {
        &self.store
    }

    /// The instant pending deadlines are judged at.
    pub fn now(&self) -> i64 {
        self.fixed_now
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .unwrap_or_else(crate::store::now_us)
    }

    /// Fixes "now" (tests, demos over dates of their own).
    pub fn set_now(&self, now_us: Option<i64>) {
        *self.fixed_now.lock().unwrap_or_else(|p| p.into_inner()) = now_us;
    }

    /// The scope `caller` may ask `ask` about, or why not.
    pub fn scope(&self, caller: &Identity, ask: &Ask) -> Result<Scope, Error> {
        caller.require(Permission::ReadView, "reading complaint analytics")?;
        if ask.to_us <= ask.from_us {
            return Err(Error::invalid("to", "must be after `from`"));
        }
        if ask.to_us - ask.from_us > MAX_RANGE_DAYS * DAY {
            return Err(Error::invalid(
                "to",
                format!("the range may cover at most {MAX_RANGE_DAYS} days"),
            ));
        }
        for r in &ask.regions {
            if r.is_empty() || r.len() > 16 || !r.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(Error::invalid("filter.regions", "city codes such as 0571"));
            }
        }
        if ask.category.len() > 64 {
            return Err(Error::invalid("filter.category", "at most 64 characters"));
        }
        let regions = if caller.region_scoped() {
            let mine: Vec<String> = caller.regions.iter().cloned().collect();
            if let Some(r) = ask.regions.iter().find(|r| !mine.contains(r)) {
                return Err(Error::OutOfRegion(format!(
                    "permission denied: region {r} is not one of yours ({})",
                    mine.join(", ")
                )));
            }
            Some(if ask.regions.is_empty() {
                mine
            } else {
                ask.regions.clone()
            })
        } else if ask.regions.is_empty() {
            None
        } else {
            Some(ask.regions.clone())
        };
        Ok(Scope {
            from_us: ask.from_us,
            to_us: ask.to_us,
            regions,
            category: (!ask.category.is_empty()).then(|| ask.category.clone()),
        })
    }

    /// Runs `f` on the caller's scope of `ask`, auditing the call as `what`.
    async fn audited<T, F, Fut>(
        &self,
        caller: &Identity,
        call: &CallInfo,
        what: &str,
        ask: &Ask,
        f: F,
    ) -> Result<T, Error>
    where
        F: FnOnce(Scope) -> Fut,
        Fut: std::future::Future<Output = Result<T, Error>>,
    {
        let note = AuditNote::new(caller, call, "", what);
        note.set_detail(&format!(
            "{what}: {} to {}; regions [{}]; category {}",
            ask.from_us,
            ask.to_us,
            ask.regions.join(","),
            ask.category
        ));
        let r = match self.scope(caller, ask) {
            Ok(scope) => f(scope).await,
            Err(e) => Err(e),
        };
        self.reads.record(note, &r).await?;
        r
    }

    fn mask(&self, caller: &Identity, samples: &mut [Sample]) {
        if !caller.can(Permission::ReadPii) {
            for s in samples {
                s.msisdn = masking::mask_phone(&s.msisdn);
                s.text = mask_text(&s.text);
            }
        }
    }

    pub async fn volumes(
        &self,
        caller: &Identity,
        call: &CallInfo,
        ask: &Ask,
        grain: Grain,
        dim: Dimension,
        top: usize,
    ) -> Result<Volumes, Error> {
        self.audited(caller, call, "analytics volumes", ask, |s| async move {
            if grain == Grain::Hour && s.to_us - s.from_us > 31 * DAY {
                return Err(Error::invalid(
                    "granularity",
                    "hourly volumes cover at most 31 days; ask for DAY or WEEK",
                ));
            }
            self.store.volumes(&s, grain, dim, top).await.map_err(store_error)
        })
        .await
    }

    pub async fn kpis(
        &self,
        caller: &Identity,
        call: &CallInfo,
        ask: &Ask,
        g: Grouping,
    ) -> Result<Vec<KpiGroup>, Error> {
        let now = self.now();
        self.audited(caller, call, "analytics KPIs", ask, |s| async move {
            self.store.kpis(&s, g, now).await.map_err(store_error)
        })
        .await
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn drill_down(
        &self,
        caller: &Identity,
        call: &CallInfo,
        ask: &Ask,
        name: &str,
        g: Grouping,
        key: &str,
        denominator: bool,
        limit: u32,
    ) -> Result<(Vec<String>, i64), Error> {
        let now = self.now();
        self.audited(caller, call, "analytics KPI drill-down", ask, |s| async move {
            let def = kpi::kpi(name).ok_or_else(|| {
                Error::invalid(
                    "kpi",
                    format!(
                        "unknown KPI `{}`; KPIs are {}",
                        crate::identity::clip(name, 40),
                        kpi::KPIS.iter().map(|k| k.name).collect::<Vec<_>>().join(", ")
                    ),
                )
            })?;
            self.store
                .drill_down(&s, def, g, key, denominator, now, limit)
                .await
                .map_err(store_error)
        })
        .await
    }

    pub async fn hotspots(
        &self,
        caller: &Identity,
        call: &CallInfo,
        ask: &Ask,
        q: HotspotQuery,
    ) -> Result<HotspotScan, Error> {
        let mut found = self
            .audited(caller, call, "analytics hotspots", ask, |s| async move {
                self.store.hotspot_scan(&s, &q).await.map_err(store_error)
            })
            .await?;
        for h in &mut found.hotspots {
            self.mask(caller, &mut h.samples);
        }
        Ok(found)
    }

    /// Top and rising keywords of the range against the `reference_days` before it.
    pub async fn keywords(
        &self,
        caller: &Identity,
        call: &CallInfo,
        ask: &Ask,
        top: usize,
        reference_days: i64,
    ) -> Result<(Vec<Keyword>, Vec<Keyword>, i64, i64), Error> {
        let (mut tops, mut rising, n, nr) = self
            .audited(caller, call, "analytics keywords", ask, |s| async move {
                let period = self.store.texts(&s, 20_000).await.map_err(store_error)?;
                let reference_scope = Scope {
                    from_us: s.from_us - reference_days * DAY,
                    to_us: s.from_us,
                    ..s.clone()
                };
                let reference = self.store.texts(&reference_scope, 50_000).await.map_err(store_error)?;
                let (tops, rising) = keywords::analyse(&period, &reference, top);
                Ok((tops, rising, period.len() as i64, reference.len() as i64))
            })
            .await?;
        for k in tops.iter_mut().chain(rising.iter_mut()) {
            self.mask(caller, &mut k.examples);
        }
        Ok((tops, rising, n, nr))
    }

    pub async fn causes(
        &self,
        caller: &Identity,
        call: &CallInfo,
        ask: &Ask,
        by_region: bool,
    ) -> Result<Vec<CauseRow>, Error> {
        self.audited(caller, call, "analytics causes", ask, |s| async move {
            self.store.causes(&s, by_region).await.map_err(store_error)
        })
        .await
    }

    pub async fn major_issues(&self, caller: &Identity, call: &CallInfo, ask: &Ask) -> Result<Vec<MajorIssue>, Error> {
        self.audited(caller, call, "analytics major issues", ask, |s| async move {
            self.store.major_issues(&s).await.map_err(store_error)
        })
        .await
    }

    /// One major issue with its complaints in the caller's regions; another region's issue and an unknown
    /// id are the same PERMISSION_DENIED (or NOT_FOUND for callers with all_regions).
    pub async fn major_issue(
        &self,
        caller: &Identity,
        call: &CallInfo,
        id: &str,
        limit: u32,
    ) -> Result<(MajorIssue, Vec<Sample>), Error> {
        let note = AuditNote::new(caller, call, "", "analytics major issue");
        note.set_detail(&format!("major issue {}", crate::identity::clip(id, 80)));
        let r = async {
            caller.require(Permission::ReadView, "reading complaint analytics")?;
            crate::cases::service::check_id("issue_id", id)?;
            let regions = caller
                .region_scoped()
                .then(|| caller.regions.iter().cloned().collect::<Vec<_>>());
            let hidden = || {
                if caller.region_scoped() {
                    Error::OutOfRegion(format!("permission denied: no major issue {id} in your regions"))
                } else {
                    Error::NotFound(format!("no major issue {id}"))
                }
            };
            match self.store.major_issue(id, &regions, limit).await.map_err(store_error)? {
                Some((issue, children)) if caller.may_see_region(Some(&issue.region)) => {
                    note.set_region(&issue.region);
                    Ok((issue, children))
                }
                _ => Err(hidden()),
            }
        }
        .await;
        self.reads.record(note, &r).await?;
        let (issue, mut children) = r?;
        self.mask(caller, &mut children);
        Ok((issue, children))
    }

    /// The report of the range: every section gathered under one audited call, rendered to HTML.
    pub async fn report(&self, caller: &Identity, call: &CallInfo, ask: &Ask) -> Result<String, Error> {
        let data = self.report_data(caller, call, ask).await?;
        Ok(report::render(&data))
    }

    /// The figures the report shows (for callers that render them their own way).
    pub async fn report_data(&self, caller: &Identity, call: &CallInfo, ask: &Ask) -> Result<ReportData, Error> {
        let now = self.now();
        let mut data = self
            .audited(caller, call, "analytics report", ask, |s| async move {
                let st = &self.store;
                let grain = if s.to_us - s.from_us > 120 * DAY {
                    Grain::Week
                } else {
                    Grain::Day
                };
                let volumes = st
                    .volumes(&s, grain, Dimension::Category, 8)
                    .await
                    .map_err(store_error)?;
                let regions = st.volumes(&s, grain, Dimension::Region, 8).await.map_err(store_error)?;
                let scan = st
                    .hotspot_scan(&s, &HotspotQuery::defaults(Grain::Day))
                    .await
                    .map_err(store_error)?;
                let period = st.texts(&s, 20_000).await.map_err(store_error)?;
                let reference = st
                    .texts(
                        &Scope {
                            from_us: s.from_us - 28 * DAY,
                            to_us: s.from_us,
                            ..s.clone()
                        },
                        50_000,
                    )
                    .await
                    .map_err(store_error)?;
                let (top_keywords, rising_keywords) = keywords::analyse(&period, &reference, 10);
                let causes = st.causes(&s, false).await.map_err(store_error)?;
                let kpis = st.kpis(&s, Grouping::Overall, now).await.map_err(store_error)?;
                let issues = st.major_issues(&s).await.map_err(store_error)?;
                Ok(ReportData {
                    from_us: s.from_us,
                    to_us: s.to_us,
                    regions: s.regions.clone(),
                    volumes,
                    regions_volumes: regions,
                    hotspots: scan.hotspots,
                    hotspots_warming_up: scan.warming_up,
                    top_keywords,
                    rising_keywords,
                    causes,
                    kpis: kpis.into_iter().next().map(|g| g.figures).unwrap_or_default(),
                    issues,
                })
            })
            .await?;
        for h in &mut data.hotspots {
            self.mask(caller, &mut h.samples);
        }
        for k in data.top_keywords.iter_mut().chain(data.rising_keywords.iter_mut()) {
            self.mask(caller, &mut k.examples);
        }
        Ok(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_digit_runs_are_masked_and_amounts_kept() {
        assert_eq!(mask_text("号码13800138000多扣了50元"), "号码***********多扣了50元");
    }
}
