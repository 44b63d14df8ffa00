//! [`Json`]: the proxy's one JSON tree, for live bodies and recorded ones alike.
//!
//! A live request's body lives for one call, so its strings point into the body where they
//! can ([`Json::parse`]); a cassette's bodies own theirs (`Json<'static>`, [`owned`]). An
//! object is one vector of members sorted by key: two objects with the same members compare
//! and hash alike whatever order they were sent in, and serialise in the order serde_json's
//! own map writes them, so a cassette written from this tree is byte for byte what serde_json
//! wrote before. Numbers are serde_json's, so they compare exactly as its `Value`'s do (`1` is
//! not `1.0`). Every walk over a body (paths, the model's walks, redaction, matching, waiters)
//! reads this tree; serde_json's `Value` is only a way to write literals in tests. This module
//! knows nothing of requests or cassettes.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::{Number, Value};

/// A JSON value whose strings are borrowed where they can be.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Json<'a> {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, as serde_json reads it.
    Number(Number),
    /// A string: borrowed unless it had escapes.
    String(Cow<'a, str>),
    /// An array.
    Array(Vec<Json<'a>>),
    /// An object.
    Object(Object<'a>),
}

/// An object's members, sorted by key, each key once: when a key is sent twice the last one
/// counts, as in serde_json.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Object<'a>(Vec<(Cow<'a, str>, Json<'a>)>);

impl<'a> Object<'a> {
    fn from_members(mut members: Vec<(Cow<'a, str>, Json<'a>)>) -> Self {
        // Bodies often list their keys in order, each once: then there is nothing to do.
        if members.is_sorted_by(|a, b| a.0 < b.0) {
            return Self(members);
        }
        // Reversed, a stable sort puts the last of equal keys first, and dedup keeps firsts.
        members.reverse();
        members.sort_by(|a, b| a.0.cmp(&b.0));
        members.dedup_by(|later, kept| later.0 == kept.0);
        Self(members)
    }

    /// The member called `key`.
    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        self.position(key).map(|i| &self.0[i].1)
    }

    /// Removes the member called `key`; `true` if there was one.
    pub fn remove(&mut self, key: &str) -> bool {
        self.position(key).map(|i| self.0.remove(i)).is_some()
    }

    /// Whether the object has no members.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Removes every member.
    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// The members, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Json<'a>)> {
        self.0.iter().map(|(key, value)| (key.as_ref(), value))
    }

    /// The members' values, in key order, to change.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Json<'a>> {
        self.0.iter_mut().map(|(_, value)| value)
    }

    /// The member called `key`, to change.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Json<'a>> {
        self.position(key).map(|i| &mut self.0[i].1)
    }

    fn position(&self, key: &str) -> Option<usize> {
        // A call's body has a handful of members: comparing lengths first beats a binary
        // search's string comparisons there.
        if self.0.len() <= 8 {
            self.0.iter().position(|(k, _)| k == key)
        } else {
            self.0.binary_search_by(|(k, _)| k.as_ref().cmp(key)).ok()
        }
    }
}

impl<'a> Json<'a> {
    /// Parses `bytes` with serde_json, borrowing every string that has no escapes.
    pub fn parse(bytes: &'a [u8]) -> serde_json::Result<Self> {
        serde_json::from_slice(bytes)
    }

    /// The member called `key`, if this is an object that has one.
    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        match self {
            Self::Object(object) => object.get(key),
            _ => None,
        }
    }

    /// The text, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(text) => Some(text),
            _ => None,
        }
    }

    /// The compact JSON text, as serde_json writes it.
    pub fn to_vec(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a JSON tree always serialises")
    }

    /// The JSON type of a value, as people name it.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Bool(_) => "a boolean",
            Self::Number(_) => "a number",
            Self::String(_) => "a string",
            Self::Array(_) => "an array",
            Self::Object(_) => "an object",
        }
    }

    /// A copy that borrows nothing.
    pub fn into_owned(self) -> Json<'static> {
        match self {
            Self::Null => Json::Null,
            Self::Bool(b) => Json::Bool(b),
            Self::Number(n) => Json::Number(n),
            Self::String(s) => Json::String(Cow::Owned(s.into_owned())),
            Self::Array(items) => Json::Array(items.into_iter().map(Json::into_owned).collect()),
            Self::Object(Object(members)) => Json::Object(Object(
                members
                    .into_iter()
                    .map(|(key, value)| (Cow::Owned(key.into_owned()), value.into_owned()))
                    .collect(),
            )),
        }
    }
}

