//! ARM programs on an x86 machine: registers qemu-user (Debian
//! `qemu-user-static`) as the binfmt_misc handler for aarch64 and armv7 ELF
//! files when none is registered, so an ARM build runs like a native one in
//! every namespace (flag `F`: the interpreter is opened once, here).

use std::path::Path;

use crate::error::Error;
use crate::util::io_reason;

const BINFMT: &str = "/proc/sys/fs/binfmt_misc";

/// One handler: its name, the qemu binary, and the ELF header it matches.
struct Handler {
    name: &'static str,
    qemu: &'static str,
    magic: &'static str,
    mask: &'static str,
}

const MASK: &str =
    r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff";

fn handler(arch: &str) -> Option<Handler> {
    Some(match arch {
        "aarch64" => Handler {
            name: "qemu-aarch64",
            qemu: "/usr/bin/qemu-aarch64-static",
            magic: r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00",
            mask: MASK,
        },
        "armv7" => Handler {
            name: "qemu-arm",
            qemu: "/usr/bin/qemu-arm-static",
            magic: r"\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x28\x00",
            mask: MASK,
        },
        _ => return None,
    })
}

/// The qemu interpreter that runs `arch` programs (`aarch64` or `armv7`).
pub fn interpreter(arch: &str) -> Option<&'static str> {
    handler(arch).map(|h| h.qemu)
}

/// Makes `arch` programs runnable here: mounts binfmt_misc and registers the
/// qemu handler when missing (root), saying so on stderr. Names the package
/// when qemu is not installed.
pub fn ensure(arch: &str) -> Result<(), Error> {
    let h = handler(arch).ok_or_else(|| {
        Error::Local(format!(
            "no emulator for architecture `{arch}`: use `aarch64` or `armv7`"
        ))
    })?;
    if !Path::new(h.qemu).exists() {
        return Err(Error::Local(format!(
            "`{}` is missing: install it with `apt-get install -y qemu-user-static`",
            h.qemu
        )));
    }
    let dir = Path::new(BINFMT);
    if !dir.join("register").exists() {
        let ok = std::process::Command::new("mount")
            .args(["-t", "binfmt_misc", "binfmt_misc", BINFMT])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Err(Error::Local(format!(
                "cannot mount binfmt_misc on `{BINFMT}` (run `mount -t binfmt_misc binfmt_misc {BINFMT}` as root)"
            )));
        }
    }
    if dir.join(h.name).exists() {
        return Ok(());
    }
    let line = format!(":{}:M::{}:{}:{}:F", h.name, h.magic, h.mask, h.qemu);
    std::fs::write(dir.join("register"), line).map_err(|e| {
        Error::Local(format!(
            "cannot register `{}` with binfmt_misc: {}",
            h.qemu,
            io_reason(&e)
        ))
    })?;
    eprintln!(
        "labctl: registered `{}` as the binfmt_misc handler for {arch} programs",
        h.qemu
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_arm_has_an_emulator() {
        assert_eq!(interpreter("aarch64"), Some("/usr/bin/qemu-aarch64-static"));
        assert_eq!(interpreter("armv7"), Some("/usr/bin/qemu-arm-static"));
        assert!(ensure("mips").unwrap_err().to_string().contains("`mips`"));
    }
}
