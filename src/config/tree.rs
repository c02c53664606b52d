//! The one spanned TOML tree both input files (hosts.toml and the lab file)
//! are read into, and the validation helpers both validators use. Every key
//! and value keeps its byte span, so each problem is reported at
//! file:line:column; validators check the schema by hand over the tree to
//! report every problem at once (serde's `deny_unknown_fields` stops at the
//! first).
//!
//! The tree is built from the document API of `toml_edit`, the parser the
//! `toml` crate itself runs: it gives a span to every key and value, and a
//! table with no span of its own (the implicit `hosts` of `[hosts.A]`, which
//! `toml::Spanned` refuses) takes its key's.

use std::ops::Range;
use std::time::Duration;

use super::Source;
use crate::error::{Diagnostics, Error};

/// One TOML value with its span.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub span: Range<usize>,
    pub value: Value,
}

/// A TOML value; tables keep their keys' order and spans.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Array(Vec<Node>),
    Table(Vec<Entry>),
}

/// A key of a table, its span, and its value.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub key: String,
    pub key_span: Range<usize>,
    pub node: Node,
}

impl Value {
    /// The TOML type's name as an error message says it.
    pub(crate) fn kind(&self) -> &'static str {
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

impl Node {
    /// A table's entries; none for any other value.
    pub(crate) fn entries(&self) -> &[Entry] {
        match &self.value {
            Value::Table(entries) => entries,
            _ => &[],
        }
    }
}

/// The value of `key` in a table's entries.
pub(crate) fn get<'n>(entries: &'n [Entry], key: &str) -> Option<&'n Node> {
    entries.iter().find(|e| e.key == key).map(|e| &e.node)
}

/// Parses `source` into a tree. A TOML syntax error is one located
/// diagnostic; dates and times (which no input file uses) are refused, each
/// where it is.
pub(crate) fn parse(source: &Source) -> Result<Node, Error> {
    let doc = toml_edit::ImDocument::parse(source.text.as_str()).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        let message = crate::util::lower_first(e.message().trim());
        Error::Input(Diagnostics(vec![source.diag(span, message)]))
    })?;
    let mut dates = Vec::new();
    let root = table(doc.as_table(), 0..0, &mut dates);
    if dates.is_empty() {
        return Ok(root);
    }
    Err(Error::Input(Diagnostics(
        dates
            .into_iter()
            .map(|span| {
                source.diag_hint(
                    span,
                    "dates and times have no meaning in a lab or hosts file",
                    "write the value as a quoted string",
                )
            })
            .collect(),
    )))
}

fn table(t: &toml_edit::Table, fallback: Range<usize>, dates: &mut Vec<Range<usize>>) -> Node {
    let entries = t.iter().map(|(k, it)| {
        let key_span = t
            .get_key_value(k)
            .and_then(|(key, _)| key.span())
            .unwrap_or(0..0);
        let node = item(it, key_span.clone(), dates);
        entry(k, key_span, node)
    });
    Node {
        span: t.span().unwrap_or(fallback),
        value: Value::Table(entries.collect()),
    }
}

fn entry(key: &str, key_span: Range<usize>, node: Node) -> Entry {
    Entry {
        key: key.to_string(),
        key_span,
        node,
    }
}

fn item(item: &toml_edit::Item, fallback: Range<usize>, dates: &mut Vec<Range<usize>>) -> Node {
    match item {
        toml_edit::Item::Value(v) => value(v, fallback, dates),
        toml_edit::Item::Table(t) => table(t, fallback, dates),
        toml_edit::Item::ArrayOfTables(a) => Node {
            span: a.span().unwrap_or(fallback.clone()),
            value: Value::Array(
                a.iter()
                    .map(|t| table(t, fallback.clone(), dates))
                    .collect(),
            ),
        },
        toml_edit::Item::None => Node {
            span: fallback,
            value: Value::Table(Vec::new()),
        },
    }
}

fn value(v: &toml_edit::Value, fallback: Range<usize>, dates: &mut Vec<Range<usize>>) -> Node {
    use toml_edit::Value as V;
    let span = v.span().unwrap_or(fallback);
    let value = match v {
        V::String(s) => Value::Str(s.value().clone()),
        V::Integer(i) => Value::Int(*i.value()),
        V::Float(f) => Value::Float(*f.value()),
        V::Boolean(b) => Value::Bool(*b.value()),
        V::Datetime(_) => {
            dates.push(span.clone());
            // Refused by `parse`; the tree is never seen.
            Value::Str(String::new())
        }
        V::Array(a) => Value::Array(a.iter().map(|x| value(x, span.clone(), dates)).collect()),
        V::InlineTable(t) => Value::Table(
            t.iter()
                .map(|(k, x)| {
                    let key_span = t
                        .get_key_value(k)
                        .and_then(|(key, _)| key.span())
                        .unwrap_or(0..0);
                    let node = value(x, key_span.clone(), dates);
                    entry(k, key_span, node)
                })
                .collect(),
        ),
    };
    Node { span, value }
}

