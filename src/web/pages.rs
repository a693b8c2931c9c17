//! Server-rendered pages (templates/ via askama) and the one way to send them.
//!
//! Page structs carry CSRF tokens, so they deliberately have no `Debug`.
#![allow(missing_debug_implementations)]

use actix_web::HttpResponse;
use askama::Template;

use super::csrf::CsrfToken;
use super::error::AppError;
use super::guard::Caller;
use crate::identity::{Capability, User};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What every page's frame shows: the server, the person, where they can go.
pub struct Layout<'a> {
    pub server_name: &'a str,
    pub csrf_token: &'a str,
    pub user: Option<&'a User>,
    pub nav: Vec<NavItem>,
    pub active: &'static str,
    /// A notice above every page's content (the cancellation's dates, for Owners).
    pub banner: Option<String>,
}

pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
}

impl<'a> Layout<'a> {
    /// A page for someone who is not signed in.
    pub fn public(server_name: &'a str, csrf: &'a CsrfToken) -> Self {
        Self {
            server_name,
            csrf_token: csrf.value(),
            user: None,
            nav: Vec::new(),
            active: "",
            banner: None,
        }
    }

    /// A page for a signed-in person; the navigation shows what their role allows.
    pub fn signed_in(
        server_name: &'a str,
        csrf: &'a CsrfToken,
        caller: &'a Caller,
        active: &'static str,
    ) -> Self {
        let mut nav = vec![NavItem {
            href: "/",
            label: "Overview",
        }];
        let links = [
            (Capability::FindingsView, "/security", "Security"),
            (Capability::DashboardView, "/backups", "Backups"),
            (Capability::AuditView, "/audit", "Audit log"),
            (Capability::TeamView, "/team", "Team"),
            (Capability::CredentialsView, "/credentials", "Credentials"),
            (Capability::ApiKeysManage, "/keys", "API keys"),
            (Capability::WebhooksManage, "/webhooks", "Notifications"),
            (Capability::DataExport, "/export", "Export"),
            (Capability::SettingsManage, "/settings", "Settings"),
            (
                Capability::SecurityPolicyManage,
                "/settings/security",
                "Security policy",
            ),
            (Capability::DiagnosticsView, "/diagnostics", "Diagnostics"),
        ];
        for (capability, href, label) in links {
            if caller.can(capability) {
                nav.push(NavItem { href, label });
            }
        }
        nav.push(NavItem {
            href: "/account",
            label: "Account",
        });
        Self {
            server_name,
            csrf_token: csrf.value(),
            user: Some(&caller.user),
            nav,
            active,
            banner: None,
        }
    }

    pub fn with_banner(mut self, banner: Option<String>) -> Self {
        self.banner = banner;
        self
    }

    /// A signed-in page outside the navigation (enrolment), with sign-out only.
    pub fn bare(server_name: &'a str, csrf: &'a CsrfToken, user: &'a User) -> Self {
        Self {
            server_name,
            csrf_token: csrf.value(),
            user: Some(user),
            nav: Vec::new(),
            active: "",
            banner: None,
        }
    }
}

/// Renders `page` as HTML, setting the CSRF cookie if the browser lacks it.
pub fn html(page: &impl Template, csrf: &CsrfToken) -> Result<HttpResponse, AppError> {
    let body = page.render()?;
    let mut response = HttpResponse::Ok();
    response.content_type("text/html; charset=utf-8");
    if let Some(cookie) = csrf.cookie() {
        response.cookie(cookie);
    }
    Ok(response.body(body))
}

/// A 303 to `location`: the answer to every successful form post.
pub fn see_other(location: &str) -> actix_web::HttpResponseBuilder {
    let mut response = HttpResponse::SeeOther();
    response.insert_header((actix_web::http::header::LOCATION, location.to_owned()));
    response
}

/// Formats a time for people: `2026-11-23 14:05 UTC`.
pub fn when(t: time::OffsetDateTime) -> String {
    t.format(time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute] UTC"
    ))
    .unwrap_or_default()
}

/// A size for people: `512 B`, `9.62 KiB`, `1.20 GiB`; one format on every page.
pub fn size(bytes: i64) -> String {
    indicatif::HumanBytes(u64::try_from(bytes).unwrap_or(0)).to_string()
}

/// How far `t` lies from `now`, for people: `3 days ago`, `in 12 days`, `just now`.
pub fn relative(t: time::OffsetDateTime, now: time::OffsetDateTime) -> String {
    const UNITS: &[(i64, i64, &str)] = &[
        // (below this many seconds, count in units of, unit)
        (3_600, 60, "minute"),
        (86_400, 3_600, "hour"),
        // Days for a whole year: rotation periods are set in days.
        (365 * 86_400, 86_400, "day"),
        (730 * 86_400, 30 * 86_400, "month"),
        (i64::MAX, 365 * 86_400, "year"),
    ];
    let seconds = (t - now).whole_seconds();
    let distance = seconds.saturating_abs();
    if distance < 60 {
        return "just now".into();
    }
    let (_, size, unit) = UNITS
        .iter()
        .find(|(below, _, _)| distance < *below)
        .unwrap_or(&UNITS[UNITS.len() - 1]);
    // Rounded, not floored: a reminder set for 90 days reads "in 90 days" a second later.
    let n = (distance + size / 2) / size;
    let amount = format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    if seconds < 0 {
        format!("{amount} ago")
    } else {
        format!("in {amount}")
    }
}

/// One-word outcome messages carried in a redirect's query string, mapped to fixed
/// texts so nothing a visitor types is ever reflected into a page.
pub fn flash(code: Option<&str>, table: &[(&str, &'static str)]) -> Option<&'static str> {
    let code = code?;
    table
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, text)| *text)
        .or(Some("That did not work. Try again."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times_read_naturally() {
        let now = time::OffsetDateTime::now_utc();
        let at = |seconds: i64| relative(now + time::Duration::seconds(seconds), now);
        assert_eq!(at(0), "just now");
        assert_eq!(at(-59), "just now");
        assert_eq!(at(-60), "1 minute ago");
        assert_eq!(at(130), "in 2 minutes");
        assert_eq!(at(90 * 86_400 - 5), "in 90 days");
        assert_eq!(at(-3 * 3600), "3 hours ago");
        assert_eq!(at(-3 * 86_400 - 5), "3 days ago");
        assert_eq!(at(12 * 86_400 + 5), "in 12 days");
        assert_eq!(at(-59 * 86_400), "59 days ago");
        assert_eq!(at(-90 * 86_400), "90 days ago");
        assert_eq!(at(-400 * 86_400), "13 months ago");
        assert_eq!(at(3 * 365 * 86_400), "in 3 years");
    }
}
