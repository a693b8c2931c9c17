//! Every email Outpost sends, worded in `templates/email/*.txt`.
//!
//! Each says what happened, who did it, what its link does and when the link expires,
//! and what to do if the reader did not expect it. Values are inserted verbatim: these
//! are plain-text bodies, and HTML escaping would only garble addresses and links.
//!
//! Template structs render links that work like passwords until they expire, so they
//! deliberately have no `Debug`.
#![allow(missing_debug_implementations)]

use askama::Template;

use super::email::Email;
use crate::identity::Role;

pub fn invitation(
    to: &str,
    server_name: &str,
    inviter_email: &str,
    role: Role,
    link: &str,
    expires_in_hours: u64,
) -> Email {
    let body = Invitation {
        server_name,
        inviter_email,
        role,
        role_article: article(role),
        role_summary: summary(role),
        link,
        expires_in: count(expires_in_hours, "hour"),
    };
    email(
        to,
        format!("{inviter_email} invited you to {server_name} as {role}"),
        &body,
    )
}

pub fn password_reset(to: &str, server_name: &str, link: &str, expires_in_minutes: u64) -> Email {
    let body = PasswordReset {
        to,
        server_name,
        link,
        expires_in: count(expires_in_minutes, "minute"),
    };
    email(to, format!("Reset your {server_name} password"), &body)
}

pub fn role_grant_requested(
    to_owner: &str,
    server_name: &str,
    requester_email: &str,
    subject_email: &str,
    role: Role,
    review_link: &str,
) -> Email {
    let body = RoleGrantRequested {
        server_name,
        requester_email,
        subject_email,
        role,
        role_article: article(role),
        role_summary: summary(role),
        review_link,
    };
    email(
        to_owner,
        format!("Approval needed: {subject_email} as {role} on {server_name}"),
        &body,
    )
}

pub fn role_granted(
    to_owner: &str,
    server_name: &str,
    actor_email: &str,
    subject_email: &str,
    role: Role,
) -> Email {
    let body = RoleGranted {
        server_name,
        actor_email,
        subject_email,
        role,
        role_article: article(role),
        role_summary: summary(role),
    };
    email(
        to_owner,
        format!(
            "Security alert: {subject_email} is now {} {role} on {server_name}",
            article(role)
        ),
        &body,
    )
}

pub fn totp_code_reused(to: &str, server_name: &str, client_ip: &str) -> Email {
    let body = TotpCodeReused {
        to,
        server_name,
        client_ip,
    };
    email(
        to,
        format!("Security alert: a used sign-in code was tried on your {server_name} account"),
        &body,
    )
}

pub fn key_rotation_due(to: &str, server_name: &str, kek: u32, reasons: &[String]) -> Email {
    let reasons = reasons.join("; and ");
    let body = KeyRotationDue {
        server_name,
        kek,
        reasons: &reasons,
    };
    email(to, format!("Rotate the vault key of {server_name}"), &body)
}

/// A test of the mail relay, asked for by `requested_by` (a person, or the CLI).
pub fn test_email(to: &str, server_name: &str, requested_by: &str) -> Email {
    let body = TestEmail {
        server_name,
        requested_by,
    };
    email(to, format!("Test email from {server_name}"), &body)
}

/// An alert, told once when raised.
pub fn alert(to: &str, server_name: &str, alert: &super::alerts::Alert) -> Email {
    let body = AlertRaised {
        server_name,
        severity: &alert.severity,
        summary: &alert.summary,
        detail: &alert.detail,
        raised_at: &alert
            .raised_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
    };
    email(
        to,
        format!(
            "[{}] {server_name}: {}",
            alert.severity.to_uppercase(),
            alert.summary
        ),
        &body,
    )
}

fn email(to: &str, subject: String, body: &impl Template) -> Email {
    Email {
        to: to.to_owned(),
        subject,
        body: body
            .render()
            .expect("email templates only insert strings and numbers, which always format"),
    }
}

fn article(role: Role) -> &'static str {
    match role {
        Role::Owner | Role::Admin => "an",
        Role::Developer | Role::Viewer => "a",
    }
}

/// What the role may do, so the reader can judge whether the grant makes sense.
fn summary(role: Role) -> &'static str {
    match role {
        Role::Owner => {
            "Owners have full control: security policy, approving role changes, data export and deleting the organisation."
        }
        Role::Admin => {
            "Admins manage the team, settings, backups, hardening, webhooks and stored credentials, and can reveal those credentials."
        }
        Role::Developer => "Developers see the dashboard, manage integrations and deploy agents.",
        Role::Viewer => {
            "Viewers see the dashboard, findings, team and audit log, and manage their own API keys."
        }
    }
}

fn count(n: u64, unit: &str) -> String {
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

#[derive(Template)]
#[template(path = "email/invitation.txt", escape = "none")]
struct Invitation<'a> {
    server_name: &'a str,
    inviter_email: &'a str,
    role: Role,
    role_article: &'a str,
    role_summary: &'a str,
    link: &'a str,
    expires_in: String,
}

#[derive(Template)]
#[template(path = "email/password_reset.txt", escape = "none")]
struct PasswordReset<'a> {
    to: &'a str,
    server_name: &'a str,
    link: &'a str,
    expires_in: String,
}

