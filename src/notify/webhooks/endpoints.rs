//! Registered endpoints: where events are sent, which ones, and the sealed secret that
//! signs them. The secret leaves the vault twice only: once, in clear, to the person
//! who created the endpoint, and to the delivery worker for signing.

use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;
use url::Url;
use uuid::Uuid;

use super::{EVENT_TYPES, WebhookError};
use crate::audit;
use crate::db::schema::webhook_endpoints as endpoints;
use crate::identity::{ClientInfo, User};
use crate::notify::signature::WebhookSecret;
use crate::vault::{Location, Vault, location};

pub const MAX_DESCRIPTION_CHARS: usize = 200;
const MAX_URL_CHARS: usize = 2000;

/// An endpoint, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Queryable, Selectable)]
#[diesel(table_name = endpoints)]
pub struct Endpoint {
    pub id: Uuid,
    pub url: String,
    pub description: String,
    pub events: Vec<String>,
    pub created_by: Option<Uuid>,
    pub enabled: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct NewEndpoint {
    pub url: String,
    pub description: String,
    pub events: Vec<String>,
}

fn location(id: Uuid) -> Location {
    location::WEBHOOK_SECRET.at(id)
}

/// Accepts `https://` anywhere and plain `http://` only to this machine (a local relay
/// or a test receiver): events must not cross a network in clear.
pub fn check_url(text: &str) -> Result<Url, WebhookError> {
    let bad = |why: &str| WebhookError::InvalidUrl(why.to_owned());
    if text.chars().count() > MAX_URL_CHARS {
        return Err(bad("the URL is too long"));
    }
    let url = Url::parse(text.trim()).map_err(|e| bad(&format!("not a URL: {e}")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("the URL must not carry a user name or password"));
    }
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => return Err(bad("the URL has no host")),
    };
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        "http" => Err(bad(
            "use https:// (plain http:// only reaches this machine)",
        )),
        _ => Err(bad("the URL must start with https://")),
    }
}

fn check_events(events: &[String]) -> Result<Vec<String>, WebhookError> {
    let mut chosen = Vec::new();
    for event in events.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
        if !EVENT_TYPES.contains(&event) {
            return Err(WebhookError::UnknownEvent(event.to_owned()));
        }
        if !chosen.iter().any(|c| c == event) {
            chosen.push(event.to_owned());
        }
    }
    if chosen.is_empty() {
        return Err(WebhookError::NoEvents);
    }
    Ok(chosen)
}

fn audited(
    conn: &mut PgConnection,
    (actor, client): (&User, &ClientInfo),
    action: &'static str,
    id: Uuid,
    details: serde_json::Value,
) -> QueryResult<()> {
    audit::record_change(
        conn,
        (actor.id, client),
        action,
        format!("webhook:{id}"),
        details,
    )
}

/// Registers an endpoint with a fresh secret, sealed and audited in one transaction;
/// returns the secret for its one showing.
pub fn create(
    conn: &mut PgConnection,
    vault: &Vault,
    actor: &User,
    new: NewEndpoint,
    client: &ClientInfo,
) -> Result<(Endpoint, WebhookSecret), WebhookError> {
    let url = check_url(&new.url)?;
    let events = check_events(&new.events)?;
    let description = new.description.trim();
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(WebhookError::DescriptionTooLong);
    }
    let secret = WebhookSecret::generate();
    // Chosen here, not by the database: the secret is sealed to it first.
    let id = Uuid::new_v4();
    conn.transaction(|conn| {
        let sealed = vault.seal(conn, &location(id), secret.expose().as_bytes())?;
        let endpoint = diesel::insert_into(endpoints::table)
            .values((
                endpoints::id.eq(id),
                endpoints::url.eq(url.as_str()),
                endpoints::description.eq(description),
                endpoints::events.eq(&events),
                endpoints::secret_sealed.eq(&sealed),
                endpoints::created_by.eq(actor.id),
            ))
            .returning(Endpoint::as_returning())
            .get_result(conn)?;
        audited(
            conn,
            (actor, client),
            "webhook.created",
            id,
            json!({ "url": endpoint.url, "events": endpoint.events }),
        )?;
        Ok((endpoint, secret))
    })
}

pub fn list(conn: &mut PgConnection) -> QueryResult<Vec<Endpoint>> {
    endpoints::table
        .order(endpoints::created_at.asc())
        .select(Endpoint::as_select())
        .load(conn)
}

