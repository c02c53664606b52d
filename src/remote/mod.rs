//! Remote process lifecycle (docs/design.md, "Remote processes"): start a program under its
//! own process group, feed its stdin, collect its timestamped output, and
//! stop it — INT, then TERM, then KILL, verified gone — as shell run on the host.
//!
//! Every remote command is `header + LIB + call`: the header sets a few
//! variables for one host and run, [`LIB`] defines the `lc_*` functions, and
//! the call is one short line (`lc_start server I.6 /w/bin/tcp_server …`).
//! `labctl plan` prints the calls per host and [`LIB`] once, so what it shows
//! is exactly what runs. Every value is shell-quoted on its way into a call.
//!
//! Layout on a host (under its `workdir`):
//! - `procs/<pgid>`: one file per running group labctl started (`name=`,
//!   `step=`, `run=`, `started=`, `boot=`, `start=` its leader's start time),
//!   so a later `run`, `clean` or `check --fix` finds what a killed labctl left.
//! - `runs/<run id>/`: per program `NAME.in` (a FIFO: its stdin), `NAME.out`
//!   and `NAME.err` (`<epoch.ns> <line>` per line, host time), `NAME.pgid`,
//!   `NAME.rc` (exit status, when it ended on its own), captures' `NAME.pcap`.
//!
//! A group is only signalled while its `procs` file proves it is still the
//! one labctl started (same boot, same leader start time), so a reused pid is
//! never killed. Liveness is read with `ps`, ignoring zombies (an init that
//! does not reap would otherwise keep a stopped group "alive").

use std::time::Duration;

use crate::config::hosts::Host;
use crate::hostops::sudo_prefix;
use crate::util::shell_quote;

pub mod clean;

/// `<workdir>/procs`: the registry of running groups.
pub fn procs_dir(host: &Host) -> String {
    format!("{}/procs", host.workdir.trim_end_matches('/'))
}

/// `<workdir>/runs/<run id>`: one run's FIFOs, outputs and captures.
pub fn run_dir(host: &Host, run_id: &str) -> String {
    format!("{}/runs/{run_id}", host.workdir.trim_end_matches('/'))
}

