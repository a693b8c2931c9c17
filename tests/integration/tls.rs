//! HTTPS from `outpost serve` itself, on loopback: only TLS 1.2 (ECDHE with AEAD)
//! and 1.3 are spoken, a renewed certificate is served without a restart while open
//! connections carry on, and plain HTTP only redirects.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::time::Duration;

use outpost::tls::client::{self, handshake};
use outpost::tls::client_hello::{self, Answer, Offer};
use rustls::version::{TLS12, TLS13};
use rustls::{ClientConfig, ClientConnection, StreamOwned};

use crate::support::logs;
use crate::support::pg::TestDb;
use crate::support::tls::{Ca, HOST, TlsFiles};

const TIMEOUT: Duration = Duration::from_secs(10);

pub struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `outpost serve` with TLS from the command line, on ports the OS picks; returns
/// the HTTPS and the redirecting addresses it logged.
/// `outpost ARGS` with keys of its own in `files`' directory and `extra` settings,
/// logging JSON lines to the returned receiver.
pub fn start(
    db: &TestDb,
    files: &TlsFiles,
    args: &[&str],
    extra: &[(&str, String)],
) -> (Running, Receiver<String>) {
    let init = logs::output(&mut outpost(db, files, extra, &["keys", "init"]));
    assert!(init.status.success(), "{init:?}");
    let (child, lines) = logs::spawn(&mut outpost(db, files, extra, args));
    (Running(child), lines)
}

/// `outpost ARGS` with the keys in `files`' directory and `extra` settings.
pub fn outpost(db: &TestDb, files: &TlsFiles, extra: &[(&str, String)], args: &[&str]) -> Command {
    let dir = files.dir();
    let path = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    let env = [
        ("OUTPOST_VAULT_KEY_FILE", path("vault.key")),
        ("OUTPOST_AUDIT_SIGNING_KEY_FILE", path("audit-signing.key")),
        ("OUTPOST_AUDIT_CHECKPOINT_FILE", path("checkpoints.log")),
        ("OUTPOST_DATABASE_URL", db.url.clone()),
        ("OUTPOST_PUBLIC_URL", format!("https://{HOST}")),
        ("OUTPOST_WORKERS", "1".into()),
        ("OUTPOST_LOG_FORMAT", "json".into()),
        ("OUTPOST_BACKUP__DAILY", String::new()),
        ("OUTPOST_BACKUP__WEEKLY", String::new()),
        ("OUTPOST_BACKUP__MONTHLY", String::new()),
        ("OUTPOST_SCAN__NIGHTLY", String::new()),
    ];
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_outpost"));
    cmd.env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .envs(extra.iter().map(|(k, v)| (k, v)))
        .args(args);
    cmd
}

fn serve(db: &TestDb, files: &TlsFiles) -> (Running, SocketAddr, SocketAddr) {
    let (running, lines) = start(
        db,
        files,
        &[
            "serve",
            "--https-listen",
            "127.0.0.1:0",
            "--tls-cert",
            files.cert.to_str().unwrap(),
            "--tls-key",
            files.key.to_str().unwrap(),
            "--http-redirect-listen",
            "127.0.0.1:0",
        ],
        &[],
    );
    let https = logged_addr(&lines, "addr");
    let redirect = logged_addr(&lines, "redirect_addr");
    (running, https, redirect)
}

pub fn logged_addr(lines: &Receiver<String>, field: &str) -> SocketAddr {
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("serve logs its {field}"));
        let entry: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|_| panic!("not a JSON log line: {line}"));
        if let Some(addr) = entry["fields"][field].as_str() {
            return addr.parse().unwrap();
        }
    }
}

/// A TLS 1.3 connection that verifies the chain against the test CA.
pub fn verified_stream(
    addr: SocketAddr,
    files: &TlsFiles,
) -> StreamOwned<ClientConnection, TcpStream> {
    let roots = client::trust_anchors(Some(&files.ca)).unwrap();
    let config = ClientConfig::builder_with_provider(Arc::new(outpost::tls::provider()))
        .with_protocol_versions(&[&TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connection = ClientConnection::new(Arc::new(config), HOST.try_into().unwrap()).unwrap();
    StreamOwned::new(connection, client::connect(addr, TIMEOUT).unwrap())
}

/// Sends a GET and reads one whole response (headers and a Content-Length body).
pub fn get(stream: &mut impl ReadWrite, path: &str) -> String {
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n").unwrap();
    let mut response = Vec::new();
    let mut byte = [0u8; 1];
    while !response.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        response.push(byte[0]);
    }
    let head = String::from_utf8(response).unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).unwrap();
    head + &String::from_utf8_lossy(&body)
}

