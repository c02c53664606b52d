//! The plan's data: steps, actions and operations as typed facts (what
//! each does: program, host, capture interface and filter, lines, pattern,
//! window), and the checks expectations make. An operation's text for
//! people is its `Display`; its shell call and the framing of the host's
//! reply are rendered from it ([`call`]) where it is sent or shown, so no
//! later stage parses prose or a command line back. Kept apart from how a
//! plan is built so that `plan`, `--dry-run`, `run` and `plan.json` read
//! one shape.

use std::collections::HashMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::sync::Mutex;
use std::time::Duration;

use regex::Regex;
use serde::Serialize;

use crate::error::Error;
use crate::hostops::{self, LabLink};
use crate::lab::model::Stream;
use crate::remote::{self, HostCall, Reply};

/// How long a capture may take to say `listening on`.
pub(crate) const CAPTURE_READY: Duration = Duration::from_secs(5);
/// Echo requests per ping, and seconds to wait for each reply.
pub(crate) const PING_COUNT: u32 = 1;
pub(crate) const PING_WAIT_S: u32 = 2;

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub lab: String,
    pub bench: String,
    pub run_id: String,
    /// Hosts the plan touches, in bench order.
    pub hosts: Vec<String>,
    pub steps: Vec<PlanStep>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanStep {
    pub id: String,
    pub title: String,
    /// Run only because a selected step needs it.
    pub needed: bool,
    pub actions: Vec<PlanAction>,
}

/// One action of the lab file: its ops run in parallel across hosts, in
/// order on each host. Consecutive captures on different hosts are one
/// action: they start at once.
#[derive(Debug, Clone, Serialize)]
pub struct PlanAction {
    pub keyword: &'static str,
    pub ops: Vec<PlanOp>,
}

/// One operation on one host. Its text for people (`what` in events and
/// `plan.json`) is the operation's [`fmt::Display`]; the shell call sent is
/// rendered from it where it is sent ([`Op::call`]).
#[derive(Debug, Clone)]
pub struct PlanOp {
    pub host: String,
    pub op: Op,
}

impl PlanOp {
    /// What it does, for people: ``start `server`: tcp_server --port 50000``.
    pub fn what(&self) -> String {
        self.op.to_string()
    }
}

/// What an operation does, as facts.
#[derive(Debug, Clone)]
pub enum Op {
    /// Give the host its lab address (`configure`); must exit 0.
    Configure(LabLink),
    /// Ping `target` (at `addr`) over the lab interface `interface`; must be answered.
    Ping {
        target: String,
        addr: Ipv4Addr,
        interface: String,
    },
    /// Put program set `set`'s programs in `bin` on the host (the controller does it).
    Deploy { set: String, bin: String },
    /// Start tcpdump as capture `name` on `interface`, `filter` its filter (may be empty).
    Capture {
        name: String,
        step: String,
        interface: String,
        filter: String,
        sudo: bool,
    },
    /// Start program `program` of the set as `name`: `command` (the set's
    /// command line for it) then `args` (the lab's, expanded).
    Start {
        name: String,
        step: String,
        program: String,
        command: Vec<String>,
        args: Vec<String>,
    },
    Send {
        name: String,
        lines: Vec<String>,
        pace: Duration,
    },
    /// Watched on the controller: no command.
    Expect {
        name: String,
        stream: Stream,
        check: PlanCheck,
    },
    /// A program in the foreground.
    Run(RunOp),
    /// Stops the names; captures' pcaps are fetched afterwards.
    Stop {
        names: Vec<String>,
        captures: Vec<String>,
    },
}

/// Run `program` in the foreground (`command`, the set's command line for
/// it, then `args`), at most `timeout`; it must exit `exit` (and print a
/// line matching `regex`).
#[derive(Debug, Clone)]
pub struct RunOp {
    pub program: String,
    pub command: Vec<String>,
    pub args: Vec<String>,
    pub timeout: Duration,
    pub exit: i32,
    /// Template values escaped; `pattern` is the same for people.
    pub regex: Option<Compiled>,
    pub pattern: Option<String>,
    /// A name for its output files.
    pub label: String,
}

impl RunOp {
    pub fn call(&self) -> HostCall {
        call::run(&self.command, &self.args, self.timeout)
    }

    /// The program's bare name and its arguments, for people.
    pub fn argv(&self) -> String {
        short_words(&self.program, &self.args)
    }
}

/// An expectation's regex, compiled once when the plan is made (the
/// worker matches every line with it); `plan.json` shows its source.
#[derive(Debug, Clone)]
pub struct Compiled(Regex);

