//! A scan when a skill directory changes: an installed or edited skill is checked
//! within a minute, not at night.
//!
//! The directories are polled for a fingerprint of their entries' metadata rather
//! than watched with inotify: a skill is usually reinstalled by replacing its whole
//! directory (which silently ends an inotify watch on the old one), a configured
//! directory may not exist yet when the server starts, and the fingerprint includes
//! each entry's ctime, which no one can set back the way `touch` sets mtime. Walking a
//! few skills' metadata every few seconds costs next to nothing.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::files;
use super::requests::ScanRequests;
use crate::scheduler::Services;

/// The longest pause between two looks at the directories.
const MAX_POLL: Duration = Duration::from_secs(5);

/// Everything below `dirs` that a change to a skill alters: which files and links
/// there are, and each one's size, times, inode and mode (links are not followed).
pub fn fingerprint(dirs: &[PathBuf]) -> u64 {
    let mut hasher = DefaultHasher::new();
    for dir in dirs {
        let tree = files::walk(dir);
        for path in tree.files.iter().chain(&tree.links) {
            path.hash(&mut hasher);
            if let Ok(meta) = std::fs::symlink_metadata(path) {
                (meta.len(), meta.mtime(), meta.mtime_nsec()).hash(&mut hasher);
                (meta.ctime(), meta.ctime_nsec(), meta.ino(), meta.mode()).hash(&mut hasher);
            }
        }
        tree.unreadable.len().hash(&mut hasher);
    }
    hasher.finish()
}

/// Waits for changes to settle: an install writes many files, and one scan after the
/// last of them covers them all.
#[derive(Debug)]
pub struct Settle {
    quiet: Duration,
    seen: u64,
    changed_at: Option<Instant>,
}

impl Settle {
    /// Starting from what is there now, which is not a change.
    pub fn new(quiet: Duration, baseline: u64) -> Self {
        Self {
            quiet,
            seen: baseline,
            changed_at: None,
        }
    }

    /// One look at the directories: true when a change has stayed unchanged for the
    /// quiet period (once per change).
    pub fn observe(&mut self, fingerprint: u64, now: Instant) -> bool {
        if fingerprint != self.seen {
            self.seen = fingerprint;
            self.changed_at = Some(now);
            return false;
        }
        match self.changed_at {
            Some(at) if now.duration_since(at) >= self.quiet => {
                self.changed_at = None;
                true
            }
            _ => false,
        }
    }
}

/// The skill directories' watch, its baseline taken when it was made.
#[derive(Debug)]
pub struct SkillWatch {
    dirs: Vec<PathBuf>,
    settle: Settle,
    poll: Duration,
}

impl Services {
    /// A watch of `scan.skill_directories`, unless there are none or the loop is off
    /// (`scan.nightly` blank).
    pub fn skill_watch(&self) -> Option<SkillWatch> {
        let config = self.config.get();
        let settings = &config.scan;
        if settings.skill_directories.is_empty() || settings.nightly.trim().is_empty() {
            return None;
        }
        let dirs = settings.skill_directories.clone();
        let baseline = fingerprint(&dirs);
        Some(SkillWatch {
            poll: (settings.skill_change_quiet / 4).min(MAX_POLL),
            settle: Settle::new(settings.skill_change_quiet, baseline),
            dirs,
        })
    }
}

impl SkillWatch {
    /// Runs until the process ends: asks for a scan (trigger `skills_changed`) after
    /// each settled change, through the same queue as every other trigger.
    pub async fn run(mut self, requests: ScanRequests) {
        loop {
            tokio::time::sleep(self.poll).await;
            let dirs = self.dirs.clone();
            let Ok(now) = tokio::task::spawn_blocking(move || fingerprint(&dirs)).await else {
                continue;
            };
            if self.settle.observe(now, Instant::now()) {
                tracing::info!("a skill directory changed: scanning");
                if !requests.request("skills_changed") {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_scan_once_changes_have_settled() {
        let quiet = Duration::from_secs(30);
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut settle = Settle::new(quiet, 1);
        assert!(!settle.observe(1, at(60)), "nothing changed");
        assert!(!settle.observe(2, at(65)), "a change starts the wait");
        assert!(!settle.observe(3, at(80)), "another change restarts it");
        assert!(!settle.observe(3, at(105)));
        assert!(settle.observe(3, at(110)), "quiet for 30 s");
        assert!(!settle.observe(3, at(200)), "once per change");
        assert!(!settle.observe(4, at(201)));
        assert!(settle.observe(4, at(231)));
    }

    #[test]
    fn the_fingerprint_sees_edits_additions_and_removals() {
        let dir = tempfile::tempdir().unwrap();
        let dirs = [dir.path().to_path_buf()];
        let file = dir.path().join("skill/SKILL.md");
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, "a").unwrap();
        let first = fingerprint(&dirs);
        assert_eq!(fingerprint(&dirs), first);
        std::fs::write(&file, "ab").unwrap();
        let edited = fingerprint(&dirs);
        assert_ne!(edited, first);
        std::fs::write(dir.path().join("skill/new.sh"), "").unwrap();
        let added = fingerprint(&dirs);
        assert_ne!(added, edited);
        std::fs::remove_file(&file).unwrap();
        assert_ne!(fingerprint(&dirs), added);
    }
}
