//! Deterministic demo data for the three demo backends (billing, CRM, resource).
//!
//! Subscriber `i`'s data depends only on `i`, the seed and the as-of date, never on how many subscribers are
//! generated, so the same number means the same person at 1,000 or 1,000,000 subscribers. One subscriber in
//! every [`CYCLE`] is ordinary; the others carry one of the [`Situation`]s complaints are about.
pub mod load;

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

/// The situations complaints are about, one per subscriber (or none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Situation {
    Normal,
    VasNoConsent,
    PaidStillSuspended,
    PendingPlanChange,
    RoamingNoPack,
    CellOutage,
    BroadbandAlarm,
    TopupPending,
    PortOutRejected,
    DataOverage,
    DuplicateMonthlyFee,
    MarketingAfterOptOut,
    TerminalNot5g,
    DoublePayment,
    SuspendedForRealName,
    // Added for the diagnosis scenarios (indices 15.. of each cycle), so every cause has a subscriber.
    VoiceOverage,
    DataBilledEarly,
    VasConsented,
    PlanChangeRejected,
    BroadbandInstallDelayed,
    SuspendedArrears,
    TopupFailed,
    MarketingFrequent,
    MarketingThirdParty,
    TopupPendingOverdue,
}

/// Subscribers repeat the situations every `CYCLE` indices; index `k` (1..=24) in each cycle has situation k.
pub const CYCLE: u64 = 40;

pub const SITUATIONS: [Situation; 25] = [
    Situation::Normal,
    Situation::VasNoConsent,
    Situation::PaidStillSuspended,
    Situation::PendingPlanChange,
    Situation::RoamingNoPack,
    Situation::CellOutage,
    Situation::BroadbandAlarm,
    Situation::TopupPending,
    Situation::PortOutRejected,
    Situation::DataOverage,
    Situation::DuplicateMonthlyFee,
    Situation::MarketingAfterOptOut,
    Situation::TerminalNot5g,
    Situation::DoublePayment,
    Situation::SuspendedForRealName,
    Situation::VoiceOverage,
    Situation::DataBilledEarly,
    Situation::VasConsented,
    Situation::PlanChangeRejected,
    Situation::BroadbandInstallDelayed,
    Situation::SuspendedArrears,
    Situation::TopupFailed,
    Situation::MarketingFrequent,
    Situation::MarketingThirdParty,
    Situation::TopupPendingOverdue,
];

impl Situation {
    pub fn of(index: u64) -> Situation {
        let k = (index % CYCLE) as usize;
        if k < SITUATIONS.len() {
            SITUATIONS[k]
        } else {
            Situation::Normal
        }
    }

    /// The first subscriber index with this situation.
    pub fn first_index(self) -> u64 {
        SITUATIONS
            .iter()
            .position(|s| *s == self)
            .map(|p| if p == 0 { CYCLE - 1 } else { p as u64 })
            .unwrap_or(0)
    }

