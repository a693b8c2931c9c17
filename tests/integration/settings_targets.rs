//! Backup targets defined on the Settings page (`backup.targets`) against real
//! PostgreSQL: added, listed as the dashboard's, tested, scheduled to, kept over a
//! restart and audited; bad definitions, unknown credentials and removing the
//! scheduled target are refused and store nothing; file targets are only overridden.

use std::collections::BTreeMap;
use std::path::PathBuf;

use outpost::backup::settings::TargetSettings;
use outpost::identity::{Capability, Role};
use outpost::vault::Vault;
use serde_json::json;

use crate::settings::{entry, patch, restarted, settings_audit, stored_keys};
use crate::support::app::TestApp;
use crate::support::stored;

async fn page(member: &crate::support::app::Member) -> String {
    member.browser.get("/settings").await.text().await.unwrap()
}

#[tokio::test]
async fn a_local_target_added_on_the_page_is_tested_scheduled_kept_and_audited() {
    let app = TestApp::start().await;
    let owner = app.owner("owner@example.com").await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("nas");
    let root_text = root.to_str().unwrap().to_owned();

    let saved = owner
        .browser
        .submit(
            "/settings",
            "/settings/targets",
            &[("name", "nas"), ("type", "local"), ("path", &root_text)],
        )
        .await;
    assert_eq!(saved.status(), 303);
    assert_eq!(
        saved.headers()["location"],
        "/settings?notice=target_saved#backups"
    );
    let html = page(&owner).await;
    assert!(html.contains("<code>nas</code>"), "{html}");
    assert!(html.contains("Remove nas"), "{html}");
    assert!(html.contains(&root_text));
    // Offered to the scheduled target and to the test.
    assert!(
        html.contains("<option value=\"nas\">nas</option>"),
        "{html}"
    );

    // The test writes into the new directory.
    let tested = owner
        .browser
        .submit("/settings", "/settings/test-target", &[("target", "nas")])
        .await;
    assert_eq!(tested.status(), 200);
    assert!(tested.text().await.unwrap().contains("gave it back intact"));
    assert!(root.is_dir(), "the test did not reach the directory");

    // It can be scheduled to, and is the target in force.
    let scheduled = owner
        .browser
        .submit(
            "/settings",
            "/settings/backups",
            &[("backup.target", "nas")],
        )
        .await;
    assert_eq!(scheduled.status(), 303);
    let config = app.settings.config();
    assert_eq!(config.backup.target, "nas");
    let expected = TargetSettings::Local { path: root.clone() };
    assert_eq!(config.backup.targets.get("nas"), Some(&expected));

    // Kept over a restart.
    let state = restarted(&app);
    assert_eq!(state.config().backup.target, "nas");
    assert_eq!(
        state.config().backup.dashboard_targets,
        BTreeMap::from([("nas".to_owned(), expected.clone())])
    );

    // Audited with from and to; the API shows the dashboard's map.
    let audit = settings_audit(&app);
    let added = audit
        .iter()
        .find(|(_, t, _)| t.as_deref() == Some("backup.targets"))
        .unwrap();
    assert_eq!(added.0, "settings.changed");
    assert_eq!(added.2["from"], json!({}));
    assert_eq!(
        added.2["to"],
        json!({"nas": {"type": "local", "path": root_text}})
    );
    let key = app.api_key(owner.id, &[Capability::SettingsManage]);
    let listing = app.api_json("/api/v1/settings", &key).await;
    assert_eq!(
        entry(&listing, "backup.targets")["value"],
        json!({"nas": {"type": "local", "path": root_text}})
    );
    assert_eq!(entry(&listing, "backup.targets")["source"], "dashboard");

    // The scheduled target cannot be removed.
    let refused = owner
        .browser
        .submit("/settings", "/settings/targets/remove", &[("name", "nas")])
        .await;
    assert_eq!(refused.status(), 200);
    let html = refused.text().await.unwrap();
    assert!(html.contains("cannot remove `nas`"), "{html}");
    assert!(app.settings.config().backup.targets.contains_key("nas"));

    // Scheduled elsewhere, it can; the removal is audited.
    let back = owner
        .browser
        .submit(
            "/settings",
            "/settings/backups",
            &[("backup.target", "local")],
        )
        .await;
    assert_eq!(back.status(), 303);
    let removed = owner
        .browser
        .submit("/settings", "/settings/targets/remove", &[("name", "nas")])
        .await;
    assert_eq!(removed.status(), 303);
    assert!(!app.settings.config().backup.targets.contains_key("nas"));
    // (`local` is the file's target, so that change reverted `backup.target` too.)
    assert!(stored_keys(&app).is_empty());
    let audit = settings_audit(&app);
    let last = audit.last().unwrap();
    assert_eq!(last.0, "settings.reverted");
    assert_eq!(last.1.as_deref(), Some("backup.targets"));
}

