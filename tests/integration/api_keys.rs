//! API keys against a real database: scoping to the creator, expiry, revocation,
//! rotation, and the stored form.

use std::time::Duration;

use diesel::prelude::*;
use outpost::identity::api_keys::{self, ApiKey, ApiKeyError, NewKey};
use outpost::identity::{Capability, Role, User, user};
use outpost::secret::SecretString;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::support::canary;
use crate::support::pg::TestDb;

const HOUR: Duration = Duration::from_secs(3600);
const SECOND: Duration = Duration::from_secs(1);

/// Whole seconds, so times survive PostgreSQL's microsecond precision unchanged.
fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc().replace_nanosecond(0).unwrap()
}

/// `api_keys::create`, the new key recorded for the log check.
fn create(
    conn: &mut PgConnection,
    creator: &User,
    new: NewKey,
) -> Result<(ApiKey, SecretString), ApiKeyError> {
    let created = api_keys::create(conn, creator, new);
    if let Ok((_, secret)) = &created {
        canary::record(secret.expose());
    }
    created
}

/// `api_keys::rotate`, the new key recorded for the log check.
fn rotate(
    conn: &mut PgConnection,
    user_id: Uuid,
    key_id: Uuid,
    grace: Duration,
    now: OffsetDateTime,
) -> Result<(ApiKey, SecretString), ApiKeyError> {
    let rotated = api_keys::rotate(conn, user_id, key_id, grace, now);
    if let Ok((_, secret)) = &rotated {
        canary::record(secret.expose());
    }
    rotated
}

fn new_key(name: &str, capabilities: &[Capability]) -> NewKey {
    NewKey {
        name: name.into(),
        capabilities: capabilities.to_vec(),
        expires_at: None,
    }
}

fn member(conn: &mut PgConnection, email: &str, role: Role) -> User {
    user::create(conn, email, role).unwrap()
}

fn key_count(conn: &mut PgConnection) -> i64 {
    outpost::db::schema::api_keys::table
        .count()
        .get_result(conn)
        .unwrap()
}

#[test]
fn a_key_authenticates_as_its_creator_with_the_capabilities_it_was_given() {
    let db = TestDb::new();
    let conn = &mut db.conn();
    let dev = member(conn, "dev@example.com", Role::Developer);
    let (created, secret) = create(
        conn,
        &dev,
        new_key(
            "  CI deploys ",
            &[
                Capability::AgentsDeploy,
                Capability::FindingsView,
                Capability::AgentsDeploy,
            ],
        ),
    )
    .unwrap();
    let key = secret.expose();
    assert!(api_keys::is_well_formed(key));
    assert_eq!(created.name, "CI deploys");
    assert_eq!(created.user_id, dev.id);
    assert_eq!(
        created.capabilities,
        [Capability::FindingsView, Capability::AgentsDeploy],
        "duplicates removed"
    );
    assert_eq!(created.display_prefix, key[..10]);
    assert!(created.display_prefix.starts_with("opk_"));
    assert!(created.is_active(now()));

    let auth = api_keys::authenticate(conn, key, None, now())
        .unwrap()
        .expect("a fresh key works");
    assert_eq!(auth.user.id, dev.id);
    assert_eq!(auth.key.id, created.id);
    assert_eq!(auth.capabilities, created.capabilities);

    // A well-formed key nobody issued is simply unknown.
    let (stranger, _, _) = api_keys::generate();
    assert!(
        api_keys::authenticate(conn, stranger.expose(), None, now())
            .unwrap()
            .is_none()
    );

    // Listing and lookup see only the owner's keys.
    let (second, _) = create(conn, &dev, new_key("laptop", &[Capability::AuditView])).unwrap();
    let listed: Vec<_> = api_keys::list_for_user(conn, dev.id)
        .unwrap()
        .into_iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(listed, [second.id, created.id], "newest first");
    let other = member(conn, "other@example.com", Role::Owner);
    assert!(api_keys::list_for_user(conn, other.id).unwrap().is_empty());
    assert_eq!(
        api_keys::find(conn, dev.id, created.id).unwrap(),
        Some(auth.key)
    );
    assert_eq!(api_keys::find(conn, other.id, created.id).unwrap(), None);
}

