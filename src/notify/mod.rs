//! What Outpost tells people outside the dashboard. `email` delivers over SMTP,
//! `slack` posts to Slack incoming webhooks (the fleet controller's escalations),
//! `messages` words each notice, `alerts` keeps the problems that need a person until
//! they are resolved.

pub mod alerts;
pub mod email;
pub mod messages;
pub mod signature;
pub mod slack;

pub use email::{Email, EmailError, Mailer};
