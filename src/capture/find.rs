//! Finding the lab's services in a capture nobody described: a student's,
//! taken with Wireshark on any interface, with whatever else the machine
//! said in it (ARP, mDNS, SSH, ping), on any port and addresses.
//!
//! The first pass over the file keeps a small summary per conversation
//! (TCP or UDP, by its two socket addresses): who sent the SYN and the
//! SYN-ACK, who spoke first, and how data was answered. The lab's servers
//! answer every line with the same line upper-cased, so a socket whose
//! replies echo their requests upper-cased is a lab server, whatever its
//! port; when the snapshot length kept no payload, a reply of the
//! request's length to a client that spoke first stands in for it. The
//! instructor may name the servers instead (`--server ADDR:PORT`). Every
//! conversation with a lab server is the lab's; everything else is set
//! aside (counted by what it is, not analysed).

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};

use super::decode::Body;
use super::model::Proto;

/// Conversations summed up at most; beyond, frames are counted only.
const MAX_FLOWS: usize = 100_000;
/// Request bytes kept to compare with the reply.
const KEPT: usize = 32;

/// A server the instructor names: an address and port, or a port on any address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerSpec {
    Socket(SocketAddr),
    Port(u16),
}

impl ServerSpec {
    /// `10.0.3.1:50000`, `[fe80::1]:50000` or `50000`.
    pub fn parse(s: &str) -> Result<ServerSpec, String> {
        if let Ok(a) = s.parse::<SocketAddr>() {
            return Ok(ServerSpec::Socket(a));
        }
        if let Ok(p) = s.trim_start_matches(':').parse::<u16>() {
            if p > 0 {
                return Ok(ServerSpec::Port(p));
            }
        }
        Err(format!(
            "`{s}` is not a server's socket address: write ADDR:PORT (`10.0.3.1:50000`, `[fd00::1]:50000`) or a PORT"
        ))
    }

    fn matches(self, a: SocketAddr) -> bool {
        match self {
            ServerSpec::Socket(s) => s == a,
            ServerSpec::Port(p) => a.port() == p,
        }
    }
}

impl std::fmt::Display for ServerSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServerSpec::Socket(a) => write!(f, "{a}"),
            ServerSpec::Port(p) => write!(f, "port {p}"),
        }
    }
}

/// A lab server found in the capture, and why it is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub proto: Proto,
    pub addr: SocketAddr,
    pub why: Evidence,
    /// Its conversations (TCP) or exchanges (UDP) in the capture.
    pub conversations: usize,
}

/// What showed that a socket is a lab server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence {
    /// Named with `--server`.
    Named,
    /// It answered requests with the same bytes upper-cased (this many times).
    Echo(usize),
    /// It answered requests with replies of the same length (payloads not captured).
    SameLength(usize),
}

impl Evidence {
    pub fn describe(self) -> String {
        match self {
            Evidence::Named => "named with --server".into(),
            Evidence::Echo(n) => format!(
                "it answered {n} request{} with the same text upper-cased",
                if n == 1 { "" } else { "s" }
            ),
            Evidence::SameLength(n) => format!(
                "it answered {n} request{} with a reply of the same length (the capture kept no payload)",
                if n == 1 { "" } else { "s" }
            ),
        }
    }
}

#[derive(Default)]
struct Side {
    /// Data segments (TCP) or datagrams (UDP) it sent.
    data: usize,
    /// Replies it sent that echo the other side's request upper-cased.
    echoes: usize,
    /// Replies of the request's length whose payload was not captured.
    same_len: usize,
    syn: bool,
    syn_ack: bool,
}

/// One conversation's summary; sides in the key's order.
struct Flow {
    sides: [Side; 2],
    first_data: Option<usize>,
    /// The last request not yet answered: its side, length and first bytes.
    pending: Option<(usize, usize, u8, [u8; KEPT])>,
}

