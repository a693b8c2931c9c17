//! Reading the files a check searches without being led out of where it was told to
//! look: directories are walked without following symbolic links, a file swapped for
//! a link after listing is refused, and what is read is capped.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// A NUL byte this early means a binary file.
const SNIFF_BYTES: usize = 8 * 1024;

/// What is below a directory.
#[derive(Debug, Default)]
pub struct Tree {
    /// Regular files, sorted.
    pub files: Vec<PathBuf>,
    /// Symbolic links, sorted: listed, never followed.
    pub links: Vec<PathBuf>,
    /// Directories that could not be listed, and why.
    pub unreadable: Vec<(PathBuf, io::Error)>,
}

/// Everything below `root`, which is itself followed if it is a link (it is what the
/// configuration names).
pub fn walk(root: &Path) -> Tree {
    let mut tree = Tree::default();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) => {
                tree.unreadable.push((dir, e));
                continue;
            }
        };
        for entry in entries.flatten() {
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => dirs.push(entry.path()),
                Ok(kind) if kind.is_file() => tree.files.push(entry.path()),
                Ok(kind) if kind.is_symlink() => tree.links.push(entry.path()),
                _ => {}
            }
        }
    }
    tree.files.sort();
    tree.links.sort();
    tree
}

/// Opens `path` for reading, refusing a symbolic link: the file was a regular file
/// when listed, and a link swapped in since must not lead the read elsewhere.
pub fn open_regular(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
        .open(path)
}

/// The content of a text file, or none if it is binary or larger than `max` bytes.
pub fn read_text(path: &Path, max: u64) -> io::Result<Option<Vec<u8>>> {
    let file = open_regular(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() || meta.len() > max {
        return Ok(None);
    }
    let mut content = Vec::with_capacity(meta.len() as usize);
    file.take(max).read_to_end(&mut content)?;
    if content[..content.len().min(SNIFF_BYTES)].contains(&0) {
        return Ok(None);
    }
    Ok(Some(content))
}

/// 1-based line numbers of byte offsets into one text.
#[derive(Debug)]
pub struct Lines {
    starts: Vec<usize>,
}

impl Lines {
    pub fn of(text: &str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self { starts }
    }

    /// The line `offset` is on.
    pub fn at(&self, offset: usize) -> usize {
        self.starts.partition_point(|&start| start <= offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_map_to_their_lines() {
        let lines = Lines::of("ab\ncd\n\nef");
        assert_eq!([0, 2, 3, 6, 7, 8].map(|o| lines.at(o)), [1, 1, 2, 3, 4, 4]);
    }

    #[test]
    fn links_are_listed_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret"), "x").unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        fs::write(dir.path().join("sub/a.txt"), "a").unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("out")).unwrap();
        let tree = walk(dir.path());
        assert_eq!(tree.files, [dir.path().join("sub/a.txt")]);
        assert_eq!(tree.links, [dir.path().join("out")]);
        assert!(open_regular(&dir.path().join("out")).is_err());
    }

    #[test]
    fn binary_and_large_files_are_not_text() {
        let dir = tempfile::tempdir().unwrap();
        let (text, binary) = (dir.path().join("t"), dir.path().join("b"));
        fs::write(&text, "hello\n").unwrap();
        fs::write(&binary, b"\x7fELF\0\0").unwrap();
        assert_eq!(
            read_text(&text, 100).unwrap().as_deref(),
            Some(&b"hello\n"[..])
        );
        assert_eq!(read_text(&text, 3).unwrap(), None);
        assert_eq!(read_text(&binary, 100).unwrap(), None);
    }
}
