//! Building HTTP responses.

use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use serde_json::Value;

use crate::error::ApiError;

/// The body type of every response: a full buffer or a stream (watch, logs).
pub type Body = BoxBody<Bytes, std::io::Error>;

/// The content type of JSON answers.
pub const JSON: &str = "application/json";

/// A body from bytes.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

/// A JSON response with `status`.
pub fn json(status: StatusCode, value: &Value) -> Response<Body> {
    json_with_type(status, value, JSON)
}

/// A JSON response with an explicit content type (aggregated discovery needs its own).
pub fn json_with_type(
    status: StatusCode,
    value: &Value,
    content_type: &'static str,
) -> Response<Body> {
    let bytes = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    let mut resp = Response::new(full(bytes));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// A 200 JSON answer whose body is the chunks sent on `rx`, as they come.
pub fn stream(rx: tokio::sync::mpsc::Receiver<Bytes>) -> Response<Body> {
    let chunks = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|bytes| (Ok::<_, std::io::Error>(hyper::body::Frame::data(bytes)), rx))
    });
    let mut resp = Response::new(BodyExt::boxed(http_body_util::StreamBody::new(chunks)));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
    resp
}

/// A plain-text response (health endpoints).
pub fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut resp = Response::new(full(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// The `Status` response of an error.
pub fn error(err: &ApiError) -> Response<Body> {
    let mut resp = json(err.code, &err.to_status());
    if err.code == StatusCode::TOO_MANY_REQUESTS {
        // An error that says when to retry says it in its details (kube sends the header only
        // then); the server's own overload answer asks for a second.
        let retry_after = match &err.details {
            Some(details) => details["retryAfterSeconds"].as_u64().filter(|s| *s > 0),
            None => Some(1),
        };
        if let Some(seconds) = retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
    }
    if err.code == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"kubernetes-master\""),
        );
    }
    resp
}
