//! The audited read: the one path every read of subscriber data takes (`GetSubscriberView`, `Diagnose`, the
//! region check of `StreamUsage`).
//!
//! A read is a plain [`ReadRequest`] (caller, number, sources, purpose, deadline, cache policy; no gRPC
//! types). [`Reads`] authorises it (the permission first, then the subscriber's region as the backends
//! report it), reads the view through the cache and each source's stack (`view.rs`), masks it for callers
//! without `read_pii`, runs the caller's continuation on it (a diagnosis, whose own rows ride on the audit
//! event), and records the audit event before the answer leaves. An answer whose event cannot be committed
//! is not sent.
//!
//! Operator IDs: a handler may act under a different ID per city in one backend. The first fetch uses the ID
//! of the caller's one city (or their only ID); once the subscriber's region is known, only the sources
//! whose answers depend on the operator ID and whose ID for that region differs are fetched again.
use crate::adapters::registry::Source;
use crate::cache::ReadPolicy;
use crate::cache::Served;
use crate::error::Error;
use crate::identity::audit::{AuditLog, AuditNote, Outcome};
use crate::identity::{validate_free_text, CallInfo, Identity, Permission};
use crate::msisdn;
use crate::region::RegionMemory;
use crate::stack::Lane;
use crate::store::{Rider, RiderResult};
use crate::view::{Part, ViewOutcome, ViewReader};
use std::time::{Duration, Instant};

/// One read of a subscriber's data, as the API layer hands it over.
#[derive(Debug, Clone)]
pub struct ReadRequest {
    /// The authenticated caller.
    pub caller: Identity,
    /// The RPC and peer, for the audit trail.
    pub call: CallInfo,
    /// The number as the caller gave it (normalised and checked here).
    pub msisdn: String,
    /// Source names to read; empty: every configured source.
    pub sources: Vec<String>,
    /// The caller's stated purpose (a ticket or complaint id), recorded with the event.
    pub purpose: String,
    /// When the caller stops waiting (from `grpc-timeout`); backend work stops early enough to answer.
    pub deadline: Option<Instant>,
    /// Cache freshness and bypass.
    pub policy: ReadPolicy,
}

impl ReadRequest {
    /// A read of every source with the default cache policy and no deadline.
    pub fn new(caller: Identity, call: CallInfo, msisdn: impl Into<String>, purpose: impl Into<String>) -> Self {
        ReadRequest {
            caller,
            call,
            msisdn: msisdn.into(),
            sources: Vec::new(),
            purpose: purpose.into(),
            deadline: None,
            policy: ReadPolicy::default(),
        }
    }

    fn note(&self) -> AuditNote {
        AuditNote::new(&self.caller, &self.call, &self.msisdn, &self.purpose)
    }
}

/// What a call makes of the view it read: its answer and, optionally, its own rows to commit with the
/// audit event (see [`Reads::view_then`]).
pub type Made<R> = Result<(R, Option<Box<dyn Rider>>), Error>;

/// What a caller may stream for one subscriber: the region (when read) for operator-ID binding.
#[derive(Debug, Clone, Default)]
pub struct SubscriberGrant {
    pub region: Option<String>,
}

/// The audited read over a gateway's sources.
pub struct Reads {
    reader: ViewReader,
    audit: AuditLog,
    /// The region each number was last reported in, for when the backends that know it are down.
    regions: RegionMemory,
    /// Upper bound on one read, whatever the client's deadline (`[server] request_timeout_ms`).
    request_timeout: Duration,
}

impl Reads {
    pub fn new(reader: ViewReader, audit: AuditLog, request_timeout: Duration) -> Reads {
        Reads {
            reader,
            audit,
            regions: RegionMemory::new(Duration::from_secs(86_400)),
            request_timeout,
        }
    }

    /// The same reads with `regions` as the memory of subscribers' regions (`[cache] region_max_age_secs`).
    pub fn remembering(mut self, regions: RegionMemory) -> Reads {
        self.regions = regions;
        self
    }

