//! The secret shapes the scan reports, each with who issued it and how bad its leak
//! is. The patterns are [`crate::secret_shapes`], shared with the leak guard; a rule
//! may narrow its shape with a confirmation, since a scan finding costs a person's
//! attention where a redacted log line costs nothing.

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use regex::bytes::{Regex, RegexBuilder};

use crate::scan::Severity;
use crate::secret_shapes as shape;

/// An AWS secret key counts only this many lines or fewer from a key id: credentials
/// files and environment dumps put the two on neighbouring lines.
pub const NEAR_LINES: usize = 3;

#[derive(Debug)]
pub struct Rule {
    /// Stable, part of the finding's subject: `aws.access_key_id`.
    pub id: &'static str,
    pub provider: &'static str,
    /// What was found, for the evidence: never the value itself.
    pub description: &'static str,
    pub severity: Severity,
    pattern: &'static str,
    /// Whether a match really is such a secret (its checksum, its decoded header).
    confirm: Option<fn(&str) -> bool>,
    /// Only a secret within [`NEAR_LINES`] of a match of the rule with this id.
    pub near: Option<&'static str>,
}

const fn rule(
    id: &'static str,
    provider: &'static str,
    description: &'static str,
    severity: Severity,
    pattern: &'static str,
) -> Rule {
    Rule {
        id,
        provider,
        description,
        severity,
        pattern,
        confirm: None,
        near: None,
    }
}

/// An AWS secret access key: 40 characters of base64, not part of a longer token (a
/// `=` before it is an assignment, after it padding).
const AWS_SECRET_KEY: &str = r"(?:^|[^0-9A-Za-z/+])([0-9A-Za-z/+]{40})(?:$|[^0-9A-Za-z/+=])";

/// In matching order: where two matches overlap, the earlier rule's wins, so the
/// specific (`sk-ant-`) comes before the general (`sk-`).
const RULES: [Rule; 13] = [
    rule(
        "pem.private_key",
        "PEM",
        "a PEM private key block",
        Severity::Critical,
        shape::PEM_PRIVATE_KEY,
    ),
    rule(
        "stripe.live_key",
        "Stripe",
        "a live Stripe secret or restricted key",
        Severity::Critical,
        shape::STRIPE_LIVE_KEY,
    ),
    rule(
        "stripe.webhook_secret",
        "Stripe",
        "a webhook signing secret (whsec_)",
        Severity::High,
        shape::WEBHOOK_SECRET,
    ),
    rule(
        "anthropic.api_key",
        "Anthropic",
        "an Anthropic API key",
        Severity::High,
        shape::ANTHROPIC_KEY,
    ),
    Rule {
        confirm: Some(looks_random),
        ..rule(
            "openai.api_key",
            "OpenAI",
            "an OpenAI-style sk- API key",
            Severity::High,
            shape::SK_KEY,
        )
    },
    rule(
        "github.token",
        "GitHub",
        "a GitHub token",
        Severity::High,
        shape::GITHUB_TOKEN,
    ),
    rule(
        "github.fine_grained_token",
        "GitHub",
        "a fine-grained GitHub personal access token",
        Severity::High,
        shape::GITHUB_PAT,
    ),
    rule(
        "slack.token",
        "Slack",
        "a Slack token",
        Severity::High,
        shape::SLACK_TOKEN,
    ),
    rule(
        "slack.webhook",
        "Slack",
        "a Slack incoming webhook URL",
        Severity::High,
        shape::SLACK_WEBHOOK,
    ),
    rule(
        "aws.access_key_id",
        "AWS",
        "an AWS access key id",
        Severity::High,
        shape::AWS_ACCESS_KEY_ID,
    ),
    Rule {
        confirm: Some(looks_random),
        near: Some("aws.access_key_id"),
        ..rule(
            "aws.secret_access_key",
            "AWS",
            "an AWS secret access key beside its key id",
            Severity::Critical,
            AWS_SECRET_KEY,
        )
    },
    Rule {
        confirm: Some(crate::identity::api_keys::is_well_formed),
        ..rule(
            "outpost.api_key",
            "Outpost",
            "an Outpost API key",
            Severity::High,
            shape::OUTPOST_API_KEY,
        )
    },
    Rule {
        confirm: Some(is_jwt),
        ..rule(
            "jwt",
            "JWT",
            "a signed JSON Web Token",
            Severity::High,
            shape::JWT,
        )
    },
];

/// A rule and its compiled pattern.
pub struct Compiled {
    pub rule: &'static Rule,
    regex: Regex,
}

impl Compiled {
    /// Every confirmed match in `line`, as byte ranges of the secret.
    pub fn matches<'l>(&'l self, line: &'l [u8]) -> impl Iterator<Item = (usize, usize)> + 'l {
        self.regex.captures_iter(line).filter_map(move |caps| {
            let m = caps.get(1).or_else(|| caps.get(0))?;
            let text = std::str::from_utf8(m.as_bytes()).ok()?;
            self.rule
                .confirm
                .is_none_or(|confirm| confirm(text))
                .then_some((m.start(), m.end()))
        })
    }
}

/// Every rule, compiled once.
pub fn all() -> &'static [Compiled] {
    static COMPILED: OnceLock<Vec<Compiled>> = OnceLock::new();
    COMPILED.get_or_init(|| {
        RULES
            .iter()
            .map(|rule| Compiled {
                rule,
                // ASCII word boundaries: the shapes are ASCII, and a log line need not
                // be UTF-8.
                regex: RegexBuilder::new(rule.pattern)
                    .unicode(false)
                    .build()
                    .expect("the secret shapes are valid regular expressions"),
            })
            .collect()
    })
}

/// Upper case, lower case and a digit: generated keys have all three (a 40-character
/// base64 key lacks one with odds below one in ten million), while hyphenated words
/// and hex digests do not.
fn looks_random(text: &str) -> bool {
    let body = text.strip_prefix("sk-").unwrap_or(text);
    body.len() >= 20
        && body.bytes().any(|b| b.is_ascii_uppercase())
        && body.bytes().any(|b| b.is_ascii_lowercase())
        && body.bytes().any(|b| b.is_ascii_digit())
}

/// A JWT's header is a JSON object naming its algorithm.
fn is_jwt(text: &str) -> bool {
    let Some(header) = text.split('.').next() else {
        return false;
    };
    URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|json| serde_json::from_slice::<serde_json::Value>(&json).ok())
        .is_some_and(|header| header.get("alg").is_some_and(|alg| alg.is_string()))
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
