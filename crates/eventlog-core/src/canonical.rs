//! Canonical JSON: one byte sequence per JSON value, whatever the key order or whitespace
//! of the input, so that content hashes compare meaning rather than formatting.
//!
//! Rules: object keys sorted by their UTF-8 bytes, no insignificant whitespace, strings
//! escaped as serde_json escapes them, numbers as serde_json prints them (integers stay
//! integers; `1.0` and `1` differ, as they do in the client's own JSON).

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Appends the canonical form of `value` to `out`.
pub fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (key, val)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(key, out);
                out.push(b':');
                write_canonical(val, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        scalar => write_scalar(scalar, out),
    }
}

/// Appends a JSON string or scalar as serde_json prints it (its escaping is deterministic).
pub fn write_scalar<T: serde::Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) {
    serde_json::to_writer(out, value).expect("serialising a scalar to a Vec cannot fail");
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    write_scalar(s, out);
}

/// The canonical bytes of `value`.
pub fn to_canonical_bytes(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_canonical(value, &mut out);
    out
}

/// SHA-256 over the canonical form of `value`.
pub fn canonical_hash(value: &Value) -> [u8; 32] {
    Sha256::digest(to_canonical_bytes(value)).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn key_order_and_whitespace_do_not_matter() {
        let a: Value = serde_json::from_str(r#"{"b": 1, "a": {"y": [1, 2], "x": "s"}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":{"x":"s","y":[1,2]},"b":1}"#).unwrap();
        assert_eq!(to_canonical_bytes(&a), to_canonical_bytes(&b));
        assert_eq!(
            to_canonical_bytes(&a),
            br#"{"a":{"x":"s","y":[1,2]},"b":1}"#.to_vec()
        );
    }

    #[test]
    fn different_values_hash_differently() {
        assert_ne!(
            canonical_hash(&json!({"a": 1})),
            canonical_hash(&json!({"a": 2}))
        );
        assert_ne!(
            canonical_hash(&json!([1, 2])),
            canonical_hash(&json!([2, 1]))
        );
        assert_ne!(
            canonical_hash(&json!({"a": "1"})),
            canonical_hash(&json!({"a": 1}))
        );
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            ".{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(".{0,8}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn canonical_form_is_valid_json_of_the_same_value(v in arb_json()) {
            let bytes = to_canonical_bytes(&v);
            let back: Value = serde_json::from_slice(&bytes).unwrap();
            prop_assert_eq!(back, v);
        }

        #[test]
        fn reserialising_with_whitespace_keeps_the_hash(v in arb_json()) {
            let pretty = serde_json::to_string_pretty(&v).unwrap();
            let reparsed: Value = serde_json::from_str(&pretty).unwrap();
            prop_assert_eq!(canonical_hash(&reparsed), canonical_hash(&v));
        }
    }
}
