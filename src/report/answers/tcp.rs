//! The Part I TCP rules: the frames of a client's start and lines
//! (`tcp-frames`), the socket addresses in them (`tcp-addresses`), and a
//! client queued by a busy iterative server (`tcp-queued`).

use serde_json::json;

use super::{dur, Evidence, Found, Seen, CLOCK_SKEW};
use crate::capture::{Frame, Kind, Proto};
use crate::report::model::LineStream;
use crate::report::traces::ClientTrace;

/// `4 (data `hello`)`.
pub(super) fn fdesc(f: &Frame) -> String {
    match (&f.kind, &f.text) {
        (Kind::Data | Kind::Udp, Some(t)) => format!("{} ({} `{t}`)", f.number, f.kind.name()),
        _ => format!("{} ({})", f.number, f.kind.name()),
    }
}

/// A conversation's frames read as the handshake and, per line sent, the
/// request and what followed it up to the next request (reply, ACKs).
pub(super) struct Exchange<'f> {
    pub handshake: Vec<&'f Frame>,
    pub lines: Vec<(String, Vec<&'f Frame>)>,
}

pub(super) fn exchange<'f>(frames: &[&'f Frame], client: &str, sent: &[String]) -> Exchange<'f> {
    let mut handshake = Vec::new();
    if let Some(syn) = frames.iter().position(|f| f.kind == Kind::Syn) {
        handshake.push(frames[syn]);
        if let Some(sa) = frames[syn..].iter().position(|f| f.kind == Kind::SynAck) {
            handshake.push(frames[syn + sa]);
            if let Some(ack) = frames[syn + sa..]
                .iter()
                .find(|f| f.kind == Kind::Ack && f.src == client)
            {
                handshake.push(ack);
            }
        }
    }
    let mut lines = Vec::new();
    let mut from = 0;
    for line in sent {
        let is_req = |f: &&Frame| f.src == client && f.kind == Kind::Data;
        let Some(k) = frames[from..]
            .iter()
            .position(|f| is_req(f) && f.text.as_deref() == Some(line.as_str()))
        else {
            continue;
        };
        let start = from + k;
        let mut group = vec![frames[start]];
        for f in &frames[start + 1..] {
            if is_req(f) || matches!(f.kind, Kind::Fin | Kind::Rst | Kind::Syn) {
                break;
            }
            group.push(f);
        }
        from = start + 1;
        lines.push((line.clone(), group));
    }
    Exchange { handshake, lines }
}

fn tcp_clients<'r>(ts: &[&'r ClientTrace]) -> Vec<&'r ClientTrace> {
    ts.iter()
        .copied()
        .filter(|t| t.proto == Some(Proto::Tcp))
        .collect()
}

fn steps_word(ev: &Evidence) -> String {
    let ids: Vec<String> = ev.steps.iter().map(|s| format!("`{s}`")).collect();
    format!(
        "step{} {}",
        if ids.len() == 1 { "" } else { "s" },
        ids.join(", ")
    )
}

fn located<'r>(
    ev: &Evidence<'r, '_>,
    clients: &[&'r ClientTrace],
) -> Result<Vec<Seen<'r>>, String> {
    if clients.is_empty() {
        return Err(format!("{} started no TCP client.", steps_word(ev)));
    }
    let seen = ev.locate(clients, Proto::Tcp);
    if seen.is_empty() {
        let who: Vec<String> = clients.iter().map(|t| ev.run.addr(&t.local)).collect();
        return Err(format!(
            "no capture of this run that ran across {} holds the frames of {}.",
            steps_word(ev),
            who.join(", ")
        ));
    }
    Ok(seen)
}

