//! The handout's questions, answered from the capture analyses, naming the
//! socket addresses (and the hosts they belong to).
//!
//! Part I questions read the captures of steps `I.*`, part II those of
//! steps `II.*`; captures without a step count for both.

use std::collections::BTreeMap;

use serde_json::json;

use super::model::{Answer, CaptureReport};
use crate::capture::{CaptureAnalysis, Closed, Proto, Role, TcpConversation};

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

/// Host names by IP, to say whose a socket address is.
pub struct Names<'a>(pub &'a BTreeMap<String, String>);

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

fn part(c: &CaptureReport) -> Option<&str> {
    c.step.as_deref().and_then(|s| s.split('.').next())
}

/// The analysed captures of one part of the lab (`I` or `II`).
fn of_part<'a>(
    caps: &'a [CaptureReport],
    p: &str,
) -> Vec<(&'a CaptureReport, &'a CaptureAnalysis)> {
    let analysed = || {
        caps.iter()
            .filter_map(|c| c.analysis.as_ref().map(|a| (c, a)))
    };
    let mine: Vec<_> = analysed()
        .filter(|(c, _)| part(c).is_none_or(|x| x == p))
        .collect();
    if mine.is_empty() {
        analysed().collect()
    } else {
        mine
    }
}

fn ms(d: f64) -> String {
    if d < 0.001 {
        format!("{:.0} µs", d * 1e6)
    } else if d < 1.0 {
        format!("{:.1} ms", d * 1000.0)
    } else {
        format!("{d:.3} s")
    }
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
pub fn answers(caps: &[CaptureReport], names: &BTreeMap<String, String>) -> Vec<Answer> {
    let n = Names(names);
    let part1 = of_part(caps, "I");
    let part2 = of_part(caps, "II");
    let mut out = Vec::new();

    // I.1 and I.2: the first capture with a whole TCP handshake.
    match part1
        .iter()
        .find(|(_, a)| a.tcp.iter().any(|c| c.handshake))
    {
        Some((cap, a)) => {
            out.push(frames_answer(&n, cap, a));
            out.push(sockets_answer(&n, cap, a));
        }
        None => {
            let why = "No capture of part I holds a TCP handshake.";
            out.push(unanswered("I.1", why));
            out.push(unanswered("I.2", why));
        }
    }
    out.push(queued_answer(&n, &part1));
    out.push(udp_answer(&n, &part1));
    out.extend(threaded_answers(&n, &part2));
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

fn sockets_answer(n: &Names, cap: &CaptureReport, a: &CaptureAnalysis) -> Answer {
    let list = |role: Role| -> Vec<String> {
        a.sockets
            .iter()
            .filter(|s| s.proto == Proto::Tcp && s.role == role)
            .map(|s| n.addr(&s.address))
            .collect()
    };
    let (servers, clients) = (list(Role::Server), list(Role::Client));
    let text = format!(
        "In `{}`: {} TCP socket address(es). Server: {} — the port it listens on; every connected socket of the server has this same address. \
Client(s): {} — each an ephemeral port the client's kernel chose at `connect`.",
        cap.name,
        servers.len() + clients.len(),
        servers.join(", "),
        clients.join(", ")
    );
    let facts: Vec<_> = a
        .sockets
        .iter()
        .filter(|s| s.proto == Proto::Tcp)
        .map(|s| json!({ "address": s.address, "role": s.role, "host": n.host(&s.address) }))
        .collect();
    answer(
        "I.2",
        !servers.is_empty() && !clients.is_empty(),
        text,
        vec![cap.name.clone()],
        json!({ "capture": cap.name, "sockets": facts }),
    )
}

/// Two conversations with one server where the second began before the first closed.
fn queued_answer(n: &Names, caps: &[(&CaptureReport, &CaptureAnalysis)]) -> Answer {
    for (cap, a) in caps {
        for (i, first) in a.tcp.iter().enumerate() {
            let Some(closing) = first.closing_at else {
                continue;
            };
            let Some(second) = a.tcp[i + 1..]
                .iter()
                .find(|c| c.server == first.server && c.start < closing)
            else {
                continue;
            };
            let est = second.established_at;
            let acked = second.first_request_acked_at;
            let reply = second.first_reply_at;
            let ok = est.is_some_and(|t| t < closing)
                && acked.is_some_and(|t| t < closing)
                && reply.is_some_and(|t| t > closing);
            let mut text = format!(
                "{}. In `{}`: {} sent its SYN at t={:.3} s while {} was being served by {}",
                if ok { "Yes" } else { "Not as the lab expects" },
                cap.name,
                n.addr(&second.client),
                second.start,
                n.addr(&first.client),
                n.addr(&first.server)
            );
            match est {
                Some(t) => text.push_str(&format!(
                    "; the server's kernel answered with SYN-ACK and the connection was established at t={t:.3} s (queued: the server had not called `accept` for it)."
                )),
                None => text.push_str("; its handshake did not complete in the capture."),
            }
            match (second.first_request_at, acked) {
                (Some(r), Some(k)) => text.push_str(&format!(
                    " Its line ({} bytes) left at t={r:.3} s and was ACKed {} later by the kernel, but not answered:",
                    second.first_request_bytes.unwrap_or(0),
                    ms(k - r)
                )),
                (Some(r), None) => text.push_str(&format!(" Its line left at t={r:.3} s and was not ACKed:")),
                _ => text.push_str(" It sent no data:"),
            }
            text.push_str(&format!(
                " {}'s conversation closed at t={closing:.3} s",
                n.addr(&first.client)
            ));
            match reply {
                Some(t) => text.push_str(&format!(
                    ", and the reply to {} came at t={t:.3} s, {} after that.",
                    n.addr(&second.client),
                    ms(t - closing)
                )),
                None => text.push_str(", and no reply to it was captured."),
            }
            let facts = json!({
                "capture": cap.name,
                "server": first.server,
                "first_client": first.client,
                "second_client": second.client,
                "second_syn_at": second.start,
                "second_established_at": est,
                "second_request_at": second.first_request_at,
                "second_request_acked_at": acked,
                "first_closing_at": closing,
                "second_reply_at": reply,
            });
            return answer("I.3", ok, text, vec![cap.name.clone()], facts);
        }
    }
    unanswered(
        "I.3",
        "No capture of part I shows a second client connecting while the first was served.",
    )
}

fn udp_answer(n: &Names, caps: &[(&CaptureReport, &CaptureAnalysis)]) -> Answer {
    let Some((cap, a)) = caps.iter().find(|(_, a)| !a.udp.is_empty()) else {
        return unanswered("I.4", "No capture of part I holds UDP datagrams.");
    };
    let servers: Vec<&str> = a.udp.iter().map(|u| u.server.as_str()).collect();
    // TCP handshakes to the UDP server's address would be another exercise.
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
            (Some(q), Some(r)) => {
                text.push_str(&format!("; first answered {} after it was sent", ms(r - q)))
            }
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
    if let Some(c) = a.udp.get(1) {
        let busy = a.udp[0].end;
        if let Some(r) = c.first_reply_at {
            text.push_str(&format!(
                "\n{} was answered at once, at t={r:.3} s{}: one UDP socket serves every client, datagram by datagram.",
                n.addr(&c.client),
                if r < busy {
                    format!(", while {} was still sending", n.addr(&a.udp[0].client))
                } else {
                    String::new()
                }
            ));
        }
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
    });
    answer(
        "I.4",
        tcp_handshakes == 0 && all_answered,
        text,
        vec![cap.name.clone()],
        facts,
    )
}

fn threaded_answers(n: &Names, caps: &[(&CaptureReport, &CaptureAnalysis)]) -> Vec<Answer> {
    let best = caps
        .iter()
        .flat_map(|(c, a)| {
            a.servers
                .iter()
                .filter(|s| s.proto == Proto::Tcp)
                .map(move |s| (*c, s))
        })
        .max_by_key(|(_, s)| (s.max_concurrent, s.connected));
    let Some((cap, s)) = best else {
        let why = "No capture of part II holds a TCP server's conversations.";
        return vec![
            unanswered("II.1", why),
            unanswered("II.2", why),
            unanswered("II.3", why),
        ];
    };
    let name = vec![cap.name.clone()];
    let server = n.addr(&s.address);
    let clients: Vec<String> = s.clients.iter().map(|c| n.addr(c)).collect();
    vec![
        answer(
            "II.1",
            s.max_concurrent >= 2,
            format!(
                "{} client(s) were connected to {} at once in `{}` ({} connection(s) in all).",
                s.max_concurrent, server, cap.name, s.connected
            ),
            name.clone(),
            json!({ "capture": cap.name, "server": s.address, "max_concurrent": s.max_concurrent, "connections": s.connected }),
        ),
        answer(
            "II.2",
            s.connected >= 1,
            format!(
                "{} sockets: 1 listening socket on {} plus {} connected socket(s), one per client, each made by `accept` and identified by the 4-tuple (server address, client address).",
                s.sockets, server, s.connected
            ),
            name.clone(),
            json!({ "capture": cap.name, "listening": s.listening, "connected": s.connected, "sockets": s.sockets }),
        ),
        answer(
            "II.3",
            !s.clients.is_empty(),
            format!("The clients' socket addresses: {}.", clients.join(", ")),
            name,
            json!({ "capture": cap.name, "clients": s.clients }),
        ),
    ]
}
