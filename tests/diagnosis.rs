//! Diagnosis end to end, over a real server on seeded SQLite backends: for every cause of every loaded
//! scenario, a demo subscriber and a complaint give that scenario and cause, with a reply carrying the
//! subscriber's own figures (read from the view here, not written into the test); a missing-data case asks
//! and then concludes; bad input is refused naming the field; records land in the gateway's store.
use chrono::{DateTime, Datelike, Timelike};
use complaint_gateway::diagnosis::records::SqlComplaintStore;
use complaint_gateway::error::Error;
use complaint_gateway::proto::complaint::v1::diagnosis_service_client::DiagnosisServiceClient;
use complaint_gateway::proto::complaint::v1::{
    ActionKind, Answer, ChargeType, ClassifyRequest, DiagnoseRequest, DiagnoseResponse, DiagnosisOutcome,
    GetScenarioRequest, GetSubscriberViewRequest, ListScenariosRequest, PaymentStatus, ServiceOrderStatus,
    ServiceOrderType, SubscriberView,
};
use complaint_gateway::testkit::{self, RunningServer};
use complaint_gateway::tools::seed::{self, Situation};
use std::collections::BTreeSet;
use tonic::transport::Channel;
use tonic::Code;

/// Subscribers seeded: two full cycles of situations.
const SUBSCRIBERS: u64 = 80;

struct Env {
    _dir: tempfile::TempDir,
    server: RunningServer,
    store_url: String,
}

async fn setup() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let urls = testkit::sqlite_urls(dir.path());
    testkit::seed(&urls, SUBSCRIBERS).await.unwrap();
    let mut cfg = testkit::config(&urls);
    // The data is as of 2026-11-28 10:00 Beijing time: scenarios compare dates against that.
    cfg.diagnosis.now = Some(DateTime::parse_from_rfc3339("2026-11-28T10:00:00+08:00").unwrap());
    cfg.diagnosis.reload_interval_ms = 0;
    let store_url = format!("sqlite://{}", dir.path().join("gateway.db").display());
    cfg.store.url = store_url.clone();
    let server = testkit::spawn(cfg).await.unwrap();
    Env {
        _dir: dir,
        server,
        store_url,
    }
}

