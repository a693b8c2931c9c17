//! The vault against a real database: envelope sealing, wrap counting, online KEK
//! rotation while another process (the server) keeps reading and writing, retirement,
//! and refusing keyrings that are not this database's.

use diesel::prelude::*;
use diesel::sql_types::{Text, Uuid as SqlUuid};
use outpost::audit::Actor;
use outpost::vault::keyring::{KeySource, Keyring};
use outpost::vault::location::CREDENTIAL_VALUE;
use outpost::vault::rotation::{self, Progress};
use outpost::vault::{Vault, VaultError, ledger};
use uuid::Uuid;

use crate::support::canary;
use crate::support::pg::TestDb;

struct Fixture {
    db: TestDb,
    conn: PgConnection,
    _dir: tempfile::TempDir,
    source: KeySource,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.keyring");
    Keyring::generate().create_file(&path).unwrap();
    let db = TestDb::new();
    Fixture {
        conn: db.conn(),
        db,
        _dir: dir,
        source: KeySource::File(path),
    }
}

impl Fixture {
    /// Another process's view of the same keyring (the server, while a CLI rotates).
    fn vault(&self) -> Vault {
        Vault::load(self.source.clone()).unwrap()
    }

    /// Stores `n` credentials sealed by `vault`; returns their ids and plaintexts.
    fn store(&mut self, vault: &Vault, n: usize) -> Vec<(Uuid, String)> {
        (0..n)
            .map(|i| {
                let id = Uuid::new_v4();
                let value = canary::secret("sk-canary");
                self.conn
                    .transaction(|conn| {
                        let sealed =
                            vault.seal(conn, &CREDENTIAL_VALUE.at(id), value.as_bytes())?;
                        insert(conn, id, &format!("credential {i}"), &sealed)?;
                        Ok::<_, VaultError>(())
                    })
                    .unwrap();
                (id, value)
            })
            .collect()
    }
}

fn insert(conn: &mut PgConnection, id: Uuid, name: &str, sealed: &str) -> QueryResult<usize> {
    diesel::sql_query(
        "INSERT INTO stored_credentials (id, name, kind, value_sealed) VALUES ($1, $2, 'api_key', $3)",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<Text, _>(name)
    .bind::<Text, _>(sealed)
    .execute(conn)
}

#[derive(QueryableByName)]
struct Stored {
    #[diesel(sql_type = Text)]
    value_sealed: String,
}

fn sealed(conn: &mut PgConnection, id: Uuid) -> String {
    diesel::sql_query("SELECT value_sealed FROM stored_credentials WHERE id = $1")
        .bind::<SqlUuid, _>(id)
        .get_result::<Stored>(conn)
        .unwrap()
        .value_sealed
}

fn open(conn: &mut PgConnection, vault: &Vault, id: Uuid) -> Result<String, VaultError> {
    let text = sealed(conn, id);
    vault
        .open(&CREDENTIAL_VALUE.at(id), &text)
        .map(|plain| String::from_utf8(plain.to_vec()).unwrap())
}

fn kek_of(conn: &mut PgConnection, id: Uuid) -> u32 {
    outpost::vault::envelope::Sealed::parse(&sealed(conn, id))
        .unwrap()
        .kek_id()
}

fn record(conn: &mut PgConnection, id: i32) -> ledger::KekRecord {
    ledger::records(conn)
        .unwrap()
        .into_iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("no ledger row for KEK {id}"))
}

#[derive(QueryableByName)]
struct Action {
    #[diesel(sql_type = Text)]
    action: String,
}

fn audited_actions(conn: &mut PgConnection) -> Vec<String> {
    diesel::sql_query("SELECT action FROM audit_events ORDER BY id")
        .load::<Action>(conn)
        .unwrap()
        .into_iter()
        .map(|a| a.action)
        .collect()
}

#[test]
fn values_round_trip_and_each_wrap_is_counted() {
    let mut f = fixture();
    let vault = f.vault();
    let stored = f.store(&vault, 3);
    for (id, value) in &stored {
        assert!(sealed(&mut f.conn, *id).starts_with("v2:aes256gcm:k1:"));
        assert!(!sealed(&mut f.conn, *id).contains(value.as_str()));
        assert_eq!(&open(&mut f.conn, &vault, *id).unwrap(), value);
    }
    assert_eq!(record(&mut f.conn, 1).wraps, 3);
}

