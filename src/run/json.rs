//! `run --json`: every event as one JSON line on stdout — the same
//! [`Event`] value, serialized the same way, as `events.jsonl` records it;
//! with several benches at once each line also names its `bench`. Schema:
//! `docs/events-json-schema.json`.

use super::event::Event;

pub struct JsonOut {
    /// The bench to name on every line (several benches run at once).
    bench: Option<String>,
}

impl JsonOut {
    pub fn new(bench: Option<&str>) -> JsonOut {
        JsonOut {
            bench: bench.map(str::to_string),
        }
    }

    pub fn event(&self, e: &Event) {
        match &self.bench {
            None => crate::util::json_line(e),
            Some(b) => {
                if let Ok(mut v) = serde_json::to_value(e) {
                    v["bench"] = serde_json::Value::from(b.as_str());
                    crate::util::json_line(&v);
                }
            }
        }
    }
}
