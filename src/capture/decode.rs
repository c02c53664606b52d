//! Decoding captured frames: the only place that knows the link layers and
//! the wire headers (`etherparse`, lax, so a frame cut by the snapshot
//! length still gives its headers and its lengths on the wire). The file
//! formats are `read.rs`'s.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::{ArpOperation, LaxNetSlice, LaxSlicedPacket, LinkSlice, TransportSlice};

use super::read::{link_name, ReadError, Reader};
use super::Error;

/// The pcap file's frames, decoded, with what could not be read.
pub(super) struct Decoded {
    pub link_type: String,
    pub packets: Vec<Packet>,
    pub warnings: Vec<String>,
}

/// One captured frame: absolute time (seconds since the epoch) and what it carries.
pub(super) struct Packet {
    pub ts: f64,
    pub body: Body,
}

/// What a frame carries, as far as the analysis cares.
pub(super) enum Body {
    Tcp {
        src: IpAddr,
        dst: IpAddr,
        sport: u16,
        dport: u16,
        flags: TcpFlags,
        seq: u32,
        ack_no: u32,
        /// Payload bytes on the wire (more than `payload` holds when the
        /// snapshot length cut the frame).
        len: usize,
        /// The payload's first bytes (at most [`PAYLOAD_KEPT`]).
        payload: Vec<u8>,
    },
    Udp {
        src: IpAddr,
        dst: IpAddr,
        sport: u16,
        dport: u16,
        len: usize,
        payload: Vec<u8>,
    },
    Icmp {
        src: IpAddr,
        dst: IpAddr,
        v6: bool,
        ty: u8,
        code: u8,
        quoted: Option<Quoted>,
        /// An echo request's or reply's identifier and sequence number.
        echo: Option<(u16, u16)>,
    },
    Arp {
        request: bool,
        sender: Option<Ipv4Addr>,
        target: Option<Ipv4Addr>,
        /// The sender's hardware address (what a reply tells), `aa:bb:…`.
        sender_hw: Option<String>,
    },
    Other {
        src: Option<IpAddr>,
        dst: Option<IpAddr>,
        what: String,
    },
}

#[derive(Debug, Clone, Copy, Default)]
pub(super) struct TcpFlags {
    pub syn: bool,
    pub ack: bool,
    pub fin: bool,
    pub rst: bool,
    pub psh: bool,
    pub urg: bool,
}

/// The start of the datagram an ICMP error quotes (its IP header and 8 bytes).
#[derive(Debug, Clone)]
pub(super) struct Quoted {
    /// IP protocol number of the quoted datagram (6 TCP, 17 UDP).
    pub proto: u8,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub ports: Option<(u16, u16)>,
    /// A quoted ICMP message (protocol 1): its type and code, and an
    /// echo's identifier and sequence number.
    pub icmp: Option<QuotedIcmpHeader>,
}

/// A quoted ICMP header: type, code, and an echo's identifier and sequence.
pub(super) type QuotedIcmpHeader = (u8, u8, Option<(u16, u16)>);

/// Reads every frame of a capture file (classic pcap or pcapng, any
/// interface whose link type labctl decodes), held in memory: what the run
/// reports read. Students' captures are streamed instead ([`Link`], [`decode`]).
pub(super) fn read(bytes: &[u8]) -> Result<Decoded, Error> {
    let mut reader = Reader::with_buffer(bytes, bytes.len()).map_err(|e| match e {
        ReadError::NotCapture(why) => Error::NotPcap(why),
        other => Error::NotPcap(other.to_string()),
    })?;
    let mut packets = Vec::new();
    let mut warnings = Vec::new();
    let mut link_type: Option<String> = None;
    loop {
        let frame = match reader.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                warnings.push(match e {
                    ReadError::Damaged { why, .. } => {
                        format!("{why}; the frames before it are analysed")
                    }
                    other => other.to_string(),
                });
                break;
            }
        };
        let (number, ts) = (frame.number, frame.ts);
        let link = frame.link;
        let body = match Link::of(link) {
            Some(l) => {
                link_type.get_or_insert_with(|| l.name().to_string());
                decode(l, frame.data)
            }
            None => Err(format!("{} is not decoded", link_name(link))),
        };
        let body = body.unwrap_or_else(|why| {
            warnings.push(format!("frame {number}: {why}"));
            Body::Other {
                src: None,
                dst: None,
                what: "undecodable frame".into(),
            }
        });
        packets.push(Packet { ts, body });
    }
    let link_type = match link_type {
        Some(l) => l,
        None => match reader.interfaces().first() {
            Some(i) if Link::of(i.link).is_none() => {
                return Err(Error::LinkType(link_name(i.link)))
            }
            Some(i) => Link::of(i.link).map(|l| l.name()).unwrap_or("").to_string(),
            None => "ethernet".to_string(),
        },
    };
    Ok(Decoded {
        link_type,
        packets,
        warnings,
    })
}

