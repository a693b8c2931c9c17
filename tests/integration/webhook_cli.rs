//! `outpost webhook sign | verify` as a receiver's developer runs them: the Standard
//! Webhooks test vector, the body byte for byte from stdin, exit 0 / 1 / 2.

use std::io::Write;
use std::process::{Command, Output, Stdio};

const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
const AT: &str = "1649367553";
const BODY: &str = r#"{"email":"test@example.com","username":"test_user"}"#;
const SIGNATURE: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

fn webhook(args: &[&str], body: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_outpost"))
        .env_clear()
        .arg("webhook")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn sign_prints_the_standard_vector() {
    let out = webhook(
        &["sign", "--secret", SECRET, "--id", ID, "--timestamp", AT],
        BODY,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), SIGNATURE);
}

#[test]
fn verify_accepts_the_vector_and_refuses_empty_altered_and_stale() {
    let verify = |signature: &str, body: &str, extra: &[&str]| {
        let mut args = vec![
            "verify",
            "--secret",
            SECRET,
            "--id",
            ID,
            "--timestamp",
            AT,
            "--signature",
            signature,
        ];
        args.extend_from_slice(extra);
        webhook(&args, body)
    };
    let ok = verify(SIGNATURE, BODY, &["--ignore-time"]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    assert_eq!(text(&ok.stdout).trim(), "valid");

    for (signature, body) in [("v1,", BODY), (SIGNATURE, &format!("{BODY}\n"))] {
        let bad = verify(signature, body, &["--ignore-time"]);
        assert_eq!(bad.status.code(), Some(1), "{signature:?}");
        assert!(
            text(&bad.stderr).contains("no signature matches"),
            "{}",
            text(&bad.stderr)
        );
    }
    // The vector's timestamp is from 2022: far outside five minutes.
    let stale = verify(SIGNATURE, BODY, &[]);
    assert_eq!(stale.status.code(), Some(1));
    assert!(
        text(&stale.stderr).contains("s old"),
        "{}",
        text(&stale.stderr)
    );
}

#[test]
fn a_malformed_secret_is_a_usage_error() {
    let out = webhook(
        &[
            "sign",
            "--secret",
            "whsec_short",
            "--id",
            ID,
            "--timestamp",
            AT,
        ],
        BODY,
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--secret"), "{stderr}");
}
