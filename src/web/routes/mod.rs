//! Every route, in one table.

mod assets;
mod dashboard;
mod health;
mod setup;
mod sign_in;

use actix_web::{guard, web};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/healthz").route(web::get().to(health::healthz)))
        .service(web::resource("/readyz").route(web::get().to(health::readyz)))
        .service(web::resource("/static/app.css").route(web::get().to(assets::stylesheet)))
        .service(web::resource("/").route(web::get().to(dashboard::overview)))
        .service(
            web::resource("/login")
                .route(web::get().to(sign_in::page))
                .route(
                    web::post()
                        .guard(guard::fn_guard(is_json))
                        .to(sign_in::submit_json),
                )
                .route(web::post().to(sign_in::submit_form)),
        )
        .service(web::resource("/logout").route(web::post().to(sign_in::sign_out)))
        .service(
            web::resource("/setup/{token}")
                .route(web::get().to(setup::page))
                .route(web::post().to(setup::submit)),
        );
}

fn is_json(ctx: &guard::GuardContext<'_>) -> bool {
    ctx.head()
        .headers
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"))
}
