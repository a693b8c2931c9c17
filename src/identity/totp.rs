//! TOTP second factor (RFC 6238: HMAC-SHA-1, six digits, 30-second steps).
//!
//! The shared secret is stored only sealed to its row, and `last_step` remembers the
//! last accepted time step, so no code, and no older one, is ever accepted twice.

use std::fmt;

use diesel::prelude::*;
use qrcode::QrCode;
use qrcode::render::svg;
use subtle::{ConditionallySelectable, ConstantTimeEq};
use time::OffsetDateTime;
use totp_rs::{Algorithm, Builder};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::{User, recovery_codes};
use crate::db::schema::totp_credentials;
use crate::secret::SecretString;
use crate::vault::{Location, Vault, VaultError, location};

pub const DIGITS: usize = 6;
pub const STEP_SECONDS: u64 = 30;
/// Steps accepted either side of the current one, for clocks that drift.
const DRIFT_STEPS: u64 = 1;
/// 160 bits, the length RFC 4226 recommends.
const SECRET_BYTES: usize = 20;
/// Bounds on the label parts of the otpauth URI, which keep it short enough to always
/// fit a QR code (see [`enrolment_for`]).
const MAX_ACCOUNT_BYTES: usize = 254;
const MAX_ISSUER_BYTES: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum TotpError {
    #[error("an authenticator app is already set up for this account")]
    AlreadyEnrolled,
    #[error("no authenticator app is set up for this account")]
    NotEnrolled,
    #[error("the authentication code is wrong or has expired")]
    InvalidCode,
    #[error("this authentication code has already been used; wait for the next one")]
    Reused,
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error("database query failed: {0}")]
    Db(#[from] diesel::result::Error),
}

/// What the user needs to add the account to an authenticator app. Shown once, while
/// enrolment waits for its first code.
pub struct Enrolment {
    pub secret_base32: SecretString,
    pub otpauth_uri: SecretString,
    /// The otpauth URI as a QR code; it encodes the secret, so it is as secret.
    pub qr_svg: String,
}

impl fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Enrolment")
            .field("secret_base32", &self.secret_base32)
            .field("otpauth_uri", &self.otpauth_uri)
            .finish_non_exhaustive()
    }
}

/// Seconds since the Unix epoch: the clock TOTP codes are computed against.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The code for `unix_time`.
///
/// # Panics
///
/// If `digits` is not between 6 and 8, the lengths RFC 4226 allows.
pub fn code_at(secret: &[u8], unix_time: u64, digits: usize) -> String {
    code_for_step(secret, unix_time / STEP_SECONDS, digits)
}

/// The time step within drift of `unix_time` whose code is `code` (spaces ignored), if any.
pub fn matching_step(secret: &[u8], code: &str, unix_time: u64) -> Option<u64> {
    let code: Zeroizing<String> = Zeroizing::new(code.chars().filter(|c| *c != ' ').collect());
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = unix_time / STEP_SECONDS;
    let mut matched = 0u64;
    let mut any = subtle::Choice::from(0);
    // Every candidate is computed and compared, so the time taken does not tell which
    // step matched. On the (one in a million) chance two steps share a code, the later
    // one wins, so a fresh code is never mistaken for an already used older one.
    for step in now.saturating_sub(DRIFT_STEPS)..=now + DRIFT_STEPS {
        let expected = Zeroizing::new(code_for_step(secret, step, DIGITS));
        let hit = expected.as_bytes().ct_eq(code.as_bytes());
        matched = u64::conditional_select(&matched, &step, hit);
        any |= hit;
    }
    bool::from(any).then_some(matched)
}

/// Starts (or restarts) enrolment with a new secret. A confirmed credential is never
/// replaced: it has to be disabled first.
pub fn begin_enrolment(
    conn: &mut PgConnection,
    vault: &Vault,
    user: &User,
    issuer: &str,
) -> Result<Enrolment, TotpError> {
    let mut secret = Zeroizing::new([0u8; SECRET_BYTES]);
    getrandom::fill(secret.as_mut()).expect("the operating system's random source failed");
    let enrolment = enrolment_for(secret.as_ref(), user, issuer);
    conn.transaction(|conn| {
        let sealed = vault.seal(conn, &context(user.id), secret.as_ref())?;
        store_pending(conn, user.id, &sealed)
    })?;
    Ok(enrolment)
}

