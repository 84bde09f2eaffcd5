//! Rows in PostgreSQL's COPY text format: tab-separated columns, `\N` for NULL, and
//! backslash escapes for backslash, tab, newline and carriage return. Values never reach
//! SQL text; COPY data is data.

use std::io::Write;

use chrono::{DateTime, Utc};
use eventlog_core::ValidatedEvent;

use crate::integrity::Link;
use crate::payload::PayloadCodec;
use crate::write::stored_hash;

/// The COPY statement whose column order [`encode_row`] follows.
pub(super) const COPY_STATEMENT: &str = "COPY events (event_id, event_code, event_category, \
    event_type, event_name, user_id, username, tenant_id, ip_address, session_id, \
    correlation_id, source, resource_type, resource_id, action, status, endpoint, \"timestamp\", \
    severity, importance, content_hash, created_at, processed_at, record_hash, chain_pos, \
    chain_hash, payload) FROM STDIN";

fn escape_into(out: &mut Vec<u8>, s: &str) {
    for &b in s.as_bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
}

fn text(out: &mut Vec<u8>, v: Option<&str>) {
    match v {
        Some(s) => escape_into(out, s),
        None => out.extend_from_slice(b"\\N"),
    }
    out.push(b'\t');
}

fn time(out: &mut Vec<u8>, t: DateTime<Utc>) {
    write!(out, "{}\t", t.format("%Y-%m-%d %H:%M:%S%.6f+00"))
        .expect("writing to a Vec cannot fail");
}

fn bytea(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(b"\\\\x");
    out.extend_from_slice(hex::encode(bytes).as_bytes());
}

/// Appends one event as a COPY text row (terminated by a newline), with its chain link
/// (`None` only for the benchmark's raw baseline). The cold fields go into `payload`; their
/// old columns are left out (NULL), but for the two that are NOT NULL, written empty (see
/// [`crate::payload`]).
pub(super) fn encode_row(
    out: &mut Vec<u8>,
    event: &ValidatedEvent,
    now: DateTime<Utc>,
    link: Option<&Link>,
    payloads: &PayloadCodec,
) {
    let r = event.record();
    text(out, Some(&r.event_id));
    text(out, r.event_code.as_deref());
    text(out, Some(&r.event_category));
    text(out, Some(&r.event_type));
    text(out, Some("")); // event_name
    text(out, r.user_id.as_deref());
    text(out, r.username.as_deref());
    text(out, r.tenant_id.as_deref());
    text(out, r.ip_address.map(|ip| ip.to_string()).as_deref());
    text(out, r.session_id.as_deref());
    text(out, r.correlation_id.as_deref());
    text(out, r.source.as_deref());
    text(out, r.resource_type.as_deref());
    text(out, r.resource_id.as_deref());
    text(out, Some("")); // action
    text(out, Some(&r.status));
    text(out, r.endpoint.as_deref());
    time(out, r.timestamp);
    text(out, Some(r.severity.as_str()));
    text(out, Some(r.importance.as_str()));
    bytea(out, &stored_hash(event));
    out.push(b'\t');
    time(out, now);
    time(out, now);
    match link {
        Some(link) => {
            bytea(out, &link.record_hash);
            write!(out, "\t{}\t", link.pos).expect("writing to a Vec cannot fail");
            bytea(out, &link.chain_hash);
        }
        None => out.extend_from_slice(b"\\N\t\\N\t\\N"),
    }
    out.push(b'\t');
    bytea(out, &payloads.encode(r));
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_copy_specials() {
        let mut out = Vec::new();
        text(&mut out, Some("a\tb\\c\nd"));
        text(&mut out, None);
        assert_eq!(out, b"a\\tb\\\\c\\nd\t\\N\t");
    }
}
