//! The lab file's validation (every error kind, located, all at once) and
//! planning (needs closure, ranges, template quoting). No host is contacted.

mod common;

use std::net::Ipv4Addr;
use std::path::Path;

use common::Labctl;

use labctl::cli::StepSelect;
use labctl::config::hosts::{Auth, Bench, Host, SshTarget};
use labctl::config::Source;
use labctl::error::{Diagnostic, Error};
use labctl::lab::plan::{select_steps, Op, PlanCheck};
use labctl::lab::{Lab, Plan};

fn hosts() -> Vec<String> {
    ["A", "B", "C"].map(String::from).to_vec()
}

fn lab(text: &str) -> Result<Lab, Error> {
    Lab::from_source(Source::from_text("lab.toml", text), &hosts())
}

/// The diagnostics of an invalid lab.
fn errors(text: &str) -> Vec<Diagnostic> {
    match lab(text) {
        Err(Error::Input(d)) => d.0,
        Err(e) => panic!("expected input errors, got {e}"),
        Ok(_) => panic!("expected input errors, the lab was accepted"),
    }
}

/// The one diagnostic whose message contains `needle`, with its line and column.
fn find<'a>(errs: &'a [Diagnostic], needle: &str) -> &'a Diagnostic {
    let hits: Vec<_> = errs.iter().filter(|d| d.message.contains(needle)).collect();
    assert_eq!(
        hits.len(),
        1,
        "want exactly one error containing {needle:?}, got: {errs:#?}"
    );
    hits[0]
}

fn at(d: &Diagnostic) -> (usize, usize) {
    (d.line, d.col)
}

const HEAD: &str = "[lab]\nname = \"t\"\n[vars]\nport = 50000\n";

fn bench() -> Bench {
    let host = |name: &str, last: u8| Host {
        name: name.into(),
        bench: "bench".into(),
        in_room: false,
        target: SshTarget {
            host: "127.0.0.1".into(),
            port: 40000 + u16::from(last),
            user: "root".into(),
        },
        auth: Auth::Agent,
        interface: "eth0".into(),
        addr: Ipv4Addr::new(10, 0, 3, last),
        prefix: 24,
        workdir: "/w".into(),
        sudo: false,
        arch: None,
        known_hosts: "kh".into(),
        password_env: None,
        interface_at: Default::default(),
    };
    Bench {
        name: "bench".into(),
        hosts: vec![host("A", 1), host("B", 2), host("C", 3)],
    }
}

#[test]
fn the_seed_lab_is_valid() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/labs/lab.toml")).unwrap();
    let lab = lab(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(lab.name, "sockets");
    let ids: Vec<&str> = lab.steps.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids.first(), Some(&"I.1"));
    assert!(ids.contains(&"I.13") && ids.contains(&"II.4"), "{ids:?}");
    // Every step replayed alone plans.
    for s in &lab.steps {
        let sel = select_steps(
            &lab,
            &StepSelect {
                step: Some(s.id.clone()),
                from: None,
                to: None,
            },
        )
        .unwrap();
        Plan::build(&lab, &bench(), &sel, "r").unwrap_or_else(|e| panic!("step {}: {e}", s.id));
    }
}

#[test]
fn syntax_errors_are_located() {
    let errs = errors("[lab]\nname = \"t\"\n[[step]]\nid = \n");
    assert_eq!(at(&errs[0]), (4, 6), "{errs:#?}");
}

#[test]
fn unknown_fields_are_all_reported_at_once_with_their_place() {
    let text = format!(
        "colour = 1\n{HEAD}[[step]]\nid = \"I.1\"\ntitle = \"t\"\nhots = [\"A\"]\ndo = [{{ configure = true, on = \"A\", speed = 3 }}]\n"
    );
    let errs = errors(&text);
    assert_eq!(at(find(&errs, "unknown field `colour`")), (1, 1));
    assert_eq!(at(find(&errs, "unknown field `hots`")), (9, 1));
    let d = find(&errs, "unknown field `speed`");
    assert_eq!(at(d), (10, 37));
    assert!(d.hint.as_deref().unwrap().contains("`on`"), "{d:?}");
}

