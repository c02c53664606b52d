//! What an analysis of a capture says ([`CaptureAnalysis`] and its parts):
//! plain data, serialized as the captures of `run.json`, drawn by the
//! reports and the ladder.

use serde::Serialize;

/// Everything one capture shows.
#[derive(Debug, Clone, Default, Serialize)]
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
    /// Address resolutions: ARP requests with the reply that answers them.
    pub arp: Vec<ArpExchange>,
    /// ICMP echo requests (ping) with their replies.
    pub echoes: Vec<EchoPair>,
    /// ICMP errors (unreachable, time exceeded) with the packet they refer to.
    pub icmp_errors: Vec<IcmpError>,
}

/// The kind of a frame. Exclusive, decided in this order: RST, SYN, SYN-ACK,
/// FIN, data (TCP with payload), pure ACK; then UDP, ICMP, ARP, other.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
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
    #[default]
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
    pub(super) fn add(&mut self, k: Kind) {
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
pub(crate) const KINDS: [Kind; 10] = [
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
#[derive(Debug, Clone, Default, Serialize)]
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
    /// ICMP: the message's type and code (and an echo's identifier and sequence).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmp: Option<IcmpHeader>,
    /// For ICMP errors about an ICMP message (a ping's time exceeded): that message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quoted_icmp: Option<QuotedIcmp>,
    /// ARP: the operation and the sender's hardware address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arp: Option<ArpHeader>,
    /// The frame this one pairs with, as Wireshark numbers it: an ARP or
    /// echo request's reply, a reply's request (the last one before it), an
    /// ICMP error's packet it refers to, when the capture holds it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pair: Option<usize>,
}

/// The fields of an ICMP header the analysis reads (Wireshark's
/// `icmp.type`, `icmp.code`, `icmp.ident`, `icmp.seq`; `icmpv6.*`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct IcmpHeader {
    #[serde(rename = "type")]
    pub ty: u8,
    pub code: u8,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub v6: bool,
    /// An echo request's or reply's identifier and sequence number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u16>,
}

impl IcmpHeader {
    pub(crate) fn is_echo_request(&self) -> bool {
        self.ty == if self.v6 { 128 } else { 8 }
    }
    pub(crate) fn is_echo_reply(&self) -> bool {
        self.ty == if self.v6 { 129 } else { 0 }
    }
    /// Destination unreachable, time exceeded, parameter problem: a message
    /// about a packet it quotes.
    pub(crate) fn is_error(&self) -> bool {
        if self.v6 {
            self.ty < 128
        } else {
            matches!(self.ty, 3 | 11 | 12)
        }
    }
}

/// The ICMP message an ICMP error quotes (addresses without ports).
#[derive(Debug, Clone, Default, Serialize)]
pub struct QuotedIcmp {
    pub src: String,
    pub dst: String,
    pub icmp: IcmpHeader,
}

/// An ARP frame's operation and sender hardware address (`arp.opcode`,
/// `arp.src.hw_mac`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ArpHeader {
    /// `request` (1) or `reply` (2).
    pub op: ArpOp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender_mac: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ArpOp {
    #[default]
    Request,
    Reply,
}

/// One address resolution: a host asks who has an address (one request, or
/// several when it retries), and the owner answers with its hardware address.
#[derive(Debug, Clone, Serialize)]
pub struct ArpExchange {
    /// Who asked: the requests' sender address (`arp.src.proto_ipv4`).
    pub asker: String,
    /// The address asked for (`arp.dst.proto_ipv4`).
    pub target: String,
    /// The requests' frame numbers (several: retried; none: an unsolicited reply).
    pub requests: Vec<usize>,
    /// The reply's frame number, when one came.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply: Option<usize>,
    /// The hardware address the reply gives for `target`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// Seconds from the request it answers (the last one before it) to the reply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<f64>,
}

/// One ping: an echo request and its reply (same addresses, identifier and
/// sequence number, as Wireshark pairs them: `icmp.resp_in`, `icmp.resp_to`).
#[derive(Debug, Clone, Serialize)]
pub struct EchoPair {
    /// Who pinged.
    pub from: String,
    /// Whom.
    pub to: String,
    pub id: u16,
    pub seq: u16,
    /// The request's frame number (none: the capture began after it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply: Option<usize>,
    /// Seconds from the request to the reply (`icmp.resptime`, in ms there).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<f64>,
}

/// An ICMP error and the packet it is about.
#[derive(Debug, Clone, Serialize)]
pub struct IcmpError {
    /// The error's frame number.
    pub frame: usize,
    /// Who sent the error (a router, or the host that refused the packet).
    pub from: String,
    /// `port unreachable`, `time exceeded` …
    pub what: String,
    /// The packet it quotes, for people: `UDP 10.0.3.3:41234 → 10.0.3.1:50000`,
    /// `ICMP echo request 10.0.3.2 → 10.0.3.9 (seq 1)`.
    pub about: String,
    /// That packet's frame number, when the capture holds it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refers_to: Option<usize>,
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
    pub(crate) fn connected_interval(&self, capture_end: f64) -> Option<(f64, f64)> {
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
