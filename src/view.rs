//! Assembling the unified view: every selected source is queried concurrently under its own time-out,
//! its partial view is merged in (protobuf merge: lists append, messages merge), and its state is
//! reported in a `SourceStatus`. One failing or slow source never fails the call.
use crate::adapters::registry::{Registry, Source};
use crate::adapters::{AdapterError, FetchRequest, SourceData};
use crate::error::Error;
use crate::proto::complaint::v1::{SourceState, SourceStatus, SubscriberView};
use prost::Message;
use std::time::{Duration, Instant, SystemTime};

/// A view read and what each source said.
#[derive(Debug, Clone)]
pub struct ViewOutcome {
    pub view: SubscriberView,
    pub statuses: Vec<SourceStatus>,
}

impl ViewOutcome {
    /// Whether any source knows the subscriber.
    pub fn found(&self) -> bool {
        self.statuses
            .iter()
            .any(|s| matches!(s.state(), SourceState::Ok | SourceState::Stale))
    }
}

/// Reads views from the configured sources.
#[derive(Clone)]
pub struct ViewReader {
    registry: Registry,
}

impl ViewReader {
    pub fn new(registry: Registry) -> ViewReader {
        ViewReader { registry }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Checks a source filter against the configured names.
    pub fn select(&self, filter: &[String]) -> Result<Vec<Source>, Error> {
        if filter.is_empty() {
            return Ok(self.registry.sources.clone());
        }
        let mut out = Vec::new();
        for (i, name) in filter.iter().enumerate() {
            match self.registry.get(name.trim()) {
                Some(s) => {
                    if !out.iter().any(|o: &Source| o.adapter.name() == s.adapter.name()) {
                        out.push(s.clone());
                    }
                }
                None => {
                    return Err(Error::invalid(
                        format!("sources[{i}]"),
                        format!(
                            "unknown source `{}`; configured sources: {}",
                            truncate(name, 64),
                            self.registry.names().join(", ")
                        ),
                    ))
                }
            }
        }
        Ok(out)
    }

    /// Reads the view of `msisdn` (already normalised) from `sources`. `deadline` (from the client's
    /// `grpc-timeout`) bounds all backend work.
    pub async fn read(
        &self,
        msisdn: &str,
        sources: &[Source],
        operator_ids: &(dyn Fn(&str) -> Option<String> + Sync),
        deadline: Option<Instant>,
    ) -> Result<ViewOutcome, Error> {
        let started = Instant::now();
        let calls = sources.iter().map(|s| {
            let req = FetchRequest {
                msisdn: msisdn.to_string(),
                operator_id: operator_ids(s.adapter.name()),
            };
            let mut budget = s.timeout;
            if let Some(d) = deadline {
                budget = budget.min(d.saturating_duration_since(Instant::now()));
            }
            let fut = s.adapter.fetch(req);
            async move {
                let t0 = Instant::now();
                let r = match tokio::time::timeout(budget, fut).await {
                    Ok(r) => r,
                    Err(_) => Err(AdapterError::Timeout(budget)),
                };
                (s, r, t0.elapsed())
            }
        });
        let results = futures::future::join_all(calls).await;
        let mut view = SubscriberView {
            msisdn: msisdn.to_string(),
            ..Default::default()
        };
        let mut statuses = Vec::with_capacity(results.len());
        let mut not_found = 0;
        for (s, r, elapsed) in results {
            let mut st = SourceStatus {
                source: s.adapter.name().to_string(),
                fetched_at: Some(now_ts()),
                latency_ms: elapsed.as_millis().min(u32::MAX as u128) as u32,
                ..Default::default()
            };
            match r {
                Ok(SourceData {
                    found: true,
                    view: bytes,
                    entities,
                    notes,
                }) => {
                    view.merge(bytes.as_ref())
                        .map_err(|e| Error::Internal(format!("merging {}: {e}", st.source)))?;
                    st.set_state(SourceState::Ok);
                    st.entities = entities;
                    if !notes.is_empty() {
                        st.detail = format!("{} value(s) could not be mapped: {}", notes.len(), notes.join("; "));
                    }
                }
                Ok(SourceData { found: false, .. }) => {
                    not_found += 1;
                    st.set_state(SourceState::NotFound);
                    st.detail = format!("{} has no subscriber {msisdn}", st.source);
                }
                Err(AdapterError::Timeout(d)) => {
                    st.set_state(SourceState::Timeout);
                    st.detail = format!("no answer within {} ms", d.as_millis());
                    tracing::warn!(source = %st.source, timeout_ms = d.as_millis() as u64, "source timed out");
                }
                Err(e) => {
                    st.set_state(SourceState::Unavailable);
                    st.detail = e.to_string();
                    tracing::warn!(source = %st.source, error = %e, "source failed");
                }
            }
            statuses.push(st);
        }
        // Restore the number (merge keeps the last non-empty scalar).
        view.msisdn = msisdn.to_string();
        if !statuses.is_empty() && not_found == statuses.len() {
            return Err(Error::NotFound(format!("no subscriber {msisdn} in any source")));
        }
        tracing::debug!(msisdn = %msisdn, elapsed_ms = started.elapsed().as_millis() as u64, "view assembled");
        Ok(ViewOutcome { view, statuses })
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

pub fn now_ts() -> prost_types::Timestamp {
    prost_types::Timestamp::from(SystemTime::now())
}

/// A duration as whole milliseconds, saturating.
pub fn millis(d: Duration) -> u64 {
    d.as_millis().min(u64::MAX as u128) as u64
}
