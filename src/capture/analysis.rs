//! From decoded packets to an analysis: each frame classified and labelled,
//! its conversation found (TCP in `tcp`, UDP and ICMP errors in `udp`), its
//! sockets' roles decided; at the end the servers and their sockets.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};

use super::decode::{Body, TcpFlags};
use super::labels::{abbreviate, icmp_label, preview, tcp_flag_label};
use super::model::*;
use super::tcp::TcpTrack;
use super::Options;

/// The analysis as the frames so far make it.
pub(super) struct Builder<'o> {
    pub(super) opts: &'o Options,
    pub(super) counts: KindCounts,
    pub(super) frames: Vec<Frame>,
    pub(super) tcp: Vec<TcpConversation>,
    pub(super) tcp_track: Vec<TcpTrack>,
    pub(super) tcp_by_pair: HashMap<(SocketAddr, SocketAddr), usize>,
    pub(super) udp: Vec<UdpExchange>,
    pub(super) udp_by_pair: HashMap<(SocketAddr, SocketAddr), usize>,
    /// Per (proto, address): index in `sockets`.
    pub(super) socket_index: HashMap<(Proto, SocketAddr), usize>,
    pub(super) sockets: Vec<SocketInfo>,
}

/// A conversation's key: its two sockets in a fixed order.
pub(super) fn pair(a: SocketAddr, b: SocketAddr) -> (SocketAddr, SocketAddr) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

impl<'o> Builder<'o> {
    pub(super) fn new(opts: &'o Options) -> Self {
        Builder {
            opts,
            counts: KindCounts::default(),
            frames: Vec::new(),
            tcp: Vec::new(),
            tcp_track: Vec::new(),
            tcp_by_pair: HashMap::new(),
            udp: Vec::new(),
            udp_by_pair: HashMap::new(),
            socket_index: HashMap::new(),
            sockets: Vec::new(),
        }
    }

    /// Decides the server of a conversation whose first captured frame goes `src` -> `dst`.
    pub(super) fn roles(
        &self,
        src: SocketAddr,
        dst: SocketAddr,
        flags: Option<TcpFlags>,
    ) -> (SocketAddr, SocketAddr, RoleBasis) {
        if let Some(f) = flags {
            if f.syn && !f.ack {
                return (src, dst, RoleBasis::Syn);
            }
            if f.syn && f.ack {
                return (dst, src, RoleBasis::SynAck);
            }
        }
        let lab = |a: SocketAddr| self.opts.server_ports.contains(&a.port());
        match (lab(src), lab(dst)) {
            (true, false) => (dst, src, RoleBasis::LabPort),
            (false, true) => (src, dst, RoleBasis::LabPort),
            _ => (src, dst, RoleBasis::FirstReceiver),
        }
    }

    pub(super) fn socket(&mut self, proto: Proto, a: SocketAddr, role: Role) -> usize {
        if let Some(&i) = self.socket_index.get(&(proto, a)) {
            if role == Role::Server {
                self.sockets[i].role = Role::Server;
            }
            return i;
        }
        let i = self.sockets.len();
        self.sockets.push(SocketInfo {
            proto,
            address: a.to_string(),
            ip: a.ip().to_string(),
            port: a.port(),
            role,
            conversations: 0,
            frames_sent: 0,
            frames_received: 0,
        });
        self.socket_index.insert((proto, a), i);
        i
    }

    pub(super) fn count_frame(&mut self, proto: Proto, src: SocketAddr, dst: SocketAddr) {
        let s = self.socket_index[&(proto, src)];
        self.sockets[s].frames_sent += 1;
        let d = self.socket_index[&(proto, dst)];
        self.sockets[d].frames_received += 1;
    }

