//! `behaviour.sign_ins`: anomalies in the sign-in record (the audit log's
//! `session.sign_in`): a member signing in from a network they never used before, or
//! at an hour far from all their earlier sign-ins, and bursts of failed sign-ins. A
//! stolen password looks like its owner everywhere else. The security loop's own
//! announced sign-in probes (`identity::sign_in_probe`) are not an attack and are not
//! counted.

use std::collections::{BTreeMap, BTreeSet};

use diesel::prelude::*;
use time::OffsetDateTime;

use super::super::super::{Check, CheckError, Context, Found, Severity};
use crate::db::schema::audit_events;
use crate::identity::{network, sign_in_probe};

/// Sign-ins this recent are judged; older ones are the member's history.
const RECENT: time::Duration = time::Duration::days(7);
/// How far back the history reaches.
const HISTORY: time::Duration = time::Duration::days(180);
/// A member needs this many earlier sign-ins before anything is unusual for them.
const BASELINE: usize = 3;
/// Hours away from every earlier sign-in's hour (around the clock) that is unusual.
const ODD_HOURS: u8 = 5;
/// Failed sign-ins in the last hour that make a burst: everywhere, and from one address.
const BURST_ALL: usize = 30;
const BURST_ONE: usize = 10;

/// Actor, outcome, time, address and target of one `session.sign_in` entry.
type SignInRow = (
    String,
    String,
    OffsetDateTime,
    Option<String>,
    Option<String>,
);

#[derive(Debug)]
pub struct SignIns;

impl Check for SignIns {
    fn id(&self) -> &'static str {
        "behaviour.sign_ins"
    }

    fn title(&self) -> &'static str {
        "Sign-ins look like their members"
    }

    fn run(&self, cx: &Context<'_>) -> Result<Vec<Found>, CheckError> {
        let mut conn = cx.db.get()?;
        let rows: Vec<SignInRow> = audit_events::table
            .filter(audit_events::action.eq("session.sign_in"))
            .filter(audit_events::occurred_at.gt(cx.now - HISTORY))
            .filter(audit_events::occurred_at.le(cx.now))
            .order(audit_events::occurred_at.asc())
            .select((
                audit_events::actor,
                audit_events::outcome,
                audit_events::occurred_at,
                audit_events::source_ip,
                audit_events::target,
            ))
            .load(&mut conn)?;
        let probes = sign_in_probe::recent_targets(&mut conn, cx.now)?;
        let mut found = Vec::new();
        let mut by_member: BTreeMap<&str, Vec<(OffsetDateTime, Option<&str>)>> = BTreeMap::new();
        let mut failures = Vec::new();
        for (actor, outcome, at, ip, target) in &rows {
            if outcome == "success" {
                by_member
                    .entry(actor.as_str())
                    .or_default()
                    .push((*at, ip.as_deref()));
            } else if cx.now - *at <= time::Duration::hours(1)
                && !target.as_ref().is_some_and(|t| probes.contains(t))
            {
                failures.push(ip.as_deref().unwrap_or("unknown"));
            }
        }
        for (member, sign_ins) in &by_member {
            found.extend(unusual(member, sign_ins, cx.now));
        }
        found.extend(bursts(&failures));
        Ok(found)
    }
}

