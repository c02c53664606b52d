//! The lab file's format: from the spanned tree to a [`Lab`], field by
//! field. Every problem with one field (unknown keys and hosts, wrong types,
//! bad template names, patterns, programs) is reported, located, and the
//! walk goes on; what spans steps (ids, `needs`, which programs run when)
//! is checked afterwards by [`super::validate`]. Actions are read in
//! [`action`], the questions (`[[question]]`) in [`question`].

mod action;
mod question;

use std::collections::{BTreeMap, BTreeSet};

use regex::Regex;

use super::model::{action_hosts, Lab, Step, PROGRAMS};
use super::template::{Template, HOST_FIELDS};
use crate::config::tree::{ticked, Checker, Node, Value};
use crate::config::Source;
use crate::error::Diagnostics;

/// Reads `root` (the tree of `src`) as a lab on the bench's `hosts`: the lab
/// if its `[lab]` table was readable, and every problem found.
pub(super) fn read(src: &Source, root: &Node, hosts: &[String]) -> (Option<Lab>, Diagnostics) {
    let mut v = Validator {
        c: Checker::new(src),
        hosts,
        names: BTreeSet::new(),
        vars: BTreeMap::new(),
        own: None,
        own_broken: false,
    };
    let lab = v.lab(root);
    (lab, v.c.diags)
}

struct Validator<'a> {
    c: Checker<'a>,
    hosts: &'a [String],
    /// Every template name that may be used.
    names: BTreeSet<String>,
    /// The lab's `[vars]`, as text.
    vars: BTreeMap<String, String>,
    /// The lab's own `[programs]`, when it has that table.
    own: Option<crate::programs::ProgramSet>,
    /// `programs` is there but not a table (reported): the lab's programs
    /// cannot be judged, and are not (no made-up errors).
    own_broken: bool,
}

const TOP_FIELDS: &[&str] = &["lab", "vars", "step", "question", "programs"];
const LAB_FIELDS: &[&str] = &["name", "title"];
const STEP_FIELDS: &[&str] = &["id", "title", "hosts", "needs", "do"];
const KINDS: &[&str] = &[
    "configure",
    "deploy",
    "ping",
    "capture",
    "start",
    "send",
    "expect",
    "run",
    "stop",
];

fn kind_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "configure" => &["configure", "on"],
        "deploy" => &["deploy", "on"],
        "ping" => &["ping", "on"],
        "capture" => &["capture", "on", "filter"],
        "start" => &["start", "on", "program", "args"],
        "send" => &["send", "lines", "pace"],
        "expect" => &[
            "expect", "stream", "match", "within", "absent", "for", "exit",
        ],
        "run" => &["run", "on", "args", "timeout", "exit", "match"],
        "stop" => &["stop"],
        _ => &[],
    }
}