    pub(super) fn add(&mut self, number: usize, time: f64, body: &Body) {
        let frame = match body {
            Body::Tcp {
                src,
                dst,
                sport,
                dport,
                flags,
                seq,
                ack_no,
                len,
                payload,
            } => {
                let (s, d) = (SocketAddr::new(*src, *sport), SocketAddr::new(*dst, *dport));
                let conv = self.tcp_frame(number, time, s, d, *flags, *seq, *ack_no, *len);
                let kind = if flags.rst {
                    Kind::Rst
                } else if flags.syn && !flags.ack {
                    Kind::Syn
                } else if flags.syn {
                    Kind::SynAck
                } else if flags.fin {
                    Kind::Fin
                } else if *len > 0 {
                    Kind::Data
                } else if flags.ack {
                    Kind::Ack
                } else {
                    Kind::Other
                };
                let text = (*len > 0).then(|| cut_preview(payload, *len));
                let mut label = tcp_flag_label(*flags);
                if let Some(t) = &text {
                    label = format!("{label} \"{}\"", abbreviate(t, 20));
                }
                Frame {
                    number,
                    time,
                    kind,
                    src: s.to_string(),
                    dst: d.to_string(),
                    proto: "tcp".into(),
                    len: *len,
                    label,
                    text,
                    conversation: Some(conv),
                    quoted: None,
                    ..Frame::default()
                }
            }
            Body::Udp {
                src,
                dst,
                sport,
                dport,
                len,
                payload,
            } => {
                let (s, d) = (SocketAddr::new(*src, *sport), SocketAddr::new(*dst, *dport));
                let conv = self.udp_frame(number, time, s, d, *len);
                let text = cut_preview(payload, *len);
                Frame {
                    number,
                    time,
                    kind: Kind::Udp,
                    src: s.to_string(),
                    dst: d.to_string(),
                    proto: "udp".into(),
                    len: *len,
                    label: format!("UDP \"{}\"", abbreviate(&text, 20)),
                    text: Some(text),
                    conversation: Some(conv),
                    quoted: None,
                    ..Frame::default()
                }
            }
            Body::Icmp {
                src,
                dst,
                v6,
                ty,
                code,
                quoted,
                echo,
            } => {
                let q = quoted.as_ref().and_then(|q| self.icmp_error(q));
                let quoted_icmp = quoted.as_ref().and_then(|q| {
                    let (ty, code, echo) = q.icmp?;
                    Some(QuotedIcmp {
                        src: q.src.to_string(),
                        dst: q.dst.to_string(),
                        icmp: IcmpHeader {
                            ty,
                            code,
                            v6: false,
                            id: echo.map(|e| e.0),
                            seq: echo.map(|e| e.1),
                        },
                    })
                });
                Frame {
                    number,
                    time,
                    kind: Kind::Icmp,
                    src: src.to_string(),
                    dst: dst.to_string(),
                    proto: "icmp".into(),
                    len: 0,
                    label: icmp_label(*v6, *ty, *code),
                    text: None,
                    conversation: None,
                    quoted: q,
                    icmp: Some(IcmpHeader {
                        ty: *ty,
                        code: *code,
                        v6: *v6,
                        id: echo.map(|e| e.0),
                        seq: echo.map(|e| e.1),
                    }),
                    quoted_icmp,
                    ..Frame::default()
                }
            }
            Body::Arp {
                request,
                sender,
                target,
                sender_hw,
            } => {
                let ip =
                    |a: &Option<std::net::Ipv4Addr>| a.map(|a| a.to_string()).unwrap_or_default();
                let (s, t) = (ip(sender), ip(target));
                let label = if *request {
                    format!("ARP who-has {t}")
                } else {
                    format!("ARP {s} is-at")
                };
                Frame {
                    number,
                    time,
                    kind: Kind::Arp,
                    src: s,
                    dst: t,
                    proto: "arp".into(),
                    len: 0,
                    label,
                    text: None,
                    conversation: None,
                    quoted: None,
                    arp: Some(ArpHeader {
                        op: if *request {
                            ArpOp::Request
                        } else {
                            ArpOp::Reply
                        },
                        sender_mac: sender_hw.clone(),
                    }),
                    ..Frame::default()
                }
            }
            Body::Other { src, dst, what } => {
                let ip = |a: &Option<IpAddr>| a.map(|a| a.to_string()).unwrap_or_default();
                Frame {
                    number,
                    time,
                    kind: Kind::Other,
                    src: ip(src),
                    dst: ip(dst),
                    proto: "other".into(),
                    len: 0,
                    label: what.clone(),
                    text: None,
                    conversation: None,
                    quoted: None,
                    ..Frame::default()
                }
            }
        };
        self.counts.add(frame.kind);
        if self.frames.len() < self.opts.max_frames {
            self.frames.push(frame);
        }
    }

