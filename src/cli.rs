//! The command line, as raw arguments (clap). Only `cmd` (the subcommands'
//! entry points) reads these; each entry point turns them into its domain
//! module's plain options before anything runs; the selections of
//! benches and steps become labctl's own types here, at the edge
//! ([`BenchChoice`], [`StepChoice`]), so no clap type reaches `config` or `lab`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::hosts::BenchChoice;
use crate::error::EXIT_CODES_HELP;
use crate::lab::select::StepChoice;

/// `check --help`: its exit codes (as in the README's "Checking a bench") and examples.
pub const CHECK_HELP: &str = "\
Exit codes:
  0    every check passed
  1    some check failed (including some hosts being unreachable)
  2    bad hosts file or selection (nothing contacted)
  3    no host at all could be reached, so nothing was checked
  4    this machine lacks something
  5    --fix: the bench is in use by another labctl (named); nothing was fixed

Examples:
  labctl check                      the bench of hosts.toml
  labctl check --all                every bench of the room
  labctl check --bench bench3 --fix repair bench3, then check it again
  labctl check --json               the results as JSON";

/// `run --help`: its exit codes (as in the README's "Running the lab") and examples.
pub const RUN_HELP: &str = "\
Exit codes:
  0    every expectation passed
  1    one failed (the run stops after the failed step)
  2    bad command line or input file (nothing was run)
  3    a host could not be reached
  4    this machine lacks something (e.g. the socket programs for a host's architecture)
  5    the bench is in use by another labctl (named); nothing was changed
  130  interrupted (Ctrl-C; everything was stopped)

Examples:
  labctl run                        the whole lab; the report in runs/<id>/report.html
  labctl run --step I.8             replay one step (after the steps it needs)
  labctl run --from II.1 --to II.3  a range of steps
  labctl run --dry-run              show what would run; run nothing
  labctl run --all                  every bench of the room at once";

/// `plan --help`.
pub const PLAN_HELP: &str = "\
Exit codes:
  0    the plan was printed
  2    bad command line or input file (nothing contacted)

Examples:
  labctl plan                       every step's commands on every host
  labctl plan --step I.8            one step and the steps it needs";

/// `list --help`.
pub const LIST_HELP: &str = "\
Exit codes:
  0    the steps were listed
  2    bad command line or input file

Examples:
  labctl list
  labctl --lab labs/udp.toml list";

/// `clean --help`.
pub const CLEAN_HELP: &str = "\
Exit codes:
  0    nothing labctl started runs any more
  1    some programs survived
  2    bad hosts file or selection (nothing contacted)
  3    a host could not be reached, so it was not cleaned
  5    the bench is in use by another labctl (named); nothing was stopped

Examples:
  labctl clean
  labctl clean --all
  labctl clean --restore-network    also give eth0 back to the image's own connection";

/// `reset --help`.
pub const RESET_HELP: &str = "\
Exit codes:
  0    the bench is as a lab expects: nothing on its ports, no lab address
  1    something could not be stopped or removed, or a lab port is still held
  2    bad hosts file, lab file or selection (nothing contacted)
  3    a host could not be reached, so it was not reset
  5    the bench is in use by another labctl (named); nothing was changed

Examples:
  labctl reset --dry-run
  labctl reset
  labctl --hosts room.toml reset --all";

/// `deploy --help`.
pub const DEPLOY_HELP: &str = "\
Exit codes:
  0    every host has the programs
  1    some host could not be given them
  2    bad hosts file or selection (nothing contacted)
  3    no host at all could be reached
  4    this machine lacks something (a build for a host's architecture)
  5    the bench is in use by another labctl (named); nothing was uploaded

Examples:
  labctl deploy                     the bench of hosts.toml
  labctl deploy --all               every bench of the room";

/// `report --help`.
pub const REPORT_HELP: &str = "\
Exit codes:
  0    the reports were written
  2    not a run directory
  4    the reports could not be written

Examples:
  labctl report runs/20250101T120000Z-socket-lab";

/// `answer --help`.
pub const ANSWER_HELP: &str = "\
Exit codes:
  0    answered from the captures that could be read (the others named on stderr)
  2    bad command line or lab file, or no capture could be read at all
  4    the grading sheet could not be written

Examples:
  labctl answer part1.pcapng part2.pcapng      one student's captures
  labctl answer --server 10.0.3.1:50123 cap.pcapng
  labctl answer --json cap.pcapng              the answers as JSON
  labctl answer --grade submissions/           grading.html and grading.csv
  labctl answer --grade submissions/ --reference runs/20250101T120000Z-sockets";

/// `init --help`.
pub const INIT_HELP: &str = "\
Exit codes:
  0    the hosts file was printed or written
  2    bad arguments (e.g. a subnet too small), or FILE exists without --force
  4    the file could not be written

Examples:
  labctl init                       one bench, on stdout
  labctl init --benches 10 --user student hosts.toml";

/// `testbed --help`.
pub const TESTBED_HELP: &str = "\
Exit codes:
  0    done (`status`: the bench is whole)
  1    `status`: the bench is not whole; `down`: no such bench
  2    bad command line
  4    this machine lacks something (root, `ip`, `sshd`)

Examples:
  labctl testbed up                 prints the hosts file's path last
  labctl testbed up --os debian13   hosts on Raspberry Pi OS's current base
  labctl testbed up --password-only --user ada
  labctl testbed reimage B          a re-flashed card: new host keys
  labctl testbed status
  labctl testbed down";

/// `serve --help`.
pub const SERVE_HELP: &str = "\
It serves until Ctrl-C (or another signal) stops it.

Exit codes:
  2    bad command line, or RUNS_DIR is not a directory
  4    cannot listen on the address (in use, or not this machine's)

Examples:
  labctl serve                      runs/ at http://127.0.0.1:8080/ (this machine only)
  labctl serve --port 0 /srv/runs   any free port; the URL printed says which
  labctl serve --listen 0.0.0.0:8080
                                    the room's phones too; the URL printed carries the token";

/// `completions --help` and `man --help`.
pub const ALWAYS_HELP: &str = "\
Exit codes:
  0    the text was printed
  2    bad command line";

/// Runs a socket-programming lab on benches of three hosts (A, B, C) over SSH:
/// checks the benches, runs the whole lab or replays one step, and writes a report.
#[derive(Debug, Parser)]
#[command(name = "labctl", version, after_help = EXIT_CODES_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand takes.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// The bench (or room of benches) to work on.
    #[arg(long, global = true, value_name = "FILE", default_value = "hosts.toml")]
    pub hosts: PathBuf,
    /// The lab to run.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        default_value = "labs/lab.toml"
    )]
    pub lab: PathBuf,
    /// Trust a host key seen for the first time and record it in labctl's known_hosts.
    #[arg(long, global = true)]
    pub accept_new: bool,
    /// Say less (`run`: failures, warnings and the summary only).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Say more: also every command sent to a host (on stderr, as `plan` shows it).
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// When to colour the output (`auto`: on a terminal, unless `NO_COLOR` is set).
    #[arg(long, global = true, value_name = "WHEN", default_value = "auto")]
    pub color: crate::style::ColorChoice,
    /// `--lab` was given on the command line (not the default): a file that
    /// is not there is then an input error, not "no lab file".
    #[arg(skip)]
    pub lab_given: bool,
}

