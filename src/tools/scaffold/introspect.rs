//! Reading a backend's schema: `information_schema` (with the catalog's key and index tables) on
//! PostgreSQL and MySQL/MariaDB, `sqlite_master` and the `pragma_*` table functions on SQLite; and a
//! sample of each table's rows for value sniffing.
use crate::adapters::sql::column_type::ColumnType;
use crate::adapters::sql::decode::{DbRow, DbValue};
use crate::adapters::sql::text::Driver;
use crate::adapters::sql::{Bind, Pool};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One column as the schema declares it.
#[derive(Debug, Clone)]
pub struct ColumnInfo {
    /// Lower-cased, as result columns are looked up.
    pub name: String,
    /// As the schema spells it (`iccidNumber`): the case carries word boundaries for name matching.
    pub spelled: String,
    /// The declared type (`DECIMAL(12,2)`, `character varying`).
    pub declared: String,
    pub class: ColumnType,
    pub nullable: bool,
    /// The column comment, where the database keeps one (PostgreSQL, MySQL).
    pub comment: Option<String>,
}

/// A foreign key: `columns` of this table reference `ref_columns` of `ref_table`.
#[derive(Debug, Clone, PartialEq)]
pub struct ForeignKey {
    pub columns: Vec<String>,
    pub ref_table: String,
    pub ref_columns: Vec<String>,
}

/// One table (or view) with its keys, indexes and a sample of its rows.
#[derive(Debug, Clone)]
pub struct Table {
    pub name: String,
    pub columns: Vec<ColumnInfo>,
    pub primary_key: Vec<String>,
    /// Unique constraints and unique indexes (the primary key included).
    pub unique: Vec<Vec<String>>,
    /// Every index's columns (unique or not).
    pub indexes: Vec<Vec<String>>,
    pub foreign_keys: Vec<ForeignKey>,
    /// Up to [`SAMPLE_ROWS`] rows.
    pub sample: Vec<DbRow>,
    /// For columns whose sample holds few distinct values: every distinct value among the first
    /// [`CODE_SCAN_ROWS`] rows, so a code map covers codes the sample missed.
    pub code_sets: BTreeMap<String, Vec<String>>,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&ColumnInfo> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Whether a column is part of a key or an index (a join candidate).
    pub fn is_keyed(&self, column: &str) -> bool {
        let c = column.to_string();
        self.primary_key.contains(&c)
            || self.indexes.iter().any(|i| i.contains(&c))
            || self.unique.iter().any(|u| u.contains(&c))
            || self.foreign_keys.iter().any(|f| f.columns.contains(&c))
    }

    /// Whether a column alone is unique (a primary key or unique constraint of one column).
    pub fn is_unique(&self, column: &str) -> bool {
        let one = vec![column.to_string()];
        self.primary_key == one || self.unique.contains(&one)
    }

    /// The sampled values of one column.
    pub fn values(&self, column: &str) -> Vec<&DbValue> {
        self.sample.iter().filter_map(|r| r.get(column)).collect()
    }
}

/// A backend's schema.
#[derive(Debug, Clone)]
pub struct Schema {
    pub driver: Driver,
    pub tables: Vec<Table>,
}

impl Schema {
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name)
    }
}

/// Rows sampled per table for sniffing.
pub const SAMPLE_ROWS: usize = 200;
/// Rows scanned for the distinct values of a code column.
pub const CODE_SCAN_ROWS: usize = 5_000;

/// Quotes an identifier for the driver.
pub fn quote(driver: Driver, ident: &str) -> String {
    match driver {
        Driver::MySql => format!("`{}`", ident.replace('`', "``")),
        _ => format!("\"{}\"", ident.replace('"', "\"\"")),
    }
}

async fn rows(pool: &Pool, sql: &str, binds: &[&str]) -> Result<Vec<DbRow>, sqlx::Error> {
    let binds: Vec<Bind> = binds.iter().map(|b| Bind::Text(Some(b.to_string()))).collect();
    pool.fetch_all(&Arc::from(sql), &binds).await
}

fn text(r: &DbRow, c: &str) -> String {
    r.get(c).and_then(DbValue::as_text).unwrap_or_default()
}

fn int(r: &DbRow, c: &str) -> i64 {
    match r.get(c) {
        Some(DbValue::Int(i)) => *i,
        Some(v) => v.as_text().and_then(|t| t.trim().parse().ok()).unwrap_or(0),
        None => 0,
    }
}