#[tokio::test]
async fn bad_targets_are_refused_and_nothing_is_stored() {
    let app = TestApp::start().await;
    let owner = app.owner("owner@example.com").await;
    let s3 = |access: &'static str| {
        vec![
            ("name", "offsite"),
            ("type", "s3"),
            ("bucket", "backups"),
            ("endpoint", "https://s3.example.net"),
            ("access_key_id_credential", access),
            ("secret_access_key_credential", "S3 secret"),
        ]
    };
    for (form, message) in [
        (
            vec![("name", "nas"), ("type", "local"), ("path", "relative/dir")],
            "the path must be absolute",
        ),
        (
            vec![("name", "bad name"), ("type", "local"), ("path", "/srv/b")],
            "target names are letters",
        ),
        (s3("S3 access"), "no stored credential has that name"),
    ] {
        let refused = owner
            .browser
            .submit("/settings", "/settings/targets", &form)
            .await;
        assert_eq!(refused.status(), 200, "{form:?}");
        let html = refused.text().await.unwrap();
        assert!(html.contains("Nothing was saved"), "{html}");
        assert!(html.contains(message), "{message}: {html}");
    }
    // A file target can be replaced, not removed.
    let refused = owner
        .browser
        .submit(
            "/settings",
            "/settings/targets/remove",
            &[("name", "local")],
        )
        .await;
    assert_eq!(refused.status(), 200);
    assert!(refused.text().await.unwrap().contains("not removed"));

    let key = app.api_key(owner.id, &[Capability::SettingsManage]);
    let response = patch(
        &app,
        &key,
        json!({"backup.targets": {"nas": {"type": "local", "path": "rel"}}}),
    )
    .await;
    assert_eq!(response.status(), 422);
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "backup.targets");
    assert!(stored_keys(&app).is_empty());
    assert!(settings_audit(&app).is_empty());

    // With the credentials stored, the S3 target is taken.
    {
        let vault = Vault::load(app.keyring.clone()).unwrap();
        let user = outpost::identity::user::find_by_email(&mut app.db.conn(), "owner@example.com")
            .unwrap()
            .unwrap();
        let mut conn = app.db.conn();
        stored::credential(&mut conn, &vault, &user, "S3 access", "AKIAEXAMPLE");
        stored::credential(&mut conn, &vault, &user, "S3 secret", "secret");
    }
    let saved = owner
        .browser
        .submit("/settings", "/settings/targets", &s3("S3 access"))
        .await;
    assert_eq!(saved.status(), 303);
    let config = app.settings.config();
    match config.backup.targets.get("offsite") {
        Some(TargetSettings::S3 {
            bucket,
            region,
            access_key_id_credential,
            ..
        }) => {
            assert_eq!(bucket, "backups");
            assert_eq!(region, "us-east-1");
            assert_eq!(access_key_id_credential, "S3 access");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_file_target_is_overridden_and_comes_back() {
    let file_dir = PathBuf::from("/srv/outpost-file-target");
    let app = TestApp::start_with(
        |config| {
            config.backup.targets.insert(
                "nas".into(),
                TargetSettings::Local {
                    path: file_dir.clone(),
                },
            );
        },
        None,
    )
    .await;
    let owner = app.owner("owner@example.com").await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap().to_owned();
    let saved = owner
        .browser
        .submit(
            "/settings",
            "/settings/targets",
            &[("name", "nas"), ("type", "local"), ("path", &path)],
        )
        .await;
    assert_eq!(saved.status(), 303);
    assert!(
        page(&owner)
            .await
            .contains("dashboard (over the config file")
    );
    assert_eq!(
        app.settings.config().backup.targets["nas"],
        TargetSettings::Local {
            path: dir.path().into()
        }
    );
    let removed = owner
        .browser
        .submit("/settings", "/settings/targets/remove", &[("name", "nas")])
        .await;
    assert_eq!(removed.status(), 303);
    assert_eq!(
        app.settings.config().backup.targets["nas"],
        TargetSettings::Local { path: file_dir }
    );
    let html = page(&owner).await;
    assert!(!html.contains("Remove nas"));
    assert!(html.contains("config file"));
}

#[tokio::test]
async fn viewers_cannot_change_targets() {
    let app = TestApp::start().await;
    let _owner = app.owner("owner@example.com").await;
    let viewer = app.member("viewer@example.com", Role::Viewer).await;
    for (action, fields) in [
        (
            "/settings/targets",
            vec![("name", "nas"), ("type", "local"), ("path", "/tmp/x")],
        ),
        ("/settings/targets/remove", vec![("name", "nas")]),
    ] {
        let posted = viewer.browser.submit("/account", action, &fields).await;
        assert_eq!(posted.status(), 403, "{action}");
    }
    assert!(stored_keys(&app).is_empty());
}
