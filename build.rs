// Rebuild when a migration or template is added, so the embedded copies stay current.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=templates");
}
