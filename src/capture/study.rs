//! A capture labctl did not make — a student's, saved from Wireshark,
//! dumpcap or tcpdump — read in two streamed passes, so its size costs
//! time, never memory: the first finds the lab's services ([`super::find`]),
//! the second analyses their conversations, one analysis per interface
//! (a merged file holds several points of view; frame numbers stay the
//! file's, as Wireshark shows them), and counts everything else by what it
//! is. A packet captured twice on one interface (two captures merged by
//! `mergecap`, whose identical interfaces it folds into one) is counted
//! once: the copy is set aside.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::path::Path;

use super::analysis::Builder;
use super::decode::{decode, Link};
use super::find::{self, Finder, ServerSpec, Service};
use super::read::{link_name, Format, ReadError, Reader};
use super::{CaptureAnalysis, Options};

/// Frames of the lab's conversations kept per interface (each costs a few
/// hundred bytes); beyond, they are counted and followed, not listed.
pub const MAX_FRAMES: usize = 20_000;
/// Two copies of one packet on one interface are at most this far apart (s):
/// captures on two hosts of one machine (or of clock-synchronised Pis).
const DUPLICATE_WINDOW: f64 = 0.05;

/// What the instructor says about the captures.
#[derive(Debug, Clone, Default)]
pub struct StudyOptions {
    /// The lab's servers, when the instructor names them (`--server`).
    pub servers: Vec<ServerSpec>,
}

/// Why a file could not be studied at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StudyError {
    #[error("not a capture: {0}")]
    NotCapture(String),
    #[error("{0}")]
    LinkType(String),
    #[error("cannot read it: {0}")]
    Io(String),
}

/// One interface of the file.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InterfaceInfo {
    /// As Wireshark's `frame.interface_id`.
    pub id: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Wireshark's name of its link type.
    pub link: String,
    pub frames: usize,
    /// Frames cut by the snapshot length.
    pub cut: usize,
}

/// The lab's conversations seen on one interface.
#[derive(Debug, Clone)]
pub struct View {
    pub interface: usize,
    pub analysis: CaptureAnalysis,
}

/// Everything a capture file shows.
#[derive(Debug, Clone)]
pub struct Study {
    pub format: Format,
    pub frames: usize,
    pub interfaces: Vec<InterfaceInfo>,
    pub services: Vec<Service>,
    /// One per interface that carried the lab's frames, in interface order.
    pub views: Vec<View>,
    /// Frames that are not the lab's, by what they are (most first).
    pub set_aside: Vec<(String, usize)>,
    /// Where the frames end early, when the file is cut or damaged.
    pub damaged: Option<String>,
    pub warnings: Vec<String>,
}

