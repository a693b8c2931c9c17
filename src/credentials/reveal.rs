//! Revealing a stored value: the one way its plaintext leaves the vault, always with an
//! audit entry naming who, why, and how they had just proved it was them.
//!
//! Who may ask, and whether their re-authentication is recent enough, is decided by
//! the caller (the web layer knows sessions and keys); this module records the answer.

use diesel::prelude::*;
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{CredentialError, creds, input, location, target};
use crate::audit::{self, Actor, Event, Outcome};
use crate::identity::session::Reauthentication;
use crate::identity::{ClientInfo, User};
use crate::secret::SecretString;
use crate::vault::{Vault, VaultError};

const ACTION: &str = "credential.revealed";

/// Opens the credential's value for `actor`, recording the reveal and its reason. A
/// value that does not open (tampered with, or copied from another row) is recorded
/// as a failed reveal.
pub fn reveal(
    conn: &mut PgConnection,
    vault: &Vault,
    actor: &User,
    id: Uuid,
    reason: &str,
    proof: Reauthentication,
    client: &ClientInfo,
) -> Result<SecretString, CredentialError> {
    let reason = input::reason(Some(reason))?;
    let opened = conn.transaction(|conn| {
        // Locked, so a concurrent replacement lands wholly before or after the reveal.
        let (name, kind, sealed): (String, String, String) = creds::table
            .find(id)
            .select((creds::name, creds::kind, creds::value_sealed))
            .for_update()
            .first(conn)
            .optional()?
            .ok_or(CredentialError::NotFound)?;
        let mut details = json!({
            "name": name,
            "kind": kind,
            "reason": reason,
            "by": actor.email,
            "reauthentication": proof.as_str(),
        });
        let event = |outcome| {
            Event::new(Actor::User(actor.id), ACTION, outcome)
                .target(target(id))
                .client(client)
        };
        let opened = vault.open(&location(id), &sealed).and_then(|plain| {
            std::str::from_utf8(&plain)
                .map(SecretString::new)
                .map_err(|_| VaultError::Malformed)
        });
        match opened {
            Ok(value) => {
                diesel::update(creds::table.find(id))
                    .set((
                        creds::last_revealed_at.eq(OffsetDateTime::now_utc()),
                        creds::last_revealed_by.eq(actor.id),
                    ))
                    .execute(conn)?;
                audit::record(conn, &event(Outcome::Success).details(details))?;
                Ok(Ok(value))
            }
            Err(e) => {
                // Committed, unlike the value's absence: someone tried, and it failed.
                if let Value::Object(map) = &mut details {
                    map.insert("error".into(), e.to_string().into());
                }
                audit::record(conn, &event(Outcome::Failure).details(details))?;
                Ok::<_, CredentialError>(Err(e))
            }
        }
    })?;
    Ok(opened?)
}

/// The value of the credential called `name` (ignoring case), for Outpost's own use,
/// such as authenticating to the SMTP relay. Never shown to a person, so no reveal is
/// recorded; the value is known to the leak guard like everything the vault opens.
pub fn for_outpost(
    conn: &mut PgConnection,
    vault: &Vault,
    name: &str,
) -> Result<SecretString, CredentialError> {
    let (id, sealed): (Uuid, String) = creds::table
        .filter(super::lower(creds::name).eq(name.trim().to_lowercase()))
        .select((creds::id, creds::value_sealed))
        .first(conn)
        .optional()?
        .ok_or(CredentialError::NotFound)?;
    let plain = vault.open(&location(id), &sealed)?;
    std::str::from_utf8(&plain)
        .map(SecretString::new)
        .map_err(|_| VaultError::Malformed.into())
}

/// [`for_outpost`] for configuration that names a credential: the error is a sentence
/// to show beside the setting that named it.
pub fn named_in_config(
    conn: &mut PgConnection,
    vault: &Vault,
    name: &str,
) -> Result<SecretString, String> {
    for_outpost(conn, vault, name).map_err(|e| match e {
        CredentialError::NotFound => "no stored credential has that name".to_owned(),
        other => other.to_string(),
    })
}

/// The audit entry for a reveal refused before the vault was asked: no reason, no
/// recent re-authentication, a wrong code.
pub fn refusal(
    actor: &User,
    id: Uuid,
    reason: Option<&str>,
    why: &str,
    client: &ClientInfo,
) -> Event {
    let reason: Option<String> = reason
        .map(|r| r.trim().chars().take(input::MAX_REASON_CHARS).collect())
        .filter(|r: &String| !r.is_empty());
    Event::new(Actor::User(actor.id), ACTION, Outcome::Denied)
        .target(target(id))
        .client(client)
        .details(json!({ "reason": reason, "by": actor.email, "refused": why }))
}
