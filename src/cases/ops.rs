//! The operations on a case, as pure functions from the case's events to the events to append: intake
//! (routing, SLA policy, repeat linking), assign, transition, note, reply, return visit, reopen and an
//! attached diagnosis. Each checks that it is allowed in the case's state and says what is allowed when it
//! is not. No clock, no store: the service and the demo history call the same functions.
use super::model::{Complaint, Event, EventKind, State, VisitOutcome};
use super::rules::{Facts, RuleSet};
use super::sla::{self, SlaState};
use super::store::{CaseChange, CaseRow, Deadlines, TargetOutcome};
use crate::error::Error;
use crate::proto::complaint::v1::{PaymentStatus, SubscriberView, VasStatus};

/// A new complaint as taken in.
#[derive(Debug, Clone, Default)]
pub struct Intake {
    pub complaint_id: String,
    /// Normalised.
    pub msisdn: String,
    pub channel: String,
    pub text: String,
    pub category: String,
    pub confidence: f64,
    /// `request` or `classifier`.
    pub category_source: String,
    pub abstained: bool,
}

/// What the subscriber's view says that routing and analytics use.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SubscriberFacts {
    pub region: String,
    pub vip_level: i64,
    pub segment: String,
    /// The serving cell (one with an outage first), the provider of a value-added service (one without
    /// a consent record first), the channel of the latest payment (a pending or failed one first).
    pub cell_id: String,
    pub vas_provider: String,
    pub payment_channel: String,
}

impl SubscriberFacts {
    /// The facts of a (possibly masked) view.
    pub fn of(view: &SubscriberView) -> SubscriberFacts {
        let customer = view.customer.clone().unwrap_or_default();
        let network = view.network.clone().unwrap_or_default();
        let outage_cell = network.cells.iter().find(|c| {
            network
                .outages
                .iter()
                .any(|o| o.element_id == c.cell_id && o.resolved_at.is_none())
        });
        let vas = view
            .vas_subscriptions
            .iter()
            .filter(|v| v.status == VasStatus::Active as i32)
            .min_by_key(|v| !v.consent_record.is_empty());
        let payment = view
            .payments
            .iter()
            .find(|p| p.status == PaymentStatus::Pending as i32 || p.status == PaymentStatus::Failed as i32)
            .or(view.payments.first());
        SubscriberFacts {
            region: customer.region_code.trim().to_string(),
            vip_level: i64::from(customer.vip_level),
            segment: customer.segment,
            cell_id: outage_cell
                .or(network.cells.first())
                .map(|c| c.cell_id.clone())
                .unwrap_or_default(),
            vas_provider: vas.map(|v| v.provider_code.clone()).unwrap_or_default(),
            payment_channel: payment.map(|p| p.channel.clone()).unwrap_or_default(),
        }
    }
}

/// Days within which a complaint of the same subscriber and category is a repeat.
pub const REPEAT_WINDOW_DAYS: i64 = 30;

/// The facts conditions see for a case.
pub fn facts(c: &Complaint, intake: Option<&Intake>, s: &SubscriberFacts) -> Facts {
    Facts {
        channel: c.channel.clone(),
        category: c.category.clone(),
        region: c.region.clone(),
        repeat: !c.repeat_of.is_empty(),
        repeat_count: c.repeat_count,
        classified_category: intake.map(|i| i.category.clone()).unwrap_or_else(|| c.category.clone()),
        confidence: intake.map(|i| i.confidence).unwrap_or(1.0),
        abstained: intake.is_some_and(|i| i.abstained),
        category_source: intake.map(|i| i.category_source.clone()).unwrap_or_default(),
        vip_level: s.vip_level,
        segment: s.segment.clone(),
    }
}

/// The deadlines of a case with `events` under the rule set in force, at `now_us`.
pub fn deadlines(set: &RuleSet, events: &[Event], policy_id: &str, now_us: i64) -> (Deadlines, SlaState) {
    let policy = set.policy(policy_id);
    let state = sla::evaluate(
        events,
        &policy.targets,
        &set.calendar_of(policy),
        set.warn_share,
        now_us,
    );
    let next = state.next_due();
    let mut targets = [TargetOutcome::default(); 3];
    for (slot, t) in targets.iter_mut().zip(sla::Target::ALL) {
        if let Some(ts) = state.get(t) {
            *slot = TargetOutcome {
                met_on_time: ts.met_us.is_some() && ts.status != sla::Status::Breached,
                met_late: ts.met_us.is_some() && ts.status == sla::Status::Breached,
                due_us: if ts.met_us.is_none() { ts.due_us } else { None },
            };
        }
    }
    (
        Deadlines {
            next_due_us: next.map(|n| n.0),
            next_warn_us: next.map(|n| n.1),
            breached_late: state.breached_late(),
            targets,
        },
        state,
    )
}

