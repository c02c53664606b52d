//! The readers never panic, whatever a student hands in: every capture of a
//! corpus (a synthetic lab session written as classic pcap in both byte
//! orders and units, as pcapng with an Ethernet and a Linux cooked v2
//! interface, as Linux cooked v1 with VLAN tags; and the real tcpdump
//! captures of `tests/fixtures/run-v1`) is cut at every length and garbled
//! thousands of ways (bits flipped, lengths overwritten, bytes dropped or
//! repeated), and each variant is read and answered as `labctl answer`
//! reads and answers a file. A cut file reads as far as its last whole
//! frame: never more frames than a longer cut, and it says where it ends.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use etherparse::{PacketBuilder, VlanId};
use labctl::answer::{answer_files, questions_of, Answered, Context};
use labctl::capture::study::StudyOptions;

const A: [u8; 4] = [10, 0, 3, 1];
const B: [u8; 4] = [10, 0, 3, 2];
const C: [u8; 4] = [10, 0, 3, 3];
const MAC_A: [u8; 6] = [2, 0, 0, 0, 0, 1];
const MAC_B: [u8; 6] = [2, 0, 0, 0, 0, 2];

/// One IP packet of the session: (from, to) and the IP bytes.
fn session() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let tcp =
        |src: [u8; 4], dst: [u8; 4], sp: u16, dp: u16, seq: u32, f: &str, ack: u32, data: &[u8]| {
            let mut b = PacketBuilder::ipv4(src, dst, 64).tcp(sp, dp, seq, 64240);
            if f.contains('S') {
                b = b.syn();
            }
            if f.contains('F') {
                b = b.fin();
            }
            if f.contains('P') {
                b = b.psh();
            }
            if f.contains('A') {
                b = b.ack(ack);
            }
            let mut v = Vec::new();
            b.write(&mut v, data).unwrap();
            v
        };
    let udp = |src: [u8; 4], dst: [u8; 4], sp: u16, dp: u16, data: &[u8]| {
        let mut v = Vec::new();
        PacketBuilder::ipv4(src, dst, 64)
            .udp(sp, dp)
            .write(&mut v, data)
            .unwrap();
        v
    };
    out.push(tcp(B, A, 41000, 50000, 100, "S", 0, b""));
    out.push(tcp(A, B, 50000, 41000, 900, "SA", 101, b""));
    out.push(tcp(B, A, 41000, 50000, 101, "A", 901, b""));
    out.push(tcp(B, A, 41000, 50000, 101, "PA", 901, b"hello"));
    out.push(tcp(A, B, 50000, 41000, 901, "A", 106, b""));
    out.push(tcp(A, B, 50000, 41000, 901, "PA", 106, b"HELLO"));
    out.push(tcp(C, A, 42000, 50000, 300, "S", 0, b""));
    out.push(tcp(A, C, 50000, 42000, 700, "SA", 301, b""));
    out.push(tcp(C, A, 42000, 50000, 301, "A", 701, b""));
    out.push(tcp(C, A, 42000, 50000, 301, "PA", 701, b"hello from C"));
    out.push(tcp(B, A, 41000, 50000, 106, "FA", 906, b""));
    out.push(tcp(A, B, 50000, 41000, 906, "FA", 107, b""));
    out.push(tcp(A, C, 50000, 42000, 701, "PA", 313, b"HELLO FROM C"));
    out.push(udp(B, A, 40000, 50000, b"hi"));
    out.push(udp(A, B, 50000, 40000, b"HI"));
    out.push(udp(C, A, 40001, 50000, b"again"));
    // ICMP port unreachable, quoting C's datagram.
    let quoted = udp(C, A, 40001, 50000, b"again");
    let mut icmp = Vec::new();
    PacketBuilder::ipv4(A, C, 64)
        .icmpv4_raw(3, 3, [0; 4])
        .write(&mut icmp, &quoted[..28])
        .unwrap();
    out.push(icmp);
    out
}

fn ethernet(ip: &[u8], vlan: bool) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend(MAC_A);
    f.extend(MAC_B);
    if vlan {
        f.extend([0x81, 0x00]);
        f.extend(VlanId::try_new(10).unwrap().value().to_be_bytes());
    }
    f.extend([0x08, 0x00]);
    f.extend_from_slice(ip);
    f
}

