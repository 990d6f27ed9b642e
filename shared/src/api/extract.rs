//! Request extraction that turns every malformed input into a contract error.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

use crate::error::{Error, ErrorKind};

/// A JSON body: 413 past the body limit, 400 `invalid_request` when it is not the expected JSON.
pub struct JsonBody<T>(pub T);

pub(crate) fn body_rejection(r: BytesRejection) -> Error {
    if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Error::new(ErrorKind::PayloadTooLarge, "the request body is too large")
    } else {
        Error::invalid_request("the request body could not be read")
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(body_rejection)?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// A body read but not yet parsed (413 past the body limit): for routes that authenticate
/// before they judge the body, so a stranger learns nothing from its errors.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(req, state)
            .await
            .map(RawBody)
            .map_err(body_rejection)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => {
                // serde's message names the field and the expected type.
                let msg = e.to_string();
                let msg = msg.split(" at line ").next().unwrap_or("invalid field");
                Error::invalid_request(format!("invalid request body: {msg}"))
            }
            _ => Error::invalid_request("the request body is not valid JSON"),
        }
    })
}

/// The credential in `Authorization: Bearer <credential>`, if any.
pub struct Bearer(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for Bearer {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, rest) = v.trim().split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then(|| rest.trim().to_owned())
            })
            .filter(|t| !t.is_empty());
        Ok(Bearer(value))
    }
}

impl Bearer {
    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

/// The address a request came from: API Gateway's `sourceIp` in Lambda, the socket's peer
/// under `woolink dev`; `None` when neither says (never a client-supplied header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourceIp(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for SourceIp {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        use lambda_http::request::RequestContext;
        if let Some(RequestContext::ApiGatewayV2(ctx)) = parts.extensions.get::<RequestContext>() {
            return Ok(Self(
                ctx.http.source_ip.as_deref().and_then(|ip| ip.parse().ok()),
            ));
        }
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(Self(peer))
    }
}

/// Path parameters: axum's, with a path that cannot be read (not UTF-8 once decoded) a
/// contract error instead of axum's plain-text 400.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Path(v))
            .map_err(|_| Error::invalid_request("the request path could not be read"))
    }
}

/// A query string: axum's, with a malformed one (a value twice, a wrong type) a contract
/// error instead of axum's plain-text 400.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| Query(v))
            .map_err(|e| {
                use axum::extract::rejection::QueryRejection;
                let why = match e {
                    QueryRejection::FailedToDeserializeQueryString(e) => e.body_text(),
                    other => other.body_text(),
                };
                let why = why
                    .strip_prefix("Failed to deserialize query string: ")
                    .unwrap_or(&why)
                    .to_owned();
                Error::invalid_request(format!("invalid query string: {why}"))
            })
    }
}
