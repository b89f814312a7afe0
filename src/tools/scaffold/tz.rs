//! The zone of a backend's times. Typed zones (`timestamptz`, MySQL `TIMESTAMP`) and Unix seconds need
//! none; zone-less times (`DATETIME`, `timestamp without time zone`, `YYYYMMDDHHMMSS` text) are in the
//! zone the application wrote them in, which only evidence can tell: the database's zone setting, and
//! columns that record each row's zone (`timezone = 'UTC'`). Without evidence the zone is reported
//! unknown, not assumed.
use super::catalog::Semantic;
use super::introspect::Schema;
use super::Proposal;
use crate::adapters::sql::column_type::ColumnType;
use crate::adapters::sql::decode::DbValue;
use crate::adapters::sql::text::Driver;
use crate::adapters::sql::Pool;
use std::sync::Arc;

/// What the scaffold concluded about the zone of zone-less times.
#[derive(Debug, Clone, Default)]
pub struct TimeZone {
    /// The `utc_offset` to write, when there is evidence for one.
    pub offset: Option<String>,
    /// Mapped zone-less columns (`table.column`), whose reading depends on the offset.
    pub zone_less: Vec<String>,
    /// What the conclusion rests on, one line each.
    pub evidence: Vec<String>,
}

impl TimeZone {
    /// Whether a person has to decide (zone-less times are mapped, and no offset is certain).
    pub fn needs_review(&self) -> bool {
        !self.zone_less.is_empty()
    }

    /// One line for the summary.
    pub fn summary(&self) -> String {
        if self.zone_less.is_empty() {
            return "no zone-less times mapped (typed zones or Unix seconds): utc_offset does not matter".into();
        }
        match &self.offset {
            Some(o) => format!(
                "zone-less times ({}) taken as {o}, from: {}; confirm before serving",
                self.zone_less.join(", "),
                self.evidence.join("; ")
            ),
            None => format!(
                "UNKNOWN for zone-less times ({}): nothing in the schema, its rows or the database's settings says which zone they are in; set utc_offset (the gateway's default is +08:00)",
                self.zone_less.join(", ")
            ),
        }
    }
}

/// The database's own zone setting, if it says one (`UTC`, `Asia/Shanghai`, `+08:00`).
pub async fn database_zone(pool: &Pool) -> Option<String> {
    let sql = match pool.driver() {
        Driver::Postgres => "SELECT current_setting('TimeZone') AS z",
        Driver::MySql => {
            "SELECT CASE WHEN @@global.time_zone = 'SYSTEM' THEN @@system_time_zone ELSE @@global.time_zone END AS z"
        }
        Driver::Sqlite => return None,
    };
    let rows = pool.fetch_all(&Arc::from(sql), &[]).await.ok()?;
    rows.first()?
        .get("z")
        .and_then(DbValue::as_text)
        .filter(|z| !z.is_empty())
}

fn offset_of_zone(z: &str) -> Option<&'static str> {
    let u = z.trim().to_ascii_uppercase();
    if matches!(
        u.as_str(),
        "UTC" | "ETC/UTC" | "GMT" | "Z" | "UCT" | "ETC/GMT" | "UNIVERSAL" | "ZULU" | "+00:00" | "00:00"
    ) {
        Some("+00:00")
    } else if matches!(
        u.as_str(),
        "ASIA/SHANGHAI" | "PRC" | "ASIA/CHONGQING" | "ASIA/HARBIN" | "ASIA/URUMQI" | "+08:00" | "CST" | "ETC/GMT-8"
    ) {
        Some("+08:00")
    } else {
        None
    }
}

/// Decides the offset for the proposal's mapped zone-less times.
pub fn decide(schema: &Schema, p: &Proposal, db_zone: Option<&str>) -> TimeZone {
    let mut tz = TimeZone::default();
    for e in p.entities.iter().filter(|e| e.enabled) {
        for f in e
            .fields
            .iter()
            .filter(|f| f.active && f.field.semantic == Semantic::Time)
        {
            let Some(b) = &f.best else { continue };
            let Some(col) = schema.table(&b.table).and_then(|t| t.column(&b.column)) else {
                continue;
            };
            let declared = col.declared.to_ascii_lowercase();
            let zoned = match schema.driver {
                Driver::Postgres => declared.contains("with time zone") || declared == "timestamptz",
                Driver::MySql => declared.starts_with("timestamp"),
                Driver::Sqlite => false,
            };
            let epoch = f.conversion.format.as_deref() == Some("%s");
            let zone_less = !zoned
                && !epoch
                && matches!(
                    col.class,
                    ColumnType::Timestamp | ColumnType::Date | ColumnType::Text | ColumnType::Integer
                );
            let name = format!("{}.{}", b.table, b.column);
            if zone_less && !tz.zone_less.contains(&name) {
                tz.zone_less.push(name);
            }
        }
    }
    // Columns that record each row's zone: an application that keeps a zone per row stores times in UTC
    // and converts for display.
    let mut per_row: Vec<String> = Vec::new();
    for t in &schema.tables {
        for c in t.columns.iter().filter(|c| {
            let n = c.name.as_str();
            matches!(n, "timezone" | "time_zone" | "tz" | "tzname" | "zone" | "timezone_name")
                && c.class == ColumnType::Text
        }) {
            let mut seen: Vec<String> = t
                .values(&c.name)
                .into_iter()
                .filter_map(DbValue::as_text)
                .filter(|v| v.contains('/') || offset_of_zone(v).is_some())
                .collect();
            seen.sort();
            seen.dedup();
            if !seen.is_empty() {
                seen.truncate(3);
                per_row.push(format!("{}.{} ({})", t.name, c.name, seen.join(", ")));
            }
        }
    }
    if tz.zone_less.is_empty() {
        tz.offset = Some("+00:00".into());
        return tz;
    }
    let db = db_zone.and_then(|z| offset_of_zone(z).map(|o| (z, o)));
    if !per_row.is_empty() {
        tz.evidence.push(format!(
            "rows record their own zone in {}: times are then stored in UTC and converted for display",
            per_row.join(", ")
        ));
        tz.offset = Some("+00:00".into());
    }
    if let Some((z, o)) = db {
        tz.evidence.push(format!("the database's zone is {z}"));
        tz.offset.get_or_insert_with(|| o.to_string());
    }
    tz
}
