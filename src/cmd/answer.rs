//! `labctl answer`: one student's captures, or `--grade DIR`, handed to
//! [`answer`](crate::answer).

use crate::answer::{self, AnswerOptions};
use crate::cli::AnswerArgs;
use crate::config::Given;
use crate::error::Error;

pub(super) fn command(g: &Given, args: &AnswerArgs) -> Result<(), Error> {
    answer::command(
        g,
        &AnswerOptions {
            captures: args.captures.clone(),
            server: args.server.clone(),
            grade: args.grade.clone(),
            reference: args.reference.clone(),
            out: args.out.clone(),
            json: args.json,
        },
    )
}
