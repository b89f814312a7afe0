//! Deadlines: an SLA policy's three targets (first response, reply, resolution) counted in its calendar,
//! computed from a complaint's events alone, so a changed calendar or policy is replayed over the same
//! history.
//!
//! - The clocks start at intake; a reopen starts the reply and resolution clocks again.
//! - They stand still while the complaint awaits the customer.
//! - First response is met when the complaint is first taken up (in progress or awaiting the customer) or
//!   a reply is sent; reply when the reply is recorded; resolution when the complaint is closed.
//! - A target turns at risk once less than `warn_share` of its time remains, and is breached when its due
//!   time passes unmet or it is met late.
use super::calendar::Calendar;
use super::model::{Event, EventKind, State};

const US_PER_HOUR: i64 = 3_600_000_000;

/// Which deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    FirstResponse,
    Reply,
    Resolution,
}

impl Target {
    pub const ALL: [Target; 3] = [Target::FirstResponse, Target::Reply, Target::Resolution];

    pub fn name(self) -> &'static str {
        match self {
            Target::FirstResponse => "first_response",
            Target::Reply => "reply",
            Target::Resolution => "resolution",
        }
    }
}

/// How a target stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    OnTrack,
    AtRisk,
    Met,
    Breached,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::OnTrack => "on_track",
            Status::AtRisk => "at_risk",
            Status::Met => "met",
            Status::Breached => "breached",
        }
    }
}

/// A policy's targets, in hours of its calendar.
#[derive(Debug, Clone, PartialEq)]
pub struct Targets {
    pub first_response_hours: f64,
    pub reply_hours: f64,
    pub resolution_hours: f64,
}

impl Targets {
    fn hours(&self, t: Target) -> f64 {
        match t {
            Target::FirstResponse => self.first_response_hours,
            Target::Reply => self.reply_hours,
            Target::Resolution => self.resolution_hours,
        }
    }
}

/// One target of one complaint.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetState {
    pub target: Target,
    /// When its clock started (intake, or the last reopen).
    pub started_us: i64,
    /// When it is due; `None` while the clock stands still before the target is reached.
    pub due_us: Option<i64>,
    /// When it turns at risk; `None` as for `due_us`.
    pub warn_us: Option<i64>,
    pub met_us: Option<i64>,
    pub status: Status,
    /// The clock is standing still (awaiting the customer).
    pub paused: bool,
}

/// Every target of a complaint at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct SlaState {
    pub targets: Vec<TargetState>,
}

impl SlaState {
    /// The earliest due time (and its warning time) among targets not met; `None` when all are met or the
    /// clock stands still.
    pub fn next_due(&self) -> Option<(i64, i64)> {
        self.targets
            .iter()
            .filter(|t| t.met_us.is_none())
            .filter_map(|t| Some((t.due_us?, t.warn_us?)))
            .min()
    }

    /// A target was met after its due time.
    pub fn breached_late(&self) -> bool {
        self.targets
            .iter()
            .any(|t| t.met_us.is_some() && t.status == Status::Breached)
    }

    pub fn get(&self, t: Target) -> Option<&TargetState> {
        self.targets.iter().find(|x| x.target == t)
    }
}

/// The instant `amount` of counted time has run on the clock from `start`, skipping the pauses; `None`
/// when the clock stands still (or stops for good) before then.
fn run_clock(cal: &Calendar, start: i64, amount: i64, pauses: &[(i64, Option<i64>)]) -> Option<i64> {
    let mut left = amount;
    let mut from = start;
    for &(p_start, p_end) in pauses
        .iter()
        .filter(|(s, e)| e.is_none_or(|e| e > start) && *s >= start)
    {
        let avail = cal.between(from, p_start);
        if left <= avail {
            return cal.add(from, left);
        }
        left -= avail;
        from = p_end?;
    }
    // Paused periods that began before `start` and end after it.
    for &(p_start, p_end) in pauses {
        if p_start < start && p_end.is_none_or(|e| e > from) {
            from = from.max(p_end?);
        }
    }
    cal.add(from, left)
}