/// Stores a new, unconfirmed secret; refused if a confirmed one exists.
fn store_pending(conn: &mut PgConnection, user_id: Uuid, sealed: &str) -> Result<(), TotpError> {
    let now = OffsetDateTime::now_utc();
    // The WHERE on the conflict branch makes "is it confirmed?" and the write one
    // statement, so a concurrent confirmation cannot be overwritten.
    let upsert = diesel::insert_into(totp_credentials::table)
        .values((
            totp_credentials::user_id.eq(user_id),
            totp_credentials::secret_sealed.eq(sealed),
            totp_credentials::created_at.eq(now),
        ))
        .on_conflict(totp_credentials::user_id)
        .do_update()
        .set((
            totp_credentials::secret_sealed.eq(sealed),
            totp_credentials::created_at.eq(now),
            totp_credentials::confirmed_at.eq(None::<OffsetDateTime>),
            totp_credentials::last_step.eq(None::<i64>),
        ));
    // Named in full: in scope, this trait would make every table's `filter` ambiguous.
    let written = diesel::query_dsl::methods::FilterDsl::filter(
        upsert,
        totp_credentials::confirmed_at.is_null(),
    )
    .execute(conn)?;
    if written == 0 {
        return Err(TotpError::AlreadyEnrolled);
    }
    Ok(())
}

/// How long an unconfirmed key is shown again instead of replaced: long enough to scan
/// it, reload the page, or fetch the phone from another room.
const PENDING_ENROLMENT_REUSE: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// The enrolment page's key: the pending one if it is recent, so reloading the page
/// does not invalidate what the person has just scanned; otherwise a new one.
pub fn resume_or_begin_enrolment(
    conn: &mut PgConnection,
    vault: &Vault,
    user: &User,
    issuer: &str,
) -> Result<Enrolment, TotpError> {
    let pending: Option<String> = totp_credentials::table
        .find(user.id)
        .filter(totp_credentials::confirmed_at.is_null())
        .filter(
            totp_credentials::created_at.gt(OffsetDateTime::now_utc() - PENDING_ENROLMENT_REUSE),
        )
        .select(totp_credentials::secret_sealed)
        .first(conn)
        .optional()?;
    match pending {
        Some(sealed) => {
            let secret = vault.open(&context(user.id), &sealed)?;
            Ok(enrolment_for(&secret, user, issuer))
        }
        None => begin_enrolment(conn, vault, user, issuer),
    }
}

/// Completes enrolment with the first code from the app and returns a fresh set of
/// recovery codes, the only time their plaintext is available.
pub fn confirm_enrolment(
    conn: &mut PgConnection,
    vault: &Vault,
    user_id: Uuid,
    code: &str,
    unix_time: u64,
) -> Result<Vec<SecretString>, TotpError> {
    conn.transaction(|conn| {
        // FOR UPDATE: of two concurrent confirmations, the second sees the first's result.
        let row: Option<(String, Option<OffsetDateTime>)> = totp_credentials::table
            .find(user_id)
            .select((
                totp_credentials::secret_sealed,
                totp_credentials::confirmed_at,
            ))
            .for_update()
            .first(conn)
            .optional()?;
        let sealed = match row {
            None => return Err(TotpError::NotEnrolled),
            Some((_, Some(_))) => return Err(TotpError::AlreadyEnrolled),
            Some((sealed, None)) => sealed,
        };
        let secret = vault.open(&context(user_id), &sealed)?;
        let step = matching_step(&secret, code, unix_time).ok_or(TotpError::InvalidCode)?;
        diesel::update(totp_credentials::table.find(user_id))
            .set((
                totp_credentials::confirmed_at.eq(OffsetDateTime::now_utc()),
                totp_credentials::last_step.eq(stored_step(step)),
            ))
            .execute(conn)?;
        Ok(recovery_codes::generate(conn, user_id)?)
    })
}

