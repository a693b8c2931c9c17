//! The team page and its actions: invite, change roles, remove, approve grants.
//! Rules live in `identity::team`; this module turns forms into calls and sends the
//! emails those calls call for.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use uuid::Uuid;

use diesel::PgConnection;

use crate::audit::{self, Actor, Event, Outcome};
use crate::identity::team::{self, GrantApplied, InviteOutcome, RoleChange, TeamError};
use crate::identity::{Capability, ClientInfo, Role, User, cap, user};
use crate::notify::messages;
use crate::secret::SecretString;
use crate::web::AppState;
use crate::web::auth::client_info;
use crate::web::csrf::{CsrfForm, CsrfToken, NoFields};
use crate::web::error::AppError;
use crate::web::guard::{Authorized, Caller};
use crate::web::mail::{self, Delivery};
use crate::web::pages::{self, Layout};
use crate::web::step_up;

const NOTICES: &[(&str, &str)] = &[
    ("invited", "Invitation sent."),
    (
        "awaiting_approval",
        "Requested. An Owner other than you must approve it; all Owners have been told.",
    ),
    ("role_changed", "Role changed."),
    (
        "removed",
        "Member removed. Their sessions and API keys no longer work.",
    ),
    ("revoked", "Invitation revoked."),
    ("approved", "Approved."),
    ("rejected", "Rejected."),
];

#[derive(Deserialize)]
pub struct Messages {
    notice: Option<String>,
}

struct MemberRow {
    id: Uuid,
    email: String,
    role: String,
    mfa: bool,
    last_seen: String,
    is_you: bool,
    manageable: bool,
}

struct InvitationRow {
    id: Uuid,
    email: String,
    role: String,
    expires: String,
    awaiting_approval: bool,
}

struct GrantRow {
    id: Uuid,
    subject_email: String,
    role: String,
    requested_by_email: String,
    requested_at: String,
    for_invitation: bool,
    can_decide: bool,
}

struct RoleOption {
    value: &'static str,
    label: String,
}

struct NewLink {
    email: String,
    url: String,
    expires: String,
}

#[derive(Template)]
#[template(path = "team.html")]
struct TeamPage<'a> {
    layout: Layout<'a>,
    members: Vec<MemberRow>,
    invitations: Vec<InvitationRow>,
    grants: Vec<GrantRow>,
    roles: Vec<RoleOption>,
    can_manage: bool,
    step_up: bool,
    invitation_hours: u64,
    new_link: Option<NewLink>,
    notice: Option<&'static str>,
    error: Option<&'static str>,
}

pub async fn page(
    state: web::Data<AppState>,
    caller: Authorized<cap::TeamView>,
    csrf: CsrfToken,
    messages: web::Query<Messages>,
) -> Result<HttpResponse, AppError> {
    render(
        &state,
        &caller.caller,
        &csrf,
        pages::flash(messages.notice.as_deref(), NOTICES),
        None,
    )
    .await
}

async fn render(
    state: &AppState,
    caller: &Caller,
    csrf: &CsrfToken,
    notice: Option<&'static str>,
    new_link: Option<NewLink>,
) -> Result<HttpResponse, AppError> {
    let overview = state
        .db
        .run(|conn| team::overview(conn).map_err(AppError::from))
        .await?;
    let (members, invitations, grants) = (
        overview.members,
        overview.invitations,
        overview.pending_role_grants,
    );
    let me = &caller.user;
    let can_manage = caller.can(Capability::TeamManage);
    let can_approve = caller.can(Capability::RoleGrantsApprove);
    let owners = members
        .iter()
        .filter(|m| m.user.role == Role::Owner)
        .count();
    let config = state.config();
    let page = TeamPage {
        layout: Layout::signed_in(&config.server_name, csrf, caller, "/team"),
        members: members
            .into_iter()
            .map(|m| MemberRow {
                manageable: can_manage
                    && m.user.id != me.id
                    && (me.role == Role::Owner || !m.user.role.is_privileged()),
                id: m.user.id,
                is_you: m.user.id == me.id,
                email: m.user.email,
                role: m.user.role.to_string(),
                mfa: m.mfa_enrolled,
                last_seen: m.last_seen_at.map_or_else(|| "never".into(), pages::when),
            })
            .collect(),
        invitations: invitations
            .into_iter()
            .map(|i| InvitationRow {
                id: i.id,
                role: i.role().to_string(),
                expires: pages::when(i.expires_at),
                awaiting_approval: i.approved_at.is_none(),
                email: i.email,
            })
            .collect(),
        grants: grants
            .into_iter()
            .map(|g| GrantRow {
                id: g.id,
                can_decide: can_approve && g.requested_by != me.id,
                subject_email: g.subject_email,
                role: g.role.to_string(),
                requested_by_email: g.requested_by_email,
                requested_at: pages::when(g.requested_at),
                for_invitation: g.for_invitation,
            })
            .collect(),
        roles: Role::ALL
            .iter()
            .map(|r| RoleOption {
                value: r.as_str(),
                label: r.to_string(),
            })
            .collect(),
        can_manage,
        step_up: me.role == Role::Owner && owners == 1,
        invitation_hours: state.config().session.invitation_ttl.as_secs() / 3600,
        new_link,
        notice,
        error: None,
    };
    pages::html(&page, csrf)
}

