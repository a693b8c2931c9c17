//! TOTP enrolment and verification, and recovery codes, against a real PostgreSQL.

use std::collections::HashSet;
use std::sync::{Arc, Barrier};

use base64::Engine;
use diesel::prelude::*;
use outpost::db::schema::{recovery_codes as codes_table, totp_credentials};
use outpost::identity::totp::{self, Enrolment, TotpError};
use outpost::identity::{Role, User, recovery_codes, user};
use outpost::secret::SecretString;
use outpost::vault::{Vault, VaultError};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::support::canary;
use crate::support::pg::TestDb;

/// A fixed clock: the tests choose the time rather than race the real one.
const T0: u64 = 1_800_000_000;
const STEP: u64 = 30;

struct Fixture {
    // Declared before `db`, so connections close before the database is dropped.
    conn: PgConnection,
    vault: Vault,
    db: TestDb,
}

fn fixture() -> Fixture {
    let db = TestDb::new();
    Fixture {
        conn: db.conn(),
        vault: Vault::ephemeral(),
        db,
    }
}

impl Fixture {
    fn user(&mut self, email: &str) -> User {
        user::create(&mut self.conn, email, Role::Admin).unwrap()
    }

    fn begin(&mut self, user: &User) -> Enrolment {
        totp::begin_enrolment(&mut self.conn, &self.vault, user, "outpost.example.com").unwrap()
    }

    /// Begins and confirms enrolment at `T0`, returning the app's view and the codes.
    fn enrol(&mut self, user: &User) -> (Authenticator, Vec<SecretString>) {
        let app = Authenticator::scan(&self.begin(user));
        let codes =
            totp::confirm_enrolment(&mut self.conn, &self.vault, user.id, &app.code(T0), T0)
                .unwrap();
        for code in &codes {
            canary::record(code.expose());
        }
        (app, codes)
    }

    fn verify(&mut self, user: &User, code: &str, at: u64) -> Result<(), TotpError> {
        totp::verify(&mut self.conn, &self.vault, user.id, code, at)
    }

    fn stored(&mut self, user: &User) -> Option<(String, Option<OffsetDateTime>, Option<i64>)> {
        totp_credentials::table
            .find(user.id)
            .select((
                totp_credentials::secret_sealed,
                totp_credentials::confirmed_at,
                totp_credentials::last_step,
            ))
            .first(&mut self.conn)
            .optional()
            .unwrap()
    }

    fn code_rows(&mut self, user: &User) -> Vec<Vec<u8>> {
        codes_table::table
            .filter(codes_table::user_id.eq(user.id))
            .select(codes_table::code_hash)
            .load(&mut self.conn)
            .unwrap()
    }
}

/// What an authenticator app knows after scanning the QR code: only the otpauth URI.
struct Authenticator {
    secret: Vec<u8>,
}

impl Authenticator {
    fn scan(enrolment: &Enrolment) -> Self {
        let parsed = totp_rs::Totp::from_url(enrolment.otpauth_uri.expose()).unwrap();
        assert_eq!(parsed.account_name(), parsed.account_name().trim());
        assert_eq!(parsed.issuer(), Some("outpost.example.com"));
        assert_eq!(
            parsed.secret().to_base32(),
            enrolment.secret_base32.expose()
        );
        canary::record(enrolment.secret_base32.expose());
        Self {
            secret: parsed.secret().as_bytes().to_vec(),
        }
    }

    fn code(&self, at: u64) -> String {
        totp::code_at(&self.secret, at, 6)
    }
}

