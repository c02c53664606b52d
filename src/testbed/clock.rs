//! A host's own clock on the virtual bench (`testbed up --clock A=-90s`),
//! wrong the way a Raspberry Pi's is (no battery clock: it boots with the
//! time it saved, until a time server sets it): consistently, for
//! everything on the host that reads the time, while labctl itself never
//! knows. A namespace cannot shift the kernel's clock, so:
//!
//! - every process of the host's SSH sessions runs with libfaketime
//!   (Debian's `faketime` package) preloaded, through its sshd's `SetEnv`:
//!   its programs, labctl's helpers (`labctl-stamp`), `date`. The offset is
//!   a file, re-read at every reading of the clock, so it can jump mid-run
//!   (`testbed clock`), as when a Pi reaches a time server;
//! - its captures: tcpdump writes the kernel's times, so the host's
//!   `tcpdump` is a wrapper that writes the capture file itself, each
//!   frame's time shifted by the host's offset as it is written
//!   ([`tcpdump`]), tcpdump's closing statistics held until the file is
//!   whole;
//! - `date -s` (`check --fix`) moves the host's offset, never this
//!   machine's clock: every host gets a `date` wrapper (`date.sh`), which
//!   refuses to set the clock of a host without its own.
//!
//! Each host has a clock directory (`<host dir>/clock`), which the host
//! sees at [`INSIDE`] (bound in its mount namespace by its boot script): the
//! offset file, the wrappers, and the real `date` and `tcpdump` bound under
//! them. Commands run through sudo lose the preload (sudo drops
//! `LD_PRELOAD`) and read this machine's clock; tcpdump's frames, the one
//! time such a command records, are shifted all the same.

use std::io::{BufRead, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::util::io_reason;
use crate::util::shell_template::{render, Val};

use super::state::{write_atomic, write_file, HostState, State};

/// Where a host sees its clock directory (an empty directory on Debian and
/// Raspberry Pi OS; bound over in the host's own mount namespace only).
pub const INSIDE: &str = "/srv";

/// The offset file in the clock directory: `+SECONDS.NANOS`, what
/// libfaketime's `FAKETIME_TIMESTAMP_FILE` takes.
const OFFSET: &str = "offset";

/// A host's clock directory, on this machine.
pub fn dir(host: &HostState) -> PathBuf {
    host.dir.join("clock")
}

/// `--clock A=-90s,bench2/B=+1h`: per host spec (`A`: that host on every
/// bench; `bench2/A`: one), its offset in seconds. A unit is one of `s`,
/// `m`, `h`, `d` (seconds without one).
pub fn parse_specs(text: &str) -> Result<Vec<(String, f64)>, Error> {
    let mut out = Vec::new();
    let mut bad = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('=') {
            Some((host, offset)) if !host.trim().is_empty() => match parse_offset(offset.trim()) {
                Some(o) => out.push((host.trim().to_string(), o)),
                None => bad.push(format!(
                    "`{part}`: the offset is a signed number with a unit: `-90s`, `+40s`, `+1h`, `-2d`"
                )),
            },
            _ => bad.push(format!(
                "`{part}`: say which host and how far its clock is off: `A=-90s`"
            )),
        }
    }
    if !bad.is_empty() {
        return Err(Error::Usage(format!("bad `--clock`: {}", bad.join("; "))));
    }
    if out.is_empty() {
        return Err(Error::Usage(
            "bad `--clock`: name a host and its offset, e.g. `A=-90s,B=+40s`".into(),
        ));
    }
    Ok(out)
}

