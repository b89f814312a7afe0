//! One value type for every driver: each backend's rows are decoded with the driver's own types
//! (`PgRow`, `MySqlRow`, `SqliteRow`) into [`DbValue`], so NUMERIC, DECIMAL, DATETIME and friends work
//! where sqlx's `Any` driver would fail the whole fetch.
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use rust_decimal::Decimal;
use sqlx::{Column, Row, TypeInfo, ValueRef};

/// A column value as read from a backend, before mapping to the unified schema.
#[derive(Debug, Clone, PartialEq)]
pub enum DbValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Decimal(Decimal),
    Text(String),
    Bytes(Vec<u8>),
    /// A timestamp with a known zone.
    Timestamp(DateTime<Utc>),
    /// A timestamp without zone; interpreted in the adapter's `utc_offset`.
    DateTime(NaiveDateTime),
    Date(NaiveDate),
}

impl DbValue {
    pub fn is_null(&self) -> bool {
        matches!(self, DbValue::Null)
    }

    /// A short name of the value's kind, for error messages and `adapters check`.
    pub fn kind(&self) -> &'static str {
        match self {
            DbValue::Null => "null",
            DbValue::Bool(_) => "bool",
            DbValue::Int(_) => "integer",
            DbValue::Float(_) => "float",
            DbValue::Decimal(_) => "decimal",
            DbValue::Text(_) => "text",
            DbValue::Bytes(_) => "bytes",
            DbValue::Timestamp(_) | DbValue::DateTime(_) => "timestamp",
            DbValue::Date(_) => "date",
        }
    }

    /// The value as text, for code lookups (`map`) and string targets.
    pub fn as_text(&self) -> Option<String> {
        Some(match self {
            DbValue::Null => return None,
            DbValue::Bool(b) => b.to_string(),
            DbValue::Int(i) => i.to_string(),
            DbValue::Float(f) => f.to_string(),
            DbValue::Decimal(d) => d.normalize().to_string(),
            DbValue::Text(s) => s.clone(),
            DbValue::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            DbValue::Timestamp(t) => t.to_rfc3339(),
            DbValue::DateTime(t) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
            DbValue::Date(d) => d.format("%Y-%m-%d").to_string(),
        })
    }
}

/// A decoded row: column names (lower-cased) with their values, in select order.
#[derive(Debug, Clone, Default)]
pub struct DbRow {
    pub columns: Vec<(String, DbValue)>,
}

impl DbRow {
    pub fn get(&self, column: &str) -> Option<&DbValue> {
        self.columns.iter().find(|(c, _)| c == column).map(|(_, v)| v)
    }
}

fn decode_err(column: &str, type_name: &str, e: impl std::fmt::Display) -> sqlx::Error {
    sqlx::Error::Decode(format!("column `{column}` ({type_name}): {e}").into())
}

macro_rules! try_col {
    ($row:expr, $i:expr, $t:ty, $col:expr, $tn:expr) => {
        $row.try_get::<$t, _>($i).map_err(|e| decode_err($col, $tn, e))?
    };
}

