//! The signed-in dashboard.

use actix_web::{HttpResponse, web};
use askama::Template;

use crate::identity::{User, cap};
use crate::web::AppState;
use crate::web::csrf::CsrfToken;
use crate::web::error::AppError;
use crate::web::guard::Authorized;
use crate::web::pages::{self, Layout, VERSION};

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage<'a> {
    layout: Layout<'a>,
    version: &'a str,
    user: &'a User,
    session_expires: String,
}

pub async fn overview(
    state: web::Data<AppState>,
    caller: Authorized<cap::DashboardView>,
    csrf: CsrfToken,
) -> Result<HttpResponse, AppError> {
    let expires = caller
        .session_expires_at()
        .map(pages::when)
        .unwrap_or_default();
    pages::html(
        &OverviewPage {
            layout: Layout::signed_in(&state.config.server_name, &csrf, &caller.caller, "/"),
            version: VERSION,
            user: caller.user(),
            session_expires: expires,
        },
        &csrf,
    )
}
