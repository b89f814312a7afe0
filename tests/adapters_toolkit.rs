//! The adapter toolkit: `adapters check` catches what breaks a definition, `adapters scaffold` proposes
//! definitions accurately enough to start from, the walkthrough of docs/adapters.md works end to end on
//! MariaDB, and both the SQL adapter and the HTTP example adapter pass the compliance harness.
use complaint_gateway::adapters::http::{HttpAdapter, HttpSourceConfig};
use complaint_gateway::adapters::registry::Registry;
use complaint_gateway::adapters::sql::definition::Definition;
use complaint_gateway::adapters::sql::{PoolSettings, SqlAdapter};
use complaint_gateway::adapters::{Adapter, UsageQuery};
use complaint_gateway::proto::complaint::v1::*;
use complaint_gateway::testkit::{self, req, TestDatabase};
use complaint_gateway::tools::check::{self, Problem, Target};
use complaint_gateway::tools::compliance::{self, Outcome, Probe, Subject};
use complaint_gateway::tools::scaffold::{self, accuracy};
use complaint_gateway::tools::seed;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn edit(file: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.contains(from), "{} does not contain {from:?}", file.display());
    std::fs::write(file, text.replacen(from, to, 1)).unwrap();
}

async fn exec_sqlite(url: &str, sql: &str) {
    let pool = sqlx::SqlitePool::connect(url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

fn find<'a>(problems: &'a [&Problem], part: &str, column: &str) -> &'a Problem {
    problems
        .iter()
        .find(|p| p.part == part && p.column.as_deref() == Some(column))
        .unwrap_or_else(|| panic!("no problem for {part} column {column}: {problems:#?}"))
}

// ------------------------------------------------------------------------------------------------
// adapters check

#[tokio::test]
async fn check_catches_a_renamed_column_and_a_type_mismatch_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let urls = testkit::sqlite_urls(dir.path());
    testkit::seed(&urls, 20).await.unwrap();
    let billing_url = urls[0].1.clone();

    // The definitions as shipped check out.
    let good: Vec<Target> = urls
        .iter()
        .map(|(s, u)| Target {
            dir: testkit::adapters_dir().join(s.name()),
            url: Ok(u.clone()),
        })
        .collect();
    let report = check::run(&good).await;
    assert!(report.ok(), "{}", report.render());
    assert_eq!(report.warnings().count(), 0, "{}", report.render());
    assert_eq!(
        report.sources.iter().map(|s| s.sampled).collect::<Vec<_>>(),
        vec![20, 20, 20]
    );
    assert_eq!(report.sources.iter().map(|s| s.queries).sum::<usize>(), 14);
    assert!(report
        .render()
        .ends_with("checked 3 source(s) (billing, crm, resource), 14 queries: ok\n"));

    // The backend renames a column; the team mistypes a declared type; a mapped alias goes missing.
    exec_sqlite(&billing_url, "ALTER TABLE jf_jl RENAME COLUMN jfqd TO zfqd").await;
    let defs = dir.path().join("billing_def");
    copy_dir(&testkit::adapters_dir().join("billing"), &defs);
    edit(
        &defs.join("adapter.toml"),
        r#"zhye = { field = "balance_fen", type = "decimal""#,
        r#"zhye = { field = "balance_fen", type = "integer""#,
    );
    edit(&defs.join("plan.sql"), "p.tcmc AS yytcmc", "p.tcmc AS yytc_mc");
    edit(
        &defs.join("adapter.toml"),
        r#"tcmc = "name""#,
        r#"tcmc = { field = "name", type = "decimal" }"#,
    );
    let report = check::run(&[Target {
        dir: defs.clone(),
        url: Ok(billing_url),
    }])
    .await;
    assert!(!report.ok());
    let problems: Vec<&Problem> = report.problems().collect();
    assert_eq!(problems.len(), 4, "{}", report.render());

    let renamed = find(&problems, "entities.payments", "j.jfqd");
    assert_eq!(renamed.file, defs.join("payments.sql"));
    assert_eq!(
        renamed.message,
        "the database refused the query: error returned from database: (code: 1) no such column: j.jfqd (table `jf_jl` has `zfqd`: renamed?)"
    );
    let mismatch = find(&problems, "entities.account", "zhye");
    assert_eq!(mismatch.file, defs.join("adapter.toml"));
    assert_eq!(
        mismatch.message,
        "declared `type = \"integer\"` but the query returns DECIMAL(12,2) (decimal)"
    );
    let missing = find(&problems, "entities.plan", "yytcmc");
    assert!(
        missing.message.starts_with(
            "mapped to `pending_plan_name` but the query does not return it (it returns: tcbh, tcmc, yzf,"
        ),
        "{}",
        missing.message
    );
    assert!(
        missing.message.ends_with("; did you mean `yytc_mc`?"),
        "{}",
        missing.message
    );
    let text_as_time = find(&problems, "entities.plan", "tcmc");
    assert_eq!(
        text_as_time.message,
        "declared `type = \"decimal\"` but the query returns VARCHAR(64) (text)"
    );
    // One line per problem names file, entity and column.
    assert!(report.render().contains(&format!(
        "error: {}: entities.account: column `zhye`: declared `type = \"integer\"`",
        defs.join("adapter.toml").display()
    )));
}