fn arp() -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend(MAC_B);
    f.extend([0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
    f.extend(MAC_B);
    f.extend(B);
    f.extend([0; 6]);
    f.extend(A);
    f
}

fn sll(ip: &[u8]) -> Vec<u8> {
    let mut f = vec![0, 0, 0, 1, 0, 6];
    f.extend(MAC_B);
    f.extend([0, 0, 0x08, 0x00]);
    f.extend_from_slice(ip);
    f
}

fn sll2(ip: &[u8]) -> Vec<u8> {
    let mut f = vec![0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6];
    f.extend(MAC_B);
    f.extend([0, 0]);
    f.extend_from_slice(ip);
    f
}

fn pcap(big: bool, nanos: bool, link: u32, frames: &[Vec<u8>]) -> Vec<u8> {
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
    out.extend([0; 8]);
    out.extend(w32(262_144));
    out.extend(w32(link));
    for (i, f) in frames.iter().enumerate() {
        out.extend(w32(1_700_000_000 + i as u32 / 4));
        out.extend(w32(
            (i as u32 % 4) * if nanos { 250_000_000 } else { 250_000 }
        ));
        out.extend(w32(f.len() as u32));
        out.extend(w32(f.len() as u32));
        out.extend_from_slice(f);
    }
    out
}

fn block(ty: u32, body: &[u8]) -> Vec<u8> {
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

fn pcapng(frames: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let mut shb = Vec::new();
    shb.extend(0x1a2b_3c4du32.to_le_bytes());
    shb.extend([1, 0, 0, 0]);
    shb.extend((-1i64).to_le_bytes());
    let mut out = block(0x0a0d_0d0a, &shb);
    for (link, name) in [(1u16, "eth0"), (276, "any")] {
        let mut b = Vec::new();
        b.extend(link.to_le_bytes());
        b.extend([0, 0]);
        b.extend(262_144u32.to_le_bytes());
        b.extend(2u16.to_le_bytes());
        b.extend((name.len() as u16).to_le_bytes());
        b.extend(name.as_bytes());
        b.resize(b.len().div_ceil(4) * 4, 0);
        b.extend([0; 4]);
        out.extend(block(1, &b));
    }
    for (i, (iface, f)) in frames.iter().enumerate() {
        let ts = 1_700_000_000_000_000u64 + i as u64 * 250_000;
        let mut b = Vec::new();
        b.extend(iface.to_le_bytes());
        b.extend(((ts >> 32) as u32).to_le_bytes());
        b.extend((ts as u32).to_le_bytes());
        b.extend((f.len() as u32).to_le_bytes());
        b.extend((f.len() as u32).to_le_bytes());
        b.extend_from_slice(f);
        out.extend(block(6, &b));
        if i == 3 {
            out.extend(block(5, &[0; 12])); // interface statistics: skipped
        }
    }
    out
}

fn seeds() -> Vec<(String, Vec<u8>)> {
    let ips = session();
    let mut eth: Vec<Vec<u8>> = vec![arp()];
    eth.extend(ips.iter().enumerate().map(|(i, p)| ethernet(p, i % 5 == 4)));
    let cooked: Vec<Vec<u8>> = ips.iter().map(|p| sll(p)).collect();
    let ng: Vec<(u32, Vec<u8>)> = ips
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if i % 2 == 0 {
                (0, ethernet(p, false))
            } else {
                (1, sll2(p))
            }
        })
        .collect();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/run-v1");
    vec![
        ("pcap-le-us".into(), pcap(false, false, 1, &eth)),
        ("pcap-be-ns".into(), pcap(true, true, 1, &eth)),
        ("pcap-sll".into(), pcap(false, false, 113, &cooked)),
        ("pcapng-eth-sll2".into(), pcapng(&ng)),
        (
            "A-cap-A".into(),
            std::fs::read(fixtures.join("A-cap-A.pcap")).unwrap(),
        ),
        (
            "B-cap-B".into(),
            std::fs::read(fixtures.join("B-cap-B.pcap")).unwrap(),
        ),
    ]
}

/// xorshift64*: the same garbling on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn garble(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len());
        match rng.below(6) {
            0 => v[at] ^= 1 << rng.below(8),
            1 => v[at] = 0xff,
            2 => {
                let word = [
                    0xffff_ffffu32,
                    0,
                    0x7fff_ffff,
                    rng.next() as u32,
                    12,
                    0x0a0d_0d0a,
                ][rng.below(6)];
                for (i, b) in word.to_le_bytes().iter().enumerate() {
                    if let Some(x) = v.get_mut(at + i) {
                        *x = *b;
                    }
                }
            }
            3 => {
                let n = rng.below(16).min(v.len() - at);
                v.drain(at..at + n);
            }
            4 => {
                let n = rng.below(32).min(v.len() - at);
                let chunk = v[at..at + n].to_vec();
                v.splice(at..at, chunk);
            }
            _ => v.truncate(at),
        }
        if v.is_empty() {
            break;
        }
    }
    v
}

