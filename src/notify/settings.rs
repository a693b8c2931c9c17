//! The `[notify]` section: who hears about alerts besides the Owners and Admins.

use serde::{Deserialize, Serialize};

use crate::secret::SecretString;

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifySettings {
    /// More addresses that get every alert email (an on-call inbox, a ticket system).
    pub alert_emails: Vec<String>,
    /// A Slack incoming webhook every alert is posted to; empty for none. The URL is
    /// the credential, so it is kept like a password.
    pub slack_webhook: SecretString,
}

impl NotifySettings {
    /// One line naming the bad key, or nothing.
    pub fn problem(&self) -> Option<(String, String)> {
        for address in &self.alert_emails {
            if let Err(why) = check_address(address) {
                return Some(("notify.alert_emails".into(), why));
            }
        }
        if !self.slack_webhook.is_empty()
            && let Err(why) = check_slack_webhook(self.slack_webhook.expose())
        {
            return Some(("notify.slack_webhook".into(), why));
        }
        None
    }

    /// The Slack webhooks alerts go to (none or one).
    pub fn slack_webhooks(&self) -> Vec<SecretString> {
        if self.slack_webhook.is_empty() {
            Vec::new()
        } else {
            vec![self.slack_webhook.clone()]
        }
    }
}

/// A bare address (`ops@example.com`), as lettre will send to it.
pub fn check_address(address: &str) -> Result<(), String> {
    address
        .trim()
        .parse::<lettre::Address>()
        .map(drop)
        .map_err(|e| format!("`{}` is not an email address ({e})", address.trim()))
}

/// An `https://` URL with a host: the URL carries the webhook's token, which must not
/// cross the network in the clear. The URL itself is never part of the message.
pub fn check_slack_webhook(url: &str) -> Result<(), String> {
    let parsed = url::Url::parse(url.trim()).map_err(|_| "is not a URL".to_string())?;
    if parsed.scheme() != "https" {
        return Err("must be an https:// URL".into());
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("must name a host".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_webhooks_are_checked() {
        assert!(check_address("ops@example.com").is_ok());
        assert!(check_address("not an address").is_err());
        assert!(check_slack_webhook("https://hooks.slack.com/services/T/B/x").is_ok());
        assert!(check_slack_webhook("http://hooks.slack.com/services/T/B/x").is_err());
        assert!(check_slack_webhook("hooks.slack.com").is_err());
        let bad = NotifySettings {
            slack_webhook: SecretString::new("http://x.test/secret-token"),
            ..Default::default()
        };
        let (key, why) = bad.problem().unwrap();
        assert_eq!(key, "notify.slack_webhook");
        assert!(!why.contains("secret-token"));
    }
}
