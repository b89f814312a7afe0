//! One subscriber's billing data, consistent with itself: value-added subscriptions, usage per cycle,
//! bills whose every item the usage and subscriptions explain, payments that settle the bills, and usage
//! records (CDRs) that add up to what is charged for roaming and international calls. Only the
//! situations with a [`Situation::anomaly`] break it, on purpose (`tests::invariants` checks both).
use super::*;
use rand_chacha::ChaCha8Rng;

/// Domestic voice beyond the plan, per minute.
pub const VOICE_FEN_PER_MIN: i64 = 19;
/// An SMS beyond the plan.
pub const SMS_FEN: i64 = 10;
/// Data beyond the plan: 30 yuan a GB.
pub const DATA_FEN_PER_GB: i64 = 3_000;
/// International calls from the mainland, per started minute.
pub const IDD_FEN_PER_MIN: i64 = 299;
/// The service code international-call charges carry on a bill.
pub const IDD_CODE: &str = "IDD";

/// What the billing rows of a subscriber depend on besides the random stream.
pub(super) struct Subscriber<'a> {
    pub i: u64,
    pub sit: Situation,
    pub plan: Plan,
    pub yhbh: &'a str,
    pub now: NaiveDateTime,
    pub today: NaiveDate,
    pub prepaid: bool,
    pub direct_debit: bool,
    /// The address grid, for the cells of usage records.
    pub grid: &'a str,
}

struct Vas {
    code: &'static str,
    name: &'static str,
    fee: i64,
    at: NaiveDateTime,
    cancelled: Option<NaiveDateTime>,
}

/// One cycle's usage summary.
struct Usage {
    cycle: String,
    first: NaiveDate,
    data_in: i64,
    data_over: i64,
    voice: i64,
    voice_over: i64,
    sms: i64,
}

/// A usage record: (kind, started, quantity, fee, counterpart, country).
type Cdr = (&'static str, NaiveDateTime, i64, i64, String, &'static str);

/// The number a top-up meant for subscriber `i` went to by mistake (`PaymentWrongNumber`): 130 instead of
/// the subscriber's prefix. No demo subscriber has a 130 number, so it never collides.
pub fn wrong_number(i: u64) -> String {
    format!("130{:08}", i % 100_000_000)
}

