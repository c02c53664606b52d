//! The handout's questions, answered from the capture analyses and, where
//! no capture saw a host's frames, from the programs' own output
//! ([`super::traces`]) — naming the socket addresses and their hosts.
//!
//! Part I questions read the captures and lines of steps `I.*`, part II
//! those of steps `II.*`; captures or lines without a step count for both.
//! Conversations seen by several captures (e.g. on A and on B) count once.

use std::collections::BTreeMap;

use serde_json::json;

use super::model::{Answer, CaptureReport, ProgramRecord, TimelineEntry};
use super::traces::{traces, ClientTrace};
use crate::capture::{max_overlap, CaptureAnalysis, Closed, Proto, Role, TcpConversation};

/// The questions, in handout order.
pub const QUESTIONS: [(&str, &str); 7] = [
    (
        "I.1",
        "Which frames were captured during the TCP exchange (handshake, data, ACKs, teardown)?",
    ),
    (
        "I.2",
        "Which socket addresses appear, and which are the server's and which the clients'?",
    ),
    (
        "I.3",
        "Did C's client connect while B was being served, and when was C answered?",
    ),
    (
        "I.4",
        "UDP: is there a handshake? How many datagrams went each way? Was C answered at once?",
    ),
    (
        "II.1",
        "How many clients were connected to the threaded server at once?",
    ),
    ("II.2", "How many sockets did the threaded server make?"),
    ("II.3", "What are the socket addresses of the clients?"),
];

/// How far two hosts' clocks (or two captures) may disagree: "B left, then
/// C was answered" holds when C's answer is stamped no earlier than this
/// before B's leaving (on one machine the two lines are microseconds apart
/// and may come out in either order).
const CLOCK_SKEW: f64 = 0.1;

/// Host names by IP, to say whose a socket address is.
struct Names<'a>(&'a BTreeMap<String, String>);

impl Names<'_> {
    /// `` `10.0.3.2:49278` (B) ``.
    fn addr(&self, a: &str) -> String {
        match self.host(a) {
            Some(h) => format!("`{a}` ({h})"),
            None => format!("`{a}`"),
        }
    }
    fn host(&self, a: &str) -> Option<&str> {
        super::owner(self.0, a)
    }
}

fn in_part(step: Option<&str>, p: &str) -> bool {
    step.is_none_or(|s| s.split('.').next() == Some(p))
}

type Analysed<'a> = (&'a CaptureReport, &'a CaptureAnalysis);

/// The analysed captures of one part of the lab (`I` or `II`); all of them
/// when no capture belongs to the part.
fn of_part<'a>(caps: &'a [CaptureReport], p: &str) -> Vec<Analysed<'a>> {
    let analysed = || {
        caps.iter()
            .filter_map(|c| c.analysis.as_ref().map(|a| (c, a)))
    };
    let mine: Vec<_> = analysed()
        .filter(|(c, _)| in_part(c.step.as_deref(), p))
        .collect();
    if mine.is_empty() {
        analysed().collect()
    } else {
        mine
    }
}

/// A TCP conversation with its capture, times made absolute (unix seconds).
struct Conv<'a> {
    capture: &'a str,
    c: &'a TcpConversation,
    t0: f64,
    capture_end: f64,
}

impl Conv<'_> {
    fn at(&self, rel: f64) -> f64 {
        self.t0 + rel
    }
    fn interval(&self) -> Option<(f64, f64)> {
        self.c
            .connected_interval(self.capture_end)
            .map(|(a, b)| (self.at(a), self.at(b)))
    }
}

/// Every TCP conversation of `caps`, once, by absolute start.
fn merged<'a>(caps: &[Analysed<'a>]) -> Vec<Conv<'a>> {
    let mut out: Vec<Conv<'a>> = Vec::new();
    for (cap, a) in caps {
        for c in &a.tcp {
            if out
                .iter()
                .any(|o| o.c.client == c.client && o.c.server == c.server)
            {
                continue;
            }
            out.push(Conv {
                capture: &cap.name,
                c,
                t0: a.start_unix,
                capture_end: a.duration_s,
            });
        }
    }
    out.sort_by(|x, y| x.at(x.c.start).total_cmp(&y.at(y.c.start)));
    out
}

