//! Network namespaces and links of the testbed, made with as few `ip`
//! invocations as possible (one batch for all namespaces, one batch per
//! namespace for its links, run in parallel), without ever creating a link in
//! the root namespace: nothing there can route to the lab network.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::error::Error;
use crate::util::io_reason;

use super::state::State;

/// Where `ip netns` keeps its named namespaces.
pub(crate) const NETNS_DIR: &str = "/run/netns";

/// The bind-mounted file of namespace `name`.
pub fn path(name: &str) -> PathBuf {
    Path::new(NETNS_DIR).join(name)
}

/// Whether namespace `name` exists.
pub fn exists(name: &str) -> bool {
    path(name).exists()
}

/// Every named namespace on this machine.
pub fn list() -> Vec<String> {
    match std::fs::read_dir(NETNS_DIR) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Namespaces that a testbed named `name` would own (`lc-<name>-sw`,
/// `lc-<name>-A`, `lc-<name>-bench3-B`, ...), and no other testbed's.
pub(crate) fn owned_by(name: &str, all: &[String]) -> Vec<String> {
    let prefix = format!("lc-{name}-");
    all.iter()
        .filter(|ns| {
            ns.strip_prefix(&prefix)
                .is_some_and(|rest| is_node_suffix(rest) || bench_node(rest))
        })
        .cloned()
        .collect()
}

fn is_node_suffix(s: &str) -> bool {
    s == "sw" || (s.len() == 1 && s.as_bytes()[0].is_ascii_uppercase())
}

fn bench_node(s: &str) -> bool {
    s.strip_prefix("bench")
        .and_then(|r| r.split_once('-'))
        .is_some_and(|(n, node)| {
            !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && is_node_suffix(node)
        })
}

/// Runs `ip [-n NS] -batch -` with `lines` on stdin (not waited for).
fn spawn_batch(ns: Option<&str>, lines: &str, force: bool) -> Result<Child, Error> {
    let mut cmd = Command::new("ip");
    if let Some(ns) = ns {
        cmd.args(["-n", ns]);
    }
    if force {
        cmd.arg("-force");
    }
    cmd.args(["-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::Local(format!("cannot run `ip`: {}", io_reason(&e))))?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    // Batches are small (well under a pipe buffer), so this cannot block on ip.
    let _ = stdin.write_all(lines.as_bytes());
    Ok(child)
}

/// Waits for batches started by [`spawn_batch`]; the first failure becomes the error.
fn wait_batches(children: Vec<(String, Child)>) -> Result<(), Error> {
    let mut first = None;
    for (what, child) in children {
        let out = child
            .wait_with_output()
            .map_err(|e| Error::Local(format!("waiting for `ip`: {}", io_reason(&e))));
        let err = match out {
            Ok(o) if o.status.success() => continue,
            Ok(o) => Error::Local(format!(
                "`ip` failed {what}: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            )),
            Err(e) => e,
        };
        first.get_or_insert(err);
    }
    first.map_or(Ok(()), Err)
}

/// Creates every namespace, switch and link of `state`: per bench a switch
/// namespace with bridge `br0`, per host a namespace with `lo` and `eth0` up,
/// `eth0` a veth whose other end `v<host>` is a port of the switch.
pub fn create(state: &State) -> Result<(), Error> {
    // 1. All namespaces, in one batch from the root namespace (no links there).
    let mut lines = String::new();
    for b in &state.benches {
        lines += &format!("netns add {}\n", b.switch);
        for h in &b.hosts {
            lines += &format!("netns add {}\n", h.netns);
        }
    }
    wait_batches(vec![(
        "creating namespaces".to_string(),
        spawn_batch(None, &lines, false)?,
    )])?;

    // 2. Per switch: the bridge, and one veth per host whose peer is born in the host's namespace.
    let mut children = Vec::new();
    for b in &state.benches {
        let mut lines = String::from("link add br0 type bridge\nlink set br0 up\n");
        for h in &b.hosts {
            lines += &format!(
                "link add v{host} type veth peer name eth0 netns {ns}\n\
                 link set v{host} master br0\n\
                 link set v{host} up\n",
                host = h.name,
                ns = h.netns
            );
        }
        let what = format!("building switch `{}`", b.switch);
        children.push((what, spawn_batch(Some(&b.switch), &lines, false)?));
    }
    wait_batches(children)?;

    // 3. Per host: lo and eth0 up; no address, no route; the lab ports kept out of the
    // ephemeral range.
    let mut children = Vec::new();
    for (_, h) in state.hosts() {
        let what = format!("bringing up links in `{}`", h.netns);
        let child = spawn_batch(Some(&h.netns), "link set lo up\nlink set eth0 up\n", false)?;
        children.push((what, child));
        reserve_lab_ports(&h.netns)?;
    }
    wait_batches(children)
}

/// The ports the project's labs serve on (the default 50000 and its
/// neighbours), reserved in each host's namespace.
pub(crate) const LAB_PORTS: &str = "50000-50999";

/// Reserves [`LAB_PORTS`] in namespace `ns` (`ip_local_reserved_ports`): no
/// connection made there gets one as its own port, while a server still
/// binds it. The relay's connections to a host's sshd start inside the
/// host's namespace, unlike a real Pi's, where the SSH client's port is on
/// the controller; one that drew port 50000 blocked the lab's server.
fn reserve_lab_ports(ns: &str) -> Result<(), Error> {
    let ns_path = path(ns);
    let fail = |what: &str, e: std::io::Error| {
        Error::Local(format!(
            "reserving ports {LAB_PORTS} in `{ns}`: {what}: {}",
            io_reason(&e)
        ))
    };
    let f = std::fs::File::open(&ns_path).map_err(|e| fail("cannot open the namespace", e))?;
    // A thread of its own enters the namespace: /proc/sys/net is the opener's namespace's.
    std::thread::scope(|s| {
        s.spawn(|| {
            use std::os::fd::AsRawFd;
            // SAFETY: setns(2) on a namespace fd we hold; it changes this thread only,
            // which ends right after.
            if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(fail("cannot enter it", std::io::Error::last_os_error()));
            }
            std::fs::write("/proc/sys/net/ipv4/ip_local_reserved_ports", LAB_PORTS)
                .map_err(|e| fail("ip_local_reserved_ports", e))
        })
        .join()
        .unwrap_or_else(|_| Err(Error::Local(format!("reserving ports in `{ns}`: panicked"))))
    })
}

/// Deletes the namespaces named (those that exist), in one batch.
pub fn delete(names: &[String]) -> Result<(), Error> {
    let lines: String = names
        .iter()
        .filter(|n| exists(n))
        .map(|n| format!("netns del {n}\n"))
        .collect();
    if lines.is_empty() {
        return Ok(());
    }
    wait_batches(vec![(
        "deleting namespaces".to_string(),
        spawn_batch(None, &lines, true)?,
    )])
}

/// The inode identifying namespace `name`, if it exists.
pub fn inode(name: &str) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path(name)).ok().map(|m| m.ino())
}

/// Pids of processes whose network namespace is one of `inodes` (like `ip netns pids`).
pub(crate) fn pids_in(inodes: &[u64]) -> Vec<u32> {
    use std::os::unix::fs::MetadataExt;
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::metadata(format!("/proc/{pid}/ns/net"))
                .is_ok_and(|m| inodes.contains(&m.ino()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owns_only_its_own_namespaces() {
        let all: Vec<String> = [
            "lc-t1-sw",
            "lc-t1-A",
            "lc-t1-bench2-C",
            "lc-t1-bench10-sw",
            "lc-t1-2-A",
            "lc-t10-A",
            "lc-t1-benchx-A",
            "other",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            owned_by("t1", &all),
            ["lc-t1-sw", "lc-t1-A", "lc-t1-bench2-C", "lc-t1-bench10-sw"]
        );
        assert_eq!(owned_by("t1-2", &all), ["lc-t1-2-A"]);
    }
}