/// `-90s`, `+40`, `+1.5h`, `-2d`, `0s`: seconds.
pub fn parse_offset(s: &str) -> Option<f64> {
    let (num, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let scale = match unit {
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        _ => return None,
    };
    let n: f64 = num.parse().ok()?;
    let secs = n * scale;
    // A clock within a few years of this machine's: more is a typo.
    (secs.is_finite() && secs.abs() <= 10.0 * 365.0 * 86_400.0).then_some(secs)
}

/// Marks the hosts `specs` name as having their own clock, with its offset;
/// an unknown host is an input error naming the hosts there are.
pub fn assign(state: &mut State, specs: &[(String, f64)]) -> Result<Vec<(String, f64)>, Error> {
    let mut set = Vec::new();
    for (spec, offset) in specs {
        let matched: Vec<String> = state
            .hosts()
            .filter(|(b, h)| *spec == h.name || *spec == format!("{}/{}", b.name, h.name))
            .map(|(b, h)| format!("{}/{}", b.name, h.name))
            .collect();
        if matched.is_empty() {
            let there: Vec<String> = state.hosts().map(|(_, h)| h.hostname.clone()).collect();
            return Err(Error::Usage(format!(
                "`--clock {spec}=…`: the testbed has no host `{spec}` (it has {})",
                there.join(", ")
            )));
        }
        for m in matched {
            if let Some(h) = state.host_mut(&m) {
                h.clock = true;
            }
            set.push((m, *offset));
        }
    }
    Ok(set)
}

/// libfaketime, as Debian's `faketime` package installs it: its build for
/// programs with threads (a threaded server, Python's), which takes a lock
/// around the state it caches.
pub fn library() -> Result<PathBuf, Error> {
    let found = std::fs::read_dir("/usr/lib").ok().and_then(|dirs| {
        dirs.flatten()
            .map(|d| d.path().join("faketime/libfaketimeMT.so.1"))
            .find(|p| p.is_file())
    });
    found.ok_or_else(|| {
        Error::Local(
            "`--clock` needs libfaketime: install Debian's `faketime` package (`apt-get install faketime`)"
                .into(),
        )
    })
}

/// The real program `name` is, as the host's shells find it.
fn real(name: &str, package: &str) -> Result<PathBuf, Error> {
    let p = super::proc::require_tool(name, package)?;
    std::fs::canonicalize(&p).map_err(|e| {
        Error::Local(format!(
            "cannot resolve `{}`: {}",
            p.display(),
            io_reason(&e)
        ))
    })
}

/// Makes `host`'s clock directory: its `date` wrapper and, with its own
/// clock, the offset file, the `tcpdump` wrapper and the shared memory
/// libfaketime wants ([`Shared`]).
pub fn prepare(state: &State, host: &HostState, offset: Option<f64>) -> Result<(), Error> {
    let d = dir(host);
    std::fs::create_dir_all(&d)
        .and_then(|()| std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)))
        .map_err(|e| {
            Error::Local(format!(
                "cannot create `{}`: {}",
                d.display(),
                io_reason(&e)
            ))
        })?;
    let own = host.clock;
    executable(&d.join("date"), &date_wrapper(own))?;
    // What the real programs are bound onto.
    write_file(&d.join("date.real"), "")?;
    if own {
        write_offset(host, offset.unwrap_or(0.0))?;
        write_file(&d.join("tcpdump.real"), "")?;
        let exe = std::env::current_exe().map_err(|e| {
            Error::Local(format!(
                "cannot find labctl's own binary: {}",
                io_reason(&e)
            ))
        })?;
        executable(&d.join("tcpdump"), &tcpdump_wrapper(&exe))?;
        Shared::of(state, host).create()?;
    }
    Ok(())
}

/// Writes an executable script (0755).
fn executable(path: &Path, text: &str) -> Result<(), Error> {
    write_file(path, text)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).map_err(|e| {
        Error::Local(format!(
            "cannot make `{}` executable: {}",
            path.display(),
            io_reason(&e)
        ))
    })
}

/// The `date` wrapper (`date.sh`).
fn date_wrapper(own: bool) -> String {
    let body = render(
        include_str!("date.sh"),
        &[
            ("DIR", Val::Quoted(INSIDE)),
            ("OWN", Val::Raw(if own { "1" } else { "''" })),
        ],
    );
    format!("#!/bin/sh\n{body}\n")
}

/// The `tcpdump` wrapper (`tcpdump.sh`).
fn tcpdump_wrapper(labctl: &Path) -> String {
    let body = render(
        include_str!("tcpdump.sh"),
        &[
            ("LABCTL", Val::Quoted(&labctl.to_string_lossy())),
            ("DIR", Val::Quoted(INSIDE)),
        ],
    );
    format!("#!/bin/sh\n{body}\n")
}

