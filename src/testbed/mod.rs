//! The virtual bench: network namespaces with their own eth0 and sshd, on this machine.
//!
//! `labctl testbed up --name N [--benches K]` builds, per bench, a switch
//! namespace (`lc-N-sw`, bridge `br0`) and per host A, B, C a namespace
//! (`lc-N-A`) with `lo` and `eth0` (a veth into the switch, no address, no
//! route) and a real OpenSSH `sshd` in its own UTS namespace (hostname `A`).
//! A relay process (`labctl testbed relay`) gives each sshd a loopback port
//! in the root namespace, the only way in. `up` writes the hosts file and
//! prints its path last; `down` removes exactly what `up` recorded in
//! `testbed.json`; `status` says what exists and whether each sshd answers.
//!
//! - [`state`]: the record of what was made.
//! - [`netns`]: namespaces and links.
//! - [`sshd`]: keys, configs and the sshds.
//! - [`relay`]: the loopback relay into the namespaces.
//! - [`login`]: the login each host sees (its own `/etc` files and `/home`).
//! - [`nm`]: NetworkManager on each host, as Raspberry Pi OS runs it, contained.
//! - [`fault`]: a host made silent (no FIN, no RST) and restored.
//! - [`proc`]: detached processes, stopped by pid only while still ours.
//! - [`clock`]: a host's own clock, wrong as a Pi's (`up --clock A=-90s`).

pub mod binfmt;
pub(crate) mod clock;
pub(crate) mod fault;
pub mod login;
pub mod netns;
pub mod nm;
pub mod proc;
pub mod relay;
pub mod root;
pub(crate) mod sshd;
pub mod state;

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::util::io_reason;

use state::{write_file, BenchState, HostState, State};

/// The hosts of every bench, with their lab addresses.
const HOSTS: [(&str, &str); 3] = [
    ("A", "10.0.3.1/24"),
    ("B", "10.0.3.2/24"),
    ("C", "10.0.3.3/24"),
];

/// How long `up` waits for the relay's ports and for every sshd's banner.
const START_LIMIT: Duration = Duration::from_secs(20);

/// How long a stopped process gets between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(3);

/// Where testbeds keep their state: `$LABCTL_TESTBED_ROOT` or `/var/lib/labctl/testbed`.
pub fn state_root() -> PathBuf {
    match std::env::var_os("LABCTL_TESTBED_ROOT") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from("/var/lib/labctl/testbed"),
    }
}

/// A testbed name: `[a-z0-9-]`, 1 to 16 characters (it becomes part of namespace names).
pub(crate) fn validate_name(name: &str) -> Result<(), Error> {
    let ok = (1..=16).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "bad testbed name `{name}`: use 1 to 16 characters from `a-z`, `0-9` and `-`"
        )))
    }
}

pub(crate) fn current_euid() -> u32 {
    // SAFETY: geteuid(2) cannot fail.
    unsafe { libc::geteuid() }
}

/// Namespaces and sshds need root.
pub(crate) fn require_root(euid: u32) -> Result<(), Error> {
    if euid == 0 {
        Ok(())
    } else {
        Err(Error::Local(
            "`testbed` needs root: run it with sudo".to_string(),
        ))
    }
}

/// The tools `up` runs, found (or the Debian package to install named).
struct Tools {
    sshd: PathBuf,
}

fn require_tools() -> Result<Tools, Error> {
    proc::require_tool("ip", "iproute2")?;
    proc::require_tool("ssh-keygen", "openssh-client")?;
    proc::require_tool("unshare", "util-linux")?;
    proc::require_tool("hostname", "hostname")?;
    let sshd = proc::require_tool("sshd", "openssh-server")?;
    Ok(Tools { sshd })
}

/// The state of a testbed about to be built: names and directories, nothing running.
fn plan(name: &str, benches: u16, dir: &Path) -> State {
    let room = benches > 1;
    let benches = (1..=benches)
        .map(|i| {
            let bench = if room {
                format!("bench{i}")
            } else {
                "bench".to_string()
            };
            let (ns_prefix, bench_dir) = if room {
                (format!("lc-{name}-{bench}-"), dir.join(&bench))
            } else {
                (format!("lc-{name}-"), dir.to_path_buf())
            };
            BenchState {
                switch: format!("{ns_prefix}sw"),
                hosts: HOSTS
                    .iter()
                    .map(|(host, addr)| HostState {
                        name: host.to_string(),
                        hostname: if room {
                            format!("{bench}-{host}")
                        } else {
                            host.to_string()
                        },
                        netns: format!("{ns_prefix}{host}"),
                        addr: addr.to_string(),
                        dir: bench_dir.join(host),
                        ssh_port: None,
                        sshd_pid: None,
                        os: None,
                        root: None,
                        clock: false,
                    })
                    .collect(),
                name: bench,
            }
        })
        .collect();
    State {
        name: name.to_string(),
        room,
        dir: dir.to_path_buf(),
        relay_pid: None,
        arch: None,
        pi: false,
        sudo: false,
        user: login::USER.to_string(),
        password_only: false,
        nm: false,
        benches,
    }
}

