//! PostgreSQL LISTEN/NOTIFY: a backend pushes invalidations on a channel named in its definition
//! (`notify_channel`); `NOTIFY channel, '13800138000'` names a subscriber, payload `*` the whole source.
use crate::adapters::{Invalidation, InvalidationStream};
use std::time::Duration;
use tokio::sync::mpsc;

/// Follows `channel` on `pool`'s server and yields what it says. When the listening connection is lost,
/// notifications may have been missed: [`Invalidation::All`] is yielded and the listener reconnects with
/// back-off. Stops when the stream is dropped.
pub fn follow(pool: sqlx::PgPool, channel: String, source: String) -> InvalidationStream {
    let (tx, rx) = mpsc::channel(256);
    tokio::spawn(async move {
        tokio::select! {
            _ = listen(pool, &channel, &source, &tx) => {}
            _ = tx.closed() => {}
        }
    });
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}

async fn listen(pool: sqlx::PgPool, channel: &str, source: &str, tx: &mpsc::Sender<Invalidation>) {
    let mut backoff = Duration::from_millis(500);
    loop {
        let mut listener = match sqlx::postgres::PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(source, channel, error = %scrub(&e), "cannot listen for invalidations; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
                continue;
            }
        };
        if let Err(e) = listener.listen(channel).await {
            tracing::warn!(source, channel, error = %scrub(&e), "LISTEN failed; retrying");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(30));
            continue;
        }
        tracing::info!(source, channel, "listening for cache invalidations");
        backoff = Duration::from_millis(500);
        loop {
            let item = match listener.try_recv().await {
                Ok(Some(n)) => {
                    let payload = n.payload().trim();
                    metrics::counter!("cgw_cache_notifications_total", "source" => source.to_string()).increment(1);
                    if payload == "*" {
                        Invalidation::All
                    } else {
                        match crate::msisdn::normalize("payload", payload) {
                            Ok(m) => Invalidation::Subscriber(m),
                            Err(e) => {
                                tracing::warn!(source, channel, error = %e, "ignoring a notification");
                                continue;
                            }
                        }
                    }
                }
                // The connection dropped: whatever was notified meanwhile is lost; sqlx reconnects.
                Ok(None) => {
                    tracing::warn!(
                        source,
                        channel,
                        "notification connection lost; dropping the source's cached answers"
                    );
                    Invalidation::All
                }
                Err(e) => {
                    tracing::warn!(source, channel, error = %scrub(&e), "notification listener failed; reconnecting");
                    if tx.send(Invalidation::All).await.is_err() {
                        return;
                    }
                    break;
                }
            };
            if tx.send(item).await.is_err() {
                return;
            }
        }
        tokio::time::sleep(backoff).await;
    }
}

fn scrub(e: &sqlx::Error) -> String {
    // sqlx errors name hosts and users at most, never passwords; keep them short for the log.
    e.to_string().chars().take(300).collect()
}