/// Sets `host`'s offset (seconds ahead of this machine), whole: every
/// process of the host reads its clock by it from its next reading on.
pub fn write_offset(host: &HostState, offset: f64) -> Result<(), Error> {
    let path = dir(host).join(OFFSET);
    write_atomic(&path, format!("{offset:+.9}\n").as_bytes())?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).map_err(|e| {
        Error::Local(format!(
            "cannot make `{}` readable: {}",
            path.display(),
            io_reason(&e)
        ))
    })
}

/// `host`'s offset now (0 without its own clock).
pub fn read_offset(host: &HostState) -> f64 {
    read_offset_in(&dir(host))
}

fn read_offset_in(dir: &Path) -> f64 {
    std::fs::read_to_string(dir.join(OFFSET))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0.0)
}

/// What the host's boot script binds (source on this machine, target in the
/// host), in order: its clock directory at [`INSIDE`], the real `date` (and
/// with its own clock `tcpdump`) under it, the wrappers over them.
pub fn mounts(host: &HostState) -> Result<Vec<(PathBuf, String)>, Error> {
    let d = dir(host);
    let inside = Path::new(INSIDE);
    let mut m = vec![(d.clone(), INSIDE.to_string())];
    let mut wrap = |name: &str, real: PathBuf| {
        m.push((
            real.clone(),
            inside.join(format!("{name}.real")).display().to_string(),
        ));
        m.push((d.join(name), real.display().to_string()));
    };
    wrap("date", real("date", "coreutils")?);
    if host.clock {
        wrap("tcpdump", real("tcpdump", "tcpdump")?);
    }
    Ok(m)
}

/// What a host with its own clock adds to its sshd's `SetEnv`: libfaketime
/// preloaded, reading the offset file at every reading of the clock; the
/// monotonic clock and file times left alone (a Pi's clock being set moves
/// neither; and a file time faked would take libfaketime's lock on every
/// `stat`); the shared memory it wants, made by `up` ([`Shared`]).
pub fn sshd_env(state: &State, host: &HostState) -> Result<String, Error> {
    if !host.clock {
        return Ok(String::new());
    }
    let shared = Shared::of(state, host);
    Ok(format!(
        " LD_PRELOAD={} FAKETIME_TIMESTAMP_FILE={INSIDE}/{OFFSET} FAKETIME_NO_CACHE=1 \
         FAKETIME_DONT_FAKE_MONOTONIC=1 NO_FAKE_STAT=1 \"FAKETIME_SHARED=/{} /{}\"",
        library()?.display(),
        shared.sem,
        shared.shm
    ))
}

/// The semaphore and shared memory libfaketime shares between a process and
/// its children. Unless `FAKETIME_SHARED` names them, every process makes
/// its own (`/dev/shm/faketime_*_PID`) and leaves them behind when it execs
/// or is killed; a later process given the same pid then fails. So `up`
/// makes one pair per host, readable and writable by its login, and `down`
/// removes them. The semaphore counts high: a process killed between taking
/// and giving it back (libfaketime takes it as a process starts) can never
/// block the host's others; with a relative offset nothing it guards matters.
pub struct Shared {
    sem: String,
    shm: String,
}

/// What every testbed's shared memory names start with.
const SHARED_PREFIX: &str = "labctl-tb.";

impl Shared {
    pub fn of(state: &State, host: &HostState) -> Shared {
        let bench = state
            .hosts()
            .find(|(_, h)| h.netns == host.netns)
            .map_or("bench", |(b, _)| b.name.as_str());
        let base = format!("{SHARED_PREFIX}{}.{bench}.{}", state.name, host.name);
        Shared {
            sem: base.clone(),
            shm: format!("{base}.shm"),
        }
    }

