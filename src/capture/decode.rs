//! Reading a pcap file into decoded packets: the only place that knows the
//! pcap format (`pcap-file`) and the wire headers (`etherparse`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::{ArpOperation, LinkSlice, NetSlice, SlicedPacket, TransportSlice};
use pcap_file::pcap::PcapParser;
use pcap_file::{DataLink, PcapError};

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
        payload: Vec<u8>,
    },
    Udp {
        src: IpAddr,
        dst: IpAddr,
        sport: u16,
        dport: u16,
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

/// Reads every frame of a classic pcap file (what `tcpdump -w` writes).
pub(super) fn read(bytes: &[u8]) -> Result<Decoded, Error> {
    if bytes.len() >= 4 && bytes[..4] == [0x0a, 0x0d, 0x0d, 0x0a] {
        return Err(Error::NotPcap(
            "it is pcapng; labctl reads the classic pcap format `tcpdump -w` writes".into(),
        ));
    }
    let (mut rest, parser) = PcapParser::new(bytes).map_err(|e| Error::NotPcap(pcap_reason(&e)))?;
    let datalink = parser.header().datalink;
    let (link_type, link) = match datalink {
        DataLink::ETHERNET => ("ethernet", Link::Ethernet),
        DataLink::LINUX_SLL => ("linux-sll", Link::LinuxSll),
        DataLink::RAW | DataLink::IPV4 | DataLink::IPV6 => ("raw-ip", Link::Ip),
        other => return Err(Error::LinkType(format!("{other:?}"))),
    };
    let mut packets = Vec::new();
    let mut warnings = Vec::new();
    while !rest.is_empty() {
        match parser.next_packet(rest) {
            Ok((next, pkt)) => {
                rest = next;
                let number = packets.len() + 1;
                let body = decode(link, &pkt.data).unwrap_or_else(|why| {
                    warnings.push(format!("frame {number}: {why}"));
                    Body::Other {
                        src: None,
                        dst: None,
                        what: "undecodable frame".into(),
                    }
                });
                packets.push(Packet {
                    ts: pkt.timestamp.as_secs_f64(),
                    body,
                });
            }
            Err(PcapError::IncompleteBuffer) => {
                warnings.push(format!(
                    "the file ends inside frame {} ({} bytes left); the frames before it are analysed",
                    packets.len() + 1,
                    rest.len()
                ));
                break;
            }
            Err(e) => {
                warnings.push(format!(
                    "frame {}: {}; the frames before it are analysed",
                    packets.len() + 1,
                    pcap_reason(&e)
                ));
                break;
            }
        }
    }
    Ok(Decoded {
        link_type: link_type.to_string(),
        packets,
        warnings,
    })
}

#[derive(Clone, Copy)]
enum Link {
    Ethernet,
    LinuxSll,
    Ip,
}

fn pcap_reason(e: &PcapError) -> String {
    match e {
        PcapError::IncompleteBuffer => "the file is shorter than a pcap header".to_string(),
        other => other.to_string().to_lowercase(),
    }
}

fn decode(link: Link, data: &[u8]) -> Result<Body, String> {
    let sliced = match link {
        Link::Ethernet => SlicedPacket::from_ethernet(data),
        Link::LinuxSll => SlicedPacket::from_linux_sll(data),
        Link::Ip => SlicedPacket::from_ip(data),
    }
    .map_err(|e| e.to_string().to_lowercase())?;

    let (src, dst) = match &sliced.net {
        Some(NetSlice::Ipv4(ip)) => (
            IpAddr::V4(ip.header().source_addr()),
            IpAddr::V4(ip.header().destination_addr()),
        ),
        Some(NetSlice::Ipv6(ip)) => (
            IpAddr::V6(ip.header().source_addr()),
            IpAddr::V6(ip.header().destination_addr()),
        ),
        Some(NetSlice::Arp(arp)) => {
            return Ok(Body::Arp {
                request: arp.operation() == ArpOperation::REQUEST,
                sender: ipv4(arp.sender_protocol_addr()),
                target: ipv4(arp.target_protocol_addr()),
                sender_hw: mac(arp.sender_hw_addr()),
            })
        }
        None => {
            let what = match &sliced.link {
                Some(LinkSlice::Ethernet2(e)) => format!("ethertype 0x{:04x}", e.ether_type().0),
                _ => "non-IP frame".to_string(),
            };
            return Ok(Body::Other {
                src: None,
                dst: None,
                what,
            });
        }
    };

    Ok(match &sliced.transport {
        Some(TransportSlice::Tcp(t)) => Body::Tcp {
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
            payload: t.payload().to_vec(),
        },
        Some(TransportSlice::Udp(u)) => Body::Udp {
            src,
            dst,
            sport: u.source_port(),
            dport: u.destination_port(),
            payload: u.payload().to_vec(),
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
            let proto = match &sliced.net {
                Some(NetSlice::Ipv4(ip)) => ip.payload().ip_number.0,
                Some(NetSlice::Ipv6(ip)) => ip.payload().ip_number.0,
                _ => 0,
            };
            Body::Other {
                src: Some(src),
                dst: Some(dst),
                what: format!("IP protocol {proto}"),
            }
        }
    })
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
