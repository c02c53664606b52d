//! What the socket programs' own output says about each client, read from
//! the merged timeline: when a client connected, sent, got its reply, and
//! when the server accepted and let it go. The lines are the programs'
//! documented events (docs/design.md, "The socket programs"):
//! clients `Connected LOCAL -> SERVER`, `Sent: TEXT`, `Server> TEXT`;
//! servers `TCP server started ...`, `UDP server started ...`,
//! `New client connected from ADDR`, `Client ADDR disconnected`.
//!
//! This is the evidence for what no capture shows (e.g. C's client when the
//! only capture ran on B).

use std::sync::OnceLock;

use regex::Regex;

use super::model::{LineStream, ProgramRecord, TimelineEntry};
use crate::capture::Proto;

/// One client program's life, as its output and the server's tell it.
#[derive(Debug, Clone)]
pub(crate) struct ClientTrace {
    pub host: String,
    pub program: String,
    pub step: Option<String>,
    /// The client's socket address and the server's, from `Connected X -> S`.
    pub local: String,
    pub server: String,
    pub proto: Option<Proto>,
    /// Unix seconds.
    pub connected_at: f64,
    pub first_sent_at: Option<f64>,
    pub first_sent: Option<String>,
    pub first_reply_at: Option<f64>,
    pub first_reply: Option<String>,
    /// `New client connected from LOCAL` (TCP servers only).
    pub accepted_at: Option<f64>,
    /// `Client LOCAL disconnected`.
    pub disconnected_at: Option<f64>,
}

struct Patterns {
    connected: Regex,
    accepted: Regex,
    disconnected: Regex,
    started: Regex,
}

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| Patterns {
        connected: Regex::new(r"^Connected (\S+) -> (\S+)$").expect("a valid pattern"),
        accepted: Regex::new(r"^New client connected from (\S+)$").expect("a valid pattern"),
        disconnected: Regex::new(r"^Client (\S+) disconnected$").expect("a valid pattern"),
        started: Regex::new(r"^(TCP|TCP threaded|UDP) server started .*:(\d+)$")
            .expect("a valid pattern"),
    })
}

/// The program (binary) a named program ran when it printed a line in
/// `step` at `at`: the one started in that step, else the last started
/// before `at`. Names are reused (`client-B` is a TCP client in I.8 and a
/// UDP client in I.12).
fn program_kind(
    programs: &[ProgramRecord],
    host: &str,
    name: &str,
    step: Option<&str>,
    at: f64,
) -> Option<Proto> {
    let mine = || programs.iter().filter(|p| p.host == host && p.name == name);
    let p = mine()
        .rfind(|p| step.is_some() && p.step.as_deref() == step)
        .or_else(|| mine().rfind(|p| p.started_at.is_none_or(|s| s <= at + 0.001)))?;
    match p.program.as_str() {
        "tcp_client" => Some(Proto::Tcp),
        "udp_client" => Some(Proto::Udp),
        _ => None,
    }
}

/// Every client's trace, in order of connection.
///
/// Client lines are matched to their client by host and program name; the
/// server's lines to a client by its socket address — whatever their order
/// in the timeline, since two hosts' clocks and line times are never quite
/// in step.
pub(crate) fn traces(timeline: &[TimelineEntry], programs: &[ProgramRecord]) -> Vec<ClientTrace> {
    let p = patterns();
    let mut out: Vec<ClientTrace> = Vec::new();
    // The kind of server last started, per port: the fallback for a client's protocol.
    let mut last_server: Vec<(String, Proto)> = Vec::new();
    let mut server_lines: Vec<(bool, String, f64)> = Vec::new();
    let stdout = timeline.iter().filter(|e| e.stream == LineStream::Stdout);
    for e in stdout {
        let t = e.unix;
        let text = e.text.trim_end();
        if let Some(c) = p.connected.captures(text) {
            let server = c[2].to_string();
            let port = server.rsplit(':').next().unwrap_or("").to_string();
            let proto =
                program_kind(programs, &e.host, &e.program, e.step.as_deref(), t).or_else(|| {
                    last_server
                        .iter()
                        .rev()
                        .find(|(p, _)| *p == port)
                        .map(|(_, k)| *k)
                });
            out.push(ClientTrace {
                host: e.host.clone(),
                program: e.program.clone(),
                step: e.step.clone(),
                local: c[1].to_string(),
                server,
                proto,
                connected_at: t,
                first_sent_at: None,
                first_sent: None,
                first_reply_at: None,
                first_reply: None,
                accepted_at: None,
                disconnected_at: None,
            });
        } else if let Some(c) = p.accepted.captures(text) {
            server_lines.push((true, c[1].to_string(), t));
        } else if let Some(c) = p.disconnected.captures(text) {
            server_lines.push((false, c[1].to_string(), t));
        } else if let Some(c) = p.started.captures(text) {
            let kind = if &c[1] == "UDP" {
                Proto::Udp
            } else {
                Proto::Tcp
            };
            last_server.push((c[2].to_string(), kind));
        } else if let Some(tr) = out
            .iter_mut()
            .rev()
            .find(|tr| tr.host == e.host && tr.program == e.program)
        {
            if let Some(s) = text.strip_prefix("Sent: ") {
                if tr.first_sent_at.is_none() {
                    tr.first_sent_at = Some(t);
                    tr.first_sent = Some(s.to_string());
                }
            } else if let Some(s) = text.strip_prefix("Server> ") {
                if tr.first_reply_at.is_none() {
                    tr.first_reply_at = Some(t);
                    tr.first_reply = Some(s.to_string());
                }
            }
        }
    }
    for (accepted, addr, t) in server_lines {
        // The client of that address whose connection is nearest in time.
        let Some(tr) = out.iter_mut().filter(|tr| tr.local == addr).min_by(|a, b| {
            (a.connected_at - t)
                .abs()
                .total_cmp(&(b.connected_at - t).abs())
        }) else {
            continue;
        };
        if accepted {
            tr.accepted_at.get_or_insert(t);
            tr.proto = Some(Proto::Tcp);
        } else {
            tr.disconnected_at.get_or_insert(t);
        }
    }
    out
}
