//! Input files: `hosts.toml` (the bench) and the lab file, from TOML text to
//! validated models. Nothing here touches the network: validation finishes,
//! reporting every problem at once, before any host is contacted.
//!
//! - [`source`]: a file's text and name, so spans become file:line:column;
//! - [`tree`]: the one spanned TOML tree both files are read into, and the
//!   validation helpers both use;
//! - [`hosts`]: hosts.toml to a validated [`hosts::Room`];
//! - [`openssh`]: the part of `~/.ssh/config` an `ssh = "alias"` follows.

pub mod hosts;
pub(crate) mod openssh;
pub(crate) mod source;
pub(crate) mod tree;

pub use source::Source;

use std::path::PathBuf;

/// What the command line gives every command: the two input files (and
/// whether `--lab` was named there) and `--accept-new`, as plain values
/// (`cmd` turns clap's global arguments into this).
#[derive(Debug, Clone)]
pub struct Given {
    pub hosts: PathBuf,
    pub lab: PathBuf,
    /// `--lab` was on the command line (not the default).
    pub lab_given: bool,
    /// Record a host key never seen before without asking.
    pub accept_new: bool,
}
