//! The `clock` row of `check`: how far a host's clock is from this
//! machine's, how precisely that is known, and whether a time server set
//! it. A Raspberry Pi has no battery clock: on a lab switch with no uplink
//! it keeps the time it saved at its last shutdown. No run depends on it
//! (a run measures each host's offset and puts its times on labctl's
//! clock, see [`crate::record::RunClock`]), so past [`LIMIT`] the row warns
//! rather than fails; `--fix` sets the clock from this machine's where the
//! login may ([`fix`]), and says how otherwise.

use std::time::Duration;

use crate::config::hosts::Host;
use crate::hostops;
use crate::record::{describe_offset_from, describe_secs, now_unix, ClockSample};
use crate::ssh::{self, Session};
use crate::util::shell_template::{render, Val};

use super::*;

/// How far a clock may be off (beyond what the measure leaves unknown)
/// before the row warns, in seconds.
pub const LIMIT: f64 = 1.0;

/// Where `date` is on Debian and Raspberry Pi OS, for the sudoers line.
const DATE: &str = "/usr/bin/date";

/// Each command's bound: they are one `date` and one `timedatectl`.
const TIMEOUT: Duration = Duration::from_secs(15);

/// What the host said: its clock against this machine's, whether a time
/// server set it (`yes`, `no`, `unknown`, `missing`: see `clock-read.sh`),
/// and what the script run after it printed.
struct Reading {
    best: ClockSample,
    synced: String,
    after: String,
}

/// One sample of the host's clock, from the command's start to the arrival
/// of its first line (the host's `date`), then whether a time server set it
/// and `after`'s output, all in one round trip (`clock-read.sh`).
fn read(session: &Session, after: &str) -> Result<Reading, String> {
    let cmd = render(include_str!("clock-read.sh"), &[("AFTER", Val::Raw(after))]);
    let sent = now_unix();
    let mut ch = session.spawn_stream(&cmd).map_err(|e| e.to_string())?;
    let deadline = std::time::Instant::now() + TIMEOUT;
    let mut first = Vec::new();
    let mut received = None;
    while received.is_none() {
        let r = ch.read_available().map_err(|e| e.to_string())?;
        first.extend_from_slice(&r.stdout);
        if first.contains(&b'\n') {
            received = Some(now_unix());
        } else if r.eof || std::time::Instant::now() >= deadline {
            break;
        } else {
            ch.wait(deadline.saturating_duration_since(std::time::Instant::now()));
        }
    }
    let rest = ch
        .close(deadline.saturating_duration_since(std::time::Instant::now()))
        .map_err(|e| e.to_string())?;
    first.extend_from_slice(&rest.stdout);
    let text = String::from_utf8_lossy(&first);
    let mut lines = text.lines();
    let host: Option<f64> = lines.next().and_then(|l| l.trim().parse().ok());
    let (Some(host), Some(received)) = (host, received) else {
        return Err(format!(
            "`date +%s.%N` {}: {}",
            rest.describe(),
            ssh::whole_reason(&rest.stderr_str())
        ));
    };
    let synced = lines.next().unwrap_or("unknown").trim().to_string();
    let after: Vec<&str> = lines.collect();
    Ok(Reading {
        best: ClockSample {
            sent,
            host,
            received,
        },
        synced,
        after: after.join("\n"),
    })
}

/// The `clock` row of `host`, and the output of `after` (shell run on the
/// host in the same round trip), `None` when the round trip failed.
pub(super) fn check(session: &Session, host: &Host, after: &str) -> (CheckResult, Option<String>) {
    let r = match read(session, after) {
        Ok(r) => r,
        Err(e) => {
            let row = CheckResult {
                check: "clock",
                status: Status::Warn,
                detail: format!("could not read the host's clock: {e}"),
                hint: Some("labctl measures it again as a run begins".into()),
            };
            return (row, None);
        }
    };
    let after = Some(r.after.clone());
    let (offset, within) = (r.best.offset(), r.best.uncertainty());
    let synced = match r.synced.as_str() {
        "yes" => "synchronised by a time server",
        "no" => "not synchronised to a time server",
        "missing" => "synchronisation unknown (no `timedatectl`)",
        _ => "synchronisation unknown (`timedatectl` cannot tell)",
    };
    let detail = format!(
        "{} (± {}); {synced}",
        describe_offset_from(offset, "this machine's"),
        describe_secs(within)
    );
    if offset.abs() - within <= LIMIT {
        return (pass("clock", detail), after);
    }
    let pi = if r.synced == "yes" {
        ""
    } else {
        "; a Raspberry Pi has no battery clock: it keeps the time it saved at shutdown until a time server sets it"
    };
    let row = CheckResult {
        check: "clock",
        status: Status::Warn,
        detail,
        hint: Some(format!(
            "a run measures the offset and corrects the host's times, so the lab runs as it is; `labctl check --fix` sets the clock from this machine's (`{}date -s`){pi}",
            hostops::sudo_prefix(host)
        )),
    };
    (row, after)
}

/// The sudoers line that lets `host`'s login set the clock.
pub fn sudoers_line(host: &Host) -> String {
    hostops::sudoers_line(&host.target.user, &[DATE.to_string()])
}

/// `--fix`: sets `host`'s clock to this machine's (`date -s`, through
/// `sudo -n` with `sudo = true`), the command's one-way delay added. `Ok`:
/// what was done; `Err`: why not, and how to do it.
pub(super) fn fix(session: &Session, host: &Host) -> Result<String, String> {
    let by_hand = format!(
        "set it on the host (`sudo date -u -s '{}'`, this machine's time now), or let labctl: the sudoers line `{}` (e.g. in /etc/sudoers.d/labctl){}",
        crate::report::rfc3339(now_unix()).replace(['T', 'Z'], " ").trim(),
        sudoers_line(host),
        if host.sudo { "" } else { " and `sudo = true`" }
    );
    if host.target.user != "root" && !host.sudo {
        return Err(format!(
            "setting the clock: the login `{}` is not root and `sudo = false`; {by_hand}",
            host.target.user
        ));
    }
    let before = read(session, "").map_err(|e| format!("setting the clock: {e}"))?;
    let delay = before.best.uncertainty();
    let time = format!("{:.6}", now_unix() + delay);
    let cmd = render(
        include_str!("clock-set.sh"),
        &[
            ("TIME", Val::Quoted(&time)),
            ("S", Val::Raw(hostops::sudo_prefix(host))),
        ],
    );
    match session.exec(&cmd, None, TIMEOUT) {
        Ok(o) if o.success() => Ok(format!(
            "set the clock from this machine's (it was {})",
            describe_offset_from(before.best.offset(), "this machine's")
        )),
        Ok(o) => Err(format!(
            "setting the clock: `{}date -s` {}: {}; {by_hand}",
            hostops::sudo_prefix(host),
            o.describe(),
            ssh::whole_reason(&o.stderr_str())
        )),
        Err(e) => Err(format!("setting the clock: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_set_command_takes_the_time_and_the_sudo_prefix() {
        let cmd = render(
            include_str!("clock-set.sh"),
            &[
                ("TIME", Val::Quoted("1800000000.250000")),
                ("S", Val::Raw("sudo -n ")),
            ],
        );
        assert_eq!(
            cmd,
            "t=1800000000.250000\nsudo -n date -u -s \"@$t\" >/dev/null"
        );
    }
}
