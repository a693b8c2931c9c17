//! TLS cost of the real `outpost serve` binary (release build) on loopback, in one
//! run: one server on HTTPS (a certificate of a test CA, `[tls]`) and one on plain
//! HTTP, over one database.
//!
//! - full handshakes/s: a new connection for every `GET /healthz`, with no session
//!   resumption, over TLS 1.3 and TLS 1.2, next to a plain TCP connection with the
//!   same request;
//! - signed-in overview (`GET /`) requests/s over keep-alive connections, TLS 1.3
//!   next to plain HTTP.
//!
//! Rounds alternate, so drift on the machine affects every case alike. Prints the
//! figures and the ratios. `cargo bench --bench tls` (add `-- --quick` for a short run).

#[path = "common/median.rs"]
mod median;
#[path = "../tests/support/mod.rs"]
mod support;

use median::median;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::client::Resumption;
use rustls::{ClientConfig, ClientConnection, StreamOwned, SupportedProtocolVersion};
use support::app::{PASSWORD, enrol_mfa};
use support::browser::Browser;
use support::pg::{TestDb, outpost_command, write_test_keys};
use support::tls::{Ca, HOST, TlsFiles};
use uuid::Uuid;

const TIMEOUT: Duration = Duration::from_secs(10);

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `command` (an `outpost serve`) and returns it with the address it logged.
fn start(mut command: Command, scheme: &str) -> (Server, SocketAddr) {
    let mut child = command
        .arg("serve")
        .env("OUTPOST_LOG", "warn,outpost::cli=info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start outpost serve");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let marker = format!("listening on {scheme}://");
    let addr = loop {
        let line = lines
            .next()
            .expect("serve exited before listening")
            .expect("read log");
        if let Some(rest) = line.split(&marker).nth(1) {
            let addr = rest.split(|c: char| c.is_whitespace() || c == '"').next();
            break addr.expect("address").parse().expect("socket address");
        }
    };
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (Server(child), addr)
}

/// A client trusting the test CA, offering one TLS version, never resuming: every
/// connection is a full handshake.
fn client_config(ca: &Path, version: &'static SupportedProtocolVersion) -> Arc<ClientConfig> {
    let roots = outpost::tls::client::trust_anchors(Some(ca)).expect("roots");
    let mut config = ClientConfig::builder_with_provider(Arc::new(outpost::tls::provider()))
        .with_protocol_versions(&[version])
        .expect("version")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.resumption = Resumption::disabled();
    Arc::new(config)
}

/// How a benchmark client reaches the server.
#[derive(Clone)]
enum Transport {
    Plain,
    Tls(Arc<ClientConfig>),
}

trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

impl Transport {
    fn connect(&self, addr: SocketAddr) -> Box<dyn Stream> {
        let tcp = TcpStream::connect_timeout(&addr, TIMEOUT).expect("connect");
        tcp.set_nodelay(true).expect("nodelay");
        tcp.set_read_timeout(Some(TIMEOUT)).expect("timeout");
        match self {
            Transport::Plain => Box::new(tcp),
            Transport::Tls(config) => {
                let connection =
                    ClientConnection::new(Arc::clone(config), HOST.try_into().expect("name"))
                        .expect("client connection");
                Box::new(StreamOwned::new(connection, tcp))
            }
        }
    }
}

/// Sends one GET and reads the whole response; panics unless it is a 200.
fn get(stream: &mut dyn Stream, path: &str, cookie: &str, close: bool) {
    let connection = if close { "close" } else { "keep-alive" };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {HOST}\r\nCookie: {cookie}\r\nConnection: {connection}\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).expect("send request");
    let mut head = Vec::with_capacity(1024);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).expect("read response head");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 200"), "{path}: {head}");
    let length: usize = head
        .lines()
        .find_map(|l| {
            let l = l.to_ascii_lowercase();
            l.strip_prefix("content-length:")
                .map(|v| v.trim().parse().expect("length"))
        })
        .expect("a Content-Length");
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).expect("read body");
}

/// Operations/s of `threads` loops of `op` over `window`, each thread on what `open`
/// gives it (its connection, or nothing).
fn rate<S>(
    threads: usize,
    window: Duration,
    open: impl Fn() -> S + Sync,
    op: impl Fn(&mut S) + Sync,
) -> f64 {
    let started = Instant::now();
    let deadline = started + window;
    let done: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut state = open();
                    let mut n = 0;
                    while Instant::now() < deadline {
                        op(&mut state);
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("load thread"))
            .sum()
    });
    done as f64 / started.elapsed().as_secs_f64()
}

/// A new connection (and for TLS a full handshake) per request.
fn connections(transport: &Transport, addr: SocketAddr, threads: usize, window: Duration) -> f64 {
    rate(
        threads,
        window,
        || (),
        |_| {
            let mut stream = transport.connect(addr);
            get(&mut *stream, "/healthz", "", true);
        },
    )
}

