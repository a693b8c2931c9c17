//! Reads text line by line and reports where a secret is: a rule's shape, or the exact
//! bytes of a value the vault holds. A [`Hit`] carries only a redacted excerpt; the
//! secret never leaves the line buffer it was found in.

use std::collections::VecDeque;
use std::io::{self, BufRead};

use uuid::Uuid;

use super::rules::{self, Compiled, NEAR_LINES};
use crate::scan::{Severity, redact};
use crate::secret::SecretString;

/// A stored credential's value, opened for the scan and wiped when dropped.
pub struct Stored {
    pub id: Uuid,
    pub name: String,
    pub value: SecretString,
}

/// One secret at one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// 1-based.
    pub line: usize,
    pub rule_id: String,
    pub provider: String,
    pub description: String,
    pub severity: Severity,
    /// [`redact::excerpt`] of the match; nothing of a stored value but its length.
    pub excerpt: String,
}

pub struct Scanner<'a> {
    rules: &'static [Compiled],
    stored: &'a [Stored],
}

impl<'a> Scanner<'a> {
    pub fn new(stored: &'a [Stored]) -> Self {
        Self {
            rules: rules::all(),
            stored,
        }
    }

    /// Every hit in `input`, in line order; one per rule and line (the finding's
    /// identity), the first.
    pub fn scan(&self, mut input: impl BufRead) -> io::Result<Vec<Hit>> {
        let mut hits = Vec::new();
        let mut near = Near::default();
        let mut buf = Vec::new();
        let mut number = 0;
        loop {
            buf.clear();
            if input.read_until(b'\n', &mut buf)? == 0 {
                break;
            }
            number += 1;
            self.line(number, &buf, &mut near, &mut hits);
        }
        hits.sort_by_key(|h| h.line);
        Ok(hits)
    }

    fn line(&self, number: usize, line: &[u8], near: &mut Near, hits: &mut Vec<Hit>) {
        // Spans already reported on this line: a stored value that is also, say, an
        // `sk-` key is reported once, as the stored credential it is.
        let mut taken: Vec<(usize, usize)> = Vec::new();
        for stored in self.stored {
            if let Some(start) = find(line, stored.value.expose().as_bytes()) {
                taken.push((start, start + stored.value.expose().len()));
                hits.push(Hit {
                    line: number,
                    rule_id: format!("stored_credential.{}", stored.id),
                    provider: "Outpost vault".into(),
                    description: format!("the value of the stored credential \"{}\"", stored.name),
                    severity: Severity::Critical,
                    excerpt: redact::length(stored.value.expose()),
                });
            }
        }
        for compiled in self.rules {
            let mut first = None;
            for span in compiled.matches(line) {
                if taken.iter().any(|t| span.0 < t.1 && t.0 < span.1) {
                    continue;
                }
                taken.push(span);
                first.get_or_insert(span);
            }
            let Some((start, end)) = first else { continue };
            let hit = Hit {
                line: number,
                rule_id: compiled.rule.id.into(),
                provider: compiled.rule.provider.into(),
                description: compiled.rule.description.into(),
                severity: compiled.rule.severity,
                excerpt: redact::excerpt(&String::from_utf8_lossy(&line[start..end])),
            };
            match compiled.rule.near {
                Some(anchor) => near.candidate(anchor, hit, hits),
                None => {
                    near.anchor(compiled.rule.id, number, hits);
                    hits.push(hit);
                }
            }
        }
    }
}

