//! Program sets: which programs a lab's `start`/`run` actions run, what
//! `deploy` copies for them, and which commands the hosts need.
//!
//! `rust` is the five socket programs built per architecture; `python` is
//! their Python 3 versions (`sockets/python/`, carried inside labctl), run
//! with `python3`; `lab` is the lab file's own `[programs]` table: each
//! entry its own command line, either files the lab brings (any language,
//! copied to `<workdir>/bin`) or a command the hosts have (`ping`, `curl`,
//! `python3 -m http.server`), optionally through `sudo -n`. The set is
//! chosen by `--programs NAME`, else `programs = "NAME"` at the top of
//! hosts.toml, else `lab` when the lab has a `[programs]` table, else
//! `rust`. Everything is resolved and checked before any host is touched;
//! every command a run uses is looked for on every host it runs on (and a
//! `sudo` entry's right to run it) before the run starts anything
//! ([`probe`]); `check` looks for the same commands (`commands.sh`).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::Path;

use crate::arch::PROGRAMS;
use crate::config::hosts::Host;
use crate::config::tree::{self, Checker, Node, Value};
use crate::error::{Diagnostic, Diagnostics, Error};
use crate::hostops::{self, HOST_TOOLS, MANIFEST};
use crate::ssh::{self, ConnectOptions};
use crate::util::shell_template::{render, Val};

/// The named sets (`lab` only when the lab file has a `[programs]` table).
pub use crate::arch::PROGRAM_SETS as SETS;

/// Where the `{bin}` directory goes in a program's command line.
const BIN: &str = "{bin}";

/// A program set, resolved: every program's command line and the files to copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramSet {
    /// `rust`, `python` or `lab`.
    pub name: String,
    /// The one command every program of the set runs with (`python3`), if
    /// there is one: its version is asked on every host and reported.
    pub interpreter: Option<String>,
    /// Program name → how it runs.
    pub programs: BTreeMap<String, Program>,
    /// Files copied into `<workdir>/bin` besides labctl's host tools; empty
    /// for `rust`, whose programs are the per-architecture build.
    pub files: Vec<SetFile>,
    /// Where the choice of set was made, for located errors (none: the
    /// command line or the default).
    pub origin: Option<Diagnostic>,
    /// Program name → the hosts the lab runs it on (any step), as
    /// `lab::set::choose` found them; `check` looks for their commands there.
    pub runs_on: BTreeMap<String, BTreeSet<String>>,
}

/// One program of a set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// Its command line before the action's arguments; `{bin}` stands for
    /// `<workdir>/bin`.
    pub argv: Vec<String>,
    /// It runs through `sudo -n` on a host whose login uses sudo (hosts.toml
    /// `sudo = true`), as the login (root) elsewhere.
    pub sudo: bool,
    /// Where the lab file declares its command line, for located errors;
    /// none for labctl's own sets.
    pub at: Option<Diagnostic>,
}

impl Program {
    fn plain(argv: Vec<String>) -> Program {
        Program {
            argv,
            sudo: false,
            at: None,
        }
    }

    /// The command a host must have for it: its first word, unless that is
    /// a file of the set (`{bin}/…`, deployed by labctl).
    pub fn command(&self) -> Option<&str> {
        self.argv
            .first()
            .map(String::as_str)
            .filter(|c| !c.contains(BIN))
    }
}

/// One file a set copies to the hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetFile {
    /// Its name in `<workdir>/bin`.
    pub name: String,
    pub bytes: Vec<u8>,
}

/// The Python programs, carried inside labctl so any copy of it can deploy them.
const PYTHON_FILES: [(&str, &str); 6] = [
    ("labsock.py", include_str!("../sockets/python/labsock.py")),
    (
        "tcp_server.py",
        include_str!("../sockets/python/tcp_server.py"),
    ),
    (
        "tcp_client.py",
        include_str!("../sockets/python/tcp_client.py"),
    ),
    (
        "udp_server.py",
        include_str!("../sockets/python/udp_server.py"),
    ),
    (
        "udp_client.py",
        include_str!("../sockets/python/udp_client.py"),
    ),
    (
        "tcp_threaded_server.py",
        include_str!("../sockets/python/tcp_threaded_server.py"),
    ),
];