pub(super) fn frames(ev: &Evidence) -> Result<Found, String> {
    let run = ev.run;
    let seen = located(ev, &tcp_clients(&ev.started))?;
    let mut f = Found {
        ok: true,
        ..Found::default()
    };
    let mut parts = Vec::new();
    let mut facts = Vec::new();
    for s in &seen {
        for (t, i) in &s.held {
            let c = &s.analysis.tcp[*i];
            let filter = run.tcp_filter(&c.server);
            let fr = s.frames(Proto::Tcp, *i);
            let x = exchange(&fr, &c.client, ev.sent_to(t));
            f.cite(run, s, &x.handshake, &filter);
            let hs: Vec<String> = x.handshake.iter().map(|f| fdesc(f)).collect();
            let mut text = format!(
                "When {} started, its `connect` made TCP's three-way handshake with {} — frames {}.",
                run.who(t),
                run.addr(&c.server),
                hs.join(", ")
            );
            if x.handshake.is_empty() && c.syns == 0 {
                f.ok = false;
                text = format!(
                    "The capture began after {} connected to {}: it holds no SYN of this connection (its first frame is {}), so it cannot show the handshake.",
                    run.who(t),
                    run.addr(&c.server),
                    c.first_frame
                );
            } else if x.handshake.len() < 3 {
                f.ok = false;
                text.push_str(" (The capture does not hold the whole handshake.)");
            }
            if !x.lines.is_empty() {
                text.push_str(" For each line it sent, a data segment went to the server, the server's kernel acknowledged it (an ACK, or the reply carrying the ACK), the upper-cased reply came back as a data segment and the client's kernel acknowledged it:");
            }
            for (line, group) in &x.lines {
                f.cite(run, s, group, &filter);
                let d: Vec<String> = group.iter().map(|g| fdesc(g)).collect();
                text.push_str(&format!("\n- `{line}`: frames {}", d.join(", ")));
                if !group
                    .iter()
                    .any(|g| g.kind == Kind::Data && g.src == c.server)
                {
                    // A last line after which the client closed (`quit`) has no reply.
                    let last = group.last().map_or(0, |g| g.number);
                    let closed = fr
                        .iter()
                        .any(|g| g.number > last && g.kind == Kind::Fin && g.src == c.client);
                    if closed {
                        text.push_str(" — no reply: the client closed the connection after it");
                    } else {
                        f.ok = false;
                        text.push_str(" — no reply captured");
                    }
                }
            }
            if x.lines.len() < ev.sent_to(t).len() {
                f.ok = false;
            }
            facts.push(json!({
                "capture": s.capture.name, "client": c.client, "server": c.server,
                "handshake": x.handshake.iter().map(|f| f.number).collect::<Vec<_>>(),
                "lines": x.lines.iter().map(|(l, g)| json!({"line": l, "frames": g.iter().map(|f| f.number).collect::<Vec<_>>()})).collect::<Vec<_>>(),
            }));
            parts.push(text);
        }
    }
    parts.push("Why: TCP is connection-oriented and reliable — the handshake sets up the connection before any data flows, and every segment is acknowledged.".into());
    f.text = parts.join("\n\n");
    f.facts = json!({ "conversations": facts });
    Ok(f)
}