/// The change of appending `new` to `events` (the case's history).
fn change(set: &RuleSet, events: &[Event], new: Vec<Event>, expected_version: i64) -> CaseChange {
    let mut all = events.to_vec();
    all.extend(new.iter().cloned());
    let after = Complaint::replay(&all).expect("a case's history starts with `created`");
    let last_at = all.last().map(|e| e.at_us).unwrap_or_default();
    let (deadlines, _) = deadlines(set, &all, &after.policy_id, last_at);
    CaseChange {
        expected_version,
        events: new,
        after,
        deadlines,
    }
}

/// Intake: the `created` event, the `routed` one (group, priority, SLA policy; the complaint is then
/// triaged) and, when `earlier` (the subscriber's latest complaint of the same category within
/// [`REPEAT_WINDOW_DAYS`]) is given, the link both ways.
pub fn intake(
    set: &RuleSet,
    i: &Intake,
    s: &SubscriberFacts,
    earlier: Option<(&CaseRow, &[Event])>,
    caller: &str,
    at_us: i64,
) -> Vec<CaseChange> {
    let mut created = Event::blank(&i.complaint_id, 1, EventKind::Created, at_us);
    created.caller = caller.to_string();
    created.msisdn = i.msisdn.clone();
    created.region = s.region.clone();
    created.channel = i.channel.clone();
    created.category = i.category.clone();
    created.confidence = i.confidence;
    created.category_source = i.category_source.clone();
    created.abstained = i.abstained;
    created.reason = i.text.clone();
    created.to_state = Some(State::New);
    created.vip_level = s.vip_level;
    created.cell_id = s.cell_id.clone();
    created.vas_provider = s.vas_provider.clone();
    created.payment_channel = s.payment_channel.clone();
    created.related_id = earlier.map(|(c, _)| c.complaint.id.clone()).unwrap_or_default();
    let c = Complaint::replay(std::slice::from_ref(&created)).expect("created");
    let mut f = facts(&c, Some(i), s);
    f.repeat_count = earlier.map(|(e, _)| e.complaint.repeat_count + 1).unwrap_or(0);
    let route = set.route(&f);
    let policy = set.policy_for(&f);
    let mut routed = Event::next(&c, EventKind::Routed, caller, at_us);
    routed.group = route.group;
    routed.priority = route.priority;
    routed.policy_id = policy.id.clone();
    routed.reason = format!("rule {}; policy {}", route.rule, policy.id);
    routed.from_state = Some(State::New);
    routed.to_state = Some(State::Triaged);
    let mut out = vec![change(set, &[], vec![created, routed], 0)];
    if let Some((row, history)) = earlier {
        let mut e = Event::next(&row.complaint, EventKind::RepeatReported, caller, at_us);
        e.related_id = i.complaint_id.clone();
        out.push(change(set, history, vec![e], row.complaint.version));
    }
    out
}

/// An operation on an existing case.
#[derive(Debug, Clone)]
pub enum Op {
    Assign { owner: String, group: String },
    Transition { to: State, reason: String },
    Note { text: String },
    Reply { text: String },
    Visit { outcome: VisitOutcome, note: String },
    Reopen { reason: String },
    Diagnosed(Box<Event>),
}

impl Op {
    /// What the operation is called in messages.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Assign { .. } => "assign",
            Op::Transition { .. } => "transition",
            Op::Note { .. } => "note",
            Op::Reply { .. } => "record a reply",
            Op::Visit { .. } => "record a return visit",
            Op::Reopen { .. } => "reopen",
            Op::Diagnosed(_) => "attach a diagnosis",
        }
    }
}

fn names(states: &[State]) -> String {
    if states.is_empty() {
        return "none (a closed complaint can only be reopened)".into();
    }
    states.iter().map(|s| s.name()).collect::<Vec<_>>().join(", ")
}

