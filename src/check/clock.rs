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

/// Each `--fix` command's bound: one `date`, or one `date -s`.
const TIMEOUT: Duration = Duration::from_secs(15);

/// Runs `cmd`, whose first line is the host's clock (`date +%s.%N`), within
/// `timeout`: its whole output, and the clock's sample from the command's
/// start to that line's arrival (`None` when no first line came, or it was
/// no time). `check`'s one channel ([`super::script::command`]) and `--fix`'s
/// reading (`clock-read.sh`) both take their sample so.
pub(super) fn run_sampled(
    session: &Session,
    cmd: &str,
    timeout: Duration,
) -> Result<(ssh::Output, Option<ClockSample>), ssh::SshError> {
    let sent = now_unix();
    let mut ch = session.spawn_stream(cmd)?;
    let deadline = std::time::Instant::now() + timeout;
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let mut received = None;
    while received.is_none() {
        let (_, eof) = ch.read_into(&mut stdout, &mut stderr)?;
        if stdout.contains(&b'\n') {
            received = Some(now_unix());
        } else if eof || std::time::Instant::now() >= deadline {
            break;
        } else {
            ch.wait(deadline.saturating_duration_since(std::time::Instant::now()));
        }
    }
    let mut out = ch.close(deadline.saturating_duration_since(std::time::Instant::now()))?;
    stdout.append(&mut out.stdout);
    stderr.append(&mut out.stderr);
    (out.stdout, out.stderr) = (stdout, stderr);
    let host: Option<f64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok());
    let sample = host.zip(received).map(|(host, received)| ClockSample {
        sent,
        host,
        received,
    });
    Ok((out, sample))
}

/// One sample of the host's clock (`clock-read.sh`): `--fix`'s reading
/// before it sets the clock.
fn read(session: &Session) -> Result<ClockSample, String> {
    let cmd = render(include_str!("clock-read.sh"), &[]);
    let (out, sample) = run_sampled(session, &cmd, TIMEOUT).map_err(|e| e.to_string())?;
    sample.ok_or_else(|| not_read(&out))
}

/// Why no clock was read from `out`.
pub(super) fn not_read(out: &ssh::Output) -> String {
    format!(
        "`date +%s.%N` {}: {}",
        out.describe(),
        ssh::whole_reason(&out.stderr_str())
    )
}

/// The `clock` row when the host's clock could not be read (`why`).
pub(super) fn unread(why: &str) -> CheckResult {
    CheckResult {
        check: "clock",
        status: Status::Warn,
        detail: format!("could not read the host's clock: {why}"),
        hint: Some("labctl measures it again as a run begins".into()),
    }
}

/// The `clock` row of `host` from its clock's sample `best` and whether a
/// time server set it, `synced`: `yes`, `no`, `missing` (no `timedatectl`),
/// anything else unknown (timedatectl's `NTPSynchronized`).
pub(super) fn row(host: &Host, best: &ClockSample, synced: &str) -> CheckResult {
    let (offset, within) = (best.offset(), best.uncertainty());
    let words = match synced {
        "yes" => "synchronised by a time server",
        "no" => "not synchronised to a time server",
        "missing" => "synchronisation unknown (no `timedatectl`)",
        _ => "synchronisation unknown (`timedatectl` cannot tell)",
    };
    let detail = format!(
        "{} (± {}); {words}",
        describe_offset_from(offset, "this machine's"),
        describe_secs(within)
    );
    if offset.abs() - within <= LIMIT {
        return pass("clock", detail);
    }
    let pi = if synced == "yes" {
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
    let delay = before.uncertainty();
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
            describe_offset_from(before.offset(), "this machine's")
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