/// The link layers labctl decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Link {
    /// Ethernet II, with or without VLAN tags (a lab interface).
    Ethernet,
    /// Linux cooked v1 (`tcpdump -i any` before libpcap 1.10, `dumpcap -i any`).
    LinuxSll,
    /// Linux cooked v2 (`tcpdump -i any` with libpcap 1.10).
    LinuxSll2,
    /// Raw IPv4 or IPv6.
    Ip,
    /// BSD loopback: a 4-byte address family in the writer's byte order (0),
    /// or in network order (108).
    Null,
    Loop,
}

impl Link {
    /// The link of a LINKTYPE_ number, when labctl decodes it.
    pub(super) fn of(link: u32) -> Option<Link> {
        Some(match link {
            1 => Link::Ethernet,
            113 => Link::LinuxSll,
            276 => Link::LinuxSll2,
            101 | 228 | 229 => Link::Ip,
            0 => Link::Null,
            108 => Link::Loop,
            _ => return None,
        })
    }

    /// As [`CaptureAnalysis::link_type`](super::CaptureAnalysis) names it.
    pub(super) fn name(self) -> &'static str {
        match self {
            Link::Ethernet => "ethernet",
            Link::LinuxSll => "linux-sll",
            Link::LinuxSll2 => "linux-sll2",
            Link::Ip => "raw-ip",
            Link::Null | Link::Loop => "loopback",
        }
    }
}

/// Payload bytes kept per frame: enough for the labels and for telling a
/// reply that echoes its request.
pub(super) const PAYLOAD_KEPT: usize = 256;

