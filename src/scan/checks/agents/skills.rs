//! Agents' skills: every file as its install manifest recorded it (a changed, added
//! or removed file after installation is tampering until someone says otherwise), and
//! no file carrying code a skill has no business running (see [`code_rules`]).

use std::fs;
use std::path::{Path, PathBuf};

use super::manifest::{self, Manifest};
use super::{code_rules, patterns, unreadable};
use crate::scan::files::{self, Tree};
use crate::scan::{Check, CheckError, Context, Found, Severity};

/// Larger files are hashed but not read for code: a skill's scripts and prompts are
/// small, and a file this size is an asset.
pub const MAX_CODE_BYTES: u64 = 1024 * 1024;

#[derive(Debug)]
pub struct Skills;

impl Check for Skills {
    fn id(&self) -> &'static str {
        "agents.skills"
    }

    fn title(&self) -> &'static str {
        "Agent skills are as installed and run nothing suspicious"
    }

    fn run(&self, cx: &Context<'_>) -> Result<Vec<Found>, CheckError> {
        let mut found = Vec::new();
        for dir in &cx.config.scan.skill_directories {
            match skills_in(dir) {
                Ok(skills) => {
                    for skill in skills {
                        found.extend(check_skill(&skill));
                    }
                }
                Err(e) => found.push(unreadable("skill", dir, &e)),
            }
        }
        Ok(found)
    }
}

/// A directory with a manifest of its own is one skill; otherwise each of its
/// subdirectories is one (loose files beside them belong to no skill).
pub fn skills_in(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    if dir.join(manifest::FILE_NAME).is_file() {
        return Ok(vec![dir.to_path_buf()]);
    }
    let mut skills = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            skills.push(entry.path());
        }
    }
    skills.sort();
    Ok(skills)
}

fn check_skill(skill: &Path) -> Vec<Found> {
    let tree = files::walk(skill);
    let mut found: Vec<Found> = tree
        .unreadable
        .iter()
        .map(|(dir, e)| unreadable("skill", dir, e))
        .collect();
    let manifest_path = skill.join(manifest::FILE_NAME);
    let contents: Vec<&PathBuf> = tree.files.iter().filter(|f| **f != manifest_path).collect();
    match read_manifest(&manifest_path) {
        Ok(manifest) => found.extend(compare(skill, &manifest, &contents)),
        Err(finding) => found.push(finding),
    }
    found.extend(links_outside(skill, &tree));
    for file in contents {
        found.extend(suspicious_code(file));
    }
    found
}

/// The manifest, or the finding that there is none to trust.
fn read_manifest(path: &Path) -> Result<Manifest, Found> {
    let subject = format!("skill:{}", path.display());
    let text = match files::read_text(path, manifest::MAX_BYTES) {
        Ok(Some(bytes)) => String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_owned()),
        Ok(None) => Err("binary, or too large for a manifest".to_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Found::new(
                format!("{subject}:missing"),
                Severity::Medium,
                "An agent skill has no install manifest",
                format!(
                    "no {}: nothing records what was installed, so tampering cannot be seen",
                    path.display()
                ),
            ));
        }
        Err(e) => Err(e.to_string()),
    };
    text.and_then(|text| {
        manifest::parse(&text).map_err(|bad| format!("line {}: {}", bad.line, bad.why))
    })
    .map_err(|why| {
        Found::new(
            format!("{subject}:unreadable"),
            Severity::Medium,
            "An agent skill's install manifest cannot be read",
            format!("{}: {why}", path.display()),
        )
    })
}

/// Every file against its manifest line: changed (high), not listed, or listed and gone.
fn compare(skill: &Path, manifest: &Manifest, contents: &[&PathBuf]) -> Vec<Found> {
    let mut found = Vec::new();
    for file in contents {
        let relative = file.strip_prefix(skill).unwrap_or(file);
        let subject = format!("skill:{}", file.display());
        match manifest.files.get(relative) {
            None => found.push(Found::new(
                format!("{subject}:unlisted"),
                Severity::Medium,
                "A file in an agent skill is not in its install manifest",
                format!("{} was added after installation", file.display()),
            )),
            Some(expected) => match manifest::hash(file) {
                Ok(actual) if actual == *expected => {}
                Ok(actual) => found.push(Found::new(
                    format!("{subject}:modified"),
                    Severity::High,
                    "A file in an agent skill changed since installation",
                    format!(
                        "{}: SHA-256 {} where the manifest records {}",
                        file.display(),
                        &actual[..16],
                        &expected[..16]
                    ),
                )),
                Err(e) => found.push(unreadable("skill", file, &e)),
            },
        }
    }
    for relative in manifest.files.keys() {
        let path = skill.join(relative);
        if !contents.contains(&&path) {
            found.push(Found::new(
                format!("skill:{}:removed", path.display()),
                Severity::Medium,
                "A file of an agent skill's install manifest is gone",
                format!(
                    "{} is listed in the manifest but is not a file",
                    path.display()
                ),
            ));
        }
    }
    found
}

/// Links that lead out of the skill: whatever the agent reads or runs through them is
/// not what was installed.
fn links_outside(skill: &Path, tree: &Tree) -> Vec<Found> {
    let Ok(root) = fs::canonicalize(skill) else {
        return Vec::new();
    };
    tree.links
        .iter()
        .filter(|link| fs::canonicalize(link).is_ok_and(|target| !target.starts_with(&root)))
        .map(|link| {
            Found::new(
                format!("skill:{}:link_outside", link.display()),
                Severity::Medium,
                "A link in an agent skill leads outside it",
                format!("{} points outside {}", link.display(), skill.display()),
            )
        })
        .collect()
}

fn suspicious_code(file: &Path) -> Vec<Found> {
    let text = match files::read_text(file, MAX_CODE_BYTES) {
        Ok(Some(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
        Ok(None) => return Vec::new(),
        Err(e) => return vec![unreadable("skill", file, &e)],
    };
    patterns::scan(code_rules::all(), &text)
        .into_iter()
        .map(|hit| {
            Found::new(
                format!("skill:{}:{}:{}", file.display(), hit.line, hit.rule.id),
                hit.rule.severity,
                format!("Agent skill: {}", hit.rule.description),
                format!("{}:{}: {}", file.display(), hit.line, hit.rule.description),
            )
        })
        .collect()
}