#[tokio::test]
async fn check_on_postgres_and_mariadb() {
    let (Some(pg), Some(my)) = (
        testkit::db_url("CGW_TEST_PG_URL"),
        testkit::db_url("CGW_TEST_MYSQL_URL"),
    ) else {
        return;
    };
    let billing = TestDatabase::create(&pg, "chkbilling").await.unwrap();
    let crm = TestDatabase::create(&my, "chkcrm").await.unwrap();
    let urls = vec![
        (seed::load::System::Billing, billing.url.clone()),
        (seed::load::System::Crm, crm.url.clone()),
    ];
    testkit::seed(&urls, 10).await.unwrap();
    let good: Vec<Target> = urls
        .iter()
        .map(|(s, u)| Target {
            dir: testkit::adapters_dir().join(s.name()),
            url: Ok(u.clone()),
        })
        .collect();
    let report = check::run(&good).await;
    assert!(report.ok(), "{}", report.render());

    // PostgreSQL: a renamed column and a NUMERIC declared as text.
    let pool = sqlx::PgPool::connect(&billing.url).await.unwrap();
    sqlx::query("ALTER TABLE zh_xx RENAME COLUMN xyed TO xyed_yuan")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let dir = tempfile::tempdir().unwrap();
    let defs = dir.path().join("billing");
    copy_dir(&testkit::adapters_dir().join("billing"), &defs);
    edit(
        &defs.join("adapter.toml"),
        r#"yzf = { field = "monthly_fee_fen", type = "decimal""#,
        r#"yzf = { field = "monthly_fee_fen", type = "text""#,
    );
    // MariaDB: a renamed column and a DATETIME declared as an integer.
    let pool = sqlx::MySqlPool::connect(&crm.url).await.unwrap();
    sqlx::query("ALTER TABLE customers RENAME COLUMN full_name TO cust_name")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let crm_defs = dir.path().join("crm");
    copy_dir(&testkit::adapters_dir().join("crm"), &crm_defs);
    edit(
        &crm_defs.join("adapter.toml"),
        r#"opted_out_at = { field = "opted_out_at", type = "timestamp" }"#,
        r#"opted_out_at = { field = "opted_out_at", type = "integer" }"#,
    );
    let report = check::run(&[
        Target {
            dir: defs.clone(),
            url: Ok(billing.url.clone()),
        },
        Target {
            dir: crm_defs.clone(),
            url: Ok(crm.url.clone()),
        },
    ])
    .await;
    let problems: Vec<&Problem> = report.problems().collect();
    assert_eq!(problems.len(), 4, "{}", report.render());
    let p = find(&problems, "entities.account", "z.xyed");
    assert_eq!(p.file, defs.join("account.sql"));
    assert!(p.message.contains("column z.xyed does not exist"), "{}", p.message);
    assert!(
        p.message.ends_with("(table `zh_xx` has `xyed_yuan`: renamed?)"),
        "{}",
        p.message
    );
    let p = find(&problems, "entities.plan", "yzf");
    assert_eq!(
        p.message,
        "declared `type = \"text\"` but the query returns NUMERIC (decimal)"
    );
    let p = find(&problems, "entities.customer", "c.full_name");
    assert_eq!(p.file, crm_defs.join("customer.sql"));
    assert!(p.message.contains("Unknown column 'c.full_name' in '"), "{}", p.message);
    assert!(
        p.message.ends_with("(table `customers` has `cust_name`: renamed?)"),
        "{}",
        p.message
    );
    let p = find(&problems, "entities.marketing", "opted_out_at");
    assert_eq!(
        p.message,
        "declared `type = \"integer\"` but the query returns DATETIME (timestamp)"
    );
    billing.drop_db().await;
    crm.drop_db().await;
}

#[tokio::test]
async fn check_without_a_url_says_which_variables_to_set() {
    let targets = check::targets(Some(&testkit::adapters_dir().join("crm")), None, &|_| None);
    let report = check::run(&targets).await;
    let p: Vec<&Problem> = report.problems().collect();
    assert_eq!(p.len(), 1);
    assert_eq!(
        p[0].message,
        "no URL for `crm`: set CGW_SOURCE_CRM_URL or CGW_CRM_URL, or pass --config"
    );
    // The override variable is honoured.
    let targets = check::targets(Some(&testkit::adapters_dir().join("crm")), None, &|k| {
        (k == "CGW_SOURCE_CRM_URL").then(|| "sqlite:///nonexistent/crm.db".to_string())
    });
    assert_eq!(targets[0].url.as_deref(), Ok("sqlite:///nonexistent/crm.db"));
    let report = check::run(&targets).await;
    let p: Vec<&Problem> = report.problems().collect();
    assert_eq!(p.len(), 1, "{}", report.render());
    assert!(p[0].column.is_none() && p[0].part.is_empty());
    assert!(
        p[0].message
            .starts_with("cannot reach the database `sqlite:///nonexistent/crm.db`"),
        "{}",
        p[0].message
    );
}

