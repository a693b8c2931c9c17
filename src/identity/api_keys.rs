//! API keys: bearer secrets for scripts and integrations, scoped to a subset of their
//! creator's capabilities.
//!
//! A key reads `opk_` + 30 random base62 characters + the CRC32 of those 30 characters
//! in 6 base62 characters. The fixed prefix lets secret scanners recognise leaked keys;
//! the checksum lets a mistyped or truncated key be rejected without a database query.
//! Only the SHA-256 of the whole key is stored.

use std::time::Duration;

use diesel::prelude::*;
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::{Capability, User, token, user};
use crate::db::schema::api_keys;
use crate::secret::SecretString;

pub const KEY_PREFIX: &str = "opk_";
const RANDOM_LEN: usize = 30;
const CHECKSUM_LEN: usize = 6;
pub const KEY_LEN: usize = KEY_PREFIX.len() + RANDOM_LEN + CHECKSUM_LEN;
/// Random characters shown in lists: enough to tell keys apart, far too few to guess
/// the rest (the remaining 24 still carry ~142 bits).
const DISPLAY_RANDOM_LEN: usize = 6;
const MAX_NAME_CHARS: usize = 100;
pub const MAX_ROTATION_GRACE: Duration = Duration::from_secs(30 * 24 * 3600);

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

#[derive(Debug, thiserror::Error)]
pub enum ApiKeyError {
    #[error("this is not a valid API key (wrong format or a typo)")]
    Malformed,
    #[error("a key name must be 1 to {MAX_NAME_CHARS} characters, without control characters")]
    InvalidName,
    #[error("a key needs at least one capability")]
    NoCapabilities,
    #[error("a key cannot have `{0}`: its creator's role does not include it")]
    ExceedsCreator(Capability),
    #[error("the expiry must be in the future")]
    ExpiryInPast,
    #[error("no such API key")]
    NotFound,
    #[error("only an active key that has not been rotated already can be rotated")]
    NotRotatable,
    #[error("the grace period must be between 0 and 30 days")]
    InvalidGrace,
    #[error("database query failed: {0}")]
    Db(#[from] diesel::result::Error),
}

/// What is known about a key; never its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKey {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    pub display_prefix: String,
    /// As granted at creation; see [`Authenticated::capabilities`] for what it may do now.
    pub capabilities: Vec<Capability>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    pub last_used_ip: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    /// Set once the key has been rotated; it then works only until `expires_at`.
    pub replaced_by: Option<Uuid>,
}

impl ApiKey {
    pub fn is_active(&self, now: OffsetDateTime) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| at > now)
    }

    /// What the key may do while its creator holds `role`: what it was granted, less
    /// what the role no longer includes.
    pub fn effective_capabilities(&self, role: super::Role) -> Vec<Capability> {
        self.capabilities
            .iter()
            .copied()
            .filter(|c| c.granted_to(role))
            .collect()
    }
}

#[derive(Debug, Clone)]
pub struct NewKey {
    pub name: String,
    pub capabilities: Vec<Capability>,
    pub expires_at: Option<OffsetDateTime>,
}

/// A key that passed every check on this request, and what it may do right now.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub key: ApiKey,
    pub user: User,
    /// The key's capabilities that its owner's current role still grants.
    pub capabilities: Vec<Capability>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = api_keys)]
struct Row {
    id: Uuid,
    user_id: Uuid,
    name: String,
    display_prefix: String,
    capabilities: Vec<String>,
    created_at: OffsetDateTime,
    expires_at: Option<OffsetDateTime>,
    last_used_at: Option<OffsetDateTime>,
    last_used_ip: Option<String>,
    revoked_at: Option<OffsetDateTime>,
    replaced_by: Option<Uuid>,
}

