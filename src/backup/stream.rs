//! Chunked authenticated encryption of a byte stream: AES-256-GCM in the STREAM
//! construction (Hoang, Reyhanitabar, Rogaway, Vizár 2015), as age and Tink use it.
//!
//! The plaintext is cut into 64 KiB chunks; chunk `i` is sealed under the nonce
//! `prefix(7) ‖ i as u32 big-endian ‖ last-flag(1)`, with the whole file header as
//! associated data. A reader therefore rejects chunks that were reordered, duplicated,
//! dropped or altered, a file cut short at a chunk boundary (its new final chunk was
//! sealed as "not last") and bytes appended after the real final chunk.
//!
//! The 7-byte prefix is random, but nonce uniqueness does not rest on it alone: each file
//! is sealed under its own key, HKDF-derived from the backup key and a random 32-byte
//! salt in the header (Tink's AES-GCM-HKDF streaming layout), so two files never share a
//! (key, nonce) pair short of a salt collision.

use std::io::{self, Read, Write};

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{AeadInOut, Tag};
use hmac::Mac;

pub use super::header::{CHUNK_SIZE, FORMAT_VERSION, Header, MAGIC, StreamError, TAG_SIZE};
use super::key::BackupKey;

/// Encrypts everything written to it. [`EncryptingWriter::finish`] seals the final
/// chunk: a writer dropped without it leaves a file every reader rejects as truncated,
/// so a failed backup can never pass for a complete one.
pub struct EncryptingWriter<W: Write> {
    inner: W,
    header: Header,
    cipher: Aes256Gcm,
    counter: u32,
    /// One chunk of plaintext, sealed in place; its capacity never grows.
    buf: Vec<u8>,
    poisoned: bool,
}

impl<W: Write> EncryptingWriter<W> {
    /// Writes the header at once.
    pub fn new(mut inner: W, key: &BackupKey) -> io::Result<Self> {
        let mut header = Header::new(key.id());
        let tag = header.header_mac(key).finalize().into_bytes();
        header.raw.extend_from_slice(&tag);
        inner.write_all(&header.raw)?;
        Ok(Self {
            inner,
            cipher: header.cipher(key),
            header,
            counter: 0,
            buf: Vec::with_capacity(CHUNK_SIZE + TAG_SIZE),
            poisoned: false,
        })
    }

    /// Bytes this writer has reserved for buffering; constant over the stream's life.
    pub fn buffered_capacity(&self) -> usize {
        self.buf.capacity()
    }

    fn seal(&mut self, last: bool) -> io::Result<()> {
        if self.poisoned {
            return Err(StreamError::Poisoned.into());
        }
        // Poisoned until the chunk is fully out: a retry after a half-written chunk
        // would corrupt the file silently.
        self.poisoned = true;
        let nonce = self.header.nonce(self.counter, last);
        let tag = self
            .cipher
            .encrypt_inout_detached(&nonce, &self.header.raw, self.buf.as_mut_slice().into())
            .map_err(|_| StreamError::TooLong)?;
        self.buf.extend_from_slice(&tag);
        self.inner.write_all(&self.buf)?;
        self.buf.clear();
        if !last {
            self.counter = self.counter.checked_add(1).ok_or(StreamError::TooLong)?;
        }
        self.poisoned = false;
        Ok(())
    }

