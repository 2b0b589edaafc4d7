//! Errors: [`ApiError`] is what a request gets back (a status and a stable
//! code, rendered as JSON for the API and as a page for the dashboard);
//! [`ServeError`] is why the server could not start. [`ErrorBody`] is the
//! JSON an [`ApiError`] answers, and its schema in the OpenAPI document.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tollgate_aggregator::AnalyticsError;
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

/// Stable error codes of the API (the `error.code` field). Clients may
/// match on them; the messages may change.
pub mod code {
    /// No credentials, or a token / session that is not valid.
    pub const UNAUTHORIZED: &str = "unauthorized";
    /// Valid credentials without the role this route needs.
    pub const FORBIDDEN: &str = "forbidden";
    /// No such route.
    pub const NOT_FOUND: &str = "not_found";
    /// The route exists, the method does not.
    pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
    /// A query parameter this route does not take.
    pub const UNKNOWN_PARAMETER: &str = "unknown_parameter";
    /// A parameter with a value that cannot be used.
    pub const INVALID_PARAMETER: &str = "invalid_parameter";
    /// A date or time that cannot be read.
    pub const INVALID_DATE: &str = "invalid_date";
    /// `to` not after `from`, or `range` malformed.
    pub const INVALID_RANGE: &str = "invalid_range";
    /// A range longer than the server answers (see `[serve]` limits).
    pub const RANGE_TOO_LARGE: &str = "range_too_large";
    /// A bucket other than `minute`, `hour`, `day` or `auto`.
    pub const INVALID_BUCKET: &str = "invalid_bucket";
    /// A consumer the lake has never seen.
    pub const UNKNOWN_CONSUMER: &str = "unknown_consumer";
    /// A request body that cannot be read.
    pub const INVALID_BODY: &str = "invalid_body";
    /// SQL that would change something, or more than one statement.
    pub const SQL_REFUSED: &str = "sql_refused";
    /// SQL that fails to plan or run (syntax, unknown column, ...).
    pub const SQL_ERROR: &str = "sql_error";
    /// A query past `analytics.query_timeout_secs`.
    pub const QUERY_TIMEOUT: &str = "query_timeout";
    /// A query past `analytics.memory_limit_mb`.
    pub const QUERY_TOO_LARGE: &str = "query_too_large";
    /// A function in analyst SQL would build a value past
    /// `analytics.sql_max_value_mb`.
    pub const VALUE_TOO_LARGE: &str = "value_too_large";
    /// An analyst result past `analytics.sql_max_result_mb` where a
    /// shorter answer would be wrong (a CSV download).
    pub const RESULT_TOO_LARGE: &str = "result_too_large";
    /// Every analyst query slot is taken (`analytics.sql_max_concurrent`);
    /// retry after the `Retry-After` seconds.
    pub const BUSY: &str = "busy";
    /// The lake cannot be read right now.
    pub const LAKE_UNAVAILABLE: &str = "lake_unavailable";
    /// A bug: anything else.
    pub const INTERNAL: &str = "internal";

    /// Every code above: the `enum` of `error.code` in the OpenAPI
    /// document.
    pub const ALL: [&str; 21] = [
        UNAUTHORIZED,
        FORBIDDEN,
        NOT_FOUND,
        METHOD_NOT_ALLOWED,
        UNKNOWN_PARAMETER,
        INVALID_PARAMETER,
        INVALID_DATE,
        INVALID_RANGE,
        RANGE_TOO_LARGE,
        INVALID_BUCKET,
        UNKNOWN_CONSUMER,
        INVALID_BODY,
        SQL_REFUSED,
        SQL_ERROR,
        QUERY_TIMEOUT,
        QUERY_TOO_LARGE,
        VALUE_TOO_LARGE,
        RESULT_TOO_LARGE,
        BUSY,
        LAKE_UNAVAILABLE,
        INTERNAL,
    ];
}

/// The body of every API error: `{"error": {"code", "message"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// An error's code and message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable code; clients may match on it.
    #[schema(schema_with = error_code)]
    pub code: &'static str,
    /// What was wrong and what to do, for a person; it may change.
    pub message: String,
}

/// The schema of `error.code`: one of [`code::ALL`], so the document
/// lists exactly the codes the server has.
fn error_code() -> impl Into<RefOr<Schema>> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(code::ALL))
        .description(Some("A stable code; clients may match on it."))
}

/// A failed request: HTTP status, stable code, one-sentence message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// One of [`code`].
    pub code: &'static str,
    /// What was wrong and what to do, for a person.
    pub message: String,
    /// Seconds after which a retry may succeed (`Retry-After`), for 503s.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with any status.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// A 400 with `code`.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// A 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code::NOT_FOUND, message)
    }

    /// A 500 `internal`; the detail goes to the log, not to the client.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            code::INTERNAL,
            "internal error; the server log has the details",
        )
    }

    /// An analytics failure while running an analyst's SQL: the SQL's own
    /// faults are the client's (4xx).
    pub fn from_sql(e: AnalyticsError) -> Self {
        match e {
            AnalyticsError::Query(m) => Self::bad_request(code::SQL_ERROR, m),
            other => other.into(),
        }
    }

    /// The JSON body `{"error": {"code", "message"}}`.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message.clone(),
            },
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = (self.status, Json(self.body())).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"tollgate\""),
            );
        }
        if let Some(secs) = self.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

/// Typed analytics failures of the server's own queries. A query the
/// server built that fails to plan is a bug (500); parameters were checked
/// before, so `Invalid` here is still the client's.
impl From<AnalyticsError> for ApiError {
    fn from(e: AnalyticsError) -> Self {
        match e {
            AnalyticsError::Invalid(m) => ApiError::bad_request(code::INVALID_PARAMETER, m),
            AnalyticsError::Refused(_) => ApiError::bad_request(code::SQL_REFUSED, e.to_string()),
            AnalyticsError::Timeout(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                code::QUERY_TIMEOUT,
                e.to_string(),
            ),
            AnalyticsError::Memory(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                code::QUERY_TOO_LARGE,
                e.to_string(),
            ),
            AnalyticsError::ValueTooLarge(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                code::VALUE_TOO_LARGE,
                e.to_string(),
            ),
            AnalyticsError::ResultTooLarge(_) => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                code::RESULT_TOO_LARGE,
                e.to_string(),
            ),
            AnalyticsError::Busy { retry_after, .. } => {
                let mut err =
                    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code::BUSY, e.to_string());
                err.retry_after = Some(retry_after.as_secs().max(1));
                err
            }
            AnalyticsError::Lake(_) => {
                tracing::warn!(error = %e, "lake unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    code::LAKE_UNAVAILABLE,
                    "the lake cannot be read right now; see /readyz and the server log",
                )
            }
            AnalyticsError::Query(m) => ApiError::internal(m),
        }
    }
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// `[serve]` is inconsistent (tokens, address).
    #[error("[serve]: {0}")]
    Config(String),
    /// The address could not be bound.
    #[error(
        "cannot listen on {address}: {source}; pick a free port with [serve] address or --address"
    )]
    Bind {
        /// The address.
        address: String,
        /// Why.
        source: std::io::Error,
    },
    /// The server failed while running.
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
    /// The lake could not be opened.
    #[error(transparent)]
    Analytics(#[from] AnalyticsError),
}
