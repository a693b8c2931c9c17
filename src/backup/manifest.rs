//! The backup manifest: what a backup holds, authenticated with HMAC-SHA256 under a
//! key derived from the backup key, over a canonical JSON form.
//!
//! The stored file is `{"mac":"<hex>","manifest":{...}}`. The MAC covers the canonical
//! serialisation (object keys sorted, no whitespace) of the `manifest` value as found in
//! the file, before it is mapped onto [`Manifest`]: a field added, removed, reordered or
//! changed anywhere in it is caught, not silently dropped by deserialisation.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;

use super::key::BackupKey;
use super::pipeline::hex;

pub const MANIFEST_VERSION: u32 = 1;
const INFO_MANIFEST_MAC: &[u8] = b"outpost backup manifest v1: mac";
/// Domain separation: a MAC over a manifest is never valid for any other message.
const MAC_CONTEXT: &[u8] = b"outpost-backup-manifest-v1\n";

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("the manifest is not valid JSON of the expected shape: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("the manifest contains a number that is not an unsigned integer")]
    NonCanonicalNumber,
    #[error("the manifest was written with key {file:?}, not {given:?}")]
    KeyMismatch { file: String, given: String },
    #[error("the manifest failed authentication: it was altered or the key is wrong")]
    BadMac,
    #[error("manifest version {0} is not supported by this Outpost")]
    UnsupportedVersion(u32),
}

/// One stored file of a backup (the database dump, the vault export...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Part {
    pub name: String,
    pub plaintext_size: u64,
    pub stored_size: u64,
    /// Lowercase hex SHA-256 of the stored (compressed, encrypted) bytes, so a copy
    /// can be checked without the key.
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub version: u32,
    pub backup_id: uuid::Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: time::OffsetDateTime,
    pub key_id: String,
    pub outpost_version: String,
    pub pg_dump_version: String,
    pub server_version: String,
    pub parts: Vec<Part>,
    /// Every table's row count and sample digest in the dumped snapshot: what a restore
    /// drill must find again.
    #[serde(default)]
    pub tables: Vec<super::tables::TableStat>,
    /// When the backup is sealed to a recipient: its parts' content key, wrapped to
    /// that recipient (see [`super::recipient`]). Absent: the parts are under `key_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_key: Option<ContentKey>,
}

/// A recipient-sealed backup's content key, wrapped to the recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentKey {
    /// The id in the parts' headers: `recipient-<fingerprint>`.
    pub key_id: String,
    pub wrapped: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Signed {
    mac: String,
    manifest: Value,
}

impl Manifest {
    /// The canonical JSON the MAC is computed over.
    pub fn canonical_json(&self) -> Result<String, ManifestError> {
        canonical(&serde_json::to_value(self)?)
    }

    /// The file form: canonical manifest plus its MAC.
    pub fn sign(&self, key: &BackupKey) -> Result<String, ManifestError> {
        if self.key_id != key.id() {
            return Err(ManifestError::KeyMismatch {
                file: self.key_id.clone(),
                given: key.id().to_owned(),
            });
        }
        let body = self.canonical_json()?;
        let mac = hex(&mac(key)
            .chain_update(body.as_bytes())
            .finalize()
            .into_bytes());
        Ok(format!(r#"{{"mac":"{mac}","manifest":{body}}}"#))
    }

    /// Parses a signed manifest and returns it only if its MAC verifies under `key`.
    pub fn verify(signed: &str, key: &BackupKey) -> Result<Self, ManifestError> {
        let signed: Signed = serde_json::from_str(signed)?;
        let file_key = signed.manifest.get("key_id").and_then(Value::as_str);
        if let Some(file) = file_key.filter(|id| *id != key.id()) {
            return Err(ManifestError::KeyMismatch {
                file: file.to_owned(),
                given: key.id().to_owned(),
            });
        }
        let body = canonical(&signed.manifest)?;
        let tag = decode_hex(&signed.mac).ok_or(ManifestError::BadMac)?;
        mac(key)
            .chain_update(body.as_bytes())
            .verify_slice(&tag)
            .map_err(|_| ManifestError::BadMac)?;
        let manifest: Manifest = serde_json::from_value(signed.manifest)?;
        if manifest.version != MANIFEST_VERSION {
            return Err(ManifestError::UnsupportedVersion(manifest.version));
        }
        Ok(manifest)
    }
}

fn mac(key: &BackupKey) -> Hmac<Sha256> {
    let mac_key = key.derive(None, INFO_MANIFEST_MAC);
    let mut mac = Hmac::<Sha256>::new_from_slice(mac_key.as_ref()).expect("any key length");
    mac.update(MAC_CONTEXT);
    mac
}

/// Sorted keys, no whitespace, integers only: one byte string per value whatever
/// serde_json's map order or a hand edit's layout.
fn canonical(value: &Value) -> Result<String, ManifestError> {
    let mut out = String::new();
    write_canonical(value, &mut out)?;
    Ok(out)
}

fn write_canonical(value: &Value, out: &mut String) -> Result<(), ManifestError> {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(k)?);
                out.push(':');
                write_canonical(&map[k], out)?;
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out)?;
            }
            out.push(']');
        }
        Value::Number(n) => match n.as_u64() {
            Some(n) => out.push_str(&n.to_string()),
            None => return Err(ManifestError::NonCanonicalNumber),
        },
        other => out.push_str(&serde_json::to_string(other)?),
    }
    Ok(())
}