#[test]
fn a_value_moved_to_another_row_or_tampered_with_does_not_open() {
    let mut f = fixture();
    let vault = f.vault();
    let stored = f.store(&vault, 2);
    let (a, b) = (stored[0].0, stored[1].0);
    f.db.execute(&format!(
        "UPDATE stored_credentials SET value_sealed = (SELECT value_sealed FROM stored_credentials WHERE id = '{a}') WHERE id = '{b}'"
    ));
    assert!(matches!(
        open(&mut f.conn, &vault, b),
        Err(VaultError::Tampered)
    ));

    // One flipped character in the value's ciphertext.
    let text = sealed(&mut f.conn, a);
    let flip = text.len() - 6;
    let swapped = if &text[flip..=flip] == "A" { "B" } else { "A" };
    let tampered = format!("{}{swapped}{}", &text[..flip], &text[flip + 1..]);
    f.db.execute(&format!(
        "UPDATE stored_credentials SET value_sealed = '{tampered}' WHERE id = '{a}'"
    ));
    assert!(matches!(
        open(&mut f.conn, &vault, a),
        Err(VaultError::Tampered)
    ));
}

#[test]
fn rotation_rewraps_everything_while_old_values_keep_opening() {
    let mut f = fixture();
    let cli = f.vault();
    let server = f.vault();
    let stored = f.store(&server, 250);

    let new = rotation::add_kek(&cli, &mut f.conn, Actor::Cli).unwrap();
    assert_eq!(new, 2);
    // Halfway through, the server (which has not re-read the keyring yet) still opens
    // every value: the ones under KEK 1 and the ones already under KEK 2.
    let mut probe = f.db.conn();
    let mut checked_midway = false;
    let report = rotation::rewrap_all(&cli, &mut f.conn, Actor::Cli, 50, &mut |p: Progress| {
        if p.done == 100 {
            let keks: Vec<u32> = stored
                .iter()
                .map(|(id, _)| kek_of(&mut probe, *id))
                .collect();
            assert!(keks.contains(&1) && keks.contains(&2), "{keks:?}");
            for (id, value) in &stored {
                assert_eq!(&open(&mut probe, &server, *id).unwrap(), value);
            }
            checked_midway = true;
        }
    })
    .unwrap();
    assert!(checked_midway);
    assert_eq!(report.kek, 2);
    assert_eq!(report.rewrapped, 250);
    assert_eq!(report.retired, vec![1]);
    assert!(report.unreadable.is_empty());

    for (id, value) in &stored {
        assert_eq!(kek_of(&mut f.conn, *id), 2);
        assert_eq!(&open(&mut f.conn, &server, *id).unwrap(), value);
    }
    // KEK 1 is gone from the file, and the ledger says why.
    let ring = Keyring::load(&f.source).unwrap();
    assert!(ring.get(1).is_none());
    assert_eq!(ring.primary().id, 2);
    assert!(record(&mut f.conn, 1).retired_at.is_some());
    assert_eq!(record(&mut f.conn, 1).wraps, 250);
    assert_eq!(record(&mut f.conn, 2).wraps, 250);

    let actions = audited_actions(&mut f.conn);
    assert!(
        actions.iter().any(|a| a == "vault.kek_added"),
        "{actions:?}"
    );
    assert!(
        actions.iter().any(|a| a == "vault.rewrapped"),
        "{actions:?}"
    );
}

#[test]
fn a_server_that_has_not_read_the_new_kek_catches_up_before_sealing() {
    let mut f = fixture();
    let cli = f.vault();
    let server = f.vault();
    rotation::add_kek(&cli, &mut f.conn, Actor::Cli).unwrap();
    assert_eq!(server.keyring().primary().id, 1);
    let stored = f.store(&server, 1);
    assert_eq!(kek_of(&mut f.conn, stored[0].0), 2);
    assert_eq!(server.keyring().primary().id, 2);
}

#[test]
fn a_kek_some_value_still_needs_is_not_retired() {
    let mut f = fixture();
    let cli = f.vault();
    let stored = f.store(&cli, 3);
    // A corrupt value under KEK 1 cannot be rewrapped, so KEK 1 must stay.
    let broken = stored[0].0;
    let text = sealed(&mut f.conn, broken);
    let mut parts: Vec<String> = text.split(':').map(str::to_owned).collect();
    parts[3] = format!(
        "{}{}",
        if parts[3].starts_with('A') { "B" } else { "A" },
        &parts[3][1..]
    );
    let corrupt = parts.join(":");
    f.db.execute(&format!(
        "UPDATE stored_credentials SET value_sealed = '{corrupt}' WHERE id = '{broken}'"
    ));
    rotation::add_kek(&cli, &mut f.conn, Actor::Cli).unwrap();
    let report = rotation::rewrap_all(&cli, &mut f.conn, Actor::Cli, 10, &mut |_| {}).unwrap();
    assert_eq!(report.rewrapped, 2);
    assert_eq!(
        report.unreadable,
        vec![CREDENTIAL_VALUE.at(broken).to_string()]
    );
    assert!(report.retired.is_empty());
    assert!(Keyring::load(&f.source).unwrap().get(1).is_some());
    assert!(record(&mut f.conn, 1).retired_at.is_none());
}

