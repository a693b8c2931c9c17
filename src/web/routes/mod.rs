//! Every route, in one table.

mod account;
mod api;
mod assets;
mod audit;
mod backups;
mod credentials;
mod dashboard;
mod diagnostics;
mod export;
pub mod health;
mod invite;
mod keys;
mod metrics;
mod mfa;
pub mod openapi;
mod overview_parts;
mod password_form;
mod password_reset;
mod security;
mod security_policy;
mod settings;
mod setup;
mod sign_in;
mod table;
mod team;
mod webhooks;

pub use table::{Accepts, Access, Endpoint, Routes};

use actix_web::web;

use super::ExtraRoutes;

/// Every route Outpost serves, then `extra` (tests mount their own through it too).
pub fn declare(r: &mut Routes, extra: Option<ExtraRoutes>) {
    use Access::{Public, SignedIn};

    // Open to anyone: probes, and (with the stylesheet) the ways in.
    r.get("/healthz", Public, health::healthz);
    r.get("/readyz", Public, health::readyz);
    r.get("/metrics", Access::LocalOrSignedIn, metrics::scrape);
    declare_sign_in(r);
    r.get("/invite/{token}", Public, invite::page);
    r.post("/invite/{token}", Public, invite::accept);
    r.get("/password/forgot", Public, password_reset::page);
    r.post("/password/forgot", Public, password_reset::request);

    // The dashboard.
    r.get("/", SignedIn, dashboard::overview);
    r.get("/diagnostics", SignedIn, diagnostics::page);
    r.get(
        "/diagnostics/support-bundle.tar.gz",
        SignedIn,
        diagnostics::support_bundle,
    );
    r.get("/account", SignedIn, account::page);
    r.post("/account/password", SignedIn, account::change_password);
    r.post(
        "/account/sessions/revoke-others",
        SignedIn,
        account::revoke_other_sessions,
    );
    r.post(
        "/account/sessions/{id}/revoke",
        SignedIn,
        account::revoke_session,
    );
    r.get("/settings/security", SignedIn, security_policy::page);
    r.post("/settings/security", SignedIn, security_policy::save);
    r.get("/settings", SignedIn, settings::page);
    r.post("/settings/domain", SignedIn, settings::save_domain);
    r.post("/settings/smtp", SignedIn, settings::save_smtp);
    r.post("/settings/backups", SignedIn, settings::save_backups);
    r.post(
        "/settings/notifications",
        SignedIn,
        settings::save_notifications,
    );
    r.post("/settings/revert", SignedIn, settings::revert);
    r.post("/settings/test-email", SignedIn, settings::test_email);
    r.post("/settings/test-target", SignedIn, settings::test_target);
    r.post("/settings/targets", SignedIn, settings::save_target);
    r.post(
        "/settings/targets/remove",
        SignedIn,
        settings::remove_target,
    );
    r.get("/keys", SignedIn, keys::page);
    r.post("/keys", SignedIn, keys::create);
    r.post("/keys/{id}/rotate", SignedIn, keys::rotate);
    r.post("/keys/{id}/revoke", SignedIn, keys::revoke);
    r.get("/export", SignedIn, export::page);
    r.post("/export", SignedIn, export::prepare);
    r.get("/export/{id}/download", SignedIn, export::download);
    r.get("/credentials", SignedIn, credentials::page);
    r.post("/credentials", SignedIn, credentials::create);
    r.get("/credentials/{id}", SignedIn, credentials::detail);
    r.post(
        "/credentials/{id}/reveal",
        SignedIn,
        credentials::reveal::reveal,
    );
    r.post("/credentials/{id}/replace", SignedIn, credentials::replace);
    r.post("/credentials/{id}/delete", SignedIn, credentials::delete);
    r.get("/audit", SignedIn, audit::page);
    r.get("/security", SignedIn, security::page);
    r.post("/security/scan", SignedIn, security::scan_now);
    r.get("/backups", SignedIn, backups::page);
    r.post("/backups/run", SignedIn, backups::run);
    r.post("/backups/{id}/verify", SignedIn, backups::verify);
    r.get(
        "/backups/{target}/{id}/database.dump",
        SignedIn,
        backups::download::database_dump,
    );
    r.get("/team", SignedIn, team::page);
    r.post("/team/invitations", SignedIn, team::invite);
    r.post(
        "/team/invitations/{id}/revoke",
        SignedIn,
        team::revoke_invitation,
    );
    r.post("/team/members/{id}/role", SignedIn, team::change_role);
    r.post("/team/members/{id}/remove", SignedIn, team::remove);
    r.post("/team/grants/{id}/approve", SignedIn, team::approve);
    r.post("/team/grants/{id}/reject", SignedIn, team::reject);
    r.get("/webhooks", SignedIn, webhooks::page);
    r.post("/webhooks", SignedIn, webhooks::create);
    r.post("/webhooks/{id}/{action}", SignedIn, webhooks::act);
    r.post("/webhooks/test-email", SignedIn, webhooks::test_email);

    // The JSON API, for API keys; its description is for anyone (see `openapi`).
    r.get("/api/v1/openapi.json", Public, openapi::serve);
    r.get("/api/v1/me", SignedIn, api::me);
    r.get("/api/v1/security", SignedIn, security::api);
    r.post("/api/v1/security/scans", SignedIn, security::scan_api);
    r.get("/api/v1/host", SignedIn, dashboard::host_api);
    r.get("/api/v1/audit", SignedIn, audit::api);
    r.get("/api/v1/backups", SignedIn, backups::api::status);
    r.post("/api/v1/backups", SignedIn, backups::api::run);
    r.post(
        "/api/v1/backups/{id}/verify",
        SignedIn,
        backups::api::verify,
    );
    r.get(
        "/api/v1/backups/{target}/{id}/database.dump",
        SignedIn,
        backups::download::database_dump,
    );
    r.get("/api/v1/team", SignedIn, api::team);
    r.post("/api/v1/team/invitations", SignedIn, api::invite);
    r.patch("/api/v1/team/members/{id}", SignedIn, api::change_role);
    r.delete("/api/v1/team/members/{id}", SignedIn, api::remove_member);
    r.get("/api/v1/sessions", SignedIn, api::sessions);
    r.delete("/api/v1/sessions/{id}", SignedIn, api::revoke_session);
    r.get("/api/v1/keys", SignedIn, api::keys);
    r.post("/api/v1/keys", SignedIn, api::create);
    r.delete("/api/v1/keys/{id}", SignedIn, api::revoke);
    r.post("/api/v1/keys/{id}/rotate", SignedIn, api::rotate);
    r.get("/api/v1/credentials", SignedIn, credentials::api::list);
    r.post("/api/v1/credentials", SignedIn, credentials::api::create);
    r.get("/api/v1/credentials/{id}", SignedIn, credentials::api::get);
    r.put(
        "/api/v1/credentials/{id}",
        SignedIn,
        credentials::api::replace,
    );
    r.delete(
        "/api/v1/credentials/{id}",
        SignedIn,
        credentials::api::delete,
    );
    r.post(
        "/api/v1/credentials/{id}/reveal",
        SignedIn,
        credentials::api::reveal,
    );
    r.get("/api/v1/settings", SignedIn, settings::api::get);
    r.patch("/api/v1/settings", SignedIn, settings::api::patch);
    r.get("/api/v1/webhooks", SignedIn, webhooks::api::list);
    r.post("/api/v1/webhooks", SignedIn, webhooks::api::create);
    r.delete("/api/v1/webhooks/{id}", SignedIn, webhooks::api::delete);
    r.get(
        "/api/v1/webhooks/{id}/deliveries",
        SignedIn,
        webhooks::api::deliveries,
    );
    r.get("/api/v1/exports", SignedIn, export::api::list);
    r.post("/api/v1/exports", SignedIn, export::api::create);
    r.get("/api/v1/exports/{id}", SignedIn, export::api::get);
    r.get("/api/v1/exports/{id}/download", SignedIn, export::download);

    if let Some(extra) = extra {
        extra(r);
    }
}

