//! The gateway's errors: a small set of domain reasons, each mapped once to a gRPC status code and sent as
//! a `google.rpc.ErrorInfo` (domain [`DOMAIN`], reason such as `OUT_OF_REGION`) next to the code, so a
//! client can act on the reason without parsing the message. Invalid arguments also carry a `BadRequest`
//! field violation naming the field. Internal details are logged, not sent: the client gets a stable
//! reason and a message it can act on. This file is the only place a `tonic::Status` is built from a
//! gateway error.
use std::collections::HashMap;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The `domain` of every `ErrorInfo` the gateway sends.
pub const DOMAIN: &str = "complaint-gateway";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A request field is malformed; `field` names it.
    #[error("{field}: {message}")]
    InvalidArgument { field: String, message: String },
    /// A subscriber number is not an 11-digit mainland mobile number.
    #[error("{field}: {message}")]
    InvalidMsisdn { field: String, message: String },
    /// A source filter names a source that is not configured.
    #[error("{field}: {message}")]
    UnknownSource { field: String, message: String },
    /// No credential, or one that does not verify.
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller's roles do not grant what was attempted.
    #[error("{0}")]
    RoleRequired(String),
    /// The subscriber (or the complaint) is in a region the caller may not see.
    #[error("{0}")]
    OutOfRegion(String),
    /// No such subscriber, scenario, identity or event.
    #[error("{0}")]
    NotFound(String),
    /// The request is valid but the state does not allow it (an identity that exists, a source that has no
    /// usage records, a transition not allowed from the current state).
    #[error("{0}")]
    FailedPrecondition(String),
    /// A complaint operation not allowed in the complaint's state; `allowed` lists the states it may move
    /// to from there (sent in `ErrorInfo.metadata["allowed"]`, comma-separated).
    #[error("{message}")]
    InvalidTransition { message: String, allowed: Vec<String> },
    /// A complaint id that belongs to another subscriber or region: ids are never reassigned.
    #[error("{0}")]
    IdTaken(String),
    /// Someone else changed the record between this call's read and its write; retry.
    #[error("{0}")]
    Conflict(String),
    /// The caller sent too many requests; retry later.
    #[error("{0}")]
    RateLimited(String),
    /// Backends the answer depends on could not be reached; retry later.
    #[error("{0}")]
    SourceUnavailable(String),
    /// The subscriber's region, which decides whether a region-scoped caller may see them, could not be
    /// established: the backends that know it are down and the gateway remembers none. An outage, not a
    /// denial; retry later.
    #[error("{0}")]
    RegionUnavailable(String),
    /// The gateway's own store (identities, audit trail) is down, so nothing is served; retry later.
    #[error("{0}")]
    StoreUnavailable(String),
    /// The client's deadline passed before an answer was ready.
    #[error("{0}")]
    DeadlineExceeded(String),
    /// Something is wrong inside the gateway. The message is logged; the client sees a generic text.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// A malformed request field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Error {
        Error::InvalidArgument {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The reason sent in `ErrorInfo.reason`.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::InvalidArgument { .. } => "INVALID_ARGUMENT",
            Error::InvalidMsisdn { .. } => "INVALID_MSISDN",
            Error::UnknownSource { .. } => "UNKNOWN_SOURCE",
            Error::Unauthenticated(_) => "UNAUTHENTICATED",
            Error::RoleRequired(_) => "ROLE_REQUIRED",
            Error::OutOfRegion(_) => "OUT_OF_REGION",
            Error::NotFound(_) => "NOT_FOUND",
            Error::FailedPrecondition(_) => "FAILED_PRECONDITION",
            Error::InvalidTransition { .. } => "INVALID_TRANSITION",
            Error::IdTaken(_) => "COMPLAINT_ID_TAKEN",
            Error::Conflict(_) => "CONCURRENT_CHANGE",
            Error::RateLimited(_) => "RATE_LIMITED",
            Error::SourceUnavailable(_) => "SOURCE_UNAVAILABLE",
            Error::RegionUnavailable(_) => "REGION_UNAVAILABLE",
            Error::StoreUnavailable(_) => "STORE_UNAVAILABLE",
            Error::DeadlineExceeded(_) => "DEADLINE_EXCEEDED",
            Error::Internal(_) => "INTERNAL",
        }
    }

    /// The gRPC status code of the reason.
    pub fn code(&self) -> Code {
        match self {
            Error::InvalidArgument { .. } | Error::InvalidMsisdn { .. } | Error::UnknownSource { .. } => {
                Code::InvalidArgument
            }
            Error::Unauthenticated(_) => Code::Unauthenticated,
            Error::RoleRequired(_) | Error::OutOfRegion(_) => Code::PermissionDenied,
            Error::NotFound(_) => Code::NotFound,
            Error::FailedPrecondition(_) | Error::InvalidTransition { .. } => Code::FailedPrecondition,
            Error::IdTaken(_) => Code::AlreadyExists,
            Error::Conflict(_) => Code::Aborted,
            Error::RateLimited(_) => Code::ResourceExhausted,
            Error::SourceUnavailable(_) | Error::RegionUnavailable(_) | Error::StoreUnavailable(_) => Code::Unavailable,
            Error::DeadlineExceeded(_) => Code::DeadlineExceeded,
            Error::Internal(_) => Code::Internal,
        }
    }

    /// The request field at fault, for invalid arguments.
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::InvalidArgument { field, .. }
            | Error::InvalidMsisdn { field, .. }
            | Error::UnknownSource { field, .. } => Some(field),
            _ => None,
        }
    }

    /// Whether a client may retry the same call.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::SourceUnavailable(_)
                | Error::RegionUnavailable(_)
                | Error::StoreUnavailable(_)
                | Error::DeadlineExceeded(_)
                | Error::RateLimited(_)
                | Error::Conflict(_)
        )
    }

    /// Whether the caller was refused for who they are (a role or a region, or a complaint id of another
    /// subscriber), as the audit trail records it.
    pub fn is_denial(&self) -> bool {
        matches!(self, Error::RoleRequired(_) | Error::OutOfRegion(_) | Error::IdTaken(_))
    }

    /// Whether the call failed because backends were down (audited as an outage, never as a denial).
    pub fn is_outage(&self) -> bool {
        matches!(self, Error::SourceUnavailable(_) | Error::RegionUnavailable(_))
    }

    /// Whether the request itself was malformed.
    pub fn is_invalid_argument(&self) -> bool {
        self.code() == Code::InvalidArgument
    }
}

