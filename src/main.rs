//! The `labctl` binary: parse, run, map the outcome to an exit code. All work is in the library.

fn main() {
    std::process::exit(labctl::main());
}
