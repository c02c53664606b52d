//! An input file held in memory, so byte spans from the TOML parser become
//! `file:line:column` in every diagnostic.

use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::error::{Diagnostic, Diagnostics, Error};

/// Input files larger than this are refused before parsing.
pub(crate) const MAX_INPUT_BYTES: u64 = 1024 * 1024;

/// The text of one input file and its path as the user named it.
#[derive(Debug, Clone)]
pub struct Source {
    pub path: PathBuf,
    pub text: String,
}

impl Source {
    /// Reads `path`, refusing files that are missing, unreadable, not UTF-8 or huge.
    pub fn read(path: &Path) -> Result<Source, Error> {
        let fail = |message: String, hint: Option<&str>| {
            let mut d = Diagnostics::default();
            d.push(Diagnostic {
                file: path.to_path_buf(),
                line: 0,
                col: 0,
                message,
                hint: hint.map(str::to_string),
            });
            Error::Input(d)
        };
        let meta = std::fs::metadata(path).map_err(|e| {
            fail(
                format!("cannot read file: {}", crate::util::io_reason(&e)),
                Some("pass the right file with `--hosts FILE` or `--lab FILE`"),
            )
        })?;
        // A FIFO, a device (/dev/zero) or a directory would block or never
        // end: only regular files are read, and never past the limit.
        if !meta.is_file() {
            return Err(fail(
                "not a regular file (a device, a pipe or a directory); labctl reads input only from files".to_string(),
                Some("pass the path of a .toml file"),
            ));
        }
        let too_big = |n: u64| {
            fail(
                format!(
                    "file is {n} bytes or more; input files are limited to {MAX_INPUT_BYTES} bytes"
                ),
                Some("is this the right file?"),
            )
        };
        if meta.len() > MAX_INPUT_BYTES {
            return Err(too_big(meta.len()));
        }
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| {
                use std::io::Read;
                f.take(MAX_INPUT_BYTES + 1).read_to_end(&mut bytes)
            })
            .map_err(|e| {
                fail(
                    format!("cannot read file: {}", crate::util::io_reason(&e)),
                    None,
                )
            })?;
        if bytes.len() as u64 > MAX_INPUT_BYTES {
            return Err(too_big(bytes.len() as u64));
        }
        let text = String::from_utf8(bytes)
            .map_err(|_| fail("file is not UTF-8 text".to_string(), None))?;
        Ok(Source {
            path: path.to_path_buf(),
            text,
        })
    }

    /// A source from text, for tests and generated files.
    pub fn from_text(path: impl Into<PathBuf>, text: impl Into<String>) -> Source {
        Source {
            path: path.into(),
            text: text.into(),
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub(crate) fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before[line_start..].chars().count() + 1;
        (line, col)
    }

    /// A diagnostic at the start of `span`.
    pub(crate) fn diag(&self, span: Range<usize>, message: impl Into<String>) -> Diagnostic {
        let (line, col) = self.line_col(span.start);
        Diagnostic {
            file: self.path.clone(),
            line,
            col,
            message: message.into(),
            hint: None,
        }
    }

    /// A diagnostic at the start of `span`, with a hint.
    pub(crate) fn diag_hint(
        &self,
        span: Range<usize>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Diagnostic {
        let mut d = self.diag(span, message);
        d.hint = Some(hint.into());
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one_in_characters() {
        let s = Source::from_text("f.toml", "a = 1\nbé = 2\n");
        assert_eq!(s.line_col(0), (1, 1));
        assert_eq!(s.line_col(6), (2, 1));
        // 'é' is two bytes but one column.
        assert_eq!(s.line_col(9), (2, 3));
    }
}
