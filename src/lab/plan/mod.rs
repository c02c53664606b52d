//! The [`Plan`]: a validated lab, a bench and a step selection turned into
//! data — for each step, for each host, the exact commands. `labctl plan`
//! prints it, `run --dry-run` walks it without effects, `run` executes it.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::Duration;

use super::model::{resolve_hosts, ActionKind, Check, Lab, Stream};
pub use super::select::{select_steps, StepChoice};
use super::template::{Scope, Template};
use crate::config::hosts::{Bench, Host};
use crate::error::{Diagnostics, Error};
use crate::hostops;
use crate::remote;

mod model;
pub use model::*;

/// The names templates may use on `host` of `bench`.
pub fn scope(lab: &Lab, bench: &Bench, host: &Host) -> Scope {
    let mut values = lab.vars.clone();
    let fields = |h: &Host| {
        [
            ("addr", h.addr.to_string()),
            ("cidr", h.cidr()),
            ("iface", h.interface.clone()),
            ("bin", hostops::bin_dir(h)),
            ("workdir", h.workdir.clone()),
            ("host", h.name.clone()),
        ]
    };
    for h in &bench.hosts {
        for (f, v) in fields(h) {
            values.insert(format!("{}.{f}", h.name), v);
        }
    }
    for (f, v) in fields(host) {
        values.insert(f.to_string(), v);
    }
    Scope { values }
}

