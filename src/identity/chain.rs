//! The audit trail's hash chain: each event carries `seq` (1, 2, 3, … per store), the previous event's
//! hash and its own, `hash = SHA-256(prev_hash ‖ canonical(seq, event))` in hex. A row rewritten, removed
//! or inserted behind the gateway's back breaks the chain at that row; [`verify`] walks the chain
//! and reports the first broken link (`complaint-gateway audit verify`).
//!
//! The chain proves the rows are as written, not that none were cut off the end: keep the head it
//! reports (`seq` and `hash`) somewhere the store's owner cannot write, and compare later.
//!
//! `canonical` is the event's stored columns in `INSERT` order, each as its decimal byte length, `:`,
//! the bytes and a newline, so no two different events encode alike.
use crate::store::Store;
use sha2::{Digest, Sha256};
use sqlx::Row;

/// The chain's last link: `seq` 0 and an empty hash before the first event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Head {
    pub seq: i64,
    pub hash: String,
}

/// One event's place in the chain, as written with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub seq: i64,
    pub prev_hash: String,
    pub hash: String,
}

impl Head {
    /// The link of the event that follows this head, whose stored columns are `fields`.
    pub fn next(&self, fields: &[&str]) -> Link {
        let seq = self.seq + 1;
        Link {
            seq,
            prev_hash: self.hash.clone(),
            hash: hash(&self.hash, seq, fields),
        }
    }
}

/// `SHA-256(prev_hash ‖ canonical(seq, fields))` in lower-case hex.
pub fn hash(prev_hash: &str, seq: i64, fields: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    let seq = seq.to_string();
    for f in std::iter::once(seq.as_str()).chain(fields.iter().copied()) {
        h.update(f.len().to_string().as_bytes());
        h.update(b":");
        h.update(f.as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

/// The columns of `audit_events` that the hash covers, in `INSERT` order (`seq`, `prev_hash` and
/// `hash` come after them).
pub const COLUMNS: [&str; 13] = [
    "event_id",
    "at_us",
    "caller",
    "auth_method",
    "roles",
    "action",
    "msisdn",
    "region",
    "sources",
    "purpose",
    "outcome",
    "detail",
    "peer",
];

/// The chain's head as stored: the event with the highest `seq`.
pub async fn head(conn: &mut sqlx::AnyConnection) -> Result<Head, sqlx::Error> {
    let row = sqlx::query("SELECT seq, hash FROM audit_events WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1")
        .fetch_optional(conn)
        .await?;
    Ok(match row {
        Some(r) => Head {
            seq: r.try_get("seq")?,
            hash: r.try_get("hash")?,
        },
        None => Head::default(),
    })
}

/// Where the chain first breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break {
    /// The `seq` the chain expected next.
    pub seq: i64,
    /// The event found there (empty when the row is missing).
    pub event_id: String,
    pub why: String,
}

impl std::fmt::Display for Break {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.event_id.is_empty() {
            write!(f, "seq {}: {}", self.seq, self.why)
        } else {
            write!(f, "seq {} (event {}): {}", self.seq, self.event_id, self.why)
        }
    }
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Chained events checked.
    pub checked: u64,
    /// Events written before the chain existed (no `seq`): not covered.
    pub unchained: u64,
    /// The last good link.
    pub head: Head,
    /// The first broken link, if any.
    pub broken: Option<Break>,
}

/// Rows read per query while verifying.
const PAGE: i64 = 5_000;

/// Walks the chain from its first event, `progress` called with the count checked after each page;
/// stops at the first broken link.
pub async fn verify(store: &Store, progress: &mut dyn FnMut(u64)) -> Result<Report, String> {
    let fail = |what: &str, e: sqlx::Error| store.error(what, &e).to_string();
    let unchained: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE seq IS NULL")
        .fetch_one(store.pool())
        .await
        .map_err(|e| fail("counting unchained events", e))?;
    let sql = format!(
        "SELECT {}, seq, prev_hash, hash FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT {PAGE}",
        COLUMNS.join(", ")
    );
    let mut report = Report {
        checked: 0,
        unchained: unchained as u64,
        head: Head::default(),
        broken: None,
    };
    loop {
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .bind(report.head.seq)
            .fetch_all(store.pool())
            .await
            .map_err(|e| fail("reading the audit trail", e))?;
        if rows.is_empty() {
            return Ok(report);
        }
        for r in &rows {
            let text = |c: &str| -> Result<String, String> {
                if c == "at_us" {
                    r.try_get::<i64, _>(c).map(|v| v.to_string())
                } else {
                    r.try_get::<String, _>(c)
                }
                .map_err(|e| format!("decoding `{c}`: {e}"))
            };
            let fields: Vec<String> = COLUMNS.iter().map(|c| text(c)).collect::<Result<_, _>>()?;
            let seq: i64 = r.try_get("seq").map_err(|e| e.to_string())?;
            let prev: String = r.try_get("prev_hash").map_err(|e| e.to_string())?;
            let stored: String = r.try_get("hash").map_err(|e| e.to_string())?;
            let expected = report.head.seq + 1;
            let at = |why: String| Break {
                seq: expected,
                event_id: fields[0].clone(),
                why,
            };
            let why = if seq != expected {
                Some(at(format!(
                    "the next event has seq {seq}: {} event(s) missing (deleted?)",
                    seq - expected
                )))
            } else if prev != report.head.hash {
                Some(at(
                    "its prev_hash is not the previous event's hash (a row inserted or replaced?)".into(),
                ))
            } else {
                let refs: Vec<&str> = fields.iter().map(String::as_str).collect();
                (hash(&prev, seq, &refs) != stored)
                    .then(|| at("its content does not match its hash (rewritten?)".into()))
            };
            if let Some(b) = why {
                report.broken = Some(b);
                return Ok(report);
            }
            report.head = Head { seq, hash: stored };
            report.checked += 1;
        }
        progress(report.checked);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_encoding_separates_fields() {
        // Moving a character from one field to the next changes the hash.
        assert_ne!(hash("", 1, &["ab", "c"]), hash("", 1, &["a", "bc"]));
        assert_ne!(hash("", 1, &["a"]), hash("", 2, &["a"]));
        assert_ne!(hash("x", 1, &["a"]), hash("", 1, &["a"]));
        let h = Head::default().next(&["a"]);
        assert_eq!((h.seq, h.prev_hash.as_str(), h.hash.len()), (1, "", 64));
        assert_eq!(h.hash, hash("", 1, &["a"]));
    }
}