/// Reads `path` twice (streamed) and returns what it shows.
pub fn study(path: &Path, opts: &StudyOptions) -> Result<Study, StudyError> {
    let open = || -> Result<Reader<std::fs::File>, StudyError> {
        let f =
            std::fs::File::open(path).map_err(|e| StudyError::Io(crate::util::io_reason(&e)))?;
        if f.metadata().is_ok_and(|m| m.is_dir()) {
            return Err(StudyError::Io("it is a directory".into()));
        }
        Reader::new(f).map_err(|e| match e {
            ReadError::NotCapture(w) => StudyError::NotCapture(w),
            ReadError::Io(w) => StudyError::Io(w),
            other => StudyError::NotCapture(other.to_string()),
        })
    };

    // Pass 1: the services, the time span, the interfaces.
    let mut reader = open()?;
    let mut finder = Finder::default();
    let mut dups = Duplicates::default();
    let mut span: Option<(f64, f64)> = None;
    let mut interfaces: Vec<InterfaceInfo> = Vec::new();
    let mut damaged = None;
    loop {
        let f = match reader.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                damaged = Some(match e {
                    ReadError::Damaged { frames, why } => {
                        format!("{why}; the {frames} frame(s) before it are read")
                    }
                    other => other.to_string(),
                });
                break;
            }
        };
        span = Some(match span {
            None => (f.ts, f.ts),
            Some((a, b)) => (a.min(f.ts), b.max(f.ts)),
        });
        while interfaces.len() <= f.interface {
            interfaces.push(InterfaceInfo {
                id: interfaces.len(),
                name: None,
                link: String::new(),
                frames: 0,
                cut: 0,
            });
        }
        let i = &mut interfaces[f.interface];
        i.frames += 1;
        if f.data.len() < f.orig_len {
            i.cut += 1;
        }
        let Some(link) = Link::of(f.link) else {
            continue;
        };
        if dups.seen(f.interface, f.ts, link, f.data) {
            continue;
        }
        if let Ok(body) = decode(link, f.data) {
            finder.add(&body);
        }
    }
    let format = reader.format();
    let frames = reader.frames();
    for (i, d) in reader.interfaces().iter().enumerate() {
        while interfaces.len() <= i {
            interfaces.push(InterfaceInfo {
                id: interfaces.len(),
                name: None,
                link: String::new(),
                frames: 0,
                cut: 0,
            });
        }
        interfaces[i].name = d.name.clone();
        interfaces[i].link = link_name(d.link);
    }
    let links: Vec<u32> = reader.interfaces().iter().map(|i| i.link).collect();
    drop(reader);
    let undecoded: Vec<usize> = interfaces
        .iter()
        .filter(|i| i.frames > 0 && Link::of(links[i.id]).is_none())
        .map(|i| i.id)
        .collect();
    if frames > 0 && undecoded.len() == interfaces.iter().filter(|i| i.frames > 0).count() {
        let names: Vec<String> = undecoded.iter().map(|&i| link_name(links[i])).collect();
        return Err(StudyError::LinkType(format!(
            "its frames are of link type {}, which labctl does not decode: capture on the lab interface (Ethernet) or on `any` (Linux cooked)",
            names.join(", ")
        )));
    }
    let services = finder.services(&opts.servers);

    // Pass 2: the lab's frames into one analysis per interface; the rest counted.
    let (start, end) = span.unwrap_or((0.0, 0.0));
    let options = Options {
        server_ports: {
            let mut p: Vec<u16> = services.iter().map(|s| s.addr.port()).collect();
            p.sort_unstable();
            p.dedup();
            p
        },
        max_frames: MAX_FRAMES,
    };
    let mut builders: BTreeMap<usize, Builder> = BTreeMap::new();
    let mut aside: HashMap<std::borrow::Cow<'static, str>, usize> = HashMap::new();
    let mut warnings: Vec<String> = Vec::new();
    let mut undecodable = 0usize;
    let mut dups = Duplicates::default();
    let mut reader = open()?;
    let mut read = 0;
    // Up to where pass 1 read (a file growing meanwhile reads the same).
    while read < frames {
        let Ok(Some(f)) = reader.next_frame() else {
            break;
        };
        read += 1;
        let Some(link) = Link::of(f.link) else {
            *aside
                .entry(format!("{} (not decoded)", link_name(f.link)).into())
                .or_default() += 1;
            continue;
        };
        if dups.seen(f.interface, f.ts, link, f.data) {
            *aside
                .entry("duplicates (one packet captured twice)".into())
                .or_default() += 1;
            continue;
        }
        let body = match decode(link, f.data) {
            Ok(b) => b,
            Err(why) => {
                undecodable += 1;
                if undecodable <= 3 {
                    warnings.push(format!("frame {}: {why}", f.number));
                }
                *aside.entry("undecodable".into()).or_default() += 1;
                continue;
            }
        };
        if find::is_lab(&body, &services) {
            builders
                .entry(f.interface)
                .or_insert_with(|| Builder::new(&options))
                .add(f.number, f.ts - start, &body);
        } else {
            *aside.entry(find::what(&body).into()).or_default() += 1;
        }
    }
    drop(reader);
    if undecodable > 3 {
        warnings.push(format!("{} more undecodable frames", undecodable - 3));
    }
    if finder.untracked > 0 {
        warnings.push(format!(
            "{} frames of conversations beyond the first 100000 were only counted",
            finder.untracked
        ));
    }
    let views = builders
        .into_iter()
        .map(|(i, b)| {
            let link = Link::of(links[i])
                .map(|l| l.name())
                .unwrap_or("")
                .to_string();
            let mut analysis = b.finish(link, start, end - start, Vec::new());
            if analysis.frames.len() < analysis.counts.total {
                analysis.warnings.push(format!(
                    "only the first {} of the lab's {} frames are listed; all are counted",
                    analysis.frames.len(),
                    analysis.counts.total
                ));
            }
            View {
                interface: i,
                analysis,
            }
        })
        .collect();
    let mut set_aside: Vec<(String, usize)> = aside
        .into_iter()
        .map(|(k, n)| (k.into_owned(), n))
        .collect();
    set_aside.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    Ok(Study {
        format,
        frames,
        interfaces,
        services,
        views,
        set_aside,
        damaged,
        warnings,
    })
}

