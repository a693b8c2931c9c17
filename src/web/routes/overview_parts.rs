//! The overview's smaller pieces, each turned into what its template shows: open
//! findings by severity, the certificate's expiry, the health gauges, recent audit
//! entries.

use time::OffsetDateTime;

use crate::config::Config;
use crate::diagnostics::bundle::AuditLine;
use crate::fleet::protocol::DiskHealth;
use crate::identity::User;
use crate::scan::Severity;
use crate::scan::findings::Finding;
use crate::scan::posture;
use crate::web::AppState;
use crate::web::gauge::{Gauge, gauge, share};
use crate::web::pages::{relative, size, when};

/// Days before expiry from which the certificate shows amber, then red: the security
/// loop's medium and critical thresholds.
const CERT_WARN_DAYS: i64 = 21;
const CERT_BAD_DAYS: i64 = 7;

pub struct SeverityCount {
    pub severity: &'static str,
    pub count: usize,
    /// What each costs the posture score.
    pub weight: u32,
    pub tone: &'static str,
}

impl SeverityCount {
    /// Every severity, most severe first, with its open findings.
    pub fn all(open: &[Finding]) -> Vec<Self> {
        Severity::ALL
            .into_iter()
            .rev()
            .map(|severity| Self {
                severity: severity.as_str(),
                count: open
                    .iter()
                    .filter(|f| f.severity == severity.as_str())
                    .count(),
                weight: posture::weight(severity),
                tone: match severity {
                    Severity::Critical | Severity::High => "bad",
                    Severity::Medium => "warn",
                    Severity::Low | Severity::Info => "ok",
                },
            })
            .collect()
    }
}

pub struct CertificateView {
    pub text: String,
    pub tone: &'static str,
}

impl CertificateView {
    /// The served certificate's expiry, counted by the same function as the fleet
    /// report; "no TLS" when Outpost serves plain HTTP.
    pub fn of(config: &Config, now: OffsetDateTime) -> Self {
        let Some(cert) = config.tls.cert_file.as_ref() else {
            return Self {
                text: "No TLS: Outpost serves plain HTTP here ([tls] is not set)".into(),
                tone: "warn",
            };
        };
        match crate::tls::certificate::file_not_after(cert) {
            Ok(expires) => {
                let days = crate::tls::certificate::days_left(expires, now);
                let tone = match days {
                    d if d < CERT_BAD_DAYS => "bad",
                    d if d < CERT_WARN_DAYS => "warn",
                    _ => "ok",
                };
                let text = if days < 0 {
                    format!("Expired {} days ago ({})", -days, when(expires))
                } else {
                    format!("Expires in {days} days ({})", when(expires))
                };
                Self { text, tone }
            }
            Err(error) => Self {
                text: format!("Cannot read the certificate: {error}"),
                tone: "bad",
            },
        }
    }
}

pub struct AuditRow {
    pub when: String,
    pub exact: String,
    pub actor: String,
    pub action: String,
    pub outcome: String,
    pub tone: &'static str,
}

impl AuditRow {
    pub fn from_lines(lines: Vec<AuditLine>, members: &[User], now: OffsetDateTime) -> Vec<Self> {
        lines
            .into_iter()
            .map(|line| {
                let actor = members
                    .iter()
                    .find(|u| line.actor == format!("user:{}", u.id))
                    .map_or(line.actor.clone(), |u| u.email.clone());
                Self {
                    when: relative(line.occurred_at, now),
                    exact: when(line.occurred_at),
                    actor,
                    tone: match line.outcome.as_str() {
                        "success" => "ok",
                        "denied" => "bad",
                        _ => "warn",
                    },
                    action: line.action,
                    outcome: line.outcome,
                }
            })
            .collect()
    }
}

/// CPU, memory, and the disks holding `/` and Outpost's data, from the fleet report's
/// sampler (CPU is the share busy since the previous page load).
pub async fn gauges(state: &AppState) -> Vec<Gauge> {
    let sampler = state.host.clone();
    let data_dir = state.config().data_dir.clone();
    let host = tokio::task::spawn_blocking(move || {
        sampler.lock().unwrap_or_else(|p| p.into_inner()).sample()
    })
    .await;
    let Ok(host) = host else {
        return Vec::new();
    };
    let mut shown = vec![
        gauge(
            "gauge-cpu",
            "CPU",
            f64::from(host.cpu_percent),
            format!(
                "{:.0} % busy; load {:.2} {:.2} {:.2}",
                host.cpu_percent, host.load_1m, host.load_5m, host.load_15m
            ),
        ),
        gauge(
            "gauge-memory",
            "Memory",
            share(host.memory_used_bytes, host.memory_total_bytes),
            format!(
                "{} of {} used",
                size(i64::try_from(host.memory_used_bytes).unwrap_or(i64::MAX)),
                size(i64::try_from(host.memory_total_bytes).unwrap_or(i64::MAX))
            ),
        ),
    ];
    let mut disks: Vec<&DiskHealth> = Vec::new();
    for path in [std::path::Path::new("/"), data_dir.as_path()] {
        if let Some(disk) = holding(&host.disks, path)
            && !disks.iter().any(|d| d.mount == disk.mount)
        {
            disks.push(disk);
        }
    }
    for (i, disk) in disks.into_iter().enumerate() {
        let used = disk.total_bytes.saturating_sub(disk.available_bytes);
        shown.push(gauge(
            &format!("gauge-disk-{i}"),
            format!("Disk {}", disk.mount),
            share(used, disk.total_bytes),
            format!(
                "{} of {} used",
                size(i64::try_from(used).unwrap_or(i64::MAX)),
                size(i64::try_from(disk.total_bytes).unwrap_or(i64::MAX))
            ),
        ));
    }
    shown
}

/// The mounted filesystem `path` lives on: the longest mount point it starts with.
fn holding<'a>(disks: &'a [DiskHealth], path: &std::path::Path) -> Option<&'a DiskHealth> {
    disks
        .iter()
        .filter(|d| path.starts_with(&d.mount))
        .max_by_key(|d| d.mount.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(mount: &str) -> DiskHealth {
        DiskHealth {
            mount: mount.into(),
            total_bytes: 10,
            available_bytes: 5,
        }
    }

    #[test]
    fn a_path_lives_on_its_longest_mount() {
        let disks = [disk("/"), disk("/var"), disk("/var/lib/outpost-other")];
        let at = |p: &str| holding(&disks, std::path::Path::new(p)).map(|d| d.mount.as_str());
        assert_eq!(at("/var/lib/outpost"), Some("/var"));
        assert_eq!(at("/etc"), Some("/"));
        assert_eq!(
            holding(&[], std::path::Path::new("/")).map(|d| &d.mount),
            None
        );
    }

    #[test]
    fn no_tls_says_so() {
        let view = CertificateView::of(&Config::default(), OffsetDateTime::now_utc());
        assert!(view.text.starts_with("No TLS"), "{}", view.text);
    }
}
