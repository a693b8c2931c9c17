//! Single-use recovery codes, the way back in when the authenticator is lost.
//!
//! A code carries 80 random bits, enough that storing its unsalted SHA-256 is safe.

use diesel::prelude::*;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::db::schema::recovery_codes;
use crate::secret::SecretString;

/// How many codes a user holds after each [`generate`].
pub const COUNT: usize = 10;
const CODE_BYTES: usize = 10;
/// Characters of a code without its dashes: 80 bits in 5-bit symbols.
const CODE_CHARS: usize = CODE_BYTES * 8 / 5;
const GROUP: usize = 4;
/// Crockford's base32: without I, L, O and U, a code survives being read aloud or retyped.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

type CodeHash = [u8; 32];

/// Replaces all of the user's codes with [`COUNT`] new ones, shown as `7KQ2-9XH4-MR3D-P0TW`.
/// The plaintext exists only in the returned list.
pub fn generate(conn: &mut PgConnection, user_id: Uuid) -> QueryResult<Vec<SecretString>> {
    let (codes, hashes): (Vec<SecretString>, Vec<CodeHash>) =
        (0..COUNT).map(|_| new_code()).unzip();
    let now = OffsetDateTime::now_utc();
    let rows: Vec<_> = hashes
        .iter()
        .map(|hash| {
            (
                recovery_codes::user_id.eq(user_id),
                recovery_codes::code_hash.eq(&hash[..]),
                recovery_codes::created_at.eq(now),
            )
        })
        .collect();
    conn.transaction(|conn| {
        diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id)))
            .execute(conn)?;
        diesel::insert_into(recovery_codes::table)
            .values(&rows)
            .execute(conn)
    })?;
    Ok(codes)
}

/// Spends `code` if it is one of the user's unused codes. The check and the spending are
/// one UPDATE, so of two concurrent redemptions of a code exactly one succeeds.
pub fn redeem(conn: &mut PgConnection, user_id: Uuid, code: &str) -> QueryResult<bool> {
    let Some(normal) = normalise(code) else {
        return Ok(false);
    };
    let hash = hash(&normal);
    diesel::update(
        recovery_codes::table
            .filter(recovery_codes::user_id.eq(user_id))
            .filter(recovery_codes::code_hash.eq(&hash[..]))
            .filter(recovery_codes::used_at.is_null()),
    )
    .set(recovery_codes::used_at.eq(OffsetDateTime::now_utc()))
    .execute(conn)
    .map(|spent| spent > 0)
}

/// Unused codes the user has left.
pub fn remaining(conn: &mut PgConnection, user_id: Uuid) -> QueryResult<i64> {
    recovery_codes::table
        .filter(recovery_codes::user_id.eq(user_id))
        .filter(recovery_codes::used_at.is_null())
        .count()
        .get_result(conn)
}

/// A fresh code for display and the hash under which it is stored.
fn new_code() -> (SecretString, CodeHash) {
    let mut bytes = Zeroizing::new([0u8; CODE_BYTES]);
    getrandom::fill(bytes.as_mut()).expect("the operating system's random source failed");
    let bits = Zeroizing::new(bytes.iter().fold(0u128, |acc, &b| acc << 8 | u128::from(b)));
    let mut plain = Zeroizing::new(String::with_capacity(CODE_CHARS));
    for i in (0..CODE_CHARS).rev() {
        let symbol = (*bits >> (5 * i)) & 0x1f;
        plain.push(char::from(ALPHABET[symbol as usize]));
    }
    let mut shown = String::with_capacity(CODE_CHARS + CODE_CHARS / GROUP);
    for (i, c) in plain.chars().enumerate() {
        if i > 0 && i % GROUP == 0 {
            shown.push('-');
        }
        shown.push(c);
    }
    (SecretString::new(shown), hash(&plain))
}

/// The canonical form of a typed code (upper case, no separators, Crockford's aliases
/// resolved), or None when it cannot be a code.
fn normalise(code: &str) -> Option<Zeroizing<String>> {
    let mut out = Zeroizing::new(String::with_capacity(CODE_CHARS));
    for c in code.chars() {
        let c = match c.to_ascii_uppercase() {
            '-' => continue,
            c if c.is_whitespace() => continue,
            'I' | 'L' => '1',
            'O' => '0',
            c => c,
        };
        if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) || out.len() == CODE_CHARS {
            return None;
        }
        out.push(c);
    }
    (out.len() == CODE_CHARS).then_some(out)
}

fn hash(normalised: &str) -> CodeHash {
    Sha256::digest(normalised.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_grouped_crockford_base32_and_hash_in_normal_form() {
        let (code, stored) = new_code();
        let text = code.expose();
        assert_eq!(text.len(), 19, "{text:?}");
        let groups: Vec<&str> = text.split('-').collect();
        assert_eq!(groups.len(), 4);
        assert!(
            groups
                .iter()
                .all(|g| g.len() == 4 && g.bytes().all(|b| ALPHABET.contains(&b)))
        );
        assert_eq!(hash(&normalise(text).unwrap()), stored);
        assert_ne!(new_code().0, code, "codes are random");
    }

    #[test]
    fn normalisation_forgives_case_separators_and_lookalikes() {
        let canonical = normalise("7KQ2-9XH4-MR3D-P0TW").unwrap();
        assert_eq!(canonical.as_str(), "7KQ29XH4MR3DP0TW");
        for typed in [
            "7kq29xh4mr3dp0tw",
            " 7KQ2 9XH4 MR3D P0TW ",
            "7kq2-9xh4-mr3d-pOtw",
        ] {
            assert_eq!(
                normalise(typed).as_deref().map(String::as_str),
                Some(canonical.as_str()),
                "{typed:?}"
            );
        }
        assert_eq!(
            normalise("IL00-0000-0000-0000").unwrap().as_str(),
            "1100000000000000"
        );
        for bad in [
            "",
            "7KQ2-9XH4-MR3D",
            "7KQ2-9XH4-MR3D-P0TWX",
            "UKQ2-9XH4-MR3D-P0TW",
            "7KQ2-9XH4-MR3D-P0TÉ",
        ] {
            assert!(normalise(bad).is_none(), "{bad:?}");
        }
    }
}
