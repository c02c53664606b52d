//! Program sets: which programs a lab's `start`/`run` actions run, what
//! `deploy` copies for them, and which interpreter the hosts need.
//!
//! `rust` is the five socket programs built per architecture; `python` is
//! their Python 3 versions (`sockets/python/`, carried inside labctl), run
//! with `python3`; `lab` is the lab file's own `[programs]` table (any
//! language). The set is chosen by `--programs NAME`, else `programs = "NAME"`
//! at the top of hosts.toml, else `lab` when the lab has a `[programs]`
//! table, else `rust`. Everything is resolved and checked before any host
//! is touched; the interpreter is probed on every host before a run starts.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use crate::config::hosts::Host;
use crate::config::tree::{self, ticked, Checker, Node, Value};
use crate::config::Source;
use crate::error::{Diagnostic, Diagnostics, Error};
use crate::hostops::{self, HOST_TOOLS, MANIFEST, PROGRAMS};
use crate::lab::model::{ActionKind, Lab};
use crate::ssh::{self, ConnectOptions};
use crate::util::shell_template::{render, Val};

/// The named sets (`lab` only when the lab file has a `[programs]` table).
pub const SETS: [&str; 3] = ["rust", "python", "lab"];

/// Where the `{bin}` directory goes in a program's command line.
const BIN: &str = "{bin}";