/// Signing in and out, a first password from a setup link, and two-factor sign-in
/// with its enrolment: the dashboard's, and the fleet controller's for its operators
/// (who are `users` in the controller's own database), so both run the same code.
pub fn declare_sign_in(r: &mut Routes) {
    use Access::{Public, SignedIn};

    r.get("/static/app.css", Public, assets::stylesheet);
    r.get("/login", Public, sign_in::page);
    r.post_json("/login", Public, sign_in::submit_json);
    r.post("/login", Public, sign_in::submit_form);
    // The second factor authenticates by the challenge cookie the password earned.
    r.get("/login/mfa", Public, mfa::challenge_page);
    r.post_json("/login/mfa", Public, mfa::submit_challenge_json);
    r.post("/login/mfa", Public, mfa::submit_challenge);
    r.get("/setup/{token}", Public, setup::page);
    r.post("/setup/{token}", Public, setup::submit);
    r.post("/logout", SignedIn, sign_in::sign_out);
    r.get("/account/mfa", SignedIn, mfa::enrol_page);
    r.post("/account/mfa/confirm", SignedIn, mfa::confirm_enrolment);
    r.post(
        "/account/mfa/recovery-codes",
        SignedIn,
        mfa::regenerate_codes,
    );
}

/// Every route, listed without mounting anything.
pub fn table(extra: Option<ExtraRoutes>) -> Vec<Endpoint> {
    let mut routes = Routes::listing();
    declare(&mut routes, extra);
    routes.into_endpoints()
}

/// Mounts every route on the app.
pub fn configure(cfg: &mut web::ServiceConfig, extra: Option<ExtraRoutes>) {
    let mut routes = Routes::mounting();
    declare(&mut routes, extra);
    routes.mount_on(cfg);
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn each_route_is_declared_once() {
        let table = table(None);
        let distinct: HashSet<_> = table
            .iter()
            .map(|e| (e.method.clone(), e.path, e.accepts))
            .collect();
        assert_eq!(distinct.len(), table.len());
        assert!(table.iter().all(|e| e.path.starts_with('/')));
    }

    /// Save its own description, which holds no data (see `openapi`).
    #[test]
    fn the_json_api_is_never_public() {
        assert!(
            table(None)
                .iter()
                .filter(|e| e.path.starts_with("/api/") && e.path != "/api/v1/openapi.json")
                .all(|e| e.access == Access::SignedIn)
        );
    }
}
