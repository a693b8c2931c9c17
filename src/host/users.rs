//! The system accounts: `outpost` (the daemon) and `outpost-agent` (agent workloads),
//! neither able to log in (no shell, locked password), each with its own home under
//! /var/lib at 0750; and the daemon's files in /etc/outpost: the config root-owned and
//! readable by the daemon's group (0640), key files readable by their owner alone
//! (0400, owned by root, which hands them to the unit as credentials, or by the daemon).
//!
//! Accounts are changed with the system's own tools (`useradd`, `usermod`, given
//! `--root` on a scratch tree), never by editing /etc/passwd.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;

use super::accounts::{self, Accounts, NOLOGIN};
use super::{Baseline, Control, Drift, Host, HostError, ManagedFile, runner};

const CONFIG_DIR: &str = "etc/outpost";
const CONFIG_FILE: &str = "etc/outpost/outpost.toml";

#[derive(Debug, Clone, Copy)]
pub struct Users;

/// What `--apply` does about one finding.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fix {
    /// `useradd` with the given arguments (name last).
    Account(&'static str, Vec<String>),
    /// Ownership and mode of a path (created as a directory when `dir` and missing);
    /// `None` leaves the owner or group as it is.
    Path {
        path: PathBuf,
        dir: bool,
        mode: u32,
        owner: Option<String>,
        group: Option<String>,
    },
}

#[derive(Debug)]
struct Finding {
    drift: Vec<Drift>,
    fix: Fix,
}

/// The accounts the baseline wants: name, home, and what the account is for.
fn wanted(baseline: &Baseline) -> [(&str, String, &'static str); 2] {
    [
        (
            baseline.service_user.as_str(),
            format!("/var/lib/{}", baseline.service_user),
            "Outpost daemon",
        ),
        (
            baseline.agent_user.as_str(),
            format!("/var/lib/{}", baseline.agent_user),
            "Outpost agent workloads",
        ),
    ]
}

fn findings(host: &Host, baseline: &Baseline) -> Result<Vec<Finding>, HostError> {
    let accounts = Accounts::read(host)?;
    let mut found = Vec::new();
    for (name, home, comment) in wanted(baseline) {
        found.extend(account(&accounts, name, &home, comment));
        let group = accounts
            .user(name)
            .map_or_else(|| name.to_owned(), |a| accounts.group_name(a.gid));
        let owner = [name];
        let home = Owned::new(&home, 0o750, &owner, Some(&group)).required();
        found.extend(home.check(host, &accounts)?);
    }
    if host.path(CONFIG_DIR).is_dir() {
        let service = baseline.service_user.as_str();
        let group = accounts
            .user(service)
            .map_or_else(|| service.to_owned(), |a| accounts.group_name(a.gid));
        let (root, key_owners) = (["root"], ["root", service]);
        let keys = key_files(host)?;
        let owned = [
            Owned::new(CONFIG_DIR, 0o750, &root, Some(&group)),
            Owned::new(CONFIG_FILE, 0o640, &root, Some(&group)),
        ];
        let keys = keys.iter().map(|k| Owned::new(k, 0o400, &key_owners, None));
        for wanted in owned.into_iter().chain(keys) {
            found.extend(wanted.check(host, &accounts)?);
        }
    }
    Ok(found)
}

/// The account `name`: present, no login shell, home where expected, password locked.
fn account(accounts: &Accounts, name: &str, home: &str, comment: &str) -> Vec<Finding> {
    let fix = |drift: Drift, program, args: &[&str]| Finding {
        drift: vec![drift],
        fix: Fix::Account(program, args.iter().map(|&a| a.to_owned()).collect()),
    };
    let setting = |path: &str, key: &str, want: &str, have: &str| {
        Drift::setting(path, &format!("{name}.{key}"), Some(want), Some(have))
    };
    let Some(account) = accounts.user(name) else {
        let missing = Drift {
            path: Some("etc/passwd".into()),
            key: Some(name.into()),
            expected: None,
            actual: None,
            note: Some("the account is missing".into()),
        };
        // A group of the same name (left from an earlier install) becomes its group.
        let group: &[&str] = if accounts.group(name).is_some() {
            &["--gid", name]
        } else {
            &["--user-group"]
        };
        let mut args = vec!["--system", "--home-dir", home, "--no-create-home"];
        args.extend(["--shell", NOLOGIN, "--comment", comment]);
        args.extend(group);
        args.push(name);
        return vec![fix(missing, "useradd", &args)];
    };
    let mut found = Vec::new();
    if accounts::is_login_shell(&account.shell) {
        let drift = setting("etc/passwd", "shell", NOLOGIN, &account.shell);
        found.push(fix(drift, "usermod", &["--shell", NOLOGIN, name]));
    }
    if account.home != home {
        let drift = setting("etc/passwd", "home", home, &account.home);
        found.push(fix(drift, "usermod", &["--home", home, name]));
    }
    if accounts.password_locked(name) == Some(false) {
        let drift = setting("etc/shadow", "password", "locked", "usable");
        found.push(fix(drift, "usermod", &["--lock", name]));
    }
    found
}

/// Key files in /etc/outpost (`*.key`, `*.keyring`), as on the machine.
fn key_files(host: &Host) -> Result<Vec<String>, HostError> {
    let dir = host.path(CONFIG_DIR);
    let entries = std::fs::read_dir(&dir).map_err(|e| HostError::io(dir.display(), e))?;
    let mut keys: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".key") || n.ends_with(".keyring"))
        .map(|n| format!("{CONFIG_DIR}/{n}"))
        .collect();
    keys.sort();
    Ok(keys)
}

