//! The satellite's side of the fleet against a controller stand-in on loopback: an
//! actix server that checks each report's Standard Webhooks signature with the
//! satellite's secret and records the ids it accepted, and hands out enrolments.

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};

use actix_web::dev::ServerHandle;
use actix_web::{HttpRequest, HttpResponse, web};
use outpost::config::{Config, DatabaseUrl};
use outpost::db::Db;
use outpost::fleet::enrolment::{self, Enrolment};
use outpost::fleet::health::{Gatherer, SSH_TIMEOUT, ssh_banner};
use outpost::fleet::protocol::{ENROLL_PATH, HEADER_SATELLITE, REPORTS_PATH, Report};
use outpost::fleet::reporter::{Delivery, Reporter, send};
use outpost::notify::signature::{HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, WebhookSecret};
use outpost::scheduler::Heartbeat;
use outpost::vault::Vault;
use outpost::vault::keyring::KeySource;
use serde_json::json;
use uuid::Uuid;

use crate::support::pg::{TestDb, outpost_command, write_test_keys};

const GOOD_TOKEN: &str = "fleet-token-good";
const REFUSED: &str = "This enrolment token is unknown or already used.";

/// What the stand-in controller knows and saw.
struct Controller {
    satellite_id: Uuid,
    secret: WebhookSecret,
    /// Ids of the reports accepted, in arrival order.
    accepted: Mutex<Vec<Uuid>>,
}

impl Controller {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            satellite_id: Uuid::new_v4(),
            secret: WebhookSecret::generate(),
            accepted: Mutex::new(Vec::new()),
        })
    }

    fn accepted(&self) -> Vec<Uuid> {
        self.accepted.lock().unwrap().clone()
    }
}

fn problem(status: actix_web::http::StatusCode, detail: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("application/problem+json")
        .json(json!({ "title": status.canonical_reason(), "status": status.as_u16(), "detail": detail }))
}

async fn receive_report(
    request: HttpRequest,
    body: web::Bytes,
    controller: web::Data<Arc<Controller>>,
) -> HttpResponse {
    use actix_web::http::StatusCode;
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let id = header(HEADER_ID);
    let timestamp: i64 = header(HEADER_TIMESTAMP).parse().unwrap_or_default();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let signed = controller
        .secret
        .verify(&id, timestamp, &header(HEADER_SIGNATURE), &body, now);
    if signed.is_err() || header(HEADER_SATELLITE) != controller.satellite_id.to_string() {
        return problem(StatusCode::UNAUTHORIZED, "bad signature");
    }
    let Ok(report) = serde_json::from_slice::<Report>(&body) else {
        return problem(StatusCode::UNPROCESSABLE_ENTITY, "not a report");
    };
    assert_eq!(report.id.to_string(), id, "webhook-id is the report's id");
    let mut accepted = controller.accepted.lock().unwrap();
    if accepted.contains(&report.id) {
        return problem(StatusCode::CONFLICT, "replayed");
    }
    accepted.push(report.id);
    HttpResponse::Accepted().finish()
}

async fn enroll(
    body: web::Json<outpost::fleet::protocol::EnrollRequest>,
    controller: web::Data<Arc<Controller>>,
) -> HttpResponse {
    if body.token != GOOD_TOKEN {
        return problem(actix_web::http::StatusCode::UNAUTHORIZED, REFUSED);
    }
    HttpResponse::Ok().json(json!({
        "satellite_id": controller.satellite_id,
        "secret": *controller.secret.expose(),
        "interval_secs": 60,
    }))
}

fn serve(listener: TcpListener, controller: &Arc<Controller>) -> ServerHandle {
    let data = web::Data::new(Arc::clone(controller));
    let server = actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .app_data(data.clone())
            .route(REPORTS_PATH, web::post().to(receive_report))
            .route(ENROLL_PATH, web::post().to(enroll))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    handle
}

