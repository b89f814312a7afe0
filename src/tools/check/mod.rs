//! `complaint-gateway adapters check`: every adapter definition against its live database.
//!
//! Each entity's and stream's SQL is rendered for the database's driver and prepared there, which reports
//! the result columns with their types. Every mapped column must be among them, with a type that fits both
//! the `type` its mapping declares and the unified field it fills. The queries that pass are then run for
//! a few subscribers sampled from the database ([`sample`]): their rows must decode and convert, and a
//! query that returns nothing for all of them is a warning. Each problem names the file, the entity and
//! the column, so CI output points at the line to fix.
use crate::adapters::sql::definition::{ColumnType, CompiledField, Convert, Definition};
use crate::adapters::sql::text::{Driver, SqlTemplate};
use crate::adapters::sql::{Pool, PoolSettings};
use crate::config::Config;
use crate::secrets;

pub mod sample;
use prost_reflect::Kind;
use sqlx::{Column, SqlSafeStr, Statement, TypeInfo};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A column of a prepared statement's result.
#[derive(Debug, Clone)]
pub struct ResultColumn {
    /// Lower-cased, as the adapter looks columns up.
    pub name: String,
    /// The type as the database names it (`NUMERIC`, `VARCHAR`, `DECIMAL(12,2)`).
    pub type_name: String,
    pub class: ColumnType,
}

/// One thing wrong with a definition, located as precisely as it can be.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// The `adapter.toml` (or SQL file) at fault.
    pub file: PathBuf,
    /// `entities.<name>` or `streams.<name>`; empty for the whole source.
    pub part: String,
    /// The column concerned, where there is one.
    pub column: Option<String>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if !self.part.is_empty() {
            write!(f, ": {}", self.part)?;
        }
        if let Some(c) = &self.column {
            write!(f, ": column `{c}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The result of checking one source.
#[derive(Debug, Clone)]
pub struct SourceReport {
    /// The source name, or the folder where the definition did not load.
    pub name: String,
    pub file: PathBuf,
    /// Entity and stream queries prepared.
    pub queries: usize,
    /// Subscribers whose rows every query was run for.
    pub sampled: usize,
    pub problems: Vec<Problem>,
    /// What deserves a look but does not fail the check (a query returning no rows for any sampled
    /// subscriber).
    pub warnings: Vec<Problem>,
}

/// What `adapters check` found.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    pub sources: Vec<SourceReport>,
}

impl CheckReport {
    pub fn problems(&self) -> impl Iterator<Item = &Problem> {
        self.sources.iter().flat_map(|s| s.problems.iter())
    }

    /// Whether every definition checked out.
    pub fn ok(&self) -> bool {
        self.problems().next().is_none()
    }

    /// The warnings of every source.
    pub fn warnings(&self) -> impl Iterator<Item = &Problem> {
        self.sources.iter().flat_map(|s| s.warnings.iter())
    }

    /// One line per problem and warning, then a summary line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for p in self.problems() {
            out.push_str(&format!("error: {p}\n"));
        }
        for w in self.warnings() {
            out.push_str(&format!("warning: {w}\n"));
        }
        let sampled: Vec<String> = self
            .sources
            .iter()
            .filter(|s| s.sampled > 0)
            .map(|s| format!("{}: {}", s.name, s.sampled))
            .collect();
        let w = self.warnings().count();
        if !sampled.is_empty() || w > 0 {
            out.push_str(&format!(
                "ran the queries for sampled subscribers ({}): {w} warning{}\n",
                if sampled.is_empty() {
                    "none".to_string()
                } else {
                    sampled.join(", ")
                },
                if w == 1 { "" } else { "s" }
            ));
        }
        let n = self.problems().count();
        let queries: usize = self.sources.iter().map(|s| s.queries).sum();
        out.push_str(&format!(
            "checked {} source(s) ({}), {queries} quer{}: {}\n",
            self.sources.len(),
            self.sources
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            if queries == 1 { "y" } else { "ies" },
            if n == 0 {
                "ok".to_string()
            } else {
                format!("{n} problem{}", if n == 1 { "" } else { "s" })
            }
        ));
        out
    }
}

