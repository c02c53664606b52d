//! The lab's story, frame by frame: which step and which action caused
//! each captured frame (`I.8: client-B sends "hello"`, `I.10: client-C
//! connects to the server on A`), for the comments of the captures' pcapng
//! copies, so a student who opens one in Wireshark reads the lab in its
//! packet list.
//!
//! A frame is tied to its client by socket address (each client prints its
//! own, `Connected LOCAL -> SERVER`: see [`super::traces`]), and to its
//! step by what the client was sent (the line that became the payload) or
//! by the step that started the client. Only frames with no such tie
//! (pings, ARP: who asks whom, who answers with which address) fall back
//! to the step whose time span holds them.

use std::collections::BTreeMap;
use std::path::Path;

use super::model::{CaptureReport, LineStream, RunReport, StepRecord, TimelineEntry};
use super::traces::{self, ClientTrace};
use super::{host_names, owner};
use crate::capture::pcapng::Story;
use crate::capture::{Frame, Kind};

/// What the stories of a run's captures share, read from its report once
/// per rebuild (the clients' traces parse the whole timeline).
pub(crate) struct Shared {
    names: BTreeMap<String, String>,
    clients: Vec<ClientTrace>,
}

impl Shared {
    pub(crate) fn of(report: &RunReport) -> Shared {
        Shared {
            names: host_names(&report.bench),
            clients: traces::traces(&report.timeline, &report.programs),
        }
    }
}

/// The story of one capture: its section comment and a comment per frame.
pub(crate) fn story(
    report: &RunReport,
    capture: &CaptureReport,
    specs: &CaptureSpecs,
    shared: &Shared,
) -> Option<Story> {
    let analysis = capture.analysis.as_ref()?;
    let Shared { names, clients } = shared;
    let (interface, filter) = specs.get(&capture.name);
    let interface = interface.or_else(|| {
        report
            .bench
            .hosts
            .iter()
            .find(|h| h.name == capture.host)
            .and_then(|h| h.interface.clone())
    });
    let steps = match (&capture.step, &capture.stopped_in) {
        (Some(a), Some(b)) if a != b => format!("steps {a} to {b}"),
        (Some(a), _) => format!("step {a}"),
        _ => "an unknown step".into(),
    };
    let section = format!(
        "labctl capture `{}`: lab `{}`, run `{}`, bench `{}`, host `{}`, interface `{}`, filter `{}`, {steps}",
        capture.name,
        report.run.lab,
        report.run.id,
        report.bench.name,
        capture.host,
        interface.as_deref().unwrap_or("?"),
        filter.as_deref().unwrap_or("none"),
    );
    // The frames keep the host's times: say how its clock stood.
    let section = match report.clocks.iter().find(|c| c.host == capture.host) {
        Some(c) => format!(
            "{section}; frame times are host `{}`'s clock, against labctl's: {}",
            capture.host,
            c.describe()
                .split_once(": ")
                .map_or(String::new(), |(_, d)| d.to_string())
        ),
        None => section,
    };
    let ctx = Context {
        names,
        clients,
        sent: report
            .timeline
            .iter()
            .filter(|e| e.stream == LineStream::Stdin)
            .collect(),
        steps: &report.steps,
        start: analysis.start_unix,
    };
    // The step of the last frame commented per conversation: an ACK or a
    // FIN belongs to the exchange before it.
    let mut last_step: BTreeMap<(String, usize), String> = BTreeMap::new();
    let comments = analysis
        .frames
        .iter()
        .map(|f| {
            let key = f.conversation.map(|c| (f.proto.clone(), c));
            let (step, what) = ctx.describe(f, key.as_ref().and_then(|k| last_step.get(k)))?;
            if let (Some(k), Some(s)) = (key, &step) {
                last_step.insert(k, s.clone());
            }
            Some(match step {
                Some(s) => format!("{s}: {what}"),
                None => what,
            })
        })
        .collect();
    Some(Story {
        section,
        interface,
        filter,
        comments,
    })
}