/// Decodes one frame. When the snapshot length cut it, the payload's
/// length on the wire comes from the IP header.
pub(super) fn decode(link: Link, data: &[u8]) -> Result<Body, String> {
    let sliced = match link {
        Link::Ethernet => LaxSlicedPacket::from_ethernet(data).map_err(|e| e.to_string()),
        Link::LinuxSll => cooked(data, 16, 14),
        Link::LinuxSll2 => cooked(data, 20, 0),
        Link::Ip => LaxSlicedPacket::from_ip(data).map_err(|e| e.to_string()),
        Link::Null | Link::Loop => {
            let Some(fam) = data.get(..4) else {
                return Err("a loopback frame shorter than its header".into());
            };
            let fam = [fam[0], fam[1], fam[2], fam[3]];
            // NULL is in the writer's byte order: a small number either way.
            let family = if link == Link::Loop || (fam[0] == 0 && fam[1] == 0) {
                u32::from_be_bytes(fam)
            } else {
                u32::from_le_bytes(fam)
            };
            match family {
                2 | 24 | 28 | 30 => LaxSlicedPacket::from_ip(&data[4..]).map_err(|e| e.to_string()),
                other => {
                    return Ok(Body::Other {
                        src: None,
                        dst: None,
                        what: format!("loopback family {other}"),
                    })
                }
            }
        }
    }
    .map_err(|e| e.to_lowercase())?;

    let (src, dst, ip_payload) = match &sliced.net {
        Some(LaxNetSlice::Ipv4(ip)) => {
            let h = ip.header();
            let wire = usize::from(h.total_len()).checked_sub(usize::from(h.ihl()) * 4);
            (
                IpAddr::V4(h.source_addr()),
                IpAddr::V4(h.destination_addr()),
                wire_len(ip.payload(), wire),
            )
        }
        Some(LaxNetSlice::Ipv6(ip)) => {
            let h = ip.header();
            let ext = ip.extensions().slice().len();
            let wire = usize::from(h.payload_length()).checked_sub(ext);
            (
                IpAddr::V6(h.source_addr()),
                IpAddr::V6(h.destination_addr()),
                wire_len(ip.payload(), wire),
            )
        }
        Some(LaxNetSlice::Arp(arp)) => {
            return Ok(Body::Arp {
                request: arp.operation() == ArpOperation::REQUEST,
                sender: ipv4(arp.sender_protocol_addr()),
                target: ipv4(arp.target_protocol_addr()),
                sender_hw: mac(arp.sender_hw_addr()),
            })
        }
        None => {
            let what = match (&sliced.link, sliced.link_exts.last()) {
                (_, Some(etherparse::LaxLinkExtSlice::Vlan(v))) => {
                    format!("ethertype 0x{:04x}", v.ether_type().0)
                }
                (Some(LinkSlice::Ethernet2(e)), _) => {
                    format!("ethertype 0x{:04x}", e.ether_type().0)
                }
                (Some(LinkSlice::EtherPayload(p)), _) => {
                    format!("ethertype 0x{:04x}", p.ether_type.0)
                }
                _ => "non-IP frame".to_string(),
            };
            return Ok(Body::Other {
                src: None,
                dst: None,
                what,
            });
        }
    };

    let kept = |p: &[u8]| p[..p.len().min(PAYLOAD_KEPT)].to_vec();
    Ok(match &sliced.transport {
        Some(TransportSlice::Tcp(t)) => {
            let header = t.slice().len() - t.payload().len();
            Body::Tcp {
                src,
                dst,
                sport: t.source_port(),
                dport: t.destination_port(),
                flags: TcpFlags {
                    syn: t.syn(),
                    ack: t.ack(),
                    fin: t.fin(),
                    rst: t.rst(),
                    psh: t.psh(),
                    urg: t.urg(),
                },
                seq: t.sequence_number(),
                ack_no: t.acknowledgment_number(),
                len: ip_payload
                    .and_then(|w| w.checked_sub(header))
                    .unwrap_or(t.payload().len())
                    .max(t.payload().len()),
                payload: kept(t.payload()),
            }
        }
        Some(TransportSlice::Udp(u)) => Body::Udp {
            src,
            dst,
            sport: u.source_port(),
            dport: u.destination_port(),
            len: usize::from(u.length())
                .checked_sub(8)
                .unwrap_or(u.payload().len())
                .max(u.payload().len()),
            payload: kept(u.payload()),
        },
        Some(TransportSlice::Icmpv4(i)) => Body::Icmp {
            src,
            dst,
            v6: false,
            ty: i.type_u8(),
            code: i.code_u8(),
            quoted: if matches!(i.type_u8(), 3 | 11 | 12) {
                quoted(i.payload())
            } else {
                None
            },
            echo: matches!(i.type_u8(), 0 | 8).then(|| echo_fields(i.bytes5to8())),
        },
        Some(TransportSlice::Icmpv6(i)) => Body::Icmp {
            src,
            dst,
            v6: true,
            ty: i.type_u8(),
            code: i.code_u8(),
            quoted: if i.type_u8() < 128 {
                quoted(i.payload())
            } else {
                None
            },
            echo: matches!(i.type_u8(), 128 | 129).then(|| echo_fields(i.bytes5to8())),
        },
        Some(TransportSlice::Igmp(_)) => Body::Other {
            src: Some(src),
            dst: Some(dst),
            what: "IGMP".into(),
        },
        None => {
            let (proto, captured) = match &sliced.net {
                Some(LaxNetSlice::Ipv4(ip)) => (ip.payload().ip_number.0, ip.payload().payload),
                Some(LaxNetSlice::Ipv6(ip)) => (ip.payload().ip_number.0, ip.payload().payload),
                _ => (0, &[][..]),
            };
            // A TCP header whose options the snapshot length cut: its
            // fixed 20 bytes still tell the ports, numbers and flags.
            if let (6, Some(t)) = (proto, captured.get(..20)) {
                let header = usize::from(t[12] >> 4) * 4;
                let f = t[13];
                return Ok(Body::Tcp {
                    src,
                    dst,
                    sport: u16::from_be_bytes([t[0], t[1]]),
                    dport: u16::from_be_bytes([t[2], t[3]]),
                    flags: TcpFlags {
                        fin: f & 0x01 != 0,
                        syn: f & 0x02 != 0,
                        rst: f & 0x04 != 0,
                        psh: f & 0x08 != 0,
                        ack: f & 0x10 != 0,
                        urg: f & 0x20 != 0,
                    },
                    seq: u32::from_be_bytes([t[4], t[5], t[6], t[7]]),
                    ack_no: u32::from_be_bytes([t[8], t[9], t[10], t[11]]),
                    len: ip_payload
                        .and_then(|w| w.checked_sub(header.max(20)))
                        .unwrap_or(0),
                    payload: Vec::new(),
                });
            }
            let what = match (proto, &sliced.stop_err) {
                (6 | 17, Some(_)) => format!(
                    "{} (its header cut by the snapshot length)",
                    if proto == 6 { "TCP" } else { "UDP" }
                ),
                _ => format!("IP protocol {proto}"),
            };
            Body::Other {
                src: Some(src),
                dst: Some(dst),
                what,
            }
        }
    })
}

