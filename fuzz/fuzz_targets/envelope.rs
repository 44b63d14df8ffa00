//! The envelope: path → cassette, `X-Amz-Target` → operation, `Content-Type`, body → JSON object,
//! and the caller from `Authorization`. The input is split on the first three NUL bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ssm_vcr::harness::{Caller, envelope};

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(4, |&b| b == 0);
    let (Some(path), Some(target), Some(header), Some(body)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return;
    };
    let _ = envelope::route(&String::from_utf8_lossy(path));
    let target = http::HeaderValue::from_bytes(target).ok();
    let _ = envelope::operation(&http::Method::POST, target.as_ref());
    let mut headers = http::HeaderMap::new();
    if let Ok(value) = http::HeaderValue::from_bytes(header) {
        headers.insert(http::header::CONTENT_TYPE, value.clone());
        headers.insert(http::header::AUTHORIZATION, value);
    }
    let found = envelope::EnvelopeHeaders::read(&headers);
    let _ = envelope::check_content_type(found.content_type);
    let _ = Caller::from_authorization(found.authorization);
    let _ = envelope::input(body);
    let _ = ssm_vcr::harness::printable(&String::from_utf8_lossy(body), 80);
});
