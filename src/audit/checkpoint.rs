//! Signed checkpoints of the audit log's Merkle tree.
//!
//! A checkpoint commits to the log's size and root hash at one moment. Publishing
//! signed checkpoints lets anyone holding the verifier key notice if the log is later
//! rewritten: two checkpoints that no consistency proof can join are evidence.
//!
//! The text formats are the public ones rather than our own, so that existing
//! transparency-log tools (witnesses, monitors, Go's `golang.org/x/mod/sumdb/note`) can
//! check Outpost's checkpoints without knowing anything about Outpost:
//!
//! - the body is a C2SP tlog-checkpoint v1.0.0: origin, tree size in decimal, and the
//!   base64 root hash, one per line, each ending in `\n`;
//! - it is signed as a C2SP signed-note v1.0.0 with Ed25519: the body, a blank line, then
//!   lines `— <key name> <base64(key id ‖ signature)>`.
//!
//! Key ids, key strings and signature lines are byte-for-byte those of the Go note
//! package; the tests check this against its published vectors.
//!
//! The signing key lives in an owner-only file, like the vault key: [`write_signer`]
//! creates it (mode 0400, never replacing one) and [`load_signer`] refuses a file that
//! group or others could read.
//!
//! Name the signing key after the checkpoint origin (the specification recommends it),
//! and have readers check that the origin of a verified checkpoint is the log they expect.

use std::fs;
use std::io::{Read, Write};
use std::path::Path;

use crate::keyfile;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use zeroize::{ZeroizeOnDrop, Zeroizing};

/// Signature type byte for Ed25519 in C2SP signed-note (and in Go's key strings).
const ALG_ED25519: u8 = 0x01;
/// Every signature line starts with U+2014 EM DASH and a space.
const SIGNATURE_PREFIX: &str = "— ";
const SIGNER_KEY_PREFIX: &str = "PRIVATE+KEY+";
/// The specification asks verifiers to cap the signatures they look at (and to accept at
/// least 16); 100 is the Go package's cap, so any note it opens, we open.
const MAX_SIGNATURES: usize = 100;
/// A signer key string is under 200 bytes for any sensible name; a larger file is not one.
const MAX_KEY_FILE_BYTES: u64 = 4096;

// `SigningKey` wipes its secret on drop because ed25519-dalek's `zeroize` feature is on
// (it is a default feature). `Signer` relies on that for "zeroize on drop"; this stops
// the build if the feature is ever switched off.
const _: fn() = || {
    fn wipes_on_drop<T: ZeroizeOnDrop>() {}
    wipes_on_drop::<SigningKey>();
};

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint key file {path}: {reason}")]
    KeyFile { path: String, reason: String },
    #[error("invalid key name: it must be non-empty, without spaces, '+' or control characters")]
    InvalidKeyName,
    #[error("malformed checkpoint: {0}")]
    MalformedCheckpoint(&'static str),
    #[error("malformed signed note: no blank line separates the text from its signatures")]
    MissingSeparator,
    #[error("malformed signed note: {0}")]
    MalformedNote(&'static str),
    #[error("malformed signature line: {0}")]
    MalformedSignature(&'static str),
    #[error("malformed verifier key: {0}")]
    MalformedVerifierKey(&'static str),
    #[error("malformed signer key: {0}")]
    MalformedSignerKey(&'static str),
    #[error("unsupported key algorithm {0:#04x}; only Ed25519 (0x01) is supported")]
    UnsupportedAlgorithm(u8),
    #[error("the key id does not match the key name and public key")]
    KeyIdMismatch,
    #[error("the signature by key {key} does not verify: the note was altered")]
    BadSignature { key: String },
    #[error("the note has no signature by key {key}")]
    NoSignatureByKey { key: String },
}

/// A tree head: the log `origin`, its `size` in leaves and its Merkle `root` hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: [u8; 32],
}

impl Checkpoint {
    /// The note body: `origin\nsize\nbase64(root)\n`. Outpost writes no extension lines
    /// (the specification advises against them: monitors cannot audit them).
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        )
    }

    /// Parses a checkpoint body strictly: a non-empty origin without control characters,
    /// the size in decimal without sign or leading zeros (`0` for an empty tree), the
    /// root as exactly 32 bytes of canonical padded base64, every line ending in `\n`.
    ///
    /// Extension lines after the root are accepted, as the specification allows, but
    /// must be non-empty; their content is ignored and not part of the returned value.
    /// When the body came from [`Verifier::verify_note`] they were covered by the
    /// signature all the same.
    pub fn parse_body(text: &str) -> Result<Checkpoint, CheckpointError> {
        let malformed = CheckpointError::MalformedCheckpoint;
        let text = text
            .strip_suffix('\n')
            .ok_or(malformed("the text must end in a newline"))?;
        let mut lines = text.split('\n');
        // `split` always yields a first piece; an empty one is refused as an origin.
        let origin = lines.next().unwrap_or_default();
        check_origin(origin)?;
        let size = parse_size(
            lines
                .next()
                .ok_or(malformed("the tree size line is missing"))?,
        )?;
        let root = parse_root(
            lines
                .next()
                .ok_or(malformed("the root hash line is missing"))?,
        )?;
        for extension in lines {
            if extension.is_empty() {
                return Err(malformed("an extension line is empty"));
            }
            if extension.chars().any(char::is_control) {
                return Err(malformed("an extension line holds a control character"));
            }
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
        })
    }
}

/// The origin is the first line of the signed text: a newline in it would let whoever
/// chooses the origin also choose the size and root lines that follow.
fn check_origin(origin: &str) -> Result<(), CheckpointError> {
    if origin.is_empty() {
        return Err(CheckpointError::MalformedCheckpoint("the origin is empty"));
    }
    if origin.chars().any(char::is_control) {
        return Err(CheckpointError::MalformedCheckpoint(
            "the origin holds a newline or another control character",
        ));
    }
    Ok(())
}