/// Reads the schema of the database behind `pool` and samples every table.
pub async fn introspect(pool: &Pool) -> Result<Schema, sqlx::Error> {
    let driver = pool.driver();
    let mut tables = match driver {
        Driver::Postgres => postgres(pool).await?,
        Driver::MySql => mysql(pool).await?,
        Driver::Sqlite => sqlite(pool).await?,
    };
    for t in &mut tables {
        let sql = format!("SELECT * FROM {} LIMIT {SAMPLE_ROWS}", quote(driver, &t.name));
        // A table the scaffold may not read still has a schema worth matching.
        t.sample = rows(pool, &sql, &[]).await.unwrap_or_default();
        for c in t
            .columns
            .iter()
            .filter(|c| matches!(c.class, ColumnType::Text | ColumnType::Integer | ColumnType::Bool))
        {
            let p = super::sniff::profile(&t.values(&c.name));
            if p.non_null < 3 || p.codes.as_ref().is_none_or(|c| c.len() > 10) {
                continue;
            }
            let col = quote(driver, &c.name);
            let sql = format!(
                "SELECT DISTINCT {col} AS v FROM (SELECT {col} FROM {} LIMIT {CODE_SCAN_ROWS}) s WHERE {col} IS NOT NULL LIMIT 11",
                quote(driver, &t.name)
            );
            if let Ok(found) = rows(pool, &sql, &[]).await {
                let mut codes: Vec<String> = found
                    .iter()
                    .filter_map(|r| r.get("v").and_then(DbValue::as_text))
                    .map(|v| v.trim().to_string())
                    .collect();
                codes.sort();
                codes.dedup();
                if codes.len() <= 10 {
                    t.code_sets.insert(c.name.clone(), codes);
                }
            }
        }
    }
    Ok(Schema { driver, tables })
}

fn new_table(name: String) -> Table {
    Table {
        name,
        columns: vec![],
        primary_key: vec![],
        unique: vec![],
        indexes: vec![],
        foreign_keys: vec![],
        sample: vec![],
        code_sets: BTreeMap::new(),
    }
}

/// Groups (table, constraint, column, position) rows into column lists per constraint.
fn group(rows: impl Iterator<Item = (String, String, String, i64)>) -> BTreeMap<(String, String), Vec<String>> {
    let mut m: BTreeMap<(String, String), Vec<(i64, String)>> = BTreeMap::new();
    for (t, c, col, pos) in rows {
        m.entry((t, c)).or_default().push((pos, col));
    }
    m.into_iter()
        .map(|(k, mut v)| {
            v.sort();
            (k, v.into_iter().map(|(_, c)| c).collect())
        })
        .collect()
}

async fn postgres(pool: &Pool) -> Result<Vec<Table>, sqlx::Error> {
    let cols = rows(
        pool,
        "SELECT c.table_name::text AS t, c.column_name::text AS c, c.data_type::text AS ty, \
                c.is_nullable::text AS n, \
                col_description(format('%I.%I', c.table_schema, c.table_name)::regclass::oid, c.ordinal_position::int) AS cm \
         FROM information_schema.columns c \
         JOIN information_schema.tables tb ON tb.table_schema = c.table_schema AND tb.table_name = c.table_name \
         WHERE c.table_schema = current_schema() AND tb.table_type IN ('BASE TABLE', 'VIEW') \
         ORDER BY c.table_name, c.ordinal_position",
        &[],
    )
    .await?;
    let mut tables: BTreeMap<String, Table> = BTreeMap::new();
    for r in &cols {
        let t = text(r, "t");
        let declared = text(r, "ty");
        tables
            .entry(t.clone())
            .or_insert_with(|| new_table(t))
            .columns
            .push(ColumnInfo {
                name: text(r, "c").to_ascii_lowercase(),
                spelled: text(r, "c"),
                class: ColumnType::of(Driver::Postgres, &declared),
                declared,
                nullable: text(r, "n") == "YES",
                comment: r.get("cm").and_then(DbValue::as_text),
            });
    }
    // Keys from the catalog: information_schema cannot pair the columns of a composite foreign key.
    let cons = rows(
        pool,
        "SELECT cl.relname::text AS t, con.contype::text AS k, con.conname::text AS nm, a.attname::text AS c, \
                k.n AS pos, rcl.relname::text AS rt, ra.attname::text AS rc \
         FROM pg_constraint con \
         JOIN pg_class cl ON cl.oid = con.conrelid \
         JOIN pg_namespace ns ON ns.oid = cl.relnamespace AND ns.nspname = current_schema() \
         CROSS JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(attnum, n) \
         JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum \
         LEFT JOIN pg_class rcl ON rcl.oid = con.confrelid \
         LEFT JOIN pg_attribute ra ON ra.attrelid = con.confrelid AND ra.attnum = con.confkey[k.n] \
         WHERE con.contype IN ('p', 'u', 'f')",
        &[],
    )
    .await?;
    apply_constraints(&mut tables, &cons);
    let idx = rows(
        pool,
        "SELECT t.relname::text AS t, i.relname::text AS nm, a.attname::text AS c, k.n AS pos, CASE WHEN x.indisunique THEN 1 ELSE 0 END AS u \
         FROM pg_index x \
         JOIN pg_class t ON t.oid = x.indrelid \
         JOIN pg_class i ON i.oid = x.indexrelid \
         JOIN pg_namespace ns ON ns.oid = t.relnamespace AND ns.nspname = current_schema() \
         CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, n) \
         JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum",
        &[],
    )
    .await?;
    apply_indexes(&mut tables, &idx);
    Ok(tables.into_values().collect())
}

