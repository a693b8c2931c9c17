//! Outbound webhooks against real PostgreSQL and a real receiver on loopback: every
//! delivery is signed and verifies with the endpoint's secret, a failure is retried on
//! the back-off schedule (driven by the worker's `now`, never by sleeping), and a scan's
//! new finding or a failed backup reaches the endpoints subscribed to it and no other.

mod dashboard;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::prelude::*;
use outpost::audit::Actor;
use outpost::backup::create::Quiet;
use outpost::backup::runs::Trigger;
use outpost::db::schema::webhook_deliveries;
use outpost::identity::{ClientInfo, User, user};
use outpost::notify::signature::WebhookSecret;
use outpost::notify::webhooks::delivery::{self, Pass};
use outpost::notify::webhooks::{Endpoint, NewEndpoint, endpoints, events, outbox};
use outpost::scan::{self, Check, CheckError, Context, Found, Severity, findings};
use outpost::vault::Vault;
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::support::backup::Server;
use crate::support::receiver::Receiver;
use crate::support::s3::BUCKET;

fn owner(server: &Server) -> User {
    user::find_by_email(&mut server.conn(), "owner@example.com")
        .unwrap()
        .unwrap()
}

fn endpoint(server: &Server, url: &str, events: &[&str]) -> (Endpoint, WebhookSecret) {
    let new = NewEndpoint {
        url: url.into(),
        description: "test receiver".into(),
        events: events.iter().map(|e| e.to_string()).collect(),
    };
    endpoints::create(
        &mut server.conn(),
        &server.vault,
        &owner(server),
        new,
        &ClientInfo::default(),
    )
    .unwrap()
}

fn vault(server: &Server) -> Arc<Vault> {
    server.scheduled().vault
}