/// Checks a code at sign-in and spends its time step.
pub fn verify(
    conn: &mut PgConnection,
    vault: &Vault,
    user_id: Uuid,
    code: &str,
    unix_time: u64,
) -> Result<(), TotpError> {
    let sealed: String = totp_credentials::table
        .find(user_id)
        .filter(totp_credentials::confirmed_at.is_not_null())
        .select(totp_credentials::secret_sealed)
        .first(conn)
        .optional()?
        .ok_or(TotpError::NotEnrolled)?;
    let secret = vault.open(&context(user_id), &sealed)?;
    let step = stored_step(matching_step(&secret, code, unix_time).ok_or(TotpError::InvalidCode)?);
    // Only a step later than every accepted one may be recorded; doing the comparison in
    // the UPDATE means two concurrent uses of one code cannot both succeed.
    let spent = diesel::update(
        totp_credentials::table
            .find(user_id)
            .filter(totp_credentials::confirmed_at.is_not_null())
            .filter(
                totp_credentials::last_step
                    .is_null()
                    .or(totp_credentials::last_step.lt(step)),
            ),
    )
    .set(totp_credentials::last_step.eq(step))
    .execute(conn)?;
    if spent == 0 {
        Err(TotpError::Reused)
    } else {
        Ok(())
    }
}

/// Whether the user has a confirmed authenticator.
pub fn is_enrolled(conn: &mut PgConnection, user_id: Uuid) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        totp_credentials::table
            .find(user_id)
            .filter(totp_credentials::confirmed_at.is_not_null()),
    ))
    .get_result(conn)
}

/// Removes the authenticator and the recovery codes that stood in for it.
pub fn disable(conn: &mut PgConnection, user_id: Uuid) -> QueryResult<()> {
    use crate::db::schema::recovery_codes as codes;
    conn.transaction(|conn| {
        diesel::delete(totp_credentials::table.find(user_id)).execute(conn)?;
        diesel::delete(codes::table.filter(codes::user_id.eq(user_id)))
            .execute(conn)
            .map(drop)
    })
}

/// The sealing location of a user's secret: a sealed secret copied to another user's
/// row does not open.
fn context(user_id: Uuid) -> Location {
    location::TOTP_SECRET.at(user_id)
}

fn stored_step(step: u64) -> i64 {
    i64::try_from(step).expect("u64::MAX / 30 + 1 fits in an i64")
}

/// HOTP (RFC 4226) for counter `step`: with a one-second period the library's time is
/// the counter itself, which cannot overflow the way `step * 30` could.
fn code_for_step(secret: &[u8], step: u64, digits: usize) -> String {
    assert!(
        (6..=8).contains(&digits),
        "RFC 4226 codes have 6 to 8 digits, not {digits}"
    );
    // build() would turn a secret under 128 bits into an error; this stays a total
    // function, and every secret it is given here has 160 bits.
    let totp = Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(digits as u8)
        .with_step_duration(1)
        .with_secret(secret)
        .build_noncompliant();
    totp.generate(step).to_string()
}

/// The otpauth URI and QR code for `secret`. Colons separate issuer and account in the
/// URI's label, so any in the server name or email are replaced; the length bounds keep
/// the URI under about 1,250 bytes, well within a QR code's 2,331 at level M.
fn enrolment_for(secret: &[u8], user: &User, issuer: &str) -> Enrolment {
    let mut account = label_part(&user.email, MAX_ACCOUNT_BYTES);
    if account.is_empty() {
        account = user.id.to_string();
    }
    let issuer = Some(label_part(issuer, MAX_ISSUER_BYTES)).filter(|i| !i.is_empty());
    let totp = Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(DIGITS as u8)
        .with_step_duration(STEP_SECONDS)
        .with_secret(secret)
        .with_account_name(account)
        .with_issuer(issuer)
        .build()
        .expect("a 20-byte secret and colon-free, non-empty label parts are valid");
    let otpauth_uri = SecretString::new(
        totp.to_url()
            .expect("the account name is set and free of colons"),
    );
    let qr_svg = QrCode::new(otpauth_uri.expose().as_bytes())
        .expect("a URI of bounded length fits a QR code")
        .render::<svg::Color<'_>>()
        .quiet_zone(true)
        .min_dimensions(200, 200)
        .build();
    let secret_base32 = SecretString::new(totp.secret().to_base32());
    // The key as people see it (and as it could end up logged): never in a log line.
    crate::leak_guard::remember(secret_base32.expose());
    Enrolment {
        secret_base32,
        otpauth_uri,
        qr_svg,
    }
}