/// Each capture's interface and filter, from the plan the run recorded (its
/// capture operations' `interface` and `filter`), read once per rebuild of
/// the reports.
#[derive(Debug, Default)]
pub(crate) struct CaptureSpecs(BTreeMap<String, (Option<String>, Option<String>)>);

impl CaptureSpecs {
    /// The specs in `run_dir/plan.json`; none when it is missing or unreadable.
    pub(crate) fn read(run_dir: &Path) -> CaptureSpecs {
        let plan = crate::record::plan::PlanRecord::read(run_dir);
        let mut specs = BTreeMap::new();
        for o in plan.ops().filter(|o| o.op.capture) {
            let spec = match &o.op.interface {
                Some(iface) => (Some(iface.clone()), o.op.filter.clone()),
                None => match legacy_spec(&o.what) {
                    Some(spec) => spec,
                    None => continue,
                },
            };
            specs.entry(o.op.name.clone()).or_insert(spec);
        }
        CaptureSpecs(specs)
    }

    /// The interface and filter of capture `name`, when the plan says.
    fn get(&self, name: &str) -> (Option<String>, Option<String>) {
        self.0.get(name).cloned().unwrap_or_default()
    }
}

/// A capture's interface and filter in a `plan.json` written before its
/// capture operations recorded them (labctl 0.1's run directories): its
/// text for people, ``capture `NAME` on IFACE: FILTER``, is all there is.
fn legacy_spec(what: &str) -> Option<(Option<String>, Option<String>)> {
    let rest = what.strip_prefix("capture `")?;
    let (_, rest) = rest.split_once("` on ")?;
    Some(match rest.split_once(": ") {
        Some((iface, filter)) => (Some(iface.into()), Some(filter.into())),
        None => (Some(rest.into()), None),
    })
}

struct Context<'a> {
    names: &'a BTreeMap<String, String>,
    clients: &'a [ClientTrace],
    /// Every line sent to a program, in time order.
    sent: Vec<&'a TimelineEntry>,
    steps: &'a [StepRecord],
    /// The capture's first frame, unix seconds.
    start: f64,
}

