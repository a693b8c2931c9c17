//! Each rule with what it must find and the near-misses it must not. Values are built
//! from repeats, so no literal here looks like a real key to another scanner.

use super::*;

/// The ids of the rules reported for `line`, as a scan reports them (where matches
/// overlap, the first rule's wins).
fn matching(line: &str) -> Vec<String> {
    super::super::scanner::Scanner::new(&[])
        .scan(line.as_bytes())
        .unwrap()
        .into_iter()
        .map(|hit| hit.rule_id)
        .collect()
}

fn jwt(header: &str) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(r#"{"sub":"1234567890","name":"Ada"}"#),
        "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
    )
}

fn outpost_key() -> String {
    crate::identity::api_keys::generate().0.expose().to_owned()
}

#[test]
fn each_rule_finds_its_shape() {
    let b62 = "A1b2".repeat(10);
    let cases = [
        (
            "pem.private_key",
            "-----BEGIN RSA PRIVATE KEY-----".to_owned(),
        ),
        (
            "pem.private_key",
            "-----BEGIN OPENSSH PRIVATE KEY-----".to_owned(),
        ),
        (
            "pem.private_key",
            r#"{"key":"-----BEGIN PRIVATE KEY-----\nMIIE"}"#.to_owned(),
        ),
        (
            "stripe.live_key",
            format!("STRIPE_KEY=sk_live_{}", &b62[..24]),
        ),
        ("stripe.live_key", format!("rk_live_{}", &b62[..24])),
        ("stripe.webhook_secret", format!("whsec_{}", &b62[..32])),
        ("anthropic.api_key", format!("sk-ant-api03-{b62}")),
        ("openai.api_key", format!("OPENAI_API_KEY=sk-proj-{b62}")),
        ("openai.api_key", format!("sk-{}", &b62[..32])),
        ("github.token", format!("ghp_{}", &b62[..36])),
        ("github.token", format!("token gho_{}", &b62[..36])),
        ("github.token", format!("ghs_{}", &b62[..36])),
        (
            "github.fine_grained_token",
            format!("github_pat_{}_{}{}", &b62[..22], b62, &b62[..19]),
        ),
        (
            "slack.token",
            "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx".to_owned(),
        ),
        (
            "slack.token",
            "xoxp-1234-5678-9012-0123456789abcdef".to_owned(),
        ),
        (
            "slack.webhook",
            format!(
                "https://hooks.slack.com/services/T01ABCDEF/B02ABCDEF/{}",
                &b62[..24]
            ),
        ),
        (
            "aws.access_key_id",
            "aws_access_key_id=AKIAIOSFODNN7EXAMPLE".to_owned(),
        ),
        ("aws.access_key_id", "ASIAIOSFODNN7EXAMPLE".to_owned()),
        (
            "aws.secret_access_key",
            "AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_owned(),
        ),
        ("outpost.api_key", format!("X-Api-Key: {}", outpost_key())),
        (
            "jwt",
            format!(
                "Authorization: Bearer {}",
                jwt(r#"{"alg":"HS256","typ":"JWT"}"#)
            ),
        ),
    ];
    for (id, line) in cases {
        let expected: &[&str] = match id {
            "aws.secret_access_key" => &["aws.access_key_id", id],
            _ => &[id],
        };
        assert_eq!(matching(&line), expected, "{line}");
    }
}

#[test]
fn near_misses_are_not_secrets() {
    let b62 = "A1b2".repeat(10);
    let misses = [
        "-----BEGIN PUBLIC KEY-----".to_owned(),
        "-----BEGIN CERTIFICATE-----".to_owned(),
        // Test-mode Stripe keys move no money.
        format!("sk_test_{}", &b62[..24]),
        format!("whsec_{}", &b62[..8]),
        // Hyphenated words and too-short keys.
        "sk-learn-preprocessing-pipeline-notes".to_owned(),
        "disk-AbCdEf0123456789GhIjKlMn".to_owned(),
        format!("sk-{}", &b62[..12]),
        format!("ghp_{}", &b62[..20]),
        format!("ghx_{}", &b62[..36]),
        format!("github_pat_{}", &b62[..30]),
        "xoxb-your-bot-token-goes-here".to_owned(),
        "xoxc-123456789012-1234567890123-AbCdEfGhIjKl".to_owned(),
        "https://hooks.slack.com/services/T01ABCDEF/B02ABCDEF/short".to_owned(),
        // One character too many, or not upper case.
        "AKIAIOSFODNN7EXAMPLEX".to_owned(),
        "AKIAiosfodnn7example".to_owned(),
        "AKIBIOSFODNN7EXAMPLE".to_owned(),
        // A git commit hash is 40 characters, but never mixed case.
        "commit 9fceb02d0ae598e95dc970b74767f19372d61af8".to_owned(),
        // Lookalike Outpost keys whose checksum does not hold.
        format!("opk_{}", &b62[..36]),
        // Three dotted segments whose header is not a JOSE header.
        jwt(r#"{"typ":"JWT"}"#),
        "eyJub3QganNvbiBhdCBhbGw.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6y"
            .to_owned(),
        "nothing secret in here".to_owned(),
    ];
    for line in misses {
        assert!(matching(&line).is_empty(), "{line}: {:?}", matching(&line));
    }
}

#[test]
fn severities_follow_what_a_key_can_do() {
    let severity = |id: &str| RULES.iter().find(|r| r.id == id).unwrap().severity;
    for critical in [
        "pem.private_key",
        "stripe.live_key",
        "aws.secret_access_key",
    ] {
        assert_eq!(severity(critical), Severity::Critical, "{critical}");
    }
    for high in [
        "aws.access_key_id",
        "github.token",
        "slack.webhook",
        "jwt",
        "openai.api_key",
    ] {
        assert_eq!(severity(high), Severity::High, "{high}");
    }
}

#[test]
fn rule_ids_are_unique_and_every_rule_names_its_provider() {
    let mut ids: Vec<_> = RULES.iter().map(|r| r.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), RULES.len());
    assert!(
        RULES
            .iter()
            .all(|r| !r.provider.is_empty() && !r.description.is_empty())
    );
}
