//! JSON read strictly: a key written twice in one object is an error, naming it.
//!
//! `serde_json` keeps the last of duplicate keys without a word, and other readers keep
//! the first; a request a proxy or an audit log reads one way and the server another is
//! one to refuse. No crate offers this for an untyped `Value`, so it is a small visitor.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Parse `text` as one JSON value, refusing an object with a key twice (at any depth)
/// with a message that names the key and where it is.
pub fn strict(text: &str) -> Result<Value, String> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = Strict {
        path: String::new(),
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v))
    .map_err(|e| {
        if e.is_data() {
            format!("the body is not accepted: {e}")
        } else {
            format!("the body is not valid JSON: {e}")
        }
    })?;
    Ok(value)
}

/// A value at `path` (`params.port`, empty at the top).
struct Strict {
    path: String,
}

impl Strict {
    fn at(&self, key: &str) -> Strict {
        Strict {
            path: if self.path.is_empty() {
                key.to_string()
            } else {
                format!("{}.{key}", self.path)
            },
        }
    }
}

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Value, D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Strict {
            path: format!("{}[{}]", self.path, items.len()),
        })? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let inner = self.at(&key);
            if object.contains_key(&key) {
                let place = if self.path.is_empty() {
                    String::new()
                } else {
                    format!(" in `{}`", self.path)
                };
                return Err(A::Error::custom(format!(
                    "key `{}` is written more than once{place}: write it once",
                    crate::util::text::inert(&key)
                )));
            }
            let value = map.next_value_seed(inner)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_as_serde_json_reads_them() {
        let text =
            r#"{"a": [1, -2, 3.5, "x", null, true], "b": {"c": {}}, "d": 18446744073709551615}"#;
        assert_eq!(
            strict(text).unwrap(),
            serde_json::from_str::<Value>(text).unwrap()
        );
    }

    #[test]
    fn a_key_twice_is_named_with_where_it_is() {
        let err = strict(r#"{"workflow": "a", "workflow": "b"}"#).unwrap_err();
        assert!(
            err.contains("key `workflow` is written more than once"),
            "{err}"
        );
        let err = strict(r#"{"params": {"team": "a", "team": "b"}}"#).unwrap_err();
        assert!(
            err.contains("key `team`") && err.contains("in `params`"),
            "{err}"
        );
        let err = strict(r#"[{"x": {"k": 1, "k": 2}}]"#).unwrap_err();
        assert!(err.contains("in `[0].x`"), "{err}");
    }

    #[test]
    fn bad_json_and_trailing_text_are_refused() {
        assert!(strict("{").unwrap_err().contains("not valid JSON"));
        assert!(strict("{} x").unwrap_err().contains("not valid JSON"));
        assert!(strict("{} ").is_ok());
    }
}
