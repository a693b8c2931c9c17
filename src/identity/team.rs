//! Team membership: invitations, role changes, removals, and the second-Owner
//! approval that guards every grant of Owner or Admin.
//!
//! Rules, enforced here rather than in handlers:
//! - Admins manage Developers and Viewers only; Owners manage everyone.
//! - Nobody changes their own role or removes themselves, and the last Owner stays.
//! - Raising anyone (a member or an invitee) to Owner or Admin needs the approval of an
//!   Owner other than the requester — or, when the requester is the only Owner, their
//!   fresh re-authentication (password and TOTP), which the caller verifies.

use std::time::Duration;

use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{ClientInfo, Role, User, normalize_email, token, user};
use crate::audit::{self, Actor, Event, Outcome};
use crate::db::schema::{invitations, role_grants, sessions, totp_credentials, users};
use crate::notify::webhooks;
use crate::secret::SecretString;

#[derive(Debug, thiserror::Error)]
pub enum TeamError {
    #[error("{0} is already a member")]
    AlreadyMember(String),
    #[error("no such member")]
    NoSuchMember,
    #[error("no such invitation")]
    NoSuchInvitation,
    #[error("this invitation is invalid, used, revoked or expired")]
    InvitationInvalid,
    #[error("this invitation is waiting for an Owner's approval")]
    InvitationAwaitingApproval,
    #[error("the last Owner cannot be demoted or removed")]
    LastOwner,
    #[error("Admins can manage Developers and Viewers only")]
    AdminLimit,
    #[error("you cannot change your own role or remove yourself")]
    OwnAccount,
    #[error("as the only Owner, confirm with your password and a two-factor code")]
    StepUpRequired,
    #[error("another Owner must approve this; you requested it")]
    SameApprover,
    #[error("this request is no longer pending")]
    GrantNotPending,
    #[error("`{0}` is not a valid email address")]
    InvalidEmail(String),
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

impl TeamError {
    /// Refusals by the team rules, as opposed to bad input or missing things.
    pub fn is_denial(&self) -> bool {
        matches!(
            self,
            TeamError::AdminLimit
                | TeamError::OwnAccount
                | TeamError::StepUpRequired
                | TeamError::SameApprover
                | TeamError::LastOwner
        )
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Member {
    pub user: User,
    pub mfa_enrolled: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_seen_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = invitations)]
pub struct Invitation {
    pub id: Uuid,
    pub email: String,
    pub role: String,
    pub invited_by: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub approved_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub accepted_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

impl Invitation {
    pub fn role(&self) -> Role {
        self.role.parse().unwrap_or(Role::Viewer)
    }
}

/// A pending request to make someone Owner or Admin, as shown to Owners.
#[derive(Debug, Clone, Serialize)]
pub struct PendingGrant {
    pub id: Uuid,
    pub subject_email: String,
    pub role: Role,
    pub requested_by: Uuid,
    pub requested_by_email: String,
    #[serde(with = "time::serde::rfc3339")]
    pub requested_at: OffsetDateTime,
    pub for_invitation: bool,
}

#[derive(Debug)]
pub struct InviteOutcome {
    pub invitation: Invitation,
    /// The link token, when the invitation can be used now (and should be sent).
    pub link_token: Option<SecretString>,
    /// The approval request, when the role needs a second Owner.
    pub grant: Option<Uuid>,
}

#[derive(Debug)]
pub enum RoleChange {
    Applied(User),
    Pending { grant: Uuid },
}

#[derive(Debug)]
pub enum GrantApplied {
    Member(User),
    Invitation {
        invitation: Invitation,
        link_token: SecretString,
    },
}

/// Everything the team page and `GET /api/v1/team` show.
#[derive(Debug, Serialize)]
pub struct TeamOverview {
    pub members: Vec<Member>,
    pub invitations: Vec<Invitation>,
    pub pending_role_grants: Vec<PendingGrant>,
}

pub fn overview(conn: &mut PgConnection) -> QueryResult<TeamOverview> {
    Ok(TeamOverview {
        members: members(conn)?,
        invitations: open_invitations(conn)?,
        pending_role_grants: pending_grants(conn)?,
    })
}

pub fn members(conn: &mut PgConnection) -> QueryResult<Vec<Member>> {
    let all = user::all(conn)?;
    let enrolled: Vec<Uuid> = totp_credentials::table
        .filter(totp_credentials::confirmed_at.is_not_null())
        .select(totp_credentials::user_id)
        .load(conn)?;
    let seen: Vec<(Uuid, Option<OffsetDateTime>)> = sessions::table
        .group_by(sessions::user_id)
        .select((sessions::user_id, diesel::dsl::max(sessions::last_seen_at)))
        .load(conn)?;
    Ok(all
        .into_iter()
        .map(|user| Member {
            mfa_enrolled: enrolled.contains(&user.id),
            last_seen_at: seen
                .iter()
                .find(|(id, _)| *id == user.id)
                .and_then(|(_, t)| *t),
            user,
        })
        .collect())
}

fn owner_count(conn: &mut PgConnection) -> QueryResult<i64> {
    users::table
        .filter(users::role.eq(Role::Owner.as_str()))
        .count()
        .get_result(conn)
}

/// Admins may touch only Developers and Viewers, and assign only those roles.
fn check_reach(actor: &User, target_role: Role) -> Result<(), TeamError> {
    if actor.role == Role::Owner || !target_role.is_privileged() {
        Ok(())
    } else {
        Err(TeamError::AdminLimit)
    }
}

/// Whether a privileged grant by `actor` applies at once (sole Owner, re-authenticated)
/// or must wait for another Owner.
fn grant_applies_now(
    conn: &mut PgConnection,
    actor: &User,
    step_up_verified: bool,
) -> Result<bool, TeamError> {
    if actor.role != Role::Owner || owner_count(conn)? > 1 {
        return Ok(false);
    }
    if step_up_verified {
        Ok(true)
    } else {
        Err(TeamError::StepUpRequired)
    }
}

pub fn invite(
    conn: &mut PgConnection,
    actor: &User,
    raw_email: &str,
    role: Role,
    ttl: Duration,
    step_up_verified: bool,
    client: &ClientInfo,
) -> Result<InviteOutcome, TeamError> {
    let email =
        normalize_email(raw_email).map_err(|_| TeamError::InvalidEmail(raw_email.trim().into()))?;
    conn.transaction(|conn| {
        if user::find_by_email(conn, &email)?.is_some() {
            return Err(TeamError::AlreadyMember(email.clone()));
        }
        let now = OffsetDateTime::now_utc();
        let immediate = !role.is_privileged() || grant_applies_now(conn, actor, step_up_verified)?;
        // A new invitation replaces any open one for the same address.
        diesel::update(
            invitations::table
                .filter(invitations::email.eq(&email))
                .filter(invitations::accepted_at.is_null())
                .filter(invitations::revoked_at.is_null()),
        )
        .set(invitations::revoked_at.eq(now))
        .execute(conn)?;
        let (link_token, hash) = token::generate();
        let invitation: Invitation = diesel::insert_into(invitations::table)
            .values((
                invitations::token_hash.eq(&hash[..]),
                invitations::email.eq(&email),
                invitations::role.eq(role.as_str()),
                invitations::invited_by.eq(actor.id),
                invitations::created_at.eq(now),
                invitations::expires_at.eq(now + ttl),
                invitations::approved_at.eq(immediate.then_some(now)),
            ))
            .returning(Invitation::as_returning())
            .get_result(conn)?;
        let grant = if immediate {
            None
        } else {
            Some(request_grant(
                conn,
                actor,
                None,
                Some(invitation.id),
                role,
                client,
            )?)
        };
        audit::record(
            conn,
            &Event::new(Actor::User(actor.id), "team.invited", Outcome::Success)
                .target(format!("invitation:{}", invitation.id))
                .client(client)
                .details(
                    json!({ "email": email, "role": role, "awaiting_approval": grant.is_some() }),
                ),
        )?;
        Ok(InviteOutcome {
            invitation,
            link_token: immediate.then_some(link_token),
            grant,
        })
    })
}

pub fn open_invitations(conn: &mut PgConnection) -> QueryResult<Vec<Invitation>> {
    invitations::table
        .filter(invitations::accepted_at.is_null())
        .filter(invitations::revoked_at.is_null())
        .filter(invitations::expires_at.gt(OffsetDateTime::now_utc()))
        .order(invitations::created_at.desc())
        .select(Invitation::as_select())
        .load(conn)
}

pub fn revoke_invitation(
    conn: &mut PgConnection,
    actor: &User,
    id: Uuid,
    client: &ClientInfo,
) -> Result<(), TeamError> {
    conn.transaction(|conn| {
        let invitation: Invitation = invitations::table
            .find(id)
            .select(Invitation::as_select())
            .first(conn)
            .optional()?
            .ok_or(TeamError::NoSuchInvitation)?;
        check_reach(actor, invitation.role())?;
        diesel::update(invitations::table.find(id))
            .set(invitations::revoked_at.eq(OffsetDateTime::now_utc()))
            .execute(conn)?;
        audit::record(
            conn,
            &Event::new(
                Actor::User(actor.id),
                "team.invitation_revoked",
                Outcome::Success,
            )
            .target(format!("invitation:{id}"))
            .client(client),
        )?;
        Ok(())
    })
}

fn usable_invitation(conn: &mut PgConnection, link_token: &str) -> Result<Invitation, TeamError> {
    if !token::is_well_formed(link_token) {
        return Err(TeamError::InvitationInvalid);
    }
    let found: Invitation = invitations::table
        .filter(invitations::token_hash.eq(&token::hash(link_token)[..]))
        .filter(invitations::accepted_at.is_null())
        .filter(invitations::revoked_at.is_null())
        .filter(invitations::expires_at.gt(OffsetDateTime::now_utc()))
        .select(Invitation::as_select())
        .for_update()
        .first(conn)
        .optional()?
        .ok_or(TeamError::InvitationInvalid)?;
    if found.approved_at.is_none() {
        return Err(TeamError::InvitationAwaitingApproval);
    }
    Ok(found)
}

pub fn inspect_invitation(
    conn: &mut PgConnection,
    link_token: &str,
) -> Result<Invitation, TeamError> {
    usable_invitation(conn, link_token)
}

/// Creates the member an invitation promised, with the password they chose.
pub fn accept_invitation(
    conn: &mut PgConnection,
    link_token: &str,
    password_hash: &str,
    client: &ClientInfo,
) -> Result<User, TeamError> {
    conn.transaction(|conn| {
        let invitation = usable_invitation(conn, link_token)?;
        if user::find_by_email(conn, &invitation.email)?.is_some() {
            return Err(TeamError::AlreadyMember(invitation.email));
        }
        let member = user::create(conn, &invitation.email, invitation.role())?;
        user::set_password_hash(conn, member.id, password_hash)?;
        diesel::update(invitations::table.find(invitation.id))
            .set(invitations::accepted_at.eq(OffsetDateTime::now_utc()))
            .execute(conn)?;
        audit::record(
            conn,
            &Event::new(
                Actor::User(member.id),
                "team.invitation_accepted",
                Outcome::Success,
            )
            .target(format!("user:{}", member.id))
            .client(client)
            .details(json!({ "invitation": invitation.id, "role": member.role })),
        )?;
        webhooks::events::member_added(conn, member.id, &member.email, member.role)?;
        user::find(conn, member.id)?.ok_or(TeamError::NoSuchMember)
    })
}

pub fn change_role(
    conn: &mut PgConnection,
    actor: &User,
    member_id: Uuid,
    role: Role,
    step_up_verified: bool,
    client: &ClientInfo,
) -> Result<RoleChange, TeamError> {
    if member_id == actor.id {
        return Err(TeamError::OwnAccount);
    }
    conn.transaction(|conn| {
        let member = user::find(conn, member_id)?.ok_or(TeamError::NoSuchMember)?;
        check_reach(actor, member.role)?;
        if member.role == role {
            return Ok(RoleChange::Applied(member));
        }
        if member.role == Role::Owner && owner_count(conn)? <= 1 {
            return Err(TeamError::LastOwner);
        }
        if role.is_privileged() && !grant_applies_now(conn, actor, step_up_verified)? {
            let grant = request_grant(conn, actor, Some(member.id), None, role, client)?;
            return Ok(RoleChange::Pending { grant });
        }
        check_reach(actor, role)?;
        Ok(RoleChange::Applied(apply_role(
            conn, actor, &member, role, client,
        )?))
    })
}

fn apply_role(
    conn: &mut PgConnection,
    actor: &User,
    member: &User,
    role: Role,
    client: &ClientInfo,
) -> Result<User, TeamError> {
    diesel::update(users::table.find(member.id))
        .set(users::role.eq(role.as_str()))
        .execute(conn)?;
    audit::record(
        conn,
        &Event::new(Actor::User(actor.id), "team.role_changed", Outcome::Success)
            .target(format!("user:{}", member.id))
            .client(client)
            .details(json!({ "from": member.role, "to": role })),
    )?;
    user::find(conn, member.id)?.ok_or(TeamError::NoSuchMember)
}

fn request_grant(
    conn: &mut PgConnection,
    actor: &User,
    member: Option<Uuid>,
    invitation: Option<Uuid>,
    role: Role,
    client: &ClientInfo,
) -> Result<Uuid, TeamError> {
    let id: Uuid = diesel::insert_into(role_grants::table)
        .values((
            role_grants::user_id.eq(member),
            role_grants::invitation_id.eq(invitation),
            role_grants::role.eq(role.as_str()),
            role_grants::requested_by.eq(actor.id),
        ))
        .returning(role_grants::id)
        .get_result(conn)?;
    audit::record(
        conn,
        &Event::new(
            Actor::User(actor.id),
            "team.role_grant_requested",
            Outcome::Success,
        )
        .target(format!("role_grant:{id}"))
        .client(client)
        .details(json!({ "role": role, "member": member, "invitation": invitation })),
    )?;
    Ok(id)
}

/// A role grant as stored.
#[derive(Queryable, Selectable)]
#[diesel(table_name = role_grants)]
struct GrantRecord {
    id: Uuid,
    user_id: Option<Uuid>,
    invitation_id: Option<Uuid>,
    role: String,
    requested_by: Uuid,
    requested_at: OffsetDateTime,
    status: String,
}

impl GrantRecord {
    fn role(&self) -> Role {
        self.role.parse().unwrap_or(Role::Admin)
    }
}

pub fn pending_grants(conn: &mut PgConnection) -> QueryResult<Vec<PendingGrant>> {
    let records: Vec<GrantRecord> = role_grants::table
        .filter(role_grants::status.eq("pending"))
        .order(role_grants::requested_at.asc())
        .select(GrantRecord::as_select())
        .load(conn)?;
    let mut out = Vec::with_capacity(records.len());
    for grant in records {
        let subject_email = match (grant.user_id, grant.invitation_id) {
            (Some(member), _) => user::find(conn, member)?.map(|u| u.email),
            (None, Some(inv)) => invitations::table
                .find(inv)
                .select(invitations::email)
                .first(conn)
                .optional()?,
            (None, None) => None,
        };
        let requester = user::find(conn, grant.requested_by)?;
        if let (Some(subject_email), Some(requester)) = (subject_email, requester) {
            out.push(PendingGrant {
                id: grant.id,
                subject_email,
                role: grant.role(),
                requested_by: grant.requested_by,
                requested_by_email: requester.email,
                requested_at: grant.requested_at,
                for_invitation: grant.invitation_id.is_some(),
            });
        }
    }
    Ok(out)
}

/// Approves a pending grant; the approver must be an Owner other than the requester.
pub fn approve_grant(
    conn: &mut PgConnection,
    approver: &User,
    grant_id: Uuid,
    client: &ClientInfo,
) -> Result<GrantApplied, TeamError> {
    decide(conn, approver, grant_id, true, client)?.ok_or(TeamError::GrantNotPending)
}

pub fn reject_grant(
    conn: &mut PgConnection,
    approver: &User,
    grant_id: Uuid,
    client: &ClientInfo,
) -> Result<(), TeamError> {
    decide(conn, approver, grant_id, false, client).map(drop)
}

fn decide(
    conn: &mut PgConnection,
    approver: &User,
    grant_id: Uuid,
    approve: bool,
    client: &ClientInfo,
) -> Result<Option<GrantApplied>, TeamError> {
    conn.transaction(|conn| {
        let grant: GrantRecord = role_grants::table
            .find(grant_id)
            .select(GrantRecord::as_select())
            .for_update()
            .first(conn)
            .optional()?
            .ok_or(TeamError::GrantNotPending)?;
        let (member, invitation, requested_by) =
            (grant.user_id, grant.invitation_id, grant.requested_by);
        if grant.status != "pending" {
            return Err(TeamError::GrantNotPending);
        }
        if approver.role != Role::Owner {
            return Err(TeamError::AdminLimit);
        }
        if approver.id == requested_by {
            return Err(TeamError::SameApprover);
        }
        let role = grant.role();
        diesel::update(role_grants::table.find(grant_id))
            .set((
                role_grants::status.eq(if approve { "approved" } else { "rejected" }),
                role_grants::decided_by.eq(approver.id),
                role_grants::decided_at.eq(OffsetDateTime::now_utc()),
            ))
            .execute(conn)?;
        audit::record(
            conn,
            &Event::new(
                Actor::User(approver.id),
                if approve {
                    "team.role_grant_approved"
                } else {
                    "team.role_grant_rejected"
                },
                Outcome::Success,
            )
            .target(format!("role_grant:{grant_id}"))
            .client(client)
            .details(json!({ "role": role, "requested_by": requested_by })),
        )?;
        if !approve {
            return Ok(None);
        }
        match (member, invitation) {
            (Some(member_id), _) => {
                let member = user::find(conn, member_id)?.ok_or(TeamError::NoSuchMember)?;
                Ok(Some(GrantApplied::Member(apply_role(
                    conn, approver, &member, role, client,
                )?)))
            }
            (None, Some(invitation_id)) => {
                // The invitation gets a fresh link now; none was sent before approval.
                let (link_token, hash) = token::generate();
                let invitation: Invitation = diesel::update(
                    invitations::table
                        .find(invitation_id)
                        .filter(invitations::accepted_at.is_null())
                        .filter(invitations::revoked_at.is_null()),
                )
                .set((
                    invitations::approved_at.eq(OffsetDateTime::now_utc()),
                    invitations::token_hash.eq(&hash[..]),
                ))
                .returning(Invitation::as_returning())
                .get_result(conn)
                .optional()?
                .ok_or(TeamError::NoSuchInvitation)?;
                Ok(Some(GrantApplied::Invitation {
                    invitation,
                    link_token,
                }))
            }
            (None, None) => Err(TeamError::GrantNotPending),
        }
    })
}

/// Removes a member: their sessions, API keys and second factor go with the account.
pub fn remove_member(
    conn: &mut PgConnection,
    actor: &User,
    member_id: Uuid,
    client: &ClientInfo,
) -> Result<User, TeamError> {
    if member_id == actor.id {
        return Err(TeamError::OwnAccount);
    }
    conn.transaction(|conn| {
        let member = user::find(conn, member_id)?.ok_or(TeamError::NoSuchMember)?;
        check_reach(actor, member.role)?;
        if member.role == Role::Owner && owner_count(conn)? <= 1 {
            return Err(TeamError::LastOwner);
        }
        diesel::delete(users::table.find(member_id)).execute(conn)?;
        audit::record(
            conn,
            &Event::new(
                Actor::User(actor.id),
                "team.member_removed",
                Outcome::Success,
            )
            .target(format!("user:{member_id}"))
            .client(client)
            .details(json!({ "email": member.email, "role": member.role })),
        )?;
        Ok(member)
    })
}
