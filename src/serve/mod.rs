//! `labctl serve [RUNS_DIR]`: the runs directory for browsers, read-only —
//! the room live (`/`: the newest room's matrix, updated as its benches'
//! `events.jsonl` grow, by Server-Sent Events from `/_/events`, no reload),
//! every report and room report as written, every run directory listed
//! (`/_/runs`) with its captures as downloads.
//!
//! Safe by default: it binds 127.0.0.1; another address only with
//! `--listen ADDR:PORT`, and then every request needs the random token of
//! the URL it prints (`?token=…`; the first such request also sets it as a
//! cookie for the page's own links), else 403. Only GET and HEAD; a path
//! that leaves the runs directory (`..`, a symlink out of it) is refused
//! (403). The HTTP is `tiny_http` (a small synchronous server: a thread
//! per request, one per follower; no async runtime for a handful of
//! browsers).

mod follow;

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tiny_http::{Header, Method, Request, Response, Server};

use crate::error::Error;
use crate::util::escape_xml as esc;

pub(crate) use follow::Hub;

/// What `labctl serve` was asked (`cli::ServeArgs` on the command line).
#[derive(Debug, Clone)]
pub(crate) struct ServeOptions {
    /// The runs directory (`run --out`'s; default `runs`).
    pub runs_dir: PathBuf,
    /// The port on 127.0.0.1 (0: any free one; the URL printed says which).
    pub port: u16,
    /// Listen on this address instead (e.g. `0.0.0.0:8080` for the room's
    /// phones); every request then needs the token of the printed URL.
    pub listen: Option<SocketAddr>,
}

/// The live page (its script follows `/_/events`).
const PAGE: &str = include_str!("page.html");

/// What every response says about where its content may come from: the
/// reports have no script, and nothing is fetched from elsewhere.
const CSP_FILES: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:";
const CSP_PAGE: &str =
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'";

/// `labctl serve`.
pub(crate) fn command(args: &ServeOptions) -> Result<(), Error> {
    let runs = std::fs::canonicalize(&args.runs_dir).map_err(|e| {
        Error::Usage(format!(
            "`{}` is not a runs directory: {}",
            args.runs_dir.display(),
            crate::util::io_reason(&e)
        ))
    })?;
    if !runs.is_dir() {
        return Err(Error::Usage(format!(
            "`{}` is not a directory",
            args.runs_dir.display()
        )));
    }
    let (addr, token) = match args.listen {
        Some(a) => (a, Some(token()?)),
        None => (SocketAddr::from(([127, 0, 0, 1], args.port)), None),
    };
    let server =
        Server::http(addr).map_err(|e| Error::Local(format!("cannot listen on {addr}: {e}")))?;
    let bound = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| Error::Local(format!("cannot listen on {addr}")))?;
    let url = match &token {
        Some(t) => format!("http://{bound}/?token={t}"),
        None => format!("http://{bound}/"),
    };
    crate::util::out_line(&format!(
        "labctl serve: {} at {url} (read-only; Ctrl-C stops)",
        args.runs_dir.display()
    ));
    if token.is_some() {
        crate::util::out_line("every request needs the token of this URL (403 without it)");
    }
    let hub = Arc::new(Hub::default());
    {
        let (runs, hub) = (runs.clone(), Arc::clone(&hub));
        std::thread::spawn(move || follow::follow(&runs, &hub));
    }
    let site = Arc::new(Site { runs, token });
    for req in server.incoming_requests() {
        let (site, hub) = (Arc::clone(&site), Arc::clone(&hub));
        std::thread::spawn(move || site.handle(req, &hub));
    }
    Ok(())
}

/// 16 random bytes as hex, from the kernel.
fn token() -> Result<String, Error> {
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .map_err(|e| Error::Local(format!("cannot read `/dev/urandom`: {e}")))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// The served runs directory and the token, if one is needed.
struct Site {
    runs: PathBuf,
    token: Option<String>,
}

/// A response being made.
type Reply = Response<std::io::Cursor<Vec<u8>>>;

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("a valid header")
}

