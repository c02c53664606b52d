//! labctl runs a networking class's socket-programming lab on benches of
//! three hosts over SSH, and checks the benches before class.
//!
//! The work is a staged pipeline; each stage changes type, so nothing reaches
//! a host before the whole input has been validated:
//!
//! ```text
//! hosts.toml, lab.toml ──config──▶ Room + Lab ──plan──▶ Plan ──run──▶ events ──report──▶ report
//! ```
//!
//! - [`cli`]: raw command-line arguments, turned at this edge into labctl's
//!   own choices ([`config::hosts::BenchChoice`], [`lab::select::StepChoice`]).
//! - [`config`]: input files as one spanned TOML tree ([`config::tree`]) and
//!   hosts.toml to a validated [`config::hosts::Room`] (its shape, then the
//!   hosts together), every error at once with file:line:column;
//!   [`lab`]: the lab file (its types, format and cross-step validation),
//!   the program set it runs (`lab::set`, resolved while the inputs load),
//!   and the [`lab::plan::Plan`] that `plan`, `run --dry-run` and `run` all
//!   share: its operations are typed facts, their shell calls rendered
//!   from them where they are sent.
//! - [`run`]: runs a plan with one worker per host (`run/worker/`: the
//!   agent's channel, programs, expectations matched as output arrives, the
//!   end of a run) and emits events, which every output consumes through
//!   one sink interface (`run/sink.rs`): the run directory written as it
//!   goes, the terminal (`run/reporter.rs`, whose hung-up-terminal guard
//!   every spinner of labctl draws behind), `--json` (the same events on
//!   stdout, `run/json.rs`), the `--pause` presenter (`run/pause.rs`), the
//!   room and the reports; `--dry-run` goes the same way. The
//!   run directory has one owner, [`record`] (below both stages: events,
//!   step records, the plan read back, file names): the run writes those
//!   events to `events.jsonl`, and [`report`] reads the same types back
//!   (`report/load.rs`) and with [`capture`] (`decode` pcap bytes, `model`,
//!   `analysis` with `tcp` and `udp`, `labels`, `ladder`) turns that
//!   directory into report.md, report.html and run.json.
//! - [`answer`]: `labctl answer`, the lab's questions answered by the
//!   report's rules from captures students saved (`capture::study`), and
//!   the grading sheet of a folder of submissions.
//! - [`ssh`]: one `ssh2` session per host, owned by one thread, connected to
//!   an [`ssh::Target`] (it imports no stage above it); [`remote`]:
//!   programs on a host, started, registered and stopped by process group,
//!   their output streamed by `labctl-stamp` (workspace member `hostkit/`);
//!   the host shell is in `remote/lib.sh` and `remote/wrap.sh`.
//! - [`check`] (`check/`: model, `script` + `check.sh`, `facts`, `evaluate`,
//!   `fix`, `clock`, `progress`, `render`), [`deploy`] (with [`build`]: the
//!   programs per architecture), [`hostops`]: is a bench ready, and the
//!   shell commands that make it so; [`programs`]: the program sets;
//!   [`reset`]: `labctl reset`, between two sections. What runs on a host is a `.sh`
//!   file under `src/` (`include_str!`), checked by tests/host_scripts.rs;
//!   one-line commands are templates filled with shell-quoted values by
//!   [`util::shell_template`], never Rust string literals.
//! - [`arch`]: the lab's fixed vocabulary (the socket programs' names and
//!   sets, the lab port, target triples), shared by [`config`], [`lab`],
//!   [`hostops`] and [`capture`] without importing each other.
//! - [`style`]: `-q`/`-v`/`--color`; [`complete`]: shell completions and the
//!   man page; [`init`]: writes a hosts file for a room.
//! - [`hold`]: one labctl at a time per bench (a hold on each host, exit 5).
//! - [`room`]: a `run --all` at a glance (the terminal's room view and
//!   summary, the room report); [`serve`]: `labctl serve`, the runs
//!   directory for browsers, the room live.
//! - [`keys`]: first contact with a password (`keys install`), re-imaged
//!   hosts' new host keys (`keys trust --replace`).
//! - [`testbed`]: a virtual bench of network namespaces with real sshds.
//! - [`error`]: the error type and the documented exit codes.
//!
//! The design notes the code relies on, and the glossary of the words it
//! uses, are in `docs/design.md`; every file's place in the tree is in
//! `docs/layout.md`.

pub mod answer;
pub mod arch;
pub mod build;
pub mod capture;
pub mod check;
pub mod cli;
pub mod complete;
pub mod config;
pub mod deploy;
pub mod error;
pub mod hold;
pub mod hostops;
pub mod init;
pub mod keys;
pub mod lab;
pub mod programs;
pub mod record;
pub mod remote;
pub mod report;
pub mod reset;
pub mod room;
pub mod run;
pub mod serve;
pub mod ssh;
pub mod style;
pub mod testbed;
pub mod util;

use cli::{Cli, Command};
use error::{exit, Error};

/// Runs labctl with the process's arguments and returns the exit code.
/// Errors are printed here, once.
pub fn main() -> i32 {
    let cli = Cli::parse_given();
    style::init(cli.global.color, cli.global.quiet, cli.global.verbose);
    match dispatch(cli) {
        Ok(()) => exit::OK,
        Err(e) => {
            // Host text is in errors: shown inert, and never a panic on a gone stderr.
            let text = match &e {
                Error::Input(d) => d.to_string(),
                Error::Interrupted => format!("labctl: {e}"),
                other => format!("error: {other}"),
            };
            util::err_line(&util::show_controls(&text, true));
            e.exit_code()
        }
    }
}

fn dispatch(cli: Cli) -> Result<(), Error> {
    let g = cli.global;
    // A `--lab` named on the command line is read before anything, by every
    // command, also one that has no use for it (`clean`, `deploy`): a file
    // that is not there is exit 2 naming it, not a connection to every host.
    if g.lab_given {
        config::source::Source::read(&g.lab)?;
    }
    match cli.command {
        Command::Testbed(args) => testbed::command(&args),
        Command::Keys(args) => keys::command(&g, &args),
        Command::Check(args) => check::command(&g, &args),
        Command::Deploy(args) => deploy::command(&g, &args),
        Command::Clean(args) => remote::clean::command(&g, &args),
        Command::Reset(args) => reset::command(&g, &args),
        Command::Plan(args) => lab::plan_command(
            &g.hosts,
            &g.lab,
            (&args.select).into(),
            (&args.steps).into(),
            args.programs.as_deref(),
        ),
        Command::List { ids: true } => complete::list_ids(&g),
        Command::List { ids: false } => lab::list_command(&g.hosts, &g.lab),
        Command::Init(args) => init::command(&args),
        Command::Completions { shell } => complete::completions(shell),
        Command::Man => complete::man(),
        Command::Run(args) => run::command(&g, &args),
        Command::Report(args) => report::command(&args),
        Command::Serve(args) => serve::command(&args),
        Command::Answer(args) => answer::command(&g, &args),
    }
}
