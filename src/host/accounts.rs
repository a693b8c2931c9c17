//! The account databases under a root (`etc/passwd`, `etc/group`, `etc/shadow`), read
//! as files, so a scratch tree is read exactly as the machine itself is.

use std::collections::BTreeMap;
use std::path::Path;

use super::{Host, HostError};

/// The shell given to accounts that must never log in.
pub const NOLOGIN: &str = "/usr/sbin/nologin";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
    pub shell: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Accounts {
    pub users: Vec<Account>,
    pub groups: Vec<Group>,
    /// Password field by account; none when the root has no readable shadow file.
    shadow: Option<BTreeMap<String, String>>,
}

impl Accounts {
    /// Reads the root's databases; a missing file reads as empty.
    pub fn read(host: &Host) -> Result<Self, HostError> {
        let users = lines(host, "etc/passwd")?
            .unwrap_or_default()
            .iter()
            .filter_map(|fields| {
                Some(Account {
                    name: fields.first()?.clone(),
                    uid: fields.get(2)?.parse().ok()?,
                    gid: fields.get(3)?.parse().ok()?,
                    home: fields.get(5)?.clone(),
                    shell: fields.get(6).cloned().unwrap_or_default(),
                })
            })
            .collect();
        let groups = lines(host, "etc/group")?
            .unwrap_or_default()
            .iter()
            .filter_map(|fields| {
                Some(Group {
                    name: fields.first()?.clone(),
                    gid: fields.get(2)?.parse().ok()?,
                    members: fields
                        .get(3)
                        .map(|m| m.split(',').filter(|s| !s.is_empty()).map(Into::into))
                        .into_iter()
                        .flatten()
                        .collect(),
                })
            })
            .collect();
        let shadow = lines(host, "etc/shadow")?.map(|rows| {
            rows.into_iter()
                .filter(|fields| fields.len() >= 2)
                .map(|fields| (fields[0].clone(), fields[1].clone()))
                .collect()
        });
        Ok(Self {
            users,
            groups,
            shadow,
        })
    }

    pub fn user(&self, name: &str) -> Option<&Account> {
        self.users.iter().find(|u| u.name == name)
    }

    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// The name of `uid`, or the number when no account has it.
    pub fn user_name(&self, uid: u32) -> String {
        self.users
            .iter()
            .find(|u| u.uid == uid)
            .map_or_else(|| uid.to_string(), |u| u.name.clone())
    }

    pub fn group_name(&self, gid: u32) -> String {
        self.groups
            .iter()
            .find(|g| g.gid == gid)
            .map_or_else(|| gid.to_string(), |g| g.name.clone())
    }

    /// Whether `user` is in `group`, as its primary group or as a listed member.
    pub fn in_group(&self, user: &str, group: &str) -> bool {
        let Some(group) = self.group(group) else {
            return false;
        };
        group.members.iter().any(|m| m == user)
            || self.user(user).is_some_and(|u| u.gid == group.gid)
    }

    /// Whether the account's password is locked (`!…` or `*`); none when unknown.
    /// An empty field is NOT locked: it is a login without any password.
    pub fn password_locked(&self, user: &str) -> Option<bool> {
        let field = self.shadow.as_ref()?.get(user)?;
        Some(field.starts_with('!') || field.starts_with('*'))
    }
}

/// Whether logging in with this shell gives a session (`nologin` and `false` do not;
/// an empty field means /bin/sh).
pub fn is_login_shell(shell: &str) -> bool {
    let name = Path::new(shell).file_name().and_then(|n| n.to_str());
    !matches!(name, Some("nologin" | "false"))
}

/// The colon-separated rows of a database file, comments and blank lines skipped.
fn lines(host: &Host, relative: &str) -> Result<Option<Vec<Vec<String>>>, HostError> {
    let path = host.path(relative);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(
            text.lines()
                .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
                .map(|l| l.split(':').map(str::to_owned).collect())
                .collect(),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(HostError::io(path.display(), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::SystemRunner;

    #[test]
    fn reads_accounts_groups_and_locked_passwords() {
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("etc");
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::write(
            etc.join("passwd"),
            "root:x:0:0:root:/root:/bin/bash\nop:x:1000:1000::/home/op:\nsvc:x:998:998::/var/lib/svc:/usr/sbin/nologin\n",
        )
        .unwrap();
        std::fs::write(etc.join("group"), "root:x:0:\nop:x:1000:\nadm:x:4:op,svc\n").unwrap();
        std::fs::write(
            etc.join("shadow"),
            "root:$y$hash:1::::::\nop::1::::::\nsvc:!:1::::::\n",
        )
        .unwrap();
        let host = Host::new(dir.path(), Box::new(SystemRunner));
        let accounts = Accounts::read(&host).unwrap();
        assert_eq!(accounts.user("svc").unwrap().home, "/var/lib/svc");
        assert!(is_login_shell(&accounts.user("op").unwrap().shell));
        assert!(!is_login_shell(&accounts.user("svc").unwrap().shell));
        assert!(accounts.in_group("op", "adm") && accounts.in_group("op", "op"));
        assert!(!accounts.in_group("root", "adm"));
        assert_eq!(accounts.password_locked("svc"), Some(true));
        assert_eq!(accounts.password_locked("op"), Some(false));
        assert_eq!(accounts.password_locked("root"), Some(false));
        assert_eq!(accounts.user_name(998), "svc");
        assert_eq!(accounts.group_name(77), "77");
    }
}