    /// The view reader below (source selection, cache, stacks).
    pub fn reader(&self) -> &ViewReader {
        &self.reader
    }

    /// The audit trail reads are recorded in.
    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    /// The earlier of the client's deadline and the configured bound on one read.
    pub fn deadline(&self, client: Option<Instant>) -> Instant {
        let bound = Instant::now() + self.request_timeout;
        client.map_or(bound, |d| d.min(bound))
    }

    /// Reads, authorises, masks and audits one view.
    pub async fn view(&self, req: ReadRequest) -> Result<ViewOutcome, Error> {
        let (outcome, _) = self.view_then(req, |o| Ok((o, None))).await?;
        Ok(outcome)
    }

    /// [`view`](Self::view) for a call that goes on to produce something from the view. `then` runs on the
    /// authorised, masked view before the audit event is recorded, so the event says how the whole call
    /// ended; the rows it returns (its rider) are committed in the event's transaction. Besides the answer,
    /// says whether the rider's rows were written.
    pub async fn view_then<R>(
        &self,
        req: ReadRequest,
        then: impl FnOnce(ViewOutcome) -> Made<R>,
    ) -> Result<(R, RiderResult), Error> {
        let note = req.note();
        let result = self.authorised_view(&req, &note).await.and_then(then);
        match result {
            Ok((answer, Some(rider))) => {
                let written = self.audit.append_with(note.into_event(), rider).await?;
                Ok((answer, written))
            }
            Ok((answer, None)) => {
                self.record(note, &Ok::<(), Error>(())).await?;
                Ok((answer, Ok(())))
            }
            Err(e) => {
                self.record(note, &Err::<(), _>(e.clone())).await?;
                Err(e)
            }
        }
    }

    /// Audits a read refused before it started (a malformed request field outside the read's own checks)
    /// and returns the refusal, or the audit failure that replaces it.
    pub async fn refuse(&self, req: &ReadRequest, e: Error) -> Error {
        match self.record(req.note(), &Err::<(), _>(e.clone())).await {
            Ok(()) => e,
            Err(audit) => audit,
        }
    }

    /// Appends the note's event with the outcome of `result`. An `Err` means the event is not recorded and
    /// the response must not be sent.
    pub async fn record<R>(&self, note: AuditNote, result: &Result<R, Error>) -> Result<(), Error> {
        self.audit.append(note.finish(result)).await
    }

