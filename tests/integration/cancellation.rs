//! Cancellation: `outpost cancel` at the command line, and the lifecycle driven with
//! explicit times against a real database and a real pg_dump: the export at the date,
//! downloads during the window, the audited destruction when it closes, and an audit
//! log that still verifies afterwards.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration as StdDuration;

use diesel::prelude::*;
use outpost::audit::Actor;
use outpost::cancellation::destroy::{DESTROYED_TABLES, KEPT_TABLES};
use outpost::cancellation::lifecycle::{self, Step};
use outpost::cancellation::{self, CancellationError};
use outpost::config::{Config, DatabaseUrl};
use outpost::credentials::{self, Kind, NewCredential};
use outpost::db::schema::audit_events;
use outpost::export::store::{self, Status};
use outpost::identity::session::{self, SessionPolicy};
use outpost::identity::{Capability, ClientInfo, Role, api_keys, user};
use outpost::secret::SecretString;
use outpost::vault::Vault;
use outpost::vault::keyring::KeySource;
use serde_json::Value;
use time::{Duration, OffsetDateTime};

use crate::export::{hex, members};
use crate::support::app::TestApp;
use crate::support::logs;
use crate::support::pg::{TestDb, outpost_command, write_test_keys};

struct Fixture {
    db: TestDb,
    keys: tempfile::TempDir,
    data: tempfile::TempDir,
    config: Config,
    vault: Vault,
    owner: uuid::Uuid,
}

fn fixture() -> Fixture {
    let db = TestDb::new();
    let keys = tempfile::tempdir().unwrap();
    write_test_keys(keys.path(), "test.example/audit");
    let data = tempfile::tempdir().unwrap();
    let config = Config {
        database_url: DatabaseUrl::new(db.url.clone()),
        data_dir: data.path().to_owned(),
        vault_key_file: keys.path().join("vault.key"),
        audit_checkpoint_file: keys.path().join("checkpoints.log"),
        ..Config::default()
    };
    let vault = Vault::load(KeySource::File(keys.path().join("vault.key"))).unwrap();
    let mut conn = db.conn();
    vault.check_against(&mut conn).unwrap();
    let owner = user::create(&mut conn, "owner@example.com", Role::Owner).unwrap();
    user::create(&mut conn, "dev@example.com", Role::Developer).unwrap();
    let policy = SessionPolicy {
        idle_timeout: StdDuration::from_secs(900),
        absolute_timeout: StdDuration::from_secs(3600),
    };
    session::create(&mut conn, owner.id, &policy, &ClientInfo::default()).unwrap();
    api_keys::create(
        &mut conn,
        &owner,
        api_keys::NewKey {
            name: "ci".into(),
            capabilities: vec![Capability::DashboardView],
            expires_at: None,
        },
    )
    .unwrap();
    credentials::create(
        &mut conn,
        &vault,
        &owner,
        NewCredential {
            name: "Payments".into(),
            kind: Kind::ApiKey,
            value: SecretString::new("not a real key, but the client's"),
            description: None,
            expires_at: None,
            rotate_every_days: None,
        },
        &ClientInfo::default(),
    )
    .unwrap();
    Fixture {
        db,
        keys,
        data,
        config,
        vault,
        owner: owner.id,
    }
}

impl Fixture {
    fn cli(&self, args: &[&str]) -> std::process::Output {
        logs::output(
            outpost_command(self.keys.path(), &self.db.url)
                .env("OUTPOST_DATA_DIR", self.data.path())
                .args(args),
        )
    }

    fn check(&self, now: OffsetDateTime) -> Step {
        lifecycle::check(&mut self.db.conn(), &self.config, &self.vault, now).unwrap()
    }

    fn count(&self, table: &str) -> i64 {
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        diesel::sql_query(format!("SELECT count(*) AS n FROM {table}"))
            .get_result::<Count>(&mut self.db.conn())
            .unwrap()
            .n
    }

