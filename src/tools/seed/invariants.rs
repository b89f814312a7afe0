//! The demo data explains itself: over 10,000 subscribers, every charge on every bill is explained by the
//! subscriber's usage, subscriptions and usage records, every settled postpaid bill by a payment, and
//! every charged usage record by a roaming trip, an international call or a subscription — except where a
//! situation breaks it on purpose ([`Situation::anomaly`]), and then it must show.
//!
//! The checks read the generated rows (what `seed` inserts), not the generator's own variables.
use super::*;
use std::collections::{BTreeMap, BTreeSet};

/// Rows of one table as maps column → value.
fn table<'a>(tables: &'a [TableRows], name: &str) -> Vec<BTreeMap<&'static str, &'a SeedValue>> {
    tables
        .iter()
        .filter(|t| t.table == name)
        .flat_map(|t| t.rows.iter().map(|r| t.columns.iter().copied().zip(r.iter()).collect()))
        .collect()
}

fn text<'a>(row: &BTreeMap<&str, &'a SeedValue>, col: &str) -> &'a str {
    match row[col] {
        V::Text(Some(s)) => s,
        V::Text(None) => "",
        other => panic!("{col}: {other:?}"),
    }
}

fn num(row: &BTreeMap<&str, &SeedValue>, col: &str) -> i64 {
    match row[col] {
        V::Int(n) | V::Money(n) => *n,
        other => panic!("{col}: {other:?}"),
    }
}

/// The first time of the cycle after `cycle` (YYYYMM), as YYYYMMDDHHMMSS.
fn next_cycle_start(cycle: &str) -> String {
    let (y, m): (i32, u32) = (cycle[..4].parse().unwrap(), cycle[4..].parse().unwrap());
    let d = next_month_first(NaiveDate::from_ymd_opt(y, m, 1).unwrap());
    format!("{}01000000", d.format("%Y%m"))
}