/// Signed-in overview requests over one keep-alive connection per thread.
fn overview(
    transport: &Transport,
    addr: SocketAddr,
    cookie: &str,
    threads: usize,
    window: Duration,
) -> f64 {
    rate(
        threads,
        window,
        || transport.connect(addr),
        |stream| get(&mut **stream, "/", cookie, false),
    )
}

/// An Owner with a second factor, signed in on the plain server; the session cookie
/// is good on both servers (they share the database).
async fn owner_session(keys: &Path, db: &TestDb, base: &str) -> String {
    let setup = outpost_command(keys, &db.url)
        .args(["admin", "create-owner", "--email", "bench@example.com"])
        .env("OUTPOST_PUBLIC_URL", base)
        .output()
        .expect("create owner");
    let stdout = String::from_utf8_lossy(&setup.stdout);
    let link = stdout
        .lines()
        .find(|l| l.starts_with(base))
        .expect("setup link");
    let browser = Browser::new(base.to_owned());
    browser.complete_setup(&link[base.len()..], PASSWORD).await;
    let signed_in = browser.sign_in("bench@example.com", PASSWORD).await;
    assert_eq!(signed_in.status(), 303, "sign-in");
    enrol_mfa(&browser, Uuid::nil()).await;
    format!(
        "__Host-outpost-session={}",
        browser.cookie("__Host-outpost-session").expect("session")
    )
}

#[tokio::main]
async fn main() {
    // reqwest (the sign-in) is built without a default TLS provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let quick = std::env::args().any(|a| a == "--quick");
    let (rounds, window) = if quick {
        (2, Duration::from_millis(700))
    } else {
        (3, Duration::from_secs(1))
    };
    let threads = 4;

    let db = TestDb::new();
    let keys = tempfile::tempdir().expect("temp dir");
    write_test_keys(keys.path(), "bench/tls");
    let ca = Ca::new();
    let files = TlsFiles::new(&ca, &ca.leaf(time::Duration::days(90)));

    let mut plain = outpost_command(keys.path(), &db.url);
    plain.env("OUTPOST_LISTEN", "127.0.0.1:0");
    let (_plain, plain_addr) = start(plain, "http");
    let mut tls = outpost_command(keys.path(), &db.url);
    tls.env("OUTPOST_TLS__HTTPS_LISTEN", "127.0.0.1:0")
        .env("OUTPOST_TLS__CERT_FILE", &files.cert)
        .env("OUTPOST_TLS__KEY_FILE", &files.key)
        .env("OUTPOST_PUBLIC_URL", format!("https://{HOST}"));
    let (_tls, tls_addr) = start(tls, "https");

    let cookie = owner_session(keys.path(), &db, &format!("http://{plain_addr}")).await;
    let plain = Transport::Plain;
    let tls13 = Transport::Tls(client_config(&files.ca, &rustls::version::TLS13));
    let tls12 = Transport::Tls(client_config(&files.ca, &rustls::version::TLS12));

    // Warm-up: pools, caches, the page's queries.
    let warm = Duration::from_millis(300);
    connections(&plain, plain_addr, threads, warm);
    connections(&tls13, tls_addr, threads, warm);
    overview(&plain, plain_addr, &cookie, threads, warm);
    overview(&tls13, tls_addr, &cookie, threads, warm);

    let (mut tcp, mut h13, mut h12) = (Vec::new(), Vec::new(), Vec::new());
    let (mut page_plain, mut page_tls) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        tcp.push(connections(&plain, plain_addr, threads, window));
        h13.push(connections(&tls13, tls_addr, threads, window));
        h12.push(connections(&tls12, tls_addr, threads, window));
        page_plain.push(overview(&plain, plain_addr, &cookie, threads, window));
        page_tls.push(overview(&tls13, tls_addr, &cookie, threads, window));
    }
    let (tcp, h13, h12) = (median(&tcp), median(&h13), median(&h12));
    let (page_plain, page_tls) = (median(&page_plain), median(&page_tls));

    println!(
        "outpost TLS benchmark ({threads} client threads, {rounds} rounds of {window:?}, loopback, medians)"
    );
    println!("  new connection + GET /healthz:");
    println!("    plain TCP                  {tcp:>9.0} /s");
    println!(
        "    TLS 1.3 full handshake     {h13:>9.0} /s   ({:.3} of plain)",
        h13 / tcp
    );
    println!(
        "    TLS 1.2 full handshake     {h12:>9.0} /s   ({:.3} of plain)",
        h12 / tcp
    );
    println!("  signed-in overview GET /, keep-alive:");
    println!("    plain HTTP                 {page_plain:>9.0} req/s");
    println!(
        "    HTTPS (TLS 1.3)            {page_tls:>9.0} req/s   ({:.3} of plain)",
        page_tls / page_plain
    );
}