fn context() -> Context {
    let lab = Path::new(env!("CARGO_MANIFEST_DIR")).join("labs/lab.toml");
    let hosts: Vec<String> = ["A", "B", "C"].iter().map(|s| s.to_string()).collect();
    let lab = labctl::lab::Lab::load(&lab, &hosts).expect("the seed lab");
    Context {
        questions: questions_of(&lab),
        names: [("10.0.3.1", "A"), ("10.0.3.2", "B"), ("10.0.3.3", "C")]
            .iter()
            .map(|(a, n)| (a.to_string(), n.to_string()))
            .collect(),
        options: StudyOptions::default(),
    }
}

/// Reads and answers `bytes` as `labctl answer` does; panics name the variant.
fn answer(ctx: &Context, file: &Path, bytes: &[u8], what: &str) -> Answered {
    std::fs::write(file, bytes).unwrap();
    let files = vec![(file.to_path_buf(), "f".to_string())];
    match catch_unwind(AssertUnwindSafe(|| answer_files("s", &files, ctx))) {
        Ok(a) => a,
        Err(_) => {
            let keep = file.with_extension(format!("{what}.panic"));
            std::fs::write(&keep, bytes).unwrap();
            panic!(
                "reading {what} panicked; the bytes are in {}",
                keep.display()
            );
        }
    }
}

fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("labctl-fuzz-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn every_seed_reads_whole_and_answers() {
    let ctx = context();
    let dir = scratch("seed");
    for (name, bytes) in seeds() {
        let a = answer(&ctx, &dir.join("seed"), &bytes, &name);
        let f = &a.files[0];
        assert!(f.error.is_none() && f.damaged.is_none(), "{name}: {f:?}");
        assert!(f.lab_frames >= 12, "{name}: the lab's frames found: {f:?}");
        let answered = a.answers.iter().filter(|x| x.answered).count();
        assert!(answered >= 2, "{name}: {answered} answered");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn cut_files_read_up_to_the_cut_and_never_panic() {
    let ctx = context();
    let dir = scratch("cut");
    let file = dir.join("cut");
    for (name, bytes) in seeds() {
        let whole = answer(&ctx, &file, &bytes, &name).files[0].frames;
        let mut last = 0;
        let step = (bytes.len() / 150).max(1);
        let mut at = 0;
        while at < bytes.len() {
            let a = answer(&ctx, &file, &bytes[..at], &format!("{name}-cut{at}"));
            let f = &a.files[0];
            if f.error.is_none() {
                assert!(
                    f.frames >= last,
                    "{name} cut at {at}: {} < {last} frames",
                    f.frames
                );
                assert!(f.frames <= whole, "{name} cut at {at}");
                last = f.frames;
            }
            at += if at < 64 { 1 } else { step };
        }
        // Cut inside the last frame: every frame before it, and where it ends.
        let a = answer(
            &ctx,
            &file,
            &bytes[..bytes.len() - 3],
            &format!("{name}-last"),
        );
        assert_eq!(a.files[0].frames, whole - 1, "{name}");
        let d = a.files[0].damaged.clone().unwrap_or_default();
        assert!(d.contains("cut mid-packet"), "{name}: {d}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn garbled_files_never_panic() {
    let ctx = context();
    let dir = scratch("garbled");
    let file = dir.join("garbled");
    let mut rng = Rng(0x5eed_1abc_7e57_0001);
    let mut read = 0;
    let mut refused = 0;
    for (name, bytes) in seeds() {
        for i in 0..400 {
            let v = garble(&mut rng, &bytes);
            let a = answer(&ctx, &file, &v, &format!("{name}-garbled{i}"));
            assert_eq!(a.answers.len(), ctx.questions.len());
            if a.files[0].error.is_some() {
                refused += 1;
            } else {
                read += 1;
            }
        }
    }
    // Most garbling leaves a readable file; some breaks the header.
    assert!(read > refused, "{read} read, {refused} refused");
    std::fs::remove_dir_all(&dir).unwrap();
}