/// A loopback address nothing listens on (it was free a moment ago).
fn closed_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn config(db: &TestDb, controller: SocketAddr, buffer: usize) -> Arc<Config> {
    let mut config = Config {
        database_url: DatabaseUrl::new(db.url.clone()),
        ..Config::default()
    };
    config.fleet.controller_url = format!("http://{controller}");
    config.fleet.buffer = buffer;
    config.fleet.region = "test-region".into();
    config.fleet.ssh_address = closed_port();
    Arc::new(config)
}

fn enrolment_of(config: &Config, controller: &Controller) -> Enrolment {
    Enrolment {
        satellite_id: controller.satellite_id,
        controller_url: config.fleet.controller_url.clone(),
        secret: controller.secret.clone(),
        interval_secs: 60,
        enrolled_at: time::OffsetDateTime::now_utc(),
    }
}

fn reporter(config: &Arc<Config>, controller: &Controller) -> Reporter {
    let enrolment = enrolment_of(config, controller);
    let db = Db::connect(config).unwrap();
    Reporter::new(
        Arc::clone(config),
        db,
        Some(Arc::new(Heartbeat::new())),
        enrolment,
    )
    .unwrap()
    .expect("controller_url is set")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_arrive_signed_and_in_order() {
    let db = TestDb::new();
    let controller = Controller::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let config = config(&db, listener.local_addr().unwrap(), 10);
    let server = serve(listener, &controller);
    let mut reporter = reporter(&config, &controller);
    let mut taken = Vec::new();
    for _ in 0..3 {
        taken.push(reporter.take_report().await);
    }
    assert_eq!(reporter.flush().await, Ok(3));
    assert_eq!(reporter.queued(), 0);
    let ids: Vec<Uuid> = taken.iter().map(|r| r.id).collect();
    assert_eq!(controller.accepted(), ids);
    let report = &taken[0];
    assert_eq!(report.region.as_deref(), Some("test-region"));
    assert!(report.app.database_reachable && report.app.web_ready);
    assert!(report.app.scheduler_alive);
    assert_eq!(report.app.last_backup_age_hours, None);
    assert_eq!(report.security.open_findings.get("critical"), Some(&0));

    // A report the controller already has (its answer was lost) counts as delivered; a
    // signature the controller does not accept is retried, never dropped.
    let endpoint = format!("{}{REPORTS_PATH}", config.fleet.controller_url);
    let client = reqwest::Client::new();
    let mut enrolment = enrolment_of(&config, &controller);
    assert_eq!(
        send(&client, &endpoint, &enrolment, report).await,
        Delivery::Delivered
    );
    enrolment.secret = WebhookSecret::generate();
    let refused = send(&client, &endpoint, &enrolment, &taken[1]).await;
    assert!(
        matches!(refused, Delivery::Retry(ref why) if why.starts_with("401")),
        "{refused:?}"
    );
    assert_eq!(controller.accepted(), ids);
    server.stop(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_controller_buffers_the_newest_and_gets_them_in_order_later() {
    let db = TestDb::new();
    let controller = Controller::new();
    let address = closed_port();
    let config = config(&db, address, 3);
    let mut reporter = reporter(&config, &controller);
    let mut taken = Vec::new();
    for _ in 0..5 {
        taken.push(reporter.take_report().await.id);
        let failed = reporter.flush().await;
        assert!(failed.is_err(), "nothing listens: {failed:?}");
    }
    assert_eq!(reporter.queued(), 3);
    assert_eq!(reporter.dropped(), 2);
    let server = serve(TcpListener::bind(address).unwrap(), &controller);
    assert_eq!(reporter.flush().await, Ok(3));
    assert_eq!(controller.accepted(), taken[2..]);
    server.stop(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reads_the_host_and_probes_ssh() {
    let db = TestDb::new();
    let config = config(&db, closed_port(), 1);
    let mut gatherer = Gatherer::new(Arc::clone(&config), Db::connect(&config).unwrap(), None);
    let report = gatherer.report().await;
    assert!(report.host.memory_total_bytes > 0);
    assert!(report.host.memory_used_bytes <= report.host.memory_total_bytes);
    assert!(report.host.uptime_secs > 0);
    let root = report.host.disks.iter().find(|d| d.mount == "/");
    assert!(
        root.is_some_and(|d| d.total_bytes > 0),
        "{:?}",
        report.host.disks
    );
    assert!(
        !report.app.ssh_reachable,
        "nothing listens on {}",
        config.fleet.ssh_address
    );
    assert!(!report.app.scheduler_alive, "no scheduler runs here");
    assert!(report.app.database_reachable);
    assert_eq!(report.version, env!("CARGO_PKG_VERSION"));

    let daemon = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = daemon.local_addr().unwrap();
    let greeter = std::thread::spawn(move || {
        let (mut stream, _) = daemon.accept().unwrap();
        stream.write_all(b"SSH-2.0-test\r\n").unwrap();
    });
    let banner = tokio::task::spawn_blocking(move || ssh_banner(address, SSH_TIMEOUT))
        .await
        .unwrap();
    greeter.join().unwrap();
    assert_eq!(banner.as_deref(), Some("SSH-2.0-test"));
    let closed = closed_port();
    assert_eq!(
        tokio::task::spawn_blocking(move || ssh_banner(closed, SSH_TIMEOUT))
            .await
            .unwrap(),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enroll_stores_the_sealed_secret_and_shows_a_refusal() {
    let db = TestDb::new();
    let dir = tempfile::tempdir().unwrap();
    write_test_keys(dir.path(), "test.example/audit");
    let controller = Controller::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = serve(listener, &controller);
    let enroll = |controller_url: String, token: &'static str| {
        let mut command = outpost_command(dir.path(), &db.url);
        command.args([
            "fleet",
            "enroll",
            "--controller",
            &controller_url,
            "--token",
            token,
        ]);
        tokio::task::spawn_blocking(move || command.output().unwrap())
    };

    let refused = enroll(url.clone(), "wrong-token").await.unwrap();
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains(REFUSED), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    let unreachable = enroll(format!("http://{}", closed_port()), GOOD_TOKEN)
        .await
        .unwrap();
    assert_eq!(unreachable.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&unreachable.stderr);
    assert!(
        stderr.contains("cannot reach the fleet controller"),
        "{stderr}"
    );

    for round in 0..2 {
        let out = enroll(url.clone(), GOOD_TOKEN).await.unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains(&controller.satellite_id.to_string()),
            "{stdout}"
        );
        assert_eq!(stdout.contains("replaced"), round == 1, "{stdout}");
        assert!(
            !stdout.contains(&*controller.secret.expose()),
            "the secret is never shown"
        );
    }
    let vault = Vault::load(KeySource::File(dir.path().join("vault.key"))).unwrap();
    let mut conn = db.conn();
    let stored = enrolment::load(&mut conn, &vault)
        .unwrap()
        .expect("enrolled");
    assert_eq!(stored.satellite_id, controller.satellite_id);
    assert_eq!(stored.controller_url, url);
    assert_eq!(*stored.secret.expose(), *controller.secret.expose());
    let audited =
        db.execute("SELECT 1 FROM audit_events WHERE action = 'fleet.enrolled' AND actor = 'cli'");
    assert_eq!(audited, 2);
    server.stop(true).await;
}

#[test]
fn enroll_without_a_database_says_so() {
    let dir = tempfile::tempdir().unwrap();
    write_test_keys(dir.path(), "test.example/audit");
    let out = outpost_command(dir.path(), "postgres://nobody@127.0.0.1:1/none")
        .env("OUTPOST_DB_CONNECT_TIMEOUT", "2s")
        .args([
            "fleet",
            "enroll",
            "--controller",
            "http://127.0.0.1:9",
            "--token",
            "t",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("database"), "{stderr}");
}
