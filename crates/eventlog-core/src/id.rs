//! Readable event ids in the seeds' style: `AUTH-001-20250619-143052-7f3a9c000001`.
//!
//! Layout: `{code or category}-{YYYYMMDD}-{HHMMSS}-{suffix}`, time from the event's own
//! timestamp (UTC). The 12-hex-digit suffix is a 24-bit random instance tag followed by a
//! 24-bit per-process counter, so ids made by one process never collide and ids made by
//! two processes collide only if their instance tags match *and* their counters meet in
//! the same second for the same code.

use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, Utc};
use rand::Rng;

/// Makes event ids for events whose client supplied none.
#[derive(Debug)]
pub struct EventIdGenerator {
    instance: u32,
    counter: AtomicU32,
}

impl Default for EventIdGenerator {
    fn default() -> Self {
        let mut rng = rand::thread_rng();
        Self {
            instance: rng.gen::<u32>() & 0x00ff_ffff,
            counter: AtomicU32::new(rng.gen::<u32>() & 0x00ff_ffff),
        }
    }
}

impl EventIdGenerator {
    /// A generator with a fresh random instance tag.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next id for an event with this prefix (catalog code or category) and time.
    pub fn next(&self, prefix: &str, at: DateTime<Utc>) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed) & 0x00ff_ffff;
        format!(
            "{prefix}-{}-{:06x}{n:06x}",
            at.format("%Y%m%d-%H%M%S"),
            self.instance
        )
    }
}

/// Whether `id` is acceptable as a client-supplied event id: 1..=128 characters of
/// `A-Z a-z 0-9 - _ . :`, not only dots (`.` and `..` cannot be read back by
/// `GET /api/events/{id}`: URL paths resolve them).
pub fn is_valid_event_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && !id.bytes().all(|b| b == b'.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// The catalog code an id in the seeds' style starts with (`AUTH-001-20250619-...` gives
/// `AUTH-001`), so events that carry only such an id still inherit their code's defaults.
pub fn code_prefix(id: &str) -> Option<&str> {
    let mut parts = id.splitn(3, '-');
    let letters = parts.next()?;
    let digits = parts.next()?;
    parts.next()?;
    let ok = !letters.is_empty()
        && letters.bytes().all(|b| b.is_ascii_uppercase())
        && digits.len() == 3
        && digits.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| &id[..letters.len() + 4])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::Arc;

    #[test]
    fn ids_look_like_the_seeds_and_are_valid() {
        let at = DateTime::parse_from_rfc3339("2025-06-19T14:30:52Z")
            .unwrap()
            .with_timezone(&Utc);
        let id = EventIdGenerator::new().next("AUTH-001", at);
        assert!(id.starts_with("AUTH-001-20250619-143052-"), "{id}");
        assert_eq!(id.len(), "AUTH-001-20250619-143052-".len() + 12);
        assert!(is_valid_event_id(&id));
        assert_eq!(code_prefix(&id), Some("AUTH-001"));
    }

    #[test]
    fn no_collisions_across_threads() {
        let generator = Arc::new(EventIdGenerator::new());
        let now = Utc::now();
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let g = generator.clone();
                std::thread::spawn(move || {
                    (0..50_000).map(|_| g.next("X", now)).collect::<Vec<_>>()
                })
            })
            .collect();
        let mut seen = HashSet::new();
        for h in handles {
            for id in h.join().unwrap() {
                assert!(seen.insert(id), "duplicate id");
            }
        }
        assert_eq!(seen.len(), 200_000);
    }

    #[test]
    fn validates_client_ids_and_extracts_codes() {
        assert!(is_valid_event_id("AUTH-001-20250619-143052-001"));
        assert!(!is_valid_event_id(""));
        assert!(!is_valid_event_id("a b"));
        assert!(!is_valid_event_id(&"a".repeat(129)));
        assert!(!is_valid_event_id("."));
        assert!(!is_valid_event_id(".."));
        assert!(is_valid_event_id("a.b"));
        assert_eq!(code_prefix("SEC-002-20250619-143052-006"), Some("SEC-002"));
        assert_eq!(code_prefix("ADMIN-010-x"), Some("ADMIN-010"));
        assert_eq!(code_prefix("AUTH-20250619-1"), None);
        assert_eq!(code_prefix("my-id"), None);
    }
}
