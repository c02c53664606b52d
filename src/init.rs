//! `labctl init`: writes a documented hosts file for a room of benches
//! (`--benches 10 --ssh 'bench{n}-{host}' --user pi --subnet 10.0.3.0/24`),
//! so nobody hand-types 30 hosts. The text is validated with the same parser
//! `check` uses before it is written: what `init` writes, `check` accepts.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use crate::config::hosts;
use crate::config::openssh::SshConfig;
use crate::config::source::Source;
use crate::error::Error;

/// The hosts of every bench: three Raspberry Pis on one switch.
const HOSTS: [&str; 3] = ["A", "B", "C"];

/// What `labctl init` was asked (`cli::InitArgs` on the command line).
#[derive(Debug, Clone)]
pub(crate) struct InitOptions {
    /// How many benches the room has (1: a single bench, no `[benches]` tables).
    pub benches: u16,
    /// How SSH reaches each host (`address[:port]` or a ~/.ssh/config alias):
    /// `{host}` is the host in lower case (a, b, c), `{HOST}` in upper case, and
    /// n in braces (as in the default) the bench number.
    pub ssh: String,
    /// The SSH user on every host.
    pub user: String,
    /// The lab subnet of every bench (each bench has its own switch); A, B and C
    /// get its first three addresses.
    pub subnet: String,
    /// Bench names: n in braces (as in the default) is the bench number.
    pub name: String,
    /// Where to write the hosts file (default: stdout).
    pub file: Option<PathBuf>,
    /// Overwrite FILE if it exists.
    pub force: bool,
}

/// `labctl init`.
pub(crate) fn command(args: &InitOptions) -> Result<(), Error> {
    let text = render(args)?;
    // The same validation `check` does, on the exact text: a pattern that makes
    // a bad name or address is reported here, not in front of the class.
    let path = args
        .file
        .clone()
        .unwrap_or_else(|| PathBuf::from("<stdout>"));
    hosts::parse(
        &Source::from_text(&path, text.clone()),
        &SshConfig::default(),
    )?;
    match &args.file {
        None => {
            print!("{text}");
            Ok(())
        }
        Some(file) => write_new(file, &text, args.force),
    }
}

fn write_new(file: &Path, text: &str, force: bool) -> Result<(), Error> {
    if file.exists() && !force {
        return Err(Error::Usage(format!(
            "`{}` already exists; pass `--force` to overwrite it",
            file.display()
        )));
    }
    std::fs::write(file, text).map_err(|e| {
        Error::Local(format!(
            "cannot write `{}`: {}",
            file.display(),
            crate::util::io_reason(&e)
        ))
    })?;
    eprintln!(
        "labctl: wrote `{}`; try `labctl --hosts {} check --all`",
        file.display(),
        file.display()
    );
    Ok(())
}

/// `10.0.3.0/24` (or any address in it) → (network, prefix); needs room for A, B, C.
fn parse_subnet(s: &str) -> Result<(Ipv4Addr, u8), Error> {
    let bad = |why: &str| Error::Usage(format!("`--subnet {s}`: {why}"));
    let (a, p) = s
        .split_once('/')
        .ok_or_else(|| bad("not in CIDR form; try `10.0.3.0/24`"))?;
    let addr: Ipv4Addr = a.parse().map_err(|_| bad("not an IPv4 address"))?;
    let prefix: u8 = match p.parse() {
        Ok(p) if (1..=29).contains(&p) => p,
        _ => return Err(bad("the prefix must be 1 to 29 (three hosts need room)")),
    };
    let mask = u32::MAX << (32 - u32::from(prefix));
    Ok((Ipv4Addr::from(u32::from(addr) & mask), prefix))
}

fn expand(pattern: &str, n: u16, host: &str) -> String {
    pattern
        .replace("{n}", &n.to_string())
        .replace("{host}", &host.to_lowercase())
        .replace("{HOST}", host)
}

