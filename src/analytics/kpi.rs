//! KPIs over the complaints created in a range, from `analytics_facts` (one row per complaint, kept by
//! `cases::facts` as events arrive): one aggregate query, grouped by region, group, handler or category.
//! Each figure is a numerator over a denominator, both conditions on the facts, so every figure drills
//! down to the complaints it counts ([`AnalyticsStore::drill_down`]).
use super::{bind_all, AnalyticsStore, Bind, Scope, Where};
use sqlx::Row;

/// How KPIs are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    Overall,
    Region,
    Group,
    Handler,
    Category,
}

impl Grouping {
    fn column(self) -> Option<&'static str> {
        match self {
            Grouping::Overall => None,
            Grouping::Region => Some("region"),
            Grouping::Group => Some("handler_group"),
            Grouping::Handler => Some("owner"),
            Grouping::Category => Some("category"),
        }
    }
}

/// One KPI's definition: conditions on `analytics_facts` (`{now}` is the instant pending deadlines are
/// judged at) and the figure the seed names, if any.
#[derive(Debug, Clone, Copy)]
pub struct KpiDef {
    pub name: &'static str,
    pub label: &'static str,
    pub numerator: &'static str,
    pub denominator: &'static str,
    pub reference: Option<f64>,
}

/// Every KPI, in the order reports show them.
pub const KPIS: &[KpiDef] = &[
    KpiDef {
        name: "auto_detected",
        label: "自动识别率 auto-detected (classified without abstaining)",
        numerator: "auto_detected = 1",
        denominator: "1 = 1",
        reference: Some(0.80),
    },
    KpiDef {
        name: "auto_replied",
        label: "自动答复率 auto-replied (cause and reply without a question)",
        numerator: "auto_replied = 1",
        denominator: "1 = 1",
        reference: Some(0.54),
    },
    KpiDef {
        name: "verified_auto_reply",
        label: "有效自动答复 verified auto-reply (no repeat in 7 days)",
        numerator: "auto_replied = 1 AND repeated_7d = 0",
        denominator: "1 = 1",
        reference: None,
    },
    KpiDef {
        name: "first_contact_resolution",
        label: "一次解决率 first-contact resolution (closed, never reopened or repeated)",
        numerator: "closed = 1 AND reopen_count = 0 AND repeat_count = 0",
        denominator: "closed = 1",
        reference: None,
    },
    KpiDef {
        name: "sla_first_response",
        label: "首次响应及时率 SLA first response",
        numerator: "fr_met = 1",
        denominator: "(fr_met = 1 OR fr_late = 1 OR fr_due_us < {now})",
        reference: None,
    },
    KpiDef {
        name: "sla_reply",
        label: "答复及时率 SLA reply",
        numerator: "reply_met = 1",
        denominator: "(reply_met = 1 OR reply_late = 1 OR reply_due_us < {now})",
        reference: None,
    },
    KpiDef {
        name: "sla_resolution",
        label: "解决及时率 SLA resolution",
        numerator: "res_met = 1",
        denominator: "(res_met = 1 OR res_late = 1 OR res_due_us < {now})",
        reference: None,
    },
    KpiDef {
        name: "closed_within_deadline",
        label: "限时办结率 closed within the resolution deadline",
        numerator: "closed = 1 AND res_met = 1",
        denominator: "closed = 1",
        reference: None,
    },
    KpiDef {
        name: "satisfaction",
        label: "回访满意率 return-visit satisfaction",
        numerator: "visit_outcome = 'satisfied'",
        denominator: "visit_outcome IN ('satisfied', 'unsatisfied')",
        reference: None,
    },
    KpiDef {
        name: "repeat_rate",
        label: "重复投诉率 repeat complaints",
        numerator: "is_repeat = 1",
        denominator: "1 = 1",
        reference: None,
    },
    KpiDef {
        name: "reopen_rate",
        label: "重开率 reopened",
        numerator: "reopen_count > 0",
        denominator: "1 = 1",
        reference: None,
    },
    KpiDef {
        name: "regulator_referred",
        label: "申诉转办占比 regulator-referred",
        numerator: "channel = 'regulator'",
        denominator: "1 = 1",
        reference: None,
    },
];

/// The definition of KPI `name`.
pub fn kpi(name: &str) -> Option<&'static KpiDef> {
    KPIS.iter().find(|k| k.name == name)
}

/// One KPI figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    pub name: &'static str,
    pub label: &'static str,
    pub numerator: i64,
    pub denominator: i64,
    pub value: f64,
    pub reference: Option<f64>,
}

/// The KPIs of one group.
#[derive(Debug, Clone, PartialEq)]
pub struct KpiGroup {
    pub key: String,
    pub figures: Vec<Figure>,
}

