//! A skill's install manifest: `SHA256SUMS` in the skill's directory, in the format
//! `sha256sum` writes and checks (`<64 hex digits>  <path>`, one file a line, paths
//! relative to the skill's directory). Written when the skill is installed:
//!
//! ```sh
//! cd skills/report-writer && find . -type f ! -name SHA256SUMS -exec sha256sum {} + > SHA256SUMS
//! ```
//!
//! A file whose bytes no longer hash to its line was changed after installation.

use std::collections::BTreeMap;
use std::io;
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::scan::files;

pub const FILE_NAME: &str = "SHA256SUMS";
/// A manifest longer than this is not one a skill's install wrote.
pub const MAX_BYTES: u64 = 1024 * 1024;

/// Path (relative to the skill) → lowercase hex SHA-256.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    pub files: BTreeMap<PathBuf, String>,
}

/// A line that is not `<hash>  <path>`, or names a path outside the skill.
#[derive(Debug, PartialEq, Eq)]
pub struct BadLine {
    pub line: usize,
    pub why: &'static str,
}

pub fn parse(text: &str) -> Result<Manifest, BadLine> {
    let mut manifest = Manifest::default();
    for (index, line) in text.lines().enumerate() {
        let bad = |why| BadLine {
            line: index + 1,
            why,
        };
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (hash, rest) = line
            .split_once(' ')
            .ok_or_else(|| bad("not `<sha-256>  <path>`"))?;
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("not a SHA-256 in hex"));
        }
        // `sha256sum` marks the mode with a space (text) or `*` (binary).
        let path = rest
            .strip_prefix(' ')
            .or_else(|| rest.strip_prefix('*'))
            .ok_or_else(|| bad("not `<sha-256>  <path>`"))?;
        let path = relative(path).ok_or_else(|| bad("a path outside the skill"))?;
        manifest.files.insert(path, hash.to_ascii_lowercase());
    }
    Ok(manifest)
}

/// `./a/b` → `a/b`; none for an absolute path or one that climbs out with `..`.
fn relative(path: &str) -> Option<PathBuf> {
    let mut clean = PathBuf::new();
    for component in Path::new(path).components() {
        match component {
            Component::Normal(part) => clean.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!clean.as_os_str().is_empty()).then_some(clean)
}

/// The lowercase hex SHA-256 of a file, streamed (a skill may ship a large asset);
/// a symbolic link swapped in is refused.
pub fn hash(path: &Path) -> io::Result<String> {
    let mut file = files::open_regular(path)?;
    let mut hasher = Sha256::new();
    io::copy(&mut file, &mut hasher)?;
    Ok(crate::export::tarball::hex(&hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    #[test]
    fn reads_what_sha256sum_writes() {
        let text = format!(
            "{HASH}  ./SKILL.md\n{}  scripts/run.sh\n{HASH} *img/logo.png\n",
            HASH.to_uppercase()
        );
        let manifest = parse(&text).unwrap();
        let paths: Vec<_> = manifest
            .files
            .keys()
            .map(|p| p.display().to_string())
            .collect();
        assert_eq!(paths, ["SKILL.md", "img/logo.png", "scripts/run.sh"]);
        assert!(manifest.files.values().all(|h| h == HASH));
    }

    #[test]
    fn bad_lines_are_named() {
        let why = |text: &str| parse(text).unwrap_err();
        assert_eq!(
            why(&format!("{HASH}  ok.md\nnonsense\n")),
            BadLine {
                line: 2,
                why: "not `<sha-256>  <path>`"
            }
        );
        assert_eq!(why("abc  SKILL.md\n").why, "not a SHA-256 in hex");
        assert_eq!(
            why(&format!("{HASH}  ../other/SKILL.md\n")).why,
            "a path outside the skill"
        );
        assert_eq!(
            why(&format!("{HASH}  /etc/passwd\n")).why,
            "a path outside the skill"
        );
    }

    #[test]
    fn hashes_a_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), "hello").unwrap();
        assert_eq!(hash(&dir.path().join("f")).unwrap(), HASH);
    }
}
