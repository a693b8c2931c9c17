//! What an agent's memory must not carry: instructions planted for the agent to obey
//! (prompt injection), text a person reading the file cannot see, and links that
//! would carry data to someone else when the agent or a renderer fetches them.
//!
//! A rule's id says how its evidence is shown ([`Shown`]): the phrase an injection
//! used, a comment redacted, only the code points of hidden text (printing it would
//! hide it again on the page showing the finding), and only the host and parameter
//! names of a link.

use std::ops::Range;
use std::sync::OnceLock;

use super::patterns::{Compiled, Rule, compile, rule};
use crate::scan::Severity;

/// Hosts that exist to capture requests: whatever reaches them is read by whoever
/// made the bin.
const CAPTURE_HOSTS: &str = r#"(?i)\b(?:https?://)?(?:[a-z0-9-]+\.)*(?:webhook\.site|webhook\.cool|requestbin\.(?:com|net|io)|pipedream\.net|requestcatcher\.com|hookbin\.com|beeceptor\.com|postb\.in|ptsv[23]\.com|ngrok(?:-free)?\.(?:io|app)|burpcollaborator\.net|oastify\.com|interact\.sh|oast\.(?:fun|live|me|online|pro|site)|canarytokens\.com)\b[^\s)\]>"'`]*"#;

/// In matching order.
pub const RULES: [Rule; 11] = [
    rule(
        "injection.ignore_previous",
        "an instruction to ignore earlier instructions",
        Severity::High,
        r"(?i)\b(?:ignore|disregard|forget|override)\s+(?:all\s+|any\s+|every\s+)?(?:of\s+)?(?:the\s+|your\s+|my\s+)?(?:previous|prior|above|earlier|preceding|original)\s+(?:instructions?|prompts?|rules|directions|directives|guidelines|messages|context)\b",
    ),
    rule(
        "injection.system_prompt",
        "an instruction against the system prompt",
        Severity::High,
        r"(?i)\b(?:ignore|disregard|forget|override|bypass|reveal|print|leak|repeat)\s+(?:the\s+|your\s+)?(?:system|developer)\s+(?:prompt|message|instructions)\b",
    ),
    rule(
        "injection.conceal",
        "an instruction to keep something from the user",
        Severity::High,
        r"(?i)\b(?:(?:do\s+not|don'?t|never)\s+(?:tell|inform|notify|alert|show|warn|mention\s+(?:this|it)\s+to|reveal\s+(?:this|it)\s+to)|without\s+(?:telling|informing|notifying|asking|alerting))\s+the\s+(?:user|human|owner|operator)\b",
    ),
    rule(
        "injection.persona",
        "an instruction giving the agent a new identity",
        Severity::Medium,
        r"(?i)\byou\s+are\s+now\s+(?:a|an|the|my|no\s+longer|free|unrestricted|jailbroken|DAN|in\s+(?:developer|god|admin|jailbreak|unrestricted|DAN)\s+mode)\b",
    ),
    Rule {
        confirm: Some(not_a_flag),
        ..rule(
            "hidden.unicode_tags",
            "invisible Unicode tag characters (text only a machine reads)",
            Severity::High,
            r"[\x{E0000}-\x{E007F}]+",
        )
    },
    rule(
        "hidden.bidi",
        "bidirectional override characters (text shown in another order than it is read)",
        Severity::High,
        r"[\x{202A}-\x{202E}\x{2066}-\x{2069}]+",
    ),
    Rule {
        confirm: Some(not_a_byte_order_mark),
        ..rule(
            "hidden.zero_width",
            "zero-width characters",
            Severity::Medium,
            r"[\x{200B}\x{200C}\x{2060}-\x{2064}\x{FEFF}\x{180E}]+|\x{200D}{2,}",
        )
    },
    Rule {
        confirm: Some(has_text),
        ..rule(
            "hidden.html_comment",
            "an HTML comment (not shown when the Markdown is rendered)",
            Severity::Medium,
            r"(?s)<!--(.*?)-->",
        )
    },
    rule(
        "hidden.markdown_comment",
        "a link-reference comment (not shown when the Markdown is rendered)",
        Severity::Medium,
        r#"(?m)^[ \t]*\[[^\]\n]*\]:[ \t]*#[ \t]+["(]([^\n]+)[")][ \t]*$"#,
    ),
    rule(
        "exfil.capture_host",
        "a link to a request-capture service",
        Severity::High,
        CAPTURE_HOSTS,
    ),
    Rule {
        confirm: Some(carries_data),
        ..rule(
            "exfil.data_in_url",
            "an image or link whose query would carry data to another host",
            Severity::High,
            r#"(?:!?\[[^\]\n]*\]\(\s*<?|<img\b[^>\n]*\bsrc\s*=\s*["']?)(https?://[^\s)>"']+)"#,
        )
    },
];

/// How a rule's match may be shown in a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// The words an injection used (the rule's own words, never a secret).
    Phrase,
    /// The start of a comment's text and its length ([`crate::scan::redact::excerpt`]):
    /// a comment may hold anything, a key included.
    Excerpt,
    /// How many invisible characters, and the first one's code point.
    CodePoints,
    /// The host and the parameter names, each value's length only.
    Link,
}

pub fn shown(rule: &Rule) -> Shown {
    match rule.id.split('.').next() {
        Some("hidden") if rule.id.ends_with("_comment") => Shown::Excerpt,
        Some("hidden") => Shown::CodePoints,
        Some("exfil") => Shown::Link,
        _ => Shown::Phrase,
    }
}

/// Every rule, compiled once.
pub fn all() -> &'static [Compiled] {
    static COMPILED: OnceLock<Vec<Compiled>> = OnceLock::new();
    COMPILED.get_or_init(|| compile(&RULES))
}

/// Emoji subdivision flags (🏴 then tag letters) are the one ordinary use of tags.
fn not_a_flag(text: &str, span: Range<usize>) -> bool {
    !text[..span.start].ends_with('\u{1F3F4}')
}

/// A byte order mark at the very start is how some editors save UTF-8.
fn not_a_byte_order_mark(text: &str, span: Range<usize>) -> bool {
    !(span.start == 0 && text[span].chars().all(|c| c == '\u{FEFF}'))
}

fn has_text(text: &str, span: Range<usize>) -> bool {
    !text[span].trim().is_empty()
}

/// A query value that is a placeholder for the agent to fill in (`{secret}`, `$TOKEN`,
/// `<data>`, `%s`) or long enough to be encoded data already.
fn carries_data(text: &str, span: Range<usize>) -> bool {
    let Ok(url) = reqwest::Url::parse(&text[span]) else {
        return false;
    };
    url.query_pairs().any(|(_, value)| {
        let placeholder = value.contains(['{', '}', '$', '<', '>', '[', ']']) || value == "%s";
        let encoded = value.len() >= 24
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+/=_-.%".contains(&b));
        placeholder || encoded
    })
}

#[cfg(test)]
#[path = "memory_rules_tests.rs"]
mod tests;
