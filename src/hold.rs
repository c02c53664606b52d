//! One labctl at a time per bench: the hold each command that changes a host
//! (`run`, `check --fix`, `clean`, and the deploying they do) takes on every
//! host it touches before it changes anything there.
//!
//! The hold lives on the host (`<workdir>/lock/holder`, made by `lc_hold` in
//! `src/remote/hold.sh`), so two controllers on two laptops see each other.
//! It names its holder (user and machine, pid, command, run id, since) and
//! the process on the host whose life is the hold: the run's agent, or for
//! `clean` and `check --fix` a shell that reads its channel until labctl
//! ends ([`Held`]). When labctl ends, or its connection drops, that process
//! reads end-of-input and removes the hold; after a SIGKILL or a reboot the
//! process is gone (same boot id and start time are checked), so the next
//! labctl takes the hold over with a warning. A live hold is never taken:
//! the second labctl refuses with exit code 5 ([`Error::Busy`]).
//!
//! A run's labctl also ticks its agent every second (`lc_reader` in
//! `remote/lib.sh`), and the host notes when it was last heard. A holder
//! alive on the host whose labctl has not been heard for [`STALE_SECS`] (a
//! laptop whose lid was closed, a connection dropped without a FIN) is
//! *stale*: the second labctl names it with how long it has been silent and
//! takes the bench over only with `--take-over`, which ends the stale run on
//! the host (its agent, its programs) and notes who took it in that run's
//! host directory; the first labctl, when it wakes, reads that note and
//! ends at once with exit code 5 ([`crate::ssh::SshErrorKind::Taken`]).
//!
//! All hosts first, then changes: [`Gate`] lets the per-host threads of one
//! command agree that every host was held before any of them goes on.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use crate::config::hosts::Host;
use crate::error::Error;
use crate::remote;
use crate::ssh::{Session, SshError, SshErrorKind, StreamChannel};

/// Who holds a host, as its `lock/holder` file says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holder {
    pub user: String,
    pub machine: String,
    /// The controlling labctl's pid on its machine.
    pub pid: String,
    /// `run`, `check --fix`, `clean`.
    pub command: String,
    /// The run id (empty for other commands).
    pub run: String,
    /// Unix time the hold was taken.
    pub since: u64,
    /// Seconds since the holder's labctl was last heard (its ticks), when
    /// the host knows it (a run's hold).
    pub silent: Option<u64>,
}

/// A holder silent this long (seconds) is stale: `--take-over` may take it.
pub const STALE_SECS: u64 = 10;

/// Words of a stale holder's description (see [`Holder::describe`]).
pub(crate) const SILENT_WORDS: &str = "has not answered for ";

impl Holder {
    /// Parses `key=value` lines.
    pub fn parse<'a>(lines: impl IntoIterator<Item = &'a str>) -> Holder {
        let mut h = Holder::default();
        for l in lines {
            let Some((k, v)) = l.split_once('=') else {
                continue;
            };
            let v = v.trim().to_string();
            match k.trim() {
                "user" => h.user = v,
                "machine" => h.machine = v,
                "pid" => h.pid = v,
                "command" => h.command = v,
                "run" => h.run = v,
                "since" => h.since = v.parse().unwrap_or(0),
                "silent" => h.silent = v.parse().ok(),
                _ => {}
            }
        }
        h
    }

    /// `labctl run `lab1-…` of ta1@laptop (pid 4242), since 10:02:11 UTC (3 min ago)`,
    /// and for a stale holder `, and has not answered for 2 min: its labctl
    /// may be asleep or cut off`.
    pub fn describe(&self) -> String {
        let mut s = format!("{}, since {}", self.who(), since_text(self.since));
        if let Some(n) = self.silent.filter(|n| *n >= STALE_SECS) {
            s.push_str(&format!(
                ", and {SILENT_WORDS}{}: its labctl may be asleep or cut off",
                duration_text(n)
            ));
        }
        s
    }

    /// `labctl run `lab1-…` of ta1@laptop (pid 4242)`.
    pub fn who(&self) -> String {
        let what = if self.run.is_empty() {
            format!("labctl {}", self.command)
        } else {
            format!("labctl {} `{}`", self.command, self.run)
        };
        format!(
            "{what} of {}@{} (pid {})",
            self.user, self.machine, self.pid
        )
    }

    /// Stale: alive on the host, but its labctl not heard for [`STALE_SECS`].
    pub fn stale(&self) -> bool {
        self.silent.is_some_and(|n| n >= STALE_SECS)
    }
}