    fn entries(&self, action: &str) -> Vec<(String, String, Value)> {
        audit_events::table
            .filter(audit_events::action.eq(action))
            .order(audit_events::id.asc())
            .select((
                audit_events::actor,
                audit_events::outcome,
                audit_events::details,
            ))
            .load(&mut self.db.conn())
            .unwrap()
    }
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn one_line_error(out: &std::process::Output, code: i32) -> String {
    assert_eq!(out.status.code(), Some(code), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    stderr
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_type().unwrap().is_dir() {
            found.extend(files_under(&entry.path()));
        } else {
            found.push(entry.path());
        }
    }
    found
}

#[test]
fn cancel_refuses_bad_dates_in_one_line_and_schedules_shows_and_revokes() {
    let f = fixture();
    for bad in [
        "next tuesday",
        "2026-13-01",
        "2020-01-01",
        "2020-01-01T00:00:00Z",
    ] {
        let out = f.cli(&["cancel", "--at", bad]);
        let stderr = one_line_error(&out, 2);
        assert!(
            stderr.contains("--at") || stderr.contains("future"),
            "{bad}: {stderr}"
        );
    }
    assert!(f.entries(cancellation::SCHEDULED).is_empty());

    let none = f.cli(&["cancel", "--status"]);
    assert!(none.status.success());
    assert!(stdout(&none).contains("no cancellation is scheduled"));

    let date = (OffsetDateTime::now_utc() + Duration::days(40)).date();
    let scheduled = f.cli(&["cancel", "--at", &date.to_string()]);
    assert!(scheduled.status.success(), "{scheduled:?}");
    let closes = date + Duration::days(30);
    assert!(stdout(&scheduled).contains(&format!("{date} 00:00 UTC")));
    assert!(stdout(&scheduled).contains(&format!("{closes} 00:00 UTC")));
    let entries = f.entries(cancellation::SCHEDULED);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].0, "cli");

    let status = stdout(&f.cli(&["cancel", "--status"]));
    assert!(status.contains("cancellation: scheduled"), "{status}");
    assert!(
        status.contains(&format!("window ends:  {closes} 00:00 UTC")),
        "{status}"
    );
    assert!(status.contains("not prepared yet"), "{status}");

    let again = f.cli(&["cancel", "--at", &date.to_string()]);
    assert!(one_line_error(&again, 1).contains("revoke it first"));

    let revoked = f.cli(&["cancel", "--revoke"]);
    assert!(revoked.status.success(), "{revoked:?}");
    assert_eq!(f.entries(cancellation::REVOKED).len(), 1);
    assert!(stdout(&f.cli(&["cancel", "--status"])).contains("no cancellation is scheduled"));
    let nothing = f.cli(&["cancel", "--revoke"]);
    assert!(one_line_error(&nothing, 1).contains("no cancellation"));
    assert!(matches!(
        f.check(OffsetDateTime::now_utc() + Duration::days(100)),
        Step::Nothing
    ));
}

#[test]
fn cancel_now_prepares_the_export_at_once() {
    let f = fixture();
    let out = f.cli(&["cancel", "--now"]);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout(&out).contains("ready"), "{}", stdout(&out));
    let c = cancellation::in_force(&mut f.db.conn()).unwrap().unwrap();
    let export = store::find(&mut f.db.conn(), c.export_id.unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(export.status(), Status::Ready);
    assert_eq!(export.expires_at, c.window_closes_at);
    assert!(store::file_of(f.data.path(), export.id).is_file());
    let status = stdout(&f.cli(&["cancel", "--status"]));
    assert!(status.contains("export window open"), "{status}");
    assert!(status.contains("export:       ready"), "{status}");
}

