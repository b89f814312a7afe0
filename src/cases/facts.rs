//! The analytic projections of cases (`migrations/gateway/0014_analytics.sql`), maintained in the same
//! transaction as every case change, so analytics never scans raw events:
//!
//! - `analytics_facts`: one row per complaint with what KPIs count (auto-detected, auto-replied, closed,
//!   per-target SLA outcomes, return visit, repeat, reopen, major issue);
//! - `analytics_counts`: complaints per hour and per Beijing day of their creation, by region, category and
//!   one more dimension ([`DIMS`]); a change that moves a complaint from one value to another (its cause
//!   once diagnosed, its group once routed) moves its count;
//! - `major_issues`: complaints sharing a category and a place ([`PLACES`]) within a window, grouped
//!   ([`IssueRule`]); a new complaint with the same key joins the active issue.
//!
//! Read by `crate::analytics`. Every value is a bound parameter; column names come from fixed lists.
use super::model::{Complaint, EventKind, State};
use super::store::{CaseChange, TargetOutcome};
use crate::store::Marks;
use sqlx::Row;
use std::collections::HashMap;

pub const HOUR_US: i64 = 3_600_000_000;
pub const DAY_US: i64 = 24 * HOUR_US;
/// Beijing time is UTC+8 all year.
pub const BEIJING_OFFSET_US: i64 = 8 * HOUR_US;

/// The UTC hour `us` falls in (the same as the Beijing hour).
pub fn hour_bucket(us: i64) -> i64 {
    us.div_euclid(HOUR_US) * HOUR_US
}

/// The start of the Beijing day `us` falls in.
pub fn day_bucket(us: i64) -> i64 {
    (us + BEIJING_OFFSET_US).div_euclid(DAY_US) * DAY_US - BEIJING_OFFSET_US
}

/// The dimensions counted besides region and category (`all` counts every complaint).
pub const DIMS: [&str; 8] = [
    "all",
    "cause",
    "channel",
    "scenario",
    "group",
    "cell",
    "vas_provider",
    "payment_channel",
];

/// The places major issues are grouped by: (dimension, column of `analytics_facts`).
pub const PLACES: [(&str, &str); 3] = [
    ("cell", "cell_id"),
    ("vas_provider", "vas_provider"),
    ("payment_channel", "payment_channel"),
];

/// When complaints become a major issue: at least `min_complaints` of one category and place within
/// `window_us`, and at least `min_ratio` times what the same key had in the `baseline_days` before.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IssueRule {
    pub min_complaints: i64,
    pub window_us: i64,
    pub min_ratio: f64,
    pub baseline_days: i64,
}

impl Default for IssueRule {
    fn default() -> Self {
        IssueRule {
            min_complaints: 10,
            window_us: DAY_US,
            min_ratio: 3.0,
            baseline_days: 7,
        }
    }
}

static ISSUE_RULE: std::sync::RwLock<Option<IssueRule>> = std::sync::RwLock::new(None);

/// The rule in force (`[analytics]` in the config sets it at start; the default otherwise).
pub fn issue_rule() -> IssueRule {
    ISSUE_RULE.read().unwrap_or_else(|p| p.into_inner()).unwrap_or_default()
}

/// Sets the rule new complaints are grouped by.
pub fn set_issue_rule(rule: IssueRule) {
    *ISSUE_RULE.write().unwrap_or_else(|p| p.into_inner()) = Some(rule);
}

/// A complaint as analytics counts it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    pub complaint_id: String,
    pub created_at_us: i64,
    pub region: String,
    pub category: String,
    pub cause_code: String,
    pub scenario_id: String,
    pub channel: String,
    pub group: String,
    pub owner: String,
    pub cell_id: String,
    pub vas_provider: String,
    pub payment_channel: String,
    /// Classified by the classifier without abstaining.
    pub auto_detected: bool,
    pub diagnosed: bool,
    /// The latest diagnosis found a cause and gave a reply without asking anything.
    pub auto_replied: bool,
    pub auto_reply_at_us: Option<i64>,
    /// A repeat complaint (same subscriber and category) came within 7 days of the auto-reply.
    pub repeated_7d: bool,
    pub is_repeat: bool,
    pub repeat_count: i64,
    pub reopen_count: i64,
    pub closed: bool,
    pub closed_at_us: Option<i64>,
    pub visit_outcome: String,
    /// First response, reply, resolution.
    pub targets: [TargetOutcome; 3],
    pub major_issue_id: String,
}