impl ProgramSet {
    /// The five Rust programs, built per architecture.
    pub fn rust() -> ProgramSet {
        ProgramSet {
            name: "rust".into(),
            interpreter: None,
            programs: PROGRAMS
                .iter()
                .map(|p| (p.to_string(), Program::plain(vec![format!("{BIN}/{p}")])))
                .collect(),
            files: Vec::new(),
            origin: None,
            runs_on: BTreeMap::new(),
        }
    }

    /// The five Python programs (and `labsock.py`), run with `python3`.
    pub fn python() -> ProgramSet {
        ProgramSet {
            name: "python".into(),
            interpreter: Some("python3".into()),
            programs: PROGRAMS
                .iter()
                .map(|p| {
                    let argv = vec!["python3".to_string(), format!("{BIN}/{p}.py")];
                    (p.to_string(), Program::plain(argv))
                })
                .collect(),
            files: PYTHON_FILES
                .iter()
                .map(|(name, text)| SetFile {
                    name: name.to_string(),
                    bytes: text.as_bytes().to_vec(),
                })
                .collect(),
            origin: None,
            runs_on: BTreeMap::new(),
        }
    }

    /// Whether `deploy` copies the per-architecture socket programs.
    pub fn is_built(&self) -> bool {
        self.files.is_empty() && self.name != "lab"
    }

    /// The command line of `program` on `host` (before its arguments),
    /// through `sudo -n` when the program says so and the host's login
    /// uses sudo.
    pub fn argv(&self, host: &Host, program: &str) -> Vec<String> {
        let bin = hostops::bin_dir(host);
        match self.programs.get(program) {
            Some(p) => {
                let mut argv: Vec<String> = Vec::new();
                if p.sudo && host.sudo {
                    argv.extend(["sudo".to_string(), "-n".to_string()]);
                }
                argv.extend(p.argv.iter().map(|a| a.replace(BIN, &bin)));
                argv
            }
            // Unreachable after `lab::set::choose`: the lab's programs were checked against the set.
            None => vec![hostops::program_path(host, program)],
        }
    }

    /// The names `deploy` puts in `<workdir>/bin` for this set.
    pub fn deployed_names(&self) -> Vec<&str> {
        if self.is_built() {
            return hostops::DEPLOYED.to_vec();
        }
        let mut names = HOST_TOOLS.to_vec();
        names.extend(self.files.iter().map(|f| f.name.as_str()));
        names
    }

    /// One line for people: `python (python3)`.
    pub fn describe(&self) -> String {
        match &self.interpreter {
            Some(i) => format!("{} ({i})", self.name),
            None => self.name.clone(),
        }
    }

    /// The commands `host` must have for the programs `programs` (the
    /// interpreter always), each once, sorted; and those of them that run
    /// through sudo.
    pub fn commands_for<'p>(
        &self,
        programs: impl IntoIterator<Item = &'p str>,
    ) -> (Vec<String>, Vec<String>) {
        let mut all: BTreeSet<String> = self.interpreter.iter().cloned().collect();
        let mut sudo = BTreeSet::new();
        for name in programs {
            let Some(p) = self.programs.get(name) else {
                continue;
            };
            if let Some(c) = p.command() {
                all.insert(c.to_string());
                if p.sudo {
                    sudo.insert(c.to_string());
                }
            }
        }
        (all.into_iter().collect(), sudo.into_iter().collect())
    }

    /// [`Self::commands_for`] the programs the lab runs on host `host`
    /// (what `check` looks for there).
    pub fn commands_on(&self, host: &str) -> (Vec<String>, Vec<String>) {
        self.commands_for(
            self.runs_on
                .iter()
                .filter(|(_, hs)| hs.contains(host))
                .map(|(p, _)| p.as_str()),
        )
    }
}

/// The fields of a `[programs.NAME]` entry.
const ENTRY_FIELDS: &[&str] = &["files", "run", "sudo"];

