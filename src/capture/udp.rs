//! UDP exchanges (the datagrams between one client socket and one server
//! socket) and the ICMP errors that answer them.

use std::net::SocketAddr;

use super::analysis::{pair, Builder};
use super::decode::Quoted;
use super::model::*;

impl Builder<'_> {
    pub(super) fn udp_frame(
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
    pub(super) fn icmp_error(&mut self, q: &Quoted) -> Option<QuotedFlow> {
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
}
