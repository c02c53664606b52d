//! The lab file (`labs/lab.toml`) from TOML to a validated [`Lab`]: the
//! schema is checked by hand over a spanned tree so that every problem —
//! unknown fields, unknown hosts, steps or programs, dependency cycles, bad
//! patterns or template names, programs used before they start — is reported
//! at once, located to file:line:column, before any host is contacted.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use regex::Regex;

use super::template::{Template, HOST_FIELDS};
use crate::config::tree::{self, Entry, Node, Value};
use crate::config::Source;
use crate::error::{Diagnostic, Diagnostics, Error};

/// The five socket programs a lab may start or run.
pub use crate::hostops::PROGRAMS;

/// How long an expectation waits when the lab does not say.
pub const DEFAULT_WITHIN: Duration = Duration::from_secs(2);
/// How long a `run` action may take when the lab does not say.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest wait a lab may declare.
pub const MAX_WAIT: Duration = Duration::from_secs(600);

/// A validated lab.
#[derive(Debug, Clone)]
pub struct Lab {
    pub name: String,
    pub title: Option<String>,
    /// `[vars]`, as text.
    pub vars: BTreeMap<String, String>,
    /// In file order.
    pub steps: Vec<Step>,
    /// Kept so later stages can locate what they report.
    pub source: Source,
}

#[derive(Debug, Clone)]
pub struct Step {
    pub id: String,
    pub title: String,
    /// The hosts the step works on (declared, or those of its actions).
    pub hosts: Vec<String>,
    pub needs: Vec<String>,
    pub actions: Vec<Action>,
    pub span: Range<usize>,
}

#[derive(Debug, Clone)]
pub struct Action {
    pub kind: ActionKind,
    pub span: Range<usize>,
}

#[derive(Debug, Clone)]
pub enum ActionKind {
    /// Give the lab interface its address; link up.
    Configure { hosts: Vec<String> },
    /// Put the socket programs on the hosts.
    Deploy { hosts: Vec<String> },
    /// From each of `from`, ping each of `to` (but itself) over the lab network.
    Ping { from: Vec<String>, to: Vec<String> },
    /// tcpdump on the lab interface of `host` under `name`, until stopped.
    Capture {
        name: String,
        host: String,
        filter: Template,
    },
    /// A background socket program under `name`.
    Start {
        name: String,
        host: String,
        program: String,
        args: Vec<Template>,
    },
    /// Lines to a program's stdin, `pace` apart.
    Send {
        name: String,
        lines: Vec<Template>,
        pace: Duration,
    },
    Expect {
        name: String,
        stream: Stream,
        check: Check,
    },
    /// A foreground socket program on each host, bounded by `timeout`.
    Run {
        hosts: Vec<String>,
        program: String,
        args: Vec<Template>,
        timeout: Duration,
        exit: i32,
        pattern: Option<Template>,
    },
    /// SIGINT, then TERM, then KILL, for each name.
    Stop { names: Vec<String> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
    Both,
}

#[derive(Debug, Clone)]
pub enum Check {
    /// A line matching `pattern` appears within `within`.
    Match { pattern: Template, within: Duration },
    /// No line matching `pattern` appears for `window`.
    Absent { pattern: Template, window: Duration },
    /// The program ends with `code` within `within`.
    Exit { code: i32, within: Duration },
}

impl ActionKind {
    /// The action's keyword, as in the lab file.
    pub fn keyword(&self) -> &'static str {
        match self {
            ActionKind::Configure { .. } => "configure",
            ActionKind::Deploy { .. } => "deploy",
            ActionKind::Ping { .. } => "ping",
            ActionKind::Capture { .. } => "capture",
            ActionKind::Start { .. } => "start",
            ActionKind::Send { .. } => "send",
            ActionKind::Expect { .. } => "expect",
            ActionKind::Run { .. } => "run",
            ActionKind::Stop { .. } => "stop",
        }
    }
}

impl Lab {
    /// Reads and validates the lab file against the host names of the bench(es).
    pub fn load(path: &Path, hosts: &[String]) -> Result<Lab, Error> {
        Lab::from_source(Source::read(path)?, hosts)
    }