/// Secrets that count only beside an anchor (an AWS secret key beside its key id),
/// seen in the last [`NEAR_LINES`] lines, and the line each anchor was last seen at.
#[derive(Default)]
struct Near {
    anchors: Vec<(&'static str, usize)>,
    pending: VecDeque<(&'static str, Hit)>,
}

impl Near {
    fn anchor(&mut self, id: &'static str, line: usize, hits: &mut Vec<Hit>) {
        self.anchors.retain(|(a, _)| *a != id);
        self.anchors.push((id, line));
        let (close, far): (Vec<_>, Vec<_>) = self
            .pending
            .drain(..)
            .partition(|(a, hit)| *a == id && line - hit.line <= NEAR_LINES);
        hits.extend(close.into_iter().map(|(_, hit)| hit));
        self.pending = far.into();
    }

    fn candidate(&mut self, anchor: &'static str, hit: Hit, hits: &mut Vec<Hit>) {
        let line = hit.line;
        if self
            .anchors
            .iter()
            .any(|(a, at)| *a == anchor && line - at <= NEAR_LINES)
        {
            hits.push(hit);
            return;
        }
        // Bounded: older candidates can no longer meet an anchor.
        self.pending.retain(|(_, h)| line - h.line < NEAR_LINES);
        self.pending.push_back((anchor, hit));
    }
}

/// Where `needle` first occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > haystack.len() {
        return None;
    }
    let first = needle[0];
    (0..=haystack.len() - needle.len())
        .filter(|&i| haystack[i] == first)
        .find(|&i| &haystack[i..i + needle.len()] == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "AKIAIOSFODNN7EXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    fn rule_ids(text: &str, stored: &[Stored]) -> Vec<(usize, String)> {
        Scanner::new(stored)
            .scan(text.as_bytes())
            .unwrap()
            .into_iter()
            .map(|h| (h.line, h.rule_id))
            .collect()
    }

    #[test]
    fn an_aws_secret_key_counts_beside_its_key_id_before_or_after_it() {
        let after =
            format!("[default]\naws_access_key_id = {ID}\naws_secret_access_key = {SECRET}\n");
        assert_eq!(
            rule_ids(&after, &[]),
            [
                (2, "aws.access_key_id".into()),
                (3, "aws.secret_access_key".into())
            ]
        );
        let before = format!("AWS_SECRET_ACCESS_KEY={SECRET}\nAWS_ACCESS_KEY_ID={ID}\n");
        assert_eq!(
            rule_ids(&before, &[]),
            [
                (1, "aws.secret_access_key".into()),
                (2, "aws.access_key_id".into())
            ]
        );
        let far = format!("{SECRET}\n\n\n\n\n{ID}\n");
        assert_eq!(rule_ids(&far, &[]), [(6, "aws.access_key_id".into())]);
        assert!(rule_ids(&format!("secret = {SECRET}\n"), &[]).is_empty());
    }

    #[test]
    fn a_stored_value_is_found_as_bytes_and_reported_as_the_credential() {
        let id = Uuid::new_v4();
        let stored = [Stored {
            id,
            name: "Mail relay".into(),
            value: SecretString::new("sk-AbCdEf0123456789GhIjKlMn"),
        }];
        let text = b"ok\n\xff\xfe password sk-AbCdEf0123456789GhIjKlMn\n".as_slice();
        let hits = Scanner::new(&stored).scan(text).unwrap();
        assert_eq!(hits.len(), 1, "the sk- shape is the same secret: {hits:?}");
        assert_eq!(hits[0].line, 2);
        assert_eq!(hits[0].rule_id, format!("stored_credential.{id}"));
        assert_eq!(hits[0].severity, Severity::Critical);
        assert_eq!(hits[0].excerpt, "…[27 chars]");
        assert!(!format!("{hits:?}").contains("AbCdEf"));
    }

    #[test]
    fn one_hit_per_rule_and_line() {
        let text = format!("{ID} {ID}\n");
        assert_eq!(rule_ids(&text, &[]), [(1, "aws.access_key_id".into())]);
    }

    #[test]
    fn find_finds_bytes() {
        assert_eq!(find(b"abcabd", b"abd"), Some(3));
        assert_eq!(find(b"ab", b"abc"), None);
        assert_eq!(find(b"abc", b""), None);
    }
}
