//! Capability creep across scans on a real database: the first scan and new members
//! report nothing; a promotion and a key's grant changed behind Outpost's back are
//! found, stay reported for a week, then resolve; a demotion is no finding.

use outpost::identity::{Capability, Role, user};
use outpost::scan::Severity;
use time::OffsetDateTime;
use time::macros::datetime;

use crate::support::app::create_api_key;
use crate::support::backup::Server;
use crate::support::scan;

fn scan(server: &Server, now: OffsetDateTime) -> Vec<(String, Severity)> {
    scan::found(
        &server.config,
        &server.pool,
        &server.vault,
        "behaviour.capability_creep",
        now,
    )
}

#[test]
fn a_rise_in_role_or_key_capabilities_is_reported_for_a_week() {
    let server = Server::new(1);
    let day = datetime!(2026-12-01 03:15 UTC);
    let days = |n: i64| day + time::Duration::days(n);
    assert_eq!(
        scan(&server, day),
        [],
        "the first scan only takes a snapshot"
    );

    let (dev, viewer) = {
        let mut conn = server.db.conn();
        let dev = user::create(&mut conn, "dev@example.com", Role::Developer).unwrap();
        let viewer = user::create(&mut conn, "viewer@example.com", Role::Viewer).unwrap();
        (dev.id, viewer.id)
    };
    create_api_key(&server.db, viewer, &[Capability::FindingsView]);
    assert_eq!(
        scan(&server, days(1)),
        [],
        "new members and keys are not creep"
    );

    server.db.execute(&format!(
        "UPDATE users SET role = 'admin' WHERE id = '{dev}'"
    ));
    server
        .db
        .execute("UPDATE api_keys SET capabilities = capabilities || '{audit.view}'::text[]");
    server
        .db
        .execute("UPDATE users SET role = 'viewer' WHERE email = 'admin@example.com'");
    let key: uuid::Uuid = {
        use diesel::prelude::*;
        use outpost::db::schema::api_keys;
        api_keys::table
            .select(api_keys::id)
            .first(&mut server.db.conn())
            .unwrap()
    };
    let expected = {
        let mut e = vec![
            (format!("member:{dev}"), Severity::High),
            (format!("api_key:{key}"), Severity::Medium),
        ];
        e.sort();
        e
    };
    assert_eq!(scan(&server, days(2)), expected, "a demotion is not creep");
    assert_eq!(
        scan(&server, days(8)),
        expected,
        "still reported within the week"
    );
    assert_eq!(
        scan(&server, days(9)),
        [],
        "resolved a week after it was seen"
    );

    // Falling back to what it was resolves it at once.
    server.db.execute(&format!(
        "UPDATE users SET role = 'owner' WHERE id = '{dev}'"
    ));
    assert_eq!(
        scan(&server, days(10)),
        [(format!("member:{dev}"), Severity::High)]
    );
    server.db.execute(&format!(
        "UPDATE users SET role = 'admin' WHERE id = '{dev}'"
    ));
    assert_eq!(scan(&server, days(11)), []);
}