#[test]
fn only_the_hash_of_a_key_is_stored_and_metadata_never_carries_it() {
    let db = TestDb::new();
    let conn = &mut db.conn();
    let owner = member(conn, "owner@example.com", Role::Owner);
    let (created, secret) = create(
        conn,
        &owner,
        new_key("backup job", &[Capability::BackupsManage]),
    )
    .unwrap();
    let key = secret.expose();

    #[derive(QueryableByName)]
    struct Stored {
        #[diesel(sql_type = diesel::sql_types::Text)]
        row_text: String,
        #[diesel(sql_type = diesel::sql_types::Bool)]
        hash_matches: bool,
    }
    let stored: Stored = diesel::sql_query(
        "SELECT api_keys::text AS row_text, key_hash = sha256(convert_to($1, 'UTF8')) AS hash_matches \
         FROM api_keys",
    )
    .bind::<diesel::sql_types::Text, _>(key)
    .get_result(conn)
    .unwrap();
    assert!(stored.hash_matches, "key_hash is the SHA-256 of the key");
    assert!(!stored.row_text.contains(key));
    // Beyond the display prefix, no part of the secret is anywhere in the row.
    assert!(!stored.row_text.contains(&key[10..]), "{}", stored.row_text);
    assert!(
        !stored.row_text.contains(&key[10..20]),
        "{}",
        stored.row_text
    );

    let json = serde_json::to_value(&created).unwrap();
    let text = json.to_string();
    assert!(!text.contains(&key[10..]));
    assert!(json.get("key_hash").is_none());
    assert_eq!(json["capabilities"], serde_json::json!(["backups.manage"]));
    let created_at = json["created_at"].as_str().unwrap();
    assert_eq!(
        OffsetDateTime::parse(created_at, &time::format_description::well_known::Rfc3339).unwrap(),
        created.created_at
    );
    assert!(json["expires_at"].is_null());
    assert!(!format!("{secret:?}").contains(&key[10..]));
}

#[test]
fn a_key_never_exceeds_its_creator_even_after_a_demotion() {
    let db = TestDb::new();
    let conn = &mut db.conn();
    let viewer = member(conn, "viewer@example.com", Role::Viewer);
    let refused = create(
        conn,
        &viewer,
        new_key(
            "hooks",
            &[Capability::FindingsView, Capability::WebhooksManage],
        ),
    );
    assert!(
        matches!(
            refused,
            Err(ApiKeyError::ExceedsCreator(Capability::WebhooksManage))
        ),
        "{refused:?}"
    );
    assert_eq!(key_count(conn), 0);

    let admin = member(conn, "admin@example.com", Role::Admin);
    let (_, secret) = create(
        conn,
        &admin,
        new_key(
            "hardening bot",
            &[Capability::HardeningManage, Capability::AgentsDeploy],
        ),
    )
    .unwrap();
    let before = api_keys::authenticate(conn, secret.expose(), None, now())
        .unwrap()
        .unwrap();
    assert_eq!(
        before.capabilities,
        [Capability::AgentsDeploy, Capability::HardeningManage]
    );

    db.execute(&format!(
        "UPDATE users SET role = 'developer' WHERE id = '{}'",
        admin.id
    ));
    let after = api_keys::authenticate(conn, secret.expose(), None, now())
        .unwrap()
        .expect("the key still works…");
    assert_eq!(
        after.capabilities,
        [Capability::AgentsDeploy],
        "…but only for what a Developer may do"
    );
    assert_eq!(after.user.role, Role::Developer);
    assert_eq!(
        after.key.capabilities, before.key.capabilities,
        "the grant itself is unchanged"
    );
}

