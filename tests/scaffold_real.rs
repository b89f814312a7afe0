//! `adapters scaffold` on schemas of real open-source systems (tests/fixtures/scaffold_real_*: ASTPP and
//! X2CRM for tuning; osTicket, phpIPAM and Lago measured), loaded into MariaDB and PostgreSQL with
//! generated rows. What must hold whatever the accuracy: every enabled query returns rows for the sampled
//! subscribers, no join rests on a column every table carries, each join states its evidence, live tables
//! key the view, and zone-less times are flagged with what the zone was taken from. The accuracy figures
//! themselves are in BENCHMARKS.adapters.md (`cargo run --example scaffold_accuracy -- --real --measured`);
//! the floors here only catch a regression.
use complaint_gateway::adapters::sql::text::Driver;
use complaint_gateway::testkit;
use complaint_gateway::tools::check::{self, Target};
use complaint_gateway::tools::scaffold::accuracy;

#[tokio::test]
async fn real_schemas_enable_only_queries_that_return_rows_and_join_on_evidence() {
    let (Some(my), Some(pg)) = (
        testkit::db_url("CGW_TEST_MYSQL_URL"),
        testkit::db_url("CGW_TEST_PG_URL"),
    ) else {
        return;
    };
    // (fixture, floor of fields right as measured on 2026-12-03 at the end of the day, joins right at least). Joins are counted
    // among the joins the enabled queries use: a wrong field no longer proposed takes its join with it
    // (X2CRM's `x2_actions`), so that floor went down by one.
    let floors = [
        ("astpp", 0.83, 5),
        ("x2crm", 0.85, 1),
        ("osticket", 0.45, 4),
        ("phpipam", 0.3, 0),
        // Joins 6 → 5 on 2026-12-03: with UUIDs read as text, `payments.customer_id` (a real column) is
        // confirmed by values and payments join customers directly rather than through invoices.
        ("lago", 0.78, 5),
        ("a2billing", 0.63, 7),
        ("dolibarr", 0.31, 8),
        // Added 2026-12-03 before the scaffold was first run on it (blind); its first measurement was 0.48.
        // 0.43 since the later round of 2026-12-03: a part the subscriber has one of no longer takes columns
        // of a table holding many rows per subscriber, so `client_balance.id` (a ledger row, wrong) left the
        // account, whose two right fields are then too few to enable it.
        ("fossbilling", 0.45, 6),
        // Added 2026-12-03 (blind, committed before the first run); first contact 0.09 and 0.26, then the
        // round of that day (joins checked against the subscribers' rows, shared indexed names).
        ("magnusbilling", 0.36, 5),
        ("daloradius", 0.51, 4),
    ];
    for (name, driver, _tuning) in accuracy::REAL {
        let admin = if *driver == Driver::Postgres { &pg } else { &my };
        let db = testkit::TestDatabase::create(admin, &format!("real_{name}"))
            .await
            .unwrap();
        let run = accuracy::measure_real(name, &db.url, *_tuning).await;
        // The folder as written passes `adapters check` against the database it was scaffolded from:
        // every enabled query prepares and decodes rows, every mapping converts (a bill's date read as
        // its cycle included).
        let checked = match &run {
            Ok(run) => {
                let out = tempfile::tempdir().unwrap();
                run.proposal.write(out.path()).unwrap();
                let r = check::run(&[Target {
                    dir: out.path().to_path_buf(),
                    url: Ok(db.url.clone()),
                }])
                .await;
                Some((r.ok(), r.render()))
            }
            Err(_) => None,
        };
        db.drop_db().await;
        let run = run.unwrap();
        let (ok, rendered) = checked.unwrap();
        assert!(ok, "{name}: adapters check failed:\n{rendered}");
        let p = &run.proposal;
        let report = run.render();
        for e in p.entities.iter().filter(|e| e.enabled) {
            let (hits, tried) = e.sampled.unwrap_or((0, 0));
            assert!(
                hits > 0 && tried > 0,
                "{name}: {} enabled without rows ({hits}/{tried})",
                e.name
            );
            let sql = e.sql.as_deref().unwrap_or_default();
            for word in [
                "organization_id",
                "reseller_id",
                "created_at",
                "updated_at",
                "billing_entity_id",
            ] {
                let on_lines = sql
                    .lines()
                    .filter(|l| l.contains(" JOIN "))
                    .collect::<Vec<_>>()
                    .join("\n");
                assert!(!on_lines.contains(word), "{name}: joins on `{word}`:\n{sql}");
            }
            // One evidence comment per join.
            let joins = sql.lines().filter(|l| l.contains("JOIN ")).count();
            let evidence = sql.lines().filter(|l| l.starts_with("-- ") && l.contains('(')).count();
            assert_eq!(joins, evidence, "{name}: {sql}");
        }
        for e in p
            .entities
            .iter()
            .filter(|e| !e.enabled && e.sampled.is_some_and(|(h, n)| h == 0 && n > 0))
        {
            assert!(
                e.note.as_deref().unwrap_or_default().contains("returned no rows"),
                "{name}: {:?}",
                e.note
            );
        }
        if run.enabled > 0 {
            assert!(run.number_right, "{name}: {report}");
        }
        let (_, floor, joins) = floors.iter().find(|f| f.0 == *name).unwrap();
        assert!(run.accuracy.share() >= *floor, "{name}: {report}");
        assert!(run.joins_right.len() >= *joins, "{name}: {report}");
        // Joins a person's mapping does not use: none where none was found before (osTicket, Lago); on the
        // others they are plausible links a person did not need (listed in BENCHMARKS.adapters.md).
        if *name == "osticket" {
            assert!(run.joins_other.is_empty(), "{name}: {report}");
        }
        if *name == "lago" {
            // The one other join is the payments' own `customer_id` column (the person went through invoices).
            assert_eq!(
                run.joins_other,
                vec!["payments.customer_id = customers.id".to_string()],
                "{report}"
            );
        }

        if *name == "lago" {
            // Zone-less `timestamp without time zone` columns, rows that record their zone ('UTC'): the
            // offset is taken as UTC, and flagged for a person to confirm.
            assert!(p.time_zone.needs_review());
            assert_eq!(p.time_zone.offset.as_deref(), Some("+00:00"));
            let summary = p.summary();
            assert!(summary.contains("needs review:"), "{summary}");
            assert!(
                summary.contains("taken as +00:00, from: rows record their own zone in"),
                "{summary}"
            );
            let toml = p.adapter_toml();
            assert!(toml.contains("## TIME ZONE TO CONFIRM: zone-less times ("), "{toml}");
            assert!(toml.contains("utc_offset = \"+00:00\"\n"), "{toml}");
            // Declared foreign keys, never the tenant: invoices join customers on customer_id.
            assert!(
                run.joins_right
                    .contains(&"invoices.customer_id = customers.id".to_string()),
                "{report}"
            );
        }
    }
}
