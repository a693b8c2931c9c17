//! Taking one health report: the host's vital signs (sysinfo), whether the app and SSH
//! answer, and the security state the database records (backups, findings, drift).
//!
//! The [`HostSampler`] lives as long as the reporter: CPU usage is a difference
//! between two samples, and refreshing only CPU, RAM and disk space keeps a sample
//! to a few reads of /proc and one statfs per mount.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use sysinfo::{DiskRefreshKind, Disks, MemoryRefreshKind, System};
use time::OffsetDateTime;
use uuid::Uuid;

use super::protocol::{AppHealth, DiskHealth, HostHealth, Report, SecurityHealth};
use crate::config::Config;
use crate::db::{self, Db, DbError};
use crate::scheduler::Heartbeat;

/// How long the SSH daemon gets to accept and greet.
pub const SSH_TIMEOUT: Duration = Duration::from_secs(3);
/// MTTR and the auto-fix rate cover this window, as on the security page.
const METRICS_WINDOW: time::Duration = time::Duration::days(30);
/// RFC 4253 §4.2: the identification line is at most 255 bytes.
const LONGEST_BANNER: u64 = 255;

#[derive(Debug)]
pub struct HostSampler {
    system: System,
    disks: Disks,
}

impl Default for HostSampler {
    fn default() -> Self {
        Self::new()
    }
}

impl HostSampler {
    pub fn new() -> Self {
        let mut system = System::new();
        // The first CPU reading is the baseline the next sample's usage is measured from.
        system.refresh_cpu_usage();
        Self {
            system,
            disks: Disks::new(),
        }
    }

    pub fn sample(&mut self) -> HostHealth {
        self.system.refresh_cpu_usage();
        self.system
            .refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram());
        // Mounts come and go (a backup disk): the list is re-read each time.
        self.disks
            .refresh_specifics(true, DiskRefreshKind::nothing().with_storage());
        let load = System::load_average();
        let mut disks: Vec<DiskHealth> = Vec::new();
        for disk in self.disks.list().iter().filter(|d| d.total_space() > 0) {
            let mount = disk.mount_point().to_string_lossy().into_owned();
            // A bind mount shows the same filesystem twice: once is enough.
            if disks.iter().any(|d| d.mount == mount) {
                continue;
            }
            disks.push(DiskHealth {
                mount,
                total_bytes: disk.total_space(),
                available_bytes: disk.available_space(),
            });
        }
        HostHealth {
            cpu_percent: self.system.global_cpu_usage(),
            memory_used_bytes: self.system.used_memory(),
            memory_total_bytes: self.system.total_memory(),
            load_1m: load.one,
            load_5m: load.five,
            load_15m: load.fifteen,
            uptime_secs: System::uptime(),
            disks,
        }
    }
}

/// The SSH daemon's identification line (`SSH-2.0-OpenSSH_9.6`), if it accepts a
/// connection and sends one within `timeout`. Blocking.
pub fn ssh_banner(addr: SocketAddr, timeout: Duration) -> Option<String> {
    let stream = TcpStream::connect_timeout(&addr, timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    let mut line = String::new();
    // Servers may send other lines first (RFC 4253 §4.2); the banner starts with `SSH-`.
    let mut reader = BufReader::new(std::io::Read::take(stream, 8 * LONGEST_BANNER));
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let trimmed = line.trim_end();
        if trimmed.starts_with("SSH-") {
            return Some(trimmed.to_owned());
        }
    }
}

/// What the database says, read in one go.
struct Recorded {
    migrations_current: bool,
    last_complete_at: Option<OffsetDateTime>,
    last_drill_ok: Option<bool>,
    security: SecurityHealth,
}