impl Cli {
    /// The command line, parsed (clap exits on a bad one), knowing which
    /// file flags were given rather than defaulted.
    pub fn parse_given() -> Cli {
        use clap::{CommandFactory, FromArgMatches};
        let matches = Cli::command().get_matches();
        let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
        let mut m = &matches;
        let mut given = m.value_source("lab") == Some(clap::parser::ValueSource::CommandLine);
        while let Some((_, sub)) = m.subcommand() {
            given |= sub.value_source("lab") == Some(clap::parser::ValueSource::CommandLine);
            m = sub;
        }
        cli.global.lab_given = given;
        cli
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check that a bench (or the whole room) is ready for class.
    #[command(after_help = CHECK_HELP)]
    Check(CheckArgs),
    /// Run the whole lab, one step, or a range of steps, and write a report.
    #[command(after_help = RUN_HELP)]
    Run(RunArgs),
    /// Show the exact commands each step runs on each host; nothing is executed.
    #[command(after_help = PLAN_HELP)]
    Plan(PlanArgs),
    /// List the lab's steps.
    #[command(after_help = LIST_HELP)]
    List {
        /// Only the step ids, one a line (used by the shell completions).
        #[arg(long, hide = true)]
        ids: bool,
    },
    /// Put the programs on the hosts (building them when needed), and nothing else.
    #[command(after_help = DEPLOY_HELP)]
    Deploy(DeployArgs),
    /// Stop every program labctl started on the hosts, and nothing else.
    #[command(after_help = CLEAN_HELP)]
    Clean(CleanArgs),
    /// Between two sections: stop the login's programs on the lab's ports or named
    /// as the lab's programs (listed first), and remove the lab addresses.
    #[command(after_help = RESET_HELP)]
    Reset(ResetArgs),
    /// Rebuild report.md, report.html and run.json from a run directory.
    #[command(after_help = REPORT_HELP)]
    Report(ReportArgs),
    /// Answer the lab's questions from captures students saved (pcap, pcapng),
    /// or grade a folder of submissions.
    #[command(after_help = ANSWER_HELP)]
    Answer(AnswerArgs),
    /// Write a hosts file for a room of benches (documented, ready for `check`).
    #[command(after_help = INIT_HELP)]
    Init(InitArgs),
    /// Print the shell completion script for bash, zsh or fish.
    #[command(after_help = ALWAYS_HELP)]
    Completions {
        /// The shell to complete for.
        shell: crate::complete::Shell,
    },
    /// Print labctl's man page (roff), e.g. `labctl man | man -l -`.
    #[command(after_help = ALWAYS_HELP)]
    Man,
    /// A virtual bench on this machine: network namespaces with their own sshd and eth0.
    #[command(after_help = TESTBED_HELP)]
    Testbed(TestbedArgs),
    /// Serve the runs directory to browsers, read-only: the room live, every report, the captures.
    #[command(after_help = SERVE_HELP)]
    Serve(ServeArgs),
    /// First contact with fresh hosts: install labctl's key with their
    /// password, or trust the new host keys of re-imaged cards.
    #[command(after_help = KEYS_HELP)]
    Keys(KeysArgs),
}

/// `keys --help`.
pub const KEYS_HELP: &str = "\
Exit codes:
  0    every host has the key (install) or a trusted host key (trust)
  1    some host failed, or the confirmation was declined (nothing recorded)
  2    bad hosts file, selection or setting (e.g. no `password_env`)
  3    no host could be reached

Examples:
  labctl keys install               the password from the variable `password_env` names
  labctl keys install --all --accept-new
  labctl keys trust --replace       after re-imaging: recorded and offered keys, then a confirmation
  labctl keys trust --replace --all --yes";

#[derive(Debug, Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Log in with the login's password (from the environment variable the
    /// hosts file's `password_env` names; never stored) and add labctl's
    /// public key (the `.pub` of `identity`) to `~/.ssh/authorized_keys`.
    /// New host keys are shown and trusted after one confirmation (or `--accept-new`).
    Install {
        #[command(flatten)]
        select: BenchSelect,
    },
    /// Show each host's offered host key and record the new ones in labctl's
    /// known_hosts after one confirmation (`--yes` for scripts).
    Trust {
        #[command(flatten)]
        select: BenchSelect,
        /// Also replace recorded keys that changed (re-imaged cards): the
        /// recorded and the offered fingerprints are shown first.
        #[arg(long)]
        replace: bool,
        /// Record without asking.
        #[arg(long)]
        yes: bool,
    },
}