impl Validator<'_> {
    fn host_list(&mut self, node: &Node, what: &str) -> Option<Vec<String>> {
        let list = self.c.strings(node, what)?;
        if list.is_empty() {
            self.c.err(&node.span, format!("{what} names no host"));
            return None;
        }
        let mut ok = true;
        let mut out = Vec::new();
        for (h, span) in list {
            if !self.hosts.contains(&h) {
                self.c.err_hint(
                    &span,
                    format!("unknown host `{h}`"),
                    format!("the bench's hosts are {}", ticked(self.hosts)),
                );
                ok = false;
            } else if !out.contains(&h) {
                out.push(h);
            }
        }
        ok.then_some(out)
    }

    fn exit_code(&mut self, node: &Node) -> Option<i32> {
        match &node.value {
            Value::Int(i) if (0..=255).contains(i) => Some(*i as i32),
            _ => {
                self.c
                    .err(&node.span, "`exit` must be an exit status, 0 to 255");
                None
            }
        }
    }

    fn template(&mut self, node: &Node, what: &str) -> Option<Template> {
        let s = self.c.string(node, what)?;
        let t = Template::parse(&s);
        let mut ok = true;
        for (offset, problem) in super::template::brace_problems(&s) {
            let at = node.span.start + 1 + offset;
            self.c.err_hint(
                &(at..at),
                problem,
                "write a name in braces such as `{port}`, or `{{` and `}}` for literal braces",
            );
            ok = false;
        }
        for (name, offset) in t.vars() {
            if !self.names.contains(name) {
                // The string's text starts after its opening quote.
                let at = node.span.start + 1 + offset;
                self.c.err_hint(
                    &(at..at),
                    format!("unknown template name `{{{name}}}`"),
                    template_hint(name, self.hosts),
                );
                ok = false;
            }
        }
        ok.then_some(t)
    }

    fn pattern(&mut self, node: &Node, what: &str) -> Option<Template> {
        let t = self.template(node, what)?;
        // Values are escaped at expansion; check the pattern with a plain word in each hole.
        let probe = t.expand_with(
            &super::template::Scope {
                values: self.names.iter().map(|n| (n.clone(), "x".into())).collect(),
            },
            str::to_string,
        );
        if let Err(e) = Regex::new(&probe) {
            let reason = e.to_string();
            let last = reason.lines().last().unwrap_or("").trim().to_string();
            self.c.err_hint(
                &node.span,
                format!("{what} is not a valid regular expression: {}", last.to_lowercase()),
                "the syntax is Rust's `regex` crate; escape literal characters such as `(` with `\\\\`",
            );
            return None;
        }
        Some(t)
    }

    fn object_name(&mut self, node: &Node, what: &str) -> Option<String> {
        let s = self.c.string(node, what)?;
        let ok = s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
        if !ok {
            self.c.err_hint(
                &node.span,
                format!("{what} `{s}` is not a usable name"),
                "use letters, digits, `-`, `_` and `.`, starting with a letter or digit",
            );
            return None;
        }
        Some(s)
    }

    fn program(&mut self, node: &Node) -> Option<String> {
        let s = self.c.string(node, "a program")?;
        if let Some(own) = &self.own {
            return own
                .programs
                .contains_key(&s)
                .then_some(s.clone())
                .or_else(|| {
                    let names: Vec<&str> = own.programs.keys().map(String::as_str).collect();
                    self.c.err_hint(
                        &node.span,
                        format!("`{s}` is not one of the lab's `[programs]`"),
                        format!("the programs are {}", ticked(&names)),
                    );
                    None
                });
        }
        if self.own_broken || PROGRAMS.contains(&s.as_str()) {
            Some(s)
        } else {
            self.c.err_hint(
                &node.span,
                format!("`{s}` is not one of the socket programs"),
                format!("the programs are {}", ticked(&PROGRAMS)),
            );
            None
        }
    }

    fn lab(&mut self, root: &Node) -> Option<Lab> {
        let top = self.c.fields(root, "the lab file", TOP_FIELDS);
        let get = |k: &str| top.iter().find(|e| e.key == k).map(|e| &e.node);

        let (mut name, mut title) = (None, None);
        match get("lab") {
            Some(lab) => {
                let f = self.c.fields(lab, "`[lab]`", LAB_FIELDS);
                match f.iter().find(|e| e.key == "name") {
                    Some(e) => name = self.object_name(&e.node, "the lab's `name`"),
                    None => self.c.err_hint(
                        &lab.span,
                        "`[lab]` has no `name`",
                        "add `name = \"sockets\"`",
                    ),
                }
                if let Some(e) = f.iter().find(|e| e.key == "title") {
                    title = self.c.string(&e.node, "`title`");
                }
            }
            None => self.c.err_hint(
                &(0..0),
                "the lab file has no `[lab]` table",
                "add `[lab]` with `name = \"...\"`",
            ),
        }

        let mut vars = BTreeMap::new();
        if let Some(v) = get("vars") {
            if let Some(entries) = self.c.table(v, "`[vars]`", None) {
                for e in entries {
                    let builtin =
                        HOST_FIELDS.iter().any(|(f, _)| *f == e.key) || self.hosts.contains(&e.key);
                    if builtin || e.key.contains('.') {
                        self.c.err(
                            &e.key_span,
                            format!("`{}` is a built-in template name; choose another", e.key),
                        );
                        continue;
                    }
                    let text = match &e.node.value {
                        Value::Str(s) => s.clone(),
                        Value::Int(i) => i.to_string(),
                        Value::Float(f) => f.to_string(),
                        Value::Bool(b) => b.to_string(),
                        other => {
                            self.c.err(
                                &e.node.span,
                                format!(
                                    "`{}` must be a string or a number, found {}",
                                    e.key,
                                    other.kind()
                                ),
                            );
                            continue;
                        }
                    };
                    vars.insert(e.key.clone(), text);
                }
            }
        }
        self.names = vars.keys().cloned().collect();
        self.vars = vars.clone();
        for (f, _) in HOST_FIELDS {
            self.names.insert(f.to_string());
            for h in self.hosts {
                self.names.insert(format!("{h}.{f}"));
            }
        }

        if let Some(n) = get("programs") {
            self.own = crate::programs::read_table(&mut self.c, n);
            self.own_broken = self.own.is_none();
        }

        let mut steps = Vec::new();
        match get("step") {
            Some(Node {
                value: Value::Array(items),
                ..
            }) => {
                for it in items {
                    if let Some(s) = self.step(it) {
                        steps.push(s);
                    }
                }
            }
            Some(other) => self.c.err_hint(
                &other.span,
                "`step` must be an array of tables",
                "write each step as `[[step]]`",
            ),
            None => self
                .c
                .err_hint(&(0..0), "the lab has no steps", "add a `[[step]]` table"),
        }

        let questions = match get("question") {
            Some(n) => self.questions(n, get("step")),
            None => Vec::new(),
        };
        Some(Lab {
            name: name?,
            title,
            vars,
            steps,
            questions,
            source: self.c.src.clone(),
            programs: self
                .own
                .take()
                .unwrap_or_else(crate::programs::ProgramSet::rust),
        })
    }

    fn step(&mut self, node: &Node) -> Option<Step> {
        let f = self.c.fields(node, "a step", STEP_FIELDS);
        let get = |k: &str| f.iter().find(|e| e.key == k).map(|e| &e.node);
        let before = self.c.count();

        let id = match get("id") {
            Some(n) => self.c.string(n, "a step's `id`").and_then(|id| {
                let ok = !id.is_empty()
                    && id
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c));
                if !ok {
                    self.c.err_hint(
                        &n.span,
                        format!("step id `{id}` is not a handout number"),
                        "write it as the handout numbers it: `I.6`, `I.8b`, `II.3`",
                    );
                }
                ok.then_some(id)
            }),
            None => {
                self.c.err_hint(
                    &node.span,
                    "a step has no `id`",
                    "add `id = \"I.6\"` as the handout numbers it",
                );
                None
            }
        };
        let title = match get("title") {
            Some(n) => self.c.string(n, "a step's `title`"),
            None => {
                self.c.err_hint(
                    &node.span,
                    "a step has no `title`",
                    "add `title = \"...\"`, as the handout says it",
                );
                None
            }
        };
        let hosts = get("hosts").and_then(|n| self.host_list(n, "`hosts`"));
        let mut needs = Vec::new();
        if let Some(n) = get("needs") {
            if let Some(list) = self.c.strings(n, "`needs`") {
                needs = list.into_iter().map(|(s, _)| s).collect();
            }
        }
        let mut actions = Vec::new();
        match get("do") {
            Some(Node {
                value: Value::Array(items),
                ..
            }) => {
                for it in items {
                    if let Some(a) = self.action(it, hosts.as_deref()) {
                        actions.push(a);
                    }
                }
            }
            Some(other) => self.c.err_hint(
                &other.span,
                "`do` must be an array of actions",
                "write `do = [ { start = \"server\", ... }, ... ]` or `[[step.do]]` tables",
            ),
            None => self.c.err_hint(
                &node.span,
                "a step has nothing to `do`",
                "add `do = [ ... ]` with the step's actions",
            ),
        }
        if self.c.count() > before {
            return None;
        }
        let hosts = hosts.unwrap_or_else(|| {
            let mut hs: Vec<String> = Vec::new();
            for a in &actions {
                for h in action_hosts(&a.kind) {
                    if !hs.contains(h) {
                        hs.push(h.clone());
                    }
                }
            }
            hs
        });
        Some(Step {
            id: id?,
            title: title?,
            hosts,
            needs,
            actions,
            span: node.span.clone(),
        })
    }
}