#[test]
fn unknown_hosts_steps_and_programs() {
    let text = format!(
        r#"{HEAD}[[step]]
id = "I.1"
title = "t"
hosts = ["D"]
needs = ["I.0"]
do = [
  {{ start = "s", on = "A", program = "nc" }},
  {{ send = "ghost", lines = ["x"] }},
]
"#
    );
    let errs = errors(&text);
    assert_eq!(at(find(&errs, "unknown host `D`")), (8, 10));
    assert_eq!(
        at(find(&errs, "`nc` is not one of the socket programs")),
        (11, 38)
    );
    // Nested errors stop the step before the graph checks; the needs error shows once the step is valid.
    let text = format!(
        "{HEAD}[[step]]\nid = \"I.1\"\ntitle = \"t\"\nneeds = [\"I.0\"]\ndo = [{{ configure = true, on = \"A\" }}]\n"
    );
    let errs = errors(&text);
    assert_eq!(at(find(&errs, "needs unknown step `I.0`")), (5, 1));
}

#[test]
fn a_program_used_before_it_starts_or_after_it_stops() {
    let text = format!(
        r#"{HEAD}[[step]]
id = "I.1"
title = "t"
do = [
  {{ send = "client", lines = ["x"] }},
  {{ start = "server", on = "A", program = "tcp_server" }},
  {{ start = "server", on = "A", program = "tcp_server" }},
  {{ stop = "server" }},
  {{ expect = "server", match = "x" }},
  {{ capture = "cap", on = "B" }},
  {{ send = "cap", lines = ["x"] }},
]
"#
    );
    let errs = errors(&text);
    assert_eq!(
        at(find(
            &errs,
            "`client` is not running here: no step before this one starts it"
        )),
        (9, 3)
    );
    assert_eq!(at(find(&errs, "`server` is already running")), (11, 3));
    assert_eq!(
        at(find(
            &errs,
            "`server` is not running here: step `I.1` stopped it"
        )),
        (13, 3)
    );
    assert_eq!(at(find(&errs, "`cap` is a capture")), (15, 3));
}

#[test]
fn a_replayed_step_must_need_what_it_uses() {
    let text = format!(
        r#"{HEAD}[[step]]
id = "I.6"
title = "server"
do = [{{ start = "server", on = "A", program = "tcp_server" }}]
[[step]]
id = "I.8"
title = "uses it without needing it"
do = [{{ expect = "server", match = "x" }}]
"#
    );
    let errs = errors(&text);
    let d = find(&errs, "replaying step `I.8` alone");
    assert_eq!(at(d), (12, 7));
    assert!(d.hint.as_deref().unwrap().contains("add `I.6`"), "{d:?}");
}

#[test]
fn dependency_cycles() {
    let step = |id: &str, needs: &str| {
        format!("[[step]]\nid = \"{id}\"\ntitle = \"t\"\nneeds = [\"{needs}\"]\ndo = [{{ configure = true, on = \"A\" }}]\n")
    };
    let text = format!(
        "{HEAD}{}{}{}",
        step("a", "c"),
        step("b", "a"),
        step("c", "b")
    );
    let errs = errors(&text);
    let d = find(&errs, "dependency cycle");
    assert!(d.message.contains("`a` → `c` → `b` → `a`"), "{}", d.message);
    assert_eq!(at(d), (5, 1));
    let errs = errors(&format!("{HEAD}{}", step("a", "a")));
    find(&errs, "step `a` needs itself");
}

#[test]
fn bad_patterns_templates_durations_and_shapes() {
    let text = format!(
        r#"{HEAD}[[step]]
id = "I.1"
title = "t"
do = [
  {{ start = "s", on = "A", program = "tcp_server", args = ["--port", "{{prot}}"] }},
  {{ expect = "s", match = "(unclosed", within = "soon" }},
  {{ expect = "s", absent = "x" }},
  {{ run = "tcp_server", on = ["A", "B"], args = ["{{D.addr}}"], exit = 300 }},
  {{ start = "t", on = ["A", "B"], program = "tcp_client" }},
  {{ ping = "B", start = "x" }},
  {{ frobnicate = 1 }},
  {{ expect = "s", match = "a", absent = "b" }},
]
"#
    );
    let errs = errors(&text);
    let d = find(&errs, "unknown template name `{prot}`");
    assert_eq!(at(d), (9, 71));
    assert!(d.hint.as_deref().unwrap().contains("[vars]"));
    assert_eq!(at(find(&errs, "not a valid regular expression")), (10, 27));
    assert_eq!(at(find(&errs, "`within` is not a duration")), (10, 49));
    assert_eq!(at(find(&errs, "does not say `for` how long")), (11, 14));
    let d = find(&errs, "unknown template name `{D.addr}`");
    assert!(d.hint.as_deref().unwrap().contains("not a host"), "{d:?}");
    assert_eq!(at(find(&errs, "`exit` must be an exit status")), (12, 70));
    assert_eq!(at(find(&errs, "runs on exactly one host")), (13, 23));
    assert_eq!(at(find(&errs, "cannot both `ping` and `start`")), (14, 17));
    assert_eq!(at(find(&errs, "needs a keyword")), (15, 3));
    assert_eq!(at(find(&errs, "takes one of `match`, `absent`")), (16, 14));
}

