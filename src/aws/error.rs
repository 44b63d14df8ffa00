//! AWS JSON 1.1 error responses, as AWS sends them, and request ids.
//!
//! Every response the proxy makes itself goes through [`AwsError::into_response`], so every one
//! of them carries `Content-Type: application/x-amz-json-1.1` and a fresh `x-amzn-RequestId`.
//! This module does not decide *which* error a failure becomes; that table is
//! `ProxyError::to_aws` (`error.rs`).

use std::borrow::Cow;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;

/// Header names used on the wire, in one place.
pub mod headers {
    use http::HeaderName;

    /// The operation selector of the JSON 1.1 protocol (`AmazonSSM.<Operation>`).
    pub const X_AMZ_TARGET: HeaderName = HeaderName::from_static("x-amz-target");
    /// The request id AWS puts on every response.
    pub const X_AMZN_REQUEST_ID: HeaderName = HeaderName::from_static("x-amzn-requestid");
    /// The error shape name some AWS front ends add beside `__type`.
    pub const X_AMZN_ERROR_TYPE: HeaderName = HeaderName::from_static("x-amzn-errortype");
}

/// The media type of AWS JSON 1.1 requests and responses.
pub const JSON_1_1: &str = "application/x-amz-json-1.1";

/// An error in AWS's JSON 1.1 shape: `{"__type": "<Shape>", "message": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    /// HTTP status of the response.
    pub status: StatusCode,
    /// The error shape name sent as `__type`, e.g. `ValidationException`.
    pub error_type: &'static str,
    /// Human-readable text sent as `message`.
    pub message: Cow<'static, str>,
}

impl AwsError {
    /// An error with the given status, shape name and message.
    pub fn new(
        status: StatusCode,
        error_type: &'static str,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            error_type,
            message: message.into(),
        }
    }

    /// The JSON body exactly as sent.
    pub fn body(&self) -> Bytes {
        let body = serde_json::json!({ "__type": self.error_type, "message": self.message });
        Bytes::from(body.to_string())
    }

    /// The full HTTP response, with a fresh request id.
    pub fn into_response(self) -> Response<Full<Bytes>> {
        let mut response = Response::new(Full::new(self.body()));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_1_1));
        headers.insert(headers::X_AMZN_REQUEST_ID, new_request_id());
        response
    }
}

/// A random request id in the form AWS uses (a lower-case UUID).
pub fn new_request_id() -> HeaderValue {
    let mut buf = uuid::Uuid::encode_buffer();
    let id = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buf);
    HeaderValue::from_str(id).expect("a UUID is a valid header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    mod into_response {
        use super::*;

        #[test]
        fn escapes_the_message_and_sets_aws_headers() {
            let error = AwsError::new(StatusCode::BAD_REQUEST, "ValidationException", "a \"b\"\n");
            assert_eq!(
                &error.body()[..],
                br#"{"__type":"ValidationException","message":"a \"b\"\n"}"#
            );
            let response = error.into_response();
            assert_eq!(response.status(), StatusCode::BAD_REQUEST);
            assert_eq!(response.headers()[header::CONTENT_TYPE], JSON_1_1);
            let id = response.headers()[headers::X_AMZN_REQUEST_ID]
                .to_str()
                .unwrap();
            assert_eq!(id.len(), 36);
        }
    }
}
