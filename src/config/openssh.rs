//! The subset of OpenSSH's `~/.ssh/config` labctl honours for an `ssh = "alias"`:
//! `Host` patterns (`*`, `?`, `!negation`) and the keys HostName, Port, User,
//! IdentityFile; the first value obtained for each key wins, as in OpenSSH.
//! `Match` blocks and `Include` are not followed (their lines are skipped).

use std::path::{Path, PathBuf};

/// What `~/.ssh/config` says about one host name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SshConfigEntry {
    pub hostname: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub identity_file: Option<String>,
}

/// The path of the ssh client config labctl reads: `$LABCTL_SSH_CONFIG`, else `~/.ssh/config`.
pub(crate) fn default_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("LABCTL_SSH_CONFIG") {
        return Some(PathBuf::from(p));
    }
    crate::util::home_dir().map(|h| h.join(".ssh/config"))
}

/// Expands a leading `~/` (or a lone `~`) to `$HOME`.
pub(crate) fn expand_tilde(p: &str) -> PathBuf {
    match (p.strip_prefix('~'), crate::util::home_dir()) {
        (Some(rest), Some(home)) if rest.is_empty() || rest.starts_with('/') => {
            home.join(rest.trim_start_matches('/'))
        }
        _ => PathBuf::from(p),
    }
}

/// Parsed `~/.ssh/config`: a list of (patterns, key, value) in file order.
#[derive(Debug, Clone, Default)]
pub struct SshConfig {
    /// (the `Host` line's patterns, lowercased keyword, value), in file order.
    entries: Vec<(usize, String, String)>,
    patterns: Vec<Vec<String>>,
}

impl SshConfig {
    /// Reads the file; a missing or unreadable file is an empty config.
    pub fn read(path: &Path) -> SshConfig {
        std::fs::read_to_string(path)
            .map(|t| SshConfig::parse(&t))
            .unwrap_or_default()
    }

    pub fn parse(text: &str) -> SshConfig {
        let mut cfg = SshConfig::default();
        // Lines before the first `Host` apply to every host.
        cfg.patterns.push(vec!["*".to_string()]);
        let mut current = Some(0usize);
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, value) = match line.find(|c: char| c.is_whitespace() || c == '=') {
                Some(i) => {
                    let rest = line[i..].trim_start();
                    let rest = rest.strip_prefix('=').unwrap_or(rest).trim();
                    (line[..i].to_ascii_lowercase(), rest)
                }
                None => (line.to_ascii_lowercase(), ""),
            };
            let value = unquote(value);
            match key.as_str() {
                "host" => {
                    cfg.patterns
                        .push(value.split_whitespace().map(str::to_string).collect());
                    current = Some(cfg.patterns.len() - 1);
                }
                // Not followed: a `Match` block's keys are skipped.
                "match" => current = None,
                _ => {
                    if let Some(block) = current {
                        cfg.entries.push((block, key, value.to_string()));
                    }
                }
            }
        }
        cfg
    }

    /// The keys that apply to `name`, first value per key winning.
    pub(crate) fn lookup(&self, name: &str) -> SshConfigEntry {
        let mut e = SshConfigEntry::default();
        for (block, key, value) in &self.entries {
            if !host_matches(&self.patterns[*block], name) {
                continue;
            }
            match key.as_str() {
                "hostname" if e.hostname.is_none() => {
                    e.hostname = Some(value.replace("%h", name));
                }
                "port" if e.port.is_none() => e.port = value.parse().ok(),
                "user" if e.user.is_none() => e.user = Some(value.clone()),
                "identityfile" if e.identity_file.is_none() => {
                    e.identity_file = Some(value.clone())
                }
                _ => {}
            }
        }
        e
    }
}

fn unquote(v: &str) -> &str {
    v.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v)
}

/// OpenSSH semantics: a negated pattern that matches excludes the host; otherwise any positive match.
fn host_matches(patterns: &[String], name: &str) -> bool {
    let mut matched = false;
    for p in patterns {
        if let Some(neg) = p.strip_prefix('!') {
            if glob(neg, name) {
                return false;
            }
        } else if glob(p, name) {
            matched = true;
        }
    }
    matched
}

/// `*` any run of characters, `?` exactly one; case-insensitive like OpenSSH host matching.
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let t: Vec<char> = text.to_lowercase().chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_like_openssh() {
        assert!(glob("pi-*", "pi-a"));
        assert!(glob("pi-?", "pi-a"));
        assert!(!glob("pi-?", "pi-ab"));
        assert!(glob("*", "anything"));
        assert!(glob("PI-A", "pi-a"));
        assert!(!glob("pi-b", "pi-a"));
        assert!(glob("10.0.*.1", "10.0.3.1"));
    }

    #[test]
    fn first_value_wins_and_negation_excludes() {
        let cfg = SshConfig::parse(
            "User everyone\n\
             Host pi-a\n  HostName 192.168.1.10\n  Port 2222\n  IdentityFile ~/.ssh/pi\n\
             Host pi-* !pi-c\n  User student\n  Port 22\n\
             Match host foo\n  User nobody\n\
             Host *\n  User late\n",
        );
        let a = cfg.lookup("pi-a");
        assert_eq!(a.hostname.as_deref(), Some("192.168.1.10"));
        assert_eq!(a.port, Some(2222));
        // The global line before any `Host` comes first in the file, so it wins.
        assert_eq!(a.user.as_deref(), Some("everyone"));
        assert_eq!(a.identity_file.as_deref(), Some("~/.ssh/pi"));
        let c = cfg.lookup("pi-c");
        assert_eq!(c.port, None);
        assert_eq!(c.hostname, None);
    }

    #[test]
    fn equals_sign_and_quotes_are_accepted() {
        let cfg = SshConfig::parse("Host=x\nHostName=\"h.example\"\nPort = 2200\n");
        let x = cfg.lookup("x");
        assert_eq!(x.hostname.as_deref(), Some("h.example"));
        assert_eq!(x.port, Some(2200));
    }
}
