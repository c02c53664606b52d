//! The evidence a question declares (`frames`, `output`, `exit` in a
//! `[[question]]`), so another lab's questions are answered without a rule
//! written for them: frames of a named capture that match a filter
//! ([`FrameFilter`], also a Wireshark display filter), lines of a program's
//! output that match a pattern, a `run`'s exit status and output; each
//! counted in the question's `evidence` steps and, with `compare`, in
//! those steps too.
//!
//! The lab file names hosts (`src = "B"`) and templates (`{A.addr}`,
//! `{port}`); [`Spec`] keeps them so. A run resolves them on its bench
//! ([`records`]) into [`Show`]s, which `questions.json` holds and the
//! report reads (`report/answers/declared.rs`).

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::model::{Lab, Stream};
use super::plan::scope;
use super::template::Template;
use crate::capture::filter::FrameFilter;
use crate::config::hosts::Bench;

/// What the lab expects of a count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Expect {
    /// At least one (the default).
    Some,
    None,
    Exactly(usize),
    /// Fewer in the `evidence` steps than in the `compare` steps.
    Fewer,
    More,
    Same,
}

/// The words a lab file uses for [`Expect`], besides a number.
pub(crate) const EXPECT_WORDS: [&str; 5] = ["some", "none", "fewer", "more", "same"];

impl From<Expect> for String {
    fn from(e: Expect) -> String {
        match e {
            Expect::Some => "some".into(),
            Expect::None => "none".into(),
            Expect::Exactly(n) => n.to_string(),
            Expect::Fewer => "fewer".into(),
            Expect::More => "more".into(),
            Expect::Same => "same".into(),
        }
    }
}

impl TryFrom<String> for Expect {
    type Error = String;
    fn try_from(s: String) -> Result<Expect, String> {
        Ok(match s.as_str() {
            "some" => Expect::Some,
            "none" => Expect::None,
            "fewer" => Expect::Fewer,
            "more" => Expect::More,
            "same" => Expect::Same,
            n => Expect::Exactly(
                n.parse()
                    .map_err(|_| format!("`{n}` is not a count nor one of {EXPECT_WORDS:?}"))?,
            ),
        })
    }
}

impl Expect {
    /// Whether it compares the evidence steps with the `compare` steps.
    pub fn compares(self) -> bool {
        matches!(self, Expect::Fewer | Expect::More | Expect::Same)
    }

    /// Whether `count` (and, for a comparison, `compared`) is what the lab expects.
    pub(crate) fn met(self, count: usize, compared: Option<usize>) -> bool {
        match self {
            Expect::Some => count > 0,
            Expect::None => count == 0,
            Expect::Exactly(n) => count == n,
            Expect::Fewer => compared.is_some_and(|c| count < c),
            Expect::More => compared.is_some_and(|c| count > c),
            Expect::Same => compared.is_some_and(|c| count == c),
        }
    }

    /// What it expects, in words: `at least one`, `fewer than in the compared steps`.
    pub fn words(self) -> String {
        match self {
            Expect::Some => "at least one".into(),
            Expect::None => "none".into(),
            Expect::Exactly(n) => format!("exactly {n}"),
            Expect::Fewer => "fewer than in the steps it compares with".into(),
            Expect::More => "more than in the steps it compares with".into(),
            Expect::Same => "as many as in the steps it compares with".into(),
        }
    }
}

/// An address in a frame filter, as the lab file writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addr {
    /// A host of the bench: its lab address.
    Host(String),
    Ip(Ipv4Addr),
}

/// One piece of declared evidence, as the lab file says it.
#[derive(Debug, Clone)]
pub enum Spec {
    /// Frames of capture `capture` matching `filter` (its addresses below).
    Frames {
        capture: String,
        filter: FrameFilter,
        src: Option<Addr>,
        dst: Option<Addr>,
        host: Option<Addr>,
        expect: Expect,
    },
    /// Lines of program `program` (a `start`ed name, or a `run` program) matching `pattern`.
    Output {
        program: String,
        on: Option<String>,
        pattern: Template,
        stream: Stream,
        expect: Expect,
    },
    /// The exit status and output of a `run` of `program`.
    Exit {
        program: String,
        on: Option<String>,
        status: Option<i32>,
    },
}

/// One piece of declared evidence, resolved on a bench: what
/// `questions.json` holds and the report reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Show {
    Frames {
        capture: String,
        filter: FrameFilter,
        expect: Expect,
    },
    Output {
        program: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        host: Option<String>,
        /// A regex (template values escaped).
        pattern: String,
        stream: Stream,
        expect: Expect,
    },
    Exit {
        program: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        host: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<i32>,
    },
}

/// A question as `questions.json` holds it (the report's `QuestionRecord`).
#[derive(Debug, Serialize)]
pub struct QuestionOut<'a> {
    pub id: &'a str,
    pub text: &'a str,
    pub evidence: &'a [String],
    pub compare: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shows: Vec<Show>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<&'a str>,
}

/// The lab's questions with their evidence resolved on `bench`: host names
/// to lab addresses, templates expanded (a pattern's values escaped).
pub fn records<'a>(lab: &'a Lab, bench: &Bench) -> Vec<QuestionOut<'a>> {
    lab.questions
        .iter()
        .map(|q| QuestionOut {
            id: &q.id,
            text: &q.text,
            evidence: &q.evidence,
            compare: &q.compare,
            answer: q.answer.map(|r| r.keyword()),
            shows: q
                .shows
                .iter()
                .filter_map(|s| resolve(lab, bench, s))
                .collect(),
            why: q.why.as_deref(),
        })
        .collect()
}

fn resolve(lab: &Lab, bench: &Bench, spec: &Spec) -> Option<Show> {
    let ip = |a: &Option<Addr>| -> Option<Ipv4Addr> {
        match a.as_ref()? {
            Addr::Ip(ip) => Some(*ip),
            Addr::Host(h) => bench.host(h).map(|h| h.addr),
        }
    };
    Some(match spec {
        Spec::Frames {
            capture,
            filter,
            src,
            dst,
            host,
            expect,
        } => Show::Frames {
            capture: capture.clone(),
            filter: FrameFilter {
                src: ip(src),
                dst: ip(dst),
                host: ip(host),
                ..filter.clone()
            },
            expect: *expect,
        },
        Spec::Output {
            program,
            on,
            pattern,
            stream,
            expect,
        } => {
            // `{addr}` … mean the host it names, else the bench's first.
            let h = on
                .as_deref()
                .and_then(|n| bench.host(n))
                .or_else(|| bench.hosts.first())?;
            Show::Output {
                program: program.clone(),
                host: on.clone(),
                pattern: pattern.expand_regex(&scope(lab, bench, h)),
                stream: *stream,
                expect: *expect,
            }
        }
        Spec::Exit {
            program,
            on,
            status,
        } => Show::Exit {
            program: program.clone(),
            host: on.clone(),
            status: *status,
        },
    })
}