impl From<Row> for ApiKey {
    fn from(row: Row) -> Self {
        Self {
            id: row.id,
            user_id: row.user_id,
            name: row.name,
            display_prefix: row.display_prefix,
            // A name this version does not know (a capability since removed) grants
            // nothing, so dropping it is the safe reading.
            capabilities: row
                .capabilities
                .iter()
                .filter_map(|name| name.parse().ok())
                .collect(),
            created_at: row.created_at,
            expires_at: row.expires_at,
            last_used_at: row.last_used_at,
            last_used_ip: row.last_used_ip,
            revoked_at: row.revoked_at,
            replaced_by: row.replaced_by,
        }
    }
}

/// A fresh key, the hash under which it is stored, and its display prefix.
pub fn generate() -> (SecretString, token::TokenHash, String) {
    let mut key = String::with_capacity(KEY_LEN);
    key.push_str(KEY_PREFIX);
    push_random_base62(&mut key, RANDOM_LEN);
    let checksum = encode_checksum(crc32fast::hash(&key.as_bytes()[KEY_PREFIX.len()..]));
    key.extend(checksum.iter().map(|&b| char::from(b)));
    let display_prefix = key[..KEY_PREFIX.len() + DISPLAY_RANDOM_LEN].to_string();
    let hash = token::hash(&key);
    (SecretString::new(key), hash, display_prefix)
}

/// Prefix, length, alphabet and checksum: everything that can be checked offline.
pub fn is_well_formed(key: &str) -> bool {
    let Some(body) = key.strip_prefix(KEY_PREFIX) else {
        return false;
    };
    if key.len() != KEY_LEN || !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    let (random, checksum) = body.as_bytes().split_at(RANDOM_LEN);
    decode_checksum(checksum) == Some(crc32fast::hash(random))
}

/// Creates a key for `creator`; the secret is returned once and never stored.
pub fn create(
    conn: &mut PgConnection,
    creator: &User,
    new: NewKey,
) -> Result<(ApiKey, SecretString), ApiKeyError> {
    let now = OffsetDateTime::now_utc();
    let name = valid_name(&new.name)?;
    let mut capabilities = new.capabilities;
    capabilities.sort_unstable();
    capabilities.dedup();
    if capabilities.is_empty() {
        return Err(ApiKeyError::NoCapabilities);
    }
    if let Some(&missing) = capabilities.iter().find(|c| !c.granted_to(creator.role)) {
        return Err(ApiKeyError::ExceedsCreator(missing));
    }
    if new.expires_at.is_some_and(|at| at <= now) {
        return Err(ApiKeyError::ExpiryInPast);
    }
    insert(conn, creator.id, name, &capabilities, new.expires_at, now).map_err(ApiKeyError::from)
}

/// Checks a presented key and records its use. `Err(Malformed)` comes before any
/// query, so typos and garbage cost the database nothing; `Ok(None)` is a well-formed
/// key that is unknown, revoked or expired.
pub fn authenticate(
    conn: &mut PgConnection,
    presented: &str,
    client_ip: Option<&str>,
    now: OffsetDateTime,
) -> Result<Option<Authenticated>, ApiKeyError> {
    if !is_well_formed(presented) {
        return Err(ApiKeyError::Malformed);
    }
    let hash = token::hash(presented);
    // Check and record in one statement, so a key revoked concurrently is either
    // used before the revocation or not at all.
    let live = diesel::update(
        api_keys::table
            .filter(api_keys::key_hash.eq(&hash[..]))
            .filter(api_keys::revoked_at.is_null())
            .filter(
                api_keys::expires_at
                    .is_null()
                    .or(api_keys::expires_at.gt(now)),
            ),
    )
    .set((
        api_keys::last_used_at.eq(now),
        api_keys::last_used_ip.eq(client_ip.map(truncate_ip)),
    ))
    .returning(Row::as_returning())
    .get_result(conn)
    .optional()?;
    let Some(row) = live else {
        return Ok(None);
    };
    // Keys cascade with their owner, so a missing owner is only a concurrent removal.
    let Some(user) = user::find(conn, row.user_id)? else {
        return Ok(None);
    };
    let key = ApiKey::from(row);
    let capabilities = key.effective_capabilities(user.role);
    Ok(Some(Authenticated {
        key,
        user,
        capabilities,
    }))
}