impl From<Error> for Status {
    fn from(e: Error) -> Status {
        let mut details = ErrorDetails::new();
        let mut metadata = HashMap::new();
        if let Error::InvalidTransition { allowed, .. } = &e {
            metadata.insert("allowed".to_string(), allowed.join(","));
        }
        details.set_error_info(e.reason(), DOMAIN, metadata);
        if let Some(field) = e.field() {
            let message = match &e {
                Error::InvalidArgument { message, .. }
                | Error::InvalidMsisdn { message, .. }
                | Error::UnknownSource { message, .. } => message.clone(),
                _ => String::new(),
            };
            details.add_bad_request_violation(field, message);
        }
        let message = match &e {
            Error::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                "internal error; the gateway log has the details".to_string()
            }
            other => other.to_string(),
        };
        Status::with_error_details(e.code(), message, details)
    }
}

/// Recovers the error from a status (clients and tests): by the `ErrorInfo` reason when the gateway sent
/// one, else by the code.
impl From<Status> for Error {
    fn from(s: Status) -> Error {
        let m = s.message().to_string();
        let info = s.get_details_error_info();
        let reason = info.as_ref().map(|i| i.reason.clone()).unwrap_or_default();
        let field = s
            .get_details_bad_request()
            .and_then(|b| b.field_violations.first().map(|v| v.field.clone()))
            .unwrap_or_default();
        let invalid_message = || m.strip_prefix(&format!("{field}: ")).unwrap_or(&m).to_string();
        match (reason.as_str(), s.code()) {
            ("INVALID_MSISDN", _) => Error::InvalidMsisdn {
                message: invalid_message(),
                field,
            },
            ("UNKNOWN_SOURCE", _) => Error::UnknownSource {
                message: invalid_message(),
                field,
            },
            (_, Code::InvalidArgument) => Error::InvalidArgument {
                message: invalid_message(),
                field,
            },
            (_, Code::Unauthenticated) => Error::Unauthenticated(m),
            ("OUT_OF_REGION", _) => Error::OutOfRegion(m),
            (_, Code::PermissionDenied) => Error::RoleRequired(m),
            (_, Code::NotFound) => Error::NotFound(m),
            ("INVALID_TRANSITION", _) => Error::InvalidTransition {
                message: m,
                allowed: info
                    .and_then(|i| i.metadata.get("allowed").cloned())
                    .unwrap_or_default()
                    .split(',')
                    .filter(|a| !a.is_empty())
                    .map(str::to_string)
                    .collect(),
            },
            (_, Code::FailedPrecondition) => Error::FailedPrecondition(m),
            (_, Code::AlreadyExists) if reason == "COMPLAINT_ID_TAKEN" => Error::IdTaken(m),
            (_, Code::Aborted) => Error::Conflict(m),
            (_, Code::ResourceExhausted) => Error::RateLimited(m),
            ("STORE_UNAVAILABLE", _) => Error::StoreUnavailable(m),
            ("REGION_UNAVAILABLE", _) => Error::RegionUnavailable(m),
            (_, Code::Unavailable) => Error::SourceUnavailable(m),
            (_, Code::DeadlineExceeded) => Error::DeadlineExceeded(m),
            _ => Error::Internal(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_through_status_keeps_reason_code_and_message() {
        for e in [
            Error::invalid("msisdn", "must be 11 digits"),
            Error::InvalidMsisdn {
                field: "msisdn".into(),
                message: "must be 11 digits".into(),
            },
            Error::UnknownSource {
                field: "sources[0]".into(),
                message: "unknown source `x`".into(),
            },
            Error::NotFound("no subscriber 13800000000".into()),
            Error::OutOfRegion("not in your regions (0571)".into()),
            Error::RoleRequired("needs read_view".into()),
            Error::RateLimited("slow down".into()),
            Error::SourceUnavailable("all sources down".into()),
            Error::RegionUnavailable("crm down".into()),
            Error::StoreUnavailable("the audit trail is unavailable".into()),
            Error::DeadlineExceeded("deadline".into()),
            Error::InvalidTransition {
                message: "cannot go from new to closed".into(),
                allowed: vec!["triaged".into(), "in_progress".into()],
            },
            Error::IdTaken("complaint id C-1 belongs to another subscriber".into()),
            Error::Conflict("changed meanwhile".into()),
        ] {
            let status = Status::from(e.clone());
            assert_eq!(status.get_details_error_info().unwrap().reason, e.reason());
            assert_eq!(status.get_details_error_info().unwrap().domain, DOMAIN);
            let back: Error = status.into();
            assert_eq!(back, e);
        }
    }

    #[test]
    fn invalid_arguments_name_the_field() {
        let s: Status = Error::invalid("text", "at most 4000 characters").into();
        let v = s.get_details_bad_request().unwrap().field_violations;
        assert_eq!(
            (v[0].field.as_str(), v[0].description.as_str()),
            ("text", "at most 4000 characters")
        );
    }

    #[test]
    fn internal_details_are_not_sent() {
        let s: Status = Error::Internal("pool password=xyz".into()).into();
        assert!(!s.message().contains("xyz"));
        assert_eq!(s.code(), Code::Internal);
        assert_eq!(s.get_details_error_info().unwrap().reason, "INTERNAL");
    }
}