/// (event type, payload) of every delivery queued for `endpoint`.
fn queued(server: &Server, endpoint: Uuid) -> Vec<(String, Value)> {
    webhook_deliveries::table
        .filter(webhook_deliveries::endpoint_id.eq(endpoint))
        .order(webhook_deliveries::created_at.asc())
        .select((webhook_deliveries::event_type, webhook_deliveries::payload))
        .load(&mut server.conn())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_delivery_is_retried_after_its_back_off_and_every_attempt_verifies() {
    let server = Server::new(1);
    let receiver = Receiver::start(&[500]);
    let (hook, secret) = endpoint(&server, &receiver.url("/in"), &[events::BACKUP_FAILED]);
    events::backup_failed(
        &mut server.conn(),
        Uuid::new_v4(),
        "offsite",
        "manual",
        "disk full",
    )
    .unwrap();
    let (vault, client) = (vault(&server), delivery::client());
    // PostgreSQL keeps microseconds.
    let now = OffsetDateTime::now_utc();
    let start = now.replace_microsecond(now.microsecond()).unwrap();

    let first = delivery::deliver_due(&server.pool, &vault, &client, start)
        .await
        .unwrap();
    assert_eq!(
        first,
        Pass {
            retrying: 1,
            ..Pass::default()
        }
    );
    let log = outbox::recent(&mut server.conn(), Some(hook.id), 10).unwrap();
    assert_eq!(
        (log[0].status.as_str(), log[0].attempts, log[0].last_status),
        ("pending", 1, Some(500))
    );
    assert_eq!(
        log[0].next_attempt_at,
        Some(start + Duration::from_secs(30))
    );

    // Not due a second before the back-off ends; due when it does.
    let early = start + Duration::from_secs(29);
    let none = delivery::deliver_due(&server.pool, &vault, &client, early)
        .await
        .unwrap();
    assert_eq!(none, Pass::default());
    let due = start + Duration::from_secs(30);
    let second = delivery::deliver_due(&server.pool, &vault, &client, due)
        .await
        .unwrap();
    assert_eq!(
        second,
        Pass {
            delivered: 1,
            ..Pass::default()
        }
    );
    let log = outbox::recent(&mut server.conn(), Some(hook.id), 10).unwrap();
    assert_eq!(
        (log[0].status.as_str(), log[0].attempts, log[0].last_status),
        ("delivered", 2, Some(204))
    );
    assert_eq!(log[0].delivered_at, Some(due));

    let received = receiver.received();
    assert_eq!(received.len(), 2);
    assert_eq!(
        received[0].header("webhook-id"),
        received[1].header("webhook-id")
    );
    let now = OffsetDateTime::now_utc().unix_timestamp();
    for request in &received {
        assert_eq!(request.header("content-type"), "application/json");
        let timestamp: i64 = request.header("webhook-timestamp").parse().unwrap();
        secret
            .verify(
                request.header("webhook-id"),
                timestamp,
                request.header("webhook-signature"),
                &request.body,
                now,
            )
            .expect("the signature verifies with the endpoint's secret");
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(body["type"], "backup.failed");
        assert_eq!(body["data"]["error"], "disk full");
    }
    assert_eq!(
        received[1].header("webhook-timestamp"),
        due.unix_timestamp().to_string()
    );
    // Nothing more is due once delivered.
    let later = due + Duration::from_secs(86_400);
    let after = delivery::deliver_due(&server.pool, &vault, &client, later)
        .await
        .unwrap();
    assert_eq!(after, Pass::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_never_accepts_is_given_up_after_the_last_back_off() {
    let server = Server::new(1);
    let receiver = Receiver::start(&[503; 6]);
    let (hook, _) = endpoint(&server, &receiver.url("/in"), &[events::MEMBER_ADDED]);
    outbox::enqueue_to(&mut server.conn(), hook.id, events::TEST, json!({})).unwrap();
    let (vault, client) = (vault(&server), delivery::client());
    let mut now = OffsetDateTime::now_utc();
    for wait in delivery::BACKOFF {
        let pass = delivery::deliver_due(&server.pool, &vault, &client, now)
            .await
            .unwrap();
        assert_eq!(pass.retrying, 1);
        now += wait;
    }
    let last = delivery::deliver_due(&server.pool, &vault, &client, now)
        .await
        .unwrap();
    assert_eq!(
        last,
        Pass {
            failed: 1,
            ..Pass::default()
        }
    );
    let log = outbox::recent(&mut server.conn(), Some(hook.id), 10).unwrap();
    assert_eq!(
        (
            log[0].status.as_str(),
            log[0].attempts,
            log[0].next_attempt_at
        ),
        ("failed", 6, None)
    );
    assert_eq!(receiver.received().len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_deliveries_leave_the_log_after_thirty_days_and_waiting_ones_stay() {
    let server = Server::new(1);
    let receiver = Receiver::start(&[204, 204]);
    let (hook, _) = endpoint(&server, &receiver.url("/in"), &[events::MEMBER_ADDED]);
    let (vault, client) = (vault(&server), delivery::client());
    outbox::enqueue_to(&mut server.conn(), hook.id, events::TEST, json!({ "n": 1 })).unwrap();
    let now = OffsetDateTime::now_utc();
    let pass = delivery::deliver_due(&server.pool, &vault, &client, now)
        .await
        .unwrap();
    assert_eq!(pass.delivered, 1);

    // The second waits: its endpoint is disabled.
    let (owner, nobody) = (owner(&server), ClientInfo::default());
    endpoints::disable(&mut server.conn(), &owner, hook.id, &nobody).unwrap();
    outbox::enqueue_to(&mut server.conn(), hook.id, events::TEST, json!({ "n": 2 })).unwrap();
    let later = now + delivery::LOG_KEPT + Duration::from_secs(3600);
    let pass = delivery::deliver_due(&server.pool, &vault, &client, later)
        .await
        .unwrap();
    assert_eq!(pass, Pass::default(), "nothing goes to a disabled endpoint");

    let hour = Duration::from_secs(3600);
    let kept = delivery::LOG_KEPT - hour;
    assert_eq!(delivery::prune(&mut server.conn(), now + kept).unwrap(), 0);
    assert_eq!(delivery::prune(&mut server.conn(), later).unwrap(), 1);
    let log = outbox::recent(&mut server.conn(), Some(hook.id), 10).unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(
        log[0].status, "pending",
        "a waiting delivery is never pruned"
    );

    endpoints::enable(&mut server.conn(), &owner, hook.id, &nobody).unwrap();
    let pass = delivery::deliver_due(&server.pool, &vault, &client, later)
        .await
        .unwrap();
    assert_eq!(pass.delivered, 1, "enabled again, the waiting one goes out");
    assert_eq!(receiver.received().len(), 2);
}

/// A check that reports what it is given.
struct Sees(Mutex<Vec<Found>>);

impl Check for Sees {
    fn id(&self) -> &'static str {
        "test.sees"
    }
    fn title(&self) -> &'static str {
        "Sees"
    }
    fn run(&self, _: &Context<'_>) -> Result<Vec<Found>, CheckError> {
        Ok(self.0.lock().unwrap().clone())
    }
}

fn scan_seeing(server: &Server, found: Vec<Found>) -> findings::Changes {
    let checks: Vec<Box<dyn Check>> = vec![Box::new(Sees(Mutex::new(found)))];
    let now = OffsetDateTime::now_utc();
    let cx = Context {
        config: &server.config,
        db: &server.pool,
        vault: &server.vault,
        now,
    };
    let runs = scan::run(&cx, &checks);
    findings::record(&mut server.conn(), &runs, "manual", now, now).unwrap()
}

#[test]
fn findings_and_failed_backups_reach_only_the_endpoints_subscribed_to_them() {
    let mut server = Server::new(1);
    let (on_findings, _) = endpoint(
        &server,
        "https://hooks.example.com/findings",
        &[events::FINDING_OPENED, events::FINDING_RESOLVED],
    );
    let (on_backups, _) = endpoint(
        &server,
        "https://hooks.example.com/backups",
        &[events::BACKUP_FAILED],
    );

    let found = Found::new("api_key:7", Severity::High, "A wildcard API key", "key 7");
    let opened = scan_seeing(&server, vec![found]);
    assert_eq!(opened.opened.len(), 1);
    let sent = queued(&server, on_findings.id);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].0, "finding.opened");
    assert_eq!(sent[0].1["data"]["fingerprint"], opened.opened[0].as_str());
    assert_eq!(sent[0].1["data"]["title"], "A wildcard API key");
    assert_eq!(sent[0].1["data"]["severity"], "high");
    scan_seeing(&server, Vec::new());
    let sent = queued(&server, on_findings.id);
    assert_eq!(
        sent.iter().map(|s| s.0.as_str()).collect::<Vec<_>>(),
        ["finding.opened", "finding.resolved"]
    );
    assert!(queued(&server, on_backups.id).is_empty());

    // Nothing listens on this loopback port: the backup fails.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    server.add_s3_target("offsite", &format!("http://127.0.0.1:{port}"), BUCKET);
    let failed = server
        .backups()
        .run("offsite", Trigger::Manual, false, Actor::Cli, &mut Quiet);
    assert!(failed.is_err());
    let sent = queued(&server, on_backups.id);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].0, "backup.failed");
    assert_eq!(sent[0].1["data"]["target"], "offsite");
    assert_eq!(queued(&server, on_findings.id).len(), 2);
}
