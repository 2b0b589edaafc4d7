//! Borrowed, lazy JSON for the decoders: each record is parsed once, one
//! level deep, without building a `serde_json::Value` tree.
//!
//! [`Obj`] holds an object's keys (borrowed from the record's text unless
//! they contain escapes) and each value as its raw JSON text, which
//! serde_json has already validated. A nested object (Kong's `request`,
//! with its headers) stays text until a decoder asks for a field inside it;
//! objects no decoder reads (headers, `tries`, `querystring`) are only
//! scanned. A string value is borrowed unless it has escapes. A number is
//! kept as the digits the gateway wrote, so unit conversions work on the
//! exact decimal text, never on an f64 that rounded it.
//!
//! Duplicate keys keep the last value, as a `serde_json::Map` did.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// A JSON object read one level deep. A nested object is parsed the first
/// time a path walks into it ([`Obj::get_in`]) and kept for the next field.
#[derive(Debug, Default)]
pub struct Obj<'a> {
    fields: Vec<Entry<'a>>,
}

#[derive(Debug)]
struct Entry<'a> {
    key: Key<'a>,
    value: Field<'a>,
    /// The value parsed as an object, once asked for (`None`: not one).
    child: OnceCell<Option<Box<Obj<'a>>>>,
}

impl<'a> Entry<'a> {
    fn child(&self) -> Option<&Obj<'a>> {
        self.child
            .get_or_init(|| self.value.object().map(Box::new))
            .as_deref()
    }
}

impl<'a> Obj<'a> {
    /// Parses `text`, which must be one JSON object (whitespace around it
    /// allowed).
    pub fn parse(text: &'a str) -> serde_json::Result<Obj<'a>> {
        serde_json::from_str(text)
    }

    fn entry(&self, key: &str) -> Option<&Entry<'a>> {
        self.fields.iter().rev().find(|e| e.key.0 == key)
    }

    /// The value of `key`: the last one when the key is repeated.
    pub fn get(&self, key: &str) -> Option<Field<'a>> {
        self.entry(key).map(|e| e.value)
    }

    /// The value at a path of keys (`["request", "method"]`), walking into
    /// nested objects; `None` when a step is absent or not an object.
    pub fn get_in(&self, path: &[&str]) -> Option<Field<'a>> {
        let (first, rest) = path.split_first()?;
        let entry = self.entry(first)?;
        if rest.is_empty() {
            return Some(entry.value);
        }
        entry.child()?.get_in(rest)
    }

    /// True when the object has `key`, whatever its value.
    pub fn contains_key(&self, key: &str) -> bool {
        self.fields.iter().any(|e| e.key.0 == key)
    }

    /// The keys in the order written (repeated keys repeat).
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|e| e.key.0.as_ref())
    }
}

/// An object key: borrowed from the text unless it had escapes.
#[derive(Debug)]
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

impl<'de> Deserialize<'de> for Obj<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ObjVisitor;
        impl<'de> Visitor<'de> for ObjVisitor {
            type Value = Obj<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Obj<'de>, M::Error> {
                let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(16));
                while let Some((k, v)) = map.next_entry::<Key<'de>, &'de RawValue>()? {
                    fields.push(Entry {
                        key: k,
                        value: Field(v.get()),
                        child: OnceCell::new(),
                    });
                }
                Ok(Obj { fields })
            }
        }
        d.deserialize_map(ObjVisitor)
    }
}

/// The JSON type of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `null`
    Null,
    /// `true` or `false`
    Bool,
    /// A number, kept as written.
    Number,
    /// A string.
    String,
    /// An array.
    Array,
    /// An object.
    Object,
}

impl Kind {
    /// "a string", "an object", ... for messages.
    pub fn article_name(self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::Bool => "a boolean",
            Kind::Number => "a number",
            Kind::String => "a string",
            Kind::Array => "an array",
            Kind::Object => "an object",
        }
    }
}

/// One JSON value as its (already validated) text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a>(&'a str);

