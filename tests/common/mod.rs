//! The shared fixture of the integration tests: a uniquely named virtual
//! bench (`labctl testbed up`) that is torn down on drop, even when the test
//! panics, and a runner for the `labctl` binary with a timeout, in the style
//! of casey/just's tests (`Labctl::new().args([...]).run().assert_status(0)`).
//!
//! The helpers of the tests that run labs on a bench (scratch directories,
//! what is left running, background runs) are in `bench.rs`, and the lab
//! files they share in `labs.rs`, a bench with a lab ready to run in
//! `setup.rs`, a tmux pane to drive labctl on a terminal in `tmux.rs`, all
//! re-exported here.
//!
//! Every test binary declares `mod common;` and uses part of it, hence the
//! `dead_code` allowance below.
#![allow(dead_code)]

mod bench;
#[allow(unused_imports)]
pub use bench::*;
mod labs;
#[allow(unused_imports)]
pub use labs::{b_waits, ExchangeLab};
mod causal;
#[allow(unused_imports)]
pub use causal::{assert_causal, assert_causal_across};
mod setup;
#[allow(unused_imports)]
pub use setup::LabSetup;
mod tmux;
#[allow(unused_imports)]
pub use tmux::{quote_path, Tmux};

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use labctl::testbed::state::{HostState, State};

/// How long a `labctl` run may take unless [`Labctl::timeout`] says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// The `labctl` binary under test.
pub fn labctl_bin() -> &'static str {
    env!("CARGO_BIN_EXE_labctl")
}

// ---------------------------------------------------------------------------
// The runner

/// One run of the `labctl` binary, built fluently, then [`Labctl::run`].
#[derive(Debug, Clone)]
pub struct Labctl {
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    env_removes: Vec<OsString>,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
    dir: Option<PathBuf>,
}

impl Default for Labctl {
    fn default() -> Self {
        Self::new()
    }
}

impl Labctl {
    pub fn new() -> Self {
        Labctl {
            args: Vec::new(),
            envs: Vec::new(),
            env_removes: Vec::new(),
            stdin: None,
            timeout: DEFAULT_TIMEOUT,
            dir: None,
        }
    }

    /// Adds `--hosts PATH` (a global flag, so it may come before the subcommand).
    pub fn hosts(mut self, path: impl AsRef<Path>) -> Self {
        self.args.push("--hosts".into());
        self.args.push(path.as_ref().as_os_str().to_owned());
        self
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.envs
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Self {
        self.env_removes.push(key.as_ref().to_owned());
        self
    }

    /// Bytes written to the child's stdin (then closed). Without it stdin is `/dev/null`.
    pub fn stdin(mut self, input: impl AsRef<[u8]>) -> Self {
        self.stdin = Some(input.as_ref().to_vec());
        self
    }

    /// Kill the run (and its process group) and fail the test after this long.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.dir = Some(dir.as_ref().to_owned());
        self
    }