#[derive(Deserialize)]
pub struct InviteForm {
    email: String,
    role: String,
    #[serde(default)]
    password: Option<SecretString>,
    #[serde(default)]
    code: Option<String>,
}

fn parse_role(text: &str) -> Result<Role, AppError> {
    text.parse()
        .map_err(|_| AppError::Unprocessable(format!("`{text}` is not a role")))
}

pub async fn invite(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authorized<cap::TeamManage>,
    csrf: CsrfToken,
    CsrfForm(form): CsrfForm<InviteForm>,
) -> Result<HttpResponse, AppError> {
    let role = parse_role(&form.role)?;
    let actor = caller.user().clone();
    let stepped_up = step_up::verify(&state, &actor, form.password, form.code, &req).await?;
    let ttl = state.config().session.invitation_ttl;
    let email = form.email;
    let outcome: InviteOutcome = run_as(&state, &req, &actor, move |conn, actor, client| {
        team::invite(conn, actor, &email, role, ttl, stepped_up, client)
    })
    .await?;
    if outcome.grant.is_some() {
        ask_owners_to_approve(&state, &actor, &outcome.invitation.email, role).await?;
        return Ok(pages::see_other("/team?notice=awaiting_approval").finish());
    }
    if role.is_privileged() {
        tell_owners_of_grant(&state, &actor, &outcome.invitation.email, role).await?;
    }
    let link = outcome
        .link_token
        .expect("an approved invitation carries its link");
    let shown = send_invitation(&state, &actor, &outcome.invitation, &link).await;
    match shown {
        Some(new_link) => {
            render(
                &state,
                &caller.caller,
                &csrf,
                Some("Invitation created."),
                Some(new_link),
            )
            .await
        }
        None => Ok(pages::see_other("/team?notice=invited").finish()),
    }
}

/// Emails the invitation; returns the link for the inviter to pass on themselves when
/// no mail server is configured.
async fn send_invitation(
    state: &AppState,
    inviter: &User,
    invitation: &team::Invitation,
    link_token: &SecretString,
) -> Option<NewLink> {
    let url = format!(
        "{}/invite/{}",
        state.config().base_url(),
        link_token.expose()
    );
    let hours = state.config().session.invitation_ttl.as_secs() / 3600;
    let email = messages::invitation(
        &invitation.email,
        &state.config().server_name,
        &inviter.email,
        invitation.role(),
        &url,
        hours,
    );
    match mail::deliver(state, &email).await {
        Delivery::Sent => None,
        Delivery::NotConfigured | Delivery::Failed => Some(NewLink {
            email: invitation.email.clone(),
            url,
            expires: pages::when(invitation.expires_at),
        }),
    }
}

async fn owners(state: &AppState) -> Result<Vec<User>, AppError> {
    state
        .db
        .run(|conn| user::owners(conn).map_err(AppError::from))
        .await
}

async fn ask_owners_to_approve(
    state: &AppState,
    requester: &User,
    subject: &str,
    role: Role,
) -> Result<(), AppError> {
    let review = format!("{}/team", state.config().base_url());
    for owner in owners(state).await?.into_iter().filter(|o| o.active) {
        let email = messages::role_grant_requested(
            &owner.email,
            &state.config().server_name,
            &requester.email,
            subject,
            role,
            &review,
        );
        mail::deliver(state, &email).await;
    }
    Ok(())
}

async fn tell_owners_of_grant(
    state: &AppState,
    actor: &User,
    subject: &str,
    role: Role,
) -> Result<(), AppError> {
    for owner in owners(state).await?.into_iter().filter(|o| o.active) {
        let email = messages::role_granted(
            &owner.email,
            &state.config().server_name,
            &actor.email,
            subject,
            role,
        );
        mail::deliver(state, &email).await;
    }
    Ok(())
}

#[derive(Deserialize)]
pub struct RoleForm {
    role: String,
    #[serde(default)]
    password: Option<SecretString>,
    #[serde(default)]
    code: Option<String>,
}

