//! The one place where an error kind becomes an HTTP status and a `{error: {code, message}}` body.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::{Error, ErrorKind};

pub fn status_of(kind: ErrorKind) -> StatusCode {
    use ErrorKind::*;
    match kind {
        InvalidRequest | InvalidStoreUrl => StatusCode::BAD_REQUEST,
        InvalidCredentials | InvalidToken | InvalidApiKey | InvalidSignature => {
            StatusCode::UNAUTHORIZED
        }
        TenantInactive | LinkMismatch | InsufficientScope => StatusCode::FORBIDDEN,
        ShipmentConflict => StatusCode::CONFLICT,
        OrderNotInScope | InvalidItems => StatusCode::UNPROCESSABLE_ENTITY,
        TenantNotFound | StoreNotFound | OrderNotFound | NotFound => StatusCode::NOT_FOUND,
        MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        StoreAlreadyLinked | Conflict => StatusCode::CONFLICT,
        StoreDisconnected => StatusCode::GONE,
        PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        UnsupportedPlatform | WooCommerceAuthFailed => StatusCode::UNPROCESSABLE_ENTITY,
        TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
        WooCommerceUnreachable => StatusCode::BAD_GATEWAY,
        Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let kind = self.kind();
        let status = status_of(kind);
        if status.is_server_error() {
            tracing::error!(
                code = kind.code(),
                cause = self.cause().as_deref().unwrap_or(""),
                "request failed"
            );
        } else {
            tracing::info!(
                code = kind.code(),
                status = status.as_u16(),
                "request refused"
            );
        }
        // A 5xx never carries internal details: the message is the kind's generic one.
        let english = match kind {
            ErrorKind::Internal => "internal error",
            _ => self.message(),
        };
        // In the request's language (`?lang=`, `Accept-Language`); the code never changes.
        let message = crate::i18n::error_message(kind.code(), english);
        let body = super::wire::ErrorBody {
            error: super::wire::ErrorView {
                code: kind.code(),
                message: &message,
                details: self.details(),
            },
        };
        let mut response = (status, axum::Json(body)).into_response();
        if let ErrorKind::TooManyAttempts { retry_after_secs } = kind {
            if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}
