//! Where API keys are used from, recorded by the real authentication path on loopback
//! (127.0.0.1, and 127.0.1.5: another /24 of the loopback block), and the check that
//! reports a seasoned key used from a network it never used before.

use std::net::{IpAddr, Ipv4Addr};

use diesel::prelude::*;
use outpost::db::Db;
use outpost::identity::key_networks::{self, KeyNetwork};
use outpost::identity::{Capability, Role, api_keys, user};
use outpost::scan::Severity;
use outpost::vault::Vault;

use crate::support::app::{TestApp, create_api_key};
use crate::support::scan;

async fn use_key(app: &TestApp, key: &str, from: Ipv4Addr) {
    let client = reqwest::Client::builder()
        .local_address(IpAddr::V4(from))
        .build()
        .unwrap();
    let response = client
        .get(app.url("/api/v1/me"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

fn networks(app: &TestApp) -> Vec<(String, i64)> {
    key_networks::all(&mut app.db.conn())
        .unwrap()
        .into_iter()
        .map(|n: KeyNetwork| (n.network, n.uses))
        .collect()
}

fn findings(app: &TestApp) -> Vec<(String, Severity)> {
    let pool = Db::connect(&app.config).unwrap();
    let vault = Vault::load(app.keyring.clone()).unwrap();
    let now = time::OffsetDateTime::now_utc();
    scan::found(
        &app.config,
        &pool,
        &vault,
        "behaviour.api_key_addresses",
        now,
    )
}

/// Makes every network recorded so far `days` old.
fn age_history(app: &TestApp, days: u32) {
    app.db.execute(&format!(
        "UPDATE api_key_networks SET first_seen = first_seen - interval '{days} days', \
         last_seen = last_seen - interval '{days} days'"
    ));
}

fn key_id(app: &TestApp, key: &str) -> uuid::Uuid {
    use outpost::db::schema::api_keys as table;
    let prefix = &key[..10];
    table::table
        .filter(table::display_prefix.eq(prefix))
        .select(table::id)
        .first(&mut app.db.conn())
        .unwrap()
}

#[tokio::test]
async fn a_seasoned_key_used_from_a_new_network_is_found() {
    let app = TestApp::start().await;
    let (reader, admin) = {
        let mut conn = app.db.conn();
        let dev = user::create(&mut conn, "dev@example.com", Role::Developer).unwrap();
        let admin = user::create(&mut conn, "admin@example.com", Role::Admin).unwrap();
        (dev.id, admin.id)
    };
    let reader = create_api_key(&app.db, reader, &[Capability::FindingsView]);
    let backups = create_api_key(&app.db, admin, &[Capability::BackupsManage]);
    let home = Ipv4Addr::new(127, 0, 0, 1);
    let elsewhere = Ipv4Addr::new(127, 0, 1, 5);

    // Repeated uses from one network within a minute are written once.
    for _ in 0..3 {
        use_key(&app, &reader, home).await;
    }
    use_key(&app, &backups, home).await;
    assert_eq!(
        networks(&app),
        [
            ("127.0.0.0/24".to_owned(), 1),
            ("127.0.0.0/24".to_owned(), 1)
        ]
    );

    // A week-old key is too young to judge: a second network is nothing yet.
    age_history(&app, 8);
    use_key(&app, &reader, elsewhere).await;
    assert_eq!(findings(&app), []);

    // A month on, both keys have history; the reader's second network is now old too.
    age_history(&app, 30);
    assert_eq!(findings(&app), [], "nothing new in the last week");
    use_key(&app, &reader, home).await;
    use_key(&app, &reader, Ipv4Addr::new(127, 0, 2, 9)).await;
    use_key(&app, &backups, elsewhere).await;
    let (reader_id, backups_id) = (key_id(&app, &reader), key_id(&app, &backups));
    let mut expected = vec![
        (
            format!("api_key:{reader_id}:127.0.2.0/24"),
            Severity::Medium,
        ),
        // Admin capabilities make it worse.
        (format!("api_key:{backups_id}:127.0.1.0/24"), Severity::High),
    ];
    expected.sort();
    assert_eq!(findings(&app), expected);

    // Revoked, a key can no longer be used from anywhere: nothing to report for it.
    api_keys::revoke(
        &mut app.db.conn(),
        admin,
        backups_id,
        time::OffsetDateTime::now_utc(),
    )
    .unwrap();
    assert_eq!(
        findings(&app),
        [(
            format!("api_key:{reader_id}:127.0.2.0/24"),
            Severity::Medium
        )]
    );
}
