//! The ladder (sequence) diagram of a capture as a self-contained inline SVG:
//! one vertical line per socket address (or per IP for ARP and for ICMP
//! without a quoted datagram, e.g. ping), one arrow per frame with its
//! label, time on the left. A request and its reply name each other's frame
//! (`reply #5`, `#4, 0.1 ms`), an ICMP error the packet it refers to.
//! Other non-transport frames are counted below the diagram, not drawn.
//!
//! Labels never cross a lifeline or each other: each arrow's label sits in
//! the gap between two neighbouring lifelines (the one next to the sender),
//! lanes are as wide as the longest label needs (within bounds), and a label
//! still too long is shortened (the full text is in the frame's tooltip).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

use super::{ArpOp, CaptureAnalysis, Frame, Kind, Proto, Role};
use crate::util::escape_xml;

/// Frames drawn at most; the rest are summed up in a last line.
pub const MAX_FRAMES: usize = 200;

const LEFT: usize = 96;
/// The narrowest and widest lane; between the two, as wide as the labels need.
const LANE_MIN: usize = 190;
const LANE_MAX: usize = 280;
/// Advance of one character of the 12 px monospace font, rounded up
/// (DejaVu Sans Mono: 0.602 em), and the room kept free either side of a label.
const CHAR_W: f64 = 7.5;
const PAD: usize = 8;
/// Where a self-addressed frame's label starts, right of its lifeline.
const LOOP_LABEL: usize = 36;
const TOP: usize = 62;
const ROW_H: usize = 28;
const FOOT: usize = 40;

/// One vertical line.
struct Lane {
    /// `tcp`, `udp` or `ip`.
    proto: String,
    addr: String,
    ip: String,
}

