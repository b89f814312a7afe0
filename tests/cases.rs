//! Complaint cases end to end over gRPC, on seeded SQLite backends and a gateway store on SQLite (a file)
//! or PostgreSQL (`CGW_TEST_PG_URL`; skipped locally when unset, mandatory in CI): intake → routing →
//! diagnosis → reply → return visit → close, reopen, pause and resume, a breach, repeat linking, an
//! invalid transition, another region's complaint refused and audited, and due times computed by hand
//! across the 2026 Labour Day week (5月1日–5日 off, Saturday 5月9日 a make-up working day) and on the 24×7
//! calendar. The case clock is fixed (`Cases::set_now`) so due times are exact.
use chrono::{NaiveDate, NaiveTime};
use complaint_gateway::cases::calendar::local_us;
use complaint_gateway::error::Error;
use complaint_gateway::identity::Role;
use complaint_gateway::proto::complaint::v1::complaint_service_client::ComplaintServiceClient;
use complaint_gateway::proto::complaint::v1::diagnosis_service_client::DiagnosisServiceClient;
use complaint_gateway::proto::complaint::v1::{
    AddComplaintNoteRequest, AssignComplaintRequest, ComplaintChannel, ComplaintDetail, ComplaintState,
    CreateComplaintRequest, DiagnoseRequest, GetComplaintRequest, GetSubscriberHistoryRequest,
    GetSubscriberViewRequest, ListComplaintsRequest, RecordReplyRequest, RecordReturnVisitRequest,
    ReopenComplaintRequest, ReturnVisitOutcome, SlaStatus, TransitionComplaintRequest,
};
use complaint_gateway::testkit::{self, RunningServer};
use complaint_gateway::tools::seed::{self, Situation, CYCLE};
use tonic::transport::Channel;
use tonic::Code;
use tonic_types::StatusExt;

const SUBSCRIBERS: u64 = 3 * CYCLE;

struct Env {
    _dir: tempfile::TempDir,
    server: RunningServer,
}

async fn setup(store_url: Option<String>) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let urls = testkit::sqlite_urls(dir.path());
    testkit::seed(&urls, SUBSCRIBERS).await.unwrap();
    let mut cfg = testkit::config(&urls);
    cfg.diagnosis.now = Some(chrono::DateTime::parse_from_rfc3339("2026-11-28T10:00:00+08:00").unwrap());
    cfg.diagnosis.reload_interval_ms = 0;
    cfg.store.url = store_url.unwrap_or_else(|| format!("sqlite://{}", dir.path().join("gateway.db").display()));
    let server = testkit::spawn(cfg).await.unwrap();
    Env { _dir: dir, server }
}

