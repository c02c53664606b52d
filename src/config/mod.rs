//! Input files: `hosts.toml` (the bench) and the lab file, from TOML text to
//! validated models. Nothing here touches the network: validation finishes,
//! reporting every problem at once, before any host is contacted.

pub mod hosts;
pub mod source;

pub use source::Source;
