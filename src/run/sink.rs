//! One way out for a run's events, as cargo-nextest has one reporter
//! interface fed by its runner: every output of a run — the run record
//! (`events.jsonl`, `steps.jsonl`, the output files: [`rundir::RunDir`]),
//! `--json` ([`json::JsonOut`]), the `--pause` presenter's copy, the room
//! (`run --all`), the terminal ([`reporter::Terminal`]) and the reports —
//! is a [`Sink`], and one dispatcher ([`Sinks`]) hands each event to all of
//! them in the order the runner sent them. `run` and `--dry-run` build
//! their outputs here and nowhere else; a new output (a room page, a
//! stream) is one more sink, not one more wire through `run`.
//!
//! The order of the sinks is the order of the outputs: the record first
//! (the reports are rebuilt from it), the terminal and the reports last.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::event::{Event, Outcome};
use super::{json, reporter, rundir};

/// One consumer of a run's events.
pub(crate) trait Sink: Send {
    /// Takes the next event, in the order the runner sent them.
    fn event(&mut self, e: &Event);
    /// When this sink wants [`Sink::tick`] even if no event comes.
    fn due(&self) -> Option<Instant> {
        None
    }
    /// Its time ([`Sink::due`]) came with no event.
    fn tick(&mut self) {}
    /// The events taken together are over (one, or a room's batch): what
    /// the sink buffered goes out.
    fn flush(&mut self) {}
    /// The first write of this sink that failed (only the record's files
    /// can fail a run; the terminal and `--json` drop what cannot be written).
    fn error(&self) -> Option<&str> {
        None
    }
}

/// The dispatcher: every sink of a run, fed one event at a time.
#[derive(Default)]
pub(crate) struct Sinks<'a> {
    sinks: Vec<Box<dyn Sink + 'a>>,
    /// The first write that failed, of any sink.
    error: Option<String>,
    /// Where that first failed write stops the run (`Shared::local`).
    failed_write: Option<&'a Mutex<Option<String>>>,
    /// In a room: the events are taken together, at most this often
    /// ([`Sinks::batched`]).
    batch: Option<Duration>,
}

/// In a room, how long a bench's events wait to be taken together. A
/// room's 30 benches send some 14,000 events: each woke its bench's sink
/// thread (a context switch and two system calls) to write one line.
/// Batched, a killed labctl's record misses at most this much.
pub(crate) const ROOM_BATCH: Duration = Duration::from_millis(250);

impl<'a> Sinks<'a> {
    /// No sinks yet; a failed write is told to `failed_write` as it happens.
    pub(crate) fn new(failed_write: Option<&'a Mutex<Option<String>>>) -> Sinks<'a> {
        Sinks {
            sinks: Vec::new(),
            error: None,
            failed_write,
            batch: None,
        }
    }

    /// After an event, the sinks wait `every` for the ones that come
    /// meanwhile and take them together (`None`: each at once).
    pub(crate) fn batched(mut self, every: Option<Duration>) -> Sinks<'a> {
        self.batch = every;
        self
    }

