//! The fleet controller against real PostgreSQL, a real HTTP server on loopback, a
//! Slack-shaped receiver (actix, recording POSTs) and the SMTP sink. The sweep takes
//! its clock as a parameter, so silence is simulated by moving `now`, not by sleeping.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use outpost::config::{SmtpConfig, SmtpSecurity};
use outpost::db::Db;
use outpost::fleet::controller::enrolment::{self, TokenFor};
use outpost::fleet::controller::escalation::Notifier;
use outpost::fleet::controller::http::{self, ControllerState};
use outpost::fleet::controller::settings::ControllerSettings;
use outpost::fleet::controller::status::Status;
use outpost::fleet::controller::{satellites, sweeper};
use outpost::fleet::protocol::{
    ENROLL_PATH, EnrollResponse, HEADER_SATELLITE, REPORTS_PATH, Report,
};
use outpost::notify::Mailer;
use outpost::notify::signature::{HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, WebhookSecret};
use outpost::notify::slack::Slack;
use outpost::secret::SecretString;
use outpost::vault::Vault;
use outpost::vault::keyring::Keyring;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::support::fleet::healthy_report;
use crate::support::pg::TestDb;
use crate::support::smtp::SmtpSink;

const OPERATOR_TOKEN: &str = "operator-token-for-tests";

