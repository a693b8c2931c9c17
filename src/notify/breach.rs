//! The notice of a personal-data breach, sent to every member by an Owner: what
//! happened, when it was detected, what data, what is being done, and the regulator's
//! 72-hour deadline (GDPR Art. 33), counted from detection.
#![allow(missing_debug_implementations)]

use std::time::Duration;

use askama::Template;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::email::Email;

/// How long after detection the supervisory authority must be told.
pub const REPORTING_WINDOW: Duration = Duration::from_secs(72 * 60 * 60);

/// What the Owner states about the breach.
#[derive(Debug, Clone)]
pub struct Breach {
    pub summary: String,
    pub data: String,
    pub actions: String,
    pub detected_at: OffsetDateTime,
}

impl Breach {
    /// When the report to the regulator is due.
    pub fn deadline(&self) -> OffsetDateTime {
        self.detected_at + REPORTING_WINDOW
    }
}

fn utc(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_default()
}

pub fn notice(to: &str, server_name: &str, sent_by: &str, breach: &Breach) -> Email {
    let deadline = utc(breach.deadline());
    let body = BreachNotice {
        server_name,
        sent_by,
        summary: &breach.summary,
        data: &breach.data,
        actions: &breach.actions,
        detected_at: &utc(breach.detected_at),
        deadline: &deadline,
    };
    Email {
        to: to.to_owned(),
        subject: format!(
            "Data breach notice for {server_name}: regulator report due by {deadline}"
        ),
        body: body
            .render()
            .expect("the notice only inserts strings, which always format"),
    }
}

#[derive(Template)]
#[template(path = "email/breach.txt", escape = "none")]
struct BreachNotice<'a> {
    server_name: &'a str,
    sent_by: &'a str,
    summary: &'a str,
    data: &'a str,
    actions: &'a str,
    detected_at: &'a str,
    deadline: &'a str,
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn the_notice_states_the_facts_and_the_deadline_72_hours_after_detection() {
        let breach = Breach {
            summary: "A backup bucket was readable by anyone for 3 hours.".into(),
            data: "Customer names & email addresses <about 1,200>".into(),
            actions: "The bucket is private again; access logs are being reviewed.".into(),
            detected_at: datetime!(2026-12-06 22:30 +01:00),
        };
        let email = notice(
            "dev@example.com",
            "Acme Outpost",
            "owner@example.com",
            &breach,
        );
        assert_eq!(email.to, "dev@example.com");
        assert!(
            email.subject.contains("2026-12-09T21:30:00Z"),
            "{}",
            email.subject
        );
        for fact in [
            "sent to every\nmember by owner@example.com",
            &breach.summary,
            "Customer names & email addresses <about 1,200>",
            &breach.actions,
            "2026-12-06T21:30:00Z",
            "at most 72 hours after it was detected: by 2026-12-09T21:30:00Z",
        ] {
            assert!(
                email.body.contains(fact),
                "{fact:?} missing from:\n{}",
                email.body
            );
        }
    }
}
