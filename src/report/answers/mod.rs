//! The lab's questions, answered from this run's evidence: each question
//! names the steps whose captures and program output answer it
//! (`evidence`), and is answered only when all of them passed in this run;
//! otherwise the answer says which did not run (or failed) and how to run
//! them. Nothing is borrowed from other steps or parts: a capture counts
//! only for the clients those steps started or talked to, and only when it
//! ran across the step.
//!
//! Each answer cites where to look: the capture file, the frames as
//! Wireshark numbers them and the display filter, or the host, program and
//! line of output. The rules live in `tcp.rs`, `udp.rs` and `threaded.rs`;
//! a question that declares its evidence (`frames`, `output`, `exit`) is
//! answered from it in `declared.rs`, for any lab.
//!
//! The same rules answer from captures alone (`labctl answer`, a student's
//! captures): `captures.rs` reads from the conversations which clients a
//! step's evidence is, and what no capture can show.

mod captures;
mod declared;
mod tcp;
mod threaded;
mod udp;

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::json;

use super::model::*;
use super::traces::{traces, ClientTrace};
use crate::capture::{CaptureAnalysis, Frame, Proto};
use crate::lab::model::{Rule, RULES};

/// How far two hosts' times may still disagree on the run clock when the
/// answers order events seen on different hosts (what the offsets' round
/// trips leave unknown, and a line stamped a moment after what it tells).
const CLOCK_SKEW: f64 = 0.1;

/// What the rules read: the run, its captures analysed, the clients traced.
pub struct Run<'a> {
    pub run_dir: Option<&'a Path>,
    pub captures: &'a [CaptureReport],
    pub timeline: &'a [TimelineEntry],
    pub programs: &'a [ProgramRecord],
    pub steps: &'a [StepRecord],
    pub names: &'a BTreeMap<String, String>,
    traces: Vec<ClientTrace>,
    /// Set when the evidence is captures alone (`labctl answer`).
    alone: Option<captures::Alone>,
}

