//! Security on the virtual bench (real sshds): `run` refuses unknown and
//! changed host keys and starts nothing (`check`'s side is in tests/check.rs);
//! a key passphrase comes only from the environment and shows up in no
//! output, file or process argument, here or on the hosts; hostile text in
//! the lab or hosts file (quotes, `;`, `$( )`, backticks, newlines) reaches
//! the hosts as literal text; programs are uploaded 0755 under a temporary
//! name and renamed; run directories are private (0700).

mod common;

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{
    assert_nothing_left, contains, files_below, hosts_copy, install_programs, json_lines,
    known_line, lab_processes, labctl, other_host_key, registered, run_dir, with_known_hosts,
    workdir, Background, Scratch, TestBench,
};

/// Configures A, B and C, then starts a server on B: a run that needs every host.
const THREE_HOSTS_LAB: &str = r#"
[lab]
name = "keys"
[[step]]
id = "S.1"
title = "addresses"
hosts = ["A", "B", "C"]
do = [{ configure = true }]
[[step]]
id = "S.2"
title = "a server on B"
hosts = ["B"]
do = [{ start = "server", program = "tcp_server" }, { expect = "server", match = "listening" }]
"#;

#[test]
fn run_refuses_unknown_and_changed_host_keys_and_starts_nothing() {
    let bench = TestBench::up();
    install_programs(&bench);
    let s = Scratch::new("sec-keys");
    let home = s.path("home");
    std::fs::create_dir_all(&home).unwrap();
    // labctl's known_hosts: B's real key; for C another key (line 2); nothing for A.
    let other_key = other_host_key(&s.path("other_key"));
    let kh = s.path("known_hosts");
    let c_line = format!("[127.0.0.1]:{} {other_key}", bench.ssh_port("C"));
    std::fs::write(&kh, format!("{}\n{c_line}\n", known_line(&bench, "B"))).unwrap();
    let hosts = with_known_hosts(&bench, "hosts-keys.toml", &kh);
    let lab = s.write("lab.toml", THREE_HOSTS_LAB);

    let out = labctl(
        &hosts,
        &lab,
        &home,
        &["run", "--out", s.path("runs1").to_str().unwrap()],
    );
    out.assert_status(3)
        .assert_stdout_contains("host `A` (127.0.0.1:")
        .assert_stdout_contains("unknown host key ssh-ed25519 SHA256:")
        .assert_stdout_contains("--accept-new")
        .assert_stdout_contains("host `C` (127.0.0.1:")
        .assert_stdout_contains("host key CHANGED")
        .assert_stdout_contains(&format!("`{}` line 2", kh.display()));
    // The closing error names one of the refused hosts (whichever answered first).
    assert!(
        out.stderr.contains("error: host `A`") || out.stderr.contains("error: host `C`"),
        "{out}"
    );
    // B was reachable, yet nothing ran on it: no step started, no program.
    let dir = run_dir(&s.path("runs1"));
    assert!(json_lines(&dir.join("steps.jsonl")).is_empty());
    let events = json_lines(&dir.join("events.jsonl"));
    assert!(
        !events
            .iter()
            .any(|e| e["event"] == "step_started" || e["event"] == "program_started"),
        "{events:#?}"
    );
    assert_eq!(events.last().unwrap()["outcome"], "failed");
    assert_nothing_left(&bench);
    assert_eq!(
        std::fs::read_to_string(&kh).unwrap().lines().count(),
        2,
        "nothing recorded"
    );

    // --accept-new records A's key; C's changed key stays refused.
    let out = labctl(
        &hosts,
        &lab,
        &home,
        &[
            "--accept-new",
            "run",
            "--out",
            s.path("runs2").to_str().unwrap(),
        ],
    );
    out.assert_status(3)
        .assert_stdout_contains("host key CHANGED");
    assert!(!out.stdout.contains("unknown host key"), "{out}");
    let recorded = std::fs::read_to_string(&kh).unwrap();
    assert_eq!(recorded.lines().count(), 3, "{recorded}");
    assert!(recorded.contains(&format!("[127.0.0.1]:{} ssh-ed25519 ", bench.ssh_port("A"))));
    assert!(
        recorded.contains(&c_line),
        "the changed key's line is kept: {recorded}"
    );
    assert_nothing_left(&bench);

    // With C's real key the same run passes: it was the key, nothing else.
    std::fs::write(&kh, recorded.replace(&c_line, &known_line(&bench, "C"))).unwrap();
    labctl(
        &hosts,
        &lab,
        &home,
        &["run", "--out", s.path("runs3").to_str().unwrap()],
    )
    .assert_success();
    assert_nothing_left(&bench);
}