/// `35 s`, `2 min`.
pub(crate) fn duration_text(secs: u64) -> String {
    if secs < 120 {
        format!("{secs} s")
    } else {
        format!("{} min", secs / 60)
    }
}

/// `10:02:11 UTC (3 min ago)`.
fn since_text(since: u64) -> String {
    let now = crate::record::now_unix() as u64;
    let day = since % 86_400;
    let ago = format!("{} ago", duration_text(now.saturating_sub(since)));
    format!(
        "{:02}:{:02}:{:02} UTC ({ago})",
        day / 3600,
        day / 60 % 60,
        day % 60
    )
}

/// What `lc_hold` answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Held; a hold whose holder was gone was taken over when `Some`.
    Held(Option<Holder>),
    /// A live labctl holds the host.
    Busy(Holder),
    /// No answer the hold understands.
    Unknown,
}

/// Parses `lc_hold`'s output: `[stale|taken LINES…] held`, or `busy LINES…`
/// (a holder taken over while stale has `silent` set).
pub(crate) fn parse_verdict(out: &str) -> Verdict {
    let mut lines = out.lines().map(str::trim);
    let mut stale: Option<Vec<&str>> = None;
    while let Some(l) = lines.next() {
        match l {
            "held" => return Verdict::Held(stale.map(Holder::parse)),
            "busy" => return Verdict::Busy(Holder::parse(lines.by_ref())),
            "stale" | "taken" => stale = Some(Vec::new()),
            other => {
                if let Some(s) = stale.as_mut() {
                    s.push(other);
                }
            }
        }
    }
    Verdict::Unknown
}

/// The `lc_hold`/`lc_holder` arguments for this labctl: user, machine, pid,
/// command, run, since when (this machine's clock, epoch seconds: the
/// clock every labctl reading the holder compares it with), and with
/// `take_over`, `take-over` (a stale holder is taken over).
pub(crate) fn hold_args(command: &str, run_id: &str, take_over: bool) -> Vec<String> {
    let since = crate::record::now_unix() as u64;
    let mut v = vec![
        clean_word(user_name()),
        clean_word(&machine_name()),
        std::process::id().to_string(),
        clean_word(command),
        clean_word(run_id),
        since.to_string(),
    ];
    if take_over {
        v.push("take-over".into());
    }
    v
}

/// One line of the holder file: no newline, no `=` confusion matters (values end the line).
fn clean_word(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Who runs labctl: `$USER`, else the account's name, else `uid N`.
fn user_name() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        if let Some(u) = std::env::var("USER").ok().filter(|u| !u.is_empty()) {
            return u;
        }
        // SAFETY: getuid cannot fail; getpwuid's result is read at once, on
        // the one thread that initialises this cell.
        unsafe {
            let uid = libc::getuid();
            let pw = libc::getpwuid(uid);
            if pw.is_null() || (*pw).pw_name.is_null() {
                format!("uid {uid}")
            } else {
                std::ffi::CStr::from_ptr((*pw).pw_name)
                    .to_string_lossy()
                    .into_owned()
            }
        }
    })
}

/// This machine's host name.
fn machine_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer outlives the call and its length is given.
    let r = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if r != 0 {
        return "unknown".into();
    }
    let n = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// How `check`'s lab-port detail starts on a host in use (a pass: the
/// holder's programs hold the port).
pub(crate) const IN_USE_NOTE: &str = "bench in use by ";

/// `check`'s lines for hosts in use, from `(host label, lab-port detail)`.
pub(crate) fn render_in_use<'a>(hosts: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (label, detail) in hosts {
        if detail.starts_with(IN_USE_NOTE) {
            out.push_str(&format!("\n! {label} {detail}"));
        }
    }
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

/// Words of every [`busy_error`].
pub(crate) const IN_USE: &str = " is in use by ";

/// The error of a host held by a live labctl (exit code 5); [`refusal`]
/// makes the command's final error of one or more of them. With
/// `take_over` asked for a holder that answers, it says why it was not taken.
pub(crate) fn busy_error(host: &Host, holder: &Holder, take_over: bool) -> Error {
    let mut s = format!("host `{}`{IN_USE}{}", host.label(), holder.describe());
    if take_over && !holder.stale() {
        s.push_str(&format!(
            "; it answers{}: a labctl that answers is never taken over",
            holder
                .silent
                .map(|n| format!(" (heard {} ago)", duration_text(n)))
                .unwrap_or_default()
        ));
    }
    Error::Busy(s)
}

