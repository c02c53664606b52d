//! The actions of a step (`do = [...]`): one keyword each (`start`,
//! `expect`, …) with its own fields, read into an [`Action`].

use std::time::Duration;

use super::{kind_fields, Validator, KINDS};
use crate::config::tree::{ticked, Entry, Node, Value};
use crate::lab::model::{
    Action, ActionKind, Check, Stream, DEFAULT_TIMEOUT, DEFAULT_WITHIN, MAX_WAIT, PROGRAMS,
};
use crate::lab::template::Template;

impl Validator<'_> {
    pub(super) fn action(&mut self, node: &Node, step_hosts: Option<&[String]>) -> Option<Action> {
        let entries = self.c.table(node, "an action", None)?;
        let kinds: Vec<&Entry> = entries
            .iter()
            .filter(|e| KINDS.contains(&e.key.as_str()))
            .collect();
        let kind = match kinds.as_slice() {
            [k] => k.key.as_str(),
            [] => {
                self.c.err_hint(
                    &node.span,
                    "an action needs a keyword saying what it does",
                    format!("one of {}", ticked(KINDS)),
                );
                // Still report unknown keys.
                self.c.fields(node, "an action", KINDS);
                return None;
            }
            [first, second, ..] => {
                self.c.err_hint(
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
        let f = self
            .c
            .fields(node, &format!("a `{kind}` action"), kind_fields(kind));
        let get = |k: &str| f.iter().find(|e| e.key == k).map(|e| &e.node);
        let subject = get(kind).expect("the keyword is present");
        let before = self.c.count();

        // `on`, or the step's hosts.
        let on = |v: &mut Self, single: bool| -> Option<Vec<String>> {
            let hosts = match get("on") {
                Some(n) => v.host_list(n, "`on`")?,
                None => match step_hosts {
                    Some(h) => h.to_vec(),
                    None => {
                        v.c.err_hint(
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
                v.c.err_hint(
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
                v.c.err_hint(
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
                    v.c.err_hint(
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
                        let names: Vec<&str> = match &self.own {
                            Some(own) => own.programs.keys().map(String::as_str).collect(),
                            None => PROGRAMS.to_vec(),
                        };
                        self.c.err_hint(
                            &subject.span,
                            "`start` does not say which program",
                            format!("add `program = ...`, one of {}", ticked(&names)),
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
                let name = self.c.string(subject, "`send`");
                let lines = match get("lines") {
                    Some(Node {
                        value: Value::Array(items),
                        ..
                    }) => {
                        let mut out = Vec::new();
                        for it in items {
                            if let Some(t) = self.template(it, "a line") {
                                if t.text.contains('\n') {
                                    self.c.err(&it.span, "a line to send cannot contain a newline; make it two lines");
                                }
                                out.push(t);
                            }
                        }
                        Some(out)
                    }
                    Some(n) => {
                        self.c.err(&n.span, "`lines` must be an array of strings");
                        None
                    }
                    None => {
                        self.c.err_hint(
                            &subject.span,
                            "`send` has no `lines`",
                            "add `lines = [\"hello\"]`",
                        );
                        None
                    }
                };
                let pace = get("pace").map_or(Some(Duration::ZERO), |n| {
                    self.c.duration(n, "`pace`", true, MAX_WAIT)
                });
                ActionKind::Send {
                    name: name?,
                    lines: lines?,
                    pace: pace?,
                }
            }
            "expect" => {
                let name = self.c.string(subject, "`expect`");
                let stream = match get("stream") {
                    None => Some(Stream::Stdout),
                    Some(n) => match self.c.string(n, "`stream`").as_deref() {
                        Some("stdout") => Some(Stream::Stdout),
                        Some("stderr") => Some(Stream::Stderr),
                        Some("both") => Some(Stream::Both),
                        Some(other) => {
                            self.c.err_hint(
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
                    self.c.duration(n, "`timeout`", false, MAX_WAIT)
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
                let names = self.c.strings(subject, "`stop`")?;
                if names.is_empty() {
                    self.c.err(&subject.span, "`stop` names nothing");
                }
                ActionKind::Stop {
                    names: names.into_iter().map(|(s, _)| s).collect(),
                }
            }
            _ => unreachable!("kinds are listed in KINDS"),
        };
        (self.c.count() == before).then(|| Action {
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
            self.c.err_hint(&subject.span, msg, hint);
            return None;
        }
        let within = |v: &mut Self| {
            get("within").map_or(Some(DEFAULT_WITHIN), |n| {
                v.c.duration(n, "`within`", false, MAX_WAIT)
            })
        };
        match present[0] {
            "match" => {
                if let Some(n) = get("for") {
                    self.c.err_hint(
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
                    self.c
                        .err_hint(&n.span, "`absent` watches `for` a time, not `within`", hint);
                }
                let pattern = self.pattern(get("absent").expect("present"), "`absent`");
                let window = match get("for") {
                    Some(n) => self.c.duration(n, "`for`", false, MAX_WAIT),
                    None => {
                        self.c.err_hint(
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
                    self.c.err_hint(
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
