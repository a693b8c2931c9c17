//! Accounts.

use std::fmt;
use std::str::FromStr;

use diesel::prelude::*;
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::db::schema::users;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Admin,
    Developer,
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Developer => "developer",
            Role::Viewer => "viewer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Owner => "Owner",
            Role::Admin => "Admin",
            Role::Developer => "Developer",
            Role::Viewer => "Viewer",
        })
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "owner" => Ok(Role::Owner),
            "admin" => Ok(Role::Admin),
            "developer" => Ok(Role::Developer),
            "viewer" => Ok(Role::Viewer),
            other => Err(format!("unknown role `{other}`")),
        }
    }
}

/// An account as the rest of the program sees it: never with its password hash.
#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub role: Role,
    /// False until a password has been set through the setup link.
    pub active: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = users)]
struct Row {
    id: Uuid,
    email: String,
    password_hash: Option<String>,
    role: String,
    created_at: OffsetDateTime,
}

impl Row {
    fn split(self) -> (User, Option<String>) {
        let user = User {
            id: self.id,
            email: self.email,
            // The CHECK constraint admits only the four roles.
            role: self.role.parse().unwrap_or(Role::Viewer),
            active: self.password_hash.is_some(),
            created_at: self.created_at,
        };
        (user, self.password_hash)
    }
}

pub fn find(conn: &mut PgConnection, id: Uuid) -> QueryResult<Option<User>> {
    users::table
        .find(id)
        .select(Row::as_select())
        .first(conn)
        .optional()
        .map(|r| r.map(|row| row.split().0))
}

pub fn find_by_email(conn: &mut PgConnection, email: &str) -> QueryResult<Option<User>> {
    credentials_by_email(conn, email).map(|found| found.map(|(user, _)| user))
}

/// The account and its password hash, matched case-insensitively.
pub fn credentials_by_email(
    conn: &mut PgConnection,
    email: &str,
) -> QueryResult<Option<(User, Option<String>)>> {
    diesel::define_sql_function!(fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);
    users::table
        .filter(lower(users::email).eq(email.to_lowercase()))
        .select(Row::as_select())
        .first(conn)
        .optional()
        .map(|r| r.map(Row::split))
}

pub fn create(conn: &mut PgConnection, email: &str, role: Role) -> QueryResult<User> {
    diesel::insert_into(users::table)
        .values((users::email.eq(email), users::role.eq(role.as_str())))
        .returning(Row::as_returning())
        .get_result(conn)
        .map(|row| row.split().0)
}

pub fn set_password_hash(conn: &mut PgConnection, id: Uuid, hash: &str) -> QueryResult<()> {
    diesel::update(users::table.find(id))
        .set((
            users::password_hash.eq(hash),
            users::password_changed_at.eq(OffsetDateTime::now_utc()),
        ))
        .execute(conn)
        .map(drop)
}

/// Every account, Owners first, then by email.
pub fn all(conn: &mut PgConnection) -> QueryResult<Vec<User>> {
    let mut everyone: Vec<User> = users::table
        .select(Row::as_select())
        .load(conn)?
        .into_iter()
        .map(|r| r.split().0)
        .collect();
    everyone.sort_by(|a, b| {
        let rank = |r: Role| Role::ALL.iter().position(|x| *x == r);
        rank(a.role)
            .cmp(&rank(b.role))
            .then_with(|| a.email.cmp(&b.email))
    });
    Ok(everyone)
}

pub fn owners(conn: &mut PgConnection) -> QueryResult<Vec<User>> {
    with_role(conn, Role::Owner)
}

/// Every member with `role`, oldest first.
pub fn with_role(conn: &mut PgConnection, role: Role) -> QueryResult<Vec<User>> {
    users::table
        .filter(users::role.eq(role.as_str()))
        .order(users::created_at.asc())
        .select(Row::as_select())
        .load(conn)
        .map(|rows| rows.into_iter().map(|r| r.split().0).collect())
}
