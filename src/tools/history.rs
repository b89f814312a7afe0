//! The demo's complaint history: about 90 days of complaints across cities, channels, categories, causes
//! and states, made through the same path as live ones: each complaint is taken in with
//! [`ops::intake`] (routing, SLA policy, repeat linking) from its subscriber's real view, diagnosed by the
//! loaded scenarios over that view, and moved through its life (assign, take up, wait for the customer,
//! reply, return visit, close, sometimes reopen) with [`ops::apply`], in time order across all
//! complaints. Only the clock is simulated. Deterministic for a given seed.
//!
//! Complaints come with weekly seasonality (fewer at weekends) and are classified at intake (the
//! classifier abstains on about one in five). Three incidents are planted for analytics to find: a cell outage bringing a burst of coverage
//! complaints from one cell in an afternoon; a value-added-service provider billing without consent (a
//! week of complaints naming it); and a payment channel failing for a day (top-ups not credited).
use crate::cases::model::{Complaint, Event, EventKind, State, VisitOutcome};
use crate::cases::ops::{self, Intake, Op, SubscriberFacts};
use crate::cases::rules::RuleSet;
use crate::cases::store::{CaseChange, CaseRow, CaseStore, CaseWrite};
use crate::diagnosis::records::ComplaintRecord;
use crate::diagnosis::routing::Routing;
use crate::diagnosis::{DiagnoseInput, Engine};
use crate::proto::complaint::v1::SubscriberView;
use crate::tools::seed::{self, Situation, CYCLE};
use crate::view::ViewReader;
use chrono::Datelike;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const MIN: i64 = 60_000_000;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;

/// What to generate.
#[derive(Debug, Clone)]
pub struct HistoryOptions {
    /// Complaints in all, incidents included.
    pub complaints: u64,
    pub days: i64,
    pub seed: u64,
    /// The history ends here (µs); complaints still open then stay open.
    pub end_us: i64,
    /// Subscribers in the demo backends.
    pub subscribers: u64,
}

/// What was generated.
#[derive(Debug, Clone, Default)]
pub struct HistoryReport {
    pub complaints: u64,
    pub events: u64,
    pub by_state: BTreeMap<String, u64>,
    pub stopped: bool,
    /// (what, detail) of each planted incident.
    pub incidents: Vec<(String, String)>,
    /// Each planted incident as analytics should find it.
    pub planted: Vec<Planted>,
}

/// A planted incident: the place whose complaints surge (its dimension and value), their category, and
/// when (µs, `[from, to)`).
#[derive(Debug, Clone, PartialEq)]
pub struct Planted {
    pub dimension: String,
    pub value: String,
    pub category: String,
    pub from_us: i64,
    pub to_us: i64,
}

/// Categories, how often they come (per mille), and the subscriber situations they are drawn from.
const CATEGORIES: &[(&str, u32, &[Situation], &[&str])] = &[
    (
        "billing.unexpected_charge",
        150,
        &[
            Situation::DuplicateMonthlyFee,
            Situation::VoiceOverage,
            Situation::VasNoConsent,
        ],
        &["这个月话费莫名多扣了钱", "月租怎么扣了两次", "账单里有不认识的扣费"],
    ),
    (
        "billing.data_overage",
        100,
        &[Situation::DataOverage, Situation::DataBilledEarly],
        &["流量超出了好多，不合理", "流量还没用完就开始扣费"],
    ),
    (
        "vas.unsolicited_subscription",
        80,
        &[Situation::VasNoConsent, Situation::VasConsented],
        &["没订过的增值业务一直扣钱", "莫名其妙开通了会员服务"],
    ),
    (
        "plan.change_issue",
        70,
        &[Situation::PendingPlanChange, Situation::PlanChangeRejected],
        &["改了套餐一直没生效", "套餐变更被拒绝了"],
    ),
    (
        "network.mobile_coverage",
        110,
        &[Situation::CellOutage, Situation::TerminalNot5g, Situation::Normal],
        &["家里手机没信号", "5G信号很差打不了电话"],
    ),
    (
        "network.broadband_fault",
        110,
        &[
            Situation::BroadbandAlarm,
            Situation::BroadbandInstallDelayed,
            Situation::Normal,
        ],
        &["宽带断网了", "宽带装机一直没人来"],
    ),
    (
        "service.suspension",
        80,
        &[
            Situation::PaidStillSuspended,
            Situation::SuspendedForRealName,
            Situation::SuspendedArrears,
        ],
        &["交了钱还是停机", "突然被停机了"],
    ),
    (
        "payment.topup_not_credited",
        90,
        &[
            Situation::TopupPending,
            Situation::TopupFailed,
            Situation::DoublePayment,
        ],
        &["充值了话费没到账", "充值扣了两次钱"],
    ),
    (
        "roaming.charges",
        50,
        &[Situation::RoamingNoPack],
        &["出国漫游扣了很多钱"],
    ),
    (
        "portability.blocked",
        40,
        &[Situation::PortOutRejected],
        &["携号转网办不了"],
    ),
    (
        "service.staff_conduct",
        40,
        &[Situation::Normal],
        &["营业厅服务态度太差了"],
    ),
    (
        "marketing.harassment",
        80,
        &[
            Situation::MarketingAfterOptOut,
            Situation::MarketingFrequent,
            Situation::MarketingThirdParty,
        ],
        &["退订了还一直发营销短信", "天天打推销电话"],
    ),
];

