//! The one error type. Each failure has a kind; `crate::api::error` is the one place that maps
//! kinds to HTTP statuses and `{error: {code, message}}` bodies.

use std::fmt;

/// What went wrong, in the terms of the API contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidRequest,
    InvalidStoreUrl,
    UnsupportedPlatform,
    TenantNotFound,
    TenantInactive,
    InvalidCredentials,
    /// Locked out; retry after this many seconds.
    TooManyAttempts {
        retry_after_secs: u64,
    },
    InvalidToken,
    InvalidApiKey,
    StoreNotFound,
    StoreAlreadyLinked,
    WooCommerceUnreachable,
    WooCommerceAuthFailed,
    OrderNotFound,
    InvalidSignature,
    StoreDisconnected,
    LinkMismatch,
    /// A tenant API key without the scope the route needs.
    InsufficientScope,
    /// A shipment id already used with another body.
    ShipmentConflict,
    /// A shipment for an order woolink never delivered to the tenant (or the store lacks).
    OrderNotInScope,
    /// A shipment's items that do not match the order (details name them).
    InvalidItems,
    NotFound,
    MethodNotAllowed,
    PayloadTooLarge,
    /// The body is not in the media type the route takes (a delivery that is not JSON).
    UnsupportedMediaType,
    /// An admin write that would contradict what is stored (e.g. a store id owned by another tenant).
    Conflict,
    /// A dependency (store, queue) is failing; the client may retry.
    Unavailable,
    /// A bug or an unexpected state; details go to the log, never to the client.
    Internal,
}

impl ErrorKind {
    /// The stable snake_case code clients switch on.
    pub fn code(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidStoreUrl => "invalid_store_url",
            Self::UnsupportedPlatform => "unsupported_platform",
            Self::TenantNotFound => "tenant_not_found",
            Self::TenantInactive => "tenant_inactive",
            Self::InvalidCredentials => "invalid_credentials",
            Self::TooManyAttempts { .. } => "too_many_attempts",
            Self::InvalidToken => "invalid_token",
            Self::InvalidApiKey => "invalid_api_key",
            Self::StoreNotFound => "store_not_found",
            Self::StoreAlreadyLinked => "store_already_linked",
            Self::WooCommerceUnreachable => "woocommerce_unreachable",
            Self::WooCommerceAuthFailed => "woocommerce_auth_failed",
            Self::OrderNotFound => "order_not_found",
            Self::InvalidSignature => "invalid_signature",
            Self::StoreDisconnected => "store_disconnected",
            Self::LinkMismatch => "link_mismatch",
            Self::InsufficientScope => "insufficient_scope",
            Self::ShipmentConflict => "shipment_conflict",
            Self::OrderNotInScope => "order_not_in_scope",
            Self::InvalidItems => "invalid_items",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::Conflict => "conflict",
            Self::Unavailable => "service_unavailable",
            Self::Internal => "internal_error",
        }
    }
}

pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A failure with its kind, a message safe to show the client, details for the client when
/// the message cannot name everything (the offending items of a shipment), and (for logs
/// only) a cause.
pub struct Error {
    kind: ErrorKind,
    message: String,
    details: Option<serde_json::Value>,
    source: Option<BoxError>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            details: None,
            source: None,
        }
    }

    /// The same error with details for the client (JSON, never secrets).
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn details(&self) -> Option<&serde_json::Value> {
        self.details.as_ref()
    }

    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidRequest, message)
    }

    pub fn invalid_store_url(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidStoreUrl, message)
    }

    /// A dependency failed in a way the client cannot fix; the cause is kept for the log.
    pub fn unavailable(what: &str, source: impl Into<BoxError>) -> Self {
        Self::new(
            ErrorKind::Unavailable,
            format!("{what} is temporarily unavailable"),
        )
        .with_source(source)
    }

    pub fn internal(source: impl Into<BoxError>) -> Self {
        Self::new(ErrorKind::Internal, "internal error").with_source(source)
    }

    /// The cause chain, for logs. Causes never contain secrets: adapters build them from
    /// SDK and I/O errors, never from request bodies.
    pub fn cause(&self) -> Option<String> {
        let mut out = String::new();
        let mut next: Option<&(dyn std::error::Error + 'static)> =
            self.source.as_deref().map(|e| e as _);
        while let Some(e) = next {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&e.to_string());
            next = e.source();
        }
        (!out.is_empty()).then_some(out)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .field("cause", &self.cause())
            .finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.code(), self.message)?;
        if let Some(cause) = self.cause() {
            write!(f, " ({cause})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as _)
    }
}
