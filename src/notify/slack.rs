//! Slack incoming webhooks: one POST of `{"text": …}` per message. The URL is the
//! credential, so it is never logged; a failure is logged (without it) and dropped,
//! because the next escalation or repeat tries again.

use std::time::Duration;

use crate::secret::SecretString;

/// Long enough for Slack, short enough that a hung receiver cannot stall a sweep.
const TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum SlackError {
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error("webhook {index} did not take the message: {reason}")]
    Post { index: usize, reason: String },
}

#[derive(Debug, Clone)]
pub struct Slack {
    client: reqwest::Client,
    webhooks: Vec<SecretString>,
}

impl Slack {
    pub fn new(webhooks: Vec<SecretString>) -> Result<Self, SlackError> {
        crate::backup_target::s3::install_tls_provider();
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| SlackError::Client(e.without_url().to_string()))?;
        Ok(Self { client, webhooks })
    }

    pub fn is_enabled(&self) -> bool {
        !self.webhooks.is_empty()
    }

    /// Posts `text` to every webhook; true if at least one took it.
    pub async fn post(&self, text: &str) -> bool {
        let body = serde_json::json!({ "text": text }).to_string();
        let mut delivered = false;
        for (index, url) in self.webhooks.iter().enumerate() {
            match self.post_one(index, url, &body).await {
                Ok(()) => delivered = true,
                Err(error) => tracing::warn!(%error, "Slack message not delivered"),
            }
        }
        delivered
    }

    async fn post_one(
        &self,
        index: usize,
        url: &SecretString,
        body: &str,
    ) -> Result<(), SlackError> {
        let failed = |reason: String| SlackError::Post { index, reason };
        let response = self
            .client
            .post(url.expose())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_owned())
            .send()
            .await
            // The error's URL would carry the webhook's token.
            .map_err(|e| failed(e.without_url().to_string()))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(failed(format!("answered {}", response.status().as_u16())))
        }
    }
}
