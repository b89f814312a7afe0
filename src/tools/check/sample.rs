//! Running a definition's queries for real subscribers: a prepared statement says which columns come back,
//! not whether their values decode and convert, nor whether the joins find anything. The subscriber
//! numbers are sampled from the column the primary entity's query compares with `:msisdn`.
use super::Problem;
use crate::adapters::sql::decode::{DbRow, DbValue};
use crate::adapters::sql::definition::{CompiledField, Definition};
use crate::adapters::sql::mapping::{self, MapReport};
use crate::adapters::sql::text::{Driver, SqlTemplate};
use crate::adapters::sql::{Bind, Pool};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Subscribers sampled per source.
pub const SAMPLE_KEYS: usize = 20;
/// How long one sampled query may take.
const RUN_TIMEOUT: Duration = Duration::from_secs(15);

/// One query of a definition, as the sample run needs it.
pub struct Query<'a> {
    pub part: String,
    pub sql_file: Option<PathBuf>,
    pub sql: &'a SqlTemplate,
    pub fields: &'a [CompiledField],
    /// `Some(format)` for a stream (its `:from`/`:to` are bound as a wide range).
    pub stream: Option<Option<String>>,
}

/// The statement's text with its named parameters written back (`:msisdn`).
fn named_text(sql: &SqlTemplate) -> String {
    // Rendering for SQLite keeps one `?` per occurrence, in order: put the names back in their place.
    let (text, _) = sql.render(Driver::Sqlite);
    let mut out = String::with_capacity(text.len() + 16);
    let mut names = sql.params.iter();
    let mut quote: Option<char> = None;
    for c in text.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' || c == '`' => quote = Some(c),
            None if c == '?' => {
                if let Some(n) = names.next() {
                    out.push(':');
                    out.push_str(n);
                    continue;
                }
            }
            None => {}
        }
        out.push(c);
    }
    out
}

fn plain_ident(s: &str) -> Option<String> {
    let t = s.trim_matches(|c| c == '"' || c == '`');
    (!t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')).then(|| t.to_string())
}

/// The (table, column) a query compares with `:msisdn` (`WHERE y.sjhm = :msisdn`), its alias resolved
/// through the FROM and JOIN clauses.
pub fn number_column(sql: &SqlTemplate) -> Option<(String, String)> {
    let text = named_text(sql);
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut found = None;
    for (i, w) in words.iter().enumerate() {
        if w.trim_end_matches([')', ';', ',']) != ":msisdn" {
            continue;
        }
        let other = match (i.checked_sub(2).map(|j| words[j]), words.get(i.wrapping_sub(1))) {
            (Some(o), Some(&"=")) => o,
            _ => match (words.get(i + 1), words.get(i + 2)) {
                (Some(&"="), Some(o)) => o,
                _ => continue,
            },
        };
        let other = other.trim_start_matches('(');
        found = Some(match other.rsplit_once('.') {
            Some((a, c)) => (plain_ident(a)?, plain_ident(c)?),
            None => (String::new(), plain_ident(other)?),
        });
        break;
    }
    let (alias, column) = found?;
    let mut first_table = None;
    for (i, w) in words.iter().enumerate() {
        if !(w.eq_ignore_ascii_case("FROM") || w.eq_ignore_ascii_case("JOIN")) {
            continue;
        }
        let Some(table) = words.get(i + 1).and_then(|t| plain_ident(t)) else {
            continue;
        };
        first_table.get_or_insert_with(|| table.clone());
        let mut a = words.get(i + 2).copied().unwrap_or("");
        if a.eq_ignore_ascii_case("AS") {
            a = words.get(i + 3).copied().unwrap_or("");
        }
        let a = plain_ident(a).unwrap_or_default();
        if alias.is_empty() || a == alias || table == alias {
            return Some((table, column));
        }
    }
    (alias.is_empty()).then_some(())?;
    first_table.map(|t| (t, column))
}

/// Up to [`SAMPLE_KEYS`] subscriber numbers from the primary entity's number column.
pub async fn keys(pool: &Pool, def: &Definition) -> Result<(Vec<String>, String), String> {
    let primary = def
        .entities
        .iter()
        .find(|e| e.name == def.primary)
        .ok_or("the definition has no primary entity")?;
    let (table, column) = number_column(&primary.sql).ok_or_else(|| {
        format!(
            "could not tell which column `entities.{}` compares with :msisdn, so no subscribers were sampled",
            primary.name
        )
    })?;
    let q = |s: &str| crate::tools::scaffold::introspect::quote(pool.driver(), s);
    let sql = format!(
        "SELECT DISTINCT {c} AS k FROM {t} WHERE {c} IS NOT NULL LIMIT {SAMPLE_KEYS}",
        c = q(&column),
        t = q(&table)
    );
    let rows = tokio::time::timeout(RUN_TIMEOUT, pool.fetch_all(&Arc::from(sql.as_str()), &[]))
        .await
        .map_err(|_| format!("sampling subscribers from {table}.{column} took over {RUN_TIMEOUT:?}"))?
        .map_err(|e| format!("sampling subscribers from {table}.{column}: {e}"))?;
    let keys: Vec<String> = rows
        .iter()
        .filter_map(|r| r.get("k").and_then(DbValue::as_text))
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
        .collect();
    Ok((keys, format!("{table}.{column}")))
}

/// Runs `q` for each key: decoding problems and values that do not convert are problems; a query that
/// returns no rows for any key is a warning.
pub async fn run(
    pool: &Pool,
    def: &Definition,
    q: &Query<'_>,
    keys: &[String],
    from: &str,
    scrub: &dyn Fn(&str) -> String,
) -> (Vec<Problem>, Vec<Problem>) {
    let (text, names) = q.sql.render(pool.driver());
    let sql: Arc<str> = Arc::from(text.as_str());
    let file = q.sql_file.clone().unwrap_or_else(|| def.file.clone());
    let problem = |column: Option<String>, message: String| Problem {
        file: file.clone(),
        part: q.part.clone(),
        column,
        message,
    };
    let (mut problems, mut warnings) = (Vec::new(), Vec::new());
    let mut rows_seen = 0usize;
    let mut bad_columns: Vec<String> = Vec::new();
    for key in keys {
        let binds: Vec<Bind> = names.iter().map(|n| bind(n, key, q, def)).collect();
        let rows: Vec<DbRow> = match tokio::time::timeout(RUN_TIMEOUT, pool.fetch_all(&sql, &binds)).await {
            Err(_) => {
                problems.push(problem(
                    None,
                    format!("the query took over {RUN_TIMEOUT:?} for a sampled subscriber"),
                ));
                return (problems, warnings);
            }
            Ok(Err(e)) => {
                problems.push(problem(
                    None,
                    format!(
                        "running the query for a sampled subscriber failed: {}",
                        scrub(&e.to_string())
                    ),
                ));
                return (problems, warnings);
            }
            Ok(Ok(rows)) => rows,
        };
        rows_seen += rows.len();
        for row in &rows {
            for f in q.fields {
                let mut report = MapReport::default();
                mapping::convert_column(row, f, def.utc_offset, &mut report);
                if let Some(why) = report.skipped.first() {
                    if !bad_columns.contains(&f.column) {
                        bad_columns.push(f.column.clone());
                        let why = why.split_once(": ").map_or(why.as_str(), |(_, w)| w);
                        problems.push(problem(
                            Some(f.column.clone()),
                            format!("a sampled row's value does not fill `{}`: {why}", f.path.text),
                        ));
                    }
                }
            }
        }
    }
    if rows_seen == 0 && !keys.is_empty() {
        warnings.push(problem(
            None,
            format!(
                "returned no rows for any of the {} subscriber(s) sampled from {from}: check its joins and filters",
                keys.len()
            ),
        ));
    }
    (problems, warnings)
}

fn bind(name: &str, key: &str, q: &Query<'_>, def: &Definition) -> Bind {
    let wide = |year: i32| {
        let t = chrono::NaiveDate::from_ymd_opt(year, 1, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .expect("a valid date");
        match q.stream.as_ref().and_then(|f| f.as_deref()) {
            Some(f) => Bind::Text(Some(t.format(f).to_string())),
            None => Bind::DateTime(t),
        }
    };
    let _ = def;
    match name {
        "msisdn" => Bind::Text(Some(key.to_string())),
        "from" => wide(1971),
        "to" => wide(2100),
        _ => Bind::Text(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_number_column_behind_an_alias() {
        let t = SqlTemplate::parse(
            "SELECT a.x FROM accounts a JOIN invoices i ON i.accountid = a.id WHERE a.telephone_1 = :msisdn",
            &["msisdn"],
        )
        .unwrap();
        assert_eq!(number_column(&t), Some(("accounts".into(), "telephone_1".into())));
        let t = SqlTemplate::parse(
            "SELECT x FROM `ost_user__cdata` AS c WHERE :msisdn = c.`phone` AND 'a?b' <> ''",
            &["msisdn"],
        )
        .unwrap();
        assert_eq!(number_column(&t), Some(("ost_user__cdata".into(), "phone".into())));
        let t = SqlTemplate::parse("SELECT x FROM yh_zl WHERE sjhm = :msisdn", &["msisdn"]).unwrap();
        assert_eq!(number_column(&t), Some(("yh_zl".into(), "sjhm".into())));
    }
}
