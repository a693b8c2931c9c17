//! The authentication-surface and sign-in back-off checks against the real app over
//! loopback: quiet on Outpost's own routes and throttle, loud on a route left without
//! its guard and on a sign-in that is never slowed down.

use std::path::Path;
use std::time::Duration;

use actix_web::{HttpResponse, web};
use outpost::audit::{self, Actor, Event, Outcome};
use outpost::config::Config;
use outpost::db::Db;
use outpost::identity::{ClientInfo, sign_in_probe};
use outpost::scan::{self, Check, Found, Severity, checks};
use outpost::vault::Vault;
use outpost::web::routes::{self, Access, Routes};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::support::app::TestApp;

/// What `check` finds at the server `app` runs, and the run's error, if any.
async fn run(app: &TestApp, check: Box<dyn Check>) -> Vec<Found> {
    let (keyring, config) = (app.keyring.clone(), app.config.clone());
    // The probes run a runtime of their own: off the test's.
    tokio::task::spawn_blocking(move || {
        let db = Db::connect(&config).unwrap();
        let vault = Vault::load(keyring).unwrap();
        let cx = scan::Context {
            config: &config,
            db: &db,
            vault: &vault,
            now: OffsetDateTime::now_utc(),
        };
        let mut runs = scan::run(&cx, &[check]);
        let run = runs.remove(0);
        assert_eq!(run.error, None, "{} could not run", run.id);
        run.found
    })
    .await
    .unwrap()
}

fn by_id(id: &str) -> Box<dyn Check> {
    checks::all().into_iter().find(|c| c.id() == id).unwrap()
}

