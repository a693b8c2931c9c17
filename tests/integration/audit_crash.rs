//! kill -9 the server while 32 clients make audited changes: every change a client saw
//! acknowledged has its audit entry afterwards, and the log still verifies.

use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use outpost::identity::{Capability, Role, user};

use crate::support::app::create_api_key;
use crate::support::pg::{TestDb, outpost_command, write_test_keys};
use crate::support::{canary, logs};

struct Keys {
    dir: tempfile::TempDir,
}

impl Keys {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        write_test_keys(dir.path(), "127.0.0.1:8080/audit");
        Self { dir }
    }

    fn command(&self, db: &TestDb) -> Command {
        let mut command = outpost_command(self.dir.path(), &db.url);
        command
            .env("OUTPOST_LISTEN", "127.0.0.1:0")
            .env("OUTPOST_WORKERS", "2")
            .env("OUTPOST_POOL_SIZE", "16");
        command
    }
}

fn start(keys: &Keys, db: &TestDb) -> (Child, String) {
    let (child, lines) = logs::spawn(keys.command(db).arg("serve"));
    let addr = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(60))
            .expect("serve logs its address");
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    (child, addr)
}

#[tokio::test]
async fn acknowledged_changes_survive_a_kill_9_and_the_log_verifies() {
    let db = TestDb::new();
    let keys = Keys::new();
    let owner = user::create(&mut db.conn(), "owner@example.com", Role::Owner).unwrap();
    let bearer = create_api_key(&db, owner.id, &[Capability::ApiKeysManage]);
    let (mut server, addr) = start(&keys, &db);

    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let deadline = Instant::now() + Duration::from_secs(20);
    let clients: Vec<_> = (0..32)
        .map(|n| {
            let (addr, bearer, acknowledged) = (addr.clone(), bearer.clone(), Arc::clone(&acknowledged));
            tokio::spawn(async move {
                let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
                for i in 0.. {
                    if Instant::now() > deadline {
                        break;
                    }
                    let sent = client
                        .post(format!("http://{addr}/api/v1/keys"))
                        .bearer_auth(&bearer)
                        .json(&serde_json::json!({ "name": format!("c{n}-{i}"), "capabilities": ["api_keys.manage"] }))
                        .send()
                        .await;
                    // Once the server is gone, requests fail: stop quietly.
                    let Ok(response) = sent else { break };
                    if response.status() != 201 {
                        break;
                    }
                    let Ok(body) = response.json::<serde_json::Value>().await else { break };
                    if let Some(secret) = body["secret"].as_str() {
                        canary::record(secret);
                    }
                    acknowledged.lock().unwrap().push(body["api_key"]["id"].as_str().unwrap().to_owned());
                }
            })
        })
        .collect();

    // Let the clients get going, then pull the plug: SIGKILL, no shutdown of any kind.
    while acknowledged.lock().unwrap().len() < 100 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill().unwrap();
    server.wait().unwrap();
    for client in clients {
        client.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() >= 100,
        "only {} changes before the kill",
        acknowledged.len()
    );

    use outpost::db::schema::audit_events::dsl::*;
    let logged: Vec<Option<String>> = audit_events
        .filter(action.eq("api_key.created"))
        .select(target)
        .load(&mut db.conn())
        .unwrap();
    for key_id in &acknowledged {
        let expected = format!("api_key:{key_id}");
        assert!(
            logged
                .iter()
                .any(|t| t.as_deref() == Some(expected.as_str())),
            "acknowledged change {key_id} has no audit entry"
        );
    }

    // After the crash the log takes everything in and verifies.
    let signed = logs::output(keys.command(&db).args(["audit", "checkpoint"]));
    assert!(
        signed.status.success(),
        "{}",
        String::from_utf8_lossy(&signed.stderr)
    );
    let verified = logs::output(keys.command(&db).args(["audit", "verify"]));
    assert_eq!(
        verified.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&verified.stdout)
    );
}
