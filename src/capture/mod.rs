//! Capture analysis: what a tcpdump capture of a lab step shows, as plain
//! data for the reports — frames by kind, TCP conversations, UDP exchanges,
//! every socket address with its role (server or client), the servers'
//! sockets — and the ladder diagram drawn from it ([`ladder`]).
//!
//! [`analyze`] is a pure function of the pcap bytes; the lab engine fetches
//! the files, the report module reads them.

mod decode;
pub mod ladder;
pub mod pcapng;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};

use serde::Serialize;

use crate::hostops::LAB_PORT;
use decode::{Body, Quoted, TcpFlags};

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
pub struct Options {
    /// Ports that are a server's (default: the lab port, [`LAB_PORT`]): a
    /// socket bound to one is a server's even when its conversation began
    /// before the capture did.
    pub server_ports: Vec<u16>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            server_ports: vec![LAB_PORT],
        }
    }
}

/// Everything one capture shows.
#[derive(Debug, Clone, Serialize)]
pub struct CaptureAnalysis {
    /// `ethernet` (a lab interface), `linux-sll` (`-i any`) or `raw-ip`.
    pub link_type: String,
    /// Time of the first frame, seconds since the Unix epoch (0 when empty).
    pub start_unix: f64,
    /// Seconds from the first frame to the last.
    pub duration_s: f64,
    pub counts: KindCounts,
    /// Every frame, in capture order; `number` is 1-based as in tshark/Wireshark.
    pub frames: Vec<Frame>,
    pub tcp: Vec<TcpConversation>,
    pub udp: Vec<UdpExchange>,
    /// Every unique socket address (per protocol), in order of first appearance.
    pub sockets: Vec<SocketInfo>,
    /// One entry per server address: its sockets and clients.
    pub servers: Vec<ServerSockets>,
    /// What could not be read (a truncated last frame, an undecodable frame).
    pub warnings: Vec<String>,
}

/// The kind of a frame. Exclusive, decided in this order: RST, SYN, SYN-ACK,
/// FIN, data (TCP with payload), pure ACK; then UDP, ICMP, ARP, other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Syn,
    SynAck,
    Ack,
    Data,
    Fin,
    Rst,
    Udp,
    Icmp,
    Arp,
    Other,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Syn => "SYN",
            Kind::SynAck => "SYN-ACK",
            Kind::Ack => "ACK",
            Kind::Data => "data",
            Kind::Fin => "FIN",
            Kind::Rst => "RST",
            Kind::Udp => "UDP",
            Kind::Icmp => "ICMP",
            Kind::Arp => "ARP",
            Kind::Other => "other",
        }
    }
}

/// Frames by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KindCounts {
    pub total: usize,
    pub syn: usize,
    pub syn_ack: usize,
    /// Pure ACKs: no payload, no SYN, FIN or RST.
    pub ack: usize,
    /// TCP segments carrying payload (without SYN, FIN or RST).
    pub data: usize,
    pub fin: usize,
    pub rst: usize,
    pub udp: usize,
    pub icmp: usize,
    pub arp: usize,
    pub other: usize,
}

impl KindCounts {
    fn add(&mut self, k: Kind) {
        self.total += 1;
        *match k {
            Kind::Syn => &mut self.syn,
            Kind::SynAck => &mut self.syn_ack,
            Kind::Ack => &mut self.ack,
            Kind::Data => &mut self.data,
            Kind::Fin => &mut self.fin,
            Kind::Rst => &mut self.rst,
            Kind::Udp => &mut self.udp,
            Kind::Icmp => &mut self.icmp,
            Kind::Arp => &mut self.arp,
            Kind::Other => &mut self.other,
        } += 1;
    }

    /// The count of one kind.
    pub fn get(&self, k: Kind) -> usize {
        match k {
            Kind::Syn => self.syn,
            Kind::SynAck => self.syn_ack,
            Kind::Ack => self.ack,
            Kind::Data => self.data,
            Kind::Fin => self.fin,
            Kind::Rst => self.rst,
            Kind::Udp => self.udp,
            Kind::Icmp => self.icmp,
            Kind::Arp => self.arp,
            Kind::Other => self.other,
        }
    }
}

