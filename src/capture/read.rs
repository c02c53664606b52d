//! Reading capture files as Wireshark reads them, streamed: classic pcap
//! (microsecond and nanosecond magic, either byte order, the "modified"
//! variant) and pcapng (several sections, several interfaces, each with
//! its own link type, snapshot length and timestamp resolution), from any
//! `Read` through one bounded buffer, so a 2 GB file costs what a small
//! one does.
//!
//! Frames are numbered as Wireshark numbers them (every packet record of the
//! file, 1-based, whatever its interface); interfaces are numbered in the
//! order their descriptions appear, as Wireshark's `frame.interface_id`.
//! A file that is not a capture is refused with what it looks like; a file
//! damaged or cut part-way ends its frames there, with a reason
//! ([`Reader::next_frame`] returns `Err` once, the frames before it stand).
//!
//! It is labctl's own reader rather than `pcap-file`'s: that crate reads
//! every pcapng timestamp as nanoseconds (dumpcap writes microseconds) and
//! grows its buffer to whatever a damaged block claims.

use std::io::Read;

/// Wireshark's largest packet for the common link types; a record claiming
/// more is damage, not a packet.
const MAX_PACKET: usize = 262_144;
/// The largest pcapng block read (a packet with its options).
const MAX_BLOCK: usize = 16 << 20;
/// The read buffer's size; it grows only to hold one larger block.
const BUFFER: usize = 1 << 20;

/// Why a file is not read at all, or where its frames end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReadError {
    /// Not a capture (or not one of the formats read), with what it is.
    NotCapture(String),
    /// The frames end here: the file is cut or damaged after `frames` frames.
    Damaged { frames: usize, why: String },
    /// The file could not be read (I/O).
    Io(String),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::NotCapture(why) => write!(f, "not a capture: {why}"),
            ReadError::Damaged { frames, why } => {
                write!(f, "{why}; the {frames} frame(s) before it are read")
            }
            ReadError::Io(why) => write!(f, "cannot read it: {why}"),
        }
    }
}

/// The file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Pcap,
    PcapNg,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Pcap => "pcap",
            Format::PcapNg => "pcapng",
        }
    }
}

/// One interface of a capture (a classic pcap has one).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Interface {
    /// The link type (LINKTYPE_*): 1 Ethernet, 113 Linux cooked, 276 Linux cooked v2 …
    pub link: u32,
    pub snaplen: u32,
    /// `if_name` (pcapng), e.g. `eth0` or `any`.
    pub name: Option<String>,
    /// Timestamp units per second.
    units: f64,
    /// Seconds added to every timestamp (`if_tsoffset`).
    offset: f64,
}

/// One packet record: its number as Wireshark shows it, its interface, its
/// time (seconds since the epoch), its length on the wire and the bytes captured.
#[derive(Debug)]
pub(crate) struct RawFrame<'a> {
    pub number: usize,
    pub interface: usize,
    /// The interface's link type.
    pub link: u32,
    pub ts: f64,
    pub orig_len: usize,
    pub data: &'a [u8],
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Endian {
    Little,
    Big,
}

impl Endian {
    fn u16(self, b: &[u8]) -> u16 {
        let a = [b[0], b[1]];
        match self {
            Endian::Little => u16::from_le_bytes(a),
            Endian::Big => u16::from_be_bytes(a),
        }
    }
    fn u32(self, b: &[u8]) -> u32 {
        let a = [b[0], b[1], b[2], b[3]];
        match self {
            Endian::Little => u32::from_le_bytes(a),
            Endian::Big => u32::from_be_bytes(a),
        }
    }
    fn i64(self, b: &[u8]) -> i64 {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[..8]);
        match self {
            Endian::Little => i64::from_le_bytes(a),
            Endian::Big => i64::from_be_bytes(a),
        }
    }
}

/// What kind of classic pcap: its timestamp unit and record header size.
#[derive(Clone, Copy)]
struct Classic {
    units: f64,
    /// 16, or 24 for the "modified" (Kuznetzov) format.
    record: usize,
}

/// Where a packet record's bytes are: (interface, time, original length,
/// start in the buffer, captured length).
type Located = (usize, f64, usize, usize, usize);