#[test]
fn enrolment_is_confirmed_by_a_valid_code_then_codes_verify() {
    let mut f = fixture();
    let ada = f.user("ada@example.com");
    let enrolment = f.begin(&ada);
    assert!(
        enrolment
            .otpauth_uri
            .expose()
            .starts_with("otpauth://totp/outpost.example.com:ada%40example.com?secret=")
    );
    assert!(enrolment.qr_svg.contains("<svg") && !enrolment.qr_svg.contains("style"));
    let app = Authenticator::scan(&enrolment);

    // Until confirmed, the credential does not count and cannot be used.
    assert!(!totp::is_enrolled(&mut f.conn, ada.id).unwrap());
    assert!(matches!(
        f.verify(&ada, &app.code(T0), T0),
        Err(TotpError::NotEnrolled)
    ));

    let codes = totp::confirm_enrolment(&mut f.conn, &f.vault, ada.id, &app.code(T0), T0).unwrap();
    assert_eq!(codes.len(), 10);
    assert!(totp::is_enrolled(&mut f.conn, ada.id).unwrap());
    let (_, confirmed_at, last_step) = f.stored(&ada).unwrap();
    assert!(confirmed_at.is_some());
    assert_eq!(last_step, Some((T0 / STEP) as i64));

    // The confirming code is spent; the next step's code works, with clock drift either way.
    assert!(matches!(
        f.verify(&ada, &app.code(T0), T0),
        Err(TotpError::Reused)
    ));
    f.verify(&ada, &app.code(T0 + STEP), T0 + STEP).unwrap();
    f.verify(&ada, &app.code(T0 + 3 * STEP), T0 + 2 * STEP)
        .unwrap();
    f.verify(&ada, &app.code(T0 + 4 * STEP), T0 + 5 * STEP)
        .unwrap();
    assert_eq!(f.stored(&ada).unwrap().2, Some((T0 / STEP + 4) as i64));

    assert!(matches!(
        f.verify(&ada, "000000", T0 + 6 * STEP),
        Err(TotpError::InvalidCode)
    ));
    // Two steps away is too far.
    assert!(matches!(
        f.verify(&ada, &app.code(T0 + 8 * STEP), T0 + 6 * STEP),
        Err(TotpError::InvalidCode)
    ));
    // Spaces, as apps display codes, are fine.
    let code = app.code(T0 + 6 * STEP);
    f.verify(
        &ada,
        &format!("{} {}", &code[..3], &code[3..]),
        T0 + 6 * STEP,
    )
    .unwrap();
}

#[test]
fn a_wrong_code_leaves_enrolment_unconfirmed() {
    let mut f = fixture();
    let ada = f.user("ada@example.com");
    let app = Authenticator::scan(&f.begin(&ada));
    let wrong = format!(
        "{:06}",
        (app.code(T0).parse::<u32>().unwrap() + 1) % 1_000_000
    );
    assert!(matches!(
        totp::confirm_enrolment(&mut f.conn, &f.vault, ada.id, &wrong, T0),
        Err(TotpError::InvalidCode)
    ));
    let (_, confirmed_at, last_step) = f.stored(&ada).unwrap();
    assert_eq!((confirmed_at, last_step), (None, None));
    assert!(!totp::is_enrolled(&mut f.conn, ada.id).unwrap());
    assert!(f.code_rows(&ada).is_empty(), "no recovery codes yet");
    // A code from long ago is no good either.
    assert!(matches!(
        totp::confirm_enrolment(&mut f.conn, &f.vault, ada.id, &app.code(T0 - 300), T0),
        Err(TotpError::InvalidCode)
    ));

    // The right one still confirms.
    totp::confirm_enrolment(&mut f.conn, &f.vault, ada.id, &app.code(T0), T0).unwrap();
    assert!(totp::is_enrolled(&mut f.conn, ada.id).unwrap());
}

#[test]
fn restarting_enrolment_replaces_the_unconfirmed_secret() {
    let mut f = fixture();
    let ada = f.user("ada@example.com");
    let first = Authenticator::scan(&f.begin(&ada));
    let second = Authenticator::scan(&f.begin(&ada));
    assert_ne!(first.secret, second.secret);
    assert!(matches!(
        totp::confirm_enrolment(&mut f.conn, &f.vault, ada.id, &first.code(T0), T0),
        Err(TotpError::InvalidCode)
    ));
    totp::confirm_enrolment(&mut f.conn, &f.vault, ada.id, &second.code(T0), T0).unwrap();
}