/// What `testbed up` makes, from its command line.
#[derive(Debug, Clone)]
pub(crate) struct UpOptions {
    pub benches: u16,
    /// `--arch`: ARM hosts (programs through qemu-user).
    pub arch: Option<String>,
    /// A login that is not root (`user`); `false`: `--root`.
    pub pi: bool,
    pub user: String,
    /// What the login may run through sudo.
    pub sudo: login::Sudo,
    /// NetworkManager on every host (`false`: `--no-network-manager`).
    pub nm: bool,
    /// `--password-only`: the login has a password and no authorized key.
    pub password_only: bool,
    /// `--clock`: hosts with a clock of their own, and its offset (seconds).
    pub clock: Vec<(String, f64)>,
    /// `--os`: `(host or every host, OS)`, later ones winning.
    pub os: Vec<(Option<String>, String)>,
}

/// `--os` values: `OS` or `HOST=OS` (`A`, or `bench2/A` in a room).
pub(crate) fn parse_os(specs: &[String]) -> Result<Vec<(Option<String>, String)>, Error> {
    specs
        .iter()
        .map(|spec| {
            let (host, os) = match spec.split_once('=') {
                Some((h, o)) => (Some(h.to_string()), o),
                None => (None, spec.as_str()),
            };
            if !root::OSES.contains(&os) {
                return Err(Error::Usage(format!(
                    "`--os {spec}`: unknown OS `{os}`; use {}",
                    root::OSES
                        .iter()
                        .map(|o| format!("`{o}`"))
                        .collect::<Vec<_>>()
                        .join(" or ")
                )));
            }
            if let Some(h) = &host {
                let name = h.rsplit('/').next().unwrap_or(h);
                if !HOSTS.iter().any(|(n, _)| *n == name) {
                    return Err(Error::Usage(format!(
                        "`--os {spec}`: no host `{h}`; the hosts are A, B and C (`bench2/A` in a room)"
                    )));
                }
            }
            Ok((host, os.to_string()))
        })
        .collect()
}

/// The OS `opts` gives the host `name` of bench `bench` (`None`: this machine's).
fn os_of(opts: &UpOptions, bench: &str, name: &str, room: bool) -> Option<String> {
    let mut os = None;
    for (host, o) in &opts.os {
        let applies = match host {
            None => true,
            Some(h) => match h.split_once('/') {
                Some((b, n)) => room && b == bench && n == name,
                None => h == name,
            },
        };
        if applies {
            os = (o != "local").then(|| o.clone());
        }
    }
    os
}

/// The environment variable a `--password-only` bench's password is read
/// from (`up`, when set) and that its hosts file names (`password_env`).
pub(crate) const PASSWORD_ENV: &str = "LABCTL_PASSWORD";

