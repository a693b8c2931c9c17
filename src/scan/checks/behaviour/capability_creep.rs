//! `behaviour.capability_creep`: a member whose role rose, or an API key whose
//! capabilities grew, since the previous scan.
//!
//! Each scan keeps what every member and live key could do then (`access_snapshots`)
//! and compares with what they can do now. A member or key it has not seen before is
//! recorded, not reported: people join through invitations, approved and audited,
//! and so the first scan reports nothing. A key's capabilities are the ones it may
//! use (its grant less what its creator's role lacks), so a key grows when its
//! creator is promoted back, or when its stored grant is changed behind Outpost's back.
//!
//! A rise stays reported for [`REPORTED_FOR`] after the scan that saw it, then
//! resolves by itself: long enough for the alert to be read, with nothing to
//! acknowledge, and the same whether the rise was meant or not. It resolves sooner if
//! the access falls back to what it was; a further rise starts the week again.

use std::collections::{BTreeMap, BTreeSet};

use diesel::prelude::*;
use time::OffsetDateTime;

use super::super::super::{Check, CheckError, Context, Found, Severity};
use super::super::hygiene::{describe_key, live_keys, when};
use crate::db::schema::access_snapshots;
use crate::identity::{Capability, Role, user};

const REPORTED_FOR: time::Duration = time::Duration::days(7);

#[derive(Debug)]
pub struct CapabilityCreep;

/// What a subject could do at the last scan, and its last rise.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = access_snapshots)]
struct Snapshot {
    subject: String,
    grants: Vec<String>,
    grew_from: Option<Vec<String>>,
    grew_at: Option<OffsetDateTime>,
}

/// One member or key as it is now.
struct Current {
    subject: String,
    /// The role's name, or the key's capability names (sorted).
    grants: Vec<String>,
    /// Who it is, for evidence.
    who: String,
    is_member: bool,
}

impl Check for CapabilityCreep {
    fn id(&self) -> &'static str {
        "behaviour.capability_creep"
    }

    fn title(&self) -> &'static str {
        "Nobody's access grew unnoticed"
    }

    fn run(&self, cx: &Context<'_>) -> Result<Vec<Found>, CheckError> {
        let mut conn = cx.db.get()?;
        conn.transaction(|conn| {
            let current = everyone(conn, cx.now)?;
            let previous: BTreeMap<String, Snapshot> = access_snapshots::table
                .select(Snapshot::as_select())
                .for_update()
                .load(conn)?
                .into_iter()
                .map(|s| (s.subject.clone(), s))
                .collect();
            let mut found = Vec::new();
            for now in &current {
                let (mut grew_from, mut grew_at) = (None, None);
                if let Some(before) = previous.get(&now.subject) {
                    if rose(now.is_member, &before.grants, &now.grants) {
                        (grew_from, grew_at) = (Some(before.grants.clone()), Some(cx.now));
                    } else if let (Some(from), Some(at)) = (&before.grew_from, before.grew_at)
                        && rose(now.is_member, from, &now.grants)
                    {
                        (grew_from, grew_at) = (Some(from.clone()), Some(at));
                    }
                }
                if let (Some(from), Some(at)) = (&grew_from, grew_at)
                    && cx.now - at < REPORTED_FOR
                {
                    found.push(report(now, from, at));
                }
                save(conn, now, grew_from, grew_at, cx.now)?;
            }
            let kept: Vec<&str> = current.iter().map(|c| c.subject.as_str()).collect();
            diesel::delete(access_snapshots::table.filter(access_snapshots::subject.ne_all(kept)))
                .execute(conn)?;
            Ok(found)
        })
    }
}