#[test]
fn the_secret_is_stored_sealed_to_its_user() {
    let mut f = fixture();
    let ada = f.user("ada@example.com");
    let bob = f.user("bob@example.com");
    let enrolment = f.begin(&ada);
    let app = Authenticator::scan(&enrolment);
    let (sealed, _, _) = f.stored(&ada).unwrap();

    let base32 = enrolment.secret_base32.expose();
    let hex: String = app.secret.iter().map(|b| format!("{b:02x}")).collect();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&app.secret);
    assert!(sealed.starts_with("v2:aes256gcm:k1:"), "{sealed}");
    for plain in [base32, base32.to_lowercase().as_str(), &hex, &b64] {
        assert!(!sealed.contains(plain), "{sealed} holds {plain}");
    }
    assert!(!sealed.as_bytes().windows(20).any(|w| w == app.secret));

    let context = |u: &User| outpost::vault::location::TOTP_SECRET.at(u.id);
    assert_eq!(
        &*f.vault.open(&context(&ada), &sealed).unwrap(),
        &app.secret[..]
    );
    assert!(matches!(
        f.vault.open(&context(&bob), &sealed),
        Err(VaultError::Tampered)
    ));
    assert!(matches!(
        Vault::ephemeral().open(&context(&ada), &sealed),
        Err(VaultError::Tampered)
    ));

    // Copied into another user's row, the sealed secret does not open.
    f.enrol(&ada);
    f.enrol(&bob);
    let (ada_sealed, _, _) = f.stored(&ada).unwrap();
    diesel::update(totp_credentials::table.find(bob.id))
        .set(totp_credentials::secret_sealed.eq(&ada_sealed))
        .execute(&mut f.conn)
        .unwrap();
    let ada_app_code = totp::code_at(
        &f.vault.open(&context(&ada), &ada_sealed).unwrap(),
        T0 + STEP,
        6,
    );
    assert!(matches!(
        f.verify(&bob, &ada_app_code, T0 + STEP),
        Err(TotpError::Vault(VaultError::Tampered))
    ));
}

#[test]
fn a_code_and_every_older_one_work_at_most_once() {
    let mut f = fixture();
    let ada = f.user("ada@example.com");
    let (app, _) = f.enrol(&ada);

    let now = T0 + 10 * STEP;
    f.verify(&ada, &app.code(now), now).unwrap();
    assert!(matches!(
        f.verify(&ada, &app.code(now), now),
        Err(TotpError::Reused)
    ));
    // Still within the drift window, but older than the accepted step.
    assert!(matches!(
        f.verify(&ada, &app.code(now - STEP), now),
        Err(TotpError::Reused)
    ));

    // A newer step's code accepted early shuts out the current one.
    f.verify(&ada, &app.code(now + 2 * STEP), now + STEP)
        .unwrap();
    assert!(matches!(
        f.verify(&ada, &app.code(now + STEP), now + STEP),
        Err(TotpError::Reused)
    ));
    assert_eq!(
        f.stored(&ada).unwrap().2,
        Some(((now + 2 * STEP) / STEP) as i64)
    );
}

#[test]
fn concurrent_uses_of_one_code_admit_exactly_one() {
    let mut f = fixture();
    let ada = f.user("ada@example.com");
    let (app, _) = f.enrol(&ada);
    let now = T0 + STEP;
    let code = app.code(now);
    let vault = Arc::new(f.vault);
    let barrier = Arc::new(Barrier::new(8));
    let results: Vec<Result<(), TotpError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let (vault, barrier, code) = (vault.clone(), barrier.clone(), code.clone());
                let mut conn = f.db.conn();
                s.spawn(move || {
                    barrier.wait();
                    totp::verify(&mut conn, &vault, ada.id, &code, now)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(()) | Err(TotpError::Reused)))
    );
}

#[test]
fn nothing_verifies_without_a_confirmed_credential() {
    let mut f = fixture();
    let ada = f.user("ada@example.com");
    assert!(!totp::is_enrolled(&mut f.conn, ada.id).unwrap());
    assert!(matches!(
        f.verify(&ada, "123456", T0),
        Err(TotpError::NotEnrolled)
    ));
    assert!(matches!(
        totp::confirm_enrolment(&mut f.conn, &f.vault, ada.id, "123456", T0),
        Err(TotpError::NotEnrolled)
    ));
}

#[test]
fn an_enrolled_user_cannot_begin_or_confirm_again() {
    let mut f = fixture();
    let ada = f.user("ada@example.com");
    let (app, _) = f.enrol(&ada);
    let before = f.stored(&ada).unwrap();
    assert!(matches!(
        totp::begin_enrolment(&mut f.conn, &f.vault, &ada, "outpost.example.com"),
        Err(TotpError::AlreadyEnrolled)
    ));
    assert!(matches!(
        totp::confirm_enrolment(
            &mut f.conn,
            &f.vault,
            ada.id,
            &app.code(T0 + STEP),
            T0 + STEP
        ),
        Err(TotpError::AlreadyEnrolled)
    ));
    assert_eq!(
        f.stored(&ada).unwrap(),
        before,
        "the credential is untouched"
    );
    f.verify(&ada, &app.code(T0 + STEP), T0 + STEP).unwrap();
}

