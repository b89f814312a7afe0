//! sqlx plumbing shared by the gateway's own store and the SQL adapters.
use std::time::Duration;

/// A pooled connection idle longer than this is pinged before it is handed out.
pub const PING_AFTER_IDLE: Duration = Duration::from_secs(15);

/// sqlx pool options without the round trip sqlx adds to every acquire by default (a ping), which
/// doubled the statements of a busy pool: a connection is pinged only after sitting idle for
/// [`PING_AFTER_IDLE`], long enough for a server restart or a firewall to have dropped it. A failed ping
/// discards the connection and the acquire takes or opens another.
pub fn pool_options<DB: sqlx::Database>() -> sqlx::pool::PoolOptions<DB> {
    sqlx::pool::PoolOptions::<DB>::new()
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_AFTER_IDLE {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
}
