//! Headless Chromium for the report tests: runs it with a throw-away
//! profile, and measures a report's page (width, height, overflow) at a
//! given viewport width.

#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use crate::capture_support::temp_dir;

pub fn chromium(args: &[&str]) -> std::process::Output {
    let profile = temp_dir("chromium-profile");
    Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect("chromium runs (Debian package `chromium`)")
}

/// `(scrollWidth, clientWidth, scrollHeight)` of `html` laid out `width`
/// pixels wide: the page in an iframe that wide (headless windows are at
/// least 500 px), read by a script of the page around it (`html` itself
/// needs no script). The page written to `dir/measure-<width>.html`.
pub fn page_geometry(dir: &Path, html: &str, width: u32) -> (u32, u32, u32) {
    let page = dir.join(format!("measure-{width}.html"));
    let srcdoc = html.replace('&', "&amp;").replace('"', "&quot;");
    std::fs::write(
        &page,
        format!(
            "<!DOCTYPE html><html><body style=\"margin:0\"><iframe id=\"r\" width=\"{width}\" height=\"900\" \
             style=\"border:0\" srcdoc=\"{srcdoc}\"></iframe><script>\
             const f=document.getElementById('r');f.onload=()=>{{const d=f.contentDocument.documentElement;\
             const m=document.createElement('pre');m.textContent='MEASURE '+d.scrollWidth+' '+d.clientWidth+' '+d.scrollHeight+' END';\
             document.body.appendChild(m);}};</script></body></html>"
        ),
    )
    .unwrap();
    let url = format!("file://{}", page.display());
    let out = chromium(&["--window-size=1500,1000", "--dump-dom", &url]);
    let dom = String::from_utf8_lossy(&out.stdout);
    let at = dom.rfind("MEASURE ").expect("the measuring script ran") + 8;
    let v: Vec<u32> = dom[at..dom[at..].find(" END").unwrap() + at]
        .split(' ')
        .map(|n| n.parse().unwrap())
        .collect();
    (v[0], v[1], v[2])
}
