//! The dependency graph of services: start order (dependencies first), cycle detection
//! that names the cycle, and the closure of a set of services over `depends_on`.

use crate::model::Project;
use std::collections::{BTreeMap, BTreeSet};

/// A cycle as the list of services on it, first repeated at the end (`a -> b -> a`).
pub fn find_cycle(deps: &BTreeMap<String, Vec<String>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    fn visit(
        n: &str,
        deps: &BTreeMap<String, Vec<String>>,
        marks: &mut BTreeMap<String, Mark>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match marks.get(n).copied().unwrap_or(Mark::New) {
            Mark::Done => return None,
            Mark::Active => {
                let i = stack.iter().position(|x| x == n).unwrap_or(0);
                let mut cycle = stack[i..].to_vec();
                cycle.push(n.to_string());
                return Some(cycle);
            }
            Mark::New => {}
        }
        marks.insert(n.to_string(), Mark::Active);
        stack.push(n.to_string());
        for d in deps.get(n).into_iter().flatten() {
            if let Some(c) = visit(d, deps, marks, stack) {
                return Some(c);
            }
        }
        stack.pop();
        marks.insert(n.to_string(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for n in deps.keys() {
        let mut stack = Vec::new();
        if let Some(c) = visit(n, deps, &mut marks, &mut stack) {
            return Some(c);
        }
    }
    None
}

fn edges(p: &Project) -> BTreeMap<String, Vec<String>> {
    p.services
        .iter()
        .map(|(n, s)| {
            (
                n.clone(),
                s.depends_on
                    .keys()
                    .filter(|d| p.services.contains_key(*d))
                    .cloned()
                    .collect(),
            )
        })
        .collect()
}

/// `targets` (all services when empty) and everything they depend on, dependencies
/// first; ties in name order. The graph must be acyclic (the loader checks it).
pub fn start_order(p: &Project, targets: &[String]) -> Vec<String> {
    let deps = edges(p);
    let wanted: Vec<String> = if targets.is_empty() {
        deps.keys().cloned().collect()
    } else {
        targets.to_vec()
    };
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    fn visit(
        n: &str,
        deps: &BTreeMap<String, Vec<String>>,
        seen: &mut BTreeSet<String>,
        out: &mut Vec<String>,
    ) {
        if !seen.insert(n.to_string()) {
            return;
        }
        for d in deps.get(n).into_iter().flatten() {
            visit(d, deps, seen, out);
        }
        out.push(n.to_string());
    }
    for t in &wanted {
        visit(t, &deps, &mut seen, &mut out);
    }
    out
}

/// Services that depend (directly or not) on `name`, in start order.
pub fn dependants(p: &Project, name: &str) -> Vec<String> {
    let deps = edges(p);
    let order = start_order(p, &[]);
    let mut hit: BTreeSet<String> = BTreeSet::from([name.to_string()]);
    let mut out = Vec::new();
    for s in order {
        if deps[&s].iter().any(|d| hit.contains(d)) {
            hit.insert(s.clone());
            out.push(s);
        }
    }
    out
}

/// Stop levels of `names` (services of the project; others, orphans, get level 0): a
/// service's level is one more than the highest level of its dependants among `names`,
/// so level 0 stops first and a service stops only after everything that depends on it.
/// Services on one level do not depend on each other and can stop together.
pub fn stop_levels(p: &Project, names: &BTreeSet<String>) -> BTreeMap<String, usize> {
    let deps = edges(p);
    // Every service takes part, so that a dependency chain through a service outside
    // `names` still orders the ones in it.
    let mut level: BTreeMap<String, usize> = names
        .iter()
        .chain(deps.keys())
        .map(|n| (n.clone(), 0))
        .collect();
    // Reverse start order visits every dependant before what it depends on.
    for s in start_order(p, &[]).iter().rev() {
        let Some(&l) = level.get(s) else { continue };
        for d in deps.get(s).into_iter().flatten() {
            if let Some(dl) = level.get_mut(d) {
                *dl = (*dl).max(l + 1);
            }
        }
    }
    level.retain(|n, _| names.contains(n));
    level
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(e: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        e.iter()
            .map(|(a, b)| (a.to_string(), b.iter().map(|x| x.to_string()).collect()))
            .collect()
    }

    #[test]
    fn cycles_are_found_with_their_path() {
        assert_eq!(
            find_cycle(&g(&[("a", &["b"]), ("b", &["c"]), ("c", &[])])),
            None
        );
        assert_eq!(
            find_cycle(&g(&[("a", &["b"]), ("b", &["c"]), ("c", &["a"])])).unwrap(),
            vec!["a", "b", "c", "a"]
        );
        assert_eq!(find_cycle(&g(&[("a", &["a"])])).unwrap(), vec!["a", "a"]);
        assert_eq!(
            find_cycle(&g(&[("x", &["b"]), ("b", &["c"]), ("c", &["b"])])).unwrap(),
            vec!["b", "c", "b"]
        );
    }
}
