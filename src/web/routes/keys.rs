//! The signed-in person's API keys: create (shown once), rotate with a grace period,
//! revoke. A key can never do more than its creator's role.

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::{self, Actor, Event, Outcome};
use crate::identity::api_keys::{self, ApiKey, NewKey};
use crate::identity::{Capability, ClientInfo, IdentityError, User, cap};
use crate::secret::SecretString;
use crate::web::AppState;
use crate::web::auth::client_info;
use crate::web::csrf::{CsrfForm, CsrfToken, NoFields};
use crate::web::error::AppError;
use crate::web::guard::{Authorized, Caller};
use crate::web::pages::{self, Layout};

const NOTICES: &[(&str, &str)] = &[("revoked", "Key revoked. It no longer works.")];

#[derive(Deserialize)]
pub struct Messages {
    notice: Option<String>,
}

struct KeyRow {
    id: Uuid,
    name: String,
    prefix: String,
    capabilities: String,
    expires: String,
    last_used: String,
    status: String,
    active: bool,
}

#[derive(Template)]
#[template(path = "keys.html")]
struct KeysPage<'a> {
    layout: Layout<'a>,
    keys: Vec<KeyRow>,
    capabilities: Vec<&'static str>,
    new_secret: Option<String>,
    notice: Option<&'static str>,
    error: Option<String>,
}

pub async fn page(
    state: web::Data<AppState>,
    caller: Authorized<cap::ApiKeysManage>,
    csrf: CsrfToken,
    messages: web::Query<Messages>,
) -> Result<HttpResponse, AppError> {
    render(
        &state,
        &caller.caller,
        &csrf,
        None,
        pages::flash(messages.notice.as_deref(), NOTICES),
        None,
    )
    .await
}

async fn render(
    state: &AppState,
    caller: &Caller,
    csrf: &CsrfToken,
    new_secret: Option<&SecretString>,
    notice: Option<&'static str>,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let user_id = caller.user.id;
    let keys = state
        .db
        .run(move |conn| api_keys::list_for_user(conn, user_id).map_err(AppError::from))
        .await?;
    let now = OffsetDateTime::now_utc();
    pages::html(
        &KeysPage {
            layout: Layout::signed_in(&state.config().server_name, csrf, caller, "/keys"),
            keys: keys.iter().map(|k| row(k, now)).collect(),
            capabilities: caller
                .user
                .role
                .capabilities()
                .iter()
                .map(|c| c.as_str())
                .collect(),
            new_secret: new_secret.map(|s| s.expose().to_owned()),
            notice,
            error,
        },
        csrf,
    )
}

fn row(key: &ApiKey, now: OffsetDateTime) -> KeyRow {
    let status = if key.revoked_at.is_some() {
        "Revoked".to_owned()
    } else if !key.is_active(now) {
        "Expired".to_owned()
    } else if key.replaced_by.is_some() {
        format!(
            "Replaced; works until {}",
            key.expires_at.map(pages::when).unwrap_or_default()
        )
    } else {
        "Active".to_owned()
    };
    KeyRow {
        id: key.id,
        name: key.name.clone(),
        prefix: key.display_prefix.clone(),
        capabilities: key
            .capabilities
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        expires: key.expires_at.map_or_else(|| "never".into(), pages::when),
        last_used: match (&key.last_used_at, &key.last_used_ip) {
            (Some(at), Some(ip)) => format!("{} from {ip}", pages::when(*at)),
            (Some(at), None) => pages::when(*at),
            _ => "never".into(),
        },
        active: key.is_active(now) && key.replaced_by.is_none(),
        status,
    }
}

/// Creates a key for `creator`, audited; shared by the page and the JSON API.
pub async fn create_key(
    state: &AppState,
    creator: &User,
    new: NewKey,
    client: ClientInfo,
) -> Result<(ApiKey, SecretString), AppError> {
    let creator = creator.clone();
    state
        .db
        .run(move |conn| {
            use diesel::Connection;
            conn.transaction(|conn| {
                let (key, secret) = api_keys::create(conn, &creator, new).map_err(IdentityError::from)?;
                audit::record(
                    conn,
                    &Event::new(Actor::User(creator.id), "api_key.created", Outcome::Success)
                        .target(format!("api_key:{}", key.id))
                        .client(&client)
                        .details(json!({ "name": key.name, "capabilities": key.capabilities, "expires_at": key.expires_at.map(super::sign_in::rfc3339) })),
                )?;
                Ok::<_, IdentityError>((key, secret))
            })
            .map_err(AppError::from)
        })
        .await
}

