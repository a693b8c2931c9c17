//! The operators' dashboard on the fleet controller: operators sign in through the
//! dashboard's own pages against the controller's database, then see the fleet, one
//! satellite, and the fleet's security trend as JSON.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use diesel::prelude::*;
use outpost::config::{Config, DatabaseUrl};
use outpost::db::Db;
use outpost::db::schema::{fleet_alerts, fleet_heartbeats, fleet_satellites};
use outpost::fleet::controller::http::{self, ControllerState};
use outpost::fleet::controller::metrics;
use outpost::fleet::controller::settings::ControllerSettings;
use outpost::fleet::protocol::{Report, SecurityHealth};
use outpost::identity::owner::{self, OwnerSetup};
use outpost::secret::SecretString;
use outpost::vault::Vault;
use outpost::vault::keyring::Keyring;
use outpost::web::AppState;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::support::app::{PASSWORD, enrol_mfa_continuing};
use crate::support::browser::Browser;
use crate::support::fleet::healthy_report;
use crate::support::pg::TestDb;

const OPERATOR_TOKEN: &str = "op-token-for-the-dashboard-tests";

/// The dashboard's state over a controller's database, as `outpost fleet serve` builds it.
pub fn operators(url: &str, db: &Db, vault: &Arc<Vault>) -> Arc<AppState> {
    let config = Config {
        server_name: "fleet-test".into(),
        database_url: DatabaseUrl::new(url.to_owned()),
        pool_size: 4,
        workers: 1,
        ..Config::default()
    };
    Arc::new(http::operators_state(config, db.clone(), Arc::clone(vault)).expect("state"))
}

/// Serves `state` on a loopback port in a thread of its own; returns the address.
pub fn serve(state: ControllerState) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let (server, addr) = http::bind(state, listener, 1).unwrap();
            tx.send(addr).unwrap();
            let _ = server.await;
        })
    });
    rx.recv_timeout(Duration::from_secs(30)).unwrap()
}

struct Controller {
    addr: SocketAddr,
    db: TestDb,
}

impl Controller {
    fn start() -> Self {
        let test_db = TestDb::new();
        let db = Db::connect_url(&test_db.url, 4, Duration::from_secs(5)).unwrap();
        let vault = Arc::new(Vault::new(Keyring::generate(), None));
        vault.check_against(&mut db.get().unwrap()).unwrap();
        let state = ControllerState {
            db: db.clone(),
            operators: operators(&test_db.url, &db, &vault),
            vault,
            settings: Arc::new(ControllerSettings {
                operator_token: SecretString::new(OPERATOR_TOKEN),
                ..ControllerSettings::default()
            }),
        };
        let addr = serve(state);
        Self { addr, db: test_db }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// An operator created as `outpost fleet operator create` does, set up, signed in
    /// and enrolled in two-factor sign-in through the pages.
    async fn operator(&self, email: &str) -> Browser {
        let setup = owner::ensure_operator(&mut self.db.conn(), email, Duration::from_secs(600))
            .expect("operator");
        let (OwnerSetup::Created { user, link_token } | OwnerSetup::Reissued { user, link_token }) =
            setup
        else {
            panic!("operator already active");
        };
        crate::support::canary::record(link_token.expose());
        let browser = Browser::new(self.url(""));
        browser
            .complete_setup(&format!("/setup/{}", link_token.expose()), PASSWORD)
            .await;
        let signed_in = browser.sign_in(email, PASSWORD).await;
        assert_eq!(signed_in.status(), 303);
        assert_eq!(signed_in.headers()["location"], "/");
        if browser
            .get("/fleet")
            .await
            .headers()
            .get("location")
            .is_some_and(|l| l == "/account/mfa")
        {
            let (_, next) = enrol_mfa_continuing(&browser, user.id).await;
            // Operators have no account page: the codes page leads back to the fleet.
            assert_eq!(next, "/fleet?notice=mfa_enabled");
            assert_eq!(browser.get(&next).await.status(), 200);
        }
        browser
    }
}

fn report(cpu: f32, findings: &[(&str, i64)], mttr: Option<u64>, rate: Option<f64>) -> Report {
    let mut report = healthy_report();
    report.host.cpu_percent = cpu;
    report.security = SecurityHealth {
        open_findings: findings.iter().map(|(s, n)| (s.to_string(), *n)).collect(),
        hardening_drift: 0,
        mttr_secs: mttr,
        auto_fix_rate: rate,
    };
    report
}

/// A satellite with one report at the start of each of the last 24 hours.
fn seed(
    conn: &mut PgConnection,
    name: &str,
    status: &str,
    now: OffsetDateTime,
    newest: &Report,
) -> Uuid {
    let id = Uuid::new_v4();
    diesel::insert_into(fleet_satellites::table)
        .values((
            fleet_satellites::id.eq(id),
            fleet_satellites::name.eq(name),
            fleet_satellites::client.eq(format!("{name} Ltd")),
            fleet_satellites::region.eq("eu-west"),
            fleet_satellites::provisioned_at.eq(now - time::Duration::days(2)),
            fleet_satellites::version.eq("1.0.0"),
            fleet_satellites::secret_sealed.eq("unused"),
            fleet_satellites::last_report_at.eq(now - time::Duration::minutes(1)),
            fleet_satellites::status.eq(status),
        ))
        .execute(conn)
        .unwrap();
    for (at, back) in metrics::window(now, 24).into_iter().zip((0..24).rev()) {
        let older = report(10.0 + back as f32, &[("low", 1)], Some(60), Some(0.0));
        let body = if back == 0 { newest } else { &older };
        diesel::insert_into(fleet_heartbeats::table)
            .values((
                fleet_heartbeats::satellite_id.eq(id),
                fleet_heartbeats::report_id.eq(Uuid::new_v4()),
                fleet_heartbeats::taken_at.eq(at),
                fleet_heartbeats::received_at.eq(at),
                fleet_heartbeats::cpu_percent.eq(body.host.cpu_percent),
                fleet_heartbeats::memory_percent.eq(25.0f32),
                fleet_heartbeats::worst_disk_percent.eq(40.0f32),
                fleet_heartbeats::report.eq(serde_json::to_value(body).unwrap()),
            ))
            .execute(conn)
            .unwrap();
    }
    id
}

#[tokio::test]
async fn operators_see_the_fleet_its_satellites_and_the_security_trend() {
    let controller = Controller::start();
    let now = OffsetDateTime::now_utc();
    let (web, db) = {
        let mut conn = controller.db.conn();
        let web = seed(
            &mut conn,
            "web-7",
            "online",
            now,
            &report(30.0, &[("high", 2), ("low", 1)], Some(3600), Some(0.5)),
        );
        let db = seed(
            &mut conn,
            "db-2",
            "offline",
            now,
            &report(70.0, &[("critical", 1), ("high", 1)], Some(7200), Some(1.0)),
        );
        diesel::insert_into(fleet_alerts::table)
            .values((
                fleet_alerts::satellite_id.eq(db),
                fleet_alerts::rule.eq("offline"),
                fleet_alerts::detail.eq("silent for 12 minutes"),
                fleet_alerts::opened_at.eq(now - time::Duration::minutes(5)),
            ))
            .execute(&mut conn)
            .unwrap();
        (web, db)
    };

    // Without a session: pages redirect to the sign-in, the JSON API answers 401.
    let stranger = Browser::new(controller.url(""));
    for path in ["/fleet", &format!("/fleet/satellites/{web}")] {
        let response = stranger.get(path).await;
        assert_eq!(response.status(), 303, "{path}");
        assert_eq!(response.headers()["location"], "/login");
    }
    let refused = stranger.get("/fleet/v1/security").await;
    assert_eq!(refused.status(), 401);
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );

