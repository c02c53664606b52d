//! Small helpers shared across modules: shell quoting, `$HOME`, io error wording, XML escaping,
//! owner-only files, `--json` lines; [`shell_template`] renders the `.sh` templates of host commands.

pub mod shell_template;

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
pub(crate) fn home_dir() -> Option<std::path::PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(std::path::PathBuf::from)
}

/// An io error's reason in lowercase, without the "(os error N)" suffix.
pub(crate) fn io_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    lower_first(s.split(" (os error").next().unwrap_or(&s))
}

/// `s` with its first letter in lowercase: library messages ("Connection
/// refused") read as the rest of labctl's error text does.
pub(crate) fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// Writes `bytes` to `path` as a file only its owner can read (0600), like
/// everything in a run directory; a file already there is truncated and
/// made 0600 too.
pub(crate) fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
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

/// [`write_private`] for a file rewritten over and over (the temporary
/// file of a swap, [`swap_in`]): its old bytes are overwritten in place and
/// only a longer tail cut, its mode set only if it is not 0600 already. A
/// truncation to nothing would free every block, and ext4 then flushes the
/// file when it is closed (its `auto_da_alloc`): both were most of the
/// cost of rebuilding a run's reports.
pub(crate) fn rewrite_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .mode(0o600)
        .open(path)?;
    let meta = f.metadata()?;
    if meta.permissions().mode() & 0o7777 != 0o600 {
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    f.write_all(bytes)?;
    if meta.len() > bytes.len() as u64 {
        f.set_len(bytes.len() as u64)?;
    }
    Ok(())
}

/// Puts `new` in place of `path` atomically, keeping `path`'s inode as `new`
/// (`renameat2` with `RENAME_EXCHANGE`): no inode is deleted. Where `path`
/// does not exist yet, or the filesystem cannot exchange, a plain rename.
pub(crate) fn swap_in(new: &std::path::Path, path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &std::path::Path| std::ffi::CString::new(p.as_os_str().as_bytes());
    if let (Ok(a), Ok(b)) = (c(new), c(path)) {
        // SAFETY: two NUL-terminated paths that outlive the call.
        let r = unsafe {
            libc::syscall(
                libc::SYS_renameat2,
                libc::AT_FDCWD,
                a.as_ptr(),
                libc::AT_FDCWD,
                b.as_ptr(),
                libc::RENAME_EXCHANGE,
            )
        };
        if r == 0 {
            return Ok(());
        }
    }
    std::fs::rename(new, path)
}

/// Escapes `s` for HTML/XML text and attribute values (reports, SVG).
pub(crate) fn escape_xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    // The text between the characters escaped is copied whole (they are
    // ASCII, so every cut is on a character boundary).
    let mut from = 0;
    for (i, b) in s.bytes().enumerate() {
        let entity = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            _ => continue,
        };
        out.push_str(&s[from..i]);
        out.push_str(entity);
        from = i + 1;
    }
    out.push_str(&s[from..]);
    out
}