pub trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

#[test]
fn serve_speaks_only_modern_tls_reloads_certificates_and_redirects_http() {
    let db = TestDb::new();
    let ca = Ca::new();
    let first = ca.leaf(time::Duration::days(90));
    let files = TlsFiles::new(&ca, &first);
    let (_server, https, redirect) = serve(&db, &files);

    for offer in Offer::WEAK {
        let answer = client_hello::probe(https, HOST, offer, TIMEOUT).unwrap();
        assert!(
            matches!(answer, Answer::Refused(_)),
            "{} must be refused: {answer:?}",
            offer.describe()
        );
    }
    // The raw probe sees an acceptance when there is one: its refusals mean something.
    let aead = client_hello::probe(https, HOST, Offer::Tls12EcdheAead, TIMEOUT).unwrap();
    assert!(
        matches!(
            aead,
            Answer::Accepted {
                version: 0x0303,
                ..
            }
        ),
        "{aead:?}"
    );
    let tls12 = handshake(https, HOST, &[&TLS12], TIMEOUT).unwrap();
    assert_eq!(tls12.version, rustls::ProtocolVersion::TLSv1_2);
    assert!(
        format!("{:?}", tls12.suite).contains("ECDHE"),
        "{:?}",
        tls12.suite
    );
    let tls13 = handshake(https, HOST, &[&TLS13], TIMEOUT).unwrap();
    assert_eq!(tls13.version, rustls::ProtocolVersion::TLSv1_3);
    assert_eq!(tls13.chain[0], first.der);

    // A connection open before the renewal keeps working after it.
    let mut open = verified_stream(https, &files);
    assert!(get(&mut open, "/readyz").starts_with("HTTP/1.1 200"));

    // A pair that does not match is refused and the old certificate kept.
    let second = ca.leaf(time::Duration::days(60));
    std::fs::write(&files.cert, &second.chain_pem).unwrap();
    let kept = handshake(https, HOST, &[&TLS13], TIMEOUT).unwrap();
    assert_eq!(kept.chain[0], first.der, "a mismatched pair is not served");

    files.install(&second);
    let renewed = handshake(https, HOST, &[&TLS13], TIMEOUT).unwrap();
    assert_eq!(
        renewed.chain[0], second.der,
        "the renewed certificate is served"
    );
    assert!(get(&mut open, "/readyz").starts_with("HTTP/1.1 200"));
    let mut fresh = verified_stream(https, &files);
    assert!(get(&mut fresh, "/readyz").starts_with("HTTP/1.1 200"));

    let mut plain = client::connect(redirect, TIMEOUT).unwrap();
    let answer = get(&mut plain, "/login?next=%2Fbackups");
    assert!(answer.starts_with("HTTP/1.1 301"), "{answer}");
    let location = format!(
        "location: https://{HOST}:{}/login?next=%2Fbackups",
        https.port()
    );
    assert!(
        answer
            .to_ascii_lowercase()
            .contains(&location.to_ascii_lowercase()),
        "{answer}"
    );
}

#[test]
fn the_fleet_controller_serves_https_from_the_same_tls_settings() {
    let db = TestDb::new();
    let ca = Ca::new();
    let files = TlsFiles::new(&ca, &ca.leaf(time::Duration::days(90)));
    let path = |p: &std::path::Path| p.to_str().unwrap().to_owned();
    let (_running, lines) = start(
        &db,
        &files,
        &["fleet", "serve"],
        &[
            ("OUTPOST_CONTROLLER__LISTEN", "127.0.0.1:0".into()),
            ("OUTPOST_TLS__HTTPS_LISTEN", "127.0.0.1:0".into()),
            ("OUTPOST_TLS__CERT_FILE", path(&files.cert)),
            ("OUTPOST_TLS__KEY_FILE", path(&files.key)),
        ],
    );
    let addr = logged_addr(&lines, "addr");
    let answer = get(&mut verified_stream(addr, &files), "/healthz");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Only TLS is spoken there: a plain request gets no HTTP answer.
    let mut plain = client::connect(addr, TIMEOUT).unwrap();
    // The server may reset the connection as soon as it sees a non-TLS byte, so a
    // failed write is as good an answer as a closed one.
    let _ = write!(plain, "GET /healthz HTTP/1.1\r\nHost: {HOST}\r\n\r\n");
    let mut reply = Vec::new();
    let _ = plain.read_to_end(&mut reply);
    assert!(
        !reply.starts_with(b"HTTP/1.1 200"),
        "plain HTTP was answered"
    );
}
