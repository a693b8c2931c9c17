//! The notifications page (`/webhooks`, Owners and Admins): the client's webhook
//! endpoints with their recent delivery log, adding one (its secret shown once),
//! sending a test event, disabling and deleting; and a test of the mail relay.

pub mod api;

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use uuid::Uuid;

use crate::identity::{ClientInfo, User, cap};
use crate::notify::signature::WebhookSecret;
use crate::notify::webhooks::{self, Delivery, Endpoint, NewEndpoint, endpoints, outbox};
use crate::web::AppState;
use crate::web::auth::client_info;
use crate::web::csrf::{CsrfForm, CsrfToken, NoFields};
use crate::web::error::AppError;
use crate::web::guard::{Authorized, Caller};
use crate::web::pages::{self, Layout};

/// Deliveries shown on the page, newest first.
const LOG_ROWS: i64 = 50;

const NOTICES: &[(&str, &str)] = &[
    ("disabled", "Endpoint disabled. Nothing more is sent to it."),
    (
        "enabled",
        "Endpoint enabled. Deliveries that waited go out with the next ones.",
    ),
    ("deleted", "Endpoint deleted, with its delivery log."),
    (
        "test",
        "Test event queued; it appears in the delivery log once sent.",
    ),
];

#[derive(Deserialize)]
pub struct Messages {
    notice: Option<String>,
}

struct LogRow {
    when: String,
    endpoint: String,
    event: String,
    message_id: String,
    status: String,
    attempts: i32,
    detail: String,
}

#[derive(Template)]
#[template(path = "webhooks.html")]
struct WebhooksPage<'a> {
    layout: Layout<'a>,
    endpoints: Vec<Endpoint>,
    log: Vec<LogRow>,
    event_types: &'static [&'static str],
    new_secret: Option<String>,
    notice: Option<&'a str>,
    error: Option<String>,
}

pub async fn page(
    state: web::Data<AppState>,
    caller: Authorized<cap::WebhooksManage>,
    csrf: CsrfToken,
    messages: web::Query<Messages>,
) -> Result<HttpResponse, AppError> {
    let notice = pages::flash(messages.notice.as_deref(), NOTICES);
    render(&state, &caller.caller, &csrf, None, notice, None).await
}

async fn render(
    state: &AppState,
    caller: &Caller,
    csrf: &CsrfToken,
    new_secret: Option<&WebhookSecret>,
    notice: Option<&str>,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let (endpoints, log) = state
        .db
        .run(|conn| {
            let endpoints = endpoints::list(conn)?;
            let log = outbox::recent(conn, None, LOG_ROWS)?;
            Ok::<_, AppError>((endpoints, log))
        })
        .await?;
    let log = log.iter().map(|d| log_row(d, &endpoints)).collect();
    pages::html(
        &WebhooksPage {
            layout: Layout::signed_in(&state.config().server_name, csrf, caller, "/webhooks"),
            endpoints,
            log,
            event_types: webhooks::EVENT_TYPES,
            new_secret: new_secret.map(|s| s.expose().to_string()),
            notice,
            error,
        },
        csrf,
    )
}

fn log_row(delivery: &Delivery, endpoints: &[Endpoint]) -> LogRow {
    let detail = match (&delivery.last_error, delivery.next_attempt_at) {
        (Some(error), Some(next)) if delivery.status == "pending" => {
            format!("{error}; next try {}", pages::when(next))
        }
        (Some(error), _) => error.clone(),
        (None, _) => delivery
            .last_status
            .map(|s| format!("HTTP {s}"))
            .unwrap_or_default(),
    };
    LogRow {
        when: pages::when(delivery.created_at),
        endpoint: endpoints
            .iter()
            .find(|e| e.id == delivery.endpoint_id)
            .map(|e| e.url.clone())
            .unwrap_or_default(),
        event: delivery.event_type.clone(),
        message_id: delivery.message_id.clone(),
        status: delivery.status.clone(),
        attempts: delivery.attempts,
        detail,
    }
}

#[derive(Deserialize)]
pub struct CreateForm {
    url: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    event: Vec<String>,
}

pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authorized<cap::WebhooksManage>,
    csrf: CsrfToken,
    CsrfForm(form): CsrfForm<CreateForm>,
) -> Result<HttpResponse, AppError> {
    let new = NewEndpoint {
        url: form.url,
        description: form.description,
        events: form.event,
    };
    match create_endpoint(&state, caller.user(), new, client_info(&req)).await {
        Ok((_, secret)) => {
            let notice = Some("Endpoint added. Copy its signing secret now.");
            render(&state, &caller.caller, &csrf, Some(&secret), notice, None).await
        }
        Err(AppError::Unprocessable(why)) => {
            render(&state, &caller.caller, &csrf, None, None, Some(why)).await
        }
        Err(other) => Err(other),
    }
}

/// What the buttons beside an endpoint do (`POST /webhooks/{id}/{action}`).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Test,
    Disable,
    Enable,
    Delete,
}

impl Action {
    /// The change it makes, and the notice the list then shows.
    fn change(self) -> (Change, &'static str) {
        match self {
            Action::Test => (endpoints::send_test, "test"),
            Action::Disable => (endpoints::disable, "disabled"),
            Action::Enable => (endpoints::enable, "enabled"),
            Action::Delete => (endpoints::delete, "deleted"),
        }
    }
}

/// One of the endpoint's buttons; an unknown action is a 404 (the path does not exist).
pub async fn act(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authorized<cap::WebhooksManage>,
    path: web::Path<(Uuid, Action)>,
    _: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let (id, action) = path.into_inner();
    let (what, notice) = action.change();
    change(&state, caller.user(), id, client_info(&req), what).await?;
    Ok(pages::see_other(&format!("/webhooks?notice={notice}")).finish())
}

/// Sends a test email to the signed-in person, and says how it went on the page.
pub async fn test_email(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authorized<cap::WebhooksManage>,
    csrf: CsrfToken,
    _: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let sent = crate::web::mail::send_test(&state, caller.user(), client_info(&req)).await?;
    let (notice, error) = match sent {
        Ok(()) => (Some("Test email sent to your address."), None),
        Err(e) => (None, Some(format!("The test email was not sent: {e}"))),
    };
    render(&state, &caller.caller, &csrf, None, notice, error).await
}

// Shared by the page and the JSON API.

async fn create_endpoint(
    state: &AppState,
    actor: &User,
    new: NewEndpoint,
    client: ClientInfo,
) -> Result<(Endpoint, WebhookSecret), AppError> {
    let (vault, actor) = (state.vault.clone(), actor.clone());
    state
        .db
        .run(move |conn| Ok(endpoints::create(conn, &vault, &actor, new, &client)?))
        .await
}

type Change =
    fn(&mut diesel::PgConnection, &User, Uuid, &ClientInfo) -> Result<(), webhooks::WebhookError>;

async fn change(
    state: &AppState,
    actor: &User,
    id: Uuid,
    client: ClientInfo,
    what: Change,
) -> Result<(), AppError> {
    let actor = actor.clone();
    state
        .db
        .run(move |conn| Ok(what(conn, &actor, id, &client)?))
        .await
}