/// `k`: p (primary), u (unique), f (foreign); `rt`/`rc`: the referenced table and column.
fn apply_constraints(tables: &mut BTreeMap<String, Table>, cons: &[DbRow]) {
    // (position, column, referenced table, referenced column) per (table, constraint).
    type FkPart = (i64, String, String, String);
    let mut fks: BTreeMap<(String, String), Vec<FkPart>> = BTreeMap::new();
    let keys = group(cons.iter().filter(|r| text(r, "k") != "f").map(|r| {
        (
            text(r, "t"),
            format!("{}:{}", text(r, "k"), text(r, "nm")),
            text(r, "c").to_ascii_lowercase(),
            int(r, "pos"),
        )
    }));
    for ((t, k), cols) in keys {
        let Some(tb) = tables.get_mut(&t) else { continue };
        if k.starts_with("p:") {
            tb.primary_key = cols.clone();
        }
        tb.unique.push(cols);
    }
    for r in cons.iter().filter(|r| text(r, "k") == "f") {
        fks.entry((text(r, "t"), text(r, "nm"))).or_default().push((
            int(r, "pos"),
            text(r, "c").to_ascii_lowercase(),
            text(r, "rt"),
            text(r, "rc").to_ascii_lowercase(),
        ));
    }
    for ((t, _), mut parts) in fks {
        parts.sort();
        let Some(tb) = tables.get_mut(&t) else { continue };
        tb.foreign_keys.push(ForeignKey {
            columns: parts.iter().map(|p| p.1.clone()).collect(),
            ref_table: parts[0].2.clone(),
            ref_columns: parts.iter().map(|p| p.3.clone()).collect(),
        });
    }
}

fn apply_indexes(tables: &mut BTreeMap<String, Table>, idx: &[DbRow]) {
    let unique: Vec<(String, String)> = idx
        .iter()
        .filter(|r| int(r, "u") == 1)
        .map(|r| (text(r, "t"), text(r, "nm")))
        .collect();
    for ((t, nm), cols) in group(idx.iter().map(|r| {
        (
            text(r, "t"),
            text(r, "nm"),
            text(r, "c").to_ascii_lowercase(),
            int(r, "pos"),
        )
    })) {
        let Some(tb) = tables.get_mut(&t) else { continue };
        if unique.contains(&(t.clone(), nm)) && !tb.unique.contains(&cols) {
            tb.unique.push(cols.clone());
        }
        tb.indexes.push(cols);
    }
}

