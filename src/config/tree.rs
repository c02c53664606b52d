//! A TOML document as a tree with a byte span on every key and value, so the
//! lab validator can check the schema by hand and report every problem at
//! once (serde's `deny_unknown_fields` stops at the first).

use std::ops::Range;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use toml::Spanned;

use crate::config::Source;
use crate::error::{Diagnostic, Error};

/// One TOML value with its span.
#[derive(Debug, Clone)]
pub struct Node {
    pub span: Range<usize>,
    pub value: Value,
}

/// A TOML value; tables keep their keys' order and spans.
#[derive(Debug, Clone)]
pub enum Value {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Array(Vec<Node>),
    Table(Vec<Entry>),
}

/// A key of a table, its span, and its value.
#[derive(Debug, Clone)]
pub struct Entry {
    pub key: String,
    pub key_span: Range<usize>,
    pub node: Node,
}

impl Value {
    /// The TOML type's name as an error message says it.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Str(_) => "a string",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Bool(_) => "a boolean",
            Value::Array(_) => "an array",
            Value::Table(_) => "a table",
        }
    }
}

/// Parses `source` into a tree; a TOML syntax error is one located diagnostic.
pub fn parse(source: &Source) -> Result<Node, Error> {
    match source.parse::<Spanned<Raw>>() {
        Ok(root) => Ok(convert(root)),
        Err(Error::Input(mut diags)) => {
            for d in &mut diags.0 {
                if d.message.contains("toml_private_datetime") {
                    d.message = "dates and times have no meaning in a lab file".to_string();
                    d.hint = Some("write the value as a quoted string".to_string());
                }
            }
            Err(Error::Input(diags))
        }
        Err(e) => Err(e),
    }
}

/// A table's entries, or a diagnostic when `node` is not a table.
pub fn table<'a>(source: &Source, node: &'a Node, what: &str) -> Result<&'a [Entry], Diagnostic> {
    match &node.value {
        Value::Table(entries) => Ok(entries),
        other => Err(source.diag(
            node.span.clone(),
            format!("{what} must be a table, found {}", other.kind()),
        )),
    }
}

// The serde side: `Raw` mirrors `Value` with toml's spanned wrappers.
enum Raw {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Array(Vec<Spanned<Raw>>),
    Table(Vec<(Spanned<String>, Spanned<Raw>)>),
}

fn convert(raw: Spanned<Raw>) -> Node {
    let span = raw.span();
    let value = match raw.into_inner() {
        Raw::Str(s) => Value::Str(s),
        Raw::Int(i) => Value::Int(i),
        Raw::Float(f) => Value::Float(f),
        Raw::Bool(b) => Value::Bool(b),
        Raw::Array(items) => Value::Array(items.into_iter().map(convert).collect()),
        Raw::Table(entries) => Value::Table(
            entries
                .into_iter()
                .map(|(k, v)| Entry {
                    key_span: k.span(),
                    key: k.into_inner(),
                    node: convert(v),
                })
                .collect(),
        ),
    };
    Node { span, value }
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Raw;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a TOML value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Raw, E> {
                Ok(Raw::Str(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Raw, E> {
                Ok(Raw::Str(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Raw, E> {
                Ok(Raw::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Raw, E> {
                i64::try_from(v)
                    .map(Raw::Int)
                    .map_err(|_| E::custom("integer out of range"))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Raw, E> {
                Ok(Raw::Float(v))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Raw, E> {
                Ok(Raw::Bool(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Raw, A::Error> {
                let mut items = Vec::new();
                while let Some(x) = a.next_element()? {
                    items.push(x);
                }
                Ok(Raw::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Raw, A::Error> {
                let mut entries = Vec::new();
                while let Some(k) = a.next_key::<Spanned<String>>()? {
                    let v = a.next_value()?;
                    entries.push((k, v));
                }
                Ok(Raw::Table(entries))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_and_value_has_its_span() {
        let text = "[lab]\nname = \"x\"\n[[step]]\nid = \"I.1\"\ndo = [{ ping = [\"B\"] }]\n";
        let src = Source::from_text("lab.toml", text);
        let root = parse(&src).unwrap();
        let Value::Table(top) = &root.value else {
            panic!("root is a table")
        };
        assert_eq!(top[0].key, "lab");
        let Value::Array(steps) = &top[1].node.value else {
            panic!("step is an array")
        };
        let Value::Table(step) = &steps[0].value else {
            panic!("a step is a table")
        };
        assert_eq!(&text[step[0].node.span.clone()], "\"I.1\"");
        assert_eq!(src.line_col(step[1].key_span.start), (5, 1));
    }

    #[test]
    fn a_datetime_is_refused_with_a_plain_message() {
        let src = Source::from_text("lab.toml", "[lab]\nwhen = 1979-05-27\n");
        let Err(Error::Input(d)) = parse(&src) else {
            panic!("expected an input error")
        };
        assert_eq!((d.0[0].line, d.0[0].col), (2, 8));
        assert!(d.0[0].message.contains("dates"), "{}", d.0[0].message);
    }
}