// ------------------------------------------------------------------------------------------------
// adapters scaffold

#[tokio::test]
async fn scaffold_accuracy_and_its_output_passes_check() {
    let dir = tempfile::tempdir().unwrap();
    let runs = accuracy::measure_all(dir.path(), 200).await.unwrap();
    let (mut right, mut total) = (0, 0);
    let mut report = String::new();
    for (acc, _) in &runs {
        right += acc.right;
        total += acc.fields;
        report.push_str(&acc.render());
    }
    println!("{report}");
    let names: Vec<&str> = runs.iter().map(|(a, _)| a.system.as_str()).collect();
    assert_eq!(
        names,
        [
            "billing",
            "crm",
            "resource",
            "city2_billing",
            "abbrev_crm",
            "camel_inventory"
        ]
    );
    assert_eq!(total, 62 + 24 + 25 + 51 + 38 + 25, "every truth field is counted");
    let share = right as f64 / total as f64;
    assert!(
        share >= 0.9,
        "scaffold accuracy {:.1}% is below the 90% target\n{report}",
        100.0 * share
    );
    for (acc, _) in &runs {
        assert!(acc.wrong.len() <= 2, "{}", acc.render());
    }

    // Where the proposals are right, the written folder passes `adapters check` against its database.
    let urls = testkit::sqlite_urls(dir.path());
    for (i, (acc, proposal)) in runs.iter().enumerate() {
        let out = dir.path().join("proposed").join(&acc.system);
        proposal.write(&out).unwrap();
        let url = match urls.get(i) {
            Some((_, u)) => u.clone(),
            None => format!(
                "sqlite://{}",
                dir.path().join(format!("scaffold_{}.db", acc.system)).display()
            ),
        };
        let def = Definition::load(&out).unwrap_or_else(|e| panic!("{}: {e}", acc.system));
        assert_eq!(def.name, acc.system);
        let r = check::run(&[Target {
            dir: out.clone(),
            url: Ok(url),
        }])
        .await;
        assert!(r.ok(), "{}: {}", acc.system, r.render());
    }

    // What a proposal looks like: score and runners-up in a comment, conversions filled in.
    let billing = std::fs::read_to_string(dir.path().join("proposed/billing/adapter.toml")).unwrap();
    assert!(billing.contains(
        "zhye = { field = \"balance_fen\", type = \"decimal\", convert = \"yuan_to_fen\" }  # zh_xx.zhye 1.00"
    ));
    assert!(billing.contains("tjsj = { field = \"suspended_at\", type = \"text\", format = \"%Y%m%d%H%M%S\" }"));
    assert!(billing.contains("primary = \"account\""));
    let sql = std::fs::read_to_string(dir.path().join("proposed/billing/usage.sql")).unwrap();
    assert!(
        sql.contains(
            "FROM yh_zl yz\n-- same indexed column name (sy_hz.yhbh = yh_zl.yhbh); 100% of sampled values found\n\
             JOIN sy_hz sh ON sh.yhbh = yz.yhbh\n\
             -- same indexed column name (my_sy.yhbh = yh_zl.yhbh); 100% of sampled values found\nLEFT JOIN my_sy ms ON"
        ),
        "{sql}"
    );
    assert!(sql.contains("WHERE yz.sjhm = :msisdn"), "{sql}");
}

#[tokio::test]
async fn scaffold_leaves_doubtful_fields_for_review() {
    // A table whose names say little: the scaffold proposes nothing live rather than guessing.
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("odd.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    for s in [
        "CREATE TABLE t1 (phone VARCHAR(11) PRIMARY KEY, c1 VARCHAR(20), c2 DECIMAL(12,2), zt CHAR(1))",
        "INSERT INTO t1 VALUES ('13800000001', 'X1', 12.50, '1'), ('13800000002', 'X2', 3.20, '2'), ('13800000003', 'X3', 0.00, '1')",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(s)).execute(&pool).await.unwrap();
    }
    pool.close().await;
    let p = scaffold::scaffold(&url, &scaffold::Options::new("odd")).await.unwrap();
    assert_eq!(p.numbers.get("t1").map(String::as_str), Some("phone"));
    assert!(p.active().is_empty(), "{:?}", p.active());
    let toml = p.adapter_toml();
    assert!(
        toml.contains("## No entity was confident enough to be primary: choose one."),
        "{toml}"
    );
    // `zt` (状态, status) is a candidate for several parts: listed, commented out.
    assert!(
        toml.lines().any(|l| l.starts_with("# zt = ") && l.contains("t1.zt")),
        "{toml}"
    );
    let bad = scaffold::scaffold(&url, &scaffold::Options::new("Bad-Name"))
        .await
        .unwrap_err();
    assert_eq!(bad, "--system `Bad-Name` must match [a-z0-9_]+");
}

