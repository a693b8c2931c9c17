//! Secret values the tests store, written down so that the check at the end of a test
//! run (`tests/check-logs.sh`) can prove none of them reached any log line.
//!
//! With `OUTPOST_TEST_SECRETS` naming a file, every value is appended to it, one per
//! line; without it, values are still random and unique, just not recorded.

use std::io::Write;

/// A fresh random secret starting with `label` (e.g. `sk-canary`), recorded.
pub fn secret(label: &str) -> String {
    let mut bytes = [0u8; 18];
    getrandom::fill(&mut bytes).expect("random source");
    let tail: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let value = format!("{label}-{tail}");
    record(&value);
    value
}

/// Records a secret value the tests did not make up themselves (a TOTP key the
/// server generated, a password typed into a form).
pub fn record(value: &str) {
    let Some(path) = std::env::var_os("OUTPOST_TEST_SECRETS") else {
        return;
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open the secrets record");
    // One write per line: appends from parallel tests do not interleave.
    file.write_all(format!("{value}\n").as_bytes())
        .expect("record a secret");
}