/// A streaming reader of one capture file.
pub(crate) struct Reader<R> {
    src: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    /// File offset of `buf[start]`.
    offset: u64,
    endian: Endian,
    format: Format,
    classic: Option<Classic>,
    interfaces: Vec<Interface>,
    /// Index in `interfaces` of the current section's first interface.
    section_base: usize,
    frames: usize,
    /// Set once the frames have ended (cleanly or not).
    done: bool,
}

impl<R: Read> Reader<R> {
    /// Reads the file's header; refuses what is not a capture.
    pub(crate) fn new(src: R) -> Result<Reader<R>, ReadError> {
        Reader::with_buffer(src, BUFFER)
    }

    /// [`Reader::new`] with a read buffer of `size` bytes (it still grows
    /// to hold one larger block): a file held in memory needs no more than
    /// its own length, and the reports read a few small captures per
    /// rebuild, where a zeroed megabyte each was most of their cost.
    pub(crate) fn with_buffer(src: R, size: usize) -> Result<Reader<R>, ReadError> {
        let mut r = Reader {
            src,
            buf: vec![0; size.min(BUFFER)],
            start: 0,
            end: 0,
            eof: false,
            offset: 0,
            endian: Endian::Little,
            format: Format::Pcap,
            classic: None,
            interfaces: Vec::new(),
            section_base: 0,
            frames: 0,
            done: false,
        };
        r.fill(24)?;
        let have = r.end - r.start;
        if have == 0 {
            return Err(ReadError::NotCapture("the file is empty".into()));
        }
        let head = r.buf[r.start..r.start + have.min(24)].to_vec();
        if head.len() >= 4 && head[..4] == [0x0a, 0x0d, 0x0d, 0x0a] {
            r.format = Format::PcapNg;
            if head.len() < 12 {
                return Err(ReadError::NotCapture(format!(
                    "a pcapng file cut in its first block ({} bytes)",
                    head.len()
                )));
            }
            r.endian = match head[8..12] {
                [0x4d, 0x3c, 0x2b, 0x1a] => Endian::Little,
                [0x1a, 0x2b, 0x3c, 0x4d] => Endian::Big,
                _ => {
                    return Err(ReadError::NotCapture(
                        "a pcapng section header without its byte-order magic".into(),
                    ))
                }
            };
            return Ok(r);
        }
        let magic = |e: Endian| {
            if head.len() < 4 {
                return None;
            }
            match e.u32(&head) {
                0xa1b2_c3d4 => Some(Classic {
                    units: 1e6,
                    record: 16,
                }),
                0xa1b2_3c4d => Some(Classic {
                    units: 1e9,
                    record: 16,
                }),
                0xa1b2_cd34 => Some(Classic {
                    units: 1e6,
                    record: 24,
                }),
                _ => None,
            }
        };
        let (endian, classic) = match (magic(Endian::Little), magic(Endian::Big)) {
            (Some(c), _) => (Endian::Little, c),
            (None, Some(c)) => (Endian::Big, c),
            _ => return Err(ReadError::NotCapture(what_it_is(&head))),
        };
        if head.len() < 24 {
            return Err(ReadError::NotCapture(format!(
                "a pcap file cut inside its 24-byte header ({} bytes)",
                head.len()
            )));
        }
        r.endian = endian;
        r.classic = Some(classic);
        let major = endian.u16(&head[4..]);
        if major != 2 {
            return Err(ReadError::NotCapture(format!(
                "pcap version {major}.{} (Wireshark and tcpdump write 2.4)",
                endian.u16(&head[6..])
            )));
        }
        r.interfaces.push(Interface {
            // The upper bits may carry the FCS length; the link type is below.
            link: endian.u32(&head[20..]) & 0x03ff_ffff,
            snaplen: endian.u32(&head[16..]),
            name: None,
            units: classic.units,
            offset: 0.0,
        });
        r.consume(24);
        Ok(r)
    }

    pub(crate) fn format(&self) -> Format {
        self.format
    }

    /// The interfaces described so far (all of them once the frames have ended).
    pub(crate) fn interfaces(&self) -> &[Interface] {
        &self.interfaces
    }

