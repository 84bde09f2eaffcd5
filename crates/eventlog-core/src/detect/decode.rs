//! Undoing the encodings attackers hide payloads behind, before any rule looks at them:
//! percent-encoding (repeated, for double and triple encoding), HTML entities (named,
//! decimal, hex) and unicode escapes (`\u003c`, `%u003c`, `\x3c`). Overlong UTF-8 forms
//! of `.`, `/` and `\` (`%c0%ae`, `%c0%af`, ...) decode to the character they smuggle.
//!
//! Decoding runs to a fixed point, at most [`MAX_ROUNDS`] times, so `decode(decode(x)) ==
//! decode(x)` whenever the first call did not run out of rounds.

use std::borrow::Cow;

/// Most decoding passes over one value; a value still changing after this many is
/// reported as [`Decoded::exhausted`] (itself a sign of evasion).
pub const MAX_ROUNDS: usize = 6;

/// A decoded value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded<'a> {
    /// The text after decoding.
    pub text: Cow<'a, str>,
    /// Whether the text was still changing when the round limit was hit.
    pub exhausted: bool,
}

/// Decodes `input` to a fixed point (see the module docs). Borrows when there is
/// nothing to decode, which is the common case.
pub fn decode(input: &str) -> Decoded<'_> {
    if !might_be_encoded(input) {
        return Decoded {
            text: Cow::Borrowed(input),
            exhausted: false,
        };
    }
    let mut current: Cow<'_, str> = Cow::Borrowed(input);
    for _ in 0..MAX_ROUNDS {
        let next = decode_once(&current);
        if next == current.as_ref() {
            return Decoded {
                text: current,
                exhausted: false,
            };
        }
        current = Cow::Owned(next);
    }
    let exhausted = decode_once(&current) != current.as_ref();
    Decoded {
        text: current,
        exhausted,
    }
}

/// Whether `s` holds any byte that starts an encoding we undo.
fn might_be_encoded(s: &str) -> bool {
    s.bytes().any(|b| matches!(b, b'%' | b'&' | b'\\'))
}