/// Relative complaint volume per weekday, Monday first.
const WEEKDAY_WEIGHT: [f64; 7] = [1.15, 1.1, 1.05, 1.0, 1.0, 0.8, 0.7];

/// Channels and their weights (per mille).
const CHANNELS: &[(&str, u32)] = &[
    ("hotline", 450),
    ("app", 220),
    ("online", 120),
    ("store", 100),
    ("social_media", 60),
    ("regulator", 50),
];

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [(T, u32)]) -> &'a T {
    let total: u32 = items.iter().map(|x| x.1).sum();
    let mut n = rng.random_range(0..total);
    for (item, w) in items {
        if n < *w {
            return item;
        }
        n -= w;
    }
    &items[items.len() - 1].0
}

/// One step of a complaint's life, at a time.
#[derive(Debug, Clone)]
enum Step {
    Intake,
    Diagnose,
    Act(Op),
}

/// A complaint under way.
struct Life {
    intake: Intake,
    facts: SubscriberFacts,
    view: Arc<SubscriberView>,
    steps: Vec<(i64, Step)>,
    events: Vec<Event>,
}

/// The plan of a complaint created at `t0`: what happens to it and when (steps after `end` never do).
fn plan(rng: &mut ChaCha8Rng, t0: i64, caller: &str) -> Vec<(i64, Step)> {
    let mut s = vec![(t0, Step::Intake), (t0 + rng.random_range(1..10) * MIN, Step::Diagnose)];
    let mut t = t0 + rng.random_range(5..120) * MIN;
    s.push((
        t,
        Step::Act(Op::Assign {
            owner: caller.to_string(),
            group: String::new(),
        }),
    ));
    // Usually taken up within hours; one in ten sits for days (late first responses).
    t += if rng.random_bool(0.1) {
        rng.random_range(1..4) * DAY
    } else {
        rng.random_range(5..240) * MIN
    };
    s.push((
        t,
        Step::Act(Op::Transition {
            to: State::InProgress,
            reason: "处理中".into(),
        }),
    ));
    if rng.random_bool(0.15) {
        t += rng.random_range(1..8) * HOUR;
        s.push((
            t,
            Step::Act(Op::Transition {
                to: State::AwaitingCustomer,
                reason: "等待客户提供材料".into(),
            }),
        ));
        t += rng.random_range(2..72) * HOUR;
        s.push((
            t,
            Step::Act(Op::Transition {
                to: State::InProgress,
                reason: "客户已回复".into(),
            }),
        ));
    }
    let cycles = if rng.random_bool(0.04) { 2 } else { 1 };
    for cycle in 0..cycles {
        t += if rng.random_bool(0.12) {
            rng.random_range(2..8) * DAY
        } else {
            rng.random_range(1..48) * HOUR
        };
        s.push((
            t,
            Step::Act(Op::Reply {
                text: "已按标准答复客户".into(),
            }),
        ));
        let outcome = *pick(
            rng,
            &[
                (VisitOutcome::Satisfied, 750),
                (VisitOutcome::Unsatisfied, 120),
                (VisitOutcome::Unreachable, 130),
            ],
        );
        let tries = if outcome == VisitOutcome::Unreachable { 3 } else { 1 };
        for _ in 0..tries {
            t += rng.random_range(4..48) * HOUR;
            s.push((
                t,
                Step::Act(Op::Visit {
                    outcome,
                    note: String::new(),
                }),
            ));
        }
        t += rng.random_range(10..120) * MIN;
        s.push((
            t,
            Step::Act(Op::Transition {
                to: State::Closed,
                reason: "已解决".into(),
            }),
        ));
        if cycle + 1 < cycles {
            t += rng.random_range(1..6) * DAY;
            s.push((
                t,
                Step::Act(Op::Reopen {
                    reason: "客户再次反映".into(),
                }),
            ));
        }
    }
    s
}

