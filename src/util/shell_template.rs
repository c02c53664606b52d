//! Renders the `.sh` templates of the one-line commands labctl sends to a
//! host, so that host shell lives in `.sh` files (shellcheck-clean, checked
//! by tests/host_scripts.rs) and never in a Rust string literal.
//!
//! A template is a `.sh` file pulled in with `include_str!`:
//!
//! ```text
//! # What the command does, and who renders it (`module::function`).
//! # Placeholders: @DEV@ the interface (quoted), @S@ the sudo prefix (raw).
//! # shellcheck shell=sh
//! @S@ip link set @DEV@ up
//! ```
//!
//! Its leading `#` lines say what it is and which placeholders it takes;
//! they are not sent. The command is the rest of the file without its final
//! newline. A placeholder is `@NAME@` (`NAME`: capital letters, digits and
//! `_`, starting with a letter), replaced in one pass (a value is never
//! scanned again) by:
//!
//! - [`Val::Quoted`]: any value, shell-quoted with [`shell_quote`] so it
//!   reaches the command as one literal word. The default: use it for
//!   anything a user, a hosts file or a lab can influence.
//! - [`Val::Raw`]: text inserted as is. Only for text labctl itself makes
//!   that is already shell: the `sudo -n ` prefix, a nested rendered
//!   command or script, a list of fixed program names, a formatted IPv4
//!   address.
//!
//! Rendering panics when a placeholder has no value or a value has no
//! placeholder: both are mistakes in labctl, caught by the unit tests that
//! render every template.

use super::shell_quote;

/// A placeholder's value.
#[derive(Debug, Clone, Copy)]
pub enum Val<'a> {
    /// Shell-quoted on insertion (the default).
    Quoted(&'a str),
    /// Inserted as is: shell text labctl made itself (see the module docs).
    Raw(&'a str),
}

/// The command text of `template`: without its leading `#` lines and its
/// final newline.
pub fn body(template: &str) -> &str {
    let mut rest = template;
    while rest.starts_with('#') {
        rest = rest.split_once('\n').map_or("", |(_, r)| r);
    }
    rest.strip_suffix('\n').unwrap_or(rest)
}

/// The `NAME` of `NAME@…` at the start of `s`, if it is one.
fn placeholder_name(s: &str) -> Option<&str> {
    let end = s.find('@')?;
    let name = &s[..end];
    let mut chars = name.chars();
    (chars.next()?.is_ascii_uppercase()
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
    .then_some(name)
}

/// `template`'s command with every `@NAME@` replaced by its value in `vals`.
///
/// # Panics
/// When a placeholder of the template has no value, or a value names no
/// placeholder (a mistake in labctl, not in its input).
pub fn render(template: &str, vals: &[(&str, Val)]) -> String {
    let text = body(template);
    let mut out = String::with_capacity(text.len() + 64);
    let mut used = vec![false; vals.len()];
    let mut rest = text;
    while let Some(at) = rest.find('@') {
        let after = &rest[at + 1..];
        let Some(name) = placeholder_name(after) else {
            out.push_str(&rest[..=at]);
            rest = after;
            continue;
        };
        let i = vals
            .iter()
            .position(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("no value for placeholder `@{name}@` in:\n{text}"));
        used[i] = true;
        out.push_str(&rest[..at]);
        match vals[i].1 {
            Val::Quoted(v) => out.push_str(&shell_quote(v)),
            Val::Raw(v) => out.push_str(v),
        }
        rest = &after[name.len() + 1..];
    }
    out.push_str(rest);
    if let Some(i) = used.iter().position(|u| !u) {
        panic!("value `{}` names no placeholder in:\n{text}", vals[i].0);
    }
    out
}

/// The placeholder names in `text` (a template's command, see [`body`]),
/// in order, with repeats.
pub fn placeholders(text: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find('@') {
        let after = &rest[at + 1..];
        match placeholder_name(after) {
            Some(name) => {
                names.push(name);
                rest = &after[name.len() + 1..];
            }
            None => rest = after,
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "# A test template.\n# Placeholders: @A@, @B@.\n# shellcheck shell=sh\n@B@echo @A@ a@b.c @A@\n";

    #[test]
    fn renders_quoted_and_raw_values_once() {
        assert_eq!(body(T), "@B@echo @A@ a@b.c @A@");
        assert_eq!(
            render(
                T,
                &[("A", Val::Quoted("it's @B@")), ("B", Val::Raw("sudo -n "))]
            ),
            r"sudo -n echo 'it'\''s @B@' a@b.c 'it'\''s @B@'"
        );
        assert_eq!(
            render(T, &[("A", Val::Quoted("x")), ("B", Val::Raw(""))]),
            "echo x a@b.c x"
        );
    }

    #[test]
    #[should_panic(expected = "no value for placeholder `@B@`")]
    fn a_missing_value_panics() {
        render(T, &[("A", Val::Quoted("x"))]);
    }

    #[test]
    #[should_panic(expected = "value `C` names no placeholder")]
    fn a_value_left_over_panics() {
        render(
            T,
            &[
                ("A", Val::Quoted("x")),
                ("B", Val::Raw("")),
                ("C", Val::Raw("")),
            ],
        );
    }
}