/// The events `op` appends to the case with `events`, or why it is not allowed.
pub fn apply(set: &RuleSet, events: &[Event], op: Op, caller: &str, at_us: i64) -> Result<CaseChange, Error> {
    let c = Complaint::replay(events).ok_or_else(|| Error::Internal("a case without a created event".into()))?;
    let at_us = at_us.max(c.updated_at_us);
    let mut e = Event::next(&c, EventKind::Note, caller, at_us);
    let invalid = |msg: String, allowed: &[State]| Error::InvalidTransition {
        message: msg,
        allowed: allowed.iter().map(|s| s.name().to_string()).collect(),
    };
    match op {
        Op::Assign { owner, group } => {
            if c.state == State::Closed {
                return Err(invalid(
                    format!("complaint {} is closed: reopen it before assigning it", c.id),
                    &[],
                ));
            }
            e.kind = EventKind::Assigned;
            if !owner.is_empty() {
                e.owner = owner;
            }
            if !group.is_empty() {
                e.group = group;
            }
        }
        Op::Transition { to, reason } => {
            if !c.state.allowed().contains(&to) {
                return Err(invalid(
                    format!(
                        "complaint {} cannot go from {} to {to}; allowed from {}: {}{}",
                        c.id,
                        c.state,
                        c.state,
                        names(c.state.allowed()),
                        match to {
                            State::Replied => " (a reply is recorded with RecordReply)",
                            State::New => "",
                            _ if c.state == State::Closed => " (ReopenComplaint reopens it)",
                            _ => "",
                        }
                    ),
                    c.state.allowed(),
                ));
            }
            if to == State::Closed {
                if let Some(why) = c.close_blocker(set.visit_attempts) {
                    return Err(Error::FailedPrecondition(format!(
                        "complaint {} cannot be closed: {why}",
                        c.id
                    )));
                }
            }
            e.kind = EventKind::Transitioned;
            e.from_state = Some(c.state);
            e.to_state = Some(to);
            e.reason = reason;
        }
        Op::Note { text } => e.reason = text,
        Op::Reply { text } => {
            if !matches!(c.state, State::InProgress | State::Replied) {
                return Err(invalid(
                    format!(
                        "complaint {} is {}: a reply is recorded for a complaint in progress (or already replied)",
                        c.id, c.state
                    ),
                    c.state.allowed(),
                ));
            }
            e.kind = EventKind::ReplySent;
            e.from_state = Some(c.state);
            e.to_state = Some(State::Replied);
            e.reason = text;
        }
        Op::Visit { outcome, note } => {
            if c.state != State::Replied {
                return Err(invalid(
                    format!("complaint {} is {}: return visits follow the reply", c.id, c.state),
                    c.state.allowed(),
                ));
            }
            e.kind = EventKind::ReturnVisit;
            e.visit = Some(outcome);
            e.reason = note;
        }
        Op::Reopen { reason } => {
            if c.state != State::Closed {
                return Err(invalid(
                    format!(
                        "complaint {} is {}, not closed; allowed from {}: {}",
                        c.id,
                        c.state,
                        c.state,
                        names(c.state.allowed())
                    ),
                    c.state.allowed(),
                ));
            }
            e.kind = EventKind::Reopened;
            e.from_state = Some(State::Closed);
            e.to_state = Some(State::InProgress);
            e.reason = reason;
        }
        Op::Diagnosed(d) => {
            let d = *d;
            e.kind = EventKind::Diagnosed;
            e.category = if d.category.is_empty() {
                c.category.clone()
            } else {
                d.category
            };
            e.confidence = d.confidence;
            e.category_source = d.category_source;
            e.scenario_id = d.scenario_id;
            e.cause_code = if d.cause_code.is_empty() {
                c.cause_code.clone()
            } else {
                d.cause_code
            };
            e.diag_outcome = d.diag_outcome;
            e.reply_without_question = d.reply_without_question;
            e.answers = d.answers;
            for (mine, theirs) in [
                (&mut e.cell_id, d.cell_id),
                (&mut e.vas_provider, d.vas_provider),
                (&mut e.payment_channel, d.payment_channel),
            ] {
                if !theirs.is_empty() {
                    *mine = theirs;
                }
            }
        }
    }
    Ok(change(set, events, vec![e], c.version))
}
