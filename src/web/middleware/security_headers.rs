//! Headers every response carries, errors included.

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

pub fn middleware() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((
            "Strict-Transport-Security",
            "max-age=31536000; includeSubDomains",
        ))
        .add(("X-Frame-Options", "SAMEORIGIN"))
        .add(("X-Content-Type-Options", "nosniff"))
        // Stricter than strict-origin-when-cross-origin, yet form posts keep their Origin.
        .add(("Referrer-Policy", "same-origin"))
        .add(("Permissions-Policy", PERMISSIONS_POLICY))
        .add(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
        .add(("Cross-Origin-Opener-Policy", "same-origin"))
        .add(("Cross-Origin-Resource-Policy", "same-origin"))
        // Dynamic pages are per-user; static assets override this.
        .add(("Cache-Control", "no-store"))
}
