//! The whole seed lab on ARM virtual benches (`testbed up --arch`): labctl
//! builds the aarch64 (musl, rust-lld) and armv7 (gnueabihf, static) programs
//! itself, deploys them, and they run through qemu-user; the deployed files
//! are ARM ELF files and a deployed program runs under the qemu interpreter.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{assert_nothing_left, workdir, Labctl, Scratch, TestBench};

/// `e_machine` of an ELF file: 0xb7 aarch64, 0x28 arm.
fn elf_machine(path: &Path) -> u16 {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&bytes[..4], b"\x7fELF", "{} is not ELF", path.display());
    u16::from_le_bytes([bytes[18], bytes[19]])
}

fn whole_lab_on(arch: &str, machine: u16, qemu: &str) {
    let bench = TestBench::arm(arch);
    let hosts = std::fs::read_to_string(bench.hosts_file()).unwrap();
    assert!(hosts.contains(&format!("arch = \"{arch}\"")), "{hosts}");
    let scratch = Scratch::new(&format!("arm-{arch}"));
    let out = Labctl::new()
        .hosts(bench.hosts_file())
        .arg("--lab")
        .arg(common::seed_lab())
        .arg("run")
        .arg("--out")
        .arg(&scratch.0)
        .timeout(Duration::from_secs(600))
        .run();
    out.assert_status(0)
        .assert_stdout_contains("PASSED: steps 17 passed, 0 failed");
    assert_nothing_left(&bench);
    // check's arch row: declared and seen, and how the host runs it.
    let check = Labctl::new()
        .hosts(bench.hosts_file())
        .arg("--lab")
        .arg(common::seed_lab())
        .args(["check", "--json"])
        .timeout(Duration::from_secs(120))
        .run();
    let last: serde_json::Value =
        serde_json::from_str(check.stdout.lines().last().unwrap_or("")).expect("json");
    for h in last["benches"][0]["hosts"].as_array().unwrap() {
        let row = h["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == "arch")
            .unwrap();
        assert_eq!(row["status"], "pass", "{row}");
        let detail = row["detail"].as_str().unwrap();
        assert!(
            detail.contains(&format!("{arch} declared")) && detail.contains("binfmt_misc"),
            "{detail}"
        );
    }
    for host in ["A", "B", "C"] {
        for p in labctl::arch::PROGRAMS {
            let path = workdir(&bench, host).join("bin").join(p);
            assert_eq!(elf_machine(&path), machine, "{host}: {p}");
        }
    }
    // What ran is the ARM build: the kernel hands it to the qemu interpreter.
    let server = workdir(&bench, "A").join("bin/tcp_server");
    let mut child = Command::new(&server)
        .args(["--bind", "127.0.0.1", "--port", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let exe = std::fs::read_link(format!("/proc/{}/exe", child.id()));
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(exe.unwrap(), Path::new(qemu));
}

#[test]
fn the_whole_seed_lab_passes_on_an_aarch64_bench() {
    whole_lab_on("aarch64", 0xb7, "/usr/bin/qemu-aarch64-static");
}

#[test]
fn the_whole_seed_lab_passes_on_an_armv7_bench() {
    whole_lab_on("armv7", 0x28, "/usr/bin/qemu-arm-static");
}
