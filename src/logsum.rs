//! Log lines that summarise instead of repeating: under load a refusal or a failing source happens
//! thousands of times a second, and one line each would bury the log (300,000 refusals made 139 MB).
//! A [`Summary`] writes the first event of each interval in full and counts the rest by key; the next
//! event after the interval writes one line with those counts, then its own. Exact counts are in the
//! Prometheus counters each caller increments alongside.
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How loud a summary's lines are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
}

struct Window {
    started: Option<Instant>,
    suppressed: BTreeMap<String, u64>,
}

/// One kind of repeated event (refused calls, failing sources, refused connections).
pub struct Summary {
    what: &'static str,
    level: Level,
    interval: Duration,
    window: Mutex<Window>,
}

impl Summary {
    pub const fn new(what: &'static str, level: Level, interval: Duration) -> Summary {
        Summary {
            what,
            level,
            interval,
            window: Mutex::new(Window {
                started: None,
                suppressed: BTreeMap::new(),
            }),
        }
    }

    /// Notes one event under `key` (a short label such as a source and state, never subscriber data);
    /// `line` is its full text, written only when this event opens an interval.
    pub fn note(&self, key: &str, line: impl FnOnce() -> String) {
        let now = Instant::now();
        let (earlier, write) = {
            let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
            match w.started {
                Some(t) if now.duration_since(t) < self.interval => {
                    *w.suppressed.entry(key.to_string()).or_default() += 1;
                    (None, false)
                }
                _ => {
                    let earlier = std::mem::take(&mut w.suppressed);
                    let span = w.started.map(|t| now.duration_since(t));
                    w.started = Some(now);
                    (span.filter(|_| !earlier.is_empty()).map(|s| (s, earlier)), true)
                }
            }
        };
        if let Some((span, counts)) = earlier {
            let total: u64 = counts.values().sum();
            let by: Vec<String> = counts.iter().map(|(k, n)| format!("{k}: {n}")).collect();
            self.emit(&format!(
                "{total} more {} in the last {} s ({})",
                self.what,
                span.as_secs(),
                by.join(", ")
            ));
        }
        if write {
            self.emit(&line());
        }
    }

    fn emit(&self, line: &str) {
        match self.level {
            Level::Info => tracing::info!(target: "complaint_gateway::summary", "{line}"),
            Level::Warn => tracing::warn!(target: "complaint_gateway::summary", "{line}"),
        }
    }
}

/// Calls refused before any service code ran (authentication, rate limits).
pub static REFUSALS: Summary = Summary::new("calls refused", Level::Info, Duration::from_secs(10));
/// Sources that failed or served stale data during reads.
pub static SOURCE_FAILURES: Summary = Summary::new("source failures", Level::Warn, Duration::from_secs(10));
/// Connections refused or closed by the server's limits.
pub static CONNECTIONS: Summary = Summary::new("connections refused or closed", Level::Info, Duration::from_secs(10));

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn the_first_of_an_interval_is_written_and_the_rest_counted() {
        let s = Summary::new("things", Level::Info, Duration::from_millis(50));
        let written = AtomicUsize::new(0);
        for i in 0..1000 {
            s.note(if i % 2 == 0 { "a" } else { "b" }, || {
                written.fetch_add(1, Ordering::SeqCst);
                format!("thing {i}")
            });
        }
        assert_eq!(written.load(Ordering::SeqCst), 1);
        {
            let w = s.window.lock().unwrap();
            assert_eq!(w.suppressed.get("a"), Some(&499));
            assert_eq!(w.suppressed.get("b"), Some(&500));
        }
        std::thread::sleep(Duration::from_millis(60));
        s.note("a", || {
            written.fetch_add(1, Ordering::SeqCst);
            "again".into()
        });
        assert_eq!(written.load(Ordering::SeqCst), 2);
        assert!(s.window.lock().unwrap().suppressed.is_empty());
    }
}
