//! The rules about a busy port (`busy-port`) and about UDP: how its frames
//! differ from TCP's (`udp-frames`), and a second client answered at once
//! (`udp-no-wait`).

use std::sync::OnceLock;

use regex::Regex;
use serde_json::json;

use super::tcp::{exchange, fdesc, queued_wait};
use super::{dur, Evidence, Found, Seen};
use crate::capture::{Frame, Kind, Proto};
use crate::report::model::LineStream;
use crate::report::traces::ClientTrace;

pub(super) fn busy_port(ev: &Evidence) -> Result<Found, String> {
    static STATUS: OnceLock<Regex> = OnceLock::new();
    let status_re =
        STATUS.get_or_init(|| Regex::new(r"exited with status (\d+)").expect("a valid pattern"));
    let run = ev.run;
    let mut f = Found {
        ok: true,
        ..Found::default()
    };
    let mut parts = Vec::new();
    for step in &ev.steps {
        let prefix = format!("{step}-");
        // The foreground programs of a `run` action are named `<step>-<program>`.
        let mut progs: Vec<(&str, &str)> = Vec::new();
        for e in run
            .timeline
            .iter()
            .filter(|e| e.step.as_deref() == Some(step))
        {
            if e.program.starts_with(&prefix) && !progs.contains(&(&e.host, &e.program)) {
                progs.push((&e.host, &e.program));
            }
        }
        let checks = run
            .steps
            .iter()
            .find(|s| s.id == *step)
            .map(|s| s.checks.as_slice())
            .unwrap_or(&[]);
        for (host, prog) in progs {
            let binary = &prog[prefix.len()..];
            let status = checks
                .iter()
                .filter(|c| c.host.as_deref() == Some(host) && c.what.contains(binary))
                .find_map(|c| status_re.captures(&c.evidence))
                .and_then(|c| c[1].parse::<i32>().ok());
            let said = run
                .timeline
                .iter()
                .filter(|e| e.step.as_deref() == Some(step) && e.host == host && e.program == prog)
                .find(|e| e.text.contains("Address already in use"))
                .or_else(|| {
                    run.timeline.iter().find(|e| {
                        e.step.as_deref() == Some(step) && e.host == host && e.program == prog
                    })
                });
            let mut text = match status {
                Some(0) | None => {
                    f.ok = false;
                    format!("The second `{binary}` on {host} did not fail as the lab expects")
                }
                Some(s) => format!(
                    "No. The second `{binary}` on {host} ended at once with exit status {s}"
                ),
            };
            match said {
                Some(e) => {
                    let l = f.line(host, prog, e.stream, &e.text);
                    text.push_str(&format!(" and printed {l}."));
                    if !e.text.contains("Address already in use") {
                        f.ok = false;
                    }
                }
                None => {
                    f.ok = false;
                    text.push_str(", printing nothing.");
                }
            }
            parts.push(text);
        }
    }
    if parts.is_empty() {
        return Err("the steps it names ran no second server (`run`).".into());
    }
    parts.push("Why: the first server's socket is bound to that port and listening; the kernel lets only one socket bind an address and port (`EADDRINUSE`, even with `SO_REUSEADDR` while the first one listens), so the second server's `bind` failed and it exited.".into());
    f.text = parts.join("\n\n");
    f.facts = json!({ "ran": !f.ok });
    Ok(f)
}

fn udp_clients<'r>(ts: &[&'r ClientTrace]) -> Vec<&'r ClientTrace> {
    ts.iter()
        .copied()
        .filter(|t| t.proto == Some(Proto::Udp))
        .collect()
}

/// A UDP client's lines: per line sent, its datagram and the reply after it.
fn datagrams<'f>(
    seen: &Seen<'f>,
    i: usize,
    t: &ClientTrace,
    sent: &[String],
) -> Vec<(String, Vec<&'f Frame>)> {
    let fr = seen.frames(Proto::Udp, i);
    let mut out = Vec::new();
    let mut from = 0;
    for line in sent {
        let Some(k) = fr[from..]
            .iter()
            .position(|f| f.src == t.local && f.text.as_deref() == Some(line.as_str()))
        else {
            continue;
        };
        let mut g = vec![fr[from + k]];
        if let Some(r) = fr[from + k + 1..].iter().find(|f| f.dst == t.local) {
            g.push(r);
        }
        from += k + 1;
        out.push((line.clone(), g));
    }
    out
}

