//! `labctl answer`: the handout's questions answered from captures a
//! student saved (Wireshark, dumpcap or tcpdump; pcap or pcapng), and with
//! `--grade` a grading sheet for a folder of submissions ([`sheet`]).
//!
//! Stages, as everywhere in labctl: files ─[`capture::study`]─▶ one
//! analysis per interface that carried the lab's traffic (streamed, two
//! passes) ─[`Run::from_captures`]─▶ the lab's questions answered by the
//! report's own rules ─▶ the terminal, JSON, or the sheet. A file that is
//! not a capture (empty, text, an unknown link type) is named with why in
//! one line and the others are answered; nothing readable at all is exit 2.

pub(crate) mod sheet;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::capture::find::ServerSpec;
use crate::capture::study::{study, InterfaceInfo, Study, StudyError, StudyOptions};
use crate::config::Given;
use crate::error::Error;
use crate::report::answers::{answers, Run};
use crate::report::model::{Answer, CaptureReport, QuestionRecord};
use crate::util::{out_line, show_controls};

/// The schema of `labctl answer --json`.
pub(crate) const SCHEMA: &str = "labctl-answer/1";

/// The bench labctl assumes when no hosts file is there: A, B and C at the
/// first addresses of `10.0.3.0/24`, as `labctl init` writes it.
const DEFAULT_BENCH: [(&str, &str); 3] = [("A", "10.0.3.1"), ("B", "10.0.3.2"), ("C", "10.0.3.3")];

/// What the answers are read against: the lab's questions, the hosts'
/// names, the servers the instructor named.
pub struct Context {
    pub questions: Vec<QuestionRecord>,
    /// IP address → host name.
    pub names: BTreeMap<String, String>,
    pub options: StudyOptions,
}

impl Context {
    /// The lab file's questions and the hosts file's names (the default
    /// bench when no hosts file can be read).
    pub fn load(g: &Given, servers: &[String]) -> Result<Context, Error> {
        let mut specs = Vec::new();
        let mut bad = Vec::new();
        for s in servers {
            match ServerSpec::parse(s) {
                Ok(x) => specs.push(x),
                Err(e) => bad.push(e),
            }
        }
        if !bad.is_empty() {
            return Err(Error::Usage(format!("--server: {}", bad.join("; "))));
        }
        // A hosts file that is there must be right; without one, the default bench.
        let names: BTreeMap<String, String> = if g.hosts.exists() {
            let room = crate::config::hosts::load(&g.hosts)?;
            room.benches
                .first()
                .map(|b| {
                    b.hosts
                        .iter()
                        .map(|h| (h.addr.to_string(), h.name.clone()))
                        .collect()
                })
                .unwrap_or_default()
        } else {
            DEFAULT_BENCH
                .iter()
                .map(|(n, a)| (a.to_string(), n.to_string()))
                .collect()
        };
        let mut hosts: Vec<String> = names.values().cloned().collect();
        hosts.sort();
        hosts.dedup();
        let lab = crate::lab::Lab::load(&g.lab, &hosts)?;
        let questions = questions_of(&lab);
        if questions.is_empty() {
            return Err(Error::Usage(format!(
                "the lab `{}` has no questions to answer (`[[question]]` in `{}`)",
                lab.name,
                g.lab.display()
            )));
        }
        Ok(Context {
            questions,
            names,
            options: StudyOptions { servers: specs },
        })
    }
}

/// The lab's questions as the report reads them (`questions.json`'s form).
/// A student's captures come with no bench, so the evidence a question
/// declares (`shows`, resolved on a bench's hosts) is left out: the
/// handout's rules answer from the captures alone.
pub fn questions_of(lab: &crate::lab::Lab) -> Vec<QuestionRecord> {
    lab.questions
        .iter()
        .map(|q| QuestionRecord {
            id: q.id.clone(),
            text: q.text.clone(),
            evidence: q.evidence.clone(),
            compare: q.compare.clone(),
            answer: q
                .answer
                .map(|r| r.keyword().to_string())
                .unwrap_or_default(),
            shows: Vec::new(),
            why: q.why.clone(),
        })
        .collect()
}

/// One file of a submission and what was read from it.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    /// As given (or relative to the graded folder).
    pub file: String,
    /// Why it could not be read at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    pub frames: usize,
    pub interfaces: Vec<InterfaceInfo>,
    /// The lab's servers found in it: `TCP 10.0.3.1:50000`, with why.
    pub services: Vec<ServiceReport>,
    /// Frames of the lab's conversations.
    pub lab_frames: usize,
    /// Frames set aside, by what they are.
    pub set_aside: Vec<(String, usize)>,
    /// Where its frames end early (cut or damaged), when they do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub damaged: Option<String>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServiceReport {
    pub proto: crate::capture::Proto,
    pub address: String,
    pub conversations: usize,
    pub why: String,
}

