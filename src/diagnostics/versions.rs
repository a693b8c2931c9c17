//! Which build runs on which system: Outpost, the compiler and target it was built
//! with (recorded by build.rs), the operating system and the kernel.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Versions {
    pub outpost: &'static str,
    pub rustc: &'static str,
    pub target: &'static str,
    /// `PRETTY_NAME` from /etc/os-release; none where it cannot be read.
    pub os: Option<String>,
    pub kernel: Option<String>,
    /// The server's `server_version`; none when the database did not answer.
    pub postgresql: Option<String>,
}

impl Versions {
    /// This build and this host; `postgresql` is filled in by whoever asked the database.
    pub fn of_this_host() -> Self {
        Self {
            outpost: env!("CARGO_PKG_VERSION"),
            rustc: env!("BUILT_WITH_RUSTC"),
            target: env!("BUILT_FOR_TARGET"),
            os: std::fs::read_to_string("/etc/os-release")
                .ok()
                .and_then(|text| os_name(&text)),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .ok()
                .map(|k| k.trim().to_owned())
                .filter(|k| !k.is_empty()),
            postgresql: None,
        }
    }
}

/// The system's name from os-release(5) text: `PRETTY_NAME`, else `NAME VERSION`.
pub fn os_name(os_release: &str) -> Option<String> {
    let field = |key: &str| {
        os_release.lines().find_map(|line| {
            let value = line.trim().strip_prefix(key)?.strip_prefix('=')?;
            let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
            (!value.is_empty()).then(|| value.to_owned())
        })
    };
    field("PRETTY_NAME").or_else(|| match (field("NAME"), field("VERSION")) {
        (Some(name), Some(version)) => Some(format!("{name} {version}")),
        (name, _) => name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_pretty_name_or_builds_one() {
        let debian = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n";
        assert_eq!(
            os_name(debian).as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        let bare = "NAME=Alpine\nVERSION='3.20'\n";
        assert_eq!(os_name(bare).as_deref(), Some("Alpine 3.20"));
        assert_eq!(os_name("PRETTY_NAME=\n").as_deref(), None);
        assert_eq!(os_name("# nothing\n"), None);
    }

    #[test]
    fn the_build_is_recorded() {
        let v = Versions::of_this_host();
        assert!(v.rustc.starts_with("rustc "), "{}", v.rustc);
        assert!(!v.target.is_empty());
    }
}