    /// Validates `source`; every problem found is in the returned error.
    pub fn from_source(source: Source, hosts: &[String]) -> Result<Lab, Error> {
        let root = tree::parse(&source)?;
        let mut v = Validator {
            src: &source,
            hosts,
            diags: Diagnostics::default(),
            names: BTreeSet::new(),
        };
        let lab = v.lab(&root);
        let mut diags = v.diags;
        if let Some(lab) = &lab {
            diags.extend(check_graph(lab));
        }
        let lab = lab.unwrap_or_else(|| Lab {
            name: String::new(),
            title: None,
            vars: BTreeMap::new(),
            steps: Vec::new(),
            source: source.clone(),
        });
        dedup(&mut diags);
        diags.into_result(lab)
    }

    pub fn step(&self, id: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.id == id)
    }

    /// Every step in the order a whole run takes them: file order, except
    /// that a step runs after the steps it needs.
    pub fn run_order(&self) -> Vec<usize> {
        let n = self.steps.len();
        let mut done = vec![false; n];
        let mut order = Vec::with_capacity(n);
        while order.len() < n {
            let next = (0..n).find(|&i| {
                !done[i]
                    && self.steps[i]
                        .needs
                        .iter()
                        .all(|d| self.step(d).is_none_or(|j| done[j]))
            });
            // A cycle was refused by validation; fall back to file order if one slipped through.
            let i = next.unwrap_or_else(|| (0..n).find(|&i| !done[i]).expect("steps remain"));
            done[i] = true;
            order.push(i);
        }
        order
    }

    /// The steps `targets` need, transitively, and the targets, in run order.
    pub fn closure(&self, targets: &[usize]) -> Vec<usize> {
        let mut want = BTreeSet::new();
        let mut todo: Vec<usize> = targets.to_vec();
        while let Some(i) = todo.pop() {
            if want.insert(i) {
                todo.extend(self.steps[i].needs.iter().filter_map(|d| self.step(d)));
            }
        }
        self.run_order()
            .into_iter()
            .filter(|i| want.contains(i))
            .collect()
    }

    /// Where in the file `span` starts, as `file:line:col`.
    pub fn locate(&self, span: &Range<usize>) -> String {
        let (l, c) = self.source.line_col(span.start);
        format!("{}:{l}:{c}", self.source.path.display())
    }
}