impl Env {
    async fn cases(&self) -> ComplaintServiceClient<Channel> {
        for _ in 0..50 {
            if let Ok(c) = ComplaintServiceClient::connect(self.server.url()).await {
                return c;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("the server did not come up");
    }

    fn set_now(&self, d: &str, t: &str) {
        self.server.gateway.cases.set_now(Some(at(d, t)));
    }

    /// A seeded subscriber with `situation` whose VIP level keeps it off the VIP rules: (number, region).
    async fn subscriber(&self, situation: Situation, skip: usize) -> (String, String) {
        let mut data = testkit::data_client(&self.server).await.unwrap();
        let mut found = 0;
        for k in 0..3 {
            let n = seed::msisdn(situation.first_index() + k * CYCLE);
            let view = data
                .get_subscriber_view(testkit::req(GetSubscriberViewRequest {
                    msisdn: n.clone(),
                    ..Default::default()
                }))
                .await
                .unwrap()
                .into_inner()
                .view
                .unwrap();
            let c = view.customer.unwrap();
            if c.vip_level < 3 {
                if found == skip {
                    return (n, c.region_code);
                }
                found += 1;
            }
        }
        panic!("no ordinary subscriber with {situation:?}");
    }
}

fn at(d: &str, t: &str) -> i64 {
    local_us(
        NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap(),
        NaiveTime::parse_from_str(t, "%H:%M").unwrap(),
    )
}

fn us(t: &Option<prost_types::Timestamp>) -> Option<i64> {
    t.as_ref().map(|t| t.seconds * 1_000_000 + i64::from(t.nanos) / 1_000)
}

/// (target, due, status) of each SLA target.
fn sla(d: &ComplaintDetail) -> Vec<(String, Option<i64>, SlaStatus)> {
    d.sla
        .iter()
        .map(|t| (t.target.clone(), us(&t.due_at), t.status()))
        .collect()
}

fn kinds(d: &ComplaintDetail) -> Vec<String> {
    d.events.iter().map(|e| e.kind.clone()).collect()
}

fn create(msisdn: &str, category: &str, text: &str, channel: ComplaintChannel) -> CreateComplaintRequest {
    CreateComplaintRequest {
        msisdn: msisdn.into(),
        text: text.into(),
        channel: channel as i32,
        category: category.into(),
        complaint_id: String::new(),
    }
}

fn transition(id: &str, to: ComplaintState, reason: &str) -> TransitionComplaintRequest {
    TransitionComplaintRequest {
        complaint_id: id.into(),
        to_state: to as i32,
        reason: reason.into(),
    }
}

async fn audit_of(env: &Env, purpose: &str) -> Vec<(String, String, String)> {
    let store = &env.server.gateway.identity.store;
    sqlx::query_as("SELECT action, outcome, caller FROM audit_events WHERE purpose = $1 ORDER BY event_id")
        .bind(purpose)
        .fetch_all(store.pool())
        .await
        .unwrap()
}

/// The whole life of a standard complaint, due times by hand across the Labour Day week.
async fn full_cycle(env: &Env) {
    let mut c = env.cases().await;
    let (msisdn, region) = env.subscriber(Situation::DuplicateMonthlyFee, 0).await;
    // Thursday 2026-04-30 16:00, the eve of the Labour Day holidays.
    env.set_now("2026-04-30", "16:00");
    let d = c
        .create_complaint(testkit::req(create(
            &msisdn,
            "billing.unexpected_charge",
            "月租扣了两次",
            ComplaintChannel::Hotline,
        )))
        .await
        .unwrap()
        .into_inner()
        .detail
        .unwrap();
    let cp = d.complaint.clone().unwrap();
    let id = cp.complaint_id.clone();
    assert!(id.starts_with("CMP-"), "{id}");
    assert_eq!(
        (
            cp.state(),
            cp.handler_group.as_str(),
            cp.priority,
            cp.sla_policy.as_str()
        ),
        (ComplaintState::Triaged, "billing-desk", 3, "standard")
    );
    assert_eq!(
        (cp.msisdn.as_str(), cp.region.as_str()),
        (msisdn.as_str(), region.as_str())
    );
    assert_eq!(kinds(&d), ["created", "routed"]);
    assert_eq!(d.events[1].reason, "rule billing; policy standard");
    // Working calendar, 09:00–18:00: 2 h on Thursday, then nothing until Wednesday 5月6日.
    //   first response 4 h: Thu 2 h + Wed 09:00–11:00                       → 5月6日 11:00
    //   reply 18 h: Thu 2 + Wed 9 + Thu 7                                    → 5月7日 16:00
    //   resolution 45 h: Thu 2 + Wed 9 + Thu 9 + Fri 9 + Sat 5月9日 9 (调休) + Mon 7 → 5月11日 16:00
    //   (without the make-up Saturday it would be 5月12日 16:00)
    assert_eq!(
        sla(&d),
        vec![
            (
                "first_response".into(),
                Some(at("2026-05-06", "11:00")),
                SlaStatus::OnTrack
            ),
            ("reply".into(), Some(at("2026-05-07", "16:00")), SlaStatus::OnTrack),
            ("resolution".into(), Some(at("2026-05-11", "16:00")), SlaStatus::OnTrack),
        ]
    );
    assert_eq!(d.sla[0].calendar, "cn-working");

    // Diagnose the complaint by id: its result becomes an event of the case.
    let mut diag = DiagnosisServiceClient::connect(env.server.url()).await.unwrap();
    let r = diag
        .diagnose(testkit::req(DiagnoseRequest {
            msisdn: msisdn.clone(),
            text: "月租扣了两次".into(),
            category: "billing.unexpected_charge".into(),
            answers: vec![],
            complaint_id: id.clone(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.cause.as_ref().unwrap().code, "DUPLICATE_MONTHLY_FEE");
    let get = |c: &mut ComplaintServiceClient<Channel>, id: String| {
        let mut c = c.clone();
        async move {
            c.get_complaint(testkit::req(GetComplaintRequest { complaint_id: id }))
                .await
                .unwrap()
                .into_inner()
                .detail
                .unwrap()
        }
    };
    let d = get(&mut c, id.clone()).await;
    let cp = d.complaint.clone().unwrap();
    assert_eq!((cp.cause_code.as_str(), cp.diagnoses), ("DUPLICATE_MONTHLY_FEE", 1));
    assert_eq!(kinds(&d), ["created", "routed", "diagnosed"]);

    // An invalid transition names the allowed ones, in the message and the ErrorInfo.
    let s = c
        .transition_complaint(testkit::req(transition(&id, ComplaintState::Closed, "done")))
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::FailedPrecondition);
    assert_eq!(
        s.message(),
        format!("complaint {id} cannot go from triaged to closed; allowed from triaged: in_progress")
    );
    match Error::from(s) {
        Error::InvalidTransition { allowed, .. } => assert_eq!(allowed, ["in_progress"]),
        other => panic!("{other:?}"),
    }

    // Taken up on Wednesday 10:00: first response met.
    env.set_now("2026-05-06", "10:00");
    c.assign_complaint(testkit::req(AssignComplaintRequest {
        complaint_id: id.clone(),
        owner: "h-hz-01".into(),
        handler_group: String::new(),
    }))
    .await
    .unwrap();
    let d = c
        .transition_complaint(testkit::req(transition(
            &id,
            ComplaintState::InProgress,
            "calling the customer",
        )))
        .await
        .unwrap()
        .into_inner()
        .detail
        .unwrap();
    assert_eq!(d.sla[0].status(), SlaStatus::Met);
    assert_eq!(d.complaint.as_ref().unwrap().owner, "h-hz-01");
    c.add_complaint_note(testkit::req(AddComplaintNoteRequest {
        complaint_id: id.clone(),
        note: "refund of one monthly fee approved".into(),
    }))
    .await
    .unwrap();

    // Closing needs a reply and a return visit.
    env.set_now("2026-05-07", "15:00");
    let d = c
        .record_reply(testkit::req(RecordReplyRequest {
            complaint_id: id.clone(),
            reply: r.reply.clone(),
        }))
        .await
        .unwrap()
        .into_inner()
        .detail
        .unwrap();
    assert_eq!(d.complaint.as_ref().unwrap().state(), ComplaintState::Replied);
    assert_eq!(d.sla[1].status(), SlaStatus::Met);
    let s = c
        .transition_complaint(testkit::req(transition(&id, ComplaintState::Closed, "done")))
        .await
        .unwrap_err();
    assert_eq!(
        (s.code(), s.message()),
        (
            Code::FailedPrecondition,
            format!("complaint {id} cannot be closed: no return visit has been recorded (RecordReturnVisit)").as_str()
        )
    );
    env.set_now("2026-05-08", "10:00");
    c.record_return_visit(testkit::req(RecordReturnVisitRequest {
        complaint_id: id.clone(),
        outcome: ReturnVisitOutcome::Satisfied as i32,
        note: "满意".into(),
    }))
    .await
    .unwrap();
    let d = c
        .transition_complaint(testkit::req(transition(&id, ComplaintState::Closed, "refunded")))
        .await
        .unwrap()
        .into_inner()
        .detail
        .unwrap();
    let cp = d.complaint.clone().unwrap();
    assert_eq!(
        (cp.state(), us(&cp.closed_at)),
        (ComplaintState::Closed, Some(at("2026-05-08", "10:00")))
    );
    assert!(d.sla.iter().all(|t| t.status() == SlaStatus::Met), "{:?}", sla(&d));
    assert_eq!(
        kinds(&d),
        [
            "created",
            "routed",
            "diagnosed",
            "assigned",
            "transitioned",
            "note",
            "reply_sent",
            "return_visit",
            "transitioned"
        ]
    );

    // Reopened on Monday 5月11日 09:00: the reply and resolution clocks start again.
    env.set_now("2026-05-11", "09:00");
    let d = c
        .reopen_complaint(testkit::req(ReopenComplaintRequest {
            complaint_id: id.clone(),
            reason: "charged again".into(),
        }))
        .await
        .unwrap()
        .into_inner()
        .detail
        .unwrap();
    let cp = d.complaint.clone().unwrap();
    assert_eq!(
        (cp.state(), cp.reopen_count, cp.replied),
        (ComplaintState::InProgress, 1, false)
    );
    assert_eq!(
        sla(&d)[1..],
        [
            ("reply".into(), Some(at("2026-05-12", "18:00")), SlaStatus::OnTrack),
            ("resolution".into(), Some(at("2026-05-15", "18:00")), SlaStatus::OnTrack),
        ]
    );
    // Every call was audited under the complaint id.
    let audited = audit_of(env, &id).await;
    let actions: Vec<&str> = audited.iter().map(|(a, _, _)| a.rsplit('/').next().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "CreateComplaint",
            "Diagnose",
            "GetComplaint",
            "TransitionComplaint",
            "AssignComplaint",
            "TransitionComplaint",
            "AddComplaintNote",
            "RecordReply",
            "TransitionComplaint",
            "RecordReturnVisit",
            "TransitionComplaint",
            "ReopenComplaint"
        ]
    );
    assert_eq!(audited[3].1, "ERROR");
    assert!(audited.iter().all(|(_, _, caller)| caller == "test-admin"));
}

#[tokio::test]
async fn a_complaint_goes_from_intake_to_closed_and_reopens_on_sqlite() {
    full_cycle(&setup(None).await).await;
}

#[tokio::test]
async fn a_complaint_goes_from_intake_to_closed_and_reopens_on_postgres() {
    let Some(admin) = testkit::db_url("CGW_TEST_PG_URL") else {
        return;
    };
    let db = testkit::TestDatabase::create(&admin, "cases").await.unwrap();
    let env = setup(Some(db.url.clone())).await;
    full_cycle(&env).await;
    env.server.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn the_clock_stands_still_while_awaiting_the_customer_and_a_missed_target_is_breached() {
    let env = setup(None).await;
    let mut c = env.cases().await;
    let (msisdn, _) = env.subscriber(Situation::BroadbandAlarm, 0).await;
    env.set_now("2026-04-30", "16:00");
    let d = c
        .create_complaint(testkit::req(create(
            &msisdn,
            "network.broadband_fault",
            "宽带断网了",
            ComplaintChannel::App,
        )))
        .await
        .unwrap()
        .into_inner()
        .detail
        .unwrap();
    let id = d.complaint.as_ref().unwrap().complaint_id.clone();
    assert_eq!(d.complaint.as_ref().unwrap().sla_policy, "network-fault");
    assert_eq!(d.complaint.as_ref().unwrap().handler_group, "network-ops");
    // 24×7: holidays count like any day.
    assert_eq!(
        sla(&d),
        vec![
            (
                "first_response".into(),
                Some(at("2026-04-30", "18:00")),
                SlaStatus::OnTrack
            ),
            ("reply".into(), Some(at("2026-05-01", "16:00")), SlaStatus::OnTrack),
            ("resolution".into(), Some(at("2026-05-02", "16:00")), SlaStatus::OnTrack),
        ]
    );
    assert_eq!(d.sla[0].calendar, "24x7");
    env.set_now("2026-04-30", "17:00");
    c.transition_complaint(testkit::req(transition(&id, ComplaintState::InProgress, "")))
        .await
        .unwrap();
    // Waiting for the customer from 5月1日 10:00 to 22:00: twelve hours on hold.
    env.set_now("2026-05-01", "10:00");
    c.transition_complaint(testkit::req(transition(
        &id,
        ComplaintState::AwaitingCustomer,
        "engineer visit to book",
    )))
    .await
    .unwrap();
    env.set_now("2026-05-01", "20:00");
    let d = c
        .get_complaint(testkit::req(GetComplaintRequest {
            complaint_id: id.clone(),
        }))
        .await
        .unwrap()
        .into_inner()
        .detail
        .unwrap();
    assert!(d.sla[1..].iter().all(|t| t.paused && t.due_at.is_none()), "{:?}", d.sla);
    // The reply is not late while the clock stands still (it would have been due at 16:00).
    assert_eq!(d.sla[1].status(), SlaStatus::AtRisk);
    env.set_now("2026-05-01", "22:00");
    let d = c
        .transition_complaint(testkit::req(transition(
            &id,
            ComplaintState::InProgress,
            "customer called back",
        )))
        .await
        .unwrap()
        .into_inner()
        .detail
        .unwrap();
    assert_eq!(
        sla(&d)[1..],
        [
            // 18 of its 24 hours were used before the pause: less than a quarter left, at risk.
            ("reply".into(), Some(at("2026-05-02", "04:00")), SlaStatus::AtRisk),
            ("resolution".into(), Some(at("2026-05-03", "04:00")), SlaStatus::OnTrack),
        ]
    );
    // At 03:30 the reply is at risk (less than a quarter of its 24 h left), at 05:00 breached.
    env.set_now("2026-05-02", "03:30");
    let listed = |c: &mut ComplaintServiceClient<Channel>, at_risk: bool, breached: bool| {
        let mut c = c.clone();
        async move {
            c.list_complaints(testkit::req(ListComplaintsRequest {
                at_risk,
                breached,
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner()
            .complaints
            .into_iter()
            .map(|x| x.complaint_id)
            .collect::<Vec<_>>()
        }
    };
    assert_eq!(listed(&mut c, true, false).await, vec![id.clone()]);
    assert!(listed(&mut c, false, true).await.is_empty());
    env.set_now("2026-05-02", "05:00");
    assert_eq!(listed(&mut c, false, true).await, vec![id.clone()]);
    assert!(listed(&mut c, true, false).await.is_empty());
    let d = c
        .get_complaint(testkit::req(GetComplaintRequest {
            complaint_id: id.clone(),
        }))
        .await
        .unwrap()
        .into_inner()
        .detail
        .unwrap();
    assert_eq!(d.sla[1].status(), SlaStatus::Breached);
    assert!(d.complaint.unwrap().breached);
    // Replying late keeps the breach on record.
    c.record_reply(testkit::req(RecordReplyRequest {
        complaint_id: id.clone(),
        reply: "已派单维修".into(),
    }))
    .await
    .unwrap();
    let d = c
        .get_complaint(testkit::req(GetComplaintRequest {
            complaint_id: id.clone(),
        }))
        .await
        .unwrap()
        .into_inner()
        .detail
        .unwrap();
    assert_eq!(d.sla[1].status(), SlaStatus::Breached);
    assert_eq!(listed(&mut c, false, true).await, [id]);
}

#[tokio::test]
async fn a_repeat_complaint_is_linked_counted_and_routed_to_escalation() {
    let env = setup(None).await;
    let mut c = env.cases().await;
    let (msisdn, _) = env.subscriber(Situation::DuplicateMonthlyFee, 1).await;
    env.set_now("2026-06-01", "10:00");
    let first = c
        .create_complaint(testkit::req(create(
            &msisdn,
            "billing.unexpected_charge",
            "月租扣了两次",
            ComplaintChannel::Hotline,
        )))
        .await
        .unwrap()
        .into_inner()
        .detail
        .unwrap()
        .complaint
        .unwrap();
    assert!(first.repeat_of.is_empty());
    // 29 days later, same subscriber and category: a repeat.
    env.set_now("2026-06-30", "10:00");
    let second = c
        .create_complaint(testkit::req(create(
            &msisdn,
            "billing.unexpected_charge",
            "又扣了两次",
            ComplaintChannel::App,
        )))
        .await
        .unwrap()
        .into_inner()
        .detail
        .unwrap()
        .complaint
        .unwrap();
    assert_eq!(second.repeat_of, first.complaint_id);
    assert_eq!(second.handler_group, "escalation");
    // Another category is not a repeat; 31 days after the second is not either.
    env.set_now("2026-06-30", "10:05");
    let other = c
        .create_complaint(testkit::req(create(
            &msisdn,
            "marketing.harassment",
            "总打营销电话",
            ComplaintChannel::App,
        )))
        .await
        .unwrap()
        .into_inner()
        .detail
        .unwrap()
        .complaint
        .unwrap();
    assert!(other.repeat_of.is_empty());
    env.set_now("2026-07-31", "10:00");
    let late = c
        .create_complaint(testkit::req(create(
            &msisdn,
            "billing.unexpected_charge",
            "还在扣",
            ComplaintChannel::App,
        )))
        .await
        .unwrap()
        .into_inner()
        .detail
        .unwrap()
        .complaint
        .unwrap();
    assert!(late.repeat_of.is_empty());
    let d = c
        .get_complaint(testkit::req(GetComplaintRequest {
            complaint_id: first.complaint_id.clone(),
        }))
        .await
        .unwrap()
        .into_inner()
        .detail
        .unwrap();
    assert_eq!(d.complaint.as_ref().unwrap().repeat_count, 1);
    assert_eq!(d.events.last().unwrap().kind, "repeat_reported");
    assert_eq!(d.events.last().unwrap().related_id, second.complaint_id);
    // The subscriber's history, newest first.
    let h = c
        .get_subscriber_history(testkit::req(GetSubscriberHistoryRequest { msisdn: msisdn.clone() }))
        .await
        .unwrap()
        .into_inner()
        .complaints;
    let ids: Vec<&str> = h.iter().map(|x| x.complaint_id.as_str()).collect();
    assert_eq!(
        ids,
        [
            &late.complaint_id,
            &other.complaint_id,
            &second.complaint_id,
            &first.complaint_id
        ]
    );
}

#[tokio::test]
async fn another_regions_complaint_is_refused_like_a_missing_one_and_audited() {
    let env = setup(None).await;
    let mut c = env.cases().await;
    let (msisdn, region) = env.subscriber(Situation::DuplicateMonthlyFee, 0).await;
    let other_region = seed::CITIES
        .iter()
        .map(|(code, _, _)| *code)
        .find(|r| *r != region)
        .unwrap();
    let id = c
        .create_complaint(testkit::req(create(
            &msisdn,
            "billing.unexpected_charge",
            "月租扣了两次",
            ComplaintChannel::Store,
        )))
        .await
        .unwrap()
        .into_inner()
        .detail
        .unwrap()
        .complaint
        .unwrap()
        .complaint_id;
    let outsider = testkit::token("h-out", &[Role::Handler], &[other_region]);
    let get = |token: &str, id: &str| {
        testkit::with_token(
            GetComplaintRequest {
                complaint_id: id.into(),
            },
            token,
        )
    };
    let refused = c.get_complaint(get(&outsider, &id)).await.unwrap_err();
    let missing = c.get_complaint(get(&outsider, "CMP-NO-SUCH-1")).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert_eq!(missing.code(), Code::PermissionDenied);
    // The same words, the id apart: existence in another region cannot be told.
    assert_eq!(
        refused.message().replace(&id, "<id>"),
        missing.message().replace("CMP-NO-SUCH-1", "<id>")
    );
    assert_eq!(
        refused.message(),
        format!("permission denied: no complaint {id} in your regions ({other_region})")
    );
    // Changes are refused the same way; lists and history leave it out.
    let s = c
        .transition_complaint(testkit::with_token(
            transition(&id, ComplaintState::InProgress, ""),
            &outsider,
        ))
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::PermissionDenied);
    let listed = c
        .list_complaints(testkit::with_token(ListComplaintsRequest::default(), &outsider))
        .await
        .unwrap()
        .into_inner()
        .complaints;
    assert!(listed.is_empty());
    // Both refusals are in the audit trail, as denials, with the complaint's subscriber.
    let audited = audit_of(&env, &id).await;
    let denied: Vec<&(String, String, String)> = audited.iter().filter(|a| a.1 == "DENIED").collect();
    assert_eq!(denied.len(), 2, "{audited:?}");
    assert!(denied.iter().all(|a| a.2 == "h-out"));
    assert_eq!(audit_of(&env, "CMP-NO-SUCH-1").await[0].1, "DENIED");

    // A handler of the region sees it, the number masked; a manager of the region unmasked.
    let own = testkit::token("h-own", &[Role::Handler], &[&region]);
    let seen = c
        .get_complaint(get(&own, &id))
        .await
        .unwrap()
        .into_inner()
        .detail
        .unwrap();
    let shown = seen.complaint.unwrap().msisdn;
    assert!(shown != msisdn && shown.contains('*'), "{shown}");
    assert!(seen.events.iter().all(|e| !e.reason.contains(&msisdn)));
    let manager = testkit::token("m-own", &[Role::Manager], &[&region]);
    let seen = c
        .get_complaint(get(&manager, &id))
        .await
        .unwrap()
        .into_inner()
        .detail
        .unwrap();
    assert_eq!(seen.complaint.unwrap().msisdn, msisdn);

    // Diagnose under that complaint id for another subscriber, or by a handler of another region: refused
    // (ids are never reassigned), audited, and nothing written to the complaint.
    let (other_number, _) = env.subscriber(Situation::BroadbandAlarm, 0).await;
    let mut diag = DiagnosisServiceClient::connect(env.server.url()).await.unwrap();
    let s = diag
        .diagnose(testkit::req(DiagnoseRequest {
            msisdn: other_number.clone(),
            text: "宽带断网了".into(),
            category: "network.broadband_fault".into(),
            answers: vec![],
            complaint_id: id.clone(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::AlreadyExists, "{s:?}");
    assert!(matches!(Error::from(s), Error::IdTaken(m) if m.contains("belongs to another subscriber")));
    let d = c
        .get_complaint(testkit::req(GetComplaintRequest {
            complaint_id: id.clone(),
        }))
        .await
        .unwrap()
        .into_inner()
        .detail
        .unwrap();
    assert_eq!(d.complaint.unwrap().diagnoses, 0);
    let audited = audit_of(&env, &id).await;
    assert!(audited
        .iter()
        .any(|(a, o, _)| a.ends_with("/Diagnose") && o == "DENIED"));
}

fn timestamp(us: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: us.div_euclid(1_000_000),
        nanos: (us.rem_euclid(1_000_000) * 1_000) as i32,
    })
}

/// ListComplaints by creation time: `created_from` inclusive, `created_to` exclusive, alone or together
/// with other filters; a reversed or malformed range is INVALID_ARGUMENT naming the field.
async fn listed_by_creation_date(env: &Env) {
    let mut c = env.cases().await;
    let (msisdn, region) = env.subscriber(Situation::DuplicateMonthlyFee, 0).await;
    let mut ids = Vec::new();
    for (day, text) in [
        ("2026-06-01", "月租扣了两次"),
        ("2026-06-02", "又扣了一次月租"),
        ("2026-06-03", "还是重复扣费"),
    ] {
        env.set_now(day, "23:30");
        let id = c
            .create_complaint(testkit::req(create(
                &msisdn,
                "billing.unexpected_charge",
                text,
                ComplaintChannel::Hotline,
            )))
            .await
            .unwrap()
            .into_inner()
            .detail
            .unwrap()
            .complaint
            .unwrap()
            .complaint_id;
        ids.push(id);
    }
    let list = |from: Option<i64>, to: Option<i64>, regions: Vec<String>| {
        let mut c = c.clone();
        async move {
            let mut got: Vec<String> = c
                .list_complaints(testkit::req(ListComplaintsRequest {
                    created_from: from.and_then(timestamp),
                    created_to: to.and_then(timestamp),
                    regions,
                    ..Default::default()
                }))
                .await
                .unwrap()
                .into_inner()
                .complaints
                .into_iter()
                .map(|x| x.complaint_id)
                .collect();
            got.sort();
            got
        }
    };
    let day = |d: &str| at(d, "00:00");
    // One Beijing day: the complaint created at 23:30 that day, not the ones of the days around it.
    assert_eq!(
        list(Some(day("2026-06-02")), Some(day("2026-06-03")), vec![]).await,
        [ids[1].clone()]
    );
    assert_eq!(
        list(Some(day("2026-06-02")), Some(day("2026-06-03")), vec![region.clone()]).await,
        [ids[1].clone()]
    );
    // From is inclusive, to exclusive; each works alone.
    let second = at("2026-06-02", "23:30");
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(
        list(Some(second), None, vec![]).await,
        sorted(vec![ids[1].clone(), ids[2].clone()])
    );
    assert_eq!(list(None, Some(second), vec![]).await, [ids[0].clone()]);
    assert_eq!(list(None, None, vec![]).await, sorted(ids.clone()));
    assert!(list(Some(day("2026-06-05")), None, vec![]).await.is_empty());

    let refused = |r: ListComplaintsRequest| {
        let mut c = c.clone();
        async move { c.list_complaints(testkit::req(r)).await.unwrap_err() }
    };
    let s = refused(ListComplaintsRequest {
        created_from: timestamp(day("2026-06-03")),
        created_to: timestamp(day("2026-06-02")),
        ..Default::default()
    })
    .await;
    assert_eq!(s.code(), Code::InvalidArgument);
    assert_eq!(s.message(), "created_to: must be after created_from");
    let v = s.get_details_bad_request().unwrap().field_violations;
    assert_eq!(v[0].field, "created_to");
    // An empty range is refused the same way.
    let s = refused(ListComplaintsRequest {
        created_from: timestamp(second),
        created_to: timestamp(second),
        ..Default::default()
    })
    .await;
    assert_eq!(s.message(), "created_to: must be after created_from");
    let s = refused(ListComplaintsRequest {
        created_from: Some(prost_types::Timestamp {
            seconds: 1_780_000_000,
            nanos: -1,
        }),
        ..Default::default()
    })
    .await;
    assert_eq!(s.code(), Code::InvalidArgument);
    assert_eq!(s.message(), "created_from: nanos must be in [0, 999999999]");
    let s = refused(ListComplaintsRequest {
        created_to: Some(prost_types::Timestamp {
            seconds: -86_400,
            nanos: 0,
        }),
        ..Default::default()
    })
    .await;
    assert_eq!(s.code(), Code::InvalidArgument);
    assert!(
        s.message()
            .starts_with("created_to: a time between 1970-01-01 and 9999-12-31"),
        "{}",
        s.message()
    );
}

#[tokio::test]
async fn complaints_are_listed_by_creation_date_on_sqlite() {
    listed_by_creation_date(&setup(None).await).await;
}

#[tokio::test]
async fn complaints_are_listed_by_creation_date_on_postgres() {
    let Some(admin) = testkit::db_url("CGW_TEST_PG_URL") else {
        return;
    };
    let db = testkit::TestDatabase::create(&admin, "cases_created").await.unwrap();
    let env = setup(Some(db.url.clone())).await;
    listed_by_creation_date(&env).await;
    env.server.stop().await;
    db.drop_db().await;
}
