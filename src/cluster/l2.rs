//! The L2 cache and load leases in Redis.
//!
//! Keys (after `[redis] key_prefix`):
//! - `v:<source>:<msisdn>:<operator id or ->`: one source's answer, as [`encode`] writes it (the time the
//!   backend answered, whether it found the subscriber, its entities and notes, the encoded partial
//!   view), expiring when the L1 entry would (`PX` = fresh time plus the stale limit);
//! - `ops:<source>:<msisdn>`: the operator IDs cached for a source keyed by operator, so an invalidation
//!   finds every variant;
//! - `lease:<source>:<msisdn>:<operator id or ->`: which replica is loading the key now (`SET NX PX`).
use super::Shared;
use crate::adapters::SourceData;
use redis::AsyncCommands;
use std::time::Duration;

/// An answer as Redis holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub data: SourceData,
    /// When the backend answered, microseconds since the Unix epoch.
    pub fetched_unix_us: i64,
}

impl Stored {
    /// How long ago the backend answered (zero if the clocks of two replicas disagree the other way).
    pub fn age(&self) -> Duration {
        let now = crate::store::now_us();
        Duration::from_micros(now.saturating_sub(self.fetched_unix_us).max(0) as u64)
    }
}

const FORMAT: u8 = 1;

/// `FORMAT`, fetch time (i64 LE), found (u8), entities and notes (u32 LE count, then each as u32 LE length
/// and UTF-8), then the encoded partial view to the end.
pub fn encode(s: &Stored) -> Vec<u8> {
    let d = &s.data;
    let mut out = Vec::with_capacity(16 + d.view.len() + 32 * (d.entities.len() + d.notes.len()));
    out.push(FORMAT);
    out.extend_from_slice(&s.fetched_unix_us.to_le_bytes());
    out.push(u8::from(d.found));
    for list in [&d.entities, &d.notes] {
        out.extend_from_slice(&(list.len() as u32).to_le_bytes());
        for item in list {
            out.extend_from_slice(&(item.len() as u32).to_le_bytes());
            out.extend_from_slice(item.as_bytes());
        }
    }
    out.extend_from_slice(&d.view);
    out
}

/// The answer [`encode`] wrote, or `None` for anything else (another format, a truncated value).
pub fn decode(b: &[u8]) -> Option<Stored> {
    let mut at = 0usize;
    let mut take = |n: usize| -> Option<&[u8]> {
        let s = b.get(at..at.checked_add(n)?)?;
        at += n;
        Some(s)
    };
    if take(1)? != [FORMAT] {
        return None;
    }
    let fetched_unix_us = i64::from_le_bytes(take(8)?.try_into().ok()?);
    let found = take(1)?[0] != 0;
    let mut lists = [Vec::new(), Vec::new()];
    for list in &mut lists {
        let n = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
        for _ in 0..n.min(10_000) {
            let len = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
            list.push(String::from_utf8(take(len)?.to_vec()).ok()?);
        }
    }
    let [entities, notes] = lists;
    let view = bytes::Bytes::copy_from_slice(b.get(at..)?);
    Some(Stored {
        data: SourceData {
            found,
            view,
            entities,
            notes,
        },
        fetched_unix_us,
    })
}

/// What a replica learnt from asking for a missed key's lease.
#[derive(Debug)]
pub enum Lease {
    /// This replica loads the key; it writes the value, then releases the lease.
    Won,
    /// Another replica loaded it meanwhile.
    Filled(Stored),
    /// Redis cannot be used now: load alone.
    Unavailable,
}

impl Shared {
    fn value_key(&self, source: &str, msisdn: &str, operator: Option<&str>) -> String {
        self.key(&format!("v:{source}:{msisdn}:{}", operator.unwrap_or("-")))
    }

    fn lease_key(&self, source: &str, msisdn: &str, operator: Option<&str>) -> String {
        self.key(&format!("lease:{source}:{msisdn}:{}", operator.unwrap_or("-")))
    }

    fn operators_key(&self, source: &str, msisdn: &str) -> String {
        self.key(&format!("ops:{source}:{msisdn}"))
    }

    /// The answer Redis holds for the key, if any (and Redis is usable).
    pub async fn get(&self, source: &str, msisdn: &str, operator: Option<&str>) -> Option<Stored> {
        let key = self.value_key(source, msisdn, operator);
        let raw: Option<Vec<u8>> = self
            .run("get", |mut c| async move { c.get::<_, Option<Vec<u8>>>(key).await })
            .await?;
        let stored = raw.as_deref().and_then(decode);
        metrics::counter!("cgw_redis_l2_total", "source" => source.to_string(),
            "result" => if stored.is_some() { "hit" } else { "miss" })
        .increment(1);
        stored
    }

    /// Stores an answer for `keep` (its fresh time plus the stale limit).
    pub async fn put(&self, source: &str, msisdn: &str, operator: Option<&str>, stored: &Stored, keep: Duration) {
        if keep.is_zero() {
            return;
        }
        let key = self.value_key(source, msisdn, operator);
        let value = encode(stored);
        let px = keep.as_millis().max(1) as u64;
        let ops = operator.map(|o| (self.operators_key(source, msisdn), o.to_string()));
        self.run("set", |mut c| async move {
            let mut p = redis::pipe();
            p.cmd("SET").arg(&key).arg(value).arg("PX").arg(px).ignore();
            if let Some((ops_key, op)) = ops {
                p.cmd("SADD").arg(&ops_key).arg(op).ignore();
                p.cmd("PEXPIRE").arg(&ops_key).arg(px).ignore();
            }
            p.query_async::<()>(&mut c).await
        })
        .await;
    }

