//! Stored credentials: the domain module against a real PostgreSQL (here), the
//! dashboard and the JSON API over real HTTP (submodules). Every value stored is a
//! canary, so the log check at the end of a run proves none of them was logged.

mod api;
mod dashboard;

use diesel::prelude::*;
use outpost::credentials::{
    self, Credential, CredentialError, Kind, NewCredential, Replacement, Status,
};
use outpost::db::schema::{audit_events, stored_credentials};
use outpost::identity::session::Reauthentication;
use outpost::identity::{ClientInfo, Role, User, user};
use outpost::secret::SecretString;
use outpost::vault::{Vault, VaultError};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::support::canary;
use crate::support::pg::TestDb;

/// The audit entries of `action`, oldest first: (outcome, actor, target, details).
pub fn audited(db: &TestDb, action: &str) -> Vec<(String, String, Option<String>, Value)> {
    audit_events::table
        .filter(audit_events::action.eq(action))
        .order(audit_events::id.asc())
        .select((
            audit_events::outcome,
            audit_events::actor,
            audit_events::target,
            audit_events::details,
        ))
        .load(&mut db.conn())
        .unwrap()
}

/// Every audit entry as text, to prove no value ever reached one.
pub fn audit_text(db: &TestDb) -> String {
    let rows: Vec<(String, Option<String>, Value)> = audit_events::table
        .select((
            audit_events::action,
            audit_events::target,
            audit_events::details,
        ))
        .load(&mut db.conn())
        .unwrap();
    format!("{rows:?}")
}

pub fn sealed_of(db: &TestDb, id: Uuid) -> String {
    stored_credentials::table
        .find(id)
        .select(stored_credentials::value_sealed)
        .first(&mut db.conn())
        .unwrap()
}

struct Fixture {
    // Declared before `db`, so the connection closes before the database is dropped.
    conn: PgConnection,
    vault: Vault,
    owner: User,
    db: TestDb,
}

fn fixture() -> Fixture {
    let db = TestDb::new();
    let mut conn = db.conn();
    let owner = user::create(&mut conn, "owner@example.com", Role::Owner).unwrap();
    Fixture {
        conn,
        vault: Vault::ephemeral(),
        owner,
        db,
    }
}

fn new(name: &str, kind: Kind, value: &str) -> NewCredential {
    NewCredential {
        name: name.into(),
        kind,
        value: SecretString::new(value),
        description: None,
        expires_at: None,
        rotate_every_days: None,
    }
}

impl Fixture {
    fn create(&mut self, new: NewCredential) -> Result<Credential, CredentialError> {
        credentials::create(
            &mut self.conn,
            &self.vault,
            &self.owner,
            new,
            &ClientInfo::default(),
        )
    }

    fn reveal(&mut self, id: Uuid, reason: &str) -> Result<SecretString, CredentialError> {
        credentials::reveal(
            &mut self.conn,
            &self.vault,
            &self.owner,
            id,
            reason,
            Reauthentication::TotpCode,
            &ClientInfo::default(),
        )
    }

    fn count(&mut self) -> i64 {
        stored_credentials::table
            .count()
            .get_result(&mut self.conn)
            .unwrap()
    }
}