/// `a`, `b` → "`a`, `b`", for hints that list what is allowed.
pub(crate) fn ticked<S: AsRef<str>>(names: &[S]) -> String {
    names
        .iter()
        .map(|n| format!("`{}`", n.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a validator carries while it walks a tree: the file, for locations,
/// and every problem found so far. The helpers check one node's shape,
/// report what is wrong with a hint, and return the value when it is right.
pub(crate) struct Checker<'a> {
    pub src: &'a Source,
    pub diags: Diagnostics,
}

impl<'a> Checker<'a> {
    pub(crate) fn new(src: &'a Source) -> Checker<'a> {
        Checker {
            src,
            diags: Diagnostics::default(),
        }
    }

    /// How many problems were found so far (compare before and after a part).
    pub(crate) fn count(&self) -> usize {
        self.diags.0.len()
    }

    /// A problem at the start of `span`, without a hint.
    pub(crate) fn err(&mut self, span: &Range<usize>, msg: impl Into<String>) {
        self.diags.push(self.src.diag(span.clone(), msg));
    }

    /// A problem at the start of `span`, with a hint.
    pub(crate) fn err_hint(
        &mut self,
        span: &Range<usize>,
        msg: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.diags.push(self.src.diag_hint(span.clone(), msg, hint));
    }

    /// A table's entries; else "{what} must be a table", with `hint` if given.
    pub(crate) fn table<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
        hint: Option<String>,
    ) -> Option<&'n [Entry]> {
        match &node.value {
            Value::Table(entries) => Some(entries),
            other => {
                let mut d = self.src.diag(
                    node.span.clone(),
                    format!("{what} must be a table, found {}", other.kind()),
                );
                d.hint = hint;
                self.diags.push(d);
                None
            }
        }
    }

    /// Reports `e` as an unknown field `place` ("in `[defaults]`"), listing what is allowed there.
    pub(crate) fn unknown(&mut self, e: &Entry, place: &str, allowed: &[&str]) {
        self.err_hint(
            &e.key_span,
            format!("unknown field `{}` {place}", e.key),
            format!("allowed {place}: {}", ticked(allowed)),
        );
    }

    /// A table's entries, reporting every key not in `allowed` as an unknown
    /// field "in {what}" (nothing when `node` is not a table).
    pub(crate) fn fields<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
        allowed: &[&str],
    ) -> &'n [Entry] {
        let Some(entries) = self.table(node, what, None) else {
            return &[];
        };
        for e in entries {
            if !allowed.contains(&e.key.as_str()) {
                self.err_hint(
                    &e.key_span,
                    format!("unknown field `{}` in {what}", e.key),
                    format!("allowed here: {}", ticked(allowed)),
                );
            }
        }
        entries
    }

    /// A string; else "{what} must be a string".
    pub(crate) fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.value {
            Value::Str(s) => Some(s.clone()),
            other => {
                self.err_hint(
                    &node.span,
                    format!("{what} must be a string, found {}", other.kind()),
                    "strings need quotes: `key = \"value\"`",
                );
                None
            }
        }
    }

    /// A string or an array of strings, each with its span.
    pub(crate) fn strings(
        &mut self,
        node: &Node,
        what: &str,
    ) -> Option<Vec<(String, Range<usize>)>> {
        match &node.value {
            Value::Str(s) => Some(vec![(s.clone(), node.span.clone())]),
            Value::Array(items) => {
                let mut out = Vec::new();
                for it in items {
                    out.push((self.string(it, what)?, it.span.clone()));
                }
                Some(out)
            }
            other => {
                self.err_hint(
                    &node.span,
                    format!(
                        "{what} must be a string or an array of strings, found {}",
                        other.kind()
                    ),
                    "write `\"A\"` or `[\"A\", \"B\"]`",
                );
                None
            }
        }
    }

    /// An integer; else "{what} must be an integer", with `hint`.
    pub(crate) fn int(&mut self, node: &Node, what: &str, hint: &str) -> Option<i64> {
        match &node.value {
            Value::Int(i) => Some(*i),
            other => {
                self.err_hint(
                    &node.span,
                    format!("{what} must be an integer, found {}", other.kind()),
                    hint,
                );
                None
            }
        }
    }

    /// A boolean; else "{what} must be true or false", with `hint`.
    pub(crate) fn bool(&mut self, node: &Node, what: &str, hint: &str) -> Option<bool> {
        match &node.value {
            Value::Bool(b) => Some(*b),
            other => {
                self.err_hint(
                    &node.span,
                    format!("{what} must be true or false, found {}", other.kind()),
                    hint,
                );
                None
            }
        }
    }

    /// A duration: seconds (`2`, `0.5`) or a string such as "500ms", "2s",
    /// "1m"; more than zero (or zero when `allow_zero`), at most `max`.
    pub(crate) fn duration(
        &mut self,
        node: &Node,
        what: &str,
        allow_zero: bool,
        max: Duration,
    ) -> Option<Duration> {
        let secs = match &node.value {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::Str(s) => parse_duration(s),
            _ => None,
        };
        let hint = "write seconds (`2`, `0.5`) or a string such as \"500ms\" or \"2s\"";
        match secs {
            // Compared as seconds first: `Duration::from_secs_f64` panics
            // on values past u64 seconds (`1e20`).
            Some(s) if s.is_finite() && s > max.as_secs_f64() => {
                self.err_hint(
                    &node.span,
                    format!("{what} is longer than {}s", max.as_secs()),
                    format!("wait at most {}s", max.as_secs()),
                );
                None
            }
            Some(s) if allow_zero && s == 0.0 => Some(Duration::ZERO),
            Some(s) if s.is_finite() && s >= MIN_DURATION.as_secs_f64() => {
                Some(Duration::from_secs_f64(s))
            }
            Some(s) if s.is_finite() && s > 0.0 => {
                self.err_hint(
                    &node.span,
                    format!("{what} is shorter than 1ms"),
                    "labctl measures time in milliseconds: write \"1ms\" or more",
                );
                None
            }
            Some(s) if s.is_finite() => {
                self.err_hint(&node.span, format!("{what} must be more than zero"), hint);
                None
            }
            _ => {
                self.err_hint(&node.span, format!("{what} is not a duration"), hint);
                None
            }
        }
    }

    /// Every problem found, or `value` when there is none.
    pub(crate) fn finish<T>(self, value: T) -> Result<T, Error> {
        self.diags.into_result(value)
    }
}