/// Every kind, in the order the reports list them.
pub const KINDS: [Kind; 10] = [
    Kind::Syn,
    Kind::SynAck,
    Kind::Ack,
    Kind::Data,
    Kind::Fin,
    Kind::Rst,
    Kind::Udp,
    Kind::Icmp,
    Kind::Arp,
    Kind::Other,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "TCP",
            Proto::Udp => "UDP",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Server,
    Client,
}

impl Role {
    pub fn word(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Client => "client",
        }
    }
}

/// What decided which side of a conversation is the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RoleBasis {
    /// The client sent the SYN.
    Syn,
    /// The server sent the SYN-ACK.
    SynAck,
    /// The server's port is a lab port (the handshake was not captured).
    LabPort,
    /// The server received the first frame seen.
    FirstReceiver,
}

/// One captured frame.
#[derive(Debug, Clone, Serialize)]
pub struct Frame {
    pub number: usize,
    /// Seconds since the first frame.
    pub time: f64,
    pub kind: Kind,
    /// Socket address (`IP:PORT`) for TCP/UDP, else the IP address (or empty).
    pub src: String,
    pub dst: String,
    /// `tcp`, `udp`, `icmp`, `arp` or `other`.
    pub proto: String,
    /// Payload bytes (TCP or UDP).
    pub len: usize,
    /// E.g. `SYN`, `PSH-ACK "hello"`, `UDP "hi"`, `ICMP port unreachable`.
    pub label: String,
    /// The payload, abbreviated and escaped, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Index into `tcp` or `udp` (by `proto`) of the frame's conversation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation: Option<usize>,
    /// For ICMP errors: the socket addresses of the datagram they answer
    /// (`src` sent it, `dst` refused it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quoted: Option<QuotedFlow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct QuotedFlow {
    pub proto: String,
    pub src: String,
    pub dst: String,
}

/// How a TCP conversation ended, as far as the capture shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Closed {
    /// Both sides sent FIN.
    Fin,
    /// One side sent FIN, the other not (yet).
    HalfClosed,
    Rst,
    /// Still open when the capture stopped.
    Open,
}

impl Closed {
    pub fn word(self) -> &'static str {
        match self {
            Closed::Fin => "FIN both ways",
            Closed::HalfClosed => "half closed (one FIN)",
            Closed::Rst => "RST",
            Closed::Open => "open",
        }
    }
}

/// One TCP conversation (a 4-tuple; a new one if the tuple is reused after a close).
#[derive(Debug, Clone, Serialize)]
pub struct TcpConversation {
    pub client: String,
    pub server: String,
    pub role_basis: RoleBasis,
    pub frames: usize,
    pub first_frame: usize,
    pub last_frame: usize,
    /// Seconds since the capture's first frame.
    pub start: f64,
    pub end: f64,
    /// SYN, SYN-ACK and the client's ACK were all captured.
    pub handshake: bool,
    /// SYNs sent (more than one: retransmitted, e.g. a full backlog).
    pub syns: usize,
    pub data_to_server: usize,
    pub data_to_client: usize,
    pub bytes_to_server: u64,
    pub bytes_to_client: u64,
    pub closed: Closed,
    /// Who sent the first FIN (or the RST).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_first_by: Option<Role>,
    /// When the client's handshake ACK was seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub established_at: Option<f64>,
    /// When the client first sent data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_request_at: Option<f64>,
    /// Payload bytes of that first data segment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_request_bytes: Option<u64>,
    /// When the server first acknowledged that data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_request_acked_at: Option<f64>,
    /// When the server first sent data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_reply_at: Option<f64>,
    /// When the first FIN or RST was seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closing_at: Option<f64>,
}

impl TcpConversation {
    /// When the server had a connected socket for this conversation (seconds
    /// since the capture's first frame): from the handshake (or the first
    /// frame, when it began before the capture) to its last frame, or to the
    /// capture's end while it is still open. `None` when it never connected
    /// (no handshake completed and no data flowed).
    pub fn connected_interval(&self, capture_end: f64) -> Option<(f64, f64)> {
        if !self.handshake && self.data_to_server + self.data_to_client == 0 {
            return None;
        }
        let until = match self.closed {
            Closed::Open | Closed::HalfClosed => capture_end,
            Closed::Fin | Closed::Rst => self.end,
        };
        Some((self.established_at.unwrap_or(self.start), until))
    }
}

