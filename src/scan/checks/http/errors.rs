//! Error handling (OWASP Top 10 2025, A10 "mishandling of exceptional conditions"):
//! malformed, oversized, misdirected and hostile requests must get an RFC 9457
//! problem document that gives nothing away: no stack trace, SQL, file path or version.

use super::super::super::{Check, CheckError, Context, Found, Severity};
use super::{at, probe};

/// Text that means an internal error leaked into a response.
const LEAKS: [(&str, &str); 10] = [
    ("panicked at", "a Rust panic message"),
    ("stack backtrace", "a stack trace"),
    (".rs:", "a source file and line"),
    ("/src/", "a source path"),
    ("/home/", "a server path"),
    ("/usr/", "a server path"),
    ("diesel", "the database library's error"),
    ("syntax error at or near", "a PostgreSQL error"),
    ("SELECT ", "an SQL statement"),
    ("actix", "the web framework's name"),
];

/// (what, method, path, content type, body)
type Probe = (
    &'static str,
    reqwest::Method,
    &'static str,
    Option<&'static str>,
    Vec<u8>,
);

fn probes() -> Vec<Probe> {
    use reqwest::Method;
    vec![
        (
            "malformed JSON",
            Method::POST,
            "/login",
            Some("application/json"),
            b"{\"email\": \"x\", ".to_vec(),
        ),
        (
            "an oversized body",
            Method::POST,
            "/login",
            Some("application/json"),
            vec![b'a'; 2 * 1024 * 1024],
        ),
        ("a wrong method", Method::DELETE, "/login", None, Vec::new()),
        (
            "path traversal",
            Method::GET,
            "/static/..%2f..%2f..%2fetc%2fpasswd",
            None,
            Vec::new(),
        ),
        (
            "SQL metacharacters",
            Method::GET,
            "/api/v1/credentials/'%20OR%20'1'='1",
            None,
            Vec::new(),
        ),
        (
            "an unknown route",
            Method::GET,
            "/wp-admin/setup-config.php",
            None,
            Vec::new(),
        ),
    ]
}

#[derive(Debug)]
pub struct ErrorHandling;

impl Check for ErrorHandling {
    fn id(&self) -> &'static str {
        "offensive.error_handling"
    }

    fn title(&self) -> &'static str {
        "Bad requests get a problem document that gives nothing away"
    }

    fn run(&self, cx: &Context<'_>) -> Result<Vec<Found>, CheckError> {
        let mut found = Vec::new();
        for (what, method, path, content_type, body) in probes() {
            let url = at(cx.config, path);
            let subject = format!("probe:{method} {path}");
            let reply = match probe(cx.config, method.clone(), &url, content_type, body) {
                Ok(reply) => reply,
                // The server hung up on a hostile request: acceptable, nothing leaked.
                Err(_) if what == "an oversized body" => continue,
                Err(e) => return Err(e),
            };
            if reply.status < 400 {
                found.push(Found::new(
                    format!("{subject}:accepted"),
                    Severity::High,
                    format!("A request with {what} was accepted"),
                    format!("{method} {path} answered {}", reply.status),
                ));
                continue;
            }
            let problem = reply
                .headers
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|ct| ct.starts_with("application/problem+json"));
            if !problem {
                found.push(Found::new(
                    format!("{subject}:not-problem"),
                    Severity::Medium,
                    format!("A request with {what} did not get a problem document"),
                    format!(
                        "{method} {path} answered {} without application/problem+json",
                        reply.status
                    ),
                ));
            }
            for (marker, meaning) in LEAKS {
                if reply.body.contains(marker) {
                    found.push(Found::new(
                        format!("{subject}:leak:{marker}"),
                        Severity::High,
                        format!("An error response discloses {meaning}"),
                        format!(
                            "{method} {path} ({}): the body contains {marker:?}",
                            reply.status
                        ),
                    ));
                }
            }
        }
        Ok(found)
    }
}
