//! Capture analysis: what a tcpdump capture of a lab step shows, as plain
//! data for the reports — frames by kind, TCP conversations, UDP exchanges,
//! every socket address with its role (server or client), the servers'
//! sockets — and the ladder diagram drawn from it ([`ladder`]).
//!
//! [`analyze`] is a pure function of the capture's bytes; the lab engine
//! fetches the files, the report module reads them. The parts: [`read`]
//! (pcap and pcapng files, streamed), `decode` (frames to packets),
//! [`model`] (what an analysis says), `analysis` (packets to frames,
//! conversations, sockets and servers), `tcp` and `udp` (each protocol's
//! conversations), `pairs` (ARP requests and replies, pings, ICMP errors
//! and the packets they refer to), `labels` (how a frame or payload reads),
//! [`ladder`] (the SVG diagram), [`filter`] (the frames a question counts,
//! as a Wireshark display filter). A capture labctl did not make — a
//! student's — is read by [`study`] in two streamed passes, the lab's
//! servers found by [`find`].

mod analysis;
mod decode;
pub mod filter;
pub mod find;
mod labels;
pub mod ladder;
pub mod model;
mod pairs;
pub mod pcapng;
pub mod read;
pub mod study;
mod tcp;
mod udp;

pub(crate) use analysis::max_overlap;
pub(crate) use labels::abbreviate;
pub use model::*;

use crate::arch::LAB_PORT;
use analysis::Builder;

/// Why a capture could not be analysed at all (a damaged tail is only a warning).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not a pcap file: {0}")]
    NotPcap(String),
    #[error("unsupported link type `{0}`: capture on the lab interface (Ethernet)")]
    LinkType(String),
}

/// How roles are decided where the handshake is not in the capture.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// Ports that are a server's (default: the lab port, [`LAB_PORT`]): a
    /// socket bound to one is a server's even when its conversation began
    /// before the capture did.
    pub server_ports: Vec<u16>,
    /// Frames kept in [`CaptureAnalysis::frames`] at most; the rest are
    /// still counted and followed in their conversations (a student's
    /// capture of any size costs bounded memory).
    pub max_frames: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            server_ports: vec![LAB_PORT],
            max_frames: usize::MAX,
        }
    }
}

/// Analyses a capture with the default options (the lab port is a server's).
pub fn analyze(pcap: &[u8]) -> Result<CaptureAnalysis, Error> {
    analyze_with(pcap, &Options::default())
}

/// Analyses the bytes of a classic pcap file.
pub(crate) fn analyze_with(pcap: &[u8], opts: &Options) -> Result<CaptureAnalysis, Error> {
    analyze_placed(pcap, opts, |t| t)
}

/// [`analyze_with`], every frame's time first put on another clock by
/// `place` (called once per frame, in file order): the report puts a host's
/// capture on the run clock ([`crate::record::RunClock`]), so its times
/// compare with other hosts' lines and captures.
pub(crate) fn analyze_placed(
    pcap: &[u8],
    opts: &Options,
    place: impl FnMut(f64) -> f64,
) -> Result<CaptureAnalysis, Error> {
    Ok(Frames::read(pcap)?.analyze_placed(opts, place))
}

/// A capture file's frames decoded once, for several analyses: the report
/// analyses each capture on its host's clock, then on the run clock.
pub(crate) struct Frames(decode::Decoded);

impl Frames {
    /// Decodes the bytes of a capture file.
    pub(crate) fn read(pcap: &[u8]) -> Result<Frames, Error> {
        decode::read(pcap).map(Frames)
    }

    /// [`analyze_placed`] of these frames.
    pub(crate) fn analyze_placed(
        &self,
        opts: &Options,
        mut place: impl FnMut(f64) -> f64,
    ) -> CaptureAnalysis {
        let decoded = &self.0;
        let mut b = Builder::new(opts);
        let times: Vec<f64> = decoded.packets.iter().map(|p| place(p.ts)).collect();
        let start = times.first().copied().unwrap_or(0.0);
        for (i, (p, t)) in decoded.packets.iter().zip(&times).enumerate() {
            b.add(i + 1, t - start, &p.body);
        }
        let end = times.last().map(|t| t - start).unwrap_or(0.0);
        b.finish(
            decoded.link_type.clone(),
            start,
            end,
            decoded.warnings.clone(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_not_a_pcap() {
        assert!(matches!(analyze(b"hello"), Err(Error::NotPcap(_))));
        assert!(matches!(
            analyze(&[0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 0]),
            Err(Error::NotPcap(_))
        ));
    }
}
