//! StreamUsage over the seeded SQLite billing backend.
use complaint_gateway::proto::complaint::v1::*;
use complaint_gateway::testkit::{self, req};
use complaint_gateway::tools::seed::{self, Situation};
use tonic::Code;

fn ts(s: &str) -> prost_types::Timestamp {
    let t = chrono::DateTime::parse_from_rfc3339(s).unwrap();
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    }
}

#[tokio::test]
async fn streams_the_records_in_range_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let urls = testkit::sqlite_urls(dir.path());
    testkit::seed(&urls, 10).await.unwrap();
    let srv = testkit::spawn(testkit::config(&urls)).await.unwrap();
    let mut c = testkit::data_client(&srv).await.unwrap();
    let i = Situation::RoamingNoPack.first_index();
    let (from, to) = ("2026-10-15T00:00:00+08:00", "2026-11-29T00:00:00+08:00");

    // The records the billing backend holds for that range (the trip to Japan last cycle, then the
    // current cycle), counted directly.
    let pool = sqlx::SqlitePool::connect(&urls[0].1).await.unwrap();
    let expected: Vec<(String, String)> = sqlx::query_as(
        "SELECT x.xdbh, x.gjdm FROM xd_jl x JOIN yh_zl y ON y.yhbh = x.yhbh WHERE y.sjhm = ? AND x.kssj >= ? AND x.kssj < ? ORDER BY x.kssj",
    )
    .bind(seed::msisdn(i))
    .bind("20261015000000")
    .bind("20261129000000")
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(expected.len() >= 5, "the fixture has records in range");

    let mut stream = c
        .stream_usage(req(StreamUsageRequest {
            msisdn: seed::msisdn(i),
            from: Some(ts(from)),
            to: Some(ts(to)),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    let mut got = Vec::new();
    while let Some(m) = stream.message().await.unwrap() {
        got.push(m.record.unwrap());
    }
    let ids: Vec<(String, String)> = got
        .iter()
        .map(|r| (r.record_id.clone(), r.country_code.clone()))
        .collect();
    assert_eq!(ids, expected);
    assert!(got
        .windows(2)
        .all(|w| w[0].started_at.unwrap().seconds <= w[1].started_at.unwrap().seconds));
    assert!(got
        .iter()
        .all(|r| r.source == "billing" && r.kind() != UsageKind::Unspecified));
    assert!(
        got.iter().any(|r| r.country_code == "JP"),
        "roaming records carry their country"
    );

    // Only data records.
    let mut stream = c
        .stream_usage(req(StreamUsageRequest {
            msisdn: seed::msisdn(i),
            from: Some(ts(from)),
            to: Some(ts(to)),
            kinds: vec![UsageKind::Data as i32],
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    let mut n = 0;
    while let Some(m) = stream.message().await.unwrap() {
        assert_eq!(m.record.unwrap().kind(), UsageKind::Data);
        n += 1;
    }
    assert!(n > 0 && n < got.len());
}

#[tokio::test]
async fn bad_ranges_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let urls = testkit::sqlite_urls(dir.path());
    testkit::seed(&urls, 2).await.unwrap();
    let srv = testkit::spawn(testkit::config(&urls)).await.unwrap();
    let mut c = testkit::data_client(&srv).await.unwrap();
    let base = StreamUsageRequest {
        msisdn: seed::msisdn(1),
        ..Default::default()
    };

    let e = c
        .stream_usage(req(StreamUsageRequest {
            to: Some(ts("2026-11-02T00:00:00Z")),
            ..base.clone()
        }))
        .await
        .unwrap_err();
    assert_eq!((e.code(), e.message()), (Code::InvalidArgument, "from: required"));

    let e = c
        .stream_usage(req(StreamUsageRequest {
            from: Some(ts("2026-11-02T00:00:00Z")),
            to: Some(ts("2026-11-01T00:00:00Z")),
            ..base.clone()
        }))
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (Code::InvalidArgument, "to: must be after `from`")
    );

    let e = c
        .stream_usage(req(StreamUsageRequest {
            from: Some(ts("2024-01-01T00:00:00Z")),
            to: Some(ts("2026-01-01T00:00:00Z")),
            ..base.clone()
        }))
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (Code::InvalidArgument, "to: the range may span at most 366 days")
    );

    let e = c
        .stream_usage(req(StreamUsageRequest {
            from: Some(ts("2026-11-01T00:00:00Z")),
            to: Some(ts("2026-11-02T00:00:00Z")),
            kinds: vec![42],
            ..base
        }))
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (Code::InvalidArgument, "kinds[0]: 42 is not a usage kind")
    );
}
