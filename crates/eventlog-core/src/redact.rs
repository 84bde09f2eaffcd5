//! Masking secrets before anything is stored: values under sensitive keys at any depth of
//! JSON, sensitive pairs in form-encoded bodies and query strings, `"key": "value"` pairs
//! inside JSON that arrived as a string, bearer tokens, JWTs and card numbers wherever they
//! appear in text.
//!
//! A key is sensitive when, lower-cased and stripped of `-` and `_`, it equals or ends with
//! one of [`SENSITIVE_KEYS`] (so `old_password`, `X-Api-Key` and `user_email` are masked,
//! while `token_expiry` is not), or contains one of [`SECRET_WORDS`] anywhere
//! (`password_confirmation`, `aws_secret_access_key`, `credentials`).

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::{Captures, Regex};
use serde_json::Value;

/// What replaces a secret.
pub const MASK: &str = "[REDACTED]";

/// Fields that name a setting in a key/value object (`{"key": "api_key", "value": ...}`).
const NAME_FIELDS: [&str; 5] = ["config_key", "key", "name", "setting", "field"];
/// The fields holding that setting's values.
const VALUE_FIELDS: [&str; 5] = ["value", "old_value", "new_value", "old", "new"];

/// Key endings treated as secret (seed 001's list plus the usual credentials, card codes
/// and the session cookies of common web frameworks).
pub const SENSITIVE_KEYS: &[&str] = &[
    "pass",
    "pwd",
    "token",
    "authorization",
    "cookie",
    "ssn",
    "creditcard",
    "cardnumber",
    "cvv",
    "cvv2",
    "cvc",
    "pin",
    "phone",
    "phonenumber",
    "email",
    "otp",
    "jwt",
    "bearer",
    "signature",
    "session",
    "sessid",
    "sid",
];

/// Words that make a key secret wherever they appear in it (`password1`, `passwordConfirm`,
/// `secret_key`, `aws_secret_access_key`, `credentials`).
pub const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "credential",
    "apikey",
    "privatekey",
    "accesskey",
];

static PAIR: LazyLock<Regex> = LazyLock::new(|| {
    // key=value in form bodies and query strings; the value runs to the next separator.
    Regex::new(r"(?P<key>[A-Za-z0-9_.\-\[\]]+)=(?P<value>[^&;\s]*)").expect("valid regex")
});
static QUOTED: LazyLock<Regex> = LazyLock::new(|| {
    // "key": "value" inside JSON text that arrived as a string (possibly with escaped quotes).
    Regex::new(r#"(?P<open>\\?"(?P<key>[A-Za-z0-9_\-]+)\\?"\s*:\s*)(?P<value>\\?"(?:[^"\\]|\\.)*?\\?"|[0-9.]+)"#)
        .expect("valid regex")
});
static BEARER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=\-]{8,}").expect("valid regex")
});
static JWT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*").expect("valid regex")
});
static CARD: LazyLock<Regex> = LazyLock::new(|| {
    // A card number as people write it: 15 to 19 digits in one run (starting 2-6, as the
    // card networks' numbers do), or groups of four (4-4-4-4, 4-4-4-4-3) or 4-6-5 (Amex)
    // split by single spaces or hyphens; not inside a longer word, id or number
    // (`AUTH-002-20261124-023716-1d87` holds no card).
    Regex::new(
        r"(?P<pre>^|[^\w\-])(?P<card>[2-6]\d{14,18}|\d{4}(?:[ \-]\d{4}){3}(?:[ \-]\d{3})?|\d{4}[ \-]\d{6}[ \-]\d{5})(?P<post>$|[^\w\-])",
    )
    .expect("valid regex")
});
static URL_PASSWORD: LazyLock<Regex> = LazyLock::new(|| {
    // scheme://user:password@host: the password of a URL's user part.
    Regex::new(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^/\s:@]*:)(?P<password>[^@\s/]+)@")
        .expect("valid regex")
});

/// Masks secrets; built once with the configured extra keys.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    extra_keys: Vec<String>,
    partial: PartialMasking,
}

/// Which values under sensitive keys keep a recognisable part instead of being masked
/// whole: useful when support staff must tell users apart without seeing the data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PartialMasking {
    /// `budi.santoso@sekolah.id` becomes `b***@sekolah.id`.
    pub email: bool,
    /// `+62 812-3456-7890` becomes `***7890` (the last four digits).
    pub phone: bool,
}

