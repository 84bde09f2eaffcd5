//! RFC 8785 JSON Canonicalization Scheme (JCS): the byte form of a JSON value that the
//! tamper-evident chain hashes.
//!
//! JCS = object members sorted by the UTF-16 code units of their names, no whitespace,
//! strings escaped as ECMAScript's `JSON.stringify` escapes them (only `"`, `\` and control
//! characters; the short forms `\b \f \n \r \t`, others as lower-case `\u00xx`), and numbers
//! printed as ECMAScript prints a double. One deliberate deviation: integers that JSON
//! carried as integers are printed exactly even beyond 2^53 (ECMAScript would round them), so
//! two different large ids can never hash alike.

use serde_json::{Number, Value};

/// Appends the JCS form of `value` to `out`.
pub fn write_jcs(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push(b'{');
            for (i, (key, val)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(key, out);
                out.push(b':');
                write_jcs(val, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_jcs(item, out);
            }
            out.push(b']');
        }
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_string(s, out),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Null => out.extend_from_slice(b"null"),
    }
}

/// The JCS bytes of `value`.
pub fn to_jcs_bytes(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_jcs(value, &mut out);
    out
}

/// Appends a JSON string. serde_json escapes exactly as `JSON.stringify` does (lower-case
/// hex, short forms, nothing beyond control characters, quote and backslash).
pub fn write_string(s: &str, out: &mut Vec<u8>) {
    serde_json::to_writer(out, s).expect("writing a string to a Vec cannot fail");
}

fn write_number(n: &Number, out: &mut Vec<u8>) {
    if let Some(i) = n.as_i64() {
        out.extend_from_slice(i.to_string().as_bytes());
    } else if let Some(u) = n.as_u64() {
        out.extend_from_slice(u.to_string().as_bytes());
    } else if let Some(f) = n.as_f64() {
        write_f64(f, out);
    }
}

/// Appends `f` as ECMAScript's `Number.prototype.toString` prints it (ECMA-262 7.1.12.1):
/// the shortest digits that round-trip, in plain notation for exponents -7 < e < 21 and in
/// `d.ddde±x` notation otherwise.
pub fn write_f64(f: f64, out: &mut Vec<u8>) {
    if f == 0.0 || !f.is_finite() {
        // JSON has no NaN or infinity; -0 prints as 0.
        out.push(b'0');
        return;
    }
    if f < 0.0 {
        out.push(b'-');
    }
    // Rust's `{:e}` gives the shortest round-tripping digits: `1.2345e-7`, `5e0`.
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').expect("`{:e}` always has an exponent");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let k = digits.len() as i32;
    let n = exp.parse::<i32>().expect("`{:e}` exponent is an integer") + 1;
    let d = digits.as_bytes();
    if k <= n && n <= 21 {
        out.extend_from_slice(d);
        out.extend(std::iter::repeat_n(b'0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        out.extend_from_slice(&d[..n as usize]);
        out.push(b'.');
        out.extend_from_slice(&d[n as usize..]);
    } else if -6 < n && n <= 0 {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', (-n) as usize));
        out.extend_from_slice(d);
    } else {
        out.push(d[0]);
        if k > 1 {
            out.push(b'.');
            out.extend_from_slice(&d[1..]);
        }
        out.push(b'e');
        out.push(if n - 1 < 0 { b'-' } else { b'+' });
        out.extend_from_slice((n - 1).abs().to_string().as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn num(f: f64) -> String {
        let mut out = Vec::new();
        write_f64(f, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn numbers_print_as_ecmascript_does() {
        // Examples from RFC 8785 appendix B and ECMA-262.
        assert_eq!(num(0.0), "0");
        assert_eq!(num(-0.0), "0");
        assert_eq!(num(1.0), "1");
        assert_eq!(num(-1.5), "-1.5");
        assert_eq!(num(1e21), "1e+21");
        assert_eq!(num(1e20), "100000000000000000000");
        assert_eq!(num(123456789012345680000.0), "123456789012345680000");
        assert_eq!(num(1e-7), "1e-7");
        assert_eq!(num(0.000001), "0.000001");
        assert_eq!(num(4.5e-7), "4.5e-7");
        assert_eq!(num(5e-324), "5e-324");
        assert_eq!(num(1.7976931348623157e308), "1.7976931348623157e+308");
        assert_eq!(num(333_333_333.333_333_3), "333333333.3333333");
        assert_eq!(num(0.1), "0.1");
    }

    #[test]
    fn members_sort_by_utf16_code_units() {
        // RFC 8785 3.2.3: "\u{10000}" (surrogates D800 DC00) sorts before "\u{FB33}".
        let v = json!({"\u{FB33}": 1, "\u{10000}": 2, "a": 3, "1": 4});
        assert_eq!(
            String::from_utf8(to_jcs_bytes(&v)).unwrap(),
            "{\"1\":4,\"a\":3,\"\u{10000}\":2,\"\u{FB33}\":1}"
        );
    }

    #[test]
    fn rfc_8785_example_structure() {
        let v: Value = serde_json::from_str(
            r#"{"numbers": [333333333.3333333, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
                "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
                "literals": [null, true, false]}"#,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(to_jcs_bytes(&v)).unwrap(),
            r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
        );
    }
}
