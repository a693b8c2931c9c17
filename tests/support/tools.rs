//! Host tools the tests run for real (systemd-analyze, shellcheck, …): found on PATH,
//! or the test says loudly that it skipped.

use std::path::{Path, PathBuf};

/// The program's path on PATH, if it is installed.
pub fn find(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The program's path, or none after printing `SKIPPED: <what> (<program> is not
/// installed)` so the skip shows in the test output (`--nocapture`) and in CI logs.
pub fn require(program: &str, what: &str) -> Option<PathBuf> {
    let found = find(program);
    if found.is_none() {
        eprintln!("SKIPPED: {what} ({program} is not installed)");
    }
    found
}
