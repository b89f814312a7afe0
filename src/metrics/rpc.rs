//! The standard per-RPC metrics, as a tower layer around every gRPC service of the server (in the shape of
//! go-grpc-prometheus, which dashboards and alerts expect):
//!
//! - `grpc_server_started_total{grpc_type,grpc_service,grpc_method}`: calls started;
//! - `grpc_server_handled_total{grpc_type,grpc_service,grpc_method,grpc_code}`: calls finished, by gRPC
//!   status (`OK`, `InvalidArgument`, `Unauthenticated`, …; `Cancelled` for a call whose caller went away
//!   before its status was sent);
//! - `grpc_server_handling_seconds{grpc_type,grpc_service,grpc_method}`: from the request's arrival to the
//!   status (for a stream: its last message), histogram.
//!
//! The layer sits outermost, so calls refused before any service runs (no credential, rate limited) are
//! counted with their code like any other. The status is read where tonic puts it: in the response headers
//! for a call that fails at once (a "trailers-only" answer), else in the trailers after the last message.
use http_body::Frame;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;
use tonic::body::Body;
use tonic::codegen::http;

/// Server-streaming methods (every other method of the gateway is unary): the `grpc_type` label.
const STREAMING: &[&str] = &[
    "/complaint.v1.ComplaintDataService/StreamUsage",
    "/grpc.health.v1.Health/Watch",
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
];

/// The layer (see the module documentation).
#[derive(Clone, Copy, Debug, Default)]
pub struct RpcMetricsLayer;

impl<S> tower::Layer<S> for RpcMetricsLayer {
    type Service = RpcMetrics<S>;
    fn layer(&self, inner: S) -> RpcMetrics<S> {
        RpcMetrics { inner }
    }
}

/// The service the layer wraps.
#[derive(Clone, Debug)]
pub struct RpcMetrics<S> {
    inner: S,
}

/// What one call is counted under.
struct Call {
    kind: &'static str,
    service: String,
    method: String,
    started: Instant,
}

impl Call {
    fn of(path: &str) -> Call {
        let trimmed = path.trim_start_matches('/');
        let (service, method) = trimmed.split_once('/').unwrap_or(("unknown", trimmed));
        let kind = if STREAMING.contains(&path) {
            "server_stream"
        } else {
            "unary"
        };
        let call = Call {
            kind,
            service: service.to_string(),
            method: method.to_string(),
            started: Instant::now(),
        };
        metrics::counter!("grpc_server_started_total",
            "grpc_type" => call.kind, "grpc_service" => call.service.clone(), "grpc_method" => call.method.clone())
        .increment(1);
        call
    }

    fn finish(self, code: tonic::Code) {
        metrics::counter!("grpc_server_handled_total",
            "grpc_type" => self.kind, "grpc_service" => self.service.clone(), "grpc_method" => self.method.clone(),
            "grpc_code" => code_name(code))
        .increment(1);
        metrics::histogram!("grpc_server_handling_seconds",
            "grpc_type" => self.kind, "grpc_service" => self.service, "grpc_method" => self.method)
        .record(self.started.elapsed().as_secs_f64());
    }
}

/// A code as go-grpc-prometheus spells it (Go's `codes.Code.String()`): `OK`, then `Canceled`… in
/// CamelCase.
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "Canceled",
        Unknown => "Unknown",
        InvalidArgument => "InvalidArgument",
        DeadlineExceeded => "DeadlineExceeded",
        NotFound => "NotFound",
        AlreadyExists => "AlreadyExists",
        PermissionDenied => "PermissionDenied",
        ResourceExhausted => "ResourceExhausted",
        FailedPrecondition => "FailedPrecondition",
        Aborted => "Aborted",
        OutOfRange => "OutOfRange",
        Unimplemented => "Unimplemented",
        Internal => "Internal",
        Unavailable => "Unavailable",
        DataLoss => "DataLoss",
        Unauthenticated => "Unauthenticated",
    }
}

/// The `grpc-status` in `headers`, if there is one.
fn status_in(headers: &http::HeaderMap) -> Option<tonic::Code> {
    let v = headers.get("grpc-status")?;
    let n: i32 = v.to_str().ok()?.trim().parse().ok()?;
    Some(tonic::Code::from_i32(n))
}

impl<S> tower::Service<http::Request<Body>> for RpcMetrics<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let call = Call::of(req.uri().path());
        let fut = self.inner.call(req);
        Box::pin(async move {
            match fut.await {
                Ok(resp) => {
                    let (parts, body) = resp.into_parts();
                    // A trailers-only answer carries its status in the headers; otherwise a non-gRPC
                    // failure (HTTP status other than 200) has none and counts as tonic maps it.
                    let early = status_in(&parts.headers)
                        .or_else(|| (parts.status != http::StatusCode::OK).then_some(tonic::Code::Unknown));
                    let body = Body::new(Watched {
                        inner: body,
                        call: Some(call),
                        early,
                    });
                    Ok(http::Response::from_parts(parts, body))
                }
                Err(e) => {
                    call.finish(tonic::Code::Unknown);
                    Err(e)
                }
            }
        })
    }
}

/// A response body that records its call when the status goes out (or when it is dropped unfinished).
struct Watched {
    inner: Body,
    call: Option<Call>,
    /// The status from the response headers (a trailers-only answer).
    early: Option<tonic::Code>,
}

impl Watched {
    fn finish(&mut self, code: tonic::Code) {
        if let Some(call) = self.call.take() {
            call.finish(code);
        }
    }
}

impl http_body::Body for Watched {
    type Data = bytes::Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<bytes::Bytes>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(code) = frame.trailers_ref().and_then(status_in) {
                    self.finish(code);
                }
            }
            Poll::Ready(Some(Err(status))) => {
                let code = status.code();
                self.finish(code);
            }
            Poll::Ready(None) => {
                let code = self.early.unwrap_or(tonic::Code::Ok);
                self.finish(code);
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        // A trailers-only answer may never be polled; a stream dropped before its status went out was
        // abandoned by its caller.
        let code = self.early.unwrap_or(tonic::Code::Cancelled);
        self.finish(code);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_named_as_go_grpc_prometheus_names_them() {
        assert_eq!(code_name(tonic::Code::Ok), "OK");
        assert_eq!(code_name(tonic::Code::Cancelled), "Canceled");
        assert_eq!(code_name(tonic::Code::InvalidArgument), "InvalidArgument");
        assert_eq!(code_name(tonic::Code::Unauthenticated), "Unauthenticated");
    }

    #[test]
    fn a_path_splits_into_service_and_method() {
        let c = Call::of("/complaint.v1.ComplaintDataService/StreamUsage");
        assert_eq!(
            (c.kind, c.service.as_str(), c.method.as_str()),
            ("server_stream", "complaint.v1.ComplaintDataService", "StreamUsage")
        );
        let c = Call::of("/grpc.health.v1.Health/Check");
        assert_eq!(
            (c.kind, c.service.as_str(), c.method.as_str()),
            ("unary", "grpc.health.v1.Health", "Check")
        );
    }
}
