//! The skill-directory watch inside the scheduler: a skill installed after the watch
//! started leads to a scan recorded with the trigger `skills_changed`, whose skill
//! check saw the new skill.

use std::time::Duration;

use diesel::prelude::*;
use outpost::db::schema::scans;
use outpost::scan::requests::{Pace, ScanRequests};

use crate::support::backup::Server;

#[test]
fn a_changed_skill_directory_is_scanned() {
    let mut server = Server::new(1);
    let skills = server.dir.path().join("skills");
    std::fs::create_dir_all(&skills).unwrap();
    server.config.scan.skill_directories = vec![skills.clone()];
    server.config.scan.skill_change_quiet = Duration::from_millis(200);
    let services = server.scheduled();
    let watch = services
        .skill_watch()
        .expect("skill directories are watched");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (requests, receiver) = ScanRequests::channel();
    runtime.spawn(watch.run(requests.clone()));
    runtime.spawn(async move {
        services
            .serve_scan_requests(requests, receiver, Pace::default())
            .await
    });
    let skill = skills.join("report-writer");
    std::fs::create_dir_all(&skill).unwrap();
    std::fs::write(skill.join("SKILL.md"), "Write the weekly report.\n").unwrap();

    // Polls until the scan is recorded; the limit only bounds a broken watch.
    let mut conn = server.conn();
    let mut recorded = None;
    for _ in 0..600 {
        recorded = scans::table
            .filter(scans::trigger.eq("skills_changed"))
            .select(scans::checks)
            .first::<serde_json::Value>(&mut conn)
            .optional()
            .unwrap();
        if recorded.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let checks = recorded.expect("a scan with the trigger skills_changed");
    let skill_check = checks
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "agents.skills")
        .unwrap_or_else(|| panic!("the skill check ran: {checks}"));
    assert_eq!(skill_check["status"], "findings", "{skill_check}");
}
