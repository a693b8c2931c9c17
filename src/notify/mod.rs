//! What Outpost tells people outside the dashboard. Email is the one channel: `email`
//! delivers over SMTP, `messages` words each notice.

pub mod email;
pub mod messages;

pub use email::{Email, EmailError, Mailer};
