//! Remote process lifecycle (docs/design.md, "Remote processes"): start a
//! program under its own process group, feed its stdin, stream its
//! timestamped output to labctl, and stop it — INT, then TERM, then KILL,
//! verified gone — as shell run on the host.
//!
//! The shell is in real files: `lib.sh` (the `lc_*` functions) and
//! `wrap.sh` (the wrapper each program runs under), POSIX sh for dash,
//! busybox sh and bash, shellcheck-clean. Every remote command is
//! `header + lib + call`: the header sets a few variables for one host and
//! run, [`lib`] is `lc_wrapper=<wrap.sh>` and `lib.sh`, and the call is one
//! short line (`lc_start server I.6 /w/bin/tcp_server …`). `labctl plan`
//! prints the calls per host and [`lib`] once, so what it shows is exactly
//! what runs. Every value is shell-quoted on its way into a call.
//!
//! Output is pushed, not polled. Each program's stdout and stderr go
//! through `labctl-stamp` (crate `hostkit`, deployed with the socket
//! programs): one process per stream that stamps each line with the host
//! time when it arrived (no process per line: the stamp does not lag in a
//! burst) and writes it twice — whole into `NAME.out`/`NAME.err` (the
//! record, kept even if labctl is gone) and as frames of at most 4 KB (one
//! atomic FIFO write each; the streamed copy of a line stops at 4 MiB) into
//! the run's FIFO `.stream`. The run's agent relays that FIFO onto its
//! channel's stderr (stdout carries the replies to requests), so labctl
//! learns of every line, every exit and a capture's `listening on` within a
//! round trip, with no request. Frames, one text line each (see [`Frame`]):
//! `@@l NAME S TS TEXT` a line (S: 1 stdout, 2 stderr), `@@p …` a piece of
//! a longer line, `@@t …` the last piece of a line cut at the cap,
//! `@@x NAME STATUS PGID` the program exited, `@@e NAME PGID` its output
//! ended (every line of it came before), `@@w NAME FILE: REASON` its record
//! on the host cannot be written (its lines still come), `@@h` the agent's heartbeat, every
//! second in which no tick was answered (only its arrival counts: a silent host is told from a quiet one
//! within seconds, see `Session::silent_for`), `@@k SEQ TIME` the answer to
//! labctl's tick `SEQ` with the host's time (labctl ticks every second: the
//! host knows its labctl alive, and labctl samples the host's clock). Without the deployed stamper (a lab with no
//! `deploy` step), or once a stamper ended before its program's output did
//! (its last words said in a `@@w` frame), the wrapper falls back to a shell
//! loop with the same frames: labctl's plumbing never leaves a program
//! writing into a pipe nobody reads (SIGPIPE). Why a FIFO and a relay rather than the stampers writing to the
//! channel: the agent holds the channel; a FIFO gives many writers one
//! reader with atomic writes, and the record on disk does not depend on
//! labctl reading.
//!
//! Layout on a host (under its `workdir`):
//! - `procs/<pgid>`: one file per running group labctl started (`name=`,
//!   `step=`, `run=`, `boot=`, `start=` its leader's start time),
//!   so a later `run`, `clean` or `check --fix` finds what a killed labctl left.
//! - `lock/holder`: the bench's hold on this host (one labctl at a time;
//!   see [`crate::hold`] and `hold.sh`).
//! - `runs/<run id>/`: per program `NAME.in` (a FIFO: its stdin), `NAME.out`
//!   and `NAME.err` (`<epoch.ns> <line>` per line, host time), `NAME.pgid`,
//!   `NAME.rc` (exit status, when it ended on its own), captures' `NAME.pcap`;
//!   the run's `.stream` FIFO; `.agent` (`PID START BOOT` of the run's agent,
//!   so `lc_stop_all` never stops the programs of a run whose agent lives).
//!
//! A group is only signalled while its `procs` file proves it is still the
//! one labctl started (same boot, same leader start time), so a reused pid is
//! never killed. Liveness is read with `ps`, ignoring zombies (an init that
//! does not reap would otherwise keep a stopped group "alive").

