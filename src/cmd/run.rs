//! `labctl run`, `run --dry-run`, `plan` and `list`: the steps and benches
//! chosen, handed to [`run`](crate::run) and [`lab`](crate::lab), which share
//! one plan.

use crate::cli::{PlanArgs, RunArgs};
use crate::config::Given;
use crate::error::Error;
use crate::run::{self, RunOptions};

pub(super) fn run(g: &Given, args: &RunArgs) -> Result<(), Error> {
    run::command(
        g,
        &RunOptions {
            steps: (&args.steps).into(),
            select: (&args.select).into(),
            dry_run: args.dry_run,
            out: args.out.clone(),
            pause: args.pause,
            json: args.json,
            programs: args.programs.clone(),
            take_over: args.take_over,
        },
    )
}

pub(super) fn plan(g: &Given, args: &PlanArgs) -> Result<(), Error> {
    crate::lab::plan_command(
        &g.hosts,
        &g.lab,
        (&args.select).into(),
        (&args.steps).into(),
        args.programs.as_deref(),
    )
}

pub(super) fn list(g: &Given) -> Result<(), Error> {
    crate::lab::list_command(&g.hosts, &g.lab)
}
