//! `run --pause`, presenter mode: before each step the [`Presenter`] shows
//! its title, hosts and `plan` lines on the terminal and waits for a key —
//! Enter runs it, `s` skips it (only when no later step of the run needs
//! it), `q` stops the run as Ctrl-C does (the same flag). After each step it
//! shows what the step showed: the lines its expectations matched and each
//! capture's frames by kind. Everything else is a normal run.
//!
//! Keys come from the controlling terminal (`/dev/tty`), in raw mode
//! (termios: no line editing, no echo; signals still work) only while a key
//! is awaited; the terminal's settings are restored right after, and on
//! Ctrl-C. The presenter sees the run's events as copies from the reporter
//! thread, so it needs no hook in the workers.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::time::Duration;

use super::event::Event;
use crate::error::Error;
use crate::lab::{Lab, Plan};

const TTY: &str = "/dev/tty";

/// How long [`Presenter::after`] waits for a step's last events.
const SETTLE: Duration = Duration::from_secs(10);

/// What the presenter chose for the next step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Choice {
    Run,
    Skip,
    Quit,
}

/// The terminal, or why there is none (`--pause` then refuses, exit 2).
fn open_tty() -> Result<File, Error> {
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(TTY)
        .map_err(|e| {
            Error::Usage(format!(
                "`run --pause` needs a terminal to read keys from, and `{TTY}` cannot be opened: {}",
                crate::util::io_reason(&e)
            ))
        })?;
    // SAFETY: isatty on a descriptor we own.
    if unsafe { libc::isatty(tty.as_raw_fd()) } != 1 {
        return Err(Error::Usage(format!(
            "`run --pause` needs a terminal to read keys from; `{TTY}` is not one"
        )));
    }
    Ok(tty)
}

/// Refuses `--pause` without a terminal, before anything runs.
pub(crate) fn check_terminal() -> Result<(), Error> {
    open_tty().map(drop)
}

/// The terminal in raw mode while this lives; its settings restored on drop.
struct Raw<'a> {
    tty: &'a File,
    saved: libc::termios,
}

impl<'a> Raw<'a> {
    fn enter(tty: &'a File) -> Option<Raw<'a>> {
        let fd = tty.as_raw_fd();
        // SAFETY: termios is plain data; tcgetattr fills it for our descriptor.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
            return None;
        }
        let mut raw = saved;
        // One key at a time, not echoed; ISIG stays on, so Ctrl-C still interrupts.
        raw.c_lflag &= !(libc::ICANON | libc::ECHO);
        raw.c_cc[libc::VMIN] = 1;
        raw.c_cc[libc::VTIME] = 0;
        // SAFETY: as above.
        if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &raw) } != 0 {
            return None;
        }
        Some(Raw { tty, saved })
    }
}

impl Drop for Raw<'_> {
    fn drop(&mut self) {
        // SAFETY: restores the settings read in `enter` on the same descriptor.
        unsafe {
            libc::tcsetattr(self.tty.as_raw_fd(), libc::TCSANOW, &self.saved);
        }
    }
}

pub(crate) struct Presenter {
    tty: File,
    /// Copies of the run's events, in the reporter's order.
    events: Receiver<Event>,
    dir: PathBuf,
    /// Per step of the plan: the later steps of this run that need it.
    needed_by: BTreeMap<String, Vec<String>>,
    /// Each step's hosts, as the lab file names them.
    hosts: BTreeMap<String, Vec<String>>,
}

impl Presenter {
    pub(crate) fn new(
        lab: &Lab,
        plan: &Plan,
        dir: PathBuf,
        events: Receiver<Event>,
    ) -> Result<Presenter, Error> {
        let mut needed_by: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut hosts = BTreeMap::new();
        for (k, later) in plan.steps.iter().enumerate() {
            let Some(j) = lab.step(&later.id) else {
                continue;
            };
            hosts.insert(later.id.clone(), lab.steps[j].hosts.clone());
            for i in lab.closure(&[j]) {
                let id = &lab.steps[i].id;
                let earlier = plan.steps[..k].iter().any(|s| s.id == *id);
                if earlier {
                    needed_by
                        .entry(id.clone())
                        .or_default()
                        .push(later.id.clone());
                }
            }
        }
        Ok(Presenter {
            tty: open_tty()?,
            events,
            dir,
            needed_by,
            hosts,
        })
    }

    fn say(&mut self, text: &str) {
        // Text from hosts and the lab file made inert, a line at a time; raw
        // mode leaves output processing alone: `\n` still starts a new line.
        let text: String = text
            .lines()
            .map(|l| crate::style::inert(l) + "\n")
            .collect();
        let _ = self.tty.write_all(text.as_bytes());
        let _ = self.tty.flush();
    }

