//! A connector kind's own keys, kept as written until the kind reads them.
//!
//! The playbook layer knows what every system and collection has (a purpose, a `match`, an
//! erase strategy); everything else under a system or a collection belongs to its connector
//! kind and is kept here as [`Raw`] values. The kind deserializes them into its own strict
//! config type; errors still point at the line through the span index, since the path of
//! each key is known.
//!
//! Plain YAML scalars are read the way a string field reads them: `list_id: 12345` is the text
//! `12345` to a kind that expects text, as it would be to a `String` field of the file's types.

use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::fmt;

/// Keys a connector kind reads, by name, as written.
pub type Settings = BTreeMap<String, Raw>;

/// One value as written in the playbook.
#[derive(Debug, Clone, PartialEq)]
pub enum Raw {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Text(String),
    List(Vec<Raw>),
    Map(BTreeMap<String, Raw>),
}

impl Raw {
    /// The scalar as text (`12345` for a number), as a string field would read it.
    fn scalar_text(&self) -> Option<String> {
        match self {
            Raw::Bool(b) => Some(b.to_string()),
            Raw::Int(n) => Some(n.to_string()),
            Raw::UInt(n) => Some(n.to_string()),
            Raw::Float(n) => Some(n.to_string()),
            Raw::Text(s) => Some(s.clone()),
            Raw::Null | Raw::List(_) | Raw::Map(_) => None,
        }
    }
}

/// Reads `settings` (the keys of one kind, already checked to be its own) as `T`.
pub fn parse<T: DeserializeOwned>(settings: &Settings) -> Result<T, String> {
    T::deserialize(Raw::Map(settings.clone())).map_err(|e| e.0)
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Raw;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a value")
            }
            fn visit_unit<E>(self) -> Result<Raw, E> {
                Ok(Raw::Null)
            }
            fn visit_none<E>(self) -> Result<Raw, E> {
                Ok(Raw::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
                Raw::deserialize(d)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Raw, E> {
                Ok(Raw::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Raw, E> {
                Ok(Raw::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Raw, E> {
                Ok(Raw::UInt(v))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Raw, E> {
                Ok(Raw::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Raw, E> {
                Ok(Raw::Text(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<Raw, E> {
                Ok(Raw::Text(v))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element()? {
                    out.push(v);
                }
                Ok(Raw::List(out))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
                let mut out = BTreeMap::new();
                while let Some((k, v)) = map.next_entry::<Raw, Raw>()? {
                    let key = k
                        .scalar_text()
                        .ok_or_else(|| de::Error::custom("a key must be a plain value"))?;
                    out.insert(key, v);
                }
                Ok(Raw::Map(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// Why a value does not read as the kind's type.
#[derive(Debug)]
pub struct RawError(String);

impl fmt::Display for RawError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RawError {}

impl de::Error for RawError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        RawError(msg.to_string())
    }
}

impl<'de> IntoDeserializer<'de, RawError> for Raw {
    type Deserializer = Raw;
    fn into_deserializer(self) -> Raw {
        self
    }
}

impl Raw {
    /// What the value is, for "invalid type" messages.
    fn unexpected(&self) -> de::Unexpected<'_> {
        match self {
            Raw::Null => de::Unexpected::Unit,
            Raw::Bool(b) => de::Unexpected::Bool(*b),
            Raw::Int(n) => de::Unexpected::Signed(*n),
            Raw::UInt(n) => de::Unexpected::Unsigned(*n),
            Raw::Float(n) => de::Unexpected::Float(*n),
            // Not the text itself: a value in the wrong place may be a secret.
            Raw::Text(_) => de::Unexpected::Other("a string"),
            Raw::List(_) => de::Unexpected::Seq,
            Raw::Map(_) => de::Unexpected::Map,
        }
    }
}

/// `deserialize_*` methods for targets that are not text: see [`Raw::refusing_text`].
macro_rules! refuse_text {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, v: V) -> Result<V::Value, RawError> {
                self.refusing_text(v)
            }
        )*
    };
}

impl Raw {
    /// Reads a value whose target is not text: text is an error that names its type only.
    fn refusing_text<'de, V: Visitor<'de>>(self, v: V) -> Result<V::Value, RawError> {
        match self {
            Raw::Text(_) => Err(de::Error::invalid_type(self.unexpected(), &v)),
            other => other.deserialize_any(v),
        }
    }
}

impl<'de> Deserializer<'de> for Raw {
    type Error = RawError;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, RawError> {
        match self {
            Raw::Null => v.visit_unit(),
            Raw::Bool(b) => v.visit_bool(b),
            Raw::Int(n) => v.visit_i64(n),
            Raw::UInt(n) => v.visit_u64(n),
            Raw::Float(n) => v.visit_f64(n),
            Raw::Text(s) => v.visit_string(s),
            Raw::List(items) => v.visit_seq(de::value::SeqDeserializer::new(items.into_iter())),
            Raw::Map(map) => v.visit_map(de::value::MapDeserializer::new(map.into_iter())),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, RawError> {
        match self {
            Raw::Null => v.visit_none(),
            other => v.visit_some(other),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value, RawError> {
        match self.scalar_text() {
            Some(text) => v.visit_string(text),
            None => Err(de::Error::invalid_type(self.unexpected(), &v)),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, RawError> {
        self.deserialize_str(v)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, RawError> {
        match self {
            Raw::Text(s) => v.visit_enum(s.into_deserializer()),
            other => Err(de::Error::invalid_type(other.unexpected(), &v)),
        }
    }

    // Where anything but text is expected, text is refused without repeating it: a value in
    // the wrong place may be a secret.
    refuse_text! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128 deserialize_f32 deserialize_f64 deserialize_seq deserialize_map
        deserialize_bytes deserialize_byte_buf deserialize_unit
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, RawError> {
        self.refusing_text(v)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, v: V) -> Result<V::Value, RawError> {
        self.refusing_text(v)
    }

    serde::forward_to_deserialize_any! {
        char unit_struct newtype_struct tuple_struct identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Kind {
        #[serde(default)]
        schema: Option<String>,
        #[serde(default)]
        max_keys: Option<u64>,
        #[serde(default)]
        config: BTreeMap<String, String>,
        #[serde(default)]
        keys: Option<Vec<String>>,
    }

    fn settings(yaml: &str) -> Settings {
        serde_saphyr::from_str(yaml).expect("yaml")
    }

    #[test]
    fn plain_scalars_read_as_text_where_text_is_expected() {
        let s = settings("schema: 2024\nconfig: { list_id: 12345, enabled: true }\nmax_keys: 7\n");
        let k: Kind = parse(&s).expect("parses");
        assert_eq!(k.schema.as_deref(), Some("2024"));
        assert_eq!(k.config["list_id"], "12345");
        assert_eq!(k.config["enabled"], "true");
        assert_eq!(k.max_keys, Some(7));
    }

    #[test]
    fn wrong_types_and_unknown_keys_are_errors() {
        let e = parse::<Kind>(&settings("max_keys: many\n")).unwrap_err();
        assert!(e.contains("invalid type"), "{e}");
        let e = parse::<Kind>(&settings("keys: { a: b }\n")).unwrap_err();
        assert!(e.contains("invalid type: map"), "{e}");
        let e = parse::<Kind>(&settings("bucket: x\n")).unwrap_err();
        assert!(e.contains("unknown field `bucket`"), "{e}");
    }
}