impl Compiled {
    /// Compiles `source` (validation compiled the lab's patterns already:
    /// an error here is a template value that broke one).
    /// A pattern already compiled in this process is shared, not compiled
    /// again: a room's plans (one per bench) hold the same patterns, and
    /// compiling them bench by bench was a twentieth of `run --all`'s CPU.
    /// (A [`Regex`] is shared by reference counting, and safe to use from
    /// several threads at once.)
    pub fn new(source: &str) -> Result<Compiled, Error> {
        static COMPILED: std::sync::OnceLock<Mutex<HashMap<String, Regex>>> =
            std::sync::OnceLock::new();
        let memo = COMPILED.get_or_init(Mutex::default);
        if let Some(r) = memo.lock().ok().and_then(|m| m.get(source).cloned()) {
            return Ok(Compiled(r));
        }
        let r = Regex::new(source)
            .map_err(|e| Error::Usage(format!("pattern `/{source}/` does not compile: {e}")))?;
        if let Ok(mut m) = memo.lock() {
            m.insert(source.to_string(), r.clone());
        }
        Ok(Compiled(r))
    }

    pub fn regex(&self) -> &Regex {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// Compared by source, as people write it.
impl PartialEq<&str> for &Compiled {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Serialize for Compiled {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.as_str())
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PlanCheck {
    /// `regex` has template values escaped; `pattern` is the same for people.
    Match {
        regex: Compiled,
        pattern: String,
        within: Duration,
    },
    Absent {
        regex: Compiled,
        pattern: String,
        window: Duration,
    },
    Exit {
        code: i32,
        within: Duration,
    },
}

impl Op {
    /// The command sent to the host and how its reply is framed; `None`
    /// when the controller does the work (deploy, expect). Calls use the
    /// `lc_*` functions of [`remote::lib`]; each kind's is in [`call`].
    pub fn call(&self) -> Option<HostCall> {
        Some(match self {
            Op::Configure(link) => call::configure(link),
            Op::Ping {
                addr, interface, ..
            } => call::ping(interface, *addr),
            Op::Capture {
                name,
                step,
                interface,
                filter,
                sudo,
            } => call::capture(name, step, interface, filter, *sudo),
            Op::Start {
                name,
                step,
                command,
                args,
                ..
            } => call::start(name, step, command, args),
            Op::Send { name, lines, pace } => call::send(name, lines, *pace),
            Op::Run(run) => run.call(),
            Op::Stop { names, .. } => call::stop(names),
            Op::Deploy { .. } | Op::Expect { .. } => return None,
        })
    }

    /// The command line shown and sent ([`Op::call`]'s text).
    pub fn shown(&self) -> Option<String> {
        self.call().map(|c| c.text)
    }
}

/// Each operation's shell call, rendered from its facts where it is sent
/// (the worker) or shown (`plan`), with the framing of its reply.
pub mod call {
    use super::*;

    fn lines(text: String) -> HostCall {
        HostCall {
            text,
            reply: Reply::Lines,
        }
    }

    /// `configure`'s script (it prints `via nm` or `via ip`; a failure's
    /// words may be long).
    pub fn configure(link: &LabLink) -> HostCall {
        HostCall {
            text: hostops::configure_link_cmd(link),
            reply: Reply::Bytes,
        }
    }

    /// One ping; its reply is its summary.
    pub fn ping(interface: &str, addr: Ipv4Addr) -> HostCall {
        lines(hostops::ping_on_cmd(
            interface,
            addr,
            PING_COUNT,
            PING_WAIT_S,
        ))
    }

    /// tcpdump started as capture `name`; the reply is its group id.
    pub fn capture(name: &str, step: &str, interface: &str, filter: &str, sudo: bool) -> HostCall {
        let argv = remote::capture_argv(sudo, interface, &format!("{name}.pcap"), filter);
        let mut args = vec![name, step];
        args.extend(argv.iter().map(String::as_str));
        lines(remote::call("lc_start", &args))
    }

    /// A program started as `name`; the reply is its group id.
    pub fn start(name: &str, step: &str, command: &[String], args: &[String]) -> HostCall {
        let mut cargs = vec![name, step];
        cargs.extend(command.iter().chain(args).map(String::as_str));
        lines(remote::call("lc_start", &cargs))
    }

    /// Lines to `name`'s stdin; the reply is the host time of each.
    pub fn send(name: &str, lines_: &[String], pace: Duration) -> HostCall {
        let p = remote::shell_secs(pace);
        let mut args = vec![name, p.as_str()];
        args.extend(lines_.iter().map(String::as_str));
        lines(remote::call("lc_send", &args))
    }

    /// A foreground program: its output may be anything, framed by byte counts.
    pub fn run(command: &[String], args: &[String], timeout: Duration) -> HostCall {
        let t = remote::shell_secs(timeout);
        let mut cargs = vec![t.as_str()];
        cargs.extend(command.iter().chain(args).map(String::as_str));
        HostCall {
            text: remote::call("lc_run", &cargs),
            reply: Reply::Bytes,
        }
    }

    /// Stops `names`; the reply is a line per group.
    pub fn stop(names: &[String]) -> HostCall {
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        lines(remote::call("lc_stop", &refs))
    }
}

/// The program's bare name and its arguments, for people.
fn short_words(program: &str, args: &[String]) -> String {
    std::iter::once(program)
        .chain(args.iter().map(String::as_str))
        .map(crate::util::shell_quote)
        .collect::<Vec<_>>()
        .join(" ")
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Configure(link) => write!(f, "configure {} {}", link.interface, link.cidr),
            Op::Ping { target, addr, .. } => write!(f, "ping {target} ({addr})"),
            // The set is named unless it is `rust`.
            Op::Deploy { set, bin } => match set.as_str() {
                "rust" => write!(f, "deploy the socket programs to {bin}"),
                "lab" => write!(f, "deploy the lab's programs (set `lab`) to {bin}"),
                name => write!(f, "deploy the socket programs (set `{name}`) to {bin}"),
            },
            Op::Capture {
                name,
                interface,
                filter,
                ..
            } => write!(f, "capture `{name}` on {interface}: {filter}"),
            Op::Start {
                name,
                program,
                args,
                ..
            } => write!(f, "start `{name}`: {}", short_words(program, args)),
            Op::Send { name, lines, pace } => {
                // A long send is named by its first lines and its count.
                let mut shown: Vec<String> = lines
                    .iter()
                    .take(3)
                    .map(|l| format!("{:?}", crate::record::dir::shown_line(l)))
                    .collect();
                if lines.len() > 3 {
                    shown.push(format!("… ({} lines)", lines.len()));
                }
                write!(f, "send `{name}` {}", shown.join(", "))?;
                if !pace.is_zero() {
                    write!(f, ", {}s apart", remote::shell_secs(*pace))?;
                }
                Ok(())
            }
            Op::Expect {
                name,
                stream,
                check,
            } => {
                let s = stream_name(*stream);
                match check {
                    PlanCheck::Match {
                        pattern, within, ..
                    } => write!(f, "`{name}` {s} /{pattern}/ within {}", secs(*within)),
                    PlanCheck::Absent {
                        pattern, window, ..
                    } => write!(f, "`{name}` {s} no /{pattern}/ for {}", secs(*window)),
                    PlanCheck::Exit { code, within } => write!(
                        f,
                        "`{name}` exits with status {code} within {}",
                        secs(*within)
                    ),
                }
            }
            Op::Run(r) => {
                write!(f, "run {}: exits {}", r.argv(), r.exit)?;
                if let Some(p) = &r.pattern {
                    write!(f, ", output /{p}/")?;
                }
                write!(f, " within {}", secs(r.timeout))
            }
            Op::Stop { names, .. } => {
                let ticked: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
                write!(f, "stop {}", ticked.join(", "))
            }
        }
    }
}

/// `plan.json`'s shape of an operation (what `plan.json` has always
/// recorded, captures' interface and filter added): the typed operation,
/// its text and its call rendered.
impl Serialize for PlanOp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Wire<'a> {
            host: &'a str,
            what: String,
            op: WireOp<'a>,
        }
        #[derive(Serialize)]
        #[serde(tag = "op", rename_all = "snake_case")]
        enum WireOp<'a> {
            Exec {
                cmd: String,
            },
            Ping {
                target: &'a str,
                cmd: String,
            },
            Deploy,
            Start {
                name: &'a str,
                program: &'a str,
                capture: bool,
                call: String,
                #[serde(skip_serializing_if = "Option::is_none")]
                interface: Option<&'a str>,
                #[serde(skip_serializing_if = "Option::is_none")]
                filter: Option<&'a str>,
            },
            Send {
                name: &'a str,
                lines: &'a [String],
                pace: Duration,
                call: String,
            },
            Expect {
                name: &'a str,
                stream: Stream,
                check: &'a PlanCheck,
            },
            Run {
                call: String,
                program: &'a str,
                argv: String,
                timeout: Duration,
                exit: i32,
                regex: Option<&'a Compiled>,
                pattern: Option<&'a str>,
                label: &'a str,
            },
            Stop {
                names: &'a [String],
                captures: &'a [String],
                call: String,
            },
        }
        let call = || self.op.shown().unwrap_or_default();
        let op = match &self.op {
            Op::Configure(_) => WireOp::Exec { cmd: call() },
            Op::Ping { target, .. } => WireOp::Ping {
                target,
                cmd: call(),
            },
            Op::Deploy { .. } => WireOp::Deploy,
            Op::Capture {
                name,
                interface,
                filter,
                ..
            } => WireOp::Start {
                name,
                program: "tcpdump",
                capture: true,
                call: call(),
                interface: Some(interface),
                filter: Some(filter),
            },
            Op::Start { name, program, .. } => WireOp::Start {
                name,
                program,
                capture: false,
                call: call(),
                interface: None,
                filter: None,
            },
            Op::Send { name, lines, pace } => WireOp::Send {
                name,
                lines,
                pace: *pace,
                call: call(),
            },
            Op::Expect {
                name,
                stream,
                check,
            } => WireOp::Expect {
                name,
                stream: *stream,
                check,
            },
            Op::Run(r) => WireOp::Run {
                call: call(),
                program: &r.program,
                argv: r.argv(),
                timeout: r.timeout,
                exit: r.exit,
                regex: r.regex.as_ref(),
                pattern: r.pattern.as_deref(),
                label: &r.label,
            },
            Op::Stop { names, captures } => WireOp::Stop {
                names,
                captures,
                call: call(),
            },
        };
        Wire {
            host: &self.host,
            what: self.what(),
            op,
        }
        .serialize(s)
    }
}