/// Every break of consistency found, with the subscriber index it belongs to.
fn violations(b: &Batch) -> (Vec<(u64, String)>, BTreeMap<&'static str, usize>) {
    let mut out: Vec<(u64, String)> = Vec::new();
    let mut seen: BTreeMap<&'static str, usize> = BTreeMap::new();
    let subs = table(&b.billing, "yh_zl");
    let by = |t: &str| -> BTreeMap<String, Vec<BTreeMap<&'static str, &SeedValue>>> {
        let mut m: BTreeMap<String, Vec<_>> = BTreeMap::new();
        for r in table(&b.billing, t) {
            m.entry(text(&r, "yhbh").to_string()).or_default().push(r);
        }
        m
    };
    let (bills, usage, roaming, vas, pays, cdrs) = (
        by("zd_zb"),
        by("sy_hz"),
        by("my_sy"),
        by("zzyw_dg"),
        by("jf_jl"),
        by("xd_jl"),
    );
    let mut items: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for r in table(&b.billing, "zd_mx") {
        items.entry(text(&r, "zdbh").to_string()).or_default().push(r);
    }
    let none = Vec::new();
    for s in &subs {
        let yhbh = text(s, "yhbh");
        let Some(i) = yhbh.strip_prefix("YH").and_then(|n| n.parse::<u64>().ok()) else {
            // The mistyped number's line: a top-up and nothing else.
            *seen.entry("wrong-number payment").or_default() += pays.get(yhbh).map_or(0, |p| p.len());
            continue;
        };
        let mut bad = |m: String| out.push((i, m));
        let plan = PLANS
            .iter()
            .find(|p| p.0 == text(s, "tcbh"))
            .expect("plan in catalogue");
        let prepaid = text(s, "fflx") == "YF";
        let usage = usage.get(yhbh).unwrap_or(&none);
        let vas = vas.get(yhbh).unwrap_or(&none);
        let pays = pays.get(yhbh).unwrap_or(&none);
        let cdrs = cdrs.get(yhbh).unwrap_or(&none);
        let roaming = roaming.get(yhbh).unwrap_or(&none);
        let in_cycle = |at: &str, cycle: &str| at.starts_with(cycle);
        // Data is charged beyond the plan only once the plan's data is used up.
        for u in usage.iter().filter(|u| num(u, "tcll") > 0) {
            if num(u, "tnll") < plan.3 {
                bad(format!("{}: data beyond the plan with plan data left", text(u, "zq")));
            }
        }
        for bill in bills.get(yhbh).unwrap_or(&none) {
            let (cycle, issued) = (text(bill, "zdq"), text(bill, "cdsj"));
            let its = items.get(text(bill, "zdbh")).unwrap_or(&none);
            let sum_of = |code: &str, svc: Option<&str>| -> i64 {
                its.iter()
                    .filter(|x| text(x, "fylx") == code && svc.is_none_or(|s| text(x, "ywdm") == s))
                    .map(|x| num(x, "fyje"))
                    .sum()
            };
            if its.iter().map(|x| num(x, "fyje")).sum::<i64>() != num(bill, "zdze") {
                bad(format!("{cycle}: items do not add up to the total"));
            }
            let fees: Vec<i64> = its
                .iter()
                .filter(|x| text(x, "fylx") == "01")
                .map(|x| num(x, "fyje"))
                .collect();
            if fees != [plan.2] {
                bad(format!("{cycle}: monthly fee items {fees:?}, plan fee {}", plan.2));
            }
            let Some(u) = usage.iter().find(|u| text(u, "zq") == cycle) else {
                bad(format!("{cycle}: billed without a usage summary"));
                continue;
            };
            *seen.entry("bills").or_default() += 1;
            // Data beyond the plan: billed as the summary says, and only once the plan's data is used.
            if sum_of("02", None) != num(u, "tcllf") || num(u, "tcllf") != num(u, "tcll") * DATA_FEN_PER_GB / 1024 {
                bad(format!("{cycle}: data charge does not match the data beyond the plan"));
            }
            // Domestic voice: minutes beyond the plan at the tariff, and those minutes used.
            let over = num(u, "cyy");
            let domestic: i64 = its
                .iter()
                .filter(|x| text(x, "fylx") == "03" && text(x, "ywdm") != IDD_CODE)
                .map(|x| num(x, "fyje"))
                .sum();
            if domestic != over * VOICE_FEN_PER_MIN || (over > 0 && num(u, "yysc") != plan.4 + over) {
                bad(format!(
                    "{cycle}: voice charge {domestic} for {over} minute(s) beyond the plan"
                ));
            }
            if domestic > 0 {
                *seen.entry("voice charges").or_default() += 1;
            }
            let idd: i64 = cdrs
                .iter()
                .filter(|c| text(c, "dfhm").starts_with("00") && in_cycle(text(c, "kssj"), cycle))
                .map(|c| num(c, "fy"))
                .sum();
            if sum_of("03", Some(IDD_CODE)) != idd {
                bad(format!(
                    "{cycle}: international calls billed {} but recorded {idd}",
                    sum_of("03", Some(IDD_CODE))
                ));
            }
            if idd > 0 {
                *seen.entry("international calls").or_default() += 1;
            }
            let sms_over = (num(u, "dxts") - plan.5).max(0);
            if sum_of("04", None) != sms_over * SMS_FEN {
                bad(format!("{cycle}: SMS charge for {sms_over} SMS beyond the plan"));
            }
            if sms_over > 0 {
                *seen.entry("SMS charges").or_default() += 1;
            }
            let roamed: i64 = roaming
                .iter()
                .filter(|r| text(r, "zq") == cycle)
                .map(|r| num(r, "myfy"))
                .sum();
            if sum_of("06", None) != roamed {
                bad(format!("{cycle}: roaming charge does not match the roaming usage"));
            }
            // Value-added: a subscription that ran in the cycle, subscribed before the bill, at its fee.
            let start = format!("{cycle}01000000");
            let end = next_cycle_start(cycle);
            for x in its.iter().filter(|x| text(x, "fylx") == "05") {
                let sub = vas.iter().find(|v| text(v, "ywdm") == text(x, "ywdm"));
                match sub {
                    None => bad(format!("{cycle}: value-added charge without a subscription")),
                    Some(v) if text(v, "dgsj") >= issued || text(v, "dgsj") >= end.as_str() => {
                        bad(format!("{cycle}: value-added service billed before it was subscribed"))
                    }
                    Some(v) if text(v, "zt") == "0" && text(v, "tdsj") < start.as_str() => {
                        bad(format!("{cycle}: value-added service billed after its cancellation"))
                    }
                    Some(v) if num(v, "yf") != num(x, "fyje") => {
                        bad(format!("{cycle}: value-added charge not at its fee"))
                    }
                    Some(_) => *seen.entry("value-added charges").or_default() += 1,
                }
            }
            // And every subscription that ran in the cycle is billed on it.
            for v in vas {
                let ran = text(v, "dgsj") < end.as_str() && (text(v, "zt") == "1" || text(v, "tdsj") >= start.as_str());
                if ran && sum_of("05", Some(text(v, "ywdm"))) == 0 {
                    bad(format!(
                        "{cycle}: subscription {} ran but was not billed",
                        text(v, "ywdm")
                    ));
                }
            }
            // Settled postpaid bills were paid, after they were issued, in full.
            match text(bill, "zdzt") {
                "1" if !prepaid => {
                    let paid = pays.iter().any(|p| {
                        text(p, "jfzt") == "0" && num(p, "jfje") == num(bill, "zdze") && text(p, "jfsj") > issued
                    });
                    if !paid {
                        bad(format!("{cycle}: settled without a payment of its total"));
                    }
                }
                "1" => {}
                _ if !prepaid => {
                    if pays.iter().any(|p| text(p, "jfzt") == "0" && text(p, "jfsj") > issued) {
                        bad(format!("{cycle}: overdue although paid after it was issued"));
                    }
                }
                _ => bad(format!("{cycle}: a prepaid line with an overdue bill")),
            }
        }
        // Usage records with a charge: a trip abroad (as the roaming summary says), an international call,
        // or a running subscription at its fee.
        for c in cdrs.iter().filter(|c| num(c, "fy") > 0) {
            let ok = match (text(c, "lx"), text(c, "gjdm")) {
                (_, country) if country != "CN" => roaming.iter().any(|r| {
                    text(r, "gjdm") == country
                        && in_cycle(text(c, "kssj"), text(r, "zq"))
                        && num(r, "myfy")
                            == cdrs
                                .iter()
                                .filter(|d| text(d, "gjdm") == country && in_cycle(text(d, "kssj"), text(r, "zq")))
                                .map(|d| num(d, "fy"))
                                .sum::<i64>()
                }),
                ("V", _) => text(c, "dfhm").starts_with("00"),
                ("Z", _) => vas.iter().any(|v| {
                    text(v, "ywdm") == text(c, "dfhm") && text(v, "zt") == "1" && num(v, "yf") == num(c, "fy")
                }),
                _ => false,
            };
            if !ok {
                bad(format!(
                    "usage record {} charged {} unexplained",
                    text(c, "xdbh"),
                    num(c, "fy")
                ));
            }
        }
        if vas.iter().any(|v| text(v, "zt") == "0") {
            *seen.entry("cancelled services").or_default() += 1;
        }
        if pays.iter().any(|p| text(p, "jfzt") == "3") {
            *seen.entry("refunds").or_default() += 1;
        }
    }
    for sim in table(&b.resource, "r_sim") {
        if text(&sim, "sim_stat_cd") == "R" {
            *seen.entry("replaced SIMs").or_default() += 1;
        }
    }
    (out, seen)
}