async fn mysql(pool: &Pool) -> Result<Vec<Table>, sqlx::Error> {
    let cols = rows(
        pool,
        "SELECT TABLE_NAME AS t, COLUMN_NAME AS c, COLUMN_TYPE AS ty, IS_NULLABLE AS n, COLUMN_COMMENT AS cm \
         FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
         ORDER BY TABLE_NAME, ORDINAL_POSITION",
        &[],
    )
    .await?;
    let mut tables: BTreeMap<String, Table> = BTreeMap::new();
    for r in &cols {
        let t = text(r, "t");
        let declared = text(r, "ty");
        tables
            .entry(t.clone())
            .or_insert_with(|| new_table(t))
            .columns
            .push(ColumnInfo {
                name: text(r, "c").to_ascii_lowercase(),
                spelled: text(r, "c"),
                class: ColumnType::of(Driver::MySql, &declared),
                declared,
                nullable: text(r, "n") == "YES",
                comment: r.get("cm").and_then(DbValue::as_text).filter(|c| !c.is_empty()),
            });
    }
    // Every index (PRIMARY included) with its uniqueness.
    let idx = rows(
        pool,
        "SELECT TABLE_NAME AS t, INDEX_NAME AS nm, COLUMN_NAME AS c, SEQ_IN_INDEX AS pos, CASE WHEN NON_UNIQUE = 0 THEN 1 ELSE 0 END AS u \
         FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE()",
        &[],
    )
    .await?;
    for ((t, nm), cols) in group(idx.iter().map(|r| {
        (
            text(r, "t"),
            text(r, "nm"),
            text(r, "c").to_ascii_lowercase(),
            int(r, "pos"),
        )
    })) {
        if let Some(tb) = tables.get_mut(&t) {
            if nm == "PRIMARY" {
                tb.primary_key = cols.clone();
            }
        }
    }
    apply_indexes(&mut tables, &idx);
    let fk = rows(
        pool,
        "SELECT TABLE_NAME AS t, 'f' AS k, CONSTRAINT_NAME AS nm, COLUMN_NAME AS c, ORDINAL_POSITION AS pos, \
                REFERENCED_TABLE_NAME AS rt, REFERENCED_COLUMN_NAME AS rc \
         FROM information_schema.KEY_COLUMN_USAGE \
         WHERE TABLE_SCHEMA = DATABASE() AND REFERENCED_TABLE_NAME IS NOT NULL",
        &[],
    )
    .await?;
    apply_constraints(&mut tables, &fk);
    Ok(tables.into_values().collect())
}

async fn sqlite(pool: &Pool) -> Result<Vec<Table>, sqlx::Error> {
    let names = rows(
        pool,
        "SELECT name AS t FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%' ORDER BY name",
        &[],
    )
    .await?;
    let mut out = Vec::new();
    for n in names {
        let name = text(&n, "t");
        let mut t = new_table(name.clone());
        let cols = rows(
            pool,
            "SELECT name AS c, type AS ty, \"notnull\" AS nn, pk FROM pragma_table_info(?) ORDER BY cid",
            &[&name],
        )
        .await?;
        let mut pk: Vec<(i64, String)> = Vec::new();
        for r in &cols {
            let declared = text(r, "ty");
            let spelled = text(r, "c");
            let c = spelled.to_ascii_lowercase();
            if int(r, "pk") > 0 {
                pk.push((int(r, "pk"), c.clone()));
            }
            t.columns.push(ColumnInfo {
                name: c,
                spelled,
                class: ColumnType::of(Driver::Sqlite, &declared),
                declared,
                nullable: int(r, "nn") == 0,
                comment: None,
            });
        }
        pk.sort();
        t.primary_key = pk.into_iter().map(|p| p.1).collect();
        if !t.primary_key.is_empty() {
            t.unique.push(t.primary_key.clone());
        }
        let fks = rows(
            pool,
            "SELECT id, seq, \"table\" AS rt, \"from\" AS c, \"to\" AS rc FROM pragma_foreign_key_list(?) ORDER BY id, seq",
            &[&name],
        )
        .await?;
        let mut by_id: BTreeMap<i64, ForeignKey> = BTreeMap::new();
        for r in &fks {
            let fk = by_id.entry(int(r, "id")).or_insert_with(|| ForeignKey {
                columns: vec![],
                ref_table: text(r, "rt"),
                ref_columns: vec![],
            });
            fk.columns.push(text(r, "c").to_ascii_lowercase());
            fk.ref_columns.push(text(r, "rc").to_ascii_lowercase());
        }
        t.foreign_keys = by_id.into_values().collect();
        let idx = rows(
            pool,
            "SELECT name AS nm, \"unique\" AS u FROM pragma_index_list(?)",
            &[&name],
        )
        .await?;
        for r in &idx {
            let nm = text(r, "nm");
            let cols: Vec<String> = rows(
                pool,
                "SELECT name AS c FROM pragma_index_info(?) ORDER BY seqno",
                &[&nm],
            )
            .await?
            .iter()
            .map(|r| text(r, "c").to_ascii_lowercase())
            .collect();
            if int(r, "u") == 1 && !t.unique.contains(&cols) {
                t.unique.push(cols.clone());
            }
            t.indexes.push(cols);
        }
        out.push(t);
    }
    Ok(out)
}
