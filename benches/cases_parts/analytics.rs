//! Part 3 of the cases bench: `AnalyticsService` GetVolumes and ListHotspots over the complaints part 2
//! seeded into PostgreSQL, through gRPC as a manager of the four cities calls them (JWT, region scope,
//! audit), each against a `COUNT(*)` of the complaints created in the same range and regions, measured in
//! the same run, one query at a time, interleaved. The aggregate tables were filled by the store's bulk
//! write path (`CaseStore::insert_new` → `cases::facts::insert_new`, the same facts and count keys as
//! every case change); the bench checks that the volumes add up to the count before it trusts a figure.
use complaint_gateway::analytics::hotspots::HotspotQuery;
use complaint_gateway::analytics::volumes::Dimension;
use complaint_gateway::analytics::{AnalyticsStore, Grain, Scope};
use complaint_gateway::cases::facts::{day_bucket, DAY_US};
use complaint_gateway::cases::ops::SubscriberFacts;
use complaint_gateway::identity::Role;
use complaint_gateway::proto::complaint::v1::analytics_service_client::AnalyticsServiceClient;
use complaint_gateway::proto::complaint::v1::{
    AnalyticsFilter, Dimension as PbDimension, GetVolumesRequest, Granularity, ListHotspotsRequest,
};
use complaint_gateway::store::Store;
use complaint_gateway::testkit::{self, percentile_ms};
use complaint_gateway::tools::seed;
use rand::{Rng, SeedableRng};
use std::time::Instant;
use tonic::transport::Channel;

/// Complaints of the injected incident (the last ones seeded): one cell, one category, two days.
pub const INCIDENT: u64 = 2_000;
pub const INCIDENT_CATEGORY: &str = "network.mobile_coverage";
pub const INCIDENT_CELL: &str = "0571-C0007";

/// Cells per city: every complaint carries its subscriber's serving cell, as intake reads it from the view.
const CELLS_PER_CITY: u64 = 500;
const PAYMENT_CHANNELS: [&str; 5] = ["alipay", "wechat", "unionpay", "counter", "bank_withhold"];

/// What intake would read from subscriber `k`'s view: the serving cell, a VAS provider for a third of
/// them, the channel of the latest payment.
pub fn subscriber_facts(k: u64, region: &str, incident: bool) -> SubscriberFacts {
    let cell = if incident {
        INCIDENT_CELL.to_string()
    } else {
        format!("{region}-C{:04}", (k * 7_919) % CELLS_PER_CITY)
    };
    SubscriberFacts {
        region: region.into(),
        cell_id: cell,
        vas_provider: if k.is_multiple_of(3) {
            format!("SP{:02}", k % 12)
        } else {
            String::new()
        },
        payment_channel: PAYMENT_CHANNELS[(k % 5) as usize].into(),
        ..Default::default()
    }
}

fn ts(us: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: us.div_euclid(1_000_000),
        nanos: 0,
    })
}

/// Latencies of one kind of query (µs, sorted when summarised).
#[derive(Default)]
struct Lat(Vec<u32>);

impl Lat {
    fn time(&mut self, t0: Instant) {
        self.0.push(t0.elapsed().as_micros().min(u32::MAX as u128) as u32);
    }

    fn p(&mut self) -> (f64, f64) {
        self.0.sort_unstable();
        (percentile_ms(&self.0, 0.5), percentile_ms(&self.0, 0.99))
    }
}

