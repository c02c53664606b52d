//! What the run's own evidence proves about the order of two hosts' times,
//! beyond what the samples of their clocks say: a line labctl sent to a
//! client was written before the frame that carried it was captured, on the
//! client's host and on the server's. The samples know each host's offset
//! within half a round trip (a fraction of a millisecond); a line and its
//! frame may be closer than that. Each such pair goes to the run clock
//! ([`RunClock::happened_before`]), which moves the offsets within what
//! their samples allow until the report never shows a line arriving before
//! it was sent.

use std::collections::BTreeMap;

use super::model::{CaptureRecord, LineRecord, LineStream};
use crate::capture::CaptureAnalysis;
use crate::record::{Order, RunClock};

/// Each line sent to a client (by the client's socket address, as it
/// printed it, and the line), with its host, host time and the samples of
/// its host's clock recorded before it, in the order sent.
type Sent = BTreeMap<(String, String), Vec<(String, f64, usize)>>;

/// Records on `clock` every line sent and the frame that carried it in
/// each capture (`first`: how its first frame's time is placed).
pub(super) fn evidence(
    clock: &mut RunClock,
    lines: &[LineRecord],
    captures: &[(&CaptureRecord, Option<&CaptureAnalysis>, Order)],
) {
    let mut local: BTreeMap<(&str, &str), String> = BTreeMap::new();
    let mut sent = Sent::new();
    for l in lines {
        let key = (l.host.as_str(), l.program.as_str());
        match l.stream {
            LineStream::Stdout => {
                let addr = l
                    .text
                    .strip_prefix("Connected ")
                    .and_then(|r| r.split_whitespace().next());
                if let Some(addr) = addr {
                    local.insert(key, addr.to_string());
                }
            }
            LineStream::Stdin => {
                if let Some(addr) = local.get(&key) {
                    sent.entry((addr.clone(), l.text.clone()))
                        .or_default()
                        .push((l.host.clone(), l.host_at, l.seen));
                }
            }
            LineStream::Stderr => {}
        }
    }
    let mut pairs = Vec::new();
    for (c, a, first) in captures {
        let Some(a) = a else { continue };
        // Each frame's stretch of its host's clock, in file order.
        let mut p = clock.placer(&c.host, *first);
        let at: Vec<(f64, Order)> = a
            .frames
            .iter()
            .map(|f| {
                let t = a.start_unix + f.time;
                (t, p.locate(t))
            })
            .collect();
        for ((addr, text), sends) in &sent {
            let carried = a
                .frames
                .iter()
                .zip(&at)
                .filter(|(f, _)| f.src == *addr && f.text.as_deref() == Some(text.as_str()));
            for ((_, frame), (host, t, seen)) in carried.zip(sends) {
                let sent = (
                    host.clone(),
                    *t,
                    Order::Recorded {
                        samples_before: *seen,
                    },
                );
                pairs.push((sent, (c.host.clone(), *frame)));
            }
        }
    }
    for ((h, t, o), (fh, (ft, fo))) in pairs {
        clock.happened_before((&h, t, o), (&fh, ft, fo));
    }
}
