//! Helpers of the tests that run labs on the virtual bench (re-exported by
//! `common`): scratch directories, copies of the bench's hosts file, other
//! host keys, what is left running on a bench (read from /proc: the
//! namespaces share this machine's pid namespace and filesystem), run
//! directories, and `labctl` runs in the background that a test can watch
//! line by line, signal, and wait for.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use labctl::testbed::proc::{alive, cmdline};

use super::{ensure_programs, labctl_bin, Labctl, RunOutput, TestBench};

/// A scratch directory removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("labctl-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Writes `text` to `name` in the scratch directory; returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The working directory of `host` as the bench's hosts file says.
pub fn workdir(bench: &TestBench, host: &str) -> PathBuf {
    bench.host(host).dir.join("work")
}

/// Copies the locally built socket programs into every host's `<workdir>/bin`
/// (the hosts share this filesystem), so a small lab needs no `deploy` step.
pub fn install_programs(bench: &TestBench) {
    ensure_programs();
    let src = Path::new(labctl_bin()).parent().unwrap();
    for h in bench.host_specs() {
        let bin = workdir(bench, &h).join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        own_like_workdir(bench, &h, &bin);
        for p in labctl::hostops::DEPLOYED {
            let to = bin.join(p);
            std::fs::copy(src.join(p), &to).unwrap();
            std::fs::set_permissions(&to, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .unwrap();
            own_like_workdir(bench, &h, &to);
        }
    }
}

/// Gives `path` (made by the test, as root) to the owner of `host`'s
/// workdir: `pi` on a default bench, so labctl's login may write there.
pub fn own_like_workdir(bench: &TestBench, host: &str, path: &Path) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(workdir(bench, host)).unwrap();
    std::os::unix::fs::chown(path, Some(m.uid()), Some(m.gid())).unwrap();
}

/// A copy of the bench's hosts file with `edit` applied to its text, in the
/// bench's state directory (so relative paths keep their meaning).
pub fn hosts_copy(bench: &TestBench, name: &str, edit: impl FnOnce(String) -> String) -> PathBuf {
    let text = std::fs::read_to_string(bench.hosts_file()).unwrap();
    let p = bench.state_dir().join(name);
    std::fs::write(&p, edit(text)).unwrap();
    p
}

/// A copy of the bench's hosts file (see [`hosts_copy`]) whose labctl
/// `known_hosts` is `kh`; the testbed's file must name one.
pub fn with_known_hosts(bench: &TestBench, name: &str, kh: &Path) -> PathBuf {
    hosts_copy(bench, name, |text| {
        let re = regex::Regex::new(r"(?m)^known_hosts\s*=.*$").unwrap();
        assert!(
            re.is_match(&text),
            "the testbed hosts file names its known_hosts"
        );
        re.replace_all(
            &text,
            format!("known_hosts = {:?}", kh.display().to_string()).as_str(),
        )
        .into_owned()
    })
}

/// The `known_hosts` line of `host` in the bench's own file.
#[track_caller]
pub fn known_line(bench: &TestBench, host: &str) -> String {
    let all = std::fs::read_to_string(bench.known_hosts()).unwrap();
    let name = format!("[127.0.0.1]:{} ", bench.ssh_port(host));
    all.lines()
        .find(|l| l.starts_with(&name))
        .unwrap_or_else(|| panic!("{host} in {all}"))
        .to_string()
}