/// The SVG for `a`. `names` maps an IP address to a host name (`A`) for the lane titles.
pub fn svg(a: &CaptureAnalysis, names: &BTreeMap<String, String>, max_frames: usize) -> String {
    let mut lanes: Vec<Lane> = Vec::new();
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    let mut rows: Vec<(&Frame, usize, usize)> = Vec::new();
    let mut undrawn = 0;
    let labels: HashMap<usize, String> = a
        .frames
        .iter()
        .take(max_frames)
        .filter_map(|f| paired_label(a, f).map(|l| (f.number, l)))
        .collect();
    let label = |f: &Frame| -> String {
        labels
            .get(&f.number)
            .cloned()
            .unwrap_or_else(|| f.label.clone())
    };
    for f in a.frames.iter().take(max_frames) {
        let Some((from, to)) = endpoints(f) else {
            undrawn += 1;
            continue;
        };
        let mut lane = |key: (String, String)| -> usize {
            if let Some(&i) = index.get(&key) {
                return i;
            }
            let ip = ip_of(&key.0, &key.1);
            lanes.push(Lane {
                proto: key.0.clone(),
                addr: key.1.clone(),
                ip,
            });
            index.insert(key, lanes.len() - 1);
            lanes.len() - 1
        };
        let (s, d) = (lane(from), lane(to));
        rows.push((f, s, d));
    }
    // Lanes of one host side by side, hosts in order of first appearance.
    let mut host_order: Vec<String> = Vec::new();
    for l in &lanes {
        if !host_order.contains(&l.ip) {
            host_order.push(l.ip.clone());
        }
    }
    let mut order: Vec<usize> = (0..lanes.len()).collect();
    order.sort_by_key(|&i| (host_order.iter().position(|h| *h == lanes[i].ip), i));
    let mut column = vec![0; lanes.len()];
    for (col, &i) in order.iter().enumerate() {
        column[i] = col;
    }
    // As wide as the longest label between two lifelines needs.
    let widest = rows
        .iter()
        .filter(|(_, s, d)| s != d)
        .map(|(f, _, _)| text_width(&label(f)) + 2 * PAD)
        .max()
        .unwrap_or(0);
    let lane_w = widest.clamp(LANE_MIN, LANE_MAX);
    let x = |lane: usize| LEFT + column[lane] * lane_w + lane_w / 2;
    let last_col = lanes.len().saturating_sub(1);
    // A self-addressed frame on the last lane writes its label past it.
    let right = if rows
        .iter()
        .any(|(_, s, d)| s == d && column[*s] == last_col)
    {
        lane_w / 2 + LOOP_LABEL
    } else {
        8
    };

    let more = a.frames.len().saturating_sub(max_frames);
    let width = LEFT + lanes.len().max(1) * lane_w + right;
    let bottom = TOP + rows.len() * ROW_H + 12;
    let height = bottom + if more > 0 || undrawn > 0 { FOOT } else { 8 };
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" class="ladder" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="ladder diagram: {} frames" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="12">"##,
        a.frames.len()
    );
    s.push_str(r##"<rect x="0" y="0" width="100%" height="100%" fill="#ffffff"/>"##);
    if rows.is_empty() {
        let _ = write!(
            s,
            r##"<text x="12" y="30" fill="#555">no frames to draw ({} captured)</text></svg>"##,
            a.frames.len()
        );
        return s;
    }

    // Host bands, then lane titles and lines.
    let mut col = 0;
    for (h, ip) in host_order.iter().enumerate() {
        let n = lanes.iter().filter(|l| l.ip == *ip).count();
        let fill = if h % 2 == 0 { "#f3f6fa" } else { "#faf7f0" };
        let _ = write!(
            s,
            r##"<rect x="{}" y="2" width="{}" height="{}" fill="{fill}" rx="4"/>"##,
            LEFT + col * lane_w + 2,
            n * lane_w - 4,
            bottom - 2
        );
        col += n;
    }
    for (i, l) in lanes.iter().enumerate() {
        let cx = x(i);
        let name = names
            .get(&l.ip)
            .map(|n| format!("{n} "))
            .unwrap_or_default();
        let title = fit(&format!("{name}{}", l.addr), lane_w);
        let sub = lane_role(a, l);
        let _ = write!(
            s,
            r##"<text x="{cx}" y="20" text-anchor="middle" font-weight="bold" fill="#1a1a1a">{}</text><text x="{cx}" y="36" text-anchor="middle" fill="#555" font-size="11">{}</text><line class="lifeline" x1="{cx}" y1="{}" x2="{cx}" y2="{bottom}" stroke="#9aa4b0" stroke-width="1.5"/>"##,
            escape_xml(&title),
            escape_xml(&sub),
            TOP - 16
        );
    }
    let _ = write!(
        s,
        r##"<text x="8" y="36" fill="#555" font-size="11">time (s)</text>"##
    );

    for (row, (f, from, to)) in rows.iter().enumerate() {
        let y = TOP + row * ROW_H + 14;
        let (x1, x2) = (x(*from), x(*to));
        let color = color(f.kind);
        let dash = if matches!(f.kind, Kind::Icmp | Kind::Arp | Kind::Other) {
            r#" stroke-dasharray="5 3""#
        } else {
            ""
        };
        let shown = label(f);
        let tip = format!(
            "frame {} at {:.6} s: {} {} → {}{}",
            f.number,
            f.time,
            shown,
            f.src,
            f.dst,
            if f.len > 0 {
                format!(" ({} bytes)", f.len)
            } else {
                String::new()
            }
        );
        let _ = write!(
            s,
            r##"<g class="frame" data-kind="{}"><title>{}</title><text x="8" y="{}" fill="#333">{:.3}</text><text x="60" y="{}" fill="#999" font-size="10">#{}</text>"##,
            kind_attr(f.kind),
            escape_xml(&tip),
            y + 4,
            f.time,
            y + 4,
            f.number
        );
        if x1 == x2 {
            let _ = write!(
                s,
                r##"<path d="M{x1} {} h30 v12 h-24" fill="none" stroke="{color}" stroke-width="1.6"{dash}/><polygon points="{x1},{} {},{} {},{}" fill="{color}"/>"##,
                y - 6,
                y + 6,
                x1 + 7,
                y + 2,
                x1 + 7,
                y + 10
            );
            // Up to the next lifeline (or the diagram's right edge).
            let room = if column[*from] == last_col {
                width - (x1 + LOOP_LABEL)
            } else {
                lane_w - LOOP_LABEL
            };
            let _ = write!(
                s,
                r##"<text class="label" x="{}" y="{}" fill="{color}">{}</text></g>"##,
                x1 + LOOP_LABEL,
                y + 4,
                escape_xml(&fit(&shown, room + PAD))
            );
            continue;
        }
        let dir: i64 = if x2 > x1 { 1 } else { -1 };
        let tip_x = x2 as i64 - dir * 2;
        let base = tip_x - dir * 9;
        let _ = write!(
            s,
            r##"<line x1="{x1}" y1="{y}" x2="{base}" y2="{y}" stroke="{color}" stroke-width="1.6"{dash}/><polygon points="{tip_x},{y} {base},{} {base},{}" fill="{color}"/>"##,
            y - 4,
            y + 4
        );
        // Centred in the gap next to the sender, clear of the lifelines
        // an arrow across three or more lanes passes.
        let gap_left = if x2 > x1 { x1 } else { x1 - lane_w };
        let _ = write!(
            s,
            r##"<text class="label" x="{}" y="{}" text-anchor="middle" fill="{color}" stroke="#ffffff" stroke-width="3" stroke-opacity="0.85" paint-order="stroke">{}</text></g>"##,
            gap_left + lane_w / 2,
            y - 5,
            escape_xml(&fit(&shown, lane_w))
        );
    }
    let mut notes = Vec::new();
    if more > 0 {
        notes.push(format!(
            "… {more} more frames not drawn ({} in all)",
            a.frames.len()
        ));
    }
    if undrawn > 0 {
        notes.push(format!(
            "{undrawn} other frame(s) not drawn (see the counts)"
        ));
    }
    if !notes.is_empty() {
        let _ = write!(
            s,
            r##"<text x="8" y="{}" fill="#555" class="more">{}</text>"##,
            bottom + 24,
            escape_xml(&notes.join("; "))
        );
    }
    s.push_str("</svg>");
    s
}