/// Reads the lab file's `[programs]` table: `[programs.NAME]` with `run`
/// (its command line: a command the hosts have, as is, or with `files`
/// the lab brings, copied to `<workdir>/bin`: `{file}` is the first file's
/// path on the host, `{bin}` the bin directory) and `sudo` (it runs
/// through `sudo -n`). Every problem is reported on `c`, located, and
/// names only the entry that is wrong: the set comes back whenever
/// `[programs]` is a table, each entry under its name, so the lab's
/// references to them are judged against it.
pub fn read_table(c: &mut Checker, node: &Node) -> Option<ProgramSet> {
    let entries = c.table(
        node,
        "`[programs]`",
        Some("write each program as `[programs.NAME]` with `run` (and `files` when the lab brings them)".into()),
    )?;
    let dir = c
        .src
        .path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut set = ProgramSet {
        name: "lab".into(),
        interpreter: None,
        programs: BTreeMap::new(),
        files: Vec::new(),
        origin: None,
        runs_on: BTreeMap::new(),
    };
    if entries.is_empty() {
        c.err_hint(
            &node.span,
            "`[programs]` names no program",
            "add `[programs.NAME]` with `run = [...]`",
        );
    }
    for e in entries {
        let what = format!("`[programs.{}]`", e.key);
        if !usable(&e.key) {
            c.err_hint(
                &e.key_span,
                format!("program `{}` is not a usable name", e.key),
                "use letters, digits, `-`, `_` and `.`",
            );
            continue;
        }
        let fields = c.fields(&e.node, &what, ENTRY_FIELDS);
        let get = |k: &str| tree::get(fields, k);
        let mut first = None;
        if let Some(f) = get("files") {
            for (rel, span) in c.strings(f, "a program file").unwrap_or_default() {
                let name = Path::new(&rel)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if !usable(&name) || name == MANIFEST || HOST_TOOLS.contains(&name.as_str()) {
                    c.err_hint(
                        &span,
                        format!("program file `{rel}` cannot be deployed under that name"),
                        "name it with letters, digits, `-`, `_` and `.`, not a name labctl uses",
                    );
                    continue;
                }
                match std::fs::read(dir.join(&rel)) {
                    Ok(bytes) => {
                        first.get_or_insert_with(|| name.clone());
                        match set.files.iter().find(|f| f.name == name) {
                            Some(f) if f.bytes != bytes => c.err_hint(
                                &span,
                                format!("two program files are named `{name}`"),
                                "every file lands in `<workdir>/bin`: give them different names",
                            ),
                            Some(_) => {}
                            None => set.files.push(SetFile { name, bytes }),
                        }
                    }
                    Err(err) => c.err_hint(
                        &span,
                        format!(
                            "program file `{}` cannot be read: {}",
                            dir.join(&rel).display(),
                            crate::util::io_reason(&err)
                        ),
                        "paths in `files` are relative to the lab file",
                    ),
                }
            }
        }
        let sudo = get("sudo").and_then(|n| {
            c.bool(
                n,
                "`sudo`",
                "`sudo = true`: the program runs through `sudo -n` on hosts whose login uses sudo",
            )
        });
        let mut program = Program {
            argv: Vec::new(),
            sudo: sudo.unwrap_or(false),
            at: None,
        };
        match get("run") {
            Some(r) => {
                let argv = c.strings(r, "`run`").unwrap_or_default();
                if argv.is_empty() {
                    c.err_hint(
                        &r.span,
                        format!("{what} has an empty `run`"),
                        "write the command line, e.g. `run = [\"ping\", \"-c\", \"3\"]` or `run = [\"python3\", \"{file}\"]`",
                    );
                }
                let file = first.as_ref().map(|f| format!("{BIN}/{f}"));
                let mut words = Vec::new();
                for (a, span) in argv {
                    if a.contains("{file}") && file.is_none() && get("files").is_none() {
                        c.err_hint(
                            &span,
                            format!("{what} uses `{{file}}` but has no `files`"),
                            "add `files = [\"progs/echo.py\"]` (relative to the lab file), or run a command the hosts have",
                        );
                    }
                    words.push(match &file {
                        Some(f) => a.replace("{file}", f),
                        None => a,
                    });
                }
                if let Some((cmd, span)) = words.first().zip(r.span_of_first()) {
                    if !cmd.contains(BIN) && !cmd.contains("{file}") && !command_word(cmd) {
                        c.err_hint(
                            &span,
                            format!("{what} runs `{cmd}`, which is not a command name"),
                            "the first word of `run` is a command the hosts have (`ping`, `/usr/bin/curl`) or `{file}`; its arguments follow as separate strings",
                        );
                    }
                }
                program.argv = words;
                let at = r.span_of_first().unwrap_or_else(|| r.span.clone());
                program.at = Some(c.src.diag(at, ""));
            }
            None => c.err_hint(
                &e.node.span,
                format!("{what} has no `run`"),
                "add `run = [\"ping\", \"-c\", \"1\"]` (a command the hosts have) or `run = [\"python3\", \"{file}\"]` with `files`",
            ),
        }
        set.programs.insert(e.key.clone(), program);
    }
    // Every program a file of the set run by one command (`python3
    // {file}`): that command is the set's interpreter, whose version the
    // report gives.
    let runs_file = |p: &Program| p.argv.iter().skip(1).any(|a| a.contains(BIN));
    let commands: BTreeSet<Option<&str>> = set.programs.values().map(Program::command).collect();
    if let [Some(only)] = commands.into_iter().collect::<Vec<_>>()[..] {
        if set.programs.values().all(runs_file) {
            set.interpreter = Some(only.to_string());
        }
    }
    Some(set)
}

