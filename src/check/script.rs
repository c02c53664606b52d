//! The one shell script that gathers every fact about a host: a header of shell-quoted values built here, then `check.sh`.

use std::net::Ipv4Addr;

use crate::config::hosts::Host;
use crate::hostops::{self, LAB_PORT};
use crate::util::shell_quote;

use super::*;

/// The one shell script that gathers every fact about a host (and pings its
/// peers in the background). It forks as little as it can (builtins read
/// /sys): 30 hosts share this machine's cores on the virtual bench. Output:
/// `key=value` lines, raw command output under `@section` lines, `ping=`
/// lines anywhere (background jobs), and `@end` last.
pub fn script(host: &Host, peers: &[(String, Ipv4Addr)]) -> String {
    let q = shell_quote(&host.interface);
    let dir = format!("/sys/class/net/{q}");
    let mut s = String::new();
    s.push_str("LC_ALL=C; export LC_ALL; PATH=\"$PATH:/usr/sbin:/sbin\"\n");
    // Pings only from a host that has its lab address: without it every ping waits out its timeout.
    s.push_str(&format!("a=$(ip -o -4 addr show dev {q} 2>/dev/null)\n"));
    s.push_str(&format!("case \"$a\" in *' {} '*)\n", host.cidr()));
    for (_, addr) in peers {
        let ping = hostops::ping_cmd(host, *addr, 1, 1);
        s.push_str(&format!(
            "  ( if {ping} >/dev/null 2>&1 || {ping} >/dev/null 2>&1; then echo 'ping={addr} ok'; else echo 'ping={addr} fail'; fi ) &\n"
        ));
    }
    s.push_str(";;\nesac\n");
    s.push_str("echo \"arch=$(uname -m)\"\n");
    s.push_str("for i in /sys/class/net/*; do echo \"iflist=${i##*/}\"; done\n");
    s.push_str(&format!(
        "if [ -e {dir} ]; then echo iface=yes; o=; c=; \
         read -r o 2>/dev/null <{dir}/operstate; read -r c 2>/dev/null <{dir}/carrier; \
         echo \"operstate=$o\"; echo \"carrier=$c\"; fi\n"
    ));
    s.push_str("echo @addr; echo \"$a\"\n");
    s.push_str("echo @top\n");
    s.push_str(&format!(
        "for t in {}; do command -v \"$t\" >/dev/null 2>&1 && echo \"tool=$t\"; done\n",
        TOOLS.join(" ")
    ));
    if host.sudo {
        s.push_str(
            "if e=$(sudo -n true 2>&1); then echo sudo=ok; else echo @sudofail; echo \"$e\"; fi\n",
        );
    }
    let ss = hostops::listeners_cmd(host, LAB_PORT);
    s.push_str("echo @listen\n");
    // `ss -p` scans every process's fds: only when a cheaper `ss` shows a listener.
    let probe = hostops::port_maybe_used_cond(LAB_PORT);
    if host.sudo {
        let plain = format!(
            "ss -ltnupH {}",
            shell_quote(&format!("sport = :{LAB_PORT}"))
        );
        s.push_str(&format!(
            "if {probe}; then {ss} 2>/dev/null || {plain} 2>/dev/null; fi\n"
        ));
    } else {
        s.push_str(&format!("if {probe}; then {ss} 2>/dev/null; fi\n"));
    }
    // Hashes only programs changed since `deploy` wrote its manifest.
    s.push_str(&format!(
        "echo @sha\n{}\n",
        hostops::cached_sha256_cmd(host)
    ));
    s.push_str("wait\necho @end\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> Host {
        crate::hostops::sample_host(true)
    }

    fn peers() -> Vec<(String, Ipv4Addr)> {
        vec![
            ("B".into(), Ipv4Addr::new(10, 0, 3, 2)),
            ("C".into(), Ipv4Addr::new(10, 0, 3, 3)),
        ]
    }

    #[test]
    fn script_quotes_and_pings_peers() {
        let mut h = host();
        h.interface = "e th0".into();
        let s = script(&h, &peers());
        assert!(s.contains("/sys/class/net/'e th0'"), "{s}");
        assert!(
            s.contains("ping -n -q -I 'e th0' -c 1 -W 1 10.0.3.3"),
            "{s}"
        );
        assert!(s.contains("sudo -n true"));
        assert!(s.trim_end().ends_with("echo @end"));
    }
}
