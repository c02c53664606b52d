//! Small helpers shared across modules: shell quoting, `$HOME`, io error wording, XML escaping,
//! owner-only files, `--json` lines.

/// Quotes `s` for a POSIX shell so it reaches the program as one literal word.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@%+,".contains(&b))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// `$HOME`, if set and not empty.
pub fn home_dir() -> Option<std::path::PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(std::path::PathBuf::from)
}

/// An io error's reason in lowercase, without the "(os error N)" suffix.
pub fn io_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    lower_first(s.split(" (os error").next().unwrap_or(&s))
}

/// `s` with its first letter in lowercase: library messages ("Connection
/// refused") read as the rest of labctl's error text does.
pub fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// Writes `bytes` to `path` as a file only its owner can read (0600), like
/// everything in a run directory; a file already there is truncated and
/// made 0600 too.
pub fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(bytes)
}

/// Escapes `s` for HTML/XML text and attribute values (reports, SVG).
pub fn escape_xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Asks the kernel to acknowledge at once instead of delaying ACKs on this
/// TCP socket. Linux clears the flag by itself, so callers set it before
/// every wait or after every read. sshd leaves Nagle on for sessions without
/// a PTY: a second small packet it sends waits for our ACK, and a delayed ACK
/// costs 40 ms per round trip.
pub fn tcp_quickack(fd: std::os::fd::RawFd) {
    let one: libc::c_int = 1;
    // SAFETY: setsockopt with a valid int option value; a bad fd only makes it fail.
    unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_QUICKACK,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// `--json`: one value as one line on stdout, flushed at once so a script
/// follows live. A closed stdout (the reader went away) is not an error here.
pub fn json_line(value: &impl serde::Serialize) {
    use std::io::Write;
    if let Ok(s) = serde_json::to_string(value) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{s}").and_then(|_| out.flush());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_everything_a_shell_would_interpret() {
        assert_eq!(shell_quote("abc"), "abc");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("$(touch x)"), "'$(touch x)'");
        assert_eq!(shell_quote("a\nb"), "'a\nb'");
    }
}