/// The first pass: every frame offered, the lab's services at the end.
#[derive(Default)]
pub(crate) struct Finder {
    flows: HashMap<(Proto, SocketAddr, SocketAddr), Flow>,
    /// Frames of conversations beyond [`MAX_FLOWS`].
    pub untracked: usize,
}

impl Finder {
    pub(super) fn add(&mut self, body: &Body) {
        let (proto, src, dst, len, payload, flags) = match body {
            Body::Tcp {
                src,
                dst,
                sport,
                dport,
                flags,
                len,
                payload,
                ..
            } => (
                Proto::Tcp,
                SocketAddr::new(*src, *sport),
                SocketAddr::new(*dst, *dport),
                *len,
                payload,
                Some(*flags),
            ),
            Body::Udp {
                src,
                dst,
                sport,
                dport,
                len,
                payload,
            } => (
                Proto::Udp,
                SocketAddr::new(*src, *sport),
                SocketAddr::new(*dst, *dport),
                *len,
                payload,
                None,
            ),
            _ => return,
        };
        if proto == Proto::Udp && !unicast(dst.ip()) {
            return;
        }
        let (a, b) = if src <= dst { (src, dst) } else { (dst, src) };
        let from = usize::from(src != a);
        let key = (proto, a, b);
        if !self.flows.contains_key(&key) && self.flows.len() >= MAX_FLOWS {
            self.untracked += 1;
            return;
        }
        let f = self.flows.entry(key).or_insert_with(|| Flow {
            sides: Default::default(),
            first_data: None,
            pending: None,
        });
        if let Some(fl) = flags {
            if fl.syn && !fl.ack {
                f.sides[from].syn = true;
            }
            if fl.syn && fl.ack {
                f.sides[from].syn_ack = true;
            }
            if fl.syn || fl.rst {
                return;
            }
        }
        if len == 0 {
            return;
        }
        f.sides[from].data += 1;
        f.first_data.get_or_insert(from);
        match f.pending {
            Some((side, rlen, n, bytes)) if side != from => {
                if rlen == len {
                    let n = usize::from(n).min(payload.len());
                    if n > 0 && payload[..n] == bytes[..n].to_ascii_uppercase()[..] {
                        f.sides[from].echoes += 1;
                    } else if n == 0 {
                        f.sides[from].same_len += 1;
                    }
                }
                f.pending = None;
            }
            _ => {
                let mut bytes = [0u8; KEPT];
                let n = payload.len().min(KEPT);
                bytes[..n].copy_from_slice(&payload[..n]);
                f.pending = Some((from, len, n as u8, bytes));
            }
        }
    }

    /// The lab's services: those `named`, else those the traffic shows.
    pub(crate) fn services(&self, named: &[ServerSpec]) -> Vec<Service> {
        let mut found: BTreeMap<(Proto, SocketAddr), Evidence> = BTreeMap::new();
        if !named.is_empty() {
            for &(proto, a, b) in self.flows.keys() {
                if let Some(server) = [a, b]
                    .into_iter()
                    .find(|s| named.iter().any(|n| n.matches(*s)))
                {
                    found.insert((proto, server), Evidence::Named);
                }
            }
        } else {
            // By echo: the side that answered, never the one that spoke first.
            let mut echo: BTreeMap<(Proto, SocketAddr), usize> = BTreeMap::new();
            let mut same: BTreeMap<(Proto, SocketAddr), usize> = BTreeMap::new();
            for (&(proto, a, b), f) in &self.flows {
                for (i, server) in [(0, a), (1, b)] {
                    if f.first_data == Some(i) {
                        continue;
                    }
                    let side = &f.sides[i];
                    if side.echoes > 0 {
                        *echo.entry((proto, server)).or_default() += side.echoes;
                    }
                    if side.same_len > 0 && !noise_port(server.port()) {
                        *same.entry((proto, server)).or_default() += side.same_len;
                    }
                }
            }
            found = if echo.is_empty() {
                same.into_iter()
                    .map(|(k, n)| (k, Evidence::SameLength(n)))
                    .collect()
            } else {
                echo.into_iter()
                    .map(|(k, n)| (k, Evidence::Echo(n)))
                    .collect()
            };
        }
        // Every conversation with a lab server is the lab's, also one that
        // carried no echo (a client that only connected, a capture cut short).
        let mut total: BTreeMap<(Proto, SocketAddr), usize> = BTreeMap::new();
        for &(proto, a, b) in self.flows.keys() {
            for s in [a, b] {
                if found.contains_key(&(proto, s)) {
                    *total.entry((proto, s)).or_default() += 1;
                }
            }
        }
        found
            .into_iter()
            .map(|((proto, addr), why)| Service {
                proto,
                addr,
                why,
                conversations: total.get(&(proto, addr)).copied().unwrap_or(0),
            })
            .collect()
    }
}