use std::sync::OnceLock;
use std::time::Duration;

use crate::config::hosts::Host;
use crate::hostops::{self, bin_dir, sudo_prefix};
use crate::util::shell_quote;
use crate::util::shell_template::{render, Val};

pub mod clean;

/// `<workdir>/procs`: the registry of running groups.
pub(crate) fn procs_dir(host: &Host) -> String {
    format!("{}/procs", host.workdir.trim_end_matches('/'))
}

/// `<workdir>/runs/<run id>`: one run's FIFOs, outputs and captures.
pub fn run_dir(host: &Host, run_id: &str) -> String {
    format!("{}/runs/{run_id}", host.workdir.trim_end_matches('/'))
}

/// The shell functions every lab command uses (`lib.sh`). Expects `S`
/// (sudo prefix), `P` (procs dir), `D` (run dir), `RUN` (run id), `K` (the
/// deployed programs' dir) and `lc_wrapper` to be set: see [`lib`].
pub(crate) const LIB_SH: &str = include_str!("lib.sh");

/// The wrapper every started program runs under (`wrap.sh`), the value of `lc_wrapper`.
pub(crate) const WRAP_SH: &str = include_str!("wrap.sh");

/// The bench's hold on a host (`hold.sh`, see [`crate::hold`]): `lc_hold`,
/// `lc_release`, `lc_holder`, `lc_held`, `run_live`.
pub(crate) const HOLD_SH: &str = include_str!("hold.sh");

/// The lab's ports on a host (`ports.sh`): `lab_ports`, what `check`'s
/// lab-port row and the start of a run both read (parsed by
/// [`crate::check::parse_facts`]).
pub(crate) const PORTS_SH: &str = include_str!("ports.sh");

/// What every `lc_*` call runs with after its [`header`]: `lc_wrapper` set
/// to [`WRAP_SH`] (quoted), then [`LIB_SH`], [`HOLD_SH`] and [`PORTS_SH`],
/// each without its comment lines ([`compact`]). `labctl plan` prints it once.
pub fn lib() -> &'static str {
    static LIB: OnceLock<String> = OnceLock::new();
    LIB.get_or_init(|| {
        render(
            include_str!("library.sh"),
            &[
                ("WRAPPER", Val::Quoted(&compact(WRAP_SH))),
                ("LIB", Val::Raw(&compact(LIB_SH))),
                ("HOLD", Val::Raw(&compact(HOLD_SH))),
                ("PORTS", Val::Raw(&compact(PORTS_SH))),
            ],
        )
    })
}

