//! MySQL's zero date (`0000-00-00 00:00:00`, what `NOT NULL DEFAULT '0000-00-00 …'` columns of older schemas
//! hold when no date was set, as A2Billing's `cc_card.expirationdate` does) reads as no date (NULL) instead
//! of failing the whole row, and a column of a type that is not text (GEOMETRY) reads as bytes: a row
//! sample for the scaffold and a gateway query both keep the row's other values.
use complaint_gateway::adapters::sql::decode::DbValue;
use complaint_gateway::adapters::sql::{Pool, PoolSettings};
use complaint_gateway::testkit::{self, TestDatabase};
use std::sync::Arc;

#[tokio::test]
async fn zero_dates_read_as_null_and_geometry_as_bytes_on_mariadb() {
    let Some(admin) = testkit::db_url("CGW_TEST_MYSQL_URL") else {
        return;
    };
    let db = TestDatabase::create(&admin, "zerodates_scaffold").await.unwrap();
    let setup = sqlx::mysql::MySqlPoolOptions::new()
        .max_connections(1)
        .connect(&db.url)
        .await
        .unwrap();
    for s in [
        "SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION'",
        "CREATE TABLE cards (id INT PRIMARY KEY, phone VARCHAR(20) NOT NULL, \
         expires TIMESTAMP NOT NULL DEFAULT '0000-00-00 00:00:00', used DATETIME NOT NULL DEFAULT '0000-00-00 00:00:00', \
         born DATE NOT NULL DEFAULT '0000-00-00', spot POINT NULL)",
        "INSERT INTO cards (id, phone, expires, used, born, spot) VALUES \
         (1, '13700000001', '0000-00-00 00:00:00', '2026-11-28 10:00:00', '0000-00-00', POINT(120.1, 30.2)), \
         (2, '13700000002', '2027-01-01 00:00:00', '0000-00-00 00:00:00', '1990-05-01', NULL)",
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
            &Arc::from("SELECT id, phone, expires, used, born, spot FROM cards ORDER BY id"),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    let (a, b) = (&rows[0], &rows[1]);
    assert_eq!(a.get("phone"), Some(&DbValue::Text("13700000001".into())));
    assert_eq!(a.get("expires"), Some(&DbValue::Null));
    assert_eq!(a.get("born"), Some(&DbValue::Null));
    assert_eq!(
        a.get("used").and_then(DbValue::as_text).as_deref(),
        Some("2026-11-28 10:00:00")
    );
    assert!(
        matches!(a.get("spot"), Some(DbValue::Bytes(b)) if b.len() > 16),
        "{:?}",
        a.get("spot")
    );
    assert_eq!(b.get("used"), Some(&DbValue::Null));
    assert_eq!(b.get("born").and_then(DbValue::as_text).as_deref(), Some("1990-05-01"));
    assert!(matches!(b.get("expires"), Some(DbValue::Timestamp(_))));
    match pool {
        Pool::MySql(p) => p.close().await,
        _ => unreachable!("a MySQL URL"),
    }
    db.drop_db().await;
}