pub async fn change_role(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authorized<cap::TeamManage>,
    member: web::Path<Uuid>,
    CsrfForm(form): CsrfForm<RoleForm>,
) -> Result<HttpResponse, AppError> {
    let role = parse_role(&form.role)?;
    let actor = caller.user().clone();
    let stepped_up = step_up::verify(&state, &actor, form.password, form.code, &req).await?;
    let member_id = member.into_inner();
    let change = run_as(&state, &req, &actor, move |conn, actor, client| {
        team::change_role(conn, actor, member_id, role, stepped_up, client)
    })
    .await?;
    match change {
        RoleChange::Pending { .. } => {
            let subject = subject_email(&state, member_id).await?;
            ask_owners_to_approve(&state, &actor, &subject, role).await?;
            Ok(pages::see_other("/team?notice=awaiting_approval").finish())
        }
        RoleChange::Applied(member) => {
            if role.is_privileged() {
                tell_owners_of_grant(&state, &actor, &member.email, role).await?;
            }
            Ok(pages::see_other("/team?notice=role_changed").finish())
        }
    }
}

async fn subject_email(state: &AppState, member_id: Uuid) -> Result<String, AppError> {
    state
        .db
        .run(move |conn| user::find(conn, member_id).map_err(AppError::from))
        .await?
        .map(|u| u.email)
        .ok_or(AppError::NotFound)
}

/// Runs one team change as the caller, in the caller's name for the audit log. A change
/// the team rules refuse (an Admin acting on an Owner, acting on oneself, approving
/// one's own request, a missing re-authentication) is audited as a denial.
pub(super) async fn run_as<T: Send + 'static>(
    state: &AppState,
    req: &HttpRequest,
    actor: &User,
    change: impl FnOnce(&mut PgConnection, &User, &ClientInfo) -> Result<T, TeamError> + Send + 'static,
) -> Result<T, AppError> {
    let actor = actor.clone();
    let client = client_info(req);
    let target = req.match_pattern().unwrap_or_else(|| req.path().to_owned());
    state
        .db
        .run(move |conn| match change(conn, &actor, &client) {
            Ok(done) => Ok(done),
            Err(refused) if refused.is_denial() => {
                audit::record(
                    conn,
                    &Event::new(Actor::User(actor.id), "access.denied", Outcome::Denied)
                        .target(target)
                        .client(&client)
                        .details(serde_json::json!({ "reason": refused.to_string() })),
                )?;
                Err(AppError::from(refused))
            }
            Err(other) => Err(AppError::from(other)),
        })
        .await
}

pub async fn remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authorized<cap::TeamManage>,
    member: web::Path<Uuid>,
    _: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let member = member.into_inner();
    run_as(&state, &req, caller.user(), move |conn, actor, client| {
        team::remove_member(conn, actor, member, client)
    })
    .await?;
    Ok(pages::see_other("/team?notice=removed").finish())
}

pub async fn revoke_invitation(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authorized<cap::TeamManage>,
    invitation: web::Path<Uuid>,
    _: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let invitation = invitation.into_inner();
    run_as(&state, &req, caller.user(), move |conn, actor, client| {
        team::revoke_invitation(conn, actor, invitation, client)
    })
    .await?;
    Ok(pages::see_other("/team?notice=revoked").finish())
}

pub async fn approve(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authorized<cap::RoleGrantsApprove>,
    csrf: CsrfToken,
    grant: web::Path<Uuid>,
    _: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let approver = caller.user().clone();
    let id = grant.into_inner();
    let applied = run_as(&state, &req, &approver, move |conn, approver, client| {
        team::approve_grant(conn, approver, id, client)
    })
    .await?;
    match applied {
        GrantApplied::Member(member) => {
            tell_owners_of_grant(&state, &approver, &member.email, member.role).await?;
            Ok(pages::see_other("/team?notice=approved").finish())
        }
        GrantApplied::Invitation {
            invitation,
            link_token,
        } => {
            tell_owners_of_grant(&state, &approver, &invitation.email, invitation.role()).await?;
            match send_invitation(&state, &approver, &invitation, &link_token).await {
                Some(new_link) => {
                    render(
                        &state,
                        &caller.caller,
                        &csrf,
                        Some("Approved."),
                        Some(new_link),
                    )
                    .await
                }
                None => Ok(pages::see_other("/team?notice=approved").finish()),
            }
        }
    }
}

pub async fn reject(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authorized<cap::RoleGrantsApprove>,
    grant: web::Path<Uuid>,
    _: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let grant = grant.into_inner();
    run_as(
        &state,
        &req,
        caller.user(),
        move |conn, approver, client| team::reject_grant(conn, approver, grant, client),
    )
    .await?;
    Ok(pages::see_other("/team?notice=rejected").finish())
}
