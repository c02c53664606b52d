//! Parsing the check script's output into [`Facts`]: the one place that knows its line format.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use crate::deploy::{self};

/// Facts parsed from the script's output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    pub arch: Option<String>,
    pub interfaces: Vec<String>,
    pub iface: bool,
    pub operstate: String,
    pub carrier: String,
    pub addrs: Vec<String>,
    pub tools: Vec<String>,
    /// The program set's interpreter and its version line (`@missing`), when the set has one.
    pub interp: Option<(String, String)>,
    /// `None` when sudo is not configured; `Some(Err(first line))` when it failed.
    pub sudo: Option<Result<(), String>>,
    pub listen: Vec<String>,
    pub sha: HashMap<String, String>,
    pub pings: Vec<(Ipv4Addr, bool)>,
    /// The script ran to its end.
    pub complete: bool,
}

pub fn parse_facts(out: &str) -> Facts {
    let mut f = Facts::default();
    let mut sha = String::new();
    let mut section = "top";
    for line in out.lines() {
        if let Some(v) = line.strip_prefix("ping=") {
            if let Some((a, r)) = v.split_once(' ') {
                if let Ok(a) = a.parse() {
                    f.pings.push((a, r == "ok"));
                }
            }
            continue;
        }
        if let Some(name) = line.strip_prefix('@') {
            section = match name {
                "addr" => "addr",
                "listen" => "listen",
                "sha" => "sha",
                "sudofail" => {
                    f.sudo = Some(Err(String::new()));
                    "sudofail"
                }
                "end" => {
                    f.complete = true;
                    "top"
                }
                _ => "top",
            };
            continue;
        }
        match section {
            "addr" => {
                // `2: eth0    inet 10.0.3.1/24 brd ... scope global eth0`
                if let Some(a) = line.split_whitespace().skip_while(|w| *w != "inet").nth(1) {
                    f.addrs.push(a.to_string());
                }
            }
            "listen" if !line.trim().is_empty() => f.listen.push(line.trim().to_string()),
            "sha" => {
                sha.push_str(line);
                sha.push('\n');
            }
            "sudofail" => {
                if let Some(Err(e)) = &mut f.sudo {
                    if e.is_empty() {
                        *e = line.trim().to_string();
                    }
                }
            }
            _ => {
                let Some((k, v)) = line.split_once('=') else {
                    continue;
                };
                match k {
                    "arch" => f.arch = Some(v.trim().to_string()),
                    "iflist" => f.interfaces.push(v.to_string()),
                    "iface" => f.iface = v == "yes",
                    "operstate" => f.operstate = v.trim().to_string(),
                    "carrier" => f.carrier = v.trim().to_string(),
                    "tool" => f.tools.push(v.to_string()),
                    "interp" => {
                        let (name, version) = v.split_once(' ').unwrap_or((v, ""));
                        f.interp = Some((name.to_string(), version.trim().to_string()));
                    }
                    "sudo" => f.sudo = Some(Ok(())),
                    _ => {}
                }
            }
        }
    }
    f.sha = deploy::parse_sha256sum(&sha);
    f
}

/// `users:(("tcp_server",pid=1234,fd=3))` → `tcp_server (pid 1234)`; the proto and address otherwise.
pub fn describe_listener(line: &str) -> String {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let proto = fields.first().copied().unwrap_or("?");
    let local = fields.get(4).copied().unwrap_or("?");
    let procs: Vec<String> = line
        .split("((")
        .nth(1)
        .map(|rest| {
            rest.split("),(")
                .filter_map(|p| {
                    let name = p.split('"').nth(1)?;
                    let pid = p
                        .split("pid=")
                        .nth(1)?
                        .split(|c: char| !c.is_ascii_digit())
                        .next()?;
                    Some(format!("`{name}` (pid {pid})"))
                })
                .collect()
        })
        .unwrap_or_default();
    if procs.is_empty() {
        format!("{proto} {local} (process unknown)")
    } else {
        format!("{proto} {local} by {}", procs.join(", "))
    }
}
