//! Plain HTTP redirects to HTTPS: a request to the host on the HTTP port (80, or
//! `tls.http_redirect_listen`'s port) gets a 301 to the same host and path over
//! HTTPS. (HSTS on the HTTPS answers, at least a year, is `offensive.http_headers`'.)
//!
//! Severities: content served in clear is high; any other answer than that 301 is
//! medium; nothing answering at all is low (no exposure, but people typing the bare
//! name get an error rather than the dashboard).

use super::super::super::{Check, CheckError, Context, Found, Severity};
use super::super::http::probe;
use super::{Endpoint, endpoint};

/// A path with a query, so that losing either shows.
const PATH: &str = "/login?next=%2F";

#[derive(Debug)]
pub struct Redirect;

impl Check for Redirect {
    fn id(&self) -> &'static str {
        "offensive.http_redirect"
    }

    fn title(&self) -> &'static str {
        "Plain HTTP redirects to the same page over HTTPS"
    }

    fn run(&self, cx: &Context<'_>) -> Result<Vec<Found>, CheckError> {
        let Endpoint::Https { host, port, .. } = endpoint(cx.config)? else {
            // Nothing to redirect to; `offensive.tls_protocols` reports cleartext.
            return Ok(Vec::new());
        };
        let http_port = cx
            .config
            .tls
            .http_redirect_listen
            .map_or(80, |listen| listen.port());
        let url = format!("http://{host}{}{PATH}", port_suffix(http_port, 80));
        let expected = format!("https://{host}{}{PATH}", port_suffix(port, 443));
        let reply = match probe(cx.config, reqwest::Method::GET, &url, None, Vec::new()) {
            Ok(reply) => reply,
            Err(e) => {
                return Ok(vec![Found::new(
                    "redirect:none",
                    Severity::Low,
                    "Nothing on plain HTTP redirects to HTTPS",
                    e.0,
                )]);
            }
        };
        let location = reply
            .headers
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let found = if reply.status < 300 {
            Found::new(
                "redirect:cleartext",
                Severity::High,
                "The dashboard answers over plain HTTP",
                format!("GET {url} answered {} in clear", reply.status),
            )
        } else if reply.status != 301 || location != expected {
            Found::new(
                "redirect:wrong",
                Severity::Medium,
                "Plain HTTP does not redirect permanently to the same page over HTTPS",
                format!(
                    "GET {url} answered {} with location {location:?}; expected 301 to {expected}",
                    reply.status
                ),
            )
        } else {
            return Ok(Vec::new());
        };
        Ok(vec![found])
    }
}

fn port_suffix(port: u16, default: u16) -> String {
    if port == default {
        String::new()
    } else {
        format!(":{port}")
    }
}
