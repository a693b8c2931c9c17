//! `/metrics`: request counts and latencies by route pattern, the backup age and open
//! findings read from the database at scrape time, and who may scrape.

use outpost::identity::{Capability, Role, user};
use reqwest::StatusCode;

use crate::support::app::TestApp;
use crate::support::backup::Server;
use crate::support::{daemon, logs};

/// The value of the one sample line that starts with `series` (name and labels).
fn sample(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.parse().unwrap())
}

async fn scrape(app: &TestApp, key: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(app.url("/metrics"));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn a_local_scrape_counts_requests_and_reads_backups_and_findings() {
    let app = TestApp::start().await;
    let client = reqwest::Client::new();
    for _ in 0..3 {
        assert_eq!(
            client
                .get(app.url("/healthz"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    let unknown = app.url("/no/such/page/5c0e7d1a");
    assert_eq!(client.get(&unknown).send().await.unwrap().status(), 404);
    // Seeded state: a complete backup two hours old (a newer one pruned, a newer one
    // failed: neither counts), two high findings open, one critical, a low resolved.
    app.db.execute(
        "INSERT INTO backup_runs (id, target, trigger, catch_up, started_at, finished_at, outcome, pruned_at) VALUES
         (gen_random_uuid(), 'local', 'daily', false, now() - interval '2 hours 5 minutes', now() - interval '2 hours', 'complete', NULL),
         (gen_random_uuid(), 'local', 'daily', false, now() - interval '70 minutes', now() - interval '1 hour', 'complete', now()),
         (gen_random_uuid(), 'local', 'daily', false, now() - interval '10 minutes', now() - interval '9 minutes', 'failed', NULL)",
    );
    app.db.execute(
        "INSERT INTO findings (fingerprint, check_id, subject, severity, title, first_seen, last_seen, resolved_at) VALUES
         ('a', 'c', 's1', 'high', 't', now(), now(), NULL),
         ('b', 'c', 's2', 'high', 't', now(), now(), NULL),
         ('c', 'c', 's3', 'critical', 't', now(), now(), NULL),
         ('d', 'c', 's4', 'low', 't', now(), now(), now())",
    );

    let response = scrape(&app, None).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let body = response.text().await.unwrap();
    let healthz = r#"method="GET",route="/healthz""#;
    assert_eq!(
        sample(
            &body,
            &format!(r#"outpost_http_requests_total{{{healthz},status="2xx"}}"#)
        ),
        Some(3.0),
        "{body}"
    );
    // The unknown path is not a label: it counts under one fixed name.
    assert!(!body.contains("/no/such/page"), "{body}");
    assert_eq!(
        sample(
            &body,
            r#"outpost_http_requests_total{method="GET",route="unmatched",status="4xx"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &body,
            &format!("outpost_http_request_duration_seconds_count{{{healthz}}}")
        ),
        Some(3.0)
    );
    assert_eq!(
        sample(
            &body,
            &format!(r#"outpost_http_request_duration_seconds_bucket{{le="+Inf",{healthz}}}"#)
        ),
        Some(3.0),
        "{body}"
    );
    let age = sample(&body, "outpost_backup_last_complete_age_seconds").unwrap();
    assert!((7200.0..7300.0).contains(&age), "backup age {age}");
    for (severity, open) in [
        ("critical", 1.0),
        ("high", 2.0),
        ("medium", 0.0),
        ("low", 0.0),
    ] {
        assert_eq!(
            sample(
                &body,
                &format!(r#"outpost_open_findings{{severity="{severity}"}}"#)
            ),
            Some(open),
            "{severity}"
        );
    }

    // The scrape itself was counted by the time of the next one.
    let again = scrape(&app, None).await.text().await.unwrap();
    assert_eq!(
        sample(
            &again,
            r#"outpost_http_requests_total{method="GET",route="/metrics",status="2xx"}"#
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn keys_are_checked_whenever_they_are_sent() {
    let app = TestApp::start().await;
    let viewer = user::create(&mut app.db.conn(), "viewer@example.com", Role::Viewer).unwrap();
    let scraper = app.api_key(viewer.id, &[Capability::MetricsView]);
    let other = app.api_key(viewer.id, &[Capability::DashboardView]);

    let response = scrape(&app, Some(&scraper)).await;
    assert_eq!(response.status(), 200);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("outpost_open_findings")
    );

    // Sent from loopback all the same: a key that is sent must be good enough.
    let refused = scrape(&app, Some(&other)).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );
    let problem: serde_json::Value = refused.json().await.unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("metrics.view"),
        "{problem}"
    );
    let forged = scrape(&app, Some("opk_not-a-real-key")).await;
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    assert!(forged.headers().contains_key("www-authenticate"));

    // Relayed by a proxy on this server: no longer a local caller, so a key is needed.
    let relayed = reqwest::Client::new()
        .get(app.url("/metrics"))
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(relayed.status(), StatusCode::UNAUTHORIZED);
    let relayed_with_key = reqwest::Client::new()
        .get(app.url("/metrics"))
        .header("x-forwarded-for", "203.0.113.9")
        .bearer_auth(&scraper)
        .send()
        .await
        .unwrap();
    assert_eq!(relayed_with_key.status(), 200);
}

/// `outpost serve` counts its scheduler's runs: at start it signs a checkpoint, checks
/// the vault key's age and any cancellation, each counted as a job run.
#[tokio::test(flavor = "multi_thread")]
async fn serve_counts_its_job_runs() {
    let server = Server::new(1);
    let port = daemon::free_port();
    let (mut child, _lines) = logs::spawn(
        server
            .command()
            .env("OUTPOST_LISTEN", format!("127.0.0.1:{port}"))
            .env("OUTPOST_WORKERS", "1")
            .arg("serve"),
    );
    let url = format!("http://127.0.0.1:{port}/metrics");
    let started = std::time::Instant::now();
    // Jobs are named as the Diagnostics page lists them.
    let series =
        r#"outpost_job_runs_total{job="cancellation and export expiry",outcome="success"}"#;
    let body = loop {
        let body = match reqwest::get(&url).await {
            Ok(response) if response.status() == 200 => response.text().await.unwrap(),
            _ => String::new(),
        };
        if sample(&body, series).is_some() || started.elapsed().as_secs() > 60 {
            break body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let _ = child.kill();
    let _ = child.wait();
    for job in [
        "audit checkpoint",
        "vault key rotation reminder",
        "cancellation and export expiry",
    ] {
        assert_eq!(
            sample(
                &body,
                &format!(r#"outpost_job_runs_total{{job="{job}",outcome="success"}}"#)
            ),
            Some(1.0),
            "{job}: {body}"
        );
    }
}