impl Context<'_> {
    /// `(step, what happened)` for frame `f`, or `None` to leave it bare.
    fn describe(&self, f: &Frame, earlier: Option<&String>) -> Option<(Option<String>, String)> {
        let at = self.start + f.time;
        let by_time = || self.step_at(at);
        let from_client = self.client(&f.src);
        let to_client = self.client(&f.dst);
        let client = from_client.or(to_client);
        let who = |addr: &str| self.who(addr);
        let payload = f.text.as_deref().map(|t| t.trim_matches('"').to_string());
        let conv_step = || {
            earlier
                .cloned()
                .or_else(|| client.and_then(|c| c.step.clone()))
                .or_else(by_time)
        };
        Some(match f.kind {
            Kind::Syn => (
                client.and_then(|c| c.step.clone()).or_else(by_time),
                format!("{} connects to {} (SYN)", who(&f.src), who(&f.dst)),
            ),
            Kind::SynAck => (
                client.and_then(|c| c.step.clone()).or_else(by_time),
                format!(
                    "{}'s kernel accepts the connection of {} (SYN-ACK)",
                    self.host_of(&f.src),
                    who(&f.dst)
                ),
            ),
            Kind::Data | Kind::Udp => {
                let p = payload.unwrap_or_default();
                let what = if f.kind == Kind::Udp { "datagram" } else { "" };
                if let Some(c) = from_client {
                    let step = self.sent_step(c, at, |line| line == p).or_else(conv_step);
                    (
                        step,
                        format!("{} sends {what}{}\"{p}\"", who(&f.src), sep(what)),
                    )
                } else if let Some(c) = to_client {
                    let step = self
                        .sent_step(c, at, |line| line.to_uppercase() == p)
                        .or_else(conv_step);
                    (
                        step,
                        format!("{} replies \"{p}\" to {}", who(&f.src), who(&f.dst)),
                    )
                } else {
                    (
                        conv_step(),
                        format!("{} sends \"{p}\" to {}", who(&f.src), who(&f.dst)),
                    )
                }
            }
            Kind::Ack => (conv_step(), format!("{} acknowledges (ACK)", who(&f.src))),
            Kind::Fin => {
                let step = from_client
                    .and_then(|c| self.sent_step(c, at, |line| line == "quit"))
                    .or_else(conv_step);
                (
                    step,
                    format!("{} closes its side of the connection (FIN)", who(&f.src)),
                )
            }
            Kind::Rst => (
                conv_step(),
                format!("{} resets the connection (RST)", who(&f.src)),
            ),
            Kind::Icmp => match &f.quoted {
                Some(q) => (
                    self.client(&q.src)
                        .and_then(|c| self.sent_step(c, at, |_| true))
                        .or_else(by_time),
                    format!(
                        "{}: nothing listens on {} any more: {} ({})",
                        self.host_of(&f.src),
                        q.dst,
                        f.label,
                        who(&q.src)
                    ),
                ),
                None => (
                    by_time(),
                    format!("{} → {}: {}", who(&f.src), who(&f.dst), f.label),
                ),
            },
            Kind::Arp => match f.arp.as_ref().map(|a| a.op) {
                Some(crate::capture::ArpOp::Request) => (
                    by_time(),
                    format!(
                        "{} asks who has {} (ARP request)",
                        self.host_of(&f.src),
                        self.host_of(&f.dst)
                    ),
                ),
                Some(crate::capture::ArpOp::Reply) => (
                    by_time(),
                    format!(
                        "{} answers {}: {} is at {} (ARP reply)",
                        self.host_of(&f.src),
                        self.host_of(&f.dst),
                        f.src,
                        f.arp
                            .as_ref()
                            .and_then(|a| a.sender_mac.as_deref())
                            .unwrap_or("?")
                    ),
                ),
                None => return None,
            },
            Kind::Other => return None,
        })
    }

    /// The client whose socket address is `addr`.
    fn client(&self, addr: &str) -> Option<&ClientTrace> {
        self.clients.iter().rev().find(|c| c.local == addr)
    }

    /// A socket address for people: `client-B on B`, `the server on A`, `B`.
    fn who(&self, addr: &str) -> String {
        if let Some(c) = self.client(addr) {
            return format!("{} on {}", c.program, c.host);
        }
        if self.clients.iter().any(|c| c.server == addr) {
            return format!("the server on {}", self.host_of(addr));
        }
        self.host_of(addr)
    }

    fn host_of(&self, addr: &str) -> String {
        owner(self.names, addr)
            .map(str::to_string)
            .unwrap_or_else(|| addr.to_string())
    }

    /// The step of the last line sent to client `c` (this run of it: names
    /// are reused, `client-C` is a TCP client in I.10 and a UDP one in I.12)
    /// that `matches`, sent before `at`: a frame follows the line that
    /// caused it. `SKEW` allows for what is left of two hosts' clocks'
    /// disagreement once both are on the run clock.
    fn sent_step(
        &self,
        c: &ClientTrace,
        at: f64,
        matches: impl Fn(&str) -> bool,
    ) -> Option<String> {
        const SKEW: f64 = 0.05;
        let next_run = self
            .clients
            .iter()
            .filter(|o| o.host == c.host && o.program == c.program)
            .map(|o| o.connected_at)
            .filter(|&t| t > c.connected_at)
            .fold(f64::INFINITY, f64::min);
        self.sent
            .iter()
            .filter(|e| e.host == c.host && e.program == c.program && matches(e.text.trim_end()))
            .filter(|e| e.unix + SKEW >= c.connected_at && e.unix < next_run)
            .filter(|e| e.unix <= at + SKEW)
            .max_by(|a, b| a.unix.total_cmp(&b.unix))
            .and_then(|e| e.step.clone())
    }

    /// The step whose span holds `at` (else the last one started before it).
    fn step_at(&self, at: f64) -> Option<String> {
        step_at(self.steps, at).map(str::to_string)
    }
}

/// How far outside every step's span a time may be and still belong to the
/// nearest (a frame placed on the run clock a moment before its step began
/// or after it ended, by the clock's uncertainty).
const REACH: f64 = 0.005;

