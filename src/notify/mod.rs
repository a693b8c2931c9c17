//! What Outpost tells people outside the dashboard. `email` delivers over SMTP,
//! `slack` posts to Slack incoming webhooks (the fleet controller's escalations),
//! `messages` words each notice, `alerts` keeps the problems that need a person until
//! they are resolved, `webhooks` sends the client's systems signed events, and
//! `breach` words the notice of a personal-data breach.

pub mod alerts;
pub mod breach;
pub mod email;
pub mod messages;
pub mod settings;
pub mod signature;
pub mod slack;
pub mod webhooks;

pub use email::{Email, EmailError, Mailer};
