//! The SSH layer against real sshds on the virtual bench: exit status and
//! signals, stdout and stderr read together (no deadlock on large output),
//! stdin, timeouts that leave the session usable, atomic upload, download,
//! long-lived stream channels, parallel sessions, one per thread, and an
//! ed25519 identity (parsed once, signing each session) accepted or refused.

mod common;

use std::time::{Duration, Instant};

use common::{Scratch, TestBench};
use labctl::config::hosts::{self, Room};
use labctl::ssh::{self, Auth, ConnectOptions, Session, SshErrorKind, StreamRead, Target};

const T: Duration = Duration::from_secs(20);

fn room(bench: &TestBench) -> Room {
    hosts::load(bench.hosts_file()).unwrap()
}

#[test]
fn exec_status_signal_streams_stdin_and_timeouts() {
    let bench = TestBench::up();
    let room = room(&bench);
    let a = room.benches[0].host("A").unwrap();
    let s = Session::connect(a, &ConnectOptions::default()).unwrap();
    assert!(!s.host_key.newly_accepted);
    assert!(s.host_key.fingerprint.starts_with("SHA256:"));

    let o = s.exec("echo out; echo err >&2; exit 3", None, T).unwrap();
    assert_eq!(
        (o.status, o.stdout_str(), o.stderr_str()),
        (Some(3), "out\n".into(), "err\n".into())
    );
    assert!(!o.success());

    // Killed by a signal: no status, the signal named.
    let o = s.exec("kill -TERM $$", None, T).unwrap();
    assert_eq!((o.status, o.signal.as_deref()), (None, Some("TERM")));
    assert_eq!(o.describe(), "killed by signal TERM");

    // Megabytes on both streams at once: read together, no deadlock.
    let o = s
        .exec(
            "head -c 3000000 /dev/zero; head -c 2000000 /dev/zero >&2",
            None,
            T,
        )
        .unwrap();
    assert_eq!((o.stdout.len(), o.stderr.len()), (3_000_000, 2_000_000));

    // Stdin in, the same bytes out.
    let input: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let o = s.exec("cat", Some(&input), T).unwrap();
    assert!(o.stdout == input, "stdin round trip differs");

    // A timeout names the command, and the session still works afterwards.
    let e = s
        .exec("sleep 30", None, Duration::from_millis(300))
        .unwrap_err();
    assert_eq!(e.kind, SshErrorKind::Timeout);
    let msg = e.to_string();
    assert!(
        msg.starts_with("host `A` (127.0.0.1:") && msg.contains("`sleep 30` did not finish"),
        "{msg}"
    );
    assert_eq!(
        s.exec("echo alive", None, T).unwrap().stdout_str(),
        "alive\n"
    );
}

#[test]
fn upload_is_atomic_download_and_streams() {
    let bench = TestBench::up();
    let room = room(&bench);
    let b = room.benches[0].host("B").unwrap();
    let s = Session::connect(b, &ConnectOptions::default()).unwrap();
    let dir = format!("{}/up", b.workdir);
    let path = format!("{dir}/x.bin");
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 256) as u8).collect();
    s.upload(&path, &bytes, 0o750).unwrap();
    assert_eq!(s.download(&path).unwrap(), bytes);
    let o = s
        .exec(&format!("stat -c %a {path}; ls -A {dir}"), None, T)
        .unwrap();
    // Mode applied, and no temporary file left beside it.
    assert_eq!(o.stdout_str(), "750\nx.bin\n");
    let e = s.download(&format!("{dir}/missing")).unwrap_err();
    assert!(e.to_string().contains("download of"), "{e}");

    // A long-lived channel: write, read what arrives, run other commands meanwhile, close.
    let mut st = s
        .spawn_stream("while read l; do echo got $l; echo err $l >&2; done; echo bye")
        .unwrap();
    st.write(b"one\ntwo\n").unwrap();
    let mut acc = StreamRead::default();
    let deadline = Instant::now() + T;
    while !(acc.stdout.ends_with(b"got two\n") && acc.stderr.ends_with(b"err two\n")) {
        assert!(Instant::now() < deadline, "no output: {acc:?}");
        st.wait(Duration::from_millis(100));
        let r = st.read_available().unwrap();
        acc.stdout.extend(r.stdout);
        acc.stderr.extend(r.stderr);
    }
    assert_eq!(acc.stdout, b"got one\ngot two\n");
    assert_eq!(
        s.exec("echo meanwhile", None, T).unwrap().stdout_str(),
        "meanwhile\n"
    );
    let o = st.close(T).unwrap();
    assert_eq!((o.stdout_str(), o.status), ("bye\n".to_string(), Some(0)));
}

#[test]
fn for_each_host_runs_one_session_per_thread() {
    let bench = TestBench::up();
    let room = room(&bench);
    let hosts: Vec<_> = room.all_hosts().collect();
    let names = ssh::for_each_host(&hosts, &ConnectOptions::default(), |h, c| {
        let s = c.unwrap_or_else(|e| panic!("{e}"));
        (
            h.name.clone(),
            s.exec("hostname", None, T).unwrap().stdout_str(),
        )
    });
    let expect: Vec<(String, String)> = ["A", "B", "C"]
        .iter()
        .map(|n| (n.to_string(), format!("{n}\n")))
        .collect();
    assert_eq!(names, expect);

    // A stopped sshd: a connect error naming the host, at once.
    bench.stop_sshd("C");
    let c = room.benches[0].host("C").unwrap();
    let e = Session::connect(c, &ConnectOptions::default())
        .err()
        .expect("C is down");
    assert_eq!(e.kind, SshErrorKind::Connect);
    assert!(e.to_string().starts_with("host `C` (127.0.0.1:"), "{e}");
}

#[test]
fn an_ed25519_identity_signs_each_session_and_an_unknown_key_is_refused_as_before() {
    let bench = TestBench::up();
    let room = room(&bench);
    let target: Target = room.benches[0].host("A").unwrap().into();
    // The testbed's key (unencrypted ed25519): parsed once, then each
    // session's authentication signed with it, one after another.
    for _ in 0..3 {
        let s = Session::connect(target.clone(), &ConnectOptions::default()).unwrap();
        let o = s.exec("echo \"$(id -un)\"", None, T).unwrap();
        assert_eq!(o.stdout_str(), format!("{}\n", target.user));
    }

    // A new ed25519 key the host does not know is refused by name, in the
    // very words libssh2's own path has for a new RSA key.
    let scratch = Scratch::new("ssh-unknown-key");
    let key = scratch.path("id_new");
    let st = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "new", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(st.success());
    let rsa = scratch.path("id_rsa");
    let st = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "rsa", "-b", "2048", "-N", "", "-C", "new", "-f"])
        .arg(&rsa)
        .status()
        .unwrap();
    assert!(st.success());
    let refused = |identity: &std::path::Path| {
        let mut t = target.clone();
        t.auth = Auth::Key {
            identity: identity.to_path_buf(),
            passphrase_env: None,
        };
        let e = Session::connect(t, &ConnectOptions::default())
            .err()
            .expect("an unknown key is refused");
        assert_eq!(e.kind, SshErrorKind::Auth, "{e}");
        e.to_string()
    };
    let by_us = refused(&key);
    assert!(
        by_us.contains(&format!(
            "key `{}` was not accepted for user `{}`: ",
            key.display(),
            target.user
        )),
        "{by_us}"
    );
    let by_libssh2 = refused(&rsa);
    assert_eq!(
        by_us.replace("id_new", "id_rsa"),
        by_libssh2,
        "the same refusal either way"
    );
}