    /// Frames read so far.
    pub(crate) fn frames(&self) -> usize {
        self.frames
    }

    /// The next frame; `Ok(None)` at the end of the file; an `Err` once
    /// where the file is cut or damaged (then `Ok(None)`).
    pub(crate) fn next_frame(&mut self) -> Result<Option<RawFrame<'_>>, ReadError> {
        if self.done {
            return Ok(None);
        }
        let r = match self.format {
            Format::Pcap => self.next_classic(),
            Format::PcapNg => self.next_block(),
        };
        match r {
            Ok(Some((interface, ts, orig_len, at, len))) => {
                self.frames += 1;
                Ok(Some(RawFrame {
                    number: self.frames,
                    interface,
                    link: self.interfaces[interface].link,
                    ts,
                    orig_len,
                    data: &self.buf[at..at + len],
                }))
            }
            Ok(None) => {
                self.done = true;
                Ok(None)
            }
            Err(e) => {
                self.done = true;
                Err(e)
            }
        }
    }

    /// (interface, time, original length, start in `buf`, captured length).
    fn next_classic(&mut self) -> Result<Option<Located>, ReadError> {
        let c = self.classic.expect("a classic pcap");
        self.fill(c.record)?;
        let have = self.end - self.start;
        if have == 0 {
            return Ok(None);
        }
        let n = self.frames + 1;
        if have < c.record {
            return Err(self.damaged(format!(
                "the file ends inside frame {n}'s record header ({have} of {} bytes): it was cut mid-packet",
                c.record
            )));
        }
        let h = &self.buf[self.start..self.start + c.record];
        let e = self.endian;
        let (sec, frac, incl, orig) = (e.u32(h), e.u32(&h[4..]), e.u32(&h[8..]), e.u32(&h[12..]));
        let incl = incl as usize;
        if incl > MAX_PACKET.max(self.interfaces[0].snaplen as usize) {
            return Err(self.damaged(format!(
                "frame {n} claims {incl} bytes, more than any packet: the file is damaged at byte {}",
                self.offset
            )));
        }
        self.fill(c.record + incl)?;
        let have = self.end - self.start;
        if have < c.record + incl {
            return Err(self.damaged(format!(
                "the file ends inside frame {n} ({} of its {incl} bytes): it was cut mid-packet",
                have - c.record
            )));
        }
        let at = self.start + c.record;
        self.consume(c.record + incl);
        let ts = f64::from(sec) + f64::from(frac) / c.units;
        Ok(Some((0, ts, orig as usize, at, incl)))
    }

    /// The next packet block, skipping and reading the others on the way.
    fn next_block(&mut self) -> Result<Option<Located>, ReadError> {
        loop {
            self.fill(12)?;
            let have = self.end - self.start;
            if have == 0 {
                return Ok(None);
            }
            if have < 12 {
                return Err(self.damaged(format!(
                    "the file ends inside a block header at byte {} ({have} bytes left): it was cut mid-packet",
                    self.offset
                )));
            }
            let h = &self.buf[self.start..self.start + 12];
            let raw_type = [h[0], h[1], h[2], h[3]];
            if raw_type == [0x0a, 0x0d, 0x0d, 0x0a] {
                // A new section, perhaps in the other byte order.
                self.endian = match h[8..12] {
                    [0x4d, 0x3c, 0x2b, 0x1a] => Endian::Little,
                    [0x1a, 0x2b, 0x3c, 0x4d] => Endian::Big,
                    _ => {
                        return Err(self.damaged(format!(
                            "a section header without its byte-order magic at byte {}",
                            self.offset
                        )))
                    }
                };
            }
            let e = self.endian;
            let h = &self.buf[self.start..self.start + 12];
            let (ty, len) = (e.u32(h), e.u32(&h[4..]) as usize);
            if len < 12 || len % 4 != 0 || len > MAX_BLOCK {
                return Err(self.damaged(format!(
                    "a block of type 0x{ty:08x} at byte {} claims a length of {len} bytes: the file is damaged there",
                    self.offset
                )));
            }
            self.fill(len)?;
            let have = self.end - self.start;
            if have < len {
                return Err(self.damaged(format!(
                    "the file ends inside a block at byte {} ({have} of its {len} bytes): it was cut mid-packet",
                    self.offset
                )));
            }
            let block = &self.buf[self.start..self.start + len];
            if e.u32(&block[len - 4..]) as usize != len {
                return Err(self.damaged(format!(
                    "the block at byte {} ends with a length that is not its own: the file is damaged there",
                    self.offset
                )));
            }
            let body = self.start + 8..self.start + len - 4;
            let out = match ty {
                0x0a0d_0d0a => {
                    self.section(body)?;
                    None
                }
                1 => {
                    self.interface(body)?;
                    None
                }
                6 => Some(self.enhanced(body, false)?),
                2 => Some(self.enhanced(body, true)?),
                3 => Some(self.simple(body)?),
                _ => None,
            };
            self.consume(len);
            if let Some(f) = out {
                return Ok(Some(f));
            }
        }
    }

    fn section(&mut self, body: std::ops::Range<usize>) -> Result<(), ReadError> {
        let b = &self.buf[body];
        if b.len() < 16 {
            return Err(self.damaged("a section header block too short".into()));
        }
        let major = self.endian.u16(&b[4..]);
        if major != 1 {
            return Err(self.damaged(format!(
                "a pcapng section of version {major} (Wireshark writes 1.0)"
            )));
        }
        self.section_base = self.interfaces.len();
        Ok(())
    }

    fn interface(&mut self, body: std::ops::Range<usize>) -> Result<(), ReadError> {
        let e = self.endian;
        let b = &self.buf[body];
        if b.len() < 8 {
            return Err(self.damaged("an interface description block too short".into()));
        }
        let mut i = Interface {
            link: u32::from(e.u16(b)),
            snaplen: e.u32(&b[4..]),
            name: None,
            units: 1e6,
            offset: 0.0,
        };
        for (code, v) in options(e, &b[8..]) {
            match code {
                2 => i.name = Some(String::from_utf8_lossy(v).into_owned()),
                9 if !v.is_empty() => {
                    let r = v[0];
                    let exp = i32::from(r & 0x7f);
                    i.units = if r & 0x80 == 0 {
                        10f64.powi(exp)
                    } else {
                        2f64.powi(exp)
                    };
                    if !i.units.is_finite() || i.units < 1.0 {
                        i.units = 1e6;
                    }
                }
                14 if v.len() >= 8 => i.offset = e.i64(v) as f64,
                _ => {}
            }
        }
        self.interfaces.push(i);
        Ok(())
    }

    /// An enhanced (or obsolete) packet block.
    fn enhanced(
        &mut self,
        body: std::ops::Range<usize>,
        obsolete: bool,
    ) -> Result<Located, ReadError> {
        let e = self.endian;
        let b = &self.buf[body.clone()];
        if b.len() < 20 {
            return Err(self.damaged(format!(
                "frame {}: a packet block too short",
                self.frames + 1
            )));
        }
        let id = if obsolete {
            usize::from(e.u16(b))
        } else {
            e.u32(b) as usize
        };
        let ts = (u64::from(e.u32(&b[4..])) << 32) | u64::from(e.u32(&b[8..]));
        let (incl, orig) = (e.u32(&b[12..]) as usize, e.u32(&b[16..]) as usize);
        if incl > b.len() - 20 {
            return Err(self.damaged(format!(
                "frame {} claims {incl} bytes in a block of {}: the file is damaged there",
                self.frames + 1,
                b.len() + 12
            )));
        }
        let Some(iface) = self.interfaces.get(self.section_base + id) else {
            return Err(self.damaged(format!(
                "frame {} names interface {id}, which the file never described",
                self.frames + 1
            )));
        };
        let secs = ts as f64 / iface.units + iface.offset;
        Ok((self.section_base + id, secs, orig, body.start + 20, incl))
    }

    fn simple(&mut self, body: std::ops::Range<usize>) -> Result<Located, ReadError> {
        let b = &self.buf[body.clone()];
        let Some(iface) = self.interfaces.get(self.section_base) else {
            return Err(self.damaged(format!(
                "frame {} comes before any interface description",
                self.frames + 1
            )));
        };
        if b.len() < 4 {
            return Err(self.damaged("a simple packet block too short".into()));
        }
        let orig = self.endian.u32(b) as usize;
        let mut incl = orig.min(b.len() - 4);
        if iface.snaplen > 0 {
            incl = incl.min(iface.snaplen as usize);
        }
        // No timestamp: Wireshark shows 0.
        Ok((self.section_base, 0.0, orig, body.start + 4, incl))
    }

    fn damaged(&self, why: String) -> ReadError {
        ReadError::Damaged {
            frames: self.frames,
            why,
        }
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        self.offset += n as u64;
    }

    /// Makes at least `n` bytes available from `start`, unless the file ends first.
    fn fill(&mut self, n: usize) -> Result<(), ReadError> {
        if self.end - self.start >= n || self.eof {
            return Ok(());
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() < n {
            self.buf.resize(n, 0);
        }
        while self.end < n {
            match self.src.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(k) => self.end += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ReadError::Io(crate::util::io_reason(&e))),
            }
        }
        Ok(())
    }
}