/// Value-added subscriptions, usage, bills, payments and usage records of `s`.
pub(super) fn billing_rows(s: &Subscriber, rng: &mut ChaCha8Rng, b: &mut Batch) {
    let vas = subscriptions(s, rng, b);
    let usage: Vec<Usage> = (0..=3).map(|back| usage_of(s, back, rng)).collect();
    for u in &usage {
        push(
            &mut b.billing,
            "sy_hz",
            SY_HZ,
            vec![
                t(s.yhbh),
                t(&u.cycle),
                V::Int(u.data_in),
                V::Int(u.data_over),
                V::Money(u.data_over * DATA_FEN_PER_GB / 1024),
                V::Int(u.voice),
                V::Int(u.voice_over),
                V::Int(u.sms),
            ],
        );
    }
    let mut cdrs = recent_cdrs(s, rng);
    // Last cycle's trips and calls abroad.
    let last = &usage[1];
    let day = |d: i64, h: i64| midnight(last.first + Duration::days(d)) + Duration::hours(h);
    if s.sit == Situation::RoamingNoPack {
        let mut r: Vec<Cdr> = (0..4)
            .map(|k| ("D", day(20 + k, 9), 262_144, 5_300, "cmnet".to_string(), "JP"))
            .collect();
        r.push(("V", day(21, 14), 20 * 60, 20 * 160, "81312345678".into(), "JP"));
        r.push(("V", day(22, 19), 15 * 60, 15 * 160, "81312345679".into(), "JP"));
        let mb: i64 = r.iter().filter(|c| c.0 == "D").map(|c| c.2).sum::<i64>() / 1024;
        let min: i64 = r.iter().filter(|c| c.0 == "V").map(|c| c.2).sum::<i64>() / 60;
        let fee: i64 = r.iter().map(|c| c.3).sum();
        push(
            &mut b.billing,
            "my_sy",
            MY_SY,
            vec![
                t(s.yhbh),
                t(&last.cycle),
                t("JP"),
                V::Int(mb),
                V::Int(min),
                V::Money(fee),
                t("0"),
            ],
        );
        cdrs.extend(r);
    }
    if s.sit == Situation::SmsAndInternational {
        for (k, secs) in [(0i64, 754i64), (1, 1_320), (2, 95)] {
            let fee = (secs + 59) / 60 * IDD_FEN_PER_MIN;
            cdrs.push((
                "V",
                day(5 + 7 * k, 20),
                secs,
                fee,
                format!("008190{:08}", 1234 + k),
                "CN",
            ));
        }
    }
    let roaming_fen: i64 = cdrs
        .iter()
        .filter(|c| c.5 != "CN" && in_cycle(c.1, last))
        .map(|c| c.3)
        .sum();
    let idd_fen: i64 = cdrs
        .iter()
        .filter(|c| c.5 == "CN" && c.4.starts_with("00") && in_cycle(c.1, last))
        .map(|c| c.3)
        .sum();

    // Bills for the three completed cycles, newest first.
    let mut paid_bills = Vec::new();
    for (back, u) in usage.iter().enumerate().skip(1) {
        let zdbh = format!("ZD{:010}{}", s.i, u.cycle);
        let plan = s.plan;
        let mut items: Vec<(&str, String, i64, Option<String>)> = vec![("01", format!("{}月租", plan.1), plan.2, None)];
        if s.sit == Situation::DuplicateMonthlyFee && back == 1 {
            items.push(("01", format!("{}月租", plan.1), plan.2, None));
        }
        if u.data_over > 0 {
            items.push((
                "02",
                "国内流量超出套餐费".into(),
                u.data_over * DATA_FEN_PER_GB / 1024,
                None,
            ));
        }
        if u.voice_over > 0 {
            items.push(("03", "国内语音超出".into(), u.voice_over * VOICE_FEN_PER_MIN, None));
        }
        if back == 1 && idd_fen > 0 {
            items.push(("03", "国际长途".into(), idd_fen, Some(IDD_CODE.to_string())));
        }
        if u.sms > plan.5 {
            items.push(("04", "短信超出".into(), (u.sms - plan.5) * SMS_FEN, None));
        }
        if back == 1 && roaming_fen > 0 {
            items.push(("06", "国际漫游(日本)".into(), roaming_fen, None));
        }
        let cycle_start = midnight(u.first);
        let cycle_end = midnight(next_month_first(u.first));
        for v in &vas {
            let live = v.cancelled.is_none_or(|c| c >= cycle_start) || s.sit == Situation::CancelledStillBilled;
            if v.at < cycle_end && live {
                items.push(("05", v.name.to_string(), v.fee, Some(v.code.to_string())));
            }
        }
        let total: i64 = items.iter().map(|x| x.2).sum();
        let issued = cycle_end + Duration::hours(2);
        let paid = !(back == 1 && matches!(s.sit, Situation::PaidStillSuspended | Situation::SuspendedArrears));
        if paid {
            paid_bills.push((total, issued));
        }
        push(
            &mut b.billing,
            "zd_zb",
            ZD_ZB,
            vec![
                t(&zdbh),
                t(s.yhbh),
                t(&u.cycle),
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

    payments(s, &paid_bills, rng, b);

    if s.sit == Situation::VasNoConsent {
        let v = &vas[0];
        cdrs.push((
            "Z",
            midnight(cycle_of(s.today, 0).1) + Duration::hours(1),
            1,
            v.fee,
            v.code.to_string(),
            "CN",
        ));
    }
    for (k, (kind, at, qty, fee, other, country)) in cdrs.into_iter().enumerate() {
        push(
            &mut b.billing,
            "xd_jl",
            XD_JL,
            vec![
                t(format!("XD{:010}{k:02}", s.i)),
                t(s.yhbh),
                t(kind),
                bt(at),
                V::Int(qty),
                V::Money(fee),
                t(other),
                t(country),
                if kind == "Z" {
                    V::Text(None)
                } else {
                    t(format!("{}C{}", s.grid, k % 3))
                },
            ],
        );
    }
}

fn in_cycle(at: NaiveDateTime, u: &Usage) -> bool {
    at >= midnight(u.first) && at < midnight(next_month_first(u.first))
}

/// Value-added subscriptions: some cancelled (and billed only while they ran), one per VAS situation.
fn subscriptions(s: &Subscriber, rng: &mut ChaCha8Rng, b: &mut Batch) -> Vec<Vas> {
    let count = match s.sit {
        Situation::VasNoConsent | Situation::VasConsented | Situation::CancelledStillBilled => 1,
        _ => usize::from(rng.random_bool(0.25)),
    };
    let mut out = Vec::new();
    for k in 0..count {
        let (code, name, sp, fee) = VAS[rng.random_range(0..VAS.len())];
        let (at, cancelled) = match s.sit {
            // Cancelled five days into the cycle before last; the last bill still carries it.
            Situation::CancelledStillBilled => (
                s.now - Duration::days(rng.random_range(150..200)),
                Some(midnight(cycle_of(s.today, 2).1 + Duration::days(5)) + Duration::hours(10)),
            ),
            Situation::VasNoConsent | Situation::VasConsented => {
                (s.now - Duration::days(rng.random_range(40..130)), None)
            }
            _ => {
                let at = s.now - Duration::days(rng.random_range(20..300));
                let cancelled = rng
                    .random_bool(0.2)
                    .then(|| at + Duration::days(rng.random_range(1..(s.now - at).num_days().max(2))));
                (at, cancelled)
            }
        };
        let no_consent = s.sit == Situation::VasNoConsent;
        push(
            &mut b.billing,
            "zzyw_dg",
            ZZYW_DG,
            vec![
                t(format!("DG{:010}{k}", s.i)),
                t(s.yhbh),
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
                    t(format!("SMS-CONFIRM-{}{k}", s.i))
                },
                t(if cancelled.is_some() { "0" } else { "1" }),
                cancelled.map(bt).unwrap_or(V::Text(None)),
            ],
        );
        out.push(Vas {
            code,
            name,
            fee,
            at,
            cancelled,
        });
    }
    out
}

/// The usage summary of the cycle `back` cycles ago (0: the current one, not yet billed).
fn usage_of(s: &Subscriber, back: i32, rng: &mut ChaCha8Rng) -> Usage {
    let (cycle, first) = cycle_of(s.today, back);
    let plan = s.plan;
    let (data_in, data_over) = match (s.sit, back) {
        (Situation::DataOverage, 0 | 1) => (plan.3, 2_048),
        // Billed beyond the plan while half of the plan's data is left.
        (Situation::DataBilledEarly, 0) => (plan.3 / 2, 1_024),
        _ => (rng.random_range(0..plan.3 * 8 / 10), 0),
    };
    let voice_over = match (s.sit, back) {
        // 175 minutes beyond the plan at 0.19 yuan a minute.
        (Situation::VoiceOverage, 1) => 175,
        (Situation::VoiceOverage, _) | (_, 0) => 0,
        _ if rng.random_bool(0.3) => rng.random_range(10..120),
        _ => 0,
    };
    let voice = if voice_over > 0 {
        plan.4 + voice_over
    } else {
        rng.random_range(20..plan.4)
    };
    let sms = match (s.sit, back) {
        (Situation::SmsAndInternational, 1) => plan.5 + 60,
        _ => rng.random_range(0..40),
    };
    Usage {
        cycle,
        first,
        data_in,
        data_over,
        voice,
        voice_over,
        sms,
    }
}

/// Twelve records over the last 20 days: calls, data sessions and SMS, all within the plan (no charge).
fn recent_cdrs(s: &Subscriber, rng: &mut ChaCha8Rng) -> Vec<Cdr> {
    (0..12u32)
        .map(|k| {
            let kind = ["V", "D", "D", "S"][(k % 4) as usize];
            let at = s.now - Duration::days(i64::from(k) * 20 / 12) - Duration::minutes(rng.random_range(0..1_000));
            let (qty, other) = match kind {
                "V" => (
                    rng.random_range(20..900),
                    format!("13{:09}", rng.random_range(0..1_000_000_000u64)),
                ),
                "D" => (rng.random_range(1_000..300_000), "cmnet".to_string()),
                _ => (1, format!("1065{:04}", rng.random_range(0..10_000))),
            };
            (kind, at, qty, 0, other, "CN")
        })
        .collect()
}

/// Payments: a postpaid subscriber pays each settled bill (by direct debit where there is a bank
/// account); a prepaid one tops up. Then the situations' own payments.
fn payments(s: &Subscriber, paid_bills: &[(i64, NaiveDateTime)], rng: &mut ChaCha8Rng, b: &mut Batch) {
    let mut pays: Vec<(i64, &str, NaiveDateTime, &str)> = Vec::new();
    if s.prepaid {
        for k in 0..rng.random_range(2..4) {
            pays.push((
                [5_000, 10_000, 20_000][rng.random_range(0..3)],
                ["支付宝", "微信支付", "营业厅"][rng.random_range(0..3)],
                s.now - Duration::days(10 + 25 * k as i64) - Duration::minutes(rng.random_range(0..600)),
                "0",
            ));
        }
    } else {
        for (total, issued) in paid_bills {
            let channel = if s.direct_debit {
                "银行代扣"
            } else {
                ["支付宝", "微信支付", "营业厅"][rng.random_range(0..3)]
            };
            let at = *issued + Duration::days(rng.random_range(2..15)) + Duration::minutes(rng.random_range(0..600));
            pays.push((*total, channel, at.min(s.now - Duration::days(10)), "0"));
        }
    }
    let now = s.now;
    match s.sit {
        Situation::PaidStillSuspended => pays.push((10_000, "支付宝", now - Duration::days(1), "0")),
        Situation::TopupPending => pays.push((5_000, "微信支付", now - Duration::hours(3), "1")),
        Situation::TopupFailed => pays.push((5_000, "微信支付", now - Duration::hours(20), "2")),
        Situation::TopupPendingOverdue => pays.push((10_000, "支付宝", now - Duration::hours(30), "1")),
        Situation::DoublePayment => {
            let at = now - Duration::days(2);
            pays.push((10_000, "支付宝", at, "0"));
            pays.push((10_000, "支付宝", at + Duration::seconds(95), "0"));
        }
        // The same top-up submitted twice; the channel refunded the second.
        Situation::RefundIssued => {
            let at = now - Duration::days(4);
            pays.push((5_000, "微信支付", at, "0"));
            pays.push((5_000, "微信支付", at + Duration::seconds(40), "3"));
        }
        Situation::PaymentWrongNumber => wrong_number_rows(s, b),
        _ => {}
    }
    for (k, (amount, channel, at, st)) in pays.into_iter().enumerate() {
        push(
            &mut b.billing,
            "jf_jl",
            JF_JL,
            vec![
                t(format!("JF{:010}{k:02}", s.i)),
                t(s.yhbh),
                V::Money(amount),
                t(channel),
                bt(at),
                t(st),
                t(format!(
                    "{}{:016}",
                    if channel == "支付宝" { "ALI" } else { "WX" },
                    s.i * 100 + k as u64
                )),
            ],
        );
    }
}

/// The mistyped number's prepaid line in billing, credited with the top-up subscriber `s` meant for
/// themselves (nothing reached `s`).
fn wrong_number_rows(s: &Subscriber, b: &mut Batch) {
    let (yhbh, zhbh) = (format!("YW{:010}", s.i), format!("ZW{:010}", s.i));
    push(
        &mut b.billing,
        "yh_zl",
        YH_ZL,
        vec![
            t(&yhbh),
            t(wrong_number(s.i)),
            t(&zhbh),
            t(PLANS[0].0),
            bt(s.now - Duration::days(400)),
            V::Text(None),
            V::Text(None),
            V::Text(None),
            t("YF"),
        ],
    );
    push(
        &mut b.billing,
        "zh_xx",
        ZH_XX,
        vec![
            t(&zhbh),
            V::Money(10_000 + 2_345),
            V::Money(0),
            t("1"),
            V::Text(None),
            V::Text(None),
            V::Text(None),
        ],
    );
    push(
        &mut b.billing,
        "jf_jl",
        JF_JL,
        vec![
            t(format!("JW{:010}00", s.i)),
            t(&yhbh),
            V::Money(10_000),
            t("微信支付"),
            bt(s.now - Duration::hours(26)),
            t("0"),
            t(format!("WX{:016}", s.i * 100 + 99)),
        ],
    );
}