/// Width in pixels of `text` in the diagram's 12 px monospace font.
fn text_width(text: &str) -> usize {
    (text.chars().count() as f64 * CHAR_W).ceil() as usize
}

/// `text`, shortened with `…` to fit `room` pixels with [`PAD`] either side.
fn fit(text: &str, room: usize) -> String {
    let chars = (room.saturating_sub(2 * PAD) as f64 / CHAR_W).floor() as usize;
    super::abbreviate(text, chars.max(2))
}

/// The lanes a frame goes between; ICMP errors go from the socket that
/// refused the datagram to the socket that sent it.
fn endpoints(f: &Frame) -> Option<((String, String), (String, String))> {
    match (f.proto.as_str(), &f.quoted) {
        ("tcp" | "udp", _) => Some((
            (f.proto.clone(), f.src.clone()),
            (f.proto.clone(), f.dst.clone()),
        )),
        ("icmp", Some(q)) => Some((
            (q.proto.clone(), q.dst.clone()),
            (q.proto.clone(), q.src.clone()),
        )),
        ("icmp" | "arp", None) if !f.src.is_empty() && !f.dst.is_empty() => {
            Some((("ip".into(), f.src.clone()), ("ip".into(), f.dst.clone())))
        }
        _ => None,
    }
}

/// The label of a frame that pairs with another: a request names its reply
/// (or says none came), a reply its request and how long it took, an ICMP
/// error the packet it refers to. `None`: the frame's own label.
fn paired_label(a: &CaptureAnalysis, f: &Frame) -> Option<String> {
    let took = |after: Option<f64>| after.map(|s| format!(", {}", ms(s))).unwrap_or_default();
    if let Some(h) = &f.arp {
        let x = a
            .arp
            .iter()
            .find(|x| x.requests.contains(&f.number) || x.reply == Some(f.number))?;
        return Some(match h.op {
            ArpOp::Request => match x.reply {
                Some(r) => format!("{}? (reply #{r})", f.label),
                None => format!("{}? (no reply)", f.label),
            },
            ArpOp::Reply => {
                let mac = h
                    .sender_mac
                    .as_deref()
                    .map(|m| format!(" {m}"))
                    .unwrap_or_default();
                match x.requests.last() {
                    Some(q) => format!("{}{mac} (#{q}{})", f.label, took(x.after)),
                    None => format!("{}{mac}", f.label),
                }
            }
        });
    }
    let h = f.icmp?;
    if h.is_echo_request() || h.is_echo_reply() {
        let e = a
            .echoes
            .iter()
            .find(|e| e.request == Some(f.number) || e.reply == Some(f.number))?;
        let seq = format!("{} seq={}", f.label, e.seq);
        return Some(if h.is_echo_request() {
            match e.reply {
                Some(r) => format!("{seq} (reply #{r})"),
                None => format!("{seq} (no reply)"),
            }
        } else {
            match e.request {
                Some(q) => format!("{seq} (#{q}{})", took(e.after)),
                None => seq,
            }
        });
    }
    let e = a.icmp_errors.iter().find(|e| e.frame == f.number)?;
    e.refers_to.map(|p| format!("{} (about #{p})", f.label))
}

