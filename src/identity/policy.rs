//! The organisation's security policy: which roles must use two-factor sign-in.

use diesel::prelude::*;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Role, User};
use crate::db::schema::org_policy;

pub fn mfa_required_roles(conn: &mut PgConnection) -> QueryResult<Vec<Role>> {
    let names: Vec<String> = org_policy::table
        .select(org_policy::mfa_required_roles)
        .first(conn)?;
    Ok(names.iter().filter_map(|n| n.parse().ok()).collect())
}

pub fn set_mfa_required_roles(
    conn: &mut PgConnection,
    roles: &[Role],
    by: Uuid,
) -> QueryResult<()> {
    let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    diesel::update(org_policy::table)
        .set((
            org_policy::mfa_required_roles.eq(names),
            org_policy::updated_at.eq(OffsetDateTime::now_utc()),
            org_policy::updated_by.eq(by),
        ))
        .execute(conn)
        .map(drop)
}

/// True when the policy requires two-factor sign-in for the user's role and the user
/// has not completed enrolment: such a person may do nothing but enrol.
pub fn must_enrol_mfa(conn: &mut PgConnection, user: &User) -> QueryResult<bool> {
    if !mfa_required_roles(conn)?.contains(&user.role) {
        return Ok(false);
    }
    Ok(!super::totp::is_enrolled(conn, user.id)?)
}