const FACT_COLUMNS: &str = "complaint_id, created_at_us, region, category, cause_code, scenario_id, channel, \
     handler_group, owner, cell_id, vas_provider, payment_channel, auto_detected, diagnosed, auto_replied, \
     auto_reply_at_us, repeated_7d, is_repeat, repeat_count, reopen_count, closed, closed_at_us, visit_outcome, \
     fr_met, fr_late, fr_due_us, reply_met, reply_late, reply_due_us, res_met, res_late, res_due_us, major_issue_id";
const FACT_COUNT: usize = 33;

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

impl Facts {
    /// The value of `dim` (one of [`DIMS`]).
    pub fn value(&self, dim: &str) -> &str {
        match dim {
            "cause" => &self.cause_code,
            "channel" => &self.channel,
            "scenario" => &self.scenario_id,
            "group" => &self.group,
            "cell" => &self.cell_id,
            "vas_provider" => &self.vas_provider,
            "payment_channel" => &self.payment_channel,
            _ => "",
        }
    }

    /// The count rows this complaint adds to: (grain, dim, bucket, region, category, value).
    fn count_keys(&self) -> Vec<CountKey> {
        let mut out = Vec::new();
        for (grain, bucket) in [
            ("h", hour_bucket(self.created_at_us)),
            ("d", day_bucket(self.created_at_us)),
        ] {
            for dim in DIMS {
                let v = self.value(dim);
                if dim != "all" && v.is_empty() {
                    continue;
                }
                out.push((
                    grain,
                    dim,
                    bucket,
                    self.region.clone(),
                    self.category.clone(),
                    v.to_string(),
                ));
            }
        }
        out
    }

    /// The facts after `ch`, given those before it (`None` for a new case).
    pub fn after(prev: Option<&Facts>, ch: &CaseChange) -> Facts {
        let c: &Complaint = &ch.after;
        let mut f = prev.cloned().unwrap_or_default();
        f.complaint_id = c.id.clone();
        f.created_at_us = c.created_at_us;
        f.region = c.region.clone();
        f.category = c.category.clone();
        f.cause_code = c.cause_code.clone();
        f.scenario_id = c.scenario_id.clone();
        f.channel = c.channel.clone();
        f.group = c.group.clone();
        f.owner = c.owner.clone();
        f.cell_id = c.cell_id.clone();
        f.vas_provider = c.vas_provider.clone();
        f.payment_channel = c.payment_channel.clone();
        for e in &ch.events {
            match e.kind {
                EventKind::Created => f.auto_detected = e.category_source == "classifier" && !e.abstained,
                EventKind::Diagnosed => {
                    f.diagnosed = true;
                    let auto = e.diag_outcome == "cause" && e.reply_without_question && !e.cause_code.is_empty();
                    if auto && !f.auto_replied {
                        f.auto_reply_at_us = Some(e.at_us);
                    }
                    f.auto_replied = auto;
                    if !auto {
                        f.auto_reply_at_us = None;
                    }
                }
                EventKind::RepeatReported if f.auto_reply_at_us.is_some_and(|a| e.at_us <= a + 7 * DAY_US) => {
                    f.repeated_7d = true;
                }
                _ => {}
            }
        }
        f.is_repeat = !c.repeat_of.is_empty();
        f.repeat_count = c.repeat_count;
        f.reopen_count = c.reopen_count;
        f.closed = c.state == State::Closed;
        f.closed_at_us = c.closed_at_us;
        f.visit_outcome = c.visit.map(|v| v.name().to_string()).unwrap_or_default();
        f.targets = ch.deadlines.targets;
        f
    }

