//! run.json in the tests: read it, and check it against
//! `docs/run-json-schema.json` (and `--json` lines against
//! `docs/events-json-schema.json`) with Python's `jsonschema` — an independent
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

/// `(id, answered, ok, answer)` of every answer of a run.json, in order.
pub fn answers(run: &Value) -> Vec<(String, bool, bool, String)> {
    run["answers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["id"].as_str().unwrap().to_string(),
                a["answered"].as_bool().unwrap(),
                a["ok"].as_bool().unwrap(),
                a["answer"].as_str().unwrap().to_string(),
            )
        })
        .collect()
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

/// `Err` with the validator's words when a line of `text` (JSON lines, as
/// `--json` prints them) does not match `docs/events-json-schema.json`.
pub fn lines_schema_errors(text: &str) -> Result<(), String> {
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/events-json-schema.json");
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import json,sys,jsonschema\n\
             s=json.load(open(sys.argv[1]))\n\
             jsonschema.Draft202012Validator.check_schema(s)\n\
             v=jsonschema.Draft202012Validator(s); bad=0\n\
             for n,l in enumerate(sys.stdin, 1):\n\
             \x20   for e in list(v.iter_errors(json.loads(l)))[:1]:\n\
             \x20       bad+=1; print('line', n, l[:120].strip(), '->', e.message[:300])\n\
             sys.exit(1 if bad else 0)",
        ])
        .arg(&schema)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 with jsonschema (Debian package python3-jsonschema)");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("piped");
        stdin
            .write_all(text.as_bytes())
            .expect("python3 reads its stdin");
    }
    let out = child.wait_with_output().expect("python3 ran");
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
