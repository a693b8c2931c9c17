//! `hygiene.stale_credentials`: stored credentials are rotated and not expired.

use super::super::super::{Check, CheckError, Context, Found, Severity};
use super::when;
use crate::credentials::{self, status::Status};

#[derive(Debug)]
pub struct StaleCredentials;

impl Check for StaleCredentials {
    fn id(&self) -> &'static str {
        "hygiene.stale_credentials"
    }

    fn title(&self) -> &'static str {
        "Stored credentials are rotated and current"
    }

    fn run(&self, cx: &Context<'_>) -> Result<Vec<Found>, CheckError> {
        let stale = credentials::stale(&mut *cx.db.get()?, cx.now)?;
        Ok(stale
            .into_iter()
            .filter_map(|(credential, status)| {
                let what = format!("the {} \"{}\"", credential.kind.label(), credential.name);
                let (severity, title, evidence) = match status {
                    Status::Expired => (
                        Severity::High,
                        "A stored credential has expired",
                        format!(
                            "{what} expired {}",
                            credential.expires_at.map_or_else(String::new, when)
                        ),
                    ),
                    Status::RotationDue => (
                        Severity::Medium,
                        "A stored credential is due for rotation",
                        format!(
                            "{what} was last replaced {} and is to be rotated every {} days",
                            when(credential.replaced_at),
                            credential.rotate_every_days.unwrap_or_default()
                        ),
                    ),
                    // Expiring soon is the dashboard's reminder, not yet a problem.
                    Status::ExpiresSoon | Status::Fresh => return None,
                };
                Some(Found::new(
                    format!("credential:{}", credential.id),
                    severity,
                    title,
                    evidence,
                ))
            })
            .collect())
    }
}
