//! The one column-type vocabulary: what a definition's `type = "…"` declares, what `adapters check` reads
//! from a prepared statement or a decoded row, and what `adapters scaffold` reads from a schema.
use super::decode::DbValue;
use super::text::Driver;
use serde::Deserialize;

/// The kind of values a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnType {
    Text,
    Integer,
    Decimal,
    Float,
    Timestamp,
    Date,
    Bool,
    /// Binary (BYTEA, BLOB, VARBINARY): never declared in a definition.
    Bytes,
    /// The driver could not say (an SQLite expression without a declared type): never declared.
    Unknown,
}

/// The types a definition may declare, in the order messages list them.
pub const DECLARABLE: [ColumnType; 7] = [
    ColumnType::Text,
    ColumnType::Integer,
    ColumnType::Decimal,
    ColumnType::Float,
    ColumnType::Timestamp,
    ColumnType::Date,
    ColumnType::Bool,
];

impl ColumnType {
    /// Classifies a type name as PostgreSQL, MySQL/MariaDB or SQLite write it (`NUMERIC`, `DECIMAL(12,2)`,
    /// `character varying`, `TINYINT(1)`, `TIMESTAMPTZ`, …).
    pub fn of(driver: Driver, type_name: &str) -> ColumnType {
        let t = type_name.trim().to_ascii_lowercase();
        let base = t.split(['(', ' ']).next().unwrap_or("");
        if t.is_empty() || t == "null" {
            return ColumnType::Unknown;
        }
        if driver == Driver::MySql && (t == "boolean" || t == "tinyint(1)" || t == "bool") {
            return ColumnType::Bool;
        }
        match base {
            "bool" | "boolean" => ColumnType::Bool,
            "int2" | "int4" | "int8" | "smallint" | "integer" | "int" | "bigint" | "tinyint" | "mediumint"
            | "serial" | "bigserial" | "year" | "oid" => ColumnType::Integer,
            "numeric" | "decimal" | "money" | "number" => ColumnType::Decimal,
            "float4" | "float8" | "real" | "double" | "float" => ColumnType::Float,
            "timestamp" | "timestamptz" | "datetime" => ColumnType::Timestamp,
            "date" => ColumnType::Date,
            "bytea" | "blob" | "tinyblob" | "mediumblob" | "longblob" | "binary" | "varbinary" => ColumnType::Bytes,
            "text" | "varchar" | "char" | "character" | "bpchar" | "name" | "tinytext" | "mediumtext" | "longtext"
            | "nvarchar" | "nchar" | "clob" | "string" | "enum" | "set" | "json" | "jsonb" | "uuid" | "citext" => {
                ColumnType::Text
            }
            _ if t.starts_with("timestamp") => ColumnType::Timestamp,
            _ if t.starts_with("character varying") => ColumnType::Text,
            // SQLite's affinity rules for anything else.
            _ if driver == Driver::Sqlite => {
                if t.contains("int") {
                    ColumnType::Integer
                } else if t.contains("char") || t.contains("clob") || t.contains("text") {
                    ColumnType::Text
                } else if t.contains("blob") {
                    ColumnType::Bytes
                } else if t.contains("real") || t.contains("floa") || t.contains("doub") {
                    ColumnType::Float
                } else {
                    ColumnType::Decimal
                }
            }
            _ => ColumnType::Text,
        }
    }

    /// The type of a decoded value (`None` for NULL, which says nothing).
    pub fn of_value(v: &DbValue) -> Option<ColumnType> {
        Some(match v {
            DbValue::Null => return None,
            DbValue::Bool(_) => ColumnType::Bool,
            DbValue::Int(_) => ColumnType::Integer,
            DbValue::Float(_) => ColumnType::Float,
            DbValue::Decimal(_) => ColumnType::Decimal,
            DbValue::Text(_) => ColumnType::Text,
            DbValue::Bytes(_) => ColumnType::Bytes,
            DbValue::Timestamp(_) | DbValue::DateTime(_) => ColumnType::Timestamp,
            DbValue::Date(_) => ColumnType::Date,
        })
    }

