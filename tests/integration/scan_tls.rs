//! The offensive TLS checks against real servers on loopback: Outpost's own HTTPS
//! passes every one; an expiring or untrusted certificate, a missing or cleartext
//! redirect, short HSTS and an OpenSSL server accepting old protocols and weak
//! suites are each caught.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use outpost::config::Config;
use outpost::scan::Severity;

use crate::scan_http::{findings_of, found_by};
use crate::support::app::TestApp;
use crate::support::daemon::{Daemon, free_port};
use crate::support::tls::{Ca, HOST, TlsFiles};
use crate::support::tools;

const TLS_CHECKS: [&str; 4] = [
    "offensive.tls_protocols",
    "offensive.tls_certificate",
    "offensive.http_redirect",
    "offensive.http_headers",
];

/// Every finding of `ids` against `config`, run off the test's runtime.
async fn scan(app: &TestApp, config: Config, ids: &'static [&'static str]) -> Vec<String> {
    let keyring = app.keyring.clone();
    tokio::task::spawn_blocking(move || {
        ids.iter()
            .flat_map(|id| found_by(&keyring, &config, id))
            .collect()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn outposts_own_https_passes_every_tls_check() {
    let ca = Ca::new();
    let files = TlsFiles::new(&ca, &ca.leaf(time::Duration::days(90)));
    let app = TestApp::start_tls(&files).await;
    let found = scan(&app, app.config.clone(), &TLS_CHECKS).await;
    assert!(found.is_empty(), "{found:?}");

    // Development on loopback without TLS is left alone; cleartext elsewhere is not.
    let mut dev = app.config.clone();
    dev.public_url = "http://127.0.0.1:8080".into();
    dev.tls = Default::default();
    let found = scan(&app, dev.clone(), &TLS_CHECKS[..3]).await;
    assert!(found.is_empty(), "{found:?}");
    dev.public_url = "http://192.0.2.10".into();
    let found = scan(&app, dev, &TLS_CHECKS[..3]).await;
    assert_eq!(found, ["tls:not-served"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expiring_or_untrusted_certificate_is_caught() {
    let ca = Ca::new();
    let files = TlsFiles::new(&ca, &ca.leaf(time::Duration::days(5)));
    let app = TestApp::start_tls(&files).await;
    let (keyring, config) = (app.keyring.clone(), app.config.clone());
    let found = tokio::task::spawn_blocking(move || {
        findings_of(&keyring, &config, "offensive.tls_certificate")
    })
    .await
    .unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].subject, format!("certificate:{HOST}:expiry"));
    assert_eq!(found[0].severity, Severity::Critical);
    assert!(
        found[0].title.contains("expires in 4 days"),
        "{}",
        found[0].title
    );

    // Renewed in place: the next scan sees the new certificate and is quiet.
    files.install(&ca.leaf(time::Duration::days(90)));
    let found = scan(&app, app.config.clone(), &["offensive.tls_certificate"]).await;
    assert!(found.is_empty(), "{found:?}");

    // Without the test CA the chain leads nowhere trusted.
    let mut untrusted = app.config.clone();
    untrusted.scan.tls_ca_file = None;
    let found = scan(&app, untrusted, &["offensive.tls_certificate"]).await;
    assert_eq!(found, [format!("certificate:{HOST}:chain")]);
}

/// Answers every request with 200 in clear, until the test ends.
fn cleartext_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
            let _ = stream.read(&mut buf);
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_or_cleartext_redirect_is_caught() {
    let ca = Ca::new();
    let files = TlsFiles::new(&ca, &ca.leaf(time::Duration::days(90)));
    let app = TestApp::start_tls(&files).await;

    let mut nothing = app.config.clone();
    nothing.tls.http_redirect_listen = Some(format!("127.0.0.1:{}", free_port()).parse().unwrap());
    let found = scan(&app, nothing, &["offensive.http_redirect"]).await;
    assert_eq!(found, ["redirect:none"]);

    let mut cleartext = app.config.clone();
    cleartext.tls.http_redirect_listen = Some(cleartext_server());
    let found = scan(&app, cleartext, &["offensive.http_redirect"]).await;
    assert_eq!(found, ["redirect:cleartext"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn short_hsts_over_https_is_caught() {
    let ca = Ca::new();
    let files = TlsFiles::new(&ca, &ca.leaf(time::Duration::days(90)));
    let app = TestApp::start_tls(&files).await;
    // Another HTTPS server with the same certificate, whose HSTS lasts a minute.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let tls = outpost::tls::server_config_for_files(&files.cert, &files.key).unwrap();
    let server = HttpServer::new(|| {
        App::new().default_service(web::to(|| async {
            HttpResponse::Ok()
                .insert_header(("strict-transport-security", "max-age=60"))
                .finish()
        }))
    })
    .workers(1)
    .listen_rustls_0_23(listener, tls)
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);

    let mut short = app.config.clone();
    short.public_url = format!("https://{HOST}:{port}");
    let found = scan(&app, short, &["offensive.http_headers"]).await;
    assert!(
        found.contains(&"header:hsts-age:/login".to_owned()),
        "{found:?}"
    );
    handle.stop(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_accepting_old_protocols_and_weak_suites_is_caught() {
    let Some(openssl) = tools::require("openssl", "weak TLS server") else {
        return;
    };
    let ca = Ca::new();
    let files = TlsFiles::new(&ca, &ca.leaf(time::Duration::days(90)));
    let app = TestApp::start_tls(&files).await;
    // An RSA certificate (RSA key exchange needs one) and every suite OpenSSL has,
    // at security level 0, without the distribution's system-wide minimums.
    let dir = files.dir();
    let (cert, key) = (dir.join("rsa-cert.pem"), dir.join("rsa-key.pem"));
    let made = Command::new(&openssl)
        .env("OPENSSL_CONF", "/dev/null")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        // An extension makes it X.509 v3, the only version TLS clients accept.
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let port = free_port();
    let mut command = Command::new(&openssl);
    command
        .env("OPENSSL_CONF", "/dev/null")
        .args(["s_server", "-accept", &format!("127.0.0.1:{port}")])
        .arg("-cert")
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .args(["-cipher", "ALL:@SECLEVEL=0", "-www", "-quiet"]);
    let mut weak = Daemon::spawn(command, &dir.join("s_server.log"));
    weak.wait_for_port(port, Duration::from_secs(10));

    let mut config = app.config.clone();
    config.public_url = format!("https://{HOST}:{port}");
    let found = scan(&app, config, &["offensive.tls_protocols"]).await;
    for offer in ["tls1.0", "tls1.1", "tls1.2-cbc", "tls1.2-rsa-kex"] {
        assert!(
            found.contains(&format!("tls:accepted:{offer}")),
            "{offer}: {found:?} ({})",
            weak.log()
        );
    }
    assert!(
        !found.iter().any(|f| f.starts_with("tls:missing")),
        "{found:?}"
    );
}
