//! The zero-trust hygiene checks against a real database: each fires on a prepared bad
//! state with exact subjects and severities, stays quiet on a good one, and its
//! findings go through the lifecycle (resolved once fixed; the dormant-key remedy
//! recorded as auto-fixed). Time moves through `Context::now`.

use std::time::Duration as StdDuration;

use diesel::prelude::*;
use outpost::config::{Config, DatabaseUrl};
use outpost::credentials::{self, Kind, NewCredential};
use outpost::db::Db;
use outpost::db::schema::{audit_events, findings as findings_table, sessions};
use outpost::identity::api_keys::{self, ApiKey, NewKey};
use outpost::identity::session::{self, SessionPolicy};
use outpost::identity::{Capability, ClientInfo, Role, User, policy, totp, user};
use outpost::scan::findings::{self, Changes};
use outpost::scan::{self, CheckRun, Context, Found, Severity, checks};
use outpost::secret::SecretString;
use outpost::vault::Vault;
use outpost::vault::keyring::KeySource;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::support::canary;
use crate::support::pg::{TestDb, write_test_keys};

const DAY: Duration = Duration::days(1);

struct Fixture {
    db: TestDb,
    _keys: tempfile::TempDir,
    config: Config,
    pool: Db,
    vault: Vault,
    conn: PgConnection,
}

fn fixture() -> Fixture {
    let db = TestDb::new();
    let keys = tempfile::tempdir().unwrap();
    write_test_keys(keys.path(), "test.example/audit");
    let config = Config {
        database_url: DatabaseUrl::new(db.url.clone()),
        vault_key_file: keys.path().join("vault.key"),
        pool_size: 2,
        ..Config::default()
    };
    let vault = Vault::load(KeySource::File(config.vault_key_file.clone())).unwrap();
    let mut conn = db.conn();
    vault.check_against(&mut conn).unwrap();
    let pool = Db::connect(&config).unwrap();
    Fixture {
        db,
        _keys: keys,
        config,
        pool,
        vault,
        conn,
    }
}

/// Whole seconds, so times survive PostgreSQL's microsecond precision unchanged.
fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc().replace_nanosecond(0).unwrap()
}

impl Fixture {
    /// Runs the one check `id` (from the registry, as `outpost scan --only` would) at `now`.
    fn run_at(&self, config: &Config, id: &str, now: OffsetDateTime) -> Vec<CheckRun> {
        let chosen: Vec<_> = checks::all().into_iter().filter(|c| c.id() == id).collect();
        assert_eq!(chosen.len(), 1, "{id} is registered once");
        let cx = Context {
            config,
            db: &self.pool,
            vault: &self.vault,
            now,
        };
        let runs = scan::run(&cx, &chosen);
        assert!(runs[0].error.is_none(), "{id} failed: {:?}", runs[0].error);
        runs
    }

    /// What check `id` finds at `now` with the fixture's configuration.
    fn found(&self, id: &str, now: OffsetDateTime) -> Vec<Found> {
        self.found_with(&self.config, id, now)
    }

    fn found_with(&self, config: &Config, id: &str, now: OffsetDateTime) -> Vec<Found> {
        self.run_at(config, id, now).remove(0).found
    }

    /// Runs check `id` at `now` and records the scan.
    fn scan(&mut self, id: &str, now: OffsetDateTime) -> Changes {
        let runs = self.run_at(&self.config, id, now);
        findings::record(&mut self.conn, &runs, "test", now, now).unwrap()
    }

    fn person(&mut self, email: &str, role: Role) -> User {
        let person = user::create(&mut self.conn, email, role).unwrap();
        // Active, as after setup: the hash is never checked here.
        user::set_password_hash(&mut self.conn, person.id, "$argon2id$unused").unwrap();
        user::find(&mut self.conn, person.id).unwrap().unwrap()
    }

    fn key(
        &mut self,
        creator: &User,
        capabilities: &[Capability],
        expires_at: Option<OffsetDateTime>,
    ) -> (ApiKey, String) {
        let new = NewKey {
            name: "deploy bot".into(),
            capabilities: capabilities.to_vec(),
            expires_at,
        };
        let (key, secret) = api_keys::create(&mut self.conn, creator, new).unwrap();
        canary::record(secret.expose());
        (key, secret.expose().to_owned())
    }

