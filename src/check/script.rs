//! The one shell script that gathers every fact about a host: `header.sh`
//! (its shell-quoted values and functions) rendered here, then `check.sh`;
//! and the command that runs it under `sh` with the holder's (`run.sh`).

use std::net::Ipv4Addr;

use crate::config::hosts::Host;
use crate::hostops::{self};
use crate::util::shell_template::{render, Val};

use super::*;

/// The script's body: everything that runs, after the header [`script`] writes.
const CHECK_SH: &str = include_str!("check.sh");

/// The one shell script that gathers every fact about a host (and pings its
/// peers in the background): a header setting `check.sh`'s values
/// (shell-quoted) and defining its functions from [`hostops`]' commands, then
/// `check.sh` itself: the template `check/header.sh`. Output: see `check.sh` and [`super::parse_facts`].
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
pub(crate) fn script_for(
    host: &Host,
    peers: &[(String, Ipv4Addr)],
    ports: &[(&str, u16)],
    set: &crate::programs::ProgramSet,
    names: &[&str],
) -> String {
    let mut pings = String::new();
    for (_, addr) in peers {
        let ping = hostops::ping_cmd(host, *addr, 1, 1);
        pings.push_str(&render(
            include_str!("ping-block.sh"),
            &[
                ("PING", Val::Raw(&ping)),
                ("ADDR", Val::Raw(&addr.to_string())),
            ],
        ));
        pings.push('\n');
    }
    let ports: Vec<String> = ports.iter().map(|(p, n)| format!("{p}:{n}")).collect();
    let interp_version = set.interpreter.as_ref().map(|i| {
        let probe = crate::programs::probe_cmd(i);
        let f = render(
            include_str!("interp-version.sh"),
            &[("PROBE", Val::Raw(&probe))],
        );
        format!("{f}\n")
    });
    // The commands the lab's programs run here (the interpreter has its own line).
    let (mut cmds, sudo_cmds) = set.commands_on(&host.name);
    cmds.retain(|c| Some(c) != set.interpreter.as_ref());
    // Without its comments: it goes to the host in one SSH packet with the holder's shell (`command`).
    let text = render(
        include_str!("header.sh"),
        &[
            ("IFACE", Val::Quoted(&host.interface)),
            ("CIDR", Val::Quoted(&host.cidr())),
            ("TOOLS", Val::Quoted(&TOOLS.join(" "))),
            ("CHECK_SUDO", Val::Raw(if host.sudo { "1" } else { "" })),
            ("PINGS", Val::Raw(&pings)),
            ("WORKDIR", Val::Quoted(&host.workdir)),
            ("BINDIR", Val::Quoted(&hostops::bin_dir(host))),
            ("PORTS", Val::Quoted(&ports.join(" "))),
            ("SS_SUDO", Val::Quoted(hostops::sudo_prefix(host))),
            (
                "SHA",
                Val::Raw(&hostops::cached_sha256_cmd_for(host, names)),
            ),
            (
                "INTERP_NAME",
                match &set.interpreter {
                    Some(i) => Val::Quoted(i),
                    None => Val::Raw(""),
                },
            ),
            (
                "INTERP_VERSION",
                Val::Raw(interp_version.as_deref().unwrap_or("")),
            ),
            ("LAB_CMDS", Val::Quoted(&cmds.join(" "))),
            ("LAB_SUDO", Val::Quoted(&sudo_cmds.join(" "))),
            ("COMMANDS", Val::Raw(crate::programs::COMMANDS_SH)),
            // The lab-port query (`lab_ports`) is shared with the run's agent.
            (
                "CHECK",
                Val::Raw(&format!("{}{CHECK_SH}", crate::remote::PORTS_SH)),
            ),
        ],
    );
    crate::remote::compact(&text)
}

/// What `check` sends a host, on one channel: the check `script` ([`script`],
/// whose first line is the host's clock), then `held` (the shell that prints
/// who holds the bench, [`crate::hold::held_cmd`]), run by `sh` (`run.sh`).
/// Its output: the script's, through `@end`, then `held`'s.
pub(crate) fn command(script: &str, held: &str) -> String {
    render(
        include_str!("run.sh"),
        &[("SCRIPT", Val::Quoted(&format!("{script}\n{held}")))],
    )
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
        assert!(s.contains("sudo -n -l"));
        assert!(s.contains("ports='tcp:6000 udp:6001'"), "{s}");
        assert!(s.trim_end().ends_with("echo @end"));
    }

    #[test]
    fn the_command_fits_in_one_ssh_packet() {
        // libssh2 sends a command in one packet of at most 35,000 bytes.
        let h = host();
        let ports = [("tcp", 50000), ("udp", 50000)];
        let c = command(&script(&h, &peers(), &ports), &crate::hold::held_cmd(&h));
        assert!(c.len() < 32_000, "{} bytes", c.len());
        assert!(c.starts_with("exec sh -c 'dir="), "{}", &c[..80]);
        assert!(c.contains("\ndate +%s.%N\n"), "{c}");
        assert!(c.contains("\nlc_held\n"), "{c}");
    }

    #[test]
    fn the_command_runs_the_script_then_the_holder_under_sh() {
        let c = command("date +%s.%N\necho @end", "lc_held");
        assert_eq!(
            c,
            "exec sh -c 'date +%s.%N\necho @end\nlc_held' labctl-check"
        );
    }
}
