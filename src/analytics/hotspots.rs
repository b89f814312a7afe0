//! Hotspots: which series are scanned (category per region, category overall, cell, VAS provider, payment
//! channel, cause), the detector ([`super::detect`]) over each, the breakdown that explains each hotspot
//! (its key contributor), sample complaints and the major issue it became.
use super::detect::{self, Params, Run};
use super::volumes::Dimension;
use super::{bind_all, AnalyticsStore, Bind, Grain, Scope, Where};
use sqlx::Row;
use std::collections::{BTreeMap, HashMap};

/// What to look for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HotspotQuery {
    pub grain: Grain,
    pub params: Params,
    /// Days of history before the range the baseline is estimated from.
    pub baseline_days: i64,
}

impl HotspotQuery {
    /// The defaults for `grain` (hour or day; week is scanned as days).
    pub fn defaults(grain: Grain) -> HotspotQuery {
        match grain {
            Grain::Hour => HotspotQuery {
                grain,
                params: Params::hourly(),
                baseline_days: 28,
            },
            _ => HotspotQuery {
                grain: Grain::Day,
                params: Params::daily(),
                baseline_days: 28,
            },
        }
    }
}

/// One part of a hotspot's excess.
#[derive(Debug, Clone, PartialEq)]
pub struct Contributor {
    pub dimension: String,
    pub value: String,
    pub observed: i64,
    pub expected: f64,
    /// The part of the hotspot's excess this value accounts for: (observed − expected) / the hotspot's
    /// excess, capped at 1. It reaches 1 when the value alone is at least as far above its expectation as
    /// the whole series (its other values were at or below theirs); it is not a share that sums to 1.
    pub share_of_excess: f64,
}

impl Contributor {
    /// observed − expected.
    pub fn excess(&self) -> f64 {
        self.observed as f64 - self.expected
    }
}

/// The part of `excess` that `part` accounts for, in [0, 1].
pub fn share_of(part: f64, excess: f64) -> f64 {
    if excess > 0.0 {
        (part / excess).clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// A complaint shown as an example (unmasked here; the service masks it for the caller).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub complaint_id: String,
    pub msisdn: String,
    pub text: String,
    pub created_at_us: i64,
    pub region: String,
    pub category: String,
    pub cause_code: String,
}

/// A series departing from its baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct Hotspot {
    /// `category` (with `region` set: within that region), `cell`, `vas_provider`, `payment_channel`, `cause`.
    pub dimension: String,
    pub value: String,
    pub region: String,
    /// The category the series is of ("" when it spans categories).
    pub category: String,
    pub start_us: i64,
    pub end_us: i64,
    pub buckets: usize,
    pub observed: i64,
    pub expected: f64,
    pub p_value: f64,
    pub method: &'static str,
    pub contributors: Vec<Contributor>,
    pub samples: Vec<Sample>,
    pub major_issue_id: String,
}

impl Hotspot {
    pub fn excess(&self) -> f64 {
        self.observed as f64 - self.expected
    }

    pub fn key(&self) -> Option<&Contributor> {
        self.contributors.first()
    }
}

/// The hotspots of a scan, and how many of its series were too new to judge over part of the range.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HotspotScan {
    pub hotspots: Vec<Hotspot>,
    /// Series whose first buckets in the range were not tested: less than the warm-up
    /// ([`Params::min_history`]) of history since their first complaint.
    pub warming_up: usize,
    /// Series scanned.
    pub series: usize,
}

/// A scanned series: (dimension, value, region or "", category or "").
type SeriesKey = (String, String, String, String);

/// Dimensions preferred as the key contributor among near-equal ones: what an owning team acts on.
fn preference(dim: &str) -> u8 {
    match dim {
        "cell" | "vas_provider" | "payment_channel" => 0,
        "region" => 1,
        "cause" => 2,
        "category" => 3,
        _ => 4,
    }
}

/// Column of `complaint_cases` holding a dimension's value (samples).
fn case_column(dim: &str) -> Option<&'static str> {
    Some(match dim {
        "region" => "region",
        "category" => "category",
        "cause" => "cause_code",
        "channel" => "channel",
        "scenario" => "scenario_id",
        "group" => "handler_group",
        "cell" => "cell_id",
        "vas_provider" => "vas_provider",
        "payment_channel" => "payment_channel",
        _ => return None,
    })
}

