//! Host-key verification: `~/.ssh/known_hosts` (read only) and labctl's own
//! file (appended to by `--accept-new`). Files are read line by line so a
//! changed key is reported with the file and line number to remove.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use ssh2::{CheckResult, HostKeyType, KnownHostFileKind, MethodType};

/// Where a host key was found, or what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyVerdict {
    /// The key is listed in `file`.
    Known { file: PathBuf },
    /// No entry for this host in any file.
    Unknown,
    /// The host is listed with another key: remove `file` line `line`.
    Changed { file: PathBuf, line: usize },
}

/// `SHA256:...` as OpenSSH prints it (base64 without padding).
pub fn fingerprint(key: &[u8]) -> String {
    format!(
        "SHA256:{}",
        base64(&Sha256::digest(key)).trim_end_matches('=')
    )
}

/// The known_hosts name of an endpoint: `host` for port 22, `[host]:port` otherwise.
pub(crate) fn entry_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

/// The key type's name in a known_hosts line.
pub(crate) fn key_type_name(t: HostKeyType) -> &'static str {
    match t {
        HostKeyType::Rsa => "ssh-rsa",
        HostKeyType::Dss => "ssh-dss",
        HostKeyType::Ecdsa256 => "ecdsa-sha2-nistp256",
        HostKeyType::Ecdsa384 => "ecdsa-sha2-nistp384",
        HostKeyType::Ecdsa521 => "ecdsa-sha2-nistp521",
        HostKeyType::Ed25519 => "ssh-ed25519",
        HostKeyType::Unknown => "unknown",
    }
}

/// Checks `key` for `host:port` against every line of `files` that could
/// name the host, in order, calling `each(file, line number, line, result)`
/// until it returns `false`.
fn scan(
    sess: &ssh2::Session,
    files: &[&Path],
    host: &str,
    port: u16,
    key: &[u8],
    mut each: impl FnMut(&Path, usize, &str, CheckResult) -> bool,
) {
    for file in files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for (i, line) in text.lines().enumerate() {
            let l = line.trim();
            // Markers (@cert-authority, @revoked) are not supported: skip.
            if l.is_empty() || l.starts_with('#') || l.starts_with('@') {
                continue;
            }
            // Cheap pre-filter: a plain entry that cannot name this host.
            if !l.starts_with('|') && !l.contains(host) {
                continue;
            }
            let Ok(mut kh) = sess.known_hosts() else {
                continue;
            };
            if kh.read_str(l, KnownHostFileKind::OpenSSH).is_err() {
                continue;
            }
            if !each(file, i + 1, l, kh.check_port(host, port, key)) {
                return;
            }
        }
    }
}

/// Checks `key` for `host:port` against `files` in order. A match anywhere
/// wins; otherwise the first line listing the host with another key is a change.
pub(crate) fn verify(
    sess: &ssh2::Session,
    files: &[&Path],
    host: &str,
    port: u16,
    key: &[u8],
) -> KeyVerdict {
    let mut verdict = KeyVerdict::Unknown;
    scan(sess, files, host, port, key, |file, line, _, result| {
        match result {
            CheckResult::Match => {
                verdict = KeyVerdict::Known {
                    file: file.to_path_buf(),
                };
                return false;
            }
            CheckResult::Mismatch if verdict == KeyVerdict::Unknown => {
                verdict = KeyVerdict::Changed {
                    file: file.to_path_buf(),
                    line,
                }
            }
            _ => {}
        }
        true
    });
    verdict
}

