//! Following the runs directory for `labctl serve`: the newest room (a
//! directory with `room.json`) and its benches' `events.jsonl`, read as
//! they grow and folded as the room's terminal folds them
//! ([`crate::room::BenchView::event`]); what changed goes to every browser
//! following the page as Server-Sent Events, rendered once by the room
//! report's own renderer ([`crate::room::report`]) and shared by all.
//!
//! Cheap on purpose (the machine also runs the room): a poll every 200 ms
//! reads only the bytes appended since the last, tells the lines the room
//! needs by their tag without parsing the others, stops reading a bench
//! once it finished, and looks for a newer room once a second.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::room::{self, report, Room};

/// How often the benches' files are read.
const POLL: Duration = Duration::from_millis(200);
/// How often the runs directory is searched for a newer room.
const ROOMS_EVERY: Duration = Duration::from_secs(1);
/// Messages a slow browser may fall behind before it is dropped (it
/// reconnects, as EventSource does, and starts from the whole room).
const BACKLOG: usize = 256;

/// What every browser is sent: one SSE message, shared.
pub type Message = Arc<str>;

/// The browsers following the page, and the room as the last of them
/// should first see it.
#[derive(Default)]
pub struct Hub {
    inner: Mutex<HubState>,
}

#[derive(Default)]
struct HubState {
    /// The `room` message: the whole room now.
    snapshot: Option<Message>,
    clients: Vec<SyncSender<Message>>,
}

impl Hub {
    /// A new follower: the whole room first, then every change.
    pub fn subscribe(&self) -> Receiver<Message> {
        let (tx, rx) = sync_channel(BACKLOG);
        let mut st = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = &st.snapshot {
            let _ = tx.try_send(s.clone());
        }
        st.clients.push(tx);
        rx
    }

    /// How many browsers follow now.
    pub fn followers(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clients
            .len()
    }

    fn publish(&self, snapshot: Option<Message>, messages: &[Message]) {
        let mut st = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if snapshot.is_some() {
            st.snapshot = snapshot;
        }
        st.clients.retain(|c| {
            messages.iter().all(|m| match c.try_send(m.clone()) {
                Ok(()) => true,
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
            })
        });
    }
}

/// One SSE message: `event: KIND` and its JSON data.
pub fn sse(kind: &str, data: &impl Serialize) -> Message {
    let json = serde_json::to_string(data).unwrap_or_else(|_| "null".into());
    format!("event: {kind}\ndata: {json}\n\n").into()
}

/// The `room` message: the whole page's changing part.
#[derive(Serialize)]
struct RoomMessage<'a> {
    id: Option<&'a str>,
    verdict: String,
    subtitle: String,
    body: String,
}

/// A `row` message: bench `i`'s row of the matrix.
#[derive(Serialize)]
struct RowMessage {
    i: usize,
    outcome: String,
    html: String,
}

/// The `verdict` message: the header and the failures.
#[derive(Serialize)]
struct VerdictMessage {
    outcome: &'static str,
    verdict: String,
    subtitle: String,
    failures: String,
}

/// One bench's `events.jsonl` as read so far.
struct Tail {
    file: Option<File>,
    /// A line not yet whole.
    partial: Vec<u8>,
}

impl Tail {
    /// The whole lines appended since the last call.
    fn lines(&mut self, path: &Path) -> Vec<String> {
        if self.file.is_none() {
            self.file = File::open(path).ok();
        }
        let Some(f) = &mut self.file else {
            return Vec::new();
        };
        let mut buf = Vec::new();
        if f.read_to_end(&mut buf).is_err() || buf.is_empty() {
            return Vec::new();
        }
        self.partial.extend_from_slice(&buf);
        let Some(end) = self.partial.iter().rposition(|b| *b == b'\n') else {
            return Vec::new();
        };
        let whole: Vec<u8> = self.partial.drain(..=end).collect();
        String::from_utf8_lossy(&whole)
            .lines()
            .map(str::to_string)
            .collect()
    }
}

/// The room being followed.
struct Followed {
    dir: PathBuf,
    room: Room,
    tails: Vec<Tail>,
}

impl Followed {
    fn open(dir: PathBuf) -> Option<Followed> {
        let bytes = std::fs::read(dir.join("room.json")).ok()?;
        let file: report::RoomFile = serde_json::from_slice(&bytes).ok()?;
        let mut room = file.room;
        let ids = room.step_ids();
        for b in &mut room.benches {
            *b = room::BenchView::new(&b.name, &b.run, ids.len());
        }
        let tails = room
            .benches
            .iter()
            .map(|_| Tail {
                file: None,
                partial: Vec::new(),
            })
            .collect();
        Some(Followed { dir, room, tails })
    }