/// The datagrams between one client socket and one server socket.
#[derive(Debug, Clone, Serialize)]
pub struct UdpExchange {
    pub client: String,
    pub server: String,
    pub role_basis: RoleBasis,
    pub first_frame: usize,
    pub start: f64,
    pub end: f64,
    pub datagrams_to_server: usize,
    pub datagrams_to_client: usize,
    pub bytes_to_server: u64,
    pub bytes_to_client: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_request_at: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_reply_at: Option<f64>,
    /// ICMP errors (e.g. port unreachable) answering this client's datagrams.
    pub icmp_errors: usize,
}

/// One unique socket address of one protocol.
#[derive(Debug, Clone, Serialize)]
pub struct SocketInfo {
    pub proto: Proto,
    pub address: String,
    pub ip: String,
    pub port: u16,
    pub role: Role,
    /// Conversations (TCP) or exchanges (UDP) it takes part in.
    pub conversations: usize,
    pub frames_sent: usize,
    pub frames_received: usize,
}

/// A server address and the sockets behind it.
#[derive(Debug, Clone, Serialize)]
pub struct ServerSockets {
    pub proto: Proto,
    pub address: String,
    /// 1 for TCP (the socket `listen` made), 0 for UDP.
    pub listening: usize,
    /// TCP: one per conversation that was established (or carried data);
    /// UDP: 0 (one unconnected socket serves every client).
    pub connected: usize,
    /// Sockets in all: listening + connected (TCP), 1 (UDP).
    pub sockets: usize,
    pub clients: Vec<String>,
    /// The most TCP conversations open at the same time.
    pub max_concurrent: usize,
}

/// Analyses a capture with the default options (the lab port is a server's).
pub fn analyze(pcap: &[u8]) -> Result<CaptureAnalysis, Error> {
    analyze_with(pcap, &Options::default())
}

/// Analyses the bytes of a classic pcap file.
pub fn analyze_with(pcap: &[u8], opts: &Options) -> Result<CaptureAnalysis, Error> {
    let decoded = decode::read(pcap)?;
    let mut b = Builder::new(opts);
    let start = decoded.packets.first().map(|p| p.ts).unwrap_or(0.0);
    for (i, p) in decoded.packets.iter().enumerate() {
        b.add(i + 1, p.ts - start, &p.body);
    }
    let end = decoded.packets.last().map(|p| p.ts - start).unwrap_or(0.0);
    Ok(b.finish(decoded.link_type, start, end, decoded.warnings))
}

/// Per-conversation bookkeeping the output does not show.
struct TcpTrack {
    client: SocketAddr,
    fin_client: bool,
    fin_server: bool,
    syn_ack_seen: bool,
    /// End sequence number of the client's first data segment.
    first_request_end: Option<u32>,
}

struct Builder<'o> {
    opts: &'o Options,
    counts: KindCounts,
    frames: Vec<Frame>,
    tcp: Vec<TcpConversation>,
    tcp_track: Vec<TcpTrack>,
    tcp_by_pair: HashMap<(SocketAddr, SocketAddr), usize>,
    udp: Vec<UdpExchange>,
    udp_by_pair: HashMap<(SocketAddr, SocketAddr), usize>,
    /// Per (proto, address): index in `sockets`.
    socket_index: HashMap<(Proto, SocketAddr), usize>,
    sockets: Vec<SocketInfo>,
}

fn pair(a: SocketAddr, b: SocketAddr) -> (SocketAddr, SocketAddr) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

/// `a` is at or after `b` in sequence space.
fn seq_ge(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) >= 0
}

