//! `docs/layout.md` agrees with the tree: every directory under `src/` and
//! every Rust file there is named on it, and every path it names exists
//! (a module added, moved or removed without its line fails here, so the
//! page a new engineer starts from stays true).

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn layout() -> String {
    std::fs::read_to_string(root().join("docs/layout.md")).expect("docs/layout.md")
}

/// Every directory and file below `dir`, recursively.
fn walk(dir: &Path, dirs: &mut Vec<PathBuf>, files: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            dirs.push(p.clone());
            walk(&p, dirs, files);
        } else {
            files.push(p);
        }
    }
}

#[test]
fn every_source_directory_and_rust_file_is_on_the_layout_page() {
    let text = layout();
    let (mut dirs, mut files) = (Vec::new(), Vec::new());
    walk(&root().join("src"), &mut dirs, &mut files);
    let mut missing = Vec::new();
    for d in &dirs {
        let name = d.file_name().unwrap().to_string_lossy();
        if !text.contains(&format!("{name}/")) {
            missing.push(format!("directory {}", d.display()));
        }
    }
    for f in &files {
        let rel = f
            .strip_prefix(root())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let name = f.file_name().unwrap().to_string_lossy();
        if !name.ends_with(".rs") {
            continue;
        }
        // A top-level module by its path; one in a directory by its name.
        let top = f.parent() == Some(root().join("src").as_path());
        let named = if top {
            text.contains(&format!("`{rel}`"))
        } else {
            text.contains(&format!("{name}`"))
        };
        if !named {
            missing.push(rel);
        }
    }
    assert!(
        missing.is_empty(),
        "docs/layout.md does not name: {}",
        missing.join(", ")
    );
}

#[test]
fn every_path_the_layout_page_names_exists() {
    let text = layout();
    let roots = [
        "src/", "tests/", "scripts/", "docs/", "labs/", "sockets/", "hostkit/", ".ci/",
    ];
    let mut gone = Vec::new();
    for (k, quoted) in text.split('`').enumerate() {
        // The odd pieces are inside backticks.
        if k % 2 == 0 || quoted.contains('*') || !roots.iter().any(|r| quoted.starts_with(r)) {
            continue;
        }
        if !root().join(quoted).exists() {
            gone.push(quoted.to_string());
        }
    }
    assert!(
        gone.is_empty(),
        "docs/layout.md names paths that do not exist: {}",
        gone.join(", ")
    );
}