    /// Reads what the benches appended; the benches whose view changed.
    fn poll(&mut self) -> Vec<usize> {
        let ids = self.room.step_ids();
        let mut changed = Vec::new();
        for (i, b) in self.room.benches.iter_mut().enumerate() {
            if b.finished() {
                continue;
            }
            let path = room::run_dir(&self.dir, b).join(crate::record::dir::EVENTS);
            let mut any = false;
            for line in self.tails[i].lines(&path) {
                if let Some(e) = room::parse_wanted(&line) {
                    any |= b.event(&ids, &e).is_some();
                }
            }
            if any {
                changed.push(i);
            }
        }
        if !changed.is_empty() && self.room.outcome() != "running" {
            // When the last bench ended, as its own record says.
            self.room.finished_at = self
                .room
                .benches
                .iter()
                .filter_map(|b| Some(b.started_at? + b.secs?))
                .reduce(f64::max);
        }
        changed
    }

    fn snapshot(&self) -> Message {
        sse(
            "room",
            &RoomMessage {
                id: Some(&self.room.id),
                verdict: report::verdict_html(&self.room),
                subtitle: report::subtitle_html(&self.room),
                body: report::body_html(&self.room, ""),
            },
        )
    }

    fn changes(&self, changed: &[usize]) -> Vec<Message> {
        let mut out: Vec<Message> = changed
            .iter()
            .map(|&i| {
                sse(
                    "row",
                    &RowMessage {
                        i,
                        outcome: self.room.benches[i].outcome.clone(),
                        html: report::row_html(&self.room, i, ""),
                    },
                )
            })
            .collect();
        out.push(sse(
            "verdict",
            &VerdictMessage {
                outcome: self.room.outcome(),
                verdict: report::verdict_html(&self.room),
                subtitle: report::subtitle_html(&self.room),
                failures: report::failures_html(&self.room),
            },
        ));
        out
    }
}

/// The newest room directory in `runs` (by name: they start with their UTC
/// time), if any.
pub fn newest_room(runs: &Path) -> Option<PathBuf> {
    let mut best: Option<String> = None;
    for entry in std::fs::read_dir(runs).ok()?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.contains("-room") || best.as_ref().is_some_and(|b| *b >= name) {
            continue;
        }
        if entry.path().join("room.json").is_file() {
            best = Some(name);
        }
    }
    best.map(|n| runs.join(n))
}

/// The page before any room ran in `runs`.
fn no_room() -> Message {
    sse(
        "room",
        &RoomMessage {
            id: None,
            verdict: "waiting for a room: <code>labctl run --all</code>".into(),
            subtitle: String::new(),
            body: String::new(),
        },
    )
}

/// Follows `runs` until the process ends, publishing to `hub`.
pub fn follow(runs: &Path, hub: &Hub) {
    let mut current: Option<Followed> = None;
    let mut looked = Instant::now() - ROOMS_EVERY;
    hub.publish(Some(no_room()), &[]);
    loop {
        if looked.elapsed() >= ROOMS_EVERY {
            looked = Instant::now();
            let newest = newest_room(runs);
            if newest.is_some() && newest.as_ref() != current.as_ref().map(|c| &c.dir) {
                if let Some(mut f) = newest.and_then(Followed::open) {
                    f.poll();
                    let snap = f.snapshot();
                    hub.publish(Some(snap.clone()), &[snap]);
                    current = Some(f);
                }
            }
        }
        if let Some(f) = &mut current {
            let changed = f.poll();
            if !changed.is_empty() {
                let snap = f.snapshot();
                hub.publish(Some(snap), &f.changes(&changed));
            }
        }
        std::thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tail_gives_whole_lines_once() {
        let dir = std::env::temp_dir().join(format!("labctl-tail-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(crate::record::dir::EVENTS);
        std::fs::write(&p, "one\ntw").unwrap();
        let mut t = Tail {
            file: None,
            partial: Vec::new(),
        };
        assert_eq!(t.lines(&p), ["one"]);
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"o\nthree\n").unwrap();
        assert_eq!(t.lines(&p), ["two", "three"]);
        assert!(t.lines(&p).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_slow_follower_is_dropped_and_the_others_keep_up() {
        let hub = Hub::default();
        let slow = hub.subscribe();
        let fast = hub.subscribe();
        for _ in 0..BACKLOG + 1 {
            hub.publish(None, &[sse("row", &1)]);
            let _ = fast.try_recv();
        }
        assert_eq!(hub.followers(), 1);
        drop(slow);
    }
}
