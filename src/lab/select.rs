//! Which steps a command runs: labctl's own [`StepChoice`] (built from the
//! command line's `--step`, `--from`, `--to` at its edge, `cli`), resolved
//! against a lab to the steps in run order, with the steps they need.

use std::collections::BTreeSet;

use super::model::Lab;
use crate::error::Error;

/// Which steps a command works on: labctl's own choice, built from the
/// command line at its edge (`cli`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepChoice {
    /// One step, after the steps it needs.
    Only(String),
    /// From one step (after the steps it needs) to another, in run order;
    /// an open end is the lab's first or last step (both open: the whole lab).
    Range {
        from: Option<String>,
        to: Option<String>,
    },
}

impl StepChoice {
    /// The whole lab.
    pub fn all() -> StepChoice {
        StepChoice::Range {
            from: None,
            to: None,
        }
    }
}

/// The steps a selection runs, in run order, each with whether it is only needed.
pub fn select_steps(lab: &Lab, choice: impl Into<StepChoice>) -> Result<Vec<(usize, bool)>, Error> {
    let choice = choice.into();
    let find = |id: &str| {
        lab.step(id).ok_or_else(|| {
            let ids: Vec<&str> = lab.steps.iter().map(|s| s.id.as_str()).collect();
            Error::Usage(format!(
                "no step `{id}` in `{}`; its steps: {}",
                lab.source.path.display(),
                ids.join(", ")
            ))
        })
    };
    let order = lab.run_order();
    let targets: Vec<usize> = match &choice {
        StepChoice::Only(id) => vec![find(id)?],
        StepChoice::Range {
            from: first,
            to: last,
        } => {
            let pos = |i: usize| order.iter().position(|&x| x == i).expect("in order");
            let from = match first {
                Some(id) => pos(find(id)?),
                None => 0,
            };
            let to = match last {
                Some(id) => pos(find(id)?),
                None => order.len().saturating_sub(1),
            };
            if from > to {
                return Err(Error::Usage(format!(
                    "`--from {}` comes after `--to {}` in the lab",
                    first.as_deref().unwrap_or(""),
                    last.as_deref().unwrap_or("")
                )));
            }
            order
                .get(from..=to)
                .map(<[usize]>::to_vec)
                .unwrap_or_default()
        }
    };
    let chosen: BTreeSet<usize> = targets.iter().copied().collect();
    Ok(lab
        .closure(&targets)
        .into_iter()
        .map(|i| (i, !chosen.contains(&i)))
        .collect())
}