/// `script` without its comment lines and blank lines. A command goes to a
/// host in one SSH packet, which libssh2 caps at 35,000 bytes, and the
/// agent's carries the library twice quoted: the comments (the documentation
/// of the `.sh` files, a third of them) stay in the files. The scripts keep
/// no `#` line, nor a blank one, inside a quoted string or a here-document.
pub(crate) fn compact(script: &str) -> String {
    let mut out = String::with_capacity(script.len());
    for l in script.lines() {
        let t = l.trim_start();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// The variables [`lib`] needs for `host` and run `run_id` (empty for no run).
pub fn header(host: &Host, run_id: &str) -> String {
    let run = if run_id.is_empty() { "-" } else { run_id };
    let mut s = render(
        include_str!("header.sh"),
        &[
            ("S", Val::Quoted(sudo_prefix(host))),
            ("P", Val::Quoted(&procs_dir(host))),
            ("D", Val::Quoted(&run_dir(host, run))),
            ("RUN", Val::Quoted(run_id)),
            ("K", Val::Quoted(&bin_dir(host))),
        ],
    );
    s.push('\n');
    s
}

/// The full command that runs `call` (one line using the `lc_*` functions).
pub fn script(host: &Host, run_id: &str, call: &str) -> String {
    format!("{}{}{call}\n", header(host, run_id), lib())
}

/// [`script`] for a call that needs only [`LIB_SH`] and [`HOLD_SH`] (no
/// wrapper, no ports): a shorter command, for one that carries other shell
/// too within libssh2's 35,000 bytes ([`crate::hold::held_cmd`], which
/// `check` sends after its own script on one channel).
pub(crate) fn script_core(host: &Host, run_id: &str, call: &str) -> String {
    static CORE: OnceLock<String> = OnceLock::new();
    let core = CORE.get_or_init(|| format!("{}{}", compact(LIB_SH), compact(HOLD_SH)));
    format!("{}{core}{call}\n", header(host, run_id))
}

/// A call: a function name and its arguments, each quoted.
pub fn call(func: &str, args: &[&str]) -> String {
    let mut s = func.to_string();
    for a in args {
        s.push(' ');
        s.push_str(&shell_quote(a));
    }
    s
}

/// Stops every group labctl registered on `host` (any run), verifies each is
/// gone and removes its `procs` file. Prints one line per group,
/// `stopped PGID NAME STEP RUN` or `alive PGID NAME STEP RUN` (parse with
/// [`parse_stop_output`]); exits 1 if any is still alive. Used by `clean`,
/// `check --fix` and the start of `run`.
pub(crate) fn stop_all_cmd(host: &Host) -> String {
    script(host, "", "lc_stop_all")
}

/// Stops the groups of one run on `host` (what the agent does when its input ends).
pub(crate) fn stop_run_cmd(host: &Host, run_id: &str) -> String {
    script(host, run_id, "lc_stop_run")
}

/// The run's agent on one host (see `lc_agent` in [`LIB_SH`]): before
/// anything it takes the bench's hold with `hold` (the `lc_hold` arguments,
/// [`crate::hold::hold_args`]) and replies as to a request; then labctl's
/// commands for the run go through it on one long-lived channel, and it is
/// the watchdog — when its input ends, because labctl ended the run or its
/// connection dropped, it stops the run's programs and ends the hold. In its
/// own session, so nothing sshd does to the login's process group reaches it.
///
/// On a host with `sudo = true` it also asks, while it takes the hold,
/// whether sudo allows [`hostops::SUDO_COMMANDS`] (`-s`): their `nosudo`
/// lines join the hold's reply ([`split_sudo_check`]); and with `ports`
/// (`tcp:N udp:N …`, the run's servers' ports here), what holds them that
/// labctl did not start (`-p`: `port` lines, see [`split_hold_reply`]).
///
/// `orphaned_after`: how long the host waits without hearing labctl (its
/// ticks) before it ends the run by itself (`-g`, see `lc_watch`).
pub(crate) fn agent_cmd(
    host: &Host,
    run_id: &str,
    hold: &[String],
    ports: &str,
    orphaned_after: Duration,
) -> String {
    let check = hostops::SUDO_COMMANDS.join(" ");
    let grace = orphaned_after
        .as_secs()
        .max(crate::hold::STALE_SECS)
        .to_string();
    let mut args: Vec<&str> = vec!["-g", &grace];
    if host.sudo {
        args.extend(["-s", check.as_str()]);
    }
    if !ports.is_empty() {
        args.extend(["-p", ports]);
    }
    args.extend(hold.iter().map(String::as_str));
    render(
        include_str!("agent-exec.sh"),
        &[(
            "SCRIPT",
            Val::Quoted(&script(host, run_id, &call("lc_agent", &args))),
        )],
    )
}

/// The agent's first reply, in its parts (see [`agent_cmd`]).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct HoldReply {
    /// The hold's words (`held`, `busy` …).
    pub hold: String,
    /// The sudo check's `CMD PATH REASON` lines.
    pub nosudo: Vec<String>,
    /// The port check's lines (`lab_ports`' output, for [`crate::check::parse_facts`]).
    pub ports: String,
}

/// [`HoldReply`] from the agent's first reply.
pub(crate) fn split_hold_reply(reply: &str) -> HoldReply {
    let mut r = HoldReply::default();
    for l in reply.lines() {
        if let Some(x) = l.strip_prefix("nosudo ") {
            r.nosudo.push(x.to_string());
        } else if let Some(x) = l.strip_prefix("port ") {
            r.ports.push_str(x);
            r.ports.push('\n');
        } else {
            r.hold.push_str(l);
            r.hold.push('\n');
        }
    }
    r
}

/// labctl's tick number `seq` for the agent (see `lc_reader` in `lib.sh`):
/// it proves labctl alive to the host, and its answer ([`Frame::Tick`]) is a
/// sample of the host's clock.
pub fn agent_tick(seq: u64) -> Vec<u8> {
    format!("@@tick {seq}\n").into_bytes()
}

/// How the agent frames its reply to one request; the caller knows what
/// it asked (a typed plan operation says it: [`crate::lab::plan::Op::call`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// Short lines of text (group ids, host times, stop lines, ping's
    /// summary): the agent counts them with builtins (`@@txt`; past 64
    /// lines it falls back to byte counts).
    Lines,
    /// What may be binary (a program's output in a `run`): framed by byte
    /// counts (`@@req`).
    Bytes,
    /// The call is a file's path on the host, not a command: the reply is
    /// the file's bytes as they lie (a fetched pcap), framed by its size
    /// (`@@cat`), never spooled in the run directory first as a command's
    /// output is (a capture may be megabytes on a host whose disk it filled).
    File,
}

