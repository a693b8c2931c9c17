//! The backup pipelines as composable adapters: `source → zstd → encrypt → sha256 → sink`
//! when writing, `source → decrypt → unzstd` when reading.

use std::io::{self, BufReader, Read, Write};

use sha2::{Digest, Sha256};

use super::key::BackupKey;
use super::manifest::Part;
use super::stream::{DecryptingReader, EncryptingWriter};

/// zstd's own default: most of the ratio of higher levels at several times the speed.
pub const DEFAULT_ZSTD_LEVEL: i32 = 3;

/// Passes writes through while hashing and counting them, so the stored file's
/// digest is known when it is closed, without reading it back.
#[derive(Debug)]
pub struct Sha256Writer<W: Write> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> Sha256Writer<W> {
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            written: 0,
        }
    }

    /// The sink, the SHA-256 of every byte written and their count.
    pub fn finish(self) -> (W, [u8; 32], u64) {
        (self.inner, self.hasher.finalize().into(), self.written)
    }
}

impl<W: Write> Write for Sha256Writer<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        // Hash only what the sink took: a short write must not hash bytes written twice.
        let n = self.inner.write(data)?;
        self.hasher.update(&data[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes one backup part: compresses, encrypts and hashes on the way to the sink.
pub struct BackupWriter<W: Write> {
    encoder: zstd::stream::write::Encoder<'static, EncryptingWriter<Sha256Writer<W>>>,
    plaintext: u64,
}

impl<W: Write> BackupWriter<W> {
    pub fn new(sink: W, key: &BackupKey, zstd_level: i32) -> io::Result<Self> {
        let encrypt = EncryptingWriter::new(Sha256Writer::new(sink), key)?;
        let mut encoder = zstd::stream::write::Encoder::new(encrypt, zstd_level)?;
        // A checksum inside the frame is redundant under GCM; the size in the header helps
        // nothing when streaming.
        encoder.include_checksum(false)?;
        Ok(Self {
            encoder,
            plaintext: 0,
        })
    }

    /// Ends the zstd frame and the encrypted stream; returns the sink and the part's
    /// manifest entry.
    pub fn finish(self, name: impl Into<String>) -> io::Result<(W, Part)> {
        let encrypt = self.encoder.finish()?;
        let (sink, sha256, stored) = encrypt.finish()?.finish();
        let part = Part {
            name: name.into(),
            plaintext_size: self.plaintext,
            stored_size: stored,
            sha256: hex(&sha256),
        };
        Ok((sink, part))
    }
}

impl<W: Write> Write for BackupWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = self.encoder.write(data)?;
        self.plaintext += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.encoder.flush()
    }
}

impl<W: Write> std::fmt::Debug for BackupWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupWriter")
            .field("plaintext", &self.plaintext)
            .finish_non_exhaustive()
    }
}

/// Reads one backup part back as plaintext. Errors from the decrypting layer come
/// through as `io::Error`s carrying a [`super::stream::StreamError`].
pub struct BackupReader<R: Read> {
    decoder: zstd::stream::read::Decoder<'static, BufReader<DecryptingReader<R>>>,
}

impl<R: Read> BackupReader<R> {
    pub fn new(source: R, key: &BackupKey) -> io::Result<Self> {
        let decrypt = DecryptingReader::new(source, key)?;
        // Not single-frame: the decoder then reads its source to EOF, which is where the
        // decrypting layer proves the stream was not cut short.
        let decoder = zstd::stream::read::Decoder::new(decrypt)?;
        Ok(Self { decoder })
    }
}

impl<R: Read> Read for BackupReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.decoder.read(out)
    }
}

impl<R: Read> std::fmt::Debug for BackupReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupReader").finish_non_exhaustive()
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