/// Reads (once) and caches subscribers' views, unaudited: the history is seeded by the system, not read
/// by a caller.
struct Views<'a> {
    reader: &'a ViewReader,
    cache: HashMap<u64, Arc<SubscriberView>>,
}

impl Views<'_> {
    async fn get(&mut self, i: u64) -> anyhow::Result<Arc<SubscriberView>> {
        if let Some(v) = self.cache.get(&i) {
            return Ok(v.clone());
        }
        let sources = self.reader.select(&[])?;
        let o = self
            .reader
            .read_with(&seed::msisdn(i), &sources, &|_| None, None, &Default::default())
            .await?;
        let v = o.view;
        self.cache.insert(i, v.clone());
        Ok(v)
    }
}

/// Subscriber indices with `situation` below `n`.
fn with_situation(situation: Situation, n: u64) -> impl Iterator<Item = u64> {
    let first = situation.first_index();
    (0..).map(move |k| first + k * CYCLE).take_while(move |i| *i < n)
}

/// The largest group of subscribers with `situation` sharing `key` of their facts (an outage cell, a
/// provider, a payment channel), and the key.
async fn cluster(
    views: &mut Views<'_>,
    situations: &[Situation],
    n: u64,
    key: fn(&SubscriberFacts) -> String,
) -> anyhow::Result<(String, Vec<u64>)> {
    let mut groups: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for s in situations {
        for i in with_situation(*s, n) {
            let k = key(&SubscriberFacts::of(&*views.get(i).await?));
            if !k.is_empty() {
                groups.entry(k).or_default().push(i);
            }
        }
    }
    Ok(groups.into_iter().max_by_key(|(_, v)| v.len()).unwrap_or_default())
}