async fn client(env: &Env) -> DiagnosisServiceClient<Channel> {
    // The server starts serving once the scenarios are loaded: retry the connection briefly.
    for _ in 0..50 {
        if let Ok(c) = DiagnosisServiceClient::connect(env.server.url()).await {
            return c;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the server did not come up");
}

async fn view_of(env: &Env, msisdn: &str) -> SubscriberView {
    let mut c = testkit::data_client(&env.server).await.unwrap();
    c.get_subscriber_view(testkit::req(GetSubscriberViewRequest {
        msisdn: msisdn.into(),
        ..Default::default()
    }))
    .await
    .unwrap()
    .into_inner()
    .view
    .unwrap()
}

fn diagnose_req(msisdn: &str, category: &str, text: &str, answers: &[(&str, &str)], id: &str) -> DiagnoseRequest {
    DiagnoseRequest {
        msisdn: msisdn.into(),
        text: text.into(),
        category: category.into(),
        answers: answers
            .iter()
            .map(|(q, v)| Answer {
                question_id: q.to_string(),
                value: v.to_string(),
            })
            .collect(),
        complaint_id: id.into(),
        dry_run: false,
    }
}

// ---- the subscriber's figures, formatted the way the company writes them ----

fn yuan(fen: i64) -> String {
    format!(
        "{}{}.{:02}元",
        if fen < 0 { "-" } else { "" },
        fen.abs() / 100,
        fen.abs() % 100
    )
}

fn bj(ts: &Option<prost_types::Timestamp>) -> DateTime<chrono::FixedOffset> {
    let ts = ts.as_ref().expect("timestamp set");
    DateTime::from_timestamp(ts.seconds, 0)
        .unwrap()
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
}

fn date(ts: &Option<prost_types::Timestamp>) -> String {
    let t = bj(ts);
    format!("{}年{}月{}日", t.year(), t.month(), t.day())
}

fn datetime(ts: &Option<prost_types::Timestamp>) -> String {
    let t = bj(ts);
    format!("{} {:02}:{:02}", date(ts), t.hour(), t.minute())
}

fn cycle(c: &str) -> String {
    format!("{}年{}月", &c[..4], c[4..].trim_start_matches('0'))
}

fn data_mb(mb: i64) -> String {
    if mb >= 1024 {
        format!("{:.1}GB", mb as f64 / 1024.0)
    } else {
        format!("{mb}MB")
    }
}

fn plan(v: &SubscriberView) -> &complaint_gateway::proto::complaint::v1::Plan {
    v.plan.as_ref().unwrap()
}

fn account(v: &SubscriberView) -> &complaint_gateway::proto::complaint::v1::Account {
    v.account.as_ref().unwrap()
}

fn payment(v: &SubscriberView, st: PaymentStatus) -> &complaint_gateway::proto::complaint::v1::Payment {
    v.payments
        .iter()
        .find(|p| p.status() == st)
        .expect("payment of that status")
}

fn order(
    v: &SubscriberView,
    t: ServiceOrderType,
    st: ServiceOrderStatus,
) -> &complaint_gateway::proto::complaint::v1::ServiceOrder {
    v.service_orders
        .iter()
        .find(|o| o.order_type() == t && o.status() == st)
        .expect("order")
}

/// Who a case is about.
#[derive(Clone, Copy, Debug)]
enum Who {
    /// The first subscriber with this situation.
    First(Situation),
    /// An ordinary subscriber without broadband data in the resource system (found by reading views).
    NoBroadband,
}

struct Case {
    who: Who,
    category: &'static str,
    text: &'static str,
    answers: &'static [(&'static str, &'static str)],
    scenario: &'static str,
    cause: &'static str,
    /// The subscriber's own figures the reply must contain.
    figures: fn(&SubscriberView) -> Vec<String>,
}

fn cases() -> Vec<Case> {
    use Situation as S;
    use Who::*;
    vec![
        Case {
            who: First(S::DuplicateMonthlyFee),
            category: "billing.unexpected_charge",
            text: "这个月账单怎么月租扣了两次？",
            answers: &[],
            scenario: "billing.duplicate_monthly_fee",
            cause: "DUPLICATE_MONTHLY_FEE",
            figures: |v| {
                vec![
                    plan(v).name.clone(),
                    yuan(plan(v).monthly_fee_fen),
                    cycle(&v.recent_bills[0].cycle),
                ]
            },
        },
        Case {
            who: First(S::VoiceOverage),
            category: "billing.unexpected_charge",
            text: "上个月话费比平时多了三十多块，不知道扣的什么钱",
            answers: &[],
            scenario: "billing.voice_overage",
            cause: "VOICE_OVERAGE",
            figures: |v| {
                let voice: i64 = v.recent_bills[0]
                    .items
                    .iter()
                    .filter(|i| i.charge_type() == ChargeType::Voice)
                    .map(|i| i.amount_fen)
                    .sum();
                let over = v
                    .usage
                    .iter()
                    .find(|u| u.cycle == v.recent_bills[0].cycle)
                    .unwrap()
                    .voice_over_plan_min;
                vec![yuan(voice), format!("{over}分钟"), plan(v).name.clone()]
            },
        },
        Case {
            who: First(S::DataOverage),
            category: "billing.data_overage",
            text: "流量超了扣了我六十块，套餐里的流量呢",
            answers: &[],
            scenario: "data.overage",
            cause: "DATA_BEYOND_PLAN",
            figures: |v| {
                vec![
                    yuan(v.usage[0].data_over_plan_fen),
                    data_mb(plan(v).included_data_mb),
                    plan(v).name.clone(),
                ]
            },
        },
        Case {
            who: First(S::DataBilledEarly),
            category: "billing.data_overage",
            text: "套餐流量还没用完就开始收超出流量费",
            answers: &[],
            scenario: "data.overage",
            cause: "DATA_BILLED_BEFORE_PLAN_USED",
            figures: |v| {
                vec![
                    yuan(v.usage[0].data_over_plan_fen),
                    data_mb(plan(v).included_data_mb - v.usage[0].data_in_plan_mb),
                ]
            },
        },
        Case {
            who: First(S::VasNoConsent),
            category: "vas.unsolicited_subscription",
            text: "我从来没订过什么视频彩铃，每个月都在扣钱",
            answers: &[],
            scenario: "vas.no_consent",
            cause: "VAS_NO_CONSENT",
            figures: |v| {
                let s = &v.vas_subscriptions[0];
                let billed: i64 = v
                    .recent_bills
                    .iter()
                    .flat_map(|b| &b.items)
                    .filter(|i| i.charge_type() == ChargeType::ValueAdded && i.service_code == s.service_code)
                    .map(|i| i.amount_fen)
                    .sum();
                vec![
                    s.service_name.clone(),
                    yuan(s.monthly_fee_fen),
                    date(&s.subscribed_at),
                    yuan(billed),
                ]
            },
        },
        Case {
            who: First(S::VasConsented),
            category: "vas.unsolicited_subscription",
            text: "手机里多了一个增值业务在扣费",
            answers: &[("recalls_consent", "yes")],
            scenario: "vas.consent_disputed",
            cause: "VAS_CONSENT_CONFIRMED",
            figures: |v| {
                let s = &v.vas_subscriptions[0];
                vec![s.service_name.clone(), yuan(s.monthly_fee_fen), date(&s.subscribed_at)]
            },
        },
        Case {
            who: First(S::VasConsented),
            category: "vas.unsolicited_subscription",
            text: "手机里多了一个增值业务在扣费，我没同意过",
            answers: &[("recalls_consent", "no")],
            scenario: "vas.consent_disputed",
            cause: "VAS_CONSENT_DISPUTED",
            figures: |v| {
                vec![
                    v.vas_subscriptions[0].service_name.clone(),
                    date(&v.vas_subscriptions[0].subscribed_at),
                ]
            },
        },
        Case {
            who: First(S::PendingPlanChange),
            category: "plan.change_issue",
            text: "改了套餐怎么还是按原来的收费",
            answers: &[],
            scenario: "plan.pending_change",
            cause: "PLAN_CHANGE_PENDING",
            figures: |v| {
                vec![
                    plan(v).name.clone(),
                    plan(v).pending_plan_name.clone(),
                    date(&plan(v).pending_effective_at),
                ]
            },
        },
        Case {
            who: First(S::PlanChangeRejected),
            category: "plan.change_issue",
            text: "想换便宜的套餐，为什么不给办",
            answers: &[],
            scenario: "plan.change_rejected",
            cause: "PLAN_CHANGE_REJECTED",
            figures: |v| {
                let o = order(v, ServiceOrderType::PlanChange, ServiceOrderStatus::Rejected);
                vec![
                    o.reject_reason.clone(),
                    date(&o.created_at),
                    date(&plan(v).contract_end_at),
                ]
            },
        },
        Case {
            who: First(S::CellOutage),
            category: "network.mobile_coverage",
            text: "今天家里手机一点信号都没有",
            answers: &[],
            scenario: "coverage.cell_outage",
            cause: "CELL_OUTAGE",
            figures: |v| {
                let net = v.network.as_ref().unwrap();
                let o = net.outages.iter().find(|o| o.resolved_at.is_none()).unwrap();
                let cell = net.cells.iter().find(|c| c.cell_id == o.element_id).unwrap();
                vec![
                    cell.name.clone(),
                    o.description.clone(),
                    datetime(&o.expected_resolution_at),
                ]
            },
        },
        Case {
            who: First(S::TerminalNot5g),
            category: "network.mobile_coverage",
            text: "办了5G套餐网速还是很慢",
            answers: &[],
            scenario: "coverage.terminal_not_5g",
            cause: "TERMINAL_NOT_5G",
            figures: |v| vec![v.line.as_ref().unwrap().terminal_model.clone(), plan(v).name.clone()],
        },
        Case {
            who: First(S::Normal),
            category: "network.mobile_coverage",
            text: "家里信号很差，打电话老断",
            answers: &[("weak_where", "indoor")],
            scenario: "coverage.indoor",
            cause: "INDOOR_COVERAGE",
            figures: |v| {
                let c = &v.network.as_ref().unwrap().cells[0];
                vec![c.name.clone(), format!("{}米", c.distance_m)]
            },
        },
        Case {
            who: First(S::Normal),
            category: "network.mobile_coverage",
            text: "这一片信号都很差",
            answers: &[("weak_where", "everywhere")],
            scenario: "coverage.indoor",
            cause: "AREA_COVERAGE",
            figures: |v| {
                v.network
                    .as_ref()
                    .unwrap()
                    .cells
                    .iter()
                    .map(|c| c.name.clone())
                    .collect()
            },
        },
        Case {
            who: First(S::BroadbandAlarm),
            category: "network.broadband_fault",
            text: "家里宽带从早上开始就上不了网",
            answers: &[],
            scenario: "broadband.port_alarm",
            cause: "BROADBAND_LINE_FAULT",
            figures: |v| {
                let net = v.network.as_ref().unwrap();
                let bb = net.broadband.as_ref().unwrap();
                let fault = net.outages.iter().find(|o| o.element_id == bb.port_id).unwrap();
                vec![
                    bb.account.clone(),
                    bb.last_alarm.clone(),
                    datetime(&bb.last_alarm_at),
                    datetime(&fault.expected_resolution_at),
                ]
            },
        },
        Case {
            who: NoBroadband,
            category: "network.broadband_fault",
            text: "宽带断网了",
            answers: &[("modem_light", "los_red")],
            scenario: "broadband.modem_check",
            cause: "OPTICAL_LINE_SUSPECTED",
            figures: |v| vec![v.msisdn.clone()],
        },
        Case {
            who: NoBroadband,
            category: "network.broadband_fault",
            text: "宽带很慢经常掉线",
            answers: &[("modem_light", "normal")],
            scenario: "broadband.modem_check",
            cause: "HOME_NETWORK_ISSUE",
            figures: |v| vec![v.msisdn.clone()],
        },
        Case {
            who: First(S::BroadbandInstallDelayed),
            category: "network.broadband_fault",
            text: "宽带报装快两个星期了还没人来装",
            answers: &[],
            scenario: "broadband.install_delay",
            cause: "BROADBAND_INSTALL_OVERDUE",
            figures: |v| {
                let o = order(v, ServiceOrderType::BroadbandInstall, ServiceOrderStatus::Pending);
                vec![o.detail.clone(), date(&o.created_at), datetime(&o.effective_at)]
            },
        },
        Case {
            who: First(S::PaidStillSuspended),
            category: "service.suspension",
            text: "昨天就交了钱，手机还是停机",
            answers: &[],
            scenario: "suspension.paid_not_restored",
            cause: "LINE_NOT_RESTORED_AFTER_PAYMENT",
            figures: |v| {
                let a = account(v);
                let p = v
                    .payments
                    .iter()
                    .filter(|p| p.status() == PaymentStatus::Credited)
                    .max_by_key(|p| p.paid_at.as_ref().unwrap().seconds)
                    .unwrap();
                vec![
                    yuan(p.amount_fen),
                    p.channel.clone(),
                    datetime(&p.paid_at),
                    yuan(a.balance_fen),
                ]
            },
        },
        Case {
            who: First(S::SuspendedForRealName),
            category: "service.suspension",
            text: "号码突然被停了，说要实名",
            answers: &[],
            scenario: "suspension.real_name",
            cause: "REAL_NAME_VERIFICATION",
            figures: |v| {
                let a = account(v);
                vec![
                    a.suspension_reason.clone(),
                    datetime(&a.suspended_at),
                    v.customer.as_ref().unwrap().city_name.clone(),
                ]
            },
        },
        Case {
            who: First(S::SuspendedArrears),
            category: "service.suspension",
            text: "手机停机了",
            answers: &[],
            scenario: "suspension.arrears",
            cause: "ARREARS_SUSPENSION",
            figures: |v| {
                let a = account(v);
                vec![
                    yuan(-a.balance_fen),
                    datetime(&a.suspended_at),
                    yuan(v.recent_bills[0].total_fen),
                ]
            },
        },
        Case {
            who: First(S::TopupPending),
            category: "payment.topup_not_credited",
            text: "微信充了50块钱话费没到账",
            answers: &[],
            scenario: "payment.pending",
            cause: "TOPUP_PENDING_IN_CHANNEL",
            figures: |v| {
                let p = payment(v, PaymentStatus::Pending);
                vec![yuan(p.amount_fen), p.channel_reference.clone(), datetime(&p.paid_at)]
            },
        },
        Case {
            who: First(S::TopupPendingOverdue),
            category: "payment.topup_not_credited",
            text: "昨天支付宝充的一百块到现在都没到账",
            answers: &[],
            scenario: "payment.pending",
            cause: "TOPUP_PENDING_OVERDUE",
            figures: |v| {
                let p = payment(v, PaymentStatus::Pending);
                vec![yuan(p.amount_fen), datetime(&p.paid_at)]
            },
        },
        Case {
            who: First(S::DoublePayment),
            category: "payment.topup_not_credited",
            text: "支付宝交话费扣了我两次钱",
            answers: &[],
            scenario: "payment.duplicate",
            cause: "DUPLICATE_PAYMENT",
            figures: |v| {
                let later = v
                    .payments
                    .iter()
                    .max_by_key(|p| p.paid_at.as_ref().unwrap().seconds)
                    .unwrap();
                vec![
                    yuan(later.amount_fen),
                    later.channel_reference.clone(),
                    date(&later.paid_at),
                ]
            },
        },
        Case {
            who: First(S::TopupFailed),
            category: "payment.topup_not_credited",
            text: "充值显示失败但钱扣了",
            answers: &[],
            scenario: "payment.failed",
            cause: "PAYMENT_FAILED",
            figures: |v| {
                let p = payment(v, PaymentStatus::Failed);
                vec![yuan(p.amount_fen), p.channel_reference.clone(), datetime(&p.paid_at)]
            },
        },
        Case {
            who: First(S::Normal),
            category: "payment.topup_not_credited",
            text: "上周交的话费没到账",
            answers: &[("has_receipt", "yes")],
            scenario: "payment.not_found",
            cause: "PAYMENT_TRACE_REQUESTED",
            figures: |v| {
                let p = &v.payments[0];
                vec![yuan(p.amount_fen), date(&p.paid_at)]
            },
        },
        Case {
            who: First(S::Normal),
            category: "payment.topup_not_credited",
            text: "交的钱不知道去哪了",
            answers: &[("has_receipt", "no")],
            scenario: "payment.not_found",
            cause: "PAYMENT_RECORDS_EXPLAINED",
            figures: |v| {
                let mut f: Vec<String> = v.payments.iter().map(|p| yuan(p.amount_fen)).collect();
                f.push(yuan(account(v).balance_fen));
                f
            },
        },
        Case {
            who: First(S::RoamingNoPack),
            category: "roaming.charges",
            text: "去日本玩了几天回来扣了两百多漫游费，我买了漫游包的",
            answers: &[("bought_pack", "yes")],
            scenario: "roaming.no_pack",
            cause: "ROAMING_PACK_NOT_APPLIED",
            figures: |v| {
                let r = v
                    .usage
                    .iter()
                    .flat_map(|u| &u.roaming)
                    .find(|r| !r.pack_applied)
                    .unwrap();
                vec![
                    r.country_code.clone(),
                    yuan(r.charged_fen),
                    data_mb(r.data_mb),
                    format!("{}分钟", r.voice_min),
                ]
            },
        },
        Case {
            who: First(S::RoamingNoPack),
            category: "roaming.charges",
            text: "出国回来漫游费太贵了",
            answers: &[("bought_pack", "no")],
            scenario: "roaming.no_pack",
            cause: "ROAMING_STANDARD_RATE",
            figures: |v| {
                let r = v
                    .usage
                    .iter()
                    .flat_map(|u| &u.roaming)
                    .find(|r| !r.pack_applied)
                    .unwrap();
                vec![r.country_code.clone(), yuan(r.charged_fen)]
            },
        },
        Case {
            who: First(S::PortOutRejected),
            category: "portability.blocked",
            text: "我要携号转网，为什么不给我授权码",
            answers: &[],
            scenario: "portability.contract",
            cause: "PORT_OUT_CONTRACT_TERM",
            figures: |v| {
                let o = order(v, ServiceOrderType::PortOut, ServiceOrderStatus::Rejected);
                vec![
                    o.reject_reason.clone(),
                    date(&o.created_at),
                    date(&plan(v).contract_end_at),
                ]
            },
        },
        Case {
            who: First(S::Normal),
            category: "portability.blocked",
            text: "怎么办理携号转网",
            answers: &[("sent_sqxz", "no")],
            scenario: "portability.guidance",
            cause: "PORT_OUT_GUIDANCE",
            figures: |v| vec![v.msisdn.clone()],
        },
        Case {
            who: First(S::Normal),
            category: "portability.blocked",
            text: "发了短信申请携转授权码一直没收到",
            answers: &[("sent_sqxz", "yes")],
            scenario: "portability.guidance",
            cause: "AUTH_CODE_NOT_RECEIVED",
            figures: |v| vec![v.msisdn.clone()],
        },
        Case {
            who: First(S::Normal),
            category: "service.staff_conduct",
            text: "营业厅的工作人员态度太差了",
            answers: &[("staff_channel", "shop"), ("staff_issue", "rude")],
            scenario: "staff.conduct",
            cause: "STAFF_RUDE",
            figures: |v| vec![v.msisdn.clone(), "营业厅渠道管理部".into()],
        },
        Case {
            who: First(S::Normal),
            category: "service.staff_conduct",
            text: "客服答应给我回电话，到现在也没有",
            answers: &[("staff_channel", "hotline"), ("staff_issue", "promise")],
            scenario: "staff.conduct",
            cause: "STAFF_PROMISE_NOT_KEPT",
            figures: |v| vec![v.msisdn.clone(), "客服中心质检组".into()],
        },
        Case {
            who: First(S::MarketingAfterOptOut),
            category: "marketing.harassment",
            text: "已经退订了还天天打电话推销",
            answers: &[],
            scenario: "marketing.after_opt_out",
            cause: "MARKETING_AFTER_OPT_OUT",
            figures: |v| {
                let m = v.marketing.as_ref().unwrap();
                vec![
                    format!("{}次", m.contacts_last_30d),
                    date(&m.opted_out_at),
                    datetime(&m.last_contact_at),
                ]
            },
        },
        Case {
            who: First(S::MarketingFrequent),
            category: "marketing.harassment",
            text: "推销短信太多了",
            answers: &[],
            scenario: "marketing.contacts",
            cause: "MARKETING_OPT_OUT_OFFERED",
            figures: |v| vec![format!("{}次", v.marketing.as_ref().unwrap().contacts_last_30d)],
        },
        Case {
            who: First(S::MarketingThirdParty),
            category: "marketing.harassment",
            text: "总有人打电话推销贷款",
            answers: &[],
            scenario: "marketing.contacts",
            cause: "THIRD_PARTY_MARKETING",
            figures: |v| vec![v.msisdn.clone()],
        },
    ]
}

/// An ordinary subscriber (no situation) whose view has no broadband port.
async fn no_broadband(env: &Env) -> String {
    for i in (0..SUBSCRIBERS).filter(|i| Situation::of(*i) == Situation::Normal) {
        let n = seed::msisdn(i);
        if view_of(env, &n).await.network.and_then(|n| n.broadband).is_none() {
            return n;
        }
    }
    panic!("no ordinary subscriber without broadband among the first {SUBSCRIBERS}");
}

async fn number(env: &Env, who: Who) -> String {
    match who {
        Who::First(s) => seed::msisdn(s.first_index()),
        Who::NoBroadband => no_broadband(env).await,
    }
}

#[tokio::test]
async fn every_cause_has_a_subscriber_and_a_reply_with_their_figures() {
    let env = setup().await;
    let mut c = client(&env).await;
    // The table must cover every cause of every loaded scenario.
    let list = c
        .list_scenarios(testkit::req(ListScenariosRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert!(list.scenarios.len() >= 20, "{} scenarios", list.scenarios.len());
    let categories: BTreeSet<&str> = list
        .scenarios
        .iter()
        .flat_map(|s| s.categories.iter().map(|c| c.as_str()))
        .collect();
    assert_eq!(categories.len(), 12, "{categories:?}");
    let all: BTreeSet<(String, String)> = list
        .scenarios
        .iter()
        .flat_map(|s| s.cause_codes.iter().map(|c| (s.id.clone(), c.clone())))
        .collect();
    let table = cases();
    let covered: BTreeSet<(String, String)> = table
        .iter()
        .map(|c| (c.scenario.to_string(), c.cause.to_string()))
        .collect();
    assert_eq!(
        all.difference(&covered).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "causes without a case"
    );

    let mut failures = Vec::new();
    for (n, case) in table.iter().enumerate() {
        let msisdn = number(&env, case.who).await;
        let view = view_of(&env, &msisdn).await;
        let figures = (case.figures)(&view);
        let r: DiagnoseResponse = c
            .diagnose(testkit::req(diagnose_req(
                &msisdn,
                case.category,
                case.text,
                case.answers,
                &format!("T-{n}"),
            )))
            .await
            .unwrap_or_else(|e| panic!("{}: {e:?}", case.cause))
            .into_inner();
        let label = format!("{} ({msisdn}, {:?})", case.cause, case.who);
        let got = (
            r.scenario_id.as_str(),
            r.cause.as_ref().map(|c| c.code.as_str()).unwrap_or(""),
        );
        if got != (case.scenario, case.cause) || r.outcome() != DiagnosisOutcome::Cause {
            failures.push(format!(
                "{label}: got {got:?} {:?}, matches {:?}, pending {:?}",
                r.outcome(),
                r.matches
                    .iter()
                    .map(|m| (&m.scenario_id, m.outcome(), &m.cause_code, &m.error))
                    .collect::<Vec<_>>(),
                r.pending_questions.iter().map(|q| &q.id).collect::<Vec<_>>()
            ));
            continue;
        }
        for f in &figures {
            if f.is_empty() || !r.reply.contains(f.as_str()) {
                failures.push(format!("{label}: reply lacks `{f}`: {}", r.reply));
            }
        }
        assert!(r.reply.starts_with("尊敬的客户"), "{label}: {}", r.reply);
        assert!(!r.cause.as_ref().unwrap().explanation.is_empty(), "{label}");
        assert_eq!(r.category, case.category);
        assert_eq!(r.confidence, 1.0);
        assert!(r.pending_questions.is_empty(), "{label}");
        // Every step is traced, and the view fields it read name their source.
        assert!(!r.trace.is_empty(), "{label}");
        let last = r.trace.last().unwrap();
        assert_eq!(last.outcome, format!("cause {}", case.cause), "{label}");
        assert!(
            r.trace.iter().any(|t| t.evidence.iter().any(|e| !e.source.is_empty())),
            "{label}: no evidence in {:?}",
            r.trace
        );
        assert_eq!(
            r.matches[0].scenario_id, case.scenario,
            "{label}: the chosen scenario ranks first"
        );
    }
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn actions_carry_the_subscribers_amounts_and_codes() {
    let env = setup().await;
    let mut c = client(&env).await;
    let msisdn = seed::msisdn(Situation::VasNoConsent.first_index());
    let view = view_of(&env, &msisdn).await;
    let vas = &view.vas_subscriptions[0];
    let billed: i64 = view
        .recent_bills
        .iter()
        .flat_map(|b| &b.items)
        .filter(|i| i.service_code == vas.service_code)
        .map(|i| i.amount_fen)
        .sum();
    assert!(billed > 0);
    let r = c
        .diagnose(testkit::req(diagnose_req(
            &msisdn,
            "vas.unsolicited_subscription",
            "乱扣费",
            &[],
            "T-ACT-1",
        )))
        .await
        .unwrap()
        .into_inner();
    let unsub = r.actions.iter().find(|a| a.kind() == ActionKind::Unsubscribe).unwrap();
    assert_eq!(unsub.service_code, vas.service_code);
    let refund = r.actions.iter().find(|a| a.kind() == ActionKind::Refund).unwrap();
    assert_eq!(refund.amount_fen, billed);
    assert!(refund.description.contains(&yuan(billed)), "{}", refund.description);
    let esc = r.actions.iter().find(|a| a.kind() == ActionKind::Escalate).unwrap();
    assert_eq!(esc.target, "增值业务稽核组");

    // The trace shows what was read: the step found the unconsented service, from billing.
    let step = r.trace.iter().find(|t| t.step_id == "unconsented").unwrap();
    assert_eq!(step.result, "true");
    assert!(
        step.values["unconsented"].contains(&vas.service_code),
        "{:?}",
        step.values
    );
    let ev = step.evidence.iter().find(|e| e.field == "vas_subscriptions").unwrap();
    assert_eq!(ev.source, "billing");
    assert!(ev.fetched_at.is_some());

    let msisdn = seed::msisdn(Situation::PaidStillSuspended.first_index());
    let r = c
        .diagnose(testkit::req(diagnose_req(
            &msisdn,
            "service.suspension",
            "交了钱还停机",
            &[],
            "T-ACT-2",
        )))
        .await
        .unwrap()
        .into_inner();
    assert!(
        r.actions.iter().any(|a| a.kind() == ActionKind::RestoreLine),
        "{:?}",
        r.actions
    );

    let msisdn = seed::msisdn(Situation::CellOutage.first_index());
    let view = view_of(&env, &msisdn).await;
    let outage = view
        .network
        .unwrap()
        .outages
        .into_iter()
        .find(|o| o.resolved_at.is_none())
        .unwrap();
    let r = c
        .diagnose(testkit::req(diagnose_req(
            &msisdn,
            "network.mobile_coverage",
            "没信号",
            &[],
            "T-ACT-3",
        )))
        .await
        .unwrap()
        .into_inner();
    let ticket = r
        .actions
        .iter()
        .find(|a| a.kind() == ActionKind::NetworkTicket)
        .unwrap();
    assert_eq!(ticket.element_id, outage.element_id);
}

#[tokio::test]
async fn missing_data_asks_and_the_answer_concludes_and_both_are_recorded() {
    let env = setup().await;
    let mut c = client(&env).await;
    let msisdn = no_broadband(&env).await;
    let first = c
        .diagnose(testkit::req(diagnose_req(
            &msisdn,
            "network.broadband_fault",
            "宽带断网了",
            &[],
            "",
        )))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.outcome(), DiagnosisOutcome::Question);
    assert_eq!(first.scenario_id, "broadband.modem_check");
    assert!(first.cause.is_none() && first.reply.is_empty() && first.actions.is_empty());
    let q = &first.pending_questions[0];
    assert_eq!(q.id, "modem_light");
    assert!(q.text.contains("LOS"), "{}", q.text);
    let allowed: Vec<&str> = q.allowed.iter().map(|a| a.value.as_str()).collect();
    assert_eq!(allowed, ["los_red", "normal"]);
    // The trace shows why: no port data, then the question.
    let steps: Vec<(&str, &str)> = first
        .trace
        .iter()
        .map(|t| (t.step_id.as_str(), t.outcome.as_str()))
        .collect();
    assert_eq!(
        steps,
        [
            ("precondition", "next"),
            ("port_data", "next"),
            ("ask_light", "ask modem_light")
        ]
    );
    assert_eq!(first.trace[1].result, "false");
    // The evidence names where the missing data would have come from.
    let ev = &first.trace[1].evidence;
    assert!(
        ev.iter()
            .any(|e| e.field == "network.broadband" && e.source == "resource" && !e.supplied),
        "{ev:?}"
    );
    assert!(first.complaint_id.starts_with("CMP-"), "{}", first.complaint_id);

    let second = c
        .diagnose(testkit::req(diagnose_req(
            &msisdn,
            "network.broadband_fault",
            "宽带断网了",
            &[("modem_light", "los_red")],
            &first.complaint_id,
        )))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.outcome(), DiagnosisOutcome::Cause);
    assert_eq!(second.cause.as_ref().unwrap().code, "OPTICAL_LINE_SUSPECTED");
    assert!(second.reply.contains(&msisdn), "{}", second.reply);
    assert!(second.pending_questions.is_empty());

    // One row per complaint, updated by the second call.
    let store = complaint_gateway::store::Store::connect(&env.store_url, 1)
        .await
        .unwrap();
    let records = SqlComplaintStore::new(store.clone());
    let row = records.get(&first.complaint_id).await.unwrap().expect("recorded");
    assert_eq!(row.diagnoses, 2);
    // Each diagnosis was audited (committed with its record), under the complaint id.
    let audited: Vec<(String, String)> =
        sqlx::query_as("SELECT action, outcome FROM audit_events WHERE purpose = $1 ORDER BY event_id")
            .bind(&first.complaint_id)
            .fetch_all(store.pool())
            .await
            .unwrap();
    let diagnose = ("complaint.v1.DiagnosisService/Diagnose".to_string(), "OK".to_string());
    assert_eq!(audited, [diagnose.clone(), diagnose]);
    let r = &row.record;
    assert_eq!(
        (
            r.category.as_str(),
            r.scenario_id.as_str(),
            r.cause_code.as_str(),
            r.outcome.as_str()
        ),
        (
            "network.broadband_fault",
            "broadband.modem_check",
            "OPTICAL_LINE_SUSPECTED",
            "cause"
        )
    );
    assert_eq!((r.answers, r.reply_without_question), (1, false));
    assert_eq!(r.caller, "test-admin");
    let view = view_of(&env, &msisdn).await;
    assert_eq!(r.region, view.customer.unwrap().region_code);
    assert_eq!((r.confidence, r.category_source.as_str()), (1.0, "request"));

    // A cause found without a question is recorded as such.
    let n = seed::msisdn(Situation::DuplicateMonthlyFee.first_index());
    c.diagnose(testkit::req(diagnose_req(
        &n,
        "billing.unexpected_charge",
        "月租扣了两次",
        &[],
        "T-REC-2",
    )))
    .await
    .unwrap();
    let row = records.get("T-REC-2").await.unwrap().expect("recorded");
    assert!(row.record.reply_without_question);
    assert_eq!(row.record.cause_code, "DUPLICATE_MONTHLY_FEE");
}

async fn invalid(c: &mut DiagnosisServiceClient<Channel>, req: DiagnoseRequest) -> (String, String) {
    let s = c.diagnose(testkit::req(req)).await.unwrap_err();
    assert_eq!(s.code(), Code::InvalidArgument, "{s:?}");
    match Error::from(s) {
        Error::InvalidArgument { field, message } | Error::InvalidMsisdn { field, message } => (field, message),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_field() {
    let env = setup().await;
    let mut c = client(&env).await;
    let n = seed::msisdn(Situation::Normal.first_index());
    let (f, m) = invalid(&mut c, diagnose_req(&n, "billing.unknown", "x", &[], "")).await;
    assert_eq!(f, "category");
    assert!(
        m.contains("unknown category `billing.unknown`") && m.contains("billing.unexpected_charge"),
        "{m}"
    );

    let (f, m) = invalid(
        &mut c,
        diagnose_req(&n, "network.broadband_fault", "x", &[("modem_lite", "los_red")], ""),
    )
    .await;
    assert_eq!(
        (f.as_str(), m.as_str()),
        ("answers[0].question_id", "unknown question `modem_lite`")
    );

    let (f, m) = invalid(
        &mut c,
        diagnose_req(&n, "network.broadband_fault", "x", &[("modem_light", "green")], ""),
    )
    .await;
    assert_eq!(f, "answers[0].value");
    assert_eq!(
        m,
        "`green` is not an allowed answer to `modem_light`; allowed: los_red, normal"
    );

    let (f, m) = invalid(
        &mut c,
        diagnose_req(
            &n,
            "network.broadband_fault",
            "x",
            &[("modem_light", "normal"), ("modem_light", "los_red")],
            "",
        ),
    )
    .await;
    assert_eq!(
        (f.as_str(), m.as_str()),
        ("answers[1].question_id", "`modem_light` is answered twice")
    );

    let (f, _) = invalid(&mut c, diagnose_req(&n, "", "  ", &[], "")).await;
    assert_eq!(f, "text");
    let (f, _) = invalid(
        &mut c,
        diagnose_req(&n, "billing.data_overage", "x", &[], "id with spaces"),
    )
    .await;
    assert_eq!(f, "complaint_id");
    let (f, _) = invalid(&mut c, diagnose_req("12345", "billing.data_overage", "x", &[], "")).await;
    assert_eq!(f, "msisdn");

    let s = c
        .classify(testkit::req(ClassifyRequest { text: " ".into() }))
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::InvalidArgument);
    assert!(s.message().starts_with("text:"), "{}", s.message());

    let s = c
        .get_scenario(testkit::req(GetScenarioRequest { id: "nope".into() }))
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::NotFound);
    assert!(s.message().contains("no scenario `nope`"), "{}", s.message());
    let s = c
        .list_scenarios(testkit::req(ListScenariosRequest {
            category: "nope".into(),
        }))
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::InvalidArgument);

    // Unknown subscribers are NOT_FOUND, as for GetSubscriberView.
    let s = c
        .diagnose(testkit::req(diagnose_req(
            "13012345678",
            "billing.data_overage",
            "x",
            &[],
            "",
        )))
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::NotFound, "{s:?}");
    // Without credentials nothing is diagnosed.
    let s = c
        .diagnose(tonic::Request::new(diagnose_req(
            &n,
            "billing.data_overage",
            "x",
            &[],
            "",
        )))
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn without_a_category_the_classifier_decides() {
    let env = setup().await;
    let mut c = client(&env).await;
    let text = "我从来没有订购过视频彩铃会员，每个月被扣10元，要求退费并取消";
    let cls = c
        .classify(testkit::req(ClassifyRequest { text: text.into() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(cls.top.len(), 12);
    assert_eq!(cls.category, cls.top[0].category);
    let msisdn = seed::msisdn(Situation::VasNoConsent.first_index());
    let r = c
        .diagnose(testkit::req(diagnose_req(&msisdn, "", text, &[], "")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        r.category_source(),
        complaint_gateway::proto::complaint::v1::CategorySource::Classifier
    );
    assert_eq!(r.category, cls.category);
    assert!((r.confidence - cls.confidence).abs() < 1e-9);
    assert_eq!(r.category, "vas.unsolicited_subscription", "{cls:?}");
    assert_eq!(r.cause.unwrap().code, "VAS_NO_CONSENT");
}

#[tokio::test]
async fn scenarios_are_listed_and_shown_as_written() {
    let env = setup().await;
    let mut c = client(&env).await;
    let list = c
        .list_scenarios(testkit::req(ListScenariosRequest {
            category: "network.broadband_fault".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<&str> = list.scenarios.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "broadband.install_delay",
            "broadband.modem_check",
            "broadband.port_alarm"
        ]
    );
    assert_eq!(list.generation, 1);
    let s = c
        .get_scenario(testkit::req(GetScenarioRequest {
            id: "broadband.modem_check".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(s.summary.as_ref().unwrap().file, "broadband_modem_check.toml");
    let ask = s.steps.iter().find(|st| st.id == "ask_light").unwrap();
    assert_eq!(ask.ask, "modem_light");
    assert_eq!(
        (ask.then.as_str(), ask.otherwise.as_str()),
        ("cause OPTICAL_LINE_SUSPECTED", "cause HOME_NETWORK_ISSUE")
    );
    assert_eq!(s.questions[0].allowed.len(), 2);
    assert!(s.source.contains("id = \"broadband.modem_check\""));
    assert!(s.causes.iter().any(|c| c.reply.contains("{{")));
}
