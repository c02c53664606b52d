//! The virtual bench (`labctl testbed`) on real namespaces with real sshds.

mod common;

use common::{Labctl, TestBench};

#[test]
fn bad_name_is_a_usage_error() {
    Labctl::new()
        .args(["testbed", "up", "--name", "Bad_Name"])
        .run()
        .assert_status(2);
}

#[test]
fn up_builds_a_reachable_bench() {
    let bench = TestBench::up();
    assert!(bench.hosts_file().is_file());
}