/// A command for the agent and how its reply is framed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostCall {
    pub text: String,
    pub reply: Reply,
}

/// One request for the agent: `@@txt N` (reply framed by lines), `@@req
/// N` (by byte counts) or `@@cat 1` (`cmd` is a file's path), then `cmd`
/// as N lines.
pub fn agent_request(cmd: &str, reply: Reply) -> Vec<u8> {
    let body = if cmd.is_empty() || cmd.ends_with('\n') {
        cmd.to_string()
    } else {
        format!("{cmd}\n")
    };
    let n = body.bytes().filter(|&b| b == b'\n').count();
    let kind = match reply {
        Reply::Lines => "txt",
        Reply::Bytes => "req",
        Reply::File => "cat",
    };
    format!("@@{kind} {n}\n{body}").into_bytes()
}

/// The agent's reply to one request, parsed from the front of `buf`:
/// `(stdout, stderr, status, bytes used)`, or `None` while incomplete.
pub fn parse_agent_reply(buf: &[u8]) -> Option<(Vec<u8>, Vec<u8>, i32, usize)> {
    let nl = buf.iter().position(|&b| b == b'\n')?;
    let head = String::from_utf8_lossy(&buf[..nl]);
    if let Some(counts) = head.trim().strip_prefix("@@lines ") {
        return parse_lines_reply(counts, &buf[nl + 1..])
            .map(|(o, e, rc, n)| (o, e, rc, nl + 1 + n));
    }
    let mut w = head.trim().strip_prefix("@@reply ")?.split_whitespace();
    let out: usize = w.next()?.parse().ok()?;
    let err: usize = w.next()?.parse().ok()?;
    let rc: i32 = w.next()?.parse().ok()?;
    let start = nl + 1;
    if buf.len() < start + out + err {
        return None;
    }
    Some((
        buf[start..start + out].to_vec(),
        buf[start + out..start + out + err].to_vec(),
        rc,
        start + out + err,
    ))
}

