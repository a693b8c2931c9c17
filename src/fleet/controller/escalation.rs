//! Telling operators: per satellite, one message listing its open problems when one
//! opens, repeated at most every `repeat_every` while any stays open, and a resolved
//! notice when problems clear. Each rule goes to the channels `routing` names.

use std::sync::Arc;

use time::OffsetDateTime;

use super::alerts::{Changes, FleetAlert};
use super::satellites::Satellite;
use super::settings::{Channel, ControllerSettings};
use crate::notify::slack::Slack;
use crate::notify::{Email, Mailer};

/// The channels escalations go out on.
#[derive(Debug, Clone)]
pub struct Notifier {
    pub slack: Slack,
    pub mailer: Arc<Mailer>,
    pub recipients: Vec<String>,
}

impl Notifier {
    async fn send(&self, channel: Channel, subject: &str, text: &str) {
        match channel {
            Channel::Slack if self.slack.is_enabled() => {
                self.slack.post(&format!("*{subject}*\n{text}")).await;
            }
            Channel::Email if self.mailer.is_enabled() => {
                for to in &self.recipients {
                    let email = Email {
                        to: to.clone(),
                        subject: subject.to_owned(),
                        body: text.to_owned(),
                    };
                    if let Err(error) = self.mailer.send(&email).await {
                        tracing::warn!(%error, "fleet alert not emailed");
                    }
                }
            }
            _ => {}
        }
    }
}

/// Sends what `changes` call for about `satellite` at `now`; returns the alerts a
/// problem message went out for (to be marked as told).
pub async fn escalate(
    notifier: &Notifier,
    settings: &ControllerSettings,
    satellite: &Satellite,
    changes: &Changes,
    now: OffsetDateTime,
) -> Vec<i64> {
    let routed = |alerts: &[FleetAlert], channel| -> Vec<FleetAlert> {
        alerts
            .iter()
            .filter(|a| a.rule().is_some_and(|r| settings.routes(r, channel)))
            .cloned()
            .collect()
    };
    let repeat_due = |a: &FleetAlert| {
        a.last_notified_at
            .is_none_or(|told| now - told >= settings.repeat_every)
    };
    let mut told = Vec::new();
    for channel in [Channel::Slack, Channel::Email] {
        let open = routed(&changes.open, channel);
        let due = !routed(&changes.opened, channel).is_empty() || open.iter().any(repeat_due);
        if !open.is_empty() && due {
            let subject = format!(
                "Fleet: {} has {} open problem(s)",
                satellite.name,
                open.len()
            );
            notifier
                .send(channel, &subject, &listing(satellite, &open))
                .await;
            told.extend(open.iter().map(|a| a.id));
        }
        let resolved = routed(&changes.resolved, channel);
        if !resolved.is_empty() {
            let rules: Vec<&str> = resolved.iter().map(|a| a.rule.as_str()).collect();
            let subject = format!("Fleet: {} resolved: {}", satellite.name, rules.join(", "));
            let still = if open.is_empty() {
                "Nothing else is open.".to_owned()
            } else {
                format!("Still open:\n{}", listing(satellite, &open))
            };
            notifier.send(channel, &subject, &still).await;
        }
    }
    told.sort_unstable();
    told.dedup();
    told
}

/// One line per problem, under a line naming the satellite.
fn listing(satellite: &Satellite, alerts: &[FleetAlert]) -> String {
    let mut text = format!(
        "{} (client {}, {}), version {}\n",
        satellite.name,
        satellite.client,
        satellite.region.as_deref().unwrap_or("no region"),
        satellite.version
    );
    for alert in alerts {
        text.push_str(&format!("- {}: {}\n", alert.rule, alert.detail));
    }
    text
}
