//! The `[fleet]` section: where this server reports its health, and how often.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::human_duration;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct FleetSettings {
    /// The fleet controller's base URL (`https://fleet.example.com`); blank: this
    /// server does not report. Enrol first with `outpost fleet enroll`.
    pub controller_url: String,
    /// Time between health reports.
    #[serde(with = "human_duration")]
    pub interval: Duration,
    /// Where this server runs (`eu-west`, `fra1`), shown on the controller.
    pub region: String,
    /// The SSH daemon whose banner proves the server can still be reached to repair it.
    pub ssh_address: SocketAddr,
    /// Reports kept while the controller is unreachable (the oldest go first): a day
    /// at the default interval.
    pub buffer: usize,
}

impl Default for FleetSettings {
    fn default() -> Self {
        Self {
            controller_url: String::new(),
            interval: Duration::from_secs(60),
            region: String::new(),
            ssh_address: SocketAddr::from(([127, 0, 0, 1], 22)),
            buffer: 1440,
        }
    }
}

impl FleetSettings {
    /// The controller's URL without a trailing slash; none when reporting is off.
    pub fn controller(&self) -> Option<&str> {
        let url = self.controller_url.trim().trim_end_matches('/');
        (!url.is_empty()).then_some(url)
    }

    /// The region, if one is set.
    pub fn region(&self) -> Option<String> {
        let region = self.region.trim();
        (!region.is_empty()).then(|| region.to_owned())
    }

    /// One line naming the bad key, or nothing.
    pub fn problem(&self) -> Option<(String, String)> {
        if let Some(url) = self.controller()
            && let Err(why) = check_controller_url(url)
        {
            return Some(("fleet.controller_url".into(), why));
        }
        if self.interval < Duration::from_secs(1) {
            return Some(("fleet.interval".into(), "must be at least 1s".into()));
        }
        if self.buffer == 0 {
            return Some(("fleet.buffer".into(), "must be at least 1".into()));
        }
        None
    }
}

/// An http(s) URL with a host: the controller's address, from the config or `--controller`.
pub fn check_controller_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("`{url}` is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(format!(
            "`{url}` must be an http:// or https:// URL with a host"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_controller_means_not_reporting_and_bad_values_are_named() {
        let mut settings = FleetSettings::default();
        assert_eq!(settings.controller(), None);
        assert!(settings.problem().is_none());
        settings.controller_url = "https://fleet.example.com/".into();
        assert_eq!(settings.controller(), Some("https://fleet.example.com"));
        assert!(settings.problem().is_none());
        settings.controller_url = "ftp://fleet.example.com".into();
        assert_eq!(settings.problem().unwrap().0, "fleet.controller_url");
        settings.controller_url = String::new();
        settings.buffer = 0;
        assert_eq!(settings.problem().unwrap().0, "fleet.buffer");
        settings.buffer = 1;
        settings.interval = Duration::from_millis(10);
        assert_eq!(settings.problem().unwrap().0, "fleet.interval");
    }
}
