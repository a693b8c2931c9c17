//! Every route, in one table.

mod account;
mod api;
mod assets;
mod audit;
mod backups;
mod credentials;
mod dashboard;
mod export;
mod health;
mod invite;
mod keys;
mod mfa;
mod password_form;
mod password_reset;
mod security;
mod security_policy;
mod setup;
mod sign_in;
mod team;

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
        .service(
            web::resource("/login/mfa")
                .route(web::get().to(mfa::challenge_page))
                .route(
                    web::post()
                        .guard(guard::fn_guard(is_json))
                        .to(mfa::submit_challenge_json),
                )
                .route(web::post().to(mfa::submit_challenge)),
        )
        .service(web::resource("/account/mfa").route(web::get().to(mfa::enrol_page)))
        .service(
            web::resource("/account/mfa/confirm").route(web::post().to(mfa::confirm_enrolment)),
        )
        .service(
            web::resource("/account/mfa/recovery-codes")
                .route(web::post().to(mfa::regenerate_codes)),
        )
        .service(web::resource("/logout").route(web::post().to(sign_in::sign_out)))
        .service(web::resource("/account").route(web::get().to(account::page)))
        .service(web::resource("/account/password").route(web::post().to(account::change_password)))
        .service(
            web::resource("/account/sessions/revoke-others")
                .route(web::post().to(account::revoke_other_sessions)),
        )
        .service(
            web::resource("/account/sessions/{id}/revoke")
                .route(web::post().to(account::revoke_session)),
        )
        .service(
            web::resource("/settings/security")
                .route(web::get().to(security_policy::page))
                .route(web::post().to(security_policy::save)),
        )
        .service(
            web::resource("/keys")
                .route(web::get().to(keys::page))
                .route(web::post().to(keys::create)),
        )
        .service(web::resource("/keys/{id}/rotate").route(web::post().to(keys::rotate)))
        .service(web::resource("/keys/{id}/revoke").route(web::post().to(keys::revoke)))
        .service(
            web::scope("/api/v1")
                .service(web::resource("/me").route(web::get().to(api::me)))
                .service(web::resource("/security").route(web::get().to(security::api)))
                .service(web::resource("/security/scans").route(web::post().to(security::scan_api)))
                .service(web::resource("/host").route(web::get().to(dashboard::host_api)))
                .service(web::resource("/audit").route(web::get().to(audit::api)))
                .service(
                    web::resource("/backups")
                        .route(web::get().to(backups::api::status))
                        .route(web::post().to(backups::api::run)),
                )
                .service(
                    web::resource("/backups/{id}/verify")
                        .route(web::post().to(backups::api::verify)),
                )
                .service(
                    web::resource("/backups/{target}/{id}/database.dump")
                        .route(web::get().to(backups::download::database_dump)),
                )
                .service(web::resource("/team").route(web::get().to(api::team)))
                .service(web::resource("/team/invitations").route(web::post().to(api::invite)))
                .service(
                    web::resource("/team/members/{id}")
                        .route(web::patch().to(api::change_role))
                        .route(web::delete().to(api::remove_member)),
                )
                .service(web::resource("/sessions").route(web::get().to(api::sessions)))
                .service(
                    web::resource("/sessions/{id}").route(web::delete().to(api::revoke_session)),
                )
                .service(
                    web::resource("/keys")
                        .route(web::get().to(api::keys))
                        .route(web::post().to(api::create)),
                )
                .service(web::resource("/keys/{id}").route(web::delete().to(api::revoke)))
                .service(web::resource("/keys/{id}/rotate").route(web::post().to(api::rotate)))
                .service(
                    web::resource("/credentials")
                        .route(web::get().to(credentials::api::list))
                        .route(web::post().to(credentials::api::create)),
                )
                .service(
                    web::resource("/credentials/{id}")
                        .route(web::get().to(credentials::api::get))
                        .route(web::put().to(credentials::api::replace))
                        .route(web::delete().to(credentials::api::delete)),
                )
                .service(
                    web::resource("/credentials/{id}/reveal")
                        .route(web::post().to(credentials::api::reveal)),
                )
                .service(
                    web::resource("/exports")
                        .route(web::get().to(export::api::list))
                        .route(web::post().to(export::api::create)),
                )
                .service(web::resource("/exports/{id}").route(web::get().to(export::api::get)))
                .service(
                    web::resource("/exports/{id}/download").route(web::get().to(export::download)),
                ),
        )
        .service(
            web::resource("/export")
                .route(web::get().to(export::page))
                .route(web::post().to(export::prepare)),
        )
        .service(web::resource("/export/{id}/download").route(web::get().to(export::download)))
        .service(
            web::resource("/credentials")
                .route(web::get().to(credentials::page))
                .route(web::post().to(credentials::create)),
        )
        .service(web::resource("/credentials/{id}").route(web::get().to(credentials::detail)))
        .service(
            web::resource("/credentials/{id}/reveal")
                .route(web::post().to(credentials::reveal::reveal)),
        )
        .service(
            web::resource("/credentials/{id}/replace").route(web::post().to(credentials::replace)),
        )
        .service(
            web::resource("/credentials/{id}/delete").route(web::post().to(credentials::delete)),
        )
        .service(web::resource("/audit").route(web::get().to(audit::page)))
        .service(web::resource("/security").route(web::get().to(security::page)))
        .service(web::resource("/security/scan").route(web::post().to(security::scan_now)))
        .service(web::resource("/backups").route(web::get().to(backups::page)))
        .service(web::resource("/backups/run").route(web::post().to(backups::run)))
        .service(web::resource("/backups/{id}/verify").route(web::post().to(backups::verify)))
        .service(
            web::resource("/backups/{target}/{id}/database.dump")
                .route(web::get().to(backups::download::database_dump)),
        )
        .service(web::resource("/team").route(web::get().to(team::page)))
        .service(web::resource("/team/invitations").route(web::post().to(team::invite)))
        .service(
            web::resource("/team/invitations/{id}/revoke")
                .route(web::post().to(team::revoke_invitation)),
        )
        .service(web::resource("/team/members/{id}/role").route(web::post().to(team::change_role)))
        .service(web::resource("/team/members/{id}/remove").route(web::post().to(team::remove)))
        .service(web::resource("/team/grants/{id}/approve").route(web::post().to(team::approve)))
        .service(web::resource("/team/grants/{id}/reject").route(web::post().to(team::reject)))
        .service(
            web::resource("/invite/{token}")
                .route(web::get().to(invite::page))
                .route(web::post().to(invite::accept)),
        )
        .service(
            web::resource("/password/forgot")
                .route(web::get().to(password_reset::page))
                .route(web::post().to(password_reset::request)),
        )
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
