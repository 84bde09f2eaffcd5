//! Redaction on arbitrary text and JSON: must never panic, and a value under a sensitive
//! key never survives.
#![no_main]

use eventlog_core::redact::{Redactor, MASK};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let redactor = Redactor::default();
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = redactor.redact_text(text);
        let secret = format!("z{}", text.len());
        let mut wrapped = serde_json::json!({ "password": secret, "note": text });
        redactor.redact_value(&mut wrapped);
        assert_eq!(wrapped["password"], MASK);
    }
    if let Ok(mut value) = serde_json::from_slice::<Value>(data) {
        redactor.redact_value(&mut value);
    }
});