/// The shortest duration a lab may ask for (a timer finer than this means nothing over SSH).
pub(crate) const MIN_DURATION: Duration = Duration::from_millis(1);

/// Seconds from "500ms", "2s", "1.5", "1m".
fn parse_duration(s: &str) -> Option<f64> {
    let s = s.trim();
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        (s, 1.0)
    };
    num.trim().parse::<f64>().ok().map(|v| v * scale)
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
    fn a_table_without_a_span_of_its_own_takes_its_keys() {
        let text = "[hosts.A]\nssh = \"a\"\n";
        let src = Source::from_text("hosts.toml", text);
        let root = parse(&src).unwrap();
        let Value::Table(top) = &root.value else {
            panic!("root is a table")
        };
        assert_eq!(top[0].key, "hosts");
        assert_eq!(top[0].node.span, top[0].key_span);
        assert_eq!(src.line_col(top[0].key_span.start), (1, 2));
        let Value::Table(hosts) = &top[0].node.value else {
            panic!("hosts is a table")
        };
        assert_eq!(src.line_col(hosts[0].key_span.start), (1, 8));
    }

    #[test]
    fn a_syntax_error_is_located() {
        let src = Source::from_text("f.toml", "a = 1\nb = \"x\n");
        let Err(Error::Input(d)) = parse(&src) else {
            panic!("expected an input error")
        };
        assert_eq!(d.0.len(), 1);
        assert_eq!(d.0[0].line, 2, "{}", d.0[0]);
    }

    #[test]
    fn every_datetime_is_refused_with_a_plain_message() {
        let src = Source::from_text("lab.toml", "[lab]\nwhen = 1979-05-27\nat = 07:32:00\n");
        let Err(Error::Input(d)) = parse(&src) else {
            panic!("expected an input error")
        };
        assert_eq!((d.0[0].line, d.0[0].col), (2, 8));
        assert_eq!((d.0[1].line, d.0[1].col), (3, 6));
        assert!(d.0[0].message.contains("dates"), "{}", d.0[0].message);
    }

    #[test]
    fn unknown_fields_are_all_reported_with_what_is_allowed() {
        let src = Source::from_text("f.toml", "[t]\na = 1\nb = 2\nc = 3\n");
        let root = parse(&src).unwrap();
        let Value::Table(top) = &root.value else {
            panic!("root is a table")
        };
        let mut c = Checker::new(&src);
        let f = c.fields(&top[0].node, "`[t]`", &["a"]);
        assert_eq!(f.len(), 3);
        assert_eq!(c.count(), 2);
        assert_eq!((c.diags.0[0].line, c.diags.0[0].col), (3, 1));
        assert!(c.diags.0[1].hint.as_deref().unwrap().contains("`a`"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Some(0.5));
        assert_eq!(parse_duration("2s"), Some(2.0));
        assert_eq!(parse_duration("1m"), Some(60.0));
        assert_eq!(parse_duration("x"), None);
        assert_eq!(parse_duration("99999999999999999999s"), Some(1e20));
    }
}