fn captures_of(convs: &[&Conv]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for c in convs {
        if !names.iter().any(|n| n == c.capture) {
            names.push(c.capture.to_string());
        }
    }
    names
}

fn quoted_list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
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

/// A time of day (UTC), as the timeline shows it.
fn clock(unix: f64) -> String {
    super::clock(&super::rfc3339(unix)).to_string()
}

fn answer(id: &str, ok: bool, text: String, caps: Vec<String>, facts: serde_json::Value) -> Answer {
    let question = QUESTIONS
        .iter()
        .find(|(q, _)| *q == id)
        .map(|(_, q)| q.to_string())
        .unwrap_or_default();
    Answer {
        id: id.to_string(),
        question,
        ok,
        answer: text,
        captures: caps,
        facts,
    }
}

fn unanswered(id: &str, why: &str) -> Answer {
    answer(id, false, why.to_string(), Vec::new(), json!({}))
}

/// Every question's answer.
pub fn answers(
    caps: &[CaptureReport],
    timeline: &[TimelineEntry],
    programs: &[ProgramRecord],
    names: &BTreeMap<String, String>,
) -> Vec<Answer> {
    let n = Names(names);
    let part1 = of_part(caps, "I");
    let part2 = of_part(caps, "II");
    let all_traces = traces(timeline, programs);
    let traces1: Vec<&ClientTrace> = all_traces
        .iter()
        .filter(|t| in_part(t.step.as_deref(), "I"))
        .collect();
    let mut out = Vec::new();
    // The capture that saw the most handshakes (then the first by order).
    let handshakes = |a: &CaptureAnalysis| a.tcp.iter().filter(|c| c.handshake).count();
    match part1
        .iter()
        .filter(|(_, a)| handshakes(a) > 0)
        .min_by_key(|(_, a)| std::cmp::Reverse(handshakes(a)))
    {
        Some((cap, a)) => out.push(frames_answer(&n, cap, a)),
        None => out.push(unanswered(
            "I.1",
            "No capture of part I holds a TCP handshake.",
        )),
    }
    let convs1 = merged(&part1);
    out.push(sockets_answer(&n, &convs1));
    out.push(queued_answer(&n, &convs1, &traces1));
    out.push(udp_answer(&n, &part1, &traces1));
    let lines2: Vec<&TimelineEntry> = timeline
        .iter()
        .filter(|e| in_part(e.step.as_deref(), "II"))
        .collect();
    out.extend(threaded_answers(&n, &merged(&part2), &lines2));
    out
}

fn frames_answer(n: &Names, cap: &CaptureReport, a: &CaptureAnalysis) -> Answer {
    let k = &a.counts;
    let mut text = format!(
        "Capture `{}` on {} holds {} frames. Handshake: {} SYN, {} SYN-ACK and the clients' ACKs — one three-way handshake per connection. \
Data: {} segments with payload. Pure ACKs: {}. Teardown: {} FIN, {} RST.",
        cap.name, cap.host, k.total, k.syn, k.syn_ack, k.data, k.ack, k.fin, k.rst
    );
    let extra: Vec<String> = [
        (k.udp, "UDP"),
        (k.icmp, "ICMP"),
        (k.arp, "ARP"),
        (k.other, "other"),
    ]
    .iter()
    .filter(|(c, _)| *c > 0)
    .map(|(c, w)| format!("{c} {w}"))
    .collect();
    if !extra.is_empty() {
        text.push_str(&format!(" Besides: {}.", extra.join(", ")));
    }
    for c in &a.tcp {
        text.push_str(&format!(
            "\n- {} → {}: {}{} data segment(s) ({} bytes) to the server, {} ({} bytes) back; {}.",
            n.addr(&c.client),
            n.addr(&c.server),
            if c.handshake {
                "handshake, "
            } else {
                "no handshake captured, "
            },
            c.data_to_server,
            c.bytes_to_server,
            c.data_to_client,
            c.bytes_to_client,
            closed_words(c)
        ));
    }
    let ok = k.syn > 0 && k.syn_ack > 0 && k.data > 0 && k.fin > 0;
    answer(
        "I.1",
        ok,
        text,
        vec![cap.name.clone()],
        json!({ "capture": cap.name, "counts": k, "conversations": a.tcp.len() }),
    )
}