/// A `@@lines OUT_LINES OUT_UNENDED ERR_LINES ERR_UNENDED STATUS` reply's
/// streams from `rest` (what follows its header), and the bytes they took.
fn parse_lines_reply(counts: &str, rest: &[u8]) -> Option<(Vec<u8>, Vec<u8>, i32, usize)> {
    let n: Vec<i64> = counts
        .split_whitespace()
        .map(|w| w.parse().ok())
        .collect::<Option<_>>()?;
    let [out_lines, out_unended, err_lines, err_unended, rc] = n[..] else {
        return None;
    };
    // The first `lines` lines of `from`, and the bytes they took.
    let take = |from: &[u8], lines: i64, unended: i64| -> Option<(Vec<u8>, usize)> {
        let mut used = 0;
        for _ in 0..lines {
            used += from[used..].iter().position(|&b| b == b'\n')? + 1;
        }
        let mut text = from[..used].to_vec();
        if unended == 1 {
            text.pop();
        }
        Some((text, used))
    };
    let (out, a) = take(rest, out_lines, out_unended)?;
    let (err, b) = take(&rest[a..], err_lines, err_unended)?;
    Some((out, err, i32::try_from(rc).ok()?, a + b))
}

/// Removes the run's remote directory (after its files were fetched).
pub(crate) fn remove_run_dir_cmd(host: &Host, run_id: &str) -> String {
    remove_dir_cmd(&run_dir(host, run_id))
}

/// Removes directory `dir` on a host and everything in it (`remove-dir.sh`).
pub(crate) fn remove_dir_cmd(dir: &str) -> String {
    render(include_str!("remove-dir.sh"), &[("DIR", Val::Quoted(dir))])
}

/// What a stop reported for one group.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Stopped {
    pub pgid: u32,
    pub name: String,
    pub step: String,
    pub run: String,
    /// Still running after KILL (should never happen).
    pub alive: bool,
}

/// Parses the lines of a stop's stdout (groups that had already ended are left out).
pub(crate) fn parse_stop_output(stdout: &str) -> Vec<Stopped> {
    stdout
        .lines()
        .filter_map(|l| {
            let mut w = l.split(' ');
            let alive = match w.next()? {
                "stopped" => false,
                "alive" => true,
                _ => return None,
            };
            Some(Stopped {
                pgid: w.next()?.parse().ok()?,
                name: w.next().unwrap_or("").to_string(),
                step: w.next().unwrap_or("").to_string(),
                run: w.next().unwrap_or("").to_string(),
                alive,
            })
        })
        .collect()
}

/// The state of a program, as its frames told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProgState {
    Alive,
    /// Ended on its own with this status.
    Exited(i32),
    /// Gone without an exit status (stopped, or killed by a signal).
    Gone,
}

/// One frame of the agent's stream (see the module doc).
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// A line, or a piece of one: `more` when the line goes on in the next
    /// piece, `cut` when the stream stopped at the cap (the host file keeps it whole).
    Line {
        name: String,
        stderr: bool,
        ts: f64,
        text: Vec<u8>,
        more: bool,
        cut: bool,
    },
    /// The program exited with this status (`pgid`: its group, which tells
    /// it from an earlier program of the same name).
    Exit {
        name: String,
        status: i32,
        pgid: Option<u32>,
    },
    /// The program's output ended: all its lines came before this frame.
    End { name: String, pgid: Option<u32> },
    /// The agent's answer to labctl's tick `seq` (`@@k SEQ TIME`): the host
    /// time when it read the tick (see `lc_reader` in `lib.sh`).
    Tick { seq: u64, host: f64 },
    /// A program's stamper cannot write its record on the host (`@@w NAME
    /// FILE: REASON`, e.g. the disk is full); its lines still come.
    Unkept { name: String, why: String },
}

/// Takes the complete frames off the front of `buf` (text that is not a
/// frame, such as the agent's own error messages, is skipped).
/// How much of the host shell's own words (lines that are not frames) is kept.
pub(crate) const SAID_MAX: usize = 2000;

pub fn take_frames(buf: &mut Vec<u8>) -> Vec<Frame> {
    take_frames_keeping(buf, &mut String::new())
}

