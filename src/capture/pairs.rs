//! Requests and their replies, read as TCP's conversations are: ARP
//! requests with the reply that answers them (who asked, who answered, in
//! how long), ICMP echo requests with their replies (paired as Wireshark
//! pairs them: same addresses, identifier and sequence number), and ICMP
//! errors with the packet they refer to. Each frame of a pair names the
//! other ([`Frame::pair`]); the tables go into the analysis.

use super::model::*;

/// What [`pair`] found.
pub(super) struct Pairs {
    pub arp: Vec<ArpExchange>,
    pub echoes: Vec<EchoPair>,
    pub icmp_errors: Vec<IcmpError>,
}

/// Pairs the ARP and ICMP frames of `frames` (in capture order, numbered
/// from 1) and notes each frame's partner in it.
pub(super) fn pair(frames: &mut [Frame]) -> Pairs {
    let time = |frames: &[Frame], n: usize| frames.get(n.wrapping_sub(1)).map(|f| f.time);
    let mut arp: Vec<ArpExchange> = Vec::new();
    let mut echoes: Vec<EchoPair> = Vec::new();
    let mut icmp_errors: Vec<IcmpError> = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        if let Some(a) = &f.arp {
            // A request is sent by the asker for the target; a reply by the
            // target (its sender address) to the asker.
            let (asker, target) = match a.op {
                ArpOp::Request => (&f.src, &f.dst),
                ArpOp::Reply => (&f.dst, &f.src),
            };
            let open = arp.iter_mut().rev().find(|x| {
                x.asker == *asker
                    && x.target == *target
                    && x.reply.is_none()
                    && !x.requests.is_empty()
            });
            match (a.op, open) {
                (ArpOp::Request, Some(x)) => x.requests.push(f.number),
                (ArpOp::Reply, Some(x)) => {
                    let last = *x.requests.last().expect("an open exchange has a request");
                    x.reply = Some(f.number);
                    x.mac = a.sender_mac.clone();
                    x.after = time(frames, last).map(|t| f.time - t);
                }
                (op, None) => arp.push(ArpExchange {
                    asker: asker.clone(),
                    target: target.clone(),
                    requests: if op == ArpOp::Request {
                        vec![f.number]
                    } else {
                        Vec::new()
                    },
                    reply: (op == ArpOp::Reply).then_some(f.number),
                    mac: (op == ArpOp::Reply).then(|| a.sender_mac.clone()).flatten(),
                    after: None,
                }),
            }
        }
        let Some(h) = f.icmp else { continue };
        if let (Some(id), Some(seq)) = (h.id, h.seq) {
            if h.is_echo_request() {
                echoes.push(EchoPair {
                    from: f.src.clone(),
                    to: f.dst.clone(),
                    id,
                    seq,
                    request: Some(f.number),
                    reply: None,
                    after: None,
                });
            } else if h.is_echo_reply() {
                let open = echoes.iter_mut().rev().find(|e| {
                    e.from == f.dst
                        && e.to == f.src
                        && e.id == id
                        && e.seq == seq
                        && e.reply.is_none()
                        && e.request.is_some()
                });
                match open {
                    Some(e) => {
                        e.reply = Some(f.number);
                        e.after = e.request.and_then(|r| time(frames, r)).map(|t| f.time - t);
                    }
                    None => echoes.push(EchoPair {
                        from: f.dst.clone(),
                        to: f.src.clone(),
                        id,
                        seq,
                        request: None,
                        reply: Some(f.number),
                        after: None,
                    }),
                }
            }
        }
        if h.is_error() {
            icmp_errors.push(error_of(&frames[..i], f));
        }
    }
    // Each frame names its partner.
    let mut links: Vec<(usize, usize)> = Vec::new();
    for x in &arp {
        if let Some(r) = x.reply {
            links.extend(x.requests.iter().map(|&q| (q, r)));
            if let Some(&last) = x.requests.last() {
                links.push((r, last));
            }
        }
    }
    for e in &echoes {
        if let (Some(q), Some(r)) = (e.request, e.reply) {
            links.extend([(q, r), (r, q)]);
        }
    }
    for e in &icmp_errors {
        if let Some(p) = e.refers_to {
            links.push((e.frame, p));
        }
    }
    for (n, partner) in links {
        if let Some(f) = frames.get_mut(n.wrapping_sub(1)) {
            f.pair = Some(partner);
        }
    }
    Pairs {
        arp,
        echoes,
        icmp_errors,
    }
}

/// ICMP error `f` and the packet it quotes: the last frame `before` it that
/// is that packet (same protocol and addresses; for an echo, the same
/// identifier and sequence number).
fn error_of(before: &[Frame], f: &Frame) -> IcmpError {
    let what = f
        .label
        .strip_prefix("ICMPv6 ")
        .or_else(|| f.label.strip_prefix("ICMP "))
        .unwrap_or(&f.label)
        .to_string();
    let (about, refers_to) = match (&f.quoted, &f.quoted_icmp) {
        (Some(q), _) => (
            format!("{} {} → {}", q.proto.to_uppercase(), q.src, q.dst),
            before
                .iter()
                .rev()
                .find(|b| b.proto == q.proto && b.src == q.src && b.dst == q.dst)
                .map(|b| b.number),
        ),
        (None, Some(q)) => {
            let kind = if q.icmp.is_echo_request() {
                "echo request".to_string()
            } else {
                format!("type {}", q.icmp.ty)
            };
            let seq = q
                .icmp
                .seq
                .map(|s| format!(" (seq {s})"))
                .unwrap_or_default();
            (
                format!("ICMP {kind} {} → {}{seq}", q.src, q.dst),
                before
                    .iter()
                    .rev()
                    .find(|b| {
                        b.src == q.src
                            && b.dst == q.dst
                            && b.icmp.is_some_and(|h| {
                                h.ty == q.icmp.ty && h.id == q.icmp.id && h.seq == q.icmp.seq
                            })
                    })
                    .map(|b| b.number),
            )
        }
        (None, None) => ("a packet it does not quote in full".to_string(), None),
    };
    IcmpError {
        frame: f.number,
        from: f.src.clone(),
        what,
        about,
        refers_to,
    }
}
