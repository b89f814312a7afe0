//! `adapters check` beyond preparing statements: it runs each query for subscribers sampled from the
//! database, so text columns with a binary collation pass (they decode as UTF-8), values that do not
//! convert are problems, and a query that returns no rows for any sampled subscriber is reported.
use complaint_gateway::adapters::sql::definition::Definition;
use complaint_gateway::adapters::sql::{PoolSettings, SqlAdapter};
use complaint_gateway::adapters::{Adapter, FetchRequest};
use complaint_gateway::proto::complaint::v1::*;
use complaint_gateway::testkit::{self, TestDatabase};
use complaint_gateway::tools::check::{self, Target};
use prost::Message;

const SCHEMA: &[&str] = &[
    // As a MySQL billing system declares them: every text column `utf8 COLLATE utf8_bin`.
    "CREATE TABLE accounts (id INT PRIMARY KEY, phone VARCHAR(20) CHARACTER SET utf8 COLLATE utf8_bin NOT NULL, \
     name VARCHAR(40) CHARACTER SET utf8 COLLATE utf8_bin NOT NULL, state VARCHAR(8) CHARACTER SET utf8 COLLATE utf8_bin, \
     balance DECIMAL(12,2)) DEFAULT CHARSET=utf8 COLLATE=utf8_bin",
    "CREATE TABLE invoices (id INT PRIMARY KEY, account_id INT NOT NULL, cycle VARCHAR(6) CHARACTER SET utf8 COLLATE utf8_bin)",
    "CREATE TABLE invoice_history (id INT PRIMARY KEY, account_id INT NOT NULL, cycle VARCHAR(6))",
    "INSERT INTO accounts VALUES (1, '13900000001', '张伟', 'ACTIVE', 12.50), (2, '13900000002', '李娜', 'BLOCKED', 0), \
     (3, '13900000003', '王芳', 'ACTIVE', 3.00)",
    "INSERT INTO invoices VALUES (1, 1, '202611'), (2, 2, '202611')",
];

fn write_definition(dir: &std::path::Path, status_map: &str) {
    std::fs::write(
        dir.join("adapter.toml"),
        format!(
            r#"name = "binbill"
url_env = "CGW_BINBILL_URL"
primary = "account"

[entities.account]
target = "account"
query = "SELECT a.name, a.state, a.balance FROM accounts a WHERE a.phone = :msisdn"
[entities.account.fields]
state = {{ field = "status", map = {{ {status_map} }} }}
balance = {{ field = "balance_fen", convert = "yuan_to_fen" }}

[entities.customer]
target = "customer"
query = "SELECT name FROM accounts WHERE phone = :msisdn"
[entities.customer.fields]
name = "name"

[entities.bills]
target = "recent_bills"
## The history table, which nothing writes to any more: no rows for anyone.
query = "SELECT h.cycle FROM accounts a JOIN invoice_history h ON h.account_id = a.id WHERE a.phone = :msisdn"
[entities.bills.fields]
cycle = "cycle"
"#
        ),
    )
    .unwrap();
}

#[tokio::test]
async fn binary_collated_text_passes_check_and_a_query_without_rows_is_reported_on_mariadb() {
    let Some(admin) = testkit::db_url("CGW_TEST_MYSQL_URL") else {
        return;
    };
    let db = TestDatabase::create(&admin, "checkrows").await.unwrap();
    let pool = sqlx::MySqlPool::connect(&db.url).await.unwrap();
    for s in SCHEMA {
        sqlx::query(sqlx::AssertSqlSafe(s.to_string()))
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
    let dir = tempfile::tempdir().unwrap();
    write_definition(dir.path(), r#""ACTIVE" = "ACTIVE", "BLOCKED" = "SUSPENDED""#);
    let target = || Target {
        dir: dir.path().to_path_buf(),
        url: Ok(db.url.clone()),
    };

    let report = check::run(&[target()]).await;
    let rendered = report.render();
    // No "returns VARBINARY, which cannot fill `name`": the utf8_bin columns are text.
    assert!(report.ok(), "{rendered}");
    assert_eq!(report.sources[0].sampled, 3, "{rendered}");
    let warnings: Vec<String> = report.warnings().map(|w| w.to_string()).collect();
    assert_eq!(
        warnings,
        vec![format!(
            "{}: entities.bills: returned no rows for any of the 3 subscriber(s) sampled from accounts.phone: check its joins and filters",
            dir.path().join("adapter.toml").display()
        )],
        "{rendered}"
    );
    assert!(
        rendered.ends_with(
            "ran the queries for sampled subscribers (binbill: 3): 1 warning\nchecked 1 source(s) (binbill), 3 queries: ok\n"
        ),
        "{rendered}"
    );

    // The adapter reads those columns as text too.
    let def = Definition::load(dir.path()).unwrap();
    let adapter = SqlAdapter::new(
        def,
        &db.url,
        &PoolSettings {
            max_connections: 1,
            connect_timeout: std::time::Duration::from_secs(5),
        },
    )
    .unwrap();
    let data = adapter
        .fetch(FetchRequest {
            msisdn: "13900000002".into(),
            operator_id: None,
        })
        .await
        .unwrap();
    let view = SubscriberView::decode(data.view.as_ref()).unwrap();
    assert_eq!(view.customer.unwrap().name, "李娜");
    assert_eq!(view.account.as_ref().unwrap().status(), AccountStatus::Suspended);
    assert!(data.notes.is_empty(), "{:?}", data.notes);

    // A code the map does not know is a problem found in the rows, which preparing could not see.
    write_definition(dir.path(), r#""ACTIVE" = "ACTIVE""#);
    let report = check::run(&[target()]).await;
    let problems: Vec<String> = report.problems().map(|p| p.to_string()).collect();
    assert_eq!(
        problems,
        vec![format!(
            "{}: entities.account: column `state`: a sampled row's value does not fill `status`: code `BLOCKED` is not in the mapping",
            dir.path().join("adapter.toml").display()
        )],
        "{}",
        report.render()
    );
    db.drop_db().await;
}