/// A definition folder to check and the URL of its database (or why there is none).
#[derive(Debug, Clone)]
pub struct Target {
    pub dir: PathBuf,
    pub url: Result<String, String>,
}

/// Which definitions to check. With a config: its enabled sources (only those under `dir`, if given),
/// with URLs as the server takes them. Without: `dir` is one adapter folder or a folder of them (`None`:
/// the adapters embedded in the binary), and URLs come from `CGW_SOURCE_<NAME>_URL` or the definition's
/// `url_env`.
pub fn targets(dir: Option<&Path>, cfg: Option<&Config>, env: &dyn Fn(&str) -> Option<String>) -> Vec<Target> {
    let within = |p: &Path| match dir {
        None => true,
        Some(d) => {
            let canon = |x: &Path| x.canonicalize().unwrap_or_else(|_| x.to_path_buf());
            canon(p).starts_with(canon(d))
        }
    };
    if let Some(cfg) = cfg {
        return cfg
            .sources
            .iter()
            .enumerate()
            .filter(|(_, s)| s.enabled && within(&s.definition))
            .map(|(i, s)| Target {
                dir: s.definition.clone(),
                url: Definition::load(&s.definition)
                    .map_err(|e| e.to_string())
                    .and_then(|def| crate::adapters::registry::resolve_url(i, s, &def, env)),
            })
            .collect();
    }
    let Some(dir) = dir else {
        return embedded_targets(env);
    };
    let dir = dir.to_path_buf();
    let mut dirs = Vec::new();
    if dir.join(crate::adapters::sql::definition::DEFINITION_FILE).exists() {
        dirs.push(dir.clone());
    } else if let Ok(rd) = std::fs::read_dir(&dir) {
        let mut found: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join(crate::adapters::sql::definition::DEFINITION_FILE).exists())
            .collect();
        found.sort();
        dirs = found;
    }
    if dirs.is_empty() {
        return vec![Target {
            url: Err(format!(
                "no {} found in {} or its sub-folders",
                crate::adapters::sql::definition::DEFINITION_FILE,
                dir.display()
            )),
            dir,
        }];
    }
    dirs.into_iter()
        .map(|d| {
            let url = Definition::load(&d)
                .map_err(|e| e.to_string())
                .and_then(|def| env_url(&def, env));
            Target { dir: d, url }
        })
        .collect()
}

/// The adapters embedded in the binary (`embedded:<system>`), with URLs from the environment.
fn embedded_targets(env: &dyn Fn(&str) -> Option<String>) -> Vec<Target> {
    crate::assets::Folder::embedded_adapter_names()
        .into_iter()
        .filter_map(|n| crate::assets::Folder::embedded_adapter(&n))
        .map(|f| Target {
            dir: f.config_path(),
            url: Definition::load_folder(&f)
                .map_err(|e| e.to_string())
                .and_then(|def| env_url(&def, env)),
        })
        .collect()
}

/// A definition's URL when no config names one: `CGW_SOURCE_<NAME>_URL`, else its `url_env`.
fn env_url(def: &Definition, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    crate::config::load::source_url(None, &def.name, def.url_env.as_deref(), env)
        .map(|(url, _)| url)
        .map_err(|_| {
            format!(
                "no URL for `{}`: set {}{}, or pass --config",
                def.name,
                crate::config::load::source_override_var(&def.name),
                def.url_env.as_deref().map(|v| format!(" or {v}")).unwrap_or_default()
            )
        })
}

/// How long one statement may take to prepare.
const PREPARE_TIMEOUT: Duration = Duration::from_secs(15);

