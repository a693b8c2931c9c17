//! Liveness and readiness probes for systemd, load balancers and the fleet reporter.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::db;
use crate::web::AppState;
use crate::web::error::AppError;

/// The process is up; the database is not consulted.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "alive" }))
}

/// Ready to serve: the database answers and every migration is applied.
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let current = state.db.run(db::migrations_current).await.map_err(|e| {
        tracing::warn!(cause = %e, "readiness check: database unreachable");
        AppError::Unavailable("The database is unreachable.".into())
    })?;
    if !current {
        return Err(AppError::Unavailable(
            "Database migrations are pending.".into(),
        ));
    }
    Ok(HttpResponse::Ok().json(json!({
        "status": "ready",
        "database": "reachable",
        "migrations": "current",
    })))
}
