//! `outpost audit …`

use std::io::{BufReader, BufWriter, Write};
use std::path::Path;

use super::CliError;
use crate::audit::{checkpoint, context, export, log, query, retention};

/// `outpost audit checkpoint`: integrate new entries and sign the tree head now.
pub fn checkpoint(path: Option<&Path>) -> Result<(), CliError> {
    let (config, db, _) = super::open(path)?;
    let context =
        context::current().ok_or_else(|| CliError::Failed("audit context missing".into()))?;
    let signer = checkpoint::load_signer(&config.audit_signing_key_file)
        .map_err(|e| CliError::Failed(e.to_string()))?;
    let head = log::checkpoint(
        &mut *db.get()?,
        context,
        &signer,
        &config.audit_origin(),
        &config.audit_checkpoint_file,
        config.audit_stream_file.as_deref(),
    )
    .map_err(|e| CliError::Failed(e.to_string()))?;
    println!("signed checkpoint: {} entries", head.size);
    print!("{}", head.body());
    Ok(())
}

/// `outpost audit export`: the entries covered by the latest checkpoint, to a file or
/// standard output.
pub fn export(
    path: Option<&Path>,
    format: export::Format,
    since: &str,
    until: &str,
    out: Option<&Path>,
) -> Result<(), CliError> {
    let since = query::parse_time("--since", since).map_err(|e| CliError::Config(e.into()))?;
    let until = query::parse_time("--until", until).map_err(|e| CliError::Config(e.into()))?;
    let (_, db, _) = super::open(path)?;
    let mut conn = db.get()?;
    let mut sink: Box<dyn Write> = match out {
        Some(file) => Box::new(BufWriter::new(std::fs::File::create(file).map_err(
            |e| CliError::Failed(format!("cannot write {}: {e}", file.display())),
        )?)),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    let selection = export::Selection {
        since,
        until,
        positions: None,
    };
    let written = export::write(&mut conn, &mut sink, format, &selection)
        .map_err(|e| CliError::Failed(e.to_string()))?;
    sink.flush().map_err(|e| CliError::Failed(e.to_string()))?;
    eprintln!("exported {written} entries");
    Ok(())
}

/// `outpost audit compact --archive FILE`: archive and remove entries past retention.
pub fn compact(path: Option<&Path>, archive: &Path) -> Result<(), CliError> {
    let (config, db, _) = super::open(path)?;
    let context =
        context::current().ok_or_else(|| CliError::Failed("audit context missing".into()))?;
    let signer = checkpoint::load_signer(&config.audit_signing_key_file)
        .map_err(|e| CliError::Failed(e.to_string()))?;
    let outcome = retention::compact(
        &mut *db.get()?,
        context,
        &signer,
        &config.audit_origin(),
        &config.audit_checkpoint_file,
        config.audit_retention,
        archive,
    )
    .map_err(|e| CliError::Failed(e.to_string()))?;
    match outcome {
        None => println!("nothing is older than the retention period; nothing archived"),
        Some(done) => {
            let digest: String = done
                .archive_sha256
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            println!(
                "archived {} entries (positions below {}) to {}; SHA-256 {digest}",
                done.archived,
                done.up_to_leaf,
                archive.display()
            );
        }
    }
    Ok(())
}

/// `outpost audit verify --export FILE --pubkey KEY`: checks an export with nothing but
/// the server's public key: no database, no configuration.
pub fn verify_export(file: &Path, public_key: &str) -> Result<(), CliError> {
    let verifier = checkpoint::Verifier::from_key(public_key.trim()).map_err(|e| {
        CliError::Config(crate::config::ConfigError::from(format!("--pubkey: {e}")))
    })?;
    let input = std::fs::File::open(file)
        .map_err(|e| CliError::Incomplete(format!("cannot read {}: {e}", file.display())))?;
    let report = export::verify(&mut BufReader::new(input), &verifier)
        .map_err(|e| CliError::Incomplete(e.to_string()))?;
    let size = report.checkpoint.as_ref().map_or(0, |c| c.size);
    println!(
        "{} entries checked against a signed log of {size}{}",
        report.entries,
        if report.complete {
            " (complete export)"
        } else {
            ""
        }
    );
    if report.is_clean() {
        println!("the export verifies");
        return Ok(());
    }
    for problem in report.problems.iter().take(20) {
        println!("TAMPERED {problem}");
    }
    Err(CliError::Failed(format!(
        "the export does not verify: {} problem(s)",
        report.problems.len()
    )))
}

/// `outpost audit verify`: exit 0 clean, 1 tampered, 2 when it could not check.
pub fn verify(path: Option<&Path>) -> Result<(), CliError> {
    let (config, db, _) = super::open(path).map_err(|e| CliError::Incomplete(e.to_string()))?;
    let context =
        context::current().ok_or_else(|| CliError::Incomplete("audit context missing".into()))?;
    let verifier = checkpoint::load_signer(&config.audit_signing_key_file)
        .map_err(|e| CliError::Incomplete(e.to_string()))?
        .verifier();
    let mut conn = db.get().map_err(|e| CliError::Incomplete(e.to_string()))?;
    let report = log::verify(&mut conn, context, &verifier)
        .map_err(|e| CliError::Incomplete(e.to_string()))?;
    query::record_verification(&mut conn, &report)
        .map_err(|e| CliError::Incomplete(e.to_string()))?;
    println!(
        "{} entries in the log ({} archived), {} pending, {} signed checkpoints",
        report.entries, report.archived, report.pending, report.checkpoints
    );
    if report.is_clean() {
        println!("the audit log verifies");
        return Ok(());
    }
    for problem in report.problems.iter().take(20) {
        let place = match (problem.position, problem.event_id) {
            (Some(p), Some(id)) => format!("position {p} (entry {id}): "),
            (Some(p), None) => format!("position {p}: "),
            (None, Some(id)) => format!("entry {id}: "),
            (None, None) => String::new(),
        };
        println!("TAMPERED {place}{}", problem.what);
    }
    Err(CliError::Failed(format!(
        "the audit log does not verify: {} problem(s), the first at {}",
        report.problems.len(),
        report.problems[0]
            .position
            .map_or_else(|| "a checkpoint".to_owned(), |p| format!("position {p}"))
    )))
}
