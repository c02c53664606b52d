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
            .filter(|f| !matches!(f.kind, Kind::Other))
            .count()
    };
    assert_eq!(svg.matches("<g class=\"frame\"").count(), drawn(&a.frames));
    // A's capture: the server and both clients, three lanes, and a host
    // lane for each address ARP names; no collision.
    assert_eq!(ladder_lanes(&svg), 3 + arp_hosts(&a));
    assert_eq!(ladder_collisions(&svg), Vec::<String>::new());
    if a.counts.other > 0 {
        assert!(svg.contains(&format!("{} other frame(s) not drawn", a.counts.other)));
    }
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
    // Five lanes (the server, four clients) and the hosts ARP names: no
    // label on a lifeline or another label.
    let svg = ladder::svg(&a, &Default::default(), ladder::MAX_FRAMES);
    assert_eq!(ladder_lanes(&svg), 5 + arp_hosts(&a));
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
        .filter(|f| !matches!(f.kind, Kind::Other))
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
            ..Default::default()
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
        ..Default::default()
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

/// The addresses ARP frames name: a host lane each in the ladder.
fn arp_hosts(a: &CaptureAnalysis) -> usize {
    a.frames
        .iter()
        .filter(|f| f.kind == Kind::Arp)
        .flat_map(|f| [f.src.clone(), f.dst.clone()])
        .collect::<BTreeSet<String>>()
        .len()
}

/// Runs `cmd` in host `host`'s namespace (test scaffolding: a ping, a
/// route); its status is not asserted (a ping to nowhere fails).
fn in_ns(bench: &MiniBench, host: &str, cmd: &[&str]) {
    let _ = std::process::Command::new("ip")
        .args(["netns", "exec", &bench.ns(host)])
        .args(cmd)
        .output()
        .expect("ip netns exec runs");
}

