//! A backup's database handed to a person: the `pg_dump` custom-format file as it was
//! dumped, decrypted on the fly, restorable with a stock `pg_restore`. The manifest is
//! authenticated before a byte is read, and the stream fails rather than ends early
//! if the part was cut short or altered, so a download that completes is the dump.

use std::io::{self, Read};

use uuid::Uuid;

use super::catalog;
use super::create::DATABASE_PART;
use super::error::BackupError;
use super::pipeline::BackupReader;
use super::runs::Backups;

/// The decrypted dump of one backup, and its length as the manifest records it.
pub struct DatabaseDump {
    pub length: u64,
    pub reader: Box<dyn Read + Send>,
}

impl std::fmt::Debug for DatabaseDump {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseDump")
            .field("length", &self.length)
            .finish_non_exhaustive()
    }
}

impl Backups<'_> {
    /// Opens the database dump of backup `id` on `target_name`, its manifest checked.
    pub fn database_dump(&self, target_name: &str, id: Uuid) -> Result<DatabaseDump, BackupError> {
        let target = self.target(target_name)?;
        let keys = self.keys(None);
        let id = id.to_string();
        // A backup without its manifest (partial, or removed) fails here as not found.
        let manifest = catalog::read_manifest(&*target, &id, &keys.server)?;
        // One sealed to a recipient cannot be read here at all.
        let key = keys.for_parts(&manifest)?;
        let part = manifest
            .parts
            .iter()
            .find(|p| p.name == DATABASE_PART)
            .ok_or_else(|| BackupError::Failed("the backup holds no database".into()))?;
        let name = format!("{id}/{}", part.name);
        let reader = BackupReader::new(target.get(&name)?, &key)
            .map_err(|e| BackupError::Failed(format!("{name}: {e}")))?;
        Ok(DatabaseDump {
            length: part.plaintext_size,
            reader: Box::new(Exact {
                inner: reader,
                expected: part.plaintext_size,
                seen: 0,
            }),
        })
    }
}

/// Fails at the end of `inner` unless exactly `expected` bytes came out: the
/// decrypting layer proves the stream is whole, this that it is the one the manifest
/// describes.
struct Exact<R> {
    inner: R,
    expected: u64,
    seen: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.seen += n as u64;
        let at_end = n == 0 && !buf.is_empty();
        if (at_end && self.seen != self.expected) || self.seen > self.expected {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the dump decrypted to {} bytes, the manifest says {}",
                    self.seen, self.expected
                ),
            ));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(data: &[u8], expected: u64) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        Exact {
            inner: data,
            expected,
            seen: 0,
        }
        .read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn only_the_recorded_length_reads_to_the_end() {
        assert_eq!(read_all(b"abc", 3).unwrap(), b"abc");
        assert!(read_all(b"ab", 3).is_err(), "short");
        assert!(read_all(b"abcd", 3).is_err(), "long");
    }
}