/// [`take_frames`], keeping the last lines that are not frames (what the
/// host's shell said, e.g. why the agent could not start) in `said`, at
/// most [`SAID_MAX`] bytes.
pub(crate) fn take_frames_keeping(buf: &mut Vec<u8>, said: &mut String) -> Vec<Frame> {
    let mut frames = Vec::new();
    let mut used = 0;
    while let Some(i) = buf[used..].iter().position(|&b| b == b'\n') {
        let line = &buf[used..used + i];
        if let Some(f) = parse_frame(line) {
            frames.push(f);
        } else if !line.starts_with(b"@@") && said.len() < SAID_MAX {
            let text = String::from_utf8_lossy(&line[..line.len().min(SAID_MAX)]);
            said.push_str(text.trim());
            said.push('\n');
        }
        used += i + 1;
    }
    buf.drain(..used);
    frames
}

fn parse_frame(line: &[u8]) -> Option<Frame> {
    let kind = line.strip_prefix(b"@@")?.first().copied()?;
    let rest = line.get(4..)?;
    let mut it = rest.splitn(4, |&b| b == b' ');
    let word = |w: Option<&[u8]>| w.map(|w| String::from_utf8_lossy(w).into_owned());
    match kind {
        b'l' | b'p' | b't' => {
            let name = word(it.next())?;
            let stderr = it.next()? == b"2";
            let ts = std::str::from_utf8(it.next()?).ok()?.parse().ok()?;
            let text = it.next().unwrap_or_default().to_vec();
            Some(Frame::Line {
                name,
                stderr,
                ts,
                text,
                more: kind == b'p',
                cut: kind == b't',
            })
        }
        b'x' => Some(Frame::Exit {
            name: word(it.next())?,
            status: word(it.next())?.trim().parse().unwrap_or(-1),
            pgid: word(it.next()).and_then(|g| g.trim().parse().ok()),
        }),
        b'e' => Some(Frame::End {
            name: word(it.next())?.trim().to_string(),
            pgid: word(it.next()).and_then(|g| g.trim().parse().ok()),
        }),
        b'w' => {
            let mut it = rest.splitn(2, |&b| b == b' ');
            Some(Frame::Unkept {
                name: word(it.next())?,
                why: word(it.next())?.trim().to_string(),
            })
        }
        b'k' => Some(Frame::Tick {
            seq: word(it.next())?.trim().parse().ok()?,
            host: word(it.next())?.trim().parse().ok()?,
        }),
        _ => None,
    }
}

/// tcpdump on lab interface `interface` writing `file`, through sudo when
/// `sudo`, as argv words (`-U --immediate-mode`: without it the last
/// packets are lost on SIGINT).
pub(crate) fn capture_argv(sudo: bool, interface: &str, file: &str, filter: &str) -> Vec<String> {
    let mut argv: Vec<String> = Vec::new();
    if sudo {
        argv.extend(["sudo".into(), "-n".into()]);
    }
    argv.extend(
        [
            "tcpdump",
            "-i",
            interface,
            "-n",
            "-U",
            "--immediate-mode",
            "-w",
            file,
        ]
        .map(String::from),
    );
    if !filter.trim().is_empty() {
        argv.push(filter.to_string());
    }
    argv
}