impl<'o> Builder<'o> {
    fn new(opts: &'o Options) -> Self {
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
    fn roles(
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

    fn socket(&mut self, proto: Proto, a: SocketAddr, role: Role) -> usize {
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

    fn count_frame(&mut self, proto: Proto, src: SocketAddr, dst: SocketAddr) {
        let s = self.socket_index[&(proto, src)];
        self.sockets[s].frames_sent += 1;
        let d = self.socket_index[&(proto, dst)];
        self.sockets[d].frames_received += 1;
    }

    fn add(&mut self, number: usize, time: f64, body: &Body) {
        let frame = match body {
            Body::Tcp {
                src,
                dst,
                sport,
                dport,
                flags,
                seq,
                ack_no,
                payload,
            } => {
                let (s, d) = (SocketAddr::new(*src, *sport), SocketAddr::new(*dst, *dport));
                let conv = self.tcp_frame(number, time, s, d, *flags, *seq, *ack_no, payload.len());
                let kind = if flags.rst {
                    Kind::Rst
                } else if flags.syn && !flags.ack {
                    Kind::Syn
                } else if flags.syn {
                    Kind::SynAck
                } else if flags.fin {
                    Kind::Fin
                } else if !payload.is_empty() {
                    Kind::Data
                } else if flags.ack {
                    Kind::Ack
                } else {
                    Kind::Other
                };
                let text = (!payload.is_empty()).then(|| preview(payload, 40));
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
                    len: payload.len(),
                    label,
                    text,
                    conversation: Some(conv),
                    quoted: None,
                }
            }
            Body::Udp {
                src,
                dst,
                sport,
                dport,
                payload,
            } => {
                let (s, d) = (SocketAddr::new(*src, *sport), SocketAddr::new(*dst, *dport));
                let conv = self.udp_frame(number, time, s, d, payload.len());
                let text = preview(payload, 40);
                Frame {
                    number,
                    time,
                    kind: Kind::Udp,
                    src: s.to_string(),
                    dst: d.to_string(),
                    proto: "udp".into(),
                    len: payload.len(),
                    label: format!("UDP \"{}\"", abbreviate(&text, 20)),
                    text: Some(text),
                    conversation: Some(conv),
                    quoted: None,
                }
            }
            Body::Icmp {
                src,
                dst,
                v6,
                ty,
                code,
                quoted,
            } => {
                let q = quoted.as_ref().and_then(|q| self.icmp_error(q));
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
                }
            }
            Body::Arp {
                request,
                sender,
                target,
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
                }
            }
        };
        self.counts.add(frame.kind);
        self.frames.push(frame);
    }

    #[allow(clippy::too_many_arguments)]
    fn tcp_frame(
        &mut self,
        number: usize,
        time: f64,
        src: SocketAddr,
        dst: SocketAddr,
        f: TcpFlags,
        seq: u32,
        ack_no: u32,
        len: usize,
    ) -> usize {
        let key = pair(src, dst);
        let reuse = self.tcp_by_pair.get(&key).copied().filter(|&i| {
            let t = &self.tcp_track[i];
            let c = &self.tcp[i];
            // A SYN on a closed tuple starts a new conversation.
            !(f.syn && !f.ack && (c.closed == Closed::Rst || (t.fin_client && t.fin_server)))
        });
        let i = match reuse {
            Some(i) => i,
            None => {
                let (client, server, basis) = self.roles(src, dst, Some(f));
                self.socket(Proto::Tcp, server, Role::Server);
                self.socket(Proto::Tcp, client, Role::Client);
                for a in [client, server] {
                    let s = self.socket_index[&(Proto::Tcp, a)];
                    self.sockets[s].conversations += 1;
                }
                let i = self.tcp.len();
                self.tcp.push(TcpConversation {
                    client: client.to_string(),
                    server: server.to_string(),
                    role_basis: basis,
                    frames: 0,
                    first_frame: number,
                    last_frame: number,
                    start: time,
                    end: time,
                    handshake: false,
                    syns: 0,
                    data_to_server: 0,
                    data_to_client: 0,
                    bytes_to_server: 0,
                    bytes_to_client: 0,
                    closed: Closed::Open,
                    closed_first_by: None,
                    established_at: None,
                    first_request_at: None,
                    first_request_bytes: None,
                    first_request_acked_at: None,
                    first_reply_at: None,
                    closing_at: None,
                });
                self.tcp_track.push(TcpTrack {
                    client,
                    fin_client: false,
                    fin_server: false,
                    syn_ack_seen: false,
                    first_request_end: None,
                });
                self.tcp_by_pair.insert(key, i);
                i
            }
        };
        self.count_frame(Proto::Tcp, src, dst);
        let (c, t) = (&mut self.tcp[i], &mut self.tcp_track[i]);
        let from_client = src == t.client;
        let side = if from_client {
            Role::Client
        } else {
            Role::Server
        };
        c.frames += 1;
        c.last_frame = number;
        c.end = time;
        if f.syn && !f.ack && from_client {
            c.syns += 1;
        }
        if f.syn && f.ack && !from_client && c.syns > 0 {
            t.syn_ack_seen = true;
        }
        if from_client && f.ack && !f.syn && t.syn_ack_seen && !c.handshake {
            c.handshake = true;
            c.established_at = Some(time);
        }
        if len > 0 && !f.syn {
            if from_client {
                c.data_to_server += 1;
                c.bytes_to_server += len as u64;
                if c.first_request_at.is_none() {
                    c.first_request_at = Some(time);
                    c.first_request_bytes = Some(len as u64);
                    t.first_request_end = Some(seq.wrapping_add(len as u32));
                }
            } else {
                c.data_to_client += 1;
                c.bytes_to_client += len as u64;
                c.first_reply_at.get_or_insert(time);
            }
        }
        if !from_client && f.ack && c.first_request_acked_at.is_none() {
            if let Some(end) = t.first_request_end {
                if seq_ge(ack_no, end) {
                    c.first_request_acked_at = Some(time);
                }
            }
        }
        if f.fin || f.rst {
            if c.closing_at.is_none() {
                c.closing_at = Some(time);
                c.closed_first_by = Some(side);
            }
            if f.fin {
                if from_client {
                    t.fin_client = true;
                } else {
                    t.fin_server = true;
                }
            }
        }
        c.closed = if f.rst || c.closed == Closed::Rst {
            Closed::Rst
        } else if t.fin_client && t.fin_server {
            Closed::Fin
        } else if t.fin_client || t.fin_server {
            Closed::HalfClosed
        } else {
            Closed::Open
        };
        i
    }

