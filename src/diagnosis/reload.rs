//! Hot reload of the scenario folder by polling: every interval the folder's listing (names, sizes,
//! modification times) is compared with the last one, and on a change the whole folder is reloaded. A
//! folder that fails to load keeps the previous set in force, and the log says why.
use super::load;
use super::Engine;
use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

/// A folder's listing: (path, size, modification time) of every scenario and test-case file.
pub fn fingerprint(dir: &Path) -> Vec<(String, u64, Option<SystemTime>)> {
    load::toml_files(dir)
        .unwrap_or_default()
        .into_iter()
        .map(|p| {
            let meta = std::fs::metadata(&p).ok();
            (
                p.display().to_string(),
                meta.as_ref().map(|m| m.len()).unwrap_or(0),
                meta.and_then(|m| m.modified().ok()),
            )
        })
        .collect()
}

/// Checks the folder once against `last` and reloads on a change. Returns the new listing.
pub fn poll_once(
    engine: &Engine,
    last: Vec<(String, u64, Option<SystemTime>)>,
) -> Vec<(String, u64, Option<SystemTime>)> {
    let now = fingerprint(engine.dir());
    if now == last {
        return now;
    }
    match engine.reload() {
        Ok(generation) => tracing::info!(
            dir = %engine.dir().display(),
            generation,
            scenarios = engine.scenarios().scenarios.len(),
            "scenarios reloaded"
        ),
        Err(e) => tracing::warn!(
            dir = %engine.dir().display(),
            errors = %e,
            "scenario folder changed but does not load; the previous scenarios stay in force"
        ),
    }
    now
}

/// Polls the engine's folder every `interval` until the engine is dropped.
pub fn spawn(engine: &Arc<Engine>, interval: Duration) -> tokio::task::JoinHandle<()> {
    let weak: Weak<Engine> = Arc::downgrade(engine);
    let mut last = fingerprint(engine.dir());
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(engine) = weak.upgrade() else { break };
            // Loading compiles every scenario: keep it off the request threads.
            let l = std::mem::take(&mut last);
            last = match tokio::task::spawn_blocking(move || poll_once(&engine, l)).await {
                Ok(l) => l,
                Err(_) => break,
            };
        }
    })
}