pub(super) fn frames(ev: &Evidence, cmp: Option<&Evidence>) -> Result<Found, String> {
    let run = ev.run;
    let clients = udp_clients(&ev.started);
    if clients.is_empty() {
        return Err("the steps it names started no UDP client.".into());
    }
    let seen = ev.locate(&clients, Proto::Udp);
    if seen.is_empty() {
        return Err("no capture of this run that ran across the steps it names holds the UDP clients' datagrams.".into());
    }
    let mut f = Found {
        ok: true,
        ..Found::default()
    };
    let mut text = String::from("No handshake, no acknowledgements, no teardown: the first frame of each client already carries its line. Each line is one datagram to the server, and the upper-cased reply one datagram back:");
    for s in &seen {
        // Clients an action starts together race: listed by name, the
        // answer reads the same in every run.
        let mut held: Vec<_> = s.held.iter().collect();
        held.sort_by(|a, b| a.0.program.cmp(&b.0.program));
        for (t, i) in held {
            let ds = datagrams(s, *i, t, ev.sent_to(t));
            let all: Vec<&Frame> = ds.iter().flat_map(|(_, g)| g.iter().copied()).collect();
            f.cite(run, s, &all, &run.udp_filter(&s.analysis.udp[*i].server));
            let d: Vec<String> = all.iter().map(|g| fdesc(g)).collect();
            let who = if run.alone.is_some() {
                run.who(t)
            } else {
                format!("{} (`{}`)", run.who(t), t.local)
            };
            text.push_str(&format!("\n- {who}: frames {}", d.join(", ")));
            let unanswered = ds.iter().filter(|(_, g)| g.len() < 2).count();
            if run.alone.is_some() && unanswered > 0 && unanswered < ds.len() {
                // A student's capture holds every datagram, also those
                // sent after `quit` ended the server (or after it stopped).
                text.push_str(&format!(
                    " — {unanswered} datagram{} without a reply (sent after the server had ended, or not captured)",
                    if unanswered == 1 { "" } else { "s" }
                ));
            } else if unanswered > 0 || ds.len() < ev.sent_to(t).len() {
                f.ok = false;
                text.push_str(" — a line without its reply");
            }
            if all.iter().any(|g| g.kind != Kind::Udp) {
                f.ok = false;
            }
        }
    }
    if let Some(c) = cmp {
        let tcp: Vec<&ClientTrace> = c
            .started
            .iter()
            .copied()
            .filter(|t| t.proto == Some(Proto::Tcp))
            .collect();
        for s in c.locate(&tcp, Proto::Tcp) {
            for (t, i) in &s.held {
                let conv = &s.analysis.tcp[*i];
                let fr = s.frames(Proto::Tcp, *i);
                let x = exchange(&fr, &conv.client, c.sent_to(t));
                let mut all: Vec<&Frame> = x.handshake.clone();
                all.extend(x.lines.iter().flat_map(|(_, g)| g.iter().copied()));
                let n = f.cite(run, &s, &all, &run.tcp_filter(&conv.server));
                text.push_str(&format!(
                    "\n\nCompare TCP: {} needed {} frames for its {} line(s){} (frames {n}): a handshake first, then an ACK for every segment.",
                    run.who(t),
                    all.len(),
                    x.lines.len(),
                    run.in_steps(&c.steps),
                ));
            }
        }
    }
    text.push_str("\n\nWhy: UDP is connectionless — each `send` is one datagram on its own, with no connection to set up or close and no acknowledgement; the server's one socket answers whoever sent.");
    f.text = text;
    f.facts = json!({ "clients": clients.iter().map(|t| &t.local).collect::<Vec<_>>() });
    Ok(f)
}

pub(super) fn no_wait(ev: &Evidence, cmp: Option<&Evidence>) -> Result<Found, String> {
    let run = ev.run;
    let clients = udp_clients(&ev.started);
    if clients.len() < 2 {
        return Err("the steps it names did not start two UDP clients.".into());
    }
    let seen = ev.locate(&clients, Proto::Udp);
    let mut f = Found {
        ok: true,
        ..Found::default()
    };
    let first = clients[0];
    let mut said = Vec::new();
    for t in &clients[1..] {
        let in_cap = seen.iter().find_map(|s| {
            s.held
                .iter()
                .find(|(h, _)| std::ptr::eq(*h, *t))
                .map(|(_, i)| (s, *i))
        });
        let wait = match in_cap {
            Some((s, i)) => {
                let ds = datagrams(s, i, t, ev.sent_to(t));
                match ds.first() {
                    Some((line, g)) if g.len() == 2 => {
                        let n = f.cite(run, s, g, &run.udp_filter(&s.analysis.udp[i].server));
                        said.push(format!(
                            "{} sent `{line}` and got its reply {} later (frames {n})",
                            run.who(t),
                            dur(g[1].time - g[0].time)
                        ));
                        Some(g[1].time - g[0].time)
                    }
                    _ => None,
                }
            }
            // No capture saw it: the client's own output tells.
            None => match (
                t.first_sent_at,
                t.first_reply_at,
                &t.first_sent,
                &t.first_reply,
            ) {
                (Some(a), Some(b), Some(sent), Some(reply)) => {
                    let l1 = f.line(
                        &t.host,
                        &t.program,
                        LineStream::Stdout,
                        &format!("Sent: {sent}"),
                    );
                    let l2 = f.line(
                        &t.host,
                        &t.program,
                        LineStream::Stdout,
                        &format!("Server> {reply}"),
                    );
                    said.push(format!(
                        "`{}` on {} printed {l1} and {l2} {} later",
                        t.program,
                        t.host,
                        dur(b - a)
                    ));
                    Some(b - a)
                }
                _ => None,
            },
        };
        if wait.is_none_or(|w| w > 1.0) {
            f.ok = false;
            said.push(format!("{} was not answered at once", run.who(t)));
        }
    }
    let tcp_wait = cmp.and_then(|c| queued_wait(c, &mut f));
    let head = match (&tcp_wait, f.ok) {
        (Some(_), true) => "No — unlike the TCP client, the UDP client did not wait:",
        (None, true) => "The UDP client did not wait:",
        (_, false) => "Not as the lab expects:",
    };
    let mut text = format!(
        "{head} {}, though {} had used the same server first.",
        said.join("; "),
        run.who(first),
    );
    if let Some(w) = tcp_wait {
        text.push_str(&format!("\n\n{w}"));
    }
    text.push_str("\n\nWhy: a UDP server has one socket that serves every client, datagram by datagram; there is no connection to accept and no queue to wait in, so no client waits for another to finish.");
    f.text = text;
    f.facts = json!({ "clients": clients.iter().map(|t| &t.local).collect::<Vec<_>>() });
    Ok(f)
}
