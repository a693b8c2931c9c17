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

/// Sends the relay test to `user`'s own address and audits the attempt
/// (`email.test_sent`, with the relay's answer when it failed). Shared by the
/// notifications page and the Settings page.
pub async fn send_test(
    state: &AppState,
    user: &crate::identity::User,
    client: crate::identity::ClientInfo,
) -> Result<Result<(), EmailError>, super::error::AppError> {
    use crate::audit::{self, Actor, Event, Outcome};
    let email =
        crate::notify::messages::test_email(&user.email, &state.config().server_name, &user.email);
    let sent = state.mailer.send(&email).await;
    let outcome = if sent.is_ok() {
        Outcome::Success
    } else {
        Outcome::Failure
    };
    let error = sent.as_ref().err().map(|e| e.to_string());
    let details = serde_json::json!({ "to": user.email, "error": error });
    let id = user.id;
    state
        .db
        .run(move |conn| {
            audit::record(
                conn,
                &Event::new(Actor::User(id), "email.test_sent", outcome)
                    .client(&client)
                    .details(details),
            )
            .map_err(super::error::AppError::from)
        })
        .await?;
    Ok(sent)
}
