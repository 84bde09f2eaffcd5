//! Idempotent group commit: which events of which requests get written.
//!
//! Both backends look up the client-supplied ids of a group in one query, then call
//! [`plan`] to decide, request by request, what is new, what is a repeat (same id, same
//! content: answered as a duplicate, not stored again) and which requests conflict (same
//! id, different content: the whole request is refused, nothing of it stored).
//!
//! "Same content" is either hash: of what the client sent (a retry of the same request),
//! or of the stored record with every default filled in (an exported event sent back,
//! which spells out the defaults its original left to the catalog).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use eventlog_core::integrity::Hash;
use eventlog_core::ValidatedEvent;
use serde::Serialize;
use utoipa::ToSchema;

/// What happened to one request's events.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct WriteSummary {
    /// Events newly stored.
    pub accepted: usize,
    /// Events already stored with the same content (idempotent repeats).
    pub duplicates: usize,
    /// The id of every event of the request, in request order.
    pub event_ids: Vec<String>,
    /// Per event, whether it was a repeat.
    #[serde(skip)]
    pub duplicate_flags: Vec<bool>,
    /// The `created_at` and `processed_at` the new events were stored with (microseconds),
    /// so what is shown of them before a read (the live tail) is what a read returns.
    #[serde(skip)]
    pub committed_at: Option<DateTime<Utc>>,
}

/// Sets the commit time of every written request.
pub(crate) fn stamp(outcomes: &mut [RequestOutcome], committed_at: DateTime<Utc>) {
    for outcome in outcomes {
        if let RequestOutcome::Written(summary) = outcome {
            summary.committed_at = Some(committed_at);
        }
    }
}

/// The outcome of one request in a group commit.
#[derive(Debug, Clone, PartialEq)]
pub enum RequestOutcome {
    /// Committed.
    Written(WriteSummary),
    /// Event `index` reuses the id of a stored (or earlier) event with different content.
    Conflict {
        /// Position of the offending event in its request.
        index: usize,
        /// The reused id.
        event_id: String,
    },
}

/// The part of an event's content hash that is stored: 128 bits, plenty to tell a retry
/// from a different event under the same id, at half the bytes per row.
pub type StoredHash = [u8; 16];

/// The stored part of `event`'s content hash.
pub fn stored_hash(event: &ValidatedEvent) -> StoredHash {
    let mut h = [0u8; 16];
    h.copy_from_slice(&event.content_hash()[..16]);
    h
}

/// What identifies the content stored under an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredContent {
    /// The stored part of the content hash of what the client sent.
    pub sent: StoredHash,
    /// The record hash of the tamper-evident chain (`None` for events stored before it).
    pub record: Option<Hash>,
    /// The tenant the event was stored under. What a client sent does not hold the tenant
    /// its key binds it to, so the same body from another tenant's key is not a repeat.
    pub tenant: Option<String>,
}

impl StoredContent {
    fn matches(&self, event: &ValidatedEvent) -> bool {
        (self.sent == stored_hash(event) && self.tenant == event.record().tenant_id)
            || self.record.as_ref() == Some(event.record_hash())
    }
}

/// Whether two events of one group carry the same content (see the module doc).
fn same_content(a: &ValidatedEvent, b: &ValidatedEvent) -> bool {
    (stored_hash(a) == stored_hash(b) && a.record().tenant_id == b.record().tenant_id)
        || a.record_hash() == b.record_hash()
}

/// Decodes a stored hash read back from the database.
pub(crate) fn decode_stored_hash(bytes: Vec<u8>) -> Result<StoredHash, crate::StoreError> {
    bytes
        .try_into()
        .map_err(|_| crate::StoreError::Corrupt("content_hash is not 16 bytes".into()))
}

/// The ids whose stored content must be known before planning: the client-supplied ones.
/// (Generated ids are unique by construction.)
pub fn ids_to_check(requests: &[Vec<ValidatedEvent>]) -> Vec<&str> {
    requests
        .iter()
        .flatten()
        .filter(|e| e.id_supplied())
        .map(|e| e.record().event_id.as_str())
        .collect()
}

