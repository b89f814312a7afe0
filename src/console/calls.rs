//! Calling the gRPC services in process: a `tonic::Request` with the caller's identity and call info in
//! its extensions (as the authentication layer leaves them), so each service applies its own identity,
//! region, masking and audit rules. A failed call becomes a [`CallError`] the page shows.
pub use super::signed_in::Caller;
use serde::Serialize;
use std::future::Future;
use std::time::Duration;

/// A refused or failed call, as shown on a page: the gRPC code, a Chinese label and the service's message.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CallError {
    pub code: String,
    pub label: String,
    pub message: String,
}

impl CallError {
    pub fn new(code: tonic::Code, message: impl Into<String>) -> CallError {
        CallError {
            code: code_name(code).into(),
            label: code_label(code).into(),
            message: message.into(),
        }
    }
}

impl From<tonic::Status> for CallError {
    fn from(s: tonic::Status) -> CallError {
        CallError::new(s.code(), s.message())
    }
}

/// The gRPC name of `code` (`PERMISSION_DENIED`).
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}

/// What `code` means to the person at the desk.
pub fn code_label(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        InvalidArgument => "输入有误",
        NotFound => "未找到",
        AlreadyExists => "编号已被占用",
        PermissionDenied => "无权查看或操作",
        ResourceExhausted => "请求过于频繁，请稍后再试",
        FailedPrecondition => "当前状态不允许此操作",
        Aborted => "数据已被他人修改，请刷新后重试",
        Unavailable => "系统暂不可用，请稍后再试",
        DeadlineExceeded => "处理超时，请稍后再试",
        Unauthenticated => "登录已失效，请重新登录",
        _ => "系统错误",
    }
}

/// Awaits a service call, bounded by `limit`.
pub async fn bounded<T>(
    limit: Duration,
    call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T, CallError> {
    match tokio::time::timeout(limit, call).await {
        Ok(Ok(r)) => Ok(r.into_inner()),
        Ok(Err(s)) => Err(s.into()),
        Err(_) => Err(CallError::new(
            tonic::Code::DeadlineExceeded,
            format!("no answer within {} s", limit.as_secs()),
        )),
    }
}