/// Checks every target; a definition that does not load or has no URL is a problem of its own.
pub async fn run(targets: &[Target]) -> CheckReport {
    let mut report = CheckReport::default();
    for t in targets {
        let file = t.dir.join(crate::adapters::sql::definition::DEFINITION_FILE);
        let def = match Definition::load(&t.dir) {
            Ok(d) => d,
            Err(e) => {
                report.sources.push(SourceReport {
                    name: t.dir.display().to_string(),
                    file: e.file.clone(),
                    queries: 0,
                    sampled: 0,
                    warnings: vec![],
                    problems: vec![Problem {
                        file: e.file,
                        part: String::new(),
                        column: None,
                        message: e.message,
                    }],
                });
                continue;
            }
        };
        let r = match &t.url {
            Ok(url) => check_definition(&def, url).await,
            Err(why) => SourceReport {
                name: def.name.clone(),
                file: file.clone(),
                queries: 0,
                sampled: 0,
                warnings: vec![],
                problems: vec![Problem {
                    file,
                    part: String::new(),
                    column: None,
                    message: why.clone(),
                }],
            },
        };
        report.sources.push(r);
    }
    report
}

/// Prepares every query of `def` on the database at `url` and checks its columns.
pub async fn check_definition(def: &Definition, url: &str) -> SourceReport {
    let secrets = secrets::secrets_of_url(url);
    let mut report = SourceReport {
        name: def.name.clone(),
        file: def.file.clone(),
        queries: 0,
        sampled: 0,
        problems: vec![],
        warnings: vec![],
    };
    let whole = |message: String| Problem {
        file: def.file.clone(),
        part: String::new(),
        column: None,
        message,
    };
    let settings = PoolSettings {
        max_connections: 1,
        connect_timeout: Duration::from_secs(10),
    };
    let pool = match Pool::connect_lazy(url, &settings) {
        Ok(p) => p,
        Err(e) => {
            report.problems.push(whole(e));
            return report;
        }
    };
    let driver = pool.driver();
    struct Query<'a> {
        part: String,
        sql_file: Option<PathBuf>,
        sql: &'a SqlTemplate,
        fields: &'a [CompiledField],
        key: Vec<String>,
        stream: Option<Option<String>>,
    }
    let mut queries: Vec<Query> = Vec::new();
    for e in &def.entities {
        queries.push(Query {
            part: format!("entities.{}", e.name),
            sql_file: e.sql_file.clone(),
            sql: &e.sql,
            fields: &e.fields,
            key: e.key.clone(),
            stream: None,
        });
    }
    for s in &def.streams {
        queries.push(Query {
            part: format!("streams.{}", s.name),
            sql_file: s.sql_file.clone(),
            sql: &s.sql,
            fields: &s.fields,
            key: vec![],
            stream: Some(s.time_param_format.clone()),
        });
    }
    // Queries that prepared and whose columns check out are then run for sampled subscribers.
    let mut runnable: Vec<sample::Query> = Vec::new();
    let mut reachable = true;
    for Query {
        part,
        sql_file,
        sql,
        fields,
        key,
        stream,
    } in queries
    {
        let (text, _) = sql.render(driver);
        report.queries += 1;
        let described = tokio::time::timeout(PREPARE_TIMEOUT, describe(&pool, &text)).await;
        let cols = match described {
            Err(_) => {
                report.problems.push(Problem {
                    file: sql_file.unwrap_or_else(|| def.file.clone()),
                    part,
                    column: None,
                    message: format!("the database did not prepare the query within {PREPARE_TIMEOUT:?}"),
                });
                continue;
            }
            Ok(Err(e)) => {
                let msg = secrets::scrub(&e.to_string(), &secrets).into_owned();
                if is_connection_error(&e) {
                    report.problems.push(whole(format!(
                        "cannot reach the database `{}`: {msg}",
                        secrets::redact_url(url)
                    )));
                    reachable = false;
                    break;
                }
                let column = missing_column_in(&msg);
                let hint = match &column {
                    Some(c) => renamed_hint(&pool, &text, c).await,
                    None => String::new(),
                };
                report.problems.push(Problem {
                    file: sql_file.unwrap_or_else(|| def.file.clone()),
                    part,
                    column,
                    message: format!("the database refused the query: {msg}{hint}"),
                });
                continue;
            }
            Ok(Ok(c)) => c,
        };
        let found = check_columns(&def.file, &part, driver, fields, &key, &cols);
        if found.is_empty() {
            runnable.push(sample::Query {
                part,
                sql_file,
                sql,
                fields,
                stream,
            });
        }
        report.problems.extend(found);
    }
    if reachable && !runnable.is_empty() {
        let scrub = |m: &str| secrets::scrub(m, &secrets).into_owned();
        match sample::keys(&pool, def).await {
            Ok((keys, from)) if keys.is_empty() => report.warnings.push(whole(format!(
                "{from} holds no subscriber numbers: no query was run for a real subscriber"
            ))),
            Ok((keys, from)) => {
                report.sampled = keys.len();
                for q in &runnable {
                    let (p, w) = sample::run(&pool, def, q, &keys, &from, &scrub).await;
                    report.problems.extend(p);
                    report.warnings.extend(w);
                }
            }
            Err(why) => report.warnings.push(whole(scrub(&why))),
        }
    }
    pool_close(pool).await;
    report
}

