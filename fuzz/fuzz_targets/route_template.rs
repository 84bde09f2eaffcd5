//! Endpoint templates on arbitrary paths and event names: must never panic, must be
//! idempotent, and keep the number of path segments.
#![no_main]

use eventlog_core::route::{template, template_name};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let once = template(text).into_owned();
        assert_eq!(template(&once), once.as_str());
        let bare = text.split(['?', '#']).next().unwrap_or("");
        assert_eq!(once.split('/').count(), bare.split('/').count());
        let name = template_name(text).into_owned();
        assert_eq!(template_name(&name), name.as_str());
    }
});