    fn enrol(&mut self, person: &User) {
        let enrolment =
            totp::begin_enrolment(&mut self.conn, &self.vault, person, "outpost.example.com")
                .unwrap();
        canary::record(enrolment.secret_base32.expose());
        let app = totp_rs::Totp::from_url(enrolment.otpauth_uri.expose()).unwrap();
        let at = totp::unix_now();
        let code = totp::code_at(app.secret().as_bytes(), at, 6);
        let codes =
            totp::confirm_enrolment(&mut self.conn, &self.vault, person.id, &code, at).unwrap();
        for code in &codes {
            canary::record(code.expose());
        }
    }
}

/// Subjects and severities, sorted, for exact comparison.
fn summary(found: &[Found]) -> Vec<(String, Severity)> {
    let mut all: Vec<_> = found
        .iter()
        .map(|f| (f.subject.clone(), f.severity))
        .collect();
    all.sort();
    all
}

fn pairs(expected: &[(String, Severity)]) -> Vec<(String, Severity)> {
    let mut expected = expected.to_vec();
    expected.sort();
    expected
}

#[test]
fn every_hygiene_check_is_registered() {
    let ids: Vec<_> = checks::all().iter().map(|c| c.id()).collect();
    for id in [
        "hygiene.session_policy",
        "hygiene.api_key_scope",
        "hygiene.dormant",
        "hygiene.stale_credentials",
        "hygiene.mfa",
        "hygiene.owners",
    ] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
}

#[test]
fn session_policy_flags_long_timeouts_and_sessions_outliving_them() {
    let mut f = fixture();
    let ada = f.person("ada@example.com", Role::Owner);
    let policy = SessionPolicy {
        idle_timeout: f.config.session.idle_timeout,
        absolute_timeout: f.config.session.absolute_timeout,
    };
    session::create(&mut f.conn, ada.id, &policy, &ClientInfo::default()).unwrap();
    let t0 = now();
    assert_eq!(
        f.found("hygiene.session_policy", t0),
        [],
        "default timeouts, a fresh session"
    );

    // Timeouts above the policy: one high finding per setting.
    let mut lax = f.config.clone();
    lax.session.idle_timeout = StdDuration::from_secs(45 * 60);
    lax.session.absolute_timeout = StdDuration::from_secs(48 * 3600);
    let found = f.found_with(&lax, "hygiene.session_policy", t0);
    assert_eq!(
        summary(&found),
        pairs(&[
            ("config:session.absolute_timeout".into(), Severity::High),
            ("config:session.idle_timeout".into(), Severity::High),
        ])
    );
    assert!(found[0].evidence.contains("the policy allows at most"));

    // A session opened two days ago that is still accepted (its row says so): critical.
    let id: Uuid = sessions::table
        .filter(sessions::user_id.eq(ada.id))
        .select(sessions::id)
        .first(&mut f.conn)
        .unwrap();
    f.db.execute(&format!(
        "UPDATE sessions SET created_at = now() - interval '2 days' WHERE id = '{id}'"
    ));
    let changes = f.scan("hygiene.session_policy", t0);
    let found = f.found("hygiene.session_policy", t0);
    assert_eq!(
        summary(&found),
        [(format!("session:{id}"), Severity::Critical)]
    );
    assert!(found[0].evidence.contains("ada@example.com"), "{found:?}");
    assert_eq!(changes.opened.len(), 1);

    // Ending the session resolves it.
    assert!(session::revoke_by_id(&mut f.conn, ada.id, id).unwrap());
    let changes = f.scan("hygiene.session_policy", t0 + Duration::minutes(1));
    assert_eq!(
        changes.resolved,
        [findings::fingerprint(
            "hygiene.session_policy",
            &format!("session:{id}")
        )]
    );
}