/// Runs the analytics queries `queries` times each against `server_url` (a gateway on the seeded store)
/// and returns the Markdown section with its figures. `now_us` is the seeding's end.
pub async fn measure(store: &Store, server_url: String, queries: u64, now_us: i64) -> anyhow::Result<String> {
    let cities: Vec<&str> = seed::CITIES.iter().map(|c| c.0).collect();
    let token = testkit::token("bench-manager", &[Role::Manager], &cities);
    let ch = Channel::from_shared(server_url)?.connect().await?;
    let mut client = AnalyticsServiceClient::new(ch).max_decoding_message_size(64 << 20);
    let st = AnalyticsStore::new(store.clone());
    let regions = Some(cities.iter().map(|c| c.to_string()).collect::<Vec<_>>());
    let scope = |from_us, to_us| Scope {
        from_us,
        to_us,
        regions: regions.clone(),
        category: None,
    };
    let filter = || {
        Some(AnalyticsFilter {
            regions: vec![],
            category: String::new(),
        })
    };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(13);
    let today_end = day_bucket(now_us) + DAY_US;
    let (mut vd, mut vd_in, mut vd_count) = (Lat::default(), Lat::default(), Lat::default());
    let (mut vh, mut vh_count) = (Lat::default(), Lat::default());
    let (mut hs, mut hs_in, mut hs_count) = (Lat::default(), Lat::default(), Lat::default());
    let (mut found, mut incident_found, mut vd_rows, mut vh_rows) = (0usize, false, 0i64, 0i64);
    let started = Instant::now();
    for q in 0..queries {
        // Ranges end at a Beijing midnight within the last 14 days (the first query: today's end).
        let back = if q == 0 { 0 } else { rng.random_range(0..14i64) };
        let end = today_end - back * DAY_US;

        // 1. Volumes per day by category over 30 days (and the previous 30: the change).
        let (from, to) = (end - 30 * DAY_US, end);
        let t0 = Instant::now();
        let v = client
            .get_volumes(testkit::with_token(
                GetVolumesRequest {
                    from: ts(from),
                    to: ts(to),
                    granularity: Granularity::Day as i32,
                    dimension: PbDimension::Category as i32,
                    filter: filter(),
                    top: 20,
                },
                &token,
            ))
            .await?
            .into_inner();
        vd.time(t0);
        let t0 = Instant::now();
        st.volumes(&scope(from, to), Grain::Day, Dimension::Category, 20)
            .await
            .map_err(anyhow::Error::msg)?;
        vd_in.time(t0);
        let t0 = Instant::now();
        let n = st.count_created(&scope(from, to)).await.map_err(anyhow::Error::msg)?;
        vd_count.time(t0);
        anyhow::ensure!(
            v.total == n,
            "volumes over 30 days say {} complaints, a count of the complaints says {n}: the aggregates are off",
            v.total
        );
        vd_rows += n;

        // 2. Volumes per hour by cell over 7 days (2,000 cells: the largest dimension).
        let (from, to) = (end - 7 * DAY_US, end);
        let t0 = Instant::now();
        let v = client
            .get_volumes(testkit::with_token(
                GetVolumesRequest {
                    from: ts(from),
                    to: ts(to),
                    granularity: Granularity::Hour as i32,
                    dimension: PbDimension::Cell as i32,
                    filter: filter(),
                    top: 20,
                },
                &token,
            ))
            .await?
            .into_inner();
        vh.time(t0);
        let t0 = Instant::now();
        let n = st.count_created(&scope(from, to)).await.map_err(anyhow::Error::msg)?;
        vh_count.time(t0);
        anyhow::ensure!(
            v.total == n,
            "volumes by cell over 7 days say {} complaints, a count says {n}",
            v.total
        );
        vh_rows += n;

        // 3. Hotspots per day over 7 days (28 days of baseline before them, the defaults).
        let t0 = Instant::now();
        let h = client
            .list_hotspots(testkit::with_token(
                ListHotspotsRequest {
                    from: ts(from),
                    to: ts(to),
                    granularity: Granularity::Day as i32,
                    filter: filter(),
                    ..Default::default()
                },
                &token,
            ))
            .await?
            .into_inner();
        hs.time(t0);
        let t0 = Instant::now();
        st.hotspots(&scope(from, to), &HotspotQuery::defaults(Grain::Day))
            .await
            .map_err(anyhow::Error::msg)?;
        hs_in.time(t0);
        let t0 = Instant::now();
        st.count_created(&scope(from, to)).await.map_err(anyhow::Error::msg)?;
        hs_count.time(t0);
        found += h.hotspots.len();
        if q == 0 {
            incident_found = h.hotspots.iter().any(|x| {
                x.series_value == INCIDENT_CELL
                    || (x.series_value == INCIDENT_CATEGORY
                        && x.contributors.first().is_some_and(|c| c.value == INCIDENT_CELL))
            });
            anyhow::ensure!(
                incident_found,
                "the seeded incident (cell {INCIDENT_CELL}, {INCIDENT_CATEGORY}) is not among the hotspots: {:?}",
                h.hotspots
                    .iter()
                    .map(|x| format!("{}={} in {:?}", x.series_dimension, x.series_value, x.region))
                    .collect::<Vec<_>>()
            );
        }
        if q % 10 == 9 {
            eprint!("\r  analytics queries {}/{queries}   ", q + 1);
        }
    }
    eprintln!();
    let took = started.elapsed().as_secs_f64();
    let (vd50, vd99) = vd.p();
    let (vdi50, vdi99) = vd_in.p();
    let (vdc50, vdc99) = vd_count.p();
    let (vh50, vh99) = vh.p();
    let (vhc50, vhc99) = vh_count.p();
    let (hs50, hs99) = hs.p();
    let (hsi50, hsi99) = hs_in.p();
    let (hsc50, hsc99) = hs_count.p();
    let count_rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM analytics_counts")
        .fetch_one(store.pool())
        .await?;
    let mut md = String::new();
    md.push_str(&format!(
        "{queries} rounds, one query at a time, {took:.0} s in all. Each round: the three analytic calls over gRPC \
         as a manager of the four cities (JWT, region scope, audited into the same PostgreSQL store), the same \
         volumes and hotspots computed in the process (no gRPC, identity or audit), and for each range a \
         `COUNT(*)` of the complaints created in it in the four cities (`analytics_facts`, indexed by creation \
         time): the baseline. Ranges end at a Beijing midnight 0–13 days back (the first at today's end). \
         `analytics_counts` held {} rows. Every round checked that the volumes' total equals the count (mean \
         complaints per range: {:.0} over 30 days, {:.0} over 7), and the first round that the seeded incident \
         ({INCIDENT} complaints, cell {INCIDENT_CELL}, {INCIDENT_CATEGORY}, last two days) is a hotspot: {}; \
         {:.1} hotspots per call on average.\n\n",
        count_rows,
        vd_rows as f64 / queries as f64,
        vh_rows as f64 / queries as f64,
        if incident_found { "found" } else { "not found" },
        found as f64 / queries as f64,
    ));
    md.push_str("| query | p50 ms | p99 ms | baseline: count over the range, p50 / p99 ms | p99 ÷ count p99 |\n");
    md.push_str("| --- | --- | --- | --- | --- |\n");
    md.push_str(&format!(
        "| GetVolumes, 30 days per day by category (gRPC) | {vd50:.2} | {vd99:.2} | {vdc50:.2} / {vdc99:.2} | **{:.2}** |\n",
        vd99 / vdc99
    ));
    md.push_str(&format!(
        "| — the same in the process | {vdi50:.2} | {vdi99:.2} | | {:.2} |\n",
        vdi99 / vdc99
    ));
    md.push_str(&format!(
        "| GetVolumes, 7 days per hour by cell, top 20 (gRPC) | {vh50:.2} | {vh99:.2} | {vhc50:.2} / {vhc99:.2} | **{:.2}** |\n",
        vh99 / vhc99
    ));
    md.push_str(&format!(
        "| ListHotspots, 7 days per day, 28 days of baseline (gRPC) | {hs50:.2} | {hs99:.2} | {hsc50:.2} / {hsc99:.2} | **{:.2}** |\n",
        hs99 / hsc99
    ));
    md.push_str(&format!(
        "| — the same in the process | {hsi50:.2} | {hsi99:.2} | | {:.2} |\n",
        hsi99 / hsc99
    ));
    Ok(md)
}