    fn bind<'q>(&'q self, q: AnyQuery<'q>) -> AnyQuery<'q> {
        let mut q = q
            .bind(&self.complaint_id)
            .bind(self.created_at_us)
            .bind(&self.region)
            .bind(&self.category)
            .bind(&self.cause_code)
            .bind(&self.scenario_id)
            .bind(&self.channel)
            .bind(&self.group)
            .bind(&self.owner)
            .bind(&self.cell_id)
            .bind(&self.vas_provider)
            .bind(&self.payment_channel)
            .bind(i64::from(self.auto_detected))
            .bind(i64::from(self.diagnosed))
            .bind(i64::from(self.auto_replied))
            .bind(self.auto_reply_at_us)
            .bind(i64::from(self.repeated_7d))
            .bind(i64::from(self.is_repeat))
            .bind(self.repeat_count)
            .bind(self.reopen_count)
            .bind(i64::from(self.closed))
            .bind(self.closed_at_us)
            .bind(&self.visit_outcome);
        for t in &self.targets {
            q = q
                .bind(i64::from(t.met_on_time))
                .bind(i64::from(t.met_late))
                .bind(t.due_us);
        }
        q.bind(&self.major_issue_id)
    }

    fn decode(r: &sqlx::any::AnyRow) -> Result<Facts, sqlx::Error> {
        let flag = |c: &str| -> Result<bool, sqlx::Error> { Ok(r.try_get::<i64, _>(c)? != 0) };
        let target = |p: &str| -> Result<TargetOutcome, sqlx::Error> {
            Ok(TargetOutcome {
                met_on_time: flag(&format!("{p}_met"))?,
                met_late: flag(&format!("{p}_late"))?,
                due_us: r.try_get(format!("{p}_due_us").as_str())?,
            })
        };
        Ok(Facts {
            complaint_id: r.try_get("complaint_id")?,
            created_at_us: r.try_get("created_at_us")?,
            region: r.try_get("region")?,
            category: r.try_get("category")?,
            cause_code: r.try_get("cause_code")?,
            scenario_id: r.try_get("scenario_id")?,
            channel: r.try_get("channel")?,
            group: r.try_get("handler_group")?,
            owner: r.try_get("owner")?,
            cell_id: r.try_get("cell_id")?,
            vas_provider: r.try_get("vas_provider")?,
            payment_channel: r.try_get("payment_channel")?,
            auto_detected: flag("auto_detected")?,
            diagnosed: flag("diagnosed")?,
            auto_replied: flag("auto_replied")?,
            auto_reply_at_us: r.try_get("auto_reply_at_us")?,
            repeated_7d: flag("repeated_7d")?,
            is_repeat: flag("is_repeat")?,
            repeat_count: r.try_get("repeat_count")?,
            reopen_count: r.try_get("reopen_count")?,
            closed: flag("closed")?,
            closed_at_us: r.try_get("closed_at_us")?,
            visit_outcome: r.try_get("visit_outcome")?,
            targets: [target("fr")?, target("reply")?, target("res")?],
            major_issue_id: r.try_get("major_issue_id")?,
        })
    }
}

type CountKey = (&'static str, &'static str, i64, String, String, String);