impl AnalyticsStore {
    /// Sums of `analytics_counts` rows over `[from, to)` grouped by `group` (column list), with equality
    /// filters.
    async fn grouped(
        &self,
        grain: &str,
        from_us: i64,
        to_us: i64,
        regions: &Option<Vec<String>>,
        filters: &[(&str, String)],
        group: &str,
    ) -> Result<Vec<(Vec<String>, i64, i64)>, String> {
        let mut w = Where::default();
        w.eq("grain", Bind::Text(grain.into()))
            .range("bucket_us", from_us, to_us);
        if !w.within("region", regions) {
            return Ok(Vec::new());
        }
        for (col, v) in filters {
            if *col == "dim_not_all" {
                w.sql.push("dim <> 'all'".into());
            } else {
                w.eq(col, Bind::Text(v.clone()));
            }
        }
        let cols: Vec<&str> = group.split(", ").collect();
        let sql = format!(
            "SELECT {group}, bucket_us, CAST(SUM(n) AS BIGINT) AS n FROM analytics_counts WHERE {} GROUP BY {group}, bucket_us",
            w.clause()
        );
        let rows = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), w.binds)
            .fetch_all(self.pool())
            .await
            .map_err(|e| self.fail("reading complaint counts", e))?;
        rows.iter()
            .map(|r| {
                let key = cols
                    .iter()
                    .map(|c| r.try_get::<String, _>(*c))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((key, r.try_get("bucket_us")?, r.try_get("n")?))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| format!("decoding complaint counts: {e}"))
    }

    /// The hotspots of `scope` (its range is scanned; the baseline reaches back before it).
    pub async fn hotspots(&self, scope: &Scope, q: &HotspotQuery) -> Result<Vec<Hotspot>, String> {
        Ok(self.hotspot_scan(scope, q).await?.hotspots)
    }

    /// The hotspots of `scope` with the number of series still in their warm-up.
    pub async fn hotspot_scan(&self, scope: &Scope, q: &HotspotQuery) -> Result<HotspotScan, String> {
        let grain = q.grain;
        let stored = grain.stored();
        let scan_buckets = grain.buckets(scope.from_us, scope.to_us);
        let Some(&first) = scan_buckets.first() else {
            return Ok(HotspotScan::default());
        };
        let base_from = first - q.baseline_days * 86_400_000_000;
        let buckets = grain.buckets(base_from, scope.to_us);
        let index: HashMap<i64, usize> = buckets.iter().enumerate().map(|(i, b)| (*b, i)).collect();
        let from_idx = index.get(&first).copied().unwrap_or(0);
        let mut series: BTreeMap<SeriesKey, Vec<i64>> = BTreeMap::new();
        let mut total = vec![0f64; buckets.len()];
        let mut cat_filter: Vec<(&str, String)> = vec![("dim", "all".into())];
        if let Some(c) = &scope.category {
            cat_filter.push(("category", c.clone()));
        }
        let add = |series: &mut BTreeMap<SeriesKey, Vec<i64>>, key: SeriesKey, b: i64, n: i64| {
            if let Some(&i) = index.get(&grain.bucket(b)) {
                series.entry(key).or_insert_with(|| vec![0; buckets.len()])[i] += n;
            }
        };
        for (k, b, n) in self
            .grouped(
                stored,
                base_from,
                scope.to_us,
                &scope.regions,
                &cat_filter,
                "region, category",
            )
            .await?
        {
            if let Some(&i) = index.get(&grain.bucket(b)) {
                total[i] += n as f64;
            }
            add(
                &mut series,
                ("category".into(), k[1].clone(), k[0].clone(), k[1].clone()),
                b,
                n,
            );
            add(
                &mut series,
                ("category".into(), k[1].clone(), String::new(), k[1].clone()),
                b,
                n,
            );
        }
        for dim in [
            Dimension::Cell,
            Dimension::VasProvider,
            Dimension::PaymentChannel,
            Dimension::Cause,
        ] {
            // A place or cause within one category: a cell matters for coverage complaints, a payment
            // channel for top-ups (every complaint carries them).
            let mut f: Vec<(&str, String)> = vec![("dim", dim.name().to_string())];
            if let Some(c) = &scope.category {
                f.push(("category", c.clone()));
            }
            for (k, b, n) in self
                .grouped(stored, base_from, scope.to_us, &scope.regions, &f, "value, category")
                .await?
            {
                add(
                    &mut series,
                    (dim.name().into(), k[0].clone(), String::new(), k[1].clone()),
                    b,
                    n,
                );
            }
        }
        let profile = detect::seasonal_profile(&total, q.params.season, 0..from_idx.max(1));
        // Bonferroni beyond 20 series: the more series scanned, the stricter each one's tail test.
        let mut params = q.params;
        params.alpha = q.params.alpha * (20.0 / series.len().max(20) as f64);
        let mut found: Vec<Hotspot> = Vec::new();
        let mut warming_up = 0;
        for ((dim, value, region, category), y) in &series {
            if detect::warm_from(y, &params) > from_idx {
                warming_up += 1;
            }
            let (runs, _) = detect::detect(y, &profile, from_idx, &params);
            for run in runs {
                let mut h = self
                    .describe(scope, q, &buckets, (dim, value, region, category), &run)
                    .await?;
                h.category = category.clone();
                found.push(h);
            }
        }
        // One hotspot per incident: a place or cause series' hotspot is dropped when its category has one
        // overlapping it (whose breakdown names the place), and a category-wide one explained by a region
        // that has its own.
        let overlaps = |a: &Hotspot, b: &Hotspot| a.start_us < b.end_us && b.start_us < a.end_us;
        let snapshot = found.clone();
        found.retain(|h| {
            let place = h.dimension != "category";
            let wide = h.dimension == "category" && h.region.is_empty();
            !snapshot.iter().any(|o| {
                o != h
                    && overlaps(o, h)
                    && o.dimension == "category"
                    && ((place && o.value == h.category)
                        || (wide
                            && !o.region.is_empty()
                            && o.value == h.value
                            && h.key().is_some_and(|k| k.dimension == "region" && k.value == o.region)))
            })
        });
        found.sort_by(|a, b| b.excess().total_cmp(&a.excess()));
        found.truncate(50);
        Ok(HotspotScan {
            hotspots: found,
            warming_up,
            series: series.len(),
        })
    }

    async fn describe(
        &self,
        scope: &Scope,
        q: &HotspotQuery,
        buckets: &[i64],
        (dim, value, region, category): (&String, &String, &String, &String),
        run: &Run,
    ) -> Result<Hotspot, String> {
        let grain = q.grain;
        let start = buckets[run.start];
        let end = buckets[run.end] + grain.len_us();
        let base_from = start - q.baseline_days * 86_400_000_000;
        // What the series' complaints are broken down by, and the filters that make the series.
        let mut filters: Vec<(&str, String)> = Vec::new();
        let mut regions = scope.regions.clone();
        let breakdowns: Vec<(&str, Vec<(&str, String)>)> = if dim == "category" {
            filters.push(("category", value.clone()));
            if !region.is_empty() {
                regions = Some(vec![region.clone()]);
            }
            let mut b = vec![("dim, value", vec![("dim_not_all", String::new())])];
            if region.is_empty() {
                b.push(("region", vec![("dim", "all".to_string())]));
            }
            b
        } else {
            filters.push(("dim", dim.clone()));
            filters.push(("value", value.clone()));
            filters.push(("category", category.clone()));
            vec![("region", vec![])]
        };
        let mut contributors: Vec<Contributor> = Vec::new();
        for (group, extra) in breakdowns {
            let mut f = filters.clone();
            f.extend(extra);
            let rows = self
                .grouped(grain.stored(), base_from, end, &regions, &f, group)
                .await?;
            let mut obs: BTreeMap<(String, String), i64> = BTreeMap::new();
            let mut base: BTreeMap<(String, String), i64> = BTreeMap::new();
            for (k, b, n) in rows {
                let key = if k.len() == 2 {
                    (k[0].clone(), k[1].clone())
                } else {
                    (group.to_string(), k[0].clone())
                };
                if b >= start {
                    *obs.entry(key).or_default() += n;
                } else {
                    *base.entry(key).or_default() += n;
                }
            }
            // Expected per value: the hotspot's expected count shared as in the baseline, per dimension.
            let mut base_total: HashMap<String, i64> = HashMap::new();
            for ((d, _), n) in &base {
                *base_total.entry(d.clone()).or_default() += n;
            }
            for ((d, v), o) in &obs {
                let bt = base_total.get(d).copied().unwrap_or(0);
                let expected = if bt > 0 {
                    run.expected * base.get(&(d.clone(), v.clone())).copied().unwrap_or(0) as f64 / bt as f64
                } else {
                    0.0
                };
                contributors.push(Contributor {
                    dimension: d.clone(),
                    value: v.clone(),
                    observed: *o,
                    expected,
                    share_of_excess: share_of(*o as f64 - expected, run.excess()),
                });
            }
        }
        contributors.retain(|c| c.share_of_excess > 0.05);
        // Largest excess first (not the capped share: two values may both account for all of it).
        contributors.sort_by(|a, b| b.excess().total_cmp(&a.excess()));
        // Among contributors within 20 points of the hotspot's excess of the largest, the place first.
        if let Some(top) = contributors.first().map(|c| c.excess()) {
            let near = contributors
                .iter()
                .take_while(|c| c.excess() >= top - 0.20 * run.excess())
                .count();
            contributors[..near].sort_by_key(|c| preference(&c.dimension));
        }
        contributors.truncate(12);
        // Samples: the series' complaints in the window, of the key contributor when there is one.
        let mut sw = Where::default();
        sw.range("created_at_us", start, end);
        let mut sample_regions = regions.clone();
        sw.eq("category", Bind::Text(category.clone()));
        if dim != "category" {
            if let Some(col) = case_column(dim) {
                sw.eq(col, Bind::Text(value.clone()));
            }
        }
        if let Some(k) = contributors.first() {
            if k.dimension == "region" {
                sample_regions = Some(vec![k.value.clone()]);
            } else if let Some(col) = case_column(&k.dimension) {
                sw.eq(col, Bind::Text(k.value.clone()));
            }
        }
        let samples = if sw.within("region", &sample_regions) {
            self.samples(sw, 5).await?
        } else {
            Vec::new()
        };
        let major_issue_id = match contributors.first() {
            Some(k) if preference(&k.dimension) == 0 => self.issue_for(&k.dimension, &k.value, start, end).await?,
            _ if preference(dim) == 0 => self.issue_for(dim, value, start, end).await?,
            _ => String::new(),
        };
        Ok(Hotspot {
            dimension: dim.clone(),
            value: value.clone(),
            region: region.clone(),
            category: category.clone(),
            start_us: start,
            end_us: end,
            buckets: run.end - run.start + 1,
            observed: run.observed,
            expected: run.expected,
            p_value: run.p_value,
            method: run.method,
            contributors,
            samples,
            major_issue_id,
        })
    }

    /// Complaints matching `w` (on `complaint_cases`), oldest first, at most `limit`.
    pub(crate) async fn samples(&self, w: Where, limit: u32) -> Result<Vec<Sample>, String> {
        let sql = format!(
            "SELECT complaint_id, msisdn, text, created_at_us, region, category, cause_code FROM complaint_cases \
             WHERE {} ORDER BY created_at_us, complaint_id LIMIT {}",
            w.clause(),
            limit.clamp(1, 50_000)
        );
        let rows = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), w.binds)
            .fetch_all(self.pool())
            .await
            .map_err(|e| self.fail("reading sample complaints", e))?;
        rows.iter()
            .map(|r| {
                Ok(Sample {
                    complaint_id: r.try_get("complaint_id")?,
                    msisdn: r.try_get("msisdn")?,
                    text: r.try_get("text")?,
                    created_at_us: r.try_get("created_at_us")?,
                    region: r.try_get("region")?,
                    category: r.try_get("category")?,
                    cause_code: r.try_get("cause_code")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| format!("decoding sample complaints: {e}"))
    }

    /// The major issue of a place active in `[from, to)`, or "".
    async fn issue_for(&self, dim: &str, value: &str, from_us: i64, to_us: i64) -> Result<String, String> {
        let id: Option<String> = sqlx::query_scalar(
            "SELECT issue_id FROM major_issues WHERE place_dim = $1 AND place_value = $2 AND last_at_us >= $3 \
             AND first_at_us < $4 ORDER BY complaints DESC LIMIT 1",
        )
        .bind(dim)
        .bind(value)
        .bind(from_us)
        .bind(to_us)
        .fetch_optional(self.pool())
        .await
        .map_err(|e| self.fail("reading major issues", e))?;
        Ok(id.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_contributor_accounts_for_at_most_all_of_the_excess() {
        // A cell 38 above its expectation in a series only 30 above: it accounts for all of it, not 127%.
        assert_eq!(share_of(38.0, 30.0), 1.0);
        assert_eq!(share_of(15.0, 30.0), 0.5);
        assert_eq!(share_of(-3.0, 30.0), 0.0);
        assert_eq!(share_of(5.0, 0.0), 0.0);
        let c = Contributor {
            dimension: "cell".into(),
            value: "0571-C0007".into(),
            observed: 40,
            expected: 2.0,
            share_of_excess: share_of(38.0, 30.0),
        };
        assert_eq!(c.excess(), 38.0);
    }
}
