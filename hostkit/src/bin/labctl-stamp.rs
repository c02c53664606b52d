//! `labctl-stamp FILE FIFO NAME STREAM`: reads a program's stdout or stderr,
//! appends `<epoch.ns> <line>` to FILE (the record, every line whole) and
//! streams each line as frames into FIFO for labctl (see `hostkit::stamp`).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [file, fifo, name, stream] = args.as_slice() else {
        eprintln!("usage: labctl-stamp FILE FIFO NAME STREAM");
        std::process::exit(2);
    };
    if let Err(e) = hostkit::stamp::run(file, fifo, name, stream) {
        eprintln!("labctl-stamp: {file}: {e}");
        std::process::exit(1);
    }
}