    async fn authorised_view(&self, req: &ReadRequest, note: &AuditNote) -> Result<ViewOutcome, Error> {
        let caller = &req.caller;
        caller.require(Permission::ReadView, "reading a subscriber view")?;
        validate_free_text("purpose", &req.purpose)?;
        let msisdn = msisdn::normalize("msisdn", &req.msisdn)?;
        note.set_msisdn(&msisdn);
        let sources = self.reader.select(&req.sources)?;
        let deadline = Some(self.deadline(req.deadline));
        // A region-scoped caller whose filter leaves out the customer's source still needs the region: read
        // it alongside (through the cache), without returning it.
        let probe: Vec<Source> = if caller.region_scoped() && !sources.iter().any(provides_region) {
            self.region_sources()
        } else {
            Vec::new()
        };
        note.touch(sources.iter().chain(&probe).map(|s| s.adapter.name()));
        let hint = caller.city_hint().map(str::to_string);
        let ids_hint = |sys: &str| caller.operator_id(sys, hint.as_deref());
        let lane = |s: &Source| lane_of(caller, s);
        let (mut parts, probed) = futures::join!(
            self.reader
                .fetch_in(&msisdn, &sources, &ids_hint, deadline, &req.policy, &lane),
            async {
                if probe.is_empty() {
                    None
                } else {
                    Some(
                        self.reader
                            .fetch_in(&msisdn, &probe, &ids_hint, deadline, &req.policy, &lane)
                            .await,
                    )
                }
            }
        );
        let main = self.reader.assemble(&msisdn, &parts);
        let probed_view = probed.as_ref().map(|p| self.reader.assemble(&msisdn, p));
        let region_parts: Vec<&Part> = match &probed {
            Some(p) => p.iter().collect(),
            None => parts.iter().filter(|p| provides_region(&p.source)).collect(),
        };
        let reported = match &probed_view {
            Some(p) => p.as_ref().ok().and_then(region_of),
            None => main.as_ref().ok().and_then(region_of),
        };
        if caller.region_scoped() {
            // Nobody has the number: refused like another city's subscriber, so a handler cannot tell
            // which numbers exist elsewhere; the audit trail records NOT_FOUND.
            let nowhere = main.is_err() && probed_view.as_ref().is_none_or(|p| p.is_err());
            if let (Err(Error::NotFound(m)), true) = (&main, nowhere) {
                note.truth(Outcome::NotFound, m);
                return Err(outside_regions(caller));
            }
        }
        let region = self.establish(caller, note, &msisdn, &region_parts, reported).await?;
        let mut main = main;
        if let (Ok(o), Some(known)) = (&mut main, &region) {
            if let Some(why) = &known.remembered {
                for st in o.statuses.iter_mut() {
                    if region_parts.iter().any(|p| p.name() == st.source) {
                        st.detail.push_str(&format!("; {why}"));
                    }
                }
            }
        }
        let region = region.map(|k| k.region);
        let mut outcome = main?;
        // Per-city operator IDs: once the region is known, fetch again only the sources whose answer
        // depends on the operator ID and whose ID for that city differs from the guess.
        if let Some(r) = &region {
            let again: Vec<usize> = (0..parts.len())
                .filter(|&i| {
                    let name = parts[i].name();
                    self.reader.depends_on_operator(name)
                        && caller.operator_id(name, hint.as_deref()) != caller.operator_id(name, Some(r))
                })
                .collect();
            if !again.is_empty() {
                let which: Vec<Source> = again.iter().map(|&i| parts[i].source.clone()).collect();
                let ids_city = |sys: &str| caller.operator_id(sys, Some(r));
                let fresh = self
                    .reader
                    .fetch(&msisdn, &which, &ids_city, deadline, &req.policy)
                    .await;
                for (i, part) in again.into_iter().zip(fresh) {
                    parts[i] = part;
                }
                outcome = self.reader.assemble(&msisdn, &parts)?;
                if caller.region_scoped() && region_of(&outcome).as_deref().is_some_and(|r2| r2 != r) {
                    return Err(outside_regions(caller));
                }
            }
        }
        if !caller.can(Permission::ReadPii) {
            outcome.mask_personal();
        }
        Ok(outcome)
    }

    /// Checks that `caller` may see subscriber `msisdn` (normalised): for region-scoped callers the region
    /// is read from the customer's source (through the cache). For `StreamUsage`, which reads no view.
    pub async fn authorise_subscriber(
        &self,
        caller: &Identity,
        note: &AuditNote,
        msisdn: &str,
        deadline: Option<Instant>,
    ) -> Result<SubscriberGrant, Error> {
        if !caller.region_scoped() {
            return Ok(SubscriberGrant::default());
        }
        let probe = self.region_sources();
        note.touch(probe.iter().map(|s| s.adapter.name()));
        let hint = caller.city_hint().map(str::to_string);
        let ids = |sys: &str| caller.operator_id(sys, hint.as_deref());
        let deadline = Some(self.deadline(deadline));
        let lane = |s: &Source| lane_of(caller, s);
        let parts = self
            .reader
            .fetch_in(msisdn, &probe, &ids, deadline, &ReadPolicy::default(), &lane)
            .await;
        let reported = match self.reader.assemble(msisdn, &parts) {
            Ok(o) => region_of(&o),
            Err(Error::NotFound(m)) => {
                // As for views: a number nobody has is refused like another city's.
                note.truth(Outcome::NotFound, &m);
                return Err(outside_regions(caller));
            }
            Err(_) => None,
        };
        let all: Vec<&Part> = parts.iter().collect();
        let known = self.establish(caller, note, msisdn, &all, reported).await?;
        Ok(SubscriberGrant {
            region: known.map(|k| k.region),
        })
    }