/// Builds the testbed; returns the hosts file. On failure, removes what it made.
pub(crate) fn up(name: &str, opts: &UpOptions) -> Result<PathBuf, Error> {
    let started = Instant::now();
    let tools = require_tools()?;
    if opts.pi {
        proc::require_tool("sudo", "sudo")?;
        proc::require_tool("mount", "mount")?;
    }
    if opts.password_only {
        proc::require_tool("openssl", "openssl")?;
    }
    if opts.nm {
        nm::require_tools()?;
    }
    let state_root = state_root();
    let dir = state_root.join(name);
    if !opts.clock.is_empty() {
        clock::library()?;
        // Every host named is one of the bench's, before anything is made.
        clock::assign(&mut plan(name, opts.benches, &dir), &opts.clock)?;
    }
    let existing = netns::owned_by(name, &netns::list());
    if dir.exists() || !existing.is_empty() {
        let what = if dir.exists() {
            format!("`{}` exists", dir.display())
        } else {
            format!("namespace `{}` exists", existing[0])
        };
        return Err(Error::Local(format!(
            "testbed `{name}` already exists ({what}); remove it first with `labctl testbed down --name {name}`"
        )));
    }
    let mut state = plan(name, opts.benches, &dir);
    let room = state.room;
    for b in &mut state.benches {
        for h in &mut b.hosts {
            h.os = os_of(opts, &b.name, &h.name, room);
        }
    }
    // Each OS's root, made first when missing (once per machine).
    let mut roots: Vec<(String, PathBuf)> = Vec::new();
    for b in &mut state.benches {
        for h in &mut b.hosts {
            if let Some(os) = &h.os {
                if !roots.iter().any(|(o, _)| o == os) {
                    roots.push((os.clone(), root::ensure(os)?));
                }
                h.root = roots.iter().find(|(o, _)| o == os).map(|(_, r)| r.clone());
            }
        }
    }
    std::fs::create_dir_all(&state_root).map_err(|e| {
        Error::Local(format!(
            "cannot create `{}`: {}",
            state_root.display(),
            io_reason(&e)
        ))
    })?;
    // `create` (not `create_dir_all`) fails if another `up` got there first: never clobber.
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|e| {
            Error::Local(format!(
                "cannot create testbed directory `{}`: {}",
                dir.display(),
                io_reason(&e)
            ))
        })?;
    state.arch = opts.arch.clone();
    state.pi = opts.pi;
    state.sudo = opts.pi && opts.sudo != login::Sudo::None;
    state.user = opts.user.clone();
    state.password_only = opts.pi && opts.password_only;
    state.nm = opts.nm;
    let offsets = clock::assign(&mut state, &opts.clock)?;
    let built = state
        .save()
        .and_then(|()| build(&mut state, &tools, opts.sudo, &offsets));
    match built {
        Ok(hosts_file) => {
            let n = state.hosts().count();
            eprintln!(
                "testbed `{name}`: {} bench{}, {n} hosts up in {:.2} s",
                state.benches.len(),
                if state.benches.len() == 1 { "" } else { "es" },
                started.elapsed().as_secs_f64()
            );
            let mut seen: Vec<&Path> = Vec::new();
            for (_, h) in state.hosts() {
                if let (Some(os), Some(r)) = (&h.os, &h.root) {
                    if seen.contains(&r.as_path()) {
                        continue;
                    }
                    seen.push(r);
                    let v: Vec<String> = root::versions(r, &root::SHOWN)
                        .into_iter()
                        .map(|(p, v)| format!("{p} {v}"))
                        .collect();
                    eprintln!("testbed `{name}`: {os} hosts run {}", v.join(", "));
                }
            }
            if state.password_only {
                eprintln!(
                    "testbed `{name}`: `{}` logs in with the password in `{}` (export {PASSWORD_ENV}=\"$(cat {})\"), then `labctl --hosts {} keys install` puts the key in place",
                    state.user,
                    password_file(&state.dir).display(),
                    password_file(&state.dir).display(),
                    dir.join("hosts.toml").display()
                );
            }
            Ok(hosts_file)
        }
        Err(e) => {
            eprintln!("testbed `{name}`: `up` failed; removing what it made");
            if let Err(e2) = teardown(&state) {
                eprintln!("testbed `{name}`: {e2}");
            }
            Err(e)
        }
    }
}

/// Where a `--password-only` bench keeps its login's password (0600).
pub(crate) fn password_file(dir: &Path) -> PathBuf {
    dir.join("password")
}

/// The password of a `--password-only` bench: `$LABCTL_PASSWORD` when set,
/// else 16 random characters; written to [`password_file`] either way.
fn make_password(dir: &Path) -> Result<String, Error> {
    let password = match std::env::var(PASSWORD_ENV) {
        Ok(p) if !p.is_empty() => p,
        _ => {
            let mut bytes = [0u8; 12];
            std::fs::File::open("/dev/urandom")
                .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
                .map_err(|e| {
                    Error::Local(format!("cannot read /dev/urandom: {}", io_reason(&e)))
                })?;
            crate::ssh::known_hosts::base64(&bytes).replace(['+', '/'], "x")
        }
    };
    let path = password_file(dir);
    std::fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, password.as_bytes()))
        .map_err(|e| {
            Error::Local(format!(
                "cannot write `{}`: {}",
                path.display(),
                io_reason(&e)
            ))
        })?;
    Ok(password)
}

