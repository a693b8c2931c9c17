//! What `outpost harden` found and did, per control: printed for people, as JSON for
//! tools, and recorded in the audit log.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Drift,
    Error,
}

/// One way the host differs from the baseline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drift {
    /// The file, as on the real machine; none for live state (a listener, a container).
    pub path: Option<String>,
    /// The setting (`PasswordAuthentication`, `net.ipv4.conf.all.rp_filter`, `mode`);
    /// none when the whole file or object is at fault.
    pub key: Option<String>,
    pub expected: Option<String>,
    pub actual: Option<String>,
    /// Said in words when key/expected/actual do not say it all.
    pub note: Option<String>,
}

impl Drift {
    pub fn file(path: &str, note: &str) -> Self {
        Self {
            path: Some(path.to_owned()),
            key: None,
            expected: None,
            actual: None,
            note: Some(note.to_owned()),
        }
    }

    pub fn setting(path: &str, key: &str, expected: Option<&str>, actual: Option<&str>) -> Self {
        Self {
            path: Some(path.to_owned()),
            key: Some(key.to_owned()),
            expected: expected.map(str::to_owned),
            actual: actual.map(str::to_owned),
            note: None,
        }
    }

    /// Live state that is not a file setting.
    pub fn live(key: &str, expected: Option<&str>, actual: Option<&str>, note: &str) -> Self {
        Self {
            path: None,
            key: Some(key.to_owned()),
            expected: expected.map(str::to_owned),
            actual: actual.map(str::to_owned),
            note: Some(note.to_owned()),
        }
    }
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(path) = &self.path {
            write!(f, "{path}: ")?;
        }
        match (&self.key, &self.expected, &self.actual) {
            (Some(key), Some(expected), Some(actual)) => {
                write!(f, "{key} is `{actual}`, expected `{expected}`")?
            }
            (Some(key), Some(expected), None) => {
                write!(f, "{key} is not set, expected `{expected}`")?
            }
            (Some(key), None, Some(actual)) => {
                write!(f, "{key} is `{actual}`, which the baseline does not set")?
            }
            (Some(key), None, None) => write!(f, "{key}")?,
            (None, ..) => {}
        }
        if let Some(note) = &self.note {
            if self.key.is_some() {
                f.write_str(": ")?;
            }
            f.write_str(note)?;
        }
        Ok(())
    }
}

/// One control's result.
#[derive(Debug, Clone, Serialize)]
pub struct ControlReport {
    pub control: &'static str,
    pub status: Status,
    pub drift: Vec<Drift>,
    /// Files written by `--apply` (empty for `--check` and when nothing changed).
    pub changed: Vec<String>,
    pub error: Option<String>,
}

impl ControlReport {
    pub fn of(control: &'static str, drift: Vec<Drift>) -> Self {
        Self {
            control,
            status: if drift.is_empty() {
                Status::Ok
            } else {
                Status::Drift
            },
            drift,
            changed: Vec::new(),
            error: None,
        }
    }

    pub fn failed(control: &'static str, error: impl fmt::Display) -> Self {
        Self {
            control,
            status: Status::Error,
            drift: Vec::new(),
            changed: Vec::new(),
            error: Some(error.to_string()),
        }
    }
}

impl fmt::Display for ControlReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Status::Ok if self.changed.is_empty() => writeln!(f, "{:<18} ok", self.control)?,
            Status::Ok => writeln!(
                f,
                "{:<18} applied ({})",
                self.control,
                self.changed.join(", ")
            )?,
            Status::Drift => writeln!(f, "{:<18} DRIFT", self.control)?,
            Status::Error => writeln!(
                f,
                "{:<18} ERROR {}",
                self.control,
                self.error.as_deref().unwrap_or_default()
            )?,
        }
        for drift in &self.drift {
            writeln!(f, "  - {drift}")?;
        }
        Ok(())
    }
}