    fn udp_frame(
        &mut self,
        number: usize,
        time: f64,
        src: SocketAddr,
        dst: SocketAddr,
        len: usize,
    ) -> usize {
        let key = pair(src, dst);
        let i = match self.udp_by_pair.get(&key) {
            Some(&i) => i,
            None => {
                // A socket already known as a UDP server stays the server.
                let known_server = |a: SocketAddr| {
                    self.socket_index
                        .get(&(Proto::Udp, a))
                        .is_some_and(|&i| self.sockets[i].role == Role::Server)
                };
                let (client, server, basis) = if known_server(dst) && !known_server(src) {
                    (src, dst, RoleBasis::FirstReceiver)
                } else if known_server(src) && !known_server(dst) {
                    (dst, src, RoleBasis::FirstReceiver)
                } else {
                    self.roles(src, dst, None)
                };
                self.socket(Proto::Udp, server, Role::Server);
                self.socket(Proto::Udp, client, Role::Client);
                for a in [client, server] {
                    let s = self.socket_index[&(Proto::Udp, a)];
                    self.sockets[s].conversations += 1;
                }
                let i = self.udp.len();
                self.udp.push(UdpExchange {
                    client: client.to_string(),
                    server: server.to_string(),
                    role_basis: basis,
                    first_frame: number,
                    start: time,
                    end: time,
                    datagrams_to_server: 0,
                    datagrams_to_client: 0,
                    bytes_to_server: 0,
                    bytes_to_client: 0,
                    first_request_at: None,
                    first_reply_at: None,
                    icmp_errors: 0,
                });
                self.udp_by_pair.insert(key, i);
                i
            }
        };
        self.count_frame(Proto::Udp, src, dst);
        let u = &mut self.udp[i];
        u.end = time;
        if src.to_string() == u.client {
            u.datagrams_to_server += 1;
            u.bytes_to_server += len as u64;
            u.first_request_at.get_or_insert(time);
        } else {
            u.datagrams_to_client += 1;
            u.bytes_to_client += len as u64;
            u.first_reply_at.get_or_insert(time);
        }
        i
    }

    /// Links an ICMP error to the datagram it quotes.
    fn icmp_error(&mut self, q: &Quoted) -> Option<QuotedFlow> {
        let (sp, dp) = q.ports?;
        let (s, d) = (SocketAddr::new(q.src, sp), SocketAddr::new(q.dst, dp));
        let proto = match q.proto {
            17 => {
                if let Some(&i) = self.udp_by_pair.get(&pair(s, d)) {
                    self.udp[i].icmp_errors += 1;
                }
                "udp"
            }
            _ => "tcp",
        };
        Some(QuotedFlow {
            proto: proto.into(),
            src: s.to_string(),
            dst: d.to_string(),
        })
    }

