//! The lab's questions answered from captures alone (`labctl answer`): no
//! steps, no program output, only what the frames show. The same rules
//! answer them; what a run's steps would have told — which clients a step
//! started — is read from the conversations themselves:
//!
//! - each TCP server's conversations fall into episodes (connections that
//!   overlap in time); an episode where a client was answered while
//!   another, already served, stayed open is a concurrent (threaded)
//!   server's; one where a client's request was answered only once the
//!   client before it had closed is a queued client of an iterative server;
//! - a question's steps are what the rule of the first question naming
//!   them needs: `tcp-frames` a TCP client, `tcp-queued` a queued pair,
//!   `udp-*` a UDP server's clients, `tcp-concurrent` and the socket rules
//!   a concurrent episode; `busy-port` reads program output, which no
//!   capture holds;
//! - a client's lines are its data frames' payloads.
//!
//! Whatever the capture cannot show is said, with why (a capture on B
//! holds only B's frames on a switch; a capture started late has no SYN),
//! never guessed.

use std::collections::BTreeMap;

use super::Run;
use crate::capture::{CaptureAnalysis, Kind, Proto, TcpConversation};
use crate::lab::model::{Rule, RULES};
use crate::report::model::QuestionRecord;
use crate::report::traces::ClientTrace;

/// What a step's evidence is, read from a capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Episode {
    /// A TCP client's conversation: handshake, lines, replies.
    Client,
    /// A TCP client queued behind another by an iterative server.
    Queued,
    /// A UDP server's clients.
    Udp,
    /// TCP clients served at the same time.
    Concurrent,
    /// What programs printed: no capture shows it.
    Output,
}

pub(super) fn episode(rule: Rule) -> Episode {
    match rule {
        Rule::TcpFrames | Rule::TcpAddresses => Episode::Client,
        Rule::TcpQueued => Episode::Queued,
        Rule::UdpFrames | Rule::UdpNoWait => Episode::Udp,
        Rule::TcpConcurrent | Rule::ServerSockets | Rule::ClientSockets => Episode::Concurrent,
        Rule::BusyPort => Episode::Output,
    }
}

/// The captures-alone side of a [`Run`].
pub(super) struct Alone {
    /// Per capture: its interface in a file of several, named in the filters.
    pub interfaces: Vec<Option<usize>>,
    /// Per step id: the episode the first question naming it reads.
    kinds: BTreeMap<String, Episode>,
    /// Per trace: the capture and conversation (index into `tcp`/`udp`) it was made from.
    origin: Vec<(usize, Proto, usize)>,
    /// Per trace: the lines its client sent (its data frames' payloads).
    pub sent: Vec<Vec<String>>,
}

/// The clients a step's evidence is, in one capture.
pub(super) struct Selection {
    pub capture: usize,
    pub started: Vec<usize>,
    pub touched: Vec<usize>,
}

impl Alone {
    pub(super) fn new(
        captures: &[crate::report::model::CaptureReport],
        names: &BTreeMap<String, String>,
        questions: &[QuestionRecord],
        interfaces: Vec<Option<usize>>,
    ) -> (Alone, Vec<ClientTrace>) {
        let mut kinds = BTreeMap::new();
        for q in questions {
            let Some(rule) = RULES.iter().find(|(k, _)| *k == q.answer).map(|(_, r)| *r) else {
                continue;
            };
            for s in &q.evidence {
                kinds.entry(s.clone()).or_insert(episode(rule));
            }
        }
        let mut traces: Vec<ClientTrace> = Vec::new();
        let mut origin = Vec::new();
        let mut sent = Vec::new();
        for (ci, c) in captures.iter().enumerate() {
            let Some(a) = &c.analysis else { continue };
            let convs = a
                .tcp
                .iter()
                .enumerate()
                .map(|(j, t)| (Proto::Tcp, j, &t.client, &t.server, t.start))
                .chain(
                    a.udp
                        .iter()
                        .enumerate()
                        .map(|(j, u)| (Proto::Udp, j, &u.client, &u.server, u.start)),
                );
            for (proto, j, client, server, start) in convs {
                let at = a.start_unix + start;
                let lines = client_lines(a, proto, j, client);
                let host = super::super::owner(names, client)
                    .map(str::to_string)
                    .unwrap_or_else(|| ip_of(client));
                traces.push(ClientTrace {
                    host,
                    program: String::new(),
                    step: None,
                    local: client.clone(),
                    server: server.clone(),
                    proto: Some(proto),
                    connected_at: at,
                    first_sent_at: None,
                    first_sent: lines.first().cloned(),
                    first_reply_at: None,
                    first_reply: None,
                    accepted_at: None,
                    disconnected_at: None,
                });
                origin.push((ci, proto, j));
                sent.push(lines);
            }
        }
        (
            Alone {
                interfaces,
                kinds,
                origin,
                sent,
            },
            traces,
        )
    }

