//! Running what the scaffold proposes: every enabled part's query is run for subscribers sampled from the
//! database. A query that returns nothing for all of them is not enabled, and its note says why; each
//! part gets a confidence from its fields' scores and its joins' evidence, and a part below
//! [`MIN_ENTITY_CONFIDENCE`] is left for review.
use super::introspect::Schema;
use super::{EntityProposal, Proposal};
use crate::adapters::sql::decode::DbValue;
use crate::adapters::sql::text::SqlTemplate;
use crate::adapters::sql::{Bind, Pool};
use std::sync::Arc;
use std::time::Duration;

/// Subscribers each proposed query is run for.
pub const SAMPLED_SUBSCRIBERS: usize = 20;
/// Parts less trustworthy than this are written commented out.
pub const MIN_ENTITY_CONFIDENCE: f32 = 0.45;
const RUN_TIMEOUT: Duration = Duration::from_secs(10);

/// A part's confidence: the mean score of its live fields, times the weakest evidence among its joins.
pub fn confidence(e: &EntityProposal) -> f32 {
    let live: Vec<f32> = e
        .fields
        .iter()
        .filter(|f| f.active)
        .filter_map(|f| f.best.as_ref().map(|b| b.score))
        .collect();
    if live.is_empty() {
        return 0.0;
    }
    let mean = live.iter().sum::<f32>() / live.len() as f32;
    let joins = e
        .plan
        .as_ref()
        .map(|p| p.steps.iter().map(|s| s.confidence).fold(1.0, f32::min))
        .unwrap_or(0.0);
    mean * joins
}

/// Subscriber numbers from the table the most enabled parts start from (the primary's, on a tie).
fn sample_numbers(p: &Proposal, schema: &Schema) -> Option<(Vec<String>, String)> {
    let mut anchors: Vec<(String, String, usize)> = Vec::new();
    for e in p.entities.iter().filter(|e| e.enabled) {
        let Some(plan) = &e.plan else { continue };
        let key = (plan.steps[0].table.clone(), plan.number_column.clone());
        let bonus = usize::from(p.primary.as_deref() == Some(e.name.as_str()));
        match anchors.iter_mut().find(|a| a.0 == key.0 && a.1 == key.1) {
            Some(a) => a.2 += 2 + bonus,
            None => anchors.push((key.0, key.1, 2 + bonus)),
        }
    }
    anchors.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
    let (table, column, _) = anchors.into_iter().next()?;
    let t = schema.table(&table)?;
    let mut numbers: Vec<String> = Vec::new();
    for v in t.values(&column) {
        if let Some(n) = DbValue::as_text(v).map(|s| s.trim().to_string()) {
            if !n.is_empty() && !numbers.contains(&n) {
                numbers.push(n);
            }
        }
        if numbers.len() >= SAMPLED_SUBSCRIBERS {
            break;
        }
    }
    Some((numbers, format!("{table}.{column}")))
}

/// Runs every enabled part's query for the sampled subscribers, records how many returned rows, and
/// leaves out the parts that return nothing or are too doubtful.
pub async fn run(pool: &Pool, schema: &Schema, p: &mut Proposal) {
    for e in p.entities.iter_mut() {
        e.confidence = confidence(e);
        if e.enabled && e.confidence < MIN_ENTITY_CONFIDENCE {
            e.enabled = false;
            e.note = Some(format!(
                "confidence {:.2} is below {MIN_ENTITY_CONFIDENCE}: its fields or joins are doubtful; review before enabling",
                e.confidence
            ));
        }
    }
    let Some((numbers, from)) = sample_numbers(p, schema) else {
        return;
    };
    if numbers.is_empty() {
        for e in p.entities.iter_mut().filter(|e| e.enabled) {
            e.enabled = false;
            e.note = Some(format!(
                "{from} holds no subscriber numbers to run the proposed query for: not enabled"
            ));
        }
        p.primary = None;
        return;
    }
    p.sampled_from = Some(from.clone());
    let driver = pool.driver();
    for e in p.entities.iter_mut().filter(|e| e.enabled) {
        let Some(sql) = &e.sql else { continue };
        let template = match SqlTemplate::parse(sql, &["msisdn", "from", "to"]) {
            Ok(t) => t,
            Err(why) => {
                e.enabled = false;
                e.note = Some(format!("the proposed SQL does not parse ({why}): not enabled"));
                continue;
            }
        };
        let (text, names) = template.render(driver);
        let sql: Arc<str> = Arc::from(text.as_str());
        let mut hits = 0;
        let mut failure = None;
        for n in &numbers {
            let binds: Vec<Bind> = names
                .iter()
                .map(|name| bind(name, n, e.time_param_format.as_deref()))
                .collect();
            match tokio::time::timeout(RUN_TIMEOUT, pool.fetch_all(&sql, &binds)).await {
                Ok(Ok(rows)) => hits += usize::from(!rows.is_empty()),
                Ok(Err(err)) => {
                    failure = Some(err.to_string());
                    break;
                }
                Err(_) => {
                    failure = Some(format!("no answer within {RUN_TIMEOUT:?}"));
                    break;
                }
            }
        }
        e.sampled = Some((hits, numbers.len()));
        if let Some(why) = failure {
            e.enabled = false;
            e.note = Some(format!(
                "the proposed query failed for a sampled subscriber ({why}): not enabled"
            ));
        } else if hits == 0 && !numbers.is_empty() {
            e.enabled = false;
            e.note = Some(format!(
                "the proposed query returned no rows for any of the {} subscribers sampled from {from}: not enabled; check its joins",
                numbers.len()
            ));
        }
    }
    if p.primary
        .as_ref()
        .is_some_and(|name| !p.entities.iter().any(|e| e.enabled && e.name == *name))
    {
        p.primary = super::matching::primary_of(&p.entities, schema);
    }
}

fn bind(name: &str, msisdn: &str, format: Option<&str>) -> Bind {
    let wide = |year: i32| {
        let t = chrono::NaiveDate::from_ymd_opt(year, 1, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .expect("a valid date");
        match format {
            Some(f) => Bind::Text(Some(t.format(f).to_string())),
            None => Bind::DateTime(t),
        }
    };
    match name {
        "from" => wide(1971),
        "to" => wide(2100),
        _ => Bind::Text(Some(msisdn.to_string())),
    }
}