/// `0.12 ms`, `3.4 ms`, `1.203 s`.
fn ms(s: f64) -> String {
    if s < 1.0 {
        let ms = s * 1000.0;
        if ms < 10.0 {
            format!("{ms:.2} ms")
        } else {
            format!("{ms:.1} ms")
        }
    } else {
        format!("{s:.3} s")
    }
}

fn ip_of(proto: &str, addr: &str) -> String {
    if proto == "ip" {
        return addr.to_string();
    }
    match addr.parse::<std::net::SocketAddr>() {
        Ok(a) => a.ip().to_string(),
        Err(_) => addr.to_string(),
    }
}

fn lane_role(a: &CaptureAnalysis, l: &Lane) -> String {
    let proto = match l.proto.as_str() {
        "tcp" => Proto::Tcp,
        "udp" => Proto::Udp,
        _ => return "host".into(),
    };
    match a
        .sockets
        .iter()
        .find(|s| s.proto == proto && s.address == l.addr)
        .map(|s| s.role)
    {
        Some(Role::Server) => format!("{} server", proto.name()),
        Some(Role::Client) => format!("{} client", proto.name()),
        None => proto.name().to_string(),
    }
}

/// The ladders' colours, for the reports' legends: (colour, its name,
/// dashed, what it draws).
pub const LEGEND: [(&str, &str, bool, &str); 8] = [
    (
        "#2e7d32",
        "green",
        false,
        "SYN, SYN-ACK (connection set-up)",
    ),
    ("#1565c0", "blue", false, "TCP data"),
    ("#6b6b6b", "grey", false, "ACK (no data)"),
    ("#e65100", "orange", false, "FIN (closing)"),
    ("#c62828", "red", false, "RST (reset)"),
    ("#6a1b9a", "purple", false, "UDP datagram"),
    ("#c62828", "red dashed", true, "ICMP"),
    ("#8a8a8a", "grey dashed", true, "ARP"),
];

fn color(k: Kind) -> &'static str {
    let i = match k {
        Kind::Syn | Kind::SynAck => 0,
        Kind::Data => 1,
        Kind::Ack => 2,
        Kind::Fin => 3,
        Kind::Rst => 4,
        Kind::Udp => 5,
        Kind::Icmp => 6,
        Kind::Arp => 7,
        Kind::Other => return "#8a8a8a",
    };
    LEGEND[i].0
}

fn kind_attr(k: Kind) -> &'static str {
    match k {
        Kind::Syn => "syn",
        Kind::SynAck => "syn-ack",
        Kind::Ack => "ack",
        Kind::Data => "data",
        Kind::Fin => "fin",
        Kind::Rst => "rst",
        Kind::Udp => "udp",
        Kind::Icmp => "icmp",
        Kind::Arp => "arp",
        Kind::Other => "other",
    }
}
