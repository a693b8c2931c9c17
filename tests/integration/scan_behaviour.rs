//! The sign-in anomaly check on a real audit log: a member's history, then a sign-in
//! from elsewhere at an odd hour, and a burst of failures from one address.

use outpost::scan::{self, Check, Context, checks};
use time::macros::datetime;

use crate::support::backup::Server;

fn sign_in(server: &Server, actor: &str, outcome: &str, at: &str, ip: &str) {
    server.db.execute(&format!(
        "INSERT INTO audit_events (occurred_at, actor, action, outcome, source_ip, details) \
         VALUES ('{at}', '{actor}', 'session.sign_in', '{outcome}', '{ip}', '{{}}')"
    ));
}

#[test]
fn an_unfamiliar_sign_in_and_a_failure_burst_are_found() {
    let server = Server::new(1);
    for day in ["2026-11-01", "2026-11-10", "2026-11-20"] {
        sign_in(
            &server,
            "user:ada",
            "success",
            &format!("{day} 09:15:00+00"),
            "198.51.100.4",
        );
    }
    sign_in(
        &server,
        "user:ada",
        "success",
        "2026-12-05 09:40:00+00",
        "198.51.100.8",
    );
    let selected: Vec<Box<dyn Check>> = checks::all()
        .into_iter()
        .filter(|c| c.id() == "behaviour.sign_ins")
        .collect();
    let at = |now| {
        let cx = Context {
            config: &server.config,
            db: &server.pool,
            vault: &server.vault,
            now,
        };
        let runs = scan::run(&cx, &selected);
        assert_eq!(runs[0].error, None);
        runs[0]
            .found
            .iter()
            .map(|f| f.subject.clone())
            .collect::<Vec<_>>()
    };
    assert!(
        at(datetime!(2026-12-06 12:00 UTC)).is_empty(),
        "nothing unusual yet"
    );

    sign_in(
        &server,
        "user:ada",
        "success",
        "2026-12-06 02:30:00+00",
        "203.0.113.50",
    );
    for minute in 0..12 {
        sign_in(
            &server,
            "anonymous",
            "failure",
            &format!("2026-12-06 11:{minute:02}:00+00"),
            "192.0.2.66",
        );
    }
    assert_eq!(
        at(datetime!(2026-12-06 12:00 UTC)),
        [
            "signin:user:ada:203.0.113.0/24",
            "signin-hour:user:ada:2026-12-06",
            "signin-failures:192.0.2.66"
        ]
    );
    // A week on, it is history: the findings resolve.
    assert!(at(datetime!(2026-12-14 12:00 UTC)).is_empty());
}
