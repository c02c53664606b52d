//! Lab files the fault tests share: most start with the same two steps (the
//! addresses, then one line through a server on A and a client on B), so that
//! there is output and, when asked, a capture to keep when things go wrong.

/// `S.1` gives A and B their addresses; `S.2` starts a server on A (after a
/// capture `cap-A` when [`ExchangeLab::captured`]), a client on B, and sends
/// one line through them. Tests append their own steps to [`ExchangeLab::toml`].
pub struct ExchangeLab {
    name: String,
    title: String,
    line: String,
    reply: String,
    capture: bool,
}

impl ExchangeLab {
    /// Lab `name`; `S.2` sends `before` and expects `Server> BEFORE`.
    pub fn new(name: &str) -> ExchangeLab {
        ExchangeLab {
            name: name.into(),
            title: "a server on A, a client on B, one line".into(),
            line: "before".into(),
            reply: "^Server> BEFORE$".into(),
            capture: false,
        }
    }

    /// `S.2`'s title (TOML string text: escapes allowed).
    pub fn title(mut self, title: &str) -> ExchangeLab {
        self.title = title.into();
        self
    }

    /// The line `S.2` sends (TOML string text) and the pattern its reply must match.
    pub fn line(mut self, line: &str, reply: &str) -> ExchangeLab {
        self.line = line.into();
        self.reply = reply.into();
        self
    }

    /// A capture `cap-A` on A (`tcp port {port}`) starts before the server.
    pub fn captured(mut self) -> ExchangeLab {
        self.capture = true;
        self
    }

    /// The lab file's text, ending after `S.2`.
    pub fn toml(&self) -> String {
        let capture = if self.capture {
            "  { capture = \"cap-A\", on = \"A\", filter = \"tcp port {port}\" },\n"
        } else {
            ""
        };
        format!(
            r#"
[lab]
name = "{name}"
[vars]
port = 50000
[[step]]
id = "S.1"
title = "addresses"
hosts = ["A", "B"]
do = [{{ configure = true }}]
[[step]]
id = "S.2"
title = "{title}"
hosts = ["A", "B"]
needs = ["S.1"]
do = [
{capture}  {{ start = "server", on = "A", program = "tcp_server", args = ["--port", "{{port}}"] }},
  {{ expect = "server", match = "listening" }},
  {{ start = "client", on = "B", program = "tcp_client", args = ["--server", "{{A.addr}}", "--port", "{{port}}"] }},
  {{ expect = "client", match = "^Connected" }},
  {{ send = "client", lines = ["{line}"] }},
  {{ expect = "client", match = "{reply}" }},
]
"#,
            name = self.name,
            title = self.title,
            line = self.line,
            reply = self.reply,
        )
    }
}

/// Step `S.3` (titled `title`), after [`ExchangeLab`]: B's client prints
/// nothing for `wait` (B's session is busy the whole time), as lab-file text.
pub fn b_waits(title: &str, wait: &str) -> String {
    format!(
        r#"
[[step]]
id = "S.3"
title = "{title}"
hosts = ["B"]
needs = ["S.2"]
do = [{{ expect = "client", absent = "nothing", for = "{wait}" }}]
"#
    )
}
