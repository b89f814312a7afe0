//! End-to-end: the unified view over three seeded SQLite backends, through a real server on 127.0.0.1:0.
use complaint_gateway::proto::complaint::v1::*;
use complaint_gateway::testkit::{self, req};
use complaint_gateway::tools::seed::{self, Situation};
use tonic::Code;

async fn server(dir: &std::path::Path, n: u64) -> testkit::RunningServer {
    let urls = testkit::sqlite_urls(dir);
    testkit::seed(&urls, n).await.unwrap();
    testkit::spawn(testkit::config(&urls)).await.unwrap()
}

fn view_req(msisdn: &str) -> GetSubscriberViewRequest {
    GetSubscriberViewRequest {
        msisdn: msisdn.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn full_view_from_three_sources() {
    let dir = tempfile::tempdir().unwrap();
    let srv = server(dir.path(), 60).await;
    let mut c = testkit::data_client(&srv).await.unwrap();

    let number = seed::msisdn(Situation::VasNoConsent.first_index());
    let r = c
        .get_subscriber_view(req(view_req(&format!("+86 {number}"))))
        .await
        .unwrap()
        .into_inner();
    let states: Vec<(String, SourceState)> = r.sources.iter().map(|s| (s.source.clone(), s.state())).collect();
    assert_eq!(
        states,
        vec![
            ("billing".into(), SourceState::Ok),
            ("crm".into(), SourceState::Ok),
            ("resource".into(), SourceState::Ok)
        ]
    );
    let v = r.view.unwrap();
    assert_eq!(v.msisdn, number);

    // CRM
    let cust = v.customer.unwrap();
    assert_eq!(cust.customer_id, "C000000001");
    assert!(!cust.name.is_empty() && cust.id_number.len() == 18, "{cust:?}");
    assert_eq!(cust.id_type(), IdDocumentType::ResidentId);
    assert!(seed::CITIES
        .iter()
        .any(|(code, name, _)| *code == cust.region_code && *name == cust.city_name));
    assert!(cust.address.starts_with("浙江省"));
    assert!(cust.customer_since.is_some());

    // Billing: account, plan, bills with items, usage, VAS without consent, payments.
    let acc = v.account.unwrap();
    assert_eq!(acc.account_id, "ZH0000000001");
    assert_eq!(acc.status(), AccountStatus::Active);
    assert!(acc.balance_fen > 0);
    let plan = v.plan.unwrap();
    assert!(seed::PLANS
        .iter()
        .any(|p| p.0 == plan.plan_id && p.1 == plan.name && p.2 == plan.monthly_fee_fen));
    assert!(plan.effective_at.is_some());
    assert_eq!(v.recent_bills.len(), 3);
    assert_eq!(v.recent_bills[0].cycle, "202610");
    assert_eq!(v.recent_bills[2].cycle, "202608");
    for b in &v.recent_bills {
        let sum: i64 = b.items.iter().map(|i| i.amount_fen).sum();
        assert_eq!(sum, b.total_fen, "items add up to the bill total in {}", b.cycle);
        assert_eq!(b.items[0].charge_type(), ChargeType::MonthlyFee);
    }
    assert_eq!(
        v.usage.iter().map(|u| u.cycle.as_str()).collect::<Vec<_>>(),
        vec!["202611", "202610", "202609", "202608"],
        "the current cycle, then each billed one"
    );
    assert_eq!(v.vas_subscriptions.len(), 1);
    let vas = &v.vas_subscriptions[0];
    assert_eq!(vas.consent_record, "", "the situation is a VAS without consent");
    assert_eq!(vas.status(), VasStatus::Active);
    assert!(v.recent_bills[0]
        .items
        .iter()
        .any(|i| i.charge_type() == ChargeType::ValueAdded
            && i.service_code == vas.service_code
            && i.amount_fen == vas.monthly_fee_fen));
    assert!(v.payments.len() >= 2 && v.payments.iter().all(|p| p.status() == PaymentStatus::Credited));

    // Resource: line, cells, broadband when present.
    let line = v.line.unwrap();
    assert_eq!(line.iccid, "89860000000000000001");
    assert_eq!(line.sim_status(), SimStatus::Active);
    assert!(!line.terminal_model.is_empty());
    let net = v.network.unwrap();
    assert_eq!(net.cells.len(), 3);
    assert!(net.cells.windows(2).all(|w| w[0].distance_m <= w[1].distance_m));
    assert!(v.marketing.is_some());
    assert!(r.sources.iter().all(|s| s.fetched_at.is_some()));
}

#[tokio::test]
async fn situations_show_in_the_view() {
    let dir = tempfile::tempdir().unwrap();
    let srv = server(dir.path(), 40).await;
    let mut c = testkit::data_client(&srv).await.unwrap();
    let get = |s: Situation| view_req(&seed::msisdn(s.first_index()));

    let v = c
        .get_subscriber_view(req(get(Situation::PaidStillSuspended)))
        .await
        .unwrap()
        .into_inner()
        .view
        .unwrap();
    let acc = v.account.unwrap();
    assert_eq!(acc.status(), AccountStatus::Suspended);
    assert_eq!(acc.suspension_reason, "欠费停机");
    assert!(acc.balance_fen > 0);
    let last_pay = v.payments.iter().max_by_key(|p| p.paid_at.unwrap().seconds).unwrap();
    assert!(
        last_pay.paid_at.unwrap().seconds > acc.suspended_at.unwrap().seconds,
        "paid after suspension"
    );
    assert_eq!(v.line.unwrap().sim_status(), SimStatus::Suspended);

    let v = c
        .get_subscriber_view(req(get(Situation::PendingPlanChange)))
        .await
        .unwrap()
        .into_inner()
        .view
        .unwrap();
    let plan = v.plan.unwrap();
    assert_eq!(plan.pending_plan_id, "P4G58");
    assert_eq!(plan.pending_plan_name, "4G畅享58元套餐");
    // 2026-12-01 00:00 Beijing time.
    assert_eq!(plan.pending_effective_at.unwrap().seconds, 1_796_054_400);
    assert_eq!(v.service_orders[0].order_type(), ServiceOrderType::PlanChange);
    assert_eq!(v.service_orders[0].status(), ServiceOrderStatus::Pending);

    let v = c
        .get_subscriber_view(req(get(Situation::RoamingNoPack)))
        .await
        .unwrap()
        .into_inner()
        .view
        .unwrap();
    let roam = &v.usage[1].roaming[0];
    assert_eq!(
        (roam.country_code.as_str(), roam.charged_fen, roam.pack_applied),
        ("JP", 26_800, false)
    );
    assert!(v.usage[0].roaming.is_empty(), "LEFT JOIN without a match adds no child");

    let v = c
        .get_subscriber_view(req(get(Situation::CellOutage)))
        .await
        .unwrap()
        .into_inner()
        .view
        .unwrap();
    let net = v.network.unwrap();
    let down: Vec<_> = net.cells.iter().filter(|c| c.status() == CellStatus::Down).collect();
    assert_eq!(down.len(), 1);
    assert!(net
        .outages
        .iter()
        .any(|o| o.element_id == down[0].cell_id && o.resolved_at.is_none()));

    let v = c
        .get_subscriber_view(req(get(Situation::BroadbandAlarm)))
        .await
        .unwrap()
        .into_inner()
        .view
        .unwrap();
    let bb = v.network.unwrap().broadband.unwrap();
    assert_eq!(bb.status(), PortStatus::Down);
    assert_eq!(bb.last_alarm, "LOS 光信号丢失");

    let v = c
        .get_subscriber_view(req(get(Situation::TopupPending)))
        .await
        .unwrap()
        .into_inner()
        .view
        .unwrap();
    assert!(v
        .payments
        .iter()
        .any(|p| p.status() == PaymentStatus::Pending && p.channel == "微信支付" && p.amount_fen == 5_000));

    let v = c
        .get_subscriber_view(req(get(Situation::PortOutRejected)))
        .await
        .unwrap()
        .into_inner()
        .view
        .unwrap();
    let o = &v.service_orders[0];
    assert_eq!(
        (o.order_type(), o.status()),
        (ServiceOrderType::PortOut, ServiceOrderStatus::Rejected)
    );
    assert_eq!(o.reject_reason, "合约期未满，需先解除合约");

    let v = c
        .get_subscriber_view(req(get(Situation::DuplicateMonthlyFee)))
        .await
        .unwrap()
        .into_inner()
        .view
        .unwrap();
    let fees = v.recent_bills[0]
        .items
        .iter()
        .filter(|i| i.charge_type() == ChargeType::MonthlyFee)
        .count();
    assert_eq!(fees, 2);

    let v = c
        .get_subscriber_view(req(get(Situation::MarketingAfterOptOut)))
        .await
        .unwrap()
        .into_inner()
        .view
        .unwrap();
    let m = v.marketing.unwrap();
    assert!(
        m.opted_out && m.contacts_last_30d == 9 && m.last_contact_at.unwrap().seconds > m.opted_out_at.unwrap().seconds
    );

    let v = c
        .get_subscriber_view(req(get(Situation::TerminalNot5g)))
        .await
        .unwrap()
        .into_inner()
        .view
        .unwrap();
    let line = v.line.unwrap();
    assert!(line.plan_5g && !line.terminal_5g);
}

#[tokio::test]
async fn source_filter_limits_the_view() {
    let dir = tempfile::tempdir().unwrap();
    let srv = server(dir.path(), 5).await;
    let mut c = testkit::data_client(&srv).await.unwrap();
    let r = c
        .get_subscriber_view(req(GetSubscriberViewRequest {
            msisdn: seed::msisdn(2),
            sources: vec!["crm".into()],
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.sources.len(), 1);
    assert_eq!(r.sources[0].source, "crm");
    let v = r.view.unwrap();
    assert!(v.customer.is_some() && v.account.is_none() && v.line.is_none());
}

#[tokio::test]
async fn bad_input_gets_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let srv = server(dir.path(), 5).await;
    let mut c = testkit::data_client(&srv).await.unwrap();

    let e = c.get_subscriber_view(req(view_req("12345"))).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message().starts_with("msisdn: must be an 11-digit"),
        "{}",
        e.message()
    );

    let e = c.get_subscriber_view(req(view_req(""))).await.unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (
            Code::InvalidArgument,
            "msisdn: required: an 11-digit mobile number such as 13800138000"
        )
    );

    // An injection string is rejected as a malformed number, never reaches SQL as text.
    let e = c
        .get_subscriber_view(req(view_req("13800000000' OR '1'='1")))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);

    let e = c
        .get_subscriber_view(req(GetSubscriberViewRequest {
            msisdn: seed::msisdn(1),
            sources: vec!["crm".into(), "biling".into()],
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(
        e.message(),
        "sources[1]: unknown source `biling`; configured sources: billing, crm, resource"
    );

    // A well-formed number nobody has.
    let e = c.get_subscriber_view(req(view_req("19912345678"))).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert_eq!(e.message(), "no subscriber 19912345678 in any source");
}

/// Request values are bound parameters: a number-shaped value with SQL in the source filter or purpose
/// changes nothing, and the backends' tables are intact afterwards.
#[tokio::test]
async fn injection_strings_are_inert() {
    let dir = tempfile::tempdir().unwrap();
    let srv = server(dir.path(), 5).await;
    let mut c = testkit::data_client(&srv).await.unwrap();
    let r = c
        .get_subscriber_view(req(GetSubscriberViewRequest {
            msisdn: seed::msisdn(3),
            sources: vec![],
            purpose: "x'; DROP TABLE yh_zl; --".into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(r.sources.iter().all(|s| s.state() == SourceState::Ok));
    let e = c
        .get_subscriber_view(req(GetSubscriberViewRequest {
            msisdn: seed::msisdn(3),
            sources: vec!["billing; DROP TABLE zh_xx".into()],
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    // Tables still there.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", dir.path().join("billing.db").display()))
        .await
        .unwrap();
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM yh_zl")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 5);
}