/// The SLA state of a complaint with `events` (in order) under `targets` counted in `cal`, at `now_us`.
pub fn evaluate(events: &[Event], targets: &Targets, cal: &Calendar, warn_share: f64, now_us: i64) -> SlaState {
    let Some(created) = events.iter().find(|e| e.kind == EventKind::Created) else {
        return SlaState { targets: Vec::new() };
    };
    // Pause intervals: from entering awaiting_customer to leaving it (open while still there).
    let mut pauses: Vec<(i64, Option<i64>)> = Vec::new();
    let mut state = State::New;
    for e in events {
        if let Some(to) = e.to_state {
            if !state.pauses_clock() && to.pauses_clock() {
                pauses.push((e.at_us, None));
            } else if state.pauses_clock() && !to.pauses_clock() {
                if let Some(last) = pauses.last_mut() {
                    last.1 = Some(e.at_us);
                }
            }
            state = to;
        }
    }
    // Clock starts: intake for all; each reopen for reply and resolution.
    let mut start = [created.at_us; 3];
    let mut met: [Option<i64>; 3] = [None; 3];
    for e in events {
        match e.kind {
            EventKind::Reopened => {
                start[1] = e.at_us;
                start[2] = e.at_us;
                met[1] = None;
                met[2] = None;
            }
            EventKind::ReplySent => {
                met[0].get_or_insert(e.at_us);
                met[1].get_or_insert(e.at_us);
            }
            EventKind::Transitioned if matches!(e.to_state, Some(State::InProgress | State::AwaitingCustomer)) => {
                met[0].get_or_insert(e.at_us);
            }
            EventKind::Transitioned if e.to_state == Some(State::Closed) => {
                met[2].get_or_insert(e.at_us);
            }
            _ => {}
        }
    }
    let share = warn_share.clamp(0.0, 1.0);
    let states = Target::ALL
        .iter()
        .enumerate()
        .map(|(i, &target)| {
            let amount = (targets.hours(target) * US_PER_HOUR as f64).round() as i64;
            let warn_amount = ((1.0 - share) * amount as f64).round() as i64;
            let due_us = run_clock(cal, start[i], amount, &pauses);
            let warn_us = run_clock(cal, start[i], warn_amount, &pauses);
            let paused = state.pauses_clock() && met[i].is_none();
            let status = match (met[i], due_us) {
                (Some(m), Some(d)) if m > d => Status::Breached,
                (Some(_), _) => Status::Met,
                (None, Some(d)) if now_us >= d => Status::Breached,
                (None, _) if warn_us.is_some_and(|w| now_us >= w) => Status::AtRisk,
                (None, None) => {
                    // Standing still before the due time: at risk if the warning point has passed.
                    let used = used_time(cal, start[i], now_us, &pauses);
                    if used >= warn_amount {
                        Status::AtRisk
                    } else {
                        Status::OnTrack
                    }
                }
                (None, _) => Status::OnTrack,
            };
            TargetState {
                target,
                started_us: start[i],
                due_us,
                warn_us,
                met_us: met[i],
                status,
                paused,
            }
        })
        .collect();
    SlaState { targets: states }
}

/// Counted time on the clock between `start` and `now`, less the pauses.
fn used_time(cal: &Calendar, start: i64, now: i64, pauses: &[(i64, Option<i64>)]) -> i64 {
    let mut total = cal.between(start, now);
    for &(s, e) in pauses {
        let (s, e) = (s.max(start), e.unwrap_or(now).min(now));
        total -= cal.between(s, e);
    }
    total.max(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cases::calendar::{local_us, Calendar};
    use chrono::{NaiveDate, NaiveTime};

    fn at(d: &str, t: &str) -> i64 {
        local_us(
            NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap(),
            NaiveTime::parse_from_str(t, "%H:%M").unwrap(),
        )
    }

    fn ev(seq: i64, kind: EventKind, at_us: i64, to: Option<State>) -> Event {
        let mut e = Event::blank("C-1", seq, kind, at_us);
        e.to_state = to;
        e
    }

    const T: Targets = Targets {
        first_response_hours: 2.0,
        reply_hours: 24.0,
        resolution_hours: 48.0,
    };

    #[test]
    fn round_the_clock_targets_with_a_pause() {
        let cal = Calendar::always();
        let t0 = at("2026-04-30", "16:00");
        let mut events = vec![ev(1, EventKind::Created, t0, Some(State::New))];
        let s = evaluate(&events, &T, &cal, 0.25, t0);
        let due: Vec<Option<i64>> = s.targets.iter().map(|t| t.due_us).collect();
        assert_eq!(
            due,
            vec![
                Some(at("2026-04-30", "18:00")),
                Some(at("2026-05-01", "16:00")),
                Some(at("2026-05-02", "16:00"))
            ]
        );
        // At risk once less than a quarter remains: 1.5 h into the 2 h first response.
        assert_eq!(s.targets[0].warn_us, Some(at("2026-04-30", "17:30")));
        assert_eq!(
            evaluate(&events, &T, &cal, 0.25, at("2026-04-30", "17:40")).targets[0].status,
            Status::AtRisk
        );
        assert_eq!(
            evaluate(&events, &T, &cal, 0.25, at("2026-04-30", "18:00")).targets[0].status,
            Status::Breached
        );
        // Taken up at 17:00, then waiting for the customer from 18:00 to 22:00 the next day: four hours
        // of standing still push reply and resolution by 4 hours.
        events.push(ev(
            2,
            EventKind::Transitioned,
            at("2026-04-30", "17:00"),
            Some(State::InProgress),
        ));
        events.push(ev(
            3,
            EventKind::Transitioned,
            at("2026-05-01", "18:00"),
            Some(State::AwaitingCustomer),
        ));
        let paused = evaluate(&events, &T, &cal, 0.25, at("2026-05-01", "19:00"));
        assert_eq!(paused.targets[0].status, Status::Met);
        // The reply target (due 16:00) was passed before the pause: breached; resolution stands still.
        assert_eq!(paused.targets[1].status, Status::Breached);
        assert_eq!((paused.targets[2].due_us, paused.targets[2].paused), (None, true));
        events.push(ev(
            4,
            EventKind::Transitioned,
            at("2026-05-01", "22:00"),
            Some(State::InProgress),
        ));
        let s = evaluate(&events, &T, &cal, 0.25, at("2026-05-01", "22:00"));
        assert_eq!(s.targets[2].due_us, Some(at("2026-05-02", "20:00")));
        // The earliest unmet target is the (breached) reply: due 16:00, at risk from 10:00.
        assert_eq!(
            s.next_due(),
            Some((at("2026-05-01", "16:00"), at("2026-05-01", "10:00")))
        );
    }
}