#[test]
fn the_lifecycle_exports_at_the_date_and_destroys_the_data_when_the_window_closes() {
    let f = fixture();
    let backup = f.data.path().join("backups/0c8f/part-0000");
    std::fs::create_dir_all(backup.parent().unwrap()).unwrap();
    std::fs::write(&backup, b"an encrypted backup of the client's database").unwrap();

    let now = OffsetDateTime::now_utc();
    let at = now + Duration::days(10);
    let scheduled = cancellation::schedule(
        &mut f.db.conn(),
        at,
        false,
        now,
        Actor::Cli,
        &ClientInfo::default(),
    )
    .unwrap();
    let closes = scheduled.window_closes_at;
    assert_eq!(closes, scheduled.effective_at + cancellation::WINDOW);

    // Before the date nothing happens.
    assert!(matches!(f.check(now), Step::Nothing));
    assert!(matches!(f.check(at - Duration::seconds(1)), Step::Nothing));
    assert!(store::list(&mut f.db.conn()).unwrap().is_empty());

    // At the date: one export, by the system, kept until the window closes.
    let Step::Exported(export) = f.check(at + Duration::minutes(5)) else {
        panic!("no export at the date");
    };
    assert_eq!(export.status(), Status::Ready, "{:?}", export.error);
    assert_eq!(export.requested_by, None);
    assert!(!export.include_secrets);
    assert_eq!(export.expires_at, closes);
    assert!(
        matches!(f.check(at + Duration::hours(1)), Step::Nothing),
        "prepared once"
    );
    let exported = f.entries("data.exported");
    assert_eq!(exported.len(), 1);
    assert_eq!(exported[0].0, "system");

    // Downloadable (and audited) until the window closes, not after.
    let client = ClientInfo::default();
    let (_, _, size) = store::open_for_download(
        &mut f.db.conn(),
        f.data.path(),
        export.id,
        Actor::User(f.owner),
        &client,
        closes - Duration::minutes(1),
    )
    .unwrap();
    assert_eq!(size as i64, export.bytes.unwrap());
    let file = store::file_of(f.data.path(), export.id);
    let members = members(&file);
    let manifest: Value = serde_json::from_slice(&members.last().unwrap().1).unwrap();
    for entry in manifest["files"].as_array().unwrap() {
        let (_, bytes) = members
            .iter()
            .find(|(p, _)| p == entry["path"].as_str().unwrap())
            .unwrap();
        assert_eq!(entry["sha256"].as_str().unwrap(), hex(bytes));
    }
    assert!(matches!(
        store::open_for_download(
            &mut f.db.conn(),
            f.data.path(),
            export.id,
            Actor::User(f.owner),
            &client,
            closes,
        ),
        Err(store::StoreError::Expired)
    ));
    assert_eq!(f.entries(store::DOWNLOADED).len(), 1);

    // Too late to revoke once the window has closed.
    assert!(matches!(
        cancellation::revoke(&mut f.db.conn(), closes, Actor::Cli, &client),
        Err(CancellationError::TooLate(_))
    ));

    // A checkpoint before the destruction, so verification checks across it.
    let checkpoint = f.cli(&["audit", "checkpoint"]);
    assert!(checkpoint.status.success(), "{checkpoint:?}");

    let Step::Destroyed(report) = f.check(closes + Duration::seconds(1)) else {
        panic!("nothing destroyed after the window");
    };
    assert_eq!(report.rows["users"], 2);
    assert_eq!(report.rows["sessions"], 1);
    assert_eq!(report.rows["api_keys"], 1);
    assert_eq!(report.rows["stored_credentials"], 1);
    assert_eq!(report.rows["exports"], 1);
    assert_eq!(report.export_files, 1);
    assert_eq!(report.backup_files, 1);
    assert!(report.left_behind.is_empty(), "{:?}", report.left_behind);

    assert_eq!(f.count("users"), 0);
    assert_eq!(f.count("sessions"), 0);
    assert_eq!(f.count("stored_credentials"), 0);
    assert!(store::list(&mut f.db.conn()).unwrap().is_empty());
    assert!(!file.exists());
    assert!(!backup.exists());
    assert!(
        files_under(f.data.path()).is_empty(),
        "{:?}",
        files_under(f.data.path())
    );

    // The destruction is in the log, with its counts; the earlier entries are kept.
    let destroyed = f.entries(cancellation::destroy::DESTROYED);
    assert_eq!(destroyed.len(), 1);
    let (actor, outcome, details) = &destroyed[0];
    assert_eq!((actor.as_str(), outcome.as_str()), ("system", "success"));
    assert_eq!(details["rows"]["users"], 2);
    assert_eq!(details["rows"]["stored_credentials"], 1);
    assert_eq!(details["backup_files"], 1);
    assert_eq!(f.entries(cancellation::SCHEDULED).len(), 1);
    assert_eq!(f.entries("data.exported").len(), 1);

    // Done once: later checks do nothing, and nothing can be scheduled any more.
    assert!(matches!(f.check(closes + Duration::days(1)), Step::Nothing));
    assert_eq!(f.entries(cancellation::destroy::DESTROYED).len(), 1);
    assert!(matches!(
        cancellation::schedule(
            &mut f.db.conn(),
            closes + Duration::days(2),
            false,
            closes,
            Actor::Cli,
            &client
        ),
        Err(CancellationError::AlreadyDestroyed(_))
    ));
    let status = stdout(&f.cli(&["cancel", "--status"]));
    assert!(status.contains("data destroyed on"), "{status}");

    // The audit log still verifies, across the checkpoint taken before.
    let checkpoint = f.cli(&["audit", "checkpoint"]);
    assert!(checkpoint.status.success(), "{checkpoint:?}");
    let verify = f.cli(&["audit", "verify"]);
    assert_eq!(verify.status.code(), Some(0), "{verify:?}");
}

#[test]
fn every_table_is_either_destroyed_or_kept_for_a_reason() {
    let db = TestDb::new();
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = diesel::sql_types::Text)]
        table_name: String,
    }
    let tables: BTreeSet<String> = diesel::sql_query(
        "SELECT table_name::text AS table_name FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    )
    .load::<Name>(&mut db.conn())
    .unwrap()
    .into_iter()
    .map(|n| n.table_name)
    .collect();
    let classified: BTreeSet<String> = DESTROYED_TABLES
        .iter()
        .copied()
        .chain(KEPT_TABLES.iter().map(|(t, _)| *t))
        .map(str::to_owned)
        .collect();
    assert_eq!(tables, classified);
}

#[tokio::test]
async fn owners_see_the_cancellation_dates_and_others_do_not() {
    let app = TestApp::start().await;
    let owner = app.owner("owner@example.com").await;
    let admin = app.member("admin@example.com", Role::Admin).await;
    let now = OffsetDateTime::now_utc();
    let c = cancellation::schedule(
        &mut app.db.conn(),
        now + Duration::days(3),
        false,
        now,
        Actor::Cli,
        &ClientInfo::default(),
    )
    .unwrap();
    let when = |t: OffsetDateTime| outpost::web::pages::when(t);
    for path in ["/", "/export"] {
        let html = owner.browser.get(path).await.text().await.unwrap();
        assert!(html.contains("The service ends on"), "{path}");
        assert!(html.contains(&when(c.effective_at)), "{path}");
        assert!(html.contains(&when(c.window_closes_at)), "{path}");
    }
    let html = admin.browser.get("/").await.text().await.unwrap();
    assert!(!html.contains("The service ends on"));
    let key = app.api_key(owner.id, &[Capability::DataExport]);
    let listed = app.api_json("/api/v1/exports", &key).await;
    assert!(
        listed["cancellation"]["window_closes_at"].is_string(),
        "{listed}"
    );
}
