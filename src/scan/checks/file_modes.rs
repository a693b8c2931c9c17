//! Outpost's own secrets and data on disk are for its own user only: the vault
//! keyring and the audit signing key owner-only, the data directory (exports,
//! local backups) closed to other users, and nothing of it writable by everyone.
//!
//! Its remedy (`scan.tighten_file_modes`): take the extra permission bits away, when
//! the file belongs to the user the scan runs as (it may change only its own files;
//! anything else is reported for root to fix). Each change is audited.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde_json::json;

use super::super::{Check, CheckError, Context, Found, Severity};
use crate::audit::{self, Actor, Event, Outcome};

/// Bits nobody but the owner may hold on a secret.
const NOT_FOR_OTHERS_OR_GROUP: u32 = 0o077;
/// Bits other users may not hold on the data directory.
const NOT_FOR_OTHERS: u32 = 0o007;
const WORLD_WRITABLE: u32 = 0o002;

/// One path and what may not be set on it.
struct Guarded {
    path: PathBuf,
    what: &'static str,
    forbidden: u32,
    severity: Severity,
}

#[derive(Debug)]
pub struct Modes;

impl Check for Modes {
    fn id(&self) -> &'static str {
        "defensive.file_modes"
    }

    fn title(&self) -> &'static str {
        "Outpost's keys and data are closed to other users"
    }

    fn run(&self, cx: &Context<'_>) -> Result<Vec<Found>, CheckError> {
        let config = cx.config;
        let guarded = [
            Guarded {
                path: config.vault_key_file.clone(),
                what: "the vault keyring",
                forbidden: NOT_FOR_OTHERS_OR_GROUP,
                severity: Severity::Critical,
            },
            Guarded {
                path: config.audit_signing_key_file.clone(),
                what: "the audit signing key",
                forbidden: NOT_FOR_OTHERS_OR_GROUP,
                severity: Severity::High,
            },
            Guarded {
                path: config.data_dir.clone(),
                what: "the data directory",
                forbidden: NOT_FOR_OTHERS,
                severity: Severity::Medium,
            },
            Guarded {
                path: config.audit_checkpoint_file.clone(),
                what: "the audit checkpoint file",
                forbidden: WORLD_WRITABLE,
                severity: Severity::High,
            },
        ];
        let me = nix::unistd::geteuid().as_raw();
        let mut found = Vec::new();
        for item in guarded {
            let Ok(meta) = std::fs::metadata(&item.path) else {
                continue; // Not there (yet): other checks and the server's start say so.
            };
            let mode = meta.permissions().mode() & 0o7777;
            let extra = mode & item.forbidden;
            if extra == 0 {
                continue;
            }
            let tightened = mode & !item.forbidden;
            let evidence = format!(
                "{} {} has mode {mode:04o} (owner uid {})",
                item.what,
                item.path.display(),
                meta.uid()
            );
            let subject = format!("file:{}", item.path.display());
            let title = format!("{} is open to other users", capitalised(item.what));
            if cx.config.scan.tighten_file_modes && meta.uid() == me {
                tighten(cx, &item.path, mode, tightened)?;
                found.push(
                    Found::new(
                        subject,
                        item.severity,
                        title,
                        format!("{evidence}; changed to {tightened:04o} (scan.tighten_file_modes)"),
                    )
                    .remedied(),
                );
            } else {
                found.push(Found::new(
                    subject,
                    item.severity,
                    title,
                    format!(
                        "{evidence}; run `chmod {tightened:04o} {}` as its owner",
                        item.path.display()
                    ),
                ));
            }
        }
        Ok(found)
    }
}

/// Sets `path` to `to` inside the transaction that audits it: a change that fails is
/// not recorded, and one whose record fails is still reported by the next scan.
fn tighten(cx: &Context<'_>, path: &Path, from: u32, to: u32) -> Result<(), CheckError> {
    use diesel::Connection;
    let mut conn = cx.db.get()?;
    conn.transaction(|conn| {
        audit::record(
            conn,
            &Event::new(Actor::System, "file.mode_tightened", Outcome::Success)
                .target(format!("file:{}", path.display()))
                .details(json!({
                    "from": format!("{from:04o}"),
                    "to": format!("{to:04o}"),
                })),
        )?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(to))
            .map_err(|e| CheckError(format!("cannot change the mode of {}: {e}", path.display())))
    })
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
