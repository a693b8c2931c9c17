//! Sending email from request handlers: never fails the request, always leaves a
//! trace. A failure is logged (and the caller may show the link on screen instead).

use super::AppState;
use crate::notify::{Email, EmailError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Sent,
    NotConfigured,
    Failed,
}

pub async fn deliver(state: &AppState, email: &Email) -> Delivery {
    match state.mailer.send(email).await {
        Ok(()) => Delivery::Sent,
        Err(EmailError::Disabled) => {
            tracing::warn!(subject = %email.subject, "email not sent: no SMTP server is configured");
            Delivery::NotConfigured
        }
        Err(error) => {
            tracing::error!(subject = %email.subject, %error, "email could not be sent");
            Delivery::Failed
        }
    }
}