fn template_hint(name: &str, hosts: &[String]) -> String {
    let fields: Vec<&str> = HOST_FIELDS.iter().map(|(f, _)| *f).collect();
    match name.split_once('.') {
        Some((h, _)) if !hosts.iter().any(|x| x == h) => {
            format!(
                "`{h}` is not a host of the bench; hosts are {}",
                ticked(hosts)
            )
        }
        Some(_) => format!("a host's names are {}", ticked(&fields)),
        None => format!(
            "define it under `[vars]`, or use one of {} (or `A.addr`, …)",
            ticked(&fields)
        ),
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Source;
    use crate::error::Error;
    use crate::lab::Lab;

    #[test]
    fn tables_without_a_span_of_their_own_are_judged_like_any_other() {
        // `a.b = 1` and `[lab.x]` make tables with no span of their own; they
        // are located at their key, not refused by the TOML reader.
        let text = "[lab]\nname = \"t\"\na.b = 1\n[lab.x]\ny = 1\n[[step]]\nid = \"I.1\"\ntitle = \"t\"\ndo = [{ ping = \"B\", on = \"A\" }]\n";
        let hosts = ["A".to_string(), "B".to_string()];
        let Err(Error::Input(d)) = Lab::from_source(Source::from_text("lab.toml", text), &hosts)
        else {
            panic!("expected input errors")
        };
        let got: Vec<(usize, usize, &str)> =
            d.0.iter()
                .map(|d| (d.line, d.col, d.message.as_str()))
                .collect();
        assert_eq!(
            got,
            [
                (3, 1, "unknown field `a` in `[lab]`"),
                (4, 6, "unknown field `x` in `[lab]`")
            ]
        );
    }
}