#[test]
fn api_key_scope_flags_wildcards_full_role_keys_and_keys_without_expiry() {
    let mut f = fixture();
    let owner = f.person("owner@example.com", Role::Owner);
    let dev = f.person("dev@example.com", Role::Developer);
    let t0 = now();
    let in_a_month = Some(t0 + 30 * DAY);

    // Good: scoped down and expiring.
    f.key(&dev, &[Capability::FindingsView], in_a_month);
    assert_eq!(f.found("hygiene.api_key_scope", t0), []);

    let (wildcard, wildcard_secret) = f.key(&owner, Capability::ALL, None);
    let (full_role, _) = f.key(&dev, &Role::Developer.capabilities(), in_a_month);
    // A revoked wildcard is no longer anyone's problem.
    let (revoked, _) = f.key(&owner, Capability::ALL, None);
    api_keys::revoke(&mut f.conn, owner.id, revoked.id, t0).unwrap();

    let found = f.found("hygiene.api_key_scope", t0);
    assert_eq!(
        summary(&found),
        pairs(&[
            (format!("api_key:{}:scope", wildcard.id), Severity::Medium),
            (format!("api_key:{}:expiry", wildcard.id), Severity::Low),
            (format!("api_key:{}:scope", full_role.id), Severity::Medium),
        ])
    );
    let wildcard_evidence = &found
        .iter()
        .find(|x| x.subject == format!("api_key:{}:scope", wildcard.id))
        .unwrap()
        .evidence;
    assert!(
        wildcard_evidence.contains("wildcard"),
        "{wildcard_evidence}"
    );
    assert!(wildcard_evidence.contains("owner@example.com"));
    for x in &found {
        assert!(!x.evidence.contains(&wildcard_secret), "{x:?}");
    }

    // Expired keys are out of scope too.
    assert_eq!(
        summary(&f.found("hygiene.api_key_scope", t0 + 31 * DAY)),
        pairs(&[
            (format!("api_key:{}:scope", wildcard.id), Severity::Medium),
            (format!("api_key:{}:expiry", wildcard.id), Severity::Low),
        ])
    );
}

#[test]
fn dormant_keys_and_accounts_are_reported_and_resolve_once_used() {
    let mut f = fixture();
    let dev = f.person("dev@example.com", Role::Developer);
    let t0 = now();
    let (key, secret) = f.key(&dev, &[Capability::FindingsView], None);
    assert_eq!(f.found("hygiene.dormant", t0 + 30 * DAY), [], "not yet");

    // Never used: dormant 90 days after creation.
    let later = t0 + 91 * DAY;
    let found = f.found("hygiene.dormant", later);
    assert_eq!(
        summary(&found),
        pairs(&[
            (format!("api_key:{}", key.id), Severity::Medium),
            (format!("user:{}", dev.id), Severity::Low),
        ])
    );
    assert!(found.iter().all(|x| !x.fixed), "reported only by default");
    assert!(found.iter().all(|x| !x.evidence.contains(&secret)));
    let changes = f.scan("hygiene.dormant", later);
    assert_eq!(changes.opened.len(), 2);

    // The key is used and the person signs in: both resolve.
    api_keys::authenticate(&mut f.conn, &secret, None, later)
        .unwrap()
        .expect("the key still works");
    let policy = SessionPolicy {
        idle_timeout: f.config.session.idle_timeout,
        absolute_timeout: f.config.session.absolute_timeout,
    };
    session::create(&mut f.conn, dev.id, &policy, &ClientInfo::default()).unwrap();
    f.db.execute(&format!(
        "UPDATE sessions SET last_seen_at = '{}' WHERE user_id = '{}'",
        later, dev.id
    ));
    let changes = f.scan("hygiene.dormant", later + DAY);
    let mut resolved = changes.resolved.clone();
    resolved.sort();
    let mut expected = vec![
        findings::fingerprint("hygiene.dormant", &format!("api_key:{}", key.id)),
        findings::fingerprint("hygiene.dormant", &format!("user:{}", dev.id)),
    ];
    expected.sort();
    assert_eq!(resolved, expected);
    assert_eq!(changes.still_open, 0);
}

#[test]
fn an_account_counts_as_used_by_its_sessions_and_its_sign_ins() {
    let mut f = fixture();
    let idle = f.person("idle@example.com", Role::Viewer);
    let browsing = f.person("browsing@example.com", Role::Viewer);
    let signed_in = f.person("signed-in@example.com", Role::Viewer);
    f.db.execute("UPDATE users SET created_at = now() - interval '100 days'");
    let policy = SessionPolicy {
        idle_timeout: f.config.session.idle_timeout,
        absolute_timeout: f.config.session.absolute_timeout,
    };
    session::create(&mut f.conn, browsing.id, &policy, &ClientInfo::default()).unwrap();
    // A sign-in whose session has long been purged is still on the record.
    outpost::audit::record(
        &mut f.conn,
        &outpost::audit::Event::new(
            outpost::audit::Actor::User(signed_in.id),
            "session.sign_in",
            outpost::audit::Outcome::Success,
        )
        .target(format!("user:{}", signed_in.id)),
    )
    .unwrap();
    assert_eq!(
        summary(&f.found("hygiene.dormant", now())),
        [(format!("user:{}", idle.id), Severity::Low)]
    );
}

