//! Certificates from a real ACME server: Let's Encrypt's test CA (pebble) on
//! loopback, validating HTTP-01 challenges against `outpost serve`'s port-80
//! listener for a name the test's DNS server points at 127.0.0.1. The served chain
//! is verified up to pebble's root, and a renewal asked for with `outpost tls renew`
//! is served without a restart.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use outpost::tls::client::{self, handshake, verify_chain};
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::version::TLS13;

use super::tls::{get, logged_addr, outpost, start, verified_stream};
use crate::support::dns::{DnsServer, Zone};
use crate::support::pg::TestDb;
use crate::support::tls::{Ca, TlsFiles};

const DOMAIN: &str = "dash.outpost.test";
const TIMEOUT: Duration = Duration::from_secs(10);

struct Pebble {
    child: Child,
    directory: String,
    management: SocketAddr,
}

impl Drop for Pebble {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nobody listens on now (pebble takes its ports from its config).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// pebble with its HTTPS from `files`, validating on `http_port` and resolving
/// through `dns`.
fn start_pebble(files: &TlsFiles, http_port: u16, dns: SocketAddr) -> Pebble {
    let (listen, management) = (free_port(), free_port());
    let config = serde_json::json!({ "pebble": {
        "listenAddress": format!("127.0.0.1:{listen}"),
        "managementListenAddress": format!("127.0.0.1:{management}"),
        "certificate": files.cert,
        "privateKey": files.key,
        "httpPort": http_port,
        "tlsPort": free_port(),
        "ocspResponderURL": "",
        "externalAccountBindingRequired": false,
    }});
    let path = files.dir().join("pebble.json");
    std::fs::write(&path, config.to_string()).unwrap();
    let child = Command::new("pebble")
        .arg("-config")
        .arg(&path)
        .arg("-dnsserver")
        .arg(dns.to_string())
        .env("PEBBLE_VA_NOSLEEP", "1")
        .env("PEBBLE_WFE_NONCEREJECT", "0")
        // Every order validates afresh: a renewal answers challenges too.
        .env("PEBBLE_AUTHZREUSE", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("pebble is installed (provisioning/lib.sh installs it)");
    let management: SocketAddr = format!("127.0.0.1:{management}").parse().unwrap();
    let started = Instant::now();
    while std::net::TcpStream::connect(management).is_err()
        || std::net::TcpStream::connect(("127.0.0.1", listen)).is_err()
    {
        assert!(
            started.elapsed() < TIMEOUT,
            "pebble did not start listening"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Pebble {
        child,
        directory: format!("https://127.0.0.1:{listen}/dir"),
        management,
    }
}

/// pebble's root, which it makes anew at every start.
fn pebble_root(pebble: &Pebble, files: &TlsFiles) -> RootCertStore {
    let answer = get(&mut verified_stream(pebble.management, files), "/roots/0");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let pem = &answer[answer.find("-----BEGIN").expect("a PEM root")..];
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(pem.as_bytes()).unwrap())
        .unwrap();
    roots
}

/// Waits until the server presents a chain that `accept` takes; returns its leaf.
fn served_until(
    https: SocketAddr,
    what: &str,
    accept: impl Fn(&[CertificateDer<'static>]) -> bool,
) -> CertificateDer<'static> {
    let started = Instant::now();
    loop {
        let chain = handshake(https, DOMAIN, &[&TLS13], TIMEOUT).unwrap().chain;
        if accept(&chain) {
            return chain[0].clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "never served {what}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().mode() & 0o777
}

#[test]
fn serve_obtains_its_certificate_from_pebble_and_renews_it_without_restart() {
    let db = TestDb::new();
    let ca = Ca::new();
    // pebble's own HTTPS (directory and management) uses a leaf of the test CA.
    let pebble_files = TlsFiles::new(&ca, &ca.leaf(time::Duration::days(30)));
    let dns = DnsServer::start(Zone::default().a(DOMAIN, Ipv4Addr::LOCALHOST));
    let http_port = free_port();
    let pebble = start_pebble(&pebble_files, http_port, dns.addr);

    let served = tempfile::tempdir().unwrap();
    let cert_file = served.path().join("tls/fullchain.pem");
    let key_file = served.path().join("tls/privkey.pem");
    let data_dir = served.path().join("data");
    let config = served.path().join("outpost.toml");
    let settings = format!(
        r#"
data_dir = "{data}"
[tls]
https_listen = "127.0.0.1:0"
cert_file = "{cert}"
key_file = "{key}"
http_redirect_listen = "127.0.0.1:{http_port}"
[tls.acme]
directory_url = "{directory}"
contact_email = "ops@outpost.test"
domains = ["{DOMAIN}"]
ca_bundle = "{ca}"
"#,
        data = data_dir.display(),
        cert = cert_file.display(),
        key = key_file.display(),
        directory = pebble.directory,
        ca = pebble_files.ca.display(),
    );
    std::fs::write(&config, settings).unwrap();
    let extra = [("OUTPOST_CONFIG", config.to_str().unwrap().to_owned())];
    let (_server, lines) = start(&db, &pebble_files, &["serve"], &extra);
    let https = logged_addr(&lines, "addr");

    // The placeholder is served at once; pebble's certificate replaces it.
    let roots = pebble_root(&pebble, &pebble_files);
    let verifies = |chain: &[CertificateDer<'static>]| {
        verify_chain(
            chain,
            DOMAIN,
            roots.clone(),
            time::OffsetDateTime::now_utc(),
        )
        .is_ok()
    };
    let first = served_until(https, "pebble's certificate", verifies);
    assert_eq!(mode(&cert_file), 0o600);
    assert_eq!(mode(&key_file), 0o600);
    assert_eq!(mode(&data_dir.join("acme")), 0o700);
    assert_eq!(mode(&data_dir.join("acme/account.json")), 0o600);

    // A full request over the issued certificate, verified like a browser would.
    let tls =
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(outpost::tls::provider()))
            .with_protocol_versions(&[&TLS13])
            .unwrap()
            .with_root_certificates(roots.clone())
            .with_no_client_auth();
    let connection =
        rustls::ClientConnection::new(std::sync::Arc::new(tls), DOMAIN.try_into().unwrap())
            .unwrap();
    let mut stream = rustls::StreamOwned::new(connection, client::connect(https, TIMEOUT).unwrap());
    assert!(get(&mut stream, "/readyz").starts_with("HTTP/1.1 200"));

    let status = outpost(&db, &pebble_files, &extra, &["tls", "status"])
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success(), "{status:?}");
    assert!(printed.contains("Pebble Intermediate"), "{printed}");
    assert!(printed.contains(DOMAIN), "{printed}");
    assert!(printed.contains("days left:"), "{printed}");

    // A forced renewal goes through the running server (it holds port 80) and the
    // new certificate is served with no restart.
    let renew = outpost(
        &db,
        &pebble_files,
        &extra,
        &["tls", "renew", "--wait", "2m"],
    )
    .output()
    .unwrap();
    assert!(
        renew.status.success(),
        "{}",
        String::from_utf8_lossy(&renew.stderr)
    );
    let second = served_until(https, "the renewed certificate", |chain| {
        chain[0] != first && verifies(chain)
    });
    assert_ne!(first, second);

    // Challenges are answered only while an order runs; the rest still redirects.
    let redirect: SocketAddr = format!("127.0.0.1:{http_port}").parse().unwrap();
    let unknown = get(
        &mut client::connect(redirect, TIMEOUT).unwrap(),
        "/.well-known/acme-challenge/unknown-token",
    );
    assert!(unknown.starts_with("HTTP/1.1 404"), "{unknown}");
    let moved = get(&mut client::connect(redirect, TIMEOUT).unwrap(), "/login");
    assert!(moved.starts_with("HTTP/1.1 301"), "{moved}");

    let audited: Vec<(String, String, String)> = {
        use diesel::prelude::*;
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Text)]
            action: String,
            #[diesel(sql_type = diesel::sql_types::Text)]
            outcome: String,
            #[diesel(sql_type = diesel::sql_types::Text)]
            actor: String,
        }
        diesel::sql_query(
            "SELECT action, outcome, actor FROM audit_events WHERE action LIKE 'tls.%' ORDER BY id",
        )
        .load::<Row>(&mut db.conn())
        .unwrap()
        .into_iter()
        .map(|r| (r.action, r.outcome, r.actor))
        .collect()
    };
    let renewed = |actor: &str| {
        (
            "tls.certificate_renewed".to_owned(),
            "success".to_owned(),
            actor.to_owned(),
        )
    };
    assert_eq!(
        audited,
        vec![
            renewed("system"),
            (
                "tls.renewal_requested".into(),
                "success".into(),
                "cli".into()
            ),
            renewed("system"),
        ]
    );
}