    pub fn name(self) -> &'static str {
        match self {
            Situation::Normal => "normal",
            Situation::VasNoConsent => "vas_no_consent",
            Situation::PaidStillSuspended => "paid_still_suspended",
            Situation::PendingPlanChange => "pending_plan_change",
            Situation::RoamingNoPack => "roaming_no_pack",
            Situation::CellOutage => "cell_outage",
            Situation::BroadbandAlarm => "broadband_alarm",
            Situation::TopupPending => "topup_pending",
            Situation::PortOutRejected => "port_out_rejected",
            Situation::DataOverage => "data_overage",
            Situation::DuplicateMonthlyFee => "duplicate_monthly_fee",
            Situation::MarketingAfterOptOut => "marketing_after_opt_out",
            Situation::TerminalNot5g => "terminal_not_5g",
            Situation::DoublePayment => "double_payment",
            Situation::SuspendedForRealName => "suspended_for_real_name",
            Situation::VoiceOverage => "voice_overage",
            Situation::DataBilledEarly => "data_billed_early",
            Situation::VasConsented => "vas_consented",
            Situation::PlanChangeRejected => "plan_change_rejected",
            Situation::BroadbandInstallDelayed => "broadband_install_delayed",
            Situation::SuspendedArrears => "suspended_arrears",
            Situation::TopupFailed => "topup_failed",
            Situation::MarketingFrequent => "marketing_frequent",
            Situation::MarketingThirdParty => "marketing_third_party",
            Situation::TopupPendingOverdue => "topup_pending_overdue",
        }
    }

    /// What a handler would see, in a few words.
    pub fn describe(self) -> &'static str {
        match self {
            Situation::Normal => "no known problem",
            Situation::VasNoConsent => "value-added service billed with no consent record",
            Situation::PaidStillSuspended => "paid after suspension for arrears, still suspended",
            Situation::PendingPlanChange => "plan change ordered, effective next month",
            Situation::RoamingNoPack => "roaming in Japan charged at standard rates, no pack applied",
            Situation::CellOutage => "serving cell down, open outage",
            Situation::BroadbandAlarm => "broadband port down with a LOS alarm",
            Situation::TopupPending => "top-up stuck in the payment channel",
            Situation::PortOutRejected => "port-out refused (contract term)",
            Situation::DataOverage => "data beyond the plan billed",
            Situation::DuplicateMonthlyFee => "monthly fee billed twice",
            Situation::MarketingAfterOptOut => "marketing contacts after opt-out",
            Situation::TerminalNot5g => "5G plan on a 4G-only handset",
            Situation::DoublePayment => "same payment taken twice",
            Situation::SuspendedForRealName => "line suspended for real-name verification",
            Situation::VoiceOverage => "voice minutes beyond the plan billed last month",
            Situation::DataBilledEarly => "data billed beyond the plan before the plan's data was used up",
            Situation::VasConsented => "value-added service with an SMS consent record",
            Situation::PlanChangeRejected => "plan downgrade rejected during the contract term",
            Situation::BroadbandInstallDelayed => "broadband installation past its promised date",
            Situation::SuspendedArrears => "suspended for arrears, balance negative, not paid",
            Situation::TopupFailed => "top-up failed at the payment channel",
            Situation::MarketingFrequent => "frequent marketing contacts, not opted out",
            Situation::MarketingThirdParty => "marketing complaint with no contact recorded",
            Situation::TopupPendingOverdue => "top-up pending at the channel for more than a day",
        }
    }
}

/// Cities of the demo: (code, name, ID-card area prefix).
pub const CITIES: [(&str, &str, &str); 4] = [
    ("0571", "杭州", "330106"),
    ("0574", "宁波", "330203"),
    ("0577", "温州", "330302"),
    ("0579", "金华", "330702"),
];

/// Grids (address areas) per city.
pub const GRIDS_PER_CITY: u32 = 100;
/// Every grid with `g % OUTAGE_EVERY == 7` has a cell down.
pub const OUTAGE_EVERY: u32 = 25;

/// The plan catalogue: (id, name, monthly fee fen, data MB, voice min, sms, 5G).
pub const PLANS: [(&str, &str, i64, i64, i64, i64, bool); 6] = [
    ("P4G38", "4G基础38元套餐", 3800, 3072, 100, 50, false),
    ("P4G58", "4G畅享58元套餐", 5800, 10240, 300, 100, false),
    ("P4G88", "4G畅享88元套餐", 8800, 20480, 500, 200, false),
    ("P5G128", "5G智享128元套餐", 12800, 40960, 800, 300, true),
    ("P5G199", "5G智享199元套餐", 19900, 81920, 1500, 500, true),
    ("PSR19", "老年关怀19元套餐", 1900, 1024, 200, 50, false),
];

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭", "何", "林", "高",
    "罗",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀英", "霞",
    "平", "刚", "桂英", "建华", "志强", "晓东",
];
const STREETS: &[&str] = &[
    "文三路",
    "解放路",
    "中山路",
    "人民路",
    "江南大道",
    "学院路",
    "建设路",
    "环城北路",
    "天目山路",
    "钱江路",
];
const TERMINALS_5G: &[&str] = &[
    "华为 Mate 60",
    "小米 14",
    "iPhone 15",
    "OPPO Find X7",
    "vivo X100",
    "荣耀 Magic6",
];
const TERMINALS_4G: &[&str] = &["iPhone 11", "华为 畅享 20", "红米 Note 9", "OPPO A5", "vivo Y3"];
const VAS: &[(&str, &str, &str, i64)] = &[
    ("VR1001", "视频彩铃会员", "SP1024", 1000),
    ("GM2002", "游戏加速包", "SP2231", 1500),
    ("NW3003", "新闻早晚报", "SP0877", 500),
    ("MU4004", "音乐随心听", "SP3090", 800),
];

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