    /// Seals the final chunk and flushes; returns the sink.
    pub fn finish(mut self) -> io::Result<W> {
        self.seal(true)?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for EncryptingWriter<W> {
    fn write(&mut self, mut data: &[u8]) -> io::Result<usize> {
        let total = data.len();
        while !data.is_empty() {
            // A full chunk is sealed only once more data arrives, so that the final
            // chunk is never empty unless the whole stream is.
            if self.buf.len() == CHUNK_SIZE {
                self.seal(false)?;
            }
            let take = (CHUNK_SIZE - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        Ok(total)
    }

    /// Flushes the sink only: a partial chunk stays buffered until it fills or `finish`.
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W: Write> std::fmt::Debug for EncryptingWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptingWriter")
            .field("key_id", &self.header.key_id)
            .field("chunk", &self.counter)
            .finish_non_exhaustive()
    }
}

/// Decrypts and verifies a stream chunk by chunk. Each chunk is authenticated before
/// any of its bytes are returned, but the stream is known complete only when `read`
/// returns 0: a consumer must read to the end before trusting what it got.
pub struct DecryptingReader<R: Read> {
    inner: R,
    header: Header,
    cipher: Aes256Gcm,
    counter: u32,
    buf: Vec<u8>,
    pos: usize,
    /// The byte read past a full chunk to learn whether that chunk is the last.
    lookahead: Option<u8>,
    done: bool,
    failed: bool,
}

impl<R: Read> DecryptingReader<R> {
    /// Reads and verifies the header.
    pub fn new(mut inner: R, key: &BackupKey) -> io::Result<Self> {
        let header = Header::read(&mut inner)?;
        Self::with_header(inner, header, key)
    }

    /// Verifies a header read with [`Header::read`], for callers that chose the key by its id.
    pub fn with_header(inner: R, header: Header, key: &BackupKey) -> io::Result<Self> {
        if header.key_id != key.id() {
            return Err(StreamError::KeyMismatch {
                file: header.key_id.clone(),
                given: key.id().to_owned(),
            }
            .into());
        }
        let tag = &header.raw[header.signed_len()..];
        if header.header_mac(key).verify_slice(tag).is_err() {
            return Err(StreamError::WrongKeyOrHeaderAltered.into());
        }
        Ok(Self {
            inner,
            cipher: header.cipher(key),
            header,
            counter: 0,
            buf: Vec::with_capacity(CHUNK_SIZE + TAG_SIZE),
            pos: 0,
            lookahead: None,
            done: false,
            failed: false,
        })
    }

    pub fn key_id(&self) -> &str {
        &self.header.key_id
    }

    /// Bytes this reader has reserved for buffering; constant over the stream's life.
    pub fn buffered_capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Fills `buf` with up to one stored chunk; says whether it is the final one.
    fn fill_chunk(&mut self) -> io::Result<bool> {
        self.buf.clear();
        self.buf.extend(self.lookahead.take());
        let mut filled = self.buf.len();
        self.buf.resize(CHUNK_SIZE + TAG_SIZE, 0);
        while filled < self.buf.len() {
            match self.inner.read(&mut self.buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.buf.truncate(filled);
        if filled < CHUNK_SIZE + TAG_SIZE {
            return Ok(true);
        }
        let mut one = [0u8; 1];
        loop {
            match self.inner.read(&mut one) {
                Ok(0) => return Ok(true),
                Ok(_) => {
                    self.lookahead = Some(one[0]);
                    return Ok(false);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn open(&mut self, last: bool) -> Result<(), aes_gcm::Error> {
        let split = self.buf.len().checked_sub(TAG_SIZE).ok_or(aes_gcm::Error)?;
        let (msg, tag) = self.buf.split_at_mut(split);
        let tag = Tag::<Aes256Gcm>::try_from(&*tag).map_err(|_| aes_gcm::Error)?;
        let nonce = self.header.nonce(self.counter, last);
        self.cipher
            .decrypt_inout_detached(&nonce, &self.header.raw, msg.into(), &tag)
    }

    fn next_chunk(&mut self) -> Result<(), io::Error> {
        let last = self.fill_chunk()?;
        let chunk = u64::from(self.counter);
        if self.buf.len() < TAG_SIZE {
            return Err(StreamError::Truncated { chunk }.into());
        }
        if self.open(last).is_err() {
            // The tag is checked before decryption, so the buffer is untouched and
            // can be tried with the other flag to name the failure precisely.
            let err = if self.open(!last).is_ok() {
                if last {
                    StreamError::Truncated { chunk }
                } else {
                    StreamError::TrailingData { chunk }
                }
            } else {
                StreamError::ChunkAuthentication { chunk }
            };
            return Err(err.into());
        }
        self.buf.truncate(self.buf.len() - TAG_SIZE);
        self.pos = 0;
        if last {
            if self.buf.is_empty() && self.counter > 0 {
                return Err(StreamError::EmptyFinalChunk.into());
            }
            self.done = true;
        } else {
            self.counter = self.counter.checked_add(1).ok_or(StreamError::TooLong)?;
        }
        Ok(())
    }
}

impl<R: Read> Read for DecryptingReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.failed {
            return Err(StreamError::Poisoned.into());
        }
        while self.pos == self.buf.len() {
            if self.done {
                return Ok(0);
            }
            if let Err(e) = self.next_chunk() {
                self.failed = true;
                self.buf.clear();
                self.pos = 0;
                return Err(e);
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl<R: Read> std::fmt::Debug for DecryptingReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecryptingReader")
            .field("key_id", &self.header.key_id)
            .field("chunk", &self.counter)
            .finish_non_exhaustive()
    }
}
