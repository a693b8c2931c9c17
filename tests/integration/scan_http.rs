//! The offensive HTTP checks against a real server over loopback: Outpost's own
//! dashboard passes; a server that leaks (no security headers, a version in `Server`,
//! panics and SQL in plain-text errors) is caught on every count.

use std::io::{Read, Write};
use std::net::TcpListener;

use outpost::config::Config;
use outpost::db::Db;
use outpost::scan::{self, Check, Context, Found, checks};
use outpost::vault::Vault;
use outpost::vault::keyring::KeySource;
use time::OffsetDateTime;

use crate::support::app::TestApp;

/// The subjects check `id` finds on the server `config.public_url` names. Blocking
/// (the checks' probes run a runtime of their own): call it off the test's runtime.
pub(crate) fn found_by(keyring: &KeySource, config: &Config, id: &str) -> Vec<String> {
    findings_of(keyring, config, id)
        .into_iter()
        .map(|f| f.subject)
        .collect()
}

/// What check `id` finds, in full (severities included); blocking like [`found_by`].
pub(crate) fn findings_of(keyring: &KeySource, config: &Config, id: &str) -> Vec<Found> {
    let db = Db::connect(config).unwrap();
    let vault = Vault::load(keyring.clone()).unwrap();
    let cx = Context {
        config,
        db: &db,
        vault: &vault,
        now: OffsetDateTime::now_utc(),
    };
    let selected: Vec<Box<dyn Check>> =
        checks::all().into_iter().filter(|c| c.id() == id).collect();
    let runs = scan::run(&cx, &selected);
    assert_ne!(runs[0].status, "error", "{:?}", runs[0].error);
    runs[0].found.clone()
}

/// Both HTTP checks' findings, run off the test's runtime.
async fn probe_both(keyring: KeySource, config: Config) -> (Vec<String>, Vec<String>) {
    tokio::task::spawn_blocking(move || {
        (
            found_by(&keyring, &config, "offensive.http_headers"),
            found_by(&keyring, &config, "offensive.error_handling"),
        )
    })
    .await
    .unwrap()
}

/// Answers every request like a careless server would, until the test ends.
fn leaky_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let mut buf = [0u8; 65536];
            let _ = stream.set_read_timeout(Some(std::time::Duration::from_millis(200)));
            let _ = stream.read(&mut buf);
            let body = "thread 'actix-rt' panicked at src/db.rs:12: syntax error at or near \"OR\"";
            let _ = write!(
                stream,
                "HTTP/1.1 500 Internal Server Error\r\nServer: nginx/1.18.0\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread")]
async fn outposts_own_surface_passes_and_a_leaky_one_is_caught() {
    let app = TestApp::start().await;
    let (headers, errors) = probe_both(app.keyring.clone(), app.config.clone()).await;
    assert!(headers.is_empty(), "{headers:?}");
    assert!(errors.is_empty(), "{errors:?}");

    let mut leaky = app.config.clone();
    leaky.public_url = leaky_server();
    let (headers, errors) = probe_both(app.keyring.clone(), leaky).await;
    for expected in [
        "header:content-security-policy:/login",
        "header:strict-transport-security:/no-such-page",
        "header:x-frame-options:/login",
        "header:server:/login",
    ] {
        assert!(
            headers.contains(&expected.to_owned()),
            "{expected}: {headers:?}"
        );
    }
    for expected in [
        "probe:POST /login:not-problem",
        "probe:POST /login:leak:panicked at",
        "probe:GET /api/v1/credentials/'%20OR%20'1'='1:leak:syntax error at or near",
        "probe:GET /wp-admin/setup-config.php:leak:.rs:",
    ] {
        assert!(
            errors.contains(&expected.to_owned()),
            "{expected}: {errors:?}"
        );
    }
}
