//! Volumes: complaints per bucket by one dimension, summed from `analytics_counts` (one indexed range
//! read, never the complaints themselves), with the previous period of equal length and shares.
use super::{bind_all, AnalyticsStore, Bind, Grain, Scope, Where};
use sqlx::Row;
use std::collections::{BTreeMap, HashMap};

/// What volumes are broken down by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    Region,
    Category,
    Cause,
    Channel,
    Scenario,
    Group,
    Cell,
    VasProvider,
    PaymentChannel,
}

impl Dimension {
    pub const ALL: [Dimension; 9] = [
        Dimension::Region,
        Dimension::Category,
        Dimension::Cause,
        Dimension::Channel,
        Dimension::Scenario,
        Dimension::Group,
        Dimension::Cell,
        Dimension::VasProvider,
        Dimension::PaymentChannel,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Dimension::Region => "region",
            Dimension::Category => "category",
            Dimension::Cause => "cause",
            Dimension::Channel => "channel",
            Dimension::Scenario => "scenario",
            Dimension::Group => "group",
            Dimension::Cell => "cell",
            Dimension::VasProvider => "vas_provider",
            Dimension::PaymentChannel => "payment_channel",
        }
    }

    pub fn parse(s: &str) -> Option<Dimension> {
        Dimension::ALL.into_iter().find(|d| d.name() == s)
    }

    /// The `dim` of its count rows and the column its values are in.
    pub(crate) fn rows(self) -> (&'static str, &'static str) {
        match self {
            Dimension::Region => ("all", "region"),
            Dimension::Category => ("all", "category"),
            d => (d.name(), "value"),
        }
    }
}

/// One value's series.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub value: String,
    pub counts: Vec<i64>,
    pub total: i64,
    pub previous_total: i64,
    pub share: f64,
    pub change: f64,
}

/// Volumes over a range.
#[derive(Debug, Clone, PartialEq)]
pub struct Volumes {
    pub buckets: Vec<i64>,
    pub series: Vec<Series>,
    pub total: i64,
    pub previous_total: i64,
    pub previous_from_us: i64,
}

/// Count rows: (key, bucket, n).
pub(crate) type CountRows = Vec<(String, i64, i64)>;

impl AnalyticsStore {
    /// Counts of `dim` rows summed per (key column, stored bucket) over `[from, to)` of `scope`'s regions
    /// and category; `value` narrows to one value of the dimension.
    pub(crate) async fn count_rows(
        &self,
        grain: Grain,
        dim: Dimension,
        scope: &Scope,
        from_us: i64,
        to_us: i64,
        value: Option<&str>,
    ) -> Result<CountRows, String> {
        let (row_dim, key) = dim.rows();
        let mut w = Where::default();
        w.eq("grain", Bind::Text(grain.stored().into()))
            .eq("dim", Bind::Text(row_dim.into()))
            .range("bucket_us", from_us, to_us);
        if !w.within("region", &scope.regions) {
            return Ok(Vec::new());
        }
        if let Some(c) = &scope.category {
            w.eq("category", Bind::Text(c.clone()));
        }
        if let Some(v) = value {
            w.eq(key, Bind::Text(v.to_string()));
        }
        let sql = format!(
            "SELECT {key} AS k, bucket_us, CAST(SUM(n) AS BIGINT) AS n FROM analytics_counts WHERE {} \
             GROUP BY {key}, bucket_us",
            w.clause()
        );
        let rows = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), w.binds)
            .fetch_all(self.pool())
            .await
            .map_err(|e| self.fail("reading complaint counts", e))?;
        rows.iter()
            .map(|r| Ok((r.try_get("k")?, r.try_get("bucket_us")?, r.try_get("n")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| format!("decoding complaint counts: {e}"))
    }

    /// Volumes of `scope` per `grain` bucket by `dim`, the largest `top` series (the rest summed into
    /// `其他/other` when there are more).
    pub async fn volumes(&self, scope: &Scope, grain: Grain, dim: Dimension, top: usize) -> Result<Volumes, String> {
        let buckets = grain.buckets(scope.from_us, scope.to_us);
        let from = buckets.first().copied().unwrap_or(scope.from_us);
        let len = scope.to_us - from;
        let previous_from_us = from - len;
        let rows = self
            .count_rows(grain, dim, scope, previous_from_us, scope.to_us, None)
            .await?;
        let index: HashMap<i64, usize> = buckets.iter().enumerate().map(|(i, b)| (*b, i)).collect();
        let mut by_value: BTreeMap<String, (Vec<i64>, i64)> = BTreeMap::new();
        for (k, b, n) in rows {
            let e = by_value.entry(k).or_insert_with(|| (vec![0; buckets.len()], 0));
            if b < from {
                e.1 += n;
            } else if let Some(&i) = index.get(&grain.bucket(b)) {
                e.0[i] += n;
            }
        }
        let total: i64 = by_value.values().map(|v| v.0.iter().sum::<i64>()).sum();
        let previous_total: i64 = by_value.values().map(|v| v.1).sum();
        let mut series: Vec<Series> = by_value
            .into_iter()
            .map(|(value, (counts, prev))| {
                let t: i64 = counts.iter().sum();
                Series {
                    value,
                    total: t,
                    previous_total: prev,
                    share: if total > 0 { t as f64 / total as f64 } else { 0.0 },
                    change: if prev > 0 { (t - prev) as f64 / prev as f64 } else { 0.0 },
                    counts,
                }
            })
            .collect();
        series.sort_by(|a, b| b.total.cmp(&a.total).then(a.value.cmp(&b.value)));
        let top = top.max(1);
        if series.len() > top {
            let rest = series.split_off(top);
            let mut other = Series {
                value: "其他/other".into(),
                counts: vec![0; buckets.len()],
                total: 0,
                previous_total: 0,
                share: 0.0,
                change: 0.0,
            };
            for s in rest {
                for (o, c) in other.counts.iter_mut().zip(&s.counts) {
                    *o += c;
                }
                other.total += s.total;
                other.previous_total += s.previous_total;
            }
            other.share = if total > 0 {
                other.total as f64 / total as f64
            } else {
                0.0
            };
            if other.previous_total > 0 {
                other.change = (other.total - other.previous_total) as f64 / other.previous_total as f64;
            }
            series.push(other);
        }
        Ok(Volumes {
            buckets,
            series,
            total,
            previous_total,
            previous_from_us,
        })
    }

    /// Complaints created in `scope` counted straight from `analytics_facts` (the benchmarks' baseline).
    pub async fn count_created(&self, scope: &Scope) -> Result<i64, String> {
        let mut w = Where::default();
        w.range("created_at_us", scope.from_us, scope.to_us);
        if !w.within("region", &scope.regions) {
            return Ok(0);
        }
        let sql = format!("SELECT COUNT(*) FROM analytics_facts WHERE {}", w.clause());
        let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql));
        for b in w.binds {
            q = match b {
                Bind::Text(s) => q.bind(s),
                Bind::Int(i) => q.bind(i),
            };
        }
        q.fetch_one(self.pool())
            .await
            .map_err(|e| self.fail("counting complaints", e))
    }
}