pub async fn rotate_key(
    state: &AppState,
    owner: &User,
    key_id: Uuid,
    grace: Duration,
    client: ClientInfo,
) -> Result<(ApiKey, SecretString), AppError> {
    let owner_id = owner.id;
    state
        .db
        .run(move |conn| {
            use diesel::Connection;
            conn.transaction(|conn| {
                let (key, secret) =
                    api_keys::rotate(conn, owner_id, key_id, grace, OffsetDateTime::now_utc())
                        .map_err(IdentityError::from)?;
                audit::record(
                    conn,
                    &Event::new(Actor::User(owner_id), "api_key.rotated", Outcome::Success)
                        .target(format!("api_key:{key_id}"))
                        .client(&client)
                        .details(
                            json!({ "replacement": key.id, "grace_seconds": grace.as_secs() }),
                        ),
                )?;
                Ok::<_, IdentityError>((key, secret))
            })
            .map_err(AppError::from)
        })
        .await
}

pub async fn revoke_key(
    state: &AppState,
    owner: &User,
    key_id: Uuid,
    client: ClientInfo,
) -> Result<(), AppError> {
    let owner_id = owner.id;
    let revoked = state
        .db
        .run(move |conn| {
            let revoked = api_keys::revoke(conn, owner_id, key_id, OffsetDateTime::now_utc())?;
            if revoked {
                audit::record(
                    conn,
                    &Event::new(Actor::User(owner_id), "api_key.revoked", Outcome::Success)
                        .target(format!("api_key:{key_id}"))
                        .client(&client),
                )?;
            }
            Ok::<_, AppError>(revoked)
        })
        .await?;
    if revoked {
        Ok(())
    } else {
        Err(AppError::NotFound)
    }
}

#[derive(Deserialize)]
pub struct CreateForm {
    name: String,
    #[serde(default)]
    capability: Vec<String>,
    expires_in_days: u32,
}

pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authorized<cap::ApiKeysManage>,
    csrf: CsrfToken,
    CsrfForm(form): CsrfForm<CreateForm>,
) -> Result<HttpResponse, AppError> {
    let capabilities: Vec<Capability> = form
        .capability
        .iter()
        .filter_map(|c| c.parse().ok())
        .collect();
    let expires_at = (form.expires_in_days > 0).then(|| {
        OffsetDateTime::now_utc() + Duration::from_secs(u64::from(form.expires_in_days) * 86_400)
    });
    let new = NewKey {
        name: form.name.trim().to_owned(),
        capabilities,
        expires_at,
    };
    match create_key(&state, caller.user(), new, client_info(&req)).await {
        Ok((_, secret)) => {
            render(
                &state,
                &caller.caller,
                &csrf,
                Some(&secret),
                Some("Key created."),
                None,
            )
            .await
        }
        Err(AppError::Unprocessable(why)) => {
            render(&state, &caller.caller, &csrf, None, None, Some(why)).await
        }
        Err(other) => Err(other),
    }
}

#[derive(Deserialize)]
pub struct RotateForm {
    grace: u64,
}

pub async fn rotate(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authorized<cap::ApiKeysManage>,
    csrf: CsrfToken,
    key: web::Path<Uuid>,
    CsrfForm(form): CsrfForm<RotateForm>,
) -> Result<HttpResponse, AppError> {
    let (_, secret) = rotate_key(
        &state,
        caller.user(),
        key.into_inner(),
        Duration::from_secs(form.grace),
        client_info(&req),
    )
    .await?;
    render(
        &state,
        &caller.caller,
        &csrf,
        Some(&secret),
        Some("Key rotated."),
        None,
    )
    .await
}

pub async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authorized<cap::ApiKeysManage>,
    key: web::Path<Uuid>,
    _: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    revoke_key(&state, caller.user(), key.into_inner(), client_info(&req)).await?;
    Ok(pages::see_other("/keys?notice=revoked").finish())
}