const YH_ZL: &[&str] = &[
    "yhbh", "sjhm", "zhbh", "tcbh", "tcsxsj", "yytcbh", "yysxsj", "hyjssj", "fflx",
];
const ZH_XX: &[&str] = &["zhbh", "zhye", "xyed", "zhzt", "tjyy", "tjsj", "yhzh"];
const ZD_ZB: &[&str] = &["zdbh", "yhbh", "zdq", "zdze", "zdzt", "cdsj"];
const ZD_MX: &[&str] = &["mxbh", "zdbh", "fylx", "fymc", "fyje", "ywdm"];
const SY_HZ: &[&str] = &["yhbh", "zq", "tnll", "tcll", "tcllf", "yysc", "cyy", "dxts"];
const MY_SY: &[&str] = &["yhbh", "zq", "gjdm", "myll", "myyy", "myfy", "ybsx"];
const ZZYW_DG: &[&str] = &[
    "dgbh", "yhbh", "ywdm", "ywmc", "spdm", "yf", "dgsj", "dgqd", "tyjl", "zt", "tdsj",
];
const JF_JL: &[&str] = &["jflsh", "yhbh", "jfje", "jfqd", "jfsj", "jfzt", "qdlsh"];
const XD_JL: &[&str] = &["xdbh", "yhbh", "lx", "kssj", "sl", "fy", "dfhm", "gjdm", "xqbh"];
const TC_DY: &[&str] = &["tcbh", "tcmc", "yzf", "bhll", "bhyy", "bhdx", "sfwg"];
const CUSTOMERS: &[&str] = &[
    "customer_id",
    "full_name",
    "id_type",
    "id_number",
    "address",
    "city_code",
    "city_name",
    "segment",
    "vip_level",
    "created_at",
    "contact_phone",
    "email",
];
const SUBSCRIPTIONS: &[&str] = &["msisdn", "customer_id", "activated_at", "line_status"];
const ORDERS: &[&str] = &[
    "order_id",
    "msisdn",
    "order_type",
    "status",
    "created_at",
    "effective_at",
    "detail",
    "reject_reason",
    "channel",
];
const MARKETING: &[&str] = &["msisdn", "opted_out", "opted_out_at", "contacts_30d", "last_contact_at"];
const R_SIM: &[&str] = &[
    "svc_num",
    "iccid_no",
    "sim_stat_cd",
    "term_model_nm",
    "term_5g_flg",
    "plan_5g_flg",
    "imei_no",
    "grid_cd",
];
const R_CELL: &[&str] = &["cell_no", "cell_nm", "rat_typ", "oper_stat_cd", "grid_cd"];
const R_GRID_CELL: &[&str] = &["grid_cd", "cell_no", "dist_m"];
const R_FAULT: &[&str] = &[
    "fault_no",
    "ne_no",
    "fault_desc",
    "occur_tm",
    "clear_tm",
    "plan_clear_tm",
];
const R_BB_PORT: &[&str] = &[
    "svc_num",
    "bb_acct",
    "port_no",
    "olt_nm",
    "bw_mbps",
    "port_stat_cd",
    "last_alm_desc",
    "last_alm_tm",
    "inst_addr",
];

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
    let prepaid = rng.random_bool(0.4);
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

    // Value-added subscriptions.
    let mut vas_items: Vec<(String, String, i64)> = Vec::new();
    let vas_count = match sit {
        Situation::VasNoConsent | Situation::VasConsented => 1,
        _ => usize::from(rng.random_bool(0.25)),
    };
    for k in 0..vas_count {
        let (code, name, sp, fee) = VAS[rng.random_range(0..VAS.len())];
        let no_consent = sit == Situation::VasNoConsent;
        let at = now - Duration::days(rng.random_range(40..70));
        push(
            &mut b.billing,
            "zzyw_dg",
            ZZYW_DG,
            vec![
                t(format!("DG{i:010}{k}")),
                t(&yhbh),
                t(code),
                t(name),
                t(sp),
                V::Money(fee),
                bt(at),
                t(if no_consent {
                    "SP合作渠道"
                } else {
                    "掌上营业厅"
                }),
                if no_consent {
                    V::Text(None)
                } else {
                    t(format!("SMS-CONFIRM-{i}{k}"))
                },
                t("1"),
                V::Text(None),
            ],
        );
        vas_items.push((code.to_string(), name.to_string(), fee));
    }

    // Bills for the three completed cycles, newest first.
    for back in 1..=3 {
        let (cycle, first) = cycle_of(today, back);
        let zdbh = format!("ZD{i:010}{cycle}");
        let mut items: Vec<(&str, String, i64, Option<String>)> = vec![("01", format!("{}月租", plan.1), plan.2, None)];
        if sit == Situation::DuplicateMonthlyFee && back == 1 {
            items.push(("01", format!("{}月租", plan.1), plan.2, None));
        }
        if rng.random_bool(0.3) && sit != Situation::VoiceOverage {
            items.push(("03", "国内语音超出".into(), rng.random_range(100..2_000), None));
        }
        if sit == Situation::VoiceOverage && back == 1 {
            // 175 minutes beyond the plan at 0.19 yuan a minute.
            items.push(("03", "国内语音超出".into(), 175 * 19, None));
        }
        if sit == Situation::DataOverage && back == 1 {
            items.push(("02", "国内流量超出套餐费".into(), 6_000, None));
        }
        if sit == Situation::RoamingNoPack && back == 1 {
            items.push(("06", "国际漫游数据(日本)".into(), 26_800, None));
        }
        for (code, name, fee) in &vas_items {
            items.push(("05", name.clone(), *fee, Some(code.clone())));
        }
        let total: i64 = items.iter().map(|x| x.2).sum();
        let issued = midnight(next_month_first(first)) + Duration::hours(2);
        let paid = !(back == 1 && matches!(sit, Situation::PaidStillSuspended | Situation::SuspendedArrears));
        push(
            &mut b.billing,
            "zd_zb",
            ZD_ZB,
            vec![
                t(&zdbh),
                t(&yhbh),
                t(&cycle),
                V::Money(total),
                t(if paid { "1" } else { "2" }),
                bt(issued),
            ],
        );
        for (n, (code, name, fee, svc)) in items.into_iter().enumerate() {
            push(
                &mut b.billing,
                "zd_mx",
                ZD_MX,
                vec![
                    t(format!("{zdbh}{n:02}")),
                    t(&zdbh),
                    t(code),
                    t(name),
                    V::Money(fee),
                    tn(svc),
                ],
            );
        }
    }

    // Usage summaries: current cycle, previous cycle.
    for back in 0..=1 {
        let (cycle, _) = cycle_of(today, back);
        let (in_plan, over, over_fee) = match (sit, back) {
            (Situation::DataOverage, _) => (plan.3, 2_048, 6_000),
            // Billed beyond the plan while half of the plan's data is left.
            (Situation::DataBilledEarly, 0) => (plan.3 / 2, 1_024, 3_000),
            _ => (rng.random_range(0..plan.3 * 8 / 10), 0, 0),
        };
        let voice = rng.random_range(20..plan.4);
        let (voice, voice_over) = match (sit, back) {
            (Situation::VoiceOverage, 1) => (plan.4 + 175, 175),
            _ => (voice, 0),
        };
        push(
            &mut b.billing,
            "sy_hz",
            SY_HZ,
            vec![
                t(&yhbh),
                t(&cycle),
                V::Int(in_plan),
                V::Int(over),
                V::Money(over_fee),
                V::Int(voice),
                V::Int(voice_over),
                V::Int(rng.random_range(0..40)),
            ],
        );
        if sit == Situation::RoamingNoPack && back == 1 {
            push(
                &mut b.billing,
                "my_sy",
                MY_SY,
                vec![
                    t(&yhbh),
                    t(&cycle),
                    t("JP"),
                    V::Int(1_024),
                    V::Int(35),
                    V::Money(26_800),
                    t("0"),
                ],
            );
        }
    }

    // Payments.
    let mut pays: Vec<(i64, &str, NaiveDateTime, &str)> = Vec::new();
    for k in 0..rng.random_range(2..4) {
        pays.push((
            [5_000, 10_000, 20_000][rng.random_range(0..3)],
            ["支付宝", "微信支付", "营业厅", "银行代扣"][rng.random_range(0..4)],
            now - Duration::days(10 + 25 * k as i64) - Duration::minutes(rng.random_range(0..600)),
            "0",
        ));
    }
    match sit {
        Situation::PaidStillSuspended => pays.push((10_000, "支付宝", now - Duration::days(1), "0")),
        Situation::TopupPending => pays.push((5_000, "微信支付", now - Duration::hours(3), "1")),
        Situation::TopupFailed => pays.push((5_000, "微信支付", now - Duration::hours(20), "2")),
        Situation::TopupPendingOverdue => pays.push((10_000, "支付宝", now - Duration::hours(30), "1")),
        Situation::DoublePayment => {
            let at = now - Duration::days(2);
            pays.push((10_000, "支付宝", at, "0"));
            pays.push((10_000, "支付宝", at + Duration::seconds(95), "0"));
        }
        _ => {}
    }
    for (k, (amount, channel, at, st)) in pays.into_iter().enumerate() {
        push(
            &mut b.billing,
            "jf_jl",
            JF_JL,
            vec![
                t(format!("JF{i:010}{k:02}")),
                t(&yhbh),
                V::Money(amount),
                t(channel),
                bt(at),
                t(st),
                t(format!(
                    "{}{:016}",
                    if channel == "支付宝" { "ALI" } else { "WX" },
                    i * 100 + k as u64
                )),
            ],
        );
    }

    // Usage records (CDRs) over the last 20 days.
    let roaming = sit == Situation::RoamingNoPack;
    let grid_no = {
        let mut g = rng.random_range(0..GRIDS_PER_CITY);
        let want_outage = sit == Situation::CellOutage;
        while is_outage_grid(g) != want_outage {
            g = (g + 1) % GRIDS_PER_CITY;
        }
        g
    };
    let grid = grid_code(city, grid_no);
    for k in 0..12u32 {
        let kind = ["V", "D", "D", "S"][(k % 4) as usize];
        let at = now - Duration::days(i64::from(k) * 20 / 12) - Duration::minutes(rng.random_range(0..1_000));
        let country = if roaming && k < 4 { "JP" } else { "CN" };
        let (qty, fee, other) = match kind {
            "V" => (
                rng.random_range(20..900),
                0,
                format!("13{:09}", rng.random_range(0..1_000_000_000u64)),
            ),
            "D" => (
                rng.random_range(1_000..300_000),
                if country == "JP" { 6_700 } else { 0 },
                "cmnet".to_string(),
            ),
            _ => (1, 10, format!("1065{:04}", rng.random_range(0..10_000))),
        };
        push(
            &mut b.billing,
            "xd_jl",
            XD_JL,
            vec![
                t(format!("XD{i:010}{k:02}")),
                t(&yhbh),
                t(kind),
                bt(at),
                V::Int(qty),
                V::Money(fee),
                t(other),
                t(country),
                t(format!("{grid}C{}", k % 3)),
            ],
        );
    }
    if sit == Situation::VasNoConsent {
        let (code, _, fee) = &vas_items[0];
        push(
            &mut b.billing,
            "xd_jl",
            XD_JL,
            vec![
                t(format!("XD{i:010}99")),
                t(&yhbh),
                t("Z"),
                bt(midnight(cycle_of(today, 0).1) + Duration::hours(1)),
                V::Int(1),
                V::Money(*fee),
                t(code.clone()),
                t("CN"),
                V::Text(None),
            ],
        );
    }

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
    let sim_status = if status == "2" { "S" } else { "A" };
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
mod tests {
    use super::*;