/// A submission answered: its files and the lab's questions.
#[derive(Debug, Clone, Serialize)]
pub struct Answered {
    pub schema: &'static str,
    /// The student (the folder or file prefix), or `captures`.
    pub name: String,
    pub files: Vec<FileReport>,
    pub answers: Vec<Answer>,
}

impl Answered {
    /// At least one file could be read.
    pub fn readable(&self) -> bool {
        self.files.iter().any(|f| f.error.is_none())
    }
}

/// Answers the questions from `files` (`shown` as the names to print).
pub fn answer_files(name: &str, files: &[(PathBuf, String)], ctx: &Context) -> Answered {
    let mut reports = Vec::new();
    let mut studies: Vec<(String, Study)> = Vec::new();
    for (path, shown) in files {
        match study(path, &ctx.options) {
            Ok(s) => {
                reports.push(file_report(shown, Some(&s), None));
                studies.push((shown.clone(), s));
            }
            Err(e) => reports.push(file_report(shown, None, Some(&e))),
        }
    }
    let mut captures = Vec::new();
    let mut interfaces = Vec::new();
    for (shown, s) in studies {
        let several = s.interfaces.len() > 1;
        for v in s.views {
            let name = if several {
                let i = &s.interfaces[v.interface];
                match &i.name {
                    Some(n) => format!("{shown} (interface {} `{n}`)", v.interface),
                    None => format!("{shown} (interface {})", v.interface),
                }
            } else {
                shown.clone()
            };
            captures.push(CaptureReport {
                name,
                host: String::new(),
                file: shown.clone(),
                step: None,
                stopped_in: None,
                analysis: Some(v.analysis),
                error: None,
            });
            interfaces.push(several.then_some(v.interface));
        }
    }
    let answers = if captures.is_empty() {
        // Nothing to read the questions from: each says why, once.
        let why = if !reports.iter().any(|r| r.error.is_none()) {
            "no file of this submission is a capture labctl can read.".to_string()
        } else if !ctx.options.servers.is_empty() {
            let named: Vec<String> = ctx
                .options
                .servers
                .iter()
                .map(|s| format!("`{s}`"))
                .collect();
            format!(
                "the captures hold no conversation with the server named ({}).",
                named.join(", ")
            )
        } else {
            "no lab server was found in the captures (no reply echoed its request upper-cased): name it with `--server ADDR:PORT`.".to_string()
        };
        ctx.questions
            .iter()
            .map(|q| Answer {
                id: q.id.clone(),
                question: q.text.clone(),
                answered: false,
                ok: false,
                answer: format!("Not answered: {why}"),
                steps: q.evidence.clone(),
                captures: Vec::new(),
                frames: Vec::new(),
                lines: Vec::new(),
                facts: serde_json::json!({}),
            })
            .collect()
    } else {
        let run = Run::from_captures(&captures, &ctx.names, &ctx.questions, interfaces);
        answers(&run, &ctx.questions)
    };
    Answered {
        schema: SCHEMA,
        name: name.to_string(),
        files: reports,
        answers,
    }
}

fn file_report(shown: &str, s: Option<&Study>, e: Option<&StudyError>) -> FileReport {
    let Some(s) = s else {
        return FileReport {
            file: shown.to_string(),
            error: e.map(|e| e.to_string()),
            format: None,
            frames: 0,
            interfaces: Vec::new(),
            services: Vec::new(),
            lab_frames: 0,
            set_aside: Vec::new(),
            damaged: None,
            warnings: Vec::new(),
        };
    };
    let mut warnings = s.warnings.clone();
    for v in &s.views {
        warnings.extend(v.analysis.warnings.iter().cloned());
    }
    FileReport {
        file: shown.to_string(),
        error: None,
        format: Some(s.format.name().to_string()),
        frames: s.frames,
        interfaces: s.interfaces.clone(),
        services: s
            .services
            .iter()
            .map(|x| ServiceReport {
                proto: x.proto,
                address: x.addr.to_string(),
                conversations: x.conversations,
                why: x.why.describe(),
            })
            .collect(),
        lab_frames: s.views.iter().map(|v| v.analysis.counts.total).sum(),
        set_aside: s.set_aside.clone(),
        damaged: s.damaged.clone(),
        warnings,
    }
}

