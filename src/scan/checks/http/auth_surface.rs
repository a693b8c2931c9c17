//! The authentication surface (OWASP Top 10 2025 A01, broken access control): every
//! route the route table declares for signed-in callers only, requested at
//! `public_url` without credentials, must ask who is calling before anything else.
//!
//! What an answer means:
//! - 401, 403 or a redirect to `/login`: it asked. Fine.
//! - 2xx: it served a stranger. Critical.
//! - any other redirect: it answered, or acted, without asking (a form post that went
//!   through redirects back to its page). High.
//! - 404: a well-formed id reached the handler's lookup without credentials, or the
//!   table declares a route the server does not serve. Medium.
//! - 5xx: it failed before asking, so whatever failed runs for anyone. Medium.
//! - another 4xx (400, 405, 415, 422): it judged the request before the caller.
//!   Nothing was served, but code meant for members ran for a stranger. Low.
//!
//! The probes have no side effects on a correct server: the guard refuses before the
//! handler runs, and refusing someone who gave no credentials is not audited. Path
//! parameters get plausible values (a UUID for ids) so the request gets past path
//! parsing to the guard.

use super::super::super::{Check, CheckError, Context, Found, Severity};
use super::{at, probe};
use crate::web::ExtraRoutes;
use crate::web::routes::{self, Accepts, Access, Endpoint};

/// Stands in for every `{id}` and `{…_id}`: a well-formed UUID no record has.
const PROBE_ID: &str = "5c0e7d1a-9b2f-4e63-8a41-0f6d2b7c9e35";
/// Stands in for every other path parameter.
const PROBE_WORD: &str = "probe";

#[derive(Debug, Default)]
pub struct AuthSurface {
    /// Routes mounted beside the real ones (tests), probed with them.
    pub extra: Option<ExtraRoutes>,
}

impl Check for AuthSurface {
    fn id(&self) -> &'static str {
        "offensive.auth_surface"
    }

    fn title(&self) -> &'static str {
        "Every route for members refuses a stranger"
    }

    fn run(&self, cx: &Context<'_>) -> Result<Vec<Found>, CheckError> {
        let mut found = Vec::new();
        let guarded = routes::table(self.extra)
            .into_iter()
            .filter(|e| e.access != Access::Public);
        for endpoint in guarded {
            let path = fill(endpoint.path);
            let method = reqwest::Method::from_bytes(endpoint.method.as_str().as_bytes())
                .map_err(|e| CheckError(format!("{} {}: {e}", endpoint.method, path)))?;
            let (content_type, body) = body_for(&endpoint);
            let reply = probe(cx.config, method, &at(cx.config, &path), content_type, body)?;
            let location = reply
                .headers
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let base = cx.config.base_url();
            if let Some((severity, title)) = judge(reply.status, location, base) {
                let redirect = if location.is_empty() {
                    String::new()
                } else {
                    format!(" (to {location})")
                };
                found.push(Found::new(
                    subject(&endpoint),
                    severity,
                    title,
                    format!(
                        "{} {path} without credentials answered {}{redirect}",
                        endpoint.method, reply.status
                    ),
                ));
            }
        }
        Ok(found)
    }
}

/// `route:<METHOD> <pattern>`, marked when it is a path's JSON-only variant.
fn subject(endpoint: &Endpoint) -> String {
    let variant = match endpoint.accepts {
        Accepts::Any => "",
        Accepts::Json => " (json)",
    };
    format!("route:{} {}{variant}", endpoint.method, endpoint.path)
}

/// The pattern with each `{name}` (or `{name:regex}`) replaced by a plausible value.
fn fill(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|segment| {
            let Some(inner) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) else {
                return segment;
            };
            let name = inner.split(':').next().unwrap_or_default();
            if name == "id" || name.ends_with("_id") {
                PROBE_ID
            } else {
                PROBE_WORD
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// An empty body of the kind the route reads: JSON for the API and JSON-only variants,
/// a form for dashboard posts, nothing for reads and deletes.
fn body_for(endpoint: &Endpoint) -> (Option<&'static str>, Vec<u8>) {
    use actix_web::http::Method;
    if [Method::GET, Method::HEAD, Method::DELETE].contains(&endpoint.method) {
        (None, Vec::new())
    } else if endpoint.accepts == Accepts::Json || endpoint.path.starts_with("/api/") {
        (Some("application/json"), b"{}".to_vec())
    } else {
        (Some("application/x-www-form-urlencoded"), Vec::new())
    }
}

/// What an answer to a request without credentials means (see the module's notes);
/// nothing when it asked who was calling.
fn judge(status: u16, location: &str, base_url: &str) -> Option<(Severity, &'static str)> {
    match status {
        401 | 403 => None,
        300..=399 if is_login(location, base_url) => None,
        200..=299 => Some((
            Severity::Critical,
            "A route for members answers without credentials",
        )),
        300..=399 => Some((
            Severity::High,
            "A route for members redirects a stranger elsewhere than the sign-in page",
        )),
        404 => Some((
            Severity::Medium,
            "A route for members answered 404 before asking who was calling",
        )),
        500..=599 => Some((
            Severity::Medium,
            "A route for members failed before asking who was calling",
        )),
        _ => Some((
            Severity::Low,
            "A route for members judged the request before asking who was calling",
        )),
    }
}

fn is_login(location: &str, base_url: &str) -> bool {
    let path = location.strip_prefix(base_url).unwrap_or(location);
    path == "/login" || path.starts_with("/login?")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_parameters_get_plausible_values() {
        assert_eq!(
            fill("/keys/{id}/rotate"),
            format!("/keys/{PROBE_ID}/rotate")
        );
        assert_eq!(
            fill("/backups/{target}/{id}/database.dump"),
            format!("/backups/probe/{PROBE_ID}/database.dump")
        );
        assert_eq!(fill("/files/{tail:.*}"), "/files/probe");
        assert_eq!(fill("/team/{member_id}"), format!("/team/{PROBE_ID}"));
        assert!(uuid::Uuid::parse_str(PROBE_ID).is_ok());
    }

    #[test]
    fn only_asking_who_is_calling_passes() {
        let base = "https://outpost.example";
        assert_eq!(judge(401, "", base), None);
        assert_eq!(judge(403, "", base), None);
        assert_eq!(judge(303, "/login", base), None);
        assert_eq!(
            judge(302, "https://outpost.example/login?next=/", base),
            None
        );
        let severity = |status, location| judge(status, location, base).map(|(s, _)| s);
        assert_eq!(severity(200, ""), Some(Severity::Critical));
        assert_eq!(severity(204, ""), Some(Severity::Critical));
        assert_eq!(severity(303, "/keys"), Some(Severity::High));
        assert_eq!(severity(303, "/login/mfa"), Some(Severity::High));
        assert_eq!(
            severity(303, "https://evil.example/login"),
            Some(Severity::High)
        );
        assert_eq!(severity(404, ""), Some(Severity::Medium));
        assert_eq!(severity(500, ""), Some(Severity::Medium));
        assert_eq!(severity(415, ""), Some(Severity::Low));
    }
}
