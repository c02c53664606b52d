//! Why a tool failed on a host, from its own words: a ping that is not
//! permitted (Debian 13's `ping` has no `cap_net_raw` and relies on
//! `net.ipv4.ping_group_range`, which a booted system sets) is not a host
//! that did not answer, and "check the cables" would send an instructor to
//! the wrong place. `check` (its `ping` and `rights` rows) and `run` (a
//! failed ping, configure or capture step) name the cause and its fix the
//! same way, from here, always with the tool's whole words beside them.
//!
//! Only words a refusal prints are recognised: sudo's, the kernel's
//! `Operation not permitted`, tcpdump's and ping's own, a shell's `not
//! found`; anything else (a timeout, a lost reply) is left to the caller.

use crate::config::hosts::Host;

use super::{sudo_prefix, sudoers_line};

/// A tool's failure, explained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cause {
    /// What is wrong, naming the tool, the login and the host.
    pub what: String,
    /// What fixes it.
    pub hint: String,
}

/// The Debian package that has `tool`.
fn package(tool: &str) -> &str {
    match tool {
        "ip" | "ss" => "iproute2",
        "ping" => "iputils-ping",
        "nmcli" => "network-manager",
        other => other,
    }
}

/// The full path sudoers needs for `tool`, as Debian installs it.
fn sudo_path(tool: &str) -> String {
    match tool {
        "ip" => "/usr/sbin/ip".to_string(),
        other => format!("/usr/bin/{other}"),
    }
}

/// Why `tool` (`ping`, `tcpdump`, `ip`, `nmcli`), run on `host` by its
/// login (through `sudo -n` where the hosts file says so), failed with
/// `words` (its stderr, whole), if its words say; `None` when they do not
/// name a cause (no reply, a timeout).
pub(crate) fn explain(tool: &str, host: &Host, words: &str) -> Option<Cause> {
    let user = &host.target.user;
    let name = &host.name;
    let dev = &host.interface;
    let w = words.to_ascii_lowercase();
    let sudo = !sudo_prefix(host).is_empty() && tool != "ping";
    // sudo's own refusals come before the tool's words (the tool never ran).
    if sudo
        && (w.contains("a password is required")
            || w.contains("is not allowed to execute")
            || w.contains("not in the sudoers file")
            || w.contains("may not run sudo"))
    {
        let why = if w.contains("a password is required") {
            "asks for a password (`sudo -n` never answers one)"
        } else {
            "does not allow it"
        };
        let mut paths: Vec<String> = super::SUDO_COMMANDS.iter().map(|c| sudo_path(c)).collect();
        if !super::SUDO_COMMANDS.contains(&tool) {
            paths.push(sudo_path(tool));
        }
        return Some(Cause {
            what: format!("sudo {why} when `{user}` runs `{tool}` on host `{name}`"),
            hint: format!(
                "allow it with the sudoers line `{}` (e.g. in /etc/sudoers.d/labctl) or set `sudo = false` and log in as root",
                sudoers_line(user, &paths)
            ),
        });
    }
    if w.contains(&format!("{tool}: not found"))
        || w.contains(&format!("{tool}: command not found"))
    {
        return Some(Cause {
            what: format!("`{tool}` is not installed on host `{name}`"),
            hint: format!(
                "install it on the host: `sudo apt-get install {}`",
                package(tool)
            ),
        });
    }
    let refused = w.contains("operation not permitted")
        || w.contains("permission denied")
        || w.contains("are you root")
        || w.contains("don't have permission")
        || w.contains("not authorized")
        || w.contains("insufficient privileges");
    if w.contains("network is unreachable") && tool == "ping" {
        return Some(Cause {
            what: format!(
                "host `{name}` has no route to the lab network: `{dev}` has no address in its subnet"
            ),
            hint: "fix the `address` check first (`labctl check --fix`)".to_string(),
        });
    }
    if !refused {
        return None;
    }
    let how = if sudo {
        "through `sudo -n`".to_string()
    } else {
        format!("as `{user}`")
    };
    let (what, hint) = match tool {
        "ping" => (
            format!("ping is not permitted for `{user}` on host `{name}`"),
            format!(
                "this host's ping has no `cap_net_raw` and `net.ipv4.ping_group_range` leaves out `{user}`'s group \
                 (a booted Debian 13 sets it to `0 2147483647`): set it with `sudo sysctl -w net.ipv4.ping_group_range='0 2147483647'` \
                 and keep it in /etc/sysctl.d/, or give ping the capability: `sudo setcap cap_net_raw+p $(command -v ping)`"
            ),
        ),
        "tcpdump" => (
            format!("tcpdump may not capture on `{dev}` {how} on host `{name}`"),
            if sudo {
                format!("tcpdump through sudo runs as root: allow it with the sudoers line `{}`", sudoers_line(user, &[sudo_path("ip"), sudo_path("tcpdump")]))
            } else {
                format!(
                    "set `sudo = true` for `{name}` in hosts.toml (passwordless sudo for `{user}`), or give tcpdump the capabilities: `sudo setcap cap_net_raw,cap_net_admin=eip $(command -v tcpdump)`"
                )
            },
        ),
        "ip" => (
            format!("`ip` may not change `{dev}` {how} on host `{name}` (it needs CAP_NET_ADMIN)"),
            format!(
                "set `sudo = true` for `{name}` in hosts.toml (passwordless sudo for `{user}`), or log in as root"
            ),
        ),
        "nmcli" => (
            format!("NetworkManager refuses `{user}`'s change of `{dev}` {how} on host `{name}`"),
            format!(
                "set `sudo = true` for `{name}` in hosts.toml, with `{}` in its sudoers line",
                sudo_path("nmcli")
            ),
        ),
        other => (
            format!("`{other}` is not permitted {how} on host `{name}`"),
            format!("set `sudo = true` for `{name}` in hosts.toml, or log in as root"),
        ),
    };
    Some(Cause { what, hint })
}