#[test]
fn recovery_codes_are_distinct_and_each_works_once() {
    let mut f = fixture();
    let ada = f.user("ada@example.com");
    let bob = f.user("bob@example.com");
    let (_, codes) = f.enrol(&ada);
    let (_, bob_codes) = f.enrol(&bob);

    let texts: Vec<&str> = codes.iter().map(SecretString::expose).collect();
    assert_eq!(texts.iter().collect::<HashSet<_>>().len(), 10, "{texts:?}");
    for code in &texts {
        let groups: Vec<&str> = code.split('-').collect();
        assert_eq!(groups.len(), 4, "{code}");
        assert!(groups.iter().all(|g| {
            g.len() == 4
                && g.bytes()
                    .all(|b| b"0123456789ABCDEFGHJKMNPQRSTVWXYZ".contains(&b))
        }));
    }
    // Stored only as SHA-256 of the code without its dashes.
    let stored: HashSet<Vec<u8>> = f.code_rows(&ada).into_iter().collect();
    let expected: HashSet<Vec<u8>> = texts
        .iter()
        .map(|t| Sha256::digest(t.replace('-', "")).to_vec())
        .collect();
    assert_eq!(stored, expected);

    assert_eq!(recovery_codes::remaining(&mut f.conn, ada.id).unwrap(), 10);
    assert!(
        !recovery_codes::redeem(&mut f.conn, ada.id, bob_codes[0].expose()).unwrap(),
        "another user's code"
    );
    assert!(!recovery_codes::redeem(&mut f.conn, ada.id, "0000-0000-0000-0000").unwrap());
    assert!(!recovery_codes::redeem(&mut f.conn, ada.id, "not a code").unwrap());

    // Lower case without dashes, as people type them.
    let typed = texts[0].replace('-', "").to_lowercase();
    assert!(recovery_codes::redeem(&mut f.conn, ada.id, &typed).unwrap());
    assert!(!recovery_codes::redeem(&mut f.conn, ada.id, texts[0]).unwrap());
    assert_eq!(recovery_codes::remaining(&mut f.conn, ada.id).unwrap(), 9);

    for (i, code) in texts.iter().enumerate().skip(1) {
        assert!(
            recovery_codes::redeem(&mut f.conn, ada.id, code).unwrap(),
            "{i}"
        );
        assert!(
            !recovery_codes::redeem(&mut f.conn, ada.id, code).unwrap(),
            "{i}"
        );
        assert_eq!(
            recovery_codes::remaining(&mut f.conn, ada.id).unwrap(),
            9 - i as i64
        );
    }
    assert_eq!(recovery_codes::remaining(&mut f.conn, bob.id).unwrap(), 10);
}

#[test]
fn regenerating_recovery_codes_voids_the_old_ones() {
    let mut f = fixture();
    let ada = f.user("ada@example.com");
    let (_, old) = f.enrol(&ada);
    assert!(recovery_codes::redeem(&mut f.conn, ada.id, old[0].expose()).unwrap());
    let new = recovery_codes::generate(&mut f.conn, ada.id).unwrap();
    assert_eq!(recovery_codes::remaining(&mut f.conn, ada.id).unwrap(), 10);
    assert_eq!(f.code_rows(&ada).len(), 10, "used codes are gone too");
    assert!(!recovery_codes::redeem(&mut f.conn, ada.id, old[1].expose()).unwrap());
    assert!(recovery_codes::redeem(&mut f.conn, ada.id, new[1].expose()).unwrap());
}

#[test]
fn disabling_removes_the_credential_and_the_recovery_codes() {
    let mut f = fixture();
    let ada = f.user("ada@example.com");
    let bob = f.user("bob@example.com");
    let (app, codes) = f.enrol(&ada);
    f.enrol(&bob);

    totp::disable(&mut f.conn, ada.id).unwrap();
    assert!(f.stored(&ada).is_none());
    assert!(f.code_rows(&ada).is_empty());
    assert!(!totp::is_enrolled(&mut f.conn, ada.id).unwrap());
    assert!(matches!(
        f.verify(&ada, &app.code(T0 + STEP), T0 + STEP),
        Err(TotpError::NotEnrolled)
    ));
    assert!(!recovery_codes::redeem(&mut f.conn, ada.id, codes[0].expose()).unwrap());
    assert_eq!(recovery_codes::remaining(&mut f.conn, ada.id).unwrap(), 0);

    // Other users keep theirs, and the user can enrol afresh.
    assert!(totp::is_enrolled(&mut f.conn, bob.id).unwrap());
    assert_eq!(f.code_rows(&bob).len(), 10);
    let (again, _) = f.enrol(&ada);
    assert_ne!(again.secret, app.secret);
}