#[test]
fn invalid_keys_are_refused_at_creation() {
    let db = TestDb::new();
    let conn = &mut db.conn();
    let owner = member(conn, "owner@example.com", Role::Owner);
    let caps = [Capability::DashboardView];
    for name in ["", "   ", &"x".repeat(101)] {
        let result = create(conn, &owner, new_key(name, &caps));
        assert!(matches!(result, Err(ApiKeyError::InvalidName)), "{name:?}");
    }
    assert!(create(conn, &owner, new_key(&"x".repeat(100), &caps)).is_ok());
    assert!(matches!(
        create(conn, &owner, new_key("none", &[])),
        Err(ApiKeyError::NoCapabilities)
    ));
    let past = NewKey {
        expires_at: Some(now() - SECOND),
        ..new_key("late", &caps)
    };
    assert!(matches!(
        create(conn, &owner, past),
        Err(ApiKeyError::ExpiryInPast)
    ));
    assert_eq!(key_count(conn), 1, "only the valid key was stored");
}

#[test]
fn an_expired_key_stops_working() {
    let db = TestDb::new();
    let conn = &mut db.conn();
    let owner = member(conn, "owner@example.com", Role::Owner);
    let start = now();
    let expiry = start + HOUR;
    let (created, secret) = create(
        conn,
        &owner,
        NewKey {
            expires_at: Some(expiry),
            ..new_key("temporary", &[Capability::DashboardView])
        },
    )
    .unwrap();
    assert_eq!(created.expires_at, Some(expiry));
    let key = secret.expose();
    let works = |conn: &mut PgConnection, at| {
        api_keys::authenticate(conn, key, None, at)
            .unwrap()
            .is_some()
    };
    assert!(works(conn, start));
    assert!(works(conn, expiry - SECOND));
    assert!(
        !works(conn, expiry),
        "expires_at is the first instant it fails"
    );
    assert!(!works(conn, expiry + SECOND));
    assert!(!created.is_active(expiry));

    db.execute("UPDATE api_keys SET expires_at = now() - interval '1 second'");
    assert!(!works(conn, OffsetDateTime::now_utc()));
}

#[test]
fn a_revoked_key_stops_working_and_revocation_is_idempotent() {
    let db = TestDb::new();
    let conn = &mut db.conn();
    let dev = member(conn, "dev@example.com", Role::Developer);
    let intruder = member(conn, "intruder@example.com", Role::Owner);
    let (created, secret) = create(conn, &dev, new_key("ci", &[Capability::AgentsDeploy])).unwrap();
    let key = secret.expose();

    assert!(
        !api_keys::revoke(conn, intruder.id, created.id, now()).unwrap(),
        "another user's key is not found…"
    );
    assert!(
        api_keys::authenticate(conn, key, None, now())
            .unwrap()
            .is_some(),
        "…and keeps working"
    );

    let first = now();
    assert!(api_keys::revoke(conn, dev.id, created.id, first).unwrap());
    assert!(
        api_keys::authenticate(conn, key, None, first)
            .unwrap()
            .is_none()
    );
    assert!(
        api_keys::revoke(conn, dev.id, created.id, first + HOUR).unwrap(),
        "revoking again succeeds"
    );
    let revoked = api_keys::find(conn, dev.id, created.id).unwrap().unwrap();
    assert_eq!(
        revoked.revoked_at,
        Some(first),
        "the first revocation stands"
    );
    assert!(!revoked.is_active(first));

    for name in ["a", "b"] {
        create(conn, &dev, new_key(name, &[Capability::AgentsDeploy])).unwrap();
    }
    let (theirs, their_secret) =
        create(conn, &intruder, new_key("own", &[Capability::AuditView])).unwrap();
    assert_eq!(
        api_keys::revoke_all_for_user(conn, dev.id, now()).unwrap(),
        2
    );
    assert_eq!(
        api_keys::revoke_all_for_user(conn, dev.id, now()).unwrap(),
        0
    );
    assert!(
        api_keys::list_for_user(conn, dev.id)
            .unwrap()
            .iter()
            .all(|k| k.revoked_at.is_some())
    );
    assert!(
        api_keys::authenticate(conn, their_secret.expose(), None, now())
            .unwrap()
            .is_some_and(|a| a.key.id == theirs.id),
        "other users' keys are untouched"
    );
}