/// A unicast destination (not broadcast or multicast).
fn unicast(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v) => !(v.is_broadcast() || v.is_multicast() || v.octets()[3] == 255),
        IpAddr::V6(v) => !v.is_multicast(),
    }
}

/// Ports of the services a machine runs on its own (never the lab's).
fn noise_port(p: u16) -> bool {
    p < 1024 || matches!(p, 1900 | 5353 | 5355 | 3702 | 137 | 138 | 67 | 68 | 123)
}

/// Whether a frame is one of the lab's: a TCP or UDP frame to or from a
/// lab server, or an ICMP error about one.
pub(super) fn is_lab(body: &Body, services: &[Service]) -> bool {
    let hit =
        |proto: Proto, a: SocketAddr| services.iter().any(|s| s.proto == proto && s.addr == a);
    match body {
        Body::Tcp {
            src,
            dst,
            sport,
            dport,
            ..
        } => {
            hit(Proto::Tcp, SocketAddr::new(*src, *sport))
                || hit(Proto::Tcp, SocketAddr::new(*dst, *dport))
        }
        Body::Udp {
            src,
            dst,
            sport,
            dport,
            ..
        } => {
            hit(Proto::Udp, SocketAddr::new(*src, *sport))
                || hit(Proto::Udp, SocketAddr::new(*dst, *dport))
        }
        Body::Icmp {
            quoted: Some(q), ..
        } => {
            let proto = match q.proto {
                6 => Proto::Tcp,
                17 => Proto::Udp,
                _ => return false,
            };
            q.ports.is_some_and(|(sp, dp)| {
                hit(proto, SocketAddr::new(q.src, sp)) || hit(proto, SocketAddr::new(q.dst, dp))
            })
        }
        _ => false,
    }
}