impl Plan {
    /// Plans `selection` of `lab` on `bench` for run `run_id`.
    pub fn build(
        lab: &Lab,
        bench: &Bench,
        selection: &[(usize, bool)],
        run_id: &str,
    ) -> Result<Plan, Error> {
        let seq: Vec<usize> = selection.iter().map(|(i, _)| *i).collect();
        let resolved = resolve_hosts(lab, &seq).map_err(|d| {
            let mut all = Diagnostics::default();
            all.push(d);
            Error::Input(all)
        })?;
        let host = |name: &str| -> Result<&Host, Error> {
            bench.host(name).ok_or_else(|| {
                Error::Usage(format!(
                    "bench `{}` has no host `{name}`, which the lab uses",
                    bench.name
                ))
            })
        };
        let mut used = BTreeSet::new();
        let mut steps = Vec::new();
        for (k, &(i, needed)) in selection.iter().enumerate() {
            let step = &lab.steps[i];
            let mut actions = Vec::new();
            for (a, hosts) in step.actions.iter().zip(&resolved[k]) {
                let mut ops = Vec::new();
                let mut push = |h: &Host, what: String, op: Op| {
                    used.insert(h.name.clone());
                    ops.push(PlanOp {
                        host: h.name.clone(),
                        what,
                        op,
                    });
                };
                match &a.kind {
                    ActionKind::Configure { hosts } => {
                        for h in hosts {
                            let h = host(h)?;
                            push(
                                h,
                                format!("configure {} {}", h.interface, h.cidr()),
                                Op::Exec {
                                    cmd: hostops::configure_cmd(h),
                                },
                            );
                        }
                    }
                    ActionKind::Deploy { hosts } => {
                        for h in hosts {
                            let h = host(h)?;
                            push(h, deploy_what(&lab.programs, h), Op::Deploy);
                        }
                    }
                    ActionKind::Ping { from, to } => {
                        for f in from {
                            let fh = host(f)?;
                            for t in to.iter().filter(|t| *t != f) {
                                let th = host(t)?;
                                push(
                                    fh,
                                    format!("ping {t} ({})", th.addr),
                                    Op::Ping {
                                        target: t.clone(),
                                        cmd: hostops::ping_cmd(
                                            fh,
                                            th.addr,
                                            PING_COUNT,
                                            PING_WAIT_S,
                                        ),
                                    },
                                );
                            }
                        }
                    }
                    ActionKind::Capture {
                        name,
                        host: h,
                        filter,
                    } => {
                        let h = host(h)?;
                        let sc = scope(lab, bench, h);
                        let filter = filter.expand(&sc);
                        let argv = remote::capture_argv(h, &format!("{name}.pcap"), &filter);
                        let mut args = vec![name.as_str(), step.id.as_str()];
                        args.extend(argv.iter().map(String::as_str));
                        push(
                            h,
                            format!("capture `{name}` on {}: {filter}", h.interface),
                            Op::Start {
                                name: name.clone(),
                                program: "tcpdump".into(),
                                capture: true,
                                call: remote::call("lc_start", &args),
                            },
                        );
                        push(
                            h,
                            format!(
                                "`{name}` stderr /listening on/ within {}",
                                secs(CAPTURE_READY)
                            ),
                            Op::Expect {
                                name: name.clone(),
                                stream: Stream::Stderr,
                                check: PlanCheck::Match {
                                    regex: Compiled::new("listening on")?,
                                    pattern: "listening on".into(),
                                    within: CAPTURE_READY,
                                },
                            },
                        );
                    }
                    ActionKind::Start {
                        name,
                        host: h,
                        program,
                        args,
                    } => {
                        let h = host(h)?;
                        let sc = scope(lab, bench, h);
                        let argv = program_argv(&lab.programs, h, program, args, &sc);
                        let mut cargs = vec![name.as_str(), step.id.as_str()];
                        cargs.extend(argv.iter().map(String::as_str));
                        push(
                            h,
                            format!(
                                "start `{name}`: {}",
                                words(&short_argv(&lab.programs, h, program, &argv))
                            ),
                            Op::Start {
                                name: name.clone(),
                                program: program.clone(),
                                capture: false,
                                call: remote::call("lc_start", &cargs),
                            },
                        );
                    }
                    ActionKind::Send { name, lines, pace } => {
                        let h = host(&hosts[0])?;
                        let sc = scope(lab, bench, h);
                        let lines: Vec<String> = lines.iter().map(|l| l.expand(&sc)).collect();
                        let p = remote::shell_secs(*pace);
                        let mut args = vec![name.as_str(), p.as_str()];
                        args.extend(lines.iter().map(String::as_str));
                        // A long send is named by its first lines and its count.
                        let mut shown: Vec<String> = lines
                            .iter()
                            .take(3)
                            .map(|l| format!("{:?}", crate::record::dir::shown_line(l)))
                            .collect();
                        if lines.len() > 3 {
                            shown.push(format!("… ({} lines)", lines.len()));
                        }
                        let paced = if pace.is_zero() {
                            String::new()
                        } else {
                            format!(", {}s apart", p)
                        };
                        let call = remote::call("lc_send", &args);
                        push(
                            h,
                            format!("send `{name}` {}{paced}", shown.join(", ")),
                            Op::Send {
                                name: name.clone(),
                                lines,
                                pace: *pace,
                                call,
                            },
                        );
                    }
                    ActionKind::Expect {
                        name,
                        stream,
                        check,
                    } => {
                        let h = host(&hosts[0])?;
                        let sc = scope(lab, bench, h);
                        let s = stream_name(*stream);
                        let (what, check) = match check {
                            Check::Match { pattern, within } => (
                                format!(
                                    "`{name}` {s} /{}/ within {}",
                                    pattern.expand(&sc),
                                    secs(*within)
                                ),
                                PlanCheck::Match {
                                    regex: Compiled::new(&pattern.expand_regex(&sc))?,
                                    pattern: pattern.expand(&sc),
                                    within: *within,
                                },
                            ),
                            Check::Absent { pattern, window } => (
                                format!(
                                    "`{name}` {s} no /{}/ for {}",
                                    pattern.expand(&sc),
                                    secs(*window)
                                ),
                                PlanCheck::Absent {
                                    regex: Compiled::new(&pattern.expand_regex(&sc))?,
                                    pattern: pattern.expand(&sc),
                                    window: *window,
                                },
                            ),
                            Check::Exit { code, within } => (
                                format!(
                                    "`{name}` exits with status {code} within {}",
                                    secs(*within)
                                ),
                                PlanCheck::Exit {
                                    code: *code,
                                    within: *within,
                                },
                            ),
                        };
                        push(
                            h,
                            what,
                            Op::Expect {
                                name: name.clone(),
                                stream: *stream,
                                check,
                            },
                        );
                    }
                    ActionKind::Run {
                        hosts,
                        program,
                        args,
                        timeout,
                        exit,
                        pattern,
                    } => {
                        for hn in hosts {
                            let h = host(hn)?;
                            let sc = scope(lab, bench, h);
                            let argv = program_argv(&lab.programs, h, program, args, &sc);
                            let t = remote::shell_secs(*timeout);
                            let mut cargs = vec![t.as_str()];
                            cargs.extend(argv.iter().map(String::as_str));
                            let regex = pattern
                                .as_ref()
                                .map(|p| Compiled::new(&p.expand_regex(&sc)))
                                .transpose()?;
                            let shown = pattern
                                .as_ref()
                                .map(|p| format!(", output /{}/", p.expand(&sc)))
                                .unwrap_or_default();
                            let short = words(&short_argv(&lab.programs, h, program, &argv));
                            push(
                                h,
                                format!(
                                    "run {short}: exits {exit}{shown} within {}",
                                    secs(*timeout)
                                ),
                                Op::Run {
                                    call: remote::call("lc_run", &cargs),
                                    program: program.clone(),
                                    argv: short,
                                    timeout: *timeout,
                                    exit: *exit,
                                    regex,
                                    pattern: pattern.as_ref().map(|p| p.expand(&sc)),
                                    label: format!("{}-{program}", step.id),
                                },
                            );
                        }
                    }
                    ActionKind::Stop { names } => {
                        // Group the names by host, in first-seen order.
                        let mut by_host: Vec<(String, Vec<String>)> = Vec::new();
                        for (n, h) in names.iter().zip(hosts) {
                            match by_host.iter_mut().find(|(x, _)| x == h) {
                                Some((_, v)) => v.push(n.clone()),
                                None => by_host.push((h.clone(), vec![n.clone()])),
                            }
                        }
                        for (hn, names) in by_host {
                            let h = host(&hn)?;
                            let captures: Vec<String> = names
                                .iter()
                                .filter(|n| is_capture(lab, &seq[..=k], n))
                                .cloned()
                                .collect();
                            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                            let ticked: Vec<String> =
                                names.iter().map(|n| format!("`{n}`")).collect();
                            push(
                                h,
                                format!("stop {}", ticked.join(", ")),
                                Op::Stop {
                                    call: remote::call("lc_stop", &refs),
                                    names,
                                    captures,
                                },
                            );
                        }
                    }
                }
                let keyword = a.kind.keyword();
                match actions.last_mut() {
                    // Captures only watch: consecutive ones on different
                    // hosts start at once (each still waits to be ready
                    // before the step goes on), as a student starts
                    // tcpdump on two Pis side by side.
                    Some(last) if joins_captures(last, keyword, &ops) => last.ops.extend(ops),
                    _ => actions.push(PlanAction { keyword, ops }),
                }
            }
            steps.push(PlanStep {
                id: step.id.clone(),
                title: step.title.clone(),
                needed,
                actions,
            });
        }
        Ok(Plan {
            lab: lab.name.clone(),
            bench: bench.name.clone(),
            run_id: run_id.to_string(),
            hosts: bench
                .hosts
                .iter()
                .filter(|h| used.contains(&h.name))
                .map(|h| h.name.clone())
                .collect(),
            steps,
        })
    }

