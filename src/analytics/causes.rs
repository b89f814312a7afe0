//! Causes per category (and region) with their trend and auto-reply share, and the major issues that
//! `cases::facts` groups as complaints arrive.
use super::hotspots::Sample;
use super::{bind_all, AnalyticsStore, Bind, Scope, Where};
use sqlx::Row;
use std::collections::BTreeMap;

/// One cause's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct CauseRow {
    pub category: String,
    pub cause_code: String,
    pub region: String,
    pub count: i64,
    pub previous_count: i64,
    pub auto_reply_share: f64,
}

/// A major issue.
#[derive(Debug, Clone, PartialEq)]
pub struct MajorIssue {
    pub issue_id: String,
    pub category: String,
    pub place_dim: String,
    pub place_value: String,
    pub region: String,
    pub owner_group: String,
    pub first_at_us: i64,
    pub last_at_us: i64,
    pub complaints: i64,
}

fn decode_issue(r: &sqlx::any::AnyRow) -> Result<MajorIssue, sqlx::Error> {
    Ok(MajorIssue {
        issue_id: r.try_get("issue_id")?,
        category: r.try_get("category")?,
        place_dim: r.try_get("place_dim")?,
        place_value: r.try_get("place_value")?,
        region: r.try_get("region")?,
        owner_group: r.try_get("owner_group")?,
        first_at_us: r.try_get("first_at_us")?,
        last_at_us: r.try_get("last_at_us")?,
        complaints: r.try_get("complaints")?,
    })
}

const ISSUE_COLUMNS: &str =
    "issue_id, category, place_dim, place_value, region, owner_group, first_at_us, last_at_us, complaints";

impl AnalyticsStore {
    /// Causes of complaints created in `scope` and in the period of equal length before it.
    pub async fn causes(&self, scope: &Scope, by_region: bool) -> Result<Vec<CauseRow>, String> {
        let len = scope.to_us - scope.from_us;
        let mut w = Where::default();
        w.range("created_at_us", scope.from_us - len, scope.to_us);
        if !w.within("region", &scope.regions) {
            return Ok(Vec::new());
        }
        if let Some(c) = &scope.category {
            w.eq("category", Bind::Text(c.clone()));
        }
        let cut = w.arg(Bind::Int(scope.from_us));
        let region = if by_region { "region" } else { "''" };
        let sql = format!(
            "SELECT category, cause_code, {region} AS r, \
             CAST(SUM(CASE WHEN created_at_us >= {cut} THEN 1 ELSE 0 END) AS BIGINT) AS n, \
             CAST(SUM(CASE WHEN created_at_us < {cut} THEN 1 ELSE 0 END) AS BIGINT) AS prev, \
             CAST(SUM(CASE WHEN created_at_us >= {cut} AND auto_replied = 1 THEN 1 ELSE 0 END) AS BIGINT) AS auto \
             FROM analytics_facts WHERE {} GROUP BY category, cause_code{}",
            w.clause(),
            if by_region { ", region" } else { "" }
        );
        let rows = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), w.binds)
            .fetch_all(self.pool())
            .await
            .map_err(|e| self.fail("reading causes", e))?;
        let mut out = Vec::new();
        for r in &rows {
            let get = |c: &str| r.try_get::<i64, _>(c);
            let (n, prev, auto) = (get("n"), get("prev"), get("auto"));
            let (n, prev, auto) = (
                n.map_err(|e| e.to_string())?,
                prev.map_err(|e| e.to_string())?,
                auto.map_err(|e| e.to_string())?,
            );
            out.push(CauseRow {
                category: r.try_get("category").map_err(|e| e.to_string())?,
                cause_code: r.try_get("cause_code").map_err(|e| e.to_string())?,
                region: r.try_get("r").map_err(|e| e.to_string())?,
                count: n,
                previous_count: prev,
                auto_reply_share: if n > 0 { auto as f64 / n as f64 } else { 0.0 },
            });
        }
        out.retain(|c| c.count > 0 || c.previous_count > 0);
        out.sort_by(|a, b| b.count.cmp(&a.count).then(a.category.cmp(&b.category)));
        Ok(out)
    }

    /// Major issues active in `scope`'s range (their region in scope), largest first.
    pub async fn major_issues(&self, scope: &Scope) -> Result<Vec<MajorIssue>, String> {
        let mut w = Where::default();
        let a = w.arg(Bind::Int(scope.from_us));
        let b = w.arg(Bind::Int(scope.to_us));
        w.sql.push(format!("last_at_us >= {a} AND first_at_us < {b}"));
        if !w.within("region", &scope.regions) {
            return Ok(Vec::new());
        }
        if let Some(c) = &scope.category {
            w.eq("category", Bind::Text(c.clone()));
        }
        let sql = format!(
            "SELECT {ISSUE_COLUMNS} FROM major_issues WHERE {} ORDER BY complaints DESC, issue_id LIMIT 500",
            w.clause()
        );
        let rows = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), w.binds)
            .fetch_all(self.pool())
            .await
            .map_err(|e| self.fail("reading major issues", e))?;
        rows.iter()
            .map(decode_issue)
            .collect::<Result<_, _>>()
            .map_err(|e| format!("decoding a major issue: {e}"))
    }

    /// One major issue and its complaints (within `regions`), oldest first.
    pub async fn major_issue(
        &self,
        id: &str,
        regions: &Option<Vec<String>>,
        limit: u32,
    ) -> Result<Option<(MajorIssue, Vec<Sample>)>, String> {
        let sql = format!("SELECT {ISSUE_COLUMNS} FROM major_issues WHERE issue_id = $1");
        let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(|e| self.fail("reading a major issue", e))?
        else {
            return Ok(None);
        };
        let issue = decode_issue(&row).map_err(|e| format!("decoding a major issue: {e}"))?;
        let mut w = Where::default();
        let p = w.arg(Bind::Text(id.to_string()));
        w.sql.push(format!(
            "complaint_id IN (SELECT complaint_id FROM analytics_facts WHERE major_issue_id = {p})"
        ));
        let children = if w.within("region", regions) {
            self.samples(w, limit).await?
        } else {
            Vec::new()
        };
        Ok(Some((issue, children)))
    }

    /// Complaint texts of `scope` (at most `limit`, spread over the range), for keywords.
    pub async fn texts(&self, scope: &Scope, limit: u32) -> Result<Vec<Sample>, String> {
        let mut w = Where::default();
        w.range("created_at_us", scope.from_us, scope.to_us);
        if !w.within("region", &scope.regions) {
            return Ok(Vec::new());
        }
        if let Some(c) = &scope.category {
            w.eq("category", Bind::Text(c.clone()));
        }
        self.samples(w, limit).await
    }

    /// How many complaints each major issue of `ids` has in all (for the report).
    pub async fn issue_sizes(&self, ids: &[String]) -> Result<BTreeMap<String, i64>, String> {
        let mut out = BTreeMap::new();
        for id in ids {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM analytics_facts WHERE major_issue_id = $1")
                .bind(id)
                .fetch_one(self.pool())
                .await
                .map_err(|e| self.fail("counting a major issue", e))?;
            out.insert(id.clone(), n);
        }
        Ok(out)
    }
}
