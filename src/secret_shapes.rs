//! What secrets look like: one definition for the leak guard, which redacts these
//! shapes from Outpost's own log lines, and for the leaked-secrets scan, which looks
//! for them in files and the journal. A shape added here is both redacted and found.
//!
//! Patterns are deliberately a little broad (a longer lookalike is redacted whole);
//! the scan narrows its matches further where a false finding would cost a person's
//! attention (see `scan::checks::leaks::rules`).

/// An Outpost API key (`identity::api_keys`): `opk_` and 36 base62 characters.
pub const OUTPOST_API_KEY: &str = r"opk_[0-9A-Za-z]{36,}";
/// An AWS access key id: long-term (`AKIA`) or temporary (`ASIA`).
pub const AWS_ACCESS_KEY_ID: &str = r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b";
/// Classic GitHub tokens (personal, OAuth, user-to-server, server-to-server, refresh).
pub const GITHUB_TOKEN: &str = r"\bgh[pousr]_[0-9A-Za-z]{36,}\b";
/// A fine-grained GitHub personal access token.
pub const GITHUB_PAT: &str = r"\bgithub_pat_[0-9A-Za-z]{22}_[0-9A-Za-z]{59}\b";
/// Slack bot, user, app, refresh and legacy tokens: they all start with a numeric id.
pub const SLACK_TOKEN: &str = r"\bxox[abprs]-[0-9]+-[0-9A-Za-z][0-9A-Za-z\-]{8,}[0-9A-Za-z]\b";
pub const SLACK_WEBHOOK: &str =
    r"https://hooks\.slack\.com/services/T[0-9A-Z]{8,}/B[0-9A-Z]{8,}/[0-9A-Za-z]{20,}";
/// Stripe live secret and restricted keys (test-mode keys move no money).
pub const STRIPE_LIVE_KEY: &str = r"\b(?:sk|rk)_live_[0-9A-Za-z]{20,}\b";
/// A webhook signing secret (Stripe's, and others of its format).
pub const WEBHOOK_SECRET: &str = r"whsec_[0-9A-Za-z+/=]{16,}";
/// Anthropic API keys; a special case of [`SK_KEY`], listed first where order matters.
pub const ANTHROPIC_KEY: &str = r"\bsk-ant-[0-9A-Za-z_\-]{32,}";
/// OpenAI-style `sk-` keys (legacy, project, service account).
pub const SK_KEY: &str = r"\bsk-[0-9A-Za-z_\-]{16,}";
/// A JWT: a JSON header (`{"` encodes as `eyJ`), a payload and a signature.
pub const JWT: &str = r"\beyJ[0-9A-Za-z_\-]{8,}\.[0-9A-Za-z_\-]{8,}\.[0-9A-Za-z_\-]{16,}";
/// The first line of a PEM private key block (RSA, EC, OpenSSH, PKCS#8, encrypted).
pub const PEM_PRIVATE_KEY: &str = r"-----BEGIN [A-Z ]*PRIVATE KEY-----";

/// Every shape that stands alone (an AWS secret key is only one beside a key id).
pub const ALL: [&str; 12] = [
    OUTPOST_API_KEY,
    AWS_ACCESS_KEY_ID,
    GITHUB_TOKEN,
    GITHUB_PAT,
    SLACK_TOKEN,
    SLACK_WEBHOOK,
    STRIPE_LIVE_KEY,
    WEBHOOK_SECRET,
    ANTHROPIC_KEY,
    SK_KEY,
    JWT,
    PEM_PRIVATE_KEY,
];
