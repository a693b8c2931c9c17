//! Keeps secrets out of logs. Every log line passes through [`redact`] on its way out:
//! known secret shapes (those of [`secret_shapes`], which the leaked-secrets scan looks
//! for too, and bearer tokens) and every value the vault has opened in this process
//! are replaced by `[REDACTED]`. A second line of defence: the first is never logging
//! secrets, which `SecretString` and the masked config already see to.

use std::borrow::Cow;
use std::io::{self, Write};
use std::sync::{OnceLock, RwLock};

use regex::Regex;
use tracing_subscriber::fmt::MakeWriter;
use zeroize::Zeroizing;

use crate::secret_shapes;

pub const REDACTED: &str = "[REDACTED]";

/// Values shorter than this are not remembered: too likely to match ordinary text.
pub const MIN_REMEMBERED: usize = 8;

fn shapes() -> &'static Regex {
    static SHAPES: OnceLock<Regex> = OnceLock::new();
    SHAPES.get_or_init(|| {
        let pem_block = format!(
            r"{}[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----",
            secret_shapes::PEM_PRIVATE_KEY
        );
        // A whole block goes, not only its first line: listed before the bare header.
        let log_only = [
            pem_block.as_str(),
            r"(?i:bearer)\s+[0-9A-Za-z._~+/\-]{8,}=*",
            // The audit signing key, as its signed-note encoding writes it.
            r"PRIVATE\+KEY\+[^\s]+",
        ];
        let all: Vec<&str> = log_only.into_iter().chain(secret_shapes::ALL).collect();
        Regex::new(&all.join("|")).expect("the secret shapes are valid regular expressions")
    })
}

fn remembered() -> &'static RwLock<Vec<Zeroizing<String>>> {
    static VALUES: OnceLock<RwLock<Vec<Zeroizing<String>>>> = OnceLock::new();
    VALUES.get_or_init(|| RwLock::new(Vec::new()))
}

/// Remembers a secret this process has handled, so no log line can carry it.
pub fn remember(value: &str) {
    if value.len() < MIN_REMEMBERED {
        return;
    }
    // A line carries a value with quotes, backslashes or control characters escaped
    // when it is logged as a JSON line or with `?` (Debug): those forms are the secret
    // too.
    let json = Zeroizing::new(serde_json::to_string(value).unwrap_or_default());
    let debug = Zeroizing::new(format!("{value:?}"));
    let forms = [
        value,
        unquoted(&json).unwrap_or(value),
        unquoted(&debug).unwrap_or(value),
    ];
    let mut values = remembered().write().unwrap_or_else(|e| e.into_inner());
    for form in forms {
        if !values.iter().any(|v| v.as_str() == form) {
            values.push(Zeroizing::new(form.to_owned()));
        }
    }
}

fn unquoted(quoted: &str) -> Option<&str> {
    quoted.strip_prefix('"')?.strip_suffix('"')
}

/// The line with every secret shape and remembered value replaced.
pub fn redact(line: &str) -> Cow<'_, str> {
    let mut out = shapes().replace_all(line, REDACTED);
    let values = remembered().read().unwrap_or_else(|e| e.into_inner());
    for value in values.iter() {
        if out.contains(value.as_str()) {
            out = Cow::Owned(out.replace(value.as_str(), REDACTED));
        }
    }
    out
}

/// A `MakeWriter` for tracing that redacts every line on its way to the writers `M`
/// makes (standard error, a file): whatever the sink, no line bypasses the guard.
#[derive(Debug, Clone, Copy, Default)]
pub struct Redacted<M>(pub M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Redacted<M> {
    type Writer = Redacting<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        Redacting(self.0.make_writer())
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        Redacting(self.0.make_writer_for(meta))
    }
}

/// Redacts what passes through. tracing formats each event whole and writes it in one
/// call, so a secret is never split between two writes.
#[derive(Debug)]
pub struct Redacting<W>(pub W);

impl<W: Write> Write for Redacting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(redact(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_secret_shapes_are_redacted() {
        let cases = [
            "key opk_0123456789abcdefghijABCDEFGHIJ0123456789 used",
            "openai sk-proj-AbCdEfGhIjKlMnOpQrStUv in config",
            "header Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig",
            "secret whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD here",
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----",
            "signer PRIVATE+KEY+host/audit+b1e23570+AQ4oYPCG",
        ];
        for case in cases {
            let out = redact(case);
            assert!(out.contains(REDACTED), "{case} -> {out}");
        }
        assert_eq!(redact("nothing secret in here"), "nothing secret in here");
        assert!(
            !redact(cases[0]).contains("opk_0123"),
            "the key itself is gone"
        );
        assert!(!redact(cases[2]).contains("eyJhbGci"));
    }

    #[test]
    fn the_shapes_the_scan_looks_for_are_redacted_too() {
        let token = format!("ghp_{}", "A1b2".repeat(9));
        let line = format!("clone with {token} as AKIAIOSFODNN7EXAMPLE");
        assert_eq!(
            redact(&line),
            format!("clone with {REDACTED} as {REDACTED}")
        );
    }

    #[test]
    fn remembered_values_are_redacted_wherever_they_appear() {
        remember("correct-horse-battery-staple-42");
        remember("short");
        let out = redact("db password=correct-horse-battery-staple-42; user=short");
        assert_eq!(out, format!("db password={REDACTED}; user=short"));
    }

    #[test]
    fn remembered_values_are_redacted_in_their_escaped_forms_too() {
        let secret = r#"pa"ss\word-with-quotes"#;
        remember(secret);
        let json = format!(
            r#"{{"fields":{{"password":{}}}}}"#,
            serde_json::to_string(secret).unwrap()
        );
        assert_eq!(
            redact(&json),
            format!(r#"{{"fields":{{"password":"{REDACTED}"}}}}"#)
        );
        let debug = format!("password={secret:?}");
        assert_eq!(redact(&debug), format!("password=\"{REDACTED}\""));
    }

    #[test]
    fn the_writer_redacts_what_it_passes_on() {
        let mut sink = Redacting(Vec::new());
        writeln!(sink, "token opk_0123456789abcdefghijABCDEFGHIJ0123456789").unwrap();
        let written = String::from_utf8(sink.0).unwrap();
        assert_eq!(written, format!("token {REDACTED}\n"));
    }

    #[test]
    fn redacted_sinks_get_only_redacted_lines() {
        let sink = Redacted(std::sync::Mutex::new(Vec::new()));
        writeln!(
            sink.make_writer(),
            "key opk_0123456789abcdefghijABCDEFGHIJ0123456789"
        )
        .unwrap();
        let written = String::from_utf8(sink.0.into_inner().unwrap()).unwrap();
        assert_eq!(written, format!("key {REDACTED}\n"));
    }
}
