//! `StreamUsage` through each source's stack: a stream is admitted by the source's circuit breaker and
//! takes one of its permits (at most `max_concurrency` streams at once; one more is refused as
//! overloaded); the wait for each record is cut at the attempt time-out, and the whole stream at the
//! caller's deadline. Its end (first record or clean end: the backend answered; a time-out or connection
//! failure: it did not) is what the breaker records; a stream its caller abandons records nothing.
//!
//! Dropping the stream (the client went away, a time-out, the deadline) drops the adapter's receiver,
//! which cancels the backend statement and frees its connection: no task outlives the call holding one.
//! Streams are not retried: records already sent would be sent twice.
use crate::adapters::{Adapter, AdapterError, UsageQuery, UsageStream};
use crate::stack::{Outcome, Stack, StackError};
use futures::StreamExt;
use std::time::{Duration, Instant};

struct State {
    inner: UsageStream,
    /// Held for the stream's life.
    _permit: tokio::sync::OwnedSemaphorePermit,
    outcome: Outcome,
    wait: Duration,
    deadline: Option<Instant>,
    done: bool,
}

/// Opens `adapter`'s usage stream for `q` through `stack`. `Ok(None)`: the adapter has none.
pub fn open(
    stack: &Stack,
    adapter: &dyn Adapter,
    q: UsageQuery,
    deadline: Option<Instant>,
) -> Result<Option<UsageStream>, StackError> {
    if !adapter.has_usage_stream() {
        return Ok(None);
    }
    let probe = stack.breaker().admit()?;
    let outcome = Outcome {
        breaker: stack.breaker().clone(),
        probe,
        result: None,
    };
    // Refused for want of a permit is not the backend's fault: `outcome` drops recording nothing (a
    // probe lets the next call probe).
    let permit = stack.stream_permit()?;
    let Some(inner) = adapter.stream_usage(q) else {
        return Ok(None);
    };
    let state = State {
        inner,
        _permit: permit,
        outcome,
        wait: stack.attempt_timeout(),
        deadline,
        done: false,
    };
    Ok(Some(
        futures::stream::unfold(state, |mut st| async move {
            if st.done {
                return None;
            }
            let left = st
                .deadline
                .map_or(st.wait, |d| st.wait.min(d.saturating_duration_since(Instant::now())));
            match tokio::time::timeout(left, st.inner.next()).await {
                Ok(Some(Ok(rec))) => {
                    st.outcome.result = Some(true);
                    Some((Ok(rec), st))
                }
                Ok(Some(Err(e))) => {
                    // A query the backend refused is not an outage; connection trouble is.
                    st.outcome.result = Some(!e.is_retryable());
                    st.done = true;
                    Some((Err(e), st))
                }
                Ok(None) => {
                    // The backend answered to the end; dropping the state records it.
                    st.outcome.set(Some(true));
                    None
                }
                Err(_) => {
                    st.outcome.result = Some(false);
                    st.done = true;
                    metrics::counter!("cgw_usage_stream_timeouts_total").increment(1);
                    Some((Err(AdapterError::Timeout(left)), st))
                }
            }
        })
        .boxed(),
    ))
}
