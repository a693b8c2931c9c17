//! The human-readable part of an export: what a client who leaves needs to know about
//! their team, log, credentials, settings and keys, as Markdown. Never a secret value.

use std::fmt::Write;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::audit::log::StoredCheckpoint;
use crate::audit::query::Verification;
use crate::credentials::Credential;
use crate::identity::api_keys::ApiKey;
use crate::identity::team::{Invitation, Member};

/// What `audit.md` summarises.
#[derive(Debug)]
pub struct AuditSummary {
    pub per_action: Vec<(String, i64)>,
    pub first: Option<OffsetDateTime>,
    pub last: Option<OffsetDateTime>,
    pub checkpoint: Option<StoredCheckpoint>,
    pub verification: Option<Verification>,
}

fn at(time: OffsetDateTime) -> String {
    time.format(&Rfc3339).unwrap_or_else(|_| time.to_string())
}

fn maybe(time: Option<OffsetDateTime>) -> String {
    time.map_or_else(|| "never".to_owned(), at)
}

/// Table cells must not break the table: pipes and newlines are neutralised.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

pub fn index(exported_at: OffsetDateTime, files: &[(&str, &str)]) -> String {
    let mut out = format!(
        "# Outpost export\n\nExported {} by Outpost {}.\n\n",
        at(exported_at),
        env!("CARGO_PKG_VERSION")
    );
    for (path, what) in files {
        let _ = writeln!(out, "- [{path}]({path}): {what}");
    }
    out.push_str(
        "\n`manifest.json` lists every file with its size and SHA-256. Restore the \
         database with `pg_restore --no-owner -d NEWDB database/outpost.dump`, or \
         `psql -f database/outpost.sql`.\n",
    );
    out
}

pub fn team(members: &[Member], invitations: &[Invitation]) -> String {
    let mut out = String::from(
        "# Team\n\n| Email | Role | Active | MFA | Last seen | Since |\n|---|---|---|---|---|---|\n",
    );
    for m in members {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            cell(&m.user.email),
            m.user.role.as_str(),
            if m.user.active { "yes" } else { "not yet" },
            if m.mfa_enrolled { "enrolled" } else { "none" },
            maybe(m.last_seen_at),
            at(m.user.created_at)
        );
    }
    out.push_str("\n## Open invitations\n\n");
    if invitations.is_empty() {
        out.push_str("None.\n");
        return out;
    }
    out.push_str("| Email | Role | Sent | Expires |\n|---|---|---|---|\n");
    for i in invitations {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            cell(&i.email),
            cell(&i.role),
            at(i.created_at),
            at(i.expires_at)
        );
    }
    out
}

pub fn audit(summary: &AuditSummary) -> String {
    let total: i64 = summary.per_action.iter().map(|(_, n)| n).sum();
    let mut out = format!(
        "# Audit log\n\n{total} entries, first {}, last {}. The full log is in the \
         database dump (table `audit_events`); `outpost audit verify` checks it.\n\n",
        maybe(summary.first),
        maybe(summary.last)
    );
    match &summary.checkpoint {
        Some(c) => {
            let _ = writeln!(
                out,
                "Latest signed checkpoint: {} entries, signed {}.\n",
                c.tree_size,
                at(c.created_at)
            );
        }
        None => out.push_str("No signed checkpoint yet.\n\n"),
    }
    match &summary.verification {
        Some(v) => {
            let _ = writeln!(
                out,
                "Latest verification ({}): {} — {} entries, {} checkpoints, {} pending.\n",
                at(v.ran_at),
                if v.clean { "clean" } else { "PROBLEMS FOUND" },
                v.entries,
                v.checkpoints,
                v.pending
            );
        }
        None => out.push_str("The log has not been verified yet.\n\n"),
    }
    out.push_str("| Action | Entries |\n|---|---|\n");
    for (action, count) in &summary.per_action {
        let _ = writeln!(out, "| {} | {count} |", cell(action));
    }
    out
}

pub fn credentials(list: &[Credential], now: OffsetDateTime, values_included: bool) -> String {
    let mut out = String::from("# Stored credentials\n\n");
    out.push_str(if values_included {
        "The values are in `secrets/credentials.json`.\n\n"
    } else {
        "Names and state only: the values are not part of this export (they are sealed \
         in the database dump, under keys that stay on the server).\n\n"
    });
    out.push_str("| Name | Kind | Age (days) | Status | Expires | Last revealed |\n|---|---|---|---|---|---|\n");
    for c in list {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            cell(&c.name),
            c.kind.label(),
            (now - c.replaced_at).whole_days(),
            c.status(now).label(),
            maybe(c.expires_at),
            maybe(c.last_revealed_at)
        );
    }
    out
}

pub fn settings(masked_toml: &str) -> String {
    format!(
        "# Settings\n\nThe effective configuration, secrets masked.\n\n```toml\n{masked_toml}```\n"
    )
}

/// `keys`: each member's email with their API keys.
pub fn api_keys(keys: &[(String, Vec<ApiKey>)], now: OffsetDateTime) -> String {
    let mut out = String::from(
        "# API keys\n\nNames and permissions only; no key is part of this export.\n\n| Owner | Name | Prefix | Capabilities | State | Last used |\n|---|---|---|---|---|---|\n",
    );
    for (email, list) in keys {
        for k in list {
            let capabilities: Vec<&str> = k.capabilities.iter().map(|c| c.as_str()).collect();
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                cell(email),
                cell(&k.name),
                cell(&k.display_prefix),
                capabilities.join(", "),
                if k.is_active(now) {
                    "active"
                } else {
                    "inactive"
                },
                maybe(k.last_used_at)
            );
        }
    }
    out
}
