//! Bad input never reaches a host: every broken hosts or lab file in the
//! corpus `tests/bad_input/` (plus a few generated here: empty, huge, not
//! UTF-8, missing) makes `check`, `clean`, `plan`, `list` and `run` exit 2
//! with every problem located to file:line:column at once, create no run
//! directory and open NO connection: the hosts' `ssh` targets point at a
//! loopback port where this test holds a listener that must accept nothing.
//!
//! The corpus is data: `hosts-*.toml` is a broken hosts file (run with a
//! one-step lab on host `A`), `lab-*.toml` a broken lab file (run with a
//! good hosts file: A, B, C).
//! Each says what it must produce in header lines
//! `# expect: LINE:COL message fragment` (`0:0` for a problem with no place
//! in the file), one line per problem, and exactly those are reported.
//! `$PORT` in a file becomes the trap's port (five digits, so columns hold).
//! Adding a case is adding a file.

mod common;

use std::io::ErrorKind;
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use common::{labctl, Labctl, RunOutput, Scratch};

/// One expected diagnostic: where (0:0 when it has no place) and a fragment of its message.
#[derive(Debug, Clone)]
struct Expect {
    line: usize,
    col: usize,
    fragment: String,
}

/// Which input a case breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Hosts,
    Lab,
}

#[derive(Debug)]
struct Case {
    name: String,
    kind: Kind,
    text: Vec<u8>,
    expects: Vec<Expect>,
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad_input")
}

use common::seed_lab;

/// `# expect: 4:1 unknown field` → Expect.
fn parse_expect(file: &str, line: &str) -> Option<Expect> {
    let rest = line.strip_prefix("# expect:")?.trim_start();
    let (at, fragment) = rest.split_once(' ').unwrap_or((rest, ""));
    let (l, c) = at
        .split_once(':')
        .unwrap_or_else(|| panic!("{file}: `{line}`: want `# expect: LINE:COL fragment`"));
    let fragment = fragment.trim().to_string();
    assert!(
        !fragment.is_empty(),
        "{file}: `{line}` has no message fragment"
    );
    Some(Expect {
        line: l
            .parse()
            .unwrap_or_else(|_| panic!("{file}: bad line in `{line}`")),
        col: c
            .parse()
            .unwrap_or_else(|_| panic!("{file}: bad column in `{line}`")),
        fragment,
    })
}

/// Every file of the corpus, sorted by name.
fn corpus() -> Vec<Case> {
    let mut names: Vec<String> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let text = std::fs::read_to_string(corpus_dir().join(&name)).unwrap();
            let kind = if name.starts_with("hosts-") {
                Kind::Hosts
            } else if name.starts_with("lab-") {
                Kind::Lab
            } else {
                panic!("tests/bad_input/{name}: name it `hosts-*.toml` or `lab-*.toml`")
            };
            let expects: Vec<Expect> = text
                .lines()
                .filter_map(|l| parse_expect(&name, l))
                .collect();
            assert!(
                !expects.is_empty(),
                "tests/bad_input/{name} has no `# expect:` line"
            );
            Case {
                name,
                kind,
                text: text.into_bytes(),
                expects,
            }
        })
        .collect()
}

/// A loopback listener standing in for every host's sshd. It never accepts
/// by itself; the kernel completes and queues any connection, which
/// [`Trap::accepted`] then finds.
struct Trap {
    listener: TcpListener,
    port: u16,
}

impl Trap {
    fn new() -> Trap {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(
            port >= 10000,
            "a five-digit port keeps the corpus columns: {port}"
        );
        Trap { listener, port }
    }

    /// How many connections reached it since the last call.
    fn accepted(&self) -> usize {
        let mut n = 0;
        loop {
            match self.listener.accept() {
                Ok(_) => n += 1,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return n,
                Err(e) => panic!("accept: {e}"),
            }
        }
    }
}

/// A valid lab of one step on host `A` (every broken hosts file names an `A`).
fn small_lab(dir: &Path) -> PathBuf {
    let p = dir.join("small-lab.toml");
    std::fs::write(
        &p,
        "[lab]\nname = \"t\"\n[[step]]\nid = \"I.1\"\ntitle = \"t\"\nhosts = [\"A\"]\ndo = [{ configure = true }]\n",
    )
    .unwrap();
    p
}

