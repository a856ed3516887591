//! The stage graph: what each stage is built on and which stages it reads from
//! (`FROM stage`, `COPY --from=`, `RUN --mount=from=`), the subset `--target` needs, a
//! valid build order, and the groups of stages that can build in parallel.
//!
//! A reference names a stage if it equals a stage name (case-insensitive); for
//! `--from`/`from=` a number is a stage index. Anything else is an image. By default a
//! stage may only use stages defined before it, as Docker documents; `allow_forward_refs`
//! switches to BuildKit's looser lookup, where cycles then become possible and are
//! reported. `FROM x AS x` means the image `x` (a stage cannot be built on itself), while
//! `COPY --from=x` inside stage `x` is a cycle.

use crate::error::{render_located, ParseError, Span};
use crate::instructions::Command;
use crate::parser::Dockerfile;
use crate::scope::{expand_each, unexpanded_stage, ExpandOptions, ExpandedStage};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "type", content = "value")]
pub enum Base {
    /// `FROM scratch`.
    Scratch,
    Image(String),
    Stage(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DepKind {
    From,
    CopyFrom,
    MountFrom,
}

/// Something a stage reads: another stage or an image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Dependency {
    pub kind: DepKind,
    /// Line of the instruction that creates the dependency.
    pub line: usize,
    pub target: Base,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StageNode {
    pub index: usize,
    pub name: Option<String>,
    pub base: Base,
    pub platform: Option<String>,
    pub deps: Vec<Dependency>,
}

impl StageNode {
    /// Indexes of the stages this stage needs, without repeats.
    pub fn stage_deps(&self) -> BTreeSet<usize> {
        self.deps
            .iter()
            .filter_map(|d| match d.target {
                Base::Stage(i) => Some(i),
                _ => None,
            })
            .collect()
    }

    /// A display name: the stage name, or its index.
    pub fn label(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("stage {}", self.index))
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub struct GraphOptions {
    /// Let stages refer to stages defined later (BuildKit's behaviour).
    pub allow_forward_refs: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    #[error("target stage {target:?} could not be found (stages: {known})")]
    UnknownTarget { target: String, known: String },
    #[error("circular dependency between stages: {}", path.join(" -> "))]
    Cycle { path: Vec<String>, line: usize },
    #[error("{what} refers to stage {name:?}, which is defined later (line {defined_at}); a stage can only use stages defined before it")]
    ForwardReference {
        what: String,
        name: String,
        line: usize,
        defined_at: usize,
    },
    #[error("{what}: stage index {index} is out of range (there are {count} stages)")]
    IndexOutOfRange {
        what: String,
        index: usize,
        count: usize,
        line: usize,
    },
    #[error(transparent)]
    Expand(#[from] ParseError),
}

impl GraphError {
    pub fn span(&self) -> Option<Span> {
        match self {
            GraphError::UnknownTarget { .. } => None,
            GraphError::Cycle { line, .. }
            | GraphError::ForwardReference { line, .. }
            | GraphError::IndexOutOfRange { line, .. } => Some(Span::line(*line)),
            GraphError::Expand(e) => Some(e.span),
        }
    }

    /// `FILE:LINE: message` and the source line when the error has a location.
    pub fn render(&self, file_name: &str, source: &str) -> String {
        match self {
            GraphError::Expand(e) => e.render(file_name, source),
            _ => match self.span() {
                Some(span) => render_located(file_name, source, span, &self.to_string(), None),
                None => format!("{file_name}: {self}\n"),
            },
        }
    }
}

/// What `--target` needs and in which order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BuildPlan {
    pub target: usize,
    /// Needed stages in a valid build order (dependencies first, then by index).
    pub order: Vec<usize>,
    /// The same stages grouped in waves: every stage in a wave depends only on stages
    /// in earlier waves, so the stages of one wave can build in parallel.
    pub waves: Vec<Vec<usize>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StageGraph {
    pub nodes: Vec<StageNode>,
    /// Stages whose expansion failed; their nodes were built from the unexpanded text.
    /// The error is reported when a build needs the stage.
    #[serde(skip)]
    pub expand_errors: BTreeMap<usize, ParseError>,
}

impl StageGraph {
    /// Builds the graph, expanding FROM and `--from` values with `opts`. A stage whose
    /// expansion fails is kept (from its unexpanded text) and its error is returned by
    /// `reachable` only if the target needs it.
    pub fn new(
        df: &Dockerfile,
        opts: &ExpandOptions,
        graph: GraphOptions,
    ) -> Result<StageGraph, GraphError> {
        let mut errors = BTreeMap::new();
        let mut stages = Vec::new();
        for (i, r) in expand_each(df, opts)?.into_iter().enumerate() {
            match r {
                Ok(s) => stages.push(s),
                Err(e) => {
                    errors.insert(i, e);
                    if let Some(raw) = unexpanded_stage(df, i) {
                        stages.push(raw);
                    }
                }
            }
        }
        let mut g = Self::from_expanded(df, &stages, graph)?;
        g.expand_errors = errors;
        Ok(g)
    }

    /// Builds the graph from already expanded stages.
    pub fn from_expanded(
        df: &Dockerfile,
        stages: &[ExpandedStage],
        graph: GraphOptions,
    ) -> Result<StageGraph, GraphError> {
        let names: Vec<Option<String>> = stages.iter().map(|s| s.name.clone()).collect();
        let from_line = |i: usize| df.instructions[df.stages[i].from].span.start_line;
        let mut nodes = Vec::new();
        for (cur, st) in stages.iter().enumerate() {
            let line = from_line(cur);
            let base = if st.base.eq_ignore_ascii_case("scratch") {
                Base::Scratch
            } else {
                resolve(
                    &names, cur, &st.base, false, "FROM", line, graph, &from_line,
                )?
            };
            let mut deps = vec![Dependency {
                kind: DepKind::From,
                line,
                target: base.clone(),
            }];
            for ins in &st.instructions {
                let line = ins.instruction.span.start_line;
                match &ins.instruction.command {
                    Command::Copy(c) => {
                        if let Some(from) = &c.from {
                            let target = resolve(
                                &names,
                                cur,
                                from,
                                true,
                                "COPY --from",
                                line,
                                graph,
                                &from_line,
                            )?;
                            deps.push(Dependency {
                                kind: DepKind::CopyFrom,
                                line,
                                target,
                            });
                        }
                    }
                    Command::Run(r) => {
                        for m in r.mounts.iter().filter_map(|m| m.mount.as_ref()) {
                            if let Some(from) = &m.from {
                                let target = resolve(
                                    &names,
                                    cur,
                                    from,
                                    true,
                                    "RUN --mount from",
                                    line,
                                    graph,
                                    &from_line,
                                )?;
                                deps.push(Dependency {
                                    kind: DepKind::MountFrom,
                                    line,
                                    target,
                                });
                            }
                        }
                    }
                    _ => {}
                }
            }
            nodes.push(StageNode {
                index: cur,
                name: st.name.clone(),
                base,
                platform: st.platform.clone(),
                deps,
            });
        }
        let g = StageGraph {
            nodes,
            expand_errors: BTreeMap::new(),
        };
        g.check_cycles()?;
        Ok(g)
    }

    /// The stage `--target` names (case-insensitive), or the last stage when `None`.
    pub fn resolve_target(&self, target: Option<&str>) -> Result<usize, GraphError> {
        let Some(t) = target else {
            return Ok(self.nodes.len().saturating_sub(1));
        };
        let lower = t.to_ascii_lowercase();
        self.nodes
            .iter()
            .find(|n| n.name.as_deref() == Some(lower.as_str()))
            .map(|n| n.index)
            .ok_or_else(|| GraphError::UnknownTarget {
                target: t.to_string(),
                known: {
                    let named: Vec<String> =
                        self.nodes.iter().filter_map(|n| n.name.clone()).collect();
                    if named.is_empty() {
                        "none are named".to_string()
                    } else {
                        named.join(", ")
                    }
                },
            })
    }

    /// Only the stages `target` needs, in build order and in parallel waves.
    pub fn reachable(&self, target: Option<&str>) -> Result<BuildPlan, GraphError> {
        let t = self.resolve_target(target)?;
        let mut needed = BTreeSet::new();
        let mut stack = vec![t];
        while let Some(i) = stack.pop() {
            if needed.insert(i) {
                stack.extend(self.nodes[i].stage_deps());
            }
        }
        if let Some(e) = needed.iter().find_map(|i| self.expand_errors.get(i)) {
            return Err(GraphError::Expand(e.clone()));
        }
        // Longest-path layering over the needed subgraph (acyclic: checked on build).
        let mut wave_of = vec![usize::MAX; self.nodes.len()];
        let mut remaining: Vec<usize> = needed.iter().copied().collect();
        let mut waves: Vec<Vec<usize>> = Vec::new();
        while !remaining.is_empty() {
            let ready: Vec<usize> = remaining
                .iter()
                .copied()
                .filter(|&i| {
                    self.nodes[i]
                        .stage_deps()
                        .iter()
                        .all(|&d| wave_of[d] != usize::MAX)
                })
                .collect();
            if ready.is_empty() {
                // Unreachable when check_cycles passed; stop rather than loop.
                break;
            }
            for &i in &ready {
                wave_of[i] = waves.len();
            }
            remaining.retain(|i| !ready.contains(i));
            waves.push(ready);
        }
        Ok(BuildPlan {
            target: t,
            order: waves.iter().flatten().copied().collect(),
            waves,
        })
    }

    /// Whether neither stage needs the other (directly or not).
    pub fn independent(&self, a: usize, b: usize) -> bool {
        !self.needs(a, b) && !self.needs(b, a)
    }

    /// Whether stage `a` needs stage `b`, directly or through other stages.
    pub fn needs(&self, a: usize, b: usize) -> bool {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<usize> = self.nodes[a].stage_deps().into_iter().collect();
        while let Some(i) = stack.pop() {
            if i == b {
                return true;
            }
            if seen.insert(i) {
                stack.extend(self.nodes[i].stage_deps());
            }
        }
        false
    }

    fn check_cycles(&self) -> Result<(), GraphError> {
        // 0 = unvisited, 1 = on the current path, 2 = done
        let mut state = vec![0u8; self.nodes.len()];
        let mut path = Vec::new();
        for start in 0..self.nodes.len() {
            self.dfs(start, &mut state, &mut path)?;
        }
        Ok(())
    }

    fn dfs(&self, i: usize, state: &mut [u8], path: &mut Vec<usize>) -> Result<(), GraphError> {
        if state[i] == 2 {
            return Ok(());
        }
        if state[i] == 1 {
            let pos = path.iter().position(|&p| p == i).unwrap_or(0);
            let mut names: Vec<String> =
                path[pos..].iter().map(|&p| self.nodes[p].label()).collect();
            names.push(self.nodes[i].label());
            let from = path.last().copied().unwrap_or(i);
            let line = self.nodes[from]
                .deps
                .iter()
                .find(|d| d.target == Base::Stage(i))
                .map(|d| d.line)
                .unwrap_or(0);
            return Err(GraphError::Cycle { path: names, line });
        }
        state[i] = 1;
        path.push(i);
        for d in self.nodes[i].stage_deps() {
            self.dfs(d, state, path)?;
        }
        path.pop();
        state[i] = 2;
        Ok(())
    }
}

#[allow(clippy::too_many_arguments)]
fn resolve(
    names: &[Option<String>],
    cur: usize,
    reference: &str,
    allow_index: bool,
    what: &str,
    line: usize,
    graph: GraphOptions,
    from_line: &dyn Fn(usize) -> usize,
) -> Result<Base, GraphError> {
    let lower = reference.to_ascii_lowercase();
    let by_name = names
        .iter()
        .position(|n| n.as_deref() == Some(lower.as_str()));
    let found = match by_name {
        Some(i) => Some(i),
        None if allow_index
            && !reference.is_empty()
            && reference.bytes().all(|b| b.is_ascii_digit()) =>
        {
            let index: usize = reference.parse().unwrap_or(usize::MAX);
            if index >= names.len() {
                return Err(GraphError::IndexOutOfRange {
                    what: what.to_string(),
                    index,
                    count: names.len(),
                    line,
                });
            }
            Some(index)
        }
        None => None,
    };
    match found {
        None => Ok(Base::Image(reference.to_string())),
        // `FROM golang AS golang`: a stage cannot be built on itself, so this is the image.
        Some(i) if i == cur && what == "FROM" => Ok(Base::Image(reference.to_string())),
        Some(i) if i == cur => Err(GraphError::Cycle {
            path: vec![
                names[cur].clone().unwrap_or_else(|| format!("stage {cur}")),
                names[cur].clone().unwrap_or_else(|| format!("stage {cur}")),
            ],
            line,
        }),
        Some(i) if i > cur && !graph.allow_forward_refs => Err(GraphError::ForwardReference {
            what: what.to_string(),
            name: names[i].clone().unwrap_or_else(|| i.to_string()),
            line,
            defined_at: from_line(i),
        }),
        Some(i) => Ok(Base::Stage(i)),
    }
}