/// A program set, resolved: every program's command line and the files to copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramSet {
    /// `rust`, `python` or `lab`.
    pub name: String,
    /// What its programs need on every host (`python3`), if anything.
    pub interpreter: Option<String>,
    /// Program name → its command line, `{bin}` standing for `<workdir>/bin`.
    pub programs: BTreeMap<String, Vec<String>>,
    /// Files copied into `<workdir>/bin` besides labctl's host tools; empty
    /// for `rust`, whose programs are the per-architecture build.
    pub files: Vec<SetFile>,
    /// Where the choice of set was made, for located errors (none: the
    /// command line or the default).
    pub origin: Option<Diagnostic>,
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
                .map(|p| (p.to_string(), vec![format!("{BIN}/{p}")]))
                .collect(),
            files: Vec::new(),
            origin: None,
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
                    (p.to_string(), argv)
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
        }
    }

    /// Whether `deploy` copies the per-architecture socket programs.
    pub fn is_built(&self) -> bool {
        self.files.is_empty()
    }

    /// The command line of `program` on `host` (before its arguments).
    pub fn argv(&self, host: &Host, program: &str) -> Vec<String> {
        let bin = hostops::bin_dir(host);
        match self.programs.get(program) {
            Some(argv) => argv.iter().map(|a| a.replace(BIN, &bin)).collect(),
            // Unreachable after `choose`: the lab's programs were checked against the set.
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
}

/// Reads the lab file's `[programs]` table: `[programs.NAME]` with `files`
/// (paths relative to the lab file, copied to `<workdir>/bin`) and `run`
/// (the command line: `{file}` is the first file's path on the host, `{bin}`
/// the bin directory). Every problem is reported on `c`, located.
pub fn read_table(c: &mut Checker, node: &Node) -> Option<ProgramSet> {
    let entries = c.table(
        node,
        "`[programs]`",
        Some("write each program as `[programs.NAME]` with `files` and `run`".into()),
    )?;
    let before = c.count();
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
    };
    if entries.is_empty() {
        c.err_hint(
            &node.span,
            "`[programs]` names no program",
            "add `[programs.NAME]` with `files = [...]` and `run = [...]`",
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
        let fields = c.fields(&e.node, &what, &["files", "run"]);
        let get = |k: &str| tree::get(fields, k);
        let mut first = None;
        match get("files") {
            Some(f) => {
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
            None => c.err_hint(
                &e.node.span,
                format!("{what} has no `files`"),
                "add `files = [\"progs/echo.py\"]` (relative to the lab file)",
            ),
        }
        match get("run") {
            Some(r) => {
                let argv = c.strings(r, "`run`").unwrap_or_default();
                if argv.is_empty() {
                    c.err_hint(
                        &r.span,
                        format!("{what} has an empty `run`"),
                        "write the command line, e.g. `run = [\"python3\", \"{file}\"]`",
                    );
                }
                let file = first.as_ref().map(|f| format!("{BIN}/{f}"));
                let argv: Vec<String> = argv
                    .into_iter()
                    .map(|(a, _)| match &file {
                        Some(f) => a.replace("{file}", f),
                        None => a,
                    })
                    .collect();
                // A command that is not one of the set's files is the interpreter.
                if let Some(cmd) = argv.first().filter(|a| !a.contains(BIN)) {
                    if set.interpreter.as_ref().is_some_and(|i| i != cmd) {
                        c.err_hint(
                            &r.span,
                            format!("`{cmd}`: a set's programs share one interpreter"),
                            format!(
                                "the other programs run with `{}`",
                                set.interpreter.as_deref().unwrap_or("")
                            ),
                        );
                    }
                    set.interpreter = Some(cmd.clone());
                    set.origin = Some(c.src.diag(r.span.clone(), ""));
                }
                set.programs.insert(e.key.clone(), argv);
            }
            None => c.err_hint(
                &e.node.span,
                format!("{what} has no `run`"),
                "add `run = [\"python3\", \"{file}\"]`",
            ),
        }
    }
    (c.count() == before).then_some(set)
}

fn usable(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// The set a command runs: `cli` (`--programs`), else hosts.toml's top-level
/// `programs`, else the lab's own default. Every program the lab starts or
/// runs must be in it; each problem is located.
pub fn choose(lab: &Lab, hosts_path: &Path, cli: Option<&str>) -> Result<ProgramSet, Error> {
    let mut diags = Diagnostics::default();
    let (name, origin, span) = match cli {
        Some(n) => (Some(n.to_string()), None, None),
        None => match hosts_choice(hosts_path)? {
            Some((n, d, span)) => (Some(n), Some(d), Some(span)),
            None => (None, None, None),
        },
    };
    let mut set = match name.as_deref() {
        None => lab.programs.clone(),
        Some("rust") => ProgramSet::rust(),
        Some("python") => ProgramSet::python(),
        Some("lab") if lab.programs.name == "lab" => lab.programs.clone(),
        Some(other) => {
            let known = if lab.programs.name == "lab" {
                &SETS[..]
            } else {
                &SETS[..2]
            };
            let msg = if other == "lab" {
                "program set `lab`: the lab file has no `[programs]` table".to_string()
            } else {
                format!("unknown program set `{other}`")
            };
            let hint = format!("the program sets are {}", ticked(known));
            match (&origin, span) {
                (Some(d), Some(_)) => {
                    let mut d: Diagnostic = d.clone();
                    d.message = msg;
                    d.hint = Some(hint);
                    diags.push(d);
                }
                _ => return Err(Error::Usage(format!("`--programs`: {msg}; {hint}"))),
            }
            return Err(Error::Input(diags));
        }
    };
    if origin.is_some() {
        set.origin = origin;
    }
    for step in &lab.steps {
        for a in &step.actions {
            let program = match &a.kind {
                ActionKind::Start { program, .. } | ActionKind::Run { program, .. } => program,
                _ => continue,
            };
            if !set.programs.contains_key(program) {
                let names: Vec<&str> = set.programs.keys().map(String::as_str).collect();
                diags.push(lab.source.diag_hint(
                    a.span.clone(),
                    format!(
                        "step `{}` runs `{program}`, which program set `{}` does not have",
                        step.id, set.name
                    ),
                    format!("set `{}` has {}", set.name, ticked(&names)),
                ));
            }
        }
    }
    diags.into_result(set)
}

/// The set `labctl check` checks for: like [`choose`], but the lab file is
/// read only for the `lab` set (or an unknown name, to report it).
pub fn for_check(
    hosts_path: &Path,
    lab_path: &Path,
    benches: crate::config::hosts::BenchChoice,
    cli: Option<&str>,
) -> Result<ProgramSet, Error> {
    let name = match cli {
        Some(n) => Some(n.to_string()),
        None => hosts_choice(hosts_path)?.map(|(n, _, _)| n),
    };
    match name.as_deref() {
        None | Some("rust") => Ok(ProgramSet::rust()),
        Some("python") => Ok(ProgramSet::python()),
        Some(_) => {
            let inputs = crate::lab::Inputs::load(hosts_path, lab_path, benches)?;
            choose(&inputs.lab, hosts_path, cli)
        }
    }
}

/// hosts.toml's top-level `programs = "NAME"`, with where it is written.
fn hosts_choice(path: &Path) -> Result<Option<(String, Diagnostic, Range<usize>)>, Error> {
    let src = Source::read(path)?;
    let root = tree::parse(&src)?;
    let Some(node) = tree::get(root.entries(), "programs") else {
        return Ok(None);
    };
    match &node.value {
        Value::Str(s) => Ok(Some((
            s.clone(),
            src.diag(node.span.clone(), ""),
            node.span.clone(),
        ))),
        other => {
            let mut d = Diagnostics::default();
            d.push(src.diag_hint(
                node.span.clone(),
                format!("`programs` must be a string, found {}", other.kind()),
                format!("the program sets are {}", ticked(&SETS)),
            ));
            Err(Error::Input(d))
        }
    }
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

/// Asks every host for the set's interpreter version (`Python 3.11.2`),
/// before a run starts anything. A host without it is an error located where
/// the set was chosen; one that cannot be reached is left to the run, which
/// reports it. No interpreter: nothing to ask.
pub fn probe(
    set: &ProgramSet,
    hosts: &[&Host],
    opts: &ConnectOptions,
) -> Result<BTreeMap<String, String>, Error> {
    let Some(interp) = &set.interpreter else {
        return Ok(BTreeMap::new());
    };
    let cmd = probe_cmd(interp);
    let answers = ssh::for_each_host(hosts, opts, |h: &Host, sess| {
        let out = sess
            .ok()?
            .exec(&cmd, None, std::time::Duration::from_secs(20))
            .ok()?;
        Some((h.name.clone(), out.stdout_str().trim().to_string()))
    });
    let mut versions = BTreeMap::new();
    let mut missing = Vec::new();
    for (host, line) in answers.into_iter().flatten() {
        if line == "@missing" || line.is_empty() {
            missing.push(host);
        } else {
            versions.insert(host, line);
        }
    }
    if missing.is_empty() {
        return Ok(versions);
    }
    let msg = format!(
        "program set `{}` needs `{interp}`, which host{} {} {} not have",
        set.name,
        if missing.len() > 1 { "s" } else { "" },
        missing
            .iter()
            .map(|h| format!("`{h}`"))
            .collect::<Vec<_>>()
            .join(", "),
        if missing.len() > 1 { "do" } else { "does" }
    );
    let hint = format!("install `{interp}` on the host, or choose another set with `--programs`");
    match &set.origin {
        Some(d) => {
            let mut d = d.clone();
            d.message = msg;
            d.hint = Some(hint);
            let mut all = Diagnostics::default();
            all.push(d);
            Err(Error::Input(all))
        }
        None => Err(Error::Host(format!("{msg} ({hint})"))),
    }
}
