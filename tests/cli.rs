//! The command line as an instructor meets it: shell completions (bash, zsh,
//! fish) that parse and name every subcommand and complete step ids from the
//! lab file (zsh through a pseudo-terminal, tests/cli_support/complete.zsh); a man page that renders with `man -l`; `--color`/`NO_COLOR`;
//! `-q` and `-v` on the virtual bench; `init` files that `check`'s
//! validation accepts as they are.

mod common;

use std::path::Path;
use std::process::Command;

use common::{ensure_programs, labctl_bin, Labctl, RunOutput, Scratch, TestBench};

use common::seed_lab;

/// Every visible subcommand, from clap's own description of the CLI.
fn subcommands() -> Vec<String> {
    use clap::CommandFactory;
    let names: Vec<String> = labctl::cli::Cli::command()
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .map(|s| s.get_name().to_string())
        .collect();
    assert!(names.len() >= 10, "expected the whole CLI, got {names:?}");
    names
}

fn out(args: &[&str]) -> RunOutput {
    let r = Labctl::new().args(args).run();
    r.assert_success();
    r
}

/// A PATH whose first entry holds the `labctl` under test, so the completion
/// hooks' `labctl list --ids` runs it.
fn path_with_labctl() -> String {
    let dir = Path::new(labctl_bin())
        .parent()
        .unwrap()
        .display()
        .to_string();
    format!("{dir}:{}", std::env::var("PATH").unwrap_or_default())
}

#[test]
fn completions_parse_in_their_shell_and_name_every_subcommand() {
    let scratch = Scratch::new("completions");
    for (shell, check) in [("bash", "bash"), ("zsh", "zsh"), ("fish", "fish")] {
        let script = out(&["completions", shell]).stdout.clone();
        for sub in subcommands() {
            assert!(
                script.contains(&sub),
                "{shell} completions do not name `{sub}`"
            );
        }
        let file = scratch.write(&format!("labctl.{shell}"), &script);
        let st = Command::new(check).arg("-n").arg(&file).output().unwrap();
        assert!(
            st.status.success(),
            "`{check} -n` rejects the {shell} completions: {}",
            String::from_utf8_lossy(&st.stderr)
        );
    }
}

#[test]
fn step_ids_complete_from_the_lab_file_in_bash_and_fish() {
    let scratch = Scratch::new("complete-steps");
    let lab = seed_lab();
    let hosts = scratch.write("hosts.toml", &out(&["init"]).stdout);
    let bash = scratch.write("labctl.bash", &out(&["completions", "bash"]).stdout);
    let line = format!(
        "labctl --hosts {} --lab {} run --step II.",
        hosts.display(),
        lab.display()
    );
    let script = format!(
        "source {}; COMP_WORDS=({line}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
         _labctl_with_steps labctl II. --step; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        bash.display()
    );
    let o = Command::new("bash")
        .args(["-c", &script])
        .env("PATH", path_with_labctl())
        .output()
        .unwrap();
    let got = String::from_utf8_lossy(&o.stdout);
    assert!(got.lines().any(|l| l == "II.1"), "bash offered {got:?}");
    assert!(
        got.lines().all(|l| l.starts_with("II.")),
        "bash offered {got:?}"
    );

    // Without a usable hosts file (a room file not named on the line), the
    // ids still come from the lab.
    let ids = Labctl::new()
        .hosts(scratch.path("missing.toml"))
        .arg("--lab")
        .arg(&lab)
        .args(["list", "--ids"])
        .run();
    ids.assert_success();
    assert_eq!(ids.stdout.lines().next(), Some("I.1"), "{ids}");

    let fish = scratch.write("labctl.fish", &out(&["completions", "fish"]).stdout);
    let script = format!(
        "source {}; complete -C '{} --step '",
        fish.display(),
        line.trim_end_matches(" --step II.")
    );
    let o = Command::new("fish")
        .args(["-c", &script])
        .env("PATH", path_with_labctl())
        .output()
        .unwrap();
    let got = String::from_utf8_lossy(&o.stdout);
    assert!(
        got.lines().any(|l| l.starts_with("I.1")),
        "fish offered {got:?}"
    );
}

