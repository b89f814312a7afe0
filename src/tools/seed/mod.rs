//! Deterministic demo data for the three demo backends (billing, CRM, resource).
//!
//! Subscriber `i`'s data depends only on `i`, the seed and the as-of date, never on how many subscribers are
//! generated, so the same number means the same person at 1,000 or 1,000,000 subscribers. One subscriber in
//! every [`CYCLE`] is ordinary; the others carry one of the [`Situation`]s complaints are about.
mod billing;
pub mod load;
mod situation;
mod tables;

pub use billing::{wrong_number, DATA_FEN_PER_GB, IDD_CODE, IDD_FEN_PER_MIN, SMS_FEN, VOICE_FEN_PER_MIN};
pub use situation::{Situation, CYCLE, SITUATIONS};
use tables::*;
pub use tables::{Plan, CITIES, GRIDS_PER_CITY, OUTAGE_EVERY, PLANS};

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A value to insert; bound per driver by [`load`].
#[derive(Debug, Clone, PartialEq)]
pub enum SeedValue {
    Text(Option<String>),
    Int(i64),
    /// Money in fen; stored as DECIMAL yuan.
    Money(i64),
    Ts(Option<NaiveDateTime>),
    Bool(bool),
}

use SeedValue as V;

fn t(s: impl Into<String>) -> V {
    V::Text(Some(s.into()))
}
fn tn(s: Option<String>) -> V {
    V::Text(s)
}
fn ts(d: NaiveDateTime) -> V {
    V::Ts(Some(d))
}
/// Billing keeps times as VARCHAR(14).
fn bt(d: NaiveDateTime) -> V {
    t(d.format("%Y%m%d%H%M%S").to_string())
}

/// Options of one generation run.
#[derive(Debug, Clone)]
pub struct SeedOptions {
    pub subscribers: u64,
    pub seed: u64,
    /// The day the data is "as of": bills up to the previous month, the current cycle in progress.
    pub as_of: NaiveDate,
}

impl SeedOptions {
    pub fn new(subscribers: u64, as_of: NaiveDate) -> SeedOptions {
        SeedOptions {
            subscribers,
            seed: 20261128,
            as_of,
        }
    }

    fn now(&self) -> NaiveDateTime {
        self.as_of.and_time(NaiveTime::from_hms_opt(10, 0, 0).expect("valid"))
    }
}

/// The moment demo data seeded as of `as_of` describes: 10:00 Beijing time that day (top-ups "3 hours
/// ago", outages "repaired in 4 hours" are relative to it). The demo fixes diagnosis's `now` to it, so its
/// results do not change with the hour.
pub fn moment_of(as_of: NaiveDate) -> chrono::DateTime<chrono::FixedOffset> {
    let beijing = chrono::FixedOffset::east_opt(8 * 3600).expect("valid offset");
    as_of
        .and_time(NaiveTime::from_hms_opt(10, 0, 0).expect("valid"))
        .and_local_timezone(beijing)
        .single()
        .expect("a fixed offset has one local time")
}

/// Rows for one table.
#[derive(Debug, Clone)]
pub struct TableRows {
    pub table: &'static str,
    pub columns: &'static [&'static str],
    pub rows: Vec<Vec<SeedValue>>,
}

/// Rows for the three systems.
#[derive(Debug, Default, Clone)]
pub struct Batch {
    pub billing: Vec<TableRows>,
    pub crm: Vec<TableRows>,
    pub resource: Vec<TableRows>,
}