/// The crypt(3) hash (SHA-512) of `password`, for a host's `shadow`.
fn password_hash(password: &str) -> Result<String, Error> {
    use std::io::Write as _;
    let mut child = Command::new("openssl")
        .args(["passwd", "-6", "-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Local(format!("cannot run `openssl`: {}", io_reason(&e))))?;
    let _ = child
        .stdin
        .take()
        .expect("piped")
        .write_all(format!("{password}\n").as_bytes());
    let out = child
        .wait_with_output()
        .map_err(|e| Error::Local(format!("waiting for `openssl`: {}", io_reason(&e))))?;
    let hash = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || !hash.starts_with("$6$") {
        return Err(Error::Local(format!(
            "`openssl passwd -6` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(hash)
}

/// The login of `state`'s hosts (not root), with `sudo`'s rights.
fn login_of(state: &State, sudo: login::Sudo) -> Result<login::Login, Error> {
    let key = sshd::public_key(&sshd::client_key(&state.dir))? + "\n";
    let password_hash = if state.password_only {
        let password = match std::fs::read_to_string(password_file(&state.dir)) {
            Ok(p) => p,
            Err(_) => make_password(&state.dir)?,
        };
        Some(password_hash(&password)?)
    } else {
        None
    };
    Ok(login::Login {
        user: state.user.clone(),
        authorized_key: (!state.password_only).then_some(key),
        password_hash,
        sudo,
        nm: state.nm,
    })
}

/// The stages of `up`, recording each thing made in `state` as it goes;
/// `sudo`: what the login may run through sudo on hosts whose login is not root.
fn build(
    state: &mut State,
    tools: &Tools,
    sudo: login::Sudo,
    offsets: &[(String, f64)],
) -> Result<PathBuf, Error> {
    let t = Instant::now();
    for (b, h) in state.hosts() {
        std::fs::create_dir_all(&h.dir).map_err(|e| {
            Error::Local(format!(
                "cannot create `{}`: {}",
                h.dir.display(),
                io_reason(&e)
            ))
        })?;
        let spec = format!("{}/{}", b.name, h.name);
        let offset = offsets.iter().rev().find(|(s, _)| *s == spec).map(|o| o.1);
        clock::prepare(state, h, offset)?;
    }
    netns::create(state)?;
    eprintln!(
        "testbed `{}`: {} namespaces and their links in {:.2} s",
        state.name,
        state.benches.len() + state.hosts().count(),
        t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    sshd::generate_keys(state)?;
    sshd::write_configs(state)?;
    if state.pi {
        let login = login_of(state, sudo)?;
        for (_, h) in state.hosts() {
            login::write(h, &login, h.root.as_deref().unwrap_or(Path::new("/")))?;
        }
    }
    if state.nm {
        nm::write(state)?;
    }
    for (_, h) in state.hosts().filter(|(_, h)| h.root.is_some()) {
        write_netplan(h)?;
    }
    let first = &state.benches[0].hosts[0];
    sshd::validate(&tools.sshd, &sshd::config_path(first))?;
    eprintln!(
        "testbed `{}`: keys and sshd configs in {:.2} s",
        state.name,
        t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let specs: Vec<String> = state
        .hosts()
        .map(|(b, h)| format!("{}/{}", b.name, h.name))
        .collect();
    for spec in &specs {
        let pid = sshd::spawn(&tools.sshd, state, state.host(spec).expect("planned host"))?;
        state.host_mut(spec).expect("planned host").sshd_pid = Some(pid);
    }
    state.save()?;
    state.relay_pid = Some(spawn_relay(&state.dir)?);
    state.save()?;
    let ports = relay::wait_ports(&state.dir, START_LIMIT)?;
    for spec in &specs {
        let h = state.host_mut(spec).expect("planned host");
        h.ssh_port = Some(
            *ports
                .get(&h.netns)
                .ok_or_else(|| Error::Local(format!("the relay has no port for `{}`", h.netns)))?,
        );
    }
    state.save()?;
    // A card Imager just wrote is a host never seen before: no key is known.
    let known = if state.password_only {
        String::new()
    } else {
        sshd::known_hosts_text(state)?
    };
    write_file(&state.dir.join("known_hosts"), &known)?;
    let hosts_file = state.dir.join("hosts.toml");
    write_file(&hosts_file, &hosts_toml(state))?;
    wait_answering(state)?;
    eprintln!(
        "testbed `{}`: {} sshds{} and the relay answering in {:.2} s",
        state.name,
        specs.len(),
        if state.nm {
            " (each with NetworkManager managing eth0)"
        } else {
            ""
        },
        t.elapsed().as_secs_f64()
    );
    Ok(hosts_file)
}

/// A host's `/etc/netplan` as Raspberry Pi OS's first boot leaves it: the
/// config cloud-init writes from the card's network-config (0600, as
/// netplan wants it).
fn write_netplan(h: &HostState) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    let dir = h.netplan_dir();
    if dir.exists() {
        remove_dir(&dir)?;
    }
    let file = dir.join("50-cloud-init.yaml");
    std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)))
        .map_err(|e| {
            Error::Local(format!(
                "cannot create `{}`: {}",
                dir.display(),
                io_reason(&e)
            ))
        })?;
    write_file(&file, root::NETPLAN)?;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).map_err(|e| {
        Error::Local(format!(
            "cannot set the mode of `{}`: {}",
            file.display(),
            io_reason(&e)
        ))
    })
}

/// Starts `labctl testbed relay --state DIR` detached, its output in `relay.log`.
fn spawn_relay(dir: &Path) -> Result<u32, Error> {
    let exe = std::env::current_exe().map_err(|e| {
        Error::Local(format!(
            "cannot find labctl's own binary: {}",
            io_reason(&e)
        ))
    })?;
    let (out, err) = proc::log_files(&dir.join("relay.log"))?;
    let mut cmd = Command::new(exe);
    cmd.args(["testbed", "relay", "--state"])
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    let child = proc::spawn_detached(&mut cmd)
        .map_err(|e| Error::Local(format!("cannot start the relay: {}", io_reason(&e))))?;
    Ok(child.id())
}

/// Waits until every host's sshd sends its banner through the relay.
fn wait_answering(state: &State) -> Result<(), Error> {
    let deadline = Instant::now() + START_LIMIT;
    let results: Vec<(String, Result<String, String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = state
            .hosts()
            .map(|(_, h)| {
                s.spawn(move || {
                    let port = h.ssh_port.expect("ports recorded");
                    loop {
                        let r = relay::banner(port, Duration::from_secs(2));
                        if r.is_ok() || Instant::now() >= deadline {
                            return (h.hostname.clone(), r);
                        }
                        std::thread::sleep(Duration::from_millis(20));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("banner thread"))
            .collect()
    });
    let failed: Vec<String> = results
        .into_iter()
        .filter_map(|(host, r)| r.err().map(|e| format!("`{host}`: {e}")))
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Error::Local(format!(
            "sshd did not answer within {} s on host {}; see `sshd.log` in each host's directory under `{}`",
            START_LIMIT.as_secs(),
            failed.join(", "),
            state.dir.display()
        )))
    }
}

/// The hosts file (schema of `hosts.toml`) for the testbed.
fn hosts_toml(state: &State) -> String {
    let q = |s: &str| toml::Value::String(s.to_string()).to_string();
    let p = |p: &Path| q(&p.to_string_lossy());
    let mut t = format!(
        "# Virtual bench `{name}`, generated by `labctl testbed up`; removed by\n\
         # `labctl testbed down --name {name}`. Each host's sshd is reached through a\n\
         # loopback port of labctl's relay; eth0 gets its address from the lab.\n",
        name = state.name
    );
    if !state.room {
        t += &format!("name = {}\n", q(&state.name));
    }
    t += &format!(
        "\n[defaults]\nuser = {}\nauth = \"key\"\nidentity = {}\nknown_hosts = {}\n\
         interface = \"eth0\"\nsudo = {}\n",
        q(state.login()),
        p(&sshd::client_key(&state.dir)),
        p(&state.dir.join("known_hosts")),
        state.pi,
    );
    if state.password_only {
        t += &format!(
            "# First contact: the hosts accept only the password (in `{}`);\n\
             # `labctl keys install` reads it from this variable and installs the key above.\n\
             password_env = {}\n",
            password_file(&state.dir).display(),
            q(PASSWORD_ENV)
        );
    }
    if let Some(arch) = &state.arch {
        t += &format!("arch = {}\n", q(arch));
    }
    for b in &state.benches {
        for h in &b.hosts {
            let table = if state.room {
                format!("benches.{}.hosts.{}", b.name, h.name)
            } else {
                format!("hosts.{}", h.name)
            };
            t += &format!(
                "\n[{table}]\nssh = \"127.0.0.1:{}\"\naddr = {}\nworkdir = {}\n",
                h.ssh_port.unwrap_or(0),
                q(&h.addr),
                if state.pi {
                    q(&login::workdir(&state.user))
                } else {
                    p(&h.dir.join("work"))
                }
            );
        }
    }
    t
}

/// `down`: removes the testbed named `name`, if there is one.
pub(crate) fn down(name: &str) -> Result<(), Error> {
    let dir = state_root().join(name);
    let strays = netns::owned_by(name, &netns::list());
    if !dir.join(state::STATE_FILE).exists() {
        if strays.is_empty() && !dir.exists() {
            eprintln!("testbed `{name}` does not exist; nothing to remove");
            return Ok(());
        }
        // No record (e.g. `up` was killed before writing it): remove what carries our name.
        eprintln!(
            "testbed `{name}`: no record in `{}`; removing its namespaces",
            dir.display()
        );
        kill_in_namespaces(&strays);
        netns::delete(&strays)?;
        clock::remove_shared(name);
        return remove_dir(&dir);
    }
    let state = State::load(&dir)?;
    teardown(&state)?;
    eprintln!("testbed `{name}` removed");
    Ok(())
}

/// Removes everything `state` records: relay, sshds, whatever else runs in
/// the hosts' namespaces, the namespaces, the state directory. Missing pieces are fine.
///
/// What runs under a host's sshd (its NetworkManager and dbus-daemon, the
/// lab's sessions and programs) is stopped before the sshd, which reaps
/// them: stopped after it, they would be this machine's pid 1's to reap,
/// and it does not.
fn teardown(state: &State) -> Result<(), Error> {
    let needle = state.dir.to_string_lossy().to_string();
    let relay: Vec<u32> = state
        .relay_pid
        .into_iter()
        .filter(|&p| proc::is_ours(p, &needle))
        .collect();
    let mut left = proc::terminate(&relay, GRACE);
    let sshds: Vec<u32> = state
        .hosts()
        .filter_map(|(_, h)| h.sshd_pid)
        .filter(|&p| proc::is_ours(p, &needle))
        .collect();
    let hosts: Vec<String> = state.hosts().map(|(_, h)| h.netns.clone()).collect();
    kill_in_namespaces_but(&hosts, &sshds);
    left.extend(proc::terminate(&sshds, GRACE));
    let mut names = hosts;
    names.extend(state.benches.iter().map(|b| b.switch.clone()));
    // Strays with our name (e.g. from a half-recorded `up`) go too.
    for ns in netns::owned_by(&state.name, &netns::list()) {
        if !names.contains(&ns) {
            names.push(ns);
        }
    }
    kill_in_namespaces(&names);
    netns::delete(&names)?;
    let still: Vec<String> = names.iter().filter(|n| netns::exists(n)).cloned().collect();
    clock::remove_shared(&state.name);
    remove_dir(&state.dir)?;
    if !left.is_empty() || !still.is_empty() {
        return Err(Error::Local(format!(
            "testbed `{}`: could not remove everything: processes {:?}, namespaces {:?}",
            state.name, left, still
        )));
    }
    Ok(())
}

/// Stops every process inside the namespaces `names` but `keep`.
fn kill_in_namespaces_but(names: &[String], keep: &[u32]) {
    let inodes: Vec<u64> = names.iter().filter_map(|n| netns::inode(n)).collect();
    if inodes.is_empty() {
        return;
    }
    let me = std::process::id();
    let pids: Vec<u32> = netns::pids_in(&inodes)
        .into_iter()
        .filter(|p| *p != me && !keep.contains(p))
        .collect();
    let left = proc::terminate(&pids, GRACE);
    if !left.is_empty() {
        eprintln!("testbed: processes {left:?} survived SIGKILL");
    }
    if !keep.is_empty() {
        proc::wait_reaped(&pids, Duration::from_secs(1));
    }
}

/// Stops every process inside the namespaces (programs the lab started
/// through sshd, sessions): they would otherwise keep the namespaces alive.
fn kill_in_namespaces(names: &[String]) {
    kill_in_namespaces_but(names, &[]);
}

fn remove_dir(dir: &Path) -> Result<(), Error> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::Local(format!(
            "cannot remove `{}`: {}",
            dir.display(),
            io_reason(&e)
        ))),
    }
}

/// `status`: prints what exists; `Ok` only when every piece is there and every sshd answers.
pub(crate) fn status(name: &str) -> Result<(), Error> {
    let dir = state_root().join(name);
    if !dir.join(state::STATE_FILE).exists() {
        let strays = netns::owned_by(name, &netns::list());
        if strays.is_empty() {
            return Err(Error::Failed(format!("testbed `{name}` does not exist")));
        }
        return Err(Error::Failed(format!(
            "testbed `{name}` has no record but namespaces {}; remove them with `labctl testbed down --name {name}`",
            strays.join(", ")
        )));
    }
    let state = State::load(&dir)?;
    let needle = state.dir.to_string_lossy().to_string();
    let mut problems = Vec::new();
    let mark = |ok: bool| if ok { "✔" } else { "✘" };
    let relay_ok = state.relay_pid.is_some_and(|p| proc::is_ours(p, &needle));
    println!(
        "testbed `{}` in `{}`: relay {} {}",
        state.name,
        state.dir.display(),
        state.relay_pid.map_or("-".to_string(), |p| p.to_string()),
        mark(relay_ok)
    );
    if !relay_ok {
        problems.push("the relay is not running".to_string());
    }
    for b in &state.benches {
        let sw_ok = netns::exists(&b.switch);
        println!("bench `{}`: switch `{}` {}", b.name, b.switch, mark(sw_ok));
        if !sw_ok {
            problems.push(format!("switch namespace `{}` is missing", b.switch));
        }
        for h in &b.hosts {
            let ns_ok = netns::exists(&h.netns);
            let sshd_ok = h.sshd_pid.is_some_and(|p| proc::is_ours(p, &needle));
            let answer = match h.ssh_port {
                Some(port) if relay_ok => relay::banner(port, Duration::from_secs(2)),
                Some(_) => Err("no relay".to_string()),
                None => Err("no port".to_string()),
            };
            println!(
                "  {:<10} netns `{}` {}  sshd {} {}  127.0.0.1:{} {}",
                h.hostname,
                h.netns,
                mark(ns_ok),
                h.sshd_pid.map_or("-".to_string(), |p| p.to_string()),
                mark(sshd_ok),
                h.ssh_port.map_or("-".to_string(), |p| p.to_string()),
                match &answer {
                    Ok(banner) => format!("✔ {banner}"),
                    Err(e) => format!("✘ {e}"),
                }
            );
            if !ns_ok {
                problems.push(format!(
                    "host `{}`: namespace `{}` is missing",
                    h.hostname, h.netns
                ));
            }
            if !sshd_ok {
                problems.push(format!("host `{}`: sshd is not running", h.hostname));
            }
            if let Err(e) = answer {
                problems.push(format!("host `{}`: sshd does not answer: {e}", h.hostname));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Failed(format!(
            "testbed `{name}` is not whole: {}",
            problems.join("; ")
        )))
    }
}

/// `reimage`: host `spec` of testbed `name` as a re-flashed card: everything
/// running on it stopped, new host keys, its home as the image has it (no
/// programs; on a `--password-only` bench no key either), its
/// NetworkManager without labctl's profile, no address on eth0; then booted
/// again. Its relay port stays, so `labctl` finds it and refuses its new key.
pub(crate) fn reimage(name: &str, spec: &str) -> Result<(), Error> {
    let dir = state_root().join(name);
    let mut state = State::load(&dir)?;
    let host = state
        .host(spec)
        .ok_or_else(|| Error::Usage(format!("testbed `{name}` has no host `{spec}`")))?
        .clone();
    let tools = require_tools()?;
    if state.nm {
        nm::require_tools()?;
    }
    let needle = dir.to_string_lossy().to_string();
    let sshd: Vec<u32> = host
        .sshd_pid
        .into_iter()
        .filter(|&p| proc::is_ours(p, &needle))
        .collect();
    kill_in_namespaces_but(std::slice::from_ref(&host.netns), &sshd);
    let left = proc::terminate(&sshd, GRACE);
    if !left.is_empty() {
        return Err(Error::Local(format!(
            "sshd {left:?} of host `{}` survived SIGKILL",
            host.hostname
        )));
    }
    sshd::regenerate_host_keys(&state, &host)?;
    if state.pi {
        let sudo = if !state.sudo {
            login::Sudo::None
        } else {
            login::Sudo::All
        };
        let login = login_of(&state, sudo)?;
        let id = login::uid(&host, &state.user)?;
        login::write_home(&host, &login, id)?;
    }
    if state.nm {
        nm::reset(&host)?;
    }
    if host.root.is_some() {
        // A re-flashed card: the image's files again (the host's own layer emptied).
        write_netplan(&host)?;
        for d in ["root-upper", "root-work"] {
            remove_dir(&host.dir.join(d))?;
        }
    }
    proc::run(
        Command::new("ip").args(["-n", &host.netns, "addr", "flush", "dev", "eth0"]),
        &format!("flushing eth0's addresses on host `{}`", host.hostname),
    )?;
    let pid = sshd::spawn(&tools.sshd, &state, &host)?;
    state.host_mut(spec).expect("host found").sshd_pid = Some(pid);
    state.save()?;
    wait_banner(&host)?;
    let fp =
        crate::ssh::known_hosts::fingerprint(&key_blob(&sshd::public_key(&sshd::host_key(&host))?));
    eprintln!(
        "testbed `{name}`: host `{}` reimaged: new host key ssh-ed25519 {fp}",
        host.hostname
    );
    Ok(())
}

/// The key blob of a `TYPE BASE64` public key line.
fn key_blob(public: &str) -> Vec<u8> {
    public
        .split_whitespace()
        .nth(1)
        .and_then(crate::ssh::known_hosts::base64_decode)
        .unwrap_or_default()
}

/// Waits until `host`'s sshd sends its banner through the relay.
fn wait_banner(host: &HostState) -> Result<(), Error> {
    let port = host
        .ssh_port
        .ok_or_else(|| Error::Local(format!("host `{}` has no relay port", host.hostname)))?;
    let deadline = Instant::now() + START_LIMIT;
    loop {
        match relay::banner(port, Duration::from_secs(2)) {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() >= deadline => {
                return Err(Error::Local(format!(
                    "sshd of host `{}` did not answer: {e}",
                    host.hostname
                )))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Starts (again) the sshd of host `spec` (`A` or `bench2/A`) of the testbed
/// in `dir`, records its pid and waits until it answers; returns the pid.
pub fn start_sshd(dir: &Path, spec: &str) -> Result<u32, Error> {
    let mut state = State::load(dir)?;
    let sshd_path = proc::require_tool("sshd", "openssh-server")?;
    let host = state
        .host(spec)
        .ok_or_else(|| Error::Usage(format!("testbed has no host `{spec}`")))?
        .clone();
    let needle = dir.to_string_lossy().to_string();
    if let Some(pid) = host.sshd_pid.filter(|&p| proc::is_ours(p, &needle)) {
        return Ok(pid);
    }
    let pid = sshd::spawn(&sshd_path, &state, &host)?;
    state.host_mut(spec).expect("host found").sshd_pid = Some(pid);
    state.save()?;
    wait_banner(&host)?;
    Ok(pid)
}

/// Stops the sshd of host `spec` of the testbed in `dir` and waits until it
/// is gone (sessions it started stay, like a real host whose sshd stopped).
pub fn stop_sshd(dir: &Path, spec: &str) -> Result<(), Error> {
    let state = State::load(dir)?;
    let host = state
        .host(spec)
        .ok_or_else(|| Error::Usage(format!("testbed has no host `{spec}`")))?;
    let needle = dir.to_string_lossy().to_string();
    if let Some(pid) = host.sshd_pid.filter(|&p| proc::is_ours(p, &needle)) {
        let left = proc::terminate(&[pid], GRACE);
        if !left.is_empty() {
            return Err(Error::Local(format!(
                "sshd {pid} of host `{}` survived SIGKILL",
                host.hostname
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_short_lowercase_words() {
        assert!(validate_name("labctl").is_ok());
        assert!(validate_name("t123-4").is_ok());
        assert!(validate_name("a234567890123456").is_ok());
        for bad in ["", "A", "a_b", "a b", "a234567890123456x", "é"] {
            let e = validate_name(bad).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad:?}");
        }
    }

    #[test]
    fn only_root_may_build() {
        assert!(require_root(0).is_ok());
        let e = require_root(1000).unwrap_err();
        assert_eq!(e.exit_code(), 4);
        assert!(e.to_string().contains("run it with sudo"), "{e}");
    }

    #[test]
    fn plans_single_bench_and_room_names() {
        let s = plan("x", 1, Path::new("/s/x"));
        assert!(!s.room);
        assert_eq!(s.benches[0].switch, "lc-x-sw");
        assert_eq!(s.benches[0].hosts[1].netns, "lc-x-B");
        assert_eq!(s.benches[0].hosts[1].hostname, "B");
        assert_eq!(s.benches[0].hosts[1].dir, Path::new("/s/x/B"));
        let r = plan("x", 3, Path::new("/s/x"));
        assert!(r.room);
        assert_eq!(r.benches[2].switch, "lc-x-bench3-sw");
        assert_eq!(r.benches[2].hosts[0].netns, "lc-x-bench3-A");
        assert_eq!(r.benches[2].hosts[0].hostname, "bench3-A");
        assert_eq!(r.benches[2].hosts[2].dir, Path::new("/s/x/bench3/C"));
        assert_eq!(r.benches[2].hosts[2].addr, "10.0.3.3/24");
    }
}