/// Which host each named program or capture runs on after simulating the
/// steps `seq` in order, or the first problem found (used by planning).
pub fn resolve_hosts(lab: &Lab, seq: &[usize]) -> Result<Vec<Vec<Vec<String>>>, Diagnostic> {
    let mut sim = Sim::default();
    let mut out = Vec::new();
    for &i in seq {
        let mut per_action = Vec::new();
        for a in &lab.steps[i].actions {
            match sim.apply(lab, i, a) {
                Ok(hosts) => per_action.push(hosts),
                Err(msg) => return Err(lab.source.diag(a.span.clone(), msg.text)),
            }
        }
        out.push(per_action);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Schema: tree -> Lab

struct Validator<'a> {
    src: &'a Source,
    hosts: &'a [String],
    diags: Diagnostics,
    /// Every template name that may be used.
    names: BTreeSet<String>,
}

const TOP_FIELDS: &[&str] = &["lab", "vars", "step"];
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

fn ticked(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Validator<'_> {
    fn err(&mut self, span: &Range<usize>, msg: impl Into<String>) {
        self.diags.push(self.src.diag(span.clone(), msg));
    }

    fn err_hint(&mut self, span: &Range<usize>, msg: impl Into<String>, hint: impl Into<String>) {
        self.diags.push(self.src.diag_hint(span.clone(), msg, hint));
    }

    /// The entries of a table, reporting unknown keys.
    fn fields<'n>(&mut self, node: &'n Node, what: &str, allowed: &[&str]) -> &'n [Entry] {
        let entries = match tree::table(self.src, node, what) {
            Ok(e) => e,
            Err(d) => {
                self.diags.push(d);
                return &[];
            }
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

    fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.value {
            Value::Str(s) => Some(s.clone()),
            other => {
                self.err(
                    &node.span,
                    format!("{what} must be a string, found {}", other.kind()),
                );
                None
            }
        }
    }

    /// A string or an array of strings.
    fn strings(&mut self, node: &Node, what: &str) -> Option<Vec<(String, Range<usize>)>> {
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
                self.err(
                    &node.span,
                    format!(
                        "{what} must be a string or an array of strings, found {}",
                        other.kind()
                    ),
                );
                None
            }
        }
    }

    fn host_list(&mut self, node: &Node, what: &str) -> Option<Vec<String>> {
        let list = self.strings(node, what)?;
        if list.is_empty() {
            self.err(&node.span, format!("{what} names no host"));
            return None;
        }
        let mut ok = true;
        let mut out = Vec::new();
        for (h, span) in list {
            if !self.hosts.contains(&h) {
                self.err_hint(
                    &span,
                    format!("unknown host `{h}`"),
                    format!("the bench's hosts are {}", ticked(&self.hosts_str())),
                );
                ok = false;
            } else if !out.contains(&h) {
                out.push(h);
            }
        }
        ok.then_some(out)
    }

    fn hosts_str(&self) -> Vec<&str> {
        self.hosts.iter().map(String::as_str).collect()
    }

    fn duration(&mut self, node: &Node, what: &str, allow_zero: bool) -> Option<Duration> {
        let secs = match &node.value {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::Str(s) => parse_duration(s),
            _ => None,
        };
        let hint = "write seconds (`2`, `0.5`) or a string such as \"500ms\" or \"2s\"";
        match secs {
            Some(s) if s.is_finite() && (s > 0.0 || (allow_zero && s == 0.0)) => {
                let d = Duration::from_secs_f64(s);
                if d > MAX_WAIT {
                    self.err(
                        &node.span,
                        format!("{what} is longer than {}s", MAX_WAIT.as_secs()),
                    );
                    None
                } else {
                    Some(d)
                }
            }
            Some(_) => {
                self.err_hint(&node.span, format!("{what} must be more than zero"), hint);
                None
            }
            None => {
                self.err_hint(&node.span, format!("{what} is not a duration"), hint);
                None
            }
        }
    }

    fn exit_code(&mut self, node: &Node) -> Option<i32> {
        match &node.value {
            Value::Int(i) if (0..=255).contains(i) => Some(*i as i32),
            _ => {
                self.err(&node.span, "`exit` must be an exit status, 0 to 255");
                None
            }
        }
    }

    fn template(&mut self, node: &Node, what: &str) -> Option<Template> {
        let s = self.string(node, what)?;
        let t = Template::parse(&s);
        let mut ok = true;
        for (name, offset) in t.vars() {
            if !self.names.contains(name) {
                // The string's text starts after its opening quote.
                let at = node.span.start + 1 + offset;
                self.err_hint(
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
            self.err_hint(
                &node.span,
                format!("{what} is not a valid regular expression: {}", last.to_lowercase()),
                "the syntax is Rust's `regex` crate; escape literal characters such as `(` with `\\\\`",
            );
            return None;
        }
        Some(t)
    }

    fn object_name(&mut self, node: &Node, what: &str) -> Option<String> {
        let s = self.string(node, what)?;
        let ok = s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
        if !ok {
            self.err_hint(
                &node.span,
                format!("{what} `{s}` is not a usable name"),
                "use letters, digits, `-`, `_` and `.`, starting with a letter or digit",
            );
            return None;
        }
        Some(s)
    }

    fn program(&mut self, node: &Node) -> Option<String> {
        let s = self.string(node, "a program")?;
        if PROGRAMS.contains(&s.as_str()) {
            Some(s)
        } else {
            self.err_hint(
                &node.span,
                format!("`{s}` is not one of the socket programs"),
                format!("the programs are {}", ticked(&PROGRAMS)),
            );
            None
        }
    }

    fn lab(&mut self, root: &Node) -> Option<Lab> {
        let top = self.fields(root, "the lab file", TOP_FIELDS);
        let get = |k: &str| top.iter().find(|e| e.key == k).map(|e| &e.node);

        let (mut name, mut title) = (None, None);
        match get("lab") {
            Some(lab) => {
                let f = self.fields(lab, "`[lab]`", LAB_FIELDS);
                match f.iter().find(|e| e.key == "name") {
                    Some(e) => name = self.object_name(&e.node, "the lab's `name`"),
                    None => self.err_hint(
                        &lab.span,
                        "`[lab]` has no `name`",
                        "add `name = \"sockets\"`",
                    ),
                }
                if let Some(e) = f.iter().find(|e| e.key == "title") {
                    title = self.string(&e.node, "`title`");
                }
            }
            None => self.err_hint(
                &(0..0),
                "the lab file has no `[lab]` table",
                "add `[lab]` with `name = \"...\"`",
            ),
        }

        let mut vars = BTreeMap::new();
        if let Some(v) = get("vars") {
            if let Ok(entries) =
                tree::table(self.src, v, "`[vars]`").map_err(|d| self.diags.push(d))
            {
                for e in entries {
                    let builtin =
                        HOST_FIELDS.iter().any(|(f, _)| *f == e.key) || self.hosts.contains(&e.key);
                    if builtin || e.key.contains('.') {
                        self.err(
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
                            self.err(
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
        for (f, _) in HOST_FIELDS {
            self.names.insert(f.to_string());
            for h in self.hosts {
                self.names.insert(format!("{h}.{f}"));
            }
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
            Some(other) => self.err_hint(
                &other.span,
                "`step` must be an array of tables",
                "write each step as `[[step]]`",
            ),
            None => self.err_hint(&(0..0), "the lab has no steps", "add a `[[step]]` table"),
        }

        Some(Lab {
            name: name?,
            title,
            vars,
            steps,
            source: self.src.clone(),
        })
    }

    fn step(&mut self, node: &Node) -> Option<Step> {
        let f = self.fields(node, "a step", STEP_FIELDS);
        let get = |k: &str| f.iter().find(|e| e.key == k).map(|e| &e.node);
        let before = self.diags.0.len();

        let id = match get("id") {
            Some(n) => self.string(n, "a step's `id`").and_then(|id| {
                let ok = !id.is_empty()
                    && id
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c));
                if !ok {
                    self.err_hint(
                        &n.span,
                        format!("step id `{id}` is not a handout number"),
                        "write it as the handout numbers it: `I.6`, `I.8b`, `II.3`",
                    );
                }
                ok.then_some(id)
            }),
            None => {
                self.err_hint(
                    &node.span,
                    "a step has no `id`",
                    "add `id = \"I.6\"` as the handout numbers it",
                );
                None
            }
        };
        let title = match get("title") {
            Some(n) => self.string(n, "a step's `title`"),
            None => {
                self.err_hint(
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
            if let Some(list) = self.strings(n, "`needs`") {
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
            Some(other) => self.err_hint(
                &other.span,
                "`do` must be an array of actions",
                "write `do = [ { start = \"server\", ... }, ... ]` or `[[step.do]]` tables",
            ),
            None => self.err_hint(
                &node.span,
                "a step has nothing to `do`",
                "add `do = [ ... ]` with the step's actions",
            ),
        }
        if self.diags.0.len() > before {
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

    fn action(&mut self, node: &Node, step_hosts: Option<&[String]>) -> Option<Action> {
        let entries = match tree::table(self.src, node, "an action") {
            Ok(e) => e,
            Err(d) => {
                self.diags.push(d);
                return None;
            }
        };
        let kinds: Vec<&Entry> = entries
            .iter()
            .filter(|e| KINDS.contains(&e.key.as_str()))
            .collect();
        let kind = match kinds.as_slice() {
            [k] => k.key.as_str(),
            [] => {
                self.err_hint(
                    &node.span,
                    "an action needs a keyword saying what it does",
                    format!("one of {}", ticked(KINDS)),
                );
                // Still report unknown keys.
                self.fields(node, "an action", KINDS);
                return None;
            }
            [first, second, ..] => {
                self.err_hint(
                    &second.key_span,
                    format!(
                        "one action cannot both `{}` and `{}`",
                        first.key, second.key
                    ),
                    "split it into two actions, in the order they happen",
                );
                return None;
            }
        };
        let f = self.fields(node, &format!("a `{kind}` action"), kind_fields(kind));
        let get = |k: &str| f.iter().find(|e| e.key == k).map(|e| &e.node);
        let subject = get(kind).expect("the keyword is present");
        let before = self.diags.0.len();

        // `on`, or the step's hosts.
        let on = |v: &mut Self, single: bool| -> Option<Vec<String>> {
            let hosts = match get("on") {
                Some(n) => v.host_list(n, "`on`")?,
                None => match step_hosts {
                    Some(h) => h.to_vec(),
                    None => {
                        v.err_hint(
                            &subject.span,
                            format!("`{kind}` does not say where"),
                            "add `on = \"A\"`, or `hosts` to the step",
                        );
                        return None;
                    }
                },
            };
            if single && hosts.len() != 1 {
                let span = get("on").map_or(subject.span.clone(), |n| n.span.clone());
                v.err_hint(
                    &span,
                    format!("`{kind}` runs on exactly one host, not {}", hosts.len()),
                    "add `on = \"A\"` naming one host",
                );
                return None;
            }
            Some(hosts)
        };
        let yes = |v: &mut Self| match subject.value {
            Value::Bool(true) => Some(()),
            _ => {
                v.err_hint(
                    &subject.span,
                    format!("`{kind}` takes `true`"),
                    format!("write `{kind} = true`, with `on = [...]` for the hosts"),
                );
                None
            }
        };
        let args = |v: &mut Self| -> Option<Vec<Template>> {
            match get("args") {
                None => Some(Vec::new()),
                Some(Node {
                    value: Value::Array(items),
                    ..
                }) => {
                    let mut out = Vec::new();
                    let mut ok = true;
                    for it in items {
                        match v.template(it, "an argument") {
                            Some(t) => out.push(t),
                            None => ok = false,
                        }
                    }
                    ok.then_some(out)
                }
                Some(n) => {
                    v.err_hint(
                        &n.span,
                        "`args` must be an array of strings",
                        "write `args = [\"--port\", \"{port}\"]`: one string per argument",
                    );
                    None
                }
            }
        };

        let kind = match kind {
            "configure" => {
                yes(self);
                ActionKind::Configure {
                    hosts: on(self, false)?,
                }
            }
            "deploy" => {
                yes(self);
                ActionKind::Deploy {
                    hosts: on(self, false)?,
                }
            }
            "ping" => {
                let to = self.host_list(subject, "`ping`");
                let from = on(self, false);
                ActionKind::Ping {
                    from: from?,
                    to: to?,
                }
            }
            "capture" => {
                let name = self.object_name(subject, "a capture's name");
                let host = on(self, true);
                let filter = match get("filter") {
                    Some(n) => self.template(n, "`filter`"),
                    None => Some(Template::parse("")),
                };
                ActionKind::Capture {
                    name: name?,
                    host: host?.remove(0),
                    filter: filter?,
                }
            }
            "start" => {
                let name = self.object_name(subject, "a program's name");
                let host = on(self, true);
                let program = match get("program") {
                    Some(n) => self.program(n),
                    None => {
                        self.err_hint(
                            &subject.span,
                            "`start` does not say which program",
                            format!("add `program = ...`, one of {}", ticked(&PROGRAMS)),
                        );
                        None
                    }
                };
                let args = args(self);
                ActionKind::Start {
                    name: name?,
                    host: host?.remove(0),
                    program: program?,
                    args: args?,
                }
            }
            "send" => {
                let name = self.string(subject, "`send`");
                let lines = match get("lines") {
                    Some(Node {
                        value: Value::Array(items),
                        ..
                    }) => {
                        let mut out = Vec::new();
                        for it in items {
                            if let Some(t) = self.template(it, "a line") {
                                if t.text.contains('\n') {
                                    self.err(&it.span, "a line to send cannot contain a newline; make it two lines");
                                }
                                out.push(t);
                            }
                        }
                        Some(out)
                    }
                    Some(n) => {
                        self.err(&n.span, "`lines` must be an array of strings");
                        None
                    }
                    None => {
                        self.err_hint(
                            &subject.span,
                            "`send` has no `lines`",
                            "add `lines = [\"hello\"]`",
                        );
                        None
                    }
                };
                let pace =
                    get("pace").map_or(Some(Duration::ZERO), |n| self.duration(n, "`pace`", true));
                ActionKind::Send {
                    name: name?,
                    lines: lines?,
                    pace: pace?,
                }
            }
            "expect" => {
                let name = self.string(subject, "`expect`");
                let stream = match get("stream") {
                    None => Some(Stream::Stdout),
                    Some(n) => match self.string(n, "`stream`").as_deref() {
                        Some("stdout") => Some(Stream::Stdout),
                        Some("stderr") => Some(Stream::Stderr),
                        Some("both") => Some(Stream::Both),
                        Some(other) => {
                            self.err_hint(
                                &n.span,
                                format!("unknown stream `{other}`"),
                                "one of `stdout`, `stderr`, `both`",
                            );
                            None
                        }
                        None => None,
                    },
                };
                let check = self.check(subject, &get);
                ActionKind::Expect {
                    name: name?,
                    stream: stream?,
                    check: check?,
                }
            }
            "run" => {
                let program = self.program(subject);
                let hosts = on(self, false);
                let args = args(self);
                let timeout = get("timeout").map_or(Some(DEFAULT_TIMEOUT), |n| {
                    self.duration(n, "`timeout`", false)
                });
                let exit = get("exit").map_or(Some(0), |n| self.exit_code(n));
                let pattern = match get("match") {
                    Some(n) => Some(self.pattern(n, "`match`")?),
                    None => None,
                };
                ActionKind::Run {
                    hosts: hosts?,
                    program: program?,
                    args: args?,
                    timeout: timeout?,
                    exit: exit?,
                    pattern,
                }
            }
            "stop" => {
                let names = self.strings(subject, "`stop`")?;
                if names.is_empty() {
                    self.err(&subject.span, "`stop` names nothing");
                }
                ActionKind::Stop {
                    names: names.into_iter().map(|(s, _)| s).collect(),
                }
            }
            _ => unreachable!("kinds are listed in KINDS"),
        };
        (self.diags.0.len() == before).then(|| Action {
            kind,
            span: node.span.clone(),
        })
    }

    fn check<'n>(
        &mut self,
        subject: &Node,
        get: &dyn Fn(&str) -> Option<&'n Node>,
    ) -> Option<Check> {
        let present: Vec<&str> = ["match", "absent", "exit"]
            .into_iter()
            .filter(|k| get(k).is_some())
            .collect();
        let hint = "`match = \"regex\"` (with `within`), `absent = \"regex\"` (with `for`), or `exit = 0` (with `within`)";
        if present.len() != 1 {
            let msg = if present.is_empty() {
                "`expect` does not say what to expect".to_string()
            } else {
                format!(
                    "`expect` takes one of {}, not all of them",
                    ticked(&present)
                )
            };
            self.err_hint(&subject.span, msg, hint);
            return None;
        }
        let within = |v: &mut Self| {
            get("within").map_or(Some(DEFAULT_WITHIN), |n| v.duration(n, "`within`", false))
        };
        match present[0] {
            "match" => {
                if let Some(n) = get("for") {
                    self.err_hint(
                        &n.span,
                        "`for` goes with `absent`; `match` waits `within`",
                        hint,
                    );
                }
                let pattern = self.pattern(get("match").expect("present"), "`match`");
                let within = within(self);
                Some(Check::Match {
                    pattern: pattern?,
                    within: within?,
                })
            }
            "absent" => {
                if let Some(n) = get("within") {
                    self.err_hint(&n.span, "`absent` watches `for` a time, not `within`", hint);
                }
                let pattern = self.pattern(get("absent").expect("present"), "`absent`");
                let window = match get("for") {
                    Some(n) => self.duration(n, "`for`", false),
                    None => {
                        self.err_hint(
                            &subject.span,
                            "`absent` does not say `for` how long",
                            "add `for = \"1s\"`",
                        );
                        None
                    }
                };
                Some(Check::Absent {
                    pattern: pattern?,
                    window: window?,
                })
            }
            _ => {
                if let Some(n) = get("for") {
                    self.err_hint(
                        &n.span,
                        "`for` goes with `absent`; `exit` waits `within`",
                        hint,
                    );
                }
                let code = self.exit_code(get("exit").expect("present"));
                let within = within(self);
                Some(Check::Exit {
                    code: code?,
                    within: within?,
                })
            }
        }
    }
}

fn template_hint(name: &str, hosts: &[String]) -> String {
    let fields: Vec<&str> = HOST_FIELDS.iter().map(|(f, _)| *f).collect();
    match name.split_once('.') {
        Some((h, _)) if !hosts.iter().any(|x| x == h) => {
            format!(
                "`{h}` is not a host of the bench; hosts are {}",
                ticked(&hosts.iter().map(String::as_str).collect::<Vec<_>>())
            )
        }
        Some(_) => format!("a host's names are {}", ticked(&fields)),
        None => format!(
            "define it under `[vars]`, or use one of {} (or `A.addr`, …)",
            ticked(&fields)
        ),
    }
}

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

/// The hosts an action names directly (named programs' hosts come from simulation).
pub fn action_hosts(kind: &ActionKind) -> &[String] {
    match kind {
        ActionKind::Configure { hosts }
        | ActionKind::Deploy { hosts }
        | ActionKind::Run { hosts, .. } => hosts,
        ActionKind::Ping { from, .. } => from,
        ActionKind::Capture { host, .. } | ActionKind::Start { host, .. } => {
            std::slice::from_ref(host)
        }
        ActionKind::Send { .. } | ActionKind::Expect { .. } | ActionKind::Stop { .. } => &[],
    }
}

// ---------------------------------------------------------------------------
// The graph: step ids, needs, cycles, and which programs run when.

fn check_graph(lab: &Lab) -> Diagnostics {
    let src = &lab.source;
    let mut d = Diagnostics::default();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for s in &lab.steps {
        if let Some(&first) = seen.get(s.id.as_str()) {
            let (line, _) = src.line_col(first);
            d.push(src.diag_hint(
                s.span.clone(),
                format!("step `{}` is defined twice", s.id),
                format!("the first is at line {line}; give each step its own id"),
            ));
        } else {
            seen.insert(&s.id, s.span.start);
        }
        for n in &s.needs {
            if n == &s.id {
                d.push(src.diag(s.span.clone(), format!("step `{}` needs itself", s.id)));
            } else if lab.step(n).is_none() {
                d.push(src.diag_hint(
                    s.span.clone(),
                    format!("step `{}` needs unknown step `{n}`", s.id),
                    format!("steps are {}", ids_hint(lab)),
                ));
            }
        }
    }
    if !d.is_empty() {
        return d;
    }
    if let Some(cycle) = find_cycle(lab) {
        let path: Vec<String> = cycle
            .iter()
            .map(|&i| format!("`{}`", lab.steps[i].id))
            .collect();
        let first = cycle[0];
        d.push(src.diag_hint(
            lab.steps[first].span.clone(),
            format!("dependency cycle: {}", path.join(" → ")),
            "a step can only need steps that can run before it",
        ));
        return d;
    }
    // The whole lab in run order.
    let mut sim = Sim::default();
    let mut reported = BTreeSet::new();
    for i in lab.run_order() {
        for a in &lab.steps[i].actions {
            if let Err(e) = sim.apply(lab, i, a) {
                d.push(src.diag_hint(a.span.clone(), e.text, e.hint));
                reported.insert(a.span.start);
            }
        }
    }
    // Each step replayed alone: its needs, then itself.
    for (i, step) in lab.steps.iter().enumerate() {
        let mut sim = Sim::default();
        for j in lab.closure(&[i]) {
            for a in &lab.steps[j].actions {
                let r = sim.apply(lab, j, a);
                if let (true, false, Err(e)) = (j == i, reported.contains(&a.span.start), r) {
                    let starters = starters_of(lab, &e.name);
                    let hint = match starters.first() {
                        Some(s) => format!(
                            "add `{s}` (it starts `{}`) to the `needs` of step `{}`",
                            e.name, step.id
                        ),
                        None => e.hint,
                    };
                    d.push(src.diag_hint(
                        a.span.clone(),
                        format!("replaying step `{}` alone: {}", step.id, e.text),
                        hint,
                    ));
                }
            }
        }
    }
    d
}

fn ids_hint(lab: &Lab) -> String {
    let ids: Vec<&str> = lab.steps.iter().map(|s| s.id.as_str()).collect();
    ticked(&ids)
}

fn starters_of(lab: &Lab, name: &str) -> Vec<String> {
    lab.steps
        .iter()
        .filter(|s| {
            s.actions.iter().any(|a| match &a.kind {
                ActionKind::Start { name: n, .. } | ActionKind::Capture { name: n, .. } => {
                    n == name
                }
                _ => false,
            })
        })
        .map(|s| s.id.clone())
        .collect()
}

/// A cycle in `needs`, as step indexes from its start back to it.
fn find_cycle(lab: &Lab) -> Option<Vec<usize>> {
    fn visit(lab: &Lab, i: usize, color: &mut [u8], stack: &mut Vec<usize>) -> Option<Vec<usize>> {
        color[i] = 1;
        stack.push(i);
        for n in &lab.steps[i].needs {
            let Some(j) = lab.step(n) else { continue };
            if color[j] == 1 {
                let at = stack.iter().position(|&x| x == j).expect("on the stack");
                let mut cycle = stack[at..].to_vec();
                cycle.push(j);
                return Some(cycle);
            }
            if color[j] == 0 {
                if let Some(c) = visit(lab, j, color, stack) {
                    return Some(c);
                }
            }
        }
        stack.pop();
        color[i] = 2;
        None
    }
    let mut color = vec![0u8; lab.steps.len()];
    for i in 0..lab.steps.len() {
        if color[i] == 0 {
            if let Some(c) = visit(lab, i, &mut color, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

/// Which programs and captures run, as a sequence of steps is simulated.
#[derive(Default)]
struct Sim {
    /// name -> (host, is a capture, step that started it)
    live: BTreeMap<String, (String, bool, String)>,
    /// name -> how it ended
    ended: BTreeMap<String, String>,
}

struct SimError {
    name: String,
    text: String,
    hint: String,
}

impl Sim {
    /// Applies one action; returns the host(s) it works on.
    fn apply(&mut self, lab: &Lab, step: usize, a: &Action) -> Result<Vec<String>, SimError> {
        let id = &lab.steps[step].id;
        let err = |name: &str, text: String, hint: &str| SimError {
            name: name.to_string(),
            text,
            hint: hint.to_string(),
        };
        let not_running = |sim: &Sim, name: &str| -> SimError {
            match sim.ended.get(name) {
                Some(how) => err(
                    name,
                    format!("`{name}` is not running here: {how}"),
                    "start it again first, or move this action before that",
                ),
                None => err(
                    name,
                    format!("`{name}` is not running here: no step before this one starts it"),
                    "start it with `{ start = \"NAME\", program = ... }` in an earlier step",
                ),
            }
        };
        match &a.kind {
            ActionKind::Start { name, host, .. } | ActionKind::Capture { name, host, .. } => {
                if let Some((_, _, by)) = self.live.get(name) {
                    return Err(err(
                        name,
                        format!("`{name}` is already running (started by step `{by}`)"),
                        "stop it first, or choose another name",
                    ));
                }
                let cap = matches!(a.kind, ActionKind::Capture { .. });
                self.live
                    .insert(name.clone(), (host.clone(), cap, id.clone()));
                self.ended.remove(name);
                Ok(vec![host.clone()])
            }
            ActionKind::Send { name, .. } | ActionKind::Expect { name, .. } => {
                let Some((host, cap, _)) = self.live.get(name).cloned() else {
                    return Err(not_running(self, name));
                };
                if cap {
                    return Err(err(
                        name,
                        format!(
                            "`{name}` is a capture; only a program takes lines or expectations"
                        ),
                        "name a program started with `start`",
                    ));
                }
                if let ActionKind::Expect {
                    check: Check::Exit { .. },
                    ..
                } = a.kind
                {
                    self.live.remove(name);
                    self.ended
                        .insert(name.clone(), format!("it exited in step `{id}`"));
                }
                Ok(vec![host])
            }
            ActionKind::Stop { names } => {
                let mut hosts = Vec::new();
                for name in names {
                    let Some((host, _, _)) = self.live.remove(name) else {
                        return Err(not_running(self, name));
                    };
                    self.ended
                        .insert(name.clone(), format!("step `{id}` stopped it"));
                    hosts.push(host);
                }
                Ok(hosts)
            }
            other => Ok(action_hosts(other).to_vec()),
        }
    }
}

fn dedup(d: &mut Diagnostics) {
    let mut seen = BTreeSet::new();
    d.0.retain(|x| seen.insert((x.line, x.col, x.message.clone())));
}