/// The shell functions every lab command uses. Expects `S` (sudo prefix),
/// `P` (procs dir), `D` (run dir) and `RUN` (run id) to be set.
pub const LIB: &str = r#"B=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)
# field KEY PGID: a value from the group's procs file (builtins only: this runs often)
field() {
  while IFS='=' read -r k v; do
    if [ "$k" = "$1" ]; then printf '%s\n' "$v"; return 0; fi
  done <"$P/$2" 2>/dev/null
}
# procstat PID N: field N of /proc/PID/stat counted after the command name (1: state, 20: start time)
procstat() {
  read -r s 2>/dev/null <"/proc/$1/stat" || return 1
  s=${s##*) }; n=$2; set -- $s; shift $((n - 1)); printf '%s\n' "$1"
}
# ours PGID: the registered group is still the one labctl started (else forget it)
ours() {
  [ -f "$P/$1" ] || return 1
  if [ "$(field boot "$1")" != "$B" ]; then rm -f "$P/$1"; return 1; fi
  st=$(procstat "$1" 20) || return 0
  if [ "$st" != "$(field start "$1")" ]; then rm -f "$P/$1"; return 1; fi
}
# leader PGID: the group's leader (the wrapper, which outlives its pipeline) is alive
leader() { [ -n "$1" ] && st=$(procstat "$1" 1) && [ "$st" != Z ]; }
# livegroups PGID...: those with a live (non-zombie) process
livegroups() { ps -e -o pgid= -o stat= | awk -v want=" $* " '$2 !~ /^Z/ && index(want, " " $1 " ") { print $1 }' | sort -u; }
# stopgroups PGID...: INT, then TERM, then KILL, each followed by up to 3 s for the groups to go
# (checked with `ps`: every process of the group, not only its leader);
# prints `stopped|alive|ended PGID NAME STEP RUN` per group (`ended`: it had ended on its own),
# removes the procs file of each group gone
stopgroups() {
  set -- $(for g in "$@"; do ours "$g" && echo "$g"; done)
  [ $# -gt 0 ] || return 0
  info=$(for g in "$@"; do echo "$g $(field name "$g") $(field step "$g") $(field run "$g")"; done)
  live=$(livegroups "$@")
  first=" $(echo $live) "
  for sig in INT TERM KILL; do
    [ -n "$live" ] || break
    for g in $live; do $S kill -s $sig -- "-$g" 2>/dev/null; done
    i=0
    while [ $i -lt 150 ]; do
      sleep 0.02; i=$((i+1))
      live=$(livegroups $live)
      [ -n "$live" ] || break
    done
  done
  live=" $(echo $live) "
  echo "$info" | while read -r g rest; do
    case "$live" in
      *" $g "*) echo "alive $g $rest" ;;
      *) rm -f "$P/$g"
         case "$first" in *" $g "*) echo "stopped $g $rest" ;; *) echo "ended $g $rest" ;; esac ;;
    esac
  done
  [ "$live" = "  " ]
}
registered() { ls "$P" 2>/dev/null | grep -E '^[0-9]+$'; }
# lc_stop_all: every group labctl started on this host; lc_stop_run: this run's
lc_stop_all() { stopgroups $(registered); }
lc_stop_run() { stopgroups $(for g in $(registered); do [ "$(field run "$g")" = "$RUN" ] && echo "$g"; done); }
# lc_stop NAME...: the named programs of this run
lc_stop() { stopgroups $(for n in "$@"; do cat "$D/$n.pgid" 2>/dev/null; done); }
# The wrapper a program runs under, as its group's leader: registers the group, then runs
# the program with stdin from its FIFO (opened read-write: no end-of-file between senders),
# stdout and stderr through loops stamping each line with the host time. The loops ignore
# SIGINT so they record the program's last lines; the program does not ignore it.
lc_wrapper='d=$1 n=$2 step=$3 run=$4 P=$5; shift 5
trap "" INT HUP
g=$$
printf "name=%s\nstep=%s\nrun=%s\nstarted=%s\nboot=%s\nstart=%s\n" "$n" "$step" "$run" "$(date +%s)" "$(cat /proc/sys/kernel/random/boot_id)" "$(read -r s </proc/$g/stat; s=${s##*) }; set -- $s; shift 19; echo "$1")" >"$P/.$g" && mv "$P/.$g" "$P/$g"
echo "$g" >"$d/$n.pgid"
ts() { while IFS= read -r l; do printf "%s %s\n" "$(date +%s.%N)" "$l"; done; }
{ { (trap - INT HUP; "$@" <>"$d/$n.in"; echo $? >"$d/$n.rc") 2>&1 1>&3 3>&- | ts >>"$d/$n.err"; } 3>&1 | ts >>"$d/$n.out"; }
rm -f "$P/$g"'
# lc_start NAME STEP PROGRAM ARGS...: start in a new session (setsid); prints the group id
lc_start() {
  n=$1 step=$2; shift 2
  (umask 077 && mkdir -p "$D" "$P") && cd "$D" && rm -f "$n.in" "$n.pgid" "$n.rc" && mkfifo "$n.in" && : >"$n.out" && : >"$n.err" || return 1
  setsid -f sh -c "$lc_wrapper" labctl-proc "$D" "$n" "$step" "$RUN" "$P" "$@" </dev/null >/dev/null 2>&1 || return 1
  i=0
  while [ ! -s "$n.pgid" ]; do
    i=$((i+1)); if [ $i -gt 500 ]; then echo "the program did not start" >&2; return 1; fi; sleep 0.01
  done
  cat "$n.pgid"
}
# running NAME: the program has not ended
running() { [ ! -f "$D/$1.rc" ] && read -r g 2>/dev/null <"$D/$1.pgid" && leader "$g"; }
# lc_send NAME PACE LINE...: each line to the program's stdin, PACE seconds apart; prints the host time of each
lc_send() {
  n=$1 pace=$2; shift 2
  running "$n" || { echo "not running" >&2; return 3; }
  exec 3<>"$D/$n.in" || return 1
  first=1
  for l in "$@"; do
    [ $first = 1 ] || sleep "$pace"
    first=0
    printf '%s\n' "$l" >&3 || return 1
    date +%s.%N
  done
  exec 3>&-
}
# lc_run TIMEOUT PROGRAM ARGS...: in the foreground, stdin empty, killed after TIMEOUT s (status 124)
# (`--foreground`: the program stays in the agent's process group, so `lc_interrupt` reaches it)
lc_run() { t=$1; shift; cd "$D" && timeout --foreground -k 1 "$t" "$@" </dev/null; }
# lc_poll FILE:OFFSET ... -- NAME...: per file `@@ FILE SIZE` then its bytes from OFFSET to SIZE;
# then per program `@@st NAME rc N|alive|gone` (alive: its wrapper still runs)
lc_poll() {
  cd "$D" || return 3
  while [ $# -gt 0 ] && [ "$1" != -- ]; do
    f=${1%:*} o=${1##*:}; shift
    z=$(stat -c %s "$f" 2>/dev/null || echo 0)
    echo "@@ $f $z"
    if [ "$z" -gt "$o" ]; then tail -c +$((o + 1)) "$f" | head -c $((z - o)); fi
  done
  [ $# -gt 0 ] && shift
  [ $# -gt 0 ] || return 0
  for n in "$@"; do
    if read -r rc 2>/dev/null <"$n.rc"; then echo "@@st $n rc $rc"
    elif read -r g 2>/dev/null <"$n.pgid" && leader "$g"; then echo "@@st $n alive"
    else echo "@@st $n gone"
    fi
  done
}
# lc_agent: the run's command loop on this host, on one long-lived SSH channel. A request is one
# line: a command, base64-encoded (it creates the run directory first); it runs in a subshell with stdin from /dev/null and default
# signal handling (programs it starts must die on SIGINT). A reply is
# `@@reply OUT_BYTES ERR_BYTES STATUS` then the command's stdout and stderr. At end of input —
# labctl ended the run, or its connection dropped because labctl died — it stops this run's groups.
lc_agent() {
  trap '' HUP INT PIPE
  (umask 077 && mkdir -p "$D" "$P") || exit 1
  echo $$ >"$D/.agent"
  while IFS= read -r req; do
    if printf '%s\n' "$req" | base64 -d >"$D/.cmd" 2>/dev/null; then
      (trap - HUP INT PIPE; . "$D/.cmd") >"$D/.out" 2>"$D/.err" </dev/null
      rc=$?
    else
      : >"$D/.out"; echo "labctl-agent: bad request" >"$D/.err"; rc=255
    fi
    printf '@@reply %s %s %s\n' "$(wc -c <"$D/.out")" "$(wc -c <"$D/.err")" "$rc"
    cat "$D/.out" "$D/.err"
  done
  lc_stop_run >/dev/null 2>&1
  # labctl fetched everything and said so (`lc_done`): the run's files can go.
  if [ -f "$D/.done" ]; then rm -rf "$D"; fi
}
# lc_interrupt (on its own channel): Ctrl-C of labctl ends the agent's current request (a paced
# send, a foreground program) at once; the agent, leader of its process group, ignores SIGINT.
lc_interrupt() { g=$(cat "$D/.agent" 2>/dev/null) && [ -n "$g" ] && kill -s INT -- "-$g" 2>/dev/null; }
# lc_done: the run is over and its files were fetched
lc_done() { : >"$D/.done"; }
"#;

/// The variables [`LIB`] needs for `host` and run `run_id` (empty for no run).
pub fn header(host: &Host, run_id: &str) -> String {
    format!(
        "S={}; P={}; D={}; RUN={}\n",
        shell_quote(sudo_prefix(host)),
        shell_quote(&procs_dir(host)),
        shell_quote(&run_dir(host, if run_id.is_empty() { "-" } else { run_id })),
        shell_quote(run_id),
    )
}

/// The full command that runs `call` (one line using the `lc_*` functions).
pub fn script(host: &Host, run_id: &str, call: &str) -> String {
    format!("{}{LIB}{call}\n", header(host, run_id))
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
pub fn stop_all_cmd(host: &Host) -> String {
    script(host, "", "lc_stop_all")
}

/// Stops the groups of one run on `host` (what the agent does when its input ends).
pub fn stop_run_cmd(host: &Host, run_id: &str) -> String {
    script(host, run_id, "lc_stop_run")
}

/// The run's agent on one host (see `lc_agent` in [`LIB`]): labctl's commands
/// for the run go through it on one long-lived channel, and it is the
/// watchdog — when its input ends, because labctl ended the run or its
/// connection dropped, it stops the run's programs. In its own session, so
/// nothing sshd does to the login's process group reaches it.
pub fn agent_cmd(host: &Host, run_id: &str) -> String {
    format!(
        "exec setsid -w sh -c {} labctl-agent",
        shell_quote(&script(host, run_id, "lc_agent"))
    )
}

/// One request line for the agent: `cmd`, base64-encoded, and a newline.
pub fn agent_request(cmd: &str) -> Vec<u8> {
    let mut v = base64(cmd.as_bytes()).into_bytes();
    v.push(b'\n');
    v
}

/// The agent's reply to one request, parsed from the front of `buf`:
/// `(stdout, stderr, status, bytes used)`, or `None` while incomplete.
pub fn parse_agent_reply(buf: &[u8]) -> Option<(Vec<u8>, Vec<u8>, i32, usize)> {
    let nl = buf.iter().position(|&b| b == b'\n')?;
    let head = String::from_utf8_lossy(&buf[..nl]);
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

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                s.push(A[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// Removes the run's remote directory (after its files were fetched).
pub fn remove_run_dir_cmd(host: &Host, run_id: &str) -> String {
    format!("rm -rf -- {}", shell_quote(&run_dir(host, run_id)))
}

/// What a stop reported for one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stopped {
    pub pgid: u32,
    pub name: String,
    pub step: String,
    pub run: String,
    /// Still running after KILL (should never happen).
    pub alive: bool,
}

/// Parses the lines of a stop's stdout (groups that had already ended are left out).
pub fn parse_stop_output(stdout: &str) -> Vec<Stopped> {
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

/// One output file to read from `offset` (bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollFile {
    pub file: String,
    pub offset: u64,
}

/// The `lc_poll` call for these files and programs.
pub fn poll_call(files: &[PollFile], names: &[String]) -> String {
    let mut args: Vec<String> = files
        .iter()
        .map(|f| format!("{}:{}", f.file, f.offset))
        .collect();
    args.push("--".into());
    args.extend(names.iter().cloned());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    call("lc_poll", &refs)
}

/// The state of a program, as a poll saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgState {
    Alive,
    /// Ended on its own with this status.
    Exited(i32),
    /// Gone without an exit status (stopped, or killed by a signal).
    Gone,
}

/// What one poll returned.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PollResult {
    /// File, its size, and the new bytes.
    pub files: Vec<(String, u64, Vec<u8>)>,
    pub states: Vec<(String, ProgState)>,
}

/// Parses `lc_poll`'s stdout (bytes: program output need not be UTF-8).
pub fn parse_poll(out: &[u8], files: &[PollFile]) -> PollResult {
    let mut r = PollResult::default();
    let mut rest = out;
    let take_line = |rest: &mut &[u8]| -> Option<String> {
        let i = rest.iter().position(|&b| b == b'\n')?;
        let line = String::from_utf8_lossy(&rest[..i]).into_owned();
        *rest = &rest[i + 1..];
        Some(line)
    };
    for f in files {
        let Some(head) = take_line(&mut rest) else {
            break;
        };
        let Some(size) = head
            .strip_prefix("@@ ")
            .and_then(|h| h.rsplit_once(' '))
            .and_then(|(_, z)| z.parse::<u64>().ok())
        else {
            break;
        };
        let n = (size.saturating_sub(f.offset) as usize).min(rest.len());
        r.files.push((f.file.clone(), size, rest[..n].to_vec()));
        rest = &rest[n..];
    }
    while let Some(line) = take_line(&mut rest) {
        let Some(st) = line.strip_prefix("@@st ") else {
            continue;
        };
        let mut w = st.split(' ');
        let (Some(name), Some(state)) = (w.next(), w.next()) else {
            continue;
        };
        let state = match state {
            "alive" => ProgState::Alive,
            "rc" => ProgState::Exited(w.next().and_then(|c| c.parse().ok()).unwrap_or(-1)),
            _ => ProgState::Gone,
        };
        r.states.push((name.to_string(), state));
    }
    r
}

/// tcpdump on the lab interface writing `file`, as argv words
/// (`-U --immediate-mode`: without it the last packets are lost on SIGINT).
pub fn capture_argv(host: &Host, file: &str, filter: &str) -> Vec<String> {
    let mut argv: Vec<String> = Vec::new();
    if host.sudo {
        argv.extend(["sudo".into(), "-n".into()]);
    }
    argv.extend(
        [
            "tcpdump",
            "-i",
            &host.interface,
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

/// Seconds as `sleep` and `timeout` take them: `0.25`, `2`.
pub fn secs(d: Duration) -> String {
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
        assert_eq!(secs(Duration::from_millis(2000)), "2");
        assert_eq!(secs(Duration::from_millis(250)), "0.25");
        assert_eq!(secs(Duration::from_millis(1500)), "1.5");
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
    fn poll_output_parses_files_then_states() {
        let files = vec![
            PollFile {
                file: "a.out".into(),
                offset: 3,
            },
            PollFile {
                file: "a.err".into(),
                offset: 0,
            },
        ];
        let out = b"@@ a.out 8\nx hi\n@@ a.err 0\n@@st a rc 1\n@@st b alive\n";
        let r = parse_poll(out, &files);
        assert_eq!(r.files[0], ("a.out".to_string(), 8, b"x hi\n".to_vec()));
        assert_eq!(r.files[1].2, b"");
        assert_eq!(
            r.states,
            vec![
                ("a".to_string(), ProgState::Exited(1)),
                ("b".to_string(), ProgState::Alive)
            ]
        );
    }

    #[test]
    fn agent_frames() {
        assert_eq!(base64(b"lc_stop a"), "bGNfc3RvcCBh");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"a"), "YQ==");
        let buf = b"@@reply 3 2 1\nouterr@@reply";
        assert_eq!(
            parse_agent_reply(buf),
            Some((b"out".to_vec(), b"er".to_vec(), 1, 19))
        );
        assert_eq!(parse_agent_reply(b"@@reply 3 2 1\nou"), None);
    }

    #[test]
    fn calls_quote_every_argument() {
        assert_eq!(
            call("lc_send", &["client-B", "0", "it's; $(x)"]),
            r"lc_send client-B 0 'it'\''s; $(x)'"
        );
    }
}
