//! run.json in the tests: read it, and check it against
//! `docs/run-json-schema.json` with Python's `jsonschema` — an independent
//! validator, so a drift between the writer and the documented schema shows.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// A JSON file, parsed.
#[track_caller]
pub fn read_json(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `Err` with the validator's words when `file` does not match the schema
/// (the schema itself is checked first).
pub fn schema_errors(file: &Path) -> Result<(), String> {
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/run-json-schema.json");
    let out = Command::new("python3")
        .args([
            "-c",
            "import json,sys,jsonschema\n\
             s=json.load(open(sys.argv[1])); d=json.load(open(sys.argv[2]))\n\
             jsonschema.Draft202012Validator.check_schema(s)\n\
             errs=list(jsonschema.Draft202012Validator(s).iter_errors(d))\n\
             [print(list(e.absolute_path), e.message) for e in errs[:10]]\n\
             sys.exit(1 if errs else 0)",
        ])
        .arg(&schema)
        .arg(file)
        .output()
        .expect("python3 with jsonschema (Debian package python3-jsonschema)");
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Panics with the validator's words when `file` does not match the schema.
#[track_caller]
pub fn assert_matches_schema(file: &Path) {
    if let Err(said) = schema_errors(file) {
        panic!("{} does not match its schema:\n{said}", file.display());
    }
}