fn parse_size(line: &str) -> Result<u64, CheckpointError> {
    let malformed = CheckpointError::MalformedCheckpoint;
    // `u64::from_str` alone would also take "+7" and "007"; the format allows one
    // spelling per number so that a checkpoint has exactly one signed text.
    if line.is_empty() || !line.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed("the tree size is not a decimal number"));
    }
    if line.len() > 1 && line.starts_with('0') {
        return Err(malformed("the tree size has a leading zero"));
    }
    line.parse()
        .map_err(|_| malformed("the tree size does not fit in 64 bits"))
}

fn parse_root(line: &str) -> Result<[u8; 32], CheckpointError> {
    let malformed = CheckpointError::MalformedCheckpoint;
    // The STANDARD engine requires canonical padding and zero trailing bits, so each
    // root has exactly one accepted spelling.
    let bytes = STANDARD
        .decode(line)
        .map_err(|_| malformed("the root hash is not valid base64"))?;
    bytes
        .try_into()
        .map_err(|_| malformed("the root hash is not 32 bytes"))
}

/// Key names go into signature lines and key strings, where a space ends the name and
/// `+` separates fields; control characters are banned from notes altogether.
fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c.is_control())
}

/// The C2SP key id: the first four bytes of SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key).
/// It only picks out which key a signature line claims; the signature decides.
fn compute_key_id(name: &str, public_key: &[u8; 32]) -> [u8; 4] {
    let digest = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update(b"\n")
        .chain_update([ALG_ED25519])
        .chain_update(public_key)
        .finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

fn key_id_hex(id: [u8; 4]) -> String {
    format!("{:08x}", u32::from_be_bytes(id))
}

/// Eight hexadecimal digits, either case (as Go's `strconv.ParseUint` takes them).
fn parse_key_id_hex(text: &str) -> Option<[u8; 4]> {
    if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(text, 16).ok().map(u32::to_be_bytes)
}

/// Splits `<name>+<hex id>+<base64 key>`. The base64 may itself hold `+`, so only the
/// first two are separators; the name cannot hold one.
fn split_key_string(text: &str) -> Option<(&str, &str, &str)> {
    let mut parts = text.splitn(3, '+');
    Some((parts.next()?, parts.next()?, parts.next()?))
}

/// The key that signs checkpoints: a key name and an Ed25519 signing key.
///
/// The secret is wiped from memory when the signer is dropped, and `Debug` shows only
/// the name and key id.
pub struct Signer {
    name: String,
    key: SigningKey,
    key_id: [u8; 4],
}

impl ZeroizeOnDrop for Signer {}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("name", &self.name)
            .field("key_id", &key_id_hex(self.key_id))
            .field("key", &"hidden")
            .finish()
    }
}