#[derive(Template)]
#[template(path = "email/role_grant_requested.txt", escape = "none")]
struct RoleGrantRequested<'a> {
    server_name: &'a str,
    requester_email: &'a str,
    subject_email: &'a str,
    role: Role,
    role_article: &'a str,
    role_summary: &'a str,
    review_link: &'a str,
}

#[derive(Template)]
#[template(path = "email/role_granted.txt", escape = "none")]
struct RoleGranted<'a> {
    server_name: &'a str,
    actor_email: &'a str,
    subject_email: &'a str,
    role: Role,
    role_article: &'a str,
    role_summary: &'a str,
}

#[derive(Template)]
#[template(path = "email/totp_code_reused.txt", escape = "none")]
struct TotpCodeReused<'a> {
    to: &'a str,
    server_name: &'a str,
    client_ip: &'a str,
}

#[derive(Template)]
#[template(path = "email/alert.txt", escape = "none")]
struct AlertRaised<'a> {
    server_name: &'a str,
    severity: &'a str,
    summary: &'a str,
    detail: &'a str,
    raised_at: &'a str,
}

#[derive(Template)]
#[template(path = "email/test.txt", escape = "none")]
struct TestEmail<'a> {
    server_name: &'a str,
    requested_by: &'a str,
}

#[derive(Template)]
#[template(path = "email/key_rotation_due.txt", escape = "none")]
struct KeyRotationDue<'a> {
    server_name: &'a str,
    kek: u32,
    reasons: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    // Characters HTML escaping would mangle, to prove nothing is escaped.
    const LINK: &str = "https://outpost.example/invite?token=a&b=<c>\"'";

    fn assert_has(email: &Email, facts: &[&str]) {
        let text = format!("{}\n{}", email.subject, email.body);
        for fact in facts {
            assert!(text.contains(fact), "{fact:?} missing from:\n{text}");
        }
        assert!(!email.body.contains("&amp;"), "escaped:\n{}", email.body);
        assert!(!email.body.contains("{{"), "unrendered:\n{}", email.body);
    }

    #[test]
    fn invitation_names_inviter_role_link_and_expiry() {
        let email = invitation(
            "new@example.com",
            "Acme Outpost",
            "ada@example.com",
            Role::Admin,
            LINK,
            72,
        );
        assert_eq!(email.to, "new@example.com");
        assert!(
            email.subject.contains("ada@example.com"),
            "{}",
            email.subject
        );
        assert!(email.subject.contains("Acme Outpost"), "{}", email.subject);
        assert_has(
            &email,
            &[
                "ada@example.com has invited you to Acme Outpost",
                "as an Admin.",
                summary(Role::Admin),
                LINK,
                "expires in 72 hours",
                "ignore this email",
            ],
        );
        let one = invitation("n@example.com", "s", "a@example.com", Role::Viewer, LINK, 1);
        assert_has(&one, &["as a Viewer.", "expires in 1 hour."]);
    }

    #[test]
    fn password_reset_names_account_link_and_expiry() {
        let email = password_reset("ada@example.com", "Acme Outpost", LINK, 30);
        assert_eq!(email.to, "ada@example.com");
        assert!(email.subject.contains("password"), "{}", email.subject);
        assert_has(
            &email,
            &[
                "Acme Outpost account for\nada@example.com",
                LINK,
                "expires in 30 minutes",
                "If you did not ask for this",
            ],
        );
    }

    #[test]
    fn role_grant_request_names_both_people_role_and_review_link() {
        let email = role_grant_requested(
            "owner2@example.com",
            "Acme Outpost",
            "ada@example.com",
            "bob@example.com",
            Role::Owner,
            LINK,
        );
        assert_eq!(email.to, "owner2@example.com");
        assert!(
            email.subject.contains("bob@example.com"),
            "{}",
            email.subject
        );
        assert!(email.subject.contains("Owner"), "{}", email.subject);
        assert_has(
            &email,
            &[
                "ada@example.com has asked to make bob@example.com an\nOwner on Acme Outpost",
                "second owner's approval",
                summary(Role::Owner),
                LINK,
                "refuse it",
            ],
        );
    }

    #[test]
    fn role_granted_alert_names_actor_subject_and_role() {
        let email = role_granted(
            "owner@example.com",
            "Acme Outpost",
            "ada@example.com",
            "bob@example.com",
            Role::Admin,
        );
        assert_eq!(email.to, "owner@example.com");
        assert!(
            email.subject.starts_with("Security alert"),
            "{}",
            email.subject
        );
        assert_has(
            &email,
            &[
                "bob@example.com is now an Admin on Acme Outpost",
                "granted by ada@example.com",
                "If you did not expect it",
                "audit log",
            ],
        );
    }

    #[test]
    fn totp_reuse_alert_names_account_and_address() {
        let email = totp_code_reused("ada@example.com", "Acme Outpost", "203.0.113.7");
        assert_eq!(email.to, "ada@example.com");
        assert!(
            email.subject.starts_with("Security alert"),
            "{}",
            email.subject
        );
        assert_has(
            &email,
            &[
                "ada@example.com",
                "already been used",
                "203.0.113.7",
                "change your password",
            ],
        );
    }
}
