//! First contact and re-imaged cards, as a room's hosts come from Raspberry
//! Pi Imager: a bench whose login is not `pi` and accepts only its password
//! goes from nothing to a passing run with one `labctl keys install` (the new
//! host keys shown before they are trusted, the password read from the
//! variable the hosts file names and stored nowhere); a re-imaged host is
//! refused by every command, naming its recorded and offered keys, until
//! `labctl keys trust --replace` records the new key after a confirmation.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use common::{labctl, Labctl, RunOutput, TestBench};

use common::seed_lab;

/// `labctl --hosts … ARGS` with `stdin` and the environment `envs`.
fn keys(bench: &TestBench, args: &[&str], stdin: &str, envs: &[(&str, &str)]) -> RunOutput {
    common::ensure_programs();
    let mut l = Labctl::new()
        .hosts(bench.hosts_file())
        .args(args)
        .env("HOME", bench.home())
        .env_remove("LABCTL_PASSWORD")
        .stdin(stdin);
    for (k, v) in envs {
        l = l.env(k, v);
    }
    l.run()
}

/// `SHA256:…` of `host`'s ed25519 host key, from its public key file.
fn host_fingerprint(bench: &TestBench, host: &str) -> String {
    let text =
        std::fs::read_to_string(bench.host(host).dir.join("ssh_host_ed25519_key.pub")).unwrap();
    let blob = text.split_whitespace().nth(1).unwrap();
    labctl::ssh::known_hosts::fingerprint(&labctl::ssh::known_hosts::base64_decode(blob).unwrap())
}

#[test]
fn a_password_only_bench_with_its_own_login_goes_to_a_passing_run_with_one_key_command() {
    password_only_to_a_passing_run(&[]);
}

#[test]
fn on_debian13_a_password_only_bench_goes_to_a_passing_run_with_one_key_command() {
    password_only_to_a_passing_run(&["--os", "debian13"]);
}

fn password_only_to_a_passing_run(os: &[&str]) {
    let mut args = vec!["--password-only", "--user", "ada"];
    args.extend(os);
    let bench = TestBench::up_args(&args);
    let hosts = std::fs::read_to_string(bench.hosts_file()).unwrap();
    assert!(hosts.contains("user = \"ada\""), "{hosts}");
    assert!(hosts.contains("workdir = \"/home/ada/labctl\""), "{hosts}");
    assert!(
        hosts.contains("password_env = \"LABCTL_PASSWORD\""),
        "{hosts}"
    );
    assert!(!hosts.contains("/home/pi"), "{hosts}");
    let kh = bench.known_hosts();
    assert_eq!(
        std::fs::read_to_string(&kh).unwrap(),
        "",
        "a fresh card is unknown"
    );
    let password = std::fs::read_to_string(bench.state_dir().join("password")).unwrap();
    let pw = [("LABCTL_PASSWORD", password.as_str())];

    // Before: unknown host keys, and no key login.
    let out = labctl(bench.hosts_file(), &seed_lab(), &bench.home(), &["check"]);
    out.assert_status(3)
        .assert_stdout_contains("✘ A host key: unknown host key ssh-ed25519");
    // Keys trusted (in a copy of the file): the password is all a fresh card takes.
    let other_kh = bench.state_dir().join("kh-check");
    let copy = common::with_known_hosts(&bench, "hosts-check.toml", &other_kh);
    let out = labctl(
        &copy,
        &seed_lab(),
        &bench.home(),
        &["--accept-new", "check"],
    );
    out.assert_status(3)
        .assert_stdout_contains("✘ A ssh: key ")
        .assert_stdout_contains(
            "`labctl keys install` logs in with the password in `$LABCTL_PASSWORD`",
        );
    // Without the password, nothing is contacted.
    keys(&bench, &["keys", "install"], "", &[])
        .assert_status(2)
        .assert_stderr_contains("environment variable `LABCTL_PASSWORD`");
    // Declined: nothing recorded, nothing installed.
    let no = keys(&bench, &["keys", "install"], "n\n", &pw);
    no.assert_status(1).assert_stderr_contains("not confirmed");
    assert_eq!(std::fs::read_to_string(&kh).unwrap(), "");
    let ssh_dir = bench.host("A").dir.join("home/ada/.ssh");
    assert!(!ssh_dir.exists(), "nothing installed after `n`");

    let yes = keys(&bench, &["keys", "install"], "y\n", &pw);
    yes.assert_status(0);
    yes.assert_stderr_contains("trust the 3 host keys marked above");
    for h in ["A", "B", "C"] {
        let fp = host_fingerprint(&bench, h);
        let shown = yes
            .stdout
            .find(&format!("? {h}  new host key ssh-ed25519 {fp}"))
            .unwrap_or_else(|| panic!("{h}'s fingerprint shown\n{yes}"));
        let recorded = yes
            .stdout
            .find(&format!("✔ {h}  recorded {fp}"))
            .unwrap_or_else(|| panic!("{h} recorded\n{yes}"));
        assert!(shown < recorded, "shown before trusted\n{yes}");
        yes.assert_stdout_contains(&format!(
            "✔ {h}  added `{}.pub` to ~ada/.ssh/authorized_keys; key login works",
            bench.identity().display()
        ));
        // The key file as ssh-copy-id leaves it: the login's, 0700 and 0600, one line.
        let dir = bench.host(h).dir.join("home/ada/.ssh");
        let keys_file = dir.join("authorized_keys");
        let uid = std::fs::metadata(bench.host(h).dir.join("home/ada"))
            .unwrap()
            .uid();
        for (p, mode) in [(&dir, 0o700), (&keys_file, 0o600)] {
            let m = std::fs::metadata(p).unwrap();
            assert_eq!(m.permissions().mode() & 0o777, mode, "{}", p.display());
            assert_eq!(m.uid(), uid, "{}", p.display());
        }
    }
    yes.assert_stdout_contains("key login works on 3 hosts");

    // Again: nothing to do, never a second line.
    let again = keys(&bench, &["keys", "install"], "", &pw);
    again
        .assert_status(0)
        .assert_stdout_contains("✔ A  key login as `ada` works already");
    for h in ["A", "B", "C"] {
        let text = std::fs::read_to_string(bench.host(h).dir.join("home/ada/.ssh/authorized_keys"))
            .unwrap();
        assert_eq!(text.lines().count(), 1, "{h}: {text}");
    }

    // Key login, as `ada`, in her own home; then the whole lab without the password.
    let o = bench.ssh("A", "id -un; cd && pwd").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "ada\n/home/ada\n",
        "{o:?}"
    );
    let home = bench.home();
    let run = labctl(
        bench.hosts_file(),
        &seed_lab(),
        &home,
        &["run", "--out", "runs"],
    );
    run.assert_status(0)
        .assert_stdout_contains("PASSED: steps 17 passed, 0 failed; expectations 55 ✔, 0 ✘");
    // The password was stored nowhere by labctl.
    let found = common::files_below(&home)
        .into_iter()
        .filter(|(_, bytes)| common::contains(bytes, password.as_bytes()))
        .map(|(p, _)| p.display().to_string())
        .collect::<Vec<_>>();
    assert!(found.is_empty(), "the password in {found:?}");
    assert!(!common::contains(
        &std::fs::read(&kh).unwrap(),
        password.as_bytes()
    ));
    common::record_proven(
        &bench,
        "a password-only login `ada` to a passing run through `keys install`",
    );
}

