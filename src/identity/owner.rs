//! The first Owner of a server, created from the command line.

use std::time::Duration;

use diesel::prelude::*;

use super::{IdentityError, Role, User, normalize_email, setup_link, user};
use crate::audit::{self, Actor, Event, Outcome};
use crate::secret::SecretString;

#[derive(Debug)]
pub enum OwnerSetup {
    /// A new Owner with a setup link.
    Created {
        user: User,
        link_token: SecretString,
    },
    /// The Owner exists but never set a password: a fresh link replaces the old one.
    Reissued {
        user: User,
        link_token: SecretString,
    },
    /// The Owner exists and has signed up: nothing to do.
    AlreadyActive { user: User },
}

/// Makes sure `email` is the server's first Owner. Safe to repeat; refuses when a
/// different Owner already exists.
pub fn ensure_first_owner(
    conn: &mut PgConnection,
    raw_email: &str,
    link_ttl: Duration,
) -> Result<OwnerSetup, IdentityError> {
    ensure_owner(conn, raw_email, link_ttl, Owners::OnlyOne)
}

/// Makes sure `email` is an operator of the fleet controller: an Owner of the
/// controller's own database, where every account is an operator (no client's data
/// lives there), so several may exist. Safe to repeat, like [`ensure_first_owner`].
pub fn ensure_operator(
    conn: &mut PgConnection,
    raw_email: &str,
    link_ttl: Duration,
) -> Result<OwnerSetup, IdentityError> {
    ensure_owner(conn, raw_email, link_ttl, Owners::Several)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owners {
    OnlyOne,
    Several,
}

fn ensure_owner(
    conn: &mut PgConnection,
    raw_email: &str,
    link_ttl: Duration,
    owners_allowed: Owners,
) -> Result<OwnerSetup, IdentityError> {
    let email = normalize_email(raw_email)?;
    conn.transaction(|conn| {
        // Serialise concurrent runs so two "first" owners cannot both be created.
        diesel::sql_query("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE").execute(conn)?;
        let owners = user::owners(conn)?;
        if let Some(existing) = owners.iter().find(|u| u.email == email) {
            let user = existing.clone();
            if user.active {
                return Ok(OwnerSetup::AlreadyActive { user });
            }
            let link_token = setup_link::issue(conn, user.id, link_ttl)?;
            record(conn, &user, "owner.setup_link_reissued")?;
            return Ok(OwnerSetup::Reissued { user, link_token });
        }
        if let Some(other) = owners.first().filter(|_| owners_allowed == Owners::OnlyOne) {
            return Err(IdentityError::OwnerExists(other.email.clone()));
        }
        if user::find_by_email(conn, &email)?.is_some() {
            return Err(IdentityError::OwnerExists(email));
        }
        let user = user::create(conn, &email, Role::Owner)?;
        let link_token = setup_link::issue(conn, user.id, link_ttl)?;
        record(conn, &user, "owner.created")?;
        Ok(OwnerSetup::Created { user, link_token })
    })
}

fn record(conn: &mut PgConnection, user: &User, action: &'static str) -> QueryResult<()> {
    audit::record(
        conn,
        &Event::new(Actor::Cli, action, Outcome::Success).target(format!("user:{}", user.id)),
    )
    .map(drop)
}
