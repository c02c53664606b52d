//! `run --json`: every event as one JSON line on stdout — the same
//! [`Event`] value, serialized the same way, as `events.jsonl` records it;
//! each line names its `bench` (and `room` under `--all`). Schema:
//! `docs/events-json-schema.json`. A run refused before it began (the bench
//! held by another labctl, a lab port taken by a program labctl did not
//! start) is one line, `run_refused`, and leaves no run directory.

use super::event::Event;
use crate::error::Error;

/// The one line of a run refused before anything changed on any host.
#[derive(serde::Serialize)]
struct Refused<'a> {
    event: &'static str,
    run_id: &'a str,
    bench: &'a str,
    /// labctl's exit code for it (5: another labctl holds the bench).
    exit_code: i32,
    error: String,
    at: f64,
}

#[derive(Default)]
pub struct JsonOut;

impl JsonOut {
    pub fn new() -> JsonOut {
        JsonOut
    }

    /// The event as its line: it names its bench (and room) itself.
    pub fn event(&self, e: &Event) {
        crate::util::json_line(e)
    }

    /// The line of a run refused before it began (no other line is printed).
    pub fn refused(&self, run_id: &str, bench: &str, e: &Error) {
        crate::util::json_line(&Refused {
            event: "run_refused",
            run_id,
            bench,
            exit_code: e.exit_code(),
            error: e.to_string(),
            at: super::event::now_unix(),
        });
    }
}
