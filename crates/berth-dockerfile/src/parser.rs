//! The Dockerfile parser: directives, then logical lines, then typed instructions, then
//! the split into a global ARG section and build stages.

use crate::directives::{DirectiveScanner, Directives};
use crate::error::{ParseError, Span};
use crate::heredoc::markers_in_line;
use crate::instructions::{
    parse_command, split_keyword, suggest_keyword, Command, Instruction, Kind,
};
use crate::lexer::{physical_lines, Lines};
use crate::words::{extract_flags, parse_json_array, JsonArgs};
use serde::Serialize;
use std::ops::Range;

/// A parsed Dockerfile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Dockerfile {
    pub directives: Directives,
    /// Every instruction in file order.
    pub instructions: Vec<Instruction>,
    /// Indexes (into `instructions`) of the ARGs before the first FROM.
    pub global_args: Vec<usize>,
    pub stages: Vec<Stage>,
    /// Problems that do not stop the parse (empty continuation lines).
    pub warnings: Vec<ParseWarning>,
}

/// A build stage: a FROM and the instructions up to the next FROM.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Stage {
    pub index: usize,
    /// Lowercased stage name from `FROM ... AS name`.
    pub name: Option<String>,
    /// Index of the FROM instruction.
    pub from: usize,
    /// The FROM instruction's arguments (unexpanded).
    pub base: crate::instructions::From,
    /// Indexes of the instructions after the FROM, up to the next FROM.
    pub body: Range<usize>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ParseWarning {
    pub span: Span,
    pub rule: &'static str,
    pub message: String,
}

impl Dockerfile {
    /// The instructions of a stage after its FROM.
    pub fn body_of(&self, stage: &Stage) -> &[Instruction] {
        &self.instructions[stage.body.clone()]
    }

    /// Finds a stage by (case-insensitive) name.
    pub fn stage_by_name(&self, name: &str) -> Option<&Stage> {
        let lower = name.to_ascii_lowercase();
        self.stages
            .iter()
            .find(|s| s.name.as_deref() == Some(lower.as_str()))
    }
}

/// Parses Dockerfile text.
pub fn parse(source: &str) -> Result<Dockerfile, ParseError> {
    let mut scanner = DirectiveScanner::new();
    for line in physical_lines(source) {
        scanner.offer(line)?;
        if scanner.done() {
            break;
        }
    }
    let directives = scanner.directives;
    let escape = directives.escape;
    let mut lines = Lines::new(source, escape);
    let mut instructions = Vec::new();
    let mut warnings = Vec::new();
    while let Some(logical) = lines.next_logical() {
        let (keyword, args) = split_keyword(&logical.text);
        let Some(kind) = Kind::from_keyword(keyword) else {
            let mut e = ParseError::new(
                logical.span,
                format!("unknown instruction {:?}", keyword.to_string()),
            );
            if let Some(k) = suggest_keyword(keyword) {
                e = e.with_hint(format!("did you mean {k}?"));
            }
            return Err(e);
        };
        for &line in &logical.empty_continuation_lines {
            warnings.push(ParseWarning {
                span: Span::line(line),
                rule: "NoEmptyContinuation",
                message: format!(
                    "Empty continuation line (in the {} instruction starting at line {})",
                    kind.as_str(),
                    logical.span.start_line
                ),
            });
        }
        let mut heredocs = Vec::new();
        let mut span = logical.span;
        // ONBUILD carries the heredocs of its trigger (`ONBUILD RUN <<EOF`).
        let (heredoc_kind, heredoc_args) = if kind == Kind::Onbuild {
            let (k, a) = split_keyword(args);
            (Kind::from_keyword(k), a)
        } else {
            (Some(kind), args)
        };
        if heredoc_kind.is_some_and(Kind::takes_heredocs) && heredoc_args.contains("<<") {
            let (_, rest) = extract_flags(heredoc_args);
            if !matches!(parse_json_array(&rest), JsonArgs::Strings(_)) {
                let markers =
                    markers_in_line(&rest).map_err(|e| ParseError::new(logical.span, e))?;
                for marker in markers {
                    let h = lines.read_heredoc(&marker, logical.span)?;
                    span.end_line = h.span.end_line;
                    heredocs.push(h);
                }
            }
        }
        let command = parse_command(kind, args, heredocs, escape).map_err(|e| ParseError {
            span: logical.span,
            message: e.message,
            hint: e.hint,
        })?;
        instructions.push(Instruction {
            span,
            keyword: keyword.to_string(),
            original: logical.original,
            text: logical.text.clone(),
            comments: logical.comments,
            command,
        });
    }
    if instructions.is_empty() {
        return Err(ParseError::new(Span::line(1), "file with no instructions"));
    }
    let mut global_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for (i, ins) in instructions.iter().enumerate() {
        match &ins.command {
            Command::From(f) => {
                if let Some(last) = stages.last_mut() {
                    last.body.end = i;
                }
                stages.push(Stage {
                    index: stages.len(),
                    name: f.name.clone(),
                    from: i,
                    base: f.clone(),
                    body: i + 1..i + 1,
                });
            }
            Command::Arg(_) if stages.is_empty() => global_args.push(i),
            _ if stages.is_empty() => {
                return Err(ParseError::new(
                    ins.span,
                    format!(
                        "no build stage in current context: {} must come after FROM (only ARG may come before the first FROM)",
                        ins.kind().as_str()
                    ),
                ))
            }
            _ => {}
        }
    }
    if let Some(last) = stages.last_mut() {
        last.body.end = instructions.len();
    }
    if stages.is_empty() {
        let span = instructions.last().map(|i| i.span).unwrap_or(Span::line(1));
        return Err(ParseError::new(
            span,
            "dockerfile contains no stages to build (no FROM instruction)",
        ));
    }
    Ok(Dockerfile {
        directives,
        instructions,
        global_args,
        stages,
        warnings,
    })
}
