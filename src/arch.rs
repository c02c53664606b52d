//! The lab's fixed vocabulary of machines and programs: the five socket
//! programs' names and their sets, the port they use by default, and the Rust target
//! triple of a host's architecture. Kept apart from the builders of host
//! commands (`hostops`) so that reading inputs (`config`, `lab`), the
//! command builders and the capture analysis share it without importing
//! each other.

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

/// The program sets a lab may run (`lab` only when the lab file has a
/// `[programs]` table); a hosts file's `programs` names one.
pub const PROGRAM_SETS: [&str; 3] = ["rust", "python", "lab"];

/// The Rust target triple for a machine name from `uname -m` (or a hosts
/// file's `arch`). ARM builds are static (see `build`): they run on any Pi
/// userland.
pub fn target_triple(uname_m: &str) -> Option<&'static str> {
    Some(match uname_m.trim() {
        "x86_64" | "amd64" => "x86_64-unknown-linux-gnu",
        "aarch64" | "arm64" | "armv8l" => "aarch64-unknown-linux-musl",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arch_maps_to_triples() {
        assert_eq!(target_triple("aarch64"), Some("aarch64-unknown-linux-musl"));
        assert_eq!(
            target_triple("armv7l\n"),
            Some("armv7-unknown-linux-gnueabihf")
        );
        assert_eq!(target_triple("x86_64"), Some("x86_64-unknown-linux-gnu"));
        assert_eq!(target_triple("mips"), None);
        assert!(native_triple().is_some());
    }
}
