//! `hosts.toml`: the bench (or room of benches), validated.
