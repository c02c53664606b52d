//! The one error type of labctl and the documented exit codes it maps to.
//!
//! Errors are printed exactly once, by [`crate::main`]; everything below
//! returns them. Input errors carry every problem found at once
//! ([`Diagnostics`]), so an instructor fixes a file in one pass.

use std::fmt;
use std::path::PathBuf;

/// Exit codes, documented in `--help` and the README.
pub mod exit {
    /// Everything ran and passed.
    pub(crate) const OK: i32 = 0;
    /// labctl ran, and a check or an expectation failed.
    pub const FAILED: i32 = 1;
    /// Bad command line or input file; nothing was run on any host.
    pub(crate) const INPUT: i32 = 2;
    /// A host could not be reached or operated (SSH, host key, auth, remote command).
    pub(crate) const HOST: i32 = 3;
    /// This machine lacks something labctl needs (root, a tool, a built program).
    pub(crate) const LOCAL: i32 = 4;
    /// The bench is in use by another labctl (named in the message); nothing was changed.
    pub(crate) const BUSY: i32 = 5;
    /// Interrupted (Ctrl-C); what labctl had started was stopped.
    pub const INTERRUPTED: i32 = 130;
}

/// The text shown under `--help` and in the README.
pub(crate) const EXIT_CODES_HELP: &str = "\
Exit codes:
  0    everything ran and passed
  1    a check or an expectation failed
  2    bad command line or input file (nothing was run on any host)
  3    a host could not be reached or operated (SSH, host key, auth)
  4    this machine lacks something (root, a tool, a built program)
  5    the bench is in use by another labctl (named); nothing was changed
  130  interrupted; what labctl had started was stopped";

/// One problem in an input file, located to the character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    /// 1-based line; 0 when the problem has no place in the file (e.g. it cannot be read).
    pub line: usize,
    /// 1-based column, counted in characters.
    pub col: usize,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)?;
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file.display(),
                self.line,
                self.col,
                self.message
            )?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Every problem found in the inputs, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }
    /// `Ok(value)` when nothing was found, else every diagnostic as one error.
    pub(crate) fn into_result<T>(mut self, value: T) -> Result<T, Error> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            self.0
                .sort_by(|a, b| (&a.file, a.line, a.col).cmp(&(&b.file, b.line, b.col)));
            Err(Error::Input(self))
        }
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        let n = self.0.len();
        write!(
            f,
            "\n{n} input error{}; nothing was run",
            if n == 1 { "" } else { "s" }
        )
    }
}

/// Everything that can end a labctl command early.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bad command line (beyond what clap catches).
    #[error("{0}")]
    Usage(String),
    /// Problems in hosts.toml or the lab file, all of them.
    #[error("{0}")]
    Input(Diagnostics),
    /// A host could not be reached or operated.
    #[error("{0}")]
    Host(String),
    /// This machine lacks something labctl needs.
    #[error("{0}")]
    Local(String),
    /// The command ran and something failed; details were already reported.
    #[error("{0}")]
    Failed(String),
    /// Another labctl holds the bench (see [`crate::hold`]); nothing was changed.
    #[error("{0}")]
    Busy(String),
    /// Ctrl-C; cleanup already happened.
    #[error("interrupted; stopped what it had started")]
    Interrupted,
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) | Error::Input(_) => exit::INPUT,
            Error::Host(_) => exit::HOST,
            Error::Local(_) => exit::LOCAL,
            Error::Failed(_) => exit::FAILED,
            Error::Busy(_) => exit::BUSY,
            Error::Interrupted => exit::INTERRUPTED,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