/// The IP payload's length on the wire: the header's own when the
/// capture cut the packet, else what was captured.
fn wire_len(p: &etherparse::LaxIpPayloadSlice, header: Option<usize>) -> Option<usize> {
    if p.incomplete {
        header.filter(|&w| w >= p.payload.len())
    } else {
        Some(p.payload.len())
    }
}

/// A Linux cooked header (`len` bytes, the protocol at `proto`), then what it carries.
fn cooked(data: &[u8], len: usize, proto: usize) -> Result<LaxSlicedPacket<'_>, String> {
    let (Some(p), Some(rest)) = (data.get(proto..proto + 2), data.get(len..)) else {
        return Err("a Linux cooked frame shorter than its header".into());
    };
    let ether_type = u16::from_be_bytes([p[0], p[1]]);
    Ok(LaxSlicedPacket::from_ether_type(
        etherparse::EtherType(ether_type),
        rest,
    ))
}

fn ipv4(b: &[u8]) -> Option<Ipv4Addr> {
    <[u8; 4]>::try_from(b).ok().map(Ipv4Addr::from)
}

/// `aa:bb:cc:dd:ee:ff`, for a 6-byte hardware address.
fn mac(b: &[u8]) -> Option<String> {
    (b.len() == 6).then(|| {
        b.iter()
            .map(|x| format!("{x:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    })
}

/// An echo's identifier and sequence number (bytes 5 to 8 of its header).
fn echo_fields(b: [u8; 4]) -> (u16, u16) {
    (
        u16::from_be_bytes([b[0], b[1]]),
        u16::from_be_bytes([b[2], b[3]]),
    )
}

/// The quoted datagram of an ICMP error: an IPv4 or IPv6 header and the first
/// 8 bytes of its payload (enough for the ports).
fn quoted(p: &[u8]) -> Option<Quoted> {
    let version = p.first()? >> 4;
    let (proto, src, dst, hlen) = match version {
        4 if p.len() >= 20 => {
            let ihl = usize::from(p[0] & 0x0f) * 4;
            (
                p[9],
                IpAddr::V4(Ipv4Addr::new(p[12], p[13], p[14], p[15])),
                IpAddr::V4(Ipv4Addr::new(p[16], p[17], p[18], p[19])),
                ihl,
            )
        }
        6 if p.len() >= 40 => {
            let a: [u8; 16] = p[8..24].try_into().ok()?;
            let b: [u8; 16] = p[24..40].try_into().ok()?;
            (
                p[6],
                IpAddr::V6(Ipv6Addr::from(a)),
                IpAddr::V6(Ipv6Addr::from(b)),
                40,
            )
        }
        _ => return None,
    };
    let ports = match (proto, p.get(hlen..hlen + 4)) {
        (6 | 17, Some(t)) => Some((
            u16::from_be_bytes([t[0], t[1]]),
            u16::from_be_bytes([t[2], t[3]]),
        )),
        _ => None,
    };
    // A quoted ICMPv4 message: its type, code and (echo) identifier and sequence.
    let icmp = match (proto, p.get(hlen..hlen + 8)) {
        (1, Some(t)) => Some((
            t[0],
            t[1],
            matches!(t[0], 0 | 8).then(|| echo_fields([t[4], t[5], t[6], t[7]])),
        )),
        _ => None,
    };
    Some(Quoted {
        proto,
        src,
        dst,
        ports,
        icmp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    const A: [u8; 4] = [10, 0, 3, 1];
    const B: [u8; 4] = [10, 0, 3, 2];

    fn ip_tcp(data: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        PacketBuilder::ipv4(B, A, 64)
            .tcp(41000, 50000, 7, 1000)
            .psh()
            .ack(9)
            .write(&mut v, data)
            .unwrap();
        v
    }

    fn tcp_of(b: Body) -> (u16, u16, usize, Vec<u8>) {
        match b {
            Body::Tcp {
                sport,
                dport,
                len,
                payload,
                ..
            } => (sport, dport, len, payload),
            _ => panic!("not TCP"),
        }
    }

    #[test]
    fn every_link_layer_gives_the_same_segment() {
        let ip = ip_tcp(b"hello");
        let mac = [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
        let mut eth = mac.to_vec();
        eth.extend([0x08, 0x00]);
        eth.extend(&ip);
        let mut vlan = mac.to_vec();
        vlan.extend([0x81, 0x00, 0x00, 0x0a, 0x08, 0x00]);
        vlan.extend(&ip);
        let mut qinq = mac.to_vec();
        qinq.extend([0x88, 0xa8, 0x00, 0x0b, 0x81, 0x00, 0x00, 0x0a, 0x08, 0x00]);
        qinq.extend(&ip);
        let mut sll = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 2, 0, 0, 0x08, 0x00];
        sll.extend(&ip);
        let mut sll2 = vec![
            0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 4, 6, 2, 0, 0, 0, 0, 2, 0, 0,
        ];
        sll2.extend(&ip);
        let mut null = 2u32.to_le_bytes().to_vec();
        null.extend(&ip);
        let mut lo = 2u32.to_be_bytes().to_vec();
        lo.extend(&ip);
        for (name, link, frame) in [
            ("ethernet", Link::Ethernet, eth),
            ("vlan", Link::Ethernet, vlan),
            ("q-in-q", Link::Ethernet, qinq),
            ("sll", Link::LinuxSll, sll),
            ("sll2", Link::LinuxSll2, sll2),
            ("raw", Link::Ip, ip.clone()),
            ("null", Link::Null, null),
            ("loop", Link::Loop, lo),
        ] {
            let got = tcp_of(decode(link, &frame).unwrap_or_else(|e| panic!("{name}: {e}")));
            assert_eq!(got, (41000, 50000, 5, b"hello".to_vec()), "{name}");
        }
    }

    #[test]
    fn a_frame_cut_by_the_snapshot_length_keeps_its_lengths() {
        let ip = ip_tcp(b"hello from B, a longer line");
        // 2 bytes of payload captured.
        let got = tcp_of(decode(Link::Ip, &ip[..42]).unwrap());
        assert_eq!(got, (41000, 50000, 27, b"he".to_vec()));
        // A header whose options are cut: the fixed 20 bytes still read.
        let mut syn = Vec::new();
        let mut h = etherparse::TcpHeader::new(41000, 50000, 7, 1000);
        h.syn = true;
        h.set_options(&[etherparse::TcpOptionElement::MaximumSegmentSize(1460)])
            .unwrap();
        PacketBuilder::ipv4(B, A, 64)
            .tcp_header(h)
            .write(&mut syn, &[])
            .unwrap();
        match decode(Link::Ip, &syn[..20 + 22]).unwrap() {
            Body::Tcp { flags, len, .. } => assert!(flags.syn && !flags.ack && len == 0),
            _ => panic!("a cut SYN is still TCP"),
        }
        // UDP: the length from its header.
        let mut udp = Vec::new();
        PacketBuilder::ipv4(B, A, 64)
            .udp(40000, 50000)
            .write(&mut udp, b"hello from B")
            .unwrap();
        match decode(Link::Ip, &udp[..30]).unwrap() {
            Body::Udp { len, payload, .. } => {
                assert_eq!((len, payload.as_slice()), (12, &b"he"[..]))
            }
            _ => panic!("UDP"),
        }
    }
}
