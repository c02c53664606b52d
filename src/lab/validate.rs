//! What a lab file says across its steps, checked once every step was read:
//! step ids unique, `needs` naming steps and free of cycles, and every
//! program or capture running where an action uses it, both in a whole run
//! and when one step is replayed after the steps it needs. The same
//! simulation tells the planner which host each named program is on.

use std::collections::{BTreeMap, BTreeSet};

use super::model::{Action, ActionKind, Check, Lab};
use crate::config::tree::ticked;
use crate::error::{Diagnostic, Diagnostics};

/// Where an action that names running programs works, as the simulation of
/// the steps before it finds them (the other actions name their hosts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// The action names its hosts itself (configure, deploy, ping, capture,
    /// start, run: [`super::model::action_hosts`]).
    Named,
    /// A send or an expectation: the host its program runs on.
    On(String),
    /// A stop: each name with its host, in the action's order.
    Stops(Vec<Stopped>),
}

/// One name a stop ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stopped {
    pub name: String,
    pub host: String,
    /// A capture (its pcap is fetched after the stop), not a program.
    pub capture: bool,
}

/// One action of a planned step, with where it works.
#[derive(Debug, Clone)]
pub struct Placed<'a> {
    pub action: &'a Action,
    pub at: Placement,
}

/// Each action of each step of `seq` (in order) with its [`Placement`],
/// after simulating the steps in order, or the first problem found (used by
/// planning).
pub fn resolve_hosts<'a>(lab: &'a Lab, seq: &[usize]) -> Result<Vec<Vec<Placed<'a>>>, Diagnostic> {
    let mut sim = Sim::default();
    let mut out = Vec::new();
    for &i in seq {
        let mut per_action = Vec::new();
        for a in &lab.steps[i].actions {
            match sim.apply(lab, i, a) {
                Ok(at) => per_action.push(Placed { action: a, at }),
                Err(msg) => return Err(lab.source.diag(a.span.clone(), msg.text)),
            }
        }
        out.push(per_action);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// The graph: step ids, needs, cycles, and which programs run when.

pub(super) fn check_graph(lab: &Lab) -> Diagnostics {
    let src = &lab.source;
    let mut d = Diagnostics::default();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let ids: std::collections::HashSet<&str> = lab.steps.iter().map(|s| s.id.as_str()).collect();
    for s in &lab.steps {
        if let Some(&first) = seen.get(s.id.as_str()) {
            let (line, _) = src.line_col(first);
            d.push(src.diag_hint(
                s.span.clone(),
                format!("step `{}` is defined twice", s.id),
                format!("the first is at line {line}; give each step its own id"),
            ));
        } else {
            seen.insert(&s.id, s.span.start);
        }
        for n in &s.needs {
            if n == &s.id {
                d.push(src.diag(s.span.clone(), format!("step `{}` needs itself", s.id)));
            } else if !ids.contains(n.as_str()) {
                d.push(src.diag_hint(
                    s.span.clone(),
                    format!("step `{}` needs unknown step `{n}`", s.id),
                    format!("steps are {}", ids_hint(lab)),
                ));
            }
        }
    }
    if !d.is_empty() {
        return d;
    }
    if let Some(cycle) = find_cycle(lab) {
        let path: Vec<String> = cycle
            .iter()
            .map(|&i| format!("`{}`", lab.steps[i].id))
            .collect();
        let first = cycle[0];
        d.push(src.diag_hint(
            lab.steps[first].span.clone(),
            format!("dependency cycle: {}", path.join(" → ")),
            "a step can only need steps that can run before it",
        ));
        return d;
    }
    // The whole lab in run order.
    let mut sim = Sim::default();
    let mut reported = BTreeSet::new();
    for i in lab.run_order() {
        for a in &lab.steps[i].actions {
            if let Err(e) = sim.apply(lab, i, a) {
                d.push(src.diag_hint(a.span.clone(), e.text, e.hint));
                reported.insert(a.span.start);
            }
        }
    }
    // Each step replayed alone: its needs, then itself. Only the actions on
    // the names the step uses matter (and on names stopped together with
    // them): see `Replays`, which keeps this near-linear in the lab's size.
    let replays = Replays::new(lab);
    for (i, step) in lab.steps.iter().enumerate() {
        let mut sim = Sim::default();
        for (j, a) in replays.of(lab, i) {
            let r = sim.apply(lab, j, a);
            if let (true, false, Err(e)) = (j == i, reported.contains(&a.span.start), r) {
                let starters = starters_of(lab, &e.name);
                let hint = match starters.first() {
                    Some(s) => format!(
                        "add `{s}` (it starts `{}`) to the `needs` of step `{}`",
                        e.name, step.id
                    ),
                    None => e.hint,
                };
                d.push(src.diag_hint(
                    a.span.clone(),
                    format!("replaying step `{}` alone: {}", step.id, e.text),
                    hint,
                ));
            }
        }
    }
    d
}

fn ids_hint(lab: &Lab) -> String {
    let ids: Vec<&str> = lab.steps.iter().map(|s| s.id.as_str()).collect();
    ticked(&ids)
}

fn starters_of(lab: &Lab, name: &str) -> Vec<String> {
    lab.steps
        .iter()
        .filter(|s| {
            s.actions.iter().any(|a| match &a.kind {
                ActionKind::Start { name: n, .. } | ActionKind::Capture { name: n, .. } => {
                    n == name
                }
                _ => false,
            })
        })
        .map(|s| s.id.clone())
        .collect()
}

/// What replaying one step alone runs, found without simulating its whole
/// closure: the steps each step needs, transitively (a bit set per step,
/// built in run order from its needs' sets), and per group of names (names
/// stopped by one action are one group: an action stops them together) the
/// actions on them in run order. Replaying step `i` is then its needs'
/// actions on the groups of the names `i` uses, then `i`'s own: the same
/// answer as simulating every step it needs, which made checking a lab of
/// n chained steps take n² simulated steps.
struct Replays {
    /// Per step, the steps it needs transitively (bits by step index).
    needs: Vec<Vec<u64>>,
    /// Per group, `(run position, step, action index)`, sorted.
    touches: Vec<Vec<(usize, usize, usize)>>,
    /// Name → its group.
    group: BTreeMap<String, usize>,
}

impl Replays {
    fn new(lab: &Lab) -> Replays {
        let n = lab.steps.len();
        let words = n.div_ceil(64);
        let order = lab.run_order();
        let need = lab.need_indexes();
        let mut needs = vec![vec![0u64; words]; n];
        for &i in &order {
            let mut set = vec![0u64; words];
            for &j in &need[i] {
                set[j / 64] |= 1 << (j % 64);
                for (w, x) in set.iter_mut().zip(&needs[j]) {
                    *w |= x;
                }
            }
            needs[i] = set;
        }
        // Groups: names an action touches together are one (union-find).
        let mut group: BTreeMap<String, usize> = BTreeMap::new();
        let mut parent: Vec<usize> = Vec::new();
        fn root(p: &mut [usize], mut x: usize) -> usize {
            while p[x] != x {
                p[x] = p[p[x]];
                x = p[x];
            }
            x
        }
        for s in &lab.steps {
            for a in &s.actions {
                let names = touched(a);
                let mut first = None;
                for name in names {
                    let g = *group.entry(name.to_string()).or_insert_with(|| {
                        parent.push(parent.len());
                        parent.len() - 1
                    });
                    match first {
                        None => first = Some(g),
                        Some(f) => {
                            let (a, b) = (root(&mut parent, f), root(&mut parent, g));
                            parent[b] = a;
                        }
                    }
                }
            }
        }
        for g in group.values_mut() {
            *g = root(&mut parent, *g);
        }
        let mut touches = vec![Vec::new(); parent.len()];
        for (pos, &i) in order.iter().enumerate() {
            for (k, a) in lab.steps[i].actions.iter().enumerate() {
                let mut gs: Vec<usize> = touched(a).iter().map(|n| group[*n]).collect();
                gs.dedup();
                for g in gs {
                    touches[g].push((pos, i, k));
                }
            }
        }
        Replays {
            needs,
            touches,
            group,
        }
    }

    /// The actions replaying step `i` alone runs that can bear on its own:
    /// `(step, action)`, in run order, `i`'s own last.
    fn of<'l>(&self, lab: &'l Lab, i: usize) -> Vec<(usize, &'l Action)> {
        let mine = &lab.steps[i].actions;
        let mut groups: Vec<usize> = mine
            .iter()
            .flat_map(touched)
            .filter_map(|n| self.group.get(n).copied())
            .collect();
        groups.sort_unstable();
        groups.dedup();
        let set = &self.needs[i];
        let mut picked: Vec<(usize, usize, usize)> = groups
            .iter()
            .flat_map(|&g| &self.touches[g])
            .filter(|(_, j, _)| set[j / 64] & (1 << (j % 64)) != 0)
            .copied()
            .collect();
        picked.sort_unstable();
        picked.dedup();
        let mut out: Vec<(usize, &Action)> = picked
            .into_iter()
            .map(|(_, j, k)| (j, &lab.steps[j].actions[k]))
            .collect();
        out.extend(mine.iter().map(|a| (i, a)));
        out
    }
}

