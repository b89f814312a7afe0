//! Assembled views kept for repeat reads.
//!
//! A warm read finds each source's answer in the cache, but those answers are stored as each source's
//! encoded partial view: merging them into one view (decoding every part, protobuf merge, the check for
//! disagreeing sources) is most of a warm read's own work. The merged view depends only on which cached
//! answers went into it, so it is kept here per subscriber and source list together with those answers
//! (`Arc<Entry>`, compared by pointer): a read whose every part is the same fresh answer as last time
//! takes the merged view, and only what belongs to this one read is set again (each source's latency,
//! fetched-at time and age). An answer loaded again, invalidated or expired is another `Arc`, so the view
//! is merged anew; the kept entry holds its answers alive, so a pointer is never reused while compared.
//!
//! Only reads whose every source answered fresh from the cache are kept (stale and failed parts say their
//! age and cause in the status, per read; a cold read or one past the cache is not read again as such).
//! A kept view is shared, not copied, by the reads that take it (`Arc`); its masked copy and the
//! protobuf encodings of both are made by the first read that needs each and reused by the rest, so a
//! warm read neither copies, masks nor encodes the view again (the answer is sent with the kept bytes,
//! `api/view_response.rs`).
//!
//! The kept views are bounded by a quarter of `[cache] max_size_mib`, weighed as the parts are, and live
//! no longer than the sources' freshness.
use super::{stamp, Part, ViewOutcome};
use crate::cache::{Entry, Served};
use crate::proto::complaint::v1::SubscriberView;
use bytes::Bytes;
use prost::Message;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// What one assembly was made of, and what it gave.
#[derive(Debug)]
pub(crate) struct Kept {
    /// Each part's answer, in source order.
    entries: Vec<Arc<Entry>>,
    /// The outcome as assembled (unmasked; statuses stamped for the read that assembled it).
    outcome: ViewOutcome,
    /// The view masked, once a caller without `read_pii` took it.
    masked: OnceLock<Arc<SubscriberView>>,
    /// The encodings of `outcome.view` and of `masked`, once a read was answered with each.
    encoded: OnceLock<Bytes>,
    masked_encoded: OnceLock<Bytes>,
}

impl Kept {
    /// The masked copy of `view` when `view` is this assembly's own view.
    pub(crate) fn masked_for(&self, view: &Arc<SubscriberView>) -> Option<Arc<SubscriberView>> {
        if !Arc::ptr_eq(view, &self.outcome.view) {
            return None;
        }
        let masked = self.masked.get_or_init(|| {
            let mut v = SubscriberView::clone(view);
            crate::identity::masking::mask_view(&mut v);
            Arc::new(v)
        });
        Some(masked.clone())
    }

    /// The encoding of `view` when `view` is this assembly's view or its masked copy (by pointer: a view
    /// changed since was copied first, so it is neither).
    pub(crate) fn encoded_for(&self, view: &Arc<SubscriberView>) -> Option<Bytes> {
        let once = if Arc::ptr_eq(view, &self.outcome.view) {
            &self.encoded
        } else if self.masked.get().is_some_and(|m| Arc::ptr_eq(view, m)) {
            &self.masked_encoded
        } else {
            return None;
        };
        Some(once.get_or_init(|| Bytes::from(view.encode_to_vec())).clone())
    }
}

/// Merged views by subscriber and source list.
pub(crate) struct Assembled {
    kept: moka::sync::Cache<String, Arc<Kept>>,
}

/// Bytes a kept view costs besides its parts' bytes (the key, the entry's `Vec`, moka's node).
const KEPT_OVERHEAD: usize = 512;

impl Assembled {
    /// Keeps up to `max_bytes` of assembled views, each for at most `ttl`.
    pub(crate) fn new(max_bytes: u64, ttl: Duration) -> Assembled {
        Assembled {
            kept: moka::sync::Cache::builder()
                .name("assembled-views")
                .max_capacity(max_bytes.max(1))
                .weigher(|k: &String, v: &Arc<Kept>| {
                    // The decoded view takes about twice its encoded parts, its masked copy as much
                    // again, and the two encodings about as much as the parts each.
                    let parts: usize = v.entries.iter().map(|e| e.data.view.len()).sum();
                    (KEPT_OVERHEAD + k.len() + 6 * parts).min(u32::MAX as usize) as u32
                })
                .time_to_live(ttl.max(Duration::from_millis(1)))
                .build(),
        }
    }

    /// The outcome kept under `key` if it was assembled from the very same answers as `parts`, stamped
    /// for this read.
    pub(crate) fn get(&self, key: &str, parts: &[Part]) -> Option<ViewOutcome> {
        let kept = self.kept.get(key)?;
        let same = kept.entries.len() == parts.len()
            && parts.iter().zip(&kept.entries).all(|(p, e)| match &p.served {
                Served::Fresh { entry, .. } => Arc::ptr_eq(entry, e),
                _ => false,
            });
        if !same {
            return None;
        }
        let mut outcome = kept.outcome.clone();
        outcome.kept = Some(kept.clone());
        for (st, part) in outcome.statuses.iter_mut().zip(parts) {
            stamp(st, part);
        }
        for c in &outcome.conflicts {
            c.report();
        }
        Some(outcome)
    }

    /// Keeps `outcome`, assembled from `parts` (whose [`key`] is `key`).
    pub(crate) fn keep(&self, key: String, parts: &[Part], outcome: &ViewOutcome) {
        let entries = parts
            .iter()
            .filter_map(|p| match &p.served {
                Served::Fresh { entry, .. } => Some(entry.clone()),
                _ => None,
            })
            .collect();
        self.kept.insert(
            key,
            Arc::new(Kept {
                entries,
                outcome: ViewOutcome {
                    kept: None,
                    ..outcome.clone()
                },
                masked: OnceLock::new(),
                encoded: OnceLock::new(),
                masked_encoded: OnceLock::new(),
            }),
        );
    }
}

/// The number and the source names, in order, under which a read's view is kept; `None` unless every
/// part came fresh from the cache. A view read again is likely to be read once more; a cold read (new
/// answers, which no kept view holds) or a read past the cache neither looks nor pays for keeping.
pub(crate) fn key(msisdn: &str, parts: &[Part]) -> Option<String> {
    if parts.is_empty()
        || !parts
            .iter()
            .all(|p| matches!(p.served, Served::Fresh { hit: true, .. }))
    {
        return None;
    }
    let mut k = String::with_capacity(msisdn.len() + parts.len() * 12);
    k.push_str(msisdn);
    for p in parts {
        k.push('\u{0}');
        k.push_str(p.name());
    }
    Some(k)
}