impl Signer {
    /// A signer with a fresh random key from the operating system.
    pub fn generate(name: &str) -> Result<Signer, CheckpointError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(&mut seed[..]).expect("the operating system's random source failed");
        Self::from_seed(name, *seed)
    }

    /// A signer from a 32-byte Ed25519 seed (the RFC 8032 private key).
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<Signer, CheckpointError> {
        let seed = Zeroizing::new(seed);
        if !is_valid_key_name(name) {
            return Err(CheckpointError::InvalidKeyName);
        }
        let key = SigningKey::from_bytes(&seed);
        let key_id = compute_key_id(name, key.verifying_key().as_bytes());
        Ok(Signer {
            name: name.to_owned(),
            key,
            key_id,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> [u8; 4] {
        self.key_id
    }

    /// The public half, to hand to whoever checks the checkpoints.
    pub fn verifier(&self) -> Verifier {
        Verifier {
            name: self.name.clone(),
            key: self.key.verifying_key(),
            key_id: self.key_id,
        }
    }

    /// The signed note for `checkpoint`: its body, a blank line and one signature line.
    ///
    /// Fails only for an origin that is empty or holds a control character: signing
    /// that would produce a note whose lines no longer mean what the fields said.
    pub fn sign_note(&self, checkpoint: &Checkpoint) -> Result<String, CheckpointError> {
        check_origin(&checkpoint.origin)?;
        Ok(self.sign_text(&checkpoint.body()))
    }

    /// Signs a statement other than a checkpoint (its first line says what it is):
    /// plain lines, each ending in `\n`, no blank line, no control characters.
    pub fn sign_statement(&self, text: &str) -> Result<String, CheckpointError> {
        let lines_ok = text.ends_with('\n')
            && !text.contains("\n\n")
            && !text.starts_with('\n')
            && !text.chars().any(|c| c < ' ' && c != '\n');
        if !lines_ok {
            return Err(CheckpointError::MalformedNote(
                "a statement is non-empty lines, each ending in a newline",
            ));
        }
        Ok(self.sign_text(text))
    }

    /// Signs any note text ending in `\n`; the signature covers exactly those bytes.
    fn sign_text(&self, text: &str) -> String {
        debug_assert!(text.ends_with('\n'), "a note text ends in a newline");
        let signature = ed25519_dalek::Signer::sign(&self.key, text.as_bytes());
        let mut blob = [0u8; 4 + 64];
        blob[..4].copy_from_slice(&self.key_id);
        blob[4..].copy_from_slice(&signature.to_bytes());
        format!(
            "{text}\n{SIGNATURE_PREFIX}{} {}\n",
            self.name,
            STANDARD.encode(blob)
        )
    }

    /// `PRIVATE+KEY+<name>+<hex id>+<base64(0x01 ‖ seed)>`, the Go note package's
    /// signer key string. Built in pre-sized buffers so no stray copy of the secret is
    /// left behind by a reallocation.
    fn signer_key(&self) -> Zeroizing<String> {
        let mut raw = Zeroizing::new([0u8; 33]);
        raw[0] = ALG_ED25519;
        raw[1..].copy_from_slice(self.key.as_bytes());
        let mut out = Zeroizing::new(String::with_capacity(
            SIGNER_KEY_PREFIX.len() + self.name.len() + 1 + 8 + 1 + 44,
        ));
        out.push_str(SIGNER_KEY_PREFIX);
        out.push_str(&self.name);
        out.push('+');
        out.push_str(&key_id_hex(self.key_id));
        out.push('+');
        STANDARD.encode_string(raw.as_slice(), &mut out);
        out
    }

    /// Parses a signer key string. Messages never echo the text: it is a secret.
    fn from_signer_key(text: &str) -> Result<Signer, CheckpointError> {
        let malformed = CheckpointError::MalformedSignerKey;
        let rest = text
            .strip_prefix(SIGNER_KEY_PREFIX)
            .ok_or(malformed("it does not start with PRIVATE+KEY+"))?;
        let (name, id_hex, key_b64) =
            split_key_string(rest).ok_or(malformed("expected PRIVATE+KEY+<name>+<id>+<key>"))?;
        if !is_valid_key_name(name) {
            return Err(CheckpointError::InvalidKeyName);
        }
        let key_id =
            parse_key_id_hex(id_hex).ok_or(malformed("the key id is not 8 hexadecimal digits"))?;
        let raw = Zeroizing::new(
            STANDARD
                .decode(key_b64)
                .map_err(|_| malformed("the key is not valid base64"))?,
        );
        let (&algorithm, seed) = raw.split_first().ok_or(malformed("the key is empty"))?;
        if algorithm != ALG_ED25519 {
            return Err(CheckpointError::UnsupportedAlgorithm(algorithm));
        }
        let mut seed_array = Zeroizing::new([0u8; 32]);
        if seed.len() != seed_array.len() {
            return Err(malformed("an Ed25519 seed is 32 bytes"));
        }
        seed_array.copy_from_slice(seed);
        let signer = Self::from_seed(name, *seed_array)?;
        // The id covers the public key, which only now exists: a mismatch means a
        // damaged file or a name edited by hand.
        if signer.key_id != key_id {
            return Err(CheckpointError::KeyIdMismatch);
        }
        Ok(signer)
    }
}

/// The public key that checks checkpoints: a key name and an Ed25519 public key.
#[derive(Clone, PartialEq, Eq)]
pub struct Verifier {
    name: String,
    key: VerifyingKey,
    key_id: [u8; 4],
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Verifier")
            .field(&self.verifier_key())
            .finish()
    }
}

impl Verifier {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> [u8; 4] {
        self.key_id
    }

    /// `<name>+<hex id>+<base64(0x01 ‖ public key)>`, the Go note package's verifier key.
    pub fn verifier_key(&self) -> String {
        let mut raw = [0u8; 33];
        raw[0] = ALG_ED25519;
        raw[1..].copy_from_slice(self.key.as_bytes());
        format!(
            "{}+{}+{}",
            self.name,
            key_id_hex(self.key_id),
            STANDARD.encode(raw)
        )
    }

    /// Parses a verifier key string exactly (no surrounding whitespace).
    pub fn from_key(text: &str) -> Result<Verifier, CheckpointError> {
        let malformed = CheckpointError::MalformedVerifierKey;
        let (name, id_hex, key_b64) =
            split_key_string(text).ok_or(malformed("expected <name>+<id>+<key>"))?;
        if !is_valid_key_name(name) {
            return Err(CheckpointError::InvalidKeyName);
        }
        let key_id =
            parse_key_id_hex(id_hex).ok_or(malformed("the key id is not 8 hexadecimal digits"))?;
        let raw = STANDARD
            .decode(key_b64)
            .map_err(|_| malformed("the key is not valid base64"))?;
        let (&algorithm, public) = raw.split_first().ok_or(malformed("the key is empty"))?;
        if algorithm != ALG_ED25519 {
            return Err(CheckpointError::UnsupportedAlgorithm(algorithm));
        }
        let public: &[u8; 32] = public
            .try_into()
            .map_err(|_| malformed("an Ed25519 public key is 32 bytes"))?;
        if compute_key_id(name, public) != key_id {
            return Err(CheckpointError::KeyIdMismatch);
        }
        let key = VerifyingKey::from_bytes(public)
            .map_err(|_| malformed("the public key is not an Ed25519 curve point"))?;
        // A small-order key could be made to "verify" signatures nobody made; no honest
        // key is one, and `verify_strict` would refuse every signature anyway.
        if key.is_weak() {
            return Err(malformed("the public key is a weak (small-order) point"));
        }
        Ok(Verifier {
            name: name.to_owned(),
            key,
            key_id,
        })
    }

    /// Checks that `note` carries a valid signature by this key and returns the
    /// checkpoint it signs.
    ///
    /// Signature lines by other keys (another name, or another key id) are ignored, as
    /// the specification requires: they may be witnesses' cosignatures or a rotated key.
    /// Every line by this key must verify, so one bad signature rejects the note.
    pub fn verify_note(&self, note: &str) -> Result<Checkpoint, CheckpointError> {
        let text = self.verify_text(note)?;
        // Parsed only once signed: unsigned text is not to be interpreted.
        Checkpoint::parse_body(text)
    }

    /// Verifies a signed statement (see [`Signer::sign_statement`]) and returns its text.
    pub fn verify_statement<'n>(&self, note: &'n str) -> Result<&'n str, CheckpointError> {
        self.verify_text(note)
    }

    /// The signed-note layer: returns the verified text, whatever it says.
    fn verify_text<'n>(&self, note: &'n str) -> Result<&'n str, CheckpointError> {
        if note.chars().any(|c| c < ' ' && c != '\n') {
            return Err(CheckpointError::MalformedNote(
                "it holds a control character other than newline",
            ));
        }
        // The text may hold blank lines of its own; the signatures follow the last one.
        let split = note
            .rfind("\n\n")
            .ok_or(CheckpointError::MissingSeparator)?;
        let (text, signatures) = (&note[..=split], &note[split + 2..]);
        let signatures = signatures
            .strip_suffix('\n')
            .ok_or(CheckpointError::MalformedNote(
                "it has no signature lines, or the last one does not end in a newline",
            ))?;

        let mut signed = false;
        for (index, line) in signatures.split('\n').enumerate() {
            if index == MAX_SIGNATURES {
                return Err(CheckpointError::MalformedNote(
                    "it has more than 100 signature lines",
                ));
            }
            let (name, key_id, signature) = parse_signature_line(line)?;
            if name != self.name || key_id != self.key_id {
                continue;
            }
            let bad = || CheckpointError::BadSignature {
                key: self.key_label(),
            };
            let signature: [u8; 64] = signature.try_into().map_err(|_| bad())?;
            // Strict verification refuses the malleable and small-order edge cases
            // that plain RFC 8032 verification lets through; honest signatures pass.
            self.key
                .verify_strict(text.as_bytes(), &Signature::from_bytes(&signature))
                .map_err(|_| bad())?;
            signed = true;
        }
        if !signed {
            return Err(CheckpointError::NoSignatureByKey {
                key: self.key_label(),
            });
        }
        Ok(text)
    }

    /// `name+hexid`, how the Go package names a key in its messages.
    fn key_label(&self) -> String {
        format!("{}+{}", self.name, key_id_hex(self.key_id))
    }
}

