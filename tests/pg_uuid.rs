//! A PostgreSQL UUID column (Lago's keys) reads as its text form, `8-4-4-4-12` hex digits, the same as
//! `psql` shows it: PostgreSQL sends a UUID as 16 raw bytes, which once passed as "text" when they
//! happened to be valid UTF-8, and failed a scaffold's value lookups with "invalid byte sequence".
use complaint_gateway::adapters::sql::decode::DbValue;
use complaint_gateway::adapters::sql::{Bind, Pool, PoolSettings};
use complaint_gateway::testkit::{self, TestDatabase};
use std::sync::Arc;

#[tokio::test]
async fn uuid_columns_read_as_their_text_form_and_bind_back() {
    let Some(admin) = testkit::db_url("CGW_TEST_PG_URL") else {
        return;
    };
    let db = TestDatabase::create(&admin, "pg_uuid").await.unwrap();
    let setup = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&db.url)
        .await
        .unwrap();
    for s in [
        "CREATE TABLE customers (id UUID PRIMARY KEY, phone VARCHAR(20) NOT NULL, wallet UUID NULL)",
        "INSERT INTO customers VALUES \
         ('00000000-0000-4000-8000-000000000000', '13700000001', NULL), \
         ('9f0c1a2b-3c4d-4e5f-8a7b-0123456789ab', '13700000002', 'ffffffff-ffff-4fff-bfff-ffffffffffff')",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(s.to_string()))
            .execute(&setup)
            .await
            .unwrap();
    }
    setup.close().await;
    let settings = PoolSettings {
        max_connections: 1,
        connect_timeout: std::time::Duration::from_secs(10),
    };
    let pool = Pool::connect_lazy(&db.url, &settings).unwrap();
    let rows = pool
        .fetch_all(
            &Arc::from("SELECT id, phone, wallet FROM customers ORDER BY phone"),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    // The all-zero UUID is sixteen NUL bytes on the wire: valid UTF-8, and no text anyone wrote.
    assert_eq!(
        rows[0].get("id"),
        Some(&DbValue::Text("00000000-0000-4000-8000-000000000000".into()))
    );
    assert_eq!(rows[0].get("wallet"), Some(&DbValue::Null));
    assert_eq!(
        rows[1].get("id"),
        Some(&DbValue::Text("9f0c1a2b-3c4d-4e5f-8a7b-0123456789ab".into()))
    );
    assert_eq!(
        rows[1].get("wallet"),
        Some(&DbValue::Text("ffffffff-ffff-4fff-bfff-ffffffffffff".into()))
    );
    // The text read back finds the row again when bound as a parameter.
    let again = pool
        .fetch_all(
            &Arc::from("SELECT phone FROM customers WHERE CAST(id AS TEXT) = $1"),
            &[Bind::Text(Some("9f0c1a2b-3c4d-4e5f-8a7b-0123456789ab".into()))],
        )
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].get("phone"), Some(&DbValue::Text("13700000002".into())));
    drop(pool);
    db.drop_db().await;
}
