//! The output stamper: one process per program stream (stdout or stderr)
//! that stamps each line with the host time when it arrived — no process
//! per line, so the stamp lags the program's write by microseconds and the
//! lag does not grow in a burst — and writes it twice:
//!
//! - the record: `<epoch.ns> <line>` appended to the program's `NAME.out`
//!   or `NAME.err`, every line whole whatever its length;
//! - the stream: frames into the run's FIFO, which the run's agent relays to
//!   labctl on its one SSH channel as they come.
//!
//! A frame is one line of text, at most [`FRAME_MAX`] bytes (`PIPE_BUF`:
//! a write of at most that many bytes into a FIFO is never interleaved with
//! another writer's), `@@l NAME STREAM TS TEXT` for a line or its last piece,
//! `@@p NAME STREAM TS TEXT` for a piece of a longer line (more follows),
//! `@@t NAME STREAM TS TEXT` for the last piece of a line cut at
//! [`STREAM_CAP`] bytes (the record keeps it whole). Frames are batched into
//! writes of at most [`FRAME_MAX`] bytes. A line's stamp is the moment its
//! first byte became readable: the time of the read, less the time the
//! stamper then waited for a CPU (the kernel's `run_delay`). The FIFO is
//! opened non-blocking:
//! when nobody reads it (labctl is gone) streaming stops after
//! [`GIVE_UP`] and the record goes on.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Largest write into the FIFO (`PIPE_BUF` on Linux): atomic.
pub const FRAME_MAX: usize = 4096;
/// The streamed copy of a line stops here; the record keeps the whole line.
pub const STREAM_CAP: usize = 4 << 20;
/// How long a full FIFO may block streaming before it stops for good.
pub const GIVE_UP: Duration = Duration::from_secs(30);
/// `O_NONBLOCK` on Linux (x86, ARM, AArch64, RISC-V share the value).
const O_NONBLOCK: i32 = 0o4000;

/// The host time `back` ago, `<seconds>.<nanoseconds>`.
pub fn now_minus(back: Duration) -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .saturating_sub(back);
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}

/// This thread's time spent runnable but waiting for a CPU (`run_delay`,
/// the second field of `/proc/thread-self/schedstat`), when the kernel tells.
struct RunDelay(Option<File>);

impl RunDelay {
    fn open() -> RunDelay {
        RunDelay(File::open("/proc/thread-self/schedstat").ok())
    }

    fn get(&mut self) -> Option<u64> {
        use std::io::{Seek, SeekFrom};
        let f = self.0.as_mut()?;
        f.seek(SeekFrom::Start(0)).ok()?;
        let mut s = String::new();
        f.read_to_string(&mut s).ok()?;
        s.split_whitespace().nth(1)?.parse().ok()
    }
}

/// Stamps stdin into `file` and streams it into `fifo` as program `name`, `stream` (1 or 2).
pub fn run(file: &str, fifo: &str, name: &str, stream: &str) -> io::Result<()> {
    short_slice();
    let mut record = OpenOptions::new().create(true).append(true).open(file)?;
    let mut sink = Sink::open(fifo);
    let mut st = Stamper::new(name, stream);
    let mut buf = vec![0u8; 64 * 1024];
    let mut input = io::stdin().lock();
    let mut delay = RunDelay::open();
    // A record that cannot be written (the host's disk full): said once on
    // the stream (`@@w NAME FILE: REASON`), and the lines still stream, so
    // the program runs on and labctl keeps its own copy.
    let mut unwritten = false;
    let mut keep = |record: &mut File, rec: &[u8], sink: &mut Sink| {
        if unwritten {
            return;
        }
        if let Err(e) = record.write_all(rec) {
            unwritten = true;
            let said = format!("@@w {name} {file}: {e}\n").replace(['\r'], " ");
            sink.send(&[said.into_bytes()]);
        }
    };
    loop {
        // The write that wakes the stamper is when the line was printed; the
        // stamper may wait for a CPU after that (on a busy machine, or behind
        // its program: a pipe wakes its reader on the writer's CPU). That
        // wait, measured by the kernel across the read, comes off the stamp.
        // Only a wait after the line came may: one before the read (the
        // stamper's short slice ran out writing the last line, and the
        // kernel switches away as a system call returns) would make the
        // stamp early. The first sample's return takes such a switch; the
        // second, on a fresh slice, starts the count.
        delay.get();
        let before = delay.get();
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let waited = match (before, delay.get()) {
            (Some(a), Some(b)) => Duration::from_nanos(b.saturating_sub(a)),
            _ => Duration::ZERO,
        };
        let (rec, frames) = st.feed(&buf[..n], &now_minus(waited));
        keep(&mut record, &rec, &mut sink);
        sink.send(&frames);
    }
    let (rec, frames) = st.finish();
    keep(&mut record, &rec, &mut sink);
    sink.send(&frames);
    Ok(())
}

