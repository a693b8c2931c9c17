//! Fleet reports for the controller's tests.

use std::collections::BTreeMap;

use outpost::fleet::protocol::{AppHealth, DiskHealth, HostHealth, Report, SecurityHealth};
use time::OffsetDateTime;
use uuid::Uuid;

/// A healthy report: nothing in it breaks a rule.
pub fn healthy_report() -> Report {
    Report {
        id: Uuid::new_v4(),
        taken_at: OffsetDateTime::now_utc(),
        version: "1.0.0".into(),
        region: Some("eu-west".into()),
        host: HostHealth {
            cpu_percent: 12.5,
            memory_used_bytes: 1 << 30,
            memory_total_bytes: 4 << 30,
            load_1m: 0.1,
            load_5m: 0.1,
            load_15m: 0.1,
            uptime_secs: 3600,
            disks: vec![DiskHealth {
                mount: "/".into(),
                total_bytes: 100,
                available_bytes: 60,
            }],
        },
        app: AppHealth {
            web_ready: true,
            database_reachable: true,
            scheduler_alive: true,
            ssh_reachable: true,
            ssh_banner: Some("SSH-2.0-OpenSSH_9.6".into()),
            last_backup_age_hours: Some(3.0),
            last_drill_ok: Some(true),
            certificate_days_left: Some(60),
        },
        security: SecurityHealth {
            open_findings: BTreeMap::new(),
            hardening_drift: 0,
            mttr_secs: None,
            auto_fix_rate: None,
        },
    }
}