pub(super) fn addresses(ev: &Evidence) -> Result<Found, String> {
    let run = ev.run;
    let seen = located(ev, &tcp_clients(&ev.started))?;
    let mut f = Found {
        ok: true,
        ..Found::default()
    };
    let mut unique: Vec<String> = Vec::new();
    let mut lines = Vec::new();
    for s in &seen {
        for (t, i) in &s.held {
            let c = &s.analysis.tcp[*i];
            let filter = run.tcp_filter(&c.server);
            let fr = s.frames(Proto::Tcp, *i);
            let x = exchange(&fr, &c.client, ev.sent_to(t));
            let data: Vec<&Frame> = x
                .lines
                .iter()
                .flat_map(|(_, g)| g.iter().copied())
                .filter(|g| g.kind == Kind::Data)
                .collect();
            if data.is_empty() {
                f.ok = false;
                continue;
            }
            for d in &data {
                for a in [&d.src, &d.dst] {
                    if !unique.contains(a) {
                        unique.push(a.clone());
                    }
                }
            }
            let req: Vec<&Frame> = data.iter().copied().filter(|d| d.src == c.client).collect();
            let rep: Vec<&Frame> = data.iter().copied().filter(|d| d.src == c.server).collect();
            let rq = f.cite(run, s, &req, &filter);
            let rp = f.cite(run, s, &rep, &filter);
            let prog = if run.alone.is_some() {
                "the client".to_string()
            } else {
                format!("`{}`", t.program)
            };
            lines.push(format!(
                "\n- {} is the client's socket address: {}'s kernel gave {prog} an ephemeral port at `connect`. It is the source of every request (frames {rq}) and the destination of every reply (frames {rp}).\n- {} is the server's: the address and port it bound and listens on. It is the destination of the requests and the source of the replies.",
                run.addr(&c.client),
                t.host,
                run.addr(&c.server),
            ));
        }
    }
    f.text = format!(
        "{} unique socket address{} in the data frames:{}\n\nWhy: a TCP connection is identified by its two socket addresses (with the protocol, the 4-tuple): source and destination swap with the direction, and the ports tell each host's kernel which socket a segment belongs to.",
        unique.len(),
        if unique.len() == 1 { "" } else { "es" },
        lines.concat()
    );
    f.facts = json!({ "addresses": unique });
    Ok(f)
}

