//! Zero-trust hygiene: who and what may get in, for how long, and whether that is
//! still justified. Each check reads the identity and credential modules' own queries
//! and reports in their terms; only the dormant-key check changes anything, and only
//! when `scan.revoke_dormant_keys` asks it to.

mod api_keys;
mod credentials;
mod dormant;
mod members;
mod sessions;

pub use api_keys::ApiKeyScope;
pub use credentials::StaleCredentials;
pub use dormant::Dormant;
pub use members::{Mfa, Owners};
pub use sessions::SessionPolicy;

use time::OffsetDateTime;

/// A time as evidence reads it: to the minute, UTC (seconds add nothing to triage).
pub(super) fn when(at: OffsetDateTime) -> String {
    format!("{} {:02}:{:02} UTC", at.date(), at.hour(), at.minute())
}

/// A duration as the configuration writes it (`12h`, `90days`).
fn span(d: std::time::Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// Every key that works at `now`, with its creator. Keys are per person and a server
/// has a handful of people, so the existing per-person listing is query enough.
pub(super) fn live_keys(
    conn: &mut diesel::PgConnection,
    now: OffsetDateTime,
) -> diesel::QueryResult<Vec<(crate::identity::User, crate::identity::api_keys::ApiKey)>> {
    use crate::identity::{api_keys, user};
    let mut live = Vec::new();
    for creator in user::all(conn)? {
        for key in api_keys::list_for_user(conn, creator.id)? {
            if key.is_active(now) {
                live.push((creator.clone(), key));
            }
        }
    }
    Ok(live)
}

/// How evidence names a key: its name and the prefix the dashboard shows (never
/// enough of the key to use it), and whose it is.
pub(super) fn describe_key(
    creator: &crate::identity::User,
    key: &crate::identity::api_keys::ApiKey,
) -> String {
    format!(
        "API key \"{}\" ({}…) of {}",
        key.name, key.display_prefix, creator.email
    )
}