    /// The episode of a set of steps (the first known).
    pub(super) fn kind(&self, steps: &[String]) -> Option<Episode> {
        steps.iter().find_map(|s| self.kinds.get(s).copied())
    }

    /// The trace made from conversation `j` (of `proto`) of capture `ci`.
    fn trace(&self, ci: usize, proto: Proto, j: usize) -> Option<usize> {
        self.origin.iter().position(|&o| o == (ci, proto, j))
    }

    /// The clients the steps' episode is, or why no capture shows one.
    pub(super) fn select(
        &self,
        run: &Run,
        kind: Episode,
        rule: Option<Rule>,
    ) -> Result<Selection, String> {
        let caps: Vec<(usize, &CaptureAnalysis)> = run
            .captures
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.analysis.as_ref().map(|a| (i, a)))
            .collect();
        let pick = |ci: usize, proto: Proto, started: &[usize], touched: &[usize]| {
            let t = |js: &[usize]| -> Vec<usize> {
                js.iter()
                    .filter_map(|&j| self.trace(ci, proto, j))
                    .collect()
            };
            Selection {
                capture: ci,
                started: t(started),
                touched: t(touched),
            }
        };
        match kind {
            Episode::Output => Err("a capture cannot show it: the second server sends no packet. Its `bind` fails (`Address already in use`) before it could send or receive anything, so nothing of it reaches the network; only its terminal shows the error.".into()),
            Episode::Client => {
                // The first TCP client that sent a line, outside a concurrent
                // episode when there is one (Part I's client); else any.
                let mut best: Option<(bool, bool, f64, usize, usize)> = None;
                for &(ci, a) in &caps {
                    for ep in episodes(a) {
                        for &j in &ep.convs {
                            let c = &a.tcp[j];
                            let key = (
                                ep.shape == Shape::Concurrent,
                                c.data_to_server == 0,
                                a.start_unix + c.start,
                                ci,
                                j,
                            );
                            if best.is_none_or(|b| (key.0, key.1, key.2) < (b.0, b.1, b.2)) {
                                best = Some(key);
                            }
                        }
                    }
                }
                match best {
                    Some((_, _, _, ci, j)) => Ok(pick(ci, Proto::Tcp, &[j], &[j])),
                    None => Err(no_tcp(&caps)),
                }
            }
            Episode::Queued => {
                for &(ci, a) in &caps {
                    for ep in episodes(a) {
                        if let Shape::Queued(x, y) = ep.shape {
                            return Ok(pick(ci, Proto::Tcp, &[y], &[x, y]));
                        }
                    }
                }
                Err(why_not(&caps, run, Shape::Queued(0, 0)))
            }
            Episode::Concurrent => {
                let best = caps
                    .iter()
                    .flat_map(|&(ci, a)| episodes(a).into_iter().map(move |e| (ci, e)))
                    .filter(|(_, e)| e.shape == Shape::Concurrent)
                    .max_by_key(|(_, e)| e.convs.len());
                match best {
                    Some((ci, e)) => Ok(pick(ci, Proto::Tcp, &e.convs, &e.convs)),
                    None => Err(why_not(&caps, run, Shape::Concurrent)),
                }
            }
            Episode::Udp => {
                let mut best: Option<(usize, Vec<usize>)> = None;
                for &(ci, a) in &caps {
                    let mut servers: Vec<(&str, Vec<usize>)> = Vec::new();
                    for (j, u) in a.udp.iter().enumerate() {
                        match servers.iter_mut().find(|(s, _)| *s == u.server) {
                            Some((_, v)) => v.push(j),
                            None => servers.push((&u.server, vec![j])),
                        }
                    }
                    for (_, v) in servers {
                        if best.as_ref().is_none_or(|(_, b)| v.len() > b.len()) {
                            best = Some((ci, v));
                        }
                    }
                }
                let Some((ci, v)) = best else {
                    let tcp = caps.iter().any(|(_, a)| !a.tcp.is_empty());
                    return Err(format!(
                        "no capture holds datagrams of a lab UDP server{}.",
                        if tcp { " (the lab's traffic in them is TCP)" } else { "" }
                    ));
                };
                if rule == Some(Rule::UdpNoWait) && v.len() < 2 {
                    let a = run.captures[ci].analysis.as_ref().expect("selected");
                    let u = &a.udp[v[0]];
                    return Err(format!(
                        "the capture holds one UDP client of {} only ({}): the second client's datagrams are not in it. {}",
                        run.addr(&u.server),
                        run.addr(&u.client),
                        SWITCH
                    ));
                }
                Ok(pick(ci, Proto::Udp, &v, &v))
            }
        }
    }

    /// What a capture whose clients are all on one computer cannot show
    /// (`ci`'s): where it was taken the frames do not tell, but a capture
    /// on that computer would hold no other computer's clients.
    pub(super) fn vantage_note(&self, run: &Run, ci: usize) -> Option<String> {
        let a = run.captures.get(ci)?.analysis.as_ref()?;
        let mut ips: Vec<String> = a.tcp.iter().map(|c| ip_of(&c.client)).collect();
        ips.sort();
        ips.dedup();
        let servers: Vec<String> = a.tcp.iter().map(|c| ip_of(&c.server)).collect();
        let [ip] = ips.as_slice() else {
            return None;
        };
        if servers.contains(ip) {
            return None;
        }
        Some(format!(
            "(Every client in this capture is on {}. {SWITCH} If clients on other computers were connected too, this capture does not show them.)",
            run.addr(ip)
        ))
    }
}