/// A Slack incoming webhook stand-in: keeps every body POSTed to it.
pub(crate) struct SlackReceiver {
    pub(crate) url: String,
    received: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl SlackReceiver {
    pub(crate) fn start() -> Self {
        let received: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://{}/services/T0/B0/secret",
            listener.local_addr().unwrap()
        );
        let kept = Arc::clone(&received);
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                HttpServer::new(move || {
                    let kept = Arc::clone(&kept);
                    App::new().default_service(web::to(move |body: web::Bytes| {
                        let kept = Arc::clone(&kept);
                        async move {
                            let json = serde_json::from_slice(&body).unwrap_or_default();
                            kept.lock().unwrap().push(json);
                            HttpResponse::Ok().body("ok")
                        }
                    }))
                })
                .workers(1)
                .listen(listener)
                .unwrap()
                .run()
                .await
            })
        });
        Self { url, received }
    }

    pub(crate) fn texts(&self) -> Vec<String> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(|m| m["text"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

struct Controller {
    addr: SocketAddr,
    db: Db,
    _test_db: TestDb,
    settings: Arc<ControllerSettings>,
    notifier: Notifier,
    slack: SlackReceiver,
    mail: SmtpSink,
    http: reqwest::Client,
}

impl Controller {
    fn start() -> Self {
        let test_db = TestDb::new();
        let db = Db::connect_url(&test_db.url, 4, Duration::from_secs(5)).unwrap();
        let vault = Arc::new(Vault::new(Keyring::generate(), None));
        vault.check_against(&mut db.get().unwrap()).unwrap();
        let slack = SlackReceiver::start();
        let mail = SmtpSink::start();
        let settings = Arc::new(ControllerSettings {
            slack_webhooks: vec![SecretString::new(slack.url.clone())],
            alert_emails: vec!["ops@example.com".into()],
            operator_token: SecretString::new(OPERATOR_TOKEN),
            ..ControllerSettings::default()
        });
        let mailer = Mailer::from_config(&SmtpConfig {
            host: "127.0.0.1".into(),
            port: mail.port(),
            security: SmtpSecurity::None,
            ..SmtpConfig::default()
        })
        .unwrap();
        let notifier = Notifier {
            slack: Slack::new(settings.slack_webhooks.clone()).unwrap(),
            mailer: Arc::new(mailer),
            recipients: settings.alert_emails.clone(),
        };
        let state = ControllerState {
            db: db.clone(),
            operators: crate::fleet_dashboard::operators(&test_db.url, &db, &vault),
            vault,
            settings: Arc::clone(&settings),
        };
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let (server, addr) = http::bind(state, listener, 1).unwrap();
                tx.send(addr).unwrap();
                let _ = server.await;
            })
        });
        let addr = rx.recv_timeout(Duration::from_secs(30)).unwrap();
        Self {
            addr,
            db,
            _test_db: test_db,
            settings,
            notifier,
            slack,
            mail,
            http: reqwest::Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn token(&self, name: &str, ttl: Duration, now: OffsetDateTime) -> String {
        let who = TokenFor {
            name: name.into(),
            client: "Acme".into(),
            region: Some("eu-west".into()),
        };
        enrolment::create_token(&mut self.db.get().unwrap(), &who, ttl, now)
            .unwrap()
            .to_string()
    }

    async fn enroll(&self, token: &str) -> reqwest::Response {
        let body = serde_json::json!({ "token": token, "name": "web-1", "version": "1.0.0", "region": null });
        self.http
            .post(self.url(ENROLL_PATH))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// A satellite enrolled now: its id and secret.
    async fn enrolled(&self, name: &str) -> (Uuid, WebhookSecret) {
        let token = self.token(name, Duration::from_secs(3600), OffsetDateTime::now_utc());
        let answer = self.enroll(&token).await;
        assert_eq!(answer.status(), 201);
        let enrolled: EnrollResponse = answer.json().await.unwrap();
        (
            enrolled.satellite_id,
            WebhookSecret::parse(&enrolled.secret).unwrap(),
        )
    }

    async fn send(&self, satellite: &str, signature: &str, timestamp: i64, report: &Report) -> u16 {
        let body = serde_json::to_vec(report).unwrap();
        self.http
            .post(self.url(REPORTS_PATH))
            .header(HEADER_SATELLITE, satellite)
            .header(HEADER_ID, report.id.to_string())
            .header(HEADER_TIMESTAMP, timestamp.to_string())
            .header(HEADER_SIGNATURE, signature)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// Sends `report` signed by `secret` with a timestamp `skew` seconds off now.
    async fn report(&self, id: Uuid, secret: &WebhookSecret, report: &Report, skew: i64) -> u16 {
        let at = OffsetDateTime::now_utc().unix_timestamp() + skew;
        let body = serde_json::to_vec(report).unwrap();
        let signature = secret.sign(&report.id.to_string(), at, &body);
        self.send(&id.to_string(), &signature, at, report).await
    }

    async fn sweep(&self, now: OffsetDateTime) -> BTreeMap<String, Status> {
        sweeper::sweep(&self.db, &self.notifier, &self.settings, now)
            .await
            .unwrap()
            .into_iter()
            .collect()
    }
}

fn secs(n: i64) -> time::Duration {
    time::Duration::seconds(n)
}

#[tokio::test]
async fn an_enrolment_token_works_once_and_not_after_it_expires() {
    let controller = Controller::start();
    let now = OffsetDateTime::now_utc();
    let token = controller.token("web-1", Duration::from_secs(3600), now);
    let first = controller.enroll(&token).await;
    assert_eq!(first.status(), 201);
    let enrolled: EnrollResponse = first.json().await.unwrap();
    assert!(enrolled.secret.starts_with("whsec_"));
    assert_eq!(enrolled.interval_secs, 60);

    let again = controller.enroll(&token).await;
    assert_eq!(again.status(), 403);
    assert_eq!(again.headers()["content-type"], "application/problem+json");

    let expired = controller.token("web-2", Duration::from_secs(3600), now - secs(7200));
    assert_eq!(controller.enroll(&expired).await.status(), 403);
    assert_eq!(controller.enroll("fet_never-issued").await.status(), 403);

    let fleet = satellites::all(&mut controller.db.get().unwrap()).unwrap();
    assert_eq!(fleet.len(), 1);
    assert_eq!(fleet[0].id, enrolled.satellite_id);
    assert_eq!(fleet[0].client, "Acme");
}

#[tokio::test]
async fn reports_must_be_signed_fresh_from_a_known_satellite_and_new() {
    let controller = Controller::start();
    let (id, secret) = controller.enrolled("web-1").await;
    let report = healthy_report();
    assert_eq!(controller.report(id, &secret, &report, 0).await, 202);
    assert_eq!(
        controller.report(id, &secret, &report, 0).await,
        409,
        "replay"
    );

    let fresh = healthy_report();
    let now = OffsetDateTime::now_utc().unix_timestamp();
    assert_eq!(
        controller.send(&id.to_string(), "v1,", now, &fresh).await,
        401
    );
    assert_eq!(controller.report(id, &secret, &fresh, -301).await, 401);
    assert_eq!(controller.report(id, &secret, &fresh, 301).await, 401);
    assert_eq!(
        controller.report(Uuid::new_v4(), &secret, &fresh, 0).await,
        401,
        "unknown satellite"
    );
    let other = WebhookSecret::generate();
    assert_eq!(controller.report(id, &other, &fresh, 0).await, 401);
    // None of the refusals spent the id: the genuine report still gets in.
    assert_eq!(controller.report(id, &secret, &fresh, 0).await, 202);

    let listed: serde_json::Value = controller
        .http
        .get(controller.url(http::SATELLITES_PATH))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let satellite = &listed["satellites"][0];
    assert_eq!(satellite["name"], "web-1");
    assert_eq!(satellite["worst_disk_percent"], 40.0);
    let refused = controller
        .http
        .get(controller.url(http::SATELLITES_PATH))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
}

#[tokio::test]
async fn silence_goes_late_then_offline_and_only_offline_escalates_once() {
    let controller = Controller::start();
    let (id, secret) = controller.enrolled("web-1").await;
    assert_eq!(
        controller.report(id, &secret, &healthy_report(), 0).await,
        202
    );
    let heard = OffsetDateTime::now_utc();

    assert_eq!(
        controller.sweep(heard + secs(60)).await["web-1"],
        Status::Online
    );
    assert_eq!(
        controller.sweep(heard + secs(200)).await["web-1"],
        Status::Late
    );
    assert!(controller.slack.texts().is_empty(), "late never alerts");
    assert!(controller.mail.messages().is_empty());

    assert_eq!(
        controller.sweep(heard + secs(400)).await["web-1"],
        Status::Offline
    );
    let slack = controller.slack.texts();
    assert_eq!(slack.len(), 1);
    assert!(
        slack[0].contains("web-1") && slack[0].contains("offline"),
        "{}",
        slack[0]
    );
    let mail = controller.mail.wait_for(1, Duration::from_secs(5));
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].to, ["ops@example.com"]);
    assert!(mail[0].body().contains("offline"));

    // Still offline, well within the repeat period: no second message.
    assert_eq!(
        controller.sweep(heard + secs(900)).await["web-1"],
        Status::Offline
    );
    assert_eq!(controller.slack.texts().len(), 1);
    assert_eq!(controller.mail.messages().len(), 1);

    assert_eq!(
        controller.report(id, &secret, &healthy_report(), 0).await,
        202
    );
    let back = controller.sweep(OffsetDateTime::now_utc()).await;
    assert_eq!(back["web-1"], Status::Online);
    let slack = controller.slack.texts();
    assert_eq!(slack.len(), 2);
    assert!(slack[1].contains("resolved: offline"), "{}", slack[1]);
    let mail = controller.mail.wait_for(2, Duration::from_secs(5));
    assert_eq!(mail.len(), 2);
    assert!(mail[1].subject().unwrap_or_default().contains("resolved"));
}

#[tokio::test]
async fn a_satellite_in_maintenance_does_not_escalate() {
    let controller = Controller::start();
    let (id, secret) = controller.enrolled("web-1").await;
    assert_eq!(
        controller.report(id, &secret, &healthy_report(), 0).await,
        202
    );
    let heard = OffsetDateTime::now_utc();
    satellites::set_maintenance(
        &mut controller.db.get().unwrap(),
        "web-1",
        heard + secs(3600),
    )
    .unwrap();
    assert_eq!(
        controller.sweep(heard + secs(1200)).await["web-1"],
        Status::Maintenance
    );
    assert!(controller.slack.texts().is_empty());
    assert!(controller.mail.messages().is_empty());
}
