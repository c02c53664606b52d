//! The socket programs' loopback tests on the aarch64 and armv7 builds:
//! labctl builds them (`labctl::build`), registers qemu-user with
//! binfmt_misc, and the sockets tests run again with `SOCKETS_PROGRAMS_DIR`
//! pointing at each ARM build. The programs must be ARM ELF files.

use std::process::Command;

use labctl::{build, deploy, testbed::binfmt};

/// `e_machine` of an ELF file: 0xb7 aarch64, 0x28 arm.
fn elf_machine(path: &std::path::Path) -> u16 {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(
        &bytes[..4],
        b"\x7fELF",
        "{} is not an ELF file",
        path.display()
    );
    u16::from_le_bytes([bytes[18], bytes[19]])
}

fn run_sockets_tests_on(arch: &str, machine: u16) {
    let triple = labctl::arch::target_triple(arch).unwrap();
    let root = deploy::workspace_root();
    let dir = deploy::local_dir(triple);
    if build::is_stale(&root, &dir, &labctl::arch::PROGRAMS) {
        build::build(&root, triple).unwrap();
    }
    for p in labctl::arch::PROGRAMS {
        assert_eq!(elf_machine(&dir.join(p)), machine, "{p} for {arch}");
    }
    binfmt::ensure(arch).unwrap();
    // Cargo's own target dir for this nested run: the outer `cargo test`
    // may still hold the workspace's build lock.
    let out = Command::new("cargo")
        .args(["test", "-p", "sockets", "--target-dir"])
        .arg(root.join("target").join("arm-sockets-tests"))
        .env("SOCKETS_PROGRAMS_DIR", &dir)
        .current_dir(&root)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "sockets tests on {arch}:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("test result: ok"), "{text}");
}

#[test]
fn socket_programs_pass_their_tests_as_aarch64() {
    run_sockets_tests_on("aarch64", 0xb7);
}

#[test]
fn socket_programs_pass_their_tests_as_armv7() {
    run_sockets_tests_on("armv7", 0x28);
}
