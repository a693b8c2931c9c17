//! The audit log verifies: every entry rebuilds, every checkpoint's signature and
//! consistency hold (the same work as `outpost audit verify`, recorded like it).

use super::super::{Check, CheckError, Context, Found, Severity};
use crate::audit::{checkpoint, context, log, query};

#[derive(Debug)]
pub struct Integrity;

impl Check for Integrity {
    fn id(&self) -> &'static str {
        "defensive.audit_integrity"
    }

    fn title(&self) -> &'static str {
        "The audit log verifies"
    }

    fn run(&self, cx: &Context<'_>) -> Result<Vec<Found>, CheckError> {
        let signer = checkpoint::load_signer(&cx.config.audit_signing_key_file)
            .map_err(|e| CheckError(e.to_string()))?;
        let audit = context::current()
            .ok_or_else(|| CheckError("the audit context is not installed".into()))?;
        let mut conn = cx.db.get()?;
        let report = log::verify(&mut conn, audit, &signer.verifier())
            .map_err(|e| CheckError(e.to_string()))?;
        query::record_verification(&mut conn, &report)?;
        Ok(report
            .problems
            .iter()
            .map(|p| {
                let at = p
                    .position
                    .map_or_else(|| "log".to_owned(), |pos| format!("position {pos}"));
                Found::new(
                    format!("audit:{at}"),
                    Severity::Critical,
                    "The audit log does not verify: it was altered",
                    format!("{at}: {}", p.what),
                )
            })
            .collect())
    }
}