#[test]
fn missing_pieces_and_duplicates() {
    let errs = errors("[vars]\nport = [1]\n[[step]]\nid = \"x y\"\ndo = []\n[[step]]\nid = \"I.1\"\ntitle = \"a\"\ndo = [{ deploy = true, on = \"A\" }]\n[[step]]\nid = \"I.1\"\ntitle = \"b\"\ndo = [{ deploy = true, on = \"A\" }]\n");
    find(&errs, "no `[lab]` table");
    assert_eq!(
        at(find(&errs, "`port` must be a string or a number")),
        (2, 8)
    );
    assert_eq!(at(find(&errs, "`x y` is not a handout number")), (4, 6));
    assert_eq!(at(find(&errs, "a step has no `title`")), (3, 1));
}

#[test]
fn a_step_defined_twice() {
    let errs = errors(&format!(
        "{HEAD}[[step]]\nid = \"I.1\"\ntitle = \"a\"\ndo = [{{ deploy = true, on = \"A\" }}]\n[[step]]\nid = \"I.1\"\ntitle = \"b\"\ndo = [{{ deploy = true, on = \"A\" }}]\n"
    ));
    let d = find(&errs, "step `I.1` is defined twice");
    assert_eq!(at(d), (9, 1));
}

const CHAIN: &str = r#"[[step]]
id = "I.1"
title = "configure"
do = [{ configure = true, on = ["A", "B"] }]
[[step]]
id = "I.5"
title = "deploy"
do = [{ deploy = true, on = ["A", "B"] }]
[[step]]
id = "I.6"
title = "server"
needs = ["I.1", "I.5"]
do = [{ start = "server", on = "A", program = "tcp_server", args = ["--port", "{port}"] }]
[[step]]
id = "I.7"
title = "unrelated"
do = [{ ping = "B", on = "A" }]
[[step]]
id = "I.8"
title = "client"
needs = ["I.6"]
do = [
  { start = "client", on = "B", program = "tcp_client", args = ["--server", "{A.addr}", "--name={evil}"] },
  { send = "client", lines = ["{evil}"] },
  { expect = "client", match = "^Server> {evil}$" },
  { stop = ["client", "server"] },
]
"#;

fn chain() -> Lab {
    let text = format!(
        "[lab]\nname = \"t\"\n[vars]\nport = 50000\nevil = \"'; $(touch /tmp/x)\"\n{CHAIN}"
    );
    lab(&text).unwrap_or_else(|e| panic!("{e}"))
}

fn ids(lab: &Lab, sel: &[(usize, bool)]) -> Vec<(String, bool)> {
    sel.iter()
        .map(|&(i, n)| (lab.steps[i].id.clone(), n))
        .collect()
}

fn sel(step: Option<&str>, from: Option<&str>, to: Option<&str>) -> StepSelect {
    StepSelect {
        step: step.map(String::from),
        from: from.map(String::from),
        to: to.map(String::from),
    }
}

#[test]
fn a_step_runs_after_what_it_needs_transitively() {
    let lab = chain();
    let s = select_steps(&lab, &sel(Some("I.8"), None, None)).unwrap();
    let want: Vec<(String, bool)> = [("I.1", true), ("I.5", true), ("I.6", true), ("I.8", false)]
        .map(|(a, b)| (a.to_string(), b))
        .to_vec();
    assert_eq!(ids(&lab, &s), want);
    // A range keeps its steps and pulls in what they need.
    let s = select_steps(&lab, &sel(None, Some("I.7"), Some("I.8"))).unwrap();
    let got: Vec<String> = ids(&lab, &s).into_iter().map(|(i, _)| i).collect();
    assert_eq!(got, ["I.1", "I.5", "I.6", "I.7", "I.8"]);
    assert!(matches!(
        select_steps(&lab, &sel(Some("nope"), None, None)),
        Err(Error::Usage(m)) if m.contains("no step `nope`")
    ));
    assert!(select_steps(&lab, &sel(None, Some("I.8"), Some("I.1"))).is_err());
}