/// The command's error when hosts are held by another labctl: a line per
/// host (`busy`: [`busy_error`]s' text) and what to do, once.
pub fn refusal(busy: &[String]) -> Error {
    let what = if busy.iter().any(|b| b.contains(SILENT_WORDS)) {
        format!(
            "rerun with `--take-over` to take the bench from a labctl that has not answered for {STALE_SECS} s or more \
             (its programs are stopped and its run ends), or wait until it answers again"
        )
    } else {
        "wait until that labctl ends, or ask whoever runs it to stop it \
         (a labctl that was killed or lost its connection frees the bench by itself, and the next command takes it over)"
            .to_string()
    };
    Error::Busy(format!("{}\nnothing was changed: {what}", busy.join("\n")))
}

/// The warning when a hold was taken over: its holder was gone, or (with
/// `--take-over`) stale.
pub(crate) fn took_over_warning(host: &Host, holder: &Holder) -> String {
    match holder.silent {
        Some(n) => format!(
            "host `{}`: took the bench over from {}, which had not answered for {} (`--take-over`): its run's programs were stopped",
            host.label(),
            holder.who(),
            duration_text(n)
        ),
        None => format!(
            "host `{}`: took over the hold of {}: its labctl is gone",
            host.label(),
            holder.describe()
        ),
    }
}

/// A run a host ended by itself (`lc_orphan` in `remote/lib.sh`: labctl
/// not heard for `orphaned_after`, or the run's agent killed), as its note says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ended {
    pub run: String,
    /// Unix time (the host's clock).
    pub at: u64,
    pub why: String,
    /// The run's directory on the host, kept.
    pub dir: String,
}

/// The notes of `lc_hold`/`lc_held`: `ended<TAB>RUN<TAB>AT<TAB>WHY<TAB>DIR` lines.
pub(crate) fn ended_notes(out: &str) -> Vec<Ended> {
    out.lines()
        .filter_map(|l| {
            let mut w = l.strip_prefix("ended\t")?.split('\t');
            Some(Ended {
                run: w.next()?.to_string(),
                at: w.next()?.trim().parse().unwrap_or(0),
                why: w.next()?.to_string(),
                dir: w.next()?.trim().to_string(),
            })
        })
        .collect()
}

/// ``host `A`: the host ended run `X` by itself at 10:02:11 UTC (5 min ago): …``.
pub(crate) fn ended_message(host: &Host, e: &Ended) -> String {
    format!(
        "host `{}`: the host ended run `{}` by itself at {}: {}; its records are in {}",
        host.label(),
        e.run,
        since_text(e.at),
        e.why,
        e.dir
    )
}

/// The error of a labctl whose run's hold was taken over by `taker` (the
/// lines of the run's `.taken` note on the host) while it was not heard.
pub(crate) fn taken_message(taker: &Holder) -> String {
    format!(
        "the bench was taken over by {} at {}{}; nothing more was done on this host (the run's records stay here and on it)",
        taker.who(),
        since_text(taker.since),
        taker
            .silent
            .map(|n| format!(", after this labctl had not answered for {}", duration_text(n)))
            .unwrap_or_default()
    )
}

/// A hold kept by a shell on its own channel (`clean`, `check --fix`): it
/// ends when this is released or dropped, or when labctl's connection does.
pub struct Held<'s> {
    ch: Option<StreamChannel<'s>>,
    /// The hold of a labctl that was gone, taken over.
    pub took_over: Option<Holder>,
}

impl Held<'_> {
    /// Ends the hold (the host's shell reads end-of-input and removes it).
    pub fn release(mut self) {
        if let Some(ch) = self.ch.take() {
            let _ = ch.close(Duration::from_secs(5));
        }
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        if let Some(ch) = self.ch.take() {
            let _ = ch.close(Duration::from_secs(5));
        }
    }
}

/// Takes the hold on `host` for `command`: `Err(Error::Busy)` when a live
/// labctl holds it.
pub fn take<'s>(sess: &'s Session, host: &Host, command: &str) -> Result<Held<'s>, Error> {
    take_with(sess, host, command, false)
}