/// `b***@domain` for an address with one `@`, else the full mask.
pub fn mask_email(value: &str) -> String {
    match value.split_once('@') {
        Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !domain.contains('@') =>
        {
            let first = local.chars().next().map(String::from).unwrap_or_default();
            format!("{first}***@{domain}")
        }
        _ => MASK.to_owned(),
    }
}

/// `***` plus the last four digits for a number of at least eight digits, else the full
/// mask.
pub fn mask_phone(value: &str) -> String {
    let digits: Vec<char> = value.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 8 {
        return MASK.to_owned();
    }
    let last: String = digits[digits.len() - 4..].iter().collect();
    format!("***{last}")
}

fn normalise(key: &str) -> String {
    key.chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether `key`, ignoring ASCII case, `-` and `_`, ends with `suffix` (already normalised).
/// Allocation-free: it runs for every key of every payload.
fn ends_with_normalised(key: &str, suffix: &str) -> bool {
    let mut key_bytes = key.bytes().rev().filter(|b| *b != b'_' && *b != b'-');
    suffix.bytes().rev().all(|s| {
        key_bytes
            .next()
            .is_some_and(|k| k.to_ascii_lowercase() == s)
    })
}

/// Whether `key`, ignoring ASCII case, `-` and `_`, contains `word` (already normalised).
/// Allocation-free, like [`ends_with_normalised`]: it runs for every key of every payload.
fn contains_normalised(key: &str, word: &str) -> bool {
    let key = key.as_bytes();
    (0..key.len()).any(|start| {
        let mut rest = key[start..].iter().filter(|b| **b != b'_' && **b != b'-');
        word.bytes()
            .all(|w| rest.next().is_some_and(|k| k.to_ascii_lowercase() == w))
    })
}

/// Whether `haystack` contains `needle` (lower-case ASCII), ignoring ASCII case.
fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    haystack
        .as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

impl Redactor {
    /// A redactor that also treats keys ending in any of `extra_keys` as secret.
    pub fn new(extra_keys: &[String]) -> Self {
        Self {
            extra_keys: extra_keys.iter().map(|k| normalise(k)).collect(),
            partial: PartialMasking::default(),
        }
    }

    /// The same redactor, keeping part of emails and/or phone numbers (see [`PartialMasking`]).
    pub fn with_partial_masking(mut self, partial: PartialMasking) -> Self {
        self.partial = partial;
        self
    }

    /// What replaces the value `v` under the sensitive key `key`.
    fn masked(&self, key: &str, v: &Value) -> Value {
        match v {
            Value::String(s) if self.partial.email && ends_with_normalised(key, "email") => {
                Value::String(mask_email(s))
            }
            Value::String(s)
                if self.partial.phone
                    && (ends_with_normalised(key, "phone")
                        || ends_with_normalised(key, "phonenumber")) =>
            {
                Value::String(mask_phone(s))
            }
            _ => Value::String(MASK.to_owned()),
        }
    }

    /// Whether values under `key` are masked.
    pub fn is_sensitive_key(&self, key: &str) -> bool {
        SENSITIVE_KEYS.iter().any(|s| ends_with_normalised(key, s))
            || self.extra_keys.iter().any(|s| ends_with_normalised(key, s))
            || SECRET_WORDS.iter().any(|w| contains_normalised(key, w))
    }

    /// Masks secrets in `value` in place, at any depth.
    pub fn redact_value(&self, value: &mut Value) {
        match value {
            Value::Object(map) => {
                // A setting named by value, as config-change and key/value lists log it
                // (`{"config_key": "smtp_password", "old_value": ..., "new_value": ...}`):
                // its values are as secret as the name says.
                let names_a_secret = NAME_FIELDS.iter().any(|f| {
                    map.get(*f)
                        .and_then(Value::as_str)
                        .is_some_and(|name| self.is_sensitive_key(name))
                });
                for (key, v) in map.iter_mut() {
                    if self.is_sensitive_key(key)
                        || (names_a_secret && VALUE_FIELDS.contains(&key.as_str()))
                    {
                        if !v.is_null() {
                            *v = self.masked(key, v);
                        }
                    } else {
                        self.redact_value(v);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact_value(v)),
            Value::String(s) => {
                if let Cow::Owned(masked) = self.redact_text(s) {
                    *s = masked;
                }
            }
            _ => {}
        }
    }

    /// Masks secrets in free text; borrows when there is nothing to mask.
    pub fn redact_text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        // JSON that arrived as a string (any number of times encoded): mask it as JSON.
        let trimmed = text.trim_start();
        if trimmed.starts_with('{') || trimmed.starts_with('[') {
            if let Ok(mut inner) = serde_json::from_str::<Value>(text) {
                let before = inner.clone();
                self.redact_value(&mut inner);
                return if inner == before {
                    Cow::Borrowed(text)
                } else {
                    Cow::Owned(inner.to_string())
                };
            }
        }
        let mut out: Cow<'a, str> = Cow::Borrowed(text);
        if out.contains('=') {
            out = replace(out, &PAIR, |c| {
                if self.is_sensitive_key(&c["key"]) && !c["value"].is_empty() && &c["value"] != MASK
                {
                    format!("{}={MASK}", &c["key"])
                } else {
                    c[0].to_owned()
                }
            });
        }
        if out.contains(':') && out.contains('"') {
            out = replace(out, &QUOTED, |c| {
                if self.is_sensitive_key(&c["key"]) {
                    let quote = if c["value"].starts_with("\\\"") {
                        "\\\""
                    } else if c["value"].starts_with('"') {
                        "\""
                    } else {
                        ""
                    };
                    format!("{}{quote}{MASK}{quote}", &c["open"])
                } else {
                    c[0].to_owned()
                }
            });
        }
        if ["bearer", "basic", "token"]
            .iter()
            .any(|n| contains_ignore_case(&out, n))
        {
            out = replace(out, &BEARER, |c| format!("{} {MASK}", &c[1]));
        }
        if out.contains("eyJ") {
            out = replace(out, &JWT, |_| MASK.to_owned());
        }
        if out.contains("://") && out.contains('@') {
            out = replace(out, &URL_PASSWORD, |c| format!("{}{MASK}@", &c["head"]));
        }
        if out.bytes().filter(u8::is_ascii_digit).count() >= 15 {
            out = replace(out, &CARD, |c| {
                if luhn(&c["card"]) {
                    format!("{}{MASK}{}", &c["pre"], &c["post"])
                } else {
                    c[0].to_owned()
                }
            });
        }
        out
    }
}

fn replace<'a>(
    text: Cow<'a, str>,
    re: &Regex,
    f: impl Fn(&Captures<'_>) -> String,
) -> Cow<'a, str> {
    match re.replace_all(&text, |c: &Captures<'_>| f(c)) {
        Cow::Borrowed(_) => text,
        Cow::Owned(s) if s == *text => text,
        Cow::Owned(s) => Cow::Owned(s),
    }
}

/// The Luhn checksum of the digits in `s` (card numbers pass it; most other long numbers don't).
fn luhn(s: &str) -> bool {
    let digits: Vec<u32> = s.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                *d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn a_setting_named_as_a_secret_has_its_values_masked() {
        let r = Redactor::default();
        let mut v = json!({
            "config_key": "smtp_password", "old_value": "old-pw", "new_value": "new-pw",
            "settings": [{"key": "stripe_api_key", "value": "sk_live_x"}, {"key": "theme", "value": "dark"}],
        });
        r.redact_value(&mut v);
        assert_eq!(
            v,
            json!({
                "config_key": "smtp_password", "old_value": "[REDACTED]", "new_value": "[REDACTED]",
                "settings": [{"key": "stripe_api_key", "value": "[REDACTED]"}, {"key": "theme", "value": "dark"}],
            })
        );
    }

    #[test]
    fn masks_the_seed_000_login_body() {
        let r = Redactor::default();
        let mut v = json!({"raw_body": "username=admin&password=admin123&grant_type=password"});
        r.redact_value(&mut v);
        assert_eq!(
            v,
            json!({"raw_body": "username=admin&password=[REDACTED]&grant_type=password"})
        );
    }

    #[test]
    fn masks_keys_at_any_depth_but_not_lookalikes() {
        let r = Redactor::default();
        let mut v = json!({"user": {"Password": "p", "profile": [{"api_key": "k", "email": "a@b.c"}]},
            "headers": {"Authorization": "Bearer abc.def.ghi", "X-Api-Key": "zzz", "Cookie": "s=1"},
            "token_expiry": "2025-06-19", "access_token": null, "old_password": 5});
        r.redact_value(&mut v);
        assert_eq!(v["user"]["Password"], MASK);
        assert_eq!(v["user"]["profile"][0]["api_key"], MASK);
        assert_eq!(v["user"]["profile"][0]["email"], MASK);
        assert_eq!(v["headers"]["Authorization"], MASK);
        assert_eq!(v["headers"]["X-Api-Key"], MASK);
        assert_eq!(v["headers"]["Cookie"], MASK);
        assert_eq!(v["token_expiry"], "2025-06-19");
        assert_eq!(v["access_token"], Value::Null);
        assert_eq!(v["old_password"], MASK);
    }

    #[test]
    fn masks_secrets_in_text() {
        let r = Redactor::default();
        assert_eq!(
            r.redact_text("/api/login?user=a&token=xyz&page=2"),
            "/api/login?user=a&token=[REDACTED]&page=2"
        );
        assert_eq!(
            r.redact_text(r#"body {"password": "hunter2", "user": "bob"}"#),
            r#"body {"password": "[REDACTED]", "user": "bob"}"#
        );
        assert_eq!(
            r.redact_text(r#"{\"password\":\"hunter2\"}"#),
            r#"{\"password\":\"[REDACTED]\"}"#
        );
        assert_eq!(
            r.redact_text("auth failed for Bearer abcdefghijkl"),
            "auth failed for Bearer [REDACTED]"
        );
        assert_eq!(
            r.redact_text("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig-nature_x ok"),
            "jwt [REDACTED] ok"
        );
        assert_eq!(
            r.redact_text("card 4111 1111 1111 1111 used"),
            "card [REDACTED] used"
        );
        assert_eq!(
            r.redact_text("order 1234567890123 placed"),
            "order 1234567890123 placed",
            "not a Luhn number"
        );
        assert_eq!(
            r.redact_text("paid with 4111-1111-1111-1111, 378282246310005 and 3782 822463 10005."),
            "paid with [REDACTED], [REDACTED] and [REDACTED]."
        );
        assert_eq!(
            r.redact_text("db postgres://app:s3cr3t@db.internal:5432/x, ok"),
            "db postgres://app:[REDACTED]@db.internal:5432/x, ok"
        );
    }

    #[test]
    fn ids_timestamps_and_phone_numbers_are_not_cards() {
        let r = Redactor::default();
        // Luhn-valid digit runs inside an event id, an epoch in milliseconds, a phone number.
        for text in [
            "AUTH-002-20261124-023716-1d870d97c1c8",
            "trigger AUTH-001-20250619-143052-0000000000000001",
            "at 1732412345678",
            "call +62 812 3456 7890",
        ] {
            assert_eq!(r.redact_text(text), text);
        }
    }

    #[test]
    fn secret_words_mask_wherever_they_appear_in_a_key() {
        let r = Redactor::default();
        let mut v = json!({
            "password_confirmation": "x", "passwordConfirm": "x", "password1": "x",
            "passphrase": "x", "secret_key": "x", "secretKey": "x",
            "aws_secret_access_key": "x", "credentials": "x", "jwt": "x", "cvc": "x",
            "cvv2": "x", "laravel_session": "x", "PHPSESSID": "x", "connect.sid": "x",
            "pass": "x", "signature": "x",
            "passenger_count": 2, "session_timeout": 30, "token_expiry": "2025-06-19"
        });
        r.redact_value(&mut v);
        for (key, value) in v.as_object().unwrap() {
            let kept =
                ["passenger_count", "session_timeout", "token_expiry"].contains(&key.as_str());
            assert_eq!(value == MASK, !kept, "{key}: {value}");
        }
        assert_eq!(
            r.redact_text("name=a&password_confirmation=X&pass=Y"),
            "name=a&password_confirmation=[REDACTED]&pass=[REDACTED]"
        );
        assert!(matches!(r.redact_text("nothing to see"), Cow::Borrowed(_)));
    }

    #[test]
    fn extra_keys_are_configurable() {
        let r = Redactor::new(&["nik".to_owned()]);
        let mut v = json!({"student_nik": "3201", "nis": "1"});
        r.redact_value(&mut v);
        assert_eq!(v, json!({"student_nik": MASK, "nis": "1"}));
    }

    fn secret() -> impl Strategy<Value = String> {
        "[A-Za-z0-9]{6,20}".prop_map(|s| format!("S3cr{s}"))
    }

    fn key() -> impl Strategy<Value = String> {
        prop::sample::select(vec![
            "password",
            "api_key",
            "Authorization",
            "client_secret",
            "refresh-token",
            "ssn",
            "Email",
            "x_api_key",
        ])
        .prop_map(str::to_owned)
    }

    fn bury(depth: usize, inner: Value) -> Value {
        (0..depth).fold(inner, |acc, i| {
            if i % 2 == 0 {
                json!({"level": acc, "n": i})
            } else {
                json!([1, acc])
            }
        })
    }

    #[test]
    fn partial_masking_keeps_a_recognisable_part() {
        let r = Redactor::default().with_partial_masking(PartialMasking {
            email: true,
            phone: true,
        });
        let mut v = json!({"user": {"email": "budi.santoso@sekolah.id", "phone": "+62 812-3456-7890",
            "parent_phone": "12", "password": "x"}});
        r.redact_value(&mut v);
        assert_eq!(v["user"]["email"], "b***@sekolah.id");
        assert_eq!(v["user"]["phone"], "***7890");
        assert_eq!(v["user"]["parent_phone"], MASK);
        assert_eq!(v["user"]["password"], MASK);
        let mut v = json!({"email": "a@b.c"});
        Redactor::default().redact_value(&mut v);
        assert_eq!(v["email"], MASK, "off by default");
    }

    proptest! {
        #[test]
        fn partial_email_masking_never_reveals_more_than_the_first_letter_and_domain(
            local in "[a-z0-9._]{2,20}", domain in "[a-z]{2,10}\\.[a-z]{2,3}", depth in 0usize..8
        ) {
            let address = format!("{local}@{domain}");
            let mut v = bury(depth, json!({ "contact_email": address }));
            Redactor::default().with_partial_masking(PartialMasking { email: true, phone: false }).redact_value(&mut v);
            let text = v.to_string();
            let first = &local[..1];
            prop_assert!(text.contains(&format!("\"contact_email\":\"{first}***@{domain}\"")), "{}", text);
        }

        #[test]
        fn partial_phone_masking_keeps_at_most_four_digits(
            digits in "[0-9]{8,15}", sep in prop::sample::select(vec!["", " ", "-"]), depth in 0usize..8
        ) {
            let phone = format!("+{}{sep}{}", &digits[..2], &digits[2..]);
            let mut v = bury(depth, json!({ "phone_number": phone }));
            Redactor::default().with_partial_masking(PartialMasking { email: false, phone: true }).redact_value(&mut v);
            let text = v.to_string();
            prop_assert!(text.contains(&format!("\"phone_number\":\"***{}\"", &digits[digits.len() - 4..])), "{}", text);
        }

        #[test]
        fn no_secret_survives_under_a_sensitive_key_at_any_depth(k in key(), s in secret(), depth in 0usize..12) {
            let mut v = bury(depth, json!({ k.clone(): s.clone(), "other": "visible" }));
            Redactor::default().redact_value(&mut v);
            let text = v.to_string();
            prop_assert!(!text.contains(&s), "{}", text);
            prop_assert!(text.contains("visible"));
        }

        #[test]
        fn no_secret_survives_in_form_or_query_encoding(k in key(), s in secret(), before in "[a-z]{1,8}", depth in 0usize..6) {
            let form = format!("{before}=1&{k}={s}&z=2");
            let mut v = bury(depth, json!({ "body": form, "url": format!("/x?{k}={s}") }));
            Redactor::default().redact_value(&mut v);
            prop_assert!(!v.to_string().contains(&s), "{}", v);
        }

        #[test]
        fn no_secret_survives_in_json_text(k in key(), s in secret()) {
            let text = json!({ k.clone(): s.clone(), "a": 1 }).to_string();
            let mut v = json!({ "raw": text.clone(), "double": json!({"raw": text}).to_string() });
            Redactor::default().redact_value(&mut v);
            prop_assert!(!v.to_string().contains(&s), "{}", v);
        }
    }
}
