//! How much labctl says and whether it says it in colour: `-q`/`-v`,
//! `--color auto|always|never` and `NO_COLOR` (<https://no-color.org>), decided
//! once from the global arguments and read by every part that prints.
//!
//! Process-wide on purpose: the reporters, check's renderer and the SSH layer
//! (which traces commands under `-v`) would otherwise all need the flags
//! threaded through; the state is set once in `labctl::main`, before any
//! thread starts, and only read afterwards.

use std::io::IsTerminal;
use std::sync::OnceLock;

use clap::ValueEnum;

/// `--color`: when to colour the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless `NO_COLOR` is set.
    #[default]
    Auto,
    /// Always, even into a pipe or a file.
    Always,
    /// Never.
    Never,
}

/// How much labctl prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Verbosity {
    /// `-q`: failures, warnings and the summary only.
    Quiet,
    Normal,
    /// `-v`: also every command sent to a host.
    Verbose,
}

#[derive(Debug, Clone, Copy)]
struct Style {
    color: bool,
    verbosity: Verbosity,
}

static STYLE: OnceLock<Style> = OnceLock::new();

/// Decides colour and verbosity for this process (first call wins).
pub(crate) fn init(choice: ColorChoice, quiet: bool, verbose: bool) {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let color = decide_color(choice, no_color, std::io::stdout().is_terminal());
    let verbosity = if quiet {
        Verbosity::Quiet
    } else if verbose {
        Verbosity::Verbose
    } else {
        Verbosity::Normal
    };
    let _ = STYLE.set(Style { color, verbosity });
}

/// `--color always` beats `NO_COLOR`; `auto` colours a terminal only.
fn decide_color(choice: ColorChoice, no_color: bool, tty: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => tty && !no_color,
    }
}

fn current() -> Style {
    STYLE.get().copied().unwrap_or(Style {
        color: false,
        verbosity: Verbosity::Normal,
    })
}

/// Whether to write colour escapes.
pub(crate) fn color() -> bool {
    current().color
}

pub(crate) fn verbosity() -> Verbosity {
    current().verbosity
}

pub(crate) fn quiet() -> bool {
    verbosity() == Verbosity::Quiet
}

pub(crate) fn verbose() -> bool {
    verbosity() == Verbosity::Verbose
}

fn paint(code: &str, s: &str) -> String {
    if color() {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

/// Success marks (✔, PASS): green.
pub(crate) fn ok(s: &str) -> String {
    paint("32", s)
}

/// Failure marks (✘, FAIL): red.
pub(crate) fn bad(s: &str) -> String {
    paint("31", s)
}

/// Warnings: yellow.
pub(crate) fn warn(s: &str) -> String {
    paint("33", s)
}

/// Headers: bold.
pub(crate) fn bold(s: &str) -> String {
    paint("1", s)
}

/// A line for the terminal made inert: every control character shown as
/// text ([`crate::util::show_controls`]) except, when colouring, this
/// module's own colour codes — so a host's output can neither move the
/// cursor nor clear the screen. (A host could still print one of these
/// colour codes; the reports escape everything.)
pub(crate) fn inert(line: &str) -> String {
    if !color() || !line.contains('\x1b') {
        return crate::util::show_controls(line, true).into_owned();
    }
    const OURS: [&str; 5] = ["\x1b[0m", "\x1b[1m", "\x1b[31m", "\x1b[32m", "\x1b[33m"];
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(i) = rest.find('\x1b') {
        out.push_str(&crate::util::show_controls(&rest[..i], true));
        let tail = &rest[i..];
        match OURS.iter().find(|c| tail.starts_with(**c)) {
            Some(code) => {
                out.push_str(code);
                rest = &tail[code.len()..];
            }
            None => {
                out.push_str("\\x1b");
                rest = &tail[1..];
            }
        }
    }
    out.push_str(&crate::util::show_controls(rest, true));
    out
}

/// Colours every ✔ green and ✘ red in already laid-out text (tables are
/// padded first, so escapes never upset their columns).
pub(crate) fn marks(s: &str) -> String {
    if !color() {
        return s.to_string();
    }
    s.replace('✔', &ok("✔")).replace('✘', &bad("✘"))
}

/// `s` right-aligned in `w` columns, then coloured (escapes must not count
/// toward the width).
pub(crate) fn pad(s: &str, w: usize, paint: fn(&str) -> String) -> String {
    let n = s.chars().count();
    format!("{}{}", " ".repeat(w.saturating_sub(n)), paint(s))
}

/// Under `-v`: prints a command about to be sent to `host` on stderr, as
/// `plan` shows commands (`host  $ cmd`). Called where commands leave for a
/// host: the SSH layer (every channel it opens) and the run's agent (every
/// request). A multi-line script shows its first line only.
pub(crate) fn trace_command(host: &str, cmd: &str) {
    if verbose() {
        let mut lines = cmd.lines();
        let line = lines.next().unwrap_or("");
        let keep = fit(host.chars().count() + 16, 160);
        let first: String = line.chars().take(keep).collect();
        let cut = first.len() < line.len() || lines.next().is_some();
        eprintln!(
            "{:>9}  {host}  $ {first}{}",
            "»",
            if cut { " …" } else { "" }
        );
    }
}

/// The terminal's width in columns, for lines that should fit it: `COLUMNS`,
/// else the terminal on stdout or stderr; `None` off a terminal (a log file
/// keeps whole lines).
pub(crate) fn width() -> Option<usize> {
    if let Some(n) = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()) {
        return Some(n);
    }
    for fd in [libc::STDOUT_FILENO, libc::STDERR_FILENO] {
        // SAFETY: TIOCGWINSZ writes a `winsize` into the struct we own.
        let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
        if unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) } == 0 && ws.ws_col > 0 {
            return Some(ws.ws_col as usize);
        }
    }
    None
}

/// How many characters of a detail fit after a line's `lead` columns:
/// the terminal's remaining width (at least 20), or `default` off a terminal.
pub(crate) fn fit(lead: usize, default: usize) -> usize {
    width().map_or(default, |w| w.saturating_sub(lead).max(20))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn always_beats_no_color_and_auto_needs_a_terminal() {
        assert!(decide_color(ColorChoice::Always, true, false));
        assert!(!decide_color(ColorChoice::Never, false, true));
        assert!(decide_color(ColorChoice::Auto, false, true));
        assert!(!decide_color(ColorChoice::Auto, true, true));
        assert!(!decide_color(ColorChoice::Auto, false, false));
    }
}