    fn create(&self) -> Result<(), Error> {
        let fail = |what: &str| {
            Error::Local(format!(
                "cannot create {what} `/dev/shm/{}` for libfaketime: {}",
                if what == "semaphore" {
                    format!("sem.{}", self.sem)
                } else {
                    self.shm.clone()
                },
                std::io::Error::last_os_error()
            ))
        };
        let name = |n: &str| std::ffi::CString::new(format!("/{n}")).expect("no NUL in a name");
        let sem = name(&self.sem);
        // SAFETY: a valid C string; mode and value as sem_open(3) takes them.
        let s = unsafe {
            libc::sem_open(
                sem.as_ptr(),
                libc::O_CREAT,
                0o666 as libc::c_uint,
                1_000_000 as libc::c_uint,
            )
        };
        if s == libc::SEM_FAILED {
            return Err(fail("semaphore"));
        }
        // SAFETY: `s` was just opened.
        unsafe { libc::sem_close(s) };
        let shm = name(&self.shm);
        // SAFETY: a valid C string.
        let fd = unsafe { libc::shm_open(shm.as_ptr(), libc::O_CREAT | libc::O_RDWR, 0o666) };
        if fd < 0 {
            return Err(fail("shared memory"));
        }
        // SAFETY: `fd` is ours from here on.
        let mut f = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        // libfaketime's `struct ft_shared_s`: two counters, then the start
        // times (real, monotonic, raw, boot), each `{0, -1}`: not set yet.
        let mut bytes = vec![0u8; 16];
        for _ in 0..4 {
            bytes.extend_from_slice(&0i64.to_ne_bytes());
            bytes.extend_from_slice(&(-1i64).to_ne_bytes());
        }
        bytes.resize(4096, 0);
        f.set_len(4096)
            .and_then(|()| f.write_all(&bytes))
            .map_err(|_| fail("shared memory"))?;
        // Whatever the umask: every login of the host opens them.
        for file in [format!("sem.{}", self.sem), self.shm.clone()] {
            let _ = std::fs::set_permissions(
                Path::new("/dev/shm").join(file),
                std::fs::Permissions::from_mode(0o666),
            );
        }
        Ok(())
    }
}