/// The user's keys, newest first, including revoked and expired ones.
pub fn list_for_user(conn: &mut PgConnection, user_id: Uuid) -> QueryResult<Vec<ApiKey>> {
    api_keys::table
        .filter(api_keys::user_id.eq(user_id))
        .order((api_keys::created_at.desc(), api_keys::id.desc()))
        .select(Row::as_select())
        .load(conn)
        .map(|rows| rows.into_iter().map(ApiKey::from).collect())
}

/// One of the user's keys; another user's key is as absent as an unknown one.
pub fn find(conn: &mut PgConnection, user_id: Uuid, key_id: Uuid) -> QueryResult<Option<ApiKey>> {
    api_keys::table
        .filter(api_keys::id.eq(key_id))
        .filter(api_keys::user_id.eq(user_id))
        .select(Row::as_select())
        .first(conn)
        .optional()
        .map(|row| row.map(ApiKey::from))
}

/// Revokes one of the user's keys. True if the user has such a key, whether it was
/// revoked now or before (which keeps the first revocation time), so a retried
/// request gets the same answer.
pub fn revoke(
    conn: &mut PgConnection,
    user_id: Uuid,
    key_id: Uuid,
    now: OffsetDateTime,
) -> QueryResult<bool> {
    use diesel::sql_types::{Nullable, Timestamptz};
    diesel::define_sql_function!(
        fn coalesce(x: Nullable<Timestamptz>, y: Timestamptz) -> Nullable<Timestamptz>
    );
    diesel::update(
        api_keys::table
            .filter(api_keys::id.eq(key_id))
            .filter(api_keys::user_id.eq(user_id)),
    )
    .set(api_keys::revoked_at.eq(coalesce(api_keys::revoked_at, now)))
    .execute(conn)
    .map(|n| n > 0)
}

/// Revokes every active key of a user; returns how many were still unrevoked.
pub fn revoke_all_for_user(
    conn: &mut PgConnection,
    user_id: Uuid,
    now: OffsetDateTime,
) -> QueryResult<usize> {
    diesel::update(
        api_keys::table
            .filter(api_keys::user_id.eq(user_id))
            .filter(api_keys::revoked_at.is_null()),
    )
    .set(api_keys::revoked_at.eq(now))
    .execute(conn)
}

/// Replaces a key with a new one of the same name, capabilities and expiry. The old
/// key keeps working for `grace` (never past its own expiry), so deployments can
/// switch over without an outage.
pub fn rotate(
    conn: &mut PgConnection,
    user_id: Uuid,
    key_id: Uuid,
    grace: Duration,
    now: OffsetDateTime,
) -> Result<(ApiKey, SecretString), ApiKeyError> {
    if grace > MAX_ROTATION_GRACE {
        return Err(ApiKeyError::InvalidGrace);
    }
    conn.transaction(|conn| {
        // The row lock makes a concurrent second rotation wait, then see `replaced_by`.
        let old: ApiKey = api_keys::table
            .filter(api_keys::id.eq(key_id))
            .filter(api_keys::user_id.eq(user_id))
            .select(Row::as_select())
            .for_update()
            .first(conn)
            .optional()?
            .ok_or(ApiKeyError::NotFound)?
            .into();
        if !old.is_active(now) || old.replaced_by.is_some() {
            return Err(ApiKeyError::NotRotatable);
        }
        let (new, secret) = insert(
            conn,
            user_id,
            &old.name,
            &old.capabilities,
            old.expires_at,
            now,
        )?;
        let grace_end = now + grace;
        let old_end = old.expires_at.map_or(grace_end, |at| at.min(grace_end));
        diesel::update(api_keys::table.find(old.id))
            .set((
                api_keys::replaced_by.eq(new.id),
                api_keys::expires_at.eq(old_end),
            ))
            .execute(conn)?;
        Ok((new, secret))
    })
}