/// A new ed25519 key pair at `path` (no passphrase), none of the bench's;
/// returns its public key as a known_hosts line has it: `ssh-ed25519 AAAA...`.
pub fn other_host_key(path: &Path) -> String {
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .unwrap();
    assert!(st.success());
    let public = std::fs::read_to_string(path.with_extension("pub")).unwrap();
    public
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Every live (non-zombie) process of a lab program on the bench: its
/// executable lies in a host's `bin`, or it works in a host's run directory
/// (the wrapper, its timestamp loops, tcpdump, foreground programs). On `pi`
/// hosts a process sees its workdir as `/home/pi/labctl` (the host's own
/// `/home`), so there it also counts when it lives in a host's namespace.
pub fn lab_processes(bench: &TestBench) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let dirs: Vec<PathBuf> = bench
        .host_specs()
        .iter()
        .map(|h| workdir(bench, h))
        .collect();
    let inodes: Vec<u64> = bench
        .host_specs()
        .iter()
        .filter_map(|h| labctl::testbed::netns::inode(&bench.host(h).netns))
        .collect();
    let pi_dir = PathBuf::from(labctl::testbed::login::workdir(&bench.state().user));
    let pi_dir = pi_dir.as_path();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        // Zombies hold nothing.
        if !alive(pid) {
            continue;
        }
        let exe = std::fs::read_link(entry.path().join("exe")).unwrap_or_default();
        let cwd = std::fs::read_link(entry.path().join("cwd")).unwrap_or_default();
        let on_bench = || {
            std::fs::metadata(entry.path().join("ns/net")).is_ok_and(|m| inodes.contains(&m.ino()))
        };
        let in_dir = |d: &Path| exe.starts_with(d.join("bin")) || cwd.starts_with(d.join("runs"));
        if dirs.iter().any(|d| in_dir(d)) || (in_dir(pi_dir) && on_bench()) {
            found.push(format!("{pid} {}", cmdline(pid)));
        }
    }
    found
}

/// The pid of the run's agent on `host` (the shell that stops the run's
/// programs when labctl's connection drops): the first word of its `.agent`.
pub fn agent_pid(bench: &TestBench, host: &str) -> i32 {
    let runs = workdir(bench, host).join("runs");
    for d in std::fs::read_dir(&runs).unwrap().flatten() {
        if let Ok(t) = std::fs::read_to_string(d.path().join(".agent")) {
            // `PID START BOOT SSHD SSHD_START`
            return t.split_whitespace().next().unwrap().parse().unwrap();
        }
    }
    panic!("no agent recorded under {}", runs.display());
}

/// The groups still registered in the hosts' `<workdir>/procs/`.
pub fn registered(bench: &TestBench) -> Vec<String> {
    let mut v = Vec::new();
    for h in bench.host_specs() {
        if let Ok(rd) = std::fs::read_dir(workdir(bench, &h).join("procs")) {
            v.extend(
                rd.flatten()
                    .map(|e| format!("{h}/{}", e.file_name().to_string_lossy())),
            );
        }
    }
    v
}

