//! pcapng copies of the captures: the same frames, in the same order (so
//! Wireshark's frame numbers are the pcap's), with the lab's story written
//! into them — a section comment naming the lab, run, bench, host,
//! interface, filter and steps, and a comment on each frame a lab action
//! caused (`I.8: client-B sends "hello"`), which Wireshark shows in its
//! packet list and tshark as `frame.comment`.
//!
//! tcpdump writes classic pcap (what [`super::analyze`] reads); the handout
//! asks for pcapng, and only pcapng carries comments. The writer is
//! pcap-file's: its enhanced packet blocks carry nanosecond timestamps, so
//! the interface says so (`if_tsresol` = 9), or readers would take them for
//! microseconds.

use std::borrow::Cow;

use pcap_file::pcap::PcapParser;
use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::blocks::section_header::{SectionHeaderBlock, SectionHeaderOption};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::Endianness;

use super::Error;

/// What a pcapng copy says besides its frames.
#[derive(Debug, Clone, Default)]
pub(crate) struct Story {
    /// The section comment: lab, run, bench, host, interface, filter, steps.
    pub section: String,
    /// The capture's interface (`eth0`), when known.
    pub interface: Option<String>,
    /// The capture filter as tcpdump was given it, when known.
    pub filter: Option<String>,
    /// Per frame, in capture order (index 0 is frame 1): its comment.
    pub comments: Vec<Option<String>>,
}

/// The pcapng copy of the classic pcap `pcap`, with `story`'s comments.
pub(crate) fn from_pcap(pcap: &[u8], story: &Story) -> Result<Vec<u8>, Error> {
    let bad = |e: pcap_file::PcapError| Error::NotPcap(e.to_string());
    // The parser reads the bytes in place (pcap-file's `PcapReader` would
    // put an 8 MB buffer in front of them, for every copy the reports make).
    let (mut rest, parser) = PcapParser::new(pcap).map_err(bad)?;
    let header = parser.header();

    let mut section = SectionHeaderBlock {
        endianness: Endianness::native(),
        ..Default::default()
    };
    if !story.section.is_empty() {
        section
            .options
            .push(SectionHeaderOption::Comment(Cow::Owned(
                story.section.clone(),
            )));
    }
    section
        .options
        .push(SectionHeaderOption::UserApplication(Cow::Owned(format!(
            "labctl {}",
            env!("CARGO_PKG_VERSION")
        ))));
    let mut writer = PcapNgWriter::with_section_header(Vec::new(), section).map_err(bad)?;

    let mut options = vec![InterfaceDescriptionOption::IfTsResol(9)];
    if let Some(name) = &story.interface {
        options.push(InterfaceDescriptionOption::IfName(Cow::Owned(name.clone())));
    }
    if let Some(filter) = &story.filter {
        // Type 0: a libpcap filter string.
        let mut bytes = vec![0u8];
        bytes.extend_from_slice(filter.as_bytes());
        options.push(InterfaceDescriptionOption::IfFilter(Cow::Owned(bytes)));
    }
    writer
        .write_pcapng_block(InterfaceDescriptionBlock {
            linktype: header.datalink,
            snaplen: header.snaplen,
            options,
        })
        .map_err(bad)?;

    let mut index = 0;
    while !rest.is_empty() {
        // A truncated last frame ends the copy, as it ends the analysis.
        let Ok((next, packet)) = parser.next_packet(rest) else {
            break;
        };
        rest = next;
        let options = match story.comments.get(index) {
            Some(Some(c)) => vec![EnhancedPacketOption::Comment(Cow::Borrowed(c.as_str()))],
            _ => Vec::new(),
        };
        writer
            .write_pcapng_block(EnhancedPacketBlock {
                interface_id: 0,
                timestamp: packet.timestamp,
                original_len: packet.orig_len,
                data: packet.data,
                options,
            })
            .map_err(bad)?;
        index += 1;
    }
    Ok(writer.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcap_file::pcapng::{Block, PcapNgReader};

    /// A classic pcap of two Ethernet frames (contents do not matter here).
    fn pcap() -> Vec<u8> {
        let mut out = Vec::new();
        // Magic (microseconds), v2.4, tz 0, sigfigs 0, snaplen 262144, Ethernet.
        out.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
        out.extend_from_slice(&2u16.to_le_bytes());
        out.extend_from_slice(&4u16.to_le_bytes());
        out.extend_from_slice(&0i32.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&262144u32.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
        for (sec, usec, len) in [
            (1_700_000_000u32, 250_000u32, 60u32),
            (1_700_000_001, 5, 42),
        ] {
            out.extend_from_slice(&sec.to_le_bytes());
            out.extend_from_slice(&usec.to_le_bytes());
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&len.to_le_bytes());
            out.extend(std::iter::repeat_n(0xabu8, len as usize));
        }
        out
    }

    #[test]
    fn frames_times_and_comments_survive_the_copy() {
        let story = Story {
            section: "lab `x`".into(),
            interface: Some("eth0".into()),
            filter: Some("tcp port 50000".into()),
            comments: vec![Some("I.8: client-B connects".into()), None],
        };
        let bytes = from_pcap(&pcap(), &story).unwrap();
        let mut reader = PcapNgReader::new(&bytes[..]).unwrap();
        assert!(reader
            .section()
            .options
            .iter()
            .any(|o| matches!(o, SectionHeaderOption::Comment(c) if c == "lab `x`")));
        let mut packets = Vec::new();
        while let Some(block) = reader.next_block() {
            match block.unwrap() {
                Block::InterfaceDescription(idb) => {
                    assert!(idb
                        .options
                        .contains(&InterfaceDescriptionOption::IfTsResol(9)));
                }
                Block::EnhancedPacket(epb) => packets.push(epb.into_owned()),
                _ => {}
            }
        }
        assert_eq!(packets.len(), 2);
        assert_eq!(packets[0].timestamp.as_micros(), 1_700_000_000_250_000);
        assert_eq!(packets[1].data.len(), 42);
        assert_eq!(
            packets[0].options,
            vec![EnhancedPacketOption::Comment(
                "I.8: client-B connects".into()
            )]
        );
        assert!(packets[1].options.is_empty());
    }
}