/// Parses `— <name> <base64(key id ‖ signature)>` into its parts.
fn parse_signature_line(line: &str) -> Result<(&str, [u8; 4], Vec<u8>), CheckpointError> {
    let malformed = CheckpointError::MalformedSignature;
    let rest = line
        .strip_prefix(SIGNATURE_PREFIX)
        .ok_or(malformed("it does not start with an em dash and a space"))?;
    let (name, encoded) = rest.split_once(' ').ok_or(malformed(
        "no space separates the key name from the signature",
    ))?;
    if !is_valid_key_name(name) {
        return Err(malformed(
            "the key name is empty or holds a '+', a space or a control character",
        ));
    }
    let mut blob = STANDARD
        .decode(encoded)
        .map_err(|_| malformed("the signature is not valid base64"))?;
    if blob.len() < 5 {
        return Err(malformed(
            "the signature is shorter than a key id and one byte",
        ));
    }
    let signature = blob.split_off(4);
    let key_id = [blob[0], blob[1], blob[2], blob[3]];
    Ok((name, key_id, signature))
}

/// Creates a new signing key named `name` at `path` (mode 0400) and returns its
/// verifier, to publish. Refuses to replace an existing file: losing a log's signing
/// key would orphan every checkpoint signed with it.
pub fn write_signer(path: &Path, name: &str) -> Result<Verifier, CheckpointError> {
    let fail = |reason: String| CheckpointError::KeyFile {
        path: path.display().to_string(),
        reason,
    };
    // Before touching the disk, so a bad name leaves nothing behind.
    let signer = Signer::generate(name)?;
    let mut file = keyfile::create(path).map_err(fail)?;
    let written = file
        .write_all(signer.signer_key().as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all())
        .map_err(|e| e.to_string())
        .and_then(|()| keyfile::restrict(path));
    if let Err(e) = written {
        // The file is ours (create_new) and incomplete; left behind it would block the
        // next attempt without ever loading.
        drop(file);
        let _ = fs::remove_file(path);
        return Err(fail(e));
    }
    Ok(signer.verifier())
}