/// A command name the hosts may have: a word or a path, nothing a shell
/// would read as more (no blanks, quotes, globs or `$`).
fn command_word(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./+".contains(c))
}

/// The span of a `run` node's first word (the node itself when it is a string).
trait FirstSpan {
    fn span_of_first(&self) -> Option<Range<usize>>;
}

impl FirstSpan for Node {
    fn span_of_first(&self) -> Option<Range<usize>> {
        match &self.value {
            Value::Array(items) => items.first().map(|n| n.span.clone()),
            _ => Some(self.span.clone()),
        }
    }
}

fn usable(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// The command that prints the interpreter's version line on a host.
pub fn probe_cmd(interpreter: &str) -> String {
    render(
        include_str!("programs/interpreter-run.sh"),
        &[
            ("INTERP", Val::Quoted(interpreter)),
            ("SCRIPT", Val::Raw(PROBE_SH)),
        ],
    )
}

const PROBE_SH: &str = include_str!("programs/interpreter.sh");

/// The script that looks for `commands` on a host (and, with `sudo`, asks
/// `sudo -n` whether the login may run `sudo_commands`; without, whether it
/// is root): `commands.sh` after its values. Its lines are `key=value`, as
/// `check`'s are: `cmd=NAME PATH` (or `NAME @missing`), `nosudo=NAME
/// REASON`, `noroot=NAME UID`, `rootok=NAME`. Command names are words ([`command_word`]).
pub fn commands_cmd(commands: &[String], sudo_commands: &[String], sudo: bool) -> String {
    render(
        include_str!("programs/commands-run.sh"),
        &[
            ("CMDS", Val::Quoted(&commands.join(" "))),
            ("SUDO_CMDS", Val::Quoted(&sudo_commands.join(" "))),
            ("USE_SUDO", Val::Raw(if sudo { "1" } else { "" })),
            ("SCRIPT", Val::Raw(COMMANDS_SH)),
        ],
    )
}

/// `commands.sh`: also the body of `check`'s `lab_commands` function.
pub const COMMANDS_SH: &str = include_str!("programs/commands.sh");

/// What [`commands_cmd`] found on a host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    /// Command → its path, or `None` when the host lacks it.
    pub commands: BTreeMap<String, Option<String>>,
    /// Sudo commands `sudo -n` refused, with its first line.
    pub refused: BTreeMap<String, String>,
    /// Sudo commands a login without sudo (not root) cannot run as root: the login's uid.
    pub not_root: BTreeMap<String, String>,
    /// Sudo commands the login may run as root.
    pub as_root: BTreeSet<String>,
}