fn closed_words(c: &TcpConversation) -> String {
    let by = match c.closed_first_by {
        Some(Role::Server) => " (the server first)",
        Some(Role::Client) => " (the client first)",
        None => "",
    };
    match c.closed {
        Closed::Fin => format!("closed by FIN both ways{by}"),
        Closed::HalfClosed => format!("half closed by FIN{by}"),
        Closed::Rst => format!("reset (RST){by}"),
        Closed::Open => "still open when the capture stopped".into(),
    }
}

fn sockets_answer(n: &Names, convs: &[Conv]) -> Answer {
    if convs.is_empty() {
        return unanswered("I.2", "No capture of part I holds a TCP conversation.");
    }
    let mut servers: Vec<&str> = Vec::new();
    let mut clients: Vec<&str> = Vec::new();
    for c in convs {
        if !servers.contains(&c.c.server.as_str()) {
            servers.push(&c.c.server);
        }
        if !clients.contains(&c.c.client.as_str()) {
            clients.push(&c.c.client);
        }
    }
    let caps = captures_of(&convs.iter().collect::<Vec<_>>());
    let show = |v: &[&str]| v.iter().map(|a| n.addr(a)).collect::<Vec<_>>().join(", ");
    let text = format!(
        "In {}: {} TCP socket address(es). Server: {} — the address it listens on; every connected socket the server makes has this same address. \
Client(s): {} — each an ephemeral port the client's kernel chose at `connect`.",
        quoted_list(&caps),
        servers.len() + clients.len(),
        show(&servers),
        show(&clients)
    );
    let facts: Vec<_> = servers
        .iter()
        .map(|a| (a, "server"))
        .chain(clients.iter().map(|a| (a, "client")))
        .map(|(a, role)| json!({ "address": a, "role": role, "host": n.host(a) }))
        .collect();
    answer("I.2", true, text, caps, json!({ "sockets": facts }))
}

/// I.3 from the captures: a second conversation with the server that began
/// before the first one closed. `(ok, text, facts, captures)`.
fn queued_in_captures(
    n: &Names,
    convs: &[Conv],
) -> Option<(bool, String, serde_json::Value, Vec<String>)> {
    let mut found = Vec::new();
    for (i, first) in convs.iter().enumerate() {
        let Some(closing) = first.c.closing_at.map(|t| first.at(t)) else {
            continue;
        };
        let Some(second) = convs[i + 1..]
            .iter()
            .find(|c| c.c.server == first.c.server && c.at(c.c.start) < closing)
        else {
            continue;
        };
        let s = second.c;
        let est = s.established_at.map(|t| second.at(t));
        let acked = s.first_request_acked_at.map(|t| second.at(t));
        let request = s.first_request_at.map(|t| second.at(t));
        let reply = s.first_reply_at.map(|t| second.at(t));
        let ok = est.is_some_and(|t| t < closing)
            && acked.is_some_and(|t| t < closing)
            && reply.is_some_and(|t| t > closing - CLOCK_SKEW);
        let mut text = format!(
            "{}. {} sent its SYN at {} while {} was being served by {}",
            if ok { "Yes" } else { "Not as the lab expects" },
            n.addr(&s.client),
            clock(second.at(s.start)),
            n.addr(&first.c.client),
            n.addr(&first.c.server)
        );
        match est {
            Some(t) => text.push_str(&format!(
                "; the server's kernel answered with SYN-ACK and the connection was established at {} — queued, before the server called `accept` for it.",
                clock(t)
            )),
            None => text.push_str("; its handshake did not complete in the capture."),
        }
        match (request, acked) {
            (Some(r), Some(k)) => text.push_str(&format!(
                " Its line ({} bytes) left at {} and was ACKed {} later by the kernel, but not answered:",
                s.first_request_bytes.unwrap_or(0),
                clock(r),
                dur(k - r)
            )),
            (Some(r), None) => text.push_str(&format!(
                " Its line left at {} and was not ACKed:",
                clock(r)
            )),
            _ => text.push_str(" It sent no data:"),
        }
        text.push_str(&format!(
            " {}'s conversation began closing at {}",
            n.addr(&first.c.client),
            clock(closing)
        ));
        match reply {
            Some(t) => text.push_str(&format!(
                ", and the reply to {} came at {}, {}.",
                n.addr(&s.client),
                clock(t),
                if t >= closing {
                    format!("{} after that", dur(t - closing))
                } else {
                    "as it closed".to_string()
                }
            )),
            None => text.push_str(", and no reply to it was captured."),
        }
        let facts = json!({
            "server": first.c.server,
            "first_client": first.c.client,
            "second_client": s.client,
            "second_syn_at": second.at(s.start),
            "second_established_at": est,
            "second_request_at": request,
            "second_request_acked_at": acked,
            "first_closing_at": closing,
            "second_reply_at": reply,
        });
        found.push((ok, text, facts, captures_of(&[first, second])));
    }
    // The pair that shows the lesson, else the first pair seen.
    let best = found.iter().position(|f| f.0).unwrap_or(0);
    (!found.is_empty()).then(|| found.swap_remove(best))
}