/// A failure's words with their cause, for one line: `WORDS — CAUSE; fix: HINT`,
/// or the words alone when they name none.
pub(crate) fn with_cause(tool: &str, host: &Host, words: &str) -> String {
    match explain(tool, host, words) {
        Some(c) => format!("{words} — {}; fix: {}", c.what, c.hint),
        None => words.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hostops::sample_host;

    #[test]
    fn a_ping_not_permitted_is_named_for_that_not_for_the_cables() {
        let h = sample_host(true);
        let c = explain("ping", &h, "ping: socket: Operation not permitted").unwrap();
        assert_eq!(c.what, "ping is not permitted for `pi` on host `A`");
        assert!(c.hint.contains("net.ipv4.ping_group_range"), "{}", c.hint);
        assert!(c.hint.contains("cap_net_raw"), "{}", c.hint);
        // busybox's words, and no route.
        assert!(explain("ping", &h, "ping: permission denied (are you root?)").is_some());
        let r = explain("ping", &h, "ping: connect: Network is unreachable").unwrap();
        assert!(r.what.contains("no route"), "{}", r.what);
        // A lost reply is not a cause these words can name.
        assert_eq!(
            explain(
                "ping",
                &h,
                "1 packets transmitted, 0 received, 100% packet loss"
            ),
            None
        );
        assert_eq!(
            explain("ping", &h, "sh: 1: ping: not found").unwrap().what,
            "`ping` is not installed on host `A`"
        );
    }

    #[test]
    fn sudo_tcpdump_ip_and_nmcli_refusals_are_named() {
        let h = sample_host(true);
        let c = explain("tcpdump", &h, "sudo: a password is required").unwrap();
        assert_eq!(
            c.what,
            "sudo asks for a password (`sudo -n` never answers one) when `pi` runs `tcpdump` on host `A`"
        );
        assert!(
            c.hint
                .contains("pi ALL=(root) NOPASSWD: /usr/sbin/ip, /usr/bin/tcpdump"),
            "{}",
            c.hint
        );
        let c = explain(
            "nmcli",
            &h,
            "Sorry, user pi is not allowed to execute '/usr/bin/nmcli connection up id labctl-eth0' as root on A.",
        )
        .unwrap();
        assert!(c.what.starts_with("sudo does not allow it"), "{}", c.what);
        assert!(
            c.hint.contains("/usr/bin/tcpdump, /usr/bin/nmcli"),
            "{}",
            c.hint
        );
        let root = sample_host(false);
        let c = explain(
            "tcpdump",
            &root,
            "tcpdump: eth0: You don't have permission to capture on that device",
        )
        .unwrap();
        assert_eq!(
            c.what,
            "tcpdump may not capture on `eth0` as `pi` on host `A`"
        );
        assert!(
            c.hint.contains("setcap cap_net_raw,cap_net_admin=eip"),
            "{}",
            c.hint
        );
        let c = explain("ip", &root, "RTNETLINK answers: Operation not permitted").unwrap();
        assert!(c.what.contains("needs CAP_NET_ADMIN"), "{}", c.what);
        assert_eq!(
            with_cause("ip", &root, "Cannot find device \"eth0\""),
            "Cannot find device \"eth0\""
        );
    }
}