/// A pcapng options list: (code, value) until `opt_endofopt` or the end.
fn options(e: Endian, mut b: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while b.len() >= 4 {
        let (code, len) = (e.u16(b), usize::from(e.u16(&b[2..])));
        if code == 0 {
            break;
        }
        let Some(v) = b.get(4..4 + len) else { break };
        out.push((code, v));
        let step = 4 + len.div_ceil(4) * 4;
        b = b.get(step..).unwrap_or(&[]);
    }
    out
}

/// What a file that is not a capture looks like, from its first bytes.
fn what_it_is(head: &[u8]) -> String {
    let starts = |m: &[u8]| head.starts_with(m);
    let kind = if starts(&[0x1f, 0x8b]) {
        "a gzip-compressed file (decompress it first: `gunzip`)"
    } else if starts(&[0x28, 0xb5, 0x2f, 0xfd]) {
        "a zstd-compressed file (decompress it first: `unzstd`)"
    } else if starts(&[0x04, 0x22, 0x4d, 0x18]) {
        "an lz4-compressed file (decompress it first: `unlz4`)"
    } else if starts(b"PK\x03\x04") {
        "a zip archive (unpack it first)"
    } else if starts(b"%PDF") {
        "a PDF document"
    } else if starts(&[0x89, b'P', b'N', b'G']) || starts(&[0xff, 0xd8, 0xff]) {
        "an image"
    } else if head
        .iter()
        .all(|&b| b == b'\n' || b == b'\r' || b == b'\t' || (0x20..0x7f).contains(&b))
    {
        "a text file (save the capture from Wireshark as pcapng, not as text)"
    } else {
        "not pcap or pcapng (its first bytes are not a capture's magic number)"
    };
    let shown: Vec<String> = head.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("{kind}; it starts with {}", shown.join(" "))
}