/// Decides each request's fate given the stored content of already-used ids. Returns the
/// outcomes and, per request, the indexes of events to insert.
pub fn plan(
    requests: &[Vec<ValidatedEvent>],
    stored: HashMap<String, StoredContent>,
) -> (Vec<RequestOutcome>, Vec<Vec<usize>>) {
    let mut outcomes = Vec::with_capacity(requests.len());
    let mut inserts = Vec::with_capacity(requests.len());
    // Supplied ids claimed by the group's earlier (committed) requests.
    let mut earlier: HashMap<&str, &ValidatedEvent> = HashMap::new();
    for events in requests {
        // Supplied ids claimed earlier in this request (a map: a batch may hold 10,000).
        let mut added: HashMap<&str, &ValidatedEvent> = HashMap::new();
        let mut to_insert = Vec::with_capacity(events.len());
        let mut flags = Vec::with_capacity(events.len());
        let mut conflict = None;
        for (i, event) in events.iter().enumerate() {
            let id = event.record().event_id.as_str();
            let claimed = earlier.get(id).copied().or_else(|| added.get(id).copied());
            let same = match claimed {
                Some(other) => Some(same_content(other, event)),
                None => stored.get(id).map(|c| c.matches(event)),
            };
            match same {
                Some(true) => flags.push(true),
                Some(false) => {
                    conflict = Some((i, id.to_owned()));
                    break;
                }
                None => {
                    if event.id_supplied() {
                        added.insert(id, event);
                    }
                    to_insert.push(i);
                    flags.push(false);
                }
            }
        }
        match conflict {
            Some((index, event_id)) => {
                outcomes.push(RequestOutcome::Conflict { index, event_id });
                inserts.push(Vec::new());
            }
            None => {
                earlier.extend(added);
                let duplicates = flags.iter().filter(|d| **d).count();
                outcomes.push(RequestOutcome::Written(WriteSummary {
                    accepted: to_insert.len(),
                    duplicates,
                    event_ids: events.iter().map(|e| e.record().event_id.clone()).collect(),
                    duplicate_flags: flags,
                    committed_at: None,
                }));
                inserts.push(to_insert);
            }
        }
    }
    (outcomes, inserts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use eventlog_core::integrity::record_hash;
    use eventlog_core::validate::Validator;
    use eventlog_core::{parse_event, Catalog, ValidationPolicy};

    fn event(json: &str) -> ValidatedEvent {
        Validator::new(ValidationPolicy::default(), Catalog::built_in())
            .validate(parse_event(json.as_bytes()).unwrap(), Utc::now())
            .unwrap()
    }

    #[test]
    fn repeats_are_duplicates_and_changed_content_conflicts() {
        let a = event(r#"{"event_id":"A-1","event_code":"AUTH-001"}"#);
        let a_changed = event(r#"{"event_id":"A-1","event_code":"AUTH-002"}"#);
        let b = event(r#"{"event_code":"AUTH-001"}"#);
        let requests = vec![
            vec![a.clone(), b.clone(), a.clone()],
            vec![a.clone()],
            vec![b.clone(), a_changed.clone()],
        ];
        let (outcomes, inserts) = plan(&requests, HashMap::new());
        match &outcomes[0] {
            RequestOutcome::Written(s) => {
                assert_eq!((s.accepted, s.duplicates), (2, 1));
                assert_eq!(s.duplicate_flags, [false, false, true]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(inserts[0], [0, 1]);
        assert!(
            matches!(&outcomes[1], RequestOutcome::Written(s) if s.duplicates == 1 && s.accepted == 0)
        );
        assert_eq!(
            outcomes[2],
            RequestOutcome::Conflict {
                index: 1,
                event_id: "A-1".into()
            }
        );
        assert!(
            inserts[2].is_empty(),
            "a conflicting request stores nothing"
        );
    }

    #[test]
    fn an_event_sent_back_with_its_defaults_spelled_out_is_a_duplicate() {
        let original = event(
            r#"{"event_id":"E-1","event_code":"AUTH-002","username":"guru01","timestamp":"2026-01-01T00:00:00Z"}"#,
        );
        let exported = serde_json::to_string(original.record()).unwrap();
        let sent_back = event(&exported);
        assert_ne!(
            stored_hash(&sent_back),
            stored_hash(&original),
            "the bodies differ"
        );
        let changed = event(&exported.replace("guru01", "guru02"));
        let stored = StoredContent {
            sent: stored_hash(&original),
            record: Some(record_hash(original.record())),
            tenant: None,
        };
        let known = HashMap::from([("E-1".to_owned(), stored)]);
        let (outcomes, inserts) = plan(&[vec![sent_back.clone()], vec![changed]], known);
        assert!(
            matches!(&outcomes[0], RequestOutcome::Written(s) if s.duplicates == 1 && s.accepted == 0),
            "{outcomes:?}"
        );
        assert!(inserts[0].is_empty());
        assert!(matches!(
            outcomes[1],
            RequestOutcome::Conflict { index: 0, .. }
        ));
        // The same within one group: the original first, then its export.
        let (outcomes, inserts) = plan(&[vec![original, sent_back]], HashMap::new());
        assert!(
            matches!(&outcomes[0], RequestOutcome::Written(s) if s.duplicates == 1 && s.accepted == 1),
            "{outcomes:?}"
        );
        assert_eq!(inserts[0], [0]);
    }

    #[test]
    fn the_same_body_under_another_tenant_is_no_repeat() {
        let sent =
            r#"{"event_id":"T-1","event_code":"AUTH-001","timestamp":"2026-01-01T00:00:00Z"}"#;
        let under = |tenant: &str| {
            let mut e = event(sent);
            assert!(e.bind_tenant(tenant));
            e
        };
        let (acme, beta) = (under("acme"), under("beta"));
        let stored = StoredContent {
            sent: stored_hash(&acme),
            record: Some(record_hash(acme.record())),
            tenant: Some("acme".to_owned()),
        };
        let known = HashMap::from([("T-1".to_owned(), stored)]);
        let (outcomes, _) = plan(&[vec![acme], vec![beta]], known);
        assert!(matches!(&outcomes[0], RequestOutcome::Written(s) if s.duplicates == 1));
        assert!(matches!(
            outcomes[1],
            RequestOutcome::Conflict { index: 0, .. }
        ));
    }

    #[test]
    fn a_refused_request_does_not_claim_its_ids() {
        let x = event(r#"{"event_id":"X","event_code":"AUTH-001"}"#);
        let y1 = event(r#"{"event_id":"Y","event_code":"AUTH-001"}"#);
        let x_other = event(r#"{"event_id":"X","event_code":"AUTH-003"}"#);
        let mut known = HashMap::new();
        known.insert(
            "X".to_owned(),
            StoredContent {
                sent: stored_hash(&x_other),
                record: Some(record_hash(x_other.record())),
                tenant: None,
            },
        );
        // Request 0 conflicts on X, so its Y is not stored; request 1 may store Y.
        let (outcomes, inserts) = plan(&[vec![y1.clone(), x], vec![y1]], known);
        assert!(matches!(
            outcomes[0],
            RequestOutcome::Conflict { index: 1, .. }
        ));
        assert_eq!(inserts[1], [0]);
    }
}
