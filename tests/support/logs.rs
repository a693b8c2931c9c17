//! Debug logging for a test run whose logs are checked for secrets.
//!
//! With `OUTPOST_TEST_LOG_DIR` set, each test process logs everything at `debug` (our
//! crate, actix, r2d2, hyper, reqwest, rustls...) through the same leak guard as
//! production into `<binary>-<pid>.log` there, and every `outpost` process the tests
//! start logs at `debug` too, its stdout and stderr collected into
//! `outpost-<pid>.log`. `tests/check-logs.sh` then looks for the secrets recorded by
//! [`super::canary`] in all of them. Without the variable nothing is logged.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Once, mpsc};

use outpost::telemetry::{self, Format};
use tracing_subscriber::EnvFilter;

fn dir() -> Option<PathBuf> {
    std::env::var_os("OUTPOST_TEST_LOG_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
}

fn append(path: PathBuf) -> File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

/// `integration-0123456789abcdef` (cargo's name for the test binary) as `integration`.
fn binary_name() -> String {
    let exe = std::env::current_exe().expect("own path");
    let stem = exe
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "test".into());
    match stem.rsplit_once('-') {
        Some((name, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            name.to_owned()
        }
        _ => stem,
    }
}

/// Starts this process's debug log, once. Called by every entry point a test goes
/// through (databases, the SMTP sink, child processes): the test harness has no hook
/// that runs before all tests.
pub fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // reqwest's TLS comes without a crypto provider (see backup_target::s3).
        outpost::backup_target::s3::install_tls_provider();
        let Some(dir) = dir() else { return };
        let path = dir.join(format!("{}-{}.log", binary_name(), std::process::id()));
        // The browser driver's debug lines are the DevTools traffic verbatim (the
        // browser's cookies among it): the browser's business, not this project's logs.
        telemetry::init_to(
            Arc::new(append(path)),
            EnvFilter::new("debug,chromiumoxide=info"),
            Format::PlainText,
        );
    });
}

fn set_unless_given(cmd: &mut Command, key: &str, value: &str) {
    if !cmd.get_envs().any(|(k, _)| k == key) {
        cmd.env(key, value);
    }
}

fn child_log(pid: u32) -> Option<File> {
    dir().map(|dir| append(dir.join(format!("outpost-{pid}.log"))))
}

/// A JSON log line, as `outpost` writes them with `OUTPOST_LOG_FORMAT=json`.
fn is_log_line(line: &str) -> bool {
    line.starts_with(r#"{"timestamp":"#)
}

/// [`Command::output`] for an `outpost` command (set its environment first: this adds
/// to it). When logs are collected it runs with debug logging in JSON, everything it
/// printed goes into the log directory, and the log lines are taken out of the stderr
/// handed back: tests see what a person sees without `OUTPOST_LOG`.
pub fn output(cmd: &mut Command) -> Output {
    init();
    if dir().is_none() {
        return cmd.output().expect("run outpost");
    }
    set_unless_given(cmd, "OUTPOST_LOG", "debug");
    set_unless_given(cmd, "OUTPOST_LOG_FORMAT", "json");
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run outpost");
    let pid = child.id();
    let mut out = child.wait_with_output().expect("run outpost");
    if let Some(mut log) = child_log(pid) {
        log.write_all(&out.stderr).expect("collect stderr");
        log.write_all(&out.stdout).expect("collect stdout");
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    out.stderr = stderr
        .split_inclusive('\n')
        .filter(|line| !is_log_line(line))
        .collect::<String>()
        .into_bytes();
    out
}

/// Starts a long-running `outpost` (set its environment first), with debug logging
/// when logs are collected. Its stderr lines come back through the receiver. Both
/// pipes are read until the child exits, whether or not anyone still listens, so a
/// chatty child never stalls on a full pipe.
pub fn spawn(cmd: &mut Command) -> (Child, mpsc::Receiver<String>) {
    init();
    if dir().is_some() {
        set_unless_given(cmd, "OUTPOST_LOG", "debug");
        // Plain text in the files, like the test processes' own logs.
        set_unless_given(cmd, "NO_COLOR", "1");
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start outpost");
    let pid = child.id();
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stdout_log = child_log(pid);
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n @ 1..) = stdout.read(&mut buf) {
            if let Some(log) = stdout_log.as_mut() {
                log.write_all(&buf[..n]).expect("collect stdout");
            }
        }
    });
    let stderr = BufReader::new(child.stderr.take().expect("piped stderr"));
    let mut stderr_log = child_log(pid);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.split(b'\n').map_while(Result::ok) {
            if let Some(log) = stderr_log.as_mut() {
                log.write_all(&line).expect("collect stderr");
                log.write_all(b"\n").expect("collect stderr");
            }
            let _ = tx.send(String::from_utf8_lossy(&line).into_owned());
        }
    });
    (child, rx)
}