/// `stdout`, `stderr` or `output` (both).
pub(crate) fn stream_name(s: Stream) -> &'static str {
    match s {
        Stream::Stdout => "stdout",
        Stream::Stderr => "stderr",
        Stream::Both => "output",
    }
}

/// `2s`, `0.5s`.
pub(crate) fn secs(d: Duration) -> String {
    format!("{}s", remote::shell_secs(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn each_operation_renders_its_call_and_the_framing_of_its_reply() {
        let start = Op::Start {
            name: "server".into(),
            step: "I.6".into(),
            program: "tcp_server".into(),
            command: strings(&["/w/bin/tcp_server"]),
            args: strings(&["--port", "50000"]),
        };
        let c = start.call().unwrap();
        assert_eq!(c.text, "lc_start server I.6 /w/bin/tcp_server --port 50000");
        // labctl's own calls and ping print short text: framed by lines.
        assert_eq!(c.reply, Reply::Lines);
        assert_eq!(start.to_string(), "start `server`: tcp_server --port 50000");
        let ping = Op::Ping {
            target: "B".into(),
            addr: Ipv4Addr::new(10, 0, 3, 2),
            interface: "eth0".into(),
        };
        assert_eq!(ping.call().unwrap().reply, Reply::Lines);
        assert_eq!(ping.to_string(), "ping B (10.0.3.2)");
        let capture = Op::Capture {
            name: "cap".into(),
            step: "I.7".into(),
            interface: "eth0".into(),
            filter: "tcp port 50000".into(),
            sudo: true,
        };
        assert_eq!(
            capture.call().unwrap().text,
            "lc_start cap I.7 sudo -n tcpdump -i eth0 -n -U --immediate-mode -w cap.pcap 'tcp port 50000'"
        );
        assert_eq!(capture.to_string(), "capture `cap` on eth0: tcp port 50000");
        // A program's output, and configure's, may be anything: byte counts.
        let run = Op::Run(RunOp {
            program: "tcp_client".into(),
            command: strings(&["/w/bin/tcp_client"]),
            args: strings(&["--server", "10.0.3.1"]),
            timeout: Duration::from_secs(5),
            exit: 0,
            regex: None,
            pattern: None,
            label: "I.9-tcp_client".into(),
        });
        let c = run.call().unwrap();
        assert_eq!(c.text, "lc_run 5 /w/bin/tcp_client --server 10.0.3.1");
        assert_eq!(c.reply, Reply::Bytes);
        assert_eq!(
            run.to_string(),
            "run tcp_client --server 10.0.3.1: exits 0 within 5s"
        );
        let configure = Op::Configure(LabLink {
            interface: "eth0".into(),
            cidr: "10.0.3.1/24".into(),
            sudo: false,
        });
        assert_eq!(configure.call().unwrap().reply, Reply::Bytes);
        assert!(Op::Deploy {
            set: "rust".into(),
            bin: "/w/bin".into()
        }
        .call()
        .is_none());
    }
}
