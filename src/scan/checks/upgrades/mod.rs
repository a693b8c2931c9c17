//! `defensive.security_upgrades`: security fixes apt already knows of but has not
//! installed. Read offline from what apt and dpkg keep: the package lists of the
//! security suites (`var/lib/apt/lists`) against the installed versions
//! (`var/lib/dpkg/status`), compared in Debian's version order. One finding per
//! package, so each fix's time to install is measured on its own.

mod deb822;

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use debversion::Version;

use super::super::{Check, CheckError, Context, Found, Severity};

const DPKG_STATUS: &str = "var/lib/dpkg/status";
const APT_LISTS: &str = "var/lib/apt/lists";

/// The check of the machine below `root` (`/` in a scan).
#[derive(Debug)]
pub struct SecurityUpgrades {
    pub root: PathBuf,
}

/// A binary package: its name and architecture (`all` included).
type PackageKey = (String, String);

impl Check for SecurityUpgrades {
    fn id(&self) -> &'static str {
        "defensive.security_upgrades"
    }

    fn title(&self) -> &'static str {
        "Security fixes apt knows of are installed"
    }

    fn run(&self, _: &Context<'_>) -> Result<Vec<Found>, CheckError> {
        let installed = installed(&self.root.join(DPKG_STATUS))?;
        let lists_dir = self.root.join(APT_LISTS);
        let lists = security_lists(&lists_dir)?;
        if lists.is_empty() {
            return Ok(vec![Found::new(
                "apt:security-lists",
                Severity::Medium,
                "apt knows no security suite, so it cannot see security fixes",
                format!(
                    "no package list of a security suite in {}: add the security suite to apt's sources and run apt update",
                    lists_dir.display()
                ),
            )]);
        }
        let mut candidates: HashMap<PackageKey, Version> = HashMap::new();
        for list in &lists {
            read_versions(list, |key, version| {
                if installed.contains_key(&key)
                    && candidates.get(&key).is_none_or(|best| version > *best)
                {
                    candidates.insert(key, version);
                }
            })?;
        }
        // By name: a package installed for two architectures is one fix to install.
        let mut pending: BTreeMap<&str, (&Version, &Version)> = BTreeMap::new();
        for (key, have) in &installed {
            if let Some(fix) = candidates.get(key).filter(|fix| *fix > have) {
                pending.entry(key.0.as_str()).or_insert((have, fix));
            }
        }
        Ok(pending
            .into_iter()
            .map(|(name, (have, fix))| {
                Found::new(
                    format!("package:{name}"),
                    Severity::High,
                    "A security fix is waiting to be installed",
                    format!("{name} {have} is installed; the security suite has {fix}"),
                )
            })
            .collect())
    }
}

/// Installed packages and their versions, from dpkg's status file.
fn installed(status: &Path) -> Result<HashMap<PackageKey, Version>, CheckError> {
    let mut found = HashMap::new();
    let file = open(status)?;
    deb822::for_each(
        BufReader::new(file),
        &["Package", "Architecture", "Version", "Status"],
        |p| {
            // `Status: want flag state`; only the state `installed` is on the disk whole.
            let is_installed = p
                .get("Status")
                .is_some_and(|s| s.split_whitespace().nth(2) == Some("installed"));
            if let (true, Some(key), Some(version)) = (is_installed, key_of(p), version_of(p)) {
                found.insert(key, version);
            }
        },
    )
    .map_err(|e| read_error(status, &e))?;
    Ok(found)
}

/// Every version a Packages list offers.
fn read_versions(list: &Path, mut each: impl FnMut(PackageKey, Version)) -> Result<(), CheckError> {
    deb822::for_each(
        BufReader::new(open(list)?),
        &["Package", "Architecture", "Version"],
        |p| {
            if let (Some(key), Some(version)) = (key_of(p), version_of(p)) {
                each(key, version);
            }
        },
    )
    .map_err(|e| read_error(list, &e))
}

fn key_of(p: &deb822::Paragraph) -> Option<PackageKey> {
    Some((
        p.get("Package")?.to_owned(),
        p.get("Architecture")?.to_owned(),
    ))
}

fn version_of(p: &deb822::Paragraph) -> Option<Version> {
    p.get("Version")?.parse().ok()
}

/// The Packages lists of security suites. Which suite a list belongs to is in its
/// Release file (the list's name up to `dists_<suite>_`, then `InRelease` or
/// `Release`); a list without one counts when its own name says `security`.
fn security_lists(dir: &Path) -> Result<Vec<PathBuf>, CheckError> {
    let entries = std::fs::read_dir(dir).map_err(|e| read_error(dir, &e))?;
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    let mut releases: Vec<(String, bool)> = Vec::new();
    for name in &names {
        let prefix = name
            .strip_suffix("InRelease")
            .or_else(|| name.strip_suffix("_Release").map(|p| &name[..p.len() + 1]));
        if let Some(prefix) = prefix {
            releases.push((prefix.to_owned(), is_security_release(&dir.join(name))?));
        }
    }
    Ok(names
        .iter()
        .filter(|name| name.ends_with("_Packages"))
        .filter(|name| {
            releases
                .iter()
                .filter(|(prefix, _)| name.starts_with(prefix.as_str()))
                .max_by_key(|(prefix, _)| prefix.len())
                .map_or(name.contains("security"), |(_, security)| *security)
        })
        .map(|name| dir.join(name))
        .collect())
}

/// Whether a Release file describes a security suite: Debian's `bookworm-security`
/// (and before it `stretch/updates`), Ubuntu's `noble-security`, or a security label.
fn is_security_release(path: &Path) -> Result<bool, CheckError> {
    let mut security = false;
    deb822::for_each(
        BufReader::new(open(path)?),
        &["Suite", "Codename", "Label"],
        |p| {
            let suite = |field| p.get(field).unwrap_or("");
            security |= ["Suite", "Codename"]
                .iter()
                .any(|f| suite(f).ends_with("-security") || suite(f).ends_with("/updates"))
                || suite("Label").to_ascii_lowercase().contains("security");
        },
    )
    .map_err(|e| read_error(path, &e))?;
    Ok(security)
}

fn open(path: &Path) -> Result<File, CheckError> {
    File::open(path).map_err(|e| read_error(path, &e))
}

fn read_error(path: &Path, e: &std::io::Error) -> CheckError {
    CheckError(format!("cannot read {}: {e}", path.display()))
}