#[test]
fn a_rotated_key_works_for_the_grace_period_and_no_longer() {
    let db = TestDb::new();
    let conn = &mut db.conn();
    let owner = member(conn, "owner@example.com", Role::Owner);
    let caps = [Capability::BackupsManage, Capability::AuditView];
    let (old, old_secret) = create(conn, &owner, new_key("nightly", &caps)).unwrap();
    let t = now();

    let (new, new_secret) = rotate(conn, owner.id, old.id, HOUR, t).unwrap();
    assert_ne!(new.id, old.id);
    assert_ne!(new_secret.expose(), old_secret.expose());
    assert_eq!(new.name, old.name);
    assert_eq!(new.capabilities, old.capabilities);
    assert_eq!(new.expires_at, None);
    let old_after = api_keys::find(conn, owner.id, old.id).unwrap().unwrap();
    assert_eq!(old_after.replaced_by, Some(new.id));
    assert_eq!(old_after.expires_at, Some(t + HOUR));

    let works = |conn: &mut PgConnection, key: &str, at| {
        api_keys::authenticate(conn, key, None, at)
            .unwrap()
            .is_some()
    };
    assert!(works(conn, new_secret.expose(), t));
    assert!(works(conn, old_secret.expose(), t));
    assert!(works(conn, old_secret.expose(), t + HOUR - SECOND));
    assert!(!works(conn, old_secret.expose(), t + HOUR + SECOND));
    assert!(works(conn, new_secret.expose(), t + HOUR + SECOND));

    assert!(matches!(
        rotate(conn, owner.id, old.id, HOUR, t),
        Err(ApiKeyError::NotRotatable)
    ));
    // The replacement itself can be rotated in turn.
    assert!(rotate(conn, owner.id, new.id, Duration::ZERO, t).is_ok());
    assert!(
        !works(conn, new_secret.expose(), t),
        "a zero grace ends the old key at once"
    );
}

#[test]
fn rotation_keeps_an_earlier_expiry_and_refuses_dead_keys() {
    let db = TestDb::new();
    let conn = &mut db.conn();
    let owner = member(conn, "owner@example.com", Role::Owner);
    let other = member(conn, "other@example.com", Role::Owner);
    let caps = [Capability::DashboardView];
    let t = now();
    let soon = t + Duration::from_secs(600);
    let (expiring, _) = create(
        conn,
        &owner,
        NewKey {
            expires_at: Some(soon),
            ..new_key("expiring", &caps)
        },
    )
    .unwrap();
    let (new, _) = rotate(conn, owner.id, expiring.id, HOUR, t).unwrap();
    assert_eq!(new.expires_at, Some(soon), "the new key keeps the expiry");
    let old = api_keys::find(conn, owner.id, expiring.id)
        .unwrap()
        .unwrap();
    assert_eq!(
        old.expires_at,
        Some(soon),
        "the grace never extends the old key"
    );

    assert!(matches!(
        rotate(conn, owner.id, new.id, HOUR, soon + SECOND),
        Err(ApiKeyError::NotRotatable)
    ));
    let (revoked, _) = create(conn, &owner, new_key("revoked", &caps)).unwrap();
    api_keys::revoke(conn, owner.id, revoked.id, t).unwrap();
    assert!(matches!(
        rotate(conn, owner.id, revoked.id, HOUR, t),
        Err(ApiKeyError::NotRotatable)
    ));

    let (live, _) = create(conn, &owner, new_key("live", &caps)).unwrap();
    assert!(matches!(
        rotate(conn, other.id, live.id, HOUR, t),
        Err(ApiKeyError::NotFound)
    ));
    let month_and_a_second = Duration::from_secs(30 * 24 * 3600 + 1);
    assert!(matches!(
        rotate(conn, owner.id, live.id, month_and_a_second, t),
        Err(ApiKeyError::InvalidGrace)
    ));
    assert!(
        api_keys::find(conn, owner.id, live.id)
            .unwrap()
            .unwrap()
            .replaced_by
            .is_none(),
        "refused rotations change nothing"
    );
    assert!(
        rotate(
            conn,
            owner.id,
            live.id,
            Duration::from_secs(30 * 24 * 3600),
            t
        )
        .is_ok()
    );
}

