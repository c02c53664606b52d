//! The one shell script that gathers every fact about a host: a header of shell-quoted values built here, then `check.sh`.

use std::net::Ipv4Addr;

use crate::config::hosts::Host;
use crate::hostops::{self};
use crate::util::shell_quote;
use crate::util::shell_template::{render, Val};

use super::*;

/// The script's body: everything that runs, after the header [`script`] writes.
const CHECK_SH: &str = include_str!("check.sh");

/// The one shell script that gathers every fact about a host (and pings its
/// peers in the background): a header setting `check.sh`'s values
/// (shell-quoted) and defining its functions from [`hostops`]' commands, then
/// `check.sh` itself. Output: see `check.sh` and [`super::parse_facts`].
/// `ports`: the ports the lab's servers bind on this host, `("tcp", 50000)`.
pub fn script(host: &Host, peers: &[(String, Ipv4Addr)], ports: &[(&str, u16)]) -> String {
    script_for(
        host,
        peers,
        ports,
        &crate::programs::ProgramSet::rust(),
        &hostops::DEPLOYED,
    )
}

/// [`script`] for program set `set`, whose deployed files are `names`: it
/// also asks for the set's interpreter and its version.
pub fn script_for(
    host: &Host,
    peers: &[(String, Ipv4Addr)],
    ports: &[(&str, u16)],
    set: &crate::programs::ProgramSet,
    names: &[&str],
) -> String {
    let q = shell_quote(&host.interface);
    let mut s = String::new();
    s.push_str(&format!("dir=/sys/class/net/{q}\niface={q}\n"));
    s.push_str(&format!("cidr={}\n", shell_quote(&host.cidr())));
    s.push_str(&format!("tools={}\n", shell_quote(&TOOLS.join(" "))));
    s.push_str(&format!(
        "check_sudo={}\n",
        if host.sudo { "1" } else { "" }
    ));
    s.push_str("pings() {\n");
    for (_, addr) in peers {
        let ping = hostops::ping_cmd(host, *addr, 1, 1);
        s.push_str(&render(
            include_str!("ping-block.sh"),
            &[
                ("PING", Val::Raw(&ping)),
                ("ADDR", Val::Raw(&addr.to_string())),
            ],
        ));
        s.push('\n');
    }
    s.push_str("  :\n}\n");
    s.push_str(&format!("workdir={}\n", shell_quote(&host.workdir)));
    s.push_str(&format!(
        "bindir={}\n",
        shell_quote(&hostops::bin_dir(host))
    ));
    let ports: Vec<String> = ports.iter().map(|(p, n)| format!("{p}:{n}")).collect();
    s.push_str(&format!("ports={}\n", shell_quote(&ports.join(" "))));
    s.push_str(&format!(
        "ss_sudo={}\n",
        shell_quote(hostops::sudo_prefix(host))
    ));
    s.push_str(&format!(
        "sha() {{\n{}\n}}\n",
        hostops::cached_sha256_cmd_for(host, names)
    ));
    match &set.interpreter {
        Some(i) => s.push_str(&format!(
            "interp_name={}\ninterp_version() {{\n{}\n}}\n",
            shell_quote(i),
            crate::programs::probe_cmd(i)
        )),
        None => s.push_str("interp_name=\n"),
    }
    s.push_str(CHECK_SH);
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
        let s = script(&h, &peers(), &[("tcp", 6000), ("udp", 6001)]);
        assert!(s.contains("/sys/class/net/'e th0'"), "{s}");
        assert!(
            s.contains("ping -n -q -I 'e th0' -c 1 -W 1 10.0.3.3"),
            "{s}"
        );
        assert!(s.contains("sudo -n true"));
        assert!(s.contains("ports='tcp:6000 udp:6001'"), "{s}");
        assert!(s.trim_end().ends_with("echo @end"));
    }
}