fn recorded(
    conn: &mut diesel::PgConnection,
    config: &Config,
    now: OffsetDateTime,
) -> Result<Recorded, DbError> {
    let migrations_current = db::migrations_current(conn)?;
    let backups = crate::backup::status::load(conn, config, now)?;
    let last_drill_ok = backups
        .last_drill
        .as_ref()
        .filter(|drill| drill.outcome != "running")
        .map(|drill| drill.outcome == "passed");
    let open_findings: BTreeMap<String, i64> = crate::scan::findings::open_by_severity(conn)?
        .into_iter()
        .map(|(severity, n)| (severity.to_owned(), n))
        .collect();
    let metrics = crate::scan::metrics::load(conn, now - METRICS_WINDOW)?;
    let hardening_drift = crate::host::status::latest(conn)?
        .iter()
        .filter(|check| check.root == "/" && check.status == "drift")
        .count() as i64;
    Ok(Recorded {
        migrations_current,
        last_complete_at: backups.last_complete_at,
        last_drill_ok,
        security: SecurityHealth {
            open_findings,
            hardening_drift,
            mttr_secs: metrics.mean_time_to_resolution.map(|d| d.as_secs()),
            auto_fix_rate: metrics.auto_fix_rate,
        },
    })
}

/// Takes reports for one server.
#[derive(Debug)]
pub struct Gatherer {
    config: Arc<Config>,
    db: Db,
    /// The scheduler's pulse; none where no scheduler runs.
    heartbeat: Option<Arc<Heartbeat>>,
    host: HostSampler,
}

impl Gatherer {
    pub fn new(config: Arc<Config>, db: Db, heartbeat: Option<Arc<Heartbeat>>) -> Self {
        Self {
            config,
            db,
            heartbeat,
            host: HostSampler::new(),
        }
    }

    pub async fn report(&mut self) -> Report {
        let now = OffsetDateTime::now_utc();
        let host = self.host.sample();
        let ssh_address = self.config.fleet.ssh_address;
        let ssh = tokio::task::spawn_blocking(move || ssh_banner(ssh_address, SSH_TIMEOUT));
        let config = Arc::clone(&self.config);
        let recorded = self.db.run(move |conn| recorded(conn, &config, now)).await;
        let ssh_banner = ssh.await.ok().flatten();
        let (database_reachable, recorded) = match recorded {
            Ok(recorded) => (true, Some(recorded)),
            Err(error) => {
                tracing::warn!(%error, "health report: the database did not answer");
                (false, None)
            }
        };
        let hours_since = |at: OffsetDateTime| (now - at).as_seconds_f64().max(0.0) / 3600.0;
        Report {
            id: Uuid::new_v4(),
            taken_at: now,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            region: self.config.fleet.region(),
            host,
            app: AppHealth {
                web_ready: recorded.as_ref().is_some_and(|r| r.migrations_current),
                database_reachable,
                scheduler_alive: self.heartbeat.as_ref().is_some_and(|h| h.alive()),
                ssh_reachable: ssh_banner.is_some(),
                ssh_banner,
                last_backup_age_hours: recorded
                    .as_ref()
                    .and_then(|r| r.last_complete_at)
                    .map(hours_since),
                last_drill_ok: recorded.as_ref().and_then(|r| r.last_drill_ok),
                certificate_days_left: self.certificate_days_left(now),
            },
            security: recorded
                .map(|r| r.security)
                .unwrap_or_else(|| SecurityHealth {
                    open_findings: BTreeMap::new(),
                    hardening_drift: 0,
                    mttr_secs: None,
                    auto_fix_rate: None,
                }),
        }
    }

    /// Days until the configured certificate file expires (negative once it has).
    fn certificate_days_left(&self, now: OffsetDateTime) -> Option<i64> {
        let cert = self.config.tls.cert_file.as_ref()?;
        match crate::tls::certificate::file_days_left(cert, now) {
            Ok(days) => Some(days),
            Err(error) => {
                tracing::warn!(%error, cert_file = %cert.display(), "health report: certificate unreadable");
                None
            }
        }
    }
}