pub fn find(conn: &mut PgConnection, id: Uuid) -> QueryResult<Option<Endpoint>> {
    endpoints::table
        .find(id)
        .select(Endpoint::as_select())
        .first(conn)
        .optional()
}

/// Stops sending to an endpoint; its pending deliveries wait until it is enabled again.
pub fn disable(
    conn: &mut PgConnection,
    actor: &User,
    id: Uuid,
    client: &ClientInfo,
) -> Result<(), WebhookError> {
    set_enabled(conn, (actor, client), id, false)
}

/// Sends to a disabled endpoint again, starting with the deliveries that waited.
pub fn enable(
    conn: &mut PgConnection,
    actor: &User,
    id: Uuid,
    client: &ClientInfo,
) -> Result<(), WebhookError> {
    set_enabled(conn, (actor, client), id, true)
}

fn set_enabled(
    conn: &mut PgConnection,
    by: (&User, &ClientInfo),
    id: Uuid,
    enabled: bool,
) -> Result<(), WebhookError> {
    conn.transaction(|conn| {
        let changed = diesel::update(endpoints::table.find(id))
            .set(endpoints::enabled.eq(enabled))
            .execute(conn)?;
        if changed == 0 {
            return Err(WebhookError::NotFound);
        }
        let action = if enabled {
            "webhook.enabled"
        } else {
            "webhook.disabled"
        };
        audited(conn, by, action, id, json!({}))?;
        Ok(())
    })
}

/// Removes an endpoint and its delivery log.
pub fn delete(
    conn: &mut PgConnection,
    actor: &User,
    id: Uuid,
    client: &ClientInfo,
) -> Result<(), WebhookError> {
    conn.transaction(|conn| {
        let url: Option<String> = diesel::delete(endpoints::table.find(id))
            .returning(endpoints::url)
            .get_result(conn)
            .optional()?;
        let url = url.ok_or(WebhookError::NotFound)?;
        audited(
            conn,
            (actor, client),
            "webhook.deleted",
            id,
            json!({ "url": url }),
        )?;
        Ok(())
    })
}

/// Queues a `webhook.test` message for one endpoint, so its owner can check their
/// receiver; audited.
pub fn send_test(
    conn: &mut PgConnection,
    actor: &User,
    id: Uuid,
    client: &ClientInfo,
) -> Result<(), WebhookError> {
    conn.transaction(|conn| {
        find(conn, id)?.ok_or(WebhookError::NotFound)?;
        let data = json!({ "message": "A test event from Outpost: your receiver works.", "requested_by": actor.email });
        super::outbox::enqueue_to(conn, id, super::events::TEST, data)?;
        audited(conn, (actor, client), "webhook.test_queued", id, json!({}))?;
        Ok(())
    })
}

/// The endpoint's signing secret, for the delivery worker.
pub fn secret(
    conn: &mut PgConnection,
    vault: &Vault,
    id: Uuid,
) -> Result<WebhookSecret, WebhookError> {
    let sealed: String = endpoints::table
        .find(id)
        .select(endpoints::secret_sealed)
        .first(conn)
        .optional()?
        .ok_or(WebhookError::NotFound)?;
    let plain = vault.open(&location(id), &sealed)?;
    let text = std::str::from_utf8(&plain).map_err(|_| crate::vault::VaultError::Malformed)?;
    WebhookSecret::parse(text).map_err(|_| crate::vault::VaultError::Malformed.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_need_https_unless_they_stay_on_this_machine() {
        assert!(check_url("https://hooks.example.com/outpost").is_ok());
        assert!(check_url("http://127.0.0.1:8080/in").is_ok());
        assert!(check_url("http://[::1]/in").is_ok());
        assert!(check_url("http://localhost/in").is_ok());
        for bad in [
            "http://hooks.example.com/in",
            "http://10.0.0.1/in",
            "ftp://hooks.example.com/",
            "https://user:pw@hooks.example.com/",
            "not a url",
        ] {
            assert!(check_url(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn events_must_be_known_and_at_least_one() {
        assert!(matches!(check_events(&[]), Err(WebhookError::NoEvents)));
        assert!(matches!(
            check_events(&["backup.exploded".into()]),
            Err(WebhookError::UnknownEvent(_))
        ));
        assert_eq!(
            check_events(&["backup.failed".into(), "backup.failed".into()]).unwrap(),
            vec!["backup.failed".to_owned()]
        );
    }
}
