//! The Part II rules: clients served at the same time (`tcp-concurrent`),
//! a server's socket addresses and sockets (`server-sockets`), and the
//! clients' (`client-sockets`).

use serde_json::json;

use super::tcp::queued_wait;
use super::{Evidence, Found, Seen};
use crate::capture::{max_overlap, Frame, Kind, Proto};
use crate::report::model::LineStream;
use crate::report::traces::ClientTrace;

/// The TCP clients these steps started and the captures that hold them.
fn clients<'r>(ev: &Evidence<'r, '_>) -> Result<(Vec<&'r ClientTrace>, Vec<Seen<'r>>), String> {
    let tcp: Vec<&ClientTrace> = ev
        .started
        .iter()
        .copied()
        .filter(|t| t.proto == Some(Proto::Tcp))
        .collect();
    if tcp.is_empty() {
        return Err("the steps it names started no TCP client.".into());
    }
    let seen = ev.locate(&tcp, Proto::Tcp);
    if seen.is_empty() {
        return Err(
            "no capture of this run that ran across the steps it names holds the clients' frames."
                .into(),
        );
    }
    Ok((tcp, seen))
}

/// The frames of kind `k` of each held conversation, cited per capture.
fn cite_kind(ev: &Evidence, seen: &[Seen], k: Kind, f: &mut Found) -> Vec<String> {
    cite_first(ev, seen, f, |g, _| g.kind == k)
}

/// The first frame of each held conversation that `pick` (frame, server
/// address) accepts, cited per capture.
fn cite_first(
    ev: &Evidence,
    seen: &[Seen],
    f: &mut Found,
    pick: impl Fn(&Frame, &str) -> bool,
) -> Vec<String> {
    let mut out = Vec::new();
    for s in seen {
        let mut fr: Vec<&Frame> = Vec::new();
        let mut server = String::new();
        for (_, i) in &s.held {
            server = s.analysis.tcp[*i].server.clone();
            fr.extend(
                s.frames(Proto::Tcp, *i)
                    .into_iter()
                    .filter(|g| pick(g, &server))
                    .take(1),
            );
        }
        let n = f.cite(ev.run, s, &fr, &ev.run.tcp_filter(&server));
        out.push(format!("`{}` frames {n}", ev.run.file(s.capture)));
    }
    out
}

pub(super) fn concurrent(ev: &Evidence, cmp: Option<&Evidence>) -> Result<Found, String> {
    let run = ev.run;
    let (tcp, seen) = clients(ev)?;
    let mut f = Found::default();
    let mut intervals = Vec::new();
    let mut connected = 0;
    let mut answered = 0;
    for s in &seen {
        for (_, i) in &s.held {
            let c = &s.analysis.tcp[*i];
            if let Some((a, b)) = c.connected_interval(s.analysis.duration_s) {
                connected += 1;
                intervals.push((s.analysis.start_unix + a, s.analysis.start_unix + b));
            }
            if c.data_to_client > 0 {
                answered += 1;
            }
        }
    }
    let most = max_overlap(&intervals);
    let hs = cite_kind(ev, &seen, Kind::SynAck, &mut f);
    let replies = cite_first(ev, &seen, &mut f, |g, server| {
        g.kind == Kind::Data && g.src == server
    });
    f.ok = connected == tcp.len() && most >= 2 && answered == tcp.len();
    let mut text = format!(
        "{}: {connected} of the {} clients connected (the server's SYN-ACKs: {}), {most} of them at the same time, and {answered} were answered (the server's first replies: {}).",
        if f.ok { "Yes" } else { "Not as the lab expects" },
        tcp.len(),
        hs.join("; "),
        replies.join("; ")
    );
    let counts: Vec<&crate::report::model::TimelineEntry> = run
        .timeline
        .iter()
        .filter(|e| {
            e.step
                .as_deref()
                .is_some_and(|s| ev.steps.iter().any(|x| x == s))
        })
        .filter(|e| e.text.starts_with("Open connections: "))
        .collect();
    if let Some(e) = counts.iter().max_by_key(|e| {
        e.text["Open connections: ".len()..]
            .trim()
            .parse::<usize>()
            .unwrap_or(0)
    }) {
        let l = f.line(&e.host, &e.program, LineStream::Stdout, &e.text);
        text.push_str(&format!(" The server itself printed {l}."));
    }
    if let Some(w) = cmp.and_then(|c| queued_wait(c, &mut f)) {
        text.push_str(&format!("\n\nPart I was different. {w}"));
    }
    text.push_str("\n\nWhy: the threaded server `accept`s each connection and serves it in a thread of its own, then calls `accept` again at once; the iterative server of Part I served one client to the end before accepting the next, which waited in the kernel's accept queue.");
    f.text = text;
    f.facts = json!({ "clients": tcp.len(), "connected": connected, "max_concurrent": most, "answered": answered });
    Ok(f)
}

