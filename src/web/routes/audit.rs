//! The audit log viewer (`/audit`) and its JSON twin (`GET /api/v1/audit`).

use actix_web::{HttpResponse, web};
use askama::Template;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::query::{self, Filter, PAGE, parse_time};
use crate::identity::cap;
use crate::web::AppState;
use crate::web::csrf::CsrfToken;
use crate::web::error::AppError;
use crate::web::guard::Authorized;
use crate::web::pages::{self, Layout};

/// The filter as typed: dates as `YYYY-MM-DD` (UTC) or full RFC 3339 times.
#[derive(Debug, Default, Deserialize, Serialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FilterForm {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    request_id: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    before: Option<i64>,
}

impl FilterForm {
    fn parse(&self) -> Result<Filter, String> {
        let text = |s: &String| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        Ok(Filter {
            actor: text(&self.actor),
            action: text(&self.action),
            request_id: text(&self.request_id),
            since: parse_time("since", &self.since)?,
            until: parse_time("until", &self.until)?,
            before: self.before,
        })
    }

    fn next_page(&self, before: i64) -> String {
        let query = serde_urlencoded::to_string(FilterForm {
            actor: self.actor.clone(),
            action: self.action.clone(),
            request_id: self.request_id.clone(),
            since: self.since.clone(),
            until: self.until.clone(),
            before: Some(before),
        })
        .unwrap_or_default();
        format!("/audit?{query}")
    }
}

struct EntryRow {
    id: i64,
    when: String,
    actor: String,
    /// The actor as people know them: a member's email where there is one.
    actor_name: String,
    action: String,
    target: String,
    outcome: String,
    source_ip: String,
    request_id: String,
    details: String,
}

struct CheckpointView {
    size: i64,
    when: String,
    root: String,
}

struct VerificationView {
    clean: bool,
    problems: usize,
    when: String,
    entries: i64,
    pending: i64,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage<'a> {
    layout: Layout<'a>,
    filter: &'a FilterForm,
    entries: Vec<EntryRow>,
    checkpoint: Option<CheckpointView>,
    verification: Option<VerificationView>,
    next_page: Option<String>,
    error: Option<String>,
}

pub async fn page(
    state: web::Data<AppState>,
    caller: Authorized<cap::AuditView>,
    csrf: CsrfToken,
    form: web::Query<FilterForm>,
) -> Result<HttpResponse, AppError> {
    let (filter, error) = match form.parse() {
        Ok(filter) => (filter, None),
        Err(why) => (Filter::default(), Some(why)),
    };
    let (overview, members) = state
        .db
        .run(move |conn| {
            Ok::<_, AppError>((
                query::overview(conn, &filter)?,
                crate::identity::user::all(conn)?,
            ))
        })
        .await?;
    let query::Overview {
        entries,
        checkpoint,
        verification,
    } = overview;
    let emails: std::collections::HashMap<String, String> = members
        .into_iter()
        .map(|u| (format!("user:{}", u.id), u.email))
        .collect();
    let next_page = (entries.len() as i64 == PAGE)
        .then(|| entries.last().map(|e| form.next_page(e.id)))
        .flatten();
    let rows = entries
        .into_iter()
        .map(|e| EntryRow {
            id: e.id,
            when: e
                .occurred_at
                .format(time::macros::format_description!(
                    "[year]-[month]-[day] [hour]:[minute]:[second]"
                ))
                .unwrap_or_default(),
            actor_name: emails
                .get(&e.actor)
                .cloned()
                .unwrap_or_else(|| e.actor.clone()),
            actor: e.actor,
            action: e.action,
            target: e.target.unwrap_or_default(),
            outcome: e.outcome,
            source_ip: e.source_ip.unwrap_or_default(),
            request_id: e.request_id.unwrap_or_else(|| "—".into()),
            details: serde_json::to_string_pretty(&e.details).unwrap_or_default(),
        })
        .collect();
    pages::html(
        &AuditPage {
            layout: Layout::signed_in(&state.config().server_name, &csrf, &caller.caller, "/audit"),
            filter: &form,
            entries: rows,
            checkpoint: checkpoint.map(|c| CheckpointView {
                size: c.tree_size,
                when: pages::when(c.created_at),
                root: c
                    .root_hash
                    .iter()
                    .take(8)
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
                    + "…",
            }),
            verification: verification.map(|v| VerificationView {
                clean: v.clean,
                problems: v.problems.as_array().map_or(0, Vec::len),
                when: pages::when(v.ran_at),
                entries: v.entries,
                pending: v.pending,
            }),
            next_page,
            error,
        },
        &csrf,
    )
}

/// `GET /api/v1/audit`: the same filter as query parameters; entries newest first.
pub async fn api(
    state: web::Data<AppState>,
    _: Authorized<cap::AuditView>,
    form: web::Query<FilterForm>,
) -> Result<HttpResponse, AppError> {
    let filter = form.parse().map_err(AppError::BadRequest)?;
    let query::Overview {
        entries,
        checkpoint,
        verification,
    } = state
        .db
        .run(move |conn| query::overview(conn, &filter).map_err(AppError::from))
        .await?;
    let next_before = (entries.len() as i64 == PAGE)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    Ok(HttpResponse::Ok().json(json!({
        "entries": entries,
        "next_before": next_before,
        "latest_checkpoint": checkpoint.map(|c| json!({ "tree_size": c.tree_size, "signed_at": super::sign_in::rfc3339(c.created_at), "note": c.note })),
        "latest_verification": verification,
    })))
}