/// Seconds as `sleep` and `timeout` take them: `0.25`, `2` (people read
/// [`crate::lab::plan::secs`], built on this: `0.25s`).
pub(crate) fn shell_secs(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}", ms / 1000)
    } else {
        format!("{}.{:03}", ms / 1000, ms % 1000)
            .trim_end_matches('0')
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_for_the_shell() {
        assert_eq!(shell_secs(Duration::from_millis(2000)), "2");
        assert_eq!(shell_secs(Duration::from_millis(250)), "0.25");
        assert_eq!(shell_secs(Duration::from_millis(1500)), "1.5");
    }

    #[test]
    fn stop_lines_parse() {
        let v = parse_stop_output("stopped 123 server I.6 r1\nalive 9 cap-B I.7 r1\nnoise\n");
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].pgid, 123);
        assert_eq!(v[0].name, "server");
        assert!(!v[0].alive);
        assert!(v[1].alive);
    }

    #[test]
    fn frames_parse_and_partial_ones_wait() {
        let mut buf = b"@@l server 1 1.5 hi there\nnoise\n@@p c 2 2.25 ab\n@@t c 2 2.25 c\n@@x server 0 42\n@@e server 42\n@@l x 1 3".to_vec();
        let f = take_frames(&mut buf);
        assert_eq!(buf, b"@@l x 1 3");
        assert_eq!(f.len(), 5);
        assert_eq!(
            f[0],
            Frame::Line {
                name: "server".into(),
                stderr: false,
                ts: 1.5,
                text: b"hi there".to_vec(),
                more: false,
                cut: false
            }
        );
        assert!(matches!(
            &f[1],
            Frame::Line {
                stderr: true,
                more: true,
                ..
            }
        ));
        assert!(matches!(
            &f[2],
            Frame::Line {
                cut: true,
                more: false,
                ..
            }
        ));
        assert_eq!(
            f[3],
            Frame::Exit {
                name: "server".into(),
                status: 0,
                pgid: Some(42)
            }
        );
        assert_eq!(
            f[4],
            Frame::End {
                name: "server".into(),
                pgid: Some(42)
            }
        );
    }

    #[test]
    fn the_sudo_checks_lines_are_told_from_the_holds_words() {
        let reply = "stale\nuser=ta\nnosudo tcpdump /usr/bin/tcpdump sudo: a password is required\nrun=r1\nheld\n";
        let r = split_hold_reply(reply);
        assert_eq!(r.hold, "stale\nuser=ta\nrun=r1\nheld\n");
        assert_eq!(
            r.nosudo,
            ["tcpdump /usr/bin/tcpdump sudo: a password is required"]
        );
        let r = split_hold_reply("held\n");
        assert_eq!((r.hold.as_str(), r.nosudo.len()), ("held\n", 0));
    }

    #[test]
    fn agent_frames() {
        assert_eq!(
            agent_request("lc_stop a", Reply::Lines),
            b"@@txt 1\nlc_stop a\n"
        );
        assert_eq!(
            agent_request("( x\ny )", Reply::Lines),
            b"@@txt 2\n( x\ny )\n"
        );
        assert_eq!(
            agent_request("lc_stop a", Reply::Bytes),
            b"@@req 1\nlc_stop a\n"
        );
        assert_eq!(agent_request("a\nb\n", Reply::Bytes), b"@@req 2\na\nb\n");
        assert_eq!(
            agent_request("/w/r/c.pcap", Reply::File),
            b"@@cat 1\n/w/r/c.pcap\n"
        );
        let buf = b"@@reply 3 2 1\nouterr@@reply";
        assert_eq!(
            parse_agent_reply(buf),
            Some((b"out".to_vec(), b"er".to_vec(), 1, 19))
        );
        assert_eq!(parse_agent_reply(b"@@reply 3 2 1\nou"), None);
        let buf = b"@@lines 2 0 1 1 3\n41\n42\nno\n@@h";
        assert_eq!(
            parse_agent_reply(buf),
            Some((b"41\n42\n".to_vec(), b"no".to_vec(), 3, buf.len() - 3))
        );
        assert_eq!(parse_agent_reply(b"@@lines 2 0 0 0 0\n41\n"), None);
    }

    #[test]
    fn the_agents_command_fits_in_one_ssh_packet() {
        // libssh2 sends a command in one packet of at most 35,000 bytes.
        let host = crate::hostops::sample_host(true);
        let hold = crate::hold::hold_args("run", "20261129T013722Z-sockets-bench10", true);
        let cmd = agent_cmd(
            &host,
            "20261129T013722Z-sockets-bench10",
            &hold,
            "tcp:50000 udp:50000",
            Duration::from_secs(60),
        );
        assert!(cmd.len() < 32_000, "{} bytes", cmd.len());
        assert!(!lib().lines().any(|l| l.trim_start().starts_with('#')));
    }

    #[test]
    fn calls_quote_every_argument() {
        assert_eq!(
            call("lc_send", &["client-B", "0", "it's; $(x)"]),
            r"lc_send client-B 0 'it'\''s; $(x)'"
        );
    }
}
