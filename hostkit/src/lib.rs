//! labctl's host-side helpers (std only, deployed with the socket programs
//! into `<workdir>/bin`): the line stamper that records a program's output
//! with the host time and streams it to labctl (see `labctl-stamp`).

pub mod stamp;
