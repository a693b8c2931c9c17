//! A table of rules, each a regular expression with what its match means, run over
//! a whole file: the skills' code rules and the memory files' rules both use it.

use std::ops::Range;

use regex::Regex;

use crate::scan::Severity;
use crate::scan::files::Lines;

#[derive(Debug)]
pub struct Rule {
    /// Stable, part of the finding's subject: `reverse_shell.dev_tcp`.
    pub id: &'static str,
    /// What was found, for the title and the evidence.
    pub description: &'static str,
    pub severity: Severity,
    pub pattern: &'static str,
    /// Whether a match (group 1 if the pattern has one, else all of it) really is
    /// what the rule says, given the whole text.
    pub confirm: Option<fn(&str, Range<usize>) -> bool>,
}

pub const fn rule(
    id: &'static str,
    description: &'static str,
    severity: Severity,
    pattern: &'static str,
) -> Rule {
    Rule {
        id,
        description,
        severity,
        pattern,
        confirm: None,
    }
}

#[derive(Debug)]
pub struct Compiled {
    pub rule: &'static Rule,
    regex: Regex,
}

/// Compiles a table once; the patterns are part of the program, so a bad one is a bug.
pub fn compile(rules: &'static [Rule]) -> Vec<Compiled> {
    rules
        .iter()
        .map(|rule| Compiled {
            rule,
            regex: Regex::new(rule.pattern).unwrap_or_else(|e| panic!("rule {}: {e}", rule.id)),
        })
        .collect()
}

/// One rule's first confirmed match on one line.
#[derive(Debug, Clone)]
pub struct Hit {
    pub rule: &'static Rule,
    /// 1-based.
    pub line: usize,
    /// Byte range of the match in the text.
    pub span: Range<usize>,
}

/// Every hit in `text`, one per rule and line (the finding's identity), in line order.
/// Where two rules' matches overlap, the earlier rule's wins: the table lists the
/// specific before the general.
pub fn scan(rules: &[Compiled], text: &str) -> Vec<Hit> {
    let lines = Lines::of(text);
    let mut hits: Vec<Hit> = Vec::new();
    for compiled in rules {
        let mut last_line = 0;
        for caps in compiled.regex.captures_iter(text) {
            let Some(m) = caps.get(1).or_else(|| caps.get(0)) else {
                continue;
            };
            let line = lines.at(m.start());
            let overlaps = hits
                .iter()
                .any(|h| h.span.start < m.end() && m.start() < h.span.end);
            if line == last_line
                || overlaps
                || !compiled
                    .rule
                    .confirm
                    .is_none_or(|confirm| confirm(text, m.range()))
            {
                continue;
            }
            last_line = line;
            hits.push(Hit {
                rule: compiled.rule,
                line,
                span: m.range(),
            });
        }
    }
    hits.sort_by_key(|hit| hit.line);
    hits
}
