//! Agent workspaces: the skills agents load (as installed, and running nothing an
//! attacker would) and the memory they keep (free of planted instructions).

mod code_rules;
mod manifest;
mod memory;
mod memory_rules;
mod patterns;
mod skills;

pub use memory::Memory;
pub use skills::Skills;

use std::path::Path;

use crate::scan::{Found, Severity};

/// A path a check was to read and could not: said, not silently passed.
fn unreadable(kind: &str, path: &Path, e: &std::io::Error) -> Found {
    Found::new(
        format!("{kind}:{}:unreadable", path.display()),
        Severity::Info,
        format!("An agent {kind} path could not be read"),
        format!("{}: {e}", path.display()),
    )
}