/// Nothing of the lab runs on any host and no group is registered
/// (allowing a few seconds for the hosts' watchdogs).
#[track_caller]
pub fn assert_nothing_left(bench: &TestBench) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (procs, files) = (lab_processes(bench), registered(bench));
        if procs.is_empty() && files.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            panic!("left on the bench: processes {procs:#?}, registered groups {files:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The single run directory created under `out`.
#[track_caller]
pub fn run_dir(out: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap_or_else(|e| panic!("{}: {e}", out.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(
        dirs.len(),
        1,
        "one run directory in {}: {dirs:?}",
        out.display()
    );
    dirs[0].clone()
}

/// A JSON-lines file of the run directory.
pub fn json_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The row `check` of `host` on bench number `bench` in `check --json`'s
/// result `v` (its `status`, `detail` …).
#[track_caller]
pub fn check_row<'a>(
    v: &'a serde_json::Value,
    bench: usize,
    host: &str,
    check: &str,
) -> &'a serde_json::Value {
    v["benches"][bench]["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["host"] == host)
        .unwrap_or_else(|| panic!("no host {host} in {v}"))["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == check)
        .unwrap_or_else(|| panic!("no check {check} of {host} in {v}"))
}

/// `labctl --hosts H --lab L ARGS` in the foreground, in `home` (also HOME,
/// so this machine's `~/.ssh` plays no part).
pub fn labctl<S: AsRef<OsStr>>(hosts: &Path, lab: &Path, home: &Path, args: &[S]) -> RunOutput {
    ensure_programs();
    Labctl::new()
        .hosts(hosts)
        .arg("--lab")
        .arg(lab)
        .args(args)
        .env("HOME", home)
        .env("LABCTL_SSH_CONFIG", "/dev/null")
        .current_dir(home)
        .timeout(Duration::from_secs(120))
        .run()
}

/// `labctl [--lab LAB] run --out OUT ARGS` on `bench` (without `lab`, the
/// lab its hosts file names), which must exit `status`; the run directory
/// it made under `out`.
#[track_caller]
pub fn run_on(
    bench: &TestBench,
    lab: Option<&Path>,
    out: &Path,
    args: &[&str],
    status: i32,
) -> PathBuf {
    let mut l = Labctl::new().hosts(bench.hosts_file());
    if let Some(lab) = lab {
        l = l.arg("--lab").arg(lab);
    }
    l.args(["run", "--out"])
        .arg(out)
        .args(args)
        .timeout(Duration::from_secs(300))
        .run()
        .assert_status(status);
    run_dir(out)
}

/// A `labctl` running in the background: its stdout arrives line by line.
pub struct Background {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    pub seen: Vec<String>,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Background {
    /// Starts `labctl ARGS` (stdin empty, HOME `home`) with extra environment `envs`.
    pub fn start<S: AsRef<OsStr>>(args: &[S], home: &Path, envs: &[(&str, &str)]) -> Background {
        let mut cmd = Command::new(labctl_bin());
        cmd.args(args)
            .env("HOME", home)
            .env("LABCTL_SSH_CONFIG", "/dev/null");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        Background::spawn(cmd)
    }

    /// Starts `cmd` (a `labctl` command with its arguments and environment)
    /// with stdin empty and its output piped.
    pub fn spawn(mut cmd: Command) -> Background {
        ensure_programs();
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (mut err, buf) = (child.stderr.take().unwrap(), stderr.clone());
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = std::io::Read::read_to_string(&mut err, &mut s);
            buf.lock().unwrap().push_str(&s);
        });
        Background {
            child,
            lines,
            seen: Vec::new(),
            stderr,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits (at most `within`) for a stdout line containing `needle`.
    #[track_caller]
    pub fn wait_for(&mut self, needle: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            match self.lines.recv_timeout(Duration::from_millis(50)) {
                Ok(l) => {
                    let hit = l.contains(needle);
                    self.seen.push(l);
                    if hit {
                        return;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        panic!(
            "no stdout line with {needle:?}; saw:\n{}\n--- stderr ---\n{}",
            self.seen.join("\n"),
            self.stderr.lock().unwrap()
        );
    }

    /// Sends `sig` to labctl.
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on the child this helper started.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    /// Waits (at most `within`) for labctl to end; returns its exit code
    /// (128 + signal when killed), all of its stdout and its stderr.
    #[track_caller]
    pub fn finish(self, within: Duration) -> (i32, String, String) {
        let (status, out, err) = self.finish_status(within);
        let code = std::os::unix::process::ExitStatusExt::signal(&status)
            .map_or_else(|| status.code().unwrap_or(-1), |s| 128 + s);
        (code, out, err)
    }

    /// [`Background::finish`] with the exit status itself, for a test that
    /// tells an exit code from death by a signal.
    #[track_caller]
    pub fn finish_status(mut self, within: Duration) -> (ExitStatus, String, String) {
        let deadline = Instant::now() + within;
        let status = loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                break st;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "labctl did not end within {within:?}; saw:\n{}",
                    self.seen.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // The reader threads end with the pipes.
        let end = Instant::now() + Duration::from_secs(5);
        while let Ok(l) = self
            .lines
            .recv_timeout(end.saturating_duration_since(Instant::now()))
        {
            self.seen.push(l);
        }
        let stderr = {
            let t = Instant::now() + Duration::from_secs(2);
            while std::sync::Arc::strong_count(&self.stderr) > 1 && Instant::now() < t {
                std::thread::sleep(Duration::from_millis(10));
            }
            self.stderr.lock().unwrap().clone()
        };
        (status, self.seen.join("\n"), stderr)
    }
}

/// Every regular file below `dir` (recursively), with its bytes.
pub fn files_below(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            out.extend(files_below(&p));
        } else if ft.is_file() {
            if let Ok(b) = std::fs::read(&p) {
                out.push((p, b));
            }
        }
    }
    out
}

/// Whether `hay` contains `needle`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// `(stamp, text)` per line of a run directory's output file.
pub fn stamped(path: &Path) -> Vec<(f64, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(|l| {
            let (ts, rest) = l.split_once(' ').unwrap_or((l, ""));
            (ts.parse().unwrap(), rest.to_string())
        })
        .collect()
}
