//! Host-key verification: `~/.ssh/known_hosts` (read only) and labctl's own
//! file (appended to by `--accept-new`). Files are read line by line so a
//! changed key is reported with the file and line number to remove.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use ssh2::{CheckResult, HostKeyType, KnownHostFileKind};

/// Where a host key was found, or what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyVerdict {
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
pub fn entry_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

/// The key type's name in a known_hosts line.
pub fn key_type_name(t: HostKeyType) -> &'static str {
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

/// Checks `key` for `host:port` against `files` in order. A match anywhere
/// wins; otherwise the first line listing the host with another key is a change.
pub fn verify(
    sess: &ssh2::Session,
    files: &[&Path],
    host: &str,
    port: u16,
    key: &[u8],
) -> KeyVerdict {
    let mut changed = None;
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
            match kh.check_port(host, port, key) {
                CheckResult::Match => {
                    return KeyVerdict::Known {
                        file: file.to_path_buf(),
                    }
                }
                CheckResult::Mismatch if changed.is_none() => {
                    changed = Some(KeyVerdict::Changed {
                        file: file.to_path_buf(),
                        line: i + 1,
                    })
                }
                _ => {}
            }
        }
    }
    changed.unwrap_or(KeyVerdict::Unknown)
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

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn entry_names_bracket_non_22_ports() {
        assert_eq!(entry_name("10.1.1.1", 22), "10.1.1.1");
        assert_eq!(entry_name("127.0.0.1", 40001), "[127.0.0.1]:40001");
    }
}