impl FileReport {
    /// One line: what the file is and what labctl read in it.
    pub fn line(&self) -> String {
        if let Some(e) = &self.error {
            return format!("✘ {}: {e}", self.file);
        }
        let ifaces: Vec<String> = self
            .interfaces
            .iter()
            .map(|i| match &i.name {
                Some(n) => format!("`{n}` {}", i.link),
                None => i.link.clone(),
            })
            .collect();
        let mut s = format!(
            "✔ {}: {}, {} ({}), {} frames",
            self.file,
            self.format.as_deref().unwrap_or(""),
            match self.interfaces.len() {
                1 => "1 interface".to_string(),
                n => format!("{n} interfaces"),
            },
            ifaces.join(", "),
            self.frames
        );
        let cut: usize = self.interfaces.iter().map(|i| i.cut).sum();
        if cut > 0 {
            s.push_str(&format!(" ({cut} cut by the snapshot length)"));
        }
        if self.services.is_empty() {
            s.push_str("; no lab server found in it");
        } else {
            let sv: Vec<String> = self
                .services
                .iter()
                .map(|x| {
                    format!(
                        "{} server `{}` ({} conversation{})",
                        x.proto.name(),
                        x.address,
                        x.conversations,
                        if x.conversations == 1 { "" } else { "s" }
                    )
                })
                .collect();
            s.push_str(&format!(
                "; the lab's {} frames: {}",
                self.lab_frames,
                sv.join(", ")
            ));
        }
        let aside: usize = self.set_aside.iter().map(|(_, n)| n).sum();
        if aside > 0 {
            let what: Vec<String> = self
                .set_aside
                .iter()
                .take(5)
                .map(|(w, n)| format!("{w} {n}"))
                .collect();
            s.push_str(&format!(
                "; {aside} set aside ({}{})",
                what.join(", "),
                if self.set_aside.len() > 5 {
                    ", …"
                } else {
                    ""
                }
            ));
        }
        s
    }
}

/// What `labctl answer` was asked.
#[derive(Debug, Clone, Default)]
pub(crate) struct AnswerOptions {
    /// The capture files (pcap, pcapng) of one student.
    pub captures: Vec<PathBuf>,
    /// `--server ADDR:PORT`: the servers the instructor named.
    pub server: Vec<String>,
    /// `--grade DIR`: a folder of submissions instead.
    pub grade: Option<PathBuf>,
    /// `--reference`: a run whose answers the sheet compares with.
    pub reference: Option<PathBuf>,
    /// `--out`: where the sheet goes (default: the graded folder).
    pub out: Option<PathBuf>,
    /// JSON on stdout.
    pub json: bool,
}

/// `labctl answer`.
pub(crate) fn command(g: &Given, args: &AnswerOptions) -> Result<(), Error> {
    if let Some(dir) = &args.grade {
        if !args.captures.is_empty() {
            return Err(Error::Usage(
                "give capture files or `--grade DIR`, not both".into(),
            ));
        }
        return sheet::grade(g, args, dir);
    }
    if args.captures.is_empty() {
        return Err(Error::Usage(
            "no capture given: `labctl answer CAPTURE...` (pcap or pcapng), or `--grade DIR` for a folder of submissions".into(),
        ));
    }
    let ctx = Context::load(g, &args.server)?;
    let files: Vec<(PathBuf, String)> = args
        .captures
        .iter()
        .map(|p| (p.clone(), p.display().to_string()))
        .collect();
    let done = answer_files("captures", &files, &ctx);
    for f in done.files.iter().filter(|f| f.error.is_some()) {
        crate::util::err_line(&show_controls(&f.line(), false));
    }
    if args.json {
        crate::util::json_line(&done);
    } else {
        print_answers(&done);
    }
    if !done.readable() {
        return Err(Error::Usage(format!(
            "no capture could be read ({} file{} given)",
            done.files.len(),
            if done.files.len() == 1 { "" } else { "s" }
        )));
    }
    Ok(())
}

/// The files and the answers, for a terminal.
fn print_answers(done: &Answered) {
    for f in done.files.iter().filter(|f| f.error.is_none()) {
        out_line(&show_controls(&f.line(), false));
        for w in f.damaged.iter().chain(&f.warnings) {
            out_line(&show_controls(&format!("    ! {w}"), false));
        }
    }
    if !done.readable() {
        return;
    }
    for a in &done.answers {
        let mark = if !a.answered {
            "–"
        } else if a.ok {
            "✔"
        } else {
            "✘"
        };
        out_line("");
        out_line(&format!(
            "{mark} {} — {}",
            a.id,
            show_controls(&a.question, false)
        ));
        for l in a.answer.lines() {
            out_line(&show_controls(&format!("  {l}"), false));
        }
    }
    let n = done.answers.iter().filter(|a| a.answered).count();
    out_line("");
    out_line(&format!(
        "{n} of {} questions answered from the capture{}; the others say why the capture cannot answer them",
        done.answers.len(),
        if done.files.len() == 1 { "" } else { "s" }
    ));
}

/// A path shown relative to `base` when it is under it.
pub(crate) fn shown(path: &Path, base: &Path) -> String {
    path.strip_prefix(base)
        .unwrap_or(path)
        .display()
        .to_string()
}
