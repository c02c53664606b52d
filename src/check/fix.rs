//! `--fix`: repairs on one host what the first pass found (addresses, links, programs, stale lab programs).

use crate::config::hosts::Host;
use crate::deploy::{self};
use crate::hostops::{self};
use crate::ssh::{self, Session};

use super::*;

/// Repairs what the first pass found on one host.
pub(super) fn fix_host(
    session: &Session,
    host: &Host,
    before: &HostReport,
    set: &crate::programs::ProgramSet,
) -> FixActions {
    let mut a = FixActions {
        host: host.label(),
        ..FixActions::default()
    };
    let t = session.command_timeout();
    // A check that could not run (the script failed) may need fixing too:
    // every repair below is idempotent.
    let needs = |c: &str| before.get(c).is_some_and(|r| r.status != Status::Pass);
    let iface_ok = !before.failed("interface");
    if iface_ok && (needs("address") || needs("link") || needs("manager")) {
        let cmd = hostops::configure_cmd(host);
        match session.exec(&cmd, None, t) {
            Ok(o) if o.success() => a.done.push(if o.stdout_str().contains("via nm") {
                format!(
                    "assigned {} to {} and brought it up through NetworkManager profile `{}` (manual IPv4), which NetworkManager keeps",
                    host.cidr(),
                    host.interface,
                    hostops::nm_profile(host)
                )
            } else {
                format!(
                    "assigned {} to {} and brought it up",
                    host.cidr(),
                    host.interface
                )
            }),
            Ok(o) => a.failed.push(format!(
                "assigning {} to {}: `configure` {}: {}",
                host.cidr(),
                host.interface,
                o.describe(),
                ssh::whole_reason(&o.stderr_str())
            )),
            Err(e) => a.failed.push(format!(
                "assigning {} to {}: {e}",
                host.cidr(),
                host.interface
            )),
        }
    }
    // Stale programs a killed labctl left (registered in `<workdir>/procs/`).
    match session.exec(&crate::remote::stop_all_cmd(host), None, t) {
        Ok(o) => {
            let stopped = crate::remote::parse_stop_output(&o.stdout_str());
            let gone: Vec<String> = stopped
                .iter()
                .filter(|p| !p.alive)
                .map(|p| format!("`{}` (group {})", p.name, p.pgid))
                .collect();
            let alive: Vec<String> = stopped
                .iter()
                .filter(|p| p.alive)
                .map(|p| format!("`{}` (group {})", p.name, p.pgid))
                .collect();
            if !gone.is_empty() {
                a.done
                    .push(format!("stopped stale lab programs: {}", gone.join(", ")));
            }
            if !alive.is_empty() {
                a.failed
                    .push(format!("still running after stop: {}", alive.join(", ")));
            } else if !o.success() && stopped.is_empty() {
                a.failed.push(format!(
                    "stopping stale lab programs {}: {}",
                    o.describe(),
                    ssh::whole_reason(&o.stderr_str())
                ));
            }
        }
        Err(e) => a.failed.push(format!("stopping stale lab programs: {e}")),
    }
    // A clock off: set from this machine's where the login may (no run needs it).
    if before
        .get("clock")
        .is_some_and(|r| r.status == Status::Warn && !r.detail.starts_with("could not"))
    {
        match super::clock::fix(session, host) {
            Ok(done) => a.done.push(done),
            Err(why) => a.failed.push(why),
        }
    }
    if needs("programs") {
        match deploy::deploy_set(session, host, set) {
            Ok(r) if r.uploaded.is_empty() => a.done.push("programs already deployed".to_string()),
            Ok(r) => a.done.push(format!("deployed {}", r.uploaded.join(", "))),
            Err(e) => a.failed.push(format!("deploying the programs: {e}")),
        }
    }
    a
}