fn insert(
    conn: &mut PgConnection,
    user_id: Uuid,
    name: &str,
    capabilities: &[Capability],
    expires_at: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> QueryResult<(ApiKey, SecretString)> {
    let (key, hash, display_prefix) = generate();
    let names: Vec<&str> = capabilities.iter().map(|c| c.as_str()).collect();
    let row = diesel::insert_into(api_keys::table)
        .values((
            api_keys::user_id.eq(user_id),
            api_keys::name.eq(name),
            api_keys::display_prefix.eq(&display_prefix),
            api_keys::key_hash.eq(&hash[..]),
            api_keys::capabilities.eq(&names),
            api_keys::created_at.eq(now),
            api_keys::expires_at.eq(expires_at),
        ))
        .returning(Row::as_returning())
        .get_result(conn)?;
    Ok((row.into(), key))
}

fn valid_name(raw: &str) -> Result<&str, ApiKeyError> {
    let name = raw.trim();
    let length = name.chars().count();
    if (1..=MAX_NAME_CHARS).contains(&length) && !name.chars().any(char::is_control) {
        Ok(name)
    } else {
        Err(ApiKeyError::InvalidName)
    }
}

/// The address comes from the request; bound it so a forged header cannot bloat rows.
fn truncate_ip(ip: &str) -> String {
    // 45 characters hold the longest textual IPv6 address (with an embedded IPv4).
    ip.chars().take(45).collect()
}

/// Appends `n` uniformly distributed base62 characters.
fn push_random_base62(out: &mut String, n: usize) {
    // 248 = 4 × 62: bytes at or above it are discarded, or the first eight characters
    // would come up more often than the rest.
    const ACCEPT_BELOW: u8 = 248;
    let mut bytes = Zeroizing::new([0u8; 64]);
    let mut remaining = n;
    while remaining > 0 {
        getrandom::fill(bytes.as_mut()).expect("the operating system's random source failed");
        for &b in bytes.iter().filter(|&&b| b < ACCEPT_BELOW).take(remaining) {
            out.push(char::from(BASE62[usize::from(b % 62)]));
            remaining -= 1;
        }
    }
}

/// Fixed width, most significant digit first (62^6 > 2^32, so every CRC32 fits).
fn encode_checksum(mut crc: u32) -> [u8; CHECKSUM_LEN] {
    let mut out = [BASE62[0]; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(crc % 62) as usize];
        crc /= 62;
    }
    out
}