impl<'a> Run<'a> {
    pub fn new(
        run_dir: Option<&'a Path>,
        captures: &'a [CaptureReport],
        timeline: &'a [TimelineEntry],
        programs: &'a [ProgramRecord],
        steps: &'a [StepRecord],
        names: &'a BTreeMap<String, String>,
    ) -> Run<'a> {
        Run {
            run_dir,
            captures,
            timeline,
            programs,
            steps,
            names,
            traces: traces(timeline, programs),
            alone: None,
        }
    }

    /// The evidence of captures alone (a student's): no steps, no program
    /// output. `interfaces` names, per capture, its interface in a file of
    /// several (cited in the display filters); `questions` tell what each
    /// step's evidence is.
    pub fn from_captures(
        captures: &'a [CaptureReport],
        names: &'a BTreeMap<String, String>,
        questions: &[QuestionRecord],
        interfaces: Vec<Option<usize>>,
    ) -> Run<'a> {
        let (alone, traces) = captures::Alone::new(captures, names, questions, interfaces);
        Run {
            run_dir: None,
            captures,
            timeline: &[],
            programs: &[],
            steps: &[],
            names,
            traces,
            alone: Some(alone),
        }
    }

    /// A client as the answers name it: `` `client-B` on B `` (a run), or
    /// `` the client `10.0.3.2:41872` (B) `` (captures alone).
    fn who(&self, t: &ClientTrace) -> String {
        if self.alone.is_some() {
            format!("the client {}", self.addr(&t.local))
        } else {
            format!("`{}` on {}", t.program, t.host)
        }
    }

    /// ` in step `I.8`` after a count of a run's frames; nothing for captures alone.
    fn in_steps(&self, steps: &[String]) -> String {
        if self.alone.is_some() {
            String::new()
        } else {
            format!(" in step `{}`", steps.join("`, `"))
        }
    }

    /// The display filter that shows a TCP server's frames: the handout's
    /// (`ip.addr==10.0.3.1 and tcp`), or with its port where a student's
    /// capture holds other traffic.
    fn tcp_filter(&self, server: &str) -> String {
        let (ip, port) = filter_parts(server);
        if self.alone.is_some() {
            format!("{ip} and tcp.port=={port}")
        } else {
            format!("{ip} and tcp")
        }
    }

    /// The display filter that shows a UDP server's datagrams.
    fn udp_filter(&self, server: &str) -> String {
        let (ip, port) = filter_parts(server);
        if self.alone.is_some() {
            format!("{ip} and udp.port=={port}")
        } else {
            "udp".to_string()
        }
    }

    fn pos(&self, step: Option<&str>) -> Option<usize> {
        step.and_then(|s| self.steps.iter().position(|x| x.id == s))
    }

    /// `` `10.0.3.2:49278` (B) ``.
    fn addr(&self, a: &str) -> String {
        match super::owner(self.names, a) {
            Some(h) => format!("`{a}` ({h})"),
            None => format!("`{a}`"),
        }
    }

    /// The client a line of `host`'s `program` in `step` belongs to: the
    /// last one of that name that connected in that step or before.
    fn trace_of(&self, host: &str, program: &str, step: Option<&str>) -> Option<usize> {
        let at = self.pos(step)?;
        self.traces
            .iter()
            .enumerate()
            .filter(|(_, t)| t.host == host && t.program == program)
            .filter(|(_, t)| self.pos(t.step.as_deref()).is_some_and(|p| p <= at))
            .max_by(|a, b| {
                (self.pos(a.1.step.as_deref()), a.1.connected_at)
                    .partial_cmp(&(self.pos(b.1.step.as_deref()), b.1.connected_at))
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
            .map(|(i, _)| i)
    }

    /// The capture file to open: the `.pcapng` copy that the report writes
    /// beside every capture it could read (same frames, with the steps in
    /// its comments), else the `.pcap`.
    fn file(&self, c: &CaptureReport) -> String {
        if self.alone.is_some() {
            c.file.clone()
        } else if c.analysis.is_some() {
            super::pcapng_file(&c.file)
        } else {
            c.file.clone()
        }
    }
}

/// The evidence of a set of steps: the clients they started and the
/// clients they sent lines to or heard from, and the lines sent.
pub struct Evidence<'r, 'a> {
    run: &'r Run<'a>,
    pub steps: Vec<String>,
    /// Clients that connected in these steps, in order of connection.
    pub started: Vec<&'r ClientTrace>,
    /// Clients that printed or were sent a line in these steps (the started ones too).
    pub touched: Vec<&'r ClientTrace>,
    /// Per client (index into the run's traces): the lines sent to it in these steps.
    sent: BTreeMap<usize, Vec<String>>,
    /// Captures alone: the one capture (index) that holds these clients.
    only: Option<usize>,
}

impl<'r, 'a> Evidence<'r, 'a> {
    fn new(run: &'r Run<'a>, steps: &[String]) -> Evidence<'r, 'a> {
        let inside = |s: Option<&str>| s.is_some_and(|s| steps.iter().any(|x| x == s));
        let started: Vec<&ClientTrace> = run
            .traces
            .iter()
            .filter(|t| inside(t.step.as_deref()))
            .collect();
        let mut touched_ix: Vec<usize> = Vec::new();
        let mut sent: BTreeMap<usize, Vec<String>> = BTreeMap::new();
        for e in run.timeline.iter().filter(|e| inside(e.step.as_deref())) {
            if let Some(i) = run.trace_of(&e.host, &e.program, e.step.as_deref()) {
                if !touched_ix.contains(&i) {
                    touched_ix.push(i);
                }
                if e.stream == LineStream::Stdin {
                    sent.entry(i).or_default().push(e.text.clone());
                }
            }
        }
        touched_ix.sort_by(|a, b| {
            run.traces[*a]
                .connected_at
                .total_cmp(&run.traces[*b].connected_at)
        });
        Evidence {
            run,
            steps: steps.to_vec(),
            started,
            touched: touched_ix.iter().map(|&i| &run.traces[i]).collect(),
            sent,
            only: None,
        }
    }

    /// Captures alone: the clients `sel` found, the lines each sent.
    fn alone(run: &'r Run<'a>, steps: &[String], sel: captures::Selection) -> Evidence<'r, 'a> {
        let alone = run.alone.as_ref().expect("captures alone");
        let mut sent = BTreeMap::new();
        for &i in sel.touched.iter().chain(&sel.started) {
            sent.insert(i, alone.sent[i].clone());
        }
        Evidence {
            run,
            steps: steps.to_vec(),
            started: sel.started.iter().map(|&i| &run.traces[i]).collect(),
            touched: sel.touched.iter().map(|&i| &run.traces[i]).collect(),
            sent,
            only: Some(sel.capture),
        }
    }

    /// The lines sent to `t` in these steps.
    fn sent_to(&self, t: &ClientTrace) -> &[String] {
        self.run
            .traces
            .iter()
            .position(|x| std::ptr::eq(x, t))
            .and_then(|i| self.sent.get(&i))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The analysed captures that ran across every one of these steps.
    fn captures(&self) -> Vec<(&'r CaptureReport, &'r CaptureAnalysis)> {
        let run = self.run;
        if run.alone.is_some() {
            return run
                .captures
                .iter()
                .enumerate()
                .filter(|(i, _)| self.only.is_none_or(|o| o == *i))
                .filter_map(|(_, c)| c.analysis.as_ref().map(|a| (c, a)))
                .collect();
        }
        run.captures
            .iter()
            .filter_map(|c| c.analysis.as_ref().map(|a| (c, a)))
            .filter(|(c, _)| {
                let from = run.pos(c.step.as_deref());
                let to = run.pos(c.stopped_in.as_deref());
                self.steps.iter().all(|s| {
                    let p = run.pos(Some(s));
                    from.is_some_and(|f| p.is_some_and(|p| f <= p))
                        // Stopped by no step (`end`, or not yet): it ran to the end.
                        && (to.is_none() || to.zip(p).is_some_and(|(t, p)| p <= t))
                })
            })
            .collect()
    }

    /// Where each of `clients`' conversations (TCP) or exchanges (UDP) is
    /// seen: the fewest captures that hold them, each with (client, index
    /// into its `tcp`/`udp`). Clients no capture holds are left out.
    fn locate(&self, clients: &[&'r ClientTrace], proto: Proto) -> Vec<Seen<'r>> {
        let caps = self.captures();
        let find = |a: &CaptureAnalysis, t: &ClientTrace| match proto {
            Proto::Tcp => a.tcp.iter().rposition(|c| c.client == t.local),
            Proto::Udp => a.udp.iter().rposition(|c| c.client == t.local),
        };
        let mut left: Vec<&ClientTrace> = clients.to_vec();
        let mut out = Vec::new();
        while !left.is_empty() {
            let best = caps
                .iter()
                .map(|(c, a)| {
                    let held: Vec<(&ClientTrace, usize)> = left
                        .iter()
                        .filter_map(|t| find(a, t).map(|i| (*t, i)))
                        .collect();
                    (c, a, held)
                })
                .filter(|(_, _, h)| !h.is_empty())
                .min_by_key(|(_, _, h)| std::cmp::Reverse(h.len()));
            let Some((c, a, held)) = best else { break };
            left.retain(|t| !held.iter().any(|(h, _)| std::ptr::eq(*h, *t)));
            out.push(Seen {
                capture: c,
                analysis: a,
                held,
            });
        }
        out
    }
}

/// One capture and the clients' conversations it holds.
pub struct Seen<'r> {
    pub capture: &'r CaptureReport,
    pub analysis: &'r CaptureAnalysis,
    pub held: Vec<(&'r ClientTrace, usize)>,
}

impl<'r> Seen<'r> {
    /// The frames of conversation `i` (of `proto`), in file order.
    fn frames(&self, proto: Proto, i: usize) -> Vec<&'r Frame> {
        let p = match proto {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        };
        self.analysis
            .frames
            .iter()
            .filter(|f| f.proto == p && f.conversation == Some(i))
            .collect()
    }
}

/// What a rule found: the answer's text and what it cites.
#[derive(Default)]
pub struct Found {
    /// Captures alone: the rule answered (it did not say why it cannot).
    answered: bool,
    pub ok: bool,
    pub text: String,
    pub frames: Vec<FrameCite>,
    pub lines: Vec<LineCite>,
    pub captures: Vec<String>,
    pub facts: serde_json::Value,
}

impl Found {
    /// Cites `frames` of `seen`'s capture with `filter`; returns their numbers as text.
    fn cite(&mut self, run: &Run, seen: &Seen, frames: &[&Frame], filter: &str) -> String {
        let file = run.file(seen.capture);
        let iface = run.alone.as_ref().and_then(|a| {
            let i = run
                .captures
                .iter()
                .position(|c| std::ptr::eq(c, seen.capture))?;
            a.interfaces.get(i).copied().flatten()
        });
        let filter = match iface {
            Some(n) => format!("{filter} and frame.interface_id=={n}"),
            None => filter.to_string(),
        };
        let filter = filter.as_str();
        if !self.captures.contains(&seen.capture.name) {
            self.captures.push(seen.capture.name.clone());
        }
        for f in frames {
            if !self
                .frames
                .iter()
                .any(|c| c.capture == seen.capture.name && c.number == f.number)
            {
                self.frames.push(FrameCite {
                    capture: seen.capture.name.clone(),
                    file: file.clone(),
                    filter: filter.to_string(),
                    number: f.number,
                    kind: f.kind,
                    src: f.src.clone(),
                    dst: f.dst.clone(),
                });
            }
        }
        numbers(&frames.iter().map(|f| f.number).collect::<Vec<_>>())
    }

    /// Cites a line of output; returns it as `` `text` ``.
    fn line(&mut self, host: &str, program: &str, stream: LineStream, text: &str) -> String {
        let ext = match stream {
            LineStream::Stdout => "out",
            LineStream::Stderr => "err",
            LineStream::Stdin => "in",
        };
        self.lines.push(LineCite {
            host: host.to_string(),
            program: program.to_string(),
            stream,
            text: text.to_string(),
            file: crate::record::dir::output_file(host, program, ext),
        });
        quoted(text)
    }

    /// "Where to look" for every capture cited, and the output files.
    fn where_to_look(&mut self) {
        let mut parts: Vec<String> = Vec::new();
        let mut files: Vec<(&str, &str)> = Vec::new();
        for f in &self.frames {
            if !files.contains(&(f.file.as_str(), f.filter.as_str())) {
                files.push((&f.file, &f.filter));
            }
        }
        for (file, filter) in files {
            let nums: Vec<usize> = self
                .frames
                .iter()
                .filter(|f| f.file == file && f.filter == filter)
                .map(|f| f.number)
                .collect();
            parts.push(format!(
                "`{file}` with the display filter `{filter}`, frames {}",
                numbers(&nums)
            ));
        }
        let mut outs: Vec<String> = Vec::new();
        for l in &self.lines {
            let w = format!("{} `{}` (`{}`)", l.host, l.program, l.file);
            if !outs.contains(&w) {
                outs.push(w);
            }
        }
        if !outs.is_empty() {
            parts.push(format!("the output of {}", outs.join(", ")));
        }
        if !parts.is_empty() {
            self.text
                .push_str(&format!("\n\nWhere to look: {}.", parts.join("; ")));
        }
    }
}

/// `s` with its first letter upper-cased.
fn capital(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// Text in backticks, doubled when it holds one itself.
fn quoted(text: &str) -> String {
    if text.contains('`') {
        format!("`` {text} ``")
    } else {
        format!("`{text}`")
    }
}

/// `1–3, 5, 7–8`.
pub fn numbers(ns: &[usize]) -> String {
    let mut v = ns.to_vec();
    v.sort_unstable();
    v.dedup();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let mut j = i;
        while j + 1 < v.len() && v[j + 1] == v[j] + 1 {
            j += 1;
        }
        out.push(match j - i {
            0 => v[i].to_string(),
            1 => format!("{}, {}", v[i], v[j]),
            _ => format!("{}–{}", v[i], v[j]),
        });
        i = j + 1;
    }
    out.join(", ")
}

/// A server's address as a display filter's term (`ip.addr==10.0.3.1`,
/// `ipv6.addr==fd00::1`) and its port.
fn filter_parts(server: &str) -> (String, String) {
    match server.parse::<std::net::SocketAddr>() {
        Ok(a) if a.is_ipv6() => (format!("ipv6.addr=={}", a.ip()), a.port().to_string()),
        Ok(a) => (format!("ip.addr=={}", a.ip()), a.port().to_string()),
        Err(_) => (format!("ip.addr=={server}"), String::new()),
    }
}

/// A duration in words: `6 µs`, `40.1 ms`, `1.203 s`.
fn dur(d: f64) -> String {
    if d < 0.001 {
        format!("{:.0} µs", d * 1e6)
    } else if d < 1.0 {
        format!("{:.1} ms", d * 1000.0)
    } else {
        format!("{d:.3} s")
    }
}

/// Why the steps a question names give no evidence in this run, if they do not.
fn not_answerable(steps: &[StepRecord], q: &QuestionRecord) -> Option<String> {
    let mut missing = Vec::new();
    let mut bad: Vec<String> = Vec::new();
    for id in &q.evidence {
        match steps.iter().find(|s| s.id == *id).map(|s| s.outcome) {
            Some(Outcome::Passed) => {}
            None | Some(Outcome::Skipped) | Some(Outcome::Pending) => {
                missing.push(format!("`{id}`"))
            }
            Some(o) => bad.push(format!("step `{id}` {}", o.word())),
        }
    }
    if missing.is_empty() && bad.is_empty() {
        return None;
    }
    let ids: Vec<&str> = q.evidence.iter().map(String::as_str).collect();
    let mut why = Vec::new();
    if !missing.is_empty() {
        let s = if missing.len() == 1 { "step" } else { "steps" };
        why.push(format!(
            "no evidence in this run: {s} {} did not run",
            missing.join(", ")
        ));
    }
    if !bad.is_empty() {
        why.push(format!("{} in this run", bad.join(", ")));
    }
    let replay = match ids.as_slice() {
        [one] => format!("labctl run --step {one}"),
        _ => format!("labctl run --to {}", ids.last().copied().unwrap_or("")),
    };
    Some(format!(
        "Not answered: {}. The evidence is gathered by {} (`{replay}`).",
        why.join("; "),
        if ids.len() == 1 {
            "that step"
        } else {
            "those steps"
        },
    ))
}

/// Every question's answer, in the lab's order.
pub fn answers(run: &Run, questions: &[QuestionRecord]) -> Vec<Answer> {
    questions.iter().map(|q| answer(run, q)).collect()
}

/// The rule's answer from `ev` (compared with `cmp`).
fn apply(rule: Rule, ev: &Evidence, cmp: Option<&Evidence>) -> Result<Found, String> {
    match rule {
        Rule::TcpFrames => tcp::frames(ev),
        Rule::TcpAddresses => tcp::addresses(ev),
        Rule::TcpQueued => tcp::queued(ev),
        Rule::BusyPort => udp::busy_port(ev),
        Rule::UdpFrames => udp::frames(ev, cmp),
        Rule::UdpNoWait => udp::no_wait(ev, cmp),
        Rule::TcpConcurrent => threaded::concurrent(ev, cmp),
        Rule::ServerSockets => threaded::server_sockets(ev),
        Rule::ClientSockets => threaded::client_sockets(ev),
    }
}

/// A question answered from captures alone.
fn answer_alone(run: &Run, alone: &captures::Alone, q: &QuestionRecord, rule: Rule) -> Found {
    let kind = captures::episode(rule);
    let sel = match alone.select(run, kind, Some(rule)) {
        Ok(s) => s,
        Err(why) => {
            return Found {
                text: format!("Not answered: {why}"),
                ..Found::default()
            }
        }
    };
    let at = sel.capture;
    let ev = Evidence::alone(run, &q.evidence, sel);
    let cmp = alone
        .kind(&q.compare)
        .and_then(|k| alone.select(run, k, None).ok())
        .map(|s| Evidence::alone(run, &q.compare, s));
    match apply(rule, &ev, cmp.as_ref()) {
        Ok(mut f) => {
            if kind == captures::Episode::Concurrent {
                if let Some(note) = alone.vantage_note(run, at) {
                    f.text.push_str(&format!("\n\n{note}"));
                }
            }
            f.where_to_look();
            f.answered = true;
            f
        }
        Err(why) => Found {
            text: format!("Not answered: {why}"),
            ..Found::default()
        },
    }
}

fn answer(run: &Run, q: &QuestionRecord) -> Answer {
    let base = |answered: bool, f: Found| Answer {
        id: q.id.clone(),
        question: q.text.clone(),
        answered,
        ok: answered && f.ok,
        answer: f.text,
        steps: q.evidence.clone(),
        captures: f.captures,
        frames: f.frames,
        lines: f.lines,
        facts: if f.facts.is_null() {
            json!({})
        } else {
            f.facts
        },
    };
    if let Some(alone) = &run.alone {
        let Some(rule) = RULES.iter().find(|(k, _)| *k == q.answer).map(|(_, r)| *r) else {
            let text = format!(
                "Not answered: this labctl has no answer rule `{}`.",
                q.answer
            );
            return base(
                false,
                Found {
                    text,
                    ..Found::default()
                },
            );
        };
        let f = answer_alone(run, alone, q, rule);
        return base(f.answered, f);
    }
    if let Some(why) = not_answerable(run.steps, q) {
        return base(
            false,
            Found {
                text: why,
                ..Found::default()
            },
        );
    }
    if !q.shows.is_empty() {
        return match declared::answer(run, q) {
            Ok(mut f) => {
                f.where_to_look();
                base(true, f)
            }
            Err(why) => base(
                false,
                Found {
                    text: format!("Not answered: {why}"),
                    ..Found::default()
                },
            ),
        };
    }
    let Some(rule) = RULES.iter().find(|(k, _)| *k == q.answer).map(|(_, r)| *r) else {
        let text = format!(
            "Not answered: this labctl has no answer rule `{}`.",
            q.answer
        );
        return base(
            false,
            Found {
                text,
                ..Found::default()
            },
        );
    };
    let ev = Evidence::new(run, &q.evidence);
    let passed: Vec<String> = q
        .compare
        .iter()
        .filter(|id| {
            run.steps
                .iter()
                .any(|s| s.id == **id && s.outcome == Outcome::Passed)
        })
        .cloned()
        .collect();
    let missing: Vec<String> = q
        .compare
        .iter()
        .filter(|c| !passed.contains(c))
        .cloned()
        .collect();
    let cmp = (!passed.is_empty()).then(|| Evidence::new(run, &passed));
    let found = apply(rule, &ev, cmp.as_ref());
    match found {
        Ok(mut f) => {
            if !missing.is_empty() && !q.compare.is_empty() && cmp.is_none() {
                let ids: Vec<String> = missing.iter().map(|m| format!("`{m}`")).collect();
                f.text.push_str(&format!(
                    "\n\n(Step {} — the comparison — did not pass in this run: nothing here compares with it.)",
                    ids.join(", ")
                ));
            }
            f.where_to_look();
            base(true, f)
        }
        Err(why) => base(
            false,
            Found {
                text: format!("Not answered: {why}"),
                ..Found::default()
            },
        ),
    }
}
