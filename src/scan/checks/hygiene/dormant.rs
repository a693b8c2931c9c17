//! `hygiene.dormant`: access nobody uses is access only an attacker would. Keys and
//! accounts unused for `scan.dormant_after` (never used: counted from creation) are
//! reported; dormant keys are revoked too when `scan.revoke_dormant_keys` is on.

use diesel::{Connection, PgConnection};
use serde_json::json;
use time::OffsetDateTime;

use super::super::super::{Check, CheckError, Context, Found, Severity};
use super::{describe_key, live_keys, span, when};
use crate::audit::{self, Actor, Event, Outcome};
use crate::identity::api_keys::{self, ApiKey};
use crate::identity::{sign_in, team};

#[derive(Debug)]
pub struct Dormant;

impl Check for Dormant {
    fn id(&self) -> &'static str {
        "hygiene.dormant"
    }

    fn title(&self) -> &'static str {
        "No dormant API keys or accounts"
    }

    fn run(&self, cx: &Context<'_>) -> Result<Vec<Found>, CheckError> {
        let settings = &cx.config.scan;
        let cutoff = cx.now - settings.dormant_after;
        let mut conn = cx.db.get()?;
        let mut found = Vec::new();

        for (creator, key) in live_keys(&mut conn, cx.now)? {
            let last = key.last_used_at.unwrap_or(key.created_at);
            if last > cutoff {
                continue;
            }
            let used = if key.last_used_at.is_some() {
                "last used"
            } else {
                "never used, created"
            };
            let mut evidence = format!(
                "{} was {used} {}, over {} ago",
                describe_key(&creator, &key),
                when(last),
                span(settings.dormant_after)
            );
            let subject = format!("api_key:{}", key.id);
            let dormant = if settings.revoke_dormant_keys {
                if !revoke(&mut conn, &key, last, cx.now)? {
                    continue; // Removed with its creator meanwhile: nothing left to report.
                }
                evidence.push_str("; revoked (scan.revoke_dormant_keys)");
                Found::new(
                    subject,
                    Severity::Medium,
                    "A dormant API key was revoked",
                    evidence,
                )
                .remedied()
            } else {
                Found::new(subject, Severity::Medium, "An API key is dormant", evidence)
            };
            found.push(dormant);
        }

        let signed_in = sign_in::last_sign_ins(&mut conn)?;
        for member in team::members(&mut conn)? {
            let user = &member.user;
            // A session's last request is newer than its sign-in; the sign-in's audit
            // entry outlives the session. Whichever is later is the last use.
            let last_use = member.last_seen_at.max(signed_in.get(&user.id).copied());
            let last = last_use.unwrap_or(user.created_at);
            if last > cutoff {
                continue;
            }
            let used = if last_use.is_some() {
                "last signed in"
            } else {
                "never signed in, created"
            };
            found.push(Found::new(
                format!("user:{}", user.id),
                Severity::Low,
                "An account is dormant",
                format!(
                    "{} ({}) {used} {}, over {} ago",
                    user.email,
                    user.role,
                    when(last),
                    span(settings.dormant_after)
                ),
            ));
        }
        Ok(found)
    }
}

/// The remedy: revokes the key through the same function people use, audited as the
/// system with why. False if the key no longer exists.
fn revoke(
    conn: &mut PgConnection,
    key: &ApiKey,
    last: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<bool, CheckError> {
    conn.transaction(|conn| -> diesel::QueryResult<bool> {
        if !api_keys::revoke(conn, key.user_id, key.id, now)? {
            return Ok(false);
        }
        audit::record(
            conn,
            &Event::new(Actor::System, "api_key.revoked", Outcome::Success)
                .target(format!("api_key:{}", key.id))
                .details(json!({
                    "reason": "dormant",
                    "owner": format!("user:{}", key.user_id),
                    "unused_since": when(last),
                })),
        )?;
        Ok(true)
    })
    .map_err(CheckError::from)
}
