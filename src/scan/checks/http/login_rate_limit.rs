//! Sign-in back-off (OWASP Top 10 2025 A07, authentication failures): repeated failed
//! sign-ins at `public_url` must be slowed down, proven by failing to sign in, from
//! outside, until the server answers 429.
//!
//! The probe signs in as an account nobody has (`identity::sign_in_probe`), announced
//! in the audit log first, so no member is slowed down, fail2ban is not told, and the
//! sign-in behaviour check does not mistake it for an attack. Afterwards it forgets the
//! back-off it earned, so the next scan measures afresh; if that was not possible
//! (someone else failed from the same address meanwhile), the next probe meets a block
//! at once, which proves the same thing.

use serde_json::json;

use super::super::super::{Check, CheckError, Context, Found, Severity};
use super::{at, probe};
use crate::identity::sign_in_probe;

/// Attempts past the allowance: the first earns a block of a second, the next finds it
/// (or, if the server was slower than that block, earn two, then four seconds).
const PAST_THE_ALLOWANCE: u32 = 4;
/// Whatever the configuration allows, a probe stops here: back-off that starts later
/// than this is no defence against guessing.
const MAX_ATTEMPTS: u32 = 30;

#[derive(Debug)]
pub struct LoginRateLimit;

impl Check for LoginRateLimit {
    fn id(&self) -> &'static str {
        "offensive.login_rate_limit"
    }

    fn title(&self) -> &'static str {
        "Repeated failed sign-ins are slowed down"
    }

    fn run(&self, cx: &Context<'_>) -> Result<Vec<Found>, CheckError> {
        let allowance = cx.config.login.backoff_after_failures;
        let attempts = allowance
            .saturating_add(PAST_THE_ALLOWANCE)
            .min(MAX_ATTEMPTS);
        let email = sign_in_probe::new_email();
        // No connection is held while probing: the server may need every one it shares.
        sign_in_probe::announce(&mut *cx.db.get()?, &email, attempts)?;
        let mut failures = 0;
        let throttled = fail_to_sign_in(cx, &email, attempts, &mut failures);
        sign_in_probe::clean_up(&mut *cx.db.get()?, &email, failures)?;
        if throttled? {
            return Ok(Vec::new());
        }
        Ok(vec![Found::new(
            "login:/login",
            Severity::High,
            "Failed sign-ins are not slowed down",
            format!(
                "{failures} failed sign-ins in a row for one account from one address \
                 were all answered 401, none 429 (login.backoff_after_failures = {allowance})"
            ),
        )])
    }
}

/// Posts wrong credentials for `email` until the server throttles (true), at most
/// `attempts` times, counting the plain failures in `failures` (cleaned up even if
/// the probe fails half-way).
fn fail_to_sign_in(
    cx: &Context<'_>,
    email: &str,
    attempts: u32,
    failures: &mut u32,
) -> Result<bool, CheckError> {
    let url = at(cx.config, "/login");
    while *failures < attempts {
        let body = json!({ "email": email, "password": uuid::Uuid::new_v4().to_string() });
        let reply = probe(
            cx.config,
            reqwest::Method::POST,
            &url,
            Some("application/json"),
            body.to_string().into_bytes(),
        )?;
        match reply.status {
            401 => *failures += 1,
            429 => return Ok(true),
            other => {
                return Err(CheckError(format!(
                    "POST /login answered {other} to a wrong password (expected 401 or 429)"
                )));
            }
        }
    }
    Ok(false)
}
