//! The capture's requests and replies as tables, for both reports: ARP
//! resolutions (who asked, who answered with which hardware address, in how
//! long), pings (each echo request with its reply) and ICMP errors with the
//! packet they refer to, frames numbered as Wireshark numbers them. Cells
//! are inline Markdown (`code`), which report.html renders too.

use std::collections::BTreeMap;

use super::owner;
use crate::capture::CaptureAnalysis;

/// One table: its caption, its column heads, its rows.
pub(super) struct Table {
    pub title: &'static str,
    pub head: &'static [&'static str],
    pub rows: Vec<Vec<String>>,
}

/// `` `10.0.3.2` (B) ``.
fn addr(names: &BTreeMap<String, String>, a: &str) -> String {
    match owner(names, a) {
        Some(h) => format!("`{a}` ({h})"),
        None => format!("`{a}`"),
    }
}

/// `#4`, `#4, #6`, or `–`.
fn frames(ns: &[usize]) -> String {
    if ns.is_empty() {
        return "–".into();
    }
    ns.iter()
        .map(|n| format!("#{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `0.12 ms`, `1.203 s`, or `–`.
pub(super) fn took(s: Option<f64>) -> String {
    match s {
        None => "–".into(),
        Some(s) if s < 1.0 => format!("{:.2} ms", s * 1000.0),
        Some(s) => format!("{s:.3} s"),
    }
}

/// The tables of `a` that have rows.
pub(super) fn tables(a: &CaptureAnalysis, names: &BTreeMap<String, String>) -> Vec<Table> {
    let mut out = Vec::new();
    if !a.arp.is_empty() {
        out.push(Table {
            title: "ARP (address resolution)",
            head: &[
                "request(s)",
                "asker",
                "asks who has",
                "reply",
                "is at",
                "after",
            ],
            rows: a
                .arp
                .iter()
                .map(|x| {
                    vec![
                        frames(&x.requests),
                        addr(names, &x.asker),
                        addr(names, &x.target),
                        match x.reply {
                            Some(r) => format!("#{r}"),
                            None => "no reply".into(),
                        },
                        x.mac.as_deref().map_or("–".into(), |m| format!("`{m}`")),
                        took(x.after),
                    ]
                })
                .collect(),
        });
    }
    if !a.echoes.is_empty() {
        out.push(Table {
            title: "ICMP echo (ping)",
            head: &["request", "from", "to", "id, seq", "reply", "after"],
            rows: a
                .echoes
                .iter()
                .map(|e| {
                    vec![
                        e.request.map_or("–".into(), |n| format!("#{n}")),
                        addr(names, &e.from),
                        addr(names, &e.to),
                        format!("{}, {}", e.id, e.seq),
                        e.reply.map_or("no reply".into(), |n| format!("#{n}")),
                        took(e.after),
                    ]
                })
                .collect(),
        });
    }
    if !a.icmp_errors.is_empty() {
        out.push(Table {
            title: "ICMP errors",
            head: &["frame", "from", "error", "about", "refers to"],
            rows: a
                .icmp_errors
                .iter()
                .map(|e| {
                    vec![
                        format!("#{}", e.frame),
                        addr(names, &e.from),
                        e.what.clone(),
                        e.about.clone(),
                        e.refers_to
                            .map_or("not captured".into(), |n| format!("#{n}")),
                    ]
                })
                .collect(),
        });
    }
    out
}