impl<'a> Field<'a> {
    /// The value's JSON text, e.g. `"abc"` with its quotes, or `12.50`.
    pub fn raw(self) -> &'a str {
        self.0
    }

    /// Wraps text that is known to be one valid JSON value (tests, and
    /// values the decoders build from a string they read).
    pub(crate) fn from_valid(text: &'a str) -> Field<'a> {
        Field(text.trim())
    }

    /// The value's JSON type, from its first character.
    pub fn kind(self) -> Kind {
        match self.0.as_bytes().first() {
            Some(b'n') => Kind::Null,
            Some(b't' | b'f') => Kind::Bool,
            Some(b'"') => Kind::String,
            Some(b'[') => Kind::Array,
            Some(b'{') => Kind::Object,
            _ => Kind::Number,
        }
    }

    /// True for `null`.
    pub fn is_null(self) -> bool {
        self.kind() == Kind::Null
    }

    /// A string's text, unescaped; borrowed when it has no escapes.
    pub fn str(self) -> Option<Cow<'a, str>> {
        if self.kind() != Kind::String {
            return None;
        }
        let inner = &self.0[1..self.0.len() - 1];
        if inner.contains('\\') {
            serde_json::from_str::<String>(self.0).ok().map(Cow::Owned)
        } else {
            Some(Cow::Borrowed(inner))
        }
    }

    /// A boolean's value.
    pub fn bool(self) -> Option<bool> {
        match self.0 {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }

    /// A number's text exactly as written.
    pub fn number_text(self) -> Option<&'a str> {
        (self.kind() == Kind::Number).then_some(self.0)
    }

    /// An object's fields, one level deep.
    pub fn object(self) -> Option<Obj<'a>> {
        if self.kind() != Kind::Object {
            return None;
        }
        Obj::parse(self.0).ok()
    }

    /// An array's elements.
    pub fn array(self) -> Option<Vec<Field<'a>>> {
        if self.kind() != Kind::Array {
            return None;
        }
        let items: Vec<&'a RawValue> = serde_json::from_str(self.0).ok()?;
        Some(items.into_iter().map(|v| Field(v.get())).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_read_one_level_deep_and_borrowed() {
        let text = r#" {"a": "x", "n": 12.50, "o": {"k": [1, 2]}, "e": "q\"uote", "a": "last"} "#;
        let o = Obj::parse(text).unwrap();
        assert_eq!(o.keys().collect::<Vec<_>>(), ["a", "n", "o", "e", "a"]);
        // Repeated keys: the last value wins.
        assert_eq!(o.get("a").unwrap().str().unwrap(), "last");
        assert!(matches!(o.get("a").unwrap().str(), Some(Cow::Borrowed(_))));
        assert_eq!(o.get("n").unwrap().number_text(), Some("12.50"));
        assert_eq!(o.get("e").unwrap().str().unwrap(), "q\"uote");
        assert_eq!(o.get_in(&["o", "k"]).unwrap().raw(), "[1, 2]");
        assert_eq!(o.get_in(&["a", "k"]), None);
        let inner = o.get("o").unwrap().object().unwrap();
        let items = inner.get("k").unwrap().array().unwrap();
        assert_eq!(
            items.iter().map(|f| f.raw()).collect::<Vec<_>>(),
            ["1", "2"]
        );
        assert_eq!(o.get("missing"), None);
        assert!(o.get("o").unwrap().str().is_none());
    }

    #[test]
    fn kinds_and_escaped_keys() {
        let o =
            Obj::parse(r#"{"k\u0065y": null, "t": true, "f": false, "s": "", "arr": []}"#).unwrap();
        assert!(o.get("key").unwrap().is_null());
        assert_eq!(o.get("t").unwrap().bool(), Some(true));
        assert_eq!(o.get("f").unwrap().kind(), Kind::Bool);
        assert_eq!(o.get("s").unwrap().str().unwrap(), "");
        assert_eq!(o.get("arr").unwrap().array().unwrap(), vec![]);
        assert!(Obj::parse("[1]").is_err());
        assert!(Obj::parse(r#"{"a": }"#).is_err());
    }
}