/// Which processes, seen while labctl ran, carried the marker: in their
/// arguments (any process), or in their environment (any but labctl and
/// its descendants, to which the variable was given).
#[derive(Default)]
struct Sightings {
    in_args: Vec<String>,
    in_env: Vec<String>,
    /// labctl's own arguments were read at least once.
    saw_labctl: bool,
    /// labctl's environment had the marker (so the scan does read environments).
    labctl_env_has_it: bool,
}

fn ppid(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.split(' ').nth(1)?.parse().ok()
}

fn descends_from(mut pid: u32, root: u32) -> bool {
    for _ in 0..64 {
        if pid == root {
            return true;
        }
        match ppid(pid) {
            Some(p) if p > 1 => pid = p,
            _ => return false,
        }
    }
    false
}

/// Runs `labctl ARGS` with `env` set and scans every process of this machine
/// (the hosts' included: same pid namespace) until it ends.
fn watch(
    args: &[&OsStr],
    home: &Path,
    env: (&str, &str),
    marker: &str,
) -> (i32, String, String, Sightings) {
    let bg = Background::start(args, home, &[env]);
    let root = bg.pid();
    let mut s = Sightings::default();
    let m = marker.as_bytes();
    let mut bg = bg;
    while bg.child.try_wait().unwrap().is_none() {
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            let args = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            if pid == root && !args.is_empty() {
                s.saw_labctl = true;
            }
            if contains(&args, m) {
                s.in_args.push(format!(
                    "{pid}: {}",
                    String::from_utf8_lossy(&args).replace('\0', " ")
                ));
            }
            let env = std::fs::read(e.path().join("environ")).unwrap_or_default();
            if contains(&env, m) {
                if pid == root {
                    s.labctl_env_has_it = true;
                } else if !descends_from(pid, root) {
                    s.in_env.push(format!(
                        "{pid}: {}",
                        String::from_utf8_lossy(&args).replace('\0', " ")
                    ));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let (code, out, err) = bg.finish(Duration::from_secs(60));
    (code, out, err, s)
}

#[test]
fn a_key_passphrase_comes_from_the_environment_and_appears_nowhere() {
    let bench = TestBench::up();
    install_programs(&bench);
    let s = Scratch::new("sec-pass");
    let home = s.path("home");
    std::fs::create_dir_all(&home).unwrap();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let marker = format!("pp-{}-{nanos:x}-Secret", std::process::id());
    // The testbed's key, encrypted with the marker as its passphrase.
    let key = s.path("id_encrypted");
    std::fs::copy(bench.identity(), &key).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let st = Command::new("ssh-keygen")
        .args(["-q", "-p", "-P", "", "-N", &marker, "-f"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(st.status.success(), "{st:?}");
    assert!(!contains(&std::fs::read(&key).unwrap(), marker.as_bytes()));
    let var = "LABCTL_TEST_KEY_PASSPHRASE";
    let hosts = hosts_copy(&bench, "hosts-encrypted.toml", |t| {
        let re = regex::Regex::new(r"(?m)^identity\s*=.*$").unwrap();
        re.replace_all(
            &t,
            format!(
                "identity = {:?}\npassphrase_env = \"{var}\"",
                key.display().to_string()
            )
            .as_str(),
        )
        .into_owned()
    });
    let hosts_text = std::fs::read_to_string(&hosts).unwrap();
    assert!(hosts_text.contains(var) && !hosts_text.contains(&marker));
    let lab = s.write(
        "lab.toml",
        r#"
[lab]
name = "secret"
[[step]]
id = "S.1"
title = "a server on A"
hosts = ["A"]
do = [
  { configure = true },
  { start = "server", program = "tcp_server" },
  { expect = "server", match = "listening" },
  { stop = ["server"] },
]
"#,
    );
    let runs = s.path("runs");
    let hosts_arg = hosts.as_os_str();
    let lab_arg = lab.as_os_str();
    let check: Vec<&OsStr> = vec!["--hosts".as_ref(), hosts_arg, "check".as_ref()];
    let run: Vec<&OsStr> = vec![
        "--hosts".as_ref(),
        hosts_arg,
        "--lab".as_ref(),
        lab_arg,
        "run".as_ref(),
        "--out".as_ref(),
        runs.as_os_str(),
    ];

    let mut outputs = String::new();
    for (args, want) in [(&check, &[0, 1][..]), (&run, &[0][..])] {
        let (code, out, err, seen) = watch(args, &home, (var, &marker), &marker);
        assert!(want.contains(&code), "exit {code}\n{out}\n{err}");
        assert!(out.contains("A"), "{out}");
        assert!(
            !out.contains("passphrase"),
            "the key was unlocked: {out}\n{err}"
        );
        assert!(
            seen.saw_labctl && seen.labctl_env_has_it,
            "the scan saw labctl and its environment"
        );
        assert!(
            seen.in_args.is_empty(),
            "the passphrase in process arguments: {:#?}",
            seen.in_args
        );
        assert!(
            seen.in_env.is_empty(),
            "the passphrase reached other processes: {:#?}",
            seen.in_env
        );
        outputs.push_str(&out);
        outputs.push_str(&err);
    }
    assert!(!outputs.contains(&marker), "the passphrase was printed");
    // Not in the run directory, nor anywhere in the hosts' working directories
    // or labctl's known_hosts.
    let dir = run_dir(&runs);
    assert!(dir.join("events.jsonl").exists());
    for place in [
        dir.clone(),
        bench.state_dir().join("A"),
        bench.state_dir().join("B"),
        bench.state_dir().join("C"),
        home.clone(),
    ] {
        for (p, bytes) in files_below(&place) {
            assert!(
                !contains(&bytes, marker.as_bytes()),
                "the passphrase is in {}",
                p.display()
            );
        }
    }
    assert!(!contains(
        &std::fs::read(bench.known_hosts()).unwrap(),
        marker.as_bytes()
    ));

    // A wrong passphrase is named as such, without echoing it.
    let wrong = format!("WRONG-{marker}");
    let out = common::Labctl::new()
        .hosts(&hosts)
        .arg("check")
        .env("HOME", &home)
        .env(var, &wrong)
        .run();
    out.assert_status(3)
        .assert_stdout_contains("wrong passphrase");
    assert!(
        !out.stdout.contains(&marker) && !out.stderr.contains(&marker),
        "{out}"
    );
    assert_nothing_left(&bench);
}

/// A path for a marker file that must never be created.
fn marker(dir: &Path, tag: &str) -> String {
    dir.join(tag).display().to_string()
}

#[test]
fn hostile_text_in_the_lab_and_hosts_files_reaches_the_hosts_literally() {
    // Root hosts: A's hostile workdir is named by its path on this machine
    // (the test reads what landed there), which a `pi` host sees under
    // another name (`/home/pi/...` is its own `/home`).
    let bench = TestBench::root();
    install_programs(&bench);
    let s = Scratch::new("sec-inject");
    let home = s.path("home");
    std::fs::create_dir_all(&home).unwrap();
    // Marker files the hostile text would create if a shell ever read it as code.
    let m = s.path("markers");
    std::fs::create_dir_all(&m).unwrap();
    let quote = format!("it's'; touch {}; '", marker(&m, "quote"));
    let dollar = format!("$(touch {})", marker(&m, "dollar"));
    let tick = format!("`touch {}`", marker(&m, "tick"));
    let mixed = format!("\"; touch {} #", marker(&m, "dq"));
    let newline = format!("x\ntouch {}", marker(&m, "newline"));
    // A's working directory, from the hosts file, with quotes, `$( )` and backticks.
    let wd_a = format!(
        "{}/w'$(touch {}); `touch {}` \"q\" x",
        workdir(&bench, "A").display(),
        marker(&m, "wd1"),
        marker(&m, "wd2")
    );
    let hosts = hosts_copy(&bench, "hosts-hostile.toml", |t| {
        let from = format!("workdir = {:?}", workdir(&bench, "A").display().to_string());
        assert!(t.contains(&from), "{t}");
        t.replace(&from, &format!("workdir = {wd_a:?}"))
    });
    let toml_str = |v: &str| format!("{v:?}");
    let lab = s.write(
        "lab.toml",
        &format!(
            r#"
[lab]
name = "hostile"
[vars]
port = 50000
quote = {}
dollar = {}
tick = {}
mixed = {}
newline = {}
[[step]]
id = "S.1"
title = "addresses, and the programs into A's hostile working directory"
hosts = ["A", "B"]
do = [{{ configure = true }}, {{ deploy = true, on = "A" }}]
[[step]]
id = "S.2"
title = "hostile lines through a server and back"
hosts = ["A", "B"]
do = [
  {{ start = "server", on = "A", program = "tcp_server", args = ["--port", "{{port}}"] }},
  {{ expect = "server", match = "listening" }},
  {{ start = "client", on = "B", program = "tcp_client", args = ["--server", "{{A.addr}}", "--port", "{{port}}"] }},
  {{ expect = "client", match = "^Connected" }},
  {{ send = "client", lines = ["{{quote}}", "{{dollar}}", "{{tick}}", "{{mixed}}", "$(touch {}) `touch {}`"] }},
  {{ expect = "server", match = "> {{quote}}$" }},
  {{ expect = "server", match = "> {{dollar}}$" }},
  {{ expect = "server", match = "> {{tick}}$" }},
  {{ expect = "server", match = "> {{mixed}}$" }},
  {{ expect = "client", match = "^Server> IT'S'; TOUCH " }},
  {{ expect = "client", match = "^Server> \\$\\(TOUCH " }},
  {{ expect = "client", match = "^Server> `TOUCH " }},
  {{ stop = ["client"] }},
]
[[step]]
id = "S.3"
title = "hostile arguments to a foreground and a background program"
hosts = ["B"]
do = [
  {{ run = "tcp_client", args = ["--server", "{{newline}}", "--port", "{{dollar}}"], exit = 1, match = "touch" }},
  {{ start = "bad", program = "udp_client", args = ["--server", "127.0.0.1", "--port", "{{tick}}"] }},
  {{ expect = "bad", stream = "stderr", match = "{{tick}}" }},
  {{ expect = "bad", exit = 1 }},
]
"#,
            toml_str(&quote),
            toml_str(&dollar),
            toml_str(&tick),
            toml_str(&mixed),
            toml_str(&newline),
            marker(&m, "line1"),
            marker(&m, "line2"),
        ),
    );
    let runs = s.path("runs");
    let out = labctl(
        &hosts,
        &lab,
        &home,
        &["run", "--out", runs.to_str().unwrap()],
    );
    out.assert_success();
    // The server printed each line exactly as written, the client got it back upper-cased.
    let dir = run_dir(&runs);
    let server = std::fs::read_to_string(dir.join("A-server.out")).unwrap();
    for line in [&quote, &dollar, &tick, &mixed] {
        assert!(
            server.lines().any(|l| l.ends_with(&format!("> {line}"))),
            "{line:?} did not arrive literally:\n{server}"
        );
    }
    let client = std::fs::read_to_string(dir.join("B-client.out")).unwrap();
    assert!(
        client.contains(&format!("Server> {}", dollar.to_uppercase())),
        "{client}"
    );
    // The foreground and background programs' errors name their arguments literally.
    let fg = std::fs::read_to_string(dir.join("B-S.3-tcp_client.err")).unwrap();
    assert!(fg.contains(&format!("`--port {dollar}`")), "{fg}");
    let bg = std::fs::read_to_string(dir.join("B-bad.err")).unwrap();
    assert!(bg.contains(&tick), "{bg}");
    // A's programs went into the hostile working directory, literally.
    let bin = PathBuf::from(&wd_a).join("bin");
    assert!(bin.join("tcp_server").is_file(), "{}", bin.display());

    // `check --fix` and `clean` with the same hosts file.
    labctl(&hosts, &lab, &home, &["check", "--fix"]);
    labctl(&hosts, &lab, &home, &["clean"]).assert_success();

    let made: Vec<_> = std::fs::read_dir(&m)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(
        made.is_empty(),
        "a shell ran hostile text as code: {made:?}"
    );
    assert_nothing_left(&bench);
    assert!(lab_processes(&bench).is_empty() && registered(&bench).is_empty());
}

/// inotify events in one directory, as (mask, cookie, name).
struct Watch {
    fd: i32,
}

impl Watch {
    fn new(dir: &Path) -> Watch {
        // SAFETY: plain syscalls; the path is NUL-terminated.
        unsafe {
            let fd = libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC);
            assert!(fd >= 0, "inotify_init1");
            let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).unwrap();
            let mask = libc::IN_CREATE
                | libc::IN_MOVED_FROM
                | libc::IN_MOVED_TO
                | libc::IN_CLOSE_WRITE
                | libc::IN_MODIFY;
            assert!(
                libc::inotify_add_watch(fd, c.as_ptr(), mask) >= 0,
                "inotify_add_watch"
            );
            Watch { fd }
        }
    }

    fn events(&self) -> Vec<(u32, u32, String)> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            // SAFETY: reading into our own buffer.
            let n = unsafe { libc::read(self.fd, buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                return out;
            }
            let mut i = 0usize;
            while i + 16 <= n as usize {
                let word = |k: usize| u32::from_ne_bytes(buf[i + k..i + k + 4].try_into().unwrap());
                let (mask, cookie, len) = (word(4), word(8), word(12) as usize);
                let name = &buf[i + 16..i + 16 + len];
                let name = String::from_utf8_lossy(name)
                    .trim_end_matches('\0')
                    .to_string();
                out.push((mask, cookie, name));
                i += 16 + len;
            }
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // SAFETY: our own descriptor.
        unsafe { libc::close(self.fd) };
    }
}

#[test]
fn programs_are_uploaded_0755_under_a_temporary_name_and_renamed_and_run_directories_are_private() {
    let bench = TestBench::up();
    let s = Scratch::new("sec-upload");
    let home = s.path("home");
    std::fs::create_dir_all(&home).unwrap();
    let bin = workdir(&bench, "A").join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    common::own_like_workdir(&bench, "A", &bin);
    let watch = Watch::new(&bin);
    let lab = s.write(
        "lab.toml",
        "[lab]\nname = \"up\"\n[[step]]\nid = \"S.1\"\ntitle = \"deploy\"\nhosts = [\"A\"]\ndo = [{ deploy = true }]\n",
    );
    let runs = s.path("runs");
    let t0 = Instant::now();
    labctl(
        bench.hosts_file(),
        &lab,
        &home,
        &["run", "--out", runs.to_str().unwrap()],
    )
    .assert_success();
    eprintln!("deploy of 5 programs to one host: {:?}", t0.elapsed());
    let events = watch.events();
    let local = std::path::Path::new(common::labctl_bin())
        .parent()
        .unwrap()
        .to_path_buf();
    for p in labctl::arch::PROGRAMS {
        let path = bin.join(p);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o755, "{p} mode {mode:o}");
        assert!(
            std::fs::read(&path).unwrap() == std::fs::read(local.join(p)).unwrap(),
            "{p} is the local build"
        );
        // Written only under a temporary name, then renamed onto its own.
        let tmp_prefix = format!(".{p}.labctl-");
        let moved_to: Vec<u32> = events
            .iter()
            .filter(|(m, _, n)| m & libc::IN_MOVED_TO != 0 && n == p)
            .map(|(_, c, _)| *c)
            .collect();
        assert_eq!(moved_to.len(), 1, "{p}: one rename onto it: {events:?}");
        assert!(
            events.iter().any(|(m, c, n)| m & libc::IN_MOVED_FROM != 0
                && *c == moved_to[0]
                && n.starts_with(&tmp_prefix)),
            "{p} came from a temporary file: {events:?}"
        );
        assert!(
            events
                .iter()
                .any(|(m, _, n)| m & libc::IN_CREATE != 0 && n.starts_with(&tmp_prefix)),
            "{events:?}"
        );
        assert!(
            !events.iter().any(|(m, _, n)| n == p
                && m & (libc::IN_CREATE | libc::IN_MODIFY | libc::IN_CLOSE_WRITE) != 0),
            "{p} was written in place: {events:?}"
        );
    }
    let left: Vec<String> = std::fs::read_dir(&bin)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    // Only deploy's manifest of hashes may start with a dot; no temporary file remains.
    assert_eq!(
        left,
        [labctl::hostops::MANIFEST],
        "temporary files left, or no manifest"
    );
    // The run directory is private.
    let dir = run_dir(&runs);
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "{} mode {mode:o}", dir.display());
    for (p, _) in files_below(&dir) {
        let mode = std::fs::metadata(&p).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o022,
            0,
            "{} is writable by others: {mode:o}",
            p.display()
        );
    }
    assert_nothing_left(&bench);
}