/// Asks the scheduler for a short time slice (Linux 6.12 and later,
/// `sched_setattr` with `sched_runtime` 0.1 ms; no privilege needed), so a
/// stamper woken by its program's write runs at once instead of after the
/// program's slice: a pipe write wakes the reader on the writer's CPU, and
/// without this a server that prints, then replies to a client on the
/// same machine has its line stamped after the client's answer. Best
/// effort: older kernels and other architectures keep the default.
fn short_slice() {
    #[cfg(all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "arm")
    ))]
    {
        /// `struct sched_attr` (the first version, 48 bytes).
        #[repr(C)]
        struct SchedAttr {
            size: u32,
            policy: u32,
            flags: u64,
            nice: i32,
            priority: u32,
            runtime: u64,
            deadline: u64,
            period: u64,
        }
        extern "C" {
            // libc's, which std links already.
            fn syscall(number: std::ffi::c_long, ...) -> std::ffi::c_long;
        }
        #[cfg(target_arch = "x86_64")]
        const SCHED_SETATTR: std::ffi::c_long = 314;
        #[cfg(target_arch = "aarch64")]
        const SCHED_SETATTR: std::ffi::c_long = 274;
        #[cfg(target_arch = "arm")]
        const SCHED_SETATTR: std::ffi::c_long = 380;
        let attr = SchedAttr {
            size: std::mem::size_of::<SchedAttr>() as u32,
            policy: 0, // SCHED_OTHER
            flags: 0,
            // Nice 0 (a stamper that inherited more is refused: it keeps its default).
            nice: 0,
            priority: 0,
            runtime: 100_000,
            deadline: 0,
            period: 0,
        };
        // SAFETY: the kernel reads `attr`, which lives across the call; a failure changes nothing.
        unsafe {
            syscall(
                SCHED_SETATTR,
                0 as std::ffi::c_long,
                &attr as *const SchedAttr,
                0u32,
            );
        }
    }
}

/// The FIFO to labctl, or nothing once streaming gave up.
struct Sink(Option<File>);

impl Sink {
    fn open(path: &str) -> Sink {
        let f = OpenOptions::new()
            .write(true)
            .custom_flags(O_NONBLOCK)
            .open(path)
            .ok();
        // Only a FIFO (`/dev/null` when there is no agent to read it).
        Sink(f.filter(|f| f.metadata().is_ok_and(|m| m.file_type().is_fifo())))
    }

    /// Writes `batches` (each at most [`FRAME_MAX`] bytes) one write each.
    fn send(&mut self, batches: &[Vec<u8>]) {
        for b in batches {
            let Some(f) = self.0.as_mut() else { return };
            let mut blocked: Option<Instant> = None;
            let mut rest = &b[..];
            while !rest.is_empty() {
                match f.write(rest) {
                    Ok(n) => rest = &rest[n..],
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        let t = *blocked.get_or_insert_with(Instant::now);
                        if t.elapsed() >= GIVE_UP {
                            self.0 = None;
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err(_) => {
                        self.0 = None;
                        return;
                    }
                }
            }
        }
    }
}

/// Splits input into stamped record bytes and frames.
pub struct Stamper {
    head: String,
    /// Inside a line: its stamp.
    line_ts: Option<String>,
    /// Bytes of the current line put into frames so far.
    streamed: usize,
    /// Bytes of the current line not yet framed.
    pending: Vec<u8>,
}

impl Stamper {
    pub fn new(name: &str, stream: &str) -> Stamper {
        Stamper {
            head: format!("{name} {stream}"),
            line_ts: None,
            streamed: 0,
            pending: Vec::new(),
        }
    }

    /// One chunk of input that arrived at `ts`: record bytes, and frame
    /// batches (each at most [`FRAME_MAX`] bytes).
    pub fn feed(&mut self, chunk: &[u8], ts: &str) -> (Vec<u8>, Vec<Vec<u8>>) {
        let mut rec = Vec::with_capacity(chunk.len() + 64);
        let mut out = Batches::default();
        let mut rest = chunk;
        while !rest.is_empty() {
            if self.line_ts.is_none() {
                self.line_ts = Some(ts.to_string());
                self.streamed = 0;
                rec.extend_from_slice(ts.as_bytes());
                rec.push(b' ');
            }
            let (seg, nl) = match rest.iter().position(|&b| b == b'\n') {
                Some(i) => (&rest[..i], true),
                None => (rest, false),
            };
            rec.extend_from_slice(seg);
            self.take(seg, &mut out);
            rest = &rest[seg.len() + usize::from(nl)..];
            if nl {
                rec.push(b'\n');
                self.end_line(&mut out);
            }
        }
        (rec, out.done())
    }