#[test]
fn values_are_sealed_to_their_row_and_never_part_of_metadata() {
    let mut f = fixture();
    let value = canary::secret("sk-canary");
    let other_value = canary::secret("sk-canary");
    let created = f
        .create(NewCredential {
            description: Some("  the production key ".into()),
            ..new("  Anthropic prod ", Kind::ApiKey, &value)
        })
        .unwrap();
    assert_eq!(created.name, "Anthropic prod");
    assert_eq!(created.description, "the production key");
    assert_eq!(created.created_by, Some(f.owner.id));
    let other = f.create(new("OpenAI", Kind::ApiKey, &other_value)).unwrap();

    let sealed = sealed_of(&f.db, created.id);
    assert!(sealed.starts_with("v2:aes256gcm:"), "{sealed}");
    assert!(!sealed.contains(&value) && !sealed.contains(&value[10..]));

    let listed = credentials::list(&mut f.conn).unwrap();
    assert_eq!(
        listed.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        ["Anthropic prod", "OpenAI"]
    );
    let shown = format!(
        "{} {listed:?} {:?}",
        serde_json::to_string(&listed).unwrap(),
        credentials::find(&mut f.conn, created.id).unwrap()
    );
    for secret in [&value, &other_value] {
        assert!(!shown.contains(secret.as_str()), "{shown}");
    }

    let revealed = f.reveal(created.id, "rotating the CI secret").unwrap();
    assert_eq!(revealed.expose(), value);
    assert!(!format!("{revealed:?}").contains(&value));
    let after = credentials::find(&mut f.conn, created.id).unwrap().unwrap();
    assert_eq!(after.last_revealed_by, Some(f.owner.id));
    assert!(after.last_revealed_at.is_some());

    // The sealed value is bound to its row: copied to another, it does not open.
    f.db.execute(&format!(
        "UPDATE stored_credentials SET value_sealed = '{sealed}' WHERE id = '{}'",
        other.id
    ));
    let moved = f.reveal(other.id, "checking the copy");
    assert!(
        matches!(moved, Err(CredentialError::Vault(VaultError::Tampered))),
        "{moved:?}"
    );
    let reveals = audited(&f.db, "credential.revealed");
    assert_eq!(reveals.len(), 2);
    assert_eq!(reveals[0].0, "success");
    assert_eq!(reveals[0].3["reason"], "rotating the CI secret");
    assert_eq!(reveals[0].3["by"], "owner@example.com");
    assert_eq!(reveals[0].3["reauthentication"], "totp_code");
    assert_eq!(
        reveals[1].0, "failure",
        "a value that does not open is recorded"
    );
    assert_eq!(
        reveals[1].2.as_deref(),
        Some(&*format!("credential:{}", other.id))
    );
    let created_entries = audited(&f.db, "credential.created");
    assert_eq!(created_entries.len(), 2);
    assert_eq!(created_entries[0].1, format!("user:{}", f.owner.id));
    assert_eq!(created_entries[0].3["name"], "Anthropic prod");
    let log = audit_text(&f.db);
    assert!(!log.contains(&value) && !log.contains(&other_value));
}

#[test]
fn invalid_input_is_refused_with_a_clear_error_and_nothing_stored() {
    let mut f = fixture();
    let value = canary::secret("sk-canary");
    f.create(new("Stripe key", Kind::ApiKey, &value)).unwrap();

    let duplicate = f.create(new("  STRIPE KEY ", Kind::Password, &value));
    match duplicate {
        Err(e @ CredentialError::DuplicateName(_)) => {
            assert!(e.to_string().contains("already exists"), "{e}");
            assert!(!e.to_string().contains(&value));
        }
        other => panic!("{other:?}"),
    }
    let oversized = value.repeat(16 * 1024 / value.len() + 1);
    use CredentialError as E;
    let with = |change: fn(&mut NewCredential), name: &str| {
        let mut c = new(name, Kind::Other, &value);
        change(&mut c);
        c
    };
    let cases = [
        (new("", Kind::Other, &value), E::InvalidName),
        (new(&"n".repeat(101), Kind::Other, &value), E::InvalidName),
        (new("empty", Kind::Other, ""), E::EmptyValue),
        (new("blank", Kind::Other, "  \n"), E::EmptyValue),
        (new("huge", Kind::Other, &oversized), E::ValueTooLong),
        (
            with(|c| c.description = Some("d".repeat(501)), "described"),
            E::DescriptionTooLong,
        ),
        (
            with(|c| c.rotate_every_days = Some(0), "never rotated"),
            E::InvalidRotation,
        ),
        (
            with(|c| c.rotate_every_days = Some(3651), "rarely rotated"),
            E::InvalidRotation,
        ),
        (
            with(
                |c| c.expires_at = Some(OffsetDateTime::now_utc() - time::Duration::minutes(1)),
                "already expired",
            ),
            E::ExpiryInPast,
        ),
    ];
    for (bad, expected) in cases {
        let name = bad.name.clone();
        let err = f.create(bad).unwrap_err();
        assert_eq!(
            std::mem::discriminant(&err),
            std::mem::discriminant(&expected),
            "{name}: {err:?}"
        );
        assert!(!format!("{err} {err:?}").contains(&value[10..]));
    }
    let kind = "ssh_key".parse::<Kind>().unwrap_err();
    assert!(kind.to_string().contains("storage_key"), "{kind}");
    assert_eq!(f.count(), 1, "only the first credential was stored");

    let stored = credentials::list(&mut f.conn).unwrap().remove(0);
    assert!(matches!(
        f.reveal(stored.id, "   "),
        Err(CredentialError::InvalidReason)
    ));
    assert!(matches!(
        f.reveal(Uuid::new_v4(), "looking"),
        Err(CredentialError::NotFound)
    ));
}

