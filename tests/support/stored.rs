//! A stored credential, sealed by the vault as the dashboard would store it: for tests
//! that need a secret in the database (and to prove it never leaks).

use diesel::PgConnection;
use outpost::credentials::{self, Kind, NewCredential};
use outpost::identity::{ClientInfo, User};
use outpost::secret::SecretString;
use outpost::vault::Vault;

/// Stores `value` as the API-key credential `name`, created by `owner`.
pub fn credential(conn: &mut PgConnection, vault: &Vault, owner: &User, name: &str, value: &str) {
    credentials::create(
        conn,
        vault,
        owner,
        NewCredential {
            name: name.into(),
            kind: Kind::ApiKey,
            value: SecretString::new(value),
            description: None,
            expires_at: None,
            rotate_every_days: None,
        },
        &ClientInfo::default(),
    )
    .expect("store a credential");
}