/// Routes a careless change could add: declared for members, but without the guard.
fn careless_routes(routes: &mut Routes) {
    routes.get(
        "/api/v1/test/reports/{id}",
        Access::SignedIn,
        |id: web::Path<Uuid>| async move { HttpResponse::Ok().json(id.into_inner()) },
    );
    routes.post("/test/settings/reset", Access::SignedIn, || async {
        HttpResponse::SeeOther()
            .insert_header(("location", "/settings/security"))
            .finish()
    });
    routes.get("/test/server-status", Access::SignedIn, || async {
        HttpResponse::InternalServerError().finish()
    });
    // Open on purpose, and declared so: not the check's business.
    routes.get("/test/open-by-design", Access::Public, || async {
        HttpResponse::Ok().finish()
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn every_member_route_of_the_real_router_refuses_a_stranger() {
    let guarded = routes::table(None)
        .into_iter()
        .filter(|e| e.access == Access::SignedIn)
        .count();
    assert!(
        guarded > 60,
        "the table lists the dashboard and API: {guarded}"
    );
    let app = TestApp::start().await;
    let found = run(&app, Box::new(checks::AuthSurface::default())).await;
    assert!(found.is_empty(), "{found:#?}");
    assert_eq!(
        app.audit(),
        Vec::<(String, String)>::new(),
        "probing recorded nothing, changed nothing"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_member_route_left_without_its_guard_is_found() {
    let app = TestApp::start_with(|_| {}, Some(careless_routes)).await;
    let check = checks::AuthSurface {
        extra: Some(careless_routes),
    };
    let found: Vec<(String, Severity)> = run(&app, Box::new(check))
        .await
        .into_iter()
        .map(|f| (f.subject, f.severity))
        .collect();
    assert_eq!(
        found,
        [
            (
                "route:GET /api/v1/test/reports/{id}".to_owned(),
                Severity::Critical
            ),
            ("route:POST /test/settings/reset".to_owned(), Severity::High),
            ("route:GET /test/server-status".to_owned(), Severity::Medium),
        ]
    );
}

/// Every way of registering a route with actix, as it would be spelled in Outpost's code.
const REGISTRATIONS: [&str; 13] = [
    "web::resource(",
    "web::scope(",
    "web::route(",
    "Resource::new(",
    "Scope::new(",
    ".route(",
    ".service(",
    ".external_resource(",
    "#[get(",
    "#[post(",
    "#[put(",
    "#[delete(",
    "#[route(",
];

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A route registered anywhere but through the table would be served yet never probed.
/// The one other app is the plain-HTTP listener that only redirects to HTTPS (and is
/// probed as such by `offensive.http_redirect`).
#[test]
fn routes_are_registered_only_through_the_table() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let table = src.join("web/routes/table.rs");
    let redirects = src.join("web/redirect.rs");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut outside = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for token in REGISTRATIONS {
            if text.contains(token) && *file != table && *file != redirects {
                outside.push(format!("{}: {token}", file.display()));
            }
        }
    }
    assert_eq!(
        outside,
        Vec::<String>::new(),
        "routes registered outside the table"
    );
    // The table itself registers through these spellings, so they are the right ones.
    let table = std::fs::read_to_string(&table).unwrap();
    assert!(
        table.contains("web::resource(")
            && table.contains(".route(")
            && table.contains(".service(")
    );
}

/// Failed sign-ins from one address within the hour, as the behaviour check sees them.
async fn failure_bursts(app: &TestApp) -> Vec<String> {
    run(app, by_id("behaviour.sign_ins"))
        .await
        .into_iter()
        .map(|f| f.subject)
        .filter(|s| s.starts_with("signin-failures:"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sign_in_back_off_is_proven_without_a_trace() {
    let app = TestApp::start().await;
    // Twice: the second run must not trip on the first, and together their failures
    // (eleven or more from one address) would look like an attack if they counted.
    for _ in 0..2 {
        let found = run(&app, by_id("offensive.login_rate_limit")).await;
        assert!(found.is_empty(), "{found:#?}");
    }
    let mut conn = app.db.conn();
    let probes = sign_in_probe::recent_targets(&mut conn, OffsetDateTime::now_utc()).unwrap();
    assert_eq!(probes.len(), 2, "each probe announced itself");
    let failures = app
        .audit()
        .iter()
        .filter(|(action, outcome)| action == "session.sign_in" && outcome == "failure")
        .count();
    assert!(
        failures >= 12,
        "both probes failed past the allowance: {failures}"
    );
    let throttled: i64 = {
        use diesel::prelude::*;
        outpost::db::schema::login_throttle::table
            .count()
            .get_result(&mut conn)
            .unwrap()
    };
    assert_eq!(throttled, 0, "the probes forgot the back-off they earned");
    assert_eq!(failure_bursts(&app).await, Vec::<String>::new());

    // A name that only looks like a probe's is counted like anyone's.
    for _ in 0..10 {
        audit::record(
            &mut conn,
            &Event::new(Actor::Anonymous, "session.sign_in", Outcome::Failure)
                .target(sign_in_probe::target("scan-probe-forged@scan.invalid"))
                .client(&ClientInfo {
                    ip: Some("192.0.2.7".into()),
                    user_agent: None,
                    request_id: None,
                }),
        )
        .unwrap();
    }
    assert_eq!(failure_bursts(&app).await, ["signin-failures:192.0.2.7"]);
    assert!(
        !sign_in_probe::is_announced(
            &mut conn,
            "scan-probe-forged@scan.invalid",
            OffsetDateTime::now_utc()
        )
        .unwrap()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sign_in_that_is_never_slowed_down_is_found() {
    // Zero caps turn the back-off off (see identity::throttle).
    let app = TestApp::start_with(
        |config: &mut Config| {
            config.login.backoff_after_failures = 2;
            config.login.max_address_backoff = Duration::ZERO;
            config.login.max_account_backoff = Duration::ZERO;
        },
        None,
    )
    .await;
    let found = run(&app, by_id("offensive.login_rate_limit")).await;
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].subject, "login:/login");
    assert_eq!(found[0].severity, Severity::High);
    assert!(
        found[0].evidence.starts_with("6 failed sign-ins"),
        "{}",
        found[0].evidence
    );
}