    /// End of input: a last line without a newline is ended.
    pub fn finish(&mut self) -> (Vec<u8>, Vec<Vec<u8>>) {
        let mut out = Batches::default();
        if self.line_ts.is_none() {
            return (Vec::new(), out.done());
        }
        self.end_line(&mut out);
        (b"\n".to_vec(), out.done())
    }

    fn header(&self, kind: char) -> String {
        let ts = self.line_ts.as_deref().unwrap_or("0");
        format!("@@{kind} {} {ts} ", self.head)
    }

    /// Room for text in one frame.
    fn room(&self) -> usize {
        FRAME_MAX - self.header('l').len() - 1
    }

    fn take(&mut self, seg: &[u8], out: &mut Batches) {
        let left = STREAM_CAP.saturating_sub(self.streamed + self.pending.len());
        self.pending.extend_from_slice(&seg[..seg.len().min(left)]);
        let room = self.room();
        while self.pending.len() > room {
            let piece: Vec<u8> = self.pending.drain(..room).collect();
            self.streamed += piece.len();
            out.push(self.frame('p', &piece));
        }
    }

    fn end_line(&mut self, out: &mut Batches) {
        let cut = self.streamed + self.pending.len() >= STREAM_CAP;
        let piece = std::mem::take(&mut self.pending);
        out.push(self.frame(if cut { 't' } else { 'l' }, &piece));
        self.line_ts = None;
        self.streamed = 0;
    }

    fn frame(&self, kind: char, text: &[u8]) -> Vec<u8> {
        let mut f = self.header(kind).into_bytes();
        f.extend_from_slice(text);
        f.push(b'\n');
        f
    }
}

/// Frames packed into writes of at most [`FRAME_MAX`] bytes.
#[derive(Default)]
struct Batches(Vec<Vec<u8>>);

impl Batches {
    fn push(&mut self, frame: Vec<u8>) {
        match self.0.last_mut() {
            Some(b) if b.len() + frame.len() <= FRAME_MAX => b.extend_from_slice(&frame),
            _ => self.0.push(frame),
        }
    }

    fn done(self) -> Vec<Vec<u8>> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(batches: &[Vec<u8>]) -> String {
        batches
            .iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect()
    }

    #[test]
    fn lines_are_stamped_and_framed() {
        let mut s = Stamper::new("server", "1");
        let (rec, fr) = s.feed(b"hello\nwor", "1.5");
        assert_eq!(rec, b"1.5 hello\n1.5 wor");
        assert_eq!(text(&fr), "@@l server 1 1.5 hello\n");
        let (rec, fr) = s.feed(b"ld\n\n", "2.0");
        assert_eq!(rec, b"ld\n2.0 \n");
        // The line keeps the stamp of its first byte.
        assert_eq!(text(&fr), "@@l server 1 1.5 world\n@@l server 1 2.0 \n");
        let (rec, fr) = s.feed(b"tail", "3.0");
        assert_eq!((rec.as_slice(), fr.len()), (&b"3.0 tail"[..], 0));
        let (rec, fr) = s.finish();
        assert_eq!(rec, b"\n");
        assert_eq!(text(&fr), "@@l server 1 3.0 tail\n");
    }

    #[test]
    fn long_lines_become_pieces_each_write_at_most_a_pipe_buffer() {
        let mut s = Stamper::new("p", "2");
        let line = vec![b'x'; 100_000];
        let (rec, fr) = s.feed(&[&line[..], b"\n"].concat(), "9.0");
        assert_eq!(rec.len(), 100_000 + 5);
        assert!(fr.iter().all(|b| b.len() <= FRAME_MAX));
        let all = text(&fr);
        let frames: Vec<&str> = all.lines().collect();
        assert!(frames[..frames.len() - 1]
            .iter()
            .all(|f| f.starts_with("@@p p 2 9.0 ")));
        assert!(frames.last().unwrap().starts_with("@@l p 2 9.0 "));
        let joined: usize = frames.iter().map(|f| f.len() - "@@p p 2 9.0 ".len()).sum();
        assert_eq!(joined, 100_000);
    }

    #[test]
    fn the_stream_stops_at_the_cap_the_record_does_not() {
        let mut s = Stamper::new("p", "1");
        let line = vec![b'y'; STREAM_CAP + 10];
        let (rec, fr) = s.feed(&[&line[..], b"\n"].concat(), "1.0");
        assert_eq!(rec.len(), STREAM_CAP + 10 + 5);
        let all = text(&fr);
        assert!(all.lines().last().unwrap().starts_with("@@t "));
        let streamed: usize = all.lines().map(|f| f.len() - "@@p p 1 1.0 ".len()).sum();
        assert_eq!(streamed, STREAM_CAP);
    }
}