/// Every member with their role, and every live key with what it may use.
fn everyone(conn: &mut PgConnection, now: OffsetDateTime) -> QueryResult<Vec<Current>> {
    let mut current: Vec<Current> = user::all(conn)?
        .into_iter()
        .map(|member| Current {
            subject: format!("member:{}", member.id),
            grants: vec![member.role.as_str().to_owned()],
            who: member.email,
            is_member: true,
        })
        .collect();
    for (creator, key) in live_keys(conn, now)? {
        let mut grants: Vec<String> = key
            .effective_capabilities(creator.role)
            .iter()
            .map(|c| c.as_str().to_owned())
            .collect();
        grants.sort();
        current.push(Current {
            subject: format!("api_key:{}", key.id),
            grants,
            who: describe_key(&creator, &key),
            is_member: false,
        });
    }
    Ok(current)
}

/// Whether `now` allows more than `before`: a higher role, or any capability added.
fn rose(is_member: bool, before: &[String], now: &[String]) -> bool {
    if is_member {
        let rank = |grants: &[String]| {
            let role: Role = grants.first()?.parse().ok()?;
            Role::ALL.iter().position(|r| *r == role)
        };
        // Role::ALL lists the highest role first.
        matches!((rank(before), rank(now)), (Some(b), Some(n)) if n < b)
    } else {
        now.iter().any(|c| !before.contains(c))
    }
}

fn report(now: &Current, from: &[String], at: OffsetDateTime) -> Found {
    let seen = when(at);
    if now.is_member {
        let role: Option<Role> = now.grants.first().and_then(|r| r.parse().ok());
        let high = role.is_some_and(Role::is_privileged);
        return Found::new(
            now.subject.clone(),
            if high {
                Severity::High
            } else {
                Severity::Medium
            },
            "A member's role rose",
            format!(
                "{} went from {} to {} (seen by the scan of {seen})",
                now.who,
                from.join(", "),
                now.grants.join(", ")
            ),
        );
    }
    let before: BTreeSet<&str> = from.iter().map(String::as_str).collect();
    let added: Vec<Capability> = now
        .grants
        .iter()
        .filter(|c| !before.contains(c.as_str()))
        .filter_map(|c| c.parse().ok())
        .collect();
    let wildcard = now.grants.len() == Capability::ALL.len();
    let high = wildcard || added.iter().any(|c| c.is_privileged());
    let added: Vec<&str> = added.iter().map(|c| c.as_str()).collect();
    Found::new(
        now.subject.clone(),
        if high {
            Severity::High
        } else {
            Severity::Medium
        },
        "An API key's capabilities grew",
        format!(
            "{} gained {}{} (seen by the scan of {seen})",
            now.who,
            added.join(", "),
            if wildcard {
                "; it now holds every capability"
            } else {
                ""
            }
        ),
    )
}

fn save(
    conn: &mut PgConnection,
    now: &Current,
    grew_from: Option<Vec<String>>,
    grew_at: Option<OffsetDateTime>,
    at: OffsetDateTime,
) -> QueryResult<()> {
    let values = (
        access_snapshots::grants.eq(&now.grants),
        access_snapshots::taken_at.eq(at),
        access_snapshots::grew_from.eq(&grew_from),
        access_snapshots::grew_at.eq(grew_at),
    );
    diesel::insert_into(access_snapshots::table)
        .values((access_snapshots::subject.eq(&now.subject), values))
        .on_conflict(access_snapshots::subject)
        .do_update()
        .set(values)
        .execute(conn)
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::rose;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_rise_is_a_higher_role_or_any_added_capability() {
        assert!(rose(true, &names(&["developer"]), &names(&["admin"])));
        assert!(!rose(true, &names(&["admin"]), &names(&["viewer"])));
        assert!(!rose(true, &names(&["admin"]), &names(&["admin"])));
        assert!(!rose(true, &names(&["no such role"]), &names(&["owner"])));
        let before = names(&["audit.view", "findings.view"]);
        assert!(!rose(false, &before, &names(&["audit.view"])));
        assert!(rose(false, &before, &names(&["audit.view", "team.manage"])));
    }
}
