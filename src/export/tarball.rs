//! The export tarball: every member is hashed as it is added, so the manifest written
//! last describes exactly the bytes in the archive.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

/// One member of the archive as the manifest lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Member {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

pub struct Tarball<W: Write> {
    builder: tar::Builder<W>,
    members: Vec<Member>,
}

impl<W: Write> std::fmt::Debug for Tarball<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tarball")
            .field("members", &self.members)
            .finish_non_exhaustive()
    }
}

impl<W: Write> Tarball<W> {
    pub fn new(sink: W) -> Self {
        Self {
            builder: tar::Builder::new(sink),
            members: Vec::new(),
        }
    }

    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// Adds a small member held in memory (Markdown, the manifest).
    pub fn add_bytes(&mut self, path: &str, bytes: &[u8]) -> io::Result<()> {
        let mut header = header(bytes.len() as u64);
        self.builder.append_data(&mut header, path, bytes)?;
        self.members.push(Member {
            path: path.to_owned(),
            size: bytes.len() as u64,
            sha256: hex(&Sha256::digest(bytes)),
        });
        Ok(())
    }

    /// Adds a file from disk, streamed twice (hash, then copy) so that a database dump
    /// of any size never sits in memory.
    pub fn add_file(&mut self, path: &str, file: &Path) -> io::Result<()> {
        let mut hasher = Sha256::new();
        let size = io::copy(&mut File::open(file)?, &mut HashWriter(&mut hasher))?;
        let mut header = header(size);
        let source = File::open(file)?;
        // A file that changed between the two reads would make the manifest lie.
        let mut limited = source.take(size);
        self.builder.append_data(&mut header, path, &mut limited)?;
        self.members.push(Member {
            path: path.to_owned(),
            size,
            sha256: hex(&hasher.finalize()),
        });
        Ok(())
    }

    pub fn finish(self) -> io::Result<W> {
        self.builder.into_inner()
    }
}

fn header(size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    header.set_mode(0o600);
    header.set_mtime(time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64);
    header.set_entry_type(tar::EntryType::Regular);
    header
}

struct HashWriter<'a>(&'a mut Sha256);

impl Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_listed_with_the_hash_of_their_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let on_disk = dir.path().join("dump");
        std::fs::write(&on_disk, b"from disk").unwrap();
        let mut tarball = Tarball::new(Vec::new());
        tarball.add_bytes("a.md", b"hello").unwrap();
        tarball.add_file("database/dump", &on_disk).unwrap();
        let members = tarball.members().to_vec();
        let bytes = tarball.finish().unwrap();
        let mut archive = tar::Archive::new(bytes.as_slice());
        for (entry, member) in archive.entries().unwrap().zip(&members) {
            let mut entry = entry.unwrap();
            assert_eq!(entry.path().unwrap().to_str(), Some(member.path.as_str()));
            let mut content = Vec::new();
            entry.read_to_end(&mut content).unwrap();
            assert_eq!(content.len() as u64, member.size);
            assert_eq!(hex(&Sha256::digest(&content)), member.sha256);
        }
        assert_eq!(members.len(), 2);
    }
}