    /// Asks for the lease on a missed key. Waits (polling Redis) while another replica holds it, until
    /// its value appears, its lease lapses (then tries to take it) or `wait` runs out.
    pub async fn lease_or_wait(
        &self,
        source: &str,
        msisdn: &str,
        operator: Option<&str>,
        fresh: impl Fn(&Stored) -> bool,
        wait: Duration,
    ) -> Lease {
        let key = self.lease_key(source, msisdn, operator);
        let px = self.lease.as_millis().max(1) as u64;
        let deadline = tokio::time::Instant::now() + wait;
        let mut pause = Duration::from_millis(2);
        loop {
            let (k, me) = (key.clone(), self.replica.clone());
            let won = self
                .run("lease", |mut c| async move {
                    redis::cmd("SET")
                        .arg(k)
                        .arg(me)
                        .arg("NX")
                        .arg("PX")
                        .arg(px)
                        .query_async::<Option<String>>(&mut c)
                        .await
                })
                .await;
            match won {
                None => return Lease::Unavailable,
                Some(Some(_)) => {
                    // The lease may be free because its holder just wrote the value and let go: look
                    // once more before loading.
                    if let Some(s) = self.get(source, msisdn, operator).await {
                        if fresh(&s) {
                            self.release(source, msisdn, operator).await;
                            metrics::counter!("cgw_redis_leases_total", "outcome" => "waited").increment(1);
                            return Lease::Filled(s);
                        }
                    }
                    metrics::counter!("cgw_redis_leases_total", "outcome" => "won").increment(1);
                    return Lease::Won;
                }
                Some(None) => {}
            }
            if tokio::time::Instant::now() + pause > deadline {
                metrics::counter!("cgw_redis_leases_total", "outcome" => "gave_up").increment(1);
                return Lease::Unavailable;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(20));
            if let Some(s) = self.get(source, msisdn, operator).await {
                if fresh(&s) {
                    metrics::counter!("cgw_redis_leases_total", "outcome" => "waited").increment(1);
                    return Lease::Filled(s);
                }
            }
            if !self.available() {
                return Lease::Unavailable;
            }
        }
    }

    /// Releases this replica's lease on a key (after its value is written, or its load failed).
    pub async fn release(&self, source: &str, msisdn: &str, operator: Option<&str>) {
        let key = self.lease_key(source, msisdn, operator);
        let me = self.replica.clone();
        // Only our own lease: one that lapsed and was taken by another replica stays theirs.
        static SCRIPT: std::sync::OnceLock<redis::Script> = std::sync::OnceLock::new();
        let script = SCRIPT.get_or_init(|| {
            redis::Script::new(
                "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end",
            )
        });
        self.run("release", |mut c| async move {
            script.key(key).arg(me).invoke_async::<i64>(&mut c).await
        })
        .await;
    }

    /// Drops the answers held for `msisdn` from `sources` (every variant keyed by operator).
    pub async fn forget(&self, msisdn: &str, sources: &[String]) {
        for source in sources {
            let plain = self.value_key(source, msisdn, None);
            let ops_key = self.operators_key(source, msisdn);
            let ops: Vec<String> = self
                .run("forget", |mut c| {
                    let k = ops_key.clone();
                    async move { c.smembers::<_, Vec<String>>(k).await }
                })
                .await
                .unwrap_or_default();
            let mut keys = vec![plain, ops_key];
            keys.extend(ops.iter().map(|o| self.value_key(source, msisdn, Some(o))));
            self.run("forget", |mut c| async move { c.del::<_, i64>(keys).await })
                .await;
        }
    }

    /// Drops every answer of `source` (a lost change feed: no single key is known). Walks the keys with
    /// `SCAN`, so it is for rare events only.
    pub async fn forget_source(&self, source: &str) {
        let pattern = self.key(&format!("v:{source}:*"));
        let mut cursor: u64 = 0;
        loop {
            let p = pattern.clone();
            let page: Option<(u64, Vec<String>)> = self
                .run("forget_source", |mut c| async move {
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(p)
                        .arg("COUNT")
                        .arg(500)
                        .query_async(&mut c)
                        .await
                })
                .await;
            let Some((next, keys)) = page else { return };
            if !keys.is_empty() {
                self.run("forget_source", |mut c| async move { c.del::<_, i64>(keys).await })
                    .await;
            }
            if next == 0 {
                return;
            }
            cursor = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_answer_reads_back_as_written() {
        let s = Stored {
            data: SourceData {
                found: true,
                view: bytes::Bytes::from_static(b"\x0a\x0b13800000001"),
                entities: vec!["account".into(), "客户".into()],
                notes: vec!["note".into()],
            },
            fetched_unix_us: 1_790_000_000_123_456,
        };
        assert_eq!(decode(&encode(&s)), Some(s.clone()));
        let mut short = encode(&s);
        short.truncate(12);
        assert_eq!(decode(&short), None, "a truncated value is ignored");
        assert_eq!(decode(b"\x02rest"), None, "another format is ignored");
    }
}