    /// The name a definition writes (`type = "decimal"`) and messages use.
    pub fn name(self) -> &'static str {
        match self {
            ColumnType::Text => "text",
            ColumnType::Integer => "integer",
            ColumnType::Decimal => "decimal",
            ColumnType::Float => "float",
            ColumnType::Timestamp => "timestamp",
            ColumnType::Date => "date",
            ColumnType::Bool => "bool",
            ColumnType::Bytes => "bytes",
            ColumnType::Unknown => "unknown",
        }
    }

    /// Whether a definition may declare this type.
    pub fn declarable(self) -> bool {
        DECLARABLE.contains(&self)
    }

    /// Whether a column of type `actual` fits this declared type. SQLite has no date-time storage class:
    /// such columns are TEXT by declaration.
    pub fn accepts(self, actual: ColumnType, driver: Driver) -> bool {
        use ColumnType as C;
        if actual == C::Unknown {
            return true;
        }
        match self {
            C::Text => matches!(actual, C::Text),
            C::Integer => matches!(actual, C::Integer | C::Bool),
            C::Decimal | C::Float => matches!(actual, C::Decimal | C::Float | C::Integer),
            C::Timestamp | C::Date => {
                matches!(actual, C::Timestamp | C::Date) || driver == Driver::Sqlite && actual == C::Text
            }
            C::Bool => matches!(actual, C::Bool | C::Integer),
            C::Bytes | C::Unknown => true,
        }
    }
}

impl<'de> Deserialize<'de> for ColumnType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ColumnType, D::Error> {
        let s = String::deserialize(d)?;
        DECLARABLE.into_iter().find(|t| t.name() == s).ok_or_else(|| {
            let names: Vec<&str> = DECLARABLE.iter().map(|t| t.name()).collect();
            serde::de::Error::custom(format!(
                "unknown column type `{s}`, expected one of {}",
                names.join(", ")
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_type_names_of_every_driver() {
        assert_eq!(ColumnType::of(Driver::Postgres, "NUMERIC"), ColumnType::Decimal);
        assert_eq!(ColumnType::of(Driver::Postgres, "character varying"), ColumnType::Text);
        assert_eq!(
            ColumnType::of(Driver::Postgres, "timestamp without time zone"),
            ColumnType::Timestamp
        );
        assert_eq!(ColumnType::of(Driver::MySql, "TINYINT(1)"), ColumnType::Bool);
        assert_eq!(ColumnType::of(Driver::MySql, "DATETIME"), ColumnType::Timestamp);
        assert_eq!(ColumnType::of(Driver::MySql, "VARBINARY"), ColumnType::Bytes);
        assert_eq!(ColumnType::of(Driver::Sqlite, "DECIMAL(12,2)"), ColumnType::Decimal);
        assert_eq!(ColumnType::of(Driver::Sqlite, "VARCHAR(14)"), ColumnType::Text);
        assert_eq!(ColumnType::of(Driver::Sqlite, "NULL"), ColumnType::Unknown);
    }

    #[test]
    fn a_definition_declares_only_the_seven_value_types() {
        #[derive(Deserialize)]
        struct T {
            #[serde(rename = "type")]
            t: ColumnType,
        }
        let ok: T = toml::from_str("type = \"decimal\"").unwrap();
        assert_eq!(ok.t, ColumnType::Decimal);
        for bad in ["bytes", "unknown", "varchar"] {
            let e = toml::from_str::<T>(&format!("type = \"{bad}\""))
                .err()
                .unwrap()
                .to_string();
            assert!(
                e.contains(&format!(
                    "unknown column type `{bad}`, expected one of text, integer, decimal, float, timestamp, date, bool"
                )),
                "{e}"
            );
        }
    }
}
