//! Joins checked against the data, on a small MariaDB schema built to hold each trap once: a declared
//! foreign key from offers to the user who made them (the administrator) beside the subscriber's own
//! `users.id_offer`; a staff table full of mobile numbers; RADIUS-style tables linked only by an indexed
//! `username`, two of them siblings. The scaffold must join the subscriber's offer through `id_offer`, reach
//! the sessions through `username`, not link the siblings to each other, and not key anything on the
//! staff's phones.
use complaint_gateway::testkit::{self, TestDatabase};
use complaint_gateway::tools::scaffold::{self, Options};

#[tokio::test]
async fn joins_follow_the_subscribers_rows_not_the_declarations() {
    let Some(admin) = testkit::db_url("CGW_TEST_MYSQL_URL") else {
        return;
    };
    let db = TestDatabase::create(&admin, "scaffold_evidence").await.unwrap();
    let pool = sqlx::mysql::MySqlPoolOptions::new()
        .max_connections(1)
        .connect(&db.url)
        .await
        .unwrap();
    let mut ddl = vec![
        "CREATE TABLE users (id INT PRIMARY KEY, username VARCHAR(32) NOT NULL, phone VARCHAR(20), \
         firstname VARCHAR(40), address VARCHAR(80), city VARCHAR(20), email VARCHAR(60), creationdate DATETIME, \
         id_offer INT, KEY username (username))"
            .to_string(),
        "CREATE TABLE offers (id INT PRIMARY KEY, id_user INT NOT NULL, name VARCHAR(40), price DECIMAL(10,2), \
         CONSTRAINT fk_offer_user FOREIGN KEY (id_user) REFERENCES users (id))"
            .to_string(),
        "CREATE TABLE operators (id INT PRIMARY KEY, username VARCHAR(32), phone VARCHAR(20), firstname VARCHAR(40))"
            .to_string(),
        "CREATE TABLE radacct (radacctid INT PRIMARY KEY, username VARCHAR(32) NOT NULL, acctstarttime DATETIME, \
         acctsessiontime INT, calledstationid VARCHAR(40), KEY username (username))"
            .to_string(),
        "CREATE TABLE radcheck (id INT PRIMARY KEY, username VARCHAR(32) NOT NULL, attribute VARCHAR(40), \
         value VARCHAR(40), KEY username (username))"
            .to_string(),
    ];
    // The administrator (id 1, no phone) made every offer; subscribers 2..=41 hold one each.
    let mut users =
        vec!["(1, 'admin', NULL, 'Admin', NULL, NULL, 'admin@example.cn', '2026-01-01 00:00:00', NULL)".to_string()];
    let mut acct = Vec::new();
    let mut check = Vec::new();
    for i in 2..=41 {
        users.push(format!(
            "({i}, 'hz{i:05}', '1380000{i:04}', '用户{i}', '文三路{i}号', '杭州', 'u{i}@example.cn', '2026-02-{:02} 10:00:00', {})",
            1 + i % 28,
            1 + i % 3
        ));
        for k in 0..3 {
            let id = i * 10 + k;
            acct.push(format!(
                "({id}, 'hz{i:05}', '2026-11-{:02} 0{k}:00:00', {}, '1590000{:04}')",
                1 + k,
                60 * (k + 1),
                id
            ));
            check.push(format!("({id}, 'hz{i:05}', 'Cleartext-Password', 'p{id}')"));
        }
    }
    ddl.push(format!("INSERT INTO users VALUES {}", users.join(", ")));
    ddl.push(
        "INSERT INTO offers VALUES (1, 1, '100元套餐', 100.00), (2, 1, '200元套餐', 200.00), (3, 1, '300元套餐', 300.00)"
            .into(),
    );
    ddl.push(
        "INSERT INTO operators VALUES (1, 'ops1', '13999990001', '值班一'), (2, 'ops2', '13999990002', '值班二'), \
         (3, 'ops3', '13999990003', '值班三')"
            .into(),
    );
    ddl.push(format!("INSERT INTO radacct VALUES {}", acct.join(", ")));
    ddl.push(format!("INSERT INTO radcheck VALUES {}", check.join(", ")));
    for s in ddl {
        sqlx::query(sqlx::AssertSqlSafe(s)).execute(&pool).await.unwrap();
    }
    pool.close().await;

    let p = scaffold::scaffold(&db.url, &Options::new("fx")).await;
    db.drop_db().await;
    let p = p.unwrap();
    let sql_of = |target: &str| {
        p.entities
            .iter()
            .find(|e| e.target == target)
            .and_then(|e| e.sql.clone())
            .unwrap_or_default()
    };
    assert!(
        !p.numbers.contains_key("operators"),
        "staff phones are no subscriber's: {:?}",
        p.numbers
    );
    assert_eq!(p.numbers.get("users").map(String::as_str), Some("phone"));
    let plan = sql_of("plan");
    assert!(plan.contains("JOIN offers o ON o.id = u.id_offer"), "{plan}");
    assert!(
        !plan.contains("id_user"),
        "the administrator's link is not the subscriber's: {plan}"
    );
    let usage = sql_of("usage_records");
    assert!(
        usage.contains("same indexed column name (radacct.username = users.username)"),
        "{usage}"
    );
    assert!(usage.contains("JOIN radacct r ON r.username = u.username"), "{usage}");
    for e in p.entities.iter().filter(|e| e.enabled) {
        let sql = e.sql.as_deref().unwrap_or_default();
        assert!(!sql.contains("radcheck"), "{}: siblings are not joined: {sql}", e.name);
        let (hits, tried) = e.sampled.unwrap_or((0, 0));
        assert!(hits > 0 && tried > 0, "{}: {sql}", e.name);
    }
}
