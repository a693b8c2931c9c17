//! The signed-in dashboard.

use actix_web::{HttpResponse, web};

use crate::identity::cap;
use crate::web::AppState;
use crate::web::csrf::CsrfToken;
use crate::web::error::AppError;
use crate::web::guard::Authorized;
use crate::web::pages::{self, OverviewPage, VERSION};

pub async fn overview(
    state: web::Data<AppState>,
    caller: Authorized<cap::DashboardView>,
    csrf: CsrfToken,
) -> Result<HttpResponse, AppError> {
    let expires = caller
        .session_expires_at()
        .unwrap_or_else(time::OffsetDateTime::now_utc)
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute] UTC"
        ))
        .unwrap_or_default();
    pages::html(
        &OverviewPage {
            server_name: &state.config.server_name,
            csrf_token: csrf.value(),
            version: VERSION,
            user: caller.user(),
            session_expires: expires,
        },
        &csrf,
    )
}
