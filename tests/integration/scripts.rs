//! The shell scripts (provisioning, the test runner, CI): `bash -n` and shellcheck
//! with nothing to say, and the safe corners of bootstrap.sh run for real. The
//! bootstrap itself changes the machine it runs on, so it is not run here.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::tools;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// provisioning/*.sh, tests/*.sh and .ci/run, relative to the repository.
fn scripts() -> Vec<PathBuf> {
    let mut found = vec![PathBuf::from(".ci/run")];
    for dir in ["provisioning", "tests"] {
        for entry in std::fs::read_dir(repo().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "sh") {
                found.push(path.strip_prefix(repo()).unwrap().to_path_buf());
            }
        }
    }
    found.sort();
    assert!(found.contains(&PathBuf::from("provisioning/bootstrap.sh")));
    found
}

fn run(program: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(program)
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn every_script_parses_with_bash_n() {
    for script in scripts() {
        let (ok, output) = run("bash", &["-n", &script.to_string_lossy()]);
        assert!(ok && output.is_empty(), "{}: {output}", script.display());
    }
}

#[test]
fn every_script_passes_shellcheck() {
    if tools::require("shellcheck", "shell script lint").is_none() {
        return;
    }
    let names: Vec<String> = scripts()
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    // -x follows `. provisioning/lib.sh` (paths relative to the repository).
    let mut args = vec!["-x", "--severity=style"];
    args.extend(names.iter().map(String::as_str));
    let (ok, output) = run("shellcheck", &args);
    assert!(ok && output.is_empty(), "shellcheck:\n{output}");
}

#[test]
fn bootstrap_explains_itself_and_refuses_what_it_does_not_know() {
    let (ok, usage) = run("bash", &["provisioning/bootstrap.sh", "--help"]);
    assert!(ok, "{usage}");
    assert!(usage.contains("--owner-email"), "{usage}");
    assert!(usage.contains("outpost harden --apply"), "{usage}");
    // Arguments are read before anything is touched.
    let (ok, error) = run("bash", &["provisioning/bootstrap.sh", "--frobnicate"]);
    assert!(!ok);
    assert!(error.contains("unknown argument '--frobnicate'"), "{error}");
}

#[test]
fn the_cloud_init_example_runs_the_bootstrap() {
    let text = std::fs::read_to_string(repo().join("provisioning/cloud-init.yaml")).unwrap();
    assert!(text.starts_with("#cloud-config\n"));
    assert!(text.contains("provisioning/bootstrap.sh"));
    let has_yaml = tools::find("python3").is_some() && run("python3", &["-c", "import yaml"]).0;
    if !has_yaml {
        eprintln!("SKIPPED: YAML syntax of cloud-init.yaml (python3 with yaml is not installed)");
        return;
    }
    let (ok, output) = run(
        "python3",
        &[
            "-c",
            "import sys, yaml; d = yaml.safe_load(open(sys.argv[1])); \
             assert any('bootstrap.sh' in ' '.join(map(str, c)) for c in d['runcmd'])",
            "provisioning/cloud-init.yaml",
        ],
    );
    assert!(ok, "{output}");
}