    /// Adds `sink` after the others (`None`: this run has no such output).
    pub(crate) fn with(mut self, sink: Option<impl Sink + 'a>) -> Sinks<'a> {
        if let Some(s) = sink {
            self.sinks.push(Box::new(s));
        }
        self
    }

    /// Hands `e` to every sink, in order.
    pub(crate) fn event(&mut self, e: &Event) {
        for i in 0..self.sinks.len() {
            self.sinks[i].event(e);
            self.note(i);
        }
    }

    /// Every sink's [`Sink::flush`], in order.
    fn flush(&mut self) {
        for i in 0..self.sinks.len() {
            self.sinks[i].flush();
            self.note(i);
        }
    }

    /// The first failed write of sink `i` becomes the run's, if it has none.
    fn note(&mut self, i: usize) {
        if self.error.is_some() {
            return;
        }
        if let Some(err) = self.sinks[i].error() {
            self.error = Some(err.to_string());
            if let Some(Ok(mut slot)) = self.failed_write.map(Mutex::lock) {
                slot.get_or_insert_with(|| err.to_string());
            }
        }
    }

    /// Every event of `rx` to every sink until the runner's side closes,
    /// each sink's [`Sink::tick`] at its time meanwhile; the first write
    /// that failed, if any.
    pub(crate) fn drain(mut self, rx: Receiver<Event>) -> Option<String> {
        loop {
            let next = self.sinks.iter().filter_map(|s| s.due()).min();
            let got = match next {
                Some(t) => rx.recv_timeout(t.saturating_duration_since(Instant::now())),
                None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match got {
                Ok(e) => {
                    self.event(&e);
                    if let Some(every) = self.batch {
                        // Those that came meanwhile, then the next wait.
                        std::thread::sleep(every);
                        while let Ok(e) = rx.try_recv() {
                            self.event(&e);
                        }
                    }
                    self.flush();
                }
                Err(RecvTimeoutError::Timeout) => {
                    let now = Instant::now();
                    for i in 0..self.sinks.len() {
                        if self.sinks[i].due().is_some_and(|t| t <= now) {
                            self.sinks[i].tick();
                            self.note(i);
                        }
                    }
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        self.flush();
        self.error
    }
}

/// The run record: every event into the run directory.
impl Sink for rundir::RunDir {
    fn event(&mut self, e: &Event) {
        rundir::RunDir::event(self, e);
    }
    fn flush(&mut self) {
        rundir::RunDir::flush(self);
    }
    fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }
}

/// `run --json`: every event as a line on stdout.
impl Sink for json::JsonOut {
    fn event(&mut self, e: &Event) {
        json::JsonOut::event(self, e);
    }
}

/// The terminal: lines and spinners.
impl Sink for reporter::Terminal {
    fn event(&mut self, e: &Event) {
        reporter::Terminal::event(self, e);
    }
}

/// `--pause`: the presenter sees a copy of every event.
pub(crate) struct Tap(pub(crate) Sender<Event>);

impl Sink for Tap {
    fn event(&mut self, e: &Event) {
        let _ = self.0.send(e.clone());
    }
}

/// `run --all`: a bench's way to the room: the events the room needs
/// ([`crate::room::wants`]), with the bench's index.
pub(crate) struct ToRoom {
    pub(crate) index: usize,
    pub(crate) events: Sender<(usize, Event)>,
}

impl Sink for ToRoom {
    fn event(&mut self, e: &Event) {
        if crate::room::wants(e) {
            let _ = self.events.send((self.index, e.clone()));
        }
    }
}

/// The reports (report.md, report.html, run.json), rebuilt from the run
/// directory as the run goes: after every step (a labctl killed outright
/// leaves them current) and at the end; in a room, at most every
/// [`ROOM_REPORT_EVERY`], and at once after a failed step.
pub(crate) struct Reports {
    dir: PathBuf,
    /// In a room: the least time between rebuilds.
    every: Option<Duration>,
    rebuilt: Instant,
    /// A step finished since the last rebuild.
    stale: bool,
    error: Option<String>,
}

/// In a room, a bench's reports are rebuilt at most this often while it
/// runs (and when a step fails, and at its end): rebuilding them after
/// every step of every bench was a third of labctl's work in a room of 30
/// virtual benches, which share this machine's two cores with their hosts.
/// The room report follows every bench within a second meanwhile, and
/// `labctl report` rebuilds any of them from the run's record.
pub(crate) const ROOM_REPORT_EVERY: Duration = Duration::from_secs(15);

impl Reports {
    /// The reports of the run directory `dir`; `in_room`: rebuilt at most
    /// every [`ROOM_REPORT_EVERY`].
    pub(crate) fn new(dir: PathBuf, in_room: bool) -> Reports {
        Reports {
            dir,
            every: in_room.then_some(ROOM_REPORT_EVERY),
            rebuilt: Instant::now(),
            stale: false,
            error: None,
        }
    }

    fn rebuild(&mut self) {
        if let Err(err) = crate::report::write(&self.dir) {
            self.error.get_or_insert(err.to_string());
        }
        self.rebuilt = Instant::now();
        self.stale = false;
    }
}

impl Sink for Reports {
    fn event(&mut self, e: &Event) {
        let due = match e {
            Event::RunFinished { .. } => true,
            Event::StepFinished { outcome, .. } => {
                self.every.is_none_or(|t| self.rebuilt.elapsed() >= t)
                    || *outcome != Outcome::Passed
            }
            _ => false,
        };
        if due {
            self.rebuild();
        } else if matches!(e, Event::StepFinished { .. }) {
            self.stale = true;
        }
        if matches!(e, Event::RunFinished { .. }) {
            crate::report::tidy(&self.dir);
        }
    }

    /// A stale report is rebuilt once its time comes, events or not.
    fn due(&self) -> Option<Instant> {
        self.every
            .filter(|_| self.stale)
            .map(|every| self.rebuilt + every)
    }

    fn tick(&mut self) {
        self.rebuild();
    }

    fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::RunOf;
    use std::sync::{mpsc, Arc};

    /// A sink that notes what it saw, under its name, and fails its
    /// writes from the `fail_at`th event on.
    struct Noting {
        name: &'static str,
        seen: Arc<Mutex<Vec<String>>>,
        fail_at: Option<usize>,
        count: usize,
        error: Option<String>,
        due: Option<Instant>,
    }

    impl Noting {
        fn new(name: &'static str, seen: &Arc<Mutex<Vec<String>>>) -> Noting {
            Noting {
                name,
                seen: Arc::clone(seen),
                fail_at: None,
                count: 0,
                error: None,
                due: None,
            }
        }
    }

    impl Sink for Noting {
        fn event(&mut self, e: &Event) {
            self.count += 1;
            let Event::Problem { message, .. } = e else {
                panic!("only problems here")
            };
            self.seen
                .lock()
                .unwrap()
                .push(format!("{} {message}", self.name));
            if self.fail_at.is_some_and(|n| self.count >= n) {
                self.error
                    .get_or_insert(format!("{} cannot write {message}", self.name));
            }
        }
        fn due(&self) -> Option<Instant> {
            self.due
        }
        fn tick(&mut self) {
            self.seen
                .lock()
                .unwrap()
                .push(format!("{} tick", self.name));
            self.due = None;
        }
        fn error(&self) -> Option<&str> {
            self.error.as_deref()
        }
    }

    fn problem(m: &str) -> Event {
        Event::Problem {
            host: None,
            message: m.into(),
            step: None,
            run: RunOf::default(),
        }
    }

    #[test]
    fn every_event_reaches_every_sink_in_order_and_the_first_failed_write_is_the_runs() {
        let seen = Arc::default();
        let slot = Mutex::new(None);
        let mut record = Noting::new("record", &seen);
        record.fail_at = Some(2);
        let mut reports = Noting::new("reports", &seen);
        reports.fail_at = Some(1);
        let (tx, rx) = mpsc::channel();
        for m in ["one", "two"] {
            tx.send(problem(m)).unwrap();
        }
        drop(tx);
        let error = Sinks::new(Some(&slot))
            .with(Some(record))
            .with(None::<Noting>)
            .with(Some(reports))
            .drain(rx);
        assert_eq!(
            *seen.lock().unwrap(),
            ["record one", "reports one", "record two", "reports two"]
        );
        // The reports failed first (at the first event), the record after.
        assert_eq!(error.as_deref(), Some("reports cannot write one"));
        assert_eq!(
            slot.lock().unwrap().as_deref(),
            Some("reports cannot write one"),
            "the run is told at once"
        );
    }

    #[test]
    fn a_sink_whose_time_came_is_ticked_without_an_event() {
        let seen = Arc::default();
        let mut reports = Noting::new("reports", &seen);
        reports.due = Some(Instant::now() + Duration::from_millis(50));
        let (tx, rx) = mpsc::channel();
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(500));
            tx.send(problem("late")).unwrap();
        });
        let error = Sinks::new(None).with(Some(reports)).drain(rx);
        sender.join().unwrap();
        assert_eq!(error, None);
        assert_eq!(*seen.lock().unwrap(), ["reports tick", "reports late"]);
    }

    #[test]
    fn a_room_bench_sends_the_room_only_what_it_folds() {
        let (tx, rx) = mpsc::channel();
        let mut room = ToRoom {
            index: 3,
            events: tx,
        };
        room.event(&problem("lost"));
        // A skipped operation changes nothing the room shows.
        room.event(&Event::Skipped {
            op: None,
            run: RunOf::default(),
            step: "S.1".into(),
            host: "A".into(),
            what: "deploy".into(),
            cmd: None,
        });
        room.event(&Event::StepStarted {
            run: RunOf::default(),
            step: "S.1".into(),
            title: "t".into(),
            needed: false,
            at: 0.0,
        });
        drop(room);
        let got: Vec<(usize, Event)> = rx.iter().collect();
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got.iter().all(|(i, e)| *i == 3 && crate::room::wants(e)));
        assert!(matches!(got[1].1, Event::StepStarted { .. }));
    }
}
