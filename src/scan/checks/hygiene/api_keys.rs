//! `hygiene.api_key_scope`: keys hold only what their job needs, and end.

use super::super::super::{Check, CheckError, Context, Found, Severity};
use super::{describe_key, live_keys};
use crate::identity::Capability;

#[derive(Debug)]
pub struct ApiKeyScope;

impl Check for ApiKeyScope {
    fn id(&self) -> &'static str {
        "hygiene.api_key_scope"
    }

    fn title(&self) -> &'static str {
        "API keys are scoped and expire"
    }

    fn run(&self, cx: &Context<'_>) -> Result<Vec<Found>, CheckError> {
        let mut found = Vec::new();
        for (creator, key) in live_keys(&mut *cx.db.get()?, cx.now)? {
            let who = describe_key(&creator, &key);
            let holds = |caps: &[Capability]| caps.iter().all(|c| key.capabilities.contains(c));
            // Measured against the role the creator has now: a key that held less
            // than a since-demoted creator's old role can still cover all of the new one.
            let scope = if holds(Capability::ALL) {
                Some(format!(
                    "{who} holds every capability there is ({}), a wildcard",
                    Capability::ALL.len()
                ))
            } else if holds(&creator.role.capabilities()) {
                Some(format!(
                    "{who} holds every capability of its creator's role, {}",
                    creator.role
                ))
            } else {
                None
            };
            if let Some(evidence) = scope {
                found.push(Found::new(
                    format!("api_key:{}:scope", key.id),
                    Severity::Medium,
                    "An API key is not scoped down",
                    evidence,
                ));
            }
            if key.expires_at.is_none() {
                found.push(Found::new(
                    format!("api_key:{}:expiry", key.id),
                    Severity::Low,
                    "An API key never expires",
                    format!("{who} has no expiry"),
                ));
            }
        }
        Ok(found)
    }
}
