//! The case service: every operation under the caller's identity and the audited-read rules.
//!
//! - Intake reads the subscriber's view through [`Reads::view_then`] (permission, region, masking, audit
//!   exactly as `GetSubscriberView`); the new case's events ride on that read's audit event.
//! - Every other call reads the case from the store and checks the caller may see its region. A
//!   region-scoped caller asking for another region's complaint and one asking for an id that does not
//!   exist get the same PERMISSION_DENIED, so existence across regions cannot be probed; both are audited.
//! - Changes are appended with their audit event in one transaction.
//! - Callers without `read_pii` see the subscriber's number masked. The number is never logged.
use super::model::{Complaint, Event};
use super::ops::{self, Intake, Op, SubscriberFacts, REPEAT_WINDOW_DAYS};
use super::rules::{RuleSet, Rules};
use super::sla::SlaState;
use super::store::{CaseRow, CaseStore, CaseWrite, ListFilter, STALE};
use crate::error::Error;
use crate::identity::audit::AuditNote;
use crate::identity::{masking, CallInfo, Identity, Permission};
use crate::read::{ReadRequest, Reads};
use crate::store::RiderResult;
use std::sync::Arc;

/// Longest complaint text, in characters (as for diagnosis).
pub const MAX_TEXT_CHARS: usize = 4_000;

/// A complaint as a caller sees it: the case, its deadlines now, and its events.
#[derive(Debug, Clone)]
pub struct CaseView {
    pub complaint: Complaint,
    pub sla: SlaState,
    pub events: Vec<Event>,
}

/// The case service of a gateway.
pub struct Cases {
    reads: Arc<Reads>,
    store: CaseStore,
    rules: Arc<Rules>,
    /// A fixed "now" (µs) for tests and demos over dates of their own; the system clock otherwise.
    fixed_now: std::sync::Mutex<Option<i64>>,
    /// Owners of complaint ids seen in use. An id is never reassigned and its events are never deleted,
    /// so an owner once read stays true (every replica reads the same one), and a handler's repeated
    /// `Diagnose` of one complaint (a question, then its answer) asks the store once. Ids not in use are
    /// not kept: another replica may take one at any time.
    owners: moka::future::Cache<String, crate::cases::store::Owner>,
}

/// Most complaint-id owners kept in memory.
const OWNERS_KEPT: u64 = 100_000;

/// Complaint ids: letters, digits, '-', '_' or '.', at most 64.
pub fn check_id(field: &str, id: &str) -> Result<(), Error> {
    if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        return Err(Error::invalid(
            field,
            "1 to 64 characters: letters, digits, '-', '_' or '.'",
        ));
    }
    Ok(())
}

/// A free text of a request (complaint text, reason, note): at most [`MAX_TEXT_CHARS`].
pub fn check_text(field: &str, text: &str, required: bool) -> Result<(), Error> {
    if required && text.trim().is_empty() {
        return Err(Error::invalid(field, "required"));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(Error::invalid(field, format!("at most {MAX_TEXT_CHARS} characters")));
    }
    Ok(())
}

/// A new complaint id: `CMP-<Beijing time>-<random>`.
pub fn new_id() -> String {
    let now = chrono::Utc::now().with_timezone(&super::calendar::beijing());
    format!("CMP-{}-{:08x}", now.format("%Y%m%d%H%M%S"), rand::random::<u32>())
}

fn store_error(e: String) -> Error {
    tracing::error!(error = %e, "case store");
    Error::StoreUnavailable("the complaint store is unavailable; retry later".into())
}

/// The error a failed case write becomes.
fn written(r: RiderResult, id: &str) -> Result<(), Error> {
    match r {
        Ok(()) => Ok(()),
        Err(e) if e.contains(STALE) => Err(Error::Conflict(format!(
            "complaint {id} changed while this call was under way; read it again and retry"
        ))),
        Err(e) if e.to_ascii_lowercase().contains("unique") || e.to_ascii_lowercase().contains("duplicate") => Err(
            Error::IdTaken(format!("complaint id {id} is already in use; ids are never reused")),
        ),
        Err(e) => Err(store_error(e)),
    }
}

impl Cases {
    pub fn new(reads: Arc<Reads>, store: CaseStore, rules: Arc<Rules>) -> Cases {
        Cases {
            reads,
            store,
            rules,
            fixed_now: std::sync::Mutex::new(None),
            owners: moka::future::Cache::new(OWNERS_KEPT),
        }
    }