/// Loads the signing key written by [`write_signer`]. Refuses a file that group or
/// others may access.
pub fn load_signer(path: &Path) -> Result<Signer, CheckpointError> {
    let fail = |reason: String| CheckpointError::KeyFile {
        path: path.display().to_string(),
        reason,
    };
    let (mut file, meta) = keyfile::open_private(path, MAX_KEY_FILE_BYTES).map_err(fail)?;
    let capacity = usize::try_from(meta.len()).map_err(|e| fail(e.to_string()))?;
    // Sized up front so reading never reallocates and leaves a copy of the key behind.
    let mut text = Zeroizing::new(String::with_capacity(capacity + 1));
    file.read_to_string(&mut text)
        .map_err(|e| fail(e.to_string()))?;
    Signer::from_signer_key(text.trim()).map_err(|e| fail(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    // Reference vectors from golang.org/x/mod/sumdb/note, note_test.go (GitHub mirror
    // golang/mod): TestNewVerifier, TestNewSigner, TestSign and TestOpen.
    const PETER_SKEY: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
    const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                           then you don't know what your problem is.\n";
    const PETER_SIG: &str = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    const ENOCH_SIG: &str = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

    // A real checkpoint of the Go checksum database (a sum.golang.org /lookup response
    // quoted in sigsum/sigsum, proposals/2026-01-22-tags-releases-non-releases.md), and
    // that log's key as the Go toolchain pins it (golang/go,
    // src/cmd/go/internal/modfetch/key.go).
    const SUMDB_VKEY: &str = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8";
    const SUMDB_NOTE: &str = "go.sum database tree\n\
                              49189689\n\
                              ftjbAOzaupaIvaPo/G+Dk63nxOZ2s1OPOKIaPtXs7S4=\n\
                              \n\
                              — sum.golang.org Az3grlKZssqRoMNPpZfKt0TphbbcF+pzXqElURJKRNFKfaUAgqeI5k2AORH0QAhg/ebRwyIqD/OqP4oLtLnNumvOBAM=\n";

    // The example in C2SP tlog-checkpoint.md, signed by a key the specification does not
    // publish.
    const C2SP_EXAMPLE: &str = "example.com/behind-the-sofa\n\
                                20852163\n\
                                CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\
                                \n\
                                — example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";

    fn checkpoint(size: u64, fill: u8) -> Checkpoint {
        Checkpoint {
            origin: "outpost.example/audit".into(),
            size,
            root: [fill; 32],
        }
    }

    fn signer(name: &str, seed_byte: u8) -> Signer {
        Signer::from_seed(name, [seed_byte; 32]).unwrap()
    }

    /// The signature line(s) of a note: everything after the separating blank line.
    fn signature_lines(note: &str) -> &str {
        &note[note.rfind("\n\n").unwrap() + 2..]
    }

    /// The base64 key of a verifier key string (it may itself hold '+').
    fn vkey_material(key: &str) -> &str {
        key.splitn(3, '+').nth(2).unwrap()
    }

    /// The base64 secret of a signer key string.
    fn skey_material(key: &str) -> &str {
        key.splitn(5, '+').nth(4).unwrap()
    }

    /// The Go package's key hash over whatever key bytes it is given, to confirm that a
    /// vector "with adjusted key hash" indeed carries a matching id.
    fn go_key_hash(name: &str, key: &[u8]) -> String {
        let digest = Sha256::new()
            .chain_update(name)
            .chain_update(b"\n")
            .chain_update(key)
            .finalize();
        key_id_hex([digest[0], digest[1], digest[2], digest[3]])
    }

    #[test]
    fn key_strings_and_signatures_match_the_go_note_package() {
        let peter = Signer::from_signer_key(PETER_SKEY).unwrap();
        assert_eq!(peter.name(), "PeterNeumann");
        assert_eq!(peter.key_id(), [0xc7, 0x4f, 0x20, 0xa3]);
        assert_eq!(peter.signer_key().as_str(), PETER_SKEY);
        assert_eq!(peter.verifier().verifier_key(), PETER_VKEY);
        assert_eq!(peter.verifier(), Verifier::from_key(PETER_VKEY).unwrap());

        // The same key from its raw seed: the key id is computed, not copied.
        let raw = STANDARD.decode(skey_material(PETER_SKEY)).unwrap();
        let seed: [u8; 32] = raw[1..].try_into().unwrap();
        let from_seed = Signer::from_seed("PeterNeumann", seed).unwrap();
        assert_eq!(from_seed.key_id(), peter.key_id());
        assert_eq!(from_seed.verifier().verifier_key(), PETER_VKEY);

        // TestSign: Ed25519 is deterministic, so the whole signed note must match.
        let want = format!("{GO_TEXT}\n{PETER_SIG}");
        assert_eq!(peter.sign_text(GO_TEXT), want);

        let enoch = Verifier::from_key(ENOCH_VKEY).unwrap();
        assert_eq!(enoch.key_id(), [0xaf, 0x0c, 0xfe, 0x78]);
        assert_eq!(enoch.verifier_key(), ENOCH_VKEY);
    }

    #[test]
    fn opens_the_go_doubly_signed_note_with_either_key() {
        let note = format!("{GO_TEXT}\n{PETER_SIG}{ENOCH_SIG}");
        let peter = Verifier::from_key(PETER_VKEY).unwrap();
        let enoch = Verifier::from_key(ENOCH_VKEY).unwrap();
        assert_eq!(peter.verify_text(&note).unwrap(), GO_TEXT);
        assert_eq!(enoch.verify_text(&note).unwrap(), GO_TEXT);
        // Each alone: the other key's signature is no help.
        assert!(matches!(
            enoch.verify_text(&format!("{GO_TEXT}\n{PETER_SIG}")),
            Err(CheckpointError::NoSignatureByKey { .. })
        ));
        assert!(matches!(
            peter.verify_text(&format!("{GO_TEXT}\n{ENOCH_SIG}")),
            Err(CheckpointError::NoSignatureByKey { .. })
        ));
        // Not a checkpoint body, so the checkpoint layer refuses it after verifying.
        assert!(matches!(
            peter.verify_note(&note),
            Err(CheckpointError::MalformedCheckpoint(_))
        ));
    }

    #[test]
    fn rejects_the_go_packages_bad_notes() {
        let peter = Verifier::from_key(PETER_VKEY).unwrap();
        // TestOpen's "Invalid signature": four characters spliced into the base64.
        let spliced = format!("{GO_TEXT}\n{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
        let err = peter.verify_text(&spliced).unwrap_err();
        assert!(matches!(err, CheckpointError::BadSignature { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            "the signature by key PeterNeumann+c74f20a3 does not verify: the note was altered"
        );

        // TestOpen's badMsgs, all "malformed note" in Go.
        let unterminated = format!("{GO_TEXT}\n{}", PETER_SIG.trim_end_matches('\n'));
        let bad_messages = [
            GO_TEXT.to_owned(),
            format!("{GO_TEXT}\n"),
            unterminated,
            format!("\x01{GO_TEXT}\n{PETER_SIG}"),
            format!(
                "{GO_TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
            ),
            format!("{GO_TEXT}\n{PETER_SIG}Unexpected line.\n"),
            format!("{GO_TEXT}\n{}", PETER_SIG.repeat(101)),
        ];
        for message in &bad_messages {
            let err = peter.verify_text(message).unwrap_err();
            assert!(
                matches!(
                    err,
                    CheckpointError::MissingSeparator
                        | CheckpointError::MalformedNote(_)
                        | CheckpointError::MalformedSignature(_)
                ),
                "{message:?}: {err}"
            );
        }
        // ("\xff" + text, also in badMsgs, cannot be a Rust `&str` at all.)
        assert!(matches!(
            peter.verify_text(GO_TEXT),
            Err(CheckpointError::MissingSeparator)
        ));
        // Up to the cap, repeated signatures are fine.
        let repeated = format!("{GO_TEXT}\n{}", PETER_SIG.repeat(MAX_SIGNATURES));
        assert_eq!(peter.verify_text(&repeated).unwrap(), GO_TEXT);

        // TestOpen's misnamed signature and wrong key id: not this key's lines, ignored.
        let misnamed = PETER_SIG.replace("PeterNeumann", "CarmenSandiego");
        let wrong_id = PETER_SIG.replace("x08g", "xxxx");
        for sig in [misnamed, wrong_id] {
            assert!(matches!(
                peter.verify_text(&format!("{GO_TEXT}\n{sig}")),
                Err(CheckpointError::NoSignatureByKey { .. })
            ));
        }
    }

    #[test]
    fn verifies_a_real_sum_golang_org_checkpoint() {
        let sumdb = Verifier::from_key(SUMDB_VKEY).unwrap();
        let checkpoint = sumdb.verify_note(SUMDB_NOTE).unwrap();
        assert_eq!(checkpoint.origin, "go.sum database tree");
        assert_eq!(checkpoint.size, 49_189_689);
        assert_eq!(
            STANDARD.encode(checkpoint.root),
            "ftjbAOzaupaIvaPo/G+Dk63nxOZ2s1OPOKIaPtXs7S4="
        );
        // Our body is the exact text the Go checksum database signed.
        assert_eq!(
            format!("{}\n{}", checkpoint.body(), signature_lines(SUMDB_NOTE)),
            SUMDB_NOTE
        );
        let grown = SUMDB_NOTE.replace("49189689", "49189690");
        assert!(matches!(
            sumdb.verify_note(&grown),
            Err(CheckpointError::BadSignature { .. })
        ));
    }

    #[test]
    fn the_c2sp_example_parses_and_its_unknown_key_is_ignored() {
        let body = &C2SP_EXAMPLE[..C2SP_EXAMPLE.rfind("\n\n").unwrap() + 1];
        let checkpoint = Checkpoint::parse_body(body).unwrap();
        assert_eq!(checkpoint.origin, "example.com/behind-the-sofa");
        assert_eq!(checkpoint.size, 20_852_163);
        assert_eq!(checkpoint.body(), body);

        // The example's signature line is well-formed but by a key we do not hold. It
        // even carries sum.golang.org's key id (033de0ae) under another name.
        let sumdb = Verifier::from_key(SUMDB_VKEY).unwrap();
        let ours = signer("example.com/behind-the-sofa", 7).verifier();
        for verifier in [sumdb, ours] {
            assert!(matches!(
                verifier.verify_note(C2SP_EXAMPLE),
                Err(CheckpointError::NoSignatureByKey { .. })
            ));
        }
    }

    #[test]
    fn round_trips_sign_and_verify() {
        let signer = Signer::generate("outpost.example/audit").unwrap();
        let verifier = signer.verifier();
        assert_eq!(
            Verifier::from_key(&verifier.verifier_key()).unwrap(),
            verifier
        );
        for cp in [
            checkpoint(0, 0),
            checkpoint(1, 0xab),
            checkpoint(u64::MAX, 0xff),
        ] {
            let note = signer.sign_note(&cp).unwrap();
            assert!(note.starts_with(&format!("{}\n— outpost.example/audit ", cp.body())));
            assert_eq!(verifier.verify_note(&note).unwrap(), cp);
        }
        assert_ne!(
            Signer::generate("outpost.example/audit").unwrap().key_id(),
            signer.key_id(),
            "each generated key is fresh"
        );
    }

    #[test]
    fn any_tampering_breaks_the_signature() {
        let signer = signer("outpost.example/audit", 1);
        let verifier = signer.verifier();
        let cp = checkpoint(42, 0x11);
        let note = signer.sign_note(&cp).unwrap();
        let sig_line = signature_lines(&note);

        let mut other_origin = cp.clone();
        other_origin.origin = "outpost.example/audiT".into();
        let mut other_size = cp.clone();
        other_size.size = 43;
        let mut other_root = cp.clone();
        other_root.root[31] ^= 1;
        for forged in [other_origin, other_size, other_root] {
            let tampered = format!("{}\n{sig_line}", forged.body());
            assert!(
                matches!(
                    verifier.verify_note(&tampered),
                    Err(CheckpointError::BadSignature { .. })
                ),
                "{forged:?}"
            );
        }

        // Each byte of the signature proper matters; a changed key id byte makes the
        // line someone else's.
        let encoded = sig_line.trim_end().rsplit(' ').next().unwrap().to_owned();
        let blob = STANDARD.decode(&encoded).unwrap();
        for index in [0, 3, 4, 35, 67] {
            let mut flipped = blob.clone();
            flipped[index] ^= 0x40;
            let tampered = note.replace(&encoded, &STANDARD.encode(&flipped));
            let err = verifier.verify_note(&tampered).unwrap_err();
            if index < 4 {
                assert!(
                    matches!(err, CheckpointError::NoSignatureByKey { .. }),
                    "{err}"
                );
            } else {
                assert!(matches!(err, CheckpointError::BadSignature { .. }), "{err}");
            }
        }
        // A truncated signature by this key is a bad signature, not a foreign one.
        let short = note.replace(&encoded, &STANDARD.encode(&blob[..40]));
        assert!(matches!(
            verifier.verify_note(&short),
            Err(CheckpointError::BadSignature { .. })
        ));
    }

    #[test]
    fn other_keys_signatures_are_ignored() {
        let ours = signer("outpost.example/audit", 1);
        let witness = signer("witness.example/w1", 2);
        // Same name, another key: a different key id, so still not ours.
        let impostor = signer("outpost.example/audit", 3);
        assert_ne!(impostor.key_id(), ours.key_id());
        let cp = checkpoint(9, 0x22);

        for other in [&witness, &impostor] {
            let err = ours
                .verifier()
                .verify_note(&other.sign_note(&cp).unwrap())
                .unwrap_err();
            assert!(
                matches!(err, CheckpointError::NoSignatureByKey { .. }),
                "{err}"
            );
            assert!(
                err.to_string()
                    .contains("has no signature by key outpost.example/audit+")
            );
        }

        // Our line among others' lines, before and after it.
        let line = |s: &Signer| signature_lines(&s.sign_note(&cp).unwrap()).to_owned();
        let cosigned = format!(
            "{}\n{}{}{}{}",
            cp.body(),
            line(&witness),
            line(&impostor),
            line(&ours),
            ENOCH_SIG
        );
        assert_eq!(ours.verifier().verify_note(&cosigned).unwrap(), cp);
        assert_eq!(witness.verifier().verify_note(&cosigned).unwrap(), cp);
        assert_eq!(impostor.verifier().verify_note(&cosigned).unwrap(), cp);
        // ...but a broken line by us sinks the note even when another of ours is good.
        let good = line(&ours);
        let encoded = good.trim_end().rsplit(' ').next().unwrap();
        let mut blob = STANDARD.decode(encoded).unwrap();
        blob[10] ^= 1;
        let broken = good.replace(encoded, &STANDARD.encode(blob));
        assert!(matches!(
            ours.verifier().verify_note(&format!("{cosigned}{broken}")),
            Err(CheckpointError::BadSignature { .. })
        ));
    }

    #[test]
    fn parses_checkpoint_bodies_strictly() {
        let root = STANDARD.encode([7u8; 32]);
        let good = format!("log\n5\n{root}\n");
        let parsed = Checkpoint::parse_body(&good).unwrap();
        assert_eq!(parsed.origin, "log");
        assert_eq!(parsed.size, 5);
        assert_eq!(parsed.root, [7u8; 32]);
        assert_eq!(
            Checkpoint::parse_body(&format!("log\n0\n{root}\n"))
                .unwrap()
                .size,
            0
        );
        assert_eq!(
            Checkpoint::parse_body(&format!("log\n18446744073709551615\n{root}\n"))
                .unwrap()
                .size,
            u64::MAX
        );
        // Extension lines are allowed and left out of the value.
        let extended = format!("log\n5\n{root}\nextension one\n— extension two\n");
        assert_eq!(Checkpoint::parse_body(&extended).unwrap(), parsed);

        let short_root = STANDARD.encode([7u8; 31]);
        let long_root = STANDARD.encode([7u8; 33]);
        let unpadded = root.trim_end_matches('=').to_owned();
        // The last character before '=' carries four data bits and two padding bits;
        // 'd' keeps the data bits of 'c' but sets a padding bit, a non-canonical spelling.
        assert!(root.ends_with("c="));
        let non_canonical = format!("{}d=", &root[..42]);
        let bad = [
            String::new(),
            "\n".into(),
            "log\n".into(),
            "log\n5\n".into(),
            format!("log\n5\n{root}"),
            format!("\n5\n{root}\n"),
            format!("lo\tg\n5\n{root}\n"),
            format!("log\n05\n{root}\n"),
            format!("log\n00\n{root}\n"),
            format!("log\n+5\n{root}\n"),
            format!("log\n-5\n{root}\n"),
            format!("log\n 5\n{root}\n"),
            format!("log\n5 \n{root}\n"),
            format!("log\n0x5\n{root}\n"),
            format!("log\n\n{root}\n"),
            format!("log\n18446744073709551616\n{root}\n"),
            format!("log\n5\n{short_root}\n"),
            format!("log\n5\n{long_root}\n"),
            format!("log\n5\n{unpadded}\n"),
            format!("log\n5\n{non_canonical}\n"),
            format!("log\n5\n {root}\n"),
            format!("log\r\n5\r\n{root}\r\n"),
            format!("log\n5\n{root}\n\n"),
            format!("log\n5\n{root}\next\n\nmore\n"),
        ];
        for text in &bad {
            assert!(
                matches!(
                    Checkpoint::parse_body(text),
                    Err(CheckpointError::MalformedCheckpoint(_))
                ),
                "accepted {text:?}"
            );
        }
    }

    #[test]
    fn refuses_to_sign_an_origin_that_would_forge_lines() {
        let signer = signer("log", 1);
        let mut forged = checkpoint(1, 0);
        forged.origin = format!("log\n999999\n{}", STANDARD.encode([0xeeu8; 32]));
        assert!(matches!(
            signer.sign_note(&forged),
            Err(CheckpointError::MalformedCheckpoint(_))
        ));
        forged.origin = String::new();
        assert!(signer.sign_note(&forged).is_err());
        assert!(matches!(
            Signer::from_seed("has space", [1; 32]),
            Err(CheckpointError::InvalidKeyName)
        ));
        for name in ["", "a+b", "a b", "a\u{a0}b", "a\nb", "a\u{7}b"] {
            assert!(Signer::generate(name).is_err(), "{name:?}");
        }
    }

    #[test]
    fn rejects_malformed_verifier_keys() {
        // TestNewVerifier: every proper substring and every one-byte change fails.
        let bytes = PETER_VKEY.as_bytes();
        for i in 0..=bytes.len() {
            for j in i + 1..=bytes.len() {
                if (i, j) != (0, bytes.len()) {
                    let part = std::str::from_utf8(&bytes[i..j]).unwrap();
                    assert!(Verifier::from_key(part).is_err(), "accepted {part:?}");
                }
            }
        }
        for i in 0..bytes.len() {
            let mut changed = bytes.to_vec();
            changed[i] += 1;
            let changed = String::from_utf8(changed).unwrap();
            assert!(
                Verifier::from_key(&changed).is_err(),
                "accepted {changed:?}"
            );
        }

        // Go's vectors "with adjusted key hash": the id matches the bytes given, so
        // the length and the algorithm byte are what must be refused. Go's too-long key
        // also ends in non-canonical base64 (which Go's decoder tolerates), so it is
        // refused before its length is looked at; a canonical too-long and too-short
        // key, each with a matching id, check the length itself.
        let long = "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==";
        assert!(matches!(
            Verifier::from_key(long),
            Err(CheckpointError::MalformedVerifierKey(_))
        ));
        let peter_raw = STANDARD.decode(vkey_material(PETER_VKEY)).unwrap();
        let mut too_long = peter_raw.clone();
        too_long.extend_from_slice(&[0xba, 0xd0]);
        for raw in [too_long, peter_raw[..32].to_vec()] {
            let key = format!(
                "PeterNeumann+{}+{}",
                go_key_hash("PeterNeumann", &raw),
                STANDARD.encode(&raw)
            );
            assert_eq!(
                Verifier::from_key(&key).unwrap_err().to_string(),
                "malformed verifier key: an Ed25519 public key is 32 bytes"
            );
        }
        let other_alg = "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
        let other_raw = STANDARD.decode(vkey_material(other_alg)).unwrap();
        assert_eq!(go_key_hash("PeterNeumann", &other_raw), "173116ae");
        assert!(matches!(
            Verifier::from_key(other_alg),
            Err(CheckpointError::UnsupportedAlgorithm(0x65))
        ));

        // Another name for the same key, or a changed id: the id no longer matches.
        let renamed = PETER_VKEY.replace("PeterNeumann", "PeterNeuman");
        let reid = PETER_VKEY.replace("c74f20a3", "c74f20a4");
        for key in [renamed, reid] {
            assert!(matches!(
                Verifier::from_key(&key),
                Err(CheckpointError::KeyIdMismatch)
            ));
        }
        // The id may be written in capitals, as Go accepts it.
        assert!(Verifier::from_key(&PETER_VKEY.replace("c74f20a3", "C74F20A3")).is_ok());

        for key in [
            "",
            "PeterNeumann",
            "PeterNeumann+c74f20a3",
            "PeterNeumann+c74f20a3+",
            "PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "PeterNeumann+c74f20a3z+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "PeterNeumann+g74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW\n",
            " PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq_LDE4izWy10TW",
            PETER_SKEY,
        ] {
            assert!(Verifier::from_key(key).is_err(), "accepted {key:?}");
        }

        // Thirty-two bytes that are no curve point, and the identity (a small-order,
        // weak point), each under a correctly computed id.
        let key_string = |public: [u8; 32]| {
            let mut raw = vec![ALG_ED25519];
            raw.extend_from_slice(&public);
            format!(
                "weak+{}+{}",
                key_id_hex(compute_key_id("weak", &public)),
                STANDARD.encode(raw)
            )
        };
        let not_a_point = (2u8..=255)
            .map(|y| {
                let mut bytes = [0u8; 32];
                bytes[0] = y;
                bytes
            })
            .find(|bytes| VerifyingKey::from_bytes(bytes).is_err())
            .expect("some small y is not on the curve");
        let mut identity = [0u8; 32];
        identity[0] = 1;
        for public in [not_a_point, identity] {
            assert!(matches!(
                Verifier::from_key(&key_string(public)),
                Err(CheckpointError::MalformedVerifierKey(_))
            ));
        }
    }

    #[test]
    fn rejects_malformed_signer_keys_without_echoing_them() {
        // TestNewSigner: every proper substring and every one-byte change fails.
        let bytes = PETER_SKEY.as_bytes();
        for i in 0..=bytes.len() {
            for j in i + 1..=bytes.len() {
                if (i, j) != (0, bytes.len()) {
                    let part = std::str::from_utf8(&bytes[i..j]).unwrap();
                    assert!(Signer::from_signer_key(part).is_err(), "accepted {part:?}");
                }
            }
        }
        let secret = skey_material(PETER_SKEY);
        for i in 0..bytes.len() {
            let mut changed = bytes.to_vec();
            changed[i] += 1;
            let changed = String::from_utf8(changed).unwrap();
            let err = Signer::from_signer_key(&changed).unwrap_err().to_string();
            assert!(!err.contains(&secret[4..20]), "{err}");
        }
        assert!(matches!(
            Signer::from_signer_key(&PETER_SKEY.replace("c74f20a3", "c74f20a4")),
            Err(CheckpointError::KeyIdMismatch)
        ));
        assert!(matches!(
            Signer::from_signer_key(&PETER_SKEY.replace("+AYEK", "+AoEK")),
            Err(CheckpointError::UnsupportedAlgorithm(0x02))
        ));
        assert!(Signer::from_signer_key(PETER_VKEY).is_err());
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let peter = Signer::from_signer_key(PETER_SKEY).unwrap();
        let shown = format!("{peter:?}");
        assert!(
            shown.contains("PeterNeumann") && shown.contains("c74f20a3"),
            "{shown}"
        );
        assert!(shown.contains("hidden"), "{shown}");
        let secret = skey_material(PETER_SKEY);
        assert!(!shown.contains(&secret[4..20]), "{shown}");
        let seed_hex: String = peter
            .key
            .as_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(!shown.contains(&seed_hex[..16]), "{shown}");
        assert!(!shown.contains("129, 10, 20"), "{shown}"); // the seed's first bytes
        assert_eq!(
            format!("{:?}", peter.verifier()),
            format!("Verifier({PETER_VKEY:?})")
        );
    }

    #[test]
    fn key_files_are_owner_only_and_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/checkpoint.key");
        let verifier = write_signer(&path, "outpost.example/audit").unwrap();
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o400);
        let written = fs::read_to_string(&path).unwrap();
        assert!(written.starts_with("PRIVATE+KEY+outpost.example/audit+"));
        assert!(written.ends_with('\n') && written.matches('\n').count() == 1);

        let signer = load_signer(&path).unwrap();
        assert_eq!(signer.verifier(), verifier);
        let cp = checkpoint(3, 0x33);
        assert_eq!(
            verifier
                .verify_note(&signer.sign_note(&cp).unwrap())
                .unwrap(),
            cp
        );

        let err = write_signer(&path, "outpost.example/audit")
            .unwrap_err()
            .to_string();
        assert!(err.contains("already exists"), "{err}");
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            written,
            "the key is untouched"
        );

        for mode in [0o440, 0o404, 0o600 | 0o020, 0o644] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            let err = load_signer(&path).unwrap_err().to_string();
            assert!(err.contains("chmod 0400"), "{err}");
            assert!(!err.contains(skey_material(written.trim())), "{err}");
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(load_signer(&path).unwrap().verifier(), verifier);

        assert!(load_signer(&dir.path().join("missing")).is_err());
        assert!(
            load_signer(dir.path()).is_err(),
            "a directory is not a key file"
        );

        // A bad name fails before anything is written.
        let unnamed = dir.path().join("unnamed.key");
        assert!(matches!(
            write_signer(&unnamed, "two words"),
            Err(CheckpointError::InvalidKeyName)
        ));
        assert!(!unnamed.exists());

        // A damaged file names itself and the problem, not the content.
        let damaged = dir.path().join("damaged.key");
        fs::write(&damaged, PETER_SKEY.replace("c74f20a3", "00000000")).unwrap();
        fs::set_permissions(&damaged, fs::Permissions::from_mode(0o400)).unwrap();
        let err = load_signer(&damaged).unwrap_err().to_string();
        assert!(
            err.contains("damaged.key") && err.contains("key id"),
            "{err}"
        );
    }
}
