//! The networks each API key is used from, so a key used from somewhere new stands
//! out. Recorded as keys authenticate, but written only when it adds something: a
//! key's first use from a network, or its first use there in a minute. A key calling
//! the API in a loop costs one write a minute, not one a request.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use diesel::prelude::*;
use diesel::upsert::excluded;
use time::OffsetDateTime;
use uuid::Uuid;

use super::network;
use crate::db::schema::api_key_networks;

/// An IPv6 /64 is one subscriber's network; a /24 is the IPv4 equivalent.
pub const V6_PREFIX: u8 = 64;
/// A key's use from the network it used last is written at most this often.
const REWRITE_AFTER: time::Duration = time::Duration::minutes(1);

/// One network a key was used from.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = api_key_networks)]
pub struct KeyNetwork {
    pub key_id: Uuid,
    pub network: String,
    pub first_seen: OffsetDateTime,
    pub last_seen: OffsetDateTime,
    /// Minutes in which the key was used from there.
    pub uses: i64,
}

/// Remembers, per key, the network and time last written, so repeated uses skip the
/// database. One entry per key that authenticated since the process started.
#[derive(Debug, Default)]
pub struct Recorder {
    written: Mutex<HashMap<Uuid, (String, OffsetDateTime)>>,
}

impl Recorder {
    /// Records that key `key_id` was used from `ip` at `now`, unless that was already
    /// written in the last minute. Addresses that are not addresses record nothing.
    pub fn record(
        &self,
        conn: &mut PgConnection,
        key_id: Uuid,
        ip: Option<&str>,
        now: OffsetDateTime,
    ) -> QueryResult<()> {
        let Some(network) = ip.and_then(|ip| network::of(ip, V6_PREFIX)) else {
            return Ok(());
        };
        let fresh = |written: &HashMap<Uuid, (String, OffsetDateTime)>| {
            written
                .get(&key_id)
                .is_some_and(|(net, at)| *net == network && now - *at < REWRITE_AFTER)
        };
        if fresh(&self.written.lock().unwrap_or_else(PoisonError::into_inner)) {
            return Ok(());
        }
        upsert(conn, key_id, &network, now)?;
        self.written
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key_id, (network, now));
        Ok(())
    }
}

fn upsert(
    conn: &mut PgConnection,
    key_id: Uuid,
    network: &str,
    now: OffsetDateTime,
) -> QueryResult<()> {
    diesel::insert_into(api_key_networks::table)
        .values((
            api_key_networks::key_id.eq(key_id),
            api_key_networks::network.eq(network),
            api_key_networks::first_seen.eq(now),
            api_key_networks::last_seen.eq(now),
            api_key_networks::uses.eq(1),
        ))
        .on_conflict((api_key_networks::key_id, api_key_networks::network))
        .do_update()
        .set((
            api_key_networks::last_seen.eq(excluded(api_key_networks::last_seen)),
            api_key_networks::uses.eq(api_key_networks::uses + 1),
        ))
        .execute(conn)
        .map(drop)
}

/// Every key's networks, by key, oldest first.
pub fn all(conn: &mut PgConnection) -> QueryResult<Vec<KeyNetwork>> {
    api_key_networks::table
        .order((api_key_networks::key_id, api_key_networks::first_seen))
        .select(KeyNetwork::as_select())
        .load(conn)
}