    #[test]
    fn subscriber_data_does_not_depend_on_the_run_size() {
        let opts = SeedOptions::new(10, NaiveDate::from_ymd_opt(2026, 11, 28).unwrap());
        let mut a = Batch::default();
        let mut b = Batch::default();
        subscriber_rows(&opts, 7, &mut a);
        subscriber_rows(
            &SeedOptions {
                subscribers: 1_000_000,
                ..opts.clone()
            },
            7,
            &mut b,
        );
        assert_eq!(format!("{:?}", a.billing), format!("{:?}", b.billing));
        assert_eq!(format!("{:?}", a.crm), format!("{:?}", b.crm));
    }

    #[test]
    fn fault_ids_stay_unique_at_any_size() {
        // Subscribers 6 and 10,006 both have a broadband alarm; their ports and faults must not collide.
        let opts = SeedOptions::new(20_000, NaiveDate::from_ymd_opt(2026, 11, 28).unwrap());
        let mut b = Batch::default();
        subscriber_rows(&opts, 6, &mut b);
        subscriber_rows(&opts, 10_006, &mut b);
        let faults = b.resource.iter().find(|t| t.table == "r_fault").expect("faults");
        assert_eq!(faults.rows.len(), 2);
        assert_ne!(faults.rows[0][0], faults.rows[1][0]);
    }