#[test]
fn a_reimaged_host_is_refused_then_trusted_again_and_the_lab_passes() {
    reimaged_host(&[]);
}

#[test]
fn on_debian13_a_reimaged_host_is_refused_then_trusted_again_and_the_lab_passes() {
    reimaged_host(&["--os", "debian13"]);
}

fn reimaged_host(args: &[&str]) {
    let bench = TestBench::up_args(args);
    let home = bench.home();
    let lab = seed_lab();
    labctl(bench.hosts_file(), &lab, &home, &["check", "--fix"]).assert_status(0);
    let kh = bench.known_hosts();
    let old = host_fingerprint(&bench, "B");

    Labctl::new()
        .args(["testbed", "reimage", "--name", bench.name(), "B"])
        .run()
        .assert_status(0);
    let new = host_fingerprint(&bench, "B");
    assert_ne!(old, new);
    let recorded = std::fs::read(&kh).unwrap();

    // Every command refuses it, naming the host, both keys and the file.
    let out = labctl(bench.hosts_file(), &lab, &home, &["check"]);
    out.assert_status(1).assert_stdout_contains(&format!(
        "✘ B host key: host key CHANGED: the server now presents ssh-ed25519 {new}, but `{}` line 2 records key {old}",
        kh.display()
    ))
    .assert_stdout_contains("labctl keys trust --replace");
    let run = labctl(bench.hosts_file(), &lab, &home, &["run", "--out", "runs"]);
    run.assert_status(3);
    assert!(
        run.stderr.contains(&format!("records key {old}"))
            || run.stdout.contains(&format!("records key {old}")),
        "{run}"
    );

    // Shown, then declined: nothing recorded.
    let no = keys(&bench, &["keys", "trust", "--replace"], "n\n", &[]);
    no.assert_status(1).assert_stdout_contains(&format!(
        "! B  host key CHANGED: recorded {old} (`{}` line 2), offered ssh-ed25519 {new}",
        kh.display()
    ));
    assert_eq!(std::fs::read(&kh).unwrap(), recorded);
    // Without --replace a changed key stays refused.
    keys(&bench, &["keys", "trust", "--yes"], "", &[])
        .assert_status(1)
        .assert_stderr_contains("labctl keys trust --replace");
    assert_eq!(std::fs::read(&kh).unwrap(), recorded);

    let yes = keys(&bench, &["keys", "trust", "--replace", "--yes"], "", &[]);
    yes.assert_status(0)
        .assert_stdout_contains(&format!(
            "✔ B  recorded {new} in `{}` (the old key removed from it)",
            kh.display()
        ))
        .assert_stdout_contains("✔ A  ssh-ed25519");
    let text = std::fs::read_to_string(&kh).unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");

    // The re-flashed card has lost its programs and address: the lab brings both.
    let run = labctl(bench.hosts_file(), &lab, &home, &["run", "--out", "runs"]);
    run.assert_status(0)
        .assert_stdout_contains("PASSED: steps 17 passed, 0 failed; expectations 55 ✔, 0 ✘");
    common::record_proven(
        &bench,
        "a re-imaged host refused, re-trusted with `keys trust --replace`, passing",
    );
}