/// The key types `files` list for `host:port` (`ssh-rsa`, `ssh-ed25519`…),
/// in the order found.
pub(crate) fn known_types(
    sess: &ssh2::Session,
    files: &[&Path],
    host: &str,
    port: u16,
) -> Vec<String> {
    // No key is this one: every line naming the host answers Mismatch.
    const PROBE: &[u8] = b"labctl: which key types are known";
    let mut types: Vec<String> = Vec::new();
    scan(sess, files, host, port, PROBE, |_, _, l, result| {
        if matches!(result, CheckResult::Match | CheckResult::Mismatch) {
            if let Some(t) = l.split_whitespace().nth(1) {
                if !types.iter().any(|k| k == t) {
                    types.push(t.to_string());
                }
            }
        }
        true
    });
    types
}

/// The host-key algorithms to ask for, OpenSSH's way: those of the key
/// types already known for the host first, then the rest in libssh2's own
/// order. So a host with an ed25519 and an RSA key, known by its RSA key,
/// shows that one and is recognised, not taken for a changed key.
pub(crate) fn preferred_algorithms(known: &[String], supported: &[&str]) -> Vec<String> {
    let mut order: Vec<String> = Vec::new();
    for t in known {
        // One RSA key, three signature algorithms (RFC 8332).
        let algs: &[&str] = match t.as_str() {
            "ssh-rsa" => &["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
            other => &[other][..],
        };
        for a in algs {
            if supported.contains(a) && !order.iter().any(|o| o == a) {
                order.push((*a).to_string());
            }
        }
    }
    for a in supported {
        if !order.iter().any(|o| o == a) {
            order.push((*a).to_string());
        }
    }
    order
}

/// Before the handshake: asks the server for a key type `files` know for
/// `host:port` first. Nothing changes when none is known.
pub(crate) fn prefer_known(sess: &ssh2::Session, files: &[&Path], host: &str, port: u16) {
    let known = known_types(sess, files, host, port);
    if known.is_empty() {
        return;
    }
    let Ok(supported) = sess.supported_algs(MethodType::HostKey) else {
        return;
    };
    let order = preferred_algorithms(&known, &supported);
    // Refused only for names libssh2 lacks, which `supported` has filtered out.
    let _ = sess.method_pref(MethodType::HostKey, &order.join(","));
}

/// Appends one line for `host:port` to labctl's own known_hosts (never rewrites it).
pub fn append(
    file: &Path,
    host: &str,
    port: u16,
    key: &[u8],
    kind: HostKeyType,
) -> std::io::Result<()> {
    if let Some(dir) = file.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)?;
        }
    }
    let line = format!(
        "{} {} {}\n",
        entry_name(host, port),
        key_type_name(kind),
        base64(key)
    );
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)?;
    // One write of a whole line: concurrent appenders (one thread per host) never interleave.
    f.write_all(line.as_bytes())
}

/// The fingerprint of the key on line `line` (1-based) of `file`, if that
/// line holds one (`NAMES TYPE BASE64 [comment]`).
pub(crate) fn line_fingerprint(file: &Path, line: usize) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    let l = text.lines().nth(line.checked_sub(1)?)?;
    let key = l.split_whitespace().nth(2)?;
    Some(fingerprint(&base64_decode(key)?))
}

/// Records `key` as the one key of `host:port` in labctl's own known_hosts
/// `file`: every line there naming the host with another key is removed
/// (the file is rewritten through a temporary file and a rename, its mode
/// kept), then the new line appended. Returns the removed lines' numbers.
pub fn replace(
    file: &Path,
    host: &str,
    port: u16,
    key: &[u8],
    kind: HostKeyType,
) -> std::io::Result<Vec<usize>> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    let sess = ssh2::Session::new().map_err(std::io::Error::other)?;
    let mut removed = Vec::new();
    scan(&sess, &[file], host, port, key, |_, line, _, result| {
        if matches!(result, CheckResult::Mismatch) {
            removed.push(line);
        }
        true
    });
    if !removed.is_empty() {
        let kept: String = text
            .lines()
            .enumerate()
            .filter(|(i, _)| !removed.contains(&(i + 1)))
            .map(|(_, l)| format!("{l}\n"))
            .collect();
        let tmp = file.with_extension("labctl-tmp");
        std::fs::write(&tmp, kept)?;
        if let Ok(m) = std::fs::metadata(file) {
            std::fs::set_permissions(&tmp, m.permissions())?;
        }
        std::fs::rename(&tmp, file)?;
    }
    append(file, host, port, key, kind)?;
    Ok(removed)
}