/// I.3 from the programs' output: a client that connected while another
/// was being served, and was accepted and answered only after it left.
fn queued_in_output(
    n: &Names,
    traces: &[&ClientTrace],
) -> Option<(bool, String, serde_json::Value)> {
    let mut found = Vec::new();
    let tcp: Vec<&&ClientTrace> = traces
        .iter()
        .filter(|t| t.proto == Some(Proto::Tcp))
        .collect();
    for first in &tcp {
        let Some(accepted) = first.accepted_at else {
            continue;
        };
        let left = first.disconnected_at;
        // Connected after the first was (and so after it was accepted, the
        // server being iterative), before it left.
        let Some(second) = tcp.iter().find(|t| {
            t.server == first.server
                && t.local != first.local
                && t.connected_at > first.connected_at.max(accepted)
                && left.is_none_or(|l| t.connected_at < l)
        }) else {
            continue;
        };
        let ok = left.is_some_and(|l| {
            second.accepted_at.is_some_and(|a| a >= l - CLOCK_SKEW)
                && second.first_reply_at.is_some_and(|r| r >= l - CLOCK_SKEW)
        });
        let mut text = format!(
            "{}'s client printed `Connected {} -> {}` at {} while {} was being served — `connect` returned: the server's kernel completed the handshake and queued it.",
            second.host,
            second.local,
            second.server,
            clock(second.connected_at),
            n.addr(&first.local)
        );
        if let (Some(at), Some(line)) = (second.first_sent_at, &second.first_sent) {
            text.push_str(&format!(" It sent `{line}` at {}", clock(at)));
        }
        match left {
            Some(l) => text.push_str(&format!(
                "; the server printed `Client {} disconnected` at {}",
                first.local,
                clock(l)
            )),
            None => text.push_str("; the first client never disconnected"),
        }
        if let Some(a) = second.accepted_at {
            text.push_str(&format!(
                ", `New client connected from {}` at {}",
                second.local,
                clock(a)
            ));
        }
        match (second.first_reply_at, &second.first_reply) {
            (Some(r), Some(line)) => text.push_str(&format!(
                ", and {}'s client got `Server> {line}` at {}.",
                second.host,
                clock(r)
            )),
            _ => text.push_str(", and it was never answered."),
        }
        let facts = json!({
            "server": first.server,
            "first_client": first.local,
            "second_client": second.local,
            "second_connected_at": second.connected_at,
            "second_sent_at": second.first_sent_at,
            "first_disconnected_at": left,
            "second_accepted_at": second.accepted_at,
            "second_reply_at": second.first_reply_at,
        });
        found.push((ok, text, facts));
    }
    let best = found.iter().position(|f| f.0).unwrap_or(0);
    (!found.is_empty()).then(|| found.swap_remove(best))
}

