//! The .deb `cargo deb` makes from this checkout (see `[package.metadata.deb]`), built
//! from the binary this test run already has (no release build) and inspected with
//! dpkg-deb: control fields, files with their modes, the conffile, the maintainer
//! scripts (`sh -n` and shellcheck), the default configuration accepted by the
//! packaged binary, and units that run a binary the package installs. It is never
//! installed: that would change this machine.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::tools;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn run(program: &str, args: &[&str]) -> Output {
    let mut command = Command::new(program);
    // The harness's own OUTPOST_TEST_* variables are no configuration of the binary.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("OUTPOST_") {
            command.env_remove(name);
        }
    }
    let out = command
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(out: Output) -> String {
    String::from_utf8(out.stdout).unwrap()
}

/// Builds the package into `dir` from the debug binary: cargo-deb packs
/// `target/release/outpost`, so a target directory of its own holds this run's
/// binary under that name (a hard link where it can be), and nothing is built.
fn build(dir: &Path) -> PathBuf {
    let release = dir.join("target/release");
    std::fs::create_dir_all(&release).unwrap();
    let binary = release.join("outpost");
    if std::fs::hard_link(env!("CARGO_BIN_EXE_outpost"), &binary).is_err() {
        std::fs::copy(env!("CARGO_BIN_EXE_outpost"), &binary).unwrap();
    }
    let deb = dir.join("outpost.deb");
    // The system's gzip at its fastest: a debug binary is hundreds of MiB, which
    // cargo-deb's own compressors take minutes over.
    let out = Command::new("cargo")
        .args(["deb", "--no-build", "--no-strip", "--no-dbgsym", "--fast"])
        .args([
            "--compress-type",
            "gz",
            "--compress-system",
            "--quiet",
            "--output",
        ])
        .arg(&deb)
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo deb: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    deb
}

#[test]
fn the_package_installs_the_binary_units_configuration_and_accounts() {
    if tools::require("cargo-deb", "the .deb package").is_none()
        || tools::require("dpkg-deb", "the .deb package").is_none()
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let deb = build(dir.path());
    let deb = deb.to_str().unwrap();

    let fields = text(run(
        "dpkg-deb",
        &[
            "--field",
            deb,
            "Package",
            "Version",
            "Architecture",
            "Section",
            "Depends",
            "Recommends",
        ],
    ));
    assert!(fields.contains("Package: outpost\n"), "{fields}");
    assert!(
        fields.contains(&format!("Version: {}", env!("CARGO_PKG_VERSION"))),
        "{fields}"
    );
    assert!(fields.contains("Architecture: amd64") || fields.contains("Architecture: arm64"));
    assert!(fields.contains("Section: admin"), "{fields}");
    let depends = fields.lines().find(|l| l.starts_with("Depends:")).unwrap();
    for needed in ["libc6", "passwd", "systemd"] {
        assert!(depends.contains(needed), "{depends}");
    }
    assert!(fields.contains("Recommends: postgresql"), "{fields}");

    // `-rwxr-xr-x 0/0 1234 2026-12-06 12:00 ./usr/bin/outpost`
    let contents = text(run("dpkg-deb", &["--contents", deb]));
    let entry = |path: &str| {
        contents
            .lines()
            .find(|l| l.ends_with(&format!(" .{path}")))
            .unwrap_or_else(|| panic!("{path} is not in the package:\n{contents}"))
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(entry("/usr/bin/outpost"), "-rwxr-xr-x 0/0");
    assert_eq!(entry("/usr/lib/outpost/accounts"), "-rwxr-xr-x 0/0");
    assert_eq!(entry("/etc/outpost/outpost.toml"), "-rw-r----- 0/0");
    assert_eq!(entry("/usr/share/doc/outpost/README.md"), "-rw-r--r-- 0/0");
    let units: Vec<String> = std::fs::read_dir(repo().join("systemd"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".service") || n.ends_with(".timer"))
        .collect();
    assert_eq!(units.len(), 6, "{units:?}");
    for unit in &units {
        assert_eq!(
            entry(&format!("/usr/lib/systemd/system/{unit}")),
            "-rw-r--r-- 0/0"
        );
    }
    assert!(
        !contents.contains("templates/"),
        "templates are compiled in"
    );

    let control = dir.path().join("control");
    run("dpkg-deb", &["--control", deb, control.to_str().unwrap()]);
    let conffiles = std::fs::read_to_string(control.join("conffiles")).unwrap();
    assert_eq!(conffiles.trim(), "/etc/outpost/outpost.toml");
    for script in ["postinst", "prerm", "postrm"] {
        let packaged = control.join(script);
        let source = repo().join("provisioning/deb").join(script);
        assert_eq!(
            std::fs::read_to_string(&packaged).unwrap(),
            std::fs::read_to_string(&source).unwrap(),
            "{script} is packaged as written"
        );
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            packaged.metadata().unwrap().permissions().mode() & 0o777,
            0o755
        );
        run("sh", &["-n", packaged.to_str().unwrap()]);
        if tools::require("shellcheck", "maintainer script lint").is_some() {
            run(
                "shellcheck",
                &["--severity=style", "-s", "sh", packaged.to_str().unwrap()],
            );
        }
    }
    let postinst = std::fs::read_to_string(control.join("postinst")).unwrap();
    assert!(
        postinst.contains("/usr/lib/outpost/accounts"),
        "one way to make the accounts"
    );

    // Unpacked (not installed): the packaged binary is this run's, it accepts the
    // packaged configuration, and every unit runs a binary the package installs.
    let root = dir.path().join("root");
    run("dpkg-deb", &["--extract", deb, root.to_str().unwrap()]);
    let packaged = root.join("usr/bin/outpost");
    // cmp streams: the debug binary is too big to hold twice in memory.
    run(
        "cmp",
        &[
            "--silent",
            packaged.to_str().unwrap(),
            env!("CARGO_BIN_EXE_outpost"),
        ],
    );
    let config = root.join("etc/outpost/outpost.toml");
    run(
        packaged.to_str().unwrap(),
        &["config", "check", "--config", config.to_str().unwrap()],
    );
    assert_eq!(
        std::fs::read(root.join("usr/lib/outpost/accounts")).unwrap(),
        std::fs::read(repo().join("provisioning/accounts.sh")).unwrap(),
        "the accounts are made by the script the bootstrap runs"
    );
    for unit in units.iter().filter(|u| u.ends_with(".service")) {
        let text = std::fs::read_to_string(root.join("usr/lib/systemd/system").join(unit)).unwrap();
        let exec = text
            .lines()
            .find_map(|l| l.strip_prefix("ExecStart="))
            .unwrap_or_else(|| panic!("{unit} has no ExecStart"));
        let program = exec.split_whitespace().next().unwrap();
        assert!(
            root.join(program.trim_start_matches('/')).is_file(),
            "{unit} runs {program}, which the package does not install"
        );
    }
}