/// Removes the shared memory of testbed `name`'s hosts (`down`).
pub fn remove_shared(name: &str) {
    let mine = format!("{SHARED_PREFIX}{name}.");
    let Ok(entries) = std::fs::read_dir("/dev/shm") else {
        return;
    };
    for e in entries.flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        if file
            .strip_prefix("sem.")
            .unwrap_or(&file)
            .starts_with(&mine)
        {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// `testbed clock --name N A=+1h`: sets clocks of a running testbed, as a
/// time server reached or a clock set by hand does; only on hosts given
/// their own at `up`.
pub fn command(name: &str, specs: &str) -> Result<(), Error> {
    let specs = parse_specs(specs)?;
    let state = State::load(&super::state_root().join(name))?;
    let mut probe = state.clone();
    let set = assign(&mut probe, &specs)?;
    for (spec, _) in &set {
        let host = state.host(spec).expect("assigned to a host there is");
        if !host.clock {
            return Err(Error::Usage(format!(
                "host `{}` shares this machine's clock; give it its own with `labctl testbed up --clock {}=+0s`",
                host.hostname, host.name
            )));
        }
    }
    for (spec, offset) in &set {
        let host = state.host(spec).expect("assigned to a host there is");
        write_offset(host, *offset)?;
        eprintln!(
            "testbed `{name}`: host `{}`: its clock is now {}",
            host.hostname,
            crate::record::describe_offset_from(*offset, "this machine's")
        );
    }
    Ok(())
}

/// `labctl testbed clock-tcpdump --dir D -- ARGS` (the host's `tcpdump`,
/// [`INSIDE`]`/tcpdump`): the real tcpdump with `ARGS`; when they write a
/// file (`-w FILE`), tcpdump writes to a pipe and this writes `FILE`, each
/// frame's time moved by the host's offset as it comes (with `-U` every
/// frame is written at once, as tcpdump would). Its statistics, its last
/// lines (what labctl waits for before it fetches the file), are held until
/// the file is whole. Ctrl-C and TERM go on to tcpdump (it may be in a
/// process group of its own, under sudo); it dies with this process. Exits
/// as tcpdump did.
pub fn tcpdump(dir: &Path, args: &[std::ffi::OsString]) -> Result<i32, Error> {
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    let real = dir.join("tcpdump.real");
    let w = args.iter().position(|a| a == "-w");
    let file = w.and_then(|i| args.get(i + 1)).filter(|f| *f != "-");
    // Named `tcpdump`, as its messages say (`tcpdump: listening on …`).
    let Some(file) = file.cloned() else {
        let e = std::process::Command::new(&real)
            .arg0("tcpdump")
            .args(args)
            .exec();
        return Err(Error::Local(format!(
            "cannot run `{}`: {e}",
            real.display()
        )));
    };
    let mut argv = args.to_vec();
    argv[w.expect("found") + 1] = "-".into();
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(&file)
        .map_err(|e| {
            Error::Local(format!(
                "tcpdump: {}: {}",
                Path::new(&file).display(),
                io_reason(&e)
            ))
        })?;
    let mut cmd = std::process::Command::new(&real);
    cmd.arg0("tcpdump")
        .args(&argv)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    // SAFETY: prctl(2) only, between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| {
        Error::Local(format!(
            "cannot run `{}`: {}",
            real.display(),
            io_reason(&e)
        ))
    })?;
    forward_signals(child.id());
    let stderr = child.stderr.take().expect("piped");
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let relay = std::thread::spawn(move || relay_stderr(stderr, done_rx));
    let stdout = child.stdout.take().expect("piped");
    let copied = shift_pcap(std::io::BufReader::new(stdout), &mut out, dir);
    drop(out);
    let _ = done_tx.send(());
    let _ = relay.join();
    let status = child
        .wait()
        .map_err(|e| Error::Local(format!("waiting for tcpdump: {}", io_reason(&e))))?;
    copied.map_err(|e| Error::Local(format!("tcpdump: writing the capture: {}", io_reason(&e))))?;
    Ok(status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
}

/// The pid Ctrl-C and TERM are passed on to.
static CHILD: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" fn pass_on(sig: libc::c_int) {
    let pid = CHILD.load(std::sync::atomic::Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: kill(2) is async-signal-safe.
        unsafe { libc::kill(pid, sig) };
    }
}

/// INT, TERM and HUP reach tcpdump through this process too: under sudo
/// with a terminal of its own, a group signal reaches only sudo, which
/// relays it here. This process goes on until the file is whole.
fn forward_signals(pid: u32) {
    CHILD.store(pid as i32, std::sync::atomic::Ordering::SeqCst);
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: a handler that only calls kill(2).
        unsafe { libc::signal(sig, pass_on as *const () as libc::sighandler_t) };
    }
}

/// tcpdump's stderr on this process's, line by line as it comes; from its
/// statistics on (`N packets captured`, its last lines) held until `done`.
fn relay_stderr(stderr: impl Read, done: std::sync::mpsc::Receiver<()>) {
    let mut held: Vec<u8> = Vec::new();
    let mut err = std::io::stderr();
    for line in std::io::BufReader::new(stderr).split(b'\n') {
        let Ok(mut line) = line else { break };
        line.push(b'\n');
        if held.is_empty() && !String::from_utf8_lossy(&line).contains(" packets captured") {
            let _ = err.write_all(&line);
        } else {
            held.extend_from_slice(&line);
        }
    }
    let _ = done.recv();
    let _ = err.write_all(&held);
}

