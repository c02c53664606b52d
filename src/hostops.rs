//! Pure builders of the shell commands labctl runs on a host, shared by
//! `check --fix` and the lab engine's configure/ping/deploy steps so the
//! logic exists once. Every interpolated value is shell-quoted.

use std::net::Ipv4Addr;

use crate::config::hosts::Host;
use crate::util::shell_quote;

/// The lab port the socket programs use by default.
pub const LAB_PORT: u16 = 50000;

/// The socket programs deployed to every host.
pub const PROGRAMS: [&str; 5] = [
    "tcp_server",
    "tcp_client",
    "udp_server",
    "udp_client",
    "tcp_threaded_server",
];

/// `sudo -n ` when the host's privileged commands need sudo (never prompts), else empty.
pub fn sudo_prefix(host: &Host) -> &'static str {
    if host.sudo {
        "sudo -n "
    } else {
        ""
    }
}

/// Gives the lab interface its address and brings the link up. Idempotent
/// (`ip addr replace`), so it can run before every lab and in `check --fix`.
pub fn configure_cmd(host: &Host) -> String {
    let s = sudo_prefix(host);
    let dev = shell_quote(&host.interface);
    format!(
        "{s}ip addr replace {} dev {dev} && {s}ip link set {dev} up",
        shell_quote(&host.cidr())
    )
}

/// Pings `target` from `host` over the lab interface: `count` echo requests,
/// waiting at most `timeout_s` seconds for each reply. Exit 0 when a reply came.
pub fn ping_cmd(host: &Host, target: Ipv4Addr, count: u32, timeout_s: u32) -> String {
    format!(
        "ping -n -q -I {} -c {count} -W {timeout_s} {}",
        shell_quote(&host.interface),
        shell_quote(&target.to_string())
    )
}

/// The directory the socket programs are deployed to: `<workdir>/bin`.
pub fn bin_dir(host: &Host) -> String {
    format!("{}/bin", host.workdir.trim_end_matches('/'))
}

/// The remote path of one socket program.
pub fn program_path(host: &Host, program: &str) -> String {
    format!("{}/{program}", bin_dir(host))
}

/// Prints `HASH  PATH` for each deployed program that exists (nothing for missing ones).
pub fn sha256_cmd(host: &Host) -> String {
    let paths: Vec<String> = PROGRAMS
        .iter()
        .map(|p| shell_quote(&program_path(host, p)))
        .collect();
    format!("sha256sum -- {} 2>/dev/null; true", paths.join(" "))
}

/// Lists sockets listening on `port` (TCP and UDP) with their processes, one per line.
pub fn listeners_cmd(host: &Host, port: u16) -> String {
    format!(
        "{}ss -ltnupH {}",
        sudo_prefix(host),
        shell_quote(&format!("sport = :{port}"))
    )
}

/// The Rust target triple for a machine name from `uname -m`.
pub fn target_triple(uname_m: &str) -> Option<&'static str> {
    Some(match uname_m.trim() {
        "x86_64" | "amd64" => "x86_64-unknown-linux-gnu",
        "aarch64" | "arm64" | "armv8l" => "aarch64-unknown-linux-gnu",
        "armv7l" | "armv7" => "armv7-unknown-linux-gnueabihf",
        "armv6l" => "arm-unknown-linux-gnueabihf",
        "i686" | "i586" | "i386" => "i686-unknown-linux-gnu",
        "riscv64" => "riscv64gc-unknown-linux-gnu",
        _ => return None,
    })
}

/// The triple of the machine labctl runs on.
pub fn native_triple() -> Option<&'static str> {
    target_triple(std::env::consts::ARCH)
}

/// A host for unit tests (A, 10.0.3.1/24 on eth0, user pi).
#[cfg(test)]
pub(crate) fn sample_host(sudo: bool) -> Host {
    use crate::config::hosts::{Auth, SshTarget};
    Host {
        name: "A".into(),
        bench: "bench".into(),
        in_room: false,
        target: SshTarget {
            host: "127.0.0.1".into(),
            port: 40001,
            user: "pi".into(),
        },
        auth: Auth::Agent,
        interface: "eth0".into(),
        addr: Ipv4Addr::new(10, 0, 3, 1),
        prefix: 24,
        workdir: "/home/pi/labctl".into(),
        sudo,
        known_hosts: "kh".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(sudo: bool) -> Host {
        Host {
            workdir: "/home/pi/lab ctl".into(),
            ..sample_host(sudo)
        }
    }

    #[test]
    fn configure_is_sudo_aware_and_quoted() {
        assert_eq!(
            configure_cmd(&host(true)),
            "sudo -n ip addr replace 10.0.3.1/24 dev eth0 && sudo -n ip link set eth0 up"
        );
        assert_eq!(
            configure_cmd(&host(false)),
            "ip addr replace 10.0.3.1/24 dev eth0 && ip link set eth0 up"
        );
        let mut h = host(false);
        h.interface = "e$(x)".into();
        assert!(configure_cmd(&h).contains("dev 'e$(x)'"));
    }

    #[test]
    fn ping_and_paths() {
        assert_eq!(
            ping_cmd(&host(false), Ipv4Addr::new(10, 0, 3, 2), 2, 1),
            "ping -n -q -I eth0 -c 2 -W 1 10.0.3.2"
        );
        assert_eq!(
            program_path(&host(false), "tcp_server"),
            "/home/pi/lab ctl/bin/tcp_server"
        );
        assert!(sha256_cmd(&host(false)).contains("'/home/pi/lab ctl/bin/udp_client'"));
        assert_eq!(
            listeners_cmd(&host(true), 50000),
            "sudo -n ss -ltnupH 'sport = :50000'"
        );
    }

    #[test]
    fn arch_maps_to_triples() {
        assert_eq!(target_triple("aarch64"), Some("aarch64-unknown-linux-gnu"));
        assert_eq!(
            target_triple("armv7l\n"),
            Some("armv7-unknown-linux-gnueabihf")
        );
        assert_eq!(target_triple("x86_64"), Some("x86_64-unknown-linux-gnu"));
        assert_eq!(target_triple("mips"), None);
        assert!(native_triple().is_some());
    }
}