/// Generates the history into `store` with the rules `set` and the scenarios of `engine`, reading views
/// through `reader`. `progress(done, total)` is called after each committed chunk; `stop` ends it after
/// the chunk under way (what was committed stays).
pub async fn generate(
    store: &CaseStore,
    set: &RuleSet,
    engine: &Engine,
    reader: &ViewReader,
    opts: &HistoryOptions,
    stop: &AtomicBool,
    progress: &dyn Fn(u64, u64),
) -> anyhow::Result<HistoryReport> {
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let mut views = Views {
        reader,
        cache: HashMap::new(),
    };
    let n = opts.subscribers.max(1);
    let start = opts.end_us - opts.days * DAY;
    let handlers: Vec<String> = crate::tools::demo::IDENTITIES
        .iter()
        .filter(|d| d.roles == [crate::identity::Role::Handler] && d.regions.len() == 1)
        .map(|d| d.id.to_string())
        .collect();
    let mut report = HistoryReport::default();

    // Who complains, about what and when: the background, then the incidents.
    let mut arrivals: Vec<(i64, &'static str, u64, &'static str)> = Vec::new();
    let weights: Vec<(usize, u32)> = CATEGORIES.iter().enumerate().map(|(i, c)| (i, c.1)).collect();
    let incident = |share: f64| ((opts.complaints as f64) * share) as u64;
    let background = opts.complaints - incident(0.012) - incident(0.015) - incident(0.01);
    for _ in 0..background {
        let (category, _, situations, _) = CATEGORIES[*pick(&mut rng, &weights)];
        let s = situations[rng.random_range(0..situations.len())];
        let count = with_situation(s, n).count() as u64;
        // A demo too small to hold the situation: any subscriber.
        let i = if count == 0 {
            rng.random_range(0..n)
        } else {
            s.first_index() + rng.random_range(0..count) * CYCLE
        };
        // Weekly seasonality: fewer complaints at weekends (Monday 1.15 … Sunday 0.7, by rejection).
        let day = loop {
            let d = start + rng.random_range(0..opts.days) * DAY;
            let weekday = crate::cases::calendar::local_date(d).weekday().num_days_from_monday() as usize;
            if rng.random_range(0.0..1.15) < WEEKDAY_WEIGHT[weekday] {
                break d;
            }
        };
        // Hours weighted to office hours: 08:00–22:00 Beijing time.
        let local_midnight = day - (day + 8 * HOUR).rem_euclid(DAY);
        let t = local_midnight + 8 * HOUR + rng.random_range(0..14 * 60) * MIN;
        arrivals.push((
            t.clamp(start, opts.end_us - MIN),
            category,
            i,
            *pick(&mut rng, CHANNELS),
        ));
    }
    // 1. A cell outage one afternoon, 40 days before the end: coverage complaints from that cell.
    let (cell, near) = cluster(&mut views, &[Situation::CellOutage], n, |f| f.cell_id.clone()).await?;
    let (vas, billed) = cluster(&mut views, &[Situation::VasNoConsent], n, |f| f.vas_provider.clone()).await?;
    let (channel, paying) = cluster(&mut views, &[Situation::TopupPending, Situation::TopupFailed], n, |f| {
        f.payment_channel.clone()
    })
    .await?;
    let plant = |rng: &mut ChaCha8Rng,
                 arrivals: &mut Vec<(i64, &'static str, u64, &'static str)>,
                 who: &[u64],
                 category: &'static str,
                 from: i64,
                 span: i64,
                 count: u64| {
        for _ in 0..count {
            if who.is_empty() {
                return;
            }
            let i = who[rng.random_range(0..who.len())];
            let t = from + rng.random_range(0..span / MIN) * MIN;
            arrivals.push((t.min(opts.end_us - MIN), category, i, *pick(rng, CHANNELS)));
        }
    };
    let day_at = |days_before: i64, hour: i64| {
        let d = opts.end_us - days_before * DAY;
        d - (d + 8 * HOUR).rem_euclid(DAY) + hour * HOUR
    };
    plant(
        &mut rng,
        &mut arrivals,
        &near,
        "network.mobile_coverage",
        day_at(40, 14),
        6 * HOUR,
        incident(0.012),
    );
    report.planted.push(Planted {
        dimension: "cell".into(),
        value: cell.clone(),
        category: "network.mobile_coverage".into(),
        from_us: day_at(40, 14),
        to_us: day_at(40, 14) + 6 * HOUR,
    });
    report.incidents.push((
        "cell outage".into(),
        format!(
            "{} coverage complaints from cell {cell} in 6 hours, 40 days before the end",
            incident(0.012)
        ),
    ));
    plant(
        &mut rng,
        &mut arrivals,
        &billed,
        "vas.unsolicited_subscription",
        day_at(25, 8),
        7 * DAY,
        incident(0.015),
    );
    report.planted.push(Planted {
        dimension: "vas_provider".into(),
        value: vas.clone(),
        category: "vas.unsolicited_subscription".into(),
        from_us: day_at(25, 8),
        to_us: day_at(25, 8) + 7 * DAY,
    });
    report.incidents.push((
        "VAS billing without consent".into(),
        format!(
            "{} complaints about provider {vas} over a week from 25 days before the end",
            incident(0.015)
        ),
    ));
    plant(
        &mut rng,
        &mut arrivals,
        &paying,
        "payment.topup_not_credited",
        day_at(10, 0),
        DAY,
        incident(0.01),
    );
    report.planted.push(Planted {
        dimension: "payment_channel".into(),
        value: channel.clone(),
        category: "payment.topup_not_credited".into(),
        from_us: day_at(10, 0),
        to_us: day_at(10, 0) + DAY,
    });
    report.incidents.push((
        "payment channel failure".into(),
        format!(
            "{} top-ups not credited through {channel} in one day, 10 days before the end",
            incident(0.01)
        ),
    ));
    arrivals.sort_by_key(|a| (a.0, a.2));

    // Every complaint's steps, in time order across complaints.
    let total = arrivals.len() as u64;
    let mut lives: Vec<Life> = Vec::with_capacity(arrivals.len());
    let mut queue: BinaryHeap<Reverse<(i64, usize, usize)>> = BinaryHeap::new();
    for (k, (t0, category, i, channel)) in arrivals.iter().enumerate() {
        let view = views.get(*i).await?;
        let facts = SubscriberFacts::of(&view);
        let texts = CATEGORIES
            .iter()
            .find(|c| c.0 == *category)
            .map(|c| c.3)
            .unwrap_or(&["投诉"]);
        let caller = handlers
            .iter()
            .find(|h| {
                crate::tools::demo::IDENTITIES
                    .iter()
                    .any(|d| d.id == h.as_str() && d.regions == [facts.region.as_str()])
            })
            .cloned()
            .unwrap_or_else(|| "demo".into());
        let steps = plan(&mut rng, *t0, &caller);
        // The classifier took the category in; about one in five it abstained and a handler chose.
        let abstained = rng.random_bool(0.2);
        let date = crate::cases::calendar::local_date(*t0).format("%Y%m%d");
        lives.push(Life {
            intake: Intake {
                complaint_id: format!("CMP-{date}-{k:06}"),
                msisdn: seed::msisdn(*i),
                channel: channel.to_string(),
                text: texts[rng.random_range(0..texts.len())].to_string(),
                category: category.to_string(),
                confidence: if abstained { 0.35 } else { 0.92 },
                category_source: "classifier".into(),
                abstained,
            },
            facts,
            view,
            steps,
            events: Vec::new(),
        });
        queue.push(Reverse((*t0, k, 0)));
    }
    let mut latest: HashMap<(String, String), usize> = HashMap::new();
    let mut pending: Vec<CaseChange> = Vec::new();
    let mut created = 0u64;
    let diag_set = engine.scenarios();
    while let Some(Reverse((t, k, step))) = queue.pop() {
        if t > opts.end_us {
            continue;
        }
        // The handler the complaint was assigned to acts on it throughout.
        let caller = lives[k]
            .steps
            .iter()
            .find_map(|(_, s)| match s {
                Step::Act(Op::Assign { owner, .. }) => Some(owner.clone()),
                _ => None,
            })
            .unwrap_or_default();
        let changes: Vec<CaseChange> = match lives[k].steps[step].1.clone() {
            Step::Intake => {
                let key = (lives[k].intake.msisdn.clone(), lives[k].intake.category.clone());
                let earlier = latest.get(&key).copied().filter(|&e| {
                    lives[e]
                        .events
                        .first()
                        .is_some_and(|c| c.at_us >= t - ops::REPEAT_WINDOW_DAYS * DAY)
                });
                let earlier_row = earlier.map(|e| {
                    let c = Complaint::replay(&lives[e].events).expect("created");
                    (
                        CaseRow {
                            complaint: c,
                            deadlines: Default::default(),
                        },
                        lives[e].events.clone(),
                    )
                });
                let chs = ops::intake(
                    set,
                    &lives[k].intake,
                    &lives[k].facts,
                    earlier_row.as_ref().map(|(r, h)| (r, h.as_slice())),
                    &caller,
                    t,
                );
                if let (Some(e), Some(ch)) = (earlier, chs.get(1)) {
                    lives[e].events.extend(ch.events.iter().cloned());
                }
                latest.insert(key, k);
                created += 1;
                chs
            }
            Step::Diagnose => {
                let life = &lives[k];
                let input = DiagnoseInput {
                    category: life.intake.category.clone(),
                    answers: HashMap::new(),
                    complaint_id: life.intake.complaint_id.clone(),
                    msisdn: life.intake.msisdn.clone(),
                    now: None,
                    text: life.intake.text.clone(),
                };
                let d = engine.diagnose(diag_set.clone(), &input, &life.view)?;
                let r = ComplaintRecord::of(
                    &d,
                    &input,
                    &Routing::requested(&input.category),
                    &caller,
                    &life.facts.region,
                );
                let mut e = Event::blank(&r.complaint_id, 0, EventKind::Diagnosed, t);
                e.category = r.category;
                e.confidence = r.confidence;
                e.category_source = r.category_source;
                e.scenario_id = r.scenario_id;
                e.cause_code = r.cause_code;
                e.diag_outcome = r.outcome;
                e.reply_without_question = r.reply_without_question;
                e.cell_id = life.facts.cell_id.clone();
                e.vas_provider = life.facts.vas_provider.clone();
                e.payment_channel = life.facts.payment_channel.clone();
                vec![ops::apply(set, &life.events, Op::Diagnosed(Box::new(e)), &caller, t)?]
            }
            Step::Act(op) => match ops::apply(set, &lives[k].events, op, &caller, t) {
                Ok(ch) => vec![ch],
                // A step the plan got wrong for this life (none expected): skip it.
                Err(e) => {
                    tracing::debug!(error = %e, "history step skipped");
                    Vec::new()
                }
            },
        };
        if let Some(first) = changes.first() {
            lives[k].events.extend(first.events.iter().cloned());
        }
        report.events += changes.iter().map(|c| c.events.len() as u64).sum::<u64>();
        pending.extend(changes);
        if step + 1 < lives[k].steps.len() {
            queue.push(Reverse((lives[k].steps[step + 1].0, k, step + 1)));
        }
        if pending.len() >= 4_000 {
            store
                .write(&CaseWrite(std::mem::take(&mut pending)))
                .await
                .map_err(anyhow::Error::msg)?;
            progress(created, total);
            if stop.load(Ordering::Relaxed) {
                report.stopped = true;
                break;
            }
        }
    }
    if !report.stopped {
        store.write(&CaseWrite(pending)).await.map_err(anyhow::Error::msg)?;
        progress(created, total);
    }
    report.complaints = created;
    for life in &lives {
        if let Some(c) = Complaint::replay(&life.events) {
            *report.by_state.entry(c.state.name().to_string()).or_default() += 1;
        }
    }
    Ok(report)
}