const SWITCH: &str = "On a switch, a capture on a client's computer holds only that computer's own frames; a capture on the server's computer holds every client's.";

fn ip_of(addr: &str) -> String {
    addr.parse::<std::net::SocketAddr>()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|_| addr.to_string())
}

/// The lines a client sent: the payloads of its data frames, in order.
fn client_lines(a: &CaptureAnalysis, proto: Proto, j: usize, client: &str) -> Vec<String> {
    let (p, kind) = match proto {
        Proto::Tcp => ("tcp", Kind::Data),
        Proto::Udp => ("udp", Kind::Udp),
    };
    a.frames
        .iter()
        .filter(|f| f.proto == p && f.conversation == Some(j) && f.kind == kind && f.src == client)
        .filter_map(|f| f.text.clone())
        .collect()
}

/// How a TCP server's overlapping conversations went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// One client at a time (or one client).
    Plain,
    /// Conversation `.1` waited for `.0` to close before its first reply.
    Queued(usize, usize),
    /// A client answered while another, already answered, stayed open.
    Concurrent,
}

struct Ep {
    convs: Vec<usize>,
    shape: Shape,
}

/// When a conversation is open: from its first frame to its close (or the capture's end).
fn open(c: &TcpConversation, end: f64) -> (f64, f64) {
    let until = match c.closed {
        crate::capture::Closed::Fin | crate::capture::Closed::Rst => c.end,
        _ => end,
    };
    (c.start, until.max(c.start))
}

/// Each TCP server's conversations, grouped where they overlap in time.
fn episodes(a: &CaptureAnalysis) -> Vec<Ep> {
    let end = a.duration_s;
    let mut by_server: Vec<(&str, Vec<usize>)> = Vec::new();
    for (j, c) in a.tcp.iter().enumerate() {
        match by_server.iter_mut().find(|(s, _)| *s == c.server) {
            Some((_, v)) => v.push(j),
            None => by_server.push((&c.server, vec![j])),
        }
    }
    let mut out = Vec::new();
    for (_, mut convs) in by_server {
        convs.sort_by(|x, y| a.tcp[*x].start.total_cmp(&a.tcp[*y].start));
        let mut group: Vec<usize> = Vec::new();
        let mut until = f64::NEG_INFINITY;
        for j in convs {
            let (s, e) = open(&a.tcp[j], end);
            if !group.is_empty() && s > until {
                out.push(shape(a, std::mem::take(&mut group)));
                until = f64::NEG_INFINITY;
            }
            group.push(j);
            until = until.max(e);
        }
        if !group.is_empty() {
            out.push(shape(a, group));
        }
    }
    out
}