#[test]
fn the_dormant_key_remedy_revokes_audits_and_is_recorded_as_auto_fixed() {
    let mut f = fixture();
    f.config.scan.revoke_dormant_keys = true;
    let dev = f.person("dev@example.com", Role::Developer);
    let t0 = now();
    let (key, secret) = f.key(&dev, &[Capability::FindingsView], None);
    let (busy, _) = f.key(&dev, &[Capability::AuditView], None);
    let later = t0 + 91 * DAY;
    f.db.execute(&format!(
        "UPDATE api_keys SET last_used_at = '{}' WHERE id = '{}'",
        later - DAY,
        busy.id
    ));
    // Accounts are only reported, never changed: keep this one out of the way.
    session::create(
        &mut f.conn,
        dev.id,
        &SessionPolicy {
            idle_timeout: f.config.session.idle_timeout,
            absolute_timeout: f.config.session.absolute_timeout,
        },
        &ClientInfo::default(),
    )
    .unwrap();
    f.db.execute(&format!("UPDATE sessions SET last_seen_at = '{later}'"));

    let runs = f.run_at(&f.config, "hygiene.dormant", later);
    let found = &runs[0].found;
    assert_eq!(
        summary(found),
        [(format!("api_key:{}", key.id), Severity::Medium)]
    );
    assert!(found[0].fixed);
    assert!(
        found[0].evidence.contains("revoked"),
        "{}",
        found[0].evidence
    );

    // Revoked through api_keys::revoke, audited as the system.
    let stored = api_keys::find(&mut f.conn, dev.id, key.id)
        .unwrap()
        .unwrap();
    assert_eq!(stored.revoked_at, Some(later));
    assert!(
        api_keys::authenticate(&mut f.conn, &secret, None, now())
            .unwrap()
            .is_none()
    );
    assert!(
        api_keys::find(&mut f.conn, dev.id, busy.id)
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none(),
        "a key in use stays"
    );
    let audited: Vec<(String, Option<String>)> = audit_events::table
        .filter(audit_events::action.eq("api_key.revoked"))
        .select((audit_events::actor, audit_events::target))
        .load(&mut f.conn)
        .unwrap();
    assert_eq!(
        audited,
        [("system".to_owned(), Some(format!("api_key:{}", key.id)))]
    );

    // Recorded: opened, and at once resolved as auto-fixed.
    let fp = findings::fingerprint("hygiene.dormant", &format!("api_key:{}", key.id));
    let changes = findings::record(&mut f.conn, &runs, "test", later, later).unwrap();
    assert_eq!(changes.opened, std::slice::from_ref(&fp));
    assert_eq!(changes.auto_fixed, std::slice::from_ref(&fp));
    assert_eq!(changes.still_open, 0);
    let (resolved_at, auto_fixed): (Option<OffsetDateTime>, bool) = findings_table::table
        .find(&fp)
        .select((findings_table::resolved_at, findings_table::auto_fixed))
        .first(&mut f.conn)
        .unwrap();
    assert_eq!((resolved_at, auto_fixed), (Some(later), true));
    assert!(findings::open(&mut f.conn).unwrap().is_empty());

    // The next scan has nothing left to say about it.
    let changes = f.scan("hygiene.dormant", later + DAY);
    assert!(changes.opened.is_empty() && changes.resolved.is_empty());
    assert!(changes.auto_fixed.is_empty());
}