/// How a path should be owned: `owners` are the accepted owners (the first is given
/// when another owns it); a missing path is drift only when `required` (it is then
/// created as a directory).
struct Owned<'a> {
    path: &'a str,
    mode: u32,
    owners: &'a [&'a str],
    group: Option<&'a str>,
    required: bool,
}

impl<'a> Owned<'a> {
    fn new(path: &'a str, mode: u32, owners: &'a [&'a str], group: Option<&'a str>) -> Self {
        Self {
            path: path.trim_start_matches('/'),
            mode,
            owners,
            group,
            required: false,
        }
    }

    fn required(self) -> Self {
        Self {
            required: true,
            ..self
        }
    }

    fn check(&self, host: &Host, accounts: &Accounts) -> Result<Option<Finding>, HostError> {
        let path = self.path;
        let fix = |owner: Option<&str>, group: Option<&str>| Fix::Path {
            path: path.into(),
            dir: self.required,
            mode: self.mode,
            owner: owner.map(Into::into),
            group: group.map(Into::into),
        };
        let meta = match std::fs::metadata(host.path(path)) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(self.required.then(|| Finding {
                    drift: vec![Drift::file(path, "directory is missing")],
                    fix: fix(self.owners.first().copied(), self.group),
                }));
            }
            Err(e) => return Err(HostError::io(host.path(path).display(), e)),
        };
        let mut drift = Vec::new();
        let mode = meta.permissions().mode() & 0o7777;
        if mode != self.mode {
            let (want, have) = (format!("{:04o}", self.mode), format!("{mode:04o}"));
            drift.push(Drift::setting(path, "mode", Some(&want), Some(&have)));
        }
        let owner = accounts.user_name(meta.uid());
        let wrong_owner = !self.owners.contains(&owner.as_str());
        if wrong_owner {
            let want = self.owners.join(" or ");
            drift.push(Drift::setting(path, "owner", Some(&want), Some(&owner)));
        }
        let group = accounts.group_name(meta.gid());
        let wrong_group = self.group.is_some_and(|g| g != group);
        if wrong_group {
            drift.push(Drift::setting(path, "group", self.group, Some(&group)));
        }
        Ok((!drift.is_empty()).then(|| Finding {
            drift,
            fix: fix(
                wrong_owner.then(|| self.owners[0]),
                self.group.filter(|_| wrong_group),
            ),
        }))
    }
}