/// Decodes a PostgreSQL row.
pub fn from_pg(row: &sqlx::postgres::PgRow) -> Result<DbRow, sqlx::Error> {
    let mut columns = Vec::with_capacity(row.len());
    for (i, col) in row.columns().iter().enumerate() {
        let name = col.name().to_ascii_lowercase();
        let raw = row.try_get_raw(i)?;
        let value = if raw.is_null() {
            DbValue::Null
        } else {
            let tn = raw.type_info().name().to_string();
            match tn.as_str() {
                "BOOL" => DbValue::Bool(try_col!(row, i, bool, &name, &tn)),
                "INT2" => DbValue::Int(try_col!(row, i, i16, &name, &tn) as i64),
                "INT4" => DbValue::Int(try_col!(row, i, i32, &name, &tn) as i64),
                "INT8" => DbValue::Int(try_col!(row, i, i64, &name, &tn)),
                "FLOAT4" => DbValue::Float(try_col!(row, i, f32, &name, &tn) as f64),
                "FLOAT8" => DbValue::Float(try_col!(row, i, f64, &name, &tn)),
                "NUMERIC" => DbValue::Decimal(try_col!(row, i, Decimal, &name, &tn)),
                "TIMESTAMPTZ" => DbValue::Timestamp(try_col!(row, i, DateTime<Utc>, &name, &tn)),
                "TIMESTAMP" => DbValue::DateTime(try_col!(row, i, NaiveDateTime, &name, &tn)),
                "DATE" => DbValue::Date(try_col!(row, i, NaiveDate, &name, &tn)),
                "BYTEA" => DbValue::Bytes(try_col!(row, i, Vec<u8>, &name, &tn)),
                // A UUID arrives as its 16 bytes: the text form is what every other reader shows.
                "UUID" => {
                    let bytes = raw.as_bytes().map_err(|e| decode_err(&name, &tn, e))?;
                    match uuid_text(bytes) {
                        Some(s) => DbValue::Text(s),
                        None => return Err(decode_err(&name, &tn, format!("{} bytes, not 16", bytes.len()))),
                    }
                }
                // Text-like types (VARCHAR, TEXT, UUID, JSON) decode as strings; a type of the schema's own
                // (an enum such as `customer_type`) is sent as its label: read the bytes, text if UTF-8.
                _ => match row.try_get::<String, _>(i) {
                    Ok(s) => DbValue::Text(s),
                    Err(e) => {
                        let bytes = raw.as_bytes().map_err(|_| decode_err(&name, &tn, e))?;
                        match std::str::from_utf8(bytes) {
                            Ok(s) => DbValue::Text(s.to_string()),
                            Err(_) => DbValue::Bytes(bytes.to_vec()),
                        }
                    }
                },
            }
        };
        columns.push((name, value));
    }
    Ok(DbRow { columns })
}

/// The hyphenated text form of a UUID's 16 bytes (`8-4-4-4-12` lower-case hex digits).
fn uuid_text(bytes: &[u8]) -> Option<String> {
    let b: &[u8; 16] = bytes.try_into().ok()?;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Some(format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    ))
}