    #[test]
    fn resident_ids_have_valid_check_digits() {
        // A published example: 11010519491231002X.
        assert_eq!(
            resident_id("110105", NaiveDate::from_ymd_opt(1949, 12, 31).unwrap(), 2),
            "11010519491231002X"
        );
    }

    #[test]
    fn added_situations_keep_the_original_first_subscribers() {
        for (k, s) in SITUATIONS.iter().enumerate().skip(1) {
            assert_eq!(s.first_index(), k as u64, "{}", s.name());
        }
        assert_eq!(Situation::SuspendedForRealName.first_index(), 14);
        assert_eq!(Situation::TopupPendingOverdue.first_index(), 24);
        assert_eq!(Situation::Normal.first_index(), CYCLE - 1);
    }

    fn rows<'a>(b: &'a Batch, system: &str, table: &str) -> &'a [Vec<SeedValue>] {
        let tables = match system {
            "billing" => &b.billing,
            "crm" => &b.crm,
            _ => &b.resource,
        };
        tables
            .iter()
            .find(|t| t.table == table)
            .map(|t| t.rows.as_slice())
            .unwrap_or(&[])
    }

    #[test]
    fn added_situations_carry_their_data() {
        let opts = SeedOptions::new(100, NaiveDate::from_ymd_opt(2026, 11, 28).unwrap());
        let gen = |s: Situation| {
            let mut b = Batch::default();
            subscriber_rows(&opts, s.first_index(), &mut b);
            b
        };
        let b = gen(Situation::SuspendedArrears);
        let acc = &rows(&b, "billing", "zh_xx")[0];
        assert_eq!((&acc[1], &acc[3]), (&V::Money(-2_350), &t("2")));
        let b = gen(Situation::BroadbandInstallDelayed);
        assert!(rows(&b, "resource", "r_bb_port").is_empty());
        assert_eq!(rows(&b, "crm", "service_orders")[0][2], t("BB_INSTALL"));
        let b = gen(Situation::TopupPendingOverdue);
        assert!(rows(&b, "billing", "jf_jl").iter().any(|p| p[5] == t("1")));
        let b = gen(Situation::VoiceOverage);
        assert!(rows(&b, "billing", "zd_mx")
            .iter()
            .any(|m| m[2] == t("03") && m[4] == V::Money(3_325)));
        assert!(rows(&b, "billing", "sy_hz").iter().any(|u| u[6] == V::Int(175)));
        let b = gen(Situation::MarketingThirdParty);
        assert_eq!(rows(&b, "crm", "marketing_prefs")[0][3], V::Int(0));
    }

    #[test]
    fn situations_cycle() {
        assert_eq!(Situation::of(1), Situation::VasNoConsent);
        assert_eq!(Situation::of(41), Situation::VasNoConsent);
        assert_eq!(Situation::of(39), Situation::Normal);
        assert_eq!(Situation::VasNoConsent.first_index(), 1);
        assert_eq!(msisdn(1), "13900000001");
    }
}