/// Standard base64 with padding.
pub(crate) fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// Standard base64 (padding optional) decoded; `None` for anything else.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let t = text.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(t.len() * 3 / 4);
    for chunk in t.chunks(4) {
        if chunk.len() == 1 {
            return None;
        }
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= val(c)? << (18 - 6 * i);
        }
        out.push((n >> 16) as u8);
        if chunk.len() > 2 {
            out.push((n >> 8) as u8);
        }
        if chunk.len() > 3 {
            out.push(n as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_key_types_come_first_rsa_with_its_signature_algorithms() {
        let supported = [
            "ssh-ed25519",
            "ecdsa-sha2-nistp256",
            "rsa-sha2-512",
            "rsa-sha2-256",
            "ssh-rsa",
        ];
        let order = preferred_algorithms(&["ssh-rsa".to_string()], &supported);
        assert_eq!(
            order,
            [
                "rsa-sha2-512",
                "rsa-sha2-256",
                "ssh-rsa",
                "ssh-ed25519",
                "ecdsa-sha2-nistp256"
            ]
        );
        // A type libssh2 lacks is left out, the rest keep libssh2's order.
        let order = preferred_algorithms(&["ssh-foo".to_string()], &supported);
        assert_eq!(order, supported);
    }

    #[test]
    fn the_types_known_for_a_host_are_read_from_its_lines_only() {
        let dir = std::env::temp_dir().join(format!("labctl-kh-types-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("known_hosts");
        std::fs::write(
            &file,
            "[127.0.0.1]:2222 ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ==\n\
             [127.0.0.1]:2223 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA==\n\
             [127.0.0.1]:2222 ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTY=\n",
        )
        .unwrap();
        let sess = ssh2::Session::new().unwrap();
        let types = known_types(&sess, &[&file], "127.0.0.1", 2222);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(types, ["ssh-rsa", "ecdsa-sha2-nistp256"]);
    }

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        for s in [&b""[..], b"f", b"fo", b"foo", b"foob", b"fooba", b"foobar"] {
            assert_eq!(base64_decode(&base64(s)).as_deref(), Some(s));
        }
        assert_eq!(base64_decode("Zg").as_deref(), Some(&b"f"[..]));
        assert_eq!(base64_decode("Z!=="), None);
    }

    #[test]
    fn replacing_a_key_removes_the_hosts_other_keys_only() {
        let dir = std::env::temp_dir().join(format!("labctl-kh-replace-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("known_hosts");
        let old = base64(b"old key of 2222");
        std::fs::write(
            &file,
            format!(
                "[127.0.0.1]:2223 ssh-ed25519 {}\n[127.0.0.1]:2222 ssh-ed25519 {old}\n",
                base64(b"the other host")
            ),
        )
        .unwrap();
        assert_eq!(
            line_fingerprint(&file, 2),
            Some(fingerprint(b"old key of 2222"))
        );
        let removed = replace(&file, "127.0.0.1", 2222, b"new key", HostKeyType::Ed25519).unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(removed, [2]);
        assert_eq!(
            text,
            format!(
                "[127.0.0.1]:2223 ssh-ed25519 {}\n[127.0.0.1]:2222 ssh-ed25519 {}\n",
                base64(b"the other host"),
                base64(b"new key")
            )
        );
    }

    #[test]
    fn entry_names_bracket_non_22_ports() {
        assert_eq!(entry_name("10.1.1.1", 22), "10.1.1.1");
        assert_eq!(entry_name("127.0.0.1", 40001), "[127.0.0.1]:40001");
    }
}
