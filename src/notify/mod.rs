//! What Outpost tells people outside the dashboard. Email is the one channel: `email`
//! delivers over SMTP, `messages` words each notice, `alerts` keeps the problems that
//! need a person until they are resolved.

pub mod alerts;
pub mod email;
pub mod messages;
pub mod signature;

pub use email::{Email, EmailError, Mailer};