fn scoped(scope: &Scope) -> Option<Where> {
    let mut w = Where::default();
    w.range("created_at_us", scope.from_us, scope.to_us);
    if !w.within("region", &scope.regions) {
        return None;
    }
    if let Some(c) = &scope.category {
        w.eq("category", Bind::Text(c.clone()));
    }
    Some(w)
}

impl AnalyticsStore {
    /// The KPIs of complaints created in `scope`, per `grouping`, with pending deadlines judged at `now_us`.
    pub async fn kpis(&self, scope: &Scope, grouping: Grouping, now_us: i64) -> Result<Vec<KpiGroup>, String> {
        let Some(mut w) = scoped(scope) else {
            return Ok(Vec::new());
        };
        let now = w.arg(Bind::Int(now_us));
        let mut cols = Vec::new();
        for (i, k) in KPIS.iter().enumerate() {
            for (part, cond) in [("n", k.numerator), ("d", k.denominator)] {
                cols.push(format!(
                    "CAST(COALESCE(SUM(CASE WHEN {} THEN 1 ELSE 0 END), 0) AS BIGINT) AS {part}{i}",
                    cond.replace("{now}", &now)
                ));
            }
        }
        let (key, group_by) = match grouping.column() {
            Some(c) => (format!("{c} AS k"), format!(" GROUP BY {c}")),
            None => ("'' AS k".to_string(), String::new()),
        };
        let sql = format!(
            "SELECT {key}, COUNT(*) AS total, {} FROM analytics_facts WHERE {}{group_by}",
            cols.join(", "),
            w.clause()
        );
        let rows = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), w.binds)
            .fetch_all(self.pool())
            .await
            .map_err(|e| self.fail("computing KPIs", e))?;
        let mut out = Vec::new();
        for r in &rows {
            let total: i64 = r.try_get("total").map_err(|e| format!("decoding KPIs: {e}"))?;
            if total == 0 {
                continue;
            }
            let mut figures = Vec::new();
            for (i, k) in KPIS.iter().enumerate() {
                let n: i64 = r
                    .try_get(format!("n{i}").as_str())
                    .map_err(|e| format!("decoding KPIs: {e}"))?;
                let d: i64 = r
                    .try_get(format!("d{i}").as_str())
                    .map_err(|e| format!("decoding KPIs: {e}"))?;
                figures.push(Figure {
                    name: k.name,
                    label: k.label,
                    numerator: n,
                    denominator: d,
                    value: if d > 0 { n as f64 / d as f64 } else { 0.0 },
                    reference: k.reference,
                });
            }
            out.push(KpiGroup {
                key: r.try_get("k").map_err(|e| format!("decoding KPIs: {e}"))?,
                figures,
            });
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// The complaints behind KPI `def`'s numerator (or denominator) in group `key` of `grouping`: at most
    /// `limit` ids (oldest first) and how many there are in all.
    #[allow(clippy::too_many_arguments)]
    pub async fn drill_down(
        &self,
        scope: &Scope,
        def: &KpiDef,
        grouping: Grouping,
        key: &str,
        denominator: bool,
        now_us: i64,
        limit: u32,
    ) -> Result<(Vec<String>, i64), String> {
        let Some(mut w) = scoped(scope) else {
            return Ok((Vec::new(), 0));
        };
        if let Some(c) = grouping.column() {
            w.eq(c, Bind::Text(key.to_string()));
        }
        let now = w.arg(Bind::Int(now_us));
        let cond = if denominator { def.denominator } else { def.numerator };
        w.sql.push(format!("({})", cond.replace("{now}", &now)));
        let clause = w.clause();
        let count_sql = format!("SELECT COUNT(*) AS n FROM analytics_facts WHERE {clause}");
        let total: i64 = bind_all(sqlx::query(sqlx::AssertSqlSafe(count_sql)), w.binds.clone())
            .fetch_one(self.pool())
            .await
            .and_then(|r| r.try_get("n"))
            .map_err(|e| self.fail("drilling down a KPI", e))?;
        let sql = format!(
            "SELECT complaint_id FROM analytics_facts WHERE {clause} ORDER BY created_at_us, complaint_id LIMIT {}",
            limit.clamp(1, 1000)
        );
        let ids = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), w.binds)
            .fetch_all(self.pool())
            .await
            .map_err(|e| self.fail("drilling down a KPI", e))?
            .iter()
            .map(|r| r.try_get("complaint_id"))
            .collect::<Result<Vec<String>, _>>()
            .map_err(|e| format!("decoding complaint ids: {e}"))?;
        Ok((ids, total))
    }
}