async fn pool_close(pool: Pool) {
    match pool {
        Pool::Postgres(p) => p.close().await,
        Pool::MySql(p) => p.close().await,
        Pool::Sqlite(p) => p.close().await,
    }
}

fn is_connection_error(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Configuration(_)
    ) || matches!(e, sqlx::Error::Database(d) if d.code().is_some_and(|c| c.starts_with("08") || c.starts_with("28") || c == "1045" || c == "1049" || c == "3D000" || c == "14"))
}

/// The column a database's "no such column" message names, where it names one.
fn missing_column_in(msg: &str) -> Option<String> {
    let grab = |after: &str, until: &[char]| -> Option<String> {
        let i = msg.find(after)? + after.len();
        let rest = &msg[i..];
        let end = rest.find(until).unwrap_or(rest.len());
        let c = rest[..end].trim_matches(['"', '\'', '`', ' ']);
        (!c.is_empty()).then(|| c.to_string())
    };
    // SQLite: "no such column: z.zhye"; PostgreSQL: "column z.zhye does not exist";
    // MySQL/MariaDB: "Unknown column 'z.zhye' in 'field list'".
    grab("no such column: ", &[' ', '\n'])
        .or_else(|| grab("Unknown column '", &['\'']))
        .or_else(|| {
            let i = msg.find("column ")?;
            let rest = &msg[i + 7..];
            let end = rest.find(" does not exist")?;
            Some(rest[..end].trim_matches('"').to_string())
        })
}

/// For a column the database does not know (`z.zhye`): the closest column of the table behind the alias,
/// as a "did you mean" (a column renamed in the backend).
async fn renamed_hint(pool: &Pool, sql: &str, column: &str) -> String {
    let (alias, name) = column.rsplit_once('.').unwrap_or(("", column));
    let words: Vec<&str> = sql.split_whitespace().collect();
    let table = words.windows(3).find_map(|w| {
        let kw = w[0].eq_ignore_ascii_case("FROM") || w[0].eq_ignore_ascii_case("JOIN");
        (kw && (w[2] == alias || alias.is_empty() && w[1] == alias)).then(|| w[1].to_string())
    });
    let Some(table) = table.or_else(|| (!alias.is_empty()).then(|| alias.to_string())) else {
        return String::new();
    };
    if !table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return String::new();
    }
    let Ok(Ok(cols)) = tokio::time::timeout(PREPARE_TIMEOUT, describe(pool, &format!("SELECT * FROM {table}"))).await
    else {
        return String::new();
    };
    let names: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
    let lower = name.to_ascii_lowercase();
    // A column that contains the old name (`xyed` → `xyed_yuan`), or the closest spelling.
    let containing = names
        .iter()
        .filter(|c| lower.len() >= 3 && (c.contains(lower.as_str()) || lower.contains(**c) && c.len() >= 3))
        .min_by_key(|c| c.len())
        .copied();
    match containing.or_else(|| crate::schema::closest(&lower, names.iter().copied())) {
        Some(s) => format!(" (table `{table}` has `{s}`: renamed?)"),
        None => format!(" (table `{table}` has: {})", names.join(", ")),
    }
}

