//! The ladder (sequence) diagram of a capture as a self-contained inline SVG:
//! one vertical line per socket address (or per IP for ICMP without a quoted
//! datagram, e.g. ping), one arrow per frame with its label, time on the left.
//! ARP and other non-transport frames are counted below the diagram, not drawn.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

use super::{CaptureAnalysis, Frame, Kind, Proto, Role};
use crate::util::escape_xml;

/// Frames drawn at most; the rest are summed up in a last line.
pub const MAX_FRAMES: usize = 200;

const LEFT: usize = 96;
const LANE_W: usize = 190;
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
    let x = |lane: usize| LEFT + column[lane] * LANE_W + LANE_W / 2;

    let more = a.frames.len().saturating_sub(max_frames);
    let width = LEFT + lanes.len().max(1) * LANE_W + 8;
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
            LEFT + col * LANE_W + 2,
            n * LANE_W - 4,
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
        let title = super::abbreviate(&format!("{name}{}", l.addr), 25);
        let sub = lane_role(a, l);
        let _ = write!(
            s,
            r##"<text x="{cx}" y="20" text-anchor="middle" font-weight="bold" fill="#1a1a1a">{}</text><text x="{cx}" y="36" text-anchor="middle" fill="#555" font-size="11">{}</text><line x1="{cx}" y1="{}" x2="{cx}" y2="{bottom}" stroke="#9aa4b0" stroke-width="1.5"/>"##,
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
        let tip = format!(
            "frame {} at {:.6} s: {} {} → {}{}",
            f.number,
            f.time,
            f.label,
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
            let _ = write!(
                s,
                r##"<text x="{}" y="{}" fill="{color}">{}</text></g>"##,
                x1 + 36,
                y + 4,
                escape_xml(&f.label)
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
        let _ = write!(
            s,
            r##"<text x="{}" y="{}" text-anchor="middle" fill="{color}" stroke="#ffffff" stroke-width="3" stroke-opacity="0.85" paint-order="stroke">{}</text></g>"##,
            (x1 + x2) / 2,
            y - 5,
            escape_xml(&f.label)
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
            "{undrawn} ARP/other frame(s) not drawn (see the counts)"
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
        ("icmp", None) if !f.src.is_empty() && !f.dst.is_empty() => {
            Some((("ip".into(), f.src.clone()), ("ip".into(), f.dst.clone())))
        }
        _ => None,
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

fn color(k: Kind) -> &'static str {
    match k {
        Kind::Syn | Kind::SynAck => "#2e7d32",
        Kind::Data => "#1565c0",
        Kind::Ack => "#6b6b6b",
        Kind::Fin => "#e65100",
        Kind::Rst => "#c62828",
        Kind::Udp => "#6a1b9a",
        Kind::Icmp => "#c62828",
        Kind::Arp | Kind::Other => "#8a8a8a",
    }
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