    /// The command line, for messages.
    pub fn describe(&self) -> String {
        let mut s = String::from("labctl");
        for a in &self.args {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        s
    }

    /// Runs it to the end. Panics (failing the test) if it cannot start or
    /// outlives its timeout, after killing its process group.
    pub fn run(self) -> RunOutput {
        let command = self.describe();
        let mut cmd = Command::new(labctl_bin());
        cmd.args(&self.args)
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        for k in &self.env_removes {
            cmd.env_remove(k);
        }
        for (k, v) in &self.envs {
            cmd.env(k, v);
        }
        if let Some(d) = &self.dir {
            cmd.current_dir(d);
        }
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `{command}`: {e}"));
        if let Some(input) = self.stdin {
            let mut w = child.stdin.take().expect("piped stdin");
            std::thread::spawn(move || {
                let _ = w.write_all(&input);
            });
        }
        let out = Collector::start(child.stdout.take().expect("piped stdout"));
        let err = Collector::start(child.stderr.take().expect("piped stderr"));
        let deadline = started + self.timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) => {}
                Err(e) => panic!("waiting for `{command}`: {e}"),
            }
            if Instant::now() >= deadline {
                // SAFETY: kill(2) on the child's own process group.
                unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
                let _ = child.wait();
                let stdout = out.finish(Duration::from_secs(2));
                let stderr = err.finish(Duration::from_secs(2));
                panic!(
                    "`{command}` did not finish within {:?}; killed it\n\
                     --- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
                    self.timeout
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        // A detached grandchild might hold the pipes open: wait a little, no more.
        let stdout = out.finish(Duration::from_secs(5));
        let stderr = err.finish(Duration::from_secs(5));
        let status = status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
        RunOutput {
            command,
            status,
            stdout,
            stderr,
            elapsed: started.elapsed(),
        }
    }
}

/// Reads a pipe on a thread into a shared buffer, so a run can be cut off
/// without losing what was already said.
struct Collector {
    buf: Arc<Mutex<Vec<u8>>>,
    done: std::sync::mpsc::Receiver<()>,
}

impl Collector {
    fn start(mut r: impl Read + Send + 'static) -> Collector {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let (tx, done) = std::sync::mpsc::channel();
        let b = buf.clone();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            loop {
                match r.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => b.lock().unwrap().extend_from_slice(&chunk[..n]),
                }
            }
            let _ = tx.send(());
        });
        Collector { buf, done }
    }

    fn finish(self, wait: Duration) -> String {
        let _ = self.done.recv_timeout(wait);
        let bytes = self.buf.lock().unwrap().clone();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// What a run said and how it ended.
#[derive(Debug, Clone)]
pub struct RunOutput {
    /// The command line, for messages.
    pub command: String,
    /// The exit code, or 128 + signal number.
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl fmt::Display for RunOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` exited with {} after {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command, self.status, self.elapsed, self.stdout, self.stderr
        )
    }
}

impl RunOutput {
    #[track_caller]
    pub fn assert_status(&self, code: i32) -> &Self {
        assert_eq!(self.status, code, "unexpected exit status\n{self}");
        self
    }

    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        self.assert_status(0)
    }

    #[track_caller]
    pub fn assert_stdout_contains(&self, s: &str) -> &Self {
        assert!(self.stdout.contains(s), "stdout lacks {s:?}\n{self}");
        self
    }

    #[track_caller]
    pub fn assert_stderr_contains(&self, s: &str) -> &Self {
        assert!(self.stderr.contains(s), "stderr lacks {s:?}\n{self}");
        self
    }

    #[track_caller]
    pub fn assert_stdout_lacks(&self, s: &str) -> &Self {
        assert!(!self.stdout.contains(s), "stdout has {s:?}\n{self}");
        self
    }

    /// The last non-empty line of stdout ("" if none).
    pub fn last_stdout_line(&self) -> &str {
        self.stdout
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
    }
}

/// A file of this repository, by its path from the top (`labs/arp-icmp.toml`).
pub fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The seed lab, `labs/lab.toml`.
pub fn seed_lab() -> PathBuf {
    repo_file("labs/lab.toml")
}

/// `labctl --hosts HOSTS --lab LAB`, for the test to add its subcommand:
/// a whole lab on a loaded machine, so 300 s.
pub fn lab_command(hosts: &Path, lab: &Path) -> Labctl {
    Labctl::new()
        .hosts(hosts)
        .arg("--lab")
        .arg(lab)
        .timeout(Duration::from_secs(300))
}

// ---------------------------------------------------------------------------
// The virtual bench

/// A unique, short testbed name (`[a-z0-9-]`, at most 16 characters): `t<pid>-<n>`.
pub fn unique_name() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("t{}-{}", std::process::id(), n)
}

/// A virtual bench (or room) built by `labctl testbed up` under a unique
/// name, removed by `labctl testbed down` when dropped (also on panic).
///
/// Hosts are named `A`, `B`, `C`; in a room, `bench2/A`.
pub struct TestBench {
    name: String,
    hosts_file: PathBuf,
    state_dir: PathBuf,
    up: RunOutput,
    down_done: bool,
}

impl TestBench {
    /// One bench: hosts A, B, C.
    pub fn up() -> TestBench {
        Self::build(None, &[])
    }

    /// One bench made by `testbed up` with `envs` set (testbed options
    /// such as `LABCTL_TESTBED_RSA_HOST_KEY`).
    pub fn up_with_env(envs: &[(&str, &str)]) -> TestBench {
        Self::build(None, envs)
    }

    /// A room of `benches` benches, `bench1`..`benchN`, each with A, B, C.
    pub fn room(benches: u16) -> TestBench {
        Self::build(Some(benches), &[])
    }

    /// One bench of root hosts (`testbed up --root`), for tests that need
    /// root logins for a reason they state.
    pub fn root() -> TestBench {
        Self::build_with(None, &["--root"], &[])
    }

    /// One bench whose `pi` has no sudo rights (`testbed up --no-sudo`).
    pub fn no_sudo() -> TestBench {
        Self::build_with(None, &["--no-sudo"], &[])
    }

    /// One bench whose `pi` may sudo only `ip` and `tcpdump`, by the sudoers
    /// line labctl suggests (`testbed up --sudo-lab-only`).
    pub fn sudo_lab_only() -> TestBench {
        Self::build_with(None, &["--sudo-lab-only"], &[])
    }

    /// One bench made by `testbed up` with these options (`--user ada`,
    /// `--password-only`, `--no-network-manager` …).
    pub fn up_args(args: &[&str]) -> TestBench {
        Self::build_with(None, args, &[])
    }

    /// One bench of ARM hosts (`testbed up --arch aarch64|armv7`).
    pub fn arm(arch: &str) -> TestBench {
        Self::build_with(None, &["--arch", arch], &[])
    }

    fn build(benches: Option<u16>, envs: &[(&str, &str)]) -> TestBench {
        Self::build_with(benches, &[], envs)
    }

    fn build_with(benches: Option<u16>, extra: &[&str], envs: &[(&str, &str)]) -> TestBench {
        let name = unique_name();
        let mut args = vec![
            "testbed".to_string(),
            "up".into(),
            "--name".into(),
            name.clone(),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        if let Some(n) = benches {
            args.push("--benches".into());
            args.push(n.to_string());
        }
        // Another OS's root is made on its first use on a machine (debootstrap: minutes).
        let limit = if extra.contains(&"--os") {
            Duration::from_secs(900)
        } else {
            DEFAULT_TIMEOUT
        };
        let up = || {
            let mut l = Labctl::new().args(&args).timeout(limit);
            for (k, v) in envs {
                l = l.env(k, v);
            }
            l.run()
        };
        let mut out = up();
        if out.status != 0 && out.stderr.contains("exists") {
            // A leftover of an earlier run whose pid we now have: remove it, once.
            down_quietly(&name);
            out = up();
        }
        if out.status != 0 {
            down_quietly(&name);
            panic!("testbed up failed\n{out}");
        }
        let hosts_file = PathBuf::from(out.last_stdout_line());
        assert!(
            hosts_file.is_file(),
            "`testbed up` did not end with a hosts file path\n{out}"
        );
        let state_dir = hosts_file
            .parent()
            .expect("hosts file has a directory")
            .to_owned();
        TestBench {
            name,
            hosts_file,
            state_dir,
            up: out,
            down_done: false,
        }
    }

    /// The generated hosts.toml.
    pub fn hosts_file(&self) -> &Path {
        &self.hosts_file
    }

    /// The testbed's `--name`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The testbed's state directory (keys, configs, testbed.json, hosts.toml).
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// An empty HOME inside the bench's state directory (removed with it),
    /// so this machine's `~/.ssh` (known_hosts, config) plays no part.
    pub fn home(&self) -> PathBuf {
        let p = self.state_dir().join("home");
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    /// What `testbed up` printed.
    pub fn up_output(&self) -> &RunOutput {
        &self.up
    }

    /// A fresh read of `testbed.json`.
    pub fn state(&self) -> State {
        State::load(&self.state_dir).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Host `A`, or `bench2/A` in a room.
    #[track_caller]
    pub fn host(&self, host: &str) -> HostState {
        self.state()
            .host(host)
            .unwrap_or_else(|| panic!("testbed `{}` has no host `{host}`", self.name))
            .clone()
    }

    /// Every host spec: `A`, `B`, `C`, or `bench1/A` ... in a room.
    pub fn host_specs(&self) -> Vec<String> {
        let s = self.state();
        s.hosts()
            .map(|(b, h)| {
                if s.room {
                    format!("{}/{}", b.name, h.name)
                } else {
                    h.name.clone()
                }
            })
            .collect()
    }

    /// The network namespace of `host` (`A` or `bench2/A`).
    #[track_caller]
    pub fn netns(&self, host: &str) -> String {
        self.host(host).netns
    }

    /// The network namespace of `host` on bench `bench` of a room.
    #[track_caller]
    pub fn netns_in(&self, bench: &str, host: &str) -> String {
        self.netns(&format!("{bench}/{host}"))
    }

    /// Runs `sh -c cmd` inside `host`'s network namespace (as root, on this machine).
    #[track_caller]
    pub fn exec_in(&self, host: &str, cmd: &str) -> Output {
        let ns = self.netns(host);
        Command::new("ip")
            .args(["netns", "exec", &ns, "sh", "-c", cmd])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run `ip netns exec {ns}`: {e}"))
    }

    /// The pid of `host`'s sshd.
    #[track_caller]
    pub fn sshd_pid(&self, host: &str) -> u32 {
        self.host(host)
            .sshd_pid
            .unwrap_or_else(|| panic!("host `{host}` has no sshd recorded"))
    }

    /// Stops `host`'s sshd (and waits until it is gone): the host is then unreachable.
    #[track_caller]
    pub fn stop_sshd(&self, host: &str) {
        labctl::testbed::stop_sshd(&self.state_dir, host).unwrap_or_else(|e| panic!("{e}"));
    }

    /// Starts `host`'s sshd again; returns its new pid.
    #[track_caller]
    pub fn start_sshd(&self, host: &str) -> u32 {
        labctl::testbed::start_sshd(&self.state_dir, host).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The loopback port (127.0.0.1:PORT, root namespace) reaching `host`'s sshd.
    #[track_caller]
    pub fn ssh_port(&self, host: &str) -> u16 {
        self.host(host)
            .ssh_port
            .unwrap_or_else(|| panic!("host `{host}` has no ssh port recorded"))
    }

    /// The client key every host accepts (user root).
    pub fn identity(&self) -> PathBuf {
        self.state_dir.join("id_ed25519")
    }

    /// The known_hosts file with every host's key (`[127.0.0.1]:PORT`).
    pub fn known_hosts(&self) -> PathBuf {
        self.state_dir.join("known_hosts")
    }

    /// An OpenSSH client command running `remote` on `host` as root, strict host keys.
    #[track_caller]
    /// The login of the bench's hosts: `pi` (the default), `up --user`'s, or `root` (`up --root`).
    pub fn user(&self) -> String {
        self.state().login().to_string()
    }

    pub fn ssh(&self, host: &str, remote: &str) -> Command {
        let mut c = Command::new("ssh");
        c.arg("-i")
            .arg(self.identity())
            .arg("-o")
            .arg(format!(
                "UserKnownHostsFile={}",
                self.known_hosts().display()
            ))
            .args([
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "BatchMode=yes",
                "-o",
                "ConnectTimeout=10",
                "-F",
                "/dev/null",
                "-p",
            ])
            .arg(self.ssh_port(host).to_string())
            .arg(format!("{}@127.0.0.1", self.user()))
            .arg(remote)
            .stdin(Stdio::null());
        c
    }

    /// Runs `labctl testbed down` now and returns what it said; `Drop` then does nothing.
    pub fn down(&mut self) -> RunOutput {
        self.down_done = true;
        Labctl::new()
            .args(["testbed", "down", "--name", &self.name])
            .run()
    }
}

impl Drop for TestBench {
    fn drop(&mut self) {
        if !self.down_done {
            self.down_done = true;
            down_quietly(&self.name);
        }
    }
}

/// Prints, and records in `target/tmp/proven-os.txt` (which `scripts/test`
/// prints last), the versions of the OS `bench`'s hosts run that `what`
/// proved labctl against: OpenSSH, sudo, Python, NetworkManager …
pub fn record_proven(bench: &TestBench, what: &str) {
    let state = bench.state();
    let mut lines = Vec::new();
    for (_, h) in state.hosts() {
        if let (Some(os), Some(root)) = (&h.os, &h.root) {
            let v: Vec<String> =
                labctl::testbed::root::versions(root, &labctl::testbed::root::SHOWN)
                    .into_iter()
                    .map(|(p, v)| format!("{p} {v}"))
                    .collect();
            let line = format!("{os} ({}): {what}", v.join(", "));
            if !lines.contains(&line) {
                lines.push(line);
            }
        }
    }
    let file = Path::new(env!("CARGO_TARGET_TMPDIR")).join("proven-os.txt");
    let _ = std::fs::create_dir_all(file.parent().unwrap());
    for l in &lines {
        eprintln!("proven on {l}");
        // One write per line, appended: tests running at once never mix their lines.
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&file)
        {
            let _ = f.write_all(format!("{l}\n").as_bytes());
        }
    }
}

/// `testbed down --name NAME`, reporting (not panicking) on failure: it runs from `Drop`.
fn down_quietly(name: &str) {
    let r = std::panic::catch_unwind(|| {
        Labctl::new()
            .args(["testbed", "down", "--name", name])
            .run()
    });
    match r {
        Ok(out) if out.status == 0 => {}
        Ok(out) => eprintln!("fixture: testbed down failed\n{out}"),
        Err(_) => eprintln!("fixture: testbed down `{name}` did not finish"),
    }
}

/// Builds the socket programs and `labctl-stamp` next to the `labctl` under
/// test when they are missing or older than their sources
/// ([`labctl::build::is_stale`]): `cargo test --workspace` builds them, a
/// lone `cargo test --test X` does not, and a stale `labctl-stamp` (from
/// before a change to `hostkit`) would test old code on the hosts. `deploy`
/// and [`install_programs`] look for them there.
pub fn ensure_programs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let dir = Path::new(labctl_bin()).parent().expect("a directory");
        let root = labctl::deploy::workspace_root();
        if labctl::build::is_stale(&root, dir, &labctl::hostops::DEPLOYED) {
            let st = Command::new(env!("CARGO"))
                .args(["build", "-p", "sockets", "-p", "hostkit"])
                .current_dir(&root)
                .status()
                .expect("cargo build -p sockets -p hostkit");
            assert!(st.success(), "cargo build -p sockets -p hostkit failed");
        }
    });
}