/// Prepares `sql` (with its placeholders unbound) and returns its result columns.
pub async fn describe(pool: &Pool, sql: &str) -> Result<Vec<ResultColumn>, sqlx::Error> {
    let q = || sqlx::AssertSqlSafe(sql.to_string()).into_sql_str();
    Ok(match pool {
        Pool::Postgres(p) => {
            let mut c = p.acquire().await?;
            let st = sqlx::Executor::prepare(&mut *c, q()).await?;
            st.columns()
                .iter()
                .map(|col| column(Driver::Postgres, col.name(), col.type_info().name(), None))
                .collect()
        }
        Pool::MySql(p) => {
            let mut c = p.acquire().await?;
            let st = sqlx::Executor::prepare(&mut *c, q()).await?;
            st.columns()
                .iter()
                .map(|col| {
                    let ti = col.type_info();
                    // `utf8 COLLATE utf8_bin` text is reported as VARBINARY; its collation says it is text.
                    let text = matches!(ColumnType::of(Driver::MySql, ti.name()), ColumnType::Bytes)
                        && <String as sqlx::Type<sqlx::MySql>>::compatible(ti);
                    let mut c = column(Driver::MySql, col.name(), ti.name(), None);
                    if text {
                        c.type_name = format!("{} (text, binary collation)", ti.name());
                        c.class = ColumnType::Text;
                    }
                    c
                })
                .collect()
        }
        Pool::Sqlite(p) => {
            let mut c = p.acquire().await?;
            let st = sqlx::Executor::prepare(&mut *c, q()).await?;
            let mut out = Vec::new();
            for col in st.columns() {
                // A declared type the driver does not parse (DECIMAL(12,2)) comes back as NULL: read the
                // declaration of the column it comes from.
                let mut declared = None;
                if let Some(tc) = col.origin().table_column() {
                    let row: Option<(String,)> =
                        sqlx::query_as("SELECT type FROM pragma_table_info(?) WHERE name = ? COLLATE NOCASE")
                            .bind(tc.table.to_string())
                            .bind(tc.name.to_string())
                            .fetch_optional(&mut *c)
                            .await?;
                    declared = row.map(|r| r.0);
                }
                out.push(column(Driver::Sqlite, col.name(), col.type_info().name(), declared));
            }
            out
        }
    })
}

fn column(driver: Driver, name: &str, type_name: &str, declared: Option<String>) -> ResultColumn {
    let (type_name, class) = match declared.filter(|d| !d.is_empty()) {
        Some(d) => {
            let c = ColumnType::of(driver, &d);
            (d, c)
        }
        None => (type_name.to_string(), ColumnType::of(driver, type_name)),
    };
    ResultColumn {
        name: name.to_ascii_lowercase(),
        type_name,
        class,
    }
}