#[test]
fn stale_credentials_are_medium_when_due_and_high_when_expired() {
    let mut f = fixture();
    let owner = f.person("owner@example.com", Role::Owner);
    let t0 = now();
    let mut store = |name: &str, value: &str, expires_at, rotate_every_days| {
        credentials::create(
            &mut f.conn,
            &f.vault,
            &owner,
            NewCredential {
                name: name.into(),
                kind: Kind::ApiKey,
                value: SecretString::new(value),
                description: None,
                expires_at,
                rotate_every_days,
            },
            &ClientInfo::default(),
        )
        .unwrap()
    };
    let rotated = store("database password", "s3cr3t-rotated-value", None, Some(30));
    let expiring = store(
        "partner token",
        "s3cr3t-expiring-value",
        Some(t0 + 20 * DAY),
        None,
    );
    store("forever", "s3cr3t-fine-value", None, None);
    assert_eq!(f.found("hygiene.stale_credentials", t0), [], "all fresh");

    let found = f.found("hygiene.stale_credentials", t0 + 31 * DAY);
    assert_eq!(
        summary(&found),
        pairs(&[
            (format!("credential:{}", rotated.id), Severity::Medium),
            (format!("credential:{}", expiring.id), Severity::High),
        ])
    );
    for x in &found {
        assert!(!x.evidence.contains("s3cr3t"), "{x:?}");
        assert!(x.evidence.contains('"'), "names the credential: {x:?}");
    }
}

#[test]
fn mfa_flags_privileged_and_policy_covered_accounts_without_a_confirmed_authenticator() {
    let mut f = fixture();
    let owner = f.person("owner@example.com", Role::Owner);
    let admin = f.person("admin@example.com", Role::Admin);
    let dev = f.person("dev@example.com", Role::Developer);
    // Invited but never set up: cannot sign in yet, so not a sign-in without MFA.
    user::create(&mut f.conn, "pending@example.com", Role::Admin).unwrap();
    f.enrol(&owner);
    let t0 = now();

    let changes = f.scan("hygiene.mfa", t0);
    assert_eq!(changes.opened.len(), 1);
    let found = f.found("hygiene.mfa", t0);
    assert_eq!(
        summary(&found),
        [(format!("user:{}", admin.id), Severity::High)]
    );
    assert!(found[0].evidence.contains("admin@example.com"));

    // The policy widened to Developers covers them too.
    policy::set_mfa_required_roles(
        &mut f.conn,
        &[Role::Owner, Role::Admin, Role::Developer],
        owner.id,
    )
    .unwrap();
    assert_eq!(
        summary(&f.found("hygiene.mfa", t0)),
        pairs(&[
            (format!("user:{}", admin.id), Severity::High),
            (format!("user:{}", dev.id), Severity::High),
        ])
    );
    // A policy narrowed to nothing still covers Owners and Admins.
    policy::set_mfa_required_roles(&mut f.conn, &[], owner.id).unwrap();
    assert_eq!(
        summary(&f.found("hygiene.mfa", t0)),
        [(format!("user:{}", admin.id), Severity::High)]
    );

    // The Admin enrols: resolved.
    f.enrol(&admin);
    let changes = f.scan("hygiene.mfa", t0 + Duration::minutes(1));
    assert_eq!(
        changes.resolved,
        [findings::fingerprint(
            "hygiene.mfa",
            &format!("user:{}", admin.id)
        )]
    );
}

#[test]
fn owners_beyond_the_maximum_are_one_finding() {
    let mut f = fixture();
    f.person("a@example.com", Role::Owner);
    f.person("b@example.com", Role::Owner);
    f.person("dev@example.com", Role::Developer);
    let t0 = now();
    assert_eq!(
        f.found("hygiene.owners", t0),
        [],
        "two is the default maximum"
    );

    let third = f.person("c@example.com", Role::Owner);
    let found = f.found("hygiene.owners", t0);
    assert_eq!(summary(&found), [("owners".to_owned(), Severity::Medium)]);
    assert!(
        found[0].evidence.contains("3 Owners"),
        "{}",
        found[0].evidence
    );
    assert!(found[0].evidence.contains("c@example.com"));
    f.scan("hygiene.owners", t0);

    // One steps down: resolved.
    f.db.execute(&format!(
        "UPDATE users SET role = 'admin' WHERE id = '{}'",
        third.id
    ));
    let changes = f.scan("hygiene.owners", t0 + Duration::minutes(1));
    assert_eq!(
        changes.resolved,
        [findings::fingerprint("hygiene.owners", "owners")]
    );
}