    /// The time complaints are stamped and judged at.
    pub fn now(&self) -> i64 {
        self.fixed_now
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .unwrap_or_else(crate::store::now_us)
    }

    /// Fixes "now" (tests, demos over dates of their own); `None` returns to the system clock.
    pub fn set_now(&self, now_us: Option<i64>) {
        *self.fixed_now.lock().unwrap_or_else(|p| p.into_inner()) = now_us;
    }

    pub fn rules(&self) -> Arc<RuleSet> {
        self.rules.current()
    }

    pub fn store(&self) -> &CaseStore {
        &self.store
    }

    /// The reads this service audits through.
    pub fn reads(&self) -> &Arc<Reads> {
        &self.reads
    }

    /// Intake of `intake` (its number as given in `read.msisdn`, its category chosen, its id free or
    /// empty) under `read`'s caller: reads the view, routes, links a repeat, writes with the audit event.
    pub async fn create(&self, mut read: ReadRequest, mut intake: Intake) -> Result<CaseView, Error> {
        let msisdn = match crate::msisdn::normalize("msisdn", &read.msisdn) {
            Ok(m) => m,
            Err(e) => return Err(self.reads.refuse(&read, e).await),
        };
        intake.msisdn = msisdn.clone();
        if intake.complaint_id.is_empty() {
            intake.complaint_id = new_id();
            // The audit event names the complaint it created.
            read.purpose = intake.complaint_id.clone();
        } else if self
            .store
            .owner_of(&intake.complaint_id)
            .await
            .map_err(store_error)?
            .is_some()
        {
            let e = Error::IdTaken(format!(
                "complaint id {} is already in use; ids are never reused (leave it empty to get a new one)",
                intake.complaint_id
            ));
            return Err(self.reads.refuse(&read, e).await);
        }
        let now = self.now();
        let since = now - REPEAT_WINDOW_DAYS * 86_400_000_000;
        let earlier = match self
            .store
            .latest_of(&msisdn, &intake.category, since)
            .await
            .map_err(store_error)?
        {
            Some(row) => {
                let history = self.store.events(&row.complaint.id).await.map_err(store_error)?;
                Some((row, history))
            }
            None => None,
        };
        let set = self.rules.current();
        let caller = read.caller.clone();
        let make = |outcome: crate::view::ViewOutcome| {
            let facts = SubscriberFacts::of(&outcome.view);
            let changes = ops::intake(
                &set,
                &intake,
                &facts,
                earlier.as_ref().map(|(r, h)| (r, h.as_slice())),
                &caller.subject,
                now,
            );
            let write = CaseWrite(changes.clone());
            Ok((changes, Some(Box::new(write) as Box<dyn crate::store::Rider>)))
        };
        let (changes, result) = self.reads.view_then(read, make).await?;
        written(result, &intake.complaint_id)?;
        let first = &changes[0];
        Ok(self.view_of(&caller, first.after.clone(), first.events.clone(), &set, now))
    }

    fn view_of(
        &self,
        caller: &Identity,
        mut c: Complaint,
        mut events: Vec<Event>,
        set: &RuleSet,
        now: i64,
    ) -> CaseView {
        let (_, sla) = ops::deadlines(set, &events, &c.policy_id, now);
        if !caller.can(Permission::ReadPii) {
            c.msisdn = masking::mask_phone(&c.msisdn);
            for e in &mut events {
                e.msisdn = masking::mask_phone(&e.msisdn);
            }
        }
        CaseView {
            complaint: c,
            sla,
            events,
        }
    }

    /// Reads case `id` for `caller`, refusing (and auditing) what they may not see.
    async fn load(&self, caller: &Identity, note: &AuditNote, id: &str) -> Result<(CaseRow, Vec<Event>), Error> {
        caller.require(Permission::ReadView, "handling complaints")?;
        check_id("complaint_id", id)?;
        let row = self.store.get(id).await.map_err(store_error)?;
        let hidden = || {
            if caller.region_scoped() {
                Error::OutOfRegion(format!(
                    "permission denied: no complaint {id} in your regions ({})",
                    caller.regions.iter().cloned().collect::<Vec<_>>().join(", ")
                ))
            } else {
                Error::NotFound(format!("no complaint {id}"))
            }
        };
        let Some(row) = row else { return Err(hidden()) };
        note.set_msisdn(&row.complaint.msisdn);
        note.set_region(&row.complaint.region);
        if !caller.may_see_region(Some(&row.complaint.region)) {
            return Err(hidden());
        }
        let events = self.store.events(id).await.map_err(store_error)?;
        Ok((row, events))
    }