impl Fix {
    fn describe(&self, host: &Host) -> String {
        match self {
            Fix::Account(program, args) => {
                let words: Vec<String> = tool_args(host, args)
                    .into_iter()
                    .map(|a| if a.contains(' ') { format!("'{a}'") } else { a })
                    .collect();
                let words: Vec<&str> = words.iter().map(String::as_str).collect();
                runner::display(program, &words)
            }
            Fix::Path {
                path,
                mode,
                owner,
                group,
                ..
            } => {
                let shown = host.path(path);
                let mut words = vec![format!("chmod {mode:04o} {}", shown.display())];
                if owner.is_some() || group.is_some() {
                    let who = format!(
                        "{}:{}",
                        owner.as_deref().unwrap_or(""),
                        group.as_deref().unwrap_or("")
                    );
                    words.insert(
                        0,
                        format!("chown {} {}", who.trim_end_matches(':'), shown.display()),
                    );
                }
                words.join("; ")
            }
        }
    }

    fn make(&self, host: &Host, accounts: &Accounts) -> Result<(), HostError> {
        match self {
            Fix::Account(program, args) => {
                let full = tool_args(host, args);
                let full: Vec<&str> = full.iter().map(String::as_str).collect();
                host.run_ok(program, &full).map(drop)
            }
            Fix::Path {
                path,
                dir,
                mode,
                owner,
                group,
            } => {
                let real = host.path(path);
                if *dir && !real.exists() {
                    std::fs::create_dir_all(&real).map_err(|e| HostError::io(real.display(), e))?;
                }
                let uid = owner
                    .as_deref()
                    .map(|name| {
                        accounts
                            .user(name)
                            .map(|a| a.uid)
                            .ok_or_else(|| missing("account", name))
                    })
                    .transpose()?;
                let gid = group
                    .as_deref()
                    .map(|name| {
                        accounts
                            .group(name)
                            .map(|g| g.gid)
                            .ok_or_else(|| missing("group", name))
                    })
                    .transpose()?;
                if uid.is_some() || gid.is_some() {
                    nix::unistd::chown(
                        &real,
                        uid.map(nix::unistd::Uid::from_raw),
                        gid.map(nix::unistd::Gid::from_raw),
                    )
                    .map_err(|e| HostError::Io(format!("chown {}: {e}", real.display())))?;
                }
                std::fs::set_permissions(&real, std::fs::Permissions::from_mode(*mode))
                    .map_err(|e| HostError::io(real.display(), e))
            }
        }
    }
}

/// useradd's or usermod's arguments: on a scratch tree they act inside it (`--root`:
/// they chroot there, so it must be absolute).
fn tool_args(host: &Host, args: &[String]) -> Vec<String> {
    let mut full = Vec::new();
    if !host.is_live() {
        let root = std::fs::canonicalize(host.root()).unwrap_or_else(|_| host.root().into());
        full.extend(["--root".to_owned(), root.to_string_lossy().into_owned()]);
    }
    full.extend(args.iter().cloned());
    full
}

fn missing(what: &str, name: &str) -> HostError {
    HostError::Io(format!("there is no {what} `{name}`"))
}

impl Control for Users {
    fn name(&self) -> &'static str {
        "users"
    }

    /// No file is owned whole: the account databases belong to useradd and usermod.
    fn desired(&self, _host: &Host, _baseline: &Baseline) -> Result<Vec<ManagedFile>, HostError> {
        Ok(Vec::new())
    }

    fn observe(&self, host: &Host, baseline: &Baseline) -> Result<Vec<Drift>, HostError> {
        Ok(findings(host, baseline)?
            .into_iter()
            .flat_map(|f| f.drift)
            .collect())
    }

    fn converge(
        &self,
        host: &Host,
        baseline: &Baseline,
        dry_run: bool,
    ) -> Result<Vec<String>, HostError> {
        let found = findings(host, baseline)?;
        if dry_run {
            return Ok(found.iter().map(|f| f.fix.describe(host)).collect());
        }
        let mut done = Vec::new();
        // Accounts first: the ownership fixes need their ids.
        for finding in found.iter().filter(|f| matches!(f.fix, Fix::Account(..))) {
            finding.fix.make(host, &Accounts::default())?;
            done.push(finding.fix.describe(host));
        }
        let found = if done.is_empty() {
            found
        } else {
            findings(host, baseline)?
        };
        let accounts = Accounts::read(host)?;
        for finding in found.iter().filter(|f| matches!(f.fix, Fix::Path { .. })) {
            finding.fix.make(host, &accounts)?;
            done.push(finding.fix.describe(host));
        }
        Ok(done)
    }
}
