//! Where the scan looks: log files, the regular files under the document
//! directories, and the service's journal.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::scanner::{Hit, Scanner};

/// Larger documents are skipped: a document of this size is an archive, a disk image
/// or a database dump, not something a person pasted a key into.
pub const MAX_DOCUMENT_BYTES: u64 = 16 * 1024 * 1024;
/// A NUL byte this early means a binary file.
const SNIFF_BYTES: usize = 8 * 1024;

pub enum Outcome {
    Scanned(Vec<Hit>),
    /// Not text, or too large: nothing to say.
    Skipped,
}

/// A log file: any size, read a line at a time.
pub fn log_file(scanner: &Scanner<'_>, path: &Path) -> io::Result<Vec<Hit>> {
    scanner.scan(BufReader::new(File::open(path)?))
}

/// Every regular file under `root`, sorted. Symbolic links are not followed, so the
/// scan stays inside the directory; the directories that cannot be read are returned
/// beside the files.
pub fn documents(root: &Path) -> (Vec<PathBuf>, Vec<(PathBuf, io::Error)>) {
    let (mut files, mut unreadable) = (Vec::new(), Vec::new());
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) => {
                unreadable.push((dir, e));
                continue;
            }
        };
        for entry in entries.flatten() {
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => dirs.push(entry.path()),
                Ok(kind) if kind.is_file() => files.push(entry.path()),
                _ => {}
            }
        }
    }
    files.sort();
    (files, unreadable)
}

/// One document, unless it is binary or too large.
pub fn document(scanner: &Scanner<'_>, path: &Path) -> io::Result<Outcome> {
    // The file was a regular file when listed; a symbolic link swapped in since is
    // refused rather than followed out of the directory.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() || meta.len() > MAX_DOCUMENT_BYTES {
        return Ok(Outcome::Skipped);
    }
    let mut content = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_DOCUMENT_BYTES).read_to_end(&mut content)?;
    if content[..content.len().min(SNIFF_BYTES)].contains(&0) {
        return Ok(Outcome::Skipped);
    }
    scanner.scan(content.as_slice()).map(Outcome::Scanned)
}

/// The last week of outpost.service's journal; `Err` says why there is none (no
/// journalctl, as in a container, or it failed).
pub fn journal(scanner: &Scanner<'_>) -> Result<Vec<Hit>, String> {
    let output = Command::new("journalctl")
        .args(["-u", "outpost.service", "--no-pager", "-o", "cat"])
        .args(["--since", "-7 days"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("journalctl could not be run: {e}"))?;
    if !output.status.success() {
        // Its standard error is not repeated: it may quote journal lines.
        return Err(format!("journalctl failed ({})", output.status));
    }
    scanner
        .scan(output.stdout.as_slice())
        .map_err(|e| format!("the journal could not be read: {e}"))
}
