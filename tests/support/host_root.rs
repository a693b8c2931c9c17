//! Scratch root trees for the host-hardening tests: a directory laid out like `/`,
//! seeded with what a fresh Debian 12 has (accounts, sshd's main config, host keys),
//! so a control acts on it exactly as on a server and never on this machine.
//!
//! The trees live under Cargo's target tmp dir rather than /tmp, so that sshd's
//! StrictModes (which refuses key files below a world-writable directory) holds
//! wherever the checkout itself is not below one.

use std::path::{Path, PathBuf};
use std::process::Command;

use outpost::host::{Host, Runner, SystemRunner};

/// Debian 12's stock /etc/ssh/sshd_config, comments dropped: the Include comes first.
pub const DEBIAN_SSHD_CONFIG: &str = "\
Include /etc/ssh/sshd_config.d/*.conf
KbdInteractiveAuthentication no
UsePAM yes
X11Forwarding yes
PrintMotd no
AcceptEnv LANG LC_*
Subsystem sftp /usr/lib/openssh/sftp-server
";

#[derive(Debug)]
pub struct ScratchRoot {
    dir: tempfile::TempDir,
}

impl ScratchRoot {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("root-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .expect("scratch root");
        Self { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `relative` (as on a real machine) inside the tree.
    pub fn join(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative.trim_start_matches('/'))
    }

    pub fn host(&self) -> Host {
        self.host_with(Box::new(SystemRunner))
    }

    pub fn host_with(&self, runner: Box<dyn Runner>) -> Host {
        Host::new(self.dir.path(), runner)
    }

    pub fn write(&self, relative: &str, contents: &str) {
        let path = self.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, contents).unwrap();
    }

    pub fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.join(relative))
            .unwrap_or_else(|e| panic!("read {relative}: {e}"))
    }

    /// The account databases of a fresh system: root and nobody, shadow files
    /// root-only, as useradd/usermod --root expect to find them.
    pub fn seed_accounts(&self) {
        self.write(
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
        );
        self.write("etc/group", "root:x:0:\nnogroup:x:65534:\n");
        self.write(
            "etc/shadow",
            "root:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n",
        );
        self.write("etc/gshadow", "root:*::\nnogroup:*::\n");
        for file in ["etc/shadow", "etc/gshadow"] {
            set_mode(&self.join(file), 0o640);
        }
    }

    /// sshd's main config as Debian ships it, and a moduli file: this machine's when
    /// it has one, else a few lines of each size the filter must tell apart.
    pub fn seed_sshd(&self) {
        self.write("etc/ssh/sshd_config", DEBIAN_SSHD_CONFIG);
        let moduli = std::fs::read_to_string("/etc/ssh/moduli").unwrap_or_else(|_| {
            "# Time Type Tests Tries Size Generator Modulus\n\
             20230101000000 2 6 100 2047 2 C0FFEE\n\
             20230101000000 2 6 100 3071 2 C0FFEE\n"
                .into()
        });
        self.write("etc/ssh/moduli", &moduli);
    }

    /// A host key pair `etc/ssh/ssh_host_<kind>_key` made by ssh-keygen.
    pub fn host_key(&self, kind: &str, bits: Option<u32>) -> PathBuf {
        let path = self.join(&format!("etc/ssh/ssh_host_{kind}_key"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        keygen(&path, kind, bits);
        path
    }
}

/// Makes a key pair at `path` (no passphrase) and returns its public line.
pub fn keygen(path: &Path, kind: &str, bits: Option<u32>) -> String {
    let mut command = Command::new("ssh-keygen");
    command
        .args(["-q", "-t", kind, "-N", "", "-C", "test-key", "-f"])
        .arg(path);
    if let Some(bits) = bits {
        command.args(["-b", &bits.to_string()]);
    }
    let out = command.output().expect("ssh-keygen is installed");
    assert!(
        out.status.success(),
        "ssh-keygen: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(format!("{}.pub", path.display()))
        .expect("public key")
        .trim()
        .to_owned()
}

pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Whether this process runs as root (chown, useradd --root and sshd need it).
pub fn is_root() -> bool {
    nix::unistd::Uid::effective().is_root()
}
