//! The people: `hygiene.mfa` (privileged roles use a second factor) and
//! `hygiene.owners` (few Owners).

use super::super::super::{Check, CheckError, Context, Found, Severity};
use crate::identity::{Role, policy, team, user};

#[derive(Debug)]
pub struct Mfa;

impl Check for Mfa {
    fn id(&self) -> &'static str {
        "hygiene.mfa"
    }

    fn title(&self) -> &'static str {
        "Privileged accounts use two-factor sign-in"
    }

    fn run(&self, cx: &Context<'_>) -> Result<Vec<Found>, CheckError> {
        let mut conn = cx.db.get()?;
        // Owners and Admins always, whatever the policy says: the policy can widen
        // the rule, and a policy narrowed by mistake must not hide them.
        let mut required = policy::mfa_required_roles(&mut conn)?;
        required.extend([Role::Owner, Role::Admin]);
        Ok(team::members(&mut conn)?
            .into_iter()
            // An account that never set a password cannot sign in yet; the policy
            // makes it enrol at its first sign-in.
            .filter(|m| m.user.active && !m.mfa_enrolled && required.contains(&m.user.role))
            .map(|m| {
                Found::new(
                    format!("user:{}", m.user.id),
                    Severity::High,
                    format!("{} account without a second factor", m.user.role),
                    format!(
                        "{} ({}) has no confirmed authenticator",
                        m.user.email, m.user.role
                    ),
                )
            })
            .collect())
    }
}

#[derive(Debug)]
pub struct Owners;

impl Check for Owners {
    fn id(&self) -> &'static str {
        "hygiene.owners"
    }

    fn title(&self) -> &'static str {
        "Few people are Owners"
    }

    fn run(&self, cx: &Context<'_>) -> Result<Vec<Found>, CheckError> {
        let owners = user::owners(&mut *cx.db.get()?)?;
        let max = cx.config.scan.max_owners as usize;
        if owners.len() <= max {
            return Ok(Vec::new());
        }
        let emails: Vec<&str> = owners.iter().map(|u| u.email.as_str()).collect();
        // One finding for the team, not one per Owner: no single Owner is the problem.
        Ok(vec![Found::new(
            "owners",
            Severity::Medium,
            "More Owners than the policy allows",
            format!(
                "{} Owners ({}); scan.max_owners is {max}",
                owners.len(),
                emails.join(", ")
            ),
        )])
    }
}
