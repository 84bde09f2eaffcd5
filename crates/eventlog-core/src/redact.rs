//! Masking secrets before anything is stored: values under sensitive keys at any depth of
//! JSON (and in `[name, value]` pair lists, the ASGI header shape), sensitive pairs in
//! form-encoded bodies, query strings and log or YAML lines (`key=value`, `key: value`,
//! `'key': 'value'`), `"key": "value"` pairs inside JSON that arrived as a string,
//! `<key>value</key>` XML elements, and, wherever they appear in text: bearer tokens, JWTs,
//! card numbers, URL passwords, PEM private key blocks and prefixed API tokens (Stripe
//! `sk_live_`, GitHub `ghp_`, Slack `xoxb-`, AWS `AKIA...`, Google `AIza...`).
//!
//! A key is sensitive when, lower-cased and stripped of `-`, `_` and spaces, it equals or
//! ends with one of [`SENSITIVE_KEYS`] (so `old_password`, `X-Api-Key` and `user_email` are
//! masked, while `token_expiry` is not; `sid`, `auth` and `sig` only as a whole word:
//! `connect.sid`, `x-auth` and `url_sig` are masked, `class_id` and `oauth` are not), or contains one of [`SECRET_WORDS`] anywhere
//! (`password_confirmation`, `aws_secret_access_key`, `credentials`). A key is also checked
//! percent-decoded (`pass%77ord`, `api+key`) and segment by segment when it has brackets
//! (`auth[token]`, `user%5Bpassword%5D`), as frameworks parse form fields.
//!
//! Text holding percent-escapes is also checked decoded (up to [`MAX_DEPTH`] layers): when
//! the decoded form reveals a secret (`next=/x%3Fpassword%3Dp1`), the decoded text is kept,
//! masked, instead of the original (control characters stay encoded).
//!
//! A header, YAML or INI line that opens with a sensitive key (`password: correct horse`,
//! `> Authorization: Negotiate ...`) is masked to its end; elsewhere a pair's value runs to
//! the next separator. Pairs joined by commas inside one value (`host=db,password=x`) are
//! each looked at, and what follows a masked one without a key of its own is taken as part
//! of its secret (a comma inside a password).

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::{Captures, Regex};
use serde_json::{Map, Value};

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
    "auth",
    "sig",
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

/// How many layers of percent-encoding (and of pairs nested in values) are looked through.
pub const MAX_DEPTH: usize = 3;