impl Found {
    /// Reads the lines [`commands_cmd`] prints (other lines are skipped).
    pub fn parse(text: &str) -> Found {
        let mut f = Found::default();
        for line in text.lines() {
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            let (name, rest) = v.split_once(' ').unwrap_or((v, ""));
            let rest = rest.trim().to_string();
            match k {
                "cmd" => {
                    let path = (rest != "@missing" && !rest.is_empty()).then_some(rest);
                    f.commands.insert(name.to_string(), path);
                }
                "nosudo" => {
                    f.refused.insert(name.to_string(), rest);
                }
                "noroot" => {
                    f.not_root.insert(name.to_string(), rest);
                }
                "rootok" => {
                    f.as_root.insert(name.to_string());
                }
                _ => {}
            }
        }
        f
    }

    /// The commands asked for that the host lacks.
    pub fn missing(&self) -> Vec<&str> {
        self.commands
            .iter()
            .filter(|(_, p)| p.is_none())
            .map(|(c, _)| c.as_str())
            .collect()
    }
}

/// What a run probes on one host: the programs it runs there.
pub struct HostNeeds<'a> {
    pub host: &'a Host,
    pub programs: BTreeSet<String>,
}

/// Before a run starts anything: every command the run's programs use is
/// looked for on every host it runs on, a `sudo` program's right to run it
/// as root is asked, and the interpreter's version is read (`Python
/// 3.11.2`, returned per host). A missing command or a refused right is an
/// error located at the program that needs it (the lab's `[programs]`
/// entry), naming the hosts, each program once; for labctl's own sets, at
/// the choice of the set. A host that cannot be reached is left to the run,
/// which reports it.
pub fn probe(
    set: &ProgramSet,
    needs: &[HostNeeds],
    opts: &ConnectOptions,
) -> Result<BTreeMap<String, String>, Error> {
    let hosts: Vec<&Host> = needs.iter().map(|n| n.host).collect();
    let cmds: BTreeMap<String, String> = needs
        .iter()
        .filter_map(|n| {
            let (all, sudo) = set.commands_for(n.programs.iter().map(String::as_str));
            if all.is_empty() {
                return None;
            }
            let mut cmd = commands_cmd(&all, &sudo, n.host.sudo);
            if let Some(i) = &set.interpreter {
                cmd = format!("{cmd}\nprintf 'version=%s\\n' \"$({})\"", probe_cmd(i));
            }
            Some((n.host.name.clone(), cmd))
        })
        .collect();
    if cmds.is_empty() {
        return Ok(BTreeMap::new());
    }
    let answers = ssh::for_each_host(&hosts, opts, |h: &Host, sess| {
        let cmd = cmds.get(&h.name)?;
        let out = sess
            .ok()?
            .exec(cmd, None, std::time::Duration::from_secs(20))
            .ok()?;
        let text = out.stdout_str();
        let version = text
            .lines()
            .find_map(|l| l.strip_prefix("version="))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty() && v != "@missing");
        Some((h.name.clone(), Found::parse(&text), version))
    });
    let mut versions = BTreeMap::new();
    let mut found: BTreeMap<String, Found> = BTreeMap::new();
    for (host, f, version) in answers.into_iter().flatten() {
        if let Some(v) = version {
            versions.insert(host.clone(), v);
        }
        found.insert(host, f);
    }
    let diags = judge(set, needs, &found);
    if diags.is_empty() {
        return Ok(versions);
    }
    if diags
        .iter()
        .all(|d| d.line > 0 || !d.file.as_os_str().is_empty())
    {
        return Err(Error::Input(Diagnostics(diags)));
    }
    let text: Vec<String> = diags
        .iter()
        .map(|d| match &d.hint {
            Some(h) => format!("{} ({h})", d.message),
            None => d.message.clone(),
        })
        .collect();
    Err(Error::Host(text.join("; ")))
}

