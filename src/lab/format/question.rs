//! The lab's questions (`[[question]]`): each names the steps whose
//! evidence answers it, and either the rule that answers it (`answer`) or
//! the evidence it declares (`frames`, `output`, `exit`: see
//! [`crate::lab::evidence`]). Unknown steps, rules, captures, programs and
//! hosts, duplicate ids and missing fields are located errors like any
//! other in the lab file.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use super::Validator;
use crate::capture::filter::{ArpOpName, FilterProto, FrameFilter, ICMP_KINDS, TCP_KINDS};
use crate::config::tree::{get, ticked, Entry, Node, Value};
use crate::lab::evidence::{Addr, Expect, Spec, EXPECT_WORDS};
use crate::lab::model::{Question, Stream, RULES};

const QUESTION_FIELDS: &[&str] = &[
    "id", "text", "evidence", "compare", "answer", "frames", "output", "exit", "why",
];
const FRAMES_FIELDS: &[&str] = &[
    "capture", "proto", "arp", "icmp", "tcp", "src", "dst", "host", "port", "sport", "dport",
    "expect",
];
const OUTPUT_FIELDS: &[&str] = &["program", "on", "match", "stream", "expect"];
const EXIT_FIELDS: &[&str] = &["program", "on", "status"];

/// What the lab's steps name, as written (also in steps with problems of
/// their own, which are reported where they are): what questions may cite.
#[derive(Default)]
pub(super) struct Names {
    steps: Vec<String>,
    captures: Vec<String>,
    /// Programs `start`ed (by their name) and `run` (by their program).
    programs: Vec<String>,
}

impl Names {
    fn of(steps: Option<&Node>) -> Names {
        let mut n = Names::default();
        let Some(Value::Array(steps)) = steps.map(|s| &s.value) else {
            return n;
        };
        let text = |node: Option<&Node>| match node.map(|x| &x.value) {
            Some(Value::Str(s)) => Some(s.clone()),
            _ => None,
        };
        for s in steps {
            n.steps.extend(text(get(s.entries(), "id")));
            let Some(Value::Array(actions)) = get(s.entries(), "do").map(|d| &d.value) else {
                continue;
            };
            for a in actions {
                let e = a.entries();
                n.captures.extend(text(get(e, "capture")));
                n.programs.extend(text(get(e, "start")));
                n.programs.extend(text(get(e, "run")));
            }
        }
        n.captures.dedup();
        n.programs.sort();
        n.programs.dedup();
        n
    }
}