fn decode_checksum(text: &[u8]) -> Option<u32> {
    let value = text.iter().try_fold(0u64, |acc, &b| {
        let digit = BASE62.iter().position(|&c| c == b)?;
        Some(acc * 62 + digit as u64)
    })?;
    u32::try_from(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replace_at(key: &str, index: usize, with: u8) -> String {
        let mut bytes = key.as_bytes().to_vec();
        bytes[index] = with;
        String::from_utf8(bytes).expect("ASCII stays UTF-8")
    }

    #[test]
    fn keys_have_the_documented_shape() {
        for _ in 0..200 {
            let (key, hash, display) = generate();
            let key = key.expose();
            assert_eq!(key.len(), 40);
            assert!(key.starts_with("opk_"));
            assert!(key[4..].bytes().all(|b| b.is_ascii_alphanumeric()), "{key}");
            assert!(is_well_formed(key), "{key}");
            assert_eq!(hash, token::hash(key));
            assert_eq!(display.len(), 10);
            assert_eq!(display, key[..10]);
            let checksum = crc32fast::hash(&key.as_bytes()[4..34]);
            assert_eq!(decode_checksum(&key.as_bytes()[34..]), Some(checksum));
        }
    }

    #[test]
    fn checksum_encoding_is_fixed_width_and_round_trips() {
        for crc in [0, 1, 61, 62, 12_345_678, u32::MAX] {
            let encoded = encode_checksum(crc);
            assert_eq!(decode_checksum(&encoded), Some(crc));
        }
        assert_eq!(&encode_checksum(0), b"000000");
        assert_eq!(&encode_checksum(62), b"000010");
        // Values above u32::MAX are not checksums.
        assert_eq!(decode_checksum(b"zzzzzz"), None);
        assert_eq!(decode_checksum(b"00000-"), None);
    }

    #[test]
    fn every_single_character_substitution_is_rejected() {
        let (key, _, _) = generate();
        let key = key.expose();
        for index in 0..key.len() {
            for &c in BASE62.iter().chain(b"_-+/=. ") {
                if c == key.as_bytes()[index] {
                    continue;
                }
                let typo = replace_at(key, index, c);
                assert!(!is_well_formed(&typo), "{typo} accepted");
            }
        }
    }

    #[test]
    fn transpositions_truncations_and_extensions_are_rejected() {
        let (key, _, _) = generate();
        let key = key.expose();
        let mut swapped = 0;
        for i in 4..key.len() - 1 {
            let (a, b) = (key.as_bytes()[i], key.as_bytes()[i + 1]);
            // Across the random/checksum boundary detection is only probabilistic
            // (1 in 2^32); everywhere else it is certain.
            if a == b || i == KEY_PREFIX.len() + RANDOM_LEN - 1 {
                continue;
            }
            let typo = replace_at(&replace_at(key, i, b), i + 1, a);
            assert!(!is_well_formed(&typo), "{typo} accepted");
            swapped += 1;
        }
        assert!(
            swapped > 20,
            "the key had too few distinct neighbours to test"
        );
        assert!(!is_well_formed(&key[..39]));
        assert!(!is_well_formed(&format!("{key}0")));
        assert!(!is_well_formed(&format!(" {key}")));
        assert!(!is_well_formed(&key.to_uppercase()));
        assert!(!is_well_formed(&format!("OPK_{}", &key[4..])));
        assert!(!is_well_formed(""));
    }

    #[test]
    fn a_forged_checksum_must_match_the_random_part() {
        let random = "a".repeat(RANDOM_LEN);
        let checksum = encode_checksum(crc32fast::hash(random.as_bytes()));
        let forged = format!("opk_{random}{}", String::from_utf8_lossy(&checksum));
        assert!(is_well_formed(&forged));
        assert!(!is_well_formed(&format!("opk_{random}000000")));
        // Non-ASCII text of the right byte length is not a key.
        let multibyte = format!(
            "opk_{}é{}",
            &random[..28],
            String::from_utf8_lossy(&checksum)
        );
        assert_eq!(multibyte.len(), KEY_LEN);
        assert!(!is_well_formed(&multibyte));
    }

    #[test]
    fn keys_are_unique() {
        let keys: std::collections::HashSet<String> = (0..1000)
            .map(|_| generate().0.expose().to_string())
            .collect();
        assert_eq!(keys.len(), 1000);
    }

    #[test]
    fn random_characters_cover_the_whole_alphabet() {
        // A biased or truncated alphabet would leave characters unseen; 300 × 30
        // draws miss a fair character with probability ~e^-145.
        let mut seen = [false; 62];
        for _ in 0..300 {
            let (key, _, _) = generate();
            for b in key.expose()[4..34].bytes() {
                seen[BASE62.iter().position(|&c| c == b).expect("base62")] = true;
            }
        }
        assert!(seen.iter().all(|&s| s));
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(valid_name("  deploy bot ").ok(), Some("deploy bot"));
        assert!(valid_name(&"x".repeat(100)).is_ok());
        assert!(
            valid_name(&"é".repeat(100)).is_ok(),
            "characters, not bytes"
        );
        for bad in ["", "   ", "a\nb", "tab\there"] {
            assert!(valid_name(bad).is_err(), "{bad:?}");
        }
        assert!(valid_name(&"x".repeat(101)).is_err());
    }
}
