//! `hygiene.session_policy`: sessions end soon enough, and actually end.

use std::collections::HashMap;
use std::time::Duration;

use super::super::super::{Check, CheckError, Context, Found, Severity};
use super::{span, when};
use crate::identity::session::{self, SessionPolicy as Policy};
use crate::identity::user;

/// A dashboard left open longer than this unattended is an invitation.
const MAX_IDLE: Duration = Duration::from_secs(30 * 60);
/// Past a day, a stolen cookie is worth too much.
const MAX_ABSOLUTE: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug)]
pub struct SessionPolicy;

impl Check for SessionPolicy {
    fn id(&self) -> &'static str {
        "hygiene.session_policy"
    }

    fn title(&self) -> &'static str {
        "Sessions time out as the policy requires"
    }

    fn run(&self, cx: &Context<'_>) -> Result<Vec<Found>, CheckError> {
        let configured = &cx.config.session;
        let mut found = Vec::new();
        if configured.idle_timeout > MAX_IDLE {
            found.push(Found::new(
                "config:session.idle_timeout",
                Severity::High,
                "Idle sessions stay signed in too long",
                format!(
                    "session.idle_timeout is {}; the policy allows at most {}",
                    span(configured.idle_timeout),
                    span(MAX_IDLE)
                ),
            ));
        }
        if configured.absolute_timeout > MAX_ABSOLUTE {
            found.push(Found::new(
                "config:session.absolute_timeout",
                Severity::High,
                "Sessions last too long",
                format!(
                    "session.absolute_timeout is {}; the policy allows at most {}",
                    span(configured.absolute_timeout),
                    span(MAX_ABSOLUTE)
                ),
            ));
        }
        let policy = Policy {
            idle_timeout: configured.idle_timeout,
            absolute_timeout: configured.absolute_timeout,
        };
        let mut conn = cx.db.get()?;
        let overlong = session::outliving_policy(&mut conn, &policy, cx.now)?;
        if overlong.is_empty() {
            return Ok(found);
        }
        // Emails only to say whose session it is; the subject stays the session's id.
        let emails: HashMap<_, _> = user::all(&mut conn)?
            .into_iter()
            .map(|u| (u.id, u.email))
            .collect();
        for s in overlong {
            let whose = emails
                .get(&s.user_id)
                .map_or("a removed account", String::as_str);
            found.push(Found::new(
                format!("session:{}", s.id),
                Severity::Critical,
                "A session is still valid past the absolute timeout",
                format!(
                    "a session of {whose}, opened {}, is accepted until {} although \
                     session.absolute_timeout is {}",
                    when(s.created_at),
                    when(s.expires_at),
                    span(policy.absolute_timeout)
                ),
            ));
        }
        Ok(found)
    }
}
