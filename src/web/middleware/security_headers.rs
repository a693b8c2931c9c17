//! Headers every response carries, errors included.

use actix_web::HttpResponse;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::DefaultHeaders;

/// No inline script or style anywhere, so the policy needs neither `unsafe-inline` nor
/// `unsafe-eval`; `frame-ancestors 'self'` matches `X-Frame-Options: SAMEORIGIN`.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; \
     form-action 'self'; frame-ancestors 'self'; base-uri 'none'; object-src 'none'";

pub const PERMISSIONS_POLICY: &str = "accelerometer=(), autoplay=(), camera=(), \
     display-capture=(), encrypted-media=(), fullscreen=(self), geolocation=(), gyroscope=(), \
     magnetometer=(), microphone=(), midi=(), payment=(), picture-in-picture=(), \
     publickey-credentials-get=(self), screen-wake-lock=(), sync-xhr=(), usb=(), \
     xr-spatial-tracking=()";

pub const HEADERS: &[(&str, &str)] = &[
    (
        "strict-transport-security",
        "max-age=31536000; includeSubDomains",
    ),
    ("x-frame-options", "SAMEORIGIN"),
    ("x-content-type-options", "nosniff"),
    // Stricter than strict-origin-when-cross-origin, yet form posts keep their Origin.
    ("referrer-policy", "same-origin"),
    ("permissions-policy", PERMISSIONS_POLICY),
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    // Dynamic pages are per-user; static assets override this.
    ("cache-control", "no-store"),
];

pub fn middleware() -> DefaultHeaders {
    HEADERS
        .iter()
        .fold(DefaultHeaders::new(), |headers, &pair| headers.add(pair))
}

/// Adds the headers to a response built outside the middleware chain (panics).
pub fn apply(response: &mut HttpResponse) {
    for (name, value) in HEADERS {
        response.headers_mut().insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
}
