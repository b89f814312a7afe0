//! The complaint case as events: its [`State`]s and the transitions between them, the [`Event`]s every
//! change appends, and [`Complaint`], the projection of a case's events ([`Complaint::replay`]).
//! Nothing here reads a clock or a store: the same events always give the same complaint.
use std::fmt;

/// Where a complaint is in its handling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    /// Taken in, not yet looked at.
    New,
    /// Classified and routed to a handler group.
    Triaged,
    /// A handler is working on it.
    InProgress,
    /// Waiting for the customer (an answer, a document): the deadline clocks are paused.
    AwaitingCustomer,
    /// The reply has been sent; a return visit follows.
    Replied,
    /// Done: a reply was sent and the return visit has an outcome.
    Closed,
}

impl State {
    pub const ALL: [State; 6] = [
        State::New,
        State::Triaged,
        State::InProgress,
        State::AwaitingCustomer,
        State::Replied,
        State::Closed,
    ];

    /// The name used in the store, the CLI and messages.
    pub fn name(self) -> &'static str {
        match self {
            State::New => "new",
            State::Triaged => "triaged",
            State::InProgress => "in_progress",
            State::AwaitingCustomer => "awaiting_customer",
            State::Replied => "replied",
            State::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|x| x.name() == s)
    }

    /// The states `Transition` may move to from here. `replied` is reached by recording the reply and a
    /// closed complaint by reopening it: neither is a plain transition.
    pub fn allowed(self) -> &'static [State] {
        match self {
            State::New => &[State::Triaged, State::InProgress],
            State::Triaged => &[State::InProgress],
            State::InProgress => &[State::AwaitingCustomer],
            State::AwaitingCustomer => &[State::InProgress],
            State::Replied => &[State::InProgress, State::Closed],
            State::Closed => &[],
        }
    }

    /// Whether the deadline clocks stand still in this state.
    pub fn pauses_clock(self) -> bool {
        self == State::AwaitingCustomer
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a complaint came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    Hotline,
    App,
    Store,
    Online,
    /// Referred by the regulator (工信部 / 省通信管理局 申诉转办): the regulator's limits apply.
    Regulator,
    SocialMedia,
}

impl Channel {
    pub const ALL: [Channel; 6] = [
        Channel::Hotline,
        Channel::App,
        Channel::Store,
        Channel::Online,
        Channel::Regulator,
        Channel::SocialMedia,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Channel::Hotline => "hotline",
            Channel::App => "app",
            Channel::Store => "store",
            Channel::Online => "online",
            Channel::Regulator => "regulator",
            Channel::SocialMedia => "social_media",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|x| x.name() == s)
    }
}

/// What a return visit (回访) found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VisitOutcome {
    Satisfied,
    Unsatisfied,
    /// Nobody answered; counts towards closing after the configured number of attempts.
    Unreachable,
}

impl VisitOutcome {
    pub const ALL: [VisitOutcome; 3] = [
        VisitOutcome::Satisfied,
        VisitOutcome::Unsatisfied,
        VisitOutcome::Unreachable,
    ];

    pub fn name(self) -> &'static str {
        match self {
            VisitOutcome::Satisfied => "satisfied",
            VisitOutcome::Unsatisfied => "unsatisfied",
            VisitOutcome::Unreachable => "unreachable",
        }
    }

    pub fn parse(s: &str) -> Option<VisitOutcome> {
        VisitOutcome::ALL.into_iter().find(|x| x.name() == s)
    }
}

/// What an event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// Intake: number, text, channel, category, region.
    Created,
    /// The routing rules chose a group and priority, the SLA policy its targets.
    Routed,
    /// A diagnosis ran on the complaint (category, scenario, cause).
    Diagnosed,
    /// Owner and/or group changed.
    Assigned,
    /// A state change with a reason.
    Transitioned,
    /// A handler's note.
    Note,
    /// The reply was sent to the customer (moves to `replied`).
    ReplySent,
    /// A return visit and its outcome.
    ReturnVisit,
    /// A closed complaint opened again (back to `in_progress`).
    Reopened,
    /// A later complaint of the same subscriber and category repeats this one.
    RepeatReported,
}