fn text(code: u16, body: &str) -> Reply {
    Response::from_string(body)
        .with_status_code(code)
        .with_header(header("Content-Type", "text/plain; charset=utf-8"))
}

/// Splits `/a/b?x=y` into the decoded path and the query.
fn split_url(url: &str) -> (String, &str) {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    (percent_decode(path), query)
}

/// `%xx` decoded (invalid escapes are kept as they are).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A query parameter's value.
fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Compares without stopping at the first difference.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl Site {
    /// Whether `req` may be answered, and whether it brought the token in
    /// its URL (then the answer sets the cookie).
    fn allowed(&self, req: &Request, query: &str) -> (bool, bool) {
        let Some(t) = &self.token else {
            return (true, false);
        };
        if query_param(query, "token").is_some_and(|q| same(q, t)) {
            return (true, true);
        }
        let cookie = req
            .headers()
            .iter()
            .filter(|h| h.field.equiv("Cookie"))
            .flat_map(|h| h.value.as_str().split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .any(|(k, v)| k == "labctl_token" && same(v, t));
        (cookie, false)
    }

    fn handle(&self, req: Request, hub: &Hub) {
        let (path, query) = split_url(req.url());
        let (ok, set_cookie) = self.allowed(&req, query);
        let reply = if !ok {
            text(
                403,
                "403 forbidden: this server needs the token of the URL it printed\n",
            )
        } else if !matches!(req.method(), Method::Get | Method::Head) {
            text(405, "405 method not allowed: labctl serve is read-only\n")
                .with_header(header("Allow", "GET, HEAD"))
        } else if path == "/_/events" {
            return events(req, hub);
        } else if path == "/" {
            Response::from_string(PAGE)
                .with_header(header("Content-Type", "text/html; charset=utf-8"))
                .with_header(header("Content-Security-Policy", CSP_PAGE))
        } else if path == "/_/runs" {
            self.listing(&self.runs, "/")
        } else {
            self.file(&path)
        };
        let mut reply = reply
            .with_header(header("X-Content-Type-Options", "nosniff"))
            .with_header(header("Referrer-Policy", "no-referrer"))
            .with_header(header("Cache-Control", "no-store"));
        if set_cookie {
            if let Some(t) = &self.token {
                reply.add_header(header(
                    "Set-Cookie",
                    &format!("labctl_token={t}; Path=/; HttpOnly; SameSite=Strict"),
                ));
            }
        }
        let _ = req.respond(reply);
    }

    /// A file or directory under the runs directory, or why not.
    fn file(&self, path: &str) -> Reply {
        let Some(full) = self.resolve(path) else {
            return text(403, "403 forbidden: outside the runs directory\n");
        };
        let meta = match std::fs::metadata(&full) {
            Ok(m) => m,
            Err(_) => return text(404, "404 not found\n"),
        };
        if meta.is_dir() {
            return self.listing(&full, path);
        }
        let bytes = match std::fs::read(&full) {
            Ok(b) => b,
            Err(_) => return text(404, "404 not found\n"),
        };
        let name = full
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (kind, download) = content_type(&name);
        let mut r = Response::from_data(bytes)
            .with_header(header("Content-Type", kind))
            .with_header(header("Content-Security-Policy", CSP_FILES));
        if download {
            let safe: String = name
                .chars()
                .map(|c| {
                    if c.is_ascii_graphic() && c != '"' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            r.add_header(header(
                "Content-Disposition",
                &format!("attachment; filename=\"{safe}\""),
            ));
        }
        r
    }

    /// `path` (decoded, starting with `/`) inside the runs directory, or
    /// `None` when it would leave it: a `..`, or a symlink that points out.
    fn resolve(&self, path: &str) -> Option<PathBuf> {
        let rel = Path::new(path.trim_start_matches('/'));
        if path.contains('\0')
            || rel
                .components()
                .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return None;
        }
        let full = self.runs.join(rel);
        match std::fs::canonicalize(&full) {
            Ok(real) => real.starts_with(&self.runs).then_some(real),
            // Not there: a 404, unless its parent already leaves.
            Err(_) => Some(full),
        }
    }

    /// A directory's entries as links, newest first; captures download.
    fn listing(&self, dir: &Path, path: &str) -> Reply {
        let mut names: Vec<(String, bool)> = std::fs::read_dir(dir)
            .map(|rd| {
                rd.flatten()
                    .map(|e| {
                        let dir = e.file_type().is_ok_and(|t| t.is_dir());
                        (e.file_name().to_string_lossy().into_owned(), dir)
                    })
                    .filter(|(n, _)| !n.starts_with('.'))
                    .collect()
            })
            .unwrap_or_default();
        names.sort_by(|a, b| b.0.cmp(&a.0));
        let base = if path.ends_with('/') {
            path.to_string()
        } else {
            format!("{path}/")
        };
        let mut body = format!(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{p}</title><style>{css}</style></head><body><header><h1>{p}</h1><p><a href=\"/\" style=\"color:#fff\">the room, live</a></p></header><main><ul>",
            p = esc(&base),
            css = crate::room::report::CSS,
        );
        for (n, is_dir) in names {
            let href = format!("{base}{}{}", url_escape(&n), if is_dir { "/" } else { "" });
            let note = match (is_dir, content_type(&n).1) {
                (true, _) => "",
                (false, true) => " <span class=\"muted\">(download)</span>",
                _ => "",
            };
            body.push_str(&format!(
                "<li><a href=\"{}\">{}{}</a>{note}</li>",
                esc(&href),
                esc(&n),
                if is_dir { "/" } else { "" }
            ));
        }
        body.push_str("</ul></main></body></html>\n");
        Response::from_string(body)
            .with_header(header("Content-Type", "text/html; charset=utf-8"))
            .with_header(header("Content-Security-Policy", CSP_FILES))
    }
}

/// A path segment for a URL.
fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A file's content type, and whether it is a download (the captures).
fn content_type(name: &str) -> (&'static str, bool) {
    let ext = name.rsplit_once('.').map_or("", |(_, e)| e);
    match ext {
        "html" => ("text/html; charset=utf-8", false),
        "svg" => ("image/svg+xml", false),
        "json" => ("application/json", false),
        "pcap" | "pcapng" => ("application/vnd.tcpdump.pcap", true),
        _ => ("text/plain; charset=utf-8", false),
    }
}

/// `/_/events`: the room as Server-Sent Events, for as long as the
/// browser follows (a comment every 15 s keeps proxies and phones awake).
fn events(req: Request, hub: &Hub) {
    let rx = hub.subscribe();
    let mut w = req.into_writer();
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\nretry: 1000\n\n";
    if w.write_all(head.as_bytes())
        .and_then(|()| w.flush())
        .is_err()
    {
        return;
    }
    loop {
        let msg = match rx.recv_timeout(Duration::from_secs(15)) {
            Ok(m) => m,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => ": ping\n\n".into(),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
        };
        if w.write_all(msg.as_bytes())
            .and_then(|()| w.flush())
            .is_err()
        {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_leave_the_runs_directory_are_refused() {
        let dir = std::env::temp_dir().join(format!("labctl-serve-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("run1")).unwrap();
        let runs = std::fs::canonicalize(&dir).unwrap();
        let site = Site {
            runs: runs.clone(),
            token: None,
        };
        assert!(site.resolve("/run1/report.html").is_some());
        assert!(site.resolve("/../etc/passwd").is_none());
        assert!(site.resolve("/run1/../../x").is_none());
        std::os::unix::fs::symlink("/etc", runs.join("out")).unwrap();
        assert!(site.resolve("/out/passwd").is_none());
        assert_eq!(split_url("/a%2F..%2Fb?token=x").0, "/a/../b");
        assert!(site
            .resolve(&split_url("/run1%2F..%2F..%2Fetc").0)
            .is_none());
        assert_eq!(query_param("a=1&token=abc", "token"), Some("abc"));
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("ab", "abc"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