fn queued_answer(n: &Names, convs: &[Conv], traces: &[&ClientTrace]) -> Answer {
    let from_capture = queued_in_captures(n, convs);
    let from_output = queued_in_output(n, traces);
    match (from_capture, from_output) {
        (Some((ok, text, facts, caps)), out) => {
            let mut text = text;
            let mut facts = json!({ "capture": facts });
            if let Some((_, more, ofacts)) = out {
                text.push_str(&format!("\nThe programs' output agrees: {more}"));
                facts["output"] = ofacts;
            }
            answer("I.3", ok, text, caps, facts)
        }
        (None, Some((ok, text, facts))) => answer(
            "I.3",
            ok,
            format!(
                "{}. From the programs' output (no capture of part I holds the second client's frames; a capture on A would show them): {text}",
                if ok { "Yes" } else { "Not as the lab expects" }
            ),
            Vec::new(),
            json!({ "output": facts }),
        ),
        (None, None) => unanswered(
            "I.3",
            "Neither a capture nor the programs' output of part I shows a second client connecting while the first was served.",
        ),
    }
}

fn udp_answer(n: &Names, caps: &[Analysed], traces: &[&ClientTrace]) -> Answer {
    // The capture that saw the most clients (then the first by order).
    let Some((cap, a)) = caps
        .iter()
        .filter(|(_, a)| !a.udp.is_empty())
        .min_by_key(|(_, a)| std::cmp::Reverse(a.udp.len()))
    else {
        return unanswered("I.4", "No capture of part I holds UDP datagrams.");
    };
    let servers: Vec<&str> = a.udp.iter().map(|u| u.server.as_str()).collect();
    let tcp_handshakes = a
        .tcp
        .iter()
        .filter(|c| servers.contains(&c.server.as_str()))
        .count();
    let mut text = format!(
        "No handshake: in `{}` the first frame of each exchange is already a datagram with data ({} SYN to the UDP server's address). Datagrams:",
        cap.name, tcp_handshakes
    );
    let mut all_answered = true;
    for u in &a.udp {
        text.push_str(&format!(
            "\n- {} → {}: {} datagram(s) ({} bytes); back: {} ({} bytes)",
            n.addr(&u.client),
            n.addr(&u.server),
            u.datagrams_to_server,
            u.bytes_to_server,
            u.datagrams_to_client,
            u.bytes_to_client
        ));
        match (u.first_request_at, u.first_reply_at) {
            (Some(q), Some(r)) => text.push_str(&format!(
                "; first answered {} after it was sent",
                dur(r - q)
            )),
            _ => {
                all_answered = false;
                text.push_str("; never answered")
            }
        }
        if u.icmp_errors > 0 {
            text.push_str(&format!(
                "; {} datagram(s) drew ICMP port unreachable (no server was listening any more)",
                u.icmp_errors
            ));
        }
        text.push('.');
    }
    // Clients the capture did not see: their own output tells.
    let udp_traces: Vec<&&ClientTrace> = traces
        .iter()
        .filter(|t| t.proto == Some(Proto::Udp))
        .collect();
    let mut output_facts = Vec::new();
    for t in &udp_traces {
        let seen = a.udp.iter().any(|u| u.client == t.local);
        match (t.first_sent_at, t.first_reply_at) {
            (Some(s), Some(r)) if !seen => {
                text.push_str(&format!(
                    "\n- {}'s client `{}` (not in this capture) printed `Sent: {}` at {} and `Server> {}` {} later.",
                    t.host,
                    t.local,
                    t.first_sent.as_deref().unwrap_or(""),
                    clock(s),
                    t.first_reply.as_deref().unwrap_or(""),
                    dur(r - s)
                ));
            }
            (Some(_), None) => all_answered = false,
            _ => {}
        }
        output_facts.push(json!({
            "host": t.host, "client": t.local, "server": t.server,
            "sent_at": t.first_sent_at, "reply_at": t.first_reply_at,
        }));
    }
    if a.udp.len() >= 2 {
        let (first, second) = (&a.udp[0], &a.udp[1]);
        if let Some(r) = second.first_reply_at {
            text.push_str(&format!(
                "\n{} was answered at once{}: one UDP socket serves every client, datagram by datagram.",
                n.addr(&second.client),
                if r < first.end {
                    format!(", while {} was still sending", n.addr(&first.client))
                } else {
                    String::new()
                }
            ));
        }
    } else if udp_traces.len() >= 2 && all_answered {
        text.push_str("\nEvery UDP client was answered at once, none waited for another: one UDP socket serves every client, datagram by datagram.");
    }
    let facts = json!({
        "capture": cap.name,
        "tcp_handshakes": tcp_handshakes,
        "exchanges": a.udp.iter().map(|u| json!({
            "client": u.client, "server": u.server,
            "to_server": u.datagrams_to_server, "to_client": u.datagrams_to_client,
            "reply_after_s": u.first_reply_at.zip(u.first_request_at).map(|(r, q)| r - q),
            "icmp_errors": u.icmp_errors,
        })).collect::<Vec<_>>(),
        "output": output_facts,
    });
    answer(
        "I.4",
        tcp_handshakes == 0 && all_answered,
        text,
        vec![cap.name.clone()],
        facts,
    )
}

