//! Which frames a lab's question counts: a small filter (protocol,
//! addresses, ports, ARP operation, ICMP type, TCP segment kind) that is at
//! once a predicate on the analysis' frames and a Wireshark display filter
//! that shows exactly those frames, so a student who types the filter sees
//! the frames the answer cites.
//!
//! Both sides follow Wireshark's rules: a field compared with `==` matches
//! when any of its occurrences does, and an ICMP error carries the headers
//! of the packet it quotes, so `ip.src` also matches the quoted source. The
//! filters written here keep that from surprising: `tcp` and `udp` frames
//! are `tcp && !icmp` (not an error quoting one), an echo request is
//! `icmp.type === 8` (every ICMP header of the frame, so not an error
//! quoting one). IPv4 only, as the lab network is.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use serde::{Deserialize, Serialize};

use super::model::{ArpOp, Frame, Kind};

/// The protocol of the frame itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FilterProto {
    Arp,
    Icmp,
    Tcp,
    Udp,
}

/// An ICMP message kind (IPv4 types and codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IcmpKind {
    EchoRequest,
    EchoReply,
    /// Any destination unreachable (type 3).
    Unreachable,
    HostUnreachable,
    PortUnreachable,
    TimeExceeded,
}

/// The kinds a lab file names, by keyword.
pub(crate) const ICMP_KINDS: [(&str, IcmpKind); 6] = [
    ("echo-request", IcmpKind::EchoRequest),
    ("echo-reply", IcmpKind::EchoReply),
    ("unreachable", IcmpKind::Unreachable),
    ("host-unreachable", IcmpKind::HostUnreachable),
    ("port-unreachable", IcmpKind::PortUnreachable),
    ("time-exceeded", IcmpKind::TimeExceeded),
];

/// TCP segment kinds a lab file names, as the analysis classifies them ([`Kind`]).
pub(crate) const TCP_KINDS: [(&str, TcpKindName); 6] = [
    ("syn", TcpKindName::Syn),
    ("syn-ack", TcpKindName::SynAck),
    ("data", TcpKindName::Data),
    ("ack", TcpKindName::Ack),
    ("fin", TcpKindName::Fin),
    ("rst", TcpKindName::Rst),
];

/// A filter: every field given must match (an empty filter matches every frame).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FrameFilter {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proto: Option<FilterProto>,
    /// ARP requests or replies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arp: Option<ArpOpName>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmp: Option<IcmpKind>,
    /// A TCP segment kind (`syn`, `data`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpKindName>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src: Option<Ipv4Addr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dst: Option<Ipv4Addr>,
    /// Either end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<Ipv4Addr>,
    /// Either port (TCP or UDP, with `proto`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sport: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dport: Option<u16>,
}

/// An ARP operation as a filter names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArpOpName {
    Request,
    Reply,
}

/// A TCP segment kind as a filter names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TcpKindName {
    Syn,
    SynAck,
    Data,
    Ack,
    Fin,
    Rst,
}

impl TcpKindName {
    pub fn kind(self) -> Kind {
        match self {
            TcpKindName::Syn => Kind::Syn,
            TcpKindName::SynAck => Kind::SynAck,
            TcpKindName::Data => Kind::Data,
            TcpKindName::Ack => Kind::Ack,
            TcpKindName::Fin => Kind::Fin,
            TcpKindName::Rst => Kind::Rst,
        }
    }
}

/// What Wireshark sees of a frame: each field with all its occurrences
/// (the frame's own headers, then those an ICMP error quotes).
#[derive(Default)]
struct Fields {
    protos: BTreeSet<&'static str>,
    ip_src: Vec<Ipv4Addr>,
    ip_dst: Vec<Ipv4Addr>,
    arp_src: Option<Ipv4Addr>,
    arp_dst: Option<Ipv4Addr>,
    arp_op: Option<ArpOp>,
    /// (protocol, source port, destination port).
    ports: Vec<(&'static str, u16, u16)>,
    icmp_types: Vec<u8>,
    icmp_codes: Vec<u8>,
}

fn v4(s: &str) -> Option<Ipv4Addr> {
    match s.parse::<SocketAddr>() {
        Ok(SocketAddr::V4(a)) => Some(*a.ip()),
        Ok(_) => None,
        Err(_) => match s.parse::<IpAddr>() {
            Ok(IpAddr::V4(a)) => Some(a),
            _ => None,
        },
    }
}

fn port(s: &str) -> Option<u16> {
    s.parse::<SocketAddr>().ok().map(|a| a.port())
}

fn proto_name(p: &str) -> Option<&'static str> {
    Some(match p {
        "tcp" => "tcp",
        "udp" => "udp",
        "icmp" => "icmp",
        "arp" => "arp",
        _ => return None,
    })
}