/// Adds `deltas` to the counts (rows created at their first complaint).
async fn add_counts(conn: &mut sqlx::AnyConnection, deltas: &HashMap<CountKey, i64>) -> Result<(), sqlx::Error> {
    let rows: Vec<(&CountKey, &i64)> = deltas.iter().filter(|(_, n)| **n != 0).collect();
    let marks = Marks::of(conn);
    for chunk in rows.chunks(400) {
        let values: Vec<String> = (0..chunk.len())
            .map(|r| format!("({})", marks.list(r * 7 + 1, 7)))
            .collect();
        let sql = format!(
            "INSERT INTO analytics_counts (grain, dim, bucket_us, region, category, value, n) VALUES {} \
             ON CONFLICT (grain, dim, bucket_us, region, category, value) DO UPDATE SET n = analytics_counts.n + excluded.n",
            values.join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for ((grain, dim, bucket, region, category, value), n) in chunk {
            q = q
                .bind(*grain)
                .bind(*dim)
                .bind(*bucket)
                .bind(region)
                .bind(category)
                .bind(value)
                .bind(**n);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

async fn load(conn: &mut sqlx::AnyConnection, id: &str) -> Result<Option<Facts>, sqlx::Error> {
    let sql = format!("SELECT {FACT_COLUMNS} FROM analytics_facts WHERE complaint_id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(Facts::decode).transpose()
}

async fn upsert(conn: &mut sqlx::AnyConnection, f: &Facts) -> Result<(), sqlx::Error> {
    let sets: Vec<String> = FACT_COLUMNS
        .split(", ")
        .skip(1)
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    let sql = format!(
        "INSERT INTO analytics_facts ({FACT_COLUMNS}) VALUES ({}) ON CONFLICT (complaint_id) DO UPDATE SET {}",
        Marks::of(conn).list(1, FACT_COUNT),
        sets.join(", ")
    );
    f.bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
        .execute(&mut *conn)
        .await
        .map(|_| ())
}

/// Updates the analytic projections for one case change, on the change's transaction.
pub async fn maintain(conn: &mut sqlx::AnyConnection, ch: &CaseChange) -> Result<(), sqlx::Error> {
    let prev = if ch.expected_version == 0 {
        None
    } else {
        load(conn, &ch.after.id).await?
    };
    let mut next = Facts::after(prev.as_ref(), ch);
    if prev.as_ref() == Some(&next) {
        return Ok(());
    }
    let place_changed = prev
        .as_ref()
        .is_none_or(|p| p.category != next.category || PLACES.iter().any(|(d, _)| p.value(d) != next.value(d)));
    if next.major_issue_id.is_empty() && place_changed {
        link_issue(conn, &mut next, &issue_rule()).await?;
    }
    upsert(conn, &next).await?;
    let mut deltas: HashMap<CountKey, i64> = HashMap::new();
    if let Some(p) = &prev {
        for k in p.count_keys() {
            *deltas.entry(k).or_default() -= 1;
        }
    }
    for k in next.count_keys() {
        *deltas.entry(k).or_default() += 1;
    }
    add_counts(conn, &deltas).await
}

/// Facts and counts of many new cases at once (bulk loads for benchmarks; no issue grouping).
pub async fn insert_new(conn: &mut sqlx::AnyConnection, changes: &[CaseChange]) -> Result<(), sqlx::Error> {
    let facts: Vec<Facts> = changes.iter().map(|ch| Facts::after(None, ch)).collect();
    let mut deltas: HashMap<CountKey, i64> = HashMap::new();
    for f in &facts {
        for k in f.count_keys() {
            *deltas.entry(k).or_default() += 1;
        }
    }
    let marks = Marks::of(conn);
    for chunk in facts.chunks(200) {
        let values: Vec<String> = (0..chunk.len())
            .map(|r| format!("({})", marks.list(r * FACT_COUNT + 1, FACT_COUNT)))
            .collect();
        let sql = format!(
            "INSERT INTO analytics_facts ({FACT_COLUMNS}) VALUES {}",
            values.join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for f in chunk {
            q = f.bind(q);
        }
        q.execute(&mut *conn).await?;
    }
    add_counts(conn, &deltas).await
}

/// Joins `f` to the active major issue of its category and place, or opens one when enough complaints
/// of the key came within the window (linking them all).
async fn link_issue(conn: &mut sqlx::AnyConnection, f: &mut Facts, rule: &IssueRule) -> Result<(), sqlx::Error> {
    if f.category.is_empty() {
        return Ok(());
    }
    let t = f.created_at_us;
    for (dim, col) in PLACES {
        let value = f.value(dim).to_string();
        if value.is_empty() {
            continue;
        }
        let active: Option<String> = sqlx::query_scalar(
            "SELECT issue_id FROM major_issues WHERE place_dim = $1 AND place_value = $2 AND category = $3 \
             AND last_at_us >= $4 ORDER BY last_at_us DESC LIMIT 1",
        )
        .bind(dim)
        .bind(&value)
        .bind(&f.category)
        .bind(t - rule.window_us)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(id) = active {
            sqlx::query(
                "UPDATE major_issues SET complaints = complaints + 1, \
                 last_at_us = CASE WHEN last_at_us < $2 THEN $2 ELSE last_at_us END WHERE issue_id = $1",
            )
            .bind(&id)
            .bind(t)
            .execute(&mut *conn)
            .await?;
            f.major_issue_id = id;
            return Ok(());
        }
        let count_sql = format!(
            "SELECT COUNT(*) FROM analytics_facts WHERE {col} = $1 AND category = $2 AND created_at_us >= $3 \
             AND created_at_us <= $4 AND complaint_id <> $5"
        );
        let recent: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(count_sql.clone()))
            .bind(&value)
            .bind(&f.category)
            .bind(t - rule.window_us)
            .bind(t)
            .bind(&f.complaint_id)
            .fetch_one(&mut *conn)
            .await?;
        let n = recent + 1;
        if n < rule.min_complaints {
            continue;
        }
        let before: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(count_sql))
            .bind(&value)
            .bind(&f.category)
            .bind(t - rule.window_us - rule.baseline_days * DAY_US)
            .bind(t - rule.window_us - 1)
            .bind(&f.complaint_id)
            .fetch_one(&mut *conn)
            .await?;
        let expected = before as f64 * rule.window_us as f64 / (rule.baseline_days * DAY_US) as f64;
        if (n as f64) < rule.min_ratio * expected {
            continue;
        }
        let id = issue_id(dim, &value, &f.category, t);
        sqlx::query(
            "INSERT INTO major_issues (issue_id, category, place_dim, place_value, region, owner_group, \
             first_at_us, last_at_us, complaints) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&id)
        .bind(&f.category)
        .bind(dim)
        .bind(&value)
        .bind(&f.region)
        .bind(&f.group)
        .bind(t - rule.window_us)
        .bind(t)
        .bind(n)
        .execute(&mut *conn)
        .await?;
        let link_sql = format!(
            "UPDATE analytics_facts SET major_issue_id = $1 WHERE {col} = $2 AND category = $3 \
             AND created_at_us >= $4 AND created_at_us <= $5 AND major_issue_id = ''"
        );
        sqlx::query(sqlx::AssertSqlSafe(link_sql))
            .bind(&id)
            .bind(&value)
            .bind(&f.category)
            .bind(t - rule.window_us)
            .bind(t)
            .execute(&mut *conn)
            .await?;
        // The issue starts at its earliest linked complaint.
        sqlx::query(
            "UPDATE major_issues SET first_at_us = (SELECT MIN(created_at_us) FROM analytics_facts \
             WHERE major_issue_id = $1) WHERE issue_id = $1 AND EXISTS (SELECT 1 FROM analytics_facts WHERE major_issue_id = $1)",
        )
        .bind(&id)
        .execute(&mut *conn)
        .await?;
        f.major_issue_id = id;
        return Ok(());
    }
    Ok(())
}

/// `MI-<Beijing yyyymmddHH>-<place>-<hash>`: readable and unique per key and hour.
fn issue_id(dim: &str, value: &str, category: &str, t: i64) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(format!("{dim}\u{1f}{value}\u{1f}{category}\u{1f}{t}").as_bytes());
    let local = chrono::DateTime::from_timestamp_micros(t + BEIJING_OFFSET_US).unwrap_or_default();
    format!("MI-{}-{}", local.format("%Y%m%d%H"), &hex::encode(h)[..10])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_follow_utc_hours_and_beijing_days() {
        // 2026-03-02 23:30 Beijing = 15:30 UTC.
        let t = chrono::DateTime::parse_from_rfc3339("2026-03-02T23:30:00+08:00")
            .unwrap()
            .timestamp_micros();
        let day = chrono::DateTime::parse_from_rfc3339("2026-03-02T00:00:00+08:00")
            .unwrap()
            .timestamp_micros();
        assert_eq!(day_bucket(t), day);
        assert_eq!(hour_bucket(t), t - 30 * 60_000_000);
        assert_eq!(day_bucket(day), day);
    }
}