pub(super) fn server_sockets(ev: &Evidence) -> Result<Found, String> {
    let run = ev.run;
    let (_, seen) = clients(ev)?;
    let mut f = Found::default();
    let mut servers: Vec<String> = Vec::new();
    let mut connected = 0;
    for s in &seen {
        for (_, i) in &s.held {
            let c = &s.analysis.tcp[*i];
            if !servers.contains(&c.server) {
                servers.push(c.server.clone());
            }
            if c.connected_interval(s.analysis.duration_s).is_some() {
                connected += 1;
            }
        }
    }
    let hs = cite_kind(ev, &seen, Kind::SynAck, &mut f);
    f.ok = servers.len() == 1 && connected >= 1;
    let shown: Vec<String> = servers.iter().map(|a| run.addr(a)).collect();
    f.text = format!(
        "{} socket address{}: {} — every frame from the server comes from it (its SYN-ACKs: {}). It created {} sockets: 1 listening socket (`socket`, `bind`, `listen`) and {connected} connected socket{}, one per client, each returned by `accept`.\n\nWhy: all of the server's sockets share its socket address; the kernel tells the connected ones apart by the whole 4-tuple — the server's address and the client's — so one port serves every client.",
        servers.len(),
        if servers.len() == 1 { "" } else { "es" },
        shown.join(", "),
        hs.join("; "),
        connected + 1,
        if connected == 1 { "" } else { "s" },
    );
    f.facts = json!({ "servers": servers, "listening": 1, "connected": connected, "sockets": connected + 1 });
    Ok(f)
}

pub(super) fn client_sockets(ev: &Evidence) -> Result<Found, String> {
    let (tcp, seen) = clients(ev)?;
    let mut f = Found::default();
    let syns = cite_kind(ev, &seen, Kind::Syn, &mut f);
    // Per client host: its clients' socket addresses, seen in a capture.
    let mut hosts: Vec<(String, Vec<&ClientTrace>)> = Vec::new();
    for s in &seen {
        for (t, _) in &s.held {
            match hosts.iter_mut().find(|(h, _)| *h == t.host) {
                Some((_, v)) => v.push(t),
                None => hosts.push((t.host.clone(), vec![t])),
            }
        }
    }
    // Clients a step starts together race to connect: listed by name, the
    // answer reads the same in every run.
    for (_, v) in &mut hosts {
        v.sort_by(|a, b| a.program.cmp(&b.program));
    }
    let total: usize = hosts.iter().map(|(_, v)| v.len()).sum();
    f.ok = total == tcp.len() && total >= 1;
    let mut text = format!(
        "{total} client socket address{}, one per client program (their SYNs: {}):",
        if total == 1 { "" } else { "es" },
        syns.join("; ")
    );
    for (h, v) in &hosts {
        let addrs: Vec<String> = v
            .iter()
            .map(|t| {
                if ev.run.alone.is_some() {
                    return format!("`{}`", t.local);
                }
                let l = f.line(
                    &t.host,
                    &t.program,
                    LineStream::Stdout,
                    &format!("Connected {} -> {}", t.local, t.server),
                );
                format!("`{}` (`{}` printed {l})", t.local, t.program)
            })
            .collect();
        text.push_str(&format!(
            "\n- {h} created {} socket{}: {}",
            v.len(),
            if v.len() == 1 { "" } else { "s" },
            addrs.join(", ")
        ));
    }
    text.push_str("\n\nWhy: each client program makes one socket; at `connect` its computer's kernel gives it the computer's address and a free ephemeral port, so two clients on one computer share the address and differ by port.");
    f.text = text;
    f.facts = json!({
        "clients": hosts.iter().map(|(h, v)| json!({"host": h, "sockets": v.len(), "addresses": v.iter().map(|t| &t.local).collect::<Vec<_>>()})).collect::<Vec<_>>(),
    });
    Ok(f)
}