/// One pass of every decoding, in the order an application would apply them.
fn decode_once(s: &str) -> String {
    let percent = percent_decode(s);
    let escapes = unicode_unescape(&percent);
    html_unescape(&escapes)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn hex_number(digits: &[u8]) -> Option<u32> {
    digits
        .iter()
        .try_fold(0u32, |acc, &b| Some(acc * 16 + u32::from(hex_value(b)?)))
}

/// `%41` -> `A`, `%u0041` -> `A`; invalid sequences stay as they are. Bytes that do not
/// form UTF-8 are kept as U+FFFD, except the overlong forms of `.` `/` `\`.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            if let Some(&[h, l]) = bytes.get(i + 1..i + 3) {
                if let (Some(h), Some(l)) = (hex_value(h), hex_value(l)) {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
            }
            if matches!(bytes.get(i + 1), Some(b'u' | b'U')) {
                if let Some(c) = bytes
                    .get(i + 2..i + 6)
                    .and_then(hex_number)
                    .and_then(char::from_u32)
                {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    i += 6;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    let out = replace_overlong(out);
    match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// Overlong UTF-8 encodings that path-traversal payloads use to slip past filters.
fn replace_overlong(bytes: Vec<u8>) -> Vec<u8> {
    const FORMS: &[(&[u8], u8)] = &[
        (&[0xc0, 0xae], b'.'),
        (&[0xc0, 0xaf], b'/'),
        (&[0xc1, 0x9c], b'\\'),
        (&[0xe0, 0x80, 0xae], b'.'),
        (&[0xe0, 0x80, 0xaf], b'/'),
    ];
    if !bytes.iter().any(|&b| b == 0xc0 || b == 0xc1 || b == 0xe0) {
        return bytes;
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    'outer: while i < bytes.len() {
        for (form, replacement) in FORMS {
            if bytes[i..].starts_with(form) {
                out.push(*replacement);
                i += form.len();
                continue 'outer;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// `\u003c`, `\x3c` -> `<`; other backslashes stay.
fn unicode_unescape(s: &str) -> Cow<'_, str> {
    if !s.contains('\\') {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            let (len, digits) = match bytes.get(i + 1) {
                Some(b'u' | b'U') => (6, bytes.get(i + 2..i + 6)),
                Some(b'x' | b'X') => (4, bytes.get(i + 2..i + 4)),
                _ => (0, None),
            };
            if let Some(c) = digits.and_then(hex_number).and_then(char::from_u32) {
                out.push_str(&s[copied..i]);
                out.push(c);
                i += len;
                copied = i;
                continue;
            }
        }
        i += 1;
    }
    out.push_str(&s[copied..]);
    Cow::Owned(out)
}

/// Named entities a payload needs; anything else named stays as written.
const NAMED_ENTITIES: &[(&str, char)] = &[
    ("lt", '<'),
    ("gt", '>'),
    ("amp", '&'),
    ("quot", '"'),
    ("apos", '\''),
    ("sol", '/'),
    ("bsol", '\\'),
    ("colon", ':'),
    ("semi", ';'),
    ("lpar", '('),
    ("rpar", ')'),
    ("equals", '='),
    ("Tab", '\t'),
    ("NewLine", '\n'),
    ("nbsp", ' '),
    ("grave", '`'),
    ("period", '.'),
    ("comma", ','),
    ("excl", '!'),
    ("num", '#'),
    ("percnt", '%'),
    ("plus", '+'),
    ("lsqb", '['),
    ("rsqb", ']'),
    ("lcub", '{'),
    ("rcub", '}'),
    ("vert", '|'),
];

/// `&lt;`, `&#60;`, `&#x3c;` (the `;` optional, as browsers allow) -> `<`.
fn html_unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        match entity(after) {
            Some((c, consumed)) => {
                out.push(c);
                rest = &after[consumed..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The character an entity body (text after `&`) names, and how many bytes it took.
fn entity(after: &str) -> Option<(char, usize)> {
    let bytes = after.as_bytes();
    if bytes.first() == Some(&b'#') {
        let (radix, start) = match bytes.get(1) {
            Some(b'x' | b'X') => (16, 2),
            _ => (10, 1),
        };
        let digits = bytes[start..]
            .iter()
            .take_while(|b| {
                if radix == 16 {
                    b.is_ascii_hexdigit()
                } else {
                    b.is_ascii_digit()
                }
            })
            .count();
        if digits == 0 || digits > 8 {
            return None;
        }
        let value = u32::from_str_radix(&after[start..start + digits], radix).ok()?;
        let c = char::from_u32(value)?;
        let mut consumed = start + digits;
        if bytes.get(consumed) == Some(&b';') {
            consumed += 1;
        }
        return Some((c, consumed));
    }
    let name_len = bytes
        .iter()
        .take(8)
        .take_while(|b| b.is_ascii_alphabetic())
        .count();
    let name = &after[..name_len];
    let (_, c) = NAMED_ENTITIES.iter().find(|(n, _)| *n == name)?;
    let consumed = if bytes.get(name_len) == Some(&b';') {
        name_len + 1
    } else {
        name_len
    };
    Some((*c, consumed))
}

/// Splits a query string or form body into `(name, value)` pairs (`+` is a space there,
/// as in `application/x-www-form-urlencoded`). Only `&` separates: splitting on the
/// legacy `;` too would cut `1;cat /etc/passwd` into harmless halves.
pub fn form_pairs(s: &str) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    s.split('&').filter(|pair| !pair.is_empty()).map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        (plus_to_space(name), plus_to_space(value))
    })
}

fn plus_to_space(s: &str) -> Cow<'_, str> {
    if s.contains('+') {
        Cow::Owned(s.replace('+', " "))
    } else {
        Cow::Borrowed(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decodes_every_layer() {
        assert_eq!(decode("%3Cscript%3E").text, "<script>");
        assert_eq!(decode("%253Cscript%253E").text, "<script>");
        assert_eq!(decode("%25253Cscript%25253E").text, "<script>");
        assert_eq!(
            decode("&lt;img src=x onerror=alert(1)&gt;").text,
            "<img src=x onerror=alert(1)>"
        );
        assert_eq!(decode("&#60;&#x3C;&#x3c").text, "<<<");
        assert_eq!(decode("\\u003cscript\\x3e").text, "<script>");
        assert_eq!(decode("%u003cscript%u003e").text, "<script>");
        assert_eq!(decode("%c0%ae%c0%ae%c0%afetc").text, "../etc");
        assert_eq!(decode("%26lt%3Bb%26gt%3B").text, "<b>");
    }

    #[test]
    fn leaves_plain_and_broken_text_alone() {
        assert!(matches!(decode("O'Brien").text, Cow::Borrowed(_)));
        assert_eq!(decode("100% sure & done").text, "100% sure & done");
        assert_eq!(decode("%zz %4 &unknown; \\q").text, "%zz %4 &unknown; \\q");
        assert_eq!(decode("%ff").text, "\u{fffd}");
    }

    #[test]
    fn endless_encoding_is_flagged() {
        let mut s = "<".to_owned();
        for _ in 0..MAX_ROUNDS + 2 {
            s = s.replace('%', "%25").replace('<', "%3C");
        }
        assert!(decode(&s).exhausted);
    }

    #[test]
    fn form_pairs_split_and_turn_plus_into_space() {
        let pairs: Vec<_> = form_pairs("q=a+b&x&y=%27").collect();
        assert_eq!(pairs[0], (Cow::from("q"), Cow::from("a b")));
        assert_eq!(pairs[1], (Cow::from("x"), Cow::from("")));
        assert_eq!(pairs[2].1, "%27");
    }

    fn percent_encode(s: &str) -> String {
        s.bytes().map(|b| format!("%{b:02X}")).collect()
    }

    proptest! {
        #[test]
        fn decoding_never_panics_and_is_idempotent(s in "\\PC*|[%&#;\\\\ux0-9a-fA-F<>lgtamp]{0,40}") {
            let once = decode(&s);
            if !once.exhausted {
                let twice = decode(&once.text);
                prop_assert_eq!(twice.text.as_ref(), once.text.as_ref());
            }
        }

        #[test]
        fn percent_encoding_round_trips(s in "[a-zA-Z0-9 <>'\"/().=]{0,40}") {
            let once = percent_encode(&s);
            let twice = percent_encode(&once);
            let (once, twice) = (decode(&once), decode(&twice));
            prop_assert_eq!(once.text.as_ref(), s.as_str());
            prop_assert_eq!(twice.text.as_ref(), s.as_str());
        }
    }
}