static PAIR: LazyLock<Regex> = LazyLock::new(|| {
    // key=value (form bodies, query strings) and key: value (log lines, YAML, headers), the
    // key possibly quoted ('key': 'value', Python's dict repr) and percent-encoded or
    // bracketed (user%5Bpassword%5D=x). A value is quoted, an auth scheme and its
    // credential (`Authorization: Bearer x`), or runs to the next separator.
    Regex::new(
        r#"(?P<pre>^|[^A-Za-z0-9_.\-\[\]%+])(?P<q1>['"]?)(?P<key>[A-Za-z0-9_.\-\[\]%+]+)(?P<q2>['"]?)(?P<sep>[ \t]*[:=][ \t]*)(?P<value>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|(?:(?i:bearer|basic|digest|token|negotiate|ntlm)[ \t]+)?[^&;\s]*)"#,
    )
    .expect("valid regex")
});
static LINE_PAIR: LazyLock<Regex> = LazyLock::new(|| {
    // `key: value` or `key = value` opening a line (a header, YAML, INI; after a list dash
    // or curl's `>`): the value runs to the end of the line. A space must follow the
    // separator, so `Session::refresh` and `a=b&c=d` are not such lines.
    Regex::new(
        r#"(?m)(?P<head>^[ \t]*(?:[-><][ \t]+)?['"]?(?P<key>[A-Za-z0-9_.\-]+)['"]?[ \t]*[:=][ \t]+)(?P<value>[^\r\n]*[^\s])"#,
    )
    .expect("valid regex")
});
static COOKIE_HEADER: LazyLock<Regex> = LazyLock::new(|| {
    // A Cookie or Set-Cookie header line: every cookie in it, not only the first pair.
    Regex::new(r"(?i)(?P<head>\b(?:set-)?cookie[ \t]*:[ \t]*)[^\r\n]*[^\s]").expect("valid regex")
});
static XML: LazyLock<Regex> = LazyLock::new(|| {
    // <tag attrs>value</tag>; the regex crate has no back-references, so the closing tag is
    // compared with the opening one by the caller.
    Regex::new(
        r"(?s)<(?P<tag>[A-Za-z_][\w.:\-]*)(?P<attrs>\s[^<>]*)?>(?P<value>(?:<!\[CDATA\[.*?\]\]>|[^<])*)</(?P<close>[A-Za-z_][\w.:\-]*)\s*>",
    )
    .expect("valid regex")
});
static PEM: LazyLock<Regex> = LazyLock::new(|| {
    // A private key block, to its END line or, cut short, to the end of the text.
    Regex::new(
        r"(?s)(?P<begin>-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----)(?P<body>.*?)(?P<end>-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\z)",
    )
    .expect("valid regex")
});
static API_TOKEN: LazyLock<Regex> = LazyLock::new(|| {
    // Tokens whose prefix says what they are: Stripe secret and restricted keys, GitHub
    // tokens, Slack tokens, AWS access key ids, Google API keys.
    Regex::new(
        r"\b(?:[sr]k_(?:live|test)_[0-9A-Za-z]{10,}|gh[pousr]_[0-9A-Za-z]{20,}|github_pat_[0-9A-Za-z_]{20,}|xox[abprs]-[0-9A-Za-z\-]{10,}|AKIA[0-9A-Z]{16}|AIza[0-9A-Za-z_\-]{35})\b",
    )
    .expect("valid regex")
});
static QUOTED: LazyLock<Regex> = LazyLock::new(|| {
    // "key": "value" inside JSON text that arrived as a string (possibly with escaped quotes).
    Regex::new(r#"(?P<open>\\?"(?P<key>[A-Za-z0-9_\-]+)\\?"\s*:\s*)(?P<value>\\?"(?:[^"\\]|\\.)*?\\?"|[0-9.]+)"#)
        .expect("valid regex")
});
static BEARER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(bearer|basic|token)\s+(?P<credential>[A-Za-z0-9._~+/=\-]{8,})")
        .expect("valid regex")
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

/// Endings that name a secret only as a whole word of the key (`connect.sid`, `sid`,
/// `userSid`, `auth`, `x-auth`, `sig`, `url_sig`), because as a bare ending they catch
/// ordinary names (`class_id`, `oauth`, `config`). Other short
/// endings stay plain endings (`dbpass`, `newpwd`, `totp`): a stray mask there costs less.
const WHOLE_WORD_ENDINGS: &[&str] = &["sid", "auth", "sig"];

/// Bytes a key comparison skips: `API_KEY`, `api-key` and `api key` are one key.
fn ignored(b: u8) -> bool {
    matches!(b, b'_' | b'-' | b' ')
}

fn normalise(key: &str) -> String {
    key.chars()
        .filter(|c| !matches!(c, '_' | '-' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether `key`, ignoring ASCII case, `-`, `_` and spaces, ends with `suffix` (already
/// normalised).
/// Allocation-free: it runs for every key of every payload.
fn ends_with_normalised(key: &str, suffix: &str) -> bool {
    let mut key_bytes = key.bytes().rev().filter(|b| !ignored(*b));
    suffix.bytes().rev().all(|s| {
        key_bytes
            .next()
            .is_some_and(|k| k.to_ascii_lowercase() == s)
    })
}

/// `%41` -> `A` (and `+` -> space, as in form fields, if `plus` is set); an invalid escape
/// stays as written. Borrows when there is nothing to decode.
fn percent_decode(s: &str, plus: bool) -> Cow<'_, str> {
    if !s.bytes().any(|b| b == b'%' || (plus && b == b'+')) {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                // Control characters stay encoded: validation refused them in the text,
                // and decoding must not bring them back (a NUL breaks PostgreSQL's COPY).
                (Some(h), Some(l)) if !((h * 16 + l) as u8).is_ascii_control() => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(decoded) if decoded == s => Cow::Borrowed(s),
        Ok(decoded) => Cow::Owned(decoded),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
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

    /// Whether values under `key` are masked: the key as written, percent-decoded, and each
    /// of its bracket segments (`auth[token]` is a token, as PHP and Rails parse it).
    pub fn is_sensitive_key(&self, key: &str) -> bool {
        let (sensitive, decodable) = self.check_name(key);
        if sensitive {
            return true;
        }
        // Fast path: most keys have nothing to decode or split.
        if !decodable {
            return false;
        }
        let mut decoded = Cow::Borrowed(key);
        for _ in 0..MAX_DEPTH {
            match percent_decode(&decoded, true) {
                Cow::Owned(next) => decoded = Cow::Owned(next),
                Cow::Borrowed(_) => break,
            }
        }
        (decoded != key && self.check_name(&decoded).0)
            || decoded
                .split(['[', ']'])
                .any(|segment| !segment.is_empty() && self.check_name(segment).0)
    }

    /// Whether `key` as written names a secret, and whether it holds `%`, `+` or `[` (is
    /// worth decoding or splitting). Normalises into a stack buffer: this runs for every key
    /// of every payload.
    fn check_name(&self, key: &str) -> (bool, bool) {
        let mut buf = [0u8; 64];
        // Bit i: a word of the key starts at buf[i] (after a separator, or a lower-case
        // letter followed by a capital), so that WHOLE_WORD_ENDINGS match whole words only.
        let mut word_starts = 0u64;
        let mut len = 0;
        let mut decodable = false;
        let mut previous: Option<u8> = None;
        for b in key.bytes() {
            decodable |= matches!(b, b'%' | b'+' | b'[');
            let starts_word = match previous {
                None => true,
                Some(p) => {
                    !p.is_ascii_alphanumeric() || (p.is_ascii_lowercase() && b.is_ascii_uppercase())
                }
            };
            previous = Some(b);
            if ignored(b) {
                continue;
            }
            if starts_word && len < 64 {
                word_starts |= 1 << len;
            }
            let Some(slot) = buf.get_mut(len) else {
                // A long key: normalised once, then searched in linear time.
                let k = normalise(key);
                let k = k.as_bytes();
                let sensitive = SENSITIVE_KEYS.iter().any(|s| k.ends_with(s.as_bytes()))
                    || self.extra_keys.iter().any(|s| k.ends_with(s.as_bytes()))
                    || SECRET_WORDS
                        .iter()
                        .any(|w| k.windows(w.len()).any(|x| x == w.as_bytes()));
                let decodable = key.bytes().any(|b| matches!(b, b'%' | b'+' | b'['));
                return (sensitive, decodable);
            };
            *slot = b.to_ascii_lowercase();
            len += 1;
        }
        let k = &buf[..len];
        let ends_with = |s: &str| {
            k.ends_with(s.as_bytes())
                && (!WHOLE_WORD_ENDINGS.contains(&s) || word_starts & (1 << (len - s.len())) != 0)
        };
        let sensitive = SENSITIVE_KEYS.iter().any(|s| ends_with(s))
            || self.extra_keys.iter().any(|s| ends_with(s))
            || SECRET_WORDS.iter().any(|w| {
                let w = w.as_bytes();
                k.windows(w.len()).any(|x| x[0] == w[0] && x == w)
            });
        (sensitive, decodable)
    }

    /// Whether some `key=` or `key:` in `text` names a secret, the key read back from the
    /// separator as [`PAIR`] reads it: that regex (slow, with captures) only runs if so.
    fn has_sensitive_pair(&self, text: &str) -> bool {
        let b = text.as_bytes();
        (0..b.len())
            .filter(|&i| matches!(b[i], b':' | b'='))
            .any(|i| {
                let mut end = i;
                while end > 0 && matches!(b[end - 1], b' ' | b'\t') {
                    end -= 1;
                }
                if end > 0 && matches!(b[end - 1], b'"' | b'\'') {
                    end -= 1;
                }
                let mut start = end;
                while start > 0 && is_key_byte(b[start - 1]) {
                    start -= 1;
                }
                // ASCII on both sides, so these are char boundaries.
                start < end && self.is_sensitive_key(&text[start..end])
            })
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
            // `[["x-api-key", "..."], ...]`: headers as ASGI (FastAPI, Starlette) and
            // `dict.items()` give them; a name/value pair is as secret as its name says.
            // Only lists made wholly of such pairs, so `["email", "profile"]` (OAuth
            // scopes) keeps its second item.
            Value::Array(items) if is_pair_list(items) => {
                for pair in items.iter_mut().filter_map(Value::as_array_mut) {
                    if let [Value::String(name), v] = pair.as_mut_slice() {
                        if self.is_sensitive_key(name) {
                            if !v.is_null() {
                                *v = self.masked(name, v);
                            }
                            continue;
                        }
                    }
                    pair.iter_mut().for_each(|v| self.redact_value(v));
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact_value(v)),
            Value::String(s) => self.redact_string(s),
            _ => {}
        }
    }

    /// Masks secrets in a JSON object at any depth, its keys included (`related`).
    pub fn redact_object(&self, map: &mut Map<String, Value>) {
        let mut value = Value::Object(std::mem::take(map));
        self.redact_value(&mut value);
        if let Value::Object(masked) = value {
            *map = masked;
        }
    }

    /// [`Self::redact_text`] in place: `text` is replaced only when something was masked.
    pub fn redact_string(&self, text: &mut String) {
        if let Cow::Owned(masked) = self.redact_text(text) {
            *text = masked;
        }
    }

    /// Masks secrets in free text; borrows when there is nothing to mask.
    pub fn redact_text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        self.redact_text_at(text, 0)
    }

    /// [`Self::redact_text`], `depth` layers into percent-encoded text or pair values.
    fn redact_text_at<'a>(&self, text: &'a str, depth: usize) -> Cow<'a, str> {
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
        let hints = Hints::of(text);
        let mut out: Cow<'a, str> = Cow::Borrowed(text);
        // First, as its lines could look like pairs.
        if hints.pem {
            out = replace(out, &PEM, |c| format!("{}{MASK}{}", &c["begin"], &c["end"]));
        }
        if hints.colon && hints.quote {
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
        if (hints.colon || hints.eq) && self.has_sensitive_pair(&out) {
            if hints.cookie && hints.colon {
                out = replace(out, &COOKIE_HEADER, |c| {
                    if c[0][c["head"].len()..] == *MASK {
                        c[0].to_owned()
                    } else {
                        format!("{}{MASK}", &c["head"])
                    }
                });
            }
            {
                // `password: correct horse battery staple`, `Authorization: Negotiate YII...`:
                // a header or YAML line whose key names a secret is a secret to its end.
                out = replace(out, &LINE_PAIR, |c| {
                    if self.is_sensitive_key(&c["key"]) && c["value"] != *MASK {
                        format!("{}{MASK}", &c["head"])
                    } else {
                        c[0].to_owned()
                    }
                });
            }
            out = replace(out, &PAIR, |c| self.pair(c, depth));
        }
        if hints.xml {
            out = replace(out, &XML, |c| {
                let value = &c["value"];
                if c["tag"] == c["close"]
                    && !value.trim().is_empty()
                    && value != MASK
                    && self.is_sensitive_key(&c["tag"])
                {
                    let attrs = c.name("attrs").map_or("", |m| m.as_str());
                    format!("<{}{attrs}>{MASK}</{}>", &c["tag"], &c["close"])
                } else {
                    c[0].to_owned()
                }
            });
        }
        if hints.auth_scheme {
            out = replace(out, &BEARER, |c| {
                // `Token Generated` is an event name, not a credential.
                if c[1].eq_ignore_ascii_case("bearer") || looks_random(&c["credential"]) {
                    format!("{} {MASK}", &c[1])
                } else {
                    c[0].to_owned()
                }
            });
        }
        if hints.jwt {
            out = replace(out, &JWT, |_| MASK.to_owned());
        }
        if hints.api_token {
            out = replace(out, &API_TOKEN, |_| MASK.to_owned());
        }
        if hints.url && hints.at {
            out = replace(out, &URL_PASSWORD, |c| format!("{}{MASK}@", &c["head"]));
        }
        if hints.digits >= 15 {
            out = replace(out, &CARD, |c| {
                if luhn(&c["card"]) {
                    format!("{}{MASK}{}", &c["pre"], &c["post"])
                } else {
                    c[0].to_owned()
                }
            });
        }
        // A secret behind percent-escapes (`%3Fpassword%3Dp1`, `4111%201111...`): if the
        // decoded text gives one away, keep the decoded text, masked.
        if depth < MAX_DEPTH && hints.percent {
            if let Cow::Owned(decoded) = percent_decode(&out, false) {
                if let Cow::Owned(masked) = self.redact_text_at(&decoded, depth + 1) {
                    return Cow::Owned(masked);
                }
            }
        }
        out
    }

    /// `host=db,user=app,password=x`: pairs joined by commas inside one value (which the
    /// first pair's value swallowed), each looked at in one pass rather than one nesting
    /// level each. Segments without a key after a masked one belong to its secret (a comma
    /// inside a password). `None` when none names a secret.
    fn comma_pairs(&self, value: &str) -> Option<String> {
        let mut changed = false;
        let mut in_secret = false;
        let mut kept: Vec<Cow<'_, str>> = Vec::new();
        for segment in value.split(',') {
            let pair = segment
                .find(['=', ':'])
                .map(|at| segment.split_at(at))
                .filter(|(key, _)| !key.is_empty() && key.bytes().all(is_key_byte));
            let Some((key, rest)) = pair else {
                if !in_secret {
                    kept.push(Cow::Borrowed(segment));
                }
                continue;
            };
            let value = &rest[1..];
            in_secret = !value.is_empty() && value != MASK && self.is_sensitive_key(key);
            if in_secret {
                changed = true;
                kept.push(Cow::Owned(format!("{key}{}{MASK}", &rest[..1])));
            } else {
                kept.push(Cow::Borrowed(segment));
            }
        }
        changed.then(|| kept.join(","))
    }

    /// One `key=value` or `key: value` match: the value masked if the key is sensitive,
    /// else the value itself redacted (`error: password=x`, `next=/a?token=x`).
    fn pair(&self, c: &Captures<'_>, depth: usize) -> String {
        let value = &c["value"];
        let quote = match value.as_bytes().first() {
            Some(q @ (b'"' | b'\'')) if value.len() >= 2 && value.ends_with(*q as char) => {
                &value[..1]
            }
            _ => "",
        };
        let inner = &value[quote.len()..value.len() - quote.len()];
        let head = &c[0][..c[0].len() - value.len()];
        // `Session::refresh`, `std::io`: a path, not a pair.
        let path = c["sep"].trim() == ":" && inner.starts_with(':');
        if inner.is_empty() || inner == MASK || path {
            return c[0].to_owned();
        }
        if self.is_sensitive_key(&c["key"]) {
            return format!("{head}{quote}{MASK}{quote}");
        }
        if quote.is_empty() && inner.contains(',') {
            if let Some(masked) = self.comma_pairs(inner) {
                // Pairs nested deeper in what is left (`next=/cb?token=T`) are looked at too.
                let masked = match depth < MAX_DEPTH {
                    true => self.redact_text_at(&masked, depth + 1).into_owned(),
                    false => masked,
                };
                return format!("{head}{masked}");
            }
        }
        if depth < MAX_DEPTH && (inner.contains('=') || inner.contains(':')) {
            if let Cow::Owned(masked) = self.redact_text_at(inner, depth + 1) {
                return format!("{head}{quote}{masked}{quote}");
            }
        }
        c[0].to_owned()
    }
}

/// Whether a word after `Basic` or `Token` is a credential rather than English: it has a
/// digit, a symbol of base64 or of a token, or a capital after its first letter.
fn looks_random(s: &str) -> bool {
    s.bytes().enumerate().any(|(i, b)| {
        b.is_ascii_digit()
            || matches!(b, b'+' | b'/' | b'=' | b'_' | b'~')
            || (i > 0 && b.is_ascii_uppercase())
    })
}

/// What a text holds that a rule looks for, found in one pass over its bytes, so that rules
/// that cannot match are skipped without running their regex. Masking only removes such
/// features, so the hints of a text stay true (as an upper bound) while it is masked.
#[derive(Default)]
struct Hints {
    colon: bool,
    eq: bool,
    quote: bool,
    percent: bool,
    at: bool,
    url: bool,
    xml: bool,
    pem: bool,
    jwt: bool,
    api_token: bool,
    auth_scheme: bool,
    cookie: bool,
    digits: usize,
}

impl Hints {
    fn of(text: &str) -> Self {
        let b = text.as_bytes();
        let mut h = Hints::default();
        for (i, &c) in b.iter().enumerate() {
            let rest = &b[i..];
            let starts_ci = |word: &[u8]| {
                rest.len() >= word.len() && rest[..word.len()].eq_ignore_ascii_case(word)
            };
            match c {
                b'0'..=b'9' => h.digits += 1,
                b':' => {
                    h.colon = true;
                    h.url |= rest.starts_with(b"://");
                }
                b'=' => h.eq = true,
                b'"' => h.quote = true,
                b'%' => h.percent = true,
                b'@' => h.at = true,
                b'<' => h.xml |= rest.starts_with(b"</"),
                b'-' => h.pem |= rest.starts_with(b"-----BEGIN"),
                b'e' => h.jwt |= rest.starts_with(b"eyJ"),
                b'x' => h.api_token |= rest.starts_with(b"xox"),
                b'A' => h.api_token |= rest.starts_with(b"AKIA") || rest.starts_with(b"AIza"),
                b'k' => h.api_token |= rest.starts_with(b"k_live_") || rest.starts_with(b"k_test_"),
                b'g' => {
                    h.api_token |= rest.starts_with(b"github_pat_")
                        || (rest.len() > 3
                            && rest[1] == b'h'
                            && matches!(rest[2], b'p' | b'o' | b'u' | b's' | b'r')
                            && rest[3] == b'_')
                }
                b'b' | b'B' | b't' | b'T' => {
                    h.auth_scheme |=
                        starts_ci(b"bearer") || starts_ci(b"basic") || starts_ci(b"token")
                }
                b'c' | b'C' => h.cookie |= starts_ci(b"cookie"),
                _ => {}
            }
        }
        h
    }
}

/// The bytes of a key as [`PAIR`] reads one.
fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'[' | b']' | b'%' | b'+')
}

/// Whether every item of `items` is a `[name, value]` pair with a string name.
fn is_pair_list(items: &[Value]) -> bool {
    !items.is_empty()
        && items.iter().all(|item| {
            item.as_array()
                .is_some_and(|pair| pair.len() == 2 && pair[0].is_string())
        })
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
    fn keys_and_text_pairs_in_their_many_shapes() {
        let r = Redactor::default();
        for key in [
            "connect.sid",
            "sid",
            "userSid",
            "user_pin",
            "newpin",
            "old_pass",
            "dbpass",
            "DBPASS",
            "adminpass",
            "newpwd",
            "totp",
            "user-otp",
            "cardcvv",
            "PHPSESSID",
            "laravel_session",
            "auth",
            "X-Auth",
            "basic_auth",
            "sig",
            "url_sig",
        ] {
            assert!(r.is_sensitive_key(key), "{key}");
        }
        for key in [
            "class_id",
            "classId",
            "rsid",
            "ships",
            "keyboard_pinned",
            "oauth",
            "OAuth",
            "author",
            "design",
            "config",
        ] {
            assert!(!r.is_sensitive_key(key), "{key}");
        }
        // A header or YAML line naming a secret is masked to its end.
        assert_eq!(
            r.redact_text("user: bob\npassword: correct horse battery staple\nAuthorization: Negotiate YIIabc def"),
            "user: bob\npassword: [REDACTED]\nAuthorization: [REDACTED]"
        );
        for (text, masked) in [
            (
                "host=db,user=app,password=p@ss,word",
                "host=db,user=app,password=[REDACTED]",
            ),
            (r#"user=bob,password="p,q""#, "user=bob,password=[REDACTED]"),
            // The nested pass then reads the rest as the first secret's value: all masked.
            ("env=API_KEY=k1,DB_PASSWORD=p1", "env=API_KEY=[REDACTED]"),
            (
                "cfg=mode=x,password=p,next=/cb?token=T",
                "cfg=mode=x,password=[REDACTED]",
            ),
            (
                "> Authorization: Negotiate YIIGhgabc",
                "> Authorization: [REDACTED]",
            ),
            (
                "2025-06-01T10:00Z Authorization: NTLM TlRMTVNTUAAB",
                "2025-06-01T10:00Z Authorization: [REDACTED]",
            ),
            (
                "- password: correct horse battery staple",
                "- password: [REDACTED]",
            ),
            (
                "password = correct horse battery staple",
                "password = [REDACTED]",
            ),
            (
                "Session::refresh failed for user 42",
                "Session::refresh failed for user 42",
            ),
        ] {
            assert_eq!(r.redact_text(text), masked, "{text}");
        }
        // Pairs joined by commas (a connection string) each get looked at.
        assert_eq!(
            r.redact_text("host=db,port=5432,user=app,db=x,sslmode=require,password=S3cret"),
            "host=db,port=5432,user=app,db=x,sslmode=require,password=[REDACTED]"
        );
        // A value that merely ends like the mask is still a value.
        assert_eq!(
            r.redact_text("password=hunter2[REDACTED]"),
            "password=[REDACTED]"
        );
        // Decoding never brings back a control character (a NUL breaks PostgreSQL's COPY).
        assert_eq!(
            r.redact_text("next=%00%26password%3Dx"),
            "next=%00&password=[REDACTED]"
        );
        let mut v = json!({"class_id": 7, "student": {"class_id": "X-1"}});
        r.redact_value(&mut v);
        assert_eq!(v, json!({"class_id": 7, "student": {"class_id": "X-1"}}));
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

    #[test]
    fn percent_encoded_and_bracketed_keys_are_decoded() {
        let r = Redactor::default();
        for (text, masked) in [
            ("user%5Bpassword%5D=b1", "user%5Bpassword%5D=[REDACTED]"),
            ("pass%77ord=b2", "pass%77ord=[REDACTED]"),
            ("api%5Fkey=a3", "api%5Fkey=[REDACTED]"),
            ("auth[token]=a2", "auth[token]=[REDACTED]"),
            (
                "/cb?a=1&auth[token]=a2&b=2",
                "/cb?a=1&auth[token]=[REDACTED]&b=2",
            ),
            ("api+key=a4&x=1", "api+key=[REDACTED]&x=1"),
            // Double-encoded: `%2577` is `%77` is `w`.
            ("pass%2577ord=b5", "pass%2577ord=[REDACTED]"),
        ] {
            assert_eq!(r.redact_text(text), masked, "{text}");
        }
        let mut v =
            json!({"endpoint": "/login?user%5Bpassword%5D=b1", "form": {"auth[token]": "a2"}});
        r.redact_value(&mut v);
        assert_eq!(
            v,
            json!({"endpoint": "/login?user%5Bpassword%5D=[REDACTED]",
                "form": {"auth[token]": MASK}})
        );
        // Ordinary bracketed and encoded keys stay.
        assert_eq!(
            r.redact_text("filter[name]=bob&q=a%20b"),
            "filter[name]=bob&q=a%20b"
        );
    }

    #[test]
    fn an_encoded_query_in_a_value_keeps_no_secret() {
        let r = Redactor::default();
        let out = r.redact_text("next=/x%3Fpassword%3Dp1");
        assert!(!out.contains("p1"), "{out}");
        assert_eq!(out, "next=/x?password=[REDACTED]");
        let out = r.redact_text("next=/x%253Ftoken%253Dp2&page=2");
        assert!(!out.contains("p2"), "{out}");
        // Unencoded, in a value: the inner pair is masked.
        assert_eq!(
            r.redact_text("redirect=https://a.example/cb?token=p3&x=1"),
            "redirect=https://a.example/cb?token=[REDACTED]&x=1"
        );
        // A card number with encoded spaces.
        assert!(!r
            .redact_text("card=x&n=4111%201111%201111%201111")
            .contains("1111"));
        // Nothing to mask: the text stays as sent, still encoded.
        assert!(matches!(
            r.redact_text("next=/x%3Fpage%3D2"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn header_pair_lists_are_masked_by_name() {
        let r = Redactor::default();
        let mut v =
            json!({"hdrs": [["x-api-key", "c1"], ["X-Auth-Token", "c2"], ["accept", "*/*"]]});
        r.redact_value(&mut v);
        assert_eq!(
            v,
            json!({"hdrs": [["x-api-key", MASK], ["X-Auth-Token", MASK], ["accept", "*/*"]]})
        );
        // A list that is not made of pairs is left alone: OAuth scopes.
        let mut v = json!({"scopes": ["email", "profile"]});
        r.redact_value(&mut v);
        assert_eq!(v, json!({"scopes": ["email", "profile"]}));
    }

    #[test]
    fn well_known_secret_shapes_in_text_are_masked() {
        let r = Redactor::default();
        let pem = "key: -----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7\nx9Z=\n\
                   -----END RSA PRIVATE KEY-----\ndone";
        assert_eq!(
            r.redact_text(pem),
            "key: -----BEGIN RSA PRIVATE KEY-----[REDACTED]-----END RSA PRIVATE KEY-----\ndone"
        );
        // Cut short (a truncated log line): masked to the end.
        let out = r.redact_text("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0B");
        assert!(!out.contains("MIIEvQ"), "{out}");
        for (text, masked) in [
            ("password: x1", "password: [REDACTED]"),
            (
                "db:\n  host: db1\n  password: hunter2\n",
                "db:\n  host: db1\n  password: [REDACTED]\n",
            ),
            (
                "login user=bob password = x2 ok",
                "login user=bob password = [REDACTED] ok",
            ),
            ("error: password=x3", "error: password=[REDACTED]"),
            ("Authorization: Bearer x4", "Authorization: [REDACTED]"),
            (
                "params {'api_key': 'x5', 'q': 1}",
                "params {'api_key': '[REDACTED]', 'q': 1}",
            ),
            (
                "<login><user>bob</user><password>x6</password></login>",
                "<login><user>bob</user><password>[REDACTED]</password></login>",
            ),
            (
                r#"<Secret type="a"><![CDATA[x7]]></Secret>"#,
                r#"<Secret type="a">[REDACTED]</Secret>"#,
            ),
            ("stripe sk_live_51HqZ2eKx9 ok", "stripe [REDACTED] ok"),
            ("rk_test_4eC39HqLyjWDarjtT1", "[REDACTED]"),
            (
                "gh ghp_16C7e42F292c6912E7710c838347Ae178B4a",
                "gh [REDACTED]",
            ),
            ("t=github_pat_11ABCDEFG0123456789_abcdefXYZ", "t=[REDACTED]"),
            ("slack xoxb-123456789012-abcdEFGH", "slack [REDACTED]"),
            ("aws AKIAIOSFODNN7EXAMPLE.", "aws [REDACTED]."),
            (
                "/maps?key=AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY&q=x",
                "/maps?key=[REDACTED]&q=x",
            ),
            (
                "/blob?sv=2022&sig=abc%2Bdef&se=1",
                "/blob?sv=2022&sig=[REDACTED]&se=1",
            ),
            ("/x?auth=s3cr3t&page=2", "/x?auth=[REDACTED]&page=2"),
        ] {
            assert_eq!(r.redact_text(text), masked, "{text}");
        }
    }

    #[test]
    fn ordinary_text_is_left_alone() {
        let r = Redactor::default();
        for text in [
            "Token Generated",
            "Token Refreshed",
            "Basic Information updated",
            "Password Changed",
            "at 14:30:52 on https://example.com/a:b",
            "<b>bold</b> <name>Budi</name>",
            "ask_test_results for dish_live_music",
            "AKIA is not a key; nor is ghp_short",
            "filter: active, sort: name",
        ] {
            assert!(matches!(r.redact_text(text), Cow::Borrowed(_)), "{text}");
        }
        for entry in crate::Catalog::built_in().entries() {
            assert_eq!(r.redact_text(&entry.name), entry.name);
            assert_eq!(r.redact_text(&entry.description), entry.description);
        }
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
        fn no_secret_survives_an_encoded_or_bracketed_key(
            k in key(), s in secret(), encode in prop::collection::vec(any::<bool>(), 1..8),
            outer in "[a-z]{1,8}", shape in 0usize..5, depth in 0usize..6,
        ) {
            let encoded: String = k.chars().zip(encode.iter().cycle())
                .map(|(c, e)| if *e { format!("%{:02X}", c as u32) } else { c.to_string() })
                .collect();
            let name = match shape {
                0 => encoded.clone(),
                1 => format!("{outer}[{encoded}]"),
                2 => format!("{outer}[{k}][]"),
                3 => format!("{outer}%5B{encoded}%5D%5B0%5D"),
                _ => format!("{outer}[x][{}]", k.replace('_', "%5F")),
            };
            let mut v = bury(depth, json!({
                "body": format!("a=1&{name}={s}&z=2"),
                "url": format!("/x?{name}={s}"),
                "next": format!("/login?next=%2Fx%3F{encoded}%3D{s}"),
                "parsed": { name.clone(): s.clone() },
            }));
            Redactor::default().redact_value(&mut v);
            prop_assert!(!v.to_string().contains(&s), "{}", v);
        }

        #[test]
        fn no_secret_survives_in_a_header_pair_list(
            k in key(), s in secret(), upper in any::<bool>(), depth in 0usize..8,
        ) {
            let name = if upper { k.to_uppercase() } else { k.clone() };
            let mut v = bury(depth, json!({"headers": [["accept", "*/*"], [name, s.clone()]]}));
            Redactor::default().redact_value(&mut v);
            let text = v.to_string();
            prop_assert!(!text.contains(&s), "{}", text);
            prop_assert!(text.contains("*/*"));
        }

        #[test]
        fn no_secret_survives_in_log_yaml_or_xml_text(
            k in key(), s in secret(), form in 0usize..5, before in "[a-z ]{0,12}",
        ) {
            let text = match form {
                0 => format!("{before} {k}: {s}"),
                1 => format!("{before}\n  {k}: {s}\n  other: 1"),
                2 => format!("{before} {{'{k}': '{s}'}}"),
                3 => format!("{before}<{k}>{s}</{k}>"),
                _ => format!("{before} {k} = {s} done"),
            };
            let out = Redactor::default().redact_text(&text);
            prop_assert!(!out.contains(&s), "{}", out);
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
