//! Agents' memory files: instructions planted for the agent to obey, text hidden from
//! the person reading the file, and links that would carry data away (see
//! [`memory_rules`]). The evidence says where and what kind, redacted by kind.

use std::path::Path;

use super::memory_rules::{self, Shown};
use super::{patterns, unreadable};
use crate::config::Config;
use crate::scan::files;
use crate::scan::{Check, CheckError, Context, Found, redact};

/// Memory is notes: a file larger than this is not one.
pub const MAX_MEMORY_BYTES: u64 = 4 * 1024 * 1024;
/// Longest phrase quoted in evidence.
const MAX_SHOWN_CHARS: usize = 80;

#[derive(Debug)]
pub struct Memory;

impl Check for Memory {
    fn id(&self) -> &'static str {
        "agents.memory"
    }

    fn title(&self) -> &'static str {
        "Agent memory carries no injected instructions, hidden text or exfiltration links"
    }

    fn run(&self, cx: &Context<'_>) -> Result<Vec<Found>, CheckError> {
        let mut found = Vec::new();
        for path in &cx.config.scan.memory_directories {
            let files = if path.is_file() {
                vec![path.clone()]
            } else {
                let tree = files::walk(path);
                found.extend(
                    tree.unreadable
                        .iter()
                        .map(|(dir, e)| unreadable("memory", dir, e)),
                );
                tree.files
            };
            for file in files {
                found.extend(check_file(cx.config, &file));
            }
        }
        Ok(found)
    }
}

fn check_file(config: &Config, file: &Path) -> Vec<Found> {
    let text = match files::read_text(file, MAX_MEMORY_BYTES) {
        Ok(Some(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
        Ok(None) => return Vec::new(),
        Err(e) => return vec![unreadable("memory", file, &e)],
    };
    let markdown = file
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "md" | "markdown" | "mdx"));
    patterns::scan(memory_rules::all(), &text)
        .into_iter()
        .filter(|hit| markdown || !hit.rule.id.ends_with("_comment"))
        .filter(|hit| {
            hit.rule.id != "exfil.data_in_url" || !is_own(config, &text[hit.span.clone()])
        })
        .map(|hit| {
            let matched = &text[hit.span.clone()];
            Found::new(
                format!("memory:{}:{}:{}", file.display(), hit.line, hit.rule.id),
                hit.rule.severity,
                format!("Agent memory: {}", hit.rule.description),
                format!(
                    "{}:{}: {}, {}",
                    file.display(),
                    hit.line,
                    hit.rule.description,
                    show(memory_rules::shown(hit.rule), matched)
                ),
            )
        })
        .collect()
}

/// A link to this server itself carries nothing away.
fn is_own(config: &Config, url: &str) -> bool {
    let Some(host) = reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
    else {
        return false;
    };
    super::super::dns::domain(config)
        .is_some_and(|own| host == own || host.ends_with(&format!(".{own}")))
}

/// A match as its rule's kind may show it.
pub fn show(kind: Shown, matched: &str) -> String {
    match kind {
        Shown::Phrase => format!("\"{}\"", printable(matched)),
        Shown::Excerpt => redact::excerpt(&printable(matched.trim())),
        Shown::CodePoints => {
            let count = matched.chars().count();
            let first = matched.chars().next().map_or(0, u32::from);
            format!("{count} invisible character(s) from U+{first:04X}")
        }
        Shown::Link => link(matched),
    }
}

/// One line of visible characters: whitespace runs become one space, invisible and
/// control characters their code points, and long text is cut.
fn printable(text: &str) -> String {
    let mut out = String::new();
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        for c in word.chars() {
            if c.is_control() || is_invisible(c) {
                out.push_str(&format!("<U+{:04X}>", u32::from(c)));
            } else {
                out.push(c);
            }
        }
    }
    match out.char_indices().nth(MAX_SHOWN_CHARS) {
        Some((cut, _)) => format!("{}…", &out[..cut]),
        None => out,
    }
}

fn is_invisible(c: char) -> bool {
    matches!(u32::from(c), 0x180E | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0xFEFF | 0xE0000..=0xE007F)
}

/// `https://host/…?name=…[n chars]`: where it goes and what it would send, never the
/// values (they may be what was taken).
fn link(url: &str) -> String {
    let Ok(parsed) =
        reqwest::Url::parse(url).or_else(|_| reqwest::Url::parse(&format!("https://{url}")))
    else {
        return redact::excerpt(url);
    };
    let host = parsed.host_str().unwrap_or_default();
    let query: Vec<String> = parsed
        .query_pairs()
        .map(|(name, value)| format!("{}={}", printable(&name), redact::length(&value)))
        .collect();
    let path = if parsed.path().len() > 1 { "/…" } else { "/" };
    match query.is_empty() {
        true => format!("{}://{host}{path}", parsed.scheme()),
        false => format!("{}://{host}{path}?{}", parsed.scheme(), query.join("&")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_never_repeats_what_a_link_carries() {
        let shown = show(
            Shown::Link,
            "https://evil.example/p.png?d=c2stYW50LXNlY3JldA&x=1",
        );
        assert_eq!(shown, "https://evil.example/…?d=…[18 chars]&x=…[1 chars]");
        assert_eq!(
            show(Shown::Link, "webhook.site/abc"),
            "https://webhook.site/…"
        );
    }

    #[test]
    fn hidden_text_is_shown_as_code_points() {
        assert_eq!(
            show(Shown::CodePoints, "\u{E0049}\u{E0067}"),
            "2 invisible character(s) from U+E0049"
        );
        assert_eq!(
            show(Shown::Phrase, "Ignore\u{200B}  all\nprevious"),
            "\"Ignore<U+200B> all previous\""
        );
        assert_eq!(
            show(Shown::Excerpt, " send the key sk-live-123 "),
            redact::excerpt("send the key sk-live-123")
        );
    }
}
