//! Endpoint templates: `/api/siswa/1234` and `/api/siswa/5678` are one endpoint to the
//! person reading an error-rate or latency report, and to the rollups that feed it.
//!
//! Clients log the raw request path (seed 002's FastAPI middleware logs `request.url.path`),
//! so a report grouped by raw path has one row per student, order or token, and the rollups
//! keep one row per distinct path per minute. [`template`] replaces the path segments that
//! identify a record with `{id}`; the stored event keeps its raw `endpoint`.
//!
//! A segment is an identifier when it is
//! - made of digits and the separators `- _ . : ,` with at least one digit (`1234`,
//!   `2025-06-19`, `14:30:52`), starting with a digit it may also hold the `T` and `Z` of
//!   an RFC 3339 time (`2025-06-19T10:00:00Z`);
//! - a hexadecimal string of 12 characters or more with at least one digit, dashes allowed
//!   (UUIDs, hashes, object ids);
//! - a token of 20 characters or more (letters, digits and `- _ . ~ = + % :`) with at least
//!   one digit (seed-style event ids such as `AUTH-001-20250619-143052-7f3a`, opaque
//!   tokens);
//! - a record number: letters and digits joined by `-` or `_`, with 4 digits or more
//!   (`STD-2025-001`, the seeds' student ids, `ORD-12345`, `inv_2024_0042`).
//!
//! Words, versions (`v2`, `sha256`), file names (`export.csv`) and short codes
//! (`AUTH-001`) stay.

use std::borrow::Cow;

/// What an identifier segment becomes.
pub const ID_PLACEHOLDER: &str = "{id}";

/// The template of a request path: identifier segments become `{id}`, and the query
/// string and fragment are dropped. Borrows when nothing changes.
pub fn template(path: &str) -> Cow<'_, str> {
    let bare = path.find(['?', '#']).map_or(path, |end| &path[..end]);
    if !bare.split('/').any(is_identifier) {
        return Cow::Borrowed(bare);
    }
    let mut out = String::with_capacity(bare.len());
    for (i, segment) in bare.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(if is_identifier(segment) {
            ID_PLACEHOLDER
        } else {
            segment
        });
    }
    Cow::Owned(out)
}

/// An event name with each path in it templated: `GET /api/siswa/1234` becomes
/// `GET /api/siswa/{id}` (seed 002 names request events `"{method} {path}"`), as do a
/// whole URL and a path without its first `/` after an HTTP method, as `endpoint` is
/// templated. Other words stay as they are (`Kelas 10/2`, `Fix #12/#13`).
pub fn template_name(name: &str) -> Cow<'_, str> {
    if !name.contains('/') {
        return Cow::Borrowed(name);
    }
    // Each path is templated once; the name is rebuilt only if one of them changed.
    let mut after_method = false;
    let words: Vec<Cow<'_, str>> = name
        .split(' ')
        .map(|word| {
            let path = word.starts_with('/') || word.contains("://") || after_method;
            after_method = HTTP_METHODS.contains(&word);
            if path {
                template(word)
            } else {
                Cow::Borrowed(word)
            }
        })
        .collect();
    if words.iter().zip(name.split(' ')).all(|(t, w)| t == w) {
        return Cow::Borrowed(name);
    }
    Cow::Owned(words.join(" "))
}