/// A TOML basic string.
fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// The hosts file's text.
pub(crate) fn render(args: &InitOptions) -> Result<String, Error> {
    let (net, prefix) = parse_subnet(&args.subnet)?;
    let room = args.benches > 1;
    let mut t = format!(
        "# hosts.toml — {what}, written by `labctl init`.\n\
         #\n\
         # labctl reaches each host over SSH (the management network) and gives its\n\
         # lab interface the lab address `addr`. Each bench has its own switch, so\n\
         # every bench uses the same lab subnet {net}/{prefix}. Secrets never go in\n\
         # this file: passwords and key passphrases are read from the environment\n\
         # variables named.\n\
         #\n\
         # Check the room before class: `labctl --hosts THIS_FILE check {all}`.\n\
         \n\
         # Defaults for every host; a bench's `[benches.NAME.defaults]` and each\n\
         # host may override any of them.\n\
         [defaults]\n\
         user = {user}                 # SSH user\n\
         port = 22                    # SSH port, unless `ssh` names one\n\
         auth = \"agent\"               # \"agent\" (ssh-agent), \"key\" (identity file) or \"password\"\n\
         # identity = \"~/.ssh/id_ed25519\"        # auth = \"key\": the private key\n\
         # passphrase_env = \"LABCTL_PASSPHRASE\"  # auth = \"key\": env var holding its passphrase\n\
         # password_env = \"LABCTL_PASSWORD\"      # auth = \"password\": env var holding the password\n\
         interface = \"eth0\"           # the lab interface\n\
         workdir = {workdir}  # programs, logs and captures on the host\n\
         sudo = true                  # `ip` and `tcpdump` through `sudo -n` (never prompts)\n",
        what = if room {
            format!("a room of {} benches of three hosts (A, B, C)", args.benches)
        } else {
            "one bench of three hosts (A, B, C)".to_string()
        },
        all = if room { "--all" } else { "" },
        user = q(&args.user),
        workdir = q(&format!("/home/{}/labctl", args.user)),
    );
    for n in 1..=args.benches {
        let bench = expand(&args.name, n, "");
        if room {
            t += &format!("\n# Bench `{bench}` (`--bench {bench}`).\n");
        }
        for (i, h) in HOSTS.iter().enumerate() {
            let table = if room {
                format!("benches.{bench}.hosts.{h}")
            } else {
                format!("hosts.{h}")
            };
            let addr = Ipv4Addr::from(u32::from(net) + 1 + i as u32);
            t += &format!(
                "{sep}[{table}]\nssh = {ssh}\naddr = {addr}\n",
                sep = if room && i == 0 { "" } else { "\n" },
                ssh = q(&expand(&args.ssh, n, h)),
                addr = q(&format!("{addr}/{prefix}")),
            );
        }
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(benches: u16, subnet: &str) -> InitOptions {
        InitOptions {
            benches,
            ssh: "bench{n}-{host}:22{n}".into(),
            user: "pi".into(),
            subnet: subnet.into(),
            name: "bench{n}".into(),
            file: None,
            force: false,
        }
    }

    #[test]
    fn a_room_gets_three_hosts_a_bench_on_the_subnet_and_validates() {
        let text = render(&args(3, "192.168.7.9/28")).unwrap();
        let room = hosts::parse(
            &Source::from_text("t.toml", text.clone()),
            &SshConfig::default(),
        )
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(room.benches.len(), 3);
        assert!(text.contains("ssh = \"bench3-c:223\""), "{text}");
        assert!(text.contains("addr = \"192.168.7.3/28\""), "{text}");
    }

    #[test]
    fn subnets_without_room_for_three_hosts_are_refused() {
        assert!(parse_subnet("10.0.3.0/30").is_err());
        assert!(parse_subnet("10.0.3.0").is_err());
        assert_eq!(
            parse_subnet("10.0.3.77/24").unwrap(),
            ("10.0.3.0".parse().unwrap(), 24)
        );
    }
}
