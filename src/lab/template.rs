//! Templates in lab files: `{port}`, `{A.addr}`, `{bin}` … inside strings.
//! Parsed once at validation (unknown names are located errors), expanded at
//! planning. A command argument is expanded then shell-quoted as one word;
//! a pattern has each expanded value regex-escaped, so a value can never
//! change a command's or a pattern's meaning.

use std::collections::BTreeMap;

/// Names every host has: `{bin}` etc. mean the host an action runs on,
/// `{B.addr}` etc. name a host of the bench.
pub(crate) const HOST_FIELDS: &[(&str, &str)] = &[
    ("addr", "the lab address without prefix, e.g. 10.0.3.1"),
    ("cidr", "the lab address with prefix, e.g. 10.0.3.1/24"),
    ("iface", "the lab interface, e.g. eth0"),
    (
        "bin",
        "the directory of the socket programs, `<workdir>/bin`",
    ),
    ("workdir", "the host's working directory"),
    ("host", "the host's name, e.g. A"),
];

/// A string with `{name}` holes; `{{` and `}}` are literal braces.
/// Braces that do not enclose a name (`\d{1,3}` in a pattern) stay literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub text: String,
    pub parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Lit(String),
    /// `name` or `host.field`; `offset` is its byte offset in `text`.
    Var {
        name: String,
        offset: usize,
    },
}

/// What the names expand to for one host of one bench.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scope {
    /// Every name, already expanded: lab vars, `bin` …, `A.addr` ….
    pub values: BTreeMap<String, String>,
}

impl Template {
    pub fn parse(text: &str) -> Template {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let b = text.as_bytes();
        let mut i = 0;
        while i < text.len() {
            let rest = &text[i..];
            if rest.starts_with("{{") || rest.starts_with("}}") {
                lit.push_str(&rest[..1]);
                i += 2;
                continue;
            }
            if b[i] == b'{' {
                if let Some(end) = rest.find('}') {
                    let name = &rest[1..end];
                    if is_name(name) {
                        if !lit.is_empty() {
                            parts.push(Part::Lit(std::mem::take(&mut lit)));
                        }
                        parts.push(Part::Var {
                            name: name.to_string(),
                            offset: i,
                        });
                        i += end + 1;
                        continue;
                    }
                }
            }
            let ch = rest.chars().next().expect("not at the end");
            lit.push(ch);
            i += ch.len_utf8();
        }
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Template {
            text: text.to_string(),
            parts,
        }
    }

    /// The names used, with their byte offsets in the text.
    pub fn vars(&self) -> impl Iterator<Item = (&str, usize)> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var { name, offset } => Some((name.as_str(), *offset)),
            Part::Lit(_) => None,
        })
    }

    /// The text with every name replaced by its value; `escape` is applied to values only.
    /// Panics on an unknown name: validation has refused those.
    pub(crate) fn expand_with(&self, scope: &Scope, escape: impl Fn(&str) -> String) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(s) => out.push_str(s),
                Part::Var { name, .. } => {
                    let v = scope
                        .values
                        .get(name)
                        .unwrap_or_else(|| panic!("template name `{name}` passed validation"));
                    out.push_str(&escape(v));
                }
            }
        }
        out
    }

    /// The plain expansion (e.g. one command argument, quoted later as a whole).
    pub(crate) fn expand(&self, scope: &Scope) -> String {
        self.expand_with(scope, str::to_string)
    }

    /// The expansion as a regex: values match literally.
    pub(crate) fn expand_regex(&self, scope: &Scope) -> String {
        self.expand_with(scope, regex::escape)
    }
}

/// Braces that look like a template but are not one: `{}` and an unclosed
/// `{port`. Returned as (byte offset of the `{`, what is wrong). Braces
/// whose content starts with a digit or a sign (`\d{1,3}`) are a pattern's,
/// not a template's, and are left alone.
pub(crate) fn brace_problems(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        if rest.starts_with("{{") || rest.starts_with("}}") {
            i += 2;
            continue;
        }
        if rest.starts_with("{}") {
            out.push((i, "empty template braces `{}`".to_string()));
            i += 2;
            continue;
        }
        if let Some(inside) = rest.strip_prefix('{') {
            let run: String = inside
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
                .collect();
            let next = inside[run.len()..].chars().next();
            let starts_like_name = run.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
            if starts_like_name && next.is_none_or(|c| c.is_whitespace() || c == '{') {
                out.push((i, format!("template `{{{run}` is not closed")));
            }
        }
        i += rest.chars().next().map_or(1, char::len_utf8);
    }
    out
}

fn is_name(s: &str) -> bool {
    let mut segs = s.split('.');
    let ok = |seg: &str| {
        let mut c = seg.chars();
        matches!(c.next(), Some(f) if f.is_ascii_alphabetic() || f == '_')
            && c.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    match (segs.next(), segs.next(), segs.next()) {
        (Some(a), None, None) => ok(a),
        (Some(a), Some(b), None) => ok(a) && ok(b),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(pairs: &[(&str, &str)]) -> Scope {
        Scope {
            values: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn names_and_literal_braces() {
        let t = Template::parse(r"Client {B.addr}:\d{1,5}> {{x}} {port}");
        let names: Vec<_> = t.vars().map(|(n, _)| n).collect();
        assert_eq!(names, ["B.addr", "port"]);
        let s = scope(&[("B.addr", "10.0.3.2"), ("port", "50000")]);
        assert_eq!(t.expand(&s), r"Client 10.0.3.2:\d{1,5}> {x} 50000");
        assert_eq!(t.expand_regex(&s), r"Client 10\.0\.3\.2:\d{1,5}> {x} 50000");
    }

    #[test]
    fn unclosed_and_empty_braces_are_found_but_pattern_braces_are_not() {
        assert_eq!(brace_problems("x {port")[0].0, 2);
        assert_eq!(brace_problems("{port {B.addr}")[0].0, 0);
        assert!(brace_problems("a{}b")[0].1.contains("empty"));
        assert!(brace_problems(r"\d{1,3} {port} {{x}} {{}}").is_empty());
    }

    #[test]
    fn offsets_point_at_the_brace() {
        let t = Template::parse("ab {x}");
        assert_eq!(t.vars().next(), Some(("x", 3)));
    }
}