#[test]
fn step_ids_complete_from_the_lab_file_in_zsh() {
    let scratch = Scratch::new("complete-zsh");
    let hosts = scratch.write("hosts.toml", &out(&["init"]).stdout);
    let dir = scratch.path("zfunc");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("_labctl"), &out(&["completions", "zsh"]).stdout).unwrap();
    let line = format!(
        "labctl run --hosts {} --lab {} --step II.",
        hosts.display(),
        seed_lab().display()
    );
    let o = Command::new("zsh")
        .arg("-f")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cli_support/complete.zsh"))
        .arg(&dir)
        .arg(&line)
        .arg("II.4")
        .env("PATH", path_with_labctl())
        .output()
        .unwrap();
    let got = String::from_utf8_lossy(&o.stdout);
    for id in ["II.1", "II.4"] {
        assert!(got.contains(id), "zsh did not offer `{id}`: {got:?}");
    }
    assert!(!got.contains("I.10"), "zsh offered Part I's steps: {got:?}");
}

#[test]
fn the_man_page_renders_and_names_every_subcommand() {
    let scratch = Scratch::new("man");
    let page = scratch.write("labctl.1", &out(&["man"]).stdout);
    let o = Command::new("man")
        .arg("-l")
        .arg(&page)
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
        .expect("man (man-db) is installed");
    assert!(
        o.status.success(),
        "man -l failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("labctl"), "empty man page: {text:?}");
    for sub in subcommands() {
        assert!(
            text.contains(&format!("LABCTL {}", sub.to_uppercase())),
            "the man page has no section for `{sub}`"
        );
    }
    assert!(text.contains("--step"), "the man page lacks run's options");
}

fn dry_run(extra: &[&str], env: &[(&str, &str)]) -> RunOutput {
    let scratch = Scratch::new("color");
    let hosts = scratch.write("hosts.toml", &out(&["init"]).stdout);
    let mut l = Labctl::new()
        .hosts(&hosts)
        .arg("--lab")
        .arg(seed_lab())
        .args(["run", "--dry-run", "--step", "I.2"])
        .args(extra)
        .env_remove("NO_COLOR");
    for (k, v) in env {
        l = l.env(k, v);
    }
    let r = l.run();
    r.assert_success();
    r
}

#[test]
fn color_never_and_no_color_write_no_escapes_and_always_does() {
    let esc = |r: &RunOutput| r.stdout.contains('\x1b') || r.stderr.contains('\x1b');
    assert!(esc(&dry_run(&["--color", "always"], &[])));
    assert!(esc(&dry_run(&["--color", "always"], &[("NO_COLOR", "1")])));
    assert!(!esc(&dry_run(&["--color", "never"], &[])));
    assert!(!esc(&dry_run(&[], &[("NO_COLOR", "1")])));
    // Into a pipe, `auto` means no colour.
    assert!(!esc(&dry_run(&[], &[])));
}

#[test]
fn quiet_says_less_and_verbose_shows_each_command_sent_to_a_host() {
    ensure_programs();
    let bench = TestBench::up();
    let scratch = Scratch::new("quiet-verbose");
    let run = |flag: &str| {
        let mut l = Labctl::new()
            .hosts(bench.hosts_file())
            .arg("--lab")
            .arg(seed_lab())
            .args(["run", "--step", "I.2", "--out"])
            .arg(scratch.path("runs"));
        if !flag.is_empty() {
            l = l.arg(flag);
        }
        let r = l.run();
        r.assert_success();
        r
    };
    let normal = run("");
    let quiet = run("-q");
    let verbose = run("-v");
    assert!(
        quiet.stdout.lines().count() < normal.stdout.lines().count(),
        "-q printed as much as the default:\n{quiet}\n{normal}"
    );
    assert!(
        quiet.stdout.contains("SUMMARY"),
        "-q drops the summary:\n{quiet}"
    );
    // The plan's command for I.2 (B's address) is traced as it is sent: its
    // first line, where NetworkManager's part of it begins.
    let traced: Vec<&str> = verbose
        .stderr
        .lines()
        .filter(|l| l.contains("»") && l.contains(" $ "))
        .collect();
    assert!(
        traced.iter().any(|l| l.contains("  B  $ ")
            && l.contains("nmcli -t -g GENERAL.STATE,GENERAL.CONNECTION device show eth0")),
        "-v does not show B's configure command:\n{verbose}"
    );
    assert!(
        !normal.stderr.contains("»"),
        "commands traced without -v:\n{normal}"
    );
}

#[test]
fn init_writes_hosts_files_that_validate_for_one_and_ten_benches() {
    let scratch = Scratch::new("init");
    for benches in ["1", "10"] {
        let file = scratch.path(&format!("room{benches}.toml"));
        Labctl::new()
            .args(["init", "--benches", benches, "--ssh", "bench{n}-{host}.lab"])
            .args(["--user", "student", "--subnet", "10.0.3.0/24"])
            .arg(&file)
            .run()
            .assert_success();
        let text = std::fs::read_to_string(&file).unwrap();
        let n: usize = benches.parse().unwrap();
        assert_eq!(text.matches("\nssh = ").count(), 3 * n, "{text}");
        assert!(text.contains(&format!("bench{n}-c.lab")), "{text}");
        // `plan` validates the hosts file as `check` does, and reaches no host.
        let plan = Labctl::new()
            .hosts(&file)
            .arg("--lab")
            .arg(seed_lab())
            .args(["plan", "--all", "--step", "I.1"])
            .run();
        plan.assert_success();
        assert_eq!(
            plan.stdout.matches("ip addr replace 10.0.3.1/24").count(),
            n,
            "{plan}"
        );
        // A second `init` to the same file refuses; `--force` overwrites.
        Labctl::new()
            .args(["init"])
            .arg(&file)
            .run()
            .assert_status(2);
        Labctl::new()
            .args(["init", "--force"])
            .arg(&file)
            .run()
            .assert_success();
    }
    // A pattern that makes bad SSH names is refused before anything is written.
    let bad = scratch.path("bad.toml");
    Labctl::new()
        .args(["init", "--ssh", "bench {n}"])
        .arg(&bad)
        .run()
        .assert_status(2);
    assert!(!bad.exists());
}

/// The codes listed under `Exit codes:` in a help text.
fn exit_codes(help: &str) -> Vec<String> {
    help.split("Exit codes:\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no exit codes in:\n{help}"))
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

#[test]
fn each_commands_help_lists_its_exit_codes_as_the_readme_does_and_examples() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    for sub in subcommands() {
        let help = out(&[&sub, "--help"]).stdout.clone();
        let codes = exit_codes(&help);
        let row = readme
            .lines()
            .find(|l| l.starts_with(&format!("| `{sub}` |")))
            .unwrap_or_else(|| panic!("README's exit codes table lacks `{sub}`"));
        let documented: Vec<String> = row
            .trim_end_matches('|')
            .rsplit('|')
            .next()
            .unwrap()
            .split(',')
            .map(|c| c.trim().to_string())
            .collect();
        assert_eq!(codes, documented, "`{sub} --help` against README");
        if !["completions", "man"].contains(&sub.as_str()) {
            assert!(
                help.contains("Examples:\n  labctl"),
                "`{sub} --help` has no examples:\n{help}"
            );
        }
    }
    // The README's paragraphs on `check` and `run` name the same codes.
    for (sub, section) in [
        ("check", "## Checking a bench"),
        ("run", "## Running the lab"),
    ] {
        let text = &readme[readme.find(section).unwrap()..];
        let para = &text[text.find("Exit codes:").unwrap()..];
        let para = &para[..para.find("\n\n").unwrap()];
        let help = out(&[sub, "--help"]).stdout.clone();
        for code in exit_codes(&help) {
            assert!(
                para.contains(&format!("`{code}` ")) || para.contains(&format!(" {code} ")),
                "README's `{sub}` paragraph lacks exit code {code}: {para}"
            );
        }
    }
}
