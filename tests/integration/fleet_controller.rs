//! The fleet controller against real PostgreSQL, a real HTTP server on loopback, a
//! Slack-shaped receiver (actix, recording POSTs) and the SMTP sink. The sweep takes
//! its clock as a parameter, so silence is simulated by moving `now`, not by sleeping.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
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
        let addr = crate::fleet_dashboard::serve(state);
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

    /// A controller with satellite `name` enrolled and heard from once, just now.
    async fn with_one_report(name: &str) -> (Self, (Uuid, WebhookSecret), OffsetDateTime) {
        let controller = Self::start();
        let (id, secret) = controller.enrolled(name).await;
        assert_eq!(
            controller.report(id, &secret, &healthy_report(), 0).await,
            202
        );
        (controller, (id, secret), OffsetDateTime::now_utc())
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
    let (controller, (id, secret), heard) = Controller::with_one_report("web-1").await;

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
    let (controller, _, heard) = Controller::with_one_report("web-1").await;
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

#[tokio::test]
async fn an_open_alert_is_repeated_every_four_hours_and_not_sooner() {
    let (controller, _, heard) = Controller::with_one_report("web-1").await;
    let offline = heard + secs(400);
    controller.sweep(offline).await;
    assert_eq!(controller.slack.texts().len(), 1);
    controller.mail.wait_for(1, Duration::from_secs(5));

    let repeat = controller.settings.repeat_every.as_secs() as i64;
    assert_eq!(repeat, 4 * 3600, "the default repeat period");
    controller.sweep(offline + secs(repeat - 60)).await;
    assert_eq!(controller.slack.texts().len(), 1, "not before four hours");
    assert_eq!(controller.mail.messages().len(), 1);

    controller.sweep(offline + secs(repeat)).await;
    let slack = controller.slack.texts();
    assert_eq!(slack.len(), 2, "repeated after four hours");
    assert!(
        slack[1].contains("web-1") && slack[1].contains("offline"),
        "{}",
        slack[1]
    );
    assert_eq!(controller.mail.wait_for(2, Duration::from_secs(5)).len(), 2);

    // The repeat clock restarted at the repeat.
    controller.sweep(offline + secs(repeat + 3600)).await;
    assert_eq!(controller.slack.texts().len(), 2);
}

#[derive(diesel::QueryableByName, Debug, PartialEq)]
struct Rollup {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    samples: i32,
    #[diesel(sql_type = diesel::sql_types::Float)]
    cpu_avg: f32,
    #[diesel(sql_type = diesel::sql_types::Float)]
    cpu_max: f32,
    #[diesel(sql_type = diesel::sql_types::Float)]
    disk_max: f32,
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[tokio::test]
async fn heartbeats_are_rolled_up_hourly_and_pruned_after_their_retention() {
    use diesel::RunQueryDsl;
    use diesel::sql_types::{Float, Timestamptz, Uuid as SqlUuid};
    use outpost::fleet::controller::retention;

    let controller = Controller::start();
    let (id, _) = controller.enrolled("web-1").await;
    let mut conn = controller.db.get().unwrap();
    let hour = |t: OffsetDateTime| {
        t.replace_minute(0)
            .unwrap()
            .replace_second(0)
            .unwrap()
            .replace_nanosecond(0)
            .unwrap()
    };
    let now = hour(OffsetDateTime::now_utc()) + secs(1800);
    let beat = |conn: &mut diesel::PgConnection, at: OffsetDateTime, cpu: f32, disk: f32| {
        diesel::sql_query(
            "INSERT INTO fleet_heartbeats (satellite_id, report_id, taken_at, received_at, \
               cpu_percent, memory_percent, worst_disk_percent, report) \
             VALUES ($1, gen_random_uuid(), $2, $2, $3, 50, $4, '{}')",
        )
        .bind::<SqlUuid, _>(id)
        .bind::<Timestamptz, _>(at)
        .bind::<Float, _>(cpu)
        .bind::<Float, _>(disk)
        .execute(conn)
        .unwrap();
    };
    let two_hours_ago = hour(now) - secs(2 * 3600);
    beat(&mut conn, two_hours_ago + secs(60), 10.0, 40.0);
    beat(&mut conn, two_hours_ago + secs(120), 30.0, 60.0);
    beat(&mut conn, now - secs(31 * 86_400), 99.0, 99.0);
    beat(&mut conn, now - secs(600), 5.0, 5.0);
    diesel::sql_query(
        "INSERT INTO fleet_heartbeat_rollups (satellite_id, hour, samples, cpu_avg, cpu_max, \
           memory_avg, memory_max, disk_avg, disk_max) VALUES ($1, $2, 1, 1, 1, 1, 1, 1, 1)",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<Timestamptz, _>(hour(now) - secs(366 * 86_400))
    .execute(&mut conn)
    .unwrap();
    diesel::sql_query(
        "INSERT INTO fleet_report_ids (report_id, satellite_id, received_at) \
         VALUES (gen_random_uuid(), $1, $2)",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<Timestamptz, _>(now - secs(86_400))
    .execute(&mut conn)
    .unwrap();

    let settings = &controller.settings;
    let pruned = retention::run(
        &mut conn,
        settings.raw_retention,
        settings.rollup_retention,
        now,
    )
    .unwrap();
    assert_eq!(
        pruned,
        retention::Pruned {
            heartbeats: 1,
            rollups: 1,
            report_ids: 1
        }
    );

    let rollup = |conn: &mut diesel::PgConnection, at: OffsetDateTime| {
        diesel::sql_query(
            "SELECT samples, cpu_avg, cpu_max, disk_max FROM fleet_heartbeat_rollups \
             WHERE satellite_id = $1 AND hour = $2",
        )
        .bind::<SqlUuid, _>(id)
        .bind::<Timestamptz, _>(at)
        .get_results::<Rollup>(conn)
        .unwrap()
    };
    assert_eq!(
        rollup(&mut conn, two_hours_ago),
        [Rollup {
            samples: 2,
            cpu_avg: 20.0,
            cpu_max: 30.0,
            disk_max: 60.0
        }]
    );
    // The pruned heartbeat was rolled up before it went; the current hour is not
    // complete, so it is not rolled up yet.
    assert_eq!(rollup(&mut conn, hour(now - secs(31 * 86_400))).len(), 1);
    assert!(rollup(&mut conn, hour(now)).is_empty());
    let raw = diesel::sql_query("SELECT count(*) AS n FROM fleet_heartbeats")
        .get_result::<Count>(&mut conn)
        .unwrap()
        .n;
    assert_eq!(raw, 3, "the two of two hours ago and the current one stay");

    // A second run finds nothing more to prune and keeps the roll-ups as they are.
    let again = retention::run(
        &mut conn,
        settings.raw_retention,
        settings.rollup_retention,
        now,
    )
    .unwrap();
    assert_eq!(again, retention::Pruned::default());
    assert_eq!(rollup(&mut conn, two_hours_ago)[0].samples, 2);
}