    fn finish(
        self,
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
        }
    }
}

/// The most intervals `(open, close)` open at one instant.
pub fn max_overlap(intervals: &[(f64, f64)]) -> usize {
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

/// `SYN`, `SYN-ACK`, `PSH-ACK`, `FIN-ACK`, `RST-ACK` …
fn tcp_flag_label(f: TcpFlags) -> String {
    let names = [
        (f.syn, "SYN"),
        (f.rst, "RST"),
        (f.fin, "FIN"),
        (f.psh, "PSH"),
        (f.urg, "URG"),
        (f.ack, "ACK"),
    ];
    let set: Vec<&str> = names
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, n)| *n)
        .collect();
    if set.is_empty() {
        "TCP (no flags)".into()
    } else {
        set.join("-")
    }
}

fn icmp_label(v6: bool, ty: u8, code: u8) -> String {
    let known = if v6 {
        match (ty, code) {
            (1, 4) => Some("port unreachable"),
            (1, _) => Some("destination unreachable"),
            (128, _) => Some("echo request"),
            (129, _) => Some("echo reply"),
            (133, _) => Some("router solicitation"),
            (134, _) => Some("router advertisement"),
            (135, _) => Some("neighbor solicitation"),
            (136, _) => Some("neighbor advertisement"),
            (143, _) => Some("multicast listener report"),
            _ => None,
        }
    } else {
        match (ty, code) {
            (0, _) => Some("echo reply"),
            (3, 0) => Some("net unreachable"),
            (3, 1) => Some("host unreachable"),
            (3, 3) => Some("port unreachable"),
            (3, _) => Some("destination unreachable"),
            (8, _) => Some("echo request"),
            (11, _) => Some("time exceeded"),
            _ => None,
        }
    };
    let prefix = if v6 { "ICMPv6" } else { "ICMP" };
    match known {
        Some(k) => format!("{prefix} {k}"),
        None => format!("{prefix} type {ty} code {code}"),
    }
}

/// The payload as text: printable ASCII kept, `\n`, `\r`, `\t`, `\\`, `"`
/// escaped, other bytes as `\xNN`; cut after `max` bytes with `…`.
pub fn preview(bytes: &[u8], max: usize) -> String {
    let mut s = String::new();
    for &b in bytes.iter().take(max) {
        match b {
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    if bytes.len() > max {
        s.push('…');
    }
    s
}

/// `s` cut to `max` characters with `…`.
pub fn abbreviate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out = out.trim_end_matches('…').to_string();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_escape_and_cut() {
        assert_eq!(preview(b"hello\n", 40), "hello\\n");
        assert_eq!(preview(b"a\"b\x01", 40), "a\\\"b\\x01");
        assert_eq!(preview(b"abcdef", 3), "abc…");
        assert_eq!(abbreviate("abcdef", 4), "abc…");
        assert_eq!(abbreviate("abc", 4), "abc");
    }

    #[test]
    fn flag_labels_read_as_in_textbooks() {
        let f = TcpFlags {
            syn: true,
            ack: true,
            ..Default::default()
        };
        assert_eq!(tcp_flag_label(f), "SYN-ACK");
        let f = TcpFlags {
            psh: true,
            ack: true,
            ..Default::default()
        };
        assert_eq!(tcp_flag_label(f), "PSH-ACK");
        assert_eq!(icmp_label(false, 3, 3), "ICMP port unreachable");
    }

    #[test]
    fn overlap_counts_simultaneous_connections() {
        assert_eq!(max_overlap(&[(0.0, 1.0), (0.5, 2.0), (1.5, 3.0)]), 2);
        assert_eq!(
            max_overlap(&[(0.0, 5.0), (1.0, 5.0), (2.0, 5.0), (3.0, 5.0)]),
            4
        );
        assert_eq!(max_overlap(&[]), 0);
    }

    #[test]
    fn garbage_is_not_a_pcap() {
        assert!(matches!(analyze(b"hello"), Err(Error::NotPcap(_))));
        assert!(matches!(
            analyze(&[0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 0]),
            Err(Error::NotPcap(_))
        ));
    }
}