fn push(tables: &mut Vec<TableRows>, table: &'static str, columns: &'static [&'static str], row: Vec<SeedValue>) {
    debug_assert_eq!(columns.len(), row.len(), "{table}");
    match tables.iter_mut().find(|t| t.table == table) {
        Some(t) => t.rows.push(row),
        None => tables.push(TableRows {
            table,
            columns,
            rows: vec![row],
        }),
    }
}

/// The number of subscriber `i`.
pub fn msisdn(i: u64) -> String {
    const PREFIX: [&str; 7] = ["38", "39", "58", "59", "87", "88", "98"];
    format!("1{}{:08}", PREFIX[(i % 7) as usize], i % 100_000_000)
}

/// The first subscriber number with each situation (what the demo prints).
pub fn examples(subscribers: u64) -> Vec<(Situation, String)> {
    SITUATIONS
        .iter()
        .filter(|s| s.first_index() < subscribers)
        .map(|s| (*s, msisdn(s.first_index())))
        .collect()
}

fn grid_code(city: &str, g: u32) -> String {
    format!("{city}G{g:03}")
}

fn is_outage_grid(g: u32) -> bool {
    g % OUTAGE_EVERY == 7
}

fn cycle_of(d: NaiveDate, months_back: i32) -> (String, NaiveDate) {
    let mut y = d.year();
    let mut m = d.month() as i32 - months_back;
    while m <= 0 {
        m += 12;
        y -= 1;
    }
    let first = NaiveDate::from_ymd_opt(y, m as u32, 1).expect("valid");
    (format!("{y:04}{m:02}"), first)
}

fn next_month_first(d: NaiveDate) -> NaiveDate {
    let (y, m) = if d.month() == 12 {
        (d.year() + 1, 1)
    } else {
        (d.year(), d.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1).expect("valid")
}

fn midnight(d: NaiveDate) -> NaiveDateTime {
    d.and_time(NaiveTime::MIN)
}

/// An 18-digit resident ID with a valid check digit.
fn resident_id(area: &str, birth: NaiveDate, seq: u32) -> String {
    let body = format!("{area}{}{:03}", birth.format("%Y%m%d"), seq % 1000);
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const C: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];
    let sum: u32 = body.chars().zip(W).map(|(c, w)| c.to_digit(10).unwrap_or(0) * w).sum();
    format!("{body}{}", C[(sum % 11) as usize])
}

/// Rows that do not belong to one subscriber: the plan catalogue, cells, grids and their outages.
pub fn reference_rows(opts: &SeedOptions) -> Batch {
    let now = opts.now();
    let mut b = Batch::default();
    for (id, name, fee, data, voice, sms, g5) in PLANS {
        push(
            &mut b.billing,
            "tc_dy",
            TC_DY,
            vec![
                t(id),
                t(name),
                V::Money(fee),
                V::Int(data),
                V::Int(voice),
                V::Int(sms),
                t(if g5 { "1" } else { "0" }),
            ],
        );
    }
    for (city, city_name, _) in CITIES {
        for g in 0..GRIDS_PER_CITY {
            let grid = grid_code(city, g);
            for c in 0..3u32 {
                let cell = format!("{grid}C{c}");
                let rat = if c == 0 { "5G" } else { "4G" };
                let down = is_outage_grid(g) && c == 0;
                let status = if down { "03" } else { "01" };
                push(
                    &mut b.resource,
                    "r_cell",
                    R_CELL,
                    vec![
                        t(&cell),
                        t(format!("{city_name}{g:03}号小区{c}")),
                        t(rat),
                        t(status),
                        t(&grid),
                    ],
                );
                push(
                    &mut b.resource,
                    "r_grid_cell",
                    R_GRID_CELL,
                    vec![t(&grid), t(&cell), V::Int(150 + 220 * c as i64)],
                );
                if down {
                    push(
                        &mut b.resource,
                        "r_fault",
                        R_FAULT,
                        vec![
                            t(format!("F{cell}")),
                            t(&cell),
                            t("基站传输中断，小区退服"),
                            ts(now - Duration::hours(6)),
                            V::Ts(None),
                            ts(now + Duration::hours(4)),
                        ],
                    );
                }
            }
        }
    }
    b
}

/// All rows of subscriber `i`.
pub fn subscriber_rows(opts: &SeedOptions, i: u64, b: &mut Batch) {
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let sit = Situation::of(i);
    let now = opts.now();
    let today = opts.as_of;
    let num = msisdn(i);
    let yhbh = format!("YH{i:010}");
    let zhbh = format!("ZH{i:010}");
    let cust = format!("C{i:09}");
    let (city, city_name, area) = CITIES[rng.random_range(0..CITIES.len())];

    // Plan: 5G for the 5G-handset situation; otherwise any.
    let plan_idx = match sit {
        Situation::TerminalNot5g => 3,
        Situation::PendingPlanChange => 4,
        Situation::DataOverage => 1,
        _ => rng.random_range(0..PLANS.len()),
    };
    let plan = PLANS[plan_idx];
    let plan_since = midnight(today - Duration::days(rng.random_range(90..900)));
    let next_first = next_month_first(today);
    let (pending_plan, pending_at) = match sit {
        Situation::PendingPlanChange => (Some("P4G58".to_string()), Some(midnight(next_first))),
        _ => (None, None),
    };
    let contract_end = match sit {
        Situation::PortOutRejected => Some(midnight(today + Duration::days(200))),
        Situation::PlanChangeRejected => Some(midnight(today + Duration::days(120))),
        _ if rng.random_bool(0.3) => Some(midnight(today + Duration::days(rng.random_range(-300..400)))),
        _ => None,
    };
    // Arrears are a postpaid line's.
    let prepaid = rng.random_bool(0.4) && !matches!(sit, Situation::PaidStillSuspended | Situation::SuspendedArrears);
    push(
        &mut b.billing,
        "yh_zl",
        YH_ZL,
        vec![
            t(&yhbh),
            t(&num),
            t(&zhbh),
            t(plan.0),
            bt(plan_since),
            tn(pending_plan),
            pending_at.map(bt).unwrap_or(V::Text(None)),
            contract_end.map(bt).unwrap_or(V::Text(None)),
            t(if prepaid { "YF" } else { "HF" }),
        ],
    );

    // Account.
    let mut balance: i64 = rng.random_range(1_000..30_000);
    let (status, reason, suspended_at) = match sit {
        Situation::PaidStillSuspended => {
            balance = 6_750;
            ("2", Some("欠费停机".to_string()), Some(now - Duration::days(3)))
        }
        Situation::SuspendedForRealName => ("2", Some("实名制核查未通过".to_string()), Some(now - Duration::days(2))),
        Situation::SuspendedArrears => {
            balance = -2_350;
            ("2", Some("欠费停机".to_string()), Some(now - Duration::days(5)))
        }
        Situation::TopupPending => {
            balance = 120;
            ("1", None, None)
        }
        _ => ("1", None, None),
    };
    let bank = (!prepaid).then(|| format!("6222{:012}", rng.random_range(0..1_000_000_000_000u64)));
    push(
        &mut b.billing,
        "zh_xx",
        ZH_XX,
        vec![
            t(&zhbh),
            V::Money(balance),
            V::Money(if prepaid { 0 } else { 10_000 }),
            t(status),
            tn(reason),
            suspended_at.map(bt).unwrap_or(V::Text(None)),
            tn(bank),
        ],
    );

    // The address grid (a cell outage situation lives in an outage grid).
    let grid_no = {
        let mut g = rng.random_range(0..GRIDS_PER_CITY);
        let want_outage = sit == Situation::CellOutage;
        while is_outage_grid(g) != want_outage {
            g = (g + 1) % GRIDS_PER_CITY;
        }
        g
    };
    let grid = grid_code(city, grid_no);
    let direct_debit = !prepaid && rng.random_bool(0.5);
    billing::billing_rows(
        &billing::Subscriber {
            i,
            sit,
            plan,
            yhbh: &yhbh,
            now,
            today,
            prepaid,
            direct_debit,
            grid: &grid,
        },
        &mut rng,
        b,
    );

    // CRM.
    let surname = SURNAMES[rng.random_range(0..SURNAMES.len())];
    let given = GIVEN[rng.random_range(0..GIVEN.len())];
    let birth = NaiveDate::from_ymd_opt(
        rng.random_range(1950..2004),
        rng.random_range(1..13),
        rng.random_range(1..29),
    )
    .expect("valid");
    let address = format!(
        "浙江省{city_name}市{}{}号{}幢{}室",
        STREETS[rng.random_range(0..STREETS.len())],
        rng.random_range(1..400),
        rng.random_range(1..30),
        rng.random_range(101..2_800)
    );
    let age = today.year() - birth.year();
    let segment = if age >= 65 {
        "senior"
    } else if age <= 25 {
        "youth"
    } else {
        ["mass", "mass", "business"][rng.random_range(0..3)]
    };
    let vip = if rng.random_bool(0.15) {
        rng.random_range(1..6)
    } else {
        0
    };
    push(
        &mut b.crm,
        "customers",
        CUSTOMERS,
        vec![
            t(&cust),
            t(format!("{surname}{given}")),
            t("ID_CARD"),
            t(resident_id(area, birth, i as u32)),
            t(&address),
            t(city),
            t(city_name),
            t(segment),
            V::Int(vip),
            ts(plan_since - Duration::days(rng.random_range(0..2_000))),
            t(format!("1{}", &num[1..])),
            if rng.random_bool(0.5) {
                t(format!("user{i}@example.com"))
            } else {
                V::Text(None)
            },
        ],
    );
    let line_status = if status == "2" { "SUSPENDED" } else { "ACTIVE" };
    push(
        &mut b.crm,
        "subscriptions",
        SUBSCRIPTIONS,
        vec![t(&num), t(&cust), ts(plan_since), t(line_status)],
    );
    match sit {
        Situation::PendingPlanChange => push(
            &mut b.crm,
            "service_orders",
            ORDERS,
            vec![
                t(format!("SO{i:010}01")),
                t(&num),
                t("PLAN_CHANGE"),
                t("PENDING"),
                ts(now - Duration::days(5)),
                ts(midnight(next_first)),
                t(format!("{} → 4G畅享58元套餐，次月生效", plan.1)),
                V::Text(None),
                t("掌上营业厅"),
            ],
        ),
        Situation::PortOutRejected => push(
            &mut b.crm,
            "service_orders",
            ORDERS,
            vec![
                t(format!("SO{i:010}01")),
                t(&num),
                t("PORT_OUT"),
                t("REJECTED"),
                ts(now - Duration::days(2)),
                V::Ts(None),
                t("携号转网授权码申请"),
                t("合约期未满，需先解除合约"),
                t("10086短信"),
            ],
        ),
        Situation::PlanChangeRejected => push(
            &mut b.crm,
            "service_orders",
            ORDERS,
            vec![
                t(format!("SO{i:010}01")),
                t(&num),
                t("PLAN_CHANGE"),
                t("REJECTED"),
                ts(now - Duration::days(6)),
                V::Ts(None),
                t(format!("{} → 4G基础38元套餐", plan.1)),
                t("合约期内不可办理套餐降档"),
                t("掌上营业厅"),
            ],
        ),
        Situation::BroadbandInstallDelayed => push(
            &mut b.crm,
            "service_orders",
            ORDERS,
            vec![
                t(format!("SO{i:010}01")),
                t(&num),
                t("BB_INSTALL"),
                t("PENDING"),
                ts(now - Duration::days(12)),
                ts(midnight(today - Duration::days(3)) + Duration::hours(9)),
                t("宽带新装 300M，预约上门安装"),
                V::Text(None),
                t("营业厅"),
            ],
        ),
        Situation::PaidStillSuspended => push(
            &mut b.crm,
            "service_orders",
            ORDERS,
            vec![
                t(format!("SO{i:010}01")),
                t(&num),
                t("RESTORE"),
                t("PENDING"),
                ts(now - Duration::days(1) + Duration::minutes(3)),
                V::Ts(None),
                t("缴费后自动复机"),
                V::Text(None),
                t("系统"),
            ],
        ),
        _ => {}
    }
    let (opted, opted_at, contacts, last) = match sit {
        Situation::MarketingAfterOptOut => (true, Some(now - Duration::days(20)), 9, Some(now - Duration::days(1))),
        Situation::MarketingFrequent => (false, None, 7, Some(now - Duration::hours(5))),
        Situation::MarketingThirdParty => (false, None, 0, None),
        _ if rng.random_bool(0.1) => (true, Some(now - Duration::days(200)), 0, None),
        _ => (
            false,
            None,
            rng.random_range(0..3),
            Some(now - Duration::days(rng.random_range(3..40))),
        ),
    };
    push(
        &mut b.crm,
        "marketing_prefs",
        MARKETING,
        vec![t(&num), V::Bool(opted), V::Ts(opted_at), V::Int(contacts), V::Ts(last)],
    );

    // Resource.
    let g5_terminal = match sit {
        Situation::TerminalNot5g => false,
        _ => plan.6 || rng.random_bool(0.5),
    };
    let model = if g5_terminal {
        TERMINALS_5G[rng.random_range(0..TERMINALS_5G.len())]
    } else {
        TERMINALS_4G[rng.random_range(0..TERMINALS_4G.len())]
    };
    let sim_status = match sit {
        // The card on record was replaced two days ago; the old card no longer registers.
        Situation::SimReplaced => "R",
        _ if status == "2" => "S",
        _ => "A",
    };
    push(
        &mut b.resource,
        "r_sim",
        R_SIM,
        vec![
            t(&num),
            t(format!("898600{i:014}")),
            t(sim_status),
            t(model),
            t(if g5_terminal { "Y" } else { "N" }),
            t(if plan.6 { "Y" } else { "N" }),
            t(format!("86{:013}", rng.random_range(0..10_000_000_000_000u64))),
            t(&grid),
        ],
    );
    let has_port = sit == Situation::BroadbandAlarm || rng.random_bool(0.4);
    if has_port && sit != Situation::BroadbandInstallDelayed {
        // One port per subscriber: fault ids derive from it and must stay unique at any size.
        let port = format!("{city}-OLT{:02}-P{i:07}", grid_no % 20);
        let alarm = sit == Situation::BroadbandAlarm;
        push(
            &mut b.resource,
            "r_bb_port",
            R_BB_PORT,
            vec![
                t(&num),
                t(format!("BB{i:010}")),
                t(&port),
                t(format!("{city_name}-OLT{:02}", grid_no % 20)),
                V::Int([100, 300, 500, 1000][rng.random_range(0..4)]),
                t(if alarm { "D" } else { "U" }),
                if alarm { t("LOS 光信号丢失") } else { V::Text(None) },
                if alarm {
                    ts(now - Duration::hours(2))
                } else {
                    V::Ts(None)
                },
                t(&address),
            ],
        );
        if alarm {
            push(
                &mut b.resource,
                "r_fault",
                R_FAULT,
                vec![
                    t(format!("F{port}")),
                    t(&port),
                    t("用户光路中断(LOS)，待派单上门"),
                    ts(now - Duration::hours(2)),
                    V::Ts(None),
                    ts(now + Duration::hours(22)),
                ],
            );
        }
    }
}

#[cfg(test)]
mod invariants;
#[cfg(test)]
mod tests;