    /// Decides the subscriber's region for a region-scoped caller and whether they may see it: the region
    /// the backends reported (remembered for later), else — when a backend that knows it failed — the
    /// region remembered from an earlier read, with its age. A region that cannot be established because
    /// of an outage is UNAVAILABLE (an outage, audited as one), never PERMISSION_DENIED. Callers of every
    /// region get `Ok(None)` when nothing was reported.
    async fn establish(
        &self,
        caller: &Identity,
        note: &AuditNote,
        msisdn: &str,
        region_parts: &[&Part],
        reported: Option<String>,
    ) -> Result<Option<Established>, Error> {
        let failed: Vec<&str> = region_parts
            .iter()
            .filter(|p| matches!(p.served, Served::Failed { .. }))
            .map(|p| p.name())
            .collect();
        let known = match reported {
            Some(r) => {
                // Only a fresh answer is news; a stale one is as old as the memory already is.
                if region_parts
                    .iter()
                    .any(|p| matches!(&p.served, Served::Fresh { entry, hit: false } if entry.data.found))
                {
                    self.regions.remember(msisdn, &r).await;
                }
                Some(Established {
                    region: r,
                    remembered: None,
                })
            }
            None if !failed.is_empty() => self.regions.recall(msisdn).await.map(|k| {
                let why = format!(
                    "region {} as last reported {} s ago ({} failed)",
                    k.region,
                    k.age.as_secs(),
                    failed.join(", ")
                );
                note.set_detail(&why);
                Established {
                    region: k.region,
                    remembered: Some(why),
                }
            }),
            None => None,
        };
        if let Some(k) = &known {
            note.set_region(&k.region);
        }
        if !caller.region_scoped() {
            return Ok(known);
        }
        match known {
            Some(k) if caller.may_see_region(Some(&k.region)) => Ok(Some(k)),
            Some(_) => Err(outside_regions(caller)),
            None if !failed.is_empty() => Err(Error::RegionUnavailable(format!(
                "the subscriber's region could not be established: {} did not answer and the gateway has no recent record of it; retry later",
                failed.join(", ")
            ))),
            None => Err(region_unknown()),
        }
    }

    /// The configured sources that fill the customer part of the view, which carries the region.
    fn region_sources(&self) -> Vec<Source> {
        self.reader
            .registry()
            .sources
            .iter()
            .filter(|s| provides_region(s))
            .cloned()
            .collect()
    }
}

/// A region the read may go on with, and, when it came from the gateway's memory, how old it is.
struct Established {
    region: String,
    remembered: Option<String>,
}

/// The lane of a read through a source's stack: a region-scoped caller cannot be served without the
/// region, so their reads of the sources that carry it are identity-critical.
fn lane_of(caller: &Identity, s: &Source) -> Lane {
    if caller.region_scoped() && provides_region(s) {
        Lane::Critical
    } else {
        Lane::Normal
    }
}

/// Whether a source fills the customer part of the view, which carries the region.
fn provides_region(s: &Source) -> bool {
    s.adapter.fills("customer")
}

fn region_of(outcome: &ViewOutcome) -> Option<String> {
    outcome
        .view
        .customer
        .as_ref()
        .map(|c| c.region_code.trim().to_string())
        .filter(|r| !r.is_empty())
}

fn outside_regions(caller: &Identity) -> Error {
    let mine: Vec<&str> = caller.regions.iter().map(String::as_str).collect();
    Error::OutOfRegion(format!(
        "permission denied: this number is not in your regions ({}), or no backend has it",
        if mine.is_empty() {
            "none".to_string()
        } else {
            mine.join(", ")
        }
    ))
}

fn region_unknown() -> Error {
    Error::OutOfRegion(
        "permission denied: the backends record no region for this subscriber, and your roles do not grant every region"
            .into(),
    )
}
