//! Properties of the generated demo data.
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
