//! labctl's host-side helpers (std only, deployed with the socket programs
//! into `<workdir>/bin`): the line stamper that records a program's output
//! with the host time and streams it to labctl, and the run's clock (both
//! `labctl-stamp`).

pub mod clock;
pub mod stamp;