fn generate(n: u64) -> Batch {
    let opts = SeedOptions::new(n, NaiveDate::from_ymd_opt(2026, 11, 28).unwrap());
    let mut b = Batch::default();
    for i in 0..n {
        subscriber_rows(&opts, i, &mut b);
    }
    b
}

#[test]
fn every_charge_is_explained_over_ten_thousand_subscribers_except_the_labelled_anomalies() {
    let b = generate(10_000);
    let (found, seen) = violations(&b);
    // Nothing breaks outside a situation labelled as an anomaly.
    let unlabelled: Vec<String> = found
        .iter()
        .filter(|(i, _)| Situation::of(*i).anomaly().is_none())
        .take(10)
        .map(|(i, m)| format!("{} ({}): {m}", msisdn(*i), Situation::of(*i).name()))
        .collect();
    assert!(unlabelled.is_empty(), "unexplained data:\n{}", unlabelled.join("\n"));
    // Each labelled anomaly shows in every subscriber of its situation (or the label is a lie).
    let broken: BTreeSet<u64> = found.iter().map(|(i, _)| *i).collect();
    for s in SITUATIONS.iter().filter(|s| s.anomaly().is_some()) {
        let of: Vec<u64> = (0..10_000).filter(|i| Situation::of(*i) == *s).collect();
        assert!(of.len() > 200, "{}", s.name());
        let missing: Vec<&u64> = of.iter().filter(|i| !broken.contains(i)).take(3).collect();
        assert!(missing.is_empty(), "{} without its anomaly: {missing:?}", s.name());
    }
    // The situations the data lacked are there, and ordinary charges are many.
    for (what, at_least) in [
        ("bills", 29_000),
        ("voice charges", 3_000),
        ("value-added charges", 1_000),
        ("SMS charges", 250),
        ("international calls", 250),
        ("cancelled services", 400),
        ("refunds", 250),
        ("replaced SIMs", 250),
        ("wrong-number payment", 250),
    ] {
        assert!(seen.get(what).copied().unwrap_or(0) >= at_least, "{what}: {seen:?}");
    }
}

#[test]
fn the_checks_catch_a_charge_the_data_does_not_explain() {
    // A value-added charge on a bill issued before the service was subscribed (what the demo data did).
    let mut b = generate(80);
    let i = Situation::VasConsented.first_index();
    assert!(violations(&b).0.iter().all(|(j, _)| *j != i));
    let vas = b.billing.iter_mut().find(|t| t.table == "zzyw_dg").unwrap();
    let row = vas.rows.iter_mut().find(|r| r[1] == t(format!("YH{i:010}"))).unwrap();
    row[6] = t("20261127000000");
    let found = violations(&b).0;
    assert!(
        found
            .iter()
            .any(|(j, m)| *j == i && m.contains("billed before it was subscribed")),
        "{found:?}"
    );
    // A voice charge with no minutes beyond the plan.
    let mut b = generate(80);
    let usage = b.billing.iter_mut().find(|t| t.table == "sy_hz").unwrap();
    let k = Situation::VoiceOverage.first_index();
    for r in usage.rows.iter_mut().filter(|r| r[0] == t(format!("YH{k:010}"))) {
        r[6] = V::Int(0);
    }
    assert!(violations(&b)
        .0
        .iter()
        .any(|(j, m)| *j == k && m.contains("voice charge")));
}