#[test]
fn a_keyring_that_is_not_this_databases_is_refused() {
    let mut f = fixture();
    let ours = f.vault();
    f.store(&ours, 1);
    let stranger = Vault::ephemeral();
    assert!(matches!(
        stranger.check_against(&mut f.conn),
        Err(VaultError::ForeignKek(1))
    ));
    let err = f
        .conn
        .transaction(|conn| stranger.seal(conn, &CREDENTIAL_VALUE.at(Uuid::new_v4()), b"x"))
        .unwrap_err();
    assert!(matches!(err, VaultError::ForeignKek(1)), "{err}");
    assert!(ours.check_against(&mut f.conn).is_ok());
}

#[test]
fn a_kek_at_the_aes_gcm_limit_refuses_to_wrap_more() {
    let mut f = fixture();
    let vault = f.vault();
    f.store(&vault, 1);
    f.db.execute(&format!(
        "SELECT setval('vault_wraps_k1', {})",
        ledger::WRAP_LIMIT
    ));
    let err = f
        .conn
        .transaction(|conn| vault.seal(conn, &CREDENTIAL_VALUE.at(Uuid::new_v4()), b"x"))
        .unwrap_err();
    assert!(matches!(err, VaultError::Exhausted(1)), "{err}");
    assert!(err.to_string().contains("outpost keys rotate"));
}

#[test]
fn keys_rotate_and_status_from_the_command_line() {
    use crate::cli::{outpost, stderr, stdout};
    use std::os::unix::fs::PermissionsExt;

    let mut f = fixture();
    let keyring = f.source.path().to_str().unwrap().to_owned();
    let env = [
        ("OUTPOST_DATABASE_URL", f.db.url.clone()),
        ("OUTPOST_VAULT_KEY_FILE", keyring.clone()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let stored = f.store(&f.vault(), 5);

    let rotated = outpost(&env, &["keys", "rotate"]);
    assert!(rotated.status.success(), "{}", stderr(&rotated));
    let said = stdout(&rotated);
    assert!(said.contains("rewrapped 5 values under KEK 2"), "{said}");
    assert!(said.contains("retired KEK 1"), "{said}");
    let server = f.vault();
    for (id, value) in &stored {
        assert_eq!(&open(&mut f.conn, &server, *id).unwrap(), value);
    }

    let status = outpost(&env, &["keys", "status"]);
    assert!(status.status.success(), "{}", stderr(&status));
    let table = stdout(&status);
    assert!(
        table
            .lines()
            .any(|l| l.trim_start().starts_with("1 ") && l.ends_with("retired")),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.trim_start().starts_with("2 ") && l.ends_with("primary")),
        "{table}"
    );
    assert!(table.contains("rotation of KEK 2 due"), "{table}");

    // Under systemd the keyring arrives as a credential: it is read from there (its
    // mode is systemd's business), and it cannot be rotated in place.
    let credentials = tempfile::tempdir().unwrap();
    let credential = credentials.path().join("vault-keyring");
    std::fs::copy(&keyring, &credential).unwrap();
    std::fs::set_permissions(&credential, std::fs::Permissions::from_mode(0o440)).unwrap();
    let via_systemd = [
        ("OUTPOST_DATABASE_URL", f.db.url.as_str()),
        ("OUTPOST_VAULT_KEY_FILE", "/nonexistent/vault.keyring"),
        (
            "CREDENTIALS_DIRECTORY",
            credentials.path().to_str().unwrap(),
        ),
    ];
    let status = outpost(&via_systemd, &["keys", "status"]);
    assert!(status.status.success(), "{}", stderr(&status));
    let refused = outpost(&via_systemd, &["keys", "rotate"]);
    assert_eq!(refused.status.code(), Some(1));
    let err = stderr(&refused);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("read-only"), "{err}");
}