#[test]
fn status_follows_age_rotation_and_expiry_and_replacing_starts_the_clock_again() {
    let mut f = fixture();
    let make = |f: &mut Fixture, name: &str, every: Option<i32>| {
        f.create(NewCredential {
            rotate_every_days: every,
            ..new(name, Kind::OauthToken, &canary::secret("sk-canary"))
        })
        .unwrap()
    };
    let fresh = make(&mut f, "fresh", Some(30));
    let due = make(&mut f, "due", Some(30));
    let expired = make(&mut f, "expired", None);
    let soon = make(&mut f, "soon", None);
    f.db.execute(&format!(
        "UPDATE stored_credentials SET replaced_at = now() - interval '31 days', \
         created_at = now() - interval '40 days' WHERE id = '{}'",
        due.id
    ));
    f.db.execute(&format!(
        "UPDATE stored_credentials SET expires_at = now() - interval '1 day' WHERE id = '{}'",
        expired.id
    ));
    f.db.execute(&format!(
        "UPDATE stored_credentials SET expires_at = now() + interval '3 days' WHERE id = '{}'",
        soon.id
    ));
    let now = OffsetDateTime::now_utc();
    let status = |f: &mut Fixture, id| {
        credentials::find(&mut f.conn, id)
            .unwrap()
            .unwrap()
            .status(now)
    };
    assert_eq!(status(&mut f, fresh.id), Status::Fresh);
    assert_eq!(status(&mut f, due.id), Status::RotationDue);
    assert_eq!(status(&mut f, expired.id), Status::Expired);
    assert_eq!(status(&mut f, soon.id), Status::ExpiresSoon);

    let stale: Vec<(String, Status)> = credentials::stale(&mut f.conn, now)
        .unwrap()
        .into_iter()
        .map(|(c, s)| (c.name, s))
        .collect();
    assert_eq!(
        stale,
        [
            ("expired".to_owned(), Status::Expired),
            ("due".to_owned(), Status::RotationDue),
            ("soon".to_owned(), Status::ExpiresSoon),
        ]
    );

    let new_value = canary::secret("sk-canary");
    let replaced = credentials::replace(
        &mut f.conn,
        &f.vault,
        &f.owner,
        due.id,
        Replacement {
            value: SecretString::new(&new_value),
            expires_at: None,
        },
        &ClientInfo::default(),
    )
    .unwrap();
    assert!(replaced.replaced_at > replaced.created_at + time::Duration::days(39));
    assert_eq!(replaced.status(OffsetDateTime::now_utc()), Status::Fresh);
    assert_eq!(
        f.reveal(due.id, "after rotation").unwrap().expose(),
        new_value
    );
    assert_eq!(audited(&f.db, "credential.replaced").len(), 1);

    credentials::delete(&mut f.conn, &f.owner, expired.id, &ClientInfo::default()).unwrap();
    assert!(matches!(
        credentials::delete(&mut f.conn, &f.owner, expired.id, &ClientInfo::default()),
        Err(CredentialError::NotFound)
    ));
    assert_eq!(audited(&f.db, "credential.deleted")[0].3["name"], "expired");
    assert!(!audit_text(&f.db).contains(&new_value));
}
