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
pub(crate) const LIMIT: f64 = 1.0;

/// Where `date` is on Debian and Raspberry Pi OS, for the sudoers line.
const DATE: &str = "/usr/bin/date";

/// Each command's bound: they are one `date` and one `timedatectl`.
const TIMEOUT: Duration = Duration::from_secs(15);

/// What the host said: its clock against this machine's, and whether a
/// time server set it (`yes`, `no`, `unknown`, `missing`: see `clock-sync.sh`).
struct Reading {
    best: ClockSample,
    synced: String,
}

/// Two samples of the host's clock around a command's round trip (the
/// second also asks `timedatectl`); the one with the shorter round trip counts.
fn read(session: &Session) -> Result<Reading, String> {
    let mut best: Option<ClockSample> = None;
    let mut synced = String::from("unknown");
    for script in [include_str!("clock-now.sh"), include_str!("clock-sync.sh")] {
        let cmd = render(script, &[]);
        let sent = now_unix();
        let out = session
            .exec(&cmd, None, TIMEOUT)
            .map_err(|e| e.to_string())?;
        let received = now_unix();
        let text = out.stdout_str();
        let mut lines = text.lines();
        let host: f64 = lines
            .next()
            .and_then(|l| l.trim().parse().ok())
            .ok_or_else(|| {
                format!(
                    "`date +%s.%N` {}: {}",
                    out.describe(),
                    ssh::whole_reason(&out.stderr_str())
                )
            })?;
        if let Some(s) = lines.next() {
            synced = s.trim().to_string();
        }
        let s = ClockSample {
            sent,
            host,
            received,
        };
        if best.is_none_or(|b| s.uncertainty() < b.uncertainty()) {
            best = Some(s);
        }
    }
    Ok(Reading {
        best: best.expect("two samples"),
        synced,
    })
}

/// The `clock` row of `host`.
pub(super) fn check(session: &Session, host: &Host) -> CheckResult {
    let r = match read(session) {
        Ok(r) => r,
        Err(e) => {
            return CheckResult {
                check: "clock",
                status: Status::Warn,
                detail: format!("could not read the host's clock: {e}"),
                hint: Some("labctl measures it again as a run begins".into()),
            }
        }
    };
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
        return pass("clock", detail);
    }
    let pi = if r.synced == "yes" {
        ""
    } else {
        "; a Raspberry Pi has no battery clock: it keeps the time it saved at shutdown until a time server sets it"
    };
    CheckResult {
        check: "clock",
        status: Status::Warn,
        detail,
        hint: Some(format!(
            "a run measures the offset and corrects the host's times, so the lab runs as it is; `labctl check --fix` sets the clock from this machine's (`{}date -s`){pi}",
            hostops::sudo_prefix(host)
        )),
    }
}

/// The sudoers line that lets `host`'s login set the clock.
pub(crate) fn sudoers_line(host: &Host) -> String {
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
    let before = read(session).map_err(|e| format!("setting the clock: {e}"))?;
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
