//! Provenance over a billing system the scenarios were not written for: `tests/fixtures/lacking/` serves
//! the demo data through a billing adapter that keeps no consent records and no usage summaries, and a
//! resource adapter without outages. No cause is concluded from the fields they lack: the steps that need
//! them cannot decide, naming the field and the system to check it in, and the trace says "not provided
//! by any source". `scenarios check` warns about the causes that depend on them.
use chrono::DateTime;
use complaint_gateway::assets::Folder;
use complaint_gateway::proto::complaint::v1::diagnosis_service_client::DiagnosisServiceClient;
use complaint_gateway::proto::complaint::v1::{DiagnoseRequest, DiagnoseResponse, DiagnosisOutcome};
use complaint_gateway::testkit;
use complaint_gateway::tools::cli::scenarios::{provenance_warnings, sources_for_check};
use complaint_gateway::tools::seed::{self, load, Situation, SITUATIONS};
use std::path::{Path, PathBuf};

/// The view fields the lacking adapters do not provide.
const ABSENT: [&str; 3] = ["vas_subscriptions.consent_record", "usage", "network.outages"];

fn lacking() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lacking")
}

fn touches_absent(path: &str) -> bool {
    let p = path.trim_start_matches("view.");
    ABSENT.iter().any(|a| p == *a || p.starts_with(&format!("{a}.")))
}

#[test]
fn scenarios_check_warns_where_a_cause_depends_on_a_field_no_source_provides() {
    let shipped = Folder::Disk(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios"));
    // The shipped adapters provide everything the shipped scenarios' causes read.
    let sources = sources_for_check(None, None).unwrap();
    assert_eq!(provenance_warnings(&shipped, &sources).unwrap(), Vec::<String>::new());
    let sources = sources_for_check(None, Some(&lacking())).unwrap();
    let names: Vec<&str> = sources.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(names, ["billing", "crm", "resource"]);
    let warnings = provenance_warnings(&shipped, &sources).unwrap();
    let has = |scenario: &str, cause: &str, field: &str| {
        warnings.iter().any(|w| {
            w.contains(&format!("`{scenario}`, cause {cause}:"))
                && w.contains(&format!("view.{field}, not provided by any source"))
        })
    };
    assert!(
        has("vas.no_consent", "VAS_NO_CONSENT", "vas_subscriptions.consent_record"),
        "{warnings:#?}"
    );
    assert!(has("data.overage", "DATA_BEYOND_PLAN", "usage"), "{warnings:#?}");
    assert!(
        has("coverage.cell_outage", "CELL_OUTAGE", "network.outages"),
        "{warnings:#?}"
    );
    assert!(warnings.iter().all(|w| w.starts_with("warning: ")));
    assert!(warnings
        .iter()
        .all(|w| ABSENT.iter().any(|a| w.contains(&format!("view.{a},")))));
}

#[tokio::test]
async fn no_cause_is_concluded_from_fields_the_sources_do_not_provide() {
    let dir = tempfile::tempdir().unwrap();
    let urls = testkit::sqlite_urls(dir.path());
    testkit::seed(&urls, 40).await.unwrap();
    let mut cfg = testkit::config(&urls);
    for s in &mut cfg.sources {
        let system = urls
            .iter()
            .find(|(_, u)| Some(u) == s.url.as_ref())
            .map(|(sys, _)| *sys)
            .unwrap();
        if matches!(system, load::System::Billing | load::System::Resource) {
            s.definition = lacking().join(system.name());
        }
    }
    cfg.diagnosis.now = Some(DateTime::parse_from_rfc3339("2026-11-28T10:00:00+08:00").unwrap());
    cfg.diagnosis.reload_interval_ms = 0;
    let server = testkit::spawn(cfg).await.unwrap();
    let mut c = DiagnosisServiceClient::connect(server.url()).await.unwrap();
    let diagnose = |msisdn: String, category: &str| DiagnoseRequest {
        msisdn,
        category: category.into(),
        text: "投诉".into(),
        dry_run: true,
        ..Default::default()
    };

    let mut causes = 0;
    let mut undecided = 0;
    for s in SITUATIONS {
        let msisdn = seed::msisdn(s.first_index());
        for category in complaint_gateway::classify::category_codes() {
            let r: DiagnoseResponse = c
                .diagnose(testkit::req(diagnose(msisdn.clone(), category)))
                .await
                .unwrap_or_else(|e| panic!("{s:?} {category}: {e:?}"))
                .into_inner();
            let label = format!("{} {category}", s.name());
            match r.outcome() {
                DiagnosisOutcome::Cause => {
                    causes += 1;
                    for t in &r.trace {
                        for read in &t.reads {
                            assert!(!touches_absent(&read.path), "{label}: cause from {}", read.path);
                        }
                        assert!(
                            t.evidence.iter().all(|e| e.absent.is_empty()),
                            "{label}: {:?}",
                            t.evidence
                        );
                    }
                }
                DiagnosisOutcome::CannotDecide => {
                    undecided += 1;
                    assert!(r.cause.is_none() && r.actions.is_empty(), "{label}");
                    assert!(!r.missing.is_empty(), "{label}");
                    for m in &r.missing {
                        assert!(ABSENT.contains(&m.field.as_str()), "{label}: {m:?}");
                        assert_eq!(m.reason, "not provided by any source", "{label}");
                        assert!(
                            m.check.starts_with(&format!("cannot decide: check {}", m.field)),
                            "{label}"
                        );
                    }
                }
                _ => {}
            }
        }
    }
    assert!(
        causes >= 30,
        "causes that do not need the missing data still stand: {causes}"
    );
    assert!(undecided >= 5, "{undecided}");

    // The situations the missing data is about: each says what to check, and where.
    let expect = [
        (
            Situation::VasNoConsent,
            "vas.unsolicited_subscription",
            "vas_subscriptions.consent_record",
            "billing",
        ),
        (Situation::RoamingNoPack, "roaming.charges", "usage", "billing"),
        (Situation::DataOverage, "billing.data_overage", "usage", "billing"),
        (
            Situation::CellOutage,
            "network.mobile_coverage",
            "network.outages",
            "resource",
        ),
    ];
    for (s, category, field, system) in expect {
        let r = c
            .diagnose(testkit::req(diagnose(seed::msisdn(s.first_index()), category)))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.outcome(), DiagnosisOutcome::CannotDecide, "{s:?}: {r:#?}");
        let m = r
            .missing
            .iter()
            .find(|m| m.field == field)
            .unwrap_or_else(|| panic!("{s:?}: {:?}", r.missing));
        assert_eq!(m.systems, [system], "{s:?}");
        assert_eq!(
            m.check,
            format!("cannot decide: check {field} in system {system} (not provided by any source)")
        );
        let last = r.trace.last().unwrap();
        assert_eq!(last.outcome, "cannot decide", "{s:?}");
        assert!(
            last.evidence
                .iter()
                .any(|e| e.field == field && e.absent == "not provided by any source" && !e.supplied),
            "{s:?}: {:?}",
            last.evidence
        );
    }
    server.stop().await;
}