/// Decodes a MySQL / MariaDB row.
pub fn from_mysql(row: &sqlx::mysql::MySqlRow) -> Result<DbRow, sqlx::Error> {
    let mut columns = Vec::with_capacity(row.len());
    for (i, col) in row.columns().iter().enumerate() {
        let name = col.name().to_ascii_lowercase();
        let raw = row.try_get_raw(i)?;
        let value = if raw.is_null() {
            DbValue::Null
        } else {
            let tn = raw.type_info().name().to_string();
            match tn.as_str() {
                "BOOLEAN" => DbValue::Bool(try_col!(row, i, bool, &name, &tn)),
                "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" | "YEAR" => {
                    DbValue::Int(try_col!(row, i, i64, &name, &tn))
                }
                "TINYINT UNSIGNED" | "SMALLINT UNSIGNED" | "MEDIUMINT UNSIGNED" | "INT UNSIGNED"
                | "BIGINT UNSIGNED" => {
                    let v = try_col!(row, i, u64, &name, &tn);
                    DbValue::Int(i64::try_from(v).map_err(|e| decode_err(&name, &tn, e))?)
                }
                "FLOAT" => DbValue::Float(try_col!(row, i, f32, &name, &tn) as f64),
                "DOUBLE" => DbValue::Float(try_col!(row, i, f64, &name, &tn)),
                "DECIMAL" => DbValue::Decimal(try_col!(row, i, Decimal, &name, &tn)),
                // MySQL's zero date (`0000-00-00 00:00:00`, what a `NOT NULL DEFAULT '0000-00-00 …'` column
                // holds when no date was set) means "no date": NULL, not a failed row.
                "TIMESTAMP" => {
                    mysql_time::<DateTime<Utc>>(row, i, &name, &tn)?.map_or(DbValue::Null, DbValue::Timestamp)
                }
                "DATETIME" => mysql_time::<NaiveDateTime>(row, i, &name, &tn)?.map_or(DbValue::Null, DbValue::DateTime),
                "DATE" => mysql_time::<NaiveDate>(row, i, &name, &tn)?.map_or(DbValue::Null, DbValue::Date),
                // A text column with a binary collation (`utf8 COLLATE utf8_bin`) is reported as VARBINARY
                // but carries a character set: it is text. Only the `binary` collation means bytes.
                "BINARY" | "VARBINARY" | "TINYBLOB" | "BLOB" | "MEDIUMBLOB" | "LONGBLOB"
                    if <String as sqlx::Type<sqlx::MySql>>::compatible(&raw.type_info()) =>
                {
                    DbValue::Text(try_col!(row, i, String, &name, &tn))
                }
                "BINARY" | "VARBINARY" | "TINYBLOB" | "BLOB" | "MEDIUMBLOB" | "LONGBLOB" => {
                    DbValue::Bytes(try_col!(row, i, Vec<u8>, &name, &tn))
                }
                // Other types (ENUM, SET, JSON, TIME) are sent as text; one that is not (GEOMETRY) as bytes.
                _ => match row.try_get::<String, _>(i) {
                    Ok(s) => DbValue::Text(s),
                    Err(e) => match row.try_get_unchecked::<Vec<u8>, _>(i) {
                        Ok(b) => DbValue::Bytes(b),
                        Err(_) => return Err(decode_err(&name, &tn, e)),
                    },
                },
            }
        };
        columns.push((name, value));
    }
    Ok(DbRow { columns })
}

/// A MySQL date or time value, `None` for the zero date (binary protocol: no date bytes; text protocol:
/// `0000-00-00…`).
fn mysql_time<'r, T>(row: &'r sqlx::mysql::MySqlRow, i: usize, name: &str, tn: &str) -> Result<Option<T>, sqlx::Error>
where
    T: sqlx::Decode<'r, sqlx::MySql> + sqlx::Type<sqlx::MySql>,
{
    match row.try_get::<T, _>(i) {
        Ok(v) => Ok(Some(v)),
        Err(sqlx::Error::ColumnDecode { source, .. }) if source.is::<sqlx::error::UnexpectedNullError>() => Ok(None),
        Err(e) => match row.try_get_unchecked::<String, _>(i) {
            Ok(text) if text.starts_with("0000-00-00") => Ok(None),
            _ => Err(decode_err(name, tn, e)),
        },
    }
}

/// Decodes a SQLite row. SQLite values carry their own storage class, which is what is decoded.
pub fn from_sqlite(row: &sqlx::sqlite::SqliteRow) -> Result<DbRow, sqlx::Error> {
    let mut columns = Vec::with_capacity(row.len());
    for (i, col) in row.columns().iter().enumerate() {
        let name = col.name().to_ascii_lowercase();
        let raw = row.try_get_raw(i)?;
        let value = if raw.is_null() {
            DbValue::Null
        } else {
            let tn = raw.type_info().name().to_string();
            match tn.as_str() {
                "INTEGER" | "INT" | "BIGINT" | "BOOLEAN" => DbValue::Int(try_col!(row, i, i64, &name, &tn)),
                "REAL" | "FLOAT" | "DOUBLE" | "NUMERIC" => DbValue::Float(try_col!(row, i, f64, &name, &tn)),
                "BLOB" => DbValue::Bytes(try_col!(row, i, Vec<u8>, &name, &tn)),
                _ => DbValue::Text(try_col!(row, i, String, &name, &tn)),
            }
        };
        columns.push((name, value));
    }
    Ok(DbRow { columns })
}