/// Shows control characters as text (`\x1b`, `\0`, `\r`…) so text from
/// hosts and lab files cannot move the cursor, recolour or clear a
/// terminal, or hide in a report. Newlines are kept when `keep_newlines`
/// (multi-line output), tabs always.
pub(crate) fn show_controls(s: &str, keep_newlines: bool) -> std::borrow::Cow<'_, str> {
    let bad = |c: char| c.is_control() && c != '\t' && !(keep_newlines && c == '\n');
    // Control characters are C0 and DEL (one byte each in UTF-8) and C1
    // (U+0080..U+009F: 0xC2 then 0x80..0x9F): the bytes say whether there
    // is any, without decoding a whole report into characters.
    // A block of 64 bytes without any such lead byte (a test the compiler
    // vectorises) is passed over whole.
    let bytes = s.as_bytes();
    let lead = |b: u8| (b < 0x20 && b != b'\t' && b != b'\n') || b == b'\n' && !keep_newlines;
    let maybe = |b: u8| lead(b) | (b == 0x7f) | (b == 0xc2);
    let any = bytes.chunks(64).enumerate().any(|(k, block)| {
        block.iter().fold(false, |m, &b| m | maybe(b))
            && block.iter().enumerate().any(|(j, &b)| {
                lead(b)
                    || b == 0x7f
                    || b == 0xc2
                        && bytes
                            .get(k * 64 + j + 1)
                            .is_some_and(|n| (0x80..=0x9f).contains(n))
            })
    });
    if !any {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            c if !bad(c) => out.push(c),
            '\0' => out.push_str("\\0"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x100 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Set once stdout failed (a closed pipe such as `| head -1`, a hung-up
/// terminal): later lines are dropped without trying.
static STDOUT_GONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Prints a line on stdout. Never panics (unlike `println!`): when stdout
/// is gone the line is dropped and labctl carries on; the run directory,
/// not the terminal, is the record of a run.
pub(crate) fn out_line(line: &str) {
    use std::io::Write;
    use std::sync::atomic::Ordering;
    if STDOUT_GONE.load(Ordering::Relaxed) {
        return;
    }
    let mut o = std::io::stdout().lock();
    if writeln!(o, "{line}").and_then(|()| o.flush()).is_err() {
        STDOUT_GONE.store(true, Ordering::Relaxed);
    }
}

/// Prints a line on stderr; dropped, never a panic, when stderr is gone.
pub(crate) fn err_line(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Asks the kernel to acknowledge at once instead of delaying ACKs on this
/// TCP socket. Linux clears the flag by itself, so callers set it before
/// every wait or after every read. sshd leaves Nagle on for sessions without
/// a PTY: a second small packet it sends waits for our ACK, and a delayed ACK
/// costs 40 ms per round trip.
pub(crate) fn tcp_quickack(fd: std::os::fd::RawFd) {
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
pub(crate) fn json_line(value: &impl serde::Serialize) {
    if let Ok(s) = serde_json::to_string(value) {
        out_line(&s);
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

    #[test]
    fn control_characters_are_shown_not_sent() {
        assert_eq!(show_controls("a\x1b[2Jb\0c\r", false), "a\\x1b[2Jb\\0c\\r");
        assert_eq!(show_controls("a\nb\tc", true), "a\nb\tc");
        assert_eq!(show_controls("a\nb", false), "a\\nb");
        assert_eq!(show_controls("\u{9b}x", false), "\\x9bx");
        assert!(matches!(
            show_controls("plain ✔", false),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn control_characters_are_found_wherever_they_are() {
        // Around the 64-byte blocks the bytes are looked at by, beside
        // characters whose UTF-8 shares bytes with a control (· is C2 B7).
        let filler = "·é✔ plain text <b> ".repeat(8);
        for c in [
            '\0', '\x1b', '\r', '\n', '\x7f', '\u{80}', '\u{9f}', '\t', '\u{a0}',
        ] {
            for at in 0..filler.len() {
                if !filler.is_char_boundary(at) {
                    continue;
                }
                let s = format!("{}{c}{}", &filler[..at], &filler[at..]);
                for keep in [false, true] {
                    let shown = c.is_control() && c != '\t' && !(keep && c == '\n');
                    let out = show_controls(&s, keep);
                    assert_eq!(out != s, shown, "{c:?} at {at}");
                    assert_eq!(matches!(out, std::borrow::Cow::Owned(_)), shown);
                }
            }
        }
    }

    #[test]
    fn xml_escapes_every_special_character() {
        assert_eq!(escape_xml(r#"a<b>&"c'·✔"#), "a&lt;b&gt;&amp;&quot;c&#39;·✔");
        assert_eq!(escape_xml("&"), "&amp;");
        assert_eq!(escape_xml(""), "");
        assert_eq!(escape_xml("plain ✔"), "plain ✔");
    }
}