/// [`take`], taking over a stale holder when `take_over` (`--take-over`).
pub(crate) fn take_with<'s>(
    sess: &'s Session,
    host: &Host,
    command: &str,
    take_over: bool,
) -> Result<Held<'s>, Error> {
    let args = hold_args(command, "", take_over);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let cmd = remote::script(host, "", &remote::call("lc_holder", &refs));
    let mut ch = sess.spawn_stream(&cmd)?;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut out = Vec::new();
    loop {
        let r = ch.read_available()?;
        out.extend_from_slice(&r.stdout);
        let text = String::from_utf8_lossy(&out).into_owned();
        if text.lines().any(|l| l.starts_with("@@hold ")) {
            for e in ended_notes(&text) {
                crate::util::err_line(&format!("! {}", ended_message(host, &e)));
            }
            return match parse_verdict(&text) {
                Verdict::Held(took_over) => Ok(Held {
                    ch: Some(ch),
                    took_over,
                }),
                Verdict::Busy(h) => Err(busy_error(host, &h, take_over)),
                Verdict::Unknown => Err(hold_failed(host, &text, &r.stderr)),
            };
        }
        if r.eof {
            return Err(hold_failed(host, &text, &r.stderr));
        }
        if Instant::now() >= deadline {
            return Err(SshError {
                host: host.label(),
                endpoint: host.endpoint(),
                kind: SshErrorKind::Timeout,
                message: "taking the bench's hold did not finish within 20 s".into(),
            }
            .into());
        }
        sess.check_heard()?;
        ch.wait(Duration::from_millis(200));
    }
}

pub(crate) fn hold_failed(host: &Host, out: &str, err: &[u8]) -> Error {
    let err = String::from_utf8_lossy(err);
    let why = crate::ssh::whole_reason(if err.trim().is_empty() { out } else { &err });
    Error::Host(format!(
        "host `{}`: cannot take the bench's hold (`{}/lock`): {why}",
        host.label(),
        host.workdir.trim_end_matches('/')
    ))
}

/// The per-host threads of one command meet here once each tried its hold:
/// none goes on to change anything unless every host was held.
pub(crate) struct Gate {
    barrier: Barrier,
    refused: AtomicBool,
}

impl Gate {
    /// A gate for `n` host threads (each must call [`Gate::pass`] once).
    pub(crate) fn new(n: usize) -> Gate {
        Gate {
            barrier: Barrier::new(n.max(1)),
            refused: AtomicBool::new(false),
        }
    }

    /// Waits for every host; true when all were held (`held`: this host's outcome).
    pub(crate) fn pass(&self, held: bool) -> bool {
        if !held {
            self.refused.store(true, Ordering::SeqCst);
        }
        self.barrier.wait();
        !self.refused.load(Ordering::SeqCst)
    }

    /// Whether a host refused (after every host passed).
    pub(crate) fn refused(&self) -> bool {
        self.refused.load(Ordering::SeqCst)
    }
}

/// The shell that prints who holds `host` now (read-only), for
/// [`in_use_from`]: `check` runs it after its script, on its one channel.
pub(crate) fn held_cmd(host: &Host) -> String {
    remote::script_core(host, "", "lc_held")
}

/// Who holds the host whose [`held_cmd`] printed `text` (a live hold), in
/// words; `None` when nobody does. What `check` shows of a bench in use.
pub(crate) fn in_use_from(text: &str) -> Option<String> {
    let h = Holder::parse(text.lines());
    (!h.command.is_empty()).then(|| {
        let mut s = h.describe();
        if h.stale() {
            s.push_str(" (`--take-over` takes the bench from it)");
        }
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_parse() {
        assert_eq!(parse_verdict("held\n"), Verdict::Held(None));
        let v = parse_verdict(
            "stale\nuser=ta\nmachine=lap\npid=9\ncommand=run\nrun=r1\nsince=0\nheld\n",
        );
        match v {
            Verdict::Held(Some(h)) => {
                assert_eq!((h.user.as_str(), h.run.as_str()), ("ta", "r1"));
            }
            other => panic!("{other:?}"),
        }
        let b = parse_verdict(
            "busy\nuser=ta\nmachine=lap\npid=9\ncommand=clean\nrun=\nsince=60\nagent=1\n",
        );
        match b {
            Verdict::Busy(h) => {
                assert_eq!(h.command, "clean");
                assert!(h
                    .describe()
                    .starts_with("labctl clean of ta@lap (pid 9), since 00:01:00 UTC"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(parse_verdict("oops"), Verdict::Unknown);
    }
}