/// A valid bench A, B, C whose sshds are all the trap.
fn good_hosts(trap: &Trap, dir: &Path) -> PathBuf {
    let text = format!(
        "[defaults]\nuser = \"root\"\nport = {}\nauth = \"key\"\nidentity = \"{}/id_none\"\n\
         sudo = false\nknown_hosts = \"{}/known_hosts\"\nworkdir = \"/nonexistent/labctl\"\n\
         [hosts.A]\nssh = \"127.0.0.1\"\naddr = \"10.0.3.1/24\"\n\
         [hosts.B]\nssh = \"127.0.0.1\"\naddr = \"10.0.3.2/24\"\n\
         [hosts.C]\nssh = \"127.0.0.1\"\naddr = \"10.0.3.3/24\"\n",
        trap.port,
        dir.display(),
        dir.display()
    );
    let p = dir.join("good-hosts.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// The commands that read `kind` of input, each with an `--out` that must stay absent.
fn commands(kind: Kind, out: &Path) -> Vec<Vec<String>> {
    let out = out.display().to_string();
    let mut v: Vec<Vec<String>> = vec![
        vec!["plan".into()],
        vec!["run".into(), "--out".into(), out.clone()],
        vec![
            "run".into(),
            "--step".into(),
            "I.1".into(),
            "--out".into(),
            out,
        ],
        vec!["list".into()],
    ];
    if kind == Kind::Hosts {
        v.push(vec!["check".into()]);
        v.push(vec!["check".into(), "--fix".into()]);
        v.push(vec!["clean".into()]);
    }
    v
}

/// Asserts `out` is an input error reporting exactly `expects` in `file`
/// (plus `others` problems elsewhere), and that nothing ran.
#[track_caller]
fn assert_reported(out: &RunOutput, file: &Path, expects: &[Expect], others: usize) {
    out.assert_status(2);
    assert!(out.stdout.is_empty(), "nothing is printed on stdout\n{out}");
    // Each diagnostic starts with its (absolute) file name; a hint or a
    // parser's second line may follow. The last line is the summary.
    let lines: Vec<&str> = out.stderr.lines().collect();
    let mut blocks: Vec<String> = Vec::new();
    for l in &lines[..lines.len().saturating_sub(1)] {
        match blocks.last_mut() {
            Some(b) if !l.starts_with('/') => {
                b.push('\n');
                b.push_str(l);
            }
            _ => blocks.push(l.to_string()),
        }
    }
    for e in expects {
        let prefix = if e.line == 0 {
            format!("{}: ", file.display())
        } else {
            format!("{}:{}:{}: ", file.display(), e.line, e.col)
        };
        assert!(
            blocks
                .iter()
                .any(|b| b.starts_with(&prefix) && b.contains(&e.fragment)),
            "no `{prefix}…{}…`\n{out}",
            e.fragment
        );
    }
    let n = expects.len() + others;
    let summary = format!(
        "{n} input error{}; nothing was run",
        if n == 1 { "" } else { "s" }
    );
    assert!(
        lines.last() == Some(&summary.as_str()),
        "want every problem at once, ending with `{summary}`\n{out}"
    );
    assert_eq!(blocks.len(), n, "one diagnostic per problem\n{out}");
}

/// Runs every command on one broken file; asserts the report, no run
/// directory and not a single connection.
fn check_case(case: &Case, trap: &Trap, scratch: &Path) {
    let dir = scratch.join(case.name.trim_end_matches(".toml"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(&case.name);
    let text = String::from_utf8_lossy(&case.text).replace("$PORT", &trap.port.to_string());
    std::fs::write(&file, text).unwrap();
    let (hosts, lab) = match case.kind {
        Kind::Hosts => (file.clone(), small_lab(&dir)),
        Kind::Lab => (good_hosts(trap, &dir), file.clone()),
    };
    let runs = dir.join("runs");
    for args in commands(case.kind, &runs) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = labctl(&hosts, &lab, &dir, &args);
        assert_reported(&out, &file, &case.expects, 0);
        assert!(
            !runs.exists(),
            "{}: `{}` created {}",
            case.name,
            out.command,
            runs.display()
        );
        assert_eq!(
            trap.accepted(),
            0,
            "{}: `{}` opened a connection\n{out}",
            case.name,
            out.command
        );
    }
}

#[test]
fn every_broken_file_of_the_corpus_is_refused_located_and_reaches_no_host() {
    let trap = Trap::new();
    // The trap sees a connection when one is made.
    drop(std::net::TcpStream::connect(("127.0.0.1", trap.port)).unwrap());
    assert_eq!(trap.accepted(), 1, "the trap counts connections");
    let scratch = Scratch::new("badinput-corpus");
    let cases = corpus();
    assert!(cases.len() >= 30, "the corpus has {} files", cases.len());
    assert!(
        cases.iter().any(|c| c.kind == Kind::Hosts) && cases.iter().any(|c| c.kind == Kind::Lab)
    );
    for case in &cases {
        check_case(case, &trap, &scratch.0);
    }
    // The good files alone pass validation (so the cases above fail for their own reason).
    let good = good_hosts(&trap, &scratch.0);
    labctl(&good, &seed_lab(), &scratch.0, &["plan"]).assert_success();
    assert_eq!(trap.accepted(), 0, "`plan` connects to nothing");
}

#[test]
fn empty_huge_binary_and_missing_files_are_refused_before_any_connection() {
    let trap = Trap::new();
    let scratch = Scratch::new("badinput-generated");
    let at = |line, col, f: &str| Expect {
        line,
        col,
        fragment: f.to_string(),
    };
    // A valid start, then over a MiB of comment: refused by size, not parsed.
    let mut huge = format!(
        "[hosts.A]\nssh = \"127.0.0.1:{}\"\naddr = \"10.0.3.1/24\"\n",
        trap.port
    )
    .into_bytes();
    while huge.len() <= 1024 * 1024 + 10 {
        huge.extend_from_slice(
            b"# padding padding padding padding padding padding padding padding\n",
        );
    }
    let mut huge_lab = std::fs::read(seed_lab()).unwrap();
    while huge_lab.len() <= 1024 * 1024 + 10 {
        huge_lab.extend_from_slice(
            b"# padding padding padding padding padding padding padding padding\n",
        );
    }
    let cases = vec![
        Case {
            name: "hosts-empty.toml".into(),
            kind: Kind::Hosts,
            text: Vec::new(),
            expects: vec![at(
                1,
                1,
                "no hosts: the file has neither `[hosts]` nor `[benches]`",
            )],
        },
        Case {
            name: "hosts-blank.toml".into(),
            kind: Kind::Hosts,
            text: b"\n   \n\t\n".to_vec(),
            expects: vec![at(1, 1, "no hosts")],
        },
        Case {
            name: "lab-empty.toml".into(),
            kind: Kind::Lab,
            text: Vec::new(),
            expects: vec![
                at(1, 1, "the lab file has no `[lab]` table"),
                at(1, 1, "the lab has no steps"),
            ],
        },
        Case {
            name: "hosts-huge.toml".into(),
            kind: Kind::Hosts,
            text: huge,
            expects: vec![at(0, 0, "input files are limited to 1048576 bytes")],
        },
        Case {
            name: "lab-huge.toml".into(),
            kind: Kind::Lab,
            text: huge_lab,
            expects: vec![at(0, 0, "input files are limited to 1048576 bytes")],
        },
        Case {
            name: "hosts-binary.toml".into(),
            kind: Kind::Hosts,
            text: vec![0x7f, b'E', b'L', b'F', 0xff, 0xfe, 0x00, b'\n'],
            expects: vec![at(0, 0, "file is not UTF-8 text")],
        },
        Case {
            name: "lab-binary.toml".into(),
            kind: Kind::Lab,
            text: b"[lab]\nname = \"\xc3\x28\"\n".to_vec(),
            expects: vec![at(0, 0, "file is not UTF-8 text")],
        },
    ];
    for case in &cases {
        let dir = scratch.0.join(case.name.trim_end_matches(".toml"));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(&case.name);
        // Written as bytes: these must not go through the corpus's text handling.
        std::fs::write(&file, &case.text).unwrap();
        let (hosts, lab) = match case.kind {
            Kind::Hosts => (file.clone(), small_lab(&dir)),
            Kind::Lab => (good_hosts(&trap, &dir), file.clone()),
        };
        assert!(case.name != "hosts-huge.toml" || case.text.len() > 1024 * 1024);
        let runs = dir.join("runs");
        for args in commands(case.kind, &runs) {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = labctl(&hosts, &lab, &dir, &args);
            assert_reported(&out, &file, &case.expects, 0);
            assert!(!runs.exists(), "{}: created {}", case.name, runs.display());
            assert_eq!(trap.accepted(), 0, "{}: a connection\n{out}", case.name);
        }
    }

    // A file that is not there, and a directory where a file belongs.
    let good = good_hosts(&trap, &scratch.0);
    let missing = scratch.0.join("no-such-hosts.toml");
    for args in [&["check"][..], &["plan"], &["run", "--out", "runs"]] {
        let out = labctl(&missing, &seed_lab(), &scratch.0, args);
        assert_reported(&out, &missing, &[at(0, 0, "cannot read file")], 0);
        out.assert_stderr_contains("--hosts FILE");
        if args[0] != "check" {
            // `check` reads no lab; `plan` and `run` refuse a directory for one.
            let out = labctl(&good, &scratch.0, &scratch.0, args);
            assert_reported(&out, &scratch.0, &[at(0, 0, "not a regular file")], 0);
        }
    }
    assert!(!scratch.0.join("runs").exists());
    assert_eq!(trap.accepted(), 0);
}

/// A device that never ends and a pipe nobody writes to: refused at once
/// (neither is read), not read until memory or patience runs out.
#[test]
fn a_device_or_a_fifo_as_input_is_refused_without_reading_it() {
    let trap = Trap::new();
    let scratch = Scratch::new("badinput-special");
    let fifo = scratch.0.join("lab.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let zero = Path::new("/dev/zero");
    let good = good_hosts(&trap, &scratch.0);
    let lab = small_lab(&scratch.0);
    let expect = [Expect {
        line: 0,
        col: 0,
        fragment: "not a regular file".into(),
    }];
    for args in [&["check"][..], &["plan"], &["run", "--out", "runs"]] {
        let out = labctl(zero, &lab, &scratch.0, args);
        assert_reported(&out, zero, &expect, 0);
        if args[0] != "check" {
            let out = labctl(&good, &fifo, &scratch.0, args);
            assert_reported(&out, &fifo, &expect, 0);
            let out = labctl(&good, zero, &scratch.0, args);
            assert_reported(&out, zero, &expect, 0);
        }
    }
    assert!(!scratch.0.join("runs").exists());
    assert_eq!(trap.accepted(), 0);
}

#[test]
fn problems_in_both_files_are_reported_together_in_one_pass() {
    let trap = Trap::new();
    let scratch = Scratch::new("badinput-both");
    let cases = corpus();
    let get = |n: &str| {
        cases
            .iter()
            .find(|c| c.name == n)
            .unwrap_or_else(|| panic!("{n}"))
    };
    let (h, l) = (
        get("hosts-several-problems.toml"),
        get("lab-unknown-fields.toml"),
    );
    let write = |c: &Case| {
        let p = scratch.0.join(&c.name);
        std::fs::write(
            &p,
            String::from_utf8_lossy(&c.text).replace("$PORT", &trap.port.to_string()),
        )
        .unwrap();
        p
    };
    let (hosts, lab) = (write(h), write(l));
    for args in [&["plan"][..], &["run", "--out", "runs"], &["list"]] {
        let out = labctl(&hosts, &lab, &scratch.0, args);
        assert_reported(&out, &hosts, &h.expects, l.expects.len());
        assert_reported(&out, &lab, &l.expects, h.expects.len());
    }
    // A hosts file too broken to name its hosts: the lab's syntax is still
    // judged, and its host names are not reported as unknown.
    let empty = scratch.0.join("empty-hosts.toml");
    std::fs::write(&empty, "").unwrap();
    let out = labctl(&empty, &seed_lab(), &scratch.0, &["plan"]);
    assert_reported(
        &out,
        &empty,
        &[Expect {
            line: 1,
            col: 1,
            fragment: "no hosts".into(),
        }],
        0,
    );
    let syntax = get("lab-syntax-error.toml");
    let lab = write(syntax);
    let out = labctl(&empty, &lab, &scratch.0, &["run", "--out", "runs"]);
    assert_reported(&out, &lab, &syntax.expects, 1);
    assert!(!scratch.0.join("runs").exists());
    assert_eq!(trap.accepted(), 0);
}

#[test]
fn unknown_steps_and_benches_on_the_command_line_are_refused_before_any_connection() {
    let trap = Trap::new();
    let scratch = Scratch::new("badinput-usage");
    let good = good_hosts(&trap, &scratch.0);
    let out = labctl(
        &good,
        &seed_lab(),
        &scratch.0,
        &["run", "--step", "I.99", "--out", "runs"],
    );
    out.assert_status(2).assert_stderr_contains("`I.99`");
    let out = labctl(
        &good,
        &seed_lab(),
        &scratch.0,
        &["plan", "--from", "I.8", "--to", "I.1"],
    );
    out.assert_status(2);
    // A room: `--bench` must name one of its benches.
    let room = scratch.0.join("room.toml");
    let text = std::fs::read_to_string(&good).unwrap();
    let bench = |n: &str| {
        text.split("[hosts.")
            .skip(1)
            .map(|h| format!("[benches.{n}.hosts.{h}"))
            .collect::<String>()
    };
    let defaults = text.split("[hosts.").next().unwrap();
    std::fs::write(
        &room,
        format!("{defaults}{}{}", bench("bench1"), bench("bench2")),
    )
    .unwrap();
    for args in [
        &["check", "--bench", "nope"][..],
        &["run", "--bench", "nope", "--out", "runs"],
        &["run", "--out", "runs"],
    ] {
        let out = labctl(&room, &seed_lab(), &scratch.0, args);
        out.assert_status(2).assert_stderr_contains("bench1");
    }
    assert!(!scratch.0.join("runs").exists());
    assert_eq!(trap.accepted(), 0);
}

/// Every flag naming a file is judged before any connection: `check --lab`
/// naming a file that is not there (not "no lab file": it was asked for),
/// `run --out` naming a file that is not a directory.
#[test]
fn a_missing_lab_and_an_out_that_is_a_file_are_refused_before_any_connection() {
    let trap = Trap::new();
    let scratch = Scratch::new("badinput-flags");
    let good = good_hosts(&trap, &scratch.0);
    let missing = scratch.0.join("no-such-lab.toml");
    for args in [
        vec![
            "check".to_string(),
            "--lab".into(),
            missing.display().to_string(),
        ],
        vec![
            "--lab".into(),
            missing.display().to_string(),
            "reset".into(),
        ],
        // Commands that do not use the lab still refuse a missing one named.
        vec![
            "clean".to_string(),
            "--lab".into(),
            missing.display().to_string(),
        ],
        vec![
            "deploy".to_string(),
            "--lab".into(),
            missing.display().to_string(),
        ],
    ] {
        let out = Labctl::new()
            .hosts(&good)
            .env("HOME", &scratch.0)
            .args(&args)
            .run();
        out.assert_status(2)
            .assert_stderr_contains(&format!("{}: cannot read file", missing.display()));
    }
    let file = scratch.0.join("a-file");
    std::fs::write(&file, "x").unwrap();
    let out = labctl(
        &good,
        &seed_lab(),
        &scratch.0,
        &["run", "--out", file.to_str().unwrap()],
    );
    out.assert_status(2)
        .assert_stderr_contains(&format!("`--out {}`: not a directory", file.display()));
    assert_eq!(trap.accepted(), 0, "no connection");
}
