//! The signed-in dashboard.

use actix_web::{HttpResponse, web};

use crate::web::AppState;
use crate::web::auth::SignedIn;
use crate::web::csrf::CsrfToken;
use crate::web::error::AppError;
use crate::web::pages::{self, OverviewPage, VERSION};

pub async fn overview(
    state: web::Data<AppState>,
    signed_in: SignedIn,
    csrf: CsrfToken,
) -> Result<HttpResponse, AppError> {
    let expires = signed_in
        .session
        .expires_at
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute] UTC"
        ))
        .unwrap_or_default();
    pages::html(
        &OverviewPage {
            server_name: &state.config.server_name,
            csrf_token: csrf.value(),
            version: VERSION,
            user: signed_in.user(),
            session_expires: expires,
        },
        &csrf,
    )
}