/// `host `B``, `hosts `A`, `B``.
fn hosts_phrase(hosts: &[&str]) -> String {
    let names: Vec<String> = hosts.iter().map(|h| format!("`{h}`")).collect();
    format!(
        "host{} {}",
        if hosts.len() > 1 { "s" } else { "" },
        names.join(", ")
    )
}

/// The problems [`probe`] found: per program (in the set's order), the
/// hosts that lack its command or refuse it root; an unlocated diagnostic
/// (file empty, line 0) when the set has no place in a file.
fn judge(
    set: &ProgramSet,
    needs: &[HostNeeds],
    found: &BTreeMap<String, Found>,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let place = |p: Option<&Diagnostic>, msg: String, hint: String| -> Diagnostic {
        let mut d = p.or(set.origin.as_ref()).cloned().unwrap_or(Diagnostic {
            file: Default::default(),
            line: 0,
            col: 0,
            message: String::new(),
            hint: None,
        });
        d.message = msg;
        d.hint = Some(hint);
        d
    };
    // labctl's own sets: the interpreter, named once for the set.
    if let Some(interp) = set.interpreter.as_ref().filter(|_| set.name != "lab") {
        let lacking: Vec<&str> = needs
            .iter()
            .map(|n| n.host.name.as_str())
            .filter(|h| {
                found
                    .get(*h)
                    .is_some_and(|f| f.missing().contains(&interp.as_str()))
            })
            .collect();
        if !lacking.is_empty() {
            out.push(place(
                None,
                format!(
                    "program set `{}` needs `{interp}`, which {} {} not have",
                    set.name,
                    hosts_phrase(&lacking),
                    if lacking.len() > 1 { "do" } else { "does" }
                ),
                format!("install `{interp}` on the host, or choose another set with `--programs`"),
            ));
        }
        return out;
    }
    for (name, p) in &set.programs {
        let Some(cmd) = p.command() else { continue };
        let on: Vec<&HostNeeds> = needs.iter().filter(|n| n.programs.contains(name)).collect();
        let hosts_where = |test: &dyn Fn(&Found) -> bool| -> Vec<&str> {
            on.iter()
                .map(|n| n.host.name.as_str())
                .filter(|h| found.get(*h).is_some_and(test))
                .collect()
        };
        let lacking = hosts_where(&|f| f.missing().contains(&cmd));
        if !lacking.is_empty() {
            out.push(place(
                p.at.as_ref(),
                format!(
                    "program `{name}` runs `{cmd}`, which {} {} not have",
                    hosts_phrase(&lacking),
                    if lacking.len() > 1 { "do" } else { "does" }
                ),
                format!("install `{cmd}` there (or put it on the login's PATH), or change the program's `run`"),
            ));
            continue;
        }
        if !p.sudo {
            continue;
        }
        let refused = hosts_where(&|f| f.refused.contains_key(cmd));
        if !refused.is_empty() {
            let first = refused[0];
            let host = on.iter().find(|n| n.host.name == first).map(|n| n.host);
            let f = &found[first];
            let path = f
                .commands
                .get(cmd)
                .cloned()
                .flatten()
                .unwrap_or_else(|| cmd.to_string());
            let user = host.map_or("", |h| h.target.user.as_str());
            out.push(place(
                p.at.as_ref(),
                format!(
                    "program `{name}` runs `{cmd}` through `sudo -n`, which {} {} ({})",
                    hosts_phrase(&refused),
                    if refused.len() > 1 {
                        "refuse"
                    } else {
                        "refuses"
                    },
                    f.refused[cmd]
                ),
                format!(
                    "allow it with the sudoers line `{}` (e.g. in /etc/sudoers.d/labctl)",
                    hostops::sudoers_line(user, &[path])
                ),
            ));
            continue;
        }
        let not_root = hosts_where(&|f| f.not_root.contains_key(cmd));
        if !not_root.is_empty() {
            out.push(place(
                p.at.as_ref(),
                format!(
                    "program `{name}` runs as root (`sudo = true`), but {} {} in without root or `sudo = true`",
                    hosts_phrase(&not_root),
                    if not_root.len() > 1 { "log" } else { "logs" }
                ),
                "set `sudo = true` for those hosts in hosts.toml (and allow it in sudoers), or log in as root".to_string(),
            ));
        }
    }
    out.sort_by_key(|d| (d.line, d.col));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tree::parse;
    use crate::config::Source;

    fn table(text: &str) -> (Option<ProgramSet>, Vec<String>) {
        let src = Source::from_text("lab.toml", text);
        let root = parse(&src).unwrap();
        let mut c = Checker::new(&src);
        let node = tree::get(root.entries(), "programs").unwrap();
        let set = read_table(&mut c, node);
        let msgs = c
            .diags
            .0
            .iter()
            .map(|d| format!("{}:{} {}", d.line, d.col, d.message))
            .collect();
        (set, msgs)
    }

    #[test]
    fn any_command_is_a_program_each_with_its_own_command_line() {
        let (set, errs) = table(
            "[programs.pinger]\nrun = [\"ping\", \"-c\", \"3\"]\n\
             [programs.web]\nrun = [\"python3\", \"-m\", \"http.server\"]\n\
             [programs.flush]\nrun = [\"ip\", \"neigh\", \"flush\"]\nsudo = true\n",
        );
        assert!(errs.is_empty(), "{errs:?}");
        let set = set.unwrap();
        assert_eq!(set.programs["pinger"].argv, ["ping", "-c", "3"]);
        assert_eq!(set.programs["web"].command(), Some("python3"));
        assert!(set.programs["flush"].sudo && !set.programs["web"].sudo);
        // Three commands: no shared interpreter, nothing to deploy but labctl's tools.
        assert_eq!(set.interpreter, None);
        assert!(!set.is_built() && set.files.is_empty());
        let (all, sudo) = set.commands_for(["flush", "pinger"]);
        assert_eq!(
            (all, sudo),
            (
                vec!["ip".to_string(), "ping".into()],
                vec!["ip".to_string()]
            )
        );
        let mut h = crate::hostops::sample_host(true);
        assert_eq!(
            set.argv(&h, "flush"),
            ["sudo", "-n", "ip", "neigh", "flush"]
        );
        h.sudo = false;
        assert_eq!(set.argv(&h, "flush"), ["ip", "neigh", "flush"]);
    }

    #[test]
    fn errors_name_the_entry_that_is_wrong_and_nothing_else() {
        let (set, errs) = table(
            "[programs.ok]\nrun = [\"ping\"]\n\
             [programs.bad]\nrun = [\"ping -c 3\"]\n\
             [programs.nofile]\nrun = [\"python3\", \"{file}\"]\n\
             [programs.norun]\nsudo = \"yes\"\n",
        );
        assert_eq!(
            errs,
            [
                "4:8 `[programs.bad]` runs `ping -c 3`, which is not a command name",
                "6:19 `[programs.nofile]` uses `{file}` but has no `files`",
                "8:8 `sudo` must be true or false, found a string",
                "7:1 `[programs.norun]` has no `run`",
            ]
        );
        // Every entry is still named: the lab's references to them resolve.
        let set = set.unwrap();
        let names: Vec<&String> = set.programs.keys().collect();
        assert_eq!(names, ["bad", "nofile", "norun", "ok"]);
    }

    #[test]
    fn probe_lines_are_read() {
        let f = Found::parse("uid=1000\ncmd=ping /usr/bin/ping\ncmd=curl @missing\nnosudo=ip sudo: a password is required\nnoroot=tcpdump 1000\nrootok=ss\n");
        assert!(f.as_root.contains("ss"));
        assert_eq!(f.missing(), ["curl"]);
        assert_eq!(f.commands["ping"].as_deref(), Some("/usr/bin/ping"));
        assert_eq!(f.refused["ip"], "sudo: a password is required");
        assert_eq!(f.not_root["tcpdump"], "1000");
    }
}