#[test]
fn removing_a_user_removes_their_keys() {
    let db = TestDb::new();
    let conn = &mut db.conn();
    let dev = member(conn, "dev@example.com", Role::Developer);
    let (_, secret) = create(conn, &dev, new_key("ci", &[Capability::AgentsDeploy])).unwrap();
    db.execute(&format!("DELETE FROM users WHERE id = '{}'", dev.id));
    assert!(
        api_keys::authenticate(conn, secret.expose(), None, now())
            .unwrap()
            .is_none()
    );
    assert_eq!(key_count(conn), 0);
}

#[test]
fn a_malformed_key_is_refused_without_touching_the_database() {
    let db = TestDb::new();
    let conn = &mut db.conn();
    let owner = member(conn, "owner@example.com", Role::Owner);
    let (_, secret) = create(conn, &owner, new_key("ci", &[Capability::DashboardView])).unwrap();
    let key = secret.expose().to_string();
    let last = key.chars().last().unwrap();
    let typo = format!("{}{}", &key[..39], if last == 'a' { 'b' } else { 'a' });

    // Any query now fails, so only a check made before querying can answer.
    db.execute("DROP TABLE api_keys CASCADE");
    for bad in [typo.as_str(), &key[..39], "", "opk_", "Bearer something"] {
        let result = api_keys::authenticate(conn, bad, Some("203.0.113.9"), now());
        assert!(
            matches!(result, Err(ApiKeyError::Malformed)),
            "{bad:?}: {result:?}"
        );
    }
    // The control: a well-formed key does reach the (now broken) database.
    assert!(matches!(
        api_keys::authenticate(conn, &key, None, now()),
        Err(ApiKeyError::Db(_))
    ));
}

#[test]
fn use_is_recorded_on_the_key() {
    let db = TestDb::new();
    let conn = &mut db.conn();
    let owner = member(conn, "owner@example.com", Role::Owner);
    let (created, secret) =
        create(conn, &owner, new_key("ci", &[Capability::DashboardView])).unwrap();
    assert_eq!(created.last_used_at, None);
    assert_eq!(created.last_used_ip, None);

    let t = now() + SECOND;
    let auth = api_keys::authenticate(conn, secret.expose(), Some("203.0.113.9"), t)
        .unwrap()
        .unwrap();
    assert_eq!(auth.key.last_used_at, Some(t));
    let stored = api_keys::find(conn, owner.id, created.id).unwrap().unwrap();
    assert_eq!(stored.last_used_at, Some(t));
    assert_eq!(stored.last_used_ip.as_deref(), Some("203.0.113.9"));

    let later = t + HOUR;
    api_keys::authenticate(conn, secret.expose(), Some("2001:db8::1"), later).unwrap();
    let stored = api_keys::find(conn, owner.id, created.id).unwrap().unwrap();
    assert_eq!(stored.last_used_at, Some(later));
    assert_eq!(stored.last_used_ip.as_deref(), Some("2001:db8::1"));

    // A refused key records nothing.
    api_keys::revoke(conn, owner.id, created.id, later).unwrap();
    api_keys::authenticate(conn, secret.expose(), Some("198.51.100.7"), later + HOUR).unwrap();
    let stored = api_keys::find(conn, owner.id, created.id).unwrap().unwrap();
    assert_eq!(stored.last_used_at, Some(later));
}
