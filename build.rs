// Rebuild when a migration or template is added, so the embedded copies stay current.
// The compiler's version and the target triple are recorded for the Diagnostics page
// and the support bundle: "which build is this" is the first support question. Not
// named OUTPOST_*: cargo also puts them in the environment of the tests it runs, where
// the binary's configuration would read them as (unknown) keys.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=templates");
    println!("cargo:rerun-if-env-changed=RUSTC");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = std::process::Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|v| v.trim().to_owned())
        .unwrap_or_default();
    println!("cargo:rustc-env=BUILT_WITH_RUSTC={version}");
    let target = std::env::var("TARGET").unwrap_or_default();
    println!("cargo:rustc-env=BUILT_FOR_TARGET={target}");
}
