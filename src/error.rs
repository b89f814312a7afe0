//! The gateway's errors and their one mapping to gRPC status codes. Internal details are logged, not sent;
//! the client gets a stable code and a message it can act on.
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// A request field is malformed; `field` names it.
    #[error("{field}: {message}")]
    InvalidArgument { field: String, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    DeadlineExceeded(String),
    #[error("{0}")]
    ResourceExhausted(String),
    /// Something is wrong inside the gateway. The message is logged; the client sees a generic text.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Error {
        Error::InvalidArgument {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn code(&self) -> Code {
        match self {
            Error::InvalidArgument { .. } => Code::InvalidArgument,
            Error::NotFound(_) => Code::NotFound,
            Error::Unauthenticated(_) => Code::Unauthenticated,
            Error::PermissionDenied(_) => Code::PermissionDenied,
            Error::FailedPrecondition(_) => Code::FailedPrecondition,
            Error::Unavailable(_) => Code::Unavailable,
            Error::DeadlineExceeded(_) => Code::DeadlineExceeded,
            Error::ResourceExhausted(_) => Code::ResourceExhausted,
            Error::Internal(_) => Code::Internal,
        }
    }

    /// Whether a client may retry the same call.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Unavailable(_) | Error::DeadlineExceeded(_) | Error::ResourceExhausted(_)
        )
    }
}

impl From<Error> for Status {
    fn from(e: Error) -> Status {
        match &e {
            Error::InvalidArgument { field, message } => {
                let details = ErrorDetails::with_bad_request_violation(field.clone(), message.clone());
                Status::with_error_details(Code::InvalidArgument, e.to_string(), details)
            }
            Error::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                Status::internal("internal error; the gateway log has the details")
            }
            _ => Status::new(e.code(), e.to_string()),
        }
    }
}

/// Recovers the error from a status (clients and tests).
impl From<Status> for Error {
    fn from(s: Status) -> Error {
        let m = s.message().to_string();
        match s.code() {
            Code::InvalidArgument => {
                let field = s
                    .get_details_bad_request()
                    .and_then(|b| b.field_violations.first().map(|v| v.field.clone()))
                    .unwrap_or_default();
                let message = m.strip_prefix(&format!("{field}: ")).unwrap_or(&m).to_string();
                Error::InvalidArgument { field, message }
            }
            Code::NotFound => Error::NotFound(m),
            Code::Unauthenticated => Error::Unauthenticated(m),
            Code::PermissionDenied => Error::PermissionDenied(m),
            Code::FailedPrecondition => Error::FailedPrecondition(m),
            Code::Unavailable => Error::Unavailable(m),
            Code::DeadlineExceeded => Error::DeadlineExceeded(m),
            Code::ResourceExhausted => Error::ResourceExhausted(m),
            _ => Error::Internal(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_through_status() {
        for e in [
            Error::invalid("msisdn", "must be 11 digits"),
            Error::NotFound("no subscriber 13800000000".into()),
            Error::PermissionDenied("region".into()),
            Error::Unavailable("all sources down".into()),
            Error::DeadlineExceeded("deadline".into()),
        ] {
            let back: Error = Status::from(e.clone()).into();
            assert_eq!(back.to_string(), e.to_string());
            assert_eq!(back.code(), e.code());
        }
    }

    #[test]
    fn internal_details_are_not_sent() {
        let s: Status = Error::Internal("pool password=xyz".into()).into();
        assert!(!s.message().contains("xyz"));
        assert_eq!(s.code(), Code::Internal);
    }
}