/// One step from a value to a value inside it: an object's member or an array's element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The member with this key.
    Key(String),
    /// The element at this position, from 0.
    Index(usize),
}

impl<'a> Json<'a> {
    /// The value that `steps` lead to from this one, if they all exist.
    pub fn at(&self, steps: &[Step]) -> Option<&Json<'a>> {
        steps
            .iter()
            .try_fold(self, |value, step| match (step, value) {
                (Step::Key(key), Self::Object(object)) => object.get(key),
                (Step::Index(i), Self::Array(items)) => items.get(*i),
                _ => None,
            })
    }
}

/// A copy of serde_json's `Value`, for literals written with `serde_json::json!`.
impl From<&Value> for Json<'static> {
    fn from(value: &Value) -> Self {
        match value {
            Value::Null => Self::Null,
            Value::Bool(b) => Self::Bool(*b),
            Value::Number(n) => Self::Number(n.clone()),
            Value::String(s) => Self::String(Cow::Owned(s.clone())),
            Value::Array(items) => Self::Array(items.iter().map(Self::from).collect()),
            // A `Value`'s map is already sorted by key, with each key once.
            Value::Object(map) => Self::Object(Object(
                map.iter()
                    .map(|(key, value)| (Cow::Owned(key.clone()), Self::from(value)))
                    .collect(),
            )),
        }
    }
}

/// `null`, for an index that finds nothing.
static NULL: Json<'static> = Json::Null;

impl<'a> std::ops::Index<&str> for Json<'a> {
    type Output = Json<'a>;

    /// The member called `key`, or `null` when there is none, as serde_json's `Value` indexes.
    fn index(&self, key: &str) -> &Json<'a> {
        self.get(key).unwrap_or(&NULL)
    }
}

impl PartialEq<&str> for Json<'_> {
    fn eq(&self, text: &&str) -> bool {
        self.as_str() == Some(*text)
    }
}

impl From<&str> for Json<'static> {
    fn from(text: &str) -> Self {
        Self::String(Cow::Owned(text.to_owned()))
    }
}

impl fmt::Display for Json<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.to_vec()))
    }
}

impl Serialize for Json<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Null => serializer.serialize_unit(),
            Self::Bool(b) => serializer.serialize_bool(*b),
            Self::Number(n) => n.serialize(serializer),
            Self::String(text) => serializer.serialize_str(text),
            Self::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Self::Object(object) => {
                let mut map = serializer.serialize_map(Some(object.0.len()))?;
                for (key, value) in object.iter() {
                    map.serialize_entry(key, value)?;
                }
                map.end()
            }
        }
    }
}