#[test]
fn rotation_is_due_by_age_or_by_use_and_reminded_weekly() {
    use outpost::vault::reminder;
    use std::time::Duration;
    use time::OffsetDateTime;

    let mut f = fixture();
    let vault = f.vault();
    f.store(&vault, 1);
    let ring = vault.keyring();
    let ninety_days = Duration::from_secs(90 * 86_400);
    let now = OffsetDateTime::now_utc();
    assert_eq!(
        reminder::due(&mut f.conn, &ring, ninety_days, now).unwrap(),
        None
    );

    let later = now + time::Duration::days(91);
    let due = reminder::due(&mut f.conn, &ring, ninety_days, later)
        .unwrap()
        .unwrap();
    assert_eq!((due.kek, due.age_days), (1, 91));
    assert!(due.reasons[0].contains("91 days old"), "{:?}", due.reasons);

    f.db.execute(&format!(
        "SELECT setval('vault_wraps_k1', {})",
        ledger::WRAP_LIMIT / 2
    ));
    let due = reminder::due(&mut f.conn, &ring, ninety_days, now)
        .unwrap()
        .unwrap();
    assert!(
        due.reasons[0].contains("half the 2^32"),
        "{:?}",
        due.reasons
    );

    // Audited once, then quiet for a week, then again.
    assert!(
        reminder::remind(&mut f.conn, &ring, ninety_days, now)
            .unwrap()
            .is_some()
    );
    assert!(
        reminder::remind(
            &mut f.conn,
            &ring,
            ninety_days,
            now + time::Duration::days(6)
        )
        .unwrap()
        .is_none()
    );
    assert!(
        reminder::remind(
            &mut f.conn,
            &ring,
            ninety_days,
            now + time::Duration::days(8)
        )
        .unwrap()
        .is_some()
    );
    let reminders = audited_actions(&mut f.conn)
        .iter()
        .filter(|a| *a == "vault.rotation_due")
        .count();
    assert_eq!(reminders, 2);
}

/// The server keeps working through a rotation run beside it: its owner's TOTP key,
/// rewrapped under a KEK the server has never seen, still signs them in.
#[tokio::test]
async fn a_running_server_keeps_signing_people_in_through_a_rotation() {
    use crate::support::app::{PASSWORD, TestApp};

    let app = TestApp::start().await;
    let owner = app.owner("ada@example.com").await;
    let device = owner.device.as_ref().unwrap();

    let cli = Vault::load(app.keyring.clone()).unwrap();
    let mut conn = app.db.conn();
    rotation::add_kek(&cli, &mut conn, Actor::Cli).unwrap();
    let report = rotation::rewrap_all(&cli, &mut conn, Actor::Cli, 10, &mut |_| {}).unwrap();
    assert_eq!((report.rewrapped, report.retired.clone()), (1, vec![1]));

    let browser = app.browser();
    let challenged = browser.sign_in("ada@example.com", PASSWORD).await;
    assert_eq!(challenged.headers()["location"], "/login/mfa");
    let code = device.fresh(&app.db);
    let done = browser
        .submit("/login/mfa", "/login/mfa", &[("code", code.as_str())])
        .await;
    assert_eq!(
        done.headers()["location"],
        "/",
        "the rewrapped TOTP key opened"
    );
}

/// The daily check of `serve`: a due rotation is emailed to every Owner, once a week.
#[tokio::test]
async fn owners_are_emailed_when_the_vault_key_is_due_for_rotation() {
    use crate::support::app::TestApp;
    use outpost::identity::session::SessionPolicy;
    use outpost::identity::throttle::ThrottlePolicy;
    use outpost::notify::Mailer;
    use outpost::scheduler::Periodic;
    use std::sync::Arc;
    use std::time::Duration;

    let app = TestApp::start().await;
    let owner = app.owner("ada@example.com").await;
    let dir = tempfile::tempdir().unwrap();
    let signing_key = dir.path().join("audit-signing.key");
    outpost::audit::checkpoint::write_signer(&signing_key, "test/audit").unwrap();
    let config = &app.config;
    let periodic = Arc::new(Periodic {
        db: outpost::db::Db::connect(config).unwrap(),
        signer: outpost::audit::checkpoint::load_signer(&signing_key).unwrap(),
        origin: "test/audit".into(),
        checkpoint_file: dir.path().join("checkpoints.log"),
        stream_file: None,
        sessions: SessionPolicy {
            idle_timeout: config.session.idle_timeout,
            absolute_timeout: config.session.absolute_timeout,
        },
        throttle: ThrottlePolicy::from(&config.login),
        vault: Arc::new(Vault::load(app.keyring.clone()).unwrap()),
        // Any age is too old: due at once.
        vault_rotation_interval: Duration::ZERO,
        mailer: Arc::new(Mailer::from_config(&config.smtp).unwrap()),
        server_name: config.server_name.clone(),
        config: Arc::new(config.clone()),
        api_traffic: Arc::default(),
        jobs: Arc::new(outpost::scheduler::registry::JobRegistry::new(
            outpost::scheduler::planned(config),
            Arc::default(),
        )),
    });
    periodic.remind_key_rotation().await;
    periodic.remind_key_rotation().await;
    let mail = app.mail.wait_for(1, Duration::from_secs(10));
    assert_eq!(mail.len(), 1, "reminded once, not at every check");
    assert_eq!(mail[0].to, vec![owner.email.clone()]);
    assert!(
        mail[0].data.contains("outpost keys rotate"),
        "{}",
        mail[0].data
    );
    assert!(
        mail[0].data.contains("rotation every 0 days"),
        "{}",
        mail[0].data
    );
}