/// ARP and ICMP read like TCP: on B's eth0, B resolves A (request and
/// reply), pings it twice (each echo request with its reply), asks for an
/// address nobody has (requests, no reply), and through A as a router
/// draws a TTL-exceeded and an unreachable about its own pings, and a port
/// unreachable about a UDP datagram. Every pair and every error's packet
/// agrees with tshark (`icmp.resp_to`, `arp.*`, the quoted headers).
#[test]
fn arp_and_icmp_pairs_agree_with_tshark() {
    let dir = temp_dir("arp-icmp");
    let file = dir.join("b.pcap");
    let mut bench = MiniBench::new();
    // B reaches 10.9.9.0/24 through A, A through C, and C has no route
    // there: a TTL of 1 expires at A, a larger one finds no route at C.
    for h in ["A", "C"] {
        in_ns(&bench, h, &["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
        for conf in ["all", "eth0"] {
            let redirects = format!("net.ipv4.conf.{conf}.send_redirects=0");
            in_ns(&bench, h, &["sysctl", "-qw", &redirects]);
        }
    }
    in_ns(
        &bench,
        "B",
        &["ip", "route", "add", "10.9.9.0/24", "via", "10.0.3.1"],
    );
    in_ns(
        &bench,
        "A",
        &["ip", "route", "add", "10.9.9.0/24", "via", "10.0.3.3"],
    );
    let cap = bench.capture("B", &file);
    in_ns(
        &bench,
        "B",
        &["ping", "-n", "-c", "2", "-i", "0.2", "10.0.3.1"],
    );
    in_ns(
        &bench,
        "B",
        &["ping", "-n", "-c", "1", "-W", "1", "10.0.3.9"],
    );
    in_ns(
        &bench,
        "B",
        &["ping", "-n", "-c", "1", "-W", "1", "-t", "1", "10.9.9.9"],
    );
    in_ns(
        &bench,
        "B",
        &["ping", "-n", "-c", "1", "-W", "1", "10.9.9.9"],
    );
    in_ns(
        &bench,
        "B",
        &["python3", "-c", "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'hi', ('10.0.3.1', 9))"],
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    bench.stop_capture(cap);
    drop(bench);
    let a = analyse(&file);
    agrees_with_tshark(&file, &a);
    let f = file.as_path();

    // ARP: tshark's operation and addresses on every ARP frame, our pairs.
    let theirs = tshark_fields(
        f,
        "arp",
        &[
            "frame.number",
            "arp.opcode",
            "arp.src.proto_ipv4",
            "arp.dst.proto_ipv4",
            "arp.src.hw_mac",
        ],
    );
    assert!(!theirs.is_empty());
    for t in &theirs {
        let n: usize = t[0].parse().unwrap();
        let ours = &a.frames[n - 1];
        let h = ours.arp.as_ref().expect("an ARP frame has its header");
        let op = match h.op {
            capture::ArpOp::Request => "1",
            capture::ArpOp::Reply => "2",
        };
        assert_eq!(
            (
                op,
                ours.src.as_str(),
                ours.dst.as_str(),
                h.sender_mac.as_deref()
            ),
            (
                t[1].as_str(),
                t[2].as_str(),
                t[3].as_str(),
                Some(t[4].as_str())
            ),
            "frame {n}"
        );
    }
    let b_for_a = a
        .arp
        .iter()
        .find(|x| x.asker == "10.0.3.2" && x.target == "10.0.3.1" && !x.requests.is_empty())
        .expect("B asked who has A");
    let reply = b_for_a.reply.expect("A answered");
    let tell = &tshark_fields(
        f,
        &format!("frame.number=={reply}"),
        &["arp.opcode", "arp.src.proto_ipv4", "arp.src.hw_mac"],
    )[0];
    assert_eq!((tell[0].as_str(), tell[1].as_str()), ("2", "10.0.3.1"));
    assert_eq!(
        b_for_a.mac.as_deref(),
        Some(tell[2].as_str()),
        "the reply tells A's MAC"
    );
    assert!(b_for_a.after.unwrap() >= 0.0 && b_for_a.after.unwrap() < 1.0);
    for q in &b_for_a.requests {
        assert_eq!(
            a.frames[q - 1].pair,
            Some(reply),
            "request #{q} names its reply"
        );
    }
    assert_eq!(a.frames[reply - 1].pair, b_for_a.requests.last().copied());
    let nobody = a
        .arp
        .iter()
        .find(|x| x.target == "10.0.3.9")
        .expect("B asked who has 10.0.3.9");
    assert!(nobody.reply.is_none() && !nobody.requests.is_empty());
    assert_eq!(
        nobody.requests.len(),
        tshark_count(f, "arp.opcode==1 && arp.dst.proto_ipv4==10.0.3.9"),
        "its retries are one resolution"
    );

    // Pings: each reply names the request tshark names (`icmp.resp_to`).
    let replies = tshark_fields(f, "icmp.type==0", &["frame.number", "icmp.resp_to"]);
    assert_eq!(replies.len(), 2, "A answered both echo requests");
    for r in &replies {
        let (n, q): (usize, usize) = (r[0].parse().unwrap(), r[1].parse().unwrap());
        assert_eq!(a.frames[n - 1].pair, Some(q));
        assert_eq!(a.frames[q - 1].pair, Some(n));
        let e = a.echoes.iter().find(|e| e.reply == Some(n)).unwrap();
        assert_eq!(
            (e.from.as_str(), e.to.as_str(), e.request),
            ("10.0.3.2", "10.0.3.1", Some(q))
        );
        assert!(e.after.is_some());
    }
    // The requests no reply names are the ones left unanswered. (An error
    // quoting an echo request matches `icmp.type==8` too, in Wireshark.)
    let answered: BTreeSet<String> = replies.iter().map(|r| r[1].clone()).collect();
    let requests = tshark_fields(
        f,
        "icmp.type==8 && !(icmp.type==3 || icmp.type==11)",
        &["frame.number"],
    );
    let theirs: Vec<usize> = requests
        .iter()
        .filter(|r| !answered.contains(&r[0]))
        .map(|r| r[0].parse().unwrap())
        .collect();
    let ours: Vec<usize> = a
        .echoes
        .iter()
        .filter(|e| e.reply.is_none())
        .filter_map(|e| e.request)
        .collect();
    assert_eq!(ours, theirs);

    // Errors: the same frames, and each refers to the packet it quotes.
    let errors = tshark_fields(
        f,
        "icmp.type==3 || icmp.type==11",
        &["frame.number", "icmp.type", "icmp.code"],
    );
    assert_eq!(errors.len(), a.icmp_errors.len(), "{:?}", a.icmp_errors);
    // (The outer header's type and code come first: `11,8` quotes an echo request.)
    let first = |v: &str| v.split(',').next().unwrap_or("").to_string();
    let kinds: Vec<(String, String)> = errors
        .iter()
        .map(|e| (first(&e[1]), first(&e[2])))
        .collect();
    for want in [("11", "0"), ("3", "0"), ("3", "3")] {
        assert!(kinds.contains(&(want.0.into(), want.1.into())), "{kinds:?}");
    }
    for e in &a.icmp_errors {
        let p = e
            .refers_to
            .unwrap_or_else(|| panic!("{e:?} refers to a captured packet"));
        assert_eq!(a.frames[e.frame - 1].pair, Some(p));
        // The quoted headers as tshark reads them (outer, then inner) are the packet's.
        let q = &tshark_fields(
            f,
            &format!("frame.number=={}", e.frame),
            &["ip.src", "ip.dst"],
        )[0];
        let pk = &tshark_fields(f, &format!("frame.number=={p}"), &["ip.src", "ip.dst"])[0];
        let inner_src = q[0].split(',').nth(1).unwrap();
        let inner_dst = q[1].split(',').nth(1).unwrap();
        assert_eq!(
            (inner_src, inner_dst),
            (pk[0].as_str(), pk[1].as_str()),
            "{e:?}"
        );
        assert!(p < e.frame);
    }
    let ttl = a
        .icmp_errors
        .iter()
        .find(|e| e.what == "time exceeded")
        .unwrap();
    assert!(
        ttl.about
            .starts_with("ICMP echo request 10.0.3.2 → 10.9.9.9"),
        "{ttl:?}"
    );
    let port = a
        .icmp_errors
        .iter()
        .find(|e| e.what == "port unreachable")
        .unwrap();
    assert!(port.about.starts_with("UDP 10.0.3.2:"), "{port:?}");

    // The ladder draws them, each naming its partner.
    let svg = ladder::svg(&a, &Default::default(), ladder::MAX_FRAMES);
    assert!(
        svg.contains(&format!("ARP who-has 10.0.3.1? (reply #{reply})")),
        "{svg}"
    );
    assert!(svg.contains("ARP who-has 10.0.3.9? (no reply)"));
    assert!(svg.contains(&format!("(about #{})", ttl.refers_to.unwrap())));
    assert!(svg.contains("ICMP echo reply seq=1 (#"));
    assert_eq!(ladder_collisions(&svg), Vec::<String>::new());
}
