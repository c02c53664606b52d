//! `labctl-stamp FILE FIFO NAME STREAM`: reads a program's stdout or stderr,
//! appends `<epoch.ns> <line>` to FILE (the record, every line whole) and
//! streams each line as frames into FIFO for labctl (see `hostkit::stamp`).
//! `labctl-stamp --clock`: the run's clock, a time line for each line read
//! (see `hostkit::clock`).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args == ["--clock"] {
        // It ends at end of input, or once nobody reads the times: the run is over either way.
        let _ = hostkit::clock::serve(std::io::stdin().lock(), std::io::stdout().lock());
        return;
    }
    let [file, fifo, name, stream] = args.as_slice() else {
        eprintln!("usage: labctl-stamp FILE FIFO NAME STREAM | labctl-stamp --clock");
        std::process::exit(2);
    };
    if let Err(e) = hostkit::stamp::run(file, fifo, name, stream) {
        eprintln!("labctl-stamp: {file}: {e}");
        std::process::exit(1);
    }
}