/// The packets seen on each interface within the last [`DUPLICATE_WINDOW`],
/// by a hash of their network-layer bytes.
#[derive(Default)]
struct Duplicates {
    recent: HashMap<usize, Window>,
}

/// One interface's recent packets: (time, hash) in order, and the hashes.
type Window = (VecDeque<(f64, u64)>, HashSet<u64, Same>);

/// The keys are hashes already: used as they are.
#[derive(Default, Clone, Copy)]
struct Same;

impl BuildHasher for Same {
    type Hasher = SameHasher;
    fn build_hasher(&self) -> SameHasher {
        SameHasher(0)
    }
}

struct SameHasher(u64);

impl Hasher for SameHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl Duplicates {
    /// Whether this frame repeats one seen on its interface just before.
    fn seen(&mut self, interface: usize, ts: f64, link: Link, data: &[u8]) -> bool {
        let Some(net) = network_bytes(link, data) else {
            return false;
        };
        // Only packets a host never sends twice alike: TCP (its numbers and
        // timestamps move) and IPv4 with an identification. An unconnected
        // UDP socket sends id 0: the same reply twice is two datagrams.
        let unique = match net.first().map(|b| b >> 4) {
            Some(4) => net.get(9) == Some(&6) || net.get(4..6).is_some_and(|id| id != [0, 0]),
            Some(6) => net.get(6) == Some(&6),
            _ => false,
        };
        if !unique {
            return false;
        }
        // A hash of the headers and the payload's start, 8 bytes at a time:
        // a copy is the same bytes, another packet differs in its ids and numbers.
        let key = net[..net.len().min(96)]
            .chunks(8)
            .fold(net.len() as u64, |h, c| {
                let mut w = [0u8; 8];
                w[..c.len()].copy_from_slice(c);
                (h ^ u64::from_le_bytes(w))
                    .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                    .rotate_left(29)
            });
        let (queue, set) = self.recent.entry(interface).or_default();
        while queue
            .front()
            .is_some_and(|&(t, _)| t < ts - DUPLICATE_WINDOW || t > ts + DUPLICATE_WINDOW)
        {
            let (_, k) = queue.pop_front().expect("not empty");
            set.remove(&k);
        }
        if set.contains(&key) {
            return true;
        }
        queue.push_back((ts, key));
        set.insert(key);
        false
    }
}

/// The IP packet inside a frame (after its link header and VLAN tags).
fn network_bytes(link: Link, data: &[u8]) -> Option<&[u8]> {
    let (mut at, mut ether_type) = match link {
        Link::Ethernet => (14, u16::from_be_bytes([*data.get(12)?, *data.get(13)?])),
        Link::LinuxSll => (16, u16::from_be_bytes([*data.get(14)?, *data.get(15)?])),
        Link::LinuxSll2 => (20, u16::from_be_bytes([*data.first()?, *data.get(1)?])),
        Link::Ip => (0, 0x0800),
        Link::Null | Link::Loop => (4, 0x0800),
    };
    while matches!(ether_type, 0x8100 | 0x88a8 | 0x9100) {
        ether_type = u16::from_be_bytes([*data.get(at + 2)?, *data.get(at + 3)?]);
        at += 4;
    }
    matches!(ether_type, 0x0800 | 0x86dd)
        .then(|| data.get(at..))
        .flatten()
}
