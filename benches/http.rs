//! HTTP benchmark of the real `outpost serve` binary (release build) on loopback.
//!
//! Reports, in one run against one throwaway database:
//! - requests/s of the signed-in overview page and of API-key-authenticated
//!   `GET /api/v1/me` next to `/healthz` (rounds alternate, so machine drift affects
//!   all three), and their ratios;
//! - sign-in latency with the production Argon2id parameters: success, a wrong
//!   password, and an unknown email (the last two should match, so timing does not
//!   reveal which accounts exist);
//! - resident memory of the idle server after start.
//!
//! `cargo bench --bench http` (add `-- --quick` for a short run).

#[path = "common/median.rs"]
mod median;
#[path = "../tests/support/mod.rs"]
mod support;

use median::median;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use outpost::identity::{Role, user};
use support::browser::Browser;
use support::pg::TestDb;
use support::totp_device::TotpDevice;
use uuid::Uuid;

const PASSWORD: &str = "correct horse battery staple";
const SIGN_IN_ROUNDS: usize = 30;

struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(db: &TestDb, keys: &std::path::Path) -> Server {
    let key_file = keys.join("vault.key");
    let signing_file = keys.join("audit-signing.key");
    outpost::vault::keyring::Keyring::generate()
        .create_file(&key_file)
        .expect("vault keyring");
    outpost::audit::checkpoint::write_signer(&signing_file, "bench/audit").expect("signing key");
    let mut child = Command::new(env!("CARGO_BIN_EXE_outpost"))
        .arg("serve")
        .env_clear()
        .env("OUTPOST_VAULT_KEY_FILE", &key_file)
        .env("OUTPOST_AUDIT_SIGNING_KEY_FILE", &signing_file)
        .env(
            "OUTPOST_AUDIT_CHECKPOINT_FILE",
            keys.join("checkpoints.log"),
        )
        .env("OUTPOST_DATABASE_URL", &db.url)
        .env("OUTPOST_LISTEN", "127.0.0.1:0")
        // The latency rounds sign in wrongly on purpose; keep the back-off out of them.
        .env("OUTPOST_LOGIN__BACKOFF_AFTER_FAILURES", "1000")
        .env("OUTPOST_LOG", "warn,outpost::cli=info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start outpost serve");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("serve exited before listening")
            .expect("read log");
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split_whitespace().next().expect("address").to_owned();
        }
    };
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Server { child, addr }
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Requests/s over `duration` with `concurrency` keep-alive connections.
async fn throughput(
    url: &str,
    header: Option<(&str, &str)>,
    concurrency: usize,
    duration: Duration,
) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let client = reqwest::Client::new();
            let url = url.to_owned();
            let header = header.map(|(n, v)| (n.to_owned(), v.to_owned()));
            let done = Arc::clone(&done);
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let mut request = client.get(&url);
                    if let Some((name, value)) = &header {
                        request = request.header(name, value);
                    }
                    let response = request.send().await.expect("request");
                    assert_eq!(response.status(), 200, "{url}");
                    response.bytes().await.expect("body");
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("load task");
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// One JSON sign-in, in milliseconds.
async fn sign_in_ms(
    client: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
    expect: u16,
) -> f64 {
    let started = Instant::now();
    let response = client
        .post(format!("{base}/login"))
        .json(&serde_json::json!({ "email": email, "password": password }))
        .send()
        .await
        .expect("sign-in request");
    assert_eq!(response.status(), expect);
    started.elapsed().as_secs_f64() * 1000.0
}