/// Reads a value that owns its strings, for `#[serde(deserialize_with = "owned")]` on the
/// bodies of a cassette, which outlive the bytes they were read from.
pub fn owned<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Json<'static>, D::Error> {
    Json::deserialize(deserializer).map(Json::into_owned)
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Self::Value, E> {
        Ok(Json::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Self::Value, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Self::Value, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Self::Value, E> {
        // As serde_json's `Value` does: a float that is not finite becomes null.
        Ok(Number::from_f64(n).map_or(Json::Null, Json::Number))
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(Json::String(Cow::Borrowed(s)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Json::String(Cow::Owned(s.to_owned())))
    }

    fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
        Ok(Json::String(Cow::Owned(s)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(0).max(4));
        while let Some(key) = map.next_key::<Key<'de>>()? {
            members.push((key.0, map.next_value()?));
        }
        Ok(Json::Object(Object::from_members(members)))
    }
}

/// An object key, borrowed unless it had escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }

            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(s)))
            }

            fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(s.to_owned())))
            }

            fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(s)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    fn parse(text: &str) -> Json<'_> {
        Json::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn reads_every_value_as_serde_json_does() {
        let text =
            r#"{"b": [1, -2, 3.5, 1e300, true, null, "x\ny"], "a": {"z": 0, "y": "é"}, "": {}}"#;
        let value: Value = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::to_value(parse(text)).unwrap(), value);
        assert_eq!(parse(text), Json::from(&value));
    }

    #[test]
    fn writes_every_value_as_serde_json_does() {
        let text = r#"{"b": [1, -2, 3.5, 1e300, true, null, "x\ny\u0001\"é"], "a": {"z": 0, "y": "é"}, "": {}}"#;
        let value: Value = serde_json::from_str(text).unwrap();
        assert_eq!(parse(text).to_vec(), serde_json::to_vec(&value).unwrap());
        assert_eq!(
            serde_json::to_vec_pretty(&parse(text)).unwrap(),
            serde_json::to_vec_pretty(&value).unwrap()
        );
        assert_eq!(parse(text).to_string(), value.to_string());
    }

    #[test]
    fn borrows_strings_without_escapes() {
        let Json::Object(object) = parse(r#"{"plain": "abc", "escaped": "a\"b"}"#) else {
            panic!("an object");
        };
        assert!(matches!(
            object.get("plain"),
            Some(Json::String(Cow::Borrowed("abc")))
        ));
        assert!(matches!(object.get("escaped"), Some(Json::String(Cow::Owned(s))) if s == "a\"b"));
    }

    #[test]
    fn the_last_of_repeated_keys_counts() {
        let text = r#"{"k": 1, "a": 0, "k": 2, "k": 3}"#;
        let value: Value = serde_json::from_str(text).unwrap();
        assert_eq!(parse(text), Json::from(&value));
        assert_eq!(parse(text)["k"], Json::Number(3.into()));
        // Keys already in order but repeated are not left as they are.
        assert_eq!(
            parse(r#"{"a": 1, "a": 2, "b": 0}"#),
            parse(r#"{"a": 2, "b": 0}"#)
        );
    }

    #[test]
    fn member_order_changes_neither_equality_nor_hash() {
        let (a, b) = (
            parse(r#"{"x": 1, "y": [2, {"q": 1, "p": 2}]}"#),
            parse(r#"{"y": [2, {"p": 2, "q": 1}], "x": 1}"#),
        );
        let hasher = foldhash::fast::RandomState::default();
        assert_eq!(a, b);
        assert_eq!(hasher.hash_one(&a), hasher.hash_one(&b));
        assert_ne!(a, parse(r#"{"x": 1.0, "y": [2, {"p": 2, "q": 1}]}"#));
        assert_ne!(parse("[1, 2]"), parse("[2, 1]"));
    }

    #[test]
    fn finds_members_of_small_and_large_objects() {
        for size in [1, 8, 9, 40] {
            let text = format!(
                "{{{}}}",
                (0..size)
                    .rev()
                    .map(|i| format!("\"k{i}\": {i}"))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            let Json::Object(object) = parse(&text) else {
                panic!("an object");
            };
            for i in 0..size {
                assert_eq!(object.get(&format!("k{i}")), Some(&Json::Number(i.into())));
            }
            assert_eq!(object.get("k"), None);
        }
    }

    #[test]
    fn removes_members_and_owns_copies() {
        let text = String::from(r#"{"ClientToken": "t", "Name": "n"}"#);
        let Json::Object(mut object) = parse(&text) else {
            panic!("an object");
        };
        assert!(object.remove("ClientToken"));
        assert!(!object.remove("ClientToken"));
        let owned = Json::Object(object).into_owned();
        drop(text);
        assert_eq!(owned, Json::from(&serde_json::json!({"Name": "n"})));
    }
}