    pub(super) fn finish(
        mut self,
        link_type: String,
        start: f64,
        end: f64,
        warnings: Vec<String>,
    ) -> CaptureAnalysis {
        let mut servers: BTreeMap<(Proto, String), ServerSockets> = BTreeMap::new();
        let mut order: Vec<(Proto, String)> = Vec::new();
        let mut entry = |proto: Proto, address: &str| -> (Proto, String) {
            let key = (proto, address.to_string());
            if !servers.contains_key(&key) {
                order.push(key.clone());
                servers.insert(
                    key.clone(),
                    ServerSockets {
                        proto,
                        address: address.to_string(),
                        listening: usize::from(proto == Proto::Tcp),
                        connected: 0,
                        sockets: usize::from(proto == Proto::Udp),
                        clients: Vec::new(),
                        max_concurrent: 0,
                    },
                );
            }
            key
        };
        let mut intervals: HashMap<(Proto, String), Vec<(f64, f64)>> = HashMap::new();
        let mut keys = Vec::new();
        for c in &self.tcp {
            keys.push((entry(Proto::Tcp, &c.server), c));
        }
        let udp_keys: Vec<_> = self
            .udp
            .iter()
            .map(|u| (entry(Proto::Udp, &u.server), u))
            .collect();
        for (key, c) in keys {
            let s = servers.get_mut(&key).expect("entry made above");
            if let Some(interval) = c.connected_interval(end) {
                s.connected += 1;
                intervals.entry(key.clone()).or_default().push(interval);
            }
            if !s.clients.contains(&c.client) {
                s.clients.push(c.client.clone());
            }
        }
        for (key, u) in udp_keys {
            let s = servers.get_mut(&key).expect("entry made above");
            if !s.clients.contains(&u.client) {
                s.clients.push(u.client.clone());
            }
        }
        for (key, s) in servers.iter_mut() {
            if key.0 == Proto::Tcp {
                s.sockets = s.listening + s.connected;
                s.max_concurrent = intervals.get(key).map(|v| max_overlap(v)).unwrap_or(0);
            }
        }
        let servers = order
            .into_iter()
            .filter_map(|k| servers.remove(&k))
            .collect();
        let pairs = super::pairs::pair(&mut self.frames);
        CaptureAnalysis {
            link_type,
            start_unix: start,
            duration_s: end,
            counts: self.counts,
            frames: self.frames,
            tcp: self.tcp,
            udp: self.udp,
            sockets: self.sockets,
            servers,
            warnings,
            arp: pairs.arp,
            echoes: pairs.echoes,
            icmp_errors: pairs.icmp_errors,
        }
    }
}

/// A payload's preview; `…` where the snapshot length cut it.
fn cut_preview(payload: &[u8], len: usize) -> String {
    let mut t = preview(payload, 40);
    if payload.len() < len && !t.ends_with('…') {
        t.push('…');
    }
    t
}

/// The most intervals `(open, close)` open at one instant.
pub(crate) fn max_overlap(intervals: &[(f64, f64)]) -> usize {
    let mut events: Vec<(f64, i32)> = intervals
        .iter()
        .flat_map(|&(a, b)| [(a, 1), (b, -1)])
        .collect();
    // At equal times, an opening counts before a closing: touching intervals overlap.
    events.sort_by(|x, y| x.0.total_cmp(&y.0).then(y.1.cmp(&x.1)));
    let (mut now, mut max) = (0i32, 0i32);
    for (_, d) in events {
        now += d;
        max = max.max(now);
    }
    max as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_counts_simultaneous_connections() {
        assert_eq!(max_overlap(&[(0.0, 1.0), (0.5, 2.0), (1.5, 3.0)]), 2);
        assert_eq!(
            max_overlap(&[(0.0, 5.0), (1.0, 5.0), (2.0, 5.0), (3.0, 5.0)]),
            4
        );
        assert_eq!(max_overlap(&[]), 0);
    }
}