/// A Developer's key holding every capability of the role.
fn api_key(db: &TestDb) -> String {
    let developer =
        user::create(&mut db.conn(), "ci@example.com", Role::Developer).expect("developer");
    support::app::create_api_key(db, developer.id, &Role::Developer.capabilities())
}

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (rounds, window) = if quick {
        (2, Duration::from_secs(2))
    } else {
        (3, Duration::from_secs(5))
    };
    let concurrency = 16;

    let db = TestDb::new();
    let keys = tempfile::tempdir().expect("temp dir");
    let server = start_server(&db, keys.path());
    let base = format!("http://{}", server.addr);

    // Idle memory: after start and migrations, before any request.
    std::thread::sleep(Duration::from_secs(2));
    let idle_rss = rss_kib(server.child.id(), "VmRSS:");

    let setup = Command::new(env!("CARGO_BIN_EXE_outpost"))
        .args(["admin", "create-owner", "--email", "bench@example.com"])
        .env_clear()
        .env("OUTPOST_DATABASE_URL", &db.url)
        .env("OUTPOST_VAULT_KEY_FILE", keys.path().join("vault.key"))
        .env("OUTPOST_PUBLIC_URL", &base)
        .output()
        .expect("create owner");
    let stdout = String::from_utf8_lossy(&setup.stdout);
    let link = stdout
        .lines()
        .find(|l| l.starts_with(&base))
        .expect("setup link");
    let browser = Browser::new(base.clone());
    browser.complete_setup(&link[base.len()..], PASSWORD).await;
    assert_eq!(
        browser
            .sign_in("bench@example.com", PASSWORD)
            .await
            .status(),
        303
    );
    // Owners must enrol a second factor before the dashboard opens.
    let enrol = browser
        .get("/account/mfa")
        .await
        .text()
        .await
        .expect("enrolment page");
    let device = TotpDevice::from_page(&enrol, Uuid::nil());
    let code = device.current();
    let confirmed = browser
        .submit(
            "/account/mfa",
            "/account/mfa/confirm",
            &[("code", code.as_str())],
        )
        .await;
    assert_eq!(confirmed.status(), 200, "enrolment");
    let cookie = format!(
        "__Host-outpost-session={}",
        browser.cookie("__Host-outpost-session").expect("session")
    );
    let bearer = format!("Bearer {}", api_key(&db));

    let health_url = format!("{base}/healthz");
    let overview_url = format!("{base}/");
    let me_url = format!("{base}/api/v1/me");
    let session = Some(("cookie", cookie.as_str()));
    let key = Some(("authorization", bearer.as_str()));
    // Warm-up, then alternating rounds: drift on the machine hits all three alike.
    let warm = Duration::from_millis(500);
    throughput(&health_url, None, concurrency, warm).await;
    throughput(&overview_url, session, concurrency, warm).await;
    throughput(&me_url, key, concurrency, warm).await;
    let (mut health, mut overview, mut me) = (Vec::new(), Vec::new(), Vec::new());
    let (mut overview_ratio, mut me_ratio) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let h = throughput(&health_url, None, concurrency, window).await;
        let o = throughput(&overview_url, session, concurrency, window).await;
        let m = throughput(&me_url, key, concurrency, window).await;
        health.push(h);
        overview.push(o);
        me.push(m);
        overview_ratio.push(o / h);
        me_ratio.push(m / h);
    }
    let loaded_rss = rss_kib(server.child.id(), "VmHWM:");

    // Interleaved, so drift on the machine affects the three cases alike.
    let client = reqwest::Client::new();
    let (mut success, mut wrong, mut unknown, mut ratio) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..SIGN_IN_ROUNDS {
        success.push(sign_in_ms(&client, &base, "bench@example.com", PASSWORD, 200).await);
        // Which failure goes first alternates, so its position in the round cancels out.
        let wrong_attempt =
            || sign_in_ms(&client, &base, "bench@example.com", "wrong password!", 401);
        let unknown_attempt = || sign_in_ms(&client, &base, "nobody@example.com", PASSWORD, 401);
        let (w, u) = if round % 2 == 0 {
            let w = wrong_attempt().await;
            (w, unknown_attempt().await)
        } else {
            let u = unknown_attempt().await;
            (wrong_attempt().await, u)
        };
        wrong.push(w);
        unknown.push(u);
        ratio.push(u / w);
    }
    let (success, wrong, unknown) = (median(&success), median(&wrong), median(&unknown));

    println!(
        "outpost http benchmark ({concurrency} connections, {rounds} rounds of {window:?}, loopback)"
    );
    println!(
        "  /healthz                  {:>9.0} req/s (median)",
        median(&health)
    );
    println!(
        "  / signed-in overview      {:>9.0} req/s (median)",
        median(&overview)
    );
    println!(
        "  overview / healthz ratio  {:>9.3}",
        median(&overview_ratio)
    );
    println!(
        "  /api/v1/me with API key   {:>9.0} req/s (median)",
        median(&me)
    );
    println!("  api/me / healthz ratio    {:>9.3}", median(&me_ratio));
    println!("  sign-in, success          {success:>9.1} ms (median of {SIGN_IN_ROUNDS})");
    println!("  sign-in, wrong password   {wrong:>9.1} ms (median of {SIGN_IN_ROUNDS})");
    println!("  sign-in, unknown email    {unknown:>9.1} ms (median of {SIGN_IN_ROUNDS})");
    println!(
        "  unknown / wrong ratio     {:>9.3} (median of per-round ratios)",
        median(&ratio)
    );
    println!(
        "  idle RSS after start      {:>9.1} MiB",
        idle_rss as f64 / 1024.0
    );
    println!(
        "  peak RSS under load       {:>9.1} MiB",
        loaded_rss as f64 / 1024.0
    );
}
