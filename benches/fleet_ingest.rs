//! Fleet report ingestion of the real `outpost fleet serve` binary (release build) on
//! loopback, against a PostgreSQL of its own with durable commits.
//!
//! N satellites are enrolled (tokens from `outpost fleet token create`, enrolment over
//! HTTP), then C concurrent clients send a fixed count of signed reports (Standard
//! Webhooks signature, a fresh id each, spread over the satellites) and, in alternating
//! rounds, the same count of `GET /healthz`. Prints reports/s, `/healthz` requests/s
//! and their ratio; checks every report was stored.
//!
//! `cargo bench --bench fleet_ingest` (add `-- --quick` for a short run).

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};
use outpost::fleet::protocol::{
    AppHealth, DiskHealth, ENROLL_PATH, EnrollResponse, HEADER_SATELLITE, HostHealth, REPORTS_PATH,
    Report, SecurityHealth,
};
use outpost::notify::signature::{HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, WebhookSecret};
use support::pg::{Cluster, Durability};
use time::OffsetDateTime;
use uuid::Uuid;

struct Controller {
    child: Child,
    base: String,
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn outpost(keys: &Path, db_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_outpost"));
    command
        .env_clear()
        .env("OUTPOST_VAULT_KEY_FILE", keys.join("vault.key"))
        .env(
            "OUTPOST_AUDIT_SIGNING_KEY_FILE",
            keys.join("audit-signing.key"),
        )
        .env(
            "OUTPOST_AUDIT_CHECKPOINT_FILE",
            keys.join("checkpoints.log"),
        )
        .env("OUTPOST_DATABASE_URL", db_url)
        .env("OUTPOST_CONTROLLER__LISTEN", "127.0.0.1:0");
    command
}

fn start_controller(keys: &Path, db_url: &str) -> Controller {
    let mut child = outpost(keys, db_url)
        .args(["fleet", "serve"])
        .env("OUTPOST_LOG", "warn,outpost::cli=info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start outpost fleet serve");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("fleet serve exited before listening")
            .expect("read log");
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest
                .split(|c: char| c.is_whitespace() || c == '"')
                .next()
                .expect("address")
                .to_owned();
        }
    };
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Controller {
        child,
        base: format!("http://{addr}"),
    }
}

/// A realistic report: one host's figures, nothing alarming.
fn report() -> Report {
    Report {
        id: Uuid::new_v4(),
        taken_at: OffsetDateTime::now_utc(),
        version: "1.0.0".into(),
        region: Some("eu-west".into()),
        host: HostHealth {
            cpu_percent: 12.5,
            memory_used_bytes: 1 << 30,
            memory_total_bytes: 4 << 30,
            load_1m: 0.4,
            load_5m: 0.3,
            load_15m: 0.2,
            uptime_secs: 86_400,
            disks: vec![
                DiskHealth {
                    mount: "/".into(),
                    total_bytes: 40 << 30,
                    available_bytes: 25 << 30,
                },
                DiskHealth {
                    mount: "/var/lib/postgresql".into(),
                    total_bytes: 100 << 30,
                    available_bytes: 70 << 30,
                },
            ],
        },
        app: AppHealth {
            web_ready: true,
            database_reachable: true,
            scheduler_alive: true,
            ssh_reachable: true,
            ssh_banner: Some("SSH-2.0-OpenSSH_9.6".into()),
            last_backup_age_hours: Some(3.5),
            last_drill_ok: Some(true),
            certificate_days_left: Some(60),
        },
        security: SecurityHealth {
            open_findings: BTreeMap::from([("low".into(), 2), ("medium".into(), 1)]),
            hardening_drift: 0,
            mttr_secs: Some(7200),
            auto_fix_rate: Some(0.6),
        },
    }
}

/// `count` requests over `concurrency` keep-alive clients; requests/s. `request(i)`
/// sends the i-th and checks its answer.
async fn run<F, Fut>(count: usize, concurrency: usize, request: F) -> f64
where
    F: Fn(reqwest::Client, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let request = Arc::new(request);
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let client = reqwest::Client::new();
            let next = Arc::clone(&next);
            let request = Arc::clone(&request);
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        break;
                    }
                    request(client.clone(), i).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("load task");
    }
    count as f64 / started.elapsed().as_secs_f64()
}

type Satellites = Arc<Vec<(Uuid, WebhookSecret)>>;