/// The member's recent sign-ins that their history does not explain.
fn unusual(
    member: &str,
    sign_ins: &[(OffsetDateTime, Option<&str>)],
    now: OffsetDateTime,
) -> Vec<Found> {
    let (history, recent): (Vec<_>, Vec<_>) =
        sign_ins.iter().partition(|(at, _)| now - *at > RECENT);
    if history.len() < BASELINE {
        return Vec::new();
    }
    let networks: BTreeSet<String> = history
        .iter()
        .filter_map(|(_, ip)| member_network((*ip)?))
        .collect();
    let hours: Vec<u8> = history.iter().map(|(at, _)| at.hour()).collect();
    let mut found = Vec::new();
    let mut reported = BTreeSet::new();
    for (at, ip) in recent {
        if let Some(net) = ip.and_then(member_network)
            && !networks.contains(&net)
            && reported.insert(net.clone())
        {
            found.push(Found::new(
                format!("signin:{member}:{net}"),
                Severity::Medium,
                "A member signed in from a network they never used before",
                format!(
                    "{member} signed in from {} ({net}) at {at}",
                    ip.unwrap_or("?")
                ),
            ));
        }
        let distance = hours
            .iter()
            .map(|h| {
                let d = h.abs_diff(at.hour());
                d.min(24 - d)
            })
            .min()
            .unwrap_or(0);
        if distance >= ODD_HOURS {
            found.push(Found::new(
                format!("signin-hour:{member}:{}", at.date()),
                Severity::Low,
                "A member signed in at an hour unlike any before",
                format!(
                    "{member} signed in at {:02}:{:02} UTC; their earlier sign-ins were all at least {distance} hours away",
                    at.hour(),
                    at.minute()
                ),
            ));
        }
    }
    found
}

/// A burst of failed sign-ins in the last hour: overall, and from one address.
fn bursts(failures: &[&str]) -> Vec<Found> {
    let mut found = Vec::new();
    if failures.len() >= BURST_ALL {
        found.push(Found::new(
            "signin-failures:all",
            Severity::High,
            "A burst of failed sign-ins",
            format!("{} failed sign-ins in the last hour", failures.len()),
        ));
    }
    let mut per_address: BTreeMap<&str, usize> = BTreeMap::new();
    for ip in failures {
        *per_address.entry(ip).or_default() += 1;
    }
    for (ip, n) in per_address.into_iter().filter(|(_, n)| *n >= BURST_ONE) {
        found.push(Found::new(
            format!("signin-failures:{ip}"),
            Severity::Medium,
            "One address keeps failing to sign in",
            format!("{n} failed sign-ins from {ip} in the last hour"),
        ));
    }
    found
}

/// A member's network: the /24 of an IPv4 address, the /48 of an IPv6 one (people
/// move around their provider's larger IPv6 block).
fn member_network(ip: &str) -> Option<String> {
    network::of(ip, 48)
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn a_new_network_and_an_odd_hour_stand_out_only_after_a_baseline() {
        let now = datetime!(2026-12-06 12:00 UTC);
        let day = |d: i64, h: u8| {
            now - time::Duration::days(d) + time::Duration::hours(i64::from(h) - 12)
        };
        let mut sign_ins = vec![
            (day(30, 9), Some("198.51.100.4")),
            (day(20, 10), Some("198.51.100.9")),
            (day(10, 9), Some("198.51.100.4")),
            // Recent: home network, usual hour; then another network at 03:00.
            (day(2, 10), Some("198.51.100.7")),
            (day(1, 3), Some("203.0.113.50")),
        ];
        let found = unusual("user:a", &sign_ins, now);
        let subjects: Vec<&str> = found.iter().map(|f| f.subject.as_str()).collect();
        assert_eq!(
            subjects,
            [
                "signin:user:a:203.0.113.0/24",
                "signin-hour:user:a:2026-12-05"
            ]
        );
        // Without three earlier sign-ins, nothing is unusual yet.
        sign_ins.remove(0);
        assert!(unusual("user:a", &sign_ins, now).is_empty());
    }

    #[test]
    fn bursts_count_overall_and_per_address() {
        let mut failures = vec!["192.0.2.1"; 12];
        failures.extend(vec!["192.0.2.2"; 3]);
        let subjects: Vec<String> = bursts(&failures).into_iter().map(|f| f.subject).collect();
        assert_eq!(subjects, ["signin-failures:192.0.2.1"]);
        let many = ["192.0.2.3"; 30];
        let subjects: Vec<String> = bursts(&many).into_iter().map(|f| f.subject).collect();
        assert_eq!(
            subjects,
            ["signin-failures:all", "signin-failures:192.0.2.3"]
        );
    }
}
