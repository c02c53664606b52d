//! The capture analysis against tshark, on captures of the real socket
//! programs taken on a miniature bench of network namespaces: frame counts
//! by kind, TCP conversations and socket addresses must agree, and the facts
//! the lab's questions ask about must show.

mod capture_support;

use std::collections::BTreeSet;

use capture_support::*;
use labctl::capture::{self, ladder, CaptureAnalysis, Closed, Kind, Proto, Role};

fn client_on<'a>(a: &'a CaptureAnalysis, ip: &str) -> &'a capture::TcpConversation {
    a.tcp
        .iter()
        .find(|c| c.client.starts_with(&format!("{ip}:")))
        .unwrap_or_else(|| panic!("a conversation from {ip}"))
}

#[test]
fn iterative_server_capture_agrees_with_tshark_and_shows_c_queued() {
    let dir = temp_dir("iterative");
    let file = dir.join("iterative.pcap");
    let mut bench = MiniBench::new();
    iterative_exchange(&mut bench, &[("A", &file)]);
    drop(bench);
    let a = analyse(&file);
    agrees_with_tshark(&file, &a);

    assert_eq!(a.link_type, "ethernet");
    assert_eq!(a.tcp.len(), 2, "B's and C's conversations");
    assert_eq!(
        (a.counts.syn, a.counts.syn_ack),
        (2, 2),
        "one handshake each"
    );
    assert!(a.counts.fin >= 4, "both sides closed both conversations");
    assert_eq!(a.counts.rst, 0);
    assert!(
        a.counts.arp >= 2,
        "A asked for B's and C's MAC or was asked"
    );
    for c in &a.tcp {
        assert_eq!(c.server, "10.0.3.1:50000");
        assert!(
            c.handshake,
            "{} -> {}: handshake captured",
            c.client, c.server
        );
        assert_eq!(c.closed, Closed::Fin);
        assert_eq!(
            c.data_to_server,
            c.data_to_client + 1,
            "each line answered but `quit`"
        );
    }
    let b = client_on(&a, "10.0.3.2");
    let c = client_on(&a, "10.0.3.3");
    assert_eq!(
        b.bytes_to_server,
        ("hello from B".len() + "quit".len()) as u64
    );
    assert_eq!(b.bytes_to_client, "HELLO FROM B".len() as u64);
    // C connected while B was served: its handshake came before B's close.
    assert!(c.established_at.unwrap() < b.closing_at.unwrap());
    // C's line was ACKed by A's kernel, answered only after B quit.
    let acked = c.first_request_acked_at.expect("C's line was ACKed");
    let replied = c.first_reply_at.expect("C was answered");
    assert!(acked < b.closing_at.unwrap() && b.closing_at.unwrap() < replied);

    let server = &a.servers[0];
    assert_eq!(
        (server.proto, server.address.as_str()),
        (Proto::Tcp, "10.0.3.1:50000")
    );
    assert_eq!(
        (server.listening, server.connected, server.sockets),
        (1, 2, 3)
    );
    assert_eq!(
        server.max_concurrent, 2,
        "C waited in the queue while B was served"
    );

    let svg = ladder::svg(&a, &Default::default(), ladder::MAX_FRAMES);
    for label in [
        ">SYN<",
        ">SYN-ACK<",
        ">ACK<",
        "PSH-ACK &quot;hello from B&quot;",
        ">FIN-ACK<",
    ] {
        assert!(svg.contains(label), "ladder shows {label}");
    }
    assert!(svg.contains("10.0.3.1:50000") && svg.contains("TCP server"));
    let drawn = |frames: &[capture::Frame]| {
        frames
            .iter()
            .filter(|f| !matches!(f.kind, Kind::Arp | Kind::Other))
            .count()
    };
    assert_eq!(svg.matches("<g class=\"frame\"").count(), drawn(&a.frames));
    // A's capture: the server and both clients, three lanes, no collision.
    assert_eq!(ladder_lanes(&svg), 3);
    assert_eq!(ladder_collisions(&svg), Vec::<String>::new());
    assert!(svg.contains(&format!(
        "{} ARP/other frame(s) not drawn",
        a.counts.arp + a.counts.other
    )));
}

#[test]
fn udp_capture_agrees_with_tshark_and_shows_no_handshake() {
    let dir = temp_dir("udp");
    let file = dir.join("udp.pcap");
    let mut bench = MiniBench::new();
    udp_exchange(&mut bench, &[("A", &file)]);
    drop(bench);
    let a = analyse(&file);
    agrees_with_tshark(&file, &a);

    assert_eq!(a.tcp.len(), 0);
    assert_eq!(a.counts.syn + a.counts.syn_ack, 0, "UDP has no handshake");
    assert_eq!(a.udp.len(), 2);
    let b = a
        .udp
        .iter()
        .find(|u| u.client.starts_with("10.0.3.2:"))
        .unwrap();
    let c = a
        .udp
        .iter()
        .find(|u| u.client.starts_with("10.0.3.3:"))
        .unwrap();
    for u in [b, c] {
        assert_eq!(u.server, "10.0.3.1:50000");
        assert_eq!((u.datagrams_to_server, u.datagrams_to_client), (2, 1));
    }
    // C's second datagram found no server: ICMP port unreachable.
    assert_eq!((b.icmp_errors, c.icmp_errors), (0, 1));
    let icmp = a.frames.iter().find(|f| f.kind == Kind::Icmp).unwrap();
    assert_eq!(icmp.label, "ICMP port unreachable");
    assert_eq!(icmp.quoted.as_ref().unwrap().src, c.client);
    let server = &a.servers[0];
    assert_eq!(
        (server.proto, server.sockets, server.clients.len()),
        (Proto::Udp, 1, 2)
    );

    let svg = ladder::svg(&a, &Default::default(), ladder::MAX_FRAMES);
    assert!(svg.contains("UDP &quot;hello from C&quot;"));
    assert!(svg.contains("ICMP port unreachable"));
    assert!(svg.contains("UDP server") && svg.contains("UDP client"));

    // A file cut inside its last frame keeps the frames before it.
    let bytes = std::fs::read(&file).unwrap();
    let cut = capture::analyze(&bytes[..bytes.len() - 5]).unwrap();
    assert_eq!(cut.frames.len(), a.frames.len() - 1);
    assert_eq!(cut.warnings.len(), 1, "{:?}", cut.warnings);
    assert!(cut.warnings[0].contains("ends inside frame"));
    assert!(
        capture::analyze(&bytes[..10]).is_err(),
        "a header cut short is no pcap"
    );
}

