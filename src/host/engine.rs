//! Check, plan and apply, the same for every control.

use similar::TextDiff;

use super::files::{self, Previous};
use super::report::{ControlReport, Drift, Status};
use super::{Baseline, Control, Host, HostError};

/// How the host differs from the baseline: its files, setting by setting, and the
/// live state the control observes.
pub fn check(host: &Host, control: &dyn Control, baseline: &Baseline) -> ControlReport {
    let found = (|| {
        let mut drift = Vec::new();
        for wanted in control.desired(host, baseline)? {
            let current = files::read(host, &wanted.path)?;
            drift.extend(files::drift(&wanted, current.as_ref()));
        }
        drift.extend(control.observe(host, baseline)?);
        Ok::<_, HostError>(drift)
    })();
    match found {
        Ok(drift) => ControlReport::of(control.name(), drift),
        Err(e) => ControlReport::failed(control.name(), e),
    }
}

/// One file `--apply` would write.
#[derive(Debug, Clone)]
pub struct FileChange {
    pub path: String,
    /// A unified diff of the contents (empty when only the mode changes).
    pub diff: String,
    pub mode: Option<(Option<u32>, u32)>,
}

/// The exact changes `--apply` would make, without making them.
pub fn plan(
    host: &Host,
    control: &dyn Control,
    baseline: &Baseline,
) -> Result<Vec<FileChange>, HostError> {
    let mut changes = Vec::new();
    for wanted in control.desired(host, baseline)? {
        let current = files::read(host, &wanted.path)?;
        let before = current.as_ref().map(|c| c.contents.as_str()).unwrap_or("");
        let mode_before = current.as_ref().map(|c| c.mode);
        let path = format!("/{}", wanted.path.display());
        let diff = if before == wanted.contents && current.is_some() {
            String::new()
        } else {
            TextDiff::from_lines(before, wanted.contents.as_str())
                .unified_diff()
                .header(
                    if current.is_some() {
                        &path
                    } else {
                        "/dev/null"
                    },
                    &path,
                )
                .to_string()
        };
        let mode = (mode_before != Some(wanted.mode)).then_some((mode_before, wanted.mode));
        if !diff.is_empty() || mode.is_some() {
            changes.push(FileChange { path, diff, mode });
        }
    }
    Ok(changes)
}

/// Brings the control's files to the baseline: writes what differs, validates with the
/// real tool, activates (live hosts only), and puts every file back as it was if any
/// step fails. Returns the files written; none when the host already matched.
pub fn apply(
    host: &Host,
    control: &dyn Control,
    baseline: &Baseline,
) -> Result<Vec<String>, HostError> {
    control.preflight(host, baseline)?;
    let mut written: Vec<Previous> = Vec::new();
    for wanted in control.desired(host, baseline)? {
        let current = files::read(host, &wanted.path)?;
        if current
            .as_ref()
            .is_some_and(|c| c.contents == wanted.contents && c.mode == wanted.mode)
        {
            continue;
        }
        match files::write(host, &wanted) {
            Ok(previous) => written.push(previous),
            Err(e) => return Err(roll_back(host, &written, e)),
        }
    }
    if written.is_empty() {
        return control.converge(host, baseline, false);
    }
    if let Err(e) = control.validate(host, baseline) {
        return Err(roll_back(host, &written, e));
    }
    if host.is_live()
        && let Err(e) = control.activate(host, baseline)
    {
        let error = roll_back(host, &written, e);
        // The old files are back: have the system use them again.
        if let Err(again) = control.activate(host, baseline) {
            tracing::error!(control = control.name(), error = %again, "re-activating the restored configuration failed");
        }
        return Err(error);
    }
    let mut changed: Vec<String> = written
        .iter()
        .map(|p| format!("/{}", p.path.display()))
        .collect();
    changed.extend(control.converge(host, baseline, false)?);
    Ok(changed)
}

/// Restores every written file; the error says the rollback happened (or did not).
fn roll_back(host: &Host, written: &[Previous], cause: HostError) -> HostError {
    let failures: Vec<String> = written
        .iter()
        .rev()
        .filter_map(|p| files::restore(host, p).err().map(|e| e.to_string()))
        .collect();
    if written.is_empty() {
        return cause;
    }
    if failures.is_empty() {
        HostError::Io(format!("{cause}; the previous files were restored"))
    } else {
        HostError::Io(format!(
            "{cause}; restoring the previous files ALSO FAILED: {}",
            failures.join("; ")
        ))
    }
}

/// Applies and then checks, so the report shows what is left (normally nothing).
pub fn apply_and_report(host: &Host, control: &dyn Control, baseline: &Baseline) -> ControlReport {
    match apply(host, control, baseline) {
        Ok(changed) => {
            let mut report = check(host, control, baseline);
            report.changed = changed;
            report
        }
        Err(e) => ControlReport::failed(control.name(), e),
    }
}

/// True if any report is not clean.
pub fn any_drift(reports: &[ControlReport]) -> bool {
    reports.iter().any(|r| r.status != Status::Ok)
}

/// Drift in words, for logs and audit details.
pub fn describe(drift: &[Drift]) -> Vec<String> {
    drift.iter().map(ToString::to_string).collect()
}