fn threaded_answers(n: &Names, convs: &[Conv], lines: &[&TimelineEntry]) -> Vec<Answer> {
    // Per server address: its conversations (all captures merged).
    let mut by_server: Vec<(&str, Vec<&Conv>)> = Vec::new();
    for c in convs {
        match by_server.iter_mut().find(|(s, _)| *s == c.c.server) {
            Some((_, v)) => v.push(c),
            None => by_server.push((&c.c.server, vec![c])),
        }
    }
    let best = by_server
        .iter()
        .map(|(s, v)| {
            let intervals: Vec<(f64, f64)> = v.iter().filter_map(|c| c.interval()).collect();
            (*s, v, max_overlap(&intervals), intervals.len())
        })
        .max_by_key(|(_, _, most, connected)| (*most, *connected));
    let Some((server, v, most, connected)) = best else {
        let why = "No capture of part II holds a TCP server's conversations.";
        return vec![
            unanswered("II.1", why),
            unanswered("II.2", why),
            unanswered("II.3", why),
        ];
    };
    let caps = captures_of(v);
    let clients: Vec<&str> = v.iter().map(|c| c.c.client.as_str()).collect();
    // The threaded server counts its connections itself.
    let printed = lines
        .iter()
        .filter_map(|e| e.text.trim().strip_prefix("Open connections: "))
        .filter_map(|n| n.parse::<usize>().ok())
        .max();
    let corroborated = match printed {
        Some(p) => format!(" The server itself printed `Open connections: {p}` at most."),
        None => String::new(),
    };
    let server_w = n.addr(server);
    vec![
        answer(
            "II.1",
            most >= 2,
            format!(
                "{most} client(s) were connected to {server_w} at once, in {} ({connected} connection(s) in all).{corroborated}",
                quoted_list(&caps)
            ),
            caps.clone(),
            json!({ "server": server, "max_concurrent": most, "connections": connected, "printed_open_connections": printed }),
        ),
        answer(
            "II.2",
            connected >= 1,
            format!(
                "{} sockets: 1 listening socket on {server_w} plus {connected} connected socket(s), one per client, each made by `accept` and identified by the 4-tuple (server address, client address).",
                connected + 1
            ),
            caps.clone(),
            json!({ "server": server, "listening": 1, "connected": connected, "sockets": connected + 1 }),
        ),
        answer(
            "II.3",
            !clients.is_empty(),
            format!(
                "The clients' socket addresses: {}.",
                clients.iter().map(|c| n.addr(c)).collect::<Vec<_>>().join(", ")
            ),
            caps,
            json!({ "server": server, "clients": clients }),
        ),
    ]
}
