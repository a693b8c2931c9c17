//! The backup file header (layout in the README, "Backup file format") and the errors
//! of the encrypted stream.

use std::io::{self, Read};

use aes_gcm::aead::KeyInit;
use aes_gcm::aead::consts::U12;
use aes_gcm::{Aes256Gcm, Key, Nonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::key::{BackupKey, MAX_KEY_ID_LEN};

pub const MAGIC: &[u8; 8] = b"OUTPOSTB";
pub const FORMAT_VERSION: u8 = 1;
/// Plaintext bytes per chunk, as a power of two (written to the header).
const CHUNK_LOG2: u8 = 16;
pub const CHUNK_SIZE: usize = 1 << CHUNK_LOG2;
pub const TAG_SIZE: usize = 16;
const SALT_SIZE: usize = 32;
const PREFIX_SIZE: usize = 7;
const HEADER_MAC_SIZE: usize = 32;

const INFO_CHUNK_KEY: &[u8] = b"outpost backup stream v1: chunk key";
const INFO_HEADER_MAC: &[u8] = b"outpost backup stream v1: header mac";

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("not an Outpost backup file (bad magic)")]
    NotABackup,
    #[error("backup format version {0} is not supported by this Outpost")]
    UnsupportedVersion(u8),
    #[error("the backup file header is malformed: {0}")]
    MalformedHeader(&'static str),
    #[error("the backup file ends inside its header")]
    HeaderTruncated,
    #[error("the backup was written with key {file:?}, not {given:?}")]
    KeyMismatch { file: String, given: String },
    #[error("wrong backup key, or the file header was altered")]
    WrongKeyOrHeaderAltered,
    #[error(
        "the backup is truncated: it ends at chunk {chunk}, which was not the last one written"
    )]
    Truncated { chunk: u64 },
    #[error("the backup has data after its final chunk ({chunk})")]
    TrailingData { chunk: u64 },
    #[error(
        "chunk {chunk} failed authentication: the backup is corrupt, truncated or tampered with"
    )]
    ChunkAuthentication { chunk: u64 },
    #[error("the backup ends with an empty chunk after data, which a writer never produces")]
    EmptyFinalChunk,
    #[error("the stream is longer than the format allows (2^32 chunks)")]
    TooLong,
    #[error("the stream failed earlier and cannot continue")]
    Poisoned,
}

impl StreamError {
    /// The stream error inside an `io::Error` from a reader or writer of this module,
    /// also when it came through other adapters (zstd) that pass errors on.
    pub fn from_io(err: &io::Error) -> Option<&StreamError> {
        err.get_ref().and_then(|e| e.downcast_ref::<StreamError>())
    }
}

impl From<StreamError> for io::Error {
    fn from(err: StreamError) -> Self {
        io::Error::new(io::ErrorKind::InvalidData, err)
    }
}

/// A parsed, not yet verified file header.
#[derive(Debug, Clone)]
pub struct Header {
    pub(super) key_id: String,
    salt: [u8; SALT_SIZE],
    prefix: [u8; PREFIX_SIZE],
    /// Every header byte including the MAC: the associated data of every chunk.
    pub(super) raw: Vec<u8>,
}

impl Header {
    pub(super) fn new(key_id: &str) -> Self {
        let mut salt = [0u8; SALT_SIZE];
        let mut prefix = [0u8; PREFIX_SIZE];
        getrandom::fill(&mut salt).expect("the OS random source is available");
        getrandom::fill(&mut prefix).expect("the OS random source is available");
        let mut raw = Vec::with_capacity(60 + key_id.len());
        raw.extend_from_slice(MAGIC);
        raw.extend_from_slice(&[FORMAT_VERSION, CHUNK_LOG2, key_id.len() as u8]);
        raw.extend_from_slice(key_id.as_bytes());
        raw.extend_from_slice(&salt);
        raw.extend_from_slice(&prefix);
        Self {
            key_id: key_id.to_owned(),
            salt,
            prefix,
            raw,
        }
    }

    /// Reads a header without checking it against any key: the key id tells the
    /// caller which key to verify it with.
    pub fn read(r: &mut impl Read) -> Result<Self, io::Error> {
        let mut fixed = [0u8; 11];
        read_exact_or(r, &mut fixed)?;
        if &fixed[..8] != MAGIC {
            return Err(StreamError::NotABackup.into());
        }
        if fixed[8] != FORMAT_VERSION {
            return Err(StreamError::UnsupportedVersion(fixed[8]).into());
        }
        if fixed[9] != CHUNK_LOG2 {
            return Err(StreamError::MalformedHeader("unsupported chunk size").into());
        }
        let id_len = fixed[10] as usize;
        if id_len == 0 || id_len > MAX_KEY_ID_LEN {
            return Err(StreamError::MalformedHeader("bad key id length").into());
        }
        let mut rest = vec![0u8; id_len + SALT_SIZE + PREFIX_SIZE + HEADER_MAC_SIZE];
        read_exact_or(r, &mut rest)?;
        let key_id = std::str::from_utf8(&rest[..id_len])
            .map_err(|_| StreamError::MalformedHeader("key id is not UTF-8"))?
            .to_owned();
        let salt: [u8; SALT_SIZE] = rest[id_len..id_len + SALT_SIZE].try_into().unwrap();
        let at = id_len + SALT_SIZE;
        let prefix: [u8; PREFIX_SIZE] = rest[at..at + PREFIX_SIZE].try_into().unwrap();
        let mut raw = fixed.to_vec();
        raw.extend_from_slice(&rest);
        Ok(Self {
            key_id,
            salt,
            prefix,
            raw,
        })
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The header bytes the MAC covers: all but the MAC itself.
    pub(super) fn signed_len(&self) -> usize {
        MAGIC.len() + 3 + self.key_id.len() + SALT_SIZE + PREFIX_SIZE
    }

    pub(super) fn header_mac(&self, key: &BackupKey) -> Hmac<Sha256> {
        let mac_key = key.derive(Some(&self.salt), INFO_HEADER_MAC);
        let mut mac = Hmac::<Sha256>::new_from_slice(mac_key.as_ref()).expect("any key length");
        mac.update(&self.raw[..self.signed_len()]);
        mac
    }

    pub(super) fn cipher(&self, key: &BackupKey) -> Aes256Gcm {
        let chunk_key = key.derive(Some(&self.salt), INFO_CHUNK_KEY);
        Aes256Gcm::new(&Key::<Aes256Gcm>::from(*chunk_key))
    }

    pub(super) fn nonce(&self, counter: u32, last: bool) -> Nonce<U12> {
        let mut n = [0u8; 12];
        n[..PREFIX_SIZE].copy_from_slice(&self.prefix);
        n[PREFIX_SIZE..11].copy_from_slice(&counter.to_be_bytes());
        n[11] = u8::from(last);
        Nonce::from(n)
    }
}

fn read_exact_or(r: &mut impl Read, buf: &mut [u8]) -> io::Result<()> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => StreamError::HeaderTruncated.into(),
        _ => e,
    })
}