/// Wireshark's name of a link type, for messages.
pub(crate) fn link_name(link: u32) -> String {
    match link {
        0 => "NULL (BSD loopback)".into(),
        1 => "Ethernet".into(),
        101 => "raw IP".into(),
        108 => "OpenBSD loopback".into(),
        113 => "Linux cooked (SLL)".into(),
        127 => "802.11 radiotap".into(),
        228 => "raw IPv4".into(),
        229 => "raw IPv6".into(),
        276 => "Linux cooked v2 (SLL2)".into(),
        other => format!("link type {other}"),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A classic pcap: magic (µs or ns), byte order, link type, frames (ts µs/ns, bytes).
    pub(crate) fn pcap(big: bool, nanos: bool, link: u32, frames: &[(u64, &[u8])]) -> Vec<u8> {
        let w32 = |v: u32| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let w16 = |v: u16| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let mut out = Vec::new();
        out.extend(w32(if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }));
        out.extend(w16(2));
        out.extend(w16(4));
        out.extend(w32(0));
        out.extend(w32(0));
        out.extend(w32(262_144));
        out.extend(w32(link));
        let unit = if nanos { 1_000_000_000 } else { 1_000_000 };
        for (ts, data) in frames {
            out.extend(w32((ts / unit) as u32));
            out.extend(w32((ts % unit) as u32));
            out.extend(w32(data.len() as u32));
            out.extend(w32(data.len() as u32));
            out.extend_from_slice(data);
        }
        out
    }

    /// A pcapng block (little-endian).
    pub(crate) fn block(ty: u32, body: &[u8]) -> Vec<u8> {
        let pad = body.len().div_ceil(4) * 4;
        let len = (12 + pad) as u32;
        let mut out = Vec::new();
        out.extend(ty.to_le_bytes());
        out.extend(len.to_le_bytes());
        out.extend_from_slice(body);
        out.resize(8 + pad, 0);
        out.extend(len.to_le_bytes());
        out
    }

    pub(crate) fn shb() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(0x1a2b_3c4du32.to_le_bytes());
        b.extend(1u16.to_le_bytes());
        b.extend(0u16.to_le_bytes());
        b.extend((-1i64).to_le_bytes());
        block(0x0a0d_0d0a, &b)
    }

    /// An interface description: link type, name, optional if_tsresol.
    pub(crate) fn idb(link: u16, name: &str, tsresol: Option<u8>) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(link.to_le_bytes());
        b.extend(0u16.to_le_bytes());
        b.extend(262_144u32.to_le_bytes());
        let mut opt = |code: u16, v: &[u8]| {
            b.extend(code.to_le_bytes());
            b.extend((v.len() as u16).to_le_bytes());
            b.extend_from_slice(v);
            b.resize(b.len().div_ceil(4) * 4, 0);
        };
        opt(2, name.as_bytes());
        if let Some(r) = tsresol {
            opt(9, &[r]);
        }
        b.extend([0u8; 4]);
        block(1, &b)
    }

    /// An enhanced packet block: interface, raw timestamp, bytes.
    pub(crate) fn epb(iface: u32, ts: u64, data: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(iface.to_le_bytes());
        b.extend(((ts >> 32) as u32).to_le_bytes());
        b.extend((ts as u32).to_le_bytes());
        b.extend((data.len() as u32).to_le_bytes());
        b.extend((data.len() as u32).to_le_bytes());
        b.extend_from_slice(data);
        block(6, &b)
    }

    /// (number, interface, time, bytes) of each frame, and where they ended.
    type Frames = (Vec<(usize, usize, f64, Vec<u8>)>, Option<ReadError>);

    fn all(bytes: &[u8]) -> Frames {
        let mut r = Reader::new(bytes).unwrap();
        let mut out = Vec::new();
        loop {
            match r.next_frame() {
                Ok(Some(f)) => out.push((f.number, f.interface, f.ts, f.data.to_vec())),
                Ok(None) => return (out, None),
                Err(e) => {
                    assert!(r.next_frame().unwrap().is_none(), "nothing after an error");
                    return (out, Some(e));
                }
            }
        }
    }

    #[test]
    fn classic_pcap_in_every_byte_order_and_unit() {
        for big in [false, true] {
            for nanos in [false, true] {
                let unit = if nanos { 1_000_000_000 } else { 1_000_000 };
                let f = pcap(
                    big,
                    nanos,
                    1,
                    &[
                        (1_700_000_000 * unit + unit / 4, b"abc"),
                        (1_700_000_001 * unit, b"de"),
                    ],
                );
                let (frames, err) = all(&f);
                assert!(err.is_none());
                assert_eq!(frames.len(), 2);
                assert_eq!(frames[0].0, 1);
                assert!((frames[0].2 - 1_700_000_000.25).abs() < 1e-6);
                assert_eq!(frames[1].3, b"de");
                let r = Reader::new(&f[..]).unwrap();
                assert_eq!((r.format(), r.interfaces()[0].link), (Format::Pcap, 1));
            }
        }
    }

    #[test]
    fn a_cut_file_keeps_the_frames_before_the_cut() {
        let f = pcap(false, false, 1, &[(0, b"abcdef"), (1, b"ghijkl")]);
        let (frames, err) = all(&f[..f.len() - 3]);
        assert_eq!(frames.len(), 1);
        let e = err.unwrap().to_string();
        assert!(
            e.contains("ends inside frame 2") && e.contains("cut mid-packet"),
            "{e}"
        );
        let (frames, err) = all(&f[..24 + 16 + 6 + 5]);
        assert_eq!(frames.len(), 1);
        assert!(err.unwrap().to_string().contains("record header"));
    }

    #[test]
    fn pcapng_with_two_interfaces_and_resolutions_numbers_frames_as_wireshark() {
        let mut f = shb();
        f.extend(idb(1, "eth0", None)); // microseconds
        f.extend(idb(113, "any", Some(9))); // nanoseconds
        f.extend(epb(0, 1_700_000_000_500_000, b"one"));
        f.extend(block(5, &[0; 8])); // statistics: not a frame
        f.extend(epb(1, 1_700_000_000_750_000_000, b"two"));
        // A second section (another file merged), its own interface.
        f.extend(shb());
        f.extend(idb(276, "any", None));
        f.extend(epb(0, 1_700_000_001_000_000, b"three"));
        let (frames, err) = all(&f);
        assert!(err.is_none(), "{err:?}");
        let got: Vec<(usize, usize)> = frames.iter().map(|f| (f.0, f.1)).collect();
        assert_eq!(got, vec![(1, 0), (2, 1), (3, 2)]);
        assert!((frames[0].2 - 1_700_000_000.5).abs() < 1e-6);
        assert!((frames[1].2 - 1_700_000_000.75).abs() < 1e-6);
        assert!((frames[2].2 - 1_700_000_001.0).abs() < 1e-6);
        assert_eq!(frames[2].3, b"three");
        let mut r = Reader::new(&f[..]).unwrap();
        while r.next_frame().unwrap().is_some() {}
        let links: Vec<u32> = r.interfaces().iter().map(|i| i.link).collect();
        assert_eq!(links, vec![1, 113, 276]);
        assert_eq!(r.interfaces()[1].name.as_deref(), Some("any"));
    }

    #[test]
    fn damaged_pcapng_blocks_end_the_frames_with_a_reason() {
        let mut f = shb();
        f.extend(idb(1, "eth0", None));
        f.extend(epb(0, 0, b"ok"));
        let good = f.len();
        f.extend(epb(0, 0, b"cut here"));
        let (frames, err) = all(&f[..f.len() - 6]);
        assert_eq!(frames.len(), 1);
        assert!(err.unwrap().to_string().contains("cut mid-packet"));
        // A length that is not its own at the end of the block.
        let mut g = f.clone();
        let last = g.len() - 1;
        g[last] ^= 0x40;
        let (_, err) = all(&g);
        assert!(err.unwrap().to_string().contains("not its own"));
        // A huge claimed length.
        let mut h = f[..good].to_vec();
        h.extend(6u32.to_le_bytes());
        h.extend(0xfff0_0000u32.to_le_bytes());
        h.extend([0u8; 8]);
        let (frames, err) = all(&h);
        assert_eq!(frames.len(), 1);
        assert!(err.unwrap().to_string().contains("claims a length"));
        // A packet of an interface never described.
        let mut k = f[..good].to_vec();
        k.extend(epb(7, 0, b"x"));
        assert!(all(&k).1.unwrap().to_string().contains("interface 7"));
    }

    #[test]
    fn what_is_not_a_capture_says_what_it_is() {
        let e = |b: &[u8]| match Reader::new(b) {
            Err(ReadError::NotCapture(w)) => w,
            Err(other) => panic!("{other:?}"),
            Ok(_) => panic!("read {b:?} as a capture"),
        };
        assert!(e(b"").contains("empty"));
        assert!(e(b"hello, world\n").contains("text file"));
        assert!(e(b"PK\x03\x04rest").contains("zip"));
        assert!(e(&[0x1f, 0x8b, 8, 0]).contains("gzip"));
        assert!(e(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0]).contains("cut inside its 24-byte header"));
        assert!(e(&[0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 0, 1, 2, 3, 4]).contains("byte-order"));
    }
}
