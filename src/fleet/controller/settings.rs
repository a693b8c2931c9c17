//! `[controller]`: how `outpost fleet serve` listens, how it judges silence, whom it
//! tells, and how long it keeps reports. Unused on a satellite.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::rules::Rule;
use crate::config::human_duration;
use crate::secret::SecretString;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ControllerSettings {
    /// Where satellites and operators reach the controller.
    pub listen: SocketAddr,
    /// The controller's address as satellites see it (in messages and `fleet token create`).
    pub public_url: String,
    /// Seconds between the reports satellites are told to send.
    #[serde(with = "human_duration")]
    pub interval: Duration,
    /// Slack for a report in transit before a satellite counts as late.
    #[serde(with = "human_duration")]
    pub grace: Duration,
    /// How long a new enrolment token stays valid unless `--expires` says otherwise.
    #[serde(with = "human_duration")]
    pub token_ttl: Duration,
    /// Slack incoming-webhook URLs; each is a credential, so masked like one.
    pub slack_webhooks: Vec<SecretString>,
    /// Who gets alert emails (through `[smtp]`).
    pub alert_emails: Vec<String>,
    /// Which channels each rule escalates to; a rule left out goes to every channel.
    pub routing: BTreeMap<Rule, Vec<Channel>>,
    /// How often an open problem is repeated while it lasts.
    #[serde(with = "human_duration")]
    pub repeat_every: Duration,
    /// Raw reports are kept this long; hourly roll-ups for `rollup_retention`.
    #[serde(with = "human_duration")]
    pub raw_retention: Duration,
    #[serde(with = "human_duration")]
    pub rollup_retention: Duration,
    /// Bearer token for `GET /fleet/v1/satellites`; empty turns that API off.
    pub operator_token: SecretString,
}

/// Where an escalation can go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Slack,
    Email,
}

impl Default for ControllerSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8444)),
            public_url: "http://127.0.0.1:8444".into(),
            interval: Duration::from_secs(60),
            grace: Duration::from_secs(30),
            token_ttl: Duration::from_secs(24 * 3600),
            slack_webhooks: Vec::new(),
            alert_emails: Vec::new(),
            routing: BTreeMap::new(),
            repeat_every: Duration::from_secs(4 * 3600),
            raw_retention: Duration::from_secs(30 * 86_400),
            rollup_retention: Duration::from_secs(365 * 86_400),
            operator_token: SecretString::default(),
        }
    }
}

impl ControllerSettings {
    /// Whether `rule` escalates to `channel`.
    pub fn routes(&self, rule: Rule, channel: Channel) -> bool {
        self.routing
            .get(&rule)
            .is_none_or(|channels| channels.contains(&channel))
    }

    /// The first key that is wrong, and why.
    pub fn problem(&self) -> Option<(String, String)> {
        let fail = |key: &str, why: &str| Some((format!("controller.{key}"), why.to_owned()));
        if self.interval.as_secs() == 0 {
            return fail("interval", "must be at least one second");
        }
        if !(self.public_url.starts_with("http://") || self.public_url.starts_with("https://")) {
            return fail("public_url", "must start with http:// or https://");
        }
        if let Some(bad) = self.slack_webhooks.iter().find(|url| {
            !url.expose().starts_with("https://") && !url.expose().starts_with("http://")
        }) {
            // The URL itself is a credential: name its position, not its value.
            let at = self
                .slack_webhooks
                .iter()
                .position(|u| u == bad)
                .unwrap_or(0);
            return fail(&format!("slack_webhooks[{at}]"), "must be an http(s) URL");
        }
        if let Some(bad) = self.alert_emails.iter().find(|a| !a.contains('@')) {
            return fail("alert_emails", &format!("`{bad}` is not an email address"));
        }
        None
    }
}
