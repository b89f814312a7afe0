//! Analytics for managers and analysts (see `docs/analytics.md`): volumes, KPIs with drill-down,
//! hotspots and their key contributors, keywords, causes and major issues, and the HTML report.
//!
//! - [`volumes`]: counts per bucket by dimension from `analytics_counts` (kept by `cases::facts` as events
//!   arrive), against the previous period;
//! - [`kpi`]: the KPIs from `analytics_facts`, and the complaints behind each figure;
//! - [`detect`]: the hotspot detector (seasonal baseline, Poisson tail, CUSUM) over count series;
//! - [`hotspots`]: which series are scanned, key contributors, samples, major issues;
//! - [`keywords`]: top (TF-IDF) and rising (burst) keywords of complaint texts;
//! - [`report`]: the HTML report with SVG charts;
//! - [`service`]: every query under the caller's identity: region scope, masking, audit.
pub mod causes;
pub mod detect;
pub mod hotspots;
pub mod keywords;
pub mod kpi;
pub mod report;
pub mod service;
pub mod volumes;

use crate::cases::facts::{day_bucket, hour_bucket, DAY_US, HOUR_US};
use crate::store::Store;

/// The size of a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grain {
    Hour,
    Day,
    Week,
}

impl Grain {
    /// The bucket `us` falls in.
    pub fn bucket(self, us: i64) -> i64 {
        match self {
            Grain::Hour => hour_bucket(us),
            Grain::Day => day_bucket(us),
            Grain::Week => {
                let d = day_bucket(us);
                // 1970-01-01 (Beijing) was a Thursday: Monday is 3 days before.
                let days = (d + crate::cases::facts::BEIJING_OFFSET_US).div_euclid(DAY_US);
                d - (days + 3).rem_euclid(7) * DAY_US
            }
        }
    }

    /// The length of a bucket (µs).
    pub fn len_us(self) -> i64 {
        match self {
            Grain::Hour => HOUR_US,
            Grain::Day => DAY_US,
            Grain::Week => 7 * DAY_US,
        }
    }

    /// The stored grain it is summed from.
    pub fn stored(self) -> &'static str {
        match self {
            Grain::Hour => "h",
            Grain::Day | Grain::Week => "d",
        }
    }

    /// The bucket starts covering `[from, to)`.
    pub fn buckets(self, from_us: i64, to_us: i64) -> Vec<i64> {
        let mut out = Vec::new();
        let mut b = self.bucket(from_us);
        while b < to_us {
            out.push(b);
            b += self.len_us();
        }
        out
    }
}

/// What a query covers: a time range, the regions (`None`: all), optionally one category.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub from_us: i64,
    pub to_us: i64,
    pub regions: Option<Vec<String>>,
    pub category: Option<String>,
}

/// A query's values, bound in order (`$1`, `$2`, …).
#[derive(Debug, Clone)]
pub(crate) enum Bind {
    Text(String),
    Int(i64),
}

pub(crate) type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

pub(crate) fn bind_all(mut q: AnyQuery<'_>, binds: Vec<Bind>) -> AnyQuery<'_> {
    for b in binds {
        q = match b {
            Bind::Text(s) => q.bind(s),
            Bind::Int(i) => q.bind(i),
        };
    }
    q
}

/// Builds a WHERE clause of fixed column names and bound values.
#[derive(Debug, Default)]
pub(crate) struct Where {
    pub sql: Vec<String>,
    pub binds: Vec<Bind>,
}

impl Where {
    pub fn arg(&mut self, b: Bind) -> String {
        self.binds.push(b);
        format!("${}", self.binds.len())
    }

    pub fn eq(&mut self, col: &str, v: Bind) -> &mut Self {
        let p = self.arg(v);
        self.sql.push(format!("{col} = {p}"));
        self
    }

    pub fn range(&mut self, col: &str, from: i64, to: i64) -> &mut Self {
        let a = self.arg(Bind::Int(from));
        let b = self.arg(Bind::Int(to));
        self.sql.push(format!("{col} >= {a} AND {col} < {b}"));
        self
    }

    /// `col IN (…)`; `false` when the list is empty (nothing can match).
    pub fn within(&mut self, col: &str, values: &Option<Vec<String>>) -> bool {
        let Some(vs) = values else { return true };
        if vs.is_empty() {
            return false;
        }
        let ps: Vec<String> = vs.iter().map(|v| self.arg(Bind::Text(v.clone()))).collect();
        self.sql.push(format!("{col} IN ({})", ps.join(", ")));
        true
    }

    pub fn clause(&self) -> String {
        if self.sql.is_empty() {
            "1 = 1".into()
        } else {
            self.sql.join(" AND ")
        }
    }
}

/// The store analytics reads.
#[derive(Clone)]
pub struct AnalyticsStore {
    store: Store,
}

impl AnalyticsStore {
    pub fn new(store: Store) -> AnalyticsStore {
        AnalyticsStore { store }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub(crate) fn pool(&self) -> &sqlx::AnyPool {
        self.store.pool()
    }

    pub(crate) fn fail(&self, what: &str, e: sqlx::Error) -> String {
        self.store.error(what, &e).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_start_on_beijing_mondays() {
        // 2026-12-02 is a Wednesday; its week starts Monday 2026-11-30 00:00 Beijing.
        let t = chrono::DateTime::parse_from_rfc3339("2026-12-02T10:00:00+08:00")
            .unwrap()
            .timestamp_micros();
        let monday = chrono::DateTime::parse_from_rfc3339("2026-11-30T00:00:00+08:00")
            .unwrap()
            .timestamp_micros();
        assert_eq!(Grain::Week.bucket(t), monday);
        assert_eq!(Grain::Week.buckets(monday, t).len(), 1);
        assert_eq!(Grain::Day.buckets(monday, t).len(), 3);
    }
}