impl Fields {
    fn of(f: &Frame) -> Fields {
        let mut x = Fields::default();
        let Some(p) = proto_name(&f.proto) else {
            return x;
        };
        x.protos.insert(p);
        if p == "arp" {
            x.arp_src = v4(&f.src);
            x.arp_dst = v4(&f.dst);
            x.arp_op = f.arp.as_ref().map(|a| a.op);
            return x;
        }
        x.ip_src.extend(v4(&f.src));
        x.ip_dst.extend(v4(&f.dst));
        if let (Some(s), Some(d)) = (port(&f.src), port(&f.dst)) {
            x.ports.push((p, s, d));
        }
        if let Some(h) = f.icmp.filter(|h| !h.v6) {
            x.icmp_types.push(h.ty);
            x.icmp_codes.push(h.code);
        }
        if let Some(q) = &f.quoted {
            if let Some(qp) = proto_name(&q.proto) {
                x.protos.insert(qp);
                x.ip_src.extend(v4(&q.src));
                x.ip_dst.extend(v4(&q.dst));
                if let (Some(s), Some(d)) = (port(&q.src), port(&q.dst)) {
                    x.ports.push((qp, s, d));
                }
            }
        }
        if let Some(q) = &f.quoted_icmp {
            x.ip_src.extend(v4(&q.src));
            x.ip_dst.extend(v4(&q.dst));
            x.icmp_types.push(q.icmp.ty);
            x.icmp_codes.push(q.icmp.code);
        }
        x
    }
}

impl FrameFilter {
    /// The protocol the filter is about: given, or implied by a field.
    pub fn protocol(&self) -> Option<FilterProto> {
        self.proto.or(if self.arp.is_some() {
            Some(FilterProto::Arp)
        } else if self.icmp.is_some() {
            Some(FilterProto::Icmp)
        } else if self.tcp.is_some() {
            Some(FilterProto::Tcp)
        } else {
            None
        })
    }

    /// Whether Wireshark's [`Self::display`] filter shows frame `f`.
    pub fn matches(&self, f: &Frame) -> bool {
        let x = Fields::of(f);
        let proto = self.protocol();
        let ok_proto = match proto {
            None => true,
            Some(FilterProto::Arp) => x.protos.contains("arp"),
            Some(FilterProto::Icmp) => x.protos.contains("icmp"),
            // `tcp && !icmp`: the frame's own protocol, not a quoted header.
            Some(FilterProto::Tcp) => x.protos.contains("tcp") && !x.protos.contains("icmp"),
            Some(FilterProto::Udp) => x.protos.contains("udp") && !x.protos.contains("icmp"),
        };
        if !ok_proto {
            return false;
        }
        if let Some(op) = self.arp {
            let want = match op {
                ArpOpName::Request => ArpOp::Request,
                ArpOpName::Reply => ArpOp::Reply,
            };
            if x.arp_op != Some(want) {
                return false;
            }
        }
        if let Some(k) = self.icmp {
            let any_type = |t: u8| x.icmp_types.contains(&t);
            let any_code = |c: u8| x.icmp_codes.contains(&c);
            let all_type = |t: u8| !x.icmp_types.is_empty() && x.icmp_types.iter().all(|&y| y == t);
            let ok = match k {
                IcmpKind::EchoRequest => all_type(8),
                IcmpKind::EchoReply => all_type(0),
                IcmpKind::Unreachable => any_type(3),
                IcmpKind::HostUnreachable => any_type(3) && any_code(1),
                IcmpKind::PortUnreachable => any_type(3) && any_code(3),
                IcmpKind::TimeExceeded => any_type(11),
            };
            if !ok {
                return false;
            }
        }
        if let Some(k) = self.tcp {
            if f.proto != "tcp" || f.kind != k.kind() {
                return false;
            }
        }
        // Addresses: an ARP frame's sender and target, an IP frame's every source and destination.
        let src_ok = |a: Ipv4Addr| x.ip_src.contains(&a) || x.arp_src == Some(a);
        let dst_ok = |a: Ipv4Addr| x.ip_dst.contains(&a) || x.arp_dst == Some(a);
        if self.src.is_some_and(|a| !src_ok(a))
            || self.dst.is_some_and(|a| !dst_ok(a))
            || self.host.is_some_and(|a| !src_ok(a) && !dst_ok(a))
        {
            return false;
        }
        // Ports: of the frame's own TCP or UDP header (`tcp && !icmp` kept quoted ones out).
        let want = match proto {
            Some(FilterProto::Tcp) => "tcp",
            Some(FilterProto::Udp) => "udp",
            _ => return self.port.is_none() && self.sport.is_none() && self.dport.is_none(),
        };
        let ports: Vec<(u16, u16)> = x
            .ports
            .iter()
            .filter(|(p, _, _)| *p == want)
            .map(|(_, s, d)| (*s, *d))
            .collect();
        let any = |t: &dyn Fn(&(u16, u16)) -> bool| ports.iter().any(t);
        !(self
            .port
            .is_some_and(|p| !any(&|(s, d)| *s == p || *d == p))
            || self.sport.is_some_and(|p| !any(&|(s, _)| *s == p))
            || self.dport.is_some_and(|p| !any(&|(_, d)| *d == p)))
    }