/// `text` trimmed, with colons replaced, cut at a character boundary to `max_bytes`.
fn label_part(text: &str, max_bytes: usize) -> String {
    let mut out = String::new();
    for c in text.trim().chars().map(|c| if c == ':' { '-' } else { c }) {
        if out.len() + c.len_utf8() > max_bytes {
            break;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_SEED: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc_6238_sha1_test_vectors() {
        for (time, code) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(code_at(RFC_SEED, time, 8), code, "T = {time}");
        }
        // Six digits are the last six of the eight.
        assert_eq!(code_at(RFC_SEED, 59, 6), "287082");
    }

    #[test]
    fn one_step_of_drift_is_accepted_and_two_are_not() {
        let now = 1_700_000_015;
        let step = now / STEP_SECONDS;
        let at = |offset: i64| code_at(RFC_SEED, (now as i64 + offset * 30) as u64, DIGITS);
        assert_eq!(matching_step(RFC_SEED, &at(0), now), Some(step));
        assert_eq!(matching_step(RFC_SEED, &at(-1), now), Some(step - 1));
        assert_eq!(matching_step(RFC_SEED, &at(1), now), Some(step + 1));
        assert_eq!(matching_step(RFC_SEED, &at(-2), now), None);
        assert_eq!(matching_step(RFC_SEED, &at(2), now), None);
        let spaced = format!(" {} {} ", &at(0)[..3], &at(0)[3..]);
        assert_eq!(matching_step(RFC_SEED, &spaced, now), Some(step));
        for malformed in ["", "12345", "1234567", "12a456", "+12345"] {
            assert_eq!(
                matching_step(RFC_SEED, malformed, now),
                None,
                "{malformed:?}"
            );
        }
        // At the epoch there is no step before the first.
        assert_eq!(
            matching_step(RFC_SEED, &code_at(RFC_SEED, 0, DIGITS), 5),
            Some(0)
        );
    }

    fn user(email: &str) -> User {
        User {
            id: Uuid::new_v4(),
            email: email.into(),
            role: super::super::Role::Owner,
            active: true,
            created_at: OffsetDateTime::now_utc(),
        }
    }

    #[test]
    fn enrolment_carries_a_uri_and_a_qr_code_without_inline_styles() {
        let secret = [7u8; SECRET_BYTES];
        let e = enrolment_for(&secret, &user("ada@example.com"), "outpost.example.com");
        let uri = e.otpauth_uri.expose();
        assert_eq!(
            uri,
            format!(
                "otpauth://totp/outpost.example.com:ada%40example.com?secret={}&issuer=outpost.example.com",
                e.secret_base32.expose()
            )
        );
        assert_eq!(e.secret_base32.expose().len(), 32);
        assert!(
            e.qr_svg.starts_with("<?xml") || e.qr_svg.starts_with("<svg"),
            "{}",
            &e.qr_svg[..40]
        );
        assert!(e.qr_svg.contains("<svg") && e.qr_svg.ends_with("</svg>"));
        assert!(!e.qr_svg.to_lowercase().contains("style"));
        let debug = format!("{e:?}");
        assert!(!debug.contains(e.secret_base32.expose()), "{debug}");
        assert!(!debug.contains("otpauth:"), "{debug}");
    }

    #[test]
    fn awkward_labels_still_make_a_valid_uri() {
        let secret = [7u8; SECRET_BYTES];
        let long = format!("{}@example.com", "é".repeat(300));
        let e = enrolment_for(&secret, &user(&long), &"host:8443".repeat(40));
        let totp = totp_rs::Totp::from_url(e.otpauth_uri.expose()).unwrap();
        assert!(totp.issuer().unwrap().starts_with("host-8443host-8443"));
        assert!(totp.account_name().len() <= MAX_ACCOUNT_BYTES);
        assert_eq!(totp.secret().as_bytes(), &secret);

        let u = user(" ");
        let e = enrolment_for(&secret, &u, "");
        assert_eq!(
            totp_rs::Totp::from_url(e.otpauth_uri.expose())
                .unwrap()
                .account_name(),
            u.id.to_string()
        );
    }
}