fn shape(a: &CaptureAnalysis, convs: Vec<usize>) -> Ep {
    let end = a.duration_s;
    let mut queued = None;
    for &y in &convs {
        let cy = &a.tcp[y];
        let Some(asked) = cy.first_request_at else {
            continue;
        };
        for &x in &convs {
            let cx = &a.tcp[x];
            if x == y || cx.start >= cy.start {
                continue;
            }
            // Served until either side began to close it.
            let x_until = cx.closing_at.unwrap_or(end);
            match cy.first_reply_at {
                Some(reply) => {
                    // Answered while x, served before, was still open: at the same time.
                    if cx.first_reply_at.is_some_and(|r| r < asked) && x_until > reply {
                        return Ep {
                            convs,
                            shape: Shape::Concurrent,
                        };
                    }
                    // Answered only once x had begun to close.
                    if cx.closing_at.is_some_and(|c| asked < c && c <= reply) {
                        queued.get_or_insert((x, y));
                    }
                }
                // Never answered while x stayed open to the end.
                None if cx.closing_at.is_none_or(|c| c > asked) => {
                    queued.get_or_insert((x, y));
                }
                None => {}
            }
        }
    }
    Ep {
        shape: match queued {
            Some((x, y)) => Shape::Queued(x, y),
            None => Shape::Plain,
        },
        convs,
    }
}

fn no_tcp(caps: &[(usize, &CaptureAnalysis)]) -> String {
    let udp = caps.iter().any(|(_, a)| !a.udp.is_empty());
    format!(
        "no capture holds a TCP conversation with a lab server{}.",
        if udp {
            " (the lab's traffic in them is UDP)"
        } else {
            ""
        }
    )
}

/// Why no capture shows the episode `want` (a queued pair or a concurrent one).
fn why_not(caps: &[(usize, &CaptureAnalysis)], run: &Run, want: Shape) -> String {
    if caps.iter().all(|(_, a)| a.tcp.is_empty()) {
        return no_tcp(caps);
    }
    let eps: Vec<(&CaptureAnalysis, Ep)> = caps
        .iter()
        .flat_map(|&(_, a)| episodes(a).into_iter().map(move |e| (a, e)))
        .collect();
    let concurrent = eps.iter().any(|(_, e)| e.shape == Shape::Concurrent);
    let queued = eps
        .iter()
        .any(|(_, e)| matches!(e.shape, Shape::Queued(..)));
    if want == Shape::Concurrent && queued {
        return "the captures' TCP clients waited for one another (an iterative server, as in Part I): no two were served at the same time.".into();
    }
    // The episodes that could have shown it.
    let plain: Vec<&(&CaptureAnalysis, Ep)> = eps
        .iter()
        .filter(|(_, e)| e.shape == Shape::Plain)
        .collect();
    if plain.is_empty() {
        return "the captures' TCP clients were served at the same time (a threaded server, as in Part II): none waited for another.".into();
    }
    if plain.iter().all(|(_, e)| e.convs.len() <= 1) {
        let clients: Vec<&str> = plain
            .iter()
            .flat_map(|(a, e)| e.convs.iter().map(|&j| a.tcp[j].client.as_str()))
            .collect();
        let mut hosts: Vec<String> = clients.iter().map(|c| ip_of(c)).collect();
        hosts.sort();
        hosts.dedup();
        if hosts.len() == 1 {
            let outside = if concurrent {
                " outside the threaded server's"
            } else {
                ""
            };
            let which = if clients.len() == 1 {
                format!("the only TCP connection in the captures{outside} is")
            } else {
                format!(
                    "the {} TCP connections in the captures{outside}, one at a time, are all",
                    clients.len()
                )
            };
            return format!(
                "{which} from {}: another client's frames are not in them. {SWITCH}",
                run.addr(&hosts[0]),
            );
        }
        return format!(
            "the TCP clients in the captures never overlapped: each connected after the one before had closed, so none {}.",
            if want == Shape::Concurrent {
                "was served while another was"
            } else {
                "waited for another"
            }
        );
    }
    if want == Shape::Concurrent {
        let (a, e) = plain
            .iter()
            .max_by_key(|(_, e)| e.convs.len())
            .expect("some episode");
        let answered = e
            .convs
            .iter()
            .filter(|&&j| a.tcp[j].data_to_client > 0)
            .count();
        return format!(
            "{} TCP clients were connected at the same time, but {answered} of them {} answered: the capture cannot tell whether the server would have served them at once (the kernel completes every handshake, even for an iterative server).",
            e.convs.len(),
            if answered == 1 { "was" } else { "were" }
        );
    }
    "the captures' overlapping TCP clients show no client waiting for the one before it to close before its line was answered.".into()
}