/// Which benches of hosts.toml to work on.
#[derive(Debug, Clone, Args)]
pub struct BenchSelect {
    /// Work on this bench of the room.
    #[arg(long, value_name = "NAME", conflicts_with = "all")]
    pub bench: Option<String>,
    /// Work on every bench of the room.
    #[arg(long)]
    pub all: bool,
}

impl From<&BenchSelect> for BenchChoice {
    fn from(sel: &BenchSelect) -> BenchChoice {
        match (&sel.bench, sel.all) {
            (Some(name), _) => BenchChoice::Named(name.clone()),
            (None, true) => BenchChoice::All,
            (None, false) => BenchChoice::Implied,
        }
    }
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub select: BenchSelect,
    /// JSON lines on stdout (`check_started`, `host_checked`, …, `check_finished`);
    /// the table then goes to stderr.
    #[arg(long)]
    pub json: bool,
    /// Repair what can be repaired (addresses, links, programs, stale processes), then check again.
    #[arg(long)]
    pub fix: bool,
    /// The program set to check for: `rust`, `python`, or `lab` (the lab file's `[programs]`).
    #[arg(long, value_name = "SET")]
    pub programs: Option<String>,
    /// The runs directory where `check --all` keeps the room's result for the
    /// next `run --all`'s room report (default: `runs/`, as `run --out`).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Which steps of the lab to work on.
#[derive(Debug, Clone, Args)]
pub struct StepSelect {
    /// Only this step, after the steps it needs.
    #[arg(long, value_name = "ID", conflicts_with_all = ["from", "to"])]
    pub step: Option<String>,
    /// Start at this step (after the steps it needs).
    #[arg(long, value_name = "ID")]
    pub from: Option<String>,
    /// Stop after this step.
    #[arg(long, value_name = "ID")]
    pub to: Option<String>,
}

impl From<&StepSelect> for StepChoice {
    fn from(sel: &StepSelect) -> StepChoice {
        match &sel.step {
            Some(id) => StepChoice::Only(id.clone()),
            None => StepChoice::Range {
                from: sel.from.clone(),
                to: sel.to.clone(),
            },
        }
    }
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub steps: StepSelect,
    #[command(flatten)]
    pub select: BenchSelect,
    /// Print what would run, exactly as `run` would run it; execute nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Where to create the run directory (default: `runs/` in the current directory).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Presenter mode: before each step show what it will do and wait for a key
    /// (Enter runs it, `s` skips it when nothing later needs it, `q` stops as Ctrl-C does).
    #[arg(long, conflicts_with_all = ["dry_run", "all"])]
    pub pause: bool,
    /// The run's events as JSON lines on stdout, as `events.jsonl` records them;
    /// the human output then goes to stderr.
    #[arg(long)]
    pub json: bool,
    /// The program set to run: `rust`, `python`, or `lab` (the lab file's `[programs]`).
    #[arg(long, value_name = "SET")]
    pub programs: Option<String>,
    /// Take the bench from a labctl that holds it but has not answered for 10 s or
    /// more (a laptop asleep, a connection lost): its run's programs are stopped and
    /// its run ends. A labctl that answers is never taken over.
    #[arg(long)]
    pub take_over: bool,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub steps: StepSelect,
    #[command(flatten)]
    pub select: BenchSelect,
    /// The program set to plan: `rust`, `python`, or `lab` (the lab file's `[programs]`).
    #[arg(long, value_name = "SET")]
    pub programs: Option<String>,
}

#[derive(Debug, Args)]
pub struct CleanArgs {
    #[command(flatten)]
    pub select: BenchSelect,
    /// Also undo `configure`: delete labctl's NetworkManager profile for the
    /// lab interface (it goes back to the image's own connection), or remove
    /// the lab address `ip` gave it.
    #[arg(long)]
    pub restore_network: bool,
    /// Take the bench from a labctl that holds it but has not answered for 10 s or more.
    #[arg(long)]
    pub take_over: bool,
    /// JSON lines on stdout (`host_cleaned` per host, `clean_finished`);
    /// the human lines then go to stderr.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ResetArgs {
    #[command(flatten)]
    pub select: BenchSelect,
    /// List what would be stopped and removed; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Take the bench from a labctl that holds it but has not answered for 10 s or more.
    #[arg(long)]
    pub take_over: bool,
    /// The program set whose programs are looked for: `rust`, `python`, or `lab`.
    #[arg(long, value_name = "SET")]
    pub programs: Option<String>,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub select: BenchSelect,
    /// The program set to deploy: `rust`, `python`, or `lab` (the lab file's `[programs]`).
    #[arg(long, value_name = "SET")]
    pub programs: Option<String>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A run directory written by `labctl run`.
    pub run_dir: PathBuf,
    /// Write a copy without the answers, for students, into `RUN_DIR/student/`
    /// (the report, its ladders and the captures).
    #[arg(long)]
    pub student: bool,
}

#[derive(Debug, Args)]
pub struct AnswerArgs {
    /// Capture files (pcap or pcapng, as Wireshark, dumpcap or tcpdump save
    /// them), one student's: each question is answered from the one that shows it.
    #[arg(value_name = "CAPTURE")]
    pub captures: Vec<PathBuf>,
    /// The lab's server, when it should not be found from the traffic
    /// (`ADDR:PORT`, or a `PORT` on any address); repeat for several.
    #[arg(long, value_name = "ADDR:PORT")]
    pub server: Vec<String>,
    /// Grade a folder of submissions (a subfolder, or a file-name prefix
    /// `NAME_`, per student): writes grading.html and grading.csv.
    #[arg(long, value_name = "DIR")]
    pub grade: Option<PathBuf>,
    /// With --grade: the reference beside the students (a labctl run
    /// directory, or capture files).
    #[arg(long, value_name = "PATH", requires = "grade")]
    pub reference: Option<PathBuf>,
    /// With --grade: where the sheet goes (default: the graded folder).
    #[arg(long, value_name = "DIR", requires = "grade")]
    pub out: Option<PathBuf>,
    /// The files and answers as one JSON object on stdout (`labctl-answer/1`).
    #[arg(long, conflicts_with = "grade")]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct TestbedArgs {
    #[command(subcommand)]
    pub command: TestbedCommand,
}

#[derive(Debug, Subcommand)]
pub enum TestbedCommand {
    /// Build a virtual bench (root): namespaces, a switch, an sshd per host; prints the hosts file path last.
    Up {
        /// A name for the bench, unique on this machine.
        #[arg(long, default_value = "labctl")]
        name: String,
        /// Build a classroom of this many benches.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
        benches: u16,
        /// Make ARM hosts: programs are aarch64 or armv7 builds run through
        /// qemu-user (the hosts file declares `arch`).
        #[arg(long, value_parser = ["aarch64", "armv7"])]
        arch: Option<String>,
        /// Hosts log in as root (default: `pi` with passwordless sudo, like Raspberry Pi OS).
        #[arg(long)]
        root: bool,
        /// `pi` gets no sudo rights (for testing what labctl says then).
        #[arg(long, conflicts_with = "root")]
        no_sudo: bool,
        /// `pi` may run through sudo only `ip` and `tcpdump`: the sudoers line
        /// labctl suggests when sudo refuses (for testing that it is enough).
        #[arg(long, conflicts_with_all = ["root", "no_sudo"])]
        sudo_lab_only: bool,
        /// Hosts without NetworkManager (the default runs Debian's, managing
        /// eth0 with its own DHCP connection, as on Raspberry Pi OS).
        #[arg(long)]
        no_network_manager: bool,
        /// The hosts' login, as Raspberry Pi Imager asks for one (default `pi`).
        #[arg(long, value_name = "NAME", conflicts_with = "root")]
        user: Option<String>,
        /// Hosts that accept only the login's password at first, as Imager
        /// leaves them (the password in `LABCTL_PASSWORD` when set, else made
        /// up and written to the testbed's `password` file); `labctl keys
        /// install` then puts the key in place.
        #[arg(long, conflicts_with = "root")]
        password_only: bool,
        /// The hosts' userland: `debian13` (Raspberry Pi OS's current base,
        /// a root made once with debootstrap), or `local` (this machine's,
        /// the default); `A=debian13` for host A only (repeatable: hosts of
        /// both kinds on one bench).
        #[arg(long, value_name = "[HOST=]OS")]
        os: Vec<String>,
        /// Give hosts clocks of their own, off from this machine's as a
        /// Raspberry Pi's without a time server is: `A=-90s,B=+40s` (units
        /// s, m, h, d; `bench2/A` for one bench of a room). Needs Debian's
        /// `faketime` package.
        #[arg(long, value_name = "HOST=OFFSET,...")]
        clock: Option<String>,
    },
    /// Set the clock of hosts given their own (`up --clock`), as a time
    /// server reached or a clock set by hand does: `A=+1h` (its new offset
    /// from this machine's).
    Clock {
        /// The testbed, as named to `up`.
        #[arg(long, default_value = "labctl")]
        name: String,
        /// `HOST=OFFSET,...`, as `up --clock` takes them.
        #[arg(value_name = "HOST=OFFSET,...")]
        clock: String,
    },
    /// Internal: a host's `tcpdump` with a clock of its own (its capture
    /// files' times moved by the host's offset).
    #[command(hide = true)]
    ClockTcpdump {
        #[arg(long)]
        dir: PathBuf,
        #[arg(last = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
    /// Re-flash a host's card: new host keys, its home and network settings as
    /// the image has them, its sshd and NetworkManager started again.
    Reimage {
        /// The testbed, as named to `up`.
        #[arg(long, default_value = "labctl")]
        name: String,
        /// The host: `A`, or `bench2/A` in a room.
        host: String,
    },
    /// Remove exactly what `up` made.
    Down {
        #[arg(long, default_value = "labctl")]
        name: String,
    },
    /// Show what exists and which sshds answer; exit 0 only when the bench is whole.
    Status {
        #[arg(long, default_value = "labctl")]
        name: String,
    },
    /// Make a host silent as a frozen Pi or a pulled cable (its SSH traffic held:
    /// no FIN, no RST), or bring it back.
    Fault {
        /// The testbed, as named to `up`.
        #[arg(long, default_value = "labctl")]
        name: String,
        /// The host: `A`, or `bench2/A` in a room.
        host: String,
        /// `silent` or `restore`.
        #[arg(value_enum)]
        action: FaultAction,
    },
    /// Internal: the loopback relay into the namespaces' sshds (started by `up`).
    #[command(hide = true)]
    Relay {
        #[arg(long)]
        state: PathBuf,
    },
}

/// What `labctl testbed fault` does to a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FaultAction {
    /// Hold the host's management traffic, without closing anything.
    Silent,
    /// Let it flow again.
    Restore,
}

/// `labctl init`'s arguments.
#[derive(Debug, Clone, Args)]
pub struct InitArgs {
    /// How many benches the room has (1: a single bench, no `[benches]` tables).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=999))]
    pub benches: u16,
    /// How SSH reaches each host (`address[:port]` or a ~/.ssh/config alias):
    /// `{host}` is the host in lower case (a, b, c), `{HOST}` in upper case, and
    /// n in braces (as in the default) the bench number.
    // (clap turns a literal n in braces into a line break in help text.)
    #[arg(long, value_name = "PATTERN", default_value = "bench{n}-{host}")]
    pub ssh: String,
    /// The SSH user on every host.
    #[arg(long, default_value = "pi")]
    pub user: String,
    /// The lab subnet of every bench (each bench has its own switch); A, B and C
    /// get its first three addresses.
    #[arg(long, value_name = "CIDR", default_value = "10.0.3.0/24")]
    pub subnet: String,
    /// Bench names: n in braces (as in the default) is the bench number.
    #[arg(long, value_name = "PATTERN", default_value = "bench{n}")]
    pub name: String,
    /// Where to write the hosts file (default: stdout).
    pub file: Option<PathBuf>,
    /// Overwrite FILE if it exists.
    #[arg(long)]
    pub force: bool,
}

/// `labctl serve`'s arguments.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The runs directory (`run --out`'s; default `runs`).
    #[arg(value_name = "RUNS_DIR", default_value = "runs")]
    pub runs_dir: PathBuf,
    /// The port on 127.0.0.1 (0: any free one; the URL printed says which).
    #[arg(long, default_value_t = 8080, conflicts_with = "listen")]
    pub port: u16,
    /// Listen on this address instead (e.g. `0.0.0.0:8080` for the room's
    /// phones); every request then needs the token of the printed URL.
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<std::net::SocketAddr>,
}