/// Checks mapped columns against a result: present, and of a type that fits the declaration and the field.
pub fn check_columns(
    file: &Path,
    part: &str,
    driver: Driver,
    fields: &[CompiledField],
    key: &[String],
    cols: &[ResultColumn],
) -> Vec<Problem> {
    let mut out = Vec::new();
    let problem = |column: &str, message: String| Problem {
        file: file.to_path_buf(),
        part: part.to_string(),
        column: Some(column.to_string()),
        message,
    };
    let names: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
    for (i, c) in cols.iter().enumerate() {
        if names[..i].contains(&c.name.as_str()) && fields.iter().any(|f| f.column == c.name) {
            out.push(problem(
                &c.name,
                "the query returns this column twice; the mapping would read the first: alias one of them".into(),
            ));
        }
    }
    let mut missing = |column: &str, what: &str| {
        let hint = crate::schema::closest(column, names.iter().copied())
            .map(|s| format!("; did you mean `{s}`?"))
            .unwrap_or_default();
        out.push(problem(
            column,
            format!(
                "{what} but the query does not return it (it returns: {}){hint}",
                names.join(", ")
            ),
        ));
    };
    for f in fields {
        if !names.contains(&f.column.as_str()) {
            missing(&f.column, &format!("mapped to `{}`", f.path.text));
        }
    }
    for k in key {
        if !names.contains(&k.as_str()) && !fields.iter().any(|f| f.column == *k) {
            missing(k, "named in `key`");
        }
    }
    for f in fields {
        let Some(col) = cols.iter().find(|c| c.name == f.column) else {
            continue;
        };
        if let Some(msg) = declared_mismatch(driver, f.mapping.column_type, col) {
            out.push(problem(&f.column, msg));
        }
        if let Some(msg) = target_mismatch(f, col) {
            out.push(problem(&f.column, msg));
        }
    }
    out
}

/// Whether the column's type fits the `type` the mapping declares.
fn declared_mismatch(driver: Driver, declared: Option<ColumnType>, col: &ResultColumn) -> Option<String> {
    let declared = declared?;
    (!declared.accepts(col.class, driver)).then(|| {
        format!(
            "declared `type = \"{}\"` but the query returns {} ({})",
            declared.name(),
            col.type_name,
            col.class.name()
        )
    })
}

/// Whether the column's values can fill the unified field at all.
fn target_mismatch(f: &CompiledField, col: &ResultColumn) -> Option<String> {
    use ColumnType as C;
    if f.path.prefix.is_empty() && f.path.list.is_none() {
        return None; // an extension field takes any value
    }
    if col.class == C::Unknown || f.mapping.convert == Some(Convert::Present) {
        return None;
    }
    let leaf = f.path.leaf();
    let has_map = f.mapping.map.is_some();
    let (ok, field_type) = match leaf.kind() {
        Kind::String => (col.class != C::Bytes, "string"),
        Kind::Int64
        | Kind::Int32
        | Kind::Uint32
        | Kind::Uint64
        | Kind::Sint32
        | Kind::Sint64
        | Kind::Fixed32
        | Kind::Fixed64
        | Kind::Sfixed32
        | Kind::Sfixed64 => (
            has_map || matches!(col.class, C::Integer | C::Decimal | C::Float | C::Bool),
            "an integer",
        ),
        Kind::Double | Kind::Float => (
            has_map || matches!(col.class, C::Integer | C::Decimal | C::Float),
            "a number",
        ),
        Kind::Bool => (has_map || matches!(col.class, C::Bool | C::Integer | C::Text), "a bool"),
        Kind::Enum(_) => (has_map || matches!(col.class, C::Integer | C::Text), "an enum"),
        Kind::Message(_) => (
            matches!(col.class, C::Timestamp | C::Date | C::Text | C::Integer),
            "a timestamp",
        ),
        Kind::Bytes => (true, "bytes"),
    };
    (!ok).then(|| {
        format!(
            "returns {} ({}), which cannot fill `{}` ({field_type}){}",
            col.type_name,
            col.class.name(),
            f.path.text,
            match leaf.kind() {
                Kind::Message(_) => "",
                _ if has_map => "",
                _ => ": cast it in the SQL or add a `map`",
            }
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_column_in_database_messages() {
        assert_eq!(
            missing_column_in("error returned from database: (code: 1) no such column: z.zhye").as_deref(),
            Some("z.zhye")
        );
        assert_eq!(
            missing_column_in("error returned from database: column z.zhye does not exist").as_deref(),
            Some("z.zhye")
        );
        assert_eq!(
            missing_column_in("error returned from database: 1054 (42S22): Unknown column 'z.zhye' in 'field list'")
                .as_deref(),
            Some("z.zhye")
        );
        assert_eq!(missing_column_in("syntax error"), None);
    }
}