impl EventKind {
    pub const ALL: [EventKind; 10] = [
        EventKind::Created,
        EventKind::Routed,
        EventKind::Diagnosed,
        EventKind::Assigned,
        EventKind::Transitioned,
        EventKind::Note,
        EventKind::ReplySent,
        EventKind::ReturnVisit,
        EventKind::Reopened,
        EventKind::RepeatReported,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EventKind::Created => "created",
            EventKind::Routed => "routed",
            EventKind::Diagnosed => "diagnosed",
            EventKind::Assigned => "assigned",
            EventKind::Transitioned => "transitioned",
            EventKind::Note => "note",
            EventKind::ReplySent => "reply_sent",
            EventKind::ReturnVisit => "return_visit",
            EventKind::Reopened => "reopened",
            EventKind::RepeatReported => "repeat_reported",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|x| x.name() == s)
    }
}

/// One change to a complaint, as stored (`complaint_events`). Besides what changed, each event carries a
/// snapshot of the complaint's analytic fields (region, channel, category, cause, group, cell, provider,
/// payment channel) as they were after the change.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub complaint_id: String,
    /// 1, 2, … per complaint.
    pub seq: i64,
    pub at_us: i64,
    pub kind: EventKind,
    pub caller: String,
    pub region: String,
    pub msisdn: String,
    pub channel: String,
    pub category: String,
    pub confidence: f64,
    pub category_source: String,
    pub scenario_id: String,
    pub cause_code: String,
    pub diag_outcome: String,
    pub reply_without_question: bool,
    pub answers: i64,
    pub group: String,
    pub owner: String,
    pub priority: i64,
    pub policy_id: String,
    pub from_state: Option<State>,
    pub to_state: Option<State>,
    /// A transition's reason, a note's text, the routing rule; the complaint's text on `created`.
    pub reason: String,
    pub visit: Option<VisitOutcome>,
    /// `created`: the complaint this one repeats; `repeat_reported`: the repeating one.
    pub related_id: String,
    pub vip_level: i64,
    pub cell_id: String,
    pub vas_provider: String,
    pub payment_channel: String,
    /// `created`: the classifier abstained (the category came from a person).
    pub abstained: bool,
}

impl Event {
    /// An event of `kind` carrying `c`'s snapshot, numbered after `c`'s last event.
    pub fn next(c: &Complaint, kind: EventKind, caller: &str, at_us: i64) -> Event {
        Event {
            complaint_id: c.id.clone(),
            seq: c.version + 1,
            at_us,
            kind,
            caller: caller.to_string(),
            region: c.region.clone(),
            msisdn: c.msisdn.clone(),
            channel: c.channel.clone(),
            category: c.category.clone(),
            confidence: 0.0,
            category_source: String::new(),
            scenario_id: c.scenario_id.clone(),
            cause_code: c.cause_code.clone(),
            diag_outcome: String::new(),
            reply_without_question: false,
            answers: 0,
            group: c.group.clone(),
            owner: c.owner.clone(),
            priority: c.priority,
            policy_id: c.policy_id.clone(),
            from_state: None,
            to_state: None,
            reason: String::new(),
            visit: None,
            related_id: String::new(),
            vip_level: c.vip_level,
            cell_id: c.cell_id.clone(),
            vas_provider: c.vas_provider.clone(),
            payment_channel: c.payment_channel.clone(),
            abstained: false,
        }
    }

    /// A blank event (every field empty) of `kind` for complaint `id`.
    pub fn blank(id: &str, seq: i64, kind: EventKind, at_us: i64) -> Event {
        let mut c = Complaint::empty(id);
        c.version = seq - 1;
        Event::next(&c, kind, "", at_us)
    }
}