pub(super) fn queued(ev: &Evidence) -> Result<Found, String> {
    let run = ev.run;
    let started = tcp_clients(&ev.started);
    let seen = located(ev, &started)?;
    let touched = tcp_clients(&ev.touched);
    for s in &seen {
        let a = s.analysis;
        for (t, i) in &s.held {
            let second = &a.tcp[*i];
            // A conversation with the same server, of a client these steps
            // talked to, still open when this one began.
            let Some(j) = a.tcp.iter().position(|c| {
                c.server == second.server
                    && c.start < second.start
                    && c.closing_at.is_none_or(|x| x > second.start)
                    && touched.iter().any(|u| u.local == c.client)
            }) else {
                continue;
            };
            let first = &a.tcp[j];
            let first_t = touched.iter().find(|u| u.local == first.client).copied();
            let filter = run.tcp_filter(&second.server);
            let fr2 = s.frames(Proto::Tcp, *i);
            let fr1 = s.frames(Proto::Tcp, j);
            let x = exchange(&fr2, &second.client, ev.sent_to(t));
            let mut f = Found::default();
            let hs = f.cite(run, s, &x.handshake, &filter);
            let closing = first.closing_at;
            let req = x.lines.first().map(|(_, g)| g[0]);
            let ack = x.lines.first().and_then(|(_, g)| {
                g.iter()
                    .find(|g| g.src == second.server && g.kind == Kind::Ack)
                    .copied()
            });
            let reply = fr2
                .iter()
                .find(|g| g.src == second.server && g.kind == Kind::Data)
                .copied();
            let fin1: Vec<&Frame> = fr1
                .iter()
                .copied()
                .filter(|g| {
                    g.kind == Kind::Fin
                        || (g.kind == Kind::Data
                            && g.src == first.client
                            && closing.is_some_and(|c| g.time <= c && g.time >= c - 0.5))
                })
                .take(2)
                .collect();
            let est_before = second
                .established_at
                .zip(closing)
                .is_some_and(|(e, c)| e < c);
            let ack_before = ack.zip(closing).is_some_and(|(k, c)| k.time < c);
            let reply_after = reply
                .zip(closing)
                .is_some_and(|(r, c)| r.time > c - CLOCK_SKEW);
            f.ok = est_before && ack_before && reply_after;
            let who = if run.alone.is_some() {
                super::capital(&run.who(t))
            } else {
                format!("{}'s client `{}`", t.host, t.program)
            };
            let printed = if run.alone.is_some() {
                String::new()
            } else {
                format!(
                    " and the client printed `Connected {} -> {}`",
                    second.client, second.server
                )
            };
            let mut text = format!(
                "{}. {who} connected while the iterative server on {} was serving {}: the server's kernel completed the handshake at once (frames {hs}), so `connect` returned{printed}.",
                if f.ok { "Yes" } else { "Not as the lab expects" },
                run.addr(&second.server),
                run.addr(&first.client),
            );
            if let (Some(r), Some(k)) = (req, ack) {
                let n = f.cite(run, s, &[r, k], &filter);
                text.push_str(&format!(
                    " Its line went out and was acknowledged by the kernel but not answered (frames {n})."
                ));
            }
            if !fin1.is_empty() {
                let n = f.cite(run, s, &fin1, &filter);
                let who = first_t
                    .map(|u| run.who(u))
                    .unwrap_or_else(|| run.addr(&first.client));
                text.push_str(&format!(" Then {who} quit (frames {n})"));
            }
            match (reply, req) {
                (Some(r), Some(q)) => {
                    let n = f.cite(run, s, &[r], &filter);
                    text.push_str(&format!(
                        ", the server accepted the queued connection and the reply came (frame {n}), {} after the line was sent.",
                        dur(r.time - q.time)
                    ));
                }
                _ => text.push_str(", and no reply to it was captured."),
            }
            // The server's own words, when it said them in these steps.
            let said: Vec<(String, String, String)> = run
                .timeline
                .iter()
                .filter(|e| {
                    e.step
                        .as_deref()
                        .is_some_and(|st| ev.steps.iter().any(|x| x == st))
                })
                .filter(|e| {
                    e.text == format!("Client {} disconnected", first.client)
                        || e.text == format!("New client connected from {}", second.client)
                })
                .map(|e| (e.host.clone(), e.program.clone(), e.text.clone()))
                .collect();
            if !said.is_empty() {
                let q: Vec<String> = said
                    .iter()
                    .map(|(h, p, l)| f.line(h, p, LineStream::Stdout, l))
                    .collect();
                text.push_str(&format!(" The server printed {}.", q.join(" and ")));
            }
            text.push_str("\n\nWhy: the iterative server serves one client at a time. The kernel completes handshakes on its own and keeps the connections in the listening socket's accept queue (it also buffers and ACKs their data); the server `accept`s the next one only when it is done with the current client.");
            f.text = text;
            f.facts = json!({
                "capture": s.capture.name, "server": second.server,
                "first_client": first.client, "second_client": second.client,
                "established_before_first_closed": est_before,
                "acked_before_first_closed": ack_before,
                "replied_after_first_closed": reply_after,
            });
            return Ok(f);
        }
    }
    let who: Vec<String> = started.iter().map(|t| run.addr(&t.local)).collect();
    Err(format!(
        "no capture of {} shows {} connecting while another client of the same server was served.",
        steps_word(ev),
        who.join(", ")
    ))
}

/// For comparisons with Part I: how long the TCP client these steps
/// started waited for its first reply (frames cited), in a sentence.
pub(super) fn queued_wait(c: &Evidence, f: &mut Found) -> Option<String> {
    let run = c.run;
    let s = c
        .locate(&tcp_clients(&c.started), Proto::Tcp)
        .into_iter()
        .next()?;
    let (t, i) = *s.held.first()?;
    let conv = &s.analysis.tcp[i];
    let fr = s.frames(Proto::Tcp, i);
    let q = fr
        .iter()
        .find(|g| g.src == conv.client && g.kind == Kind::Data)?;
    let r = fr
        .iter()
        .find(|g| g.src == conv.server && g.kind == Kind::Data)?;
    let n = f.cite(run, &s, &[q, r], &run.tcp_filter(&conv.server));
    let when = if run.alone.is_some() {
        String::new()
    } else {
        format!("In step `{}`, ", c.steps.join("`, `"))
    };
    let who = run.who(t);
    let who = if when.is_empty() {
        super::capital(&who)
    } else {
        who
    };
    Some(format!(
        "{when}{who} — a client of the iterative TCP server — waited {} for its reply (frames {n}), until the client before it quit.",
        dur(r.time - q.time)
    ))
}
