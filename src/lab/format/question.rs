//! The lab's questions (`[[question]]`): each names the steps whose
//! evidence answers it and the rule that answers it. Unknown steps and
//! rules, duplicate ids and missing fields are located errors like any
//! other in the lab file.

use std::collections::BTreeMap;

use super::Validator;
use crate::config::tree::{get, ticked, Node, Value};
use crate::lab::model::{Question, RULES};

const QUESTION_FIELDS: &[&str] = &["id", "text", "evidence", "compare", "answer"];

impl Validator<'_> {
    /// Every question of `node` (the `question` array); `steps` is the
    /// `step` array, whose ids the questions may name.
    pub(super) fn questions(&mut self, node: &Node, steps: Option<&Node>) -> Vec<Question> {
        let Value::Array(items) = &node.value else {
            self.c.err_hint(
                &node.span,
                "`question` must be an array of tables",
                "write each question as `[[question]]`",
            );
            return Vec::new();
        };
        // Step ids as written, even of steps with problems of their own
        // (those are reported where they are).
        let ids: Vec<String> = match steps.map(|s| &s.value) {
            Some(Value::Array(steps)) => steps
                .iter()
                .filter_map(|s| match get(s.entries(), "id").map(|n| &n.value) {
                    Some(Value::Str(id)) => Some(id.clone()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        let mut out = Vec::new();
        for it in items {
            if let Some(q) = self.question(it, &ids) {
                if let Some(&first) = seen.get(&q.id) {
                    let (line, _) = self.c.src.line_col(first);
                    self.c.err_hint(
                        &q.span,
                        format!("question `{}` is asked twice", q.id),
                        format!("the first is at line {line}; give each question its own id"),
                    );
                    continue;
                }
                seen.insert(q.id.clone(), q.span.start);
                out.push(q);
            }
        }
        out
    }

    fn question(&mut self, node: &Node, ids: &[String]) -> Option<Question> {
        let f = self.c.fields(node, "a question", QUESTION_FIELDS);
        let get = |k: &str| f.iter().find(|e| e.key == k).map(|e| &e.node);
        let before = self.c.count();
        let required = |v: &mut Self, key: &str, hint: &str| -> Option<String> {
            match get(key) {
                Some(n) => {
                    let s = v.c.string(n, &format!("a question's `{key}`"))?;
                    if s.trim().is_empty() {
                        v.c.err_hint(&n.span, format!("a question's `{key}` is empty"), hint);
                        return None;
                    }
                    Some(s)
                }
                None => {
                    v.c.err_hint(&node.span, format!("a question has no `{key}`"), hint);
                    None
                }
            }
        };
        let id = required(
            self,
            "id",
            "add `id = \"I.1(a)\"`, as the handout numbers it",
        );
        let text = required(
            self,
            "text",
            "add `text = \"...\"`: the question, in your words",
        );
        let answer = match get("answer") {
            Some(n) => self.c.string(n, "a question's `answer`").and_then(|a| {
                let rule = RULES.iter().find(|(k, _)| *k == a).map(|(_, r)| *r);
                if rule.is_none() {
                    let names: Vec<&str> = RULES.iter().map(|(k, _)| *k).collect();
                    self.c.err_hint(
                        &n.span,
                        format!("unknown answer rule `{a}`"),
                        format!("the rules are {}", ticked(&names)),
                    );
                }
                rule
            }),
            None => {
                let names: Vec<&str> = RULES.iter().map(|(k, _)| *k).collect();
                self.c.err_hint(
                    &node.span,
                    "a question has no `answer`",
                    format!("add `answer = \"...\"`, one of {}", ticked(&names)),
                );
                None
            }
        };
        let steps = |v: &mut Self, key: &str| -> Vec<String> {
            let Some(n) = get(key) else {
                return Vec::new();
            };
            let Some(list) = v.c.strings(n, &format!("a question's `{key}`")) else {
                return Vec::new();
            };
            let mut out = Vec::new();
            for (s, span) in list {
                if !ids.contains(&s) {
                    v.c.err_hint(
                        &span,
                        format!("question's `{key}` names unknown step `{s}`"),
                        format!("steps are {}", ticked(ids)),
                    );
                } else if !out.contains(&s) {
                    out.push(s);
                }
            }
            out
        };
        let evidence = steps(self, "evidence");
        let compare = steps(self, "compare");
        if get("evidence").is_some_and(|n| matches!(&n.value, Value::Array(a) if a.is_empty()))
            || get("evidence").is_none()
        {
            self.c.err_hint(
                get("evidence").map_or(&node.span, |n| &n.span),
                "a question names no `evidence`",
                "add `evidence = [\"I.8\"]`: the steps whose captures and output answer it",
            );
        }
        if self.c.count() > before {
            return None;
        }
        Some(Question {
            id: id?,
            text: text?,
            evidence,
            compare,
            answer: answer?,
            span: node.span.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Source;
    use crate::error::Error;
    use crate::lab::model::Rule;
    use crate::lab::Lab;

    const STEPS: &str = "[lab]\nname = \"t\"\n[[step]]\nid = \"S.1\"\ntitle = \"t\"\ndo = [{ configure = true, on = \"A\" }]\n";

    fn read(questions: &str) -> Result<Lab, Error> {
        let text = format!("{STEPS}{questions}");
        Lab::from_source(Source::from_text("lab.toml", &text), &["A".to_string()])
    }

    #[test]
    fn a_question_names_its_steps_and_rule() {
        let lab = read("[[question]]\nid = \"Q(a)\"\ntext = \"why?\"\nevidence = [\"S.1\"]\nanswer = \"udp-frames\"\n").unwrap();
        let q = &lab.questions[0];
        assert_eq!((q.id.as_str(), q.answer), ("Q(a)", Rule::UdpFrames));
        assert_eq!(q.evidence, ["S.1"]);
        assert!(read("").unwrap().questions.is_empty());
    }

    #[test]
    fn unknown_rules_and_steps_are_located_errors_all_at_once() {
        let text =
            "[[question]]\nid = \"Q\"\ntext = \"t\"\nevidence = [\"S.9\"]\nanswer = \"guess\"\n\
[[question]]\nid = \"R\"\ntext = \"t\"\nevidence = [\"S.1\"]\nanswer = \"busy-port\"\n\
[[question]]\nid = \"R\"\ntext = \"t\"\nevidence = \"S.1\"\nanswer = \"busy-port\"\n\
[[question]]\nid = \"T\"\ntext = \"t\"\nanswer = \"busy-port\"\nwhy = 1\n";
        let Err(Error::Input(d)) = read(text) else {
            panic!("expected input errors")
        };
        let got: Vec<(usize, usize, &str)> =
            d.0.iter()
                .map(|d| (d.line, d.col, d.message.as_str()))
                .collect();
        assert_eq!(
            got,
            [
                (10, 13, "question's `evidence` names unknown step `S.9`"),
                (11, 10, "unknown answer rule `guess`"),
                (17, 1, "question `R` is asked twice"),
                (22, 1, "a question names no `evidence`"),
                (26, 1, "unknown field `why` in a question"),
            ],
            "{d:?}"
        );
    }
}