/// Copies a pcap stream from `input` to `out`, every frame's time moved by
/// the offset in `dir` (read again for each frame: the clock may jump).
/// Frames are written whole, one write each, as they come.
fn shift_pcap(mut input: impl Read, out: &mut impl Write, dir: &Path) -> std::io::Result<()> {
    let mut header = [0u8; 24];
    if !read_all(&mut input, &mut header)? {
        return Ok(());
    }
    out.write_all(&header)?;
    let magic = [header[0], header[1], header[2], header[3]];
    let (le, nanos) = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] => (true, false),
        [0x4d, 0x3c, 0xb2, 0xa1] => (true, true),
        [0xa1, 0xb2, 0xc3, 0xd4] => (false, false),
        [0xa1, 0xb2, 0x3c, 0x4d] => (false, true),
        // Not a pcap tcpdump writes: copied as it is.
        _ => {
            std::io::copy(&mut input, out)?;
            return Ok(());
        }
    };
    let u32_of = |b: &[u8]| {
        let a = [b[0], b[1], b[2], b[3]];
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    let bytes_of = |v: u32| if le { v.to_le_bytes() } else { v.to_be_bytes() };
    let unit: i128 = if nanos { 1 } else { 1000 };
    let mut record = Vec::new();
    loop {
        let mut h = [0u8; 16];
        if !read_all(&mut input, &mut h)? {
            return Ok(());
        }
        let len = u32_of(&h[8..12]) as usize;
        record.clear();
        record.resize(16 + len, 0);
        if !read_all(&mut input, &mut record[16..])? {
            return Ok(());
        }
        let offset_ns = (read_offset_in(dir) * 1e9).round() as i128;
        let t = u32_of(&h[0..4]) as i128 * 1_000_000_000 + u32_of(&h[4..8]) as i128 * unit;
        let t = (t + offset_ns).clamp(0, u32::MAX as i128 * 1_000_000_000);
        let (sec, frac) = (t / 1_000_000_000, t % 1_000_000_000 / unit);
        record[..4].copy_from_slice(&bytes_of(sec as u32));
        record[4..8].copy_from_slice(&bytes_of(frac as u32));
        record[8..16].copy_from_slice(&h[8..16]);
        out.write_all(&record)?;
    }
}

/// Fills `buf` from `r`; false at an end of input before it was full.
fn read_all(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => return Ok(false),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_specs_name_hosts_and_signed_offsets() {
        let s = parse_specs("A=-90s, B=+40s,bench2/C=+1h,A=0").unwrap();
        assert_eq!(
            s,
            vec![
                ("A".into(), -90.0),
                ("B".into(), 40.0),
                ("bench2/C".into(), 3600.0),
                ("A".into(), 0.0)
            ]
        );
        assert_eq!(parse_offset("-1.5m"), Some(-90.0));
        assert_eq!(parse_offset("+2d"), Some(172_800.0));
        for bad in ["A", "=5s", "A=soon", "A=5w", "", "A=+20y"] {
            let e = parse_specs(bad).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}");
            assert!(e.to_string().contains("`--clock`"), "{e}");
        }
    }

    #[test]
    fn a_capture_is_written_with_the_hosts_clock_and_its_jumps() {
        let dir = std::env::temp_dir().join(format!("labctl-clock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(OFFSET), "-90.5\n").unwrap();
        // A microsecond pcap, little-endian, two frames of 3 and 1 bytes.
        let mut pcap = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        pcap.extend([0u8; 8]);
        pcap.extend(65535u32.to_le_bytes());
        pcap.extend(1u32.to_le_bytes());
        for (sec, usec, data) in [(1000u32, 900_000u32, &b"abc"[..]), (1001, 0, &b"d"[..])] {
            pcap.extend(sec.to_le_bytes());
            pcap.extend(usec.to_le_bytes());
            pcap.extend((data.len() as u32).to_le_bytes());
            pcap.extend((data.len() as u32).to_le_bytes());
            pcap.extend(data);
        }
        let mut out = Vec::new();
        shift_pcap(&pcap[..], &mut out, &dir).unwrap();
        assert_eq!(out.len(), pcap.len());
        let a = crate::capture::analyze(&pcap).unwrap();
        let b = crate::capture::analyze(&out).unwrap();
        assert!((b.start_unix - (a.start_unix - 90.5)).abs() < 1e-6);
        assert_eq!(&out[24 + 16..24 + 19], b"abc");
        // The second frame: 1001.0 - 90.5 = 910.5.
        let second = &out[24 + 19..];
        assert_eq!(u32::from_le_bytes(second[..4].try_into().unwrap()), 910);
        assert_eq!(
            u32::from_le_bytes(second[4..8].try_into().unwrap()),
            500_000
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