/// The methods a request event's name may start with.
const HTTP_METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// Whether a path segment names a record rather than a resource (see the module docs).
fn is_identifier(segment: &str) -> bool {
    let bytes = segment.as_bytes();
    if !bytes.iter().any(u8::is_ascii_digit) {
        return false;
    }
    let numeric = bytes[0].is_ascii_digit()
        && bytes
            .iter()
            .all(|b| b.is_ascii_digit() || b"-_.:,TZ".contains(b))
        || bytes
            .iter()
            .all(|b| b.is_ascii_digit() || b"-_.:,".contains(b));
    let hex = bytes.len() >= 12 && bytes.iter().all(|b| b.is_ascii_hexdigit() || *b == b'-');
    let token = bytes.len() >= 20
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.~=+%:".contains(b));
    let record_number = bytes.iter().any(|b| matches!(b, b'-' | b'_'))
        && bytes.iter().filter(|b| b.is_ascii_digit()).count() >= 4
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
    numeric || hex || token || record_number
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn record_ids_become_placeholders() {
        for (raw, want) in [
            ("/api/siswa/1234", "/api/siswa/{id}"),
            ("/api/siswa/1234/nilai/7", "/api/siswa/{id}/nilai/{id}"),
            ("/api/reports/2025-06-19", "/api/reports/{id}"),
            (
                "/api/prediksi/3f2b8c1e-9d4a-4e7b-8f21-0c5d6e7f8a9b/result",
                "/api/prediksi/{id}/result",
            ),
            ("/api/files/5f8d0d55b54764421b7156c3", "/api/files/{id}"),
            (
                "/api/events/AUTH-001-20250619-143052-7f3a",
                "/api/events/{id}",
            ),
            ("/api/siswa/1234?page=2", "/api/siswa/{id}"),
            ("/api/a/2025-06-19T10:00:00Z", "/api/a/{id}"),
            ("/api/logs/2025-06-19T10:00Z/tail", "/api/logs/{id}/tail"),
            ("/api/x/2025-06-19T10:00:00.123456Z", "/api/x/{id}"),
            ("/api/siswa?q=budi#top", "/api/siswa"),
            ("/api/siswa/STD-2025-001", "/api/siswa/{id}"),
            ("/api/orders/ORD-12345/items", "/api/orders/{id}/items"),
            ("/api/invoices/inv_2024_0042", "/api/invoices/{id}"),
        ] {
            assert_eq!(template(raw), want, "{raw}");
        }
    }

    #[test]
    fn resource_names_stay() {
        for path in [
            "/",
            "",
            "/api/auth/login",
            "/api/v2/siswa",
            "/api/siswa/export.csv",
            "/api/catalog/AUTH-001",
            "/api/2fa/verify",
            "/api/hash/sha256",
            "/api/v2024/siswa",
            "/api/formats/iso8601",
            "/api/codes/SEC-001",
            "/api/prediksi/individual",
            "/api/administration/accessibility",
            "/api/added-facade-cafe",
            "/static/app.min.js",
        ] {
            assert!(
                matches!(template(path), Cow::Borrowed(p) if p == path),
                "{path}"
            );
        }
    }

    #[test]
    fn names_template_their_paths_only() {
        assert_eq!(template_name("GET /api/siswa/1234"), "GET /api/siswa/{id}");
        assert_eq!(template_name("User Login 2"), "User Login 2");
        // As `endpoint` is templated: a path without its first `/`, a whole URL.
        assert_eq!(template_name("GET api/noslash/42"), "GET api/noslash/{id}");
        assert_eq!(
            template_name("GET https://host.example/api/x/1?y=2"),
            "GET https://host.example/api/x/{id}"
        );
        assert_eq!(
            template_name("GET https://host.example/api/x/1?y=2"),
            format!("GET {}", template("https://host.example/api/x/1?y=2"))
        );
        for words in ["Login/Logout", "Kelas 10/2", "Fix #12/#13", "GET"] {
            assert!(matches!(template_name(words), Cow::Borrowed(_)), "{words}");
        }
        assert!(matches!(
            template_name("POST /api/auth/login"),
            Cow::Borrowed(_)
        ));
    }

    proptest! {
        #[test]
        fn templating_is_idempotent(path in "(/[a-z0-9A-F._:-]{0,40}){0,6}(\\?[a-z=&0-9]{0,10})?") {
            let once = template(&path).into_owned();
            prop_assert_eq!(template(&once), once.as_str());
        }

        #[test]
        fn only_identifier_segments_change(path in "(/[a-z0-9._-]{0,30}){1,6}") {
            let out = template(&path);
            let before: Vec<&str> = path.split('/').collect();
            let after: Vec<&str> = out.split('/').collect();
            prop_assert_eq!(before.len(), after.len());
            for (b, a) in before.iter().zip(&after) {
                prop_assert!(a == b || (*a == ID_PLACEHOLDER && is_identifier(b)), "{} -> {}", b, a);
                prop_assert!(!(a == b && !b.is_empty() && b.bytes().all(|c| c.is_ascii_digit())));
            }
        }
    }
}
