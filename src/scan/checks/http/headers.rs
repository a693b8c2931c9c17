//! Every response carries the security headers the dashboard promises (README, "The
//! HTTP surface"), with HSTS for at least a year, and names no server or version.

use super::super::super::{Check, CheckError, Context, Found, Severity};
use super::{at, probe};

/// HSTS shorter than a year is not preloadable and lapses between visits.
const HSTS_MIN_AGE: u64 = 31_536_000;

/// Headers that must be present, and what a missing one exposes.
const REQUIRED: [(&str, &str); 5] = [
    (
        "content-security-policy",
        "scripts and frames from anywhere",
    ),
    ("x-frame-options", "clickjacking"),
    ("x-content-type-options", "MIME sniffing"),
    ("referrer-policy", "URLs leaking to other sites"),
    (
        "permissions-policy",
        "browser features for embedded content",
    ),
];

/// Headers that tell an attacker what runs here.
const DISCLOSING: [&str; 3] = ["server", "x-powered-by", "x-aspnet-version"];

#[derive(Debug)]
pub struct Headers;

impl Check for Headers {
    fn id(&self) -> &'static str {
        "offensive.http_headers"
    }

    fn title(&self) -> &'static str {
        "HTTP responses carry the security headers and disclose nothing"
    }

    fn run(&self, cx: &Context<'_>) -> Result<Vec<Found>, CheckError> {
        let mut found = Vec::new();
        // A page and an error: the headers must be on both.
        for path in ["/login", "/no-such-page"] {
            let url = at(cx.config, path);
            let reply = probe(cx.config, reqwest::Method::GET, &url, None, Vec::new())?;
            let header = |name: &str| {
                reply
                    .headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            for (name, exposes) in REQUIRED {
                if header(name).is_none() {
                    found.push(Found::new(
                        format!("header:{name}:{path}"),
                        Severity::Medium,
                        format!("Responses lack {name}"),
                        format!("GET {path} ({}) has no {name}: {exposes}", reply.status),
                    ));
                }
            }
            match header("strict-transport-security") {
                None => found.push(Found::new(
                    format!("header:strict-transport-security:{path}"),
                    Severity::Medium,
                    "Responses lack Strict-Transport-Security",
                    format!("GET {path} has no HSTS: a first visit can be downgraded to HTTP"),
                )),
                Some(value) if max_age(&value).is_none_or(|age| age < HSTS_MIN_AGE) => {
                    found.push(Found::new(
                        format!("header:hsts-age:{path}"),
                        Severity::Medium,
                        "HSTS lasts less than a year",
                        format!("GET {path}: Strict-Transport-Security: {value}"),
                    ))
                }
                Some(_) => {}
            }
            for name in DISCLOSING {
                if let Some(value) = header(name) {
                    found.push(Found::new(
                        format!("header:{name}:{path}"),
                        Severity::Low,
                        format!("Responses disclose the software ({name})"),
                        format!("GET {path}: {name}: {value}"),
                    ));
                }
            }
        }
        Ok(found)
    }
}

fn max_age(hsts: &str) -> Option<u64> {
    hsts.split(';')
        .filter_map(|part| part.trim().split_once('='))
        .find(|(key, _)| key.trim().eq_ignore_ascii_case("max-age"))
        .and_then(|(_, value)| value.trim().trim_matches('"').parse().ok())
}

#[cfg(test)]
mod tests {
    use super::max_age;

    #[test]
    fn reads_max_age_however_it_is_written() {
        assert_eq!(
            max_age("max-age=31536000; includeSubDomains"),
            Some(31_536_000)
        );
        assert_eq!(max_age("includeSubDomains; Max-Age=\"60\""), Some(60));
        assert_eq!(max_age("includeSubDomains"), None);
    }
}
