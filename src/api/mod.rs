//! The gRPC surface: thin service impls that translate proto ⇄ domain. Reads of subscriber data go through
//! [`crate::read`]; the server that mounts these services is [`crate::server`].
pub mod admin;
pub mod analytics;
pub mod cases;
pub mod codec;
pub mod data;
pub mod diagnosis;
pub mod identity;
pub mod view_response;

use crate::error::Error;
use crate::identity::{call_info, caller};
use crate::read::ReadRequest;
use std::time::{Duration, Instant};

/// The read a request asks for: its caller (put there by the authentication layer), RPC, peer and
/// deadline, with the number and purpose it names. Reads every source with the default cache policy until
/// the caller narrows them.
pub fn read_request<T>(request: &tonic::Request<T>, msisdn: &str, purpose: &str) -> Result<ReadRequest, Error> {
    let mut read = ReadRequest::new(caller(request)?, call_info(request), msisdn, purpose);
    read.deadline = deadline(request);
    Ok(read)
}

/// The client's deadline from `grpc-timeout`, if it sent one, less a margin (a tenth, at most 20 ms) for
/// assembling and sending the answer: backend work stops early enough that the caller gets the sources
/// that did answer, with TIMEOUT for the rest, instead of tonic's bare DEADLINE_EXCEEDED.
pub fn deadline<T>(req: &tonic::Request<T>) -> Option<Instant> {
    let v = req.metadata().get("grpc-timeout")?.to_str().ok()?;
    parse_grpc_timeout(v).map(|d| Instant::now() + d - (d / 10).min(Duration::from_millis(20)))
}

/// Parses a `grpc-timeout` header value such as `100m` or `2S`.
pub fn parse_grpc_timeout(v: &str) -> Option<Duration> {
    if v.len() < 2 || v.len() > 9 {
        return None;
    }
    let (n, unit) = v.split_at(v.len() - 1);
    let n: u64 = n.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::parse_grpc_timeout;
    use std::time::Duration;

    #[test]
    fn grpc_timeout_units() {
        assert_eq!(parse_grpc_timeout("100m"), Some(Duration::from_millis(100)));
        assert_eq!(parse_grpc_timeout("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse_grpc_timeout("5x"), None);
        assert_eq!(parse_grpc_timeout("m"), None);
    }
}
