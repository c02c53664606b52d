//! TCP conversations: which frames belong to which conversation (a tuple
//! reused after a close is a new one), the handshake, data each way, the
//! first request and reply, and how it closed.

use std::net::SocketAddr;

use super::analysis::{pair, Builder};
use super::decode::TcpFlags;
use super::model::*;

/// Per-conversation bookkeeping the output does not show.
pub(super) struct TcpTrack {
    client: SocketAddr,
    fin_client: bool,
    fin_server: bool,
    syn_ack_seen: bool,
    /// End sequence number of the client's first data segment.
    first_request_end: Option<u32>,
}

/// `a` is at or after `b` in sequence space.
fn seq_ge(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) >= 0
}

impl Builder<'_> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn tcp_frame(
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
}