/// A complaint as its events made it (`complaint_cases` holds the same, for lists).
#[derive(Debug, Clone, PartialEq)]
pub struct Complaint {
    pub id: String,
    pub msisdn: String,
    pub region: String,
    pub channel: String,
    pub text: String,
    pub category: String,
    pub cause_code: String,
    pub scenario_id: String,
    pub state: State,
    pub group: String,
    pub owner: String,
    pub priority: i64,
    pub policy_id: String,
    pub vip_level: i64,
    pub repeat_of: String,
    pub repeat_count: i64,
    pub reopen_count: i64,
    pub diagnoses: i64,
    /// A reply was recorded since the complaint was (re)opened.
    pub replied: bool,
    /// The last return visit's outcome since the reply.
    pub visit: Option<VisitOutcome>,
    /// Unreachable return visits since the reply.
    pub visit_attempts: i64,
    pub created_at_us: i64,
    pub updated_at_us: i64,
    pub closed_at_us: Option<i64>,
    pub cell_id: String,
    pub vas_provider: String,
    pub payment_channel: String,
    /// The number of events applied.
    pub version: i64,
}

impl Complaint {
    fn empty(id: &str) -> Complaint {
        Complaint {
            id: id.to_string(),
            msisdn: String::new(),
            region: String::new(),
            channel: String::new(),
            text: String::new(),
            category: String::new(),
            cause_code: String::new(),
            scenario_id: String::new(),
            state: State::New,
            group: String::new(),
            owner: String::new(),
            priority: 0,
            policy_id: String::new(),
            vip_level: 0,
            repeat_of: String::new(),
            repeat_count: 0,
            reopen_count: 0,
            diagnoses: 0,
            replied: false,
            visit: None,
            visit_attempts: 0,
            created_at_us: 0,
            updated_at_us: 0,
            closed_at_us: None,
            cell_id: String::new(),
            vas_provider: String::new(),
            payment_channel: String::new(),
            version: 0,
        }
    }

    /// The complaint a case's events (in order, starting with `created`) make; `None` without a
    /// `created` event.
    pub fn replay(events: &[Event]) -> Option<Complaint> {
        let first = events.iter().find(|e| e.kind == EventKind::Created)?;
        let mut c = Complaint::empty(&first.complaint_id);
        for e in events {
            c.apply(e);
        }
        Some(c)
    }

    /// Applies one event.
    pub fn apply(&mut self, e: &Event) {
        self.version = self.version.max(e.seq);
        self.updated_at_us = e.at_us;
        if let Some(to) = e.to_state {
            self.state = to;
        }
        match e.kind {
            EventKind::Created => {
                self.msisdn = e.msisdn.clone();
                self.region = e.region.clone();
                self.channel = e.channel.clone();
                self.text = e.reason.clone();
                self.category = e.category.clone();
                self.vip_level = e.vip_level;
                self.repeat_of = e.related_id.clone();
                self.created_at_us = e.at_us;
                self.cell_id = e.cell_id.clone();
                self.vas_provider = e.vas_provider.clone();
                self.payment_channel = e.payment_channel.clone();
                self.state = State::New;
            }
            EventKind::Routed => {
                self.group = e.group.clone();
                self.priority = e.priority;
                self.policy_id = e.policy_id.clone();
            }
            EventKind::Diagnosed => {
                self.diagnoses += 1;
                if !e.category.is_empty() {
                    self.category = e.category.clone();
                }
                self.scenario_id = e.scenario_id.clone();
                if !e.cause_code.is_empty() {
                    self.cause_code = e.cause_code.clone();
                }
                for (mine, theirs) in [
                    (&mut self.cell_id, &e.cell_id),
                    (&mut self.vas_provider, &e.vas_provider),
                    (&mut self.payment_channel, &e.payment_channel),
                ] {
                    if !theirs.is_empty() {
                        *mine = theirs.clone();
                    }
                }
            }
            EventKind::Assigned => {
                self.owner = e.owner.clone();
                self.group = e.group.clone();
            }
            EventKind::Transitioned => {
                if e.to_state == Some(State::Closed) {
                    self.closed_at_us = Some(e.at_us);
                }
            }
            EventKind::ReplySent => self.replied = true,
            EventKind::ReturnVisit => {
                self.visit = e.visit;
                if e.visit == Some(VisitOutcome::Unreachable) {
                    self.visit_attempts += 1;
                }
            }
            EventKind::Reopened => {
                self.reopen_count += 1;
                self.replied = false;
                self.visit = None;
                self.visit_attempts = 0;
                self.closed_at_us = None;
            }
            EventKind::RepeatReported => self.repeat_count += 1,
            EventKind::Note => {}
        }
    }

