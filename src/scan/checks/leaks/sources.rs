//! Where the scan looks: log files, the regular files under the document
//! directories, and the service's journal.

use std::fs::File;
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::scanner::{Hit, Scanner};
use crate::scan::files;

/// Larger documents are skipped: a document of this size is an archive, a disk image
/// or a database dump, not something a person pasted a key into.
pub const MAX_DOCUMENT_BYTES: u64 = 16 * 1024 * 1024;

pub enum Outcome {
    Scanned(Vec<Hit>),
    /// Not text, or too large: nothing to say.
    Skipped,
}

/// A log file: any size, read a line at a time.
pub fn log_file(scanner: &Scanner<'_>, path: &Path) -> io::Result<Vec<Hit>> {
    scanner.scan(BufReader::new(File::open(path)?))
}

/// Every regular file under `root` (links are not followed, so the scan stays inside
/// the directory), and the directories that could not be read.
pub fn documents(root: &Path) -> (Vec<PathBuf>, Vec<(PathBuf, io::Error)>) {
    let tree = files::walk(root);
    (tree.files, tree.unreadable)
}

/// One document, unless it is binary or too large.
pub fn document(scanner: &Scanner<'_>, path: &Path) -> io::Result<Outcome> {
    match files::read_text(path, MAX_DOCUMENT_BYTES)? {
        Some(content) => scanner.scan(content.as_slice()).map(Outcome::Scanned),
        None => Ok(Outcome::Skipped),
    }
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