    /// Shows step `k` of `plan` and waits for Enter, `s` or `q` (or Ctrl-C).
    pub(crate) fn before(&mut self, plan: &Plan, k: usize, stop: &AtomicBool) -> Choice {
        let step = &plan.steps[k];
        let hosts = self
            .hosts
            .get(&step.id)
            .map(|h| h.join(", "))
            .unwrap_or_default();
        let needed = if step.needed { "  (needed)" } else { "" };
        let text = format!(
            "\n── next: {}  {}{needed}\n   hosts: {hosts}\n{}   [Enter] run   [s] skip   [q] stop\n",
            step.id,
            step.title,
            step.render_ops()
        );
        self.say(&text);
        loop {
            match self.key(stop) {
                None => return Choice::Quit,
                Some(b'\r' | b'\n') => return Choice::Run,
                Some(b's' | b'S') => match self.needed_by.get(&step.id) {
                    Some(later) if !later.is_empty() => {
                        let list: Vec<String> = later.iter().map(|s| format!("`{s}`")).collect();
                        let msg = format!(
                            "   cannot skip `{}`: {} need{} it; [Enter] run   [q] stop\n",
                            step.id,
                            list.join(", "),
                            if later.len() == 1 { "s" } else { "" }
                        );
                        self.say(&msg);
                    }
                    _ => {
                        self.say(&format!("   skipped `{}`\n", step.id));
                        return Choice::Skip;
                    }
                },
                Some(b'q' | b'Q') => {
                    self.say("   stopping, as Ctrl-C does\n");
                    stop.store(true, Ordering::SeqCst);
                    return Choice::Quit;
                }
                Some(_) => {}
            }
        }
    }

    /// One key from the terminal in raw mode; `None` once `stop` is set
    /// (Ctrl-C) or the terminal is gone.
    fn key(&mut self, stop: &AtomicBool) -> Option<u8> {
        let _raw = Raw::enter(&self.tty);
        let fd = self.tty.as_raw_fd();
        loop {
            if stop.load(Ordering::SeqCst) {
                return None;
            }
            let mut p = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one pollfd for a descriptor we own.
            let n = unsafe { libc::poll(&mut p, 1, 100) };
            if n < 0 {
                if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return None;
            }
            if n == 0 {
                continue;
            }
            let mut b = [0u8; 1];
            match (&self.tty).read(&mut b) {
                Ok(1) => return Some(b[0]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                _ => return None,
            }
        }
    }

    /// After step `step` finished: the lines its expectations matched and
    /// each capture's frames by kind.
    pub(crate) fn after(&mut self, step: &str) {
        let mut lines = Vec::new();
        while let Ok(e) = self.events.recv_timeout(SETTLE) {
            match e {
                Event::ActionDone {
                    host,
                    what,
                    ok,
                    detail,
                    ..
                } => lines.push(format!(
                    "   {} {host}  {what}: {detail}",
                    if ok { "✔" } else { "✘" }
                )),
                Event::ExpectationPassed {
                    host, what, seen, ..
                } => lines.push(format!("   ✔ {host}  {what}: {seen}")),
                Event::ExpectationFailed { host, message, .. } => {
                    lines.push(format!("   ✘ {host}  {message}"))
                }
                Event::CaptureSaved {
                    host, name, file, ..
                } => lines.push(self.frames(&host, &name, &file)),
                Event::StepFinished { step: s, .. } if s == step => break,
                _ => {}
            }
        }
        if lines.is_empty() {
            lines.push("   (nothing to show)".to_string());
        }
        let text = format!("── `{step}` showed:\n{}\n", lines.join("\n"));
        self.say(&text);
    }

    /// `capture `cap-B` on B: 12 frames: 3 SYN, 3 SYN-ACK, …`.
    fn frames(&self, host: &str, name: &str, file: &str) -> String {
        let analysis = std::fs::read(self.dir.join(file))
            .map_err(|e| crate::util::io_reason(&e))
            .and_then(|b| crate::capture::analyze(&b).map_err(|e| e.to_string()));
        match analysis {
            Ok(a) => {
                let kinds: Vec<String> = crate::capture::KINDS
                    .iter()
                    .filter(|k| a.counts.get(**k) > 0)
                    .map(|k| format!("{} {}", a.counts.get(*k), k.name()))
                    .collect();
                format!(
                    "   ⤓ {host}  capture `{name}`: {} frames: {}",
                    a.counts.total,
                    kinds.join(", ")
                )
            }
            Err(why) => format!("   ⤓ {host}  capture `{name}` ({file}): cannot read it: {why}"),
        }
    }
}
