//! Canonical JSON on arbitrary documents: never panics, the canonical form parses back
//! to the same value, and canonicalising it again changes nothing (so equal values hash
//! equal whatever their formatting).
#![no_main]

use eventlog_core::canonical::{canonical_hash, to_canonical_bytes};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let canonical = to_canonical_bytes(&value);
    let reparsed: Value = serde_json::from_slice(&canonical).expect("canonical JSON parses");
    assert_eq!(reparsed, value);
    assert_eq!(to_canonical_bytes(&reparsed), canonical);
    assert_eq!(canonical_hash(&reparsed), canonical_hash(&value));
});
