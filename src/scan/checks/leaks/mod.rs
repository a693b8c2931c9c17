//! Leaked secrets: provider keys, private keys, tokens and the exact values of stored
//! credentials, in the log files, the client's documents and the service's journal.
//!
//! A finding names where (`leak:<path>:<line>:<rule>`) and what kind of secret, with a
//! redacted excerpt: never the secret. Stored values are opened through the vault into
//! memory for the scan only, and compared as bytes.

mod rules;
mod scanner;
mod sources;

use std::path::Path;

use super::super::{Check, CheckError, Context, Found, Severity};
use crate::credentials;
use crate::leak_guard::MIN_REMEMBERED;
use scanner::{Hit, Scanner, Stored};
use sources::Outcome;

#[derive(Debug)]
pub struct Secrets;

impl Check for Secrets {
    fn id(&self) -> &'static str {
        "defensive.leaked_secrets"
    }

    fn title(&self) -> &'static str {
        "No secrets leaked into logs or documents"
    }

    fn run(&self, cx: &Context<'_>) -> Result<Vec<Found>, CheckError> {
        let settings = &cx.config.scan;
        let (stored, mut found) = stored_values(cx)?;
        let scanner = Scanner::new(&stored);
        for path in &settings.log_files {
            match sources::log_file(&scanner, path) {
                Ok(hits) => found.extend(findings(&path.display().to_string(), "a log", hits)),
                Err(e) => found.push(unreadable(path, &e)),
            }
        }
        for dir in &settings.document_directories {
            let (files, unreadable_dirs) = sources::documents(dir);
            found.extend(unreadable_dirs.iter().map(|(d, e)| unreadable(d, e)));
            for file in files {
                match sources::document(&scanner, &file) {
                    Ok(Outcome::Scanned(hits)) => {
                        found.extend(findings(&file.display().to_string(), "a document", hits))
                    }
                    Ok(Outcome::Skipped) => {}
                    Err(e) => found.push(unreadable(&file, &e)),
                }
            }
        }
        if settings.journal {
            match sources::journal(&scanner) {
                Ok(hits) => found.extend(findings("journal", "the journal", hits)),
                Err(why) => found.push(Found::new(
                    "leak:journal:unavailable",
                    Severity::Info,
                    "The journal was not searched for leaked secrets",
                    why,
                )),
            }
        }
        Ok(found)
    }
}

/// Every stored credential's value long enough to search for (a shorter one would
/// match ordinary text, as the leak guard also judges), and an info finding for each
/// that does not open.
fn stored_values(cx: &Context<'_>) -> Result<(Vec<Stored>, Vec<Found>), CheckError> {
    let mut conn = cx.db.get()?;
    let (mut stored, mut found) = (Vec::new(), Vec::new());
    for credential in credentials::list(&mut conn)? {
        match credentials::for_outpost(&mut conn, cx.vault, &credential.name) {
            Ok(value) if value.expose().len() >= MIN_REMEMBERED => stored.push(Stored {
                id: credential.id,
                name: credential.name,
                value,
            }),
            Ok(_) => {}
            Err(e) => found.push(Found::new(
                format!("leak:stored_credential:{}:unopened", credential.id),
                Severity::Info,
                "A stored credential could not be opened to search for its value",
                format!("credential \"{}\": {e}", credential.name),
            )),
        }
    }
    Ok((stored, found))
}

fn findings<'a>(place: &'a str, kind: &'a str, hits: Vec<Hit>) -> impl Iterator<Item = Found> + 'a {
    hits.into_iter().map(move |hit| {
        let title = if hit.rule_id.starts_with("stored_credential.") {
            format!("Leaked stored credential in {kind}")
        } else {
            format!("Leaked {} secret in {kind}", hit.provider)
        };
        Found::new(
            format!("leak:{place}:{}:{}", hit.line, hit.rule_id),
            hit.severity,
            title,
            format!("{place}:{}: {}, {}", hit.line, hit.description, hit.excerpt),
        )
    })
}

fn unreadable(path: &Path, e: &std::io::Error) -> Found {
    Found::new(
        format!("leak:{}:unreadable", path.display()),
        Severity::Info,
        "A file to search for leaked secrets could not be read",
        format!("{}: {e}", path.display()),
    )
}