    /// The names of the programs (and captures) the plan starts on `host`,
    /// each once, in the order of their first start.
    pub fn started_on(&self, host: &str) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for o in self
            .steps
            .iter()
            .flat_map(|s| &s.actions)
            .flat_map(|a| &a.ops)
        {
            if let Op::Start { name, .. } = &o.op {
                if o.host == host && !names.contains(name) {
                    names.push(name.clone());
                }
            }
        }
        names
    }

    /// The sum of the waits the lab declares (absent windows, pacing).
    pub fn declared_wait(&self) -> Duration {
        self.steps
            .iter()
            .flat_map(|s| &s.actions)
            .flat_map(|a| &a.ops)
            .map(|o| o.op.declared_wait())
            .sum()
    }

    /// The plan as text: per step, per host, the exact commands; then the
    /// variables and shell functions every `lc_*` call runs with.
    pub fn render(&self, bench: &Bench) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "lab `{}` on bench `{}`: {} step{}, run `{}`",
            self.lab,
            self.bench,
            self.steps.len(),
            if self.steps.len() == 1 { "" } else { "s" },
            self.run_id
        );
        for st in &self.steps {
            let needed = if st.needed { "  (needed)" } else { "" };
            let _ = writeln!(s, "\n{}  {}{needed}", st.id, st.title);
            s += &st.render_ops();
        }
        let _ = writeln!(s, "\nEach `lc_*` call runs on its host in the run's agent: one shell on one SSH channel, started as\n  exec setsid -w sh -c '<the variables below; the functions below; lc_agent>'\nwhich stops the run's programs when the channel closes.");
        for h in &self.hosts {
            if let Some(host) = bench.host(h) {
                let _ = write!(s, "  {h}  {}", remote::header(host, &self.run_id));
            }
        }
        let _ = writeln!(s, "\n{}", remote::lib().trim_end());
        s
    }
}

