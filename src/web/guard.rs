//! The one guard every protected route uses: `Authorized<cap::X>` in a handler's
//! arguments resolves the caller (a session cookie for the dashboard, a bearer API key
//! under `/api/`), makes people whose role requires two-factor sign-in enrol before
//! anything else, checks the capability, and audits every refusal.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use serde_json::json;
use uuid::Uuid;

use super::AppState;
use super::auth::{self, SESSION_COOKIE};
use super::error::AppError;
use crate::audit::{Actor, Event, Outcome};
use crate::identity::{Capability, RequiredCapability, User, api_keys, policy, session};
use crate::secret::SecretString;

/// Who is asking, and what they may do right now.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: User,
    pub capabilities: Vec<Capability>,
    pub via: Via,
}

#[derive(Debug, Clone)]
pub enum Via {
    Session {
        id: Uuid,
        token: SecretString,
        expires_at: time::OffsetDateTime,
    },
    ApiKey {
        id: Uuid,
    },
}

impl Caller {
    pub fn can(&self, capability: Capability) -> bool {
        self.capabilities.contains(&capability)
    }

    pub fn session_id(&self) -> Option<Uuid> {
        match &self.via {
            Via::Session { id, .. } => Some(*id),
            Via::ApiKey { .. } => None,
        }
    }
}

/// A caller holding capability `C`.
#[derive(Debug)]
pub struct Authorized<C> {
    pub caller: Caller,
    _capability: PhantomData<C>,
}

impl<C> Authorized<C> {
    pub fn user(&self) -> &User {
        &self.caller.user
    }

    /// When the caller's session ends at the latest (none for API keys).
    pub fn session_expires_at(&self) -> Option<time::OffsetDateTime> {
        match &self.caller.via {
            Via::Session { expires_at, .. } => Some(*expires_at),
            Via::ApiKey { .. } => None,
        }
    }
}

impl<C: RequiredCapability + 'static> FromRequest for Authorized<C> {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = super::app_state(&req)?;
            let caller = resolve(&req, &state).await?;
            require(&req, &state, &caller, C::CAPABILITY).await?;
            Ok(Authorized {
                caller,
                _capability: PhantomData,
            })
        })
    }
}

/// Refuses (403, audited) a caller without `needed`.
pub async fn require(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    caller: &Caller,
    needed: Capability,
) -> Result<(), AppError> {
    if caller.can(needed) {
        return Ok(());
    }
    let event = Event::new(
        Actor::User(caller.user.id),
        "access.denied",
        Outcome::Denied,
    )
    .target(req.match_pattern().unwrap_or_else(|| req.path().to_owned()))
    .client(&auth::client_info(req))
    .details(json!({ "capability": needed.as_str(), "role": caller.user.role }));
    // A refusal stands alone: it goes through the group-commit writer,
    // so a burst of them shares flushes instead of paying one each.
    state
        .audit_writer()
        .append(event)
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    Err(AppError::Forbidden(needed))
}

/// Any authenticated caller, whatever their capabilities (`GET /api/v1/me`).
impl FromRequest for Caller {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = super::app_state(&req)?;
            resolve(&req, &state).await
        })
    }
}

/// Identifies the caller, or says how to become one (sign in, or present a key).
async fn resolve(req: &HttpRequest, state: &web::Data<AppState>) -> Result<Caller, AppError> {
    if super::is_api(req.path()) {
        return resolve_api_key(req, state).await;
    }
    let token = req
        .cookie(SESSION_COOKIE)
        .map(|c| SecretString::new(c.value()))
        .ok_or(AppError::LoginRequired)?;
    let policy = state.session_policy();
    let probe = token.clone();
    let found = state
        .db
        .run(move |conn| {
            let Some(active) = session::authenticate(conn, probe.expose(), &policy)? else {
                return Ok(None);
            };
            let must_enrol = policy::must_enrol_mfa(conn, &active.user)?;
            Ok::<_, AppError>(Some((active, must_enrol)))
        })
        .await?;
    let (active, must_enrol) = found.ok_or(AppError::LoginRequired)?;
    if must_enrol {
        return Err(AppError::MfaEnrolmentRequired);
    }
    Ok(Caller {
        capabilities: active.user.role.capabilities(),
        via: Via::Session {
            id: active.id,
            token,
            expires_at: active.expires_at,
        },
        user: active.user,
    })
}

/// `Authorization: Bearer opk_…`. A mistyped key fails its checksum before any lookup.
/// Routes outside `/api/` that take keys (`/metrics`) call it directly.
pub async fn resolve_api_key(
    req: &HttpRequest,
    state: &web::Data<AppState>,
) -> Result<Caller, AppError> {
    let presented = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|k| SecretString::new(k.trim()))
        .ok_or(AppError::Unauthorized)?;
    if !api_keys::is_well_formed(presented.expose()) {
        return Err(AppError::Unauthorized);
    }
    let ip = auth::client_info(req).ip;
    let networks = state.clone();
    let found = state
        .db
        .run(move |conn| {
            let now = time::OffsetDateTime::now_utc();
            let found = api_keys::authenticate(conn, presented.expose(), ip.as_deref(), now)
                .map_err(|e| match e {
                    api_keys::ApiKeyError::Malformed => AppError::Unauthorized,
                    other => AppError::Internal(other.to_string()),
                })?;
            if let Some(found) = &found {
                // Where keys are used from is for the security loop to judge later;
                // failing to note it must not refuse a valid key.
                let noted = networks
                    .key_networks
                    .record(conn, found.key.id, ip.as_deref(), now);
                if let Err(error) = noted {
                    tracing::warn!(%error, key = %found.key.id, "the key's network was not recorded");
                }
            }
            Ok::<_, AppError>(found)
        })
        .await?
        .ok_or(AppError::Unauthorized)?;
    Ok(Caller {
        capabilities: found.capabilities,
        via: Via::ApiKey { id: found.key.id },
        user: found.user,
    })
}
