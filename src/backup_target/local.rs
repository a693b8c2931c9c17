//! Backups as files under a directory (by default `backups/` in the data directory).
//!
//! Each object is written to `<name>.partial`, fsynced, renamed into place and its
//! directory fsynced, so after a crash a name holds either nothing or the whole object.
//! Files are mode 0600 and directories 0700: backups hold the whole database.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::{
    ObjectInfo, Result, Stored, Target, TargetError, check_name, copy_hashed, group_by_backup,
};

const PARTIAL: &str = ".partial";

#[derive(Debug, Clone)]
pub struct LocalDir {
    root: PathBuf,
    /// Who owns what this target writes, when that is not the writer: root running
    /// `outpost backup` by hand must leave files the service user can read and prune.
    owner: Option<(u32, u32)>,
}

impl LocalDir {
    /// The target rooted at `root`, created (mode 0700) if missing. Run as root, what
    /// it creates belongs to the owner of the nearest directory above that exists
    /// (the data directory's owner, `outpost`, on a server).
    pub fn new(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        let owner = if nix::unistd::geteuid().is_root() {
            root.ancestors()
                .find_map(|dir| fs::metadata(dir).ok())
                .map(|meta| (meta.uid(), meta.gid()))
                .filter(|&(uid, _)| uid != 0)
        } else {
            None
        };
        let missing: Vec<PathBuf> = root
            .ancestors()
            .take_while(|dir| !dir.exists())
            .map(Path::to_path_buf)
            .collect();
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&root)
            .map_err(|source| io_err("create directory", &root, source))?;
        let target = Self { root, owner };
        for dir in &missing {
            target.give_away(dir).map_err(|e| io_err("chown", dir, e))?;
        }
        Ok(target)
    }

    /// Hands `path` to the target's owner, if it has one other than the writer.
    fn give_away(&self, path: &Path) -> io::Result<()> {
        match self.owner {
            Some((uid, gid)) => std::os::unix::fs::lchown(path, Some(uid), Some(gid)),
            None => Ok(()),
        }
    }

    /// The default location: `<data_dir>/backups`.
    pub fn in_data_dir(data_dir: &Path) -> Result<Self> {
        Self::new(data_dir.join("backups"))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, name: &str) -> Result<PathBuf> {
        check_name(name)?;
        Ok(self.root.join(name))
    }

    /// Creates the missing parents of `path` below the root, fsyncing each parent so
    /// the new directory entries survive a crash.
    fn make_parents(&self, path: &Path) -> io::Result<()> {
        let parent = path.parent().expect("object paths are below the root");
        let mut missing = Vec::new();
        let mut dir = parent;
        while dir != self.root && !dir.exists() {
            missing.push(dir);
            dir = dir.parent().expect("below the root");
        }
        for dir in missing.into_iter().rev() {
            match fs::DirBuilder::new().mode(0o700).create(dir) {
                Ok(()) => self.give_away(dir)?,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
            fsync_dir(dir.parent().expect("below the root"))?;
        }
        Ok(())
    }

    /// Every file below the root as (relative name, size, mtime), `.partial` ones too.
    fn scan(&self) -> Result<Vec<ObjectInfo>> {
        let mut out = Vec::new();
        let mut stack = vec![self.root.clone()];
        while let Some(dir) = stack.pop() {
            let entries = fs::read_dir(&dir).map_err(|e| io_err("list", &dir, e))?;
            for entry in entries {
                let entry = entry.map_err(|e| io_err("list", &dir, e))?;
                let meta = entry
                    .metadata()
                    .map_err(|e| io_err("stat", &entry.path(), e))?;
                if meta.is_dir() {
                    stack.push(entry.path());
                } else if meta.is_file() {
                    let path = entry.path();
                    let rel = path.strip_prefix(&self.root).expect("below the root");
                    out.push(ObjectInfo {
                        name: rel.to_string_lossy().into_owned(),
                        size: meta.len(),
                        modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                    });
                }
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }
}

impl Target for LocalDir {
    fn put(&self, name: &str, reader: &mut dyn Read) -> Result<Stored> {
        let path = self.path(name)?;
        let partial = PathBuf::from(format!("{}{PARTIAL}", path.display()));
        self.make_parents(&path)
            .map_err(|e| io_err("create directory for", &path, e))?;
        let mut write = || -> io::Result<Stored> {
            let mut file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&partial)?;
            self.give_away(&partial)?;
            let stored = copy_hashed(reader, &mut file)?;
            file.sync_all()?;
            drop(file);
            fs::rename(&partial, &path)?;
            fsync_dir(path.parent().expect("below the root"))?;
            Ok(stored)
        };
        write().map_err(|source| {
            // Best effort: a leftover is also swept by cleanup_partial.
            let _ = fs::remove_file(&partial);
            io_err("write", &path, source)
        })
    }

    fn get(&self, name: &str) -> Result<Box<dyn Read + Send>> {
        let path = self.path(name)?;
        match File::open(&path) {
            Ok(file) => Ok(Box::new(io::BufReader::new(file))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(TargetError::NotFound(name.into()))
            }
            Err(e) => Err(io_err("open", &path, e)),
        }
    }

    fn head(&self, name: &str) -> Result<Option<ObjectInfo>> {
        let path = self.path(name)?;
        match fs::metadata(&path) {
            Ok(meta) => Ok(Some(ObjectInfo {
                name: name.to_owned(),
                size: meta.len(),
                modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("stat", &path, e)),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        Ok(self
            .scan()?
            .into_iter()
            .filter(|o| o.name.starts_with(prefix) && !o.name.ends_with(PARTIAL))
            .collect())
    }

    fn delete(&self, name: &str) -> Result<()> {
        let path = self.path(name)?;
        match fs::remove_file(&path) {
            Ok(()) => {
                let parent = path.parent().expect("below the root");
                // The backup's directory goes with its last object (it fails while
                // others remain, which is fine).
                if parent != self.root && fs::remove_dir(parent).is_ok() {
                    return fsync_dir(parent.parent().expect("below the root"))
                        .map_err(|e| io_err("delete", &path, e));
                }
                fsync_dir(parent).map_err(|e| io_err("delete", &path, e))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("delete", &path, e)),
        }
    }

    /// Like the default, but counts `.partial` leftovers of a crashed `put` and removes
    /// the backup's whole directory, leftovers included.
    fn cleanup_partial(&self, older_than: Duration) -> Result<Vec<String>> {
        let cutoff = SystemTime::now()
            .checked_sub(older_than)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let mut removed = Vec::new();
        for (id, group) in group_by_backup(self.scan()?) {
            if group.has_manifest || group.newest > cutoff {
                continue;
            }
            let dir = self.root.join(&id);
            fs::remove_dir_all(&dir).map_err(|e| io_err("remove", &dir, e))?;
            tracing::info!(backup = %id, objects = group.names.len(), "removed partial backup");
            removed.push(id);
        }
        if !removed.is_empty() {
            fsync_dir(&self.root).map_err(|e| io_err("sync", &self.root, e))?;
        }
        Ok(removed)
    }
}

fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn io_err(op: &'static str, path: &Path, source: io::Error) -> TargetError {
    TargetError::Io {
        op,
        name: path.display().to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn files_are_private_and_partials_hidden() {
        let dir = tempfile::tempdir().unwrap();
        let target = LocalDir::new(dir.path().join("b")).unwrap();
        let stored = target.put("x/db.dump", &mut &b"hello"[..]).unwrap();
        assert_eq!(stored.size, 5);
        let mode = fs::metadata(target.root().join("x/db.dump"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        fs::write(target.root().join("x/other.partial"), b"half").unwrap();
        let names: Vec<_> = target
            .list("")
            .unwrap()
            .into_iter()
            .map(|o| o.name)
            .collect();
        assert_eq!(names, ["x/db.dump"]);
        target.verify("x/db.dump", &stored).unwrap();
        assert_eq!(target.cleanup_partial(Duration::ZERO).unwrap(), ["x"]);
        assert!(!target.root().join("x").exists());
    }
}