    /// The Wireshark display filter that shows the frames [`Self::matches`]
    /// (`arp.opcode == 1 && arp.src.proto_ipv4 == 10.0.3.2`); `frame` for
    /// an empty filter.
    pub fn display(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        let proto = self.protocol();
        match proto {
            Some(FilterProto::Arp) if self.arp.is_none() => parts.push("arp".into()),
            Some(FilterProto::Icmp) if self.icmp.is_none() => parts.push("icmp".into()),
            Some(FilterProto::Tcp) => parts.push("tcp && !icmp".into()),
            Some(FilterProto::Udp) => parts.push("udp && !icmp".into()),
            _ => {}
        }
        if let Some(op) = self.arp {
            parts.push(format!(
                "arp.opcode == {}",
                if op == ArpOpName::Request { 1 } else { 2 }
            ));
        }
        if let Some(k) = self.icmp {
            parts.push(
                match k {
                    IcmpKind::EchoRequest => "icmp.type === 8",
                    IcmpKind::EchoReply => "icmp.type === 0",
                    IcmpKind::Unreachable => "icmp.type == 3",
                    IcmpKind::HostUnreachable => "icmp.type == 3 && icmp.code == 1",
                    IcmpKind::PortUnreachable => "icmp.type == 3 && icmp.code == 3",
                    IcmpKind::TimeExceeded => "icmp.type == 11",
                }
                .into(),
            );
        }
        if let Some(k) = self.tcp {
            parts.push(
                match k {
                    TcpKindName::Syn => "tcp.flags.syn == 1 && tcp.flags.ack == 0 && tcp.flags.reset == 0",
                    TcpKindName::SynAck => "tcp.flags.syn == 1 && tcp.flags.ack == 1 && tcp.flags.reset == 0",
                    TcpKindName::Data => "tcp.len > 0 && tcp.flags.syn == 0 && tcp.flags.fin == 0 && tcp.flags.reset == 0",
                    TcpKindName::Ack => "tcp.len == 0 && tcp.flags.ack == 1 && tcp.flags.syn == 0 && tcp.flags.fin == 0 && tcp.flags.reset == 0",
                    TcpKindName::Fin => "tcp.flags.fin == 1 && tcp.flags.syn == 0 && tcp.flags.reset == 0",
                    TcpKindName::Rst => "tcp.flags.reset == 1",
                }
                .into(),
            );
        }
        let addr = |which: &str, a: Ipv4Addr| -> String {
            match (proto, which) {
                (Some(FilterProto::Arp), "src") => format!("arp.src.proto_ipv4 == {a}"),
                (Some(FilterProto::Arp), "dst") => format!("arp.dst.proto_ipv4 == {a}"),
                (Some(FilterProto::Arp), _) => {
                    format!("(arp.src.proto_ipv4 == {a} || arp.dst.proto_ipv4 == {a})")
                }
                (Some(_), "src") => format!("ip.src == {a}"),
                (Some(_), "dst") => format!("ip.dst == {a}"),
                (Some(_), _) => format!("ip.addr == {a}"),
                (None, "src") => format!("(ip.src == {a} || arp.src.proto_ipv4 == {a})"),
                (None, "dst") => format!("(ip.dst == {a} || arp.dst.proto_ipv4 == {a})"),
                (None, _) => format!(
                    "(ip.addr == {a} || arp.src.proto_ipv4 == {a} || arp.dst.proto_ipv4 == {a})"
                ),
            }
        };
        for (which, a) in [("src", self.src), ("dst", self.dst), ("host", self.host)] {
            if let Some(a) = a {
                parts.push(addr(which, a));
            }
        }
        let p = match proto {
            Some(FilterProto::Udp) => "udp",
            _ => "tcp",
        };
        if let Some(n) = self.port {
            parts.push(format!("{p}.port == {n}"));
        }
        if let Some(n) = self.sport {
            parts.push(format!("{p}.srcport == {n}"));
        }
        if let Some(n) = self.dport {
            parts.push(format!("{p}.dstport == {n}"));
        }
        if parts.is_empty() {
            "frame".into()
        } else {
            parts.join(" && ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::model::{ArpHeader, IcmpHeader, QuotedIcmp};

    fn frame(proto: &str, kind: Kind, src: &str, dst: &str) -> Frame {
        Frame {
            number: 1,
            kind,
            src: src.into(),
            dst: dst.into(),
            proto: proto.into(),
            ..Frame::default()
        }
    }

    #[test]
    fn filters_read_as_wireshark_filters() {
        let f = FrameFilter {
            arp: Some(ArpOpName::Request),
            src: Some(Ipv4Addr::new(10, 0, 3, 2)),
            ..Default::default()
        };
        assert_eq!(
            f.display(),
            "arp.opcode == 1 && arp.src.proto_ipv4 == 10.0.3.2"
        );
        let f = FrameFilter {
            proto: Some(FilterProto::Tcp),
            tcp: Some(TcpKindName::Data),
            dst: Some(Ipv4Addr::new(10, 0, 3, 1)),
            dport: Some(8000),
            ..Default::default()
        };
        assert_eq!(
            f.display(),
            "tcp && !icmp && tcp.len > 0 && tcp.flags.syn == 0 && tcp.flags.fin == 0 && tcp.flags.reset == 0 && ip.dst == 10.0.3.1 && tcp.dstport == 8000"
        );
        assert_eq!(FrameFilter::default().display(), "frame");
    }

    #[test]
    fn an_error_quoting_an_echo_request_is_no_echo_request_but_has_its_addresses() {
        let mut err = frame("icmp", Kind::Icmp, "10.0.3.1", "10.0.3.2");
        err.icmp = Some(IcmpHeader {
            ty: 11,
            ..Default::default()
        });
        err.quoted_icmp = Some(QuotedIcmp {
            src: "10.0.3.2".into(),
            dst: "10.9.9.9".into(),
            icmp: IcmpHeader {
                ty: 8,
                id: Some(1),
                seq: Some(1),
                ..Default::default()
            },
        });
        let echo = FrameFilter {
            icmp: Some(IcmpKind::EchoRequest),
            ..Default::default()
        };
        assert!(!echo.matches(&err));
        let ttl = FrameFilter {
            icmp: Some(IcmpKind::TimeExceeded),
            dst: Some(Ipv4Addr::new(10, 9, 9, 9)),
            ..Default::default()
        };
        assert!(ttl.matches(&err), "`ip.dst` matches the quoted header too");
        let mut arp = frame("arp", Kind::Arp, "10.0.3.2", "10.0.3.1");
        arp.arp = Some(ArpHeader::default());
        let who = FrameFilter {
            host: Some(Ipv4Addr::new(10, 0, 3, 1)),
            ..Default::default()
        };
        assert!(
            who.matches(&arp) && !who.matches(&frame("udp", Kind::Udp, "10.0.3.2:5", "10.0.3.3:6"))
        );
        let udp = FrameFilter {
            proto: Some(FilterProto::Udp),
            port: Some(6),
            ..Default::default()
        };
        assert!(udp.matches(&frame("udp", Kind::Udp, "10.0.3.2:5", "10.0.3.3:6")));
        assert!(!udp.matches(&arp));
    }
}