/// The step whose span holds `at`, unix seconds (else one within [`REACH`]
/// of it, else the last one started before it): the step a frame with no
/// other tie belongs to. A step starts the moment the one before it ends,
/// so a span that holds `at` is preferred to the reach of a neighbour's: a
/// step's first frames come milliseconds after it starts (B's ARP request
/// for A came 3.5 ms into step 4 of `labs/arp-icmp.toml`), and the reach of
/// the step before must not take them.
pub(crate) fn step_at(steps: &[StepRecord], at: f64) -> Option<&str> {
    let started = |reach: f64| move |s: &&StepRecord| s.started_at.is_some_and(|t| t <= at + reach);
    let holds = |reach: f64| {
        steps
            .iter()
            .filter(started(reach))
            .find(|s| s.finished_at.is_some_and(|t| at <= t + reach))
    };
    holds(0.0)
        .or_else(|| holds(REACH))
        .or_else(|| steps.iter().rfind(started(REACH)))
        .map(|s| s.id.as_str())
}

fn sep(what: &str) -> &'static str {
    if what.is_empty() {
        ""
    } else {
        " "
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::Outcome;

    fn specs_of(plan: &str) -> CaptureSpecs {
        let dir = std::env::temp_dir().join(format!("labctl-story-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("plan.json"), plan).unwrap();
        let specs = CaptureSpecs::read(&dir);
        let _ = std::fs::remove_dir_all(&dir);
        specs
    }

    #[test]
    fn a_captures_interface_and_filter_are_read_from_its_operation() {
        let plan = r#"{"steps":[{"actions":[{"ops":[
            {"host":"A","what":"anything","op":{"op":"start","name":"cap-A","program":"tcpdump","capture":true,"call":"lc_start …","interface":"eth1","filter":"udp"}},
            {"host":"A","what":"start `s`: tcp_server","op":{"op":"start","name":"s","program":"tcp_server","capture":false,"call":"lc_start …"}}
        ]}]}]}"#;
        let specs = specs_of(plan);
        assert_eq!(
            specs.get("cap-A"),
            (Some("eth1".into()), Some("udp".into()))
        );
        assert_eq!(specs.get("s"), (None, None));
        // A run directory written before captures recorded them: their text.
        let old = r#"{"steps":[{"actions":[{"ops":[
            {"host":"B","what":"capture `cap-B` on eth0: tcp port 50000","op":{"op":"start","name":"cap-B","program":"tcpdump","capture":true,"call":"lc_start …"}}
        ]}]}]}"#;
        assert_eq!(
            specs_of(old).get("cap-B"),
            (Some("eth0".into()), Some("tcp port 50000".into()))
        );
    }

    fn step(id: &str, from: f64, to: f64) -> StepRecord {
        StepRecord {
            id: id.into(),
            title: String::new(),
            hosts: Vec::new(),
            outcome: Outcome::Passed,
            started_at: Some(from),
            finished_at: Some(to),
            checks: Vec::new(),
        }
    }

    #[test]
    fn a_frame_belongs_to_the_step_whose_span_holds_it_before_a_neighbours_reach() {
        // Steps 3 and 4 of labs/arp-icmp.toml as a loaded machine ran them:
        // B's ARP request came 3.5 ms into step 4.
        let steps = [step("3", 10.0, 10.164), step("4", 10.164, 10.578)];
        assert_eq!(step_at(&steps, 10.1675), Some("4"));
        assert_eq!(step_at(&steps, 10.1635), Some("3"));
        // Outside every span: the nearest within reach, else the last started.
        assert_eq!(step_at(&steps, 9.997), Some("3"));
        assert_eq!(step_at(&steps, 10.581), Some("4"));
        assert_eq!(step_at(&steps, 11.0), Some("4"));
        assert_eq!(step_at(&steps, 9.0), None);
        // A gap between steps (a paused run): the reach of the next one.
        let paused = [step("3", 10.0, 10.1), step("4", 12.0, 12.5)];
        assert_eq!(step_at(&paused, 11.998), Some("4"));
        assert_eq!(step_at(&paused, 10.103), Some("3"));
        assert_eq!(step_at(&paused, 11.0), Some("3"));
    }
}