#[test]
fn threaded_server_capture_agrees_with_tshark_and_counts_five_sockets() {
    let dir = temp_dir("threaded");
    let file = dir.join("threaded.pcap");
    let mut bench = MiniBench::new();
    threaded_exchange(&mut bench, &[("A", &file)]);
    drop(bench);
    let a = analyse(&file);
    agrees_with_tshark(&file, &a);

    assert_eq!(a.tcp.len(), 4);
    // Five lanes (the server, four clients): no label on a lifeline or another label.
    let svg = ladder::svg(&a, &Default::default(), ladder::MAX_FRAMES);
    assert_eq!(ladder_lanes(&svg), 5);
    assert_eq!(ladder_collisions(&svg), Vec::<String>::new());
    let server = &a.servers[0];
    assert_eq!(server.address, "10.0.3.1:50000");
    assert_eq!(
        (server.listening, server.connected, server.sockets),
        (1, 4, 5)
    );
    assert_eq!(server.max_concurrent, 4, "four clients connected at once");
    let clients: BTreeSet<&str> = server.clients.iter().map(String::as_str).collect();
    assert_eq!(clients.len(), 4, "four client socket addresses");
    assert_eq!(
        clients
            .iter()
            .filter(|c| c.starts_with("10.0.3.2:"))
            .count(),
        2
    );
    let roles: Vec<Role> = a
        .sockets
        .iter()
        .filter(|s| s.proto == Proto::Tcp)
        .map(|s| s.role)
        .collect();
    assert_eq!(roles.iter().filter(|r| **r == Role::Server).count(), 1);
    assert_eq!(roles.iter().filter(|r| **r == Role::Client).count(), 4);

    // A long capture is cut in the ladder, and says so.
    let svg = ladder::svg(&a, &Default::default(), 5);
    let drawn = a.frames[..5]
        .iter()
        .filter(|f| !matches!(f.kind, Kind::Arp | Kind::Other))
        .count();
    assert_eq!(svg.matches("<g class=\"frame\"").count(), drawn);
    assert!(svg.contains(&format!("… {} more frames not drawn", a.frames.len() - 5)));
}

/// A generated worst case: four lanes, arrows across one, two and three
/// lanes both ways, long labels, frames a socket sends itself (on a middle
/// lane and on the last), ping without ports.
#[test]
fn ladder_labels_never_cross_a_lifeline_or_each_other() {
    let frame =
        |n: usize, src: &str, dst: &str, proto: &str, kind: Kind, label: &str| capture::Frame {
            number: n,
            time: n as f64 * 0.001,
            kind,
            src: src.into(),
            dst: dst.into(),
            proto: proto.into(),
            len: 0,
            label: label.into(),
            text: None,
            conversation: None,
            quoted: None,
        };
    let (a, b, c, d) = (
        "10.0.3.1:50000",
        "10.0.3.2:41000",
        "10.0.3.3:42000",
        "10.0.3.4:43000",
    );
    let long = "PSH-ACK \"a long line from the client\"";
    let mut frames = Vec::new();
    for (src, dst) in [
        (b, a),
        (a, b),
        (c, a),
        (a, c),
        (d, a),
        (a, d),
        (d, b),
        (b, d),
        (c, b),
        (b, c),
    ] {
        frames.push(frame(frames.len() + 1, src, dst, "tcp", Kind::Syn, "SYN"));
        frames.push(frame(frames.len() + 1, src, dst, "tcp", Kind::Data, long));
    }
    frames.push(frame(frames.len() + 1, c, c, "tcp", Kind::Data, long));
    frames.push(frame(frames.len() + 1, d, d, "udp", Kind::Udp, long));
    frames.push(frame(
        frames.len() + 1,
        "10.0.3.4",
        "10.0.3.1",
        "icmp",
        Kind::Icmp,
        "ICMP echo request",
    ));
    let analysis = CaptureAnalysis {
        link_type: "ethernet".into(),
        start_unix: 0.0,
        duration_s: 0.1,
        counts: Default::default(),
        frames,
        tcp: Vec::new(),
        udp: Vec::new(),
        sockets: Vec::new(),
        servers: Vec::new(),
        warnings: Vec::new(),
    };
    let svg = ladder::svg(&analysis, &Default::default(), ladder::MAX_FRAMES);
    assert!(ladder_lanes(&svg) >= 4, "{svg}");
    assert_eq!(ladder_collisions(&svg), Vec::<String>::new());
    // Every frame labelled; a label cut short keeps its full text in the tooltip.
    assert_eq!(
        svg.matches("<text class=\"label\"").count(),
        analysis.frames.len()
    );
    assert!(svg.contains("a long line from the client"));
}
