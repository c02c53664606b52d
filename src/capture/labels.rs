//! How a frame or a payload reads in the reports: TCP flags (`SYN-ACK`),
//! ICMP types (`ICMP port unreachable`), payload previews, abbreviations.

use super::decode::TcpFlags;

/// `SYN`, `SYN-ACK`, `PSH-ACK`, `FIN-ACK`, `RST-ACK` …
pub(super) fn tcp_flag_label(f: TcpFlags) -> String {
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

pub(super) fn icmp_label(v6: bool, ty: u8, code: u8) -> String {
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
pub(crate) fn preview(bytes: &[u8], max: usize) -> String {
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
pub(crate) fn abbreviate(s: &str, max: usize) -> String {
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
}
