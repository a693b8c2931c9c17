//! Each operation of the JSON API as the OpenAPI document describes it: what it does,
//! the capability its guard checks, its body and its answer. The paths and methods
//! must be exactly the route table's `/api/v1` routes (a test compares them both
//! ways, and checks each capability against the guard's 403).

use actix_web::http::Method;
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

use super::super::{api, audit, backups, credentials, export, settings, webhooks};
use crate::identity::Capability;

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// No credentials (the document itself).
    Nothing,
    /// Any valid key, whatever it holds.
    AnyKey,
    Capability(Capability),
}

/// A body's schema by name, then every schema it refers to (`Role`, `Capability`).
pub type Named = fn() -> Vec<(String, RefOr<Schema>)>;

fn named<T: ToSchema + PartialSchema>() -> Vec<(String, RefOr<Schema>)> {
    let mut schemas = vec![(T::name().into_owned(), T::schema())];
    T::schemas(&mut schemas);
    schemas
}

/// What a successful call returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// A JSON object (the fields are the README's).
    Json(u16, &'static str),
    /// No body.
    Empty(u16, &'static str),
    /// A file, streamed.
    File(&'static str, &'static str),
}

#[derive(Debug, Clone)]
pub struct Operation {
    pub method: Method,
    pub path: &'static str,
    pub summary: &'static str,
    pub tag: &'static str,
    pub needs: Needs,
    pub body: Option<Named>,
    /// The query string's parameters (`IntoParams`).
    pub query: Option<fn() -> Vec<utoipa::openapi::path::Parameter>>,
    pub answer: Answer,
}

fn op(
    method: Method,
    path: &'static str,
    tag: &'static str,
    needs: Needs,
    summary: &'static str,
    answer: Answer,
) -> Operation {
    Operation {
        method,
        path,
        summary,
        tag,
        needs,
        body: None,
        query: None,
        answer,
    }
}

impl Operation {
    fn body(self, body: Named) -> Self {
        Self {
            body: Some(body),
            ..self
        }
    }
}

/// Every documented operation, in the README's order.
pub fn all() -> Vec<Operation> {
    use Answer::{Empty, File, Json};
    use Capability as C;
    use Method as M;
    use Needs::{AnyKey, Capability as Cap, Nothing};

    let accepted = "The work was started; poll for its outcome";
    vec![
        op(
            M::GET,
            "/api/v1/openapi.json",
            "meta",
            Nothing,
            "This document",
            Json(200, "The OpenAPI document"),
        ),
        op(
            M::GET,
            "/api/v1/me",
            "identity",
            AnyKey,
            "The key's owner and its effective capabilities",
            Json(200, "`{user, capabilities, api_key}`"),
        ),
        op(
            M::GET,
            "/api/v1/team",
            "team",
            Cap(C::TeamView),
            "Members, open invitations and pending role grants",
            Json(200, "The team overview"),
        ),
        op(
            M::POST,
            "/api/v1/team/invitations",
            "team",
            Cap(C::TeamManage),
            "Invites someone (Owner and Admin invitations wait for a second Owner)",
            Json(201, "`{invitation, status, role_grant, link}`"),
        )
        .body(named::<api::InviteBody>),
        op(
            M::PATCH,
            "/api/v1/team/members/{id}",
            "team",
            Cap(C::TeamManage),
            "Changes a member's role (200), or requests it (202)",
            Json(200, "`{member}`, or 202 `{status, role_grant}`"),
        )
        .body(named::<api::RoleBody>),
        op(
            M::DELETE,
            "/api/v1/team/members/{id}",
            "team",
            Cap(C::TeamManage),
            "Removes a member",
            Empty(204, "Removed"),
        ),
        op(
            M::GET,
            "/api/v1/sessions",
            "identity",
            Cap(C::DashboardView),
            "The key owner's browser sessions",
            Json(200, "`{sessions}`"),
        ),
        op(
            M::DELETE,
            "/api/v1/sessions/{id}",
            "identity",
            Cap(C::DashboardView),
            "Ends one of the key owner's sessions",
            Empty(204, "Ended"),
        ),
        op(
            M::GET,
            "/api/v1/keys",
            "identity",
            Cap(C::ApiKeysManage),
            "The caller's API keys",
            Json(200, "`{api_keys}`"),
        ),
        op(
            M::POST,
            "/api/v1/keys",
            "identity",
            Cap(C::ApiKeysManage),
            "Creates a key (never beyond the calling key)",
            Json(201, "`{api_key, secret}`: the secret is shown once"),
        )
        .body(named::<api::NewKeyBody>),
        op(
            M::DELETE,
            "/api/v1/keys/{id}",
            "identity",
            Cap(C::ApiKeysManage),
            "Revokes a key",
            Empty(204, "Revoked"),
        ),
        op(
            M::POST,
            "/api/v1/keys/{id}/rotate",
            "identity",
            Cap(C::ApiKeysManage),
            "Replaces a key; the old one works for the grace period",
            Json(201, "`{api_key, secret}`"),
        )
        .body(named::<api::RotateBody>),
        op(
            M::GET,
            "/api/v1/security",
            "security",
            Cap(C::FindingsView),
            "Open findings and the security loop's metrics",
            Json(200, "`{findings, metrics}`"),
        ),
        op(
            M::POST,
            "/api/v1/security/scans",
            "security",
            Cap(C::HardeningManage),
            "Asks for a security scan now",
            Json(202, accepted),
        ),
        op(
            M::GET,
            "/api/v1/host",
            "security",
            Cap(C::DashboardView),
            "The host hardening checks' latest results",
            Json(200, "The checks"),
        ),
        Operation {
            query: Some(|| <audit::FilterForm as utoipa::IntoParams>::into_params(|| None)),
            ..op(
                M::GET,
                "/api/v1/audit",
                "audit",
                Cap(C::AuditView),
                "Audit log entries, newest first, filtered",
                Json(
                    200,
                    "`{entries, next_before, latest_checkpoint, latest_verification}`",
                ),
            )
        },
        op(
            M::GET,
            "/api/v1/backups",
            "backups",
            Cap(C::DashboardView),
            "Backup state and reasons, recent runs per target, next runs, open alerts",
            Json(200, "The backup status"),
        ),
        op(
            M::POST,
            "/api/v1/backups",
            "backups",
            Cap(C::BackupsManage),
            "Starts a backup (the body is optional: the scheduled target)",
            Json(202, accepted),
        )
        .body(named::<backups::api::RunBody>),
        op(
            M::POST,
            "/api/v1/backups/{id}/verify",
            "backups",
            Cap(C::BackupsManage),
            "Starts a restore drill of one backup",
            Json(202, accepted),
        ),
        op(
            M::GET,
            "/api/v1/backups/{target}/{id}/database.dump",
            "backups",
            Cap(C::DataExport),
            "One backup's database dump, decrypted",
            File(
                "application/octet-stream",
                "The pg_dump custom-format archive",
            ),
        ),
        op(
            M::GET,
            "/api/v1/credentials",
            "credentials",
            Cap(C::CredentialsView),
            "Stored credentials' metadata and status, never values",
            Json(200, "`{credentials}`"),
        ),
        op(
            M::POST,
            "/api/v1/credentials",
            "credentials",
            Cap(C::CredentialsManage),
            "Stores a credential",
            Json(201, "`{credential}`"),
        )
        .body(named::<credentials::api::CreateBody>),
        op(
            M::GET,
            "/api/v1/credentials/{id}",
            "credentials",
            Cap(C::CredentialsView),
            "One credential's metadata and status",
            Json(200, "`{credential}`"),
        ),
        op(
            M::PUT,
            "/api/v1/credentials/{id}",
            "credentials",
            Cap(C::CredentialsManage),
            "Replaces a credential's value and expiry",
            Json(200, "`{credential}`"),
        )
        .body(named::<credentials::api::ReplaceBody>),
        op(
            M::DELETE,
            "/api/v1/credentials/{id}",
            "credentials",
            Cap(C::CredentialsManage),
            "Deletes a credential",
            Empty(204, "Deleted"),
        ),
        op(
            M::POST,
            "/api/v1/credentials/{id}/reveal",
            "credentials",
            Cap(C::CredentialsReveal),
            "A credential's value, with a current two-factor code of the key's owner",
            Json(200, "`{value}` (`Cache-Control: no-store`)"),
        )
        .body(named::<credentials::api::RevealBody>),
        op(
            M::GET,
            "/api/v1/webhooks",
            "webhooks",
            Cap(C::WebhooksManage),
            "Outbound webhook endpoints",
            Json(200, "`{webhooks}`"),
        ),
        op(
            M::POST,
            "/api/v1/webhooks",
            "webhooks",
            Cap(C::WebhooksManage),
            "Adds an endpoint (its signing secret is shown once)",
            Json(201, "`{webhook, secret}`"),
        )
        .body(named::<webhooks::api::CreateBody>),
        op(
            M::DELETE,
            "/api/v1/webhooks/{id}",
            "webhooks",
            Cap(C::WebhooksManage),
            "Deletes an endpoint",
            Empty(204, "Deleted"),
        ),
        op(
            M::GET,
            "/api/v1/webhooks/{id}/deliveries",
            "webhooks",
            Cap(C::WebhooksManage),
            "An endpoint's recent deliveries",
            Json(200, "`{deliveries}`"),
        ),
        op(
            M::GET,
            "/api/v1/settings",
            "settings",
            Cap(C::SettingsManage),
            "Every setting the dashboard can change: its value (a secret only as whether \
             one is set) and whether it comes from the file or the dashboard",
            Json(200, "`{settings}`"),
        ),
        op(
            M::PATCH,
            "/api/v1/settings",
            "settings",
            Cap(C::SettingsManage),
            "Changes settings, all or nothing (a 422 names each bad field); `null` goes \
             back to the file's value. Applied without a restart",
            Json(200, "`{settings}`"),
        )
        .body(named::<settings::api::PatchBody>),
        op(
            M::GET,
            "/api/v1/exports",
            "exports",
            Cap(C::DataExport),
            "Exports and the cancellation in force",
            Json(200, "`{exports, cancellation}`"),
        ),
        op(
            M::POST,
            "/api/v1/exports",
            "exports",
            Cap(C::DataExport),
            "Prepares an export (poll its `Location`)",
            Json(202, accepted),
        )
        .body(named::<export::api::CreateBody>),
        op(
            M::GET,
            "/api/v1/exports/{id}",
            "exports",
            Cap(C::DataExport),
            "One export's status",
            Json(200, "`{export}`"),
        ),
        op(
            M::GET,
            "/api/v1/exports/{id}/download",
            "exports",
            Cap(C::DataExport),
            "The export tarball, streamed",
            File("application/x-tar", "The export"),
        ),
    ]
}
