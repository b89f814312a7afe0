//! Analytics on the demo's seeded history: each planted incident (a cell outage, a VAS provider billing
//! without consent, a payment channel failing) is found as a hotspot whose key contributor is the planted
//! place, and its complaints are grouped into a major issue of that place and category; volumes add up to
//! the complaints; the report renders with its charts.
use complaint_gateway::adapters::registry::Registry;
use complaint_gateway::analytics::hotspots::{share_of, Contributor, HotspotQuery};
use complaint_gateway::analytics::volumes::Dimension;
use complaint_gateway::analytics::{AnalyticsStore, Grain, Scope};
use complaint_gateway::cases::rules;
use complaint_gateway::cases::store::CaseStore;
use complaint_gateway::diagnosis::Engine;
use complaint_gateway::store::Store;
use complaint_gateway::testkit;
use complaint_gateway::tools::history::{generate, HistoryOptions};
use complaint_gateway::view::ViewReader;
use std::sync::atomic::AtomicBool;

const DAY: i64 = 86_400_000_000;

#[tokio::test]
async fn each_seeded_incident_is_a_hotspot_with_its_place_as_key_contributor_and_a_major_issue() {
    let dir = tempfile::tempdir().unwrap();
    let urls = testkit::sqlite_urls(dir.path());
    let subscribers = 800;
    testkit::seed(&urls, subscribers).await.unwrap();
    let cfg = testkit::config(&urls);
    let registry = Registry::from_config(&cfg, &|k| std::env::var(k).ok()).unwrap();
    let reader = ViewReader::from_config(registry, &cfg);
    let set = rules::load(&rules::embedded()).unwrap();
    let clock = chrono::DateTime::parse_from_rfc3339("2026-11-28T10:00:00+08:00").unwrap();
    let engine = Engine::load(complaint_gateway::diagnosis::default_dir(), Some(clock)).unwrap();
    let end = clock.timestamp_micros();
    let opts = HistoryOptions {
        complaints: 5_000,
        days: 90,
        seed: 7,
        end_us: end,
        subscribers,
    };
    let store = Store::connect(&format!("sqlite://{}", dir.path().join("g.db").display()), 2)
        .await
        .unwrap();
    let report = generate(
        &CaseStore::new(store.clone()),
        &set,
        &engine,
        &reader,
        &opts,
        &AtomicBool::new(false),
        &|_, _| {},
    )
    .await
    .unwrap();
    assert_eq!(report.planted.len(), 3, "{:?}", report.incidents);
    let a = AnalyticsStore::new(store.clone());
    let scope = Scope {
        from_us: end - 60 * DAY,
        to_us: end,
        ..Default::default()
    };
    // Volumes count every complaint once, whatever the dimension.
    let all = Scope {
        from_us: end - 90 * DAY - DAY,
        to_us: end + DAY,
        ..Default::default()
    };
    let by_region = a.volumes(&all, Grain::Day, Dimension::Region, 50).await.unwrap();
    let by_category = a.volumes(&all, Grain::Week, Dimension::Category, 50).await.unwrap();
    assert_eq!(by_region.total, report.complaints as i64);
    assert_eq!(by_category.total, report.complaints as i64);
    assert_eq!(a.count_created(&all).await.unwrap(), report.complaints as i64);

    let hotspots = a.hotspots(&scope, &HotspotQuery::defaults(Grain::Day)).await.unwrap();
    for h in &hotspots {
        eprintln!(
            "{} {}@{} {}..{} obs {} exp {:.1} {} key {:?} issue {}",
            h.dimension,
            h.value,
            h.region,
            complaint_gateway::analytics::report::local(h.start_us),
            complaint_gateway::analytics::report::local(h.end_us),
            h.observed,
            h.expected,
            h.method,
            h.key().map(|k| (&k.dimension, &k.value, k.share_of_excess)),
            h.major_issue_id
        );
    }
    // Each contributor accounts for a part of its hotspot's excess: more than 5%, at most all of it.
    for h in &hotspots {
        for k in &h.contributors {
            assert!(
                k.share_of_excess > 0.05 && k.share_of_excess <= 1.0,
                "{} {}: {k:?} in a hotspot of excess {:.1}",
                h.dimension,
                h.value,
                h.excess()
            );
            assert_eq!(k.share_of_excess, share_of(k.excess(), h.excess()));
        }
        // Ordered by their own excess.
        assert!(h
            .contributors
            .windows(2)
            .all(|w| preference_ok(&w[0], &w[1], h.excess())));
    }
    let issues = a.major_issues(&scope).await.unwrap();
    for p in &report.planted {
        let found = hotspots.iter().filter(|h| {
            h.start_us < p.to_us
                && p.from_us < h.end_us
                && h.key()
                    .is_some_and(|k| k.dimension == p.dimension && k.value == p.value)
        });
        let found = found.min_by_key(|h| h.start_us);
        let h = found.unwrap_or_else(|| panic!("no hotspot with key contributor {p:?}"));
        assert!(h.start_us <= p.from_us + DAY, "found late: {h:?} for {p:?}");
        assert!(!h.samples.is_empty());
        let issue = issues
            .iter()
            .find(|i| i.place_dim == p.dimension && i.place_value == p.value && i.category == p.category)
            .unwrap_or_else(|| panic!("no major issue for {p:?}: {issues:?}"));
        assert!(
            issue.first_at_us < p.to_us && p.from_us <= issue.last_at_us,
            "{issue:?} {p:?}"
        );
        assert!(issue.complaints >= 10, "{issue:?}");
        assert_eq!(h.major_issue_id, issue.issue_id);
        let (_, children) = a.major_issue(&issue.issue_id, &None, 1000).await.unwrap().unwrap();
        assert_eq!(children.len() as i64, issue.complaints);
    }
    // At most one hotspot beyond the incidents in 60 days of quiet background per… the whole scope.
    let explained = |h: &&complaint_gateway::analytics::hotspots::Hotspot| {
        report
            .planted
            .iter()
            .any(|p| h.start_us < p.to_us + DAY && p.from_us < h.end_us)
    };
    let others: Vec<_> = hotspots.iter().filter(|h| !explained(h)).collect();
    assert!(others.len() <= 3, "{} hotspots outside the incidents", others.len());

    // Detection starts after the warm-up: scanned from its very start, the history (ordinary counts from the
    // range's first day, nothing before) has no hotspot in its first 7 days, and each incident is still found.
    let first: i64 = sqlx::query_scalar("SELECT MIN(created_at_us) FROM complaint_cases")
        .fetch_one(store.pool())
        .await
        .unwrap();
    let whole = Scope {
        from_us: first - first.rem_euclid(DAY),
        to_us: end,
        ..Default::default()
    };
    let warm_up_end = whole.from_us + 7 * DAY + DAY;
    let q = HotspotQuery::defaults(Grain::Day);
    assert_eq!(q.params.min_history, 7);
    let scan = a.hotspot_scan(&whole, &q).await.unwrap();
    let early: Vec<_> = scan.hotspots.iter().filter(|h| h.start_us < warm_up_end).collect();
    assert!(early.is_empty(), "hotspots during the warm-up: {early:?}");
    assert!(
        scan.warming_up > 0 && scan.warming_up <= scan.series,
        "{} of {}",
        scan.warming_up,
        scan.series
    );
    for p in &report.planted {
        assert!(
            scan.hotspots
                .iter()
                .any(|h| h.start_us < p.to_us && p.from_us < h.end_us && h.key().is_some_and(|k| k.value == p.value)),
            "{p:?} not found after the warm-up"
        );
    }
    // Without it, the first days' ordinary counts, judged against the floor, would be hotspots.
    let mut cold = q;
    cold.params.min_history = 0;
    let cold_scan = a.hotspot_scan(&whole, &cold).await.unwrap();
    assert!(
        cold_scan.hotspots.iter().any(|h| h.start_us < warm_up_end),
        "the test's history should look like incidents without a warm-up"
    );

    let html = complaint_gateway::analytics::report::render(&complaint_gateway::analytics::report::ReportData {
        from_us: scope.from_us,
        to_us: scope.to_us,
        regions: None,
        volumes: a.volumes(&scope, Grain::Day, Dimension::Category, 8).await.unwrap(),
        regions_volumes: a.volumes(&scope, Grain::Day, Dimension::Region, 8).await.unwrap(),
        hotspots: hotspots.clone(),
        hotspots_warming_up: scan.warming_up,
        top_keywords: Vec::new(),
        rising_keywords: Vec::new(),
        causes: a.causes(&scope, false).await.unwrap(),
        kpis: a
            .kpis(&scope, complaint_gateway::analytics::kpi::Grouping::Overall, end)
            .await
            .unwrap()
            .remove(0)
            .figures,
        issues,
    });
    assert!(html.matches("<svg").count() >= 5, "charts missing");
    assert!(html.contains(&report.planted[0].value));
    assert!(html.contains("Detection starts after a warm-up"));
    assert!(html.contains("accounts for"));
}

/// `a` comes before `b` among a hotspot's contributors: by excess, except that within 20 points of the
/// largest a place may come first.
fn preference_ok(a: &Contributor, b: &Contributor, excess: f64) -> bool {
    a.excess() >= b.excess() || b.excess() - a.excess() <= 0.20 * excess + 1e-9
}
