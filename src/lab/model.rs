//! The validated lab: its steps, actions and checks as types (what the
//! planner and the executor read), and how a lab file becomes one: the
//! format is read in `format.rs`, then what spans steps is checked in
//! `validate.rs`; every problem is reported at once, located to
//! file:line:column, before any host is contacted.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use super::template::Template;
use super::{format, validate};
use crate::config::tree;
use crate::config::Source;
use crate::error::Error;

pub use super::validate::{resolve_hosts, Placed, Placement, Stopped};

/// The five socket programs a lab may start or run.
pub use crate::arch::PROGRAMS;

/// How long an expectation waits when the lab does not say.
pub const DEFAULT_WITHIN: Duration = Duration::from_secs(2);
/// How long a `run` action may take when the lab does not say.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest wait a lab may declare.
pub const MAX_WAIT: Duration = Duration::from_secs(600);

/// A validated lab.
#[derive(Debug, Clone)]
pub struct Lab {
    pub name: String,
    pub title: Option<String>,
    /// `[vars]`, as text.
    pub vars: BTreeMap<String, String>,
    /// In file order.
    pub steps: Vec<Step>,
    /// The questions the report answers (`[[question]]`), in file order.
    pub questions: Vec<Question>,
    /// Kept so later stages can locate what they report.
    pub source: Source,
    /// The programs `start` and `run` use: the lab's own `[programs]`
    /// table, else `rust`; [`crate::lab::Inputs::load_with_set`] may replace it while the inputs load.
    pub programs: crate::programs::ProgramSet,
}

#[derive(Debug, Clone)]
pub struct Step {
    pub id: String,
    pub title: String,
    /// The hosts the step works on (declared, or those of its actions).
    pub hosts: Vec<String>,
    pub needs: Vec<String>,
    pub actions: Vec<Action>,
    pub span: Range<usize>,
}

/// A question of the lab's handout, answered in the report from the
/// evidence of the steps it names (`[[question]]`), by a rule or by the
/// evidence it declares. Written into the run directory as
/// `questions.json` ([`super::evidence::records`]), which the report reads.
#[derive(Debug, Clone)]
pub struct Question {
    /// As the handout numbers it: `I.1(a)`, `II.3`.
    pub id: String,
    /// The question, in the lab's words.
    pub text: String,
    /// The steps whose captures and output hold the evidence; the question
    /// is answered only when every one of them passed in the run.
    pub evidence: Vec<String>,
    /// Steps the answer compares with when they passed in the same run
    /// (e.g. Part I's queued client for Part II's threaded server).
    pub compare: Vec<String>,
    /// Which rule answers it (one of [`RULES`]), or none: its `shows` do.
    pub answer: Option<Rule>,
    /// The evidence it declares (`frames`, `output`, `exit`), in file order.
    pub shows: Vec<super::evidence::Spec>,
    /// The lab's explanation of what the evidence shows (`why`), for the answer key.
    pub why: Option<String>,
    pub span: Range<usize>,
}

/// How a question is answered: each rule reads one kind of evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// The frames of a TCP client's start (handshake) and of each line it sent.
    TcpFrames,
    /// The socket addresses in a TCP exchange's data frames, and their use.
    TcpAddresses,
    /// A second server on a busy port: its exit status and error line.
    BusyPort,
    /// A client of a busy iterative server: queued by the kernel, served later.
    TcpQueued,
    /// How UDP's frames differ from TCP's: no handshake, a datagram each way.
    UdpFrames,
    /// A second UDP client answered at once (unlike a queued TCP client).
    UdpNoWait,
    /// Clients served at the same time by a threaded server.
    TcpConcurrent,
    /// A TCP server's socket addresses and the sockets it created.
    ServerSockets,
    /// The clients' socket addresses and the sockets each client host created.
    ClientSockets,
}

/// Every rule by its keyword in the lab file, in the order the seed lab uses them.
pub const RULES: [(&str, Rule); 9] = [
    ("tcp-frames", Rule::TcpFrames),
    ("tcp-addresses", Rule::TcpAddresses),
    ("busy-port", Rule::BusyPort),
    ("tcp-queued", Rule::TcpQueued),
    ("udp-frames", Rule::UdpFrames),
    ("udp-no-wait", Rule::UdpNoWait),
    ("tcp-concurrent", Rule::TcpConcurrent),
    ("server-sockets", Rule::ServerSockets),
    ("client-sockets", Rule::ClientSockets),
];

impl Rule {
    /// Its keyword in the lab file.
    pub fn keyword(self) -> &'static str {
        RULES
            .iter()
            .find(|(_, r)| *r == self)
            .map(|(k, _)| *k)
            .expect("every rule has a keyword")
    }
}

#[derive(Debug, Clone)]
pub struct Action {
    pub kind: ActionKind,
    pub span: Range<usize>,
}

