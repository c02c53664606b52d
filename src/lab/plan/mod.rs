//! The [`Plan`]: a validated lab, a bench and a step selection turned into
//! data — for each step, for each host, the exact commands. `labctl plan`
//! prints it, `run --dry-run` walks it without effects, `run` executes it.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::Duration;

use super::model::{
    resolve_hosts, ActionKind, Check, Lab, Placed, Placement, Step, Stopped, Stream,
};
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
        let mut used = BTreeSet::new();
        let mut steps = Vec::new();
        for (&(i, needed), placed) in selection.iter().zip(resolved) {
            let step = &lab.steps[i];
            let b = Builder { lab, bench, step };
            let mut actions: Vec<PlanAction> = Vec::new();
            for Placed { action, at } in placed {
                let ops = b.action(&action.kind, at)?;
                used.extend(ops.iter().map(|o| o.host.clone()));
                let keyword = action.kind.keyword();
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
                let _ = writeln!(s, "  {}  # {}", o.host, o.op);
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

/// Plans the actions of one step: one function per action kind, each
/// giving the action's operations.
struct Builder<'a> {
    lab: &'a Lab,
    bench: &'a Bench,
    step: &'a Step,
}

impl Builder<'_> {
    fn action(&self, kind: &ActionKind, at: Placement) -> Result<Vec<PlanOp>, Error> {
        let on = |at: Placement| match at {
            Placement::On(h) => Ok(h),
            // Validation places every send and expectation.
            _ => Err(Error::Usage(format!(
                "step `{}`: `{}` names no running program",
                self.step.id,
                kind.keyword()
            ))),
        };
        match kind {
            ActionKind::Configure { hosts } => self.configure(hosts),
            ActionKind::Deploy { hosts } => self.deploy(hosts),
            ActionKind::Ping { from, to } => self.ping(from, to),
            ActionKind::Capture { name, host, filter } => self.capture(name, host, filter),
            ActionKind::Start {
                name,
                host,
                program,
                args,
            } => self.start(name, host, program, args),
            ActionKind::Send { name, lines, pace } => self.send(&on(at)?, name, lines, *pace),
            ActionKind::Expect {
                name,
                stream,
                check,
            } => self.expect(&on(at)?, name, *stream, check),
            ActionKind::Run {
                hosts,
                program,
                args,
                timeout,
                exit,
                pattern,
            } => self.run(hosts, program, args, *timeout, *exit, pattern.as_ref()),
            ActionKind::Stop { .. } => match at {
                Placement::Stops(stops) => self.stop(stops),
                _ => Ok(Vec::new()),
            },
        }
    }

    fn host(&self, name: &str) -> Result<&Host, Error> {
        self.bench.host(name).ok_or_else(|| {
            Error::Usage(format!(
                "bench `{}` has no host `{name}`, which the lab uses",
                self.bench.name
            ))
        })
    }

    fn scope(&self, h: &Host) -> Scope {
        scope(self.lab, self.bench, h)
    }

    fn configure(&self, hosts: &[String]) -> Result<Vec<PlanOp>, Error> {
        hosts
            .iter()
            .map(|h| {
                let h = self.host(h)?;
                Ok(op(h, Op::Configure(hostops::LabLink::of(h))))
            })
            .collect()
    }

    fn deploy(&self, hosts: &[String]) -> Result<Vec<PlanOp>, Error> {
        hosts
            .iter()
            .map(|h| {
                let h = self.host(h)?;
                Ok(op(
                    h,
                    Op::Deploy {
                        set: self.lab.programs.name.clone(),
                        bin: hostops::bin_dir(h),
                    },
                ))
            })
            .collect()
    }

    fn ping(&self, from: &[String], to: &[String]) -> Result<Vec<PlanOp>, Error> {
        let mut ops = Vec::new();
        for f in from {
            let fh = self.host(f)?;
            for t in to.iter().filter(|t| *t != f) {
                let th = self.host(t)?;
                ops.push(op(
                    fh,
                    Op::Ping {
                        target: t.clone(),
                        addr: th.addr,
                        interface: fh.interface.clone(),
                    },
                ));
            }
        }
        Ok(ops)
    }

    /// A capture, and its wait for tcpdump's `listening on`.
    fn capture(&self, name: &str, host: &str, filter: &Template) -> Result<Vec<PlanOp>, Error> {
        let h = self.host(host)?;
        let filter = filter.expand(&self.scope(h));
        Ok(vec![
            op(
                h,
                Op::Capture {
                    name: name.to_string(),
                    step: self.step.id.clone(),
                    interface: h.interface.clone(),
                    filter,
                    sudo: h.sudo,
                },
            ),
            op(
                h,
                Op::Expect {
                    name: name.to_string(),
                    stream: Stream::Stderr,
                    check: PlanCheck::Match {
                        regex: Compiled::new("listening on")?,
                        pattern: "listening on".into(),
                        within: CAPTURE_READY,
                    },
                },
            ),
        ])
    }

    fn start(
        &self,
        name: &str,
        host: &str,
        program: &str,
        args: &[Template],
    ) -> Result<Vec<PlanOp>, Error> {
        let h = self.host(host)?;
        let sc = self.scope(h);
        Ok(vec![op(
            h,
            Op::Start {
                name: name.to_string(),
                step: self.step.id.clone(),
                program: program.to_string(),
                command: self.lab.programs.argv(h, program),
                args: args.iter().map(|a| a.expand(&sc)).collect(),
            },
        )])
    }

    fn send(
        &self,
        host: &str,
        name: &str,
        lines: &[Template],
        pace: Duration,
    ) -> Result<Vec<PlanOp>, Error> {
        let h = self.host(host)?;
        let sc = self.scope(h);
        Ok(vec![op(
            h,
            Op::Send {
                name: name.to_string(),
                lines: lines.iter().map(|l| l.expand(&sc)).collect(),
                pace,
            },
        )])
    }

    fn expect(
        &self,
        host: &str,
        name: &str,
        stream: Stream,
        check: &Check,
    ) -> Result<Vec<PlanOp>, Error> {
        let h = self.host(host)?;
        let sc = self.scope(h);
        let check = match check {
            Check::Match { pattern, within } => PlanCheck::Match {
                regex: Compiled::new(&pattern.expand_regex(&sc))?,
                pattern: pattern.expand(&sc),
                within: *within,
            },
            Check::Absent { pattern, window } => PlanCheck::Absent {
                regex: Compiled::new(&pattern.expand_regex(&sc))?,
                pattern: pattern.expand(&sc),
                window: *window,
            },
            Check::Exit { code, within } => PlanCheck::Exit {
                code: *code,
                within: *within,
            },
        };
        Ok(vec![op(
            h,
            Op::Expect {
                name: name.to_string(),
                stream,
                check,
            },
        )])
    }

    fn run(
        &self,
        hosts: &[String],
        program: &str,
        args: &[Template],
        timeout: Duration,
        exit: i32,
        pattern: Option<&Template>,
    ) -> Result<Vec<PlanOp>, Error> {
        hosts
            .iter()
            .map(|hn| {
                let h = self.host(hn)?;
                let sc = self.scope(h);
                Ok(op(
                    h,
                    Op::Run(RunOp {
                        program: program.to_string(),
                        command: self.lab.programs.argv(h, program),
                        args: args.iter().map(|a| a.expand(&sc)).collect(),
                        timeout,
                        exit,
                        regex: pattern
                            .map(|p| Compiled::new(&p.expand_regex(&sc)))
                            .transpose()?,
                        pattern: pattern.map(|p| p.expand(&sc)),
                        label: format!("{}-{program}", self.step.id),
                    }),
                ))
            })
            .collect()
    }

    /// One stop per host, its names in the action's order; the hosts in
    /// the order of their first name.
    fn stop(&self, stops: Vec<Stopped>) -> Result<Vec<PlanOp>, Error> {
        let mut by_host: Vec<(String, Vec<Stopped>)> = Vec::new();
        for s in stops {
            match by_host.iter_mut().find(|(h, _)| *h == s.host) {
                Some((_, v)) => v.push(s),
                None => by_host.push((s.host.clone(), vec![s])),
            }
        }
        by_host
            .into_iter()
            .map(|(hn, stops)| {
                let h = self.host(&hn)?;
                Ok(op(
                    h,
                    Op::Stop {
                        captures: stops
                            .iter()
                            .filter(|s| s.capture)
                            .map(|s| s.name.clone())
                            .collect(),
                        names: stops.into_iter().map(|s| s.name).collect(),
                    },
                ))
            })
            .collect()
    }
}

fn op(h: &Host, op: Op) -> PlanOp {
    PlanOp {
        host: h.name.clone(),
        op,
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
            Op::Start { program, .. } | Op::Run(RunOp { program, .. }) => program,
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
/// expands it (the programs' default, [`crate::arch::LAB_PORT`], without one);
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
                let mut port = Some(crate::arch::LAB_PORT);
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