/// Merges the reviewed corrections into a scaffolded adapter.toml. Only entities and columns the
/// scaffold proposed may be corrected.
fn apply_corrections(adapter_toml: &Path, corrections: &Path) {
    let mut doc: toml::Table = toml::from_str(&std::fs::read_to_string(adapter_toml).unwrap()).unwrap();
    let fix: toml::Table = toml::from_str(&std::fs::read_to_string(corrections).unwrap()).unwrap();
    for (k, v) in fix {
        if k != "entities" {
            doc.insert(k, v);
            continue;
        }
        let entities = doc["entities"].as_table_mut().unwrap();
        for (name, e) in v.as_table().unwrap() {
            let target = entities
                .get_mut(name)
                .unwrap_or_else(|| panic!("the scaffold proposed no entity `{name}`"))
                .as_table_mut()
                .unwrap();
            for (key, value) in e.as_table().unwrap() {
                if key == "fields" {
                    let fields = target["fields"].as_table_mut().unwrap();
                    for (col, spec) in value.as_table().unwrap() {
                        assert!(
                            fields.contains_key(col),
                            "the scaffold did not propose column `{col}` in `{name}`"
                        );
                        fields.insert(col.clone(), spec.clone());
                    }
                } else {
                    target.insert(key.clone(), value.clone());
                }
            }
        }
    }
    std::fs::write(adapter_toml, toml::to_string(&doc).unwrap()).unwrap();
}