impl Validator<'_> {
    /// Every question of `node` (the `question` array); `steps` is the
    /// `step` array, whose ids, captures and programs the questions may name.
    pub(super) fn questions(&mut self, node: &Node, steps: Option<&Node>) -> Vec<Question> {
        let Value::Array(items) = &node.value else {
            self.c.err_hint(
                &node.span,
                "`question` must be an array of tables",
                "write each question as `[[question]]`",
            );
            return Vec::new();
        };
        let names = Names::of(steps);
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        let mut out = Vec::new();
        for it in items {
            if let Some(q) = self.question(it, &names) {
                if let Some(&first) = seen.get(&q.id) {
                    let (line, _) = self.c.src.line_col(first);
                    self.c.err_hint(
                        &q.span,
                        format!("question `{}` is asked twice", q.id),
                        format!("the first is at line {line}; give each question its own id"),
                    );
                    continue;
                }
                seen.insert(q.id.clone(), q.span.start);
                out.push(q);
            }
        }
        out
    }

    fn question(&mut self, node: &Node, names: &Names) -> Option<Question> {
        let f = self.c.fields(node, "a question", QUESTION_FIELDS);
        let get = |k: &str| f.iter().find(|e| e.key == k).map(|e| &e.node);
        let before = self.c.count();
        let required = |v: &mut Self, key: &str, hint: &str| -> Option<String> {
            match get(key) {
                Some(n) => {
                    let s = v.c.string(n, &format!("a question's `{key}`"))?;
                    if s.trim().is_empty() {
                        v.c.err_hint(&n.span, format!("a question's `{key}` is empty"), hint);
                        return None;
                    }
                    Some(s)
                }
                None => {
                    v.c.err_hint(&node.span, format!("a question has no `{key}`"), hint);
                    None
                }
            }
        };
        let id = required(
            self,
            "id",
            "add `id = \"I.1(a)\"`, as the handout numbers it",
        );
        let text = required(
            self,
            "text",
            "add `text = \"...\"`: the question, in your words",
        );
        let declares = ["frames", "output", "exit"]
            .into_iter()
            .any(|k| get(k).is_some());
        let rule_names: Vec<&str> = RULES.iter().map(|(k, _)| *k).collect();
        let answer = match get("answer") {
            Some(n) => self.c.string(n, "a question's `answer`").and_then(|a| {
                let rule = RULES.iter().find(|(k, _)| *k == a).map(|(_, r)| *r);
                if rule.is_none() {
                    self.c.err_hint(
                        &n.span,
                        format!("unknown answer rule `{a}`"),
                        format!(
                            "the rules are {}; or declare the evidence with `frames`, `output` or `exit`",
                            ticked(&rule_names)
                        ),
                    );
                } else if declares {
                    self.c.err_hint(
                        &n.span,
                        "a question is answered by a rule or by the evidence it declares, not both",
                        "keep `answer`, or `frames`/`output`/`exit`",
                    );
                }
                rule
            }),
            None if declares => None,
            None => {
                self.c.err_hint(
                    &node.span,
                    "a question says neither its `answer` rule nor its evidence",
                    format!(
                        "declare what answers it: `frames = {{ capture = \"cap-B\", arp = \"request\" }}`, `output = {{ program = \"...\", match = \"...\" }}` or `exit = {{ program = \"...\" }}`; or a rule: `answer = \"...\"`, one of {}",
                        ticked(&rule_names)
                    ),
                );
                None
            }
        };
        let steps = |v: &mut Self, key: &str| -> Vec<String> {
            let Some(n) = get(key) else {
                return Vec::new();
            };
            let Some(list) = v.c.strings(n, &format!("a question's `{key}`")) else {
                return Vec::new();
            };
            let mut out = Vec::new();
            for (s, span) in list {
                if !names.steps.contains(&s) {
                    v.c.err_hint(
                        &span,
                        format!("question's `{key}` names unknown step `{s}`"),
                        format!("steps are {}", ticked(&names.steps)),
                    );
                } else if !out.contains(&s) {
                    out.push(s);
                }
            }
            out
        };
        let evidence = steps(self, "evidence");
        let compare = steps(self, "compare");
        if get("evidence").is_some_and(|n| matches!(&n.value, Value::Array(a) if a.is_empty()))
            || get("evidence").is_none()
        {
            self.c.err_hint(
                get("evidence").map_or(&node.span, |n| &n.span),
                "a question names no `evidence`",
                "add `evidence = [\"I.8\"]`: the steps whose captures and output answer it",
            );
        }
        let mut shows = Vec::new();
        for key in ["frames", "output", "exit"] {
            let Some(n) = get(key) else { continue };
            let tables: Vec<&Node> = match &n.value {
                Value::Array(items) => items.iter().collect(),
                _ => vec![n],
            };
            if tables.is_empty() {
                self.c.err_hint(
                    &n.span,
                    format!("a question's `{key}` is empty"),
                    format!("write `{key} = {{ ... }}`, or `[[question.{key}]]` tables"),
                );
            }
            for t in tables {
                let spec = match key {
                    "frames" => self.frames_spec(t, names),
                    "output" => self.output_spec(t, names),
                    _ => self.exit_spec(t, names),
                };
                if let Some(s) = spec {
                    if s_compares(&s) && compare.is_empty() && get("compare").is_none() {
                        self.c.err_hint(
                            &t.span,
                            "`expect` compares with steps the question does not name",
                            "add `compare = [\"...\"]`: the steps to compare with",
                        );
                    }
                    shows.push(s);
                }
            }
        }
        let why = get("why").and_then(|n| {
            let w = self.c.string(n, "a question's `why`")?;
            if get("answer").is_some() {
                self.c.err_hint(
                    &n.span,
                    "`why` explains declared evidence; a rule (`answer`) gives its own",
                    "remove `why`, or declare the evidence with `frames`, `output` or `exit`",
                );
            }
            Some(w)
        });
        if self.c.count() > before {
            return None;
        }
        Some(Question {
            id: id?,
            text: text?,
            evidence,
            compare,
            answer,
            shows,
            why,
            span: node.span.clone(),
        })
    }

    /// A name that must be one of `known` (what the steps name as `what`).
    fn one_of(&mut self, node: &Node, what: &str, known: &[String]) -> Option<String> {
        let s = self.c.string(node, what)?;
        if known.contains(&s) {
            return Some(s);
        }
        self.c.err_hint(
            &node.span,
            format!("{what} `{s}` is not one the lab's steps have"),
            if known.is_empty() {
                "none does".to_string()
            } else {
                format!("they have {}", ticked(known))
            },
        );
        None
    }

    /// A keyword of `words` (their table: keyword, value).
    fn keyword<T: Copy>(&mut self, node: &Node, what: &str, words: &[(&str, T)]) -> Option<T> {
        let s = self.c.string(node, what)?;
        if let Some((_, v)) = words.iter().find(|(k, _)| *k == s) {
            return Some(*v);
        }
        let names: Vec<&str> = words.iter().map(|(k, _)| *k).collect();
        self.c.err_hint(
            &node.span,
            format!("{what} `{s}` is not one labctl knows"),
            format!("one of {}", ticked(&names)),
        );
        None
    }

    fn expect(&mut self, node: Option<&Node>) -> Option<Expect> {
        let Some(n) = node else {
            return Some(Expect::Some);
        };
        let hint = format!("a count (`expect = 2`) or one of {}", ticked(&EXPECT_WORDS));
        match &n.value {
            Value::Int(i) if *i >= 0 => Some(Expect::Exactly(*i as usize)),
            Value::Str(s) if EXPECT_WORDS.contains(&s.as_str()) => Expect::try_from(s.clone()).ok(),
            _ => {
                self.c
                    .err_hint(&n.span, "`expect` says no count labctl knows", hint);
                None
            }
        }
    }

    /// A host of the bench or an IPv4 address (which may be a `[vars]`
    /// name: `"{nobody}"`).
    fn addr(&mut self, node: &Node, what: &str) -> Option<Addr> {
        self.c.string(node, what)?;
        let s = self
            .template(node, what)?
            .expand(&crate::lab::template::Scope {
                values: self.vars.clone(),
            });
        if self.hosts.contains(&s) {
            return Some(Addr::Host(s));
        }
        if let Ok(ip) = s.parse::<Ipv4Addr>() {
            return Some(Addr::Ip(ip));
        }
        self.c.err_hint(
            &node.span,
            format!("{what} `{s}` is neither a host nor an IPv4 address"),
            format!(
                "name a host ({}), or write an address such as `10.0.3.9` (or a `[vars]` name holding one)",
                ticked(self.hosts)
            ),
        );
        None
    }

    /// A port: a number, or a template of the lab's `[vars]` (`"{port}"`).
    fn port(&mut self, node: &Node, what: &str) -> Option<u16> {
        let text = match &node.value {
            Value::Int(i) => i.to_string(),
            Value::Str(_) => {
                let t = self.template(node, what)?;
                t.expand(&crate::lab::template::Scope {
                    values: self.vars.clone(),
                })
            }
            _ => String::new(),
        };
        match text.parse::<u16>() {
            Ok(p) if p > 0 => Some(p),
            _ => {
                self.c.err_hint(
                    &node.span,
                    format!("{what} is not a port"),
                    "a number from 1 to 65535, or a `[vars]` name such as `\"{port}\"`",
                );
                None
            }
        }
    }

    fn frames_spec(&mut self, node: &Node, names: &Names) -> Option<Spec> {
        let f = self.c.fields(node, "a question's `frames`", FRAMES_FIELDS);
        let get = |k: &str| f.iter().find(|e| e.key == k).map(|e| &e.node);
        let before = self.c.count();
        let capture = match get("capture") {
            Some(n) => self.one_of(n, "capture", &names.captures),
            None => {
                self.c.err_hint(
                    &node.span,
                    "`frames` does not say which capture",
                    "add `capture = \"cap-B\"`, a capture of the lab's steps",
                );
                None
            }
        };
        let mut filter = FrameFilter::default();
        const PROTOS: [(&str, FilterProto); 4] = [
            ("arp", FilterProto::Arp),
            ("icmp", FilterProto::Icmp),
            ("tcp", FilterProto::Tcp),
            ("udp", FilterProto::Udp),
        ];
        if let Some(n) = get("proto") {
            filter.proto = self.keyword(n, "`proto`", &PROTOS);
        }
        if let Some(n) = get("arp") {
            filter.arp = self.keyword(
                n,
                "`arp`",
                &[("request", ArpOpName::Request), ("reply", ArpOpName::Reply)],
            );
        }
        if let Some(n) = get("icmp") {
            filter.icmp = self.keyword(n, "`icmp`", &ICMP_KINDS);
        }
        if let Some(n) = get("tcp") {
            filter.tcp = self.keyword(n, "`tcp`", &TCP_KINDS);
        }
        // One protocol: `proto` and the kind fields must agree.
        let implied: Vec<(&str, FilterProto)> = [
            ("arp", filter.arp.map(|_| FilterProto::Arp)),
            ("icmp", filter.icmp.map(|_| FilterProto::Icmp)),
            ("tcp", filter.tcp.map(|_| FilterProto::Tcp)),
        ]
        .into_iter()
        .filter_map(|(k, p)| p.map(|p| (k, p)))
        .chain(filter.proto.map(|p| ("proto", p)))
        .collect();
        if implied.windows(2).any(|w| w[0].1 != w[1].1) {
            let keys: Vec<&str> = implied.iter().map(|(k, _)| *k).collect();
            self.c.err_hint(
                &node.span,
                format!("`frames` names more than one protocol ({})", ticked(&keys)),
                "a frame is ARP, ICMP, TCP or UDP: keep the fields of one",
            );
        }
        let src = get("src").and_then(|n| self.addr(n, "`src`"));
        let dst = get("dst").and_then(|n| self.addr(n, "`dst`"));
        let host = get("host").and_then(|n| self.addr(n, "`host`"));
        for (key, slot) in [
            ("port", &mut filter.port),
            ("sport", &mut filter.sport),
            ("dport", &mut filter.dport),
        ] {
            if let Some(n) = get(key) {
                *slot = self.port(n, &format!("`{key}`"));
            }
        }
        let ported = ["port", "sport", "dport"]
            .into_iter()
            .find(|k| get(k).is_some());
        if let Some(k) = ported {
            if !matches!(
                filter.protocol(),
                Some(FilterProto::Tcp) | Some(FilterProto::Udp)
            ) {
                self.c.err_hint(
                    &get(k).expect("present").span,
                    format!("`{k}` needs `proto = \"tcp\"` or `proto = \"udp\"`"),
                    "ports are TCP's or UDP's: say which",
                );
            }
        }
        let expect = self.expect(get("expect"));
        if self.c.count() > before {
            return None;
        }
        Some(Spec::Frames {
            capture: capture?,
            filter,
            src,
            dst,
            host,
            expect: expect?,
        })
    }

    /// `program` (one the steps start or run) and `on` (a host), shared by `output` and `exit`.
    fn program_on<'n>(
        &mut self,
        node: &Node,
        get: &dyn Fn(&str) -> Option<&'n Node>,
        what: &str,
        names: &Names,
    ) -> (Option<String>, Option<Option<String>>) {
        let program = match get("program") {
            Some(n) => self.one_of(n, "program", &names.programs),
            None => {
                self.c.err_hint(
                    &node.span,
                    format!("`{what}` does not say which program"),
                    "add `program = \"...\"`: a name a step starts, or a program a step runs",
                );
                None
            }
        };
        let on = match get("on") {
            None => Some(None),
            Some(n) => self.c.string(n, "`on`").and_then(|h| {
                if self.hosts.contains(&h) {
                    Some(Some(h))
                } else {
                    self.c.err_hint(
                        &n.span,
                        format!("unknown host `{h}`"),
                        format!("the bench's hosts are {}", ticked(self.hosts)),
                    );
                    None
                }
            }),
        };
        (program, on)
    }

    fn output_spec(&mut self, node: &Node, names: &Names) -> Option<Spec> {
        let f: &[Entry] = self.c.fields(node, "a question's `output`", OUTPUT_FIELDS);
        let get = |k: &str| f.iter().find(|e| e.key == k).map(|e| &e.node);
        let before = self.c.count();
        let (program, on) = self.program_on(node, &get, "output", names);
        let pattern = match get("match") {
            Some(n) => self.pattern(n, "`match`"),
            None => {
                self.c.err_hint(
                    &node.span,
                    "`output` does not say which lines",
                    "add `match = \"regex\"`: the lines that answer",
                );
                None
            }
        };
        let stream = match get("stream") {
            None => Some(Stream::Both),
            Some(n) => self.keyword(
                n,
                "`stream`",
                &[
                    ("stdout", Stream::Stdout),
                    ("stderr", Stream::Stderr),
                    ("both", Stream::Both),
                ],
            ),
        };
        let expect = self.expect(get("expect"));
        if self.c.count() > before {
            return None;
        }
        Some(Spec::Output {
            program: program?,
            on: on?,
            pattern: pattern?,
            stream: stream?,
            expect: expect?,
        })
    }

    fn exit_spec(&mut self, node: &Node, names: &Names) -> Option<Spec> {
        let f: &[Entry] = self.c.fields(node, "a question's `exit`", EXIT_FIELDS);
        let get = |k: &str| f.iter().find(|e| e.key == k).map(|e| &e.node);
        let before = self.c.count();
        let (program, on) = self.program_on(node, &get, "exit", names);
        let status = get("status").and_then(|n| self.exit_code(n));
        if self.c.count() > before {
            return None;
        }
        Some(Spec::Exit {
            program: program?,
            on: on?,
            status,
        })
    }
}