#[test]
fn hostile_values_are_quoted_on_the_way_to_a_host_and_literal_in_patterns() {
    let lab = chain();
    let s = select_steps(&lab, &sel(Some("I.8"), None, None)).unwrap();
    let plan = Plan::build(&lab, &bench(), &s, "r1").unwrap();
    let step = plan.steps.iter().find(|s| s.id == "I.8").unwrap();
    let ops: Vec<&Op> = step
        .actions
        .iter()
        .flat_map(|a| &a.ops)
        .map(|o| &o.op)
        .collect();
    let (Op::Start { .. }, Some(call)) = (ops[0], ops[0].shown()) else {
        panic!("start first")
    };
    assert_eq!(
        call,
        r#"lc_start client I.8 /w/bin/tcp_client --server 10.0.3.1 '--name='\''; $(touch /tmp/x)'"#
    );
    let (Op::Send { .. }, Some(call)) = (ops[1], ops[1].shown()) else {
        panic!("send second")
    };
    assert_eq!(call, r#"lc_send client 0 ''\''; $(touch /tmp/x)'"#);
    let Op::Expect {
        check: PlanCheck::Match { regex, .. },
        ..
    } = ops[2]
    else {
        panic!("expect third")
    };
    assert_eq!(regex, r"^Server> '; \$\(touch /tmp/x\)$");
    // The stop is on the hosts where each program runs.
    let stops: Vec<(&str, &Op)> = step
        .actions
        .last()
        .unwrap()
        .ops
        .iter()
        .map(|o| (o.host.as_str(), &o.op))
        .collect();
    assert_eq!(stops.len(), 2);
    assert_eq!(stops[0].0, "B");
    assert_eq!(stops[1].0, "A");
    // And the plan text shows it exactly.
    let text = plan.render(&bench());
    assert!(
        text.contains(r#"$ lc_send client 0 ''\''; $(touch /tmp/x)'"#),
        "{text}"
    );
}

fn cli(args: &[&str]) -> common::RunOutput {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    Labctl::new()
        .hosts(root.join("hosts.toml"))
        .arg("--lab")
        .arg(root.join("labs/lab.toml"))
        .args(args)
        .run()
}

#[test]
fn plan_list_and_dry_run_show_the_same_exact_commands_and_touch_nothing() {
    let start =
        "lc_start client-B I.8 /home/pi/labctl/bin/tcp_client --server 10.0.3.1 --port 50000";
    let plan = cli(&["plan", "--step", "I.8"]);
    plan.assert_status(0)
        .assert_stdout_contains(start)
        .assert_stdout_contains("I.6  Start the TCP server on A  (needed)")
        .assert_stdout_contains("sudo -n ip addr replace 10.0.3.1/24 dev eth0")
        .assert_stdout_contains("lc_agent()")
        .assert_stdout_lacks("I.9 ");
    // The hosts of the example file do not exist: nothing was contacted.
    let out = std::env::temp_dir().join(format!("labctl-dry-{}", std::process::id()));
    let dry = cli(&[
        "run",
        "--dry-run",
        "--step",
        "I.8",
        "--out",
        out.to_str().unwrap(),
    ]);
    dry.assert_status(0)
        .assert_stdout_contains(start)
        .assert_stdout_contains("dry run: nothing is executed")
        // Its summary says it ran nothing, not that steps passed or were skipped.
        .assert_stdout_contains("dry run: nothing was run; 6 steps planned")
        .assert_stdout_lacks("PASSED")
        .assert_stdout_lacks("skipped");
    assert!(!out.exists(), "a dry run writes no run directory");
    let list = cli(&["list"]);
    list.assert_status(0);
    let ids: Vec<&str> = list
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(ids.len(), 17);
    assert_eq!((ids[0], ids[16]), ("I.1", "II.4"));
    cli(&["run", "--step", "I.99"])
        .assert_status(2)
        .assert_stderr_contains("no step `I.99`");
}

#[test]
fn input_errors_of_both_files_come_at_once_and_nothing_runs() {
    let dir = std::env::temp_dir().join(format!("labctl-labmodel-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let lab = dir.join("bad.toml");
    std::fs::write(&lab, "[lab]\nname = \"x\"\ncolour = 1\n[[step]]\nid = \"I.1\"\ntitle = \"t\"\ndo = [{ ping = \"Z\", on = \"A\" }]\n").unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Labctl::new()
        .hosts(root.join("hosts.toml"))
        .arg("--lab")
        .arg(&lab)
        .args(["run"])
        .current_dir(&dir)
        .run();
    out.assert_status(2)
        .assert_stderr_contains("bad.toml:3:1: unknown field `colour` in `[lab]`")
        .assert_stderr_contains("bad.toml:7:16: unknown host `Z`")
        .assert_stderr_contains("2 input errors; nothing was run");
    assert!(
        !dir.join("runs").exists(),
        "no run directory for a bad input"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
