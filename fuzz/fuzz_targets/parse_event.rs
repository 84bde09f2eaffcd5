//! The event parser and validator on arbitrary bytes: single events and both batch
//! formats. Must never panic; whatever validates must serialise.
#![no_main]

use std::sync::LazyLock;

use eventlog_core::parse::BatchFormat;
use eventlog_core::{parse_batch, parse_event, Catalog, ValidationPolicy, Validator};
use libfuzzer_sys::fuzz_target;

static VALIDATOR: LazyLock<Validator> =
    LazyLock::new(|| Validator::new(ValidationPolicy::default(), Catalog::built_in()));

fuzz_target!(|data: &[u8]| {
    let now = chrono::Utc::now();
    if let Ok(raw) = parse_event(data) {
        if let Ok(event) = VALIDATOR.validate(raw, now) {
            serde_json::to_vec(event.record()).expect("a validated event serialises");
        }
    }
    for format in [BatchFormat::JsonObject, BatchFormat::Ndjson] {
        if let Ok(items) = parse_batch(data, format, 64 * 1024) {
            for raw in items.into_iter().flatten() {
                let _ = VALIDATOR.validate(raw, now);
            }
        }
    }
});
