//! The client's outbound webhooks: endpoints they register ([`endpoints`]), the events
//! Outpost tells them about ([`events`]), written to an outbox in the transaction of
//! the change itself ([`outbox`]), and the worker that signs and sends them with
//! retries ([`delivery`]). Signatures follow Standard Webhooks (`notify::signature`).

pub mod delivery;
pub mod endpoints;
pub mod events;
pub mod outbox;

pub use endpoints::{Endpoint, NewEndpoint};
pub use outbox::Delivery;

use crate::vault::VaultError;

/// Every event type an endpoint can subscribe to.
pub const EVENT_TYPES: &[&str] = &[
    events::BACKUP_COMPLETED,
    events::BACKUP_FAILED,
    events::FINDING_OPENED,
    events::FINDING_RESOLVED,
    events::SCAN_COMPLETED,
    events::MEMBER_ADDED,
];

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("{0}")]
    InvalidUrl(String),
    #[error("subscribe to at least one event")]
    NoEvents,
    #[error("`{0}` is not an event; use one of {list}", list = EVENT_TYPES.join(", "))]
    UnknownEvent(String),
    #[error(
        "a description can be at most {} characters",
        endpoints::MAX_DESCRIPTION_CHARS
    )]
    DescriptionTooLong,
    #[error("no such webhook endpoint")]
    NotFound,
    #[error("the endpoint's secret could not be opened: {0}")]
    Vault(#[from] VaultError),
    #[error("database query failed: {0}")]
    Db(#[from] diesel::result::Error),
    #[error("{0}")]
    Pool(#[from] crate::db::DbError),
}