/// What a frame set aside is, for the count of other traffic.
pub(super) fn what(body: &Body) -> &'static str {
    let well_known = |p: u16, q: u16| -> Option<&'static str> {
        Some(match p.min(q) {
            22 => "SSH",
            53 => "DNS",
            67 | 68 => "DHCP",
            123 => "NTP",
            137..=139 => "NetBIOS",
            _ => match (p, q) {
                (5353, _) | (_, 5353) => "mDNS",
                (5355, _) | (_, 5355) => "LLMNR",
                (1900, _) | (_, 1900) => "SSDP",
                (546 | 547, _) | (_, 546 | 547) => "DHCPv6",
                _ => return None,
            },
        })
    };
    match body {
        Body::Tcp { sport, dport, .. } => well_known(*sport, *dport).unwrap_or("other TCP"),
        Body::Udp { sport, dport, .. } => well_known(*sport, *dport).unwrap_or("other UDP"),
        Body::Icmp { v6: false, .. } => "ICMP",
        Body::Icmp { v6: true, ty, .. } if (133..=137).contains(ty) => "IPv6 neighbour discovery",
        Body::Icmp { v6: true, .. } => "ICMPv6",
        Body::Arp { .. } => "ARP",
        Body::Other { what, .. } if what == "IGMP" => "IGMP",
        Body::Other { .. } => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::decode::TcpFlags;

    fn tcp(src: &str, dst: &str, flags: TcpFlags, payload: &[u8]) -> Body {
        let (s, d): (SocketAddr, SocketAddr) = (src.parse().unwrap(), dst.parse().unwrap());
        Body::Tcp {
            src: s.ip(),
            dst: d.ip(),
            sport: s.port(),
            dport: d.port(),
            flags,
            seq: 0,
            ack_no: 0,
            len: payload.len(),
            payload: payload.to_vec(),
        }
    }

    fn udp(src: &str, dst: &str, payload: &[u8]) -> Body {
        let (s, d): (SocketAddr, SocketAddr) = (src.parse().unwrap(), dst.parse().unwrap());
        Body::Udp {
            src: s.ip(),
            dst: d.ip(),
            sport: s.port(),
            dport: d.port(),
            len: payload.len(),
            payload: payload.to_vec(),
        }
    }

    const ACK: TcpFlags = TcpFlags {
        syn: false,
        ack: true,
        fin: false,
        rst: false,
        psh: true,
        urg: false,
    };

    #[test]
    fn an_echoing_server_is_found_on_any_port_and_ssh_is_not() {
        let mut f = Finder::default();
        let (c, s) = ("10.0.3.2:41000", "10.0.3.1:6789");
        f.add(&tcp(c, s, ACK, b"hello"));
        f.add(&tcp(s, c, ACK, b"HELLO"));
        // SSH: the server speaks first, nothing is echoed.
        let (k, ssh) = ("10.0.3.2:50122", "10.0.3.2:22");
        f.add(&tcp(ssh, k, ACK, b"SSH-2.0-OpenSSH_9.2"));
        f.add(&tcp(k, ssh, ACK, b"SSH-2.0-OpenSSH_9.2"));
        // mDNS to a multicast group, and a UDP echo on another port.
        f.add(&udp("10.0.3.2:5353", "224.0.0.251:5353", b"q"));
        f.add(&udp("10.0.3.3:40000", "10.0.3.1:7000", b"hi there"));
        f.add(&udp("10.0.3.1:7000", "10.0.3.3:40000", b"HI THERE"));
        let s = f.services(&[]);
        let got: Vec<(Proto, String)> = s.iter().map(|s| (s.proto, s.addr.to_string())).collect();
        assert_eq!(
            got,
            vec![
                (Proto::Tcp, "10.0.3.1:6789".to_string()),
                (Proto::Udp, "10.0.3.1:7000".to_string())
            ]
        );
        assert_eq!(s[0].why, Evidence::Echo(1));
        // Named: only that one.
        let named = f.services(&[ServerSpec::parse("10.0.3.2:22").unwrap()]);
        assert_eq!(named.len(), 1);
        assert_eq!(named[0].why, Evidence::Named);
    }

    #[test]
    fn without_payloads_the_reply_length_stands_in() {
        let mut f = Finder::default();
        let (c, s) = ("10.0.3.2:41000", "10.0.3.1:50000");
        let mut req = tcp(c, s, ACK, b"");
        let mut rep = tcp(s, c, ACK, b"");
        for b in [&mut req, &mut rep] {
            if let Body::Tcp { len, .. } = b {
                *len = 5;
            }
        }
        f.add(&req);
        f.add(&rep);
        let s = f.services(&[]);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].why, Evidence::SameLength(1));
    }

    #[test]
    fn server_specs_parse() {
        assert!(matches!(
            ServerSpec::parse("10.0.3.1:50000"),
            Ok(ServerSpec::Socket(_))
        ));
        assert!(matches!(
            ServerSpec::parse("[::1]:50000"),
            Ok(ServerSpec::Socket(_))
        ));
        assert_eq!(ServerSpec::parse("50001"), Ok(ServerSpec::Port(50001)));
        assert!(ServerSpec::parse("10.0.3.1")
            .unwrap_err()
            .contains("ADDR:PORT"));
    }
}
