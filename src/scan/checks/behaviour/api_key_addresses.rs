//! `behaviour.api_key_addresses`: an API key used in the last week from a network it
//! never used before. Scripts run from the same few machines; a leaked key is used
//! from its finder's. A key is judged once it has a history: its first recorded use
//! is at least [`JUDGED_AFTER`] old, so a key still being rolled out is left alone.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::super::super::{Check, CheckError, Context, Found, Severity};
use super::super::hygiene::{describe_key, live_keys, when};
use crate::identity::key_networks::{self, KeyNetwork};

/// Networks first seen this recently are judged; older ones are the key's history.
const RECENT: time::Duration = time::Duration::days(7);
/// How long a key must have been in use before a new network means anything.
const JUDGED_AFTER: time::Duration = time::Duration::days(14);

#[derive(Debug)]
pub struct ApiKeyAddresses;

impl Check for ApiKeyAddresses {
    fn id(&self) -> &'static str {
        "behaviour.api_key_addresses"
    }

    fn title(&self) -> &'static str {
        "API keys are used from their usual networks"
    }

    fn run(&self, cx: &Context<'_>) -> Result<Vec<Found>, CheckError> {
        let mut conn = cx.db.get()?;
        let mut by_key: BTreeMap<Uuid, Vec<KeyNetwork>> = BTreeMap::new();
        for seen in key_networks::all(&mut conn)? {
            by_key.entry(seen.key_id).or_default().push(seen);
        }
        let mut found = Vec::new();
        for (creator, key) in live_keys(&mut conn, cx.now)? {
            let Some(networks) = by_key.get(&key.id) else {
                continue;
            };
            let (recent, history): (Vec<&KeyNetwork>, Vec<&KeyNetwork>) = networks
                .iter()
                .filter(|n| n.first_seen <= cx.now)
                .partition(|n| cx.now - n.first_seen <= RECENT);
            let judged = history
                .iter()
                .any(|n| cx.now - n.first_seen >= JUDGED_AFTER);
            if !judged {
                continue;
            }
            let privileged = key
                .effective_capabilities(creator.role)
                .into_iter()
                .any(|c| c.is_privileged());
            let usual: Vec<&str> = history.iter().map(|n| n.network.as_str()).collect();
            for new in recent {
                found.push(Found::new(
                    format!("api_key:{}:{}", key.id, new.network),
                    if privileged {
                        Severity::High
                    } else {
                        Severity::Medium
                    },
                    "An API key was used from a network it never used before",
                    format!(
                        "{} was used from {} since {} ({} minute(s) of use); before, only from {}{}",
                        describe_key(&creator, &key),
                        new.network,
                        when(new.first_seen),
                        new.uses,
                        usual.join(", "),
                        if privileged {
                            "; it holds Owner or Admin capabilities"
                        } else {
                            ""
                        }
                    ),
                ));
            }
        }
        Ok(found)
    }
}