async fn reports(base: &str, satellites: &Satellites, count: usize, concurrency: usize) -> f64 {
    let url = format!("{base}{REPORTS_PATH}");
    let satellites = Arc::clone(satellites);
    run(count, concurrency, move |client, i| {
        let url = url.clone();
        let satellites = Arc::clone(&satellites);
        async move {
            let (id, secret) = &satellites[i % satellites.len()];
            let report = report();
            let body = serde_json::to_vec(&report).expect("report JSON");
            let at = OffsetDateTime::now_utc().unix_timestamp();
            let report_id = report.id.to_string();
            let signature = secret.sign(&report_id, at, &body);
            let answer = client
                .post(&url)
                .header(HEADER_SATELLITE, id.to_string())
                .header(HEADER_ID, report_id)
                .header(HEADER_TIMESTAMP, at.to_string())
                .header(HEADER_SIGNATURE, signature)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .expect("report request");
            assert_eq!(answer.status(), 202, "report not accepted");
            answer.bytes().await.expect("body");
        }
    })
    .await
}

async fn healthz(base: &str, count: usize, concurrency: usize) -> f64 {
    let url = format!("{base}/healthz");
    run(count, concurrency, move |client, _| {
        let url = url.clone();
        async move {
            let answer = client.get(&url).send().await.expect("healthz request");
            assert_eq!(answer.status(), 200, "/healthz");
            answer.bytes().await.expect("body");
        }
    })
    .await
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn stored_reports(url: &str) -> i64 {
    let mut conn = PgConnection::establish(url).expect("connect");
    diesel::sql_query("SELECT count(*) AS n FROM fleet_heartbeats")
        .get_result::<Count>(&mut conn)
        .expect("count reports")
        .n
}

#[tokio::main]
async fn main() {
    // reqwest is built without a default TLS provider; plain HTTP still needs one set.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let quick = std::env::args().any(|a| a == "--quick");
    let (satellite_count, concurrency, count, rounds) = if quick {
        (8, 8, 1_000, 2)
    } else {
        (32, 16, 10_000, 3)
    };

    let cluster = Cluster::start(Durability::On);
    let db_url = cluster.create_database("outpost_fleet_bench");
    outpost::db::migrate(&mut PgConnection::establish(&db_url).expect("connect")).expect("migrate");
    let keys = tempfile::tempdir().expect("temp dir");
    outpost::vault::keyring::Keyring::generate()
        .create_file(&keys.path().join("vault.key"))
        .expect("vault keyring");
    outpost::audit::checkpoint::write_signer(&keys.path().join("audit-signing.key"), "bench/fleet")
        .expect("signing key");
    let controller = start_controller(keys.path(), &db_url);
    let base = controller.base.clone();

    // Enrolment: a token per satellite from the CLI, redeemed over HTTP.
    let http = reqwest::Client::new();
    let mut satellites = Vec::with_capacity(satellite_count);
    for n in 0..satellite_count {
        let name = format!("bench-{n}");
        let out = outpost(keys.path(), &db_url)
            .args(["fleet", "token", "create", "--name", &name])
            .args(["--client", "Bench", "--region", "eu-west"])
            .output()
            .expect("fleet token create");
        assert!(out.status.success(), "token create: {out:?}");
        let token = String::from_utf8(out.stdout)
            .expect("token")
            .trim()
            .to_owned();
        let answer = http
            .post(format!("{base}{ENROLL_PATH}"))
            .json(&serde_json::json!({
                "token": token, "name": name, "version": "1.0.0", "region": "eu-west"
            }))
            .send()
            .await
            .expect("enrol");
        assert_eq!(answer.status(), 201, "enrolment refused");
        let enrolled: EnrollResponse = answer.json().await.expect("enrolment answer");
        let secret = WebhookSecret::parse(&enrolled.secret).expect("secret");
        satellites.push((enrolled.satellite_id, secret));
    }
    let satellites: Satellites = Arc::new(satellites);

    // Warm-up: connections, the pool, the caches.
    reports(&base, &satellites, concurrency * 20, concurrency).await;
    healthz(&base, concurrency * 20, concurrency).await;
    let warm = stored_reports(&db_url);

    println!(
        "fleet ingest: {satellite_count} satellites, {concurrency} clients, \
         {count} requests per round, {rounds} rounds (fsync on)"
    );
    let (mut ingest, mut health) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        // Alternating, so machine drift affects both.
        let h = healthz(&base, count, concurrency).await;
        let r = reports(&base, &satellites, count, concurrency).await;
        println!("  round {round}: reports {r:>8.0}/s   /healthz {h:>8.0}/s");
        health.push(h);
        ingest.push(r);
    }
    let stored = stored_reports(&db_url) - warm;
    assert_eq!(
        stored,
        (count * rounds) as i64,
        "every accepted report is stored"
    );
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (r, h) = (mean(&ingest), mean(&health));
    println!("signed reports ingested: {r:>8.0}/s (mean of rounds; {stored} stored)");
    println!("/healthz:                {h:>8.0}/s");
    println!("ratio reports/healthz:   {:>8.3}", r / h);
    drop(controller);
}