impl PlanStep {
    /// The step's ops as `plan` shows them: per op, `HOST  # what` and the
    /// exact command (`run --pause` shows the same lines before a step).
    pub fn render_ops(&self) -> String {
        let mut s = String::new();
        for a in &self.actions {
            for o in &a.ops {
                let _ = writeln!(s, "  {}  # {}", o.host, o.what);
                if let Some(cmd) = o.op.shown() {
                    // A command of several lines (configure's) keeps them under its `$`.
                    let pad = " ".repeat(o.host.chars().count() + 4);
                    let cmd = cmd.replace('\n', &format!("\n  {pad}"));
                    let _ = writeln!(s, "  {}  $ {cmd}", o.host);
                }
            }
        }
        s
    }
}

/// Whether the capture ops `ops` (of an action `keyword`) join `last`: both
/// are captures, on different hosts.
fn joins_captures(last: &PlanAction, keyword: &str, ops: &[PlanOp]) -> bool {
    const CAPTURE: &str = "capture";
    keyword == CAPTURE
        && last.keyword == CAPTURE
        && !ops
            .iter()
            .any(|o| last.ops.iter().any(|l| l.host == o.host))
}

fn is_capture(lab: &Lab, seq: &[usize], name: &str) -> bool {
    // The most recent start of `name` in the sequence decides.
    let mut cap = false;
    for &i in seq {
        for a in &lab.steps[i].actions {
            match &a.kind {
                ActionKind::Capture { name: n, .. } if n == name => cap = true,
                ActionKind::Start { name: n, .. } if n == name => cap = false,
                _ => {}
            }
        }
    }
    cap
}

/// The programs the plan starts or runs on each host (its captures' tcpdump
/// aside): what [`crate::programs::probe`] looks for before the run.
pub fn programs_by_host(plan: &Plan) -> std::collections::BTreeMap<String, BTreeSet<String>> {
    let mut out: std::collections::BTreeMap<String, BTreeSet<String>> = Default::default();
    for o in plan
        .steps
        .iter()
        .flat_map(|s| &s.actions)
        .flat_map(|a| &a.ops)
    {
        let program = match &o.op {
            Op::Start {
                program,
                capture: false,
                ..
            }
            | Op::Run { program, .. } => program,
            _ => continue,
        };
        out.entry(o.host.clone())
            .or_default()
            .insert(program.clone());
    }
    out
}