#[tokio::test]
async fn walkthrough_second_city_billing_on_mariadb() {
    let Some(my) = testkit::db_url("CGW_TEST_MYSQL_URL") else {
        return;
    };
    let fixture = accuracy::fixture_dir("scaffold_city2_billing");
    // 1. The second city's billing database, with its rows.
    let db = TestDatabase::create(&my, "city2").await.unwrap();
    accuracy::load_sql_files(&db.url, &[&fixture.join("schema.sql"), &fixture.join("data.sql")])
        .await
        .unwrap();
    // 2. Scaffold.
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("adapters/city2_billing");
    let proposal = scaffold::scaffold(&db.url, &scaffold::Options::new("city2_billing"))
        .await
        .unwrap();
    proposal.write(&folder).unwrap();
    let truth = accuracy::Truth::from_file(&fixture.join("truth.toml")).unwrap();
    let acc = accuracy::evaluate("city2_billing", &proposal, &truth);
    println!("on MariaDB: {}", acc.render());
    assert!(acc.share() >= 0.9, "{}", acc.render());
    // 3. Apply the reviewed corrections; 4. check passes.
    apply_corrections(&folder.join("adapter.toml"), &fixture.join("corrections.toml"));
    let report = check::run(&[Target {
        dir: folder.clone(),
        url: Ok(db.url.clone()),
    }])
    .await;
    assert!(report.ok(), "{}", report.render());
    assert_eq!(report.sources[0].queries, 6);
    // 5. Serve it next to the demo systems.
    let demo = tempfile::tempdir().unwrap();
    let urls = testkit::sqlite_urls(demo.path());
    testkit::seed(&urls, 5).await.unwrap();
    let mut cfg = testkit::config(&urls);
    cfg.sources.push(testkit::source(folder.clone(), &db.url, 2_000));
    let srv = testkit::spawn(cfg).await.unwrap();
    let mut c = testkit::data_client(&srv).await.unwrap();
    let number = "13579000006"; // subscriber 6 of the fixture: suspended, three bills
    let r = c
        .get_subscriber_view(req(GetSubscriberViewRequest {
            msisdn: number.into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    let st = r
        .sources
        .iter()
        .find(|s| s.source == "city2_billing")
        .expect("a status for the new source");
    assert_eq!(st.state(), SourceState::Ok, "{st:?}");
    assert!(r
        .sources
        .iter()
        .filter(|s| s.source != "city2_billing")
        .all(|s| s.state() == SourceState::NotFound));
    let v = r.view.unwrap();
    // The values, read back from the fixture database.
    let pool = sqlx::MySqlPool::connect(&db.url).await.unwrap();
    let (ye, khmc, tcmc): (rust_decimal::Decimal, String, String) = sqlx::query_as(
        "SELECT z.ye, k.khmc, t.taocan_mingcheng FROM yh_xx y JOIN zh_zl z ON z.zhbh = y.zhbh \
         JOIN kh_zl k ON k.khbh = y.khbh JOIN taocan t ON t.taocan_daima = y.tcdm WHERE y.hm = ?",
    )
    .bind(number)
    .fetch_one(&pool)
    .await
    .unwrap();
    let (bills, items): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(DISTINCT d.zhangdan_id), COUNT(m.mingxi_id) FROM yh_xx y JOIN zhangdan d ON d.yhid = y.yhid \
         LEFT JOIN zhangdan_mingxi m ON m.zhangdan_id = d.zhangdan_id WHERE y.hm = ?",
    )
    .bind(number)
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    let account = v.account.expect("account from the new source");
    assert_eq!(account.account_id, "ZH579000006");
    assert_eq!(
        account.balance_fen,
        (ye * rust_decimal::Decimal::from(100))
            .round()
            .to_string()
            .parse::<i64>()
            .unwrap()
    );
    assert_eq!(account.status(), AccountStatus::Suspended, "the reviewed map: T 停机");
    assert_eq!(account.suspension_reason, "欠费停机");
    assert!(account.suspended_at.is_some());
    let customer = v.customer.expect("customer from the new source");
    assert_eq!(
        (
            customer.name.as_str(),
            customer.region_code.as_str(),
            customer.city_name.as_str()
        ),
        (khmc.as_str(), "0579", "金华")
    );
    assert_eq!(v.plan.expect("plan").name, tcmc);
    assert_eq!(v.recent_bills.len() as i64, bills);
    assert_eq!(v.recent_bills[0].cycle, "202611", "newest first");
    assert_eq!(v.recent_bills.iter().map(|b| b.items.len() as i64).sum::<i64>(), items);
    assert!(v
        .recent_bills
        .iter()
        .flat_map(|b| &b.items)
        .all(|i| i.charge_type() != ChargeType::Unspecified));
    assert_eq!(v.payments.len(), 2);
    srv.stop().await;
    db.drop_db().await;
}

// ------------------------------------------------------------------------------------------------
// The HTTP example adapter and the compliance harness

mod inventory {
    //! A tiny HTTP/JSON inventory service on 127.0.0.1:0: the backend of the HTTP example adapter.
    use bytes::Bytes;
    use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
    use hyper::body::Frame;
    use std::collections::HashMap;
    use std::convert::Infallible;
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    pub const TOKEN: &str = "inv-token-6f1c2e";
    pub const SLOW: &str = "19900000001";
    pub const ENDLESS: &str = "19900000002";

    /// Counts a request in progress until dropped (when the handler finishes or is cancelled).
    struct InFlight(Arc<AtomicUsize>);
    impl InFlight {
        fn new(c: &Arc<AtomicUsize>) -> InFlight {
            c.fetch_add(1, Ordering::SeqCst);
            InFlight(c.clone())
        }
    }
    impl Drop for InFlight {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }

    pub struct Service {
        pub views: HashMap<String, String>,
        pub usage: HashMap<String, Vec<String>>,
        pub in_flight: Arc<AtomicUsize>,
        pub broken: bool,
    }

    type Body = BoxBody<Bytes, Infallible>;

    fn reply(status: u16, body: impl Into<Bytes>) -> hyper::Response<Body> {
        hyper::Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(body.into()).boxed())
            .unwrap()
    }

    async fn handle(
        s: Arc<Service>,
        req: hyper::Request<hyper::body::Incoming>,
    ) -> Result<hyper::Response<Body>, Infallible> {
        if req.headers().get("authorization").and_then(|v| v.to_str().ok()) != Some(&format!("Bearer {TOKEN}")) {
            return Ok(reply(401, r#"{"error":"unauthorized"}"#));
        }
        let path = req.uri().path().to_string();
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        match parts.as_slice() {
            ["subscribers", n] => {
                if *n == SLOW {
                    let _g = InFlight::new(&s.in_flight);
                    tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                }
                if s.broken {
                    return Ok(reply(200, r#"{"line": {"iccid": 42, "#));
                }
                Ok(match s.views.get(*n) {
                    Some(v) => reply(200, v.clone()),
                    None => reply(404, r#"{"error":"no such subscriber"}"#),
                })
            }
            ["subscribers", n, "usage"] => {
                let q = req.uri().query().unwrap_or("");
                if !q.contains("from=") || !q.contains("to=") {
                    return Ok(reply(400, r#"{"error":"from and to are required"}"#));
                }
                if *n == ENDLESS {
                    let guard = Arc::new(InFlight::new(&s.in_flight));
                    let lines = futures::stream::unfold((0u64, guard), |(i, g)| async move {
                        if i % 100 == 0 {
                            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                        }
                        let line = format!(
                            "{{\"recordId\":\"E{i}\",\"kind\":\"USAGE_KIND_DATA\",\"startedAt\":\"2026-11-01T00:00:{:02}Z\",\"quantity\":\"1\"}}\n",
                            i % 60
                        );
                        Some((Ok::<_, Infallible>(Frame::data(Bytes::from(line))), (i + 1, g)))
                    });
                    return Ok(hyper::Response::builder()
                        .status(200)
                        .body(StreamBody::new(lines).boxed())
                        .unwrap());
                }
                let body = s.usage.get(*n).map(|l| l.join("\n") + "\n").unwrap_or_default();
                Ok(reply(200, body))
            }
            _ => Ok(reply(404, r#"{"error":"no such path"}"#)),
        }
    }

    /// Serves `s` on 127.0.0.1:0 until the runtime ends.
    pub async fn start(s: Service) -> (SocketAddr, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let counter = s.in_flight.clone();
        let s = Arc::new(s);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let s = s.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |r| handle(s.clone(), r));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        (addr, counter)
    }
}

fn inventory_service(known: &str, broken: bool) -> inventory::Service {
    let view = r#"{
        "line": {"iccid": "89860012345678901234", "simStatus": "SIM_STATUS_ACTIVE", "terminalModel": "HUAWEI Mate 60",
                 "terminal5g": true, "plan5g": true, "imei": "861234567890123"},
        "network": {"broadband": {"account": "BB0001", "portId": "OLT7-1-2-3", "oltName": "金华-OLT07", "bandwidthMbps": 500,
                    "status": "PORT_STATUS_DOWN", "lastAlarm": "LOS", "lastAlarmAt": "2026-11-28T02:00:00Z", "address": "金华市婺城区八一北街1号"}}
    }"#;
    let records = vec![
        r#"{"recordId":"R1","kind":"USAGE_KIND_VOICE","startedAt":"2026-11-02T01:00:00Z","quantity":"120","counterpart":"13900000000","countryCode":"CN"}"#.to_string(),
        r#"{"recordId":"R2","kind":"USAGE_KIND_DATA","startedAt":"2026-11-03T01:00:00Z","quantity":"2048","countryCode":"CN"}"#.to_string(),
    ];
    inventory::Service {
        views: [(known.to_string(), view.to_string())].into_iter().collect(),
        usage: [(known.to_string(), records)].into_iter().collect(),
        in_flight: Default::default(),
        broken,
    }
}

fn http_adapter(base: &str, timeout_ms: u64) -> HttpAdapter {
    HttpAdapter::new(
        HttpSourceConfig {
            name: "inventory".into(),
            base_url: base.into(),
            entities: vec!["line".into(), "network.broadband".into()],
            usage_stream: true,
            request_timeout_ms: timeout_ms,
            token_env: Some("INVENTORY_TOKEN".into()),
        },
        &|k| (k == "INVENTORY_TOKEN").then(|| inventory::TOKEN.to_string()),
    )
    .unwrap()
}

fn november() -> (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) {
    use chrono::TimeZone;
    (
        chrono::Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap(),
        chrono::Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap(),
    )
}

#[tokio::test]
async fn http_adapter_serves_its_parts_in_the_view() {
    let dir = tempfile::tempdir().unwrap();
    let urls = testkit::sqlite_urls(dir.path());
    testkit::seed(&urls, 5).await.unwrap();
    let number = seed::msisdn(1);
    let (addr, _) = inventory::start(inventory_service(&number, false)).await;
    // Billing and CRM from SQL; line and broadband from the HTTP inventory instead of the resource DB.
    let cfg = testkit::config(&urls[..2]);
    let mut registry = Registry::from_config(&cfg, &|k| std::env::var(k).ok()).unwrap();
    registry.push(
        Arc::new(http_adapter(&format!("http://{addr}"), 1_000)),
        Duration::from_secs(2),
    );
    let srv = testkit::spawn_with(cfg, registry).await.unwrap();
    let mut c = testkit::data_client(&srv).await.unwrap();
    let r = c
        .get_subscriber_view(req(GetSubscriberViewRequest {
            msisdn: number.clone(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    let inv = r
        .sources
        .iter()
        .find(|s| s.source == "inventory")
        .expect("a status for the HTTP source");
    assert_eq!(inv.state(), SourceState::Ok, "{inv:?}");
    assert_eq!(inv.entities, vec!["line", "network.broadband"]);
    let v = r.view.unwrap();
    let line = v.line.unwrap();
    assert_eq!(
        (line.iccid.as_str(), line.sim_status(), line.terminal_5g),
        ("89860012345678901234", SimStatus::Active, true)
    );
    let bb = v.network.unwrap().broadband.unwrap();
    assert_eq!(
        (bb.port_id.as_str(), bb.status(), bb.bandwidth_mbps),
        ("OLT7-1-2-3", PortStatus::Down, 500)
    );
    assert_eq!(bb.last_alarm_at.unwrap().seconds, 1_795_831_200);
    assert!(v.account.is_some(), "the SQL sources still answer");

    // StreamUsage through the gateway reaches the HTTP source too.
    let (from, to) = november();
    let ts = |t: chrono::DateTime<chrono::Utc>| prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    };
    let mut s = c
        .stream_usage(req(StreamUsageRequest {
            msisdn: number.clone(),
            from: Some(ts(from)),
            to: Some(ts(to)),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    let mut from_http = Vec::new();
    while let Some(m) = s.message().await.unwrap() {
        let rec = m.record.unwrap();
        if rec.source == "inventory" {
            from_http.push(rec.record_id);
        }
    }
    assert_eq!(from_http, vec!["R1", "R2"]);

    // An unknown subscriber: NOT_FOUND for this source, nothing filled.
    let r = c
        .get_subscriber_view(req(GetSubscriberViewRequest {
            msisdn: seed::msisdn(2),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    let inv = r.sources.iter().find(|s| s.source == "inventory").unwrap();
    assert_eq!(inv.state(), SourceState::NotFound);
    assert!(r.view.unwrap().line.is_none());
    srv.stop().await;
}

#[test]
fn http_adapter_settings_are_checked_at_construction() {
    let cfg = |base: &str, entities: &[&str]| HttpSourceConfig {
        name: "inventory".into(),
        base_url: base.into(),
        entities: entities.iter().map(|s| s.to_string()).collect(),
        usage_stream: false,
        request_timeout_ms: 1_000,
        token_env: Some("NOPE".into()),
    };
    let err = |c: HttpSourceConfig| HttpAdapter::new(c, &|_| Some("t".into())).unwrap_err();
    assert_eq!(
        err(cfg("https://inv.example/api", &["line"])),
        "http source `inventory`: `base_url` `https://inv.example/api` must be http://host[:port][/prefix] (terminate TLS in front of the service)"
    );
    assert_eq!(
        err(cfg("http://127.0.0.1:1", &["network.cell"])),
        "http source `inventory`: `entities`: `network.cell`: `NetworkContext` has no field `cell`"
    );
    let missing = HttpAdapter::new(cfg("http://127.0.0.1:1", &["line"]), &|_| None).unwrap_err();
    assert_eq!(
        missing,
        "http source `inventory`: `token_env`: environment variable NOPE is not set"
    );
}

#[tokio::test]
async fn http_adapter_is_compliant() {
    let known = "13800000001";
    let (addr, in_flight) = inventory::start(inventory_service(known, false)).await;
    let (broken_addr, _) = inventory::start(inventory_service(known, true)).await;
    let (from, to) = november();
    let q = |m: &str| UsageQuery {
        msisdn: m.into(),
        operator_id: None,
        from,
        to,
    };
    let probe: Probe = Arc::new(move || {
        let n = in_flight.load(std::sync::atomic::Ordering::SeqCst);
        Box::pin(async move { n })
    });
    let mut s = Subject::new(
        Arc::new(http_adapter(&format!("http://{addr}"), 5_000)),
        known,
        &["line", "network.broadband"],
        "13800000002",
    );
    s.usage = Some(q(known));
    s.slow = Some(complaint_gateway::adapters::FetchRequest {
        msisdn: inventory::SLOW.into(),
        operator_id: None,
    });
    s.endless_usage = Some(q(inventory::ENDLESS));
    s.probe = Some(probe);
    s.unreachable = Some(Arc::new(http_adapter("http://127.0.0.1:1", 1_000)));
    s.broken = Some(Arc::new(http_adapter(&format!("http://{broken_addr}"), 1_000)));
    s.secrets = vec![inventory::TOKEN.into()];
    let report = compliance::run(&s).await;
    println!("{}", report.render());
    report.assert_compliant();
    // The HTTP adapter meets the SHOULDs too: cancellation reaches the service.
    assert!(
        report.results.iter().all(|r| r.outcome == Outcome::Pass),
        "{}",
        report.render()
    );

    // The adapter's own time-out is reported as Timeout, not as a broken backend.
    let short = http_adapter(&format!("http://{addr}"), 100);
    let e = short
        .fetch(complaint_gateway::adapters::FetchRequest {
            msisdn: inventory::SLOW.into(),
            operator_id: None,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(e, complaint_gateway::adapters::AdapterError::Timeout(d) if d == Duration::from_millis(100)),
        "{e:?}"
    );
}

/// A compliance subject for the SQL adapter over the seeded demo billing on SQLite.
async fn sql_subject(dir: &Path) -> Subject {
    let urls = testkit::sqlite_urls(dir);
    testkit::seed(&urls, 20).await.unwrap();
    let settings = PoolSettings {
        max_connections: 4,
        connect_timeout: Duration::from_millis(500),
    };
    let def = || Definition::load(&testkit::adapters_dir().join("billing")).unwrap();
    let adapter = SqlAdapter::new(def(), &urls[0].1, &settings).unwrap();
    let unreachable = SqlAdapter::new(def(), "postgres://cgw:pw-8d2f1a@127.0.0.1:1/billing", &settings).unwrap();
    let broken_dir = dir.join("broken_billing");
    copy_dir(&testkit::adapters_dir().join("billing"), &broken_dir);
    edit(&broken_dir.join("account.sql"), "z.zhye,", "z.zhye_gone,");
    let broken = SqlAdapter::new(Definition::load(&broken_dir).unwrap(), &urls[0].1, &settings).unwrap();
    let (from, to) = november();
    let known = seed::msisdn(1);
    let mut s = Subject::new(
        Arc::new(adapter),
        &known,
        &["account", "plan", "recent_bills"],
        "19800000000",
    );
    s.usage = Some(UsageQuery {
        msisdn: known.clone(),
        operator_id: None,
        from,
        to,
    });
    s.unreachable = Some(Arc::new(unreachable));
    s.broken = Some(Arc::new(broken));
    s.secrets = vec!["pw-8d2f1a".into()];
    s
}

#[tokio::test]
async fn sql_adapter_is_compliant_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let s = sql_subject(dir.path()).await;
    let report = compliance::run(&s).await;
    println!("{}", report.render());
    report.assert_compliant();
    assert_eq!(
        report.outcome("broken backend answer: a Query error"),
        Some(&Outcome::Pass)
    );
    assert_eq!(
        report.outcome("unreachable backend: a retryable error, in time"),
        Some(&Outcome::Pass)
    );
    assert_eq!(report.outcome("errors carry no secrets"), Some(&Outcome::Pass));
    assert_eq!(
        report.outcome("usage stream: records of the range, labelled with the source"),
        Some(&Outcome::Pass)
    );
}

#[tokio::test]
async fn sql_adapter_cancellation_on_postgres() {
    let Some(pg) = testkit::db_url("CGW_TEST_PG_URL") else {
        return;
    };
    let db = TestDatabase::create(&pg, "compliance").await.unwrap();
    testkit::seed(&[(seed::load::System::Billing, db.url.clone())], 10)
        .await
        .unwrap();
    // The endless query would be JIT-compiled before its first row (stop 26's CI failure): see
    // `TestDatabase::without_jit`.
    db.without_jit().await.unwrap();
    let settings = PoolSettings {
        max_connections: 4,
        connect_timeout: Duration::from_millis(1_000),
    };
    let def = Definition::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/compliance_pg_billing"))
        .unwrap();
    let adapter = Arc::new(SqlAdapter::new(def, &db.url, &settings).unwrap());
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let probe_for = |marker: &'static str| -> Probe {
        let pool = pool.clone();
        Arc::new(move || {
            let pool = pool.clone();
            Box::pin(async move {
                let sql = format!(
                    "SELECT COUNT(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%{marker}%' AND query NOT LIKE '%pg_stat_activity%'"
                );
                let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .fetch_one(&pool)
                    .await
                    .unwrap_or(0);
                n as usize
            })
        })
    };
    let (from, to) = november();
    let known = seed::msisdn(1);
    // A read the backend takes 10 s over, cancelled by a time-out.
    let mut slow = Subject::new(adapter.clone(), &known, &["account"], "19800000000");
    slow.slow = Some(complaint_gateway::adapters::FetchRequest {
        msisdn: "19900000001".into(),
        operator_id: None,
    });
    slow.probe = Some(probe_for("cgw-compliance-slow"));
    let report = compliance::run(&slow).await;
    println!("{}", report.render());
    report.assert_compliant();
    // A usage stream far longer than any client reads, dropped after its first record.
    let mut endless = Subject::new(adapter.clone(), &known, &["account"], "19800000000");
    endless.usage = Some(UsageQuery {
        msisdn: known.clone(),
        operator_id: None,
        from,
        to,
    });
    endless.endless_usage = Some(UsageQuery {
        msisdn: "19900000002".into(),
        operator_id: None,
        from,
        to,
    });
    endless.probe = Some(probe_for("cgw-compliance-endless"));
    let report = compliance::run(&endless).await;
    println!("{}", report.render());
    report.assert_compliant();
    assert_eq!(
        report.outcome("a dropped usage stream stops the backend's work"),
        Some(&Outcome::Pass),
        "{}",
        report.render()
    );
    pool.close().await;
    db.drop_db().await;
}

// ------------------------------------------------------------------------------------------------
// The command line

#[tokio::test]
async fn cli_check_exits_non_zero_on_a_problem_and_scaffold_writes_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let urls = testkit::sqlite_urls(dir.path());
    testkit::seed(&urls, 10).await.unwrap();
    let bin = env!("CARGO_BIN_EXE_complaint-gateway");
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut c = std::process::Command::new(bin);
        c.args(args)
            .env_remove("CGW_SOURCE_BILLING_URL")
            .env_remove("CGW_BILLING_URL");
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    let good = testkit::adapters_dir().join("billing");
    let out = run(
        &["adapters", "check", good.to_str().unwrap()],
        &[("CGW_SOURCE_BILLING_URL", urls[0].1.as_str())],
    );
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ran the queries for sampled subscribers (billing: 10): 0 warnings\nchecked 1 source(s) (billing), 7 queries: ok\n"
    );
    let broken = dir.path().join("billing");
    copy_dir(&good, &broken);
    edit(&broken.join("vas.sql"), "d.spdm,", "d.sp_code,");
    let out = run(
        &["adapters", "check", broken.to_str().unwrap()],
        &[("CGW_SOURCE_BILLING_URL", urls[0].1.as_str())],
    );
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with(&format!(
            "error: {}: entities.vas: column `d.sp_code`: the database refused the query:",
            broken.join("vas.sql").display()
        )),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("checked 1 source(s) (billing), 7 queries: 1 problem\n"),
        "{stdout}"
    );

    // Scaffold writes a folder, and refuses to overwrite it without --force.
    let target = dir.path().join("proposed");
    let args = [
        "adapters",
        "scaffold",
        "--url",
        urls[1].1.as_str(),
        "--system",
        "crm2",
        "--out",
        target.to_str().unwrap(),
    ];
    let out = run(&args, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(target.join("adapter.toml").exists() && target.join("customer.sql").exists());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr
            .contains("subscriber-number columns: marketing_prefs.msisdn, service_orders.msisdn, subscriptions.msisdn"),
        "{stderr}"
    );
    let again = run(&args, &[]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists: choose another --out, or pass --force"));
    let out = run(
        &["adapters", "check", target.to_str().unwrap()],
        &[("CGW_SOURCE_CRM2_URL", urls[1].1.as_str())],
    );
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
}