/// A lowercase hex SHA-256, as this module writes them; anything else is none.
pub(super) fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() != 64 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(key: &BackupKey) -> Manifest {
        Manifest {
            version: MANIFEST_VERSION,
            backup_id: uuid::Uuid::new_v4(),
            created_at: time::macros::datetime!(2026-11-23 07:30:00 UTC),
            key_id: key.id().to_owned(),
            outpost_version: env!("CARGO_PKG_VERSION").to_owned(),
            pg_dump_version: "pg_dump (PostgreSQL) 15.14".to_owned(),
            server_version: "15.14".to_owned(),
            parts: vec![Part {
                name: "database.dump.zst.enc".to_owned(),
                plaintext_size: 1234,
                stored_size: 567,
                sha256: "ab".repeat(32),
            }],
            tables: vec![super::super::tables::TableStat {
                name: "public.users".to_owned(),
                rows: 3,
                sample_mac: "cd".repeat(32),
            }],
            content_key: None,
        }
    }

    #[test]
    fn round_trip_and_canonical_form() {
        let key = BackupKey::generate("backup-1").unwrap();
        let m = sample(&key);
        let signed = m.sign(&key).unwrap();
        assert_eq!(Manifest::verify(&signed, &key).unwrap(), m);
        assert!(signed.contains(r#""created_at":"2026-11-23T07:30:00Z""#));
        // Whitespace and key order in the file do not matter; content does.
        let pretty: Value = serde_json::from_str(&signed).unwrap();
        let pretty = serde_json::to_string_pretty(&pretty).unwrap();
        assert_eq!(Manifest::verify(&pretty, &key).unwrap(), m);
    }

    #[test]
    fn any_change_is_rejected() {
        let key = BackupKey::generate("backup-1").unwrap();
        let signed = sample(&key).sign(&key).unwrap();
        let edits = [
            ("1234", "1235"),
            ("\"version\":1", "\"version\":2"),
            ("07:30:00Z", "07:30:01Z"),
            ("15.14\"", "15.15\""),
            ("\"stored_size\"", "\"extra\":0,\"stored_size\""),
            (
                "\"parts\":[",
                "\"parts\":[{\"name\":\"x\",\"plaintext_size\":0,\"stored_size\":0,\"sha256\":\"\"},",
            ),
        ];
        for (from, to) in edits {
            assert!(signed.contains(from), "{from}");
            let tampered = signed.replacen(from, to, 1);
            let err = Manifest::verify(&tampered, &key).unwrap_err();
            assert!(matches!(err, ManifestError::BadMac), "{from}: {err}");
        }
        let mut mac_flip = signed.clone();
        let c = if &mac_flip[8..9] == "0" { "1" } else { "0" };
        mac_flip.replace_range(8..9, c);
        assert!(matches!(
            Manifest::verify(&mac_flip, &key),
            Err(ManifestError::BadMac)
        ));
    }

    #[test]
    fn wrong_key_is_rejected() {
        let key = BackupKey::generate("backup-1").unwrap();
        let signed = sample(&key).sign(&key).unwrap();
        let same_id = BackupKey::generate("backup-1").unwrap();
        assert!(matches!(
            Manifest::verify(&signed, &same_id),
            Err(ManifestError::BadMac)
        ));
        let other = BackupKey::generate("backup-2").unwrap();
        let err = Manifest::verify(&signed, &other).unwrap_err();
        assert!(matches!(err, ManifestError::KeyMismatch { .. }), "{err}");
    }
}