/// A port a server of the lab binds on one of the bench's hosts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServerPort {
    pub host: String,
    /// `tcp` or `udp`.
    pub proto: &'static str,
    pub port: u16,
}

/// The ports the lab's servers bind on `bench` (every `start` and `run` of a
/// program whose name says `server`), their `--port` expanded as the plan
/// expands it (the programs' default, [`hostops::LAB_PORT`], without one);
/// `labctl check` makes sure they are free. Sorted, no duplicates.
pub fn server_ports(lab: &Lab, bench: &Bench) -> Vec<ServerPort> {
    server_ports_in(lab, bench, |_| true)
}

/// [`server_ports`] of the steps `run` keeps (a plan's: `labctl run`
/// refuses to start when one of them is taken by a program it did not start).
pub fn server_ports_in(lab: &Lab, bench: &Bench, run: impl Fn(&str) -> bool) -> Vec<ServerPort> {
    let mut out = BTreeSet::new();
    for step in lab.steps.iter().filter(|s| run(&s.id)) {
        for a in &step.actions {
            let (hosts, program, args) = match &a.kind {
                ActionKind::Start {
                    host,
                    program,
                    args,
                    ..
                } => (std::slice::from_ref(host), program, args),
                ActionKind::Run {
                    hosts,
                    program,
                    args,
                    ..
                } => (hosts.as_slice(), program, args),
                _ => continue,
            };
            if !program.contains("server") {
                continue;
            }
            for h in hosts.iter().filter_map(|n| bench.host(n)) {
                let argv = program_argv(&lab.programs, h, program, args, &scope(lab, bench, h));
                let mut port = Some(hostops::LAB_PORT);
                for (k, w) in argv.iter().enumerate() {
                    if let Some(v) = w.strip_prefix("--port=") {
                        port = v.parse().ok();
                    } else if w == "--port" {
                        port = argv.get(k + 1).and_then(|v| v.parse().ok());
                    }
                }
                if let Some(port) = port {
                    out.insert(ServerPort {
                        host: h.name.clone(),
                        proto: if program.starts_with("udp") {
                            "udp"
                        } else {
                            "tcp"
                        },
                        port,
                    });
                }
            }
        }
    }
    out.into_iter().collect()
}

/// The program's command line in the lab's program set (`<bin>/program`,
/// `python3 <bin>/program.py` …), then the expanded arguments.
fn program_argv(
    set: &crate::programs::ProgramSet,
    host: &Host,
    program: &str,
    args: &[Template],
    sc: &Scope,
) -> Vec<String> {
    let mut argv = set.argv(host, program);
    argv.extend(args.iter().map(|a| a.expand(sc)));
    argv
}

/// What a deploy op does, for people; the set is named unless it is `rust`.
fn deploy_what(set: &crate::programs::ProgramSet, h: &Host) -> String {
    match set.name.as_str() {
        "rust" => format!("deploy the socket programs to {}", hostops::bin_dir(h)),
        "lab" => format!(
            "deploy the lab's programs (set `lab`) to {}",
            hostops::bin_dir(h)
        ),
        name => format!(
            "deploy the socket programs (set `{name}`) to {}",
            hostops::bin_dir(h)
        ),
    }
}

/// The argv with the program's bare name, for people.
fn short_argv(
    set: &crate::programs::ProgramSet,
    host: &Host,
    program: &str,
    argv: &[String],
) -> Vec<String> {
    let skip = set.argv(host, program).len();
    let mut v = vec![program.to_string()];
    v.extend(argv.iter().skip(skip).cloned());
    v
}

fn words(argv: &[String]) -> String {
    argv.iter()
        .map(|a| crate::util::shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn stream_name(s: Stream) -> &'static str {
    match s {
        Stream::Stdout => "stdout",
        Stream::Stderr => "stderr",
        Stream::Both => "output",
    }
}

/// `2s`, `0.5s`.
pub fn secs(d: Duration) -> String {
    format!("{}s", remote::shell_secs(d))
}