    /// Case `id` with its events and deadlines.
    pub async fn get(&self, caller: &Identity, call: &CallInfo, id: &str) -> Result<CaseView, Error> {
        let note = AuditNote::new(caller, call, "", id);
        let r = self.load(caller, &note, id).await;
        self.reads.record(note, &r).await?;
        let (row, events) = r?;
        let set = self.rules.current();
        Ok(self.view_of(caller, row.complaint, events, &set, self.now()))
    }

    /// Applies `op` to case `id`: appended with the call's audit event, in one transaction.
    pub async fn change(&self, caller: &Identity, call: &CallInfo, id: &str, op: Op) -> Result<CaseView, Error> {
        let note = AuditNote::new(caller, call, "", id);
        let now = self.now();
        let set = self.rules.current();
        let r = match self.load(caller, &note, id).await {
            Ok((_, events)) => ops::apply(&set, &events, op, &caller.subject, now).map(|ch| (ch, events)),
            Err(e) => Err(e),
        };
        let (ch, mut events) = match r {
            Ok(x) => x,
            Err(e) => {
                self.reads.record(note, &Err::<(), _>(e.clone())).await?;
                return Err(e);
            }
        };
        let result = self
            .reads
            .audit()
            .append_with(note.into_event(), Box::new(CaseWrite(vec![ch.clone()])))
            .await?;
        written(result, id)?;
        events.extend(ch.events);
        Ok(self.view_of(caller, ch.after, events, &set, now))
    }

    /// Cases matching `f` in the caller's regions (every region for callers with all_regions), by due time.
    pub async fn list(
        &self,
        caller: &Identity,
        call: &CallInfo,
        mut f: ListFilter,
    ) -> Result<(Vec<CaseRow>, Option<(i64, String)>), Error> {
        let note = AuditNote::new(caller, call, f.msisdn.as_deref().unwrap_or(""), "list complaints");
        let r = async {
            caller.require(Permission::ReadView, "listing complaints")?;
            if caller.region_scoped() {
                let mine: Vec<String> = caller.regions.iter().cloned().collect();
                f.regions = Some(match f.regions.take() {
                    Some(asked) => asked.into_iter().filter(|r| mine.contains(r)).collect(),
                    None => mine,
                });
            }
            f.now_us = self.now();
            self.store.list(&f).await.map_err(store_error)
        }
        .await;
        self.reads.record(note, &r).await?;
        let (mut rows, next) = r?;
        if !caller.can(Permission::ReadPii) {
            for row in &mut rows {
                row.complaint.msisdn = masking::mask_phone(&row.complaint.msisdn);
            }
        }
        Ok((rows, next))
    }

    /// The complaints of one subscriber (as far as the caller's regions go), newest first.
    pub async fn history(&self, caller: &Identity, call: &CallInfo, msisdn: &str) -> Result<Vec<CaseRow>, Error> {
        let number = match crate::msisdn::normalize("msisdn", msisdn) {
            Ok(n) => n,
            Err(e) => {
                let note = AuditNote::new(caller, call, msisdn, "complaint history");
                self.reads.record(note, &Err::<(), _>(e.clone())).await?;
                return Err(e);
            }
        };
        let f = ListFilter {
            msisdn: Some(number),
            limit: 1000,
            ..Default::default()
        };
        let (mut rows, _) = self.list(caller, call, f).await?;
        rows.sort_by_key(|r| std::cmp::Reverse(r.complaint.created_at_us));
        Ok(rows)
    }

    /// Who complaint id `id` belongs to, and whether it is a case's (see [`CaseStore::owner`]).
    pub async fn owner(&self, id: &str) -> Result<Option<crate::cases::store::Owner>, Error> {
        if let Some(o) = self.owners.get(id).await {
            return Ok(Some(o));
        }
        let owner = self.store.owner(id).await.map_err(store_error)?;
        if let Some(o) = &owner {
            self.owners.insert(id.to_string(), o.clone()).await;
        }
        Ok(owner)
    }

    /// A case's events (empty when no case has this id).
    pub async fn events_of(&self, id: &str) -> Result<Vec<Event>, Error> {
        self.store.events(id).await.map_err(store_error)
    }
}
