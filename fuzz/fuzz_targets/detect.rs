//! The detection engine on arbitrary requests: must never panic, keeps findings and
//! excerpts bounded, and decoding is idempotent once it converges.
#![no_main]

use eventlog_core::detect::decode::decode;
use eventlog_core::detect::{Body, Detector, RequestView, EXCERPT_CHARS, MAX_FINDINGS};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let once = decode(text);
    if !once.exhausted {
        assert_eq!(decode(&once.text).text, once.text);
    }
    // Split the input into the parts of a request at the first two newlines.
    let mut parts = text.splitn(3, '\n');
    let path = parts.next().unwrap_or_default();
    let query = parts.next();
    let rest = parts.next().unwrap_or_default();
    let json = serde_json::from_str::<Value>(rest).ok();
    let body = match &json {
        Some(value) => Body::Json(value),
        None => Body::Form(rest),
    };
    let headers = [("user-agent", rest), ("cookie", rest), ("content-disposition", rest)];
    let detector = Detector::default();
    let found = detector.inspect(&RequestView { path, query, headers: &headers, body });
    assert!(found.len() <= MAX_FINDINGS);
    for finding in found {
        assert!(finding.excerpt.chars().count() <= EXCERPT_CHARS + 1);
    }
});