fn s_compares(s: &Spec) -> bool {
    match s {
        Spec::Frames { expect, .. } | Spec::Output { expect, .. } => expect.compares(),
        Spec::Exit { .. } => false,
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Source;
    use crate::error::Error;
    use crate::lab::model::Rule;
    use crate::lab::Lab;

    const STEPS: &str = "[lab]\nname = \"t\"\n[[step]]\nid = \"S.1\"\ntitle = \"t\"\ndo = [{ configure = true, on = \"A\" }]\n";

    fn read(questions: &str) -> Result<Lab, Error> {
        let text = format!("{STEPS}{questions}");
        Lab::from_source(Source::from_text("lab.toml", &text), &["A".to_string()])
    }

    #[test]
    fn a_question_names_its_steps_and_rule() {
        let lab = read("[[question]]\nid = \"Q(a)\"\ntext = \"why?\"\nevidence = [\"S.1\"]\nanswer = \"udp-frames\"\n").unwrap();
        let q = &lab.questions[0];
        assert_eq!((q.id.as_str(), q.answer), ("Q(a)", Some(Rule::UdpFrames)));
        assert_eq!(q.evidence, ["S.1"]);
        assert!(read("").unwrap().questions.is_empty());
    }

    #[test]
    fn unknown_rules_and_steps_are_located_errors_all_at_once() {
        let text =
            "[[question]]\nid = \"Q\"\ntext = \"t\"\nevidence = [\"S.9\"]\nanswer = \"guess\"\n\
[[question]]\nid = \"R\"\ntext = \"t\"\nevidence = [\"S.1\"]\nanswer = \"busy-port\"\n\
[[question]]\nid = \"R\"\ntext = \"t\"\nevidence = \"S.1\"\nanswer = \"busy-port\"\n\
[[question]]\nid = \"T\"\ntext = \"t\"\nanswer = \"busy-port\"\nhint = 1\n";
        let Err(Error::Input(d)) = read(text) else {
            panic!("expected input errors")
        };
        let got: Vec<(usize, usize, &str)> =
            d.0.iter()
                .map(|d| (d.line, d.col, d.message.as_str()))
                .collect();
        assert_eq!(
            got,
            [
                (10, 13, "question's `evidence` names unknown step `S.9`"),
                (11, 10, "unknown answer rule `guess`"),
                (17, 1, "question `R` is asked twice"),
                (22, 1, "a question names no `evidence`"),
                (26, 1, "unknown field `hint` in a question"),
            ],
            "{d:?}"
        );
    }

    /// A lab whose steps start a capture, start a program and run one.
    const EVIDENCE_STEPS: &str =
        "[lab]\nname = \"t\"\n[vars]\nport = 8080\nnobody = \"10.0.3.9\"\n\
[programs.pinger]\nrun = [\"ping\"]\n[programs.web]\nrun = [\"python3\", \"-m\", \"http.server\"]\n\
[[step]]\nid = \"S.1\"\ntitle = \"t\"\nhosts = [\"A\"]\n\
do = [{ capture = \"cap\" }, { start = \"web\", program = \"web\" }, { run = \"pinger\" }]\n\
[[step]]\nid = \"S.2\"\ntitle = \"t\"\nhosts = [\"A\"]\ndo = [{ configure = true }]\n";

    fn read_evidence(questions: &str) -> Result<Lab, Error> {
        let text = format!("{EVIDENCE_STEPS}{questions}");
        Lab::from_source(
            Source::from_text("lab.toml", &text),
            &["A".to_string(), "B".to_string()],
        )
    }

    #[test]
    fn a_question_declares_frames_output_and_exit() {
        use crate::capture::filter::{ArpOpName, FilterProto, IcmpKind};
        use crate::lab::evidence::{Addr, Expect, Spec};
        let lab = read_evidence(
            "[[question]]\nid = \"1\"\ntext = \"t\"\nevidence = [\"S.1\"]\ncompare = [\"S.2\"]\n\
frames = [{ capture = \"cap\", arp = \"request\", src = \"B\", dst = \"{nobody}\", expect = \"fewer\" },\n\
  { capture = \"cap\", proto = \"tcp\", port = \"{port}\", expect = 2 }, { capture = \"cap\", icmp = \"echo-reply\" }]\n\
output = { program = \"web\", on = \"A\", match = \"GET {A.addr}\" }\n\
exit = { program = \"pinger\", status = 1 }\nwhy = \"because\"\n",
        )
        .unwrap();
        let q = &lab.questions[0];
        assert_eq!(q.answer, None);
        assert_eq!(q.why.as_deref(), Some("because"));
        assert_eq!(q.shows.len(), 5);
        match &q.shows[0] {
            Spec::Frames {
                capture,
                filter,
                src,
                dst,
                expect,
                ..
            } => {
                assert_eq!(capture, "cap");
                assert_eq!(filter.arp, Some(ArpOpName::Request));
                assert_eq!(src, &Some(Addr::Host("B".into())));
                assert_eq!(dst, &Some(Addr::Ip("10.0.3.9".parse().unwrap())));
                assert_eq!(*expect, Expect::Fewer);
            }
            other => panic!("{other:?}"),
        }
        match &q.shows[1] {
            Spec::Frames { filter, expect, .. } => {
                assert_eq!(
                    (filter.proto, filter.port),
                    (Some(FilterProto::Tcp), Some(8080))
                );
                assert_eq!(*expect, Expect::Exactly(2));
            }
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(&q.shows[2], Spec::Frames { filter, expect: Expect::Some, .. } if filter.icmp == Some(IcmpKind::EchoReply))
        );
        assert!(
            matches!(&q.shows[3], Spec::Output { program, on: Some(h), .. } if program == "web" && h == "A")
        );
        assert!(matches!(
            &q.shows[4],
            Spec::Exit {
                status: Some(1),
                ..
            }
        ));
    }

    #[test]
    fn declared_evidence_errors_are_located_and_name_what_is_wrong() {
        let Err(Error::Input(d)) = read_evidence(
            "[[question]]\nid = \"1\"\ntext = \"t\"\nevidence = [\"S.1\"]\n\
frames = [{ capture = \"nope\", arp = \"ask\" }, { capture = \"cap\", arp = \"request\", icmp = \"echo-request\" },\n\
  { capture = \"cap\", port = 80 }, { capture = \"cap\", src = \"Z\", expect = \"lots\" }, { capture = \"cap\", expect = \"fewer\" }]\n\
output = { program = \"ghost\", match = \"(\" }\nexit = { program = \"pinger\", on = \"Q\" }\n\
[[question]]\nid = \"2\"\ntext = \"t\"\nevidence = [\"S.1\"]\n\
[[question]]\nid = \"3\"\ntext = \"t\"\nevidence = [\"S.1\"]\nanswer = \"busy-port\"\nexit = { program = \"pinger\" }\n",
        ) else {
            panic!("expected input errors")
        };
        let got: Vec<&str> = d.0.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            got,
            [
                "capture `nope` is not one the lab's steps have",
                "`arp` `ask` is not one labctl knows",
                "`frames` names more than one protocol (`arp`, `icmp`)",
                "`port` needs `proto = \"tcp\"` or `proto = \"udp\"`",
                "`src` `Z` is neither a host nor an IPv4 address",
                "`expect` says no count labctl knows",
                "`expect` compares with steps the question does not name",
                "program `ghost` is not one the lab's steps have",
                "`match` is not a valid regular expression: error: unclosed group",
                "unknown host `Q`",
                "a question says neither its `answer` rule nor its evidence",
                "a question is answered by a rule or by the evidence it declares, not both",
            ],
            "{d:?}"
        );
        // Each located where it is written.
        assert!(d.0.iter().all(|d| d.line > 0), "{d:?}");
    }
}