#[derive(Debug, Clone)]
pub enum ActionKind {
    /// Give the lab interface its address; link up.
    Configure { hosts: Vec<String> },
    /// Put the socket programs on the hosts.
    Deploy { hosts: Vec<String> },
    /// From each of `from`, ping each of `to` (but itself) over the lab network.
    Ping { from: Vec<String>, to: Vec<String> },
    /// tcpdump on the lab interface of `host` under `name`, until stopped.
    Capture {
        name: String,
        host: String,
        filter: Template,
    },
    /// A background socket program under `name`.
    Start {
        name: String,
        host: String,
        program: String,
        args: Vec<Template>,
    },
    /// Lines to a program's stdin, `pace` apart.
    Send {
        name: String,
        lines: Vec<Template>,
        pace: Duration,
    },
    Expect {
        name: String,
        stream: Stream,
        check: Check,
    },
    /// A foreground socket program on each host, bounded by `timeout`.
    Run {
        hosts: Vec<String>,
        program: String,
        args: Vec<Template>,
        timeout: Duration,
        exit: i32,
        pattern: Option<Template>,
    },
    /// SIGINT, then TERM, then KILL, for each name.
    Stop { names: Vec<String> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
    Both,
}

#[derive(Debug, Clone)]
pub enum Check {
    /// A line matching `pattern` appears within `within`.
    Match { pattern: Template, within: Duration },
    /// No line matching `pattern` appears for `window`.
    Absent { pattern: Template, window: Duration },
    /// The program ends with `code` within `within`.
    Exit { code: i32, within: Duration },
}

impl ActionKind {
    /// The action's keyword, as in the lab file.
    pub fn keyword(&self) -> &'static str {
        match self {
            ActionKind::Configure { .. } => "configure",
            ActionKind::Deploy { .. } => "deploy",
            ActionKind::Ping { .. } => "ping",
            ActionKind::Capture { .. } => "capture",
            ActionKind::Start { .. } => "start",
            ActionKind::Send { .. } => "send",
            ActionKind::Expect { .. } => "expect",
            ActionKind::Run { .. } => "run",
            ActionKind::Stop { .. } => "stop",
        }
    }
}

impl Lab {
    /// Reads and validates the lab file against the host names of the bench(es).
    pub fn load(path: &Path, hosts: &[String]) -> Result<Lab, Error> {
        Lab::from_source(Source::read(path)?, hosts)
    }

    /// Validates `source`; every problem found is in the returned error.
    pub fn from_source(source: Source, hosts: &[String]) -> Result<Lab, Error> {
        let root = tree::parse(&source)?;
        let (lab, mut diags) = format::read(&source, &root, hosts);
        if let Some(lab) = &lab {
            diags.extend(validate::check_graph(lab));
        }
        let lab = lab.unwrap_or_else(|| Lab {
            name: String::new(),
            title: None,
            vars: BTreeMap::new(),
            steps: Vec::new(),
            questions: Vec::new(),
            source: source.clone(),
            programs: crate::programs::ProgramSet::rust(),
        });
        validate::dedup(&mut diags);
        diags.into_result(lab)
    }

    pub fn step(&self, id: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.id == id)
    }

    /// Each step's `needs` as step indexes (unknown ids left out), read
    /// through one map of the ids: linear in the lab's size.
    pub fn need_indexes(&self) -> Vec<Vec<usize>> {
        let index: std::collections::HashMap<&str, usize> = self
            .steps
            .iter()
            .enumerate()
            .rev()
            .map(|(i, s)| (s.id.as_str(), i))
            .collect();
        self.steps
            .iter()
            .map(|s| {
                s.needs
                    .iter()
                    .filter_map(|d| index.get(d.as_str()).copied())
                    .collect()
            })
            .collect()
    }

    /// Every step in the order a whole run takes them: file order, except
    /// that a step runs after the steps it needs (of the steps whose needs
    /// have all run, the first in the file; a heap of them: n log n).
    pub fn run_order(&self) -> Vec<usize> {
        use std::cmp::Reverse;
        use std::collections::BinaryHeap;
        let needs = self.need_indexes();
        let n = self.steps.len();
        let mut waiting: Vec<usize> = needs.iter().map(Vec::len).collect();
        let mut needed_by: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, ns) in needs.iter().enumerate() {
            for &j in ns {
                needed_by[j].push(i);
            }
        }
        let mut ready: BinaryHeap<Reverse<usize>> =
            (0..n).filter(|&i| waiting[i] == 0).map(Reverse).collect();
        let mut done = vec![false; n];
        let mut order = Vec::with_capacity(n);
        while order.len() < n {
            // A cycle was refused by validation; file order if one slipped through.
            let i = match ready.pop() {
                Some(Reverse(i)) if !done[i] => i,
                Some(_) => continue,
                None => (0..n).find(|&i| !done[i]).expect("steps remain"),
            };
            done[i] = true;
            order.push(i);
            for &k in &needed_by[i] {
                waiting[k] = waiting[k].saturating_sub(1);
                if waiting[k] == 0 && !done[k] {
                    ready.push(Reverse(k));
                }
            }
        }
        order
    }

    /// The steps `targets` need, transitively, and the targets, in run order.
    pub fn closure(&self, targets: &[usize]) -> Vec<usize> {
        let needs = self.need_indexes();
        let mut want = BTreeSet::new();
        let mut todo: Vec<usize> = targets.to_vec();
        while let Some(i) = todo.pop() {
            if want.insert(i) {
                todo.extend(needs[i].iter().copied());
            }
        }
        self.run_order()
            .into_iter()
            .filter(|i| want.contains(i))
            .collect()
    }

    /// Where in the file `span` starts, as `file:line:col`.
    pub fn locate(&self, span: &Range<usize>) -> String {
        let (l, c) = self.source.line_col(span.start);
        format!("{}:{l}:{c}", self.source.path.display())
    }
}

/// The hosts an action names directly (named programs' hosts come from simulation).
pub fn action_hosts(kind: &ActionKind) -> &[String] {
    match kind {
        ActionKind::Configure { hosts }
        | ActionKind::Deploy { hosts }
        | ActionKind::Run { hosts, .. } => hosts,
        ActionKind::Ping { from, .. } => from,
        ActionKind::Capture { host, .. } | ActionKind::Start { host, .. } => {
            std::slice::from_ref(host)
        }
        ActionKind::Send { .. } | ActionKind::Expect { .. } | ActionKind::Stop { .. } => &[],
    }
}