    /// Why the complaint cannot be closed yet (`visit_attempts`: how many unreachable return visits
    /// count as an outcome), or `None` when it can.
    pub fn close_blocker(&self, visit_attempts: i64) -> Option<String> {
        if self.state != State::Replied {
            return Some(format!(
                "only a replied complaint can be closed; this one is {}",
                self.state
            ));
        }
        if !self.replied {
            return Some("no reply has been recorded (RecordReply)".into());
        }
        match self.visit {
            Some(VisitOutcome::Satisfied | VisitOutcome::Unsatisfied) => None,
            Some(VisitOutcome::Unreachable) if self.visit_attempts >= visit_attempts => None,
            Some(VisitOutcome::Unreachable) => Some(format!(
                "the customer was unreachable on {} of the {visit_attempts} return-visit attempts needed before closing",
                self.visit_attempts
            )),
            None => Some("no return visit has been recorded (RecordReturnVisit)".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn created(id: &str) -> Event {
        let mut e = Event::blank(id, 1, EventKind::Created, 1_000);
        e.msisdn = "13800000001".into();
        e.region = "0571".into();
        e.channel = "hotline".into();
        e.category = "billing.overcharge".into();
        e.reason = "多扣了50元".into();
        e.to_state = Some(State::New);
        e
    }

    #[test]
    fn names_round_trip() {
        for s in State::ALL {
            assert_eq!(State::parse(s.name()), Some(s));
        }
        for c in Channel::ALL {
            assert_eq!(Channel::parse(c.name()), Some(c));
        }
        for k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.name()), Some(k));
        }
        for v in VisitOutcome::ALL {
            assert_eq!(VisitOutcome::parse(v.name()), Some(v));
        }
        assert_eq!(State::parse("done"), None);
    }

    #[test]
    fn the_transition_table_reaches_closed_only_from_replied() {
        let into_closed: Vec<State> = State::ALL
            .into_iter()
            .filter(|s| s.allowed().contains(&State::Closed))
            .collect();
        assert_eq!(into_closed, vec![State::Replied]);
        assert!(State::Closed.allowed().is_empty());
        assert!(State::ALL.iter().all(|s| !s.allowed().contains(&State::Replied)));
        assert!(State::AwaitingCustomer.pauses_clock() && !State::InProgress.pauses_clock());
    }

    #[test]
    fn replay_applies_events_in_order_and_closing_needs_reply_and_visit() {
        let mut events = vec![created("C-1")];
        let c = Complaint::replay(&events).unwrap();
        assert_eq!((c.state, c.text.as_str(), c.version), (State::New, "多扣了50元", 1));
        let mut push = |kind: EventKind, f: &dyn Fn(&mut Event)| {
            let c = Complaint::replay(&events).unwrap();
            let mut e = Event::next(&c, kind, "h-1", 2_000 + c.version);
            f(&mut e);
            events.push(e);
            Complaint::replay(&events).unwrap()
        };
        let c = push(EventKind::Transitioned, &|e| e.to_state = Some(State::InProgress));
        assert_eq!(
            c.close_blocker(3).unwrap(),
            "only a replied complaint can be closed; this one is in_progress"
        );
        let c = push(EventKind::ReplySent, &|e| e.to_state = Some(State::Replied));
        assert_eq!(
            c.close_blocker(3).unwrap(),
            "no return visit has been recorded (RecordReturnVisit)"
        );
        let c = push(EventKind::ReturnVisit, &|e| e.visit = Some(VisitOutcome::Unreachable));
        assert!(c.close_blocker(2).unwrap().contains("unreachable on 1 of the 2"));
        let c = push(EventKind::ReturnVisit, &|e| e.visit = Some(VisitOutcome::Unreachable));
        assert_eq!(c.close_blocker(2), None);
        let c = push(EventKind::Transitioned, &|e| e.to_state = Some(State::Closed));
        assert_eq!((c.state, c.closed_at_us, c.version), (State::Closed, Some(2_005), 6));
        let c = push(EventKind::Reopened, &|e| e.to_state = Some(State::InProgress));
        assert_eq!(
            (c.state, c.reopen_count, c.replied, c.visit_attempts, c.closed_at_us),
            (State::InProgress, 1, false, 0, None)
        );
    }
}