    let operator = controller.operator("ops@example.net").await;
    let fleet = operator.get("/fleet").await;
    assert_eq!(fleet.status(), 200);
    let html = fleet.text().await.unwrap();
    for (name, status, tone) in [("web-7", "online", "ok"), ("db-2", "offline", "error")] {
        assert!(html.contains(&format!(">{name}</a>")), "{name} listed");
        assert!(
            html.contains(&format!("<span class=\"{tone}\">{status}</span>")),
            "{name} shown {status} in {tone}"
        );
    }
    // Three sparklines per satellite and the fleet's trend, a bar per reported hour.
    assert_eq!(html.matches("<svg").count(), 2 * 3 + 1);
    assert!(html.matches("<rect").count() >= 2 * 3 * 24);

    let page = operator.get(&format!("/fleet/satellites/{db}")).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("silent for 12 minutes"), "its alert is shown");
    assert_eq!(html.matches("<svg").count(), 3);
    let other = operator.get(&format!("/fleet/satellites/{web}")).await;
    assert!(
        !other
            .text()
            .await
            .unwrap()
            .contains("silent for 12 minutes")
    );
    let missing = operator
        .get(&format!("/fleet/satellites/{}", Uuid::new_v4()))
        .await;
    assert_eq!(missing.status(), 404);

    // The trend, for the signed-in operator and for a script with the token alike.
    let trend: serde_json::Value = operator
        .get("/fleet/v1/security")
        .await
        .json()
        .await
        .unwrap();
    let scripted: serde_json::Value = reqwest::Client::new()
        .get(controller.url("/fleet/v1/security"))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(trend, scripted);
    let current = &trend["current"];
    assert_eq!(current["satellites"], 2);
    let expected: BTreeMap<&str, i64> = [("critical", 1), ("high", 3), ("low", 1)].into();
    assert_eq!(current["open_findings"], serde_json::json!(expected));
    assert_eq!(current["mean_mttr_secs"], 5400.0);
    assert_eq!(current["auto_fix_rate"], 0.75);
    let hourly = trend["hourly"].as_array().unwrap();
    assert_eq!(hourly.len(), 24, "{trend}");
    // An earlier hour: both satellites had one low finding each, resolved in a minute.
    assert_eq!(hourly[0]["open_findings"], serde_json::json!({ "low": 2 }));
    assert_eq!(hourly[0]["mean_mttr_secs"], 60.0);
    for field in [
        "open_findings",
        "mean_mttr_secs",
        "auto_fix_rate",
        "satellites",
    ] {
        assert_eq!(hourly[23][field], current[field], "{field}");
    }
}