/// The program and capture names an action works on.
fn touched(a: &Action) -> Vec<&str> {
    match &a.kind {
        ActionKind::Start { name, .. }
        | ActionKind::Capture { name, .. }
        | ActionKind::Send { name, .. }
        | ActionKind::Expect { name, .. } => vec![name.as_str()],
        ActionKind::Stop { names } => names.iter().map(String::as_str).collect(),
        _ => Vec::new(),
    }
}

/// A cycle in `needs`, as step indexes from its start back to it.
fn find_cycle(lab: &Lab) -> Option<Vec<usize>> {
    let need = lab.need_indexes();
    fn visit(
        need: &[Vec<usize>],
        i: usize,
        color: &mut [u8],
        stack: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        color[i] = 1;
        stack.push(i);
        for &j in &need[i] {
            if color[j] == 1 {
                let at = stack.iter().position(|&x| x == j).expect("on the stack");
                let mut cycle = stack[at..].to_vec();
                cycle.push(j);
                return Some(cycle);
            }
            if color[j] == 0 {
                if let Some(c) = visit(need, j, color, stack) {
                    return Some(c);
                }
            }
        }
        stack.pop();
        color[i] = 2;
        None
    }
    let mut color = vec![0u8; lab.steps.len()];
    for i in 0..lab.steps.len() {
        if color[i] == 0 {
            if let Some(c) = visit(&need, i, &mut color, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

/// Which programs and captures run, as a sequence of steps is simulated.
#[derive(Default)]
struct Sim {
    /// name -> (host, is a capture, step that started it)
    live: BTreeMap<String, (String, bool, String)>,
    /// name -> how it ended
    ended: BTreeMap<String, String>,
}

struct SimError {
    name: String,
    text: String,
    hint: String,
}

impl Sim {
    /// Applies one action; returns where it works.
    fn apply(&mut self, lab: &Lab, step: usize, a: &Action) -> Result<Placement, SimError> {
        let id = &lab.steps[step].id;
        let err = |name: &str, text: String, hint: &str| SimError {
            name: name.to_string(),
            text,
            hint: hint.to_string(),
        };
        let not_running = |sim: &Sim, name: &str| -> SimError {
            match sim.ended.get(name) {
                Some(how) => err(
                    name,
                    format!("`{name}` is not running here: {how}"),
                    "start it again first, or move this action before that",
                ),
                None => err(
                    name,
                    format!("`{name}` is not running here: no step before this one starts it"),
                    "start it with `{ start = \"NAME\", program = ... }` in an earlier step",
                ),
            }
        };
        match &a.kind {
            ActionKind::Start { name, host, .. } | ActionKind::Capture { name, host, .. } => {
                if let Some((_, _, by)) = self.live.get(name) {
                    return Err(err(
                        name,
                        format!("`{name}` is already running (started by step `{by}`)"),
                        "stop it first, or choose another name",
                    ));
                }
                let cap = matches!(a.kind, ActionKind::Capture { .. });
                self.live
                    .insert(name.clone(), (host.clone(), cap, id.clone()));
                self.ended.remove(name);
                Ok(Placement::Named)
            }
            ActionKind::Send { name, .. } | ActionKind::Expect { name, .. } => {
                let Some((host, cap, _)) = self.live.get(name).cloned() else {
                    return Err(not_running(self, name));
                };
                if cap {
                    return Err(err(
                        name,
                        format!(
                            "`{name}` is a capture; only a program takes lines or expectations"
                        ),
                        "name a program started with `start`",
                    ));
                }
                if let ActionKind::Expect {
                    check: Check::Exit { .. },
                    ..
                } = a.kind
                {
                    self.live.remove(name);
                    self.ended
                        .insert(name.clone(), format!("it exited in step `{id}`"));
                }
                Ok(Placement::On(host))
            }
            ActionKind::Stop { names } => {
                let mut stops = Vec::new();
                for name in names {
                    let Some((host, capture, _)) = self.live.remove(name) else {
                        return Err(not_running(self, name));
                    };
                    self.ended
                        .insert(name.clone(), format!("step `{id}` stopped it"));
                    stops.push(Stopped {
                        name: name.clone(),
                        host,
                        capture,
                    });
                }
                Ok(Placement::Stops(stops))
            }
            _ => Ok(Placement::Named),
        }
    }
}

pub(super) fn dedup(d: &mut Diagnostics) {
    let mut seen = BTreeSet::new();
    d.0.retain(|x| seen.insert((x.line, x.col, x.message.clone())));
}
