//! Invalidations between replicas: Redis pub/sub on `<key_prefix>invalidate`.
//!
//! A message is `<replica>\t<msisdn>\t<source,source,…>` (no sources: all of them) or
//! `<replica>\t*\t<source>` (everything of one source). A replica ignores its own messages. Pub/sub
//! delivers only to those listening, so after the subscription is lost and comes back the replica drops
//! its whole L1 cache ([`Remote::Resync`]): whatever it missed is reread.
use super::Shared;
use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// An invalidation another replica published (or the signal to drop everything).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remote {
    /// One subscriber's answers from the named sources (all when empty).
    Subscriber { msisdn: String, sources: Vec<String> },
    /// Everything one source answered.
    Source(String),
    /// Messages may have been missed (the subscription was lost): drop every cached answer.
    Resync,
}

impl Shared {
    fn channel(&self) -> String {
        self.key("invalidate")
    }

    /// Tells the other replicas that `msisdn`'s answers from `sources` (all when empty) changed.
    pub async fn publish_subscriber(&self, msisdn: &str, sources: &[String]) {
        self.publish(format!("{}\t{msisdn}\t{}", self.replica, sources.join(",")))
            .await;
    }

    /// Tells the other replicas that everything `source` answered may have changed.
    pub async fn publish_source(&self, source: &str) {
        self.publish(format!("{}\t*\t{source}", self.replica)).await;
    }

    async fn publish(&self, message: String) {
        let channel = self.channel();
        self.run("publish", |mut c| async move {
            redis::cmd("PUBLISH")
                .arg(channel)
                .arg(message)
                .query_async::<i64>(&mut c)
                .await
        })
        .await;
    }

    /// Follows the other replicas' invalidations until the receiver is dropped; reconnects after a loss.
    pub fn subscribe(self: &Arc<Self>) -> mpsc::Receiver<Remote> {
        let (tx, rx) = mpsc::channel(1024);
        let me = self.clone();
        tokio::spawn(async move {
            let mut lost = false;
            loop {
                if tx.is_closed() {
                    return;
                }
                match me.listen(&tx, lost).await {
                    Ok(()) => return,
                    Err(e) => {
                        if !lost {
                            tracing::warn!(redis = %me.url, error = %e,
                                "redis invalidation subscription lost; other replicas' invalidations reach this one \
                                 again once it is back (its cache is dropped then)");
                        }
                        lost = true;
                        tokio::time::sleep(me.retry.min(Duration::from_secs(1))).await;
                    }
                }
            }
        });
        rx
    }

    /// One subscription: `Ok` when the receiver is gone, `Err` when the connection is.
    async fn listen(&self, tx: &mpsc::Sender<Remote>, resync: bool) -> Result<(), String> {
        let connect = async {
            let mut ps = self.client.get_async_pubsub().await?;
            ps.subscribe(self.channel()).await?;
            Ok::<_, redis::RedisError>(ps)
        };
        let mut ps = match tokio::time::timeout(self.op_timeout.max(Duration::from_millis(500)), connect).await {
            Ok(Ok(ps)) => ps,
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => return Err("no answer while subscribing".into()),
        };
        if resync {
            tracing::info!(redis = %self.url, "redis invalidation subscription back; dropping this replica's cache");
            if tx.send(Remote::Resync).await.is_err() {
                return Ok(());
            }
        }
        let mut messages = ps.on_message();
        while let Some(msg) = messages.next().await {
            let Ok(text) = msg.get_payload::<String>() else {
                continue;
            };
            if let Some(remote) = self.parse(&text) {
                if tx.send(remote).await.is_err() {
                    return Ok(());
                }
            }
        }
        Err("the subscription connection closed".into())
    }

    /// A message from another replica; `None` for our own or a malformed one.
    fn parse(&self, text: &str) -> Option<Remote> {
        let mut parts = text.splitn(3, '\t');
        let (origin, what, list) = (parts.next()?, parts.next()?, parts.next()?);
        if origin == self.replica {
            return None;
        }
        if what == "*" {
            return Some(Remote::Source(list.to_string()));
        }
        let sources = list.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect();
        Some(Remote::Subscriber {
            msisdn: what.to_string(),
            sources,
        })
    }
}
