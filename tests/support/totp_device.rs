//! An authenticator app for tests: reads the enrolment key off the page like a person
//! would, and produces codes the server will accept.

use diesel::prelude::*;
use outpost::db::schema::totp_credentials;
use uuid::Uuid;

use super::pg::TestDb;

const STEP: u64 = 30;

pub struct TotpDevice {
    secret: Vec<u8>,
    pub user_id: Uuid,
    /// The recovery codes shown once at enrolment.
    pub recovery_codes: Vec<String>,
}

impl TotpDevice {
    /// From the base32 key shown on the enrolment page.
    pub fn from_page(html: &str, user_id: Uuid) -> Self {
        let marker = r#"<span class="secret">"#;
        let start = html.find(marker).expect("enrolment key on the page") + marker.len();
        let end = html[start..].find('<').expect("end of key") + start;
        let encoded = html[start..end].trim().to_owned();
        super::canary::record(&encoded);
        let secret = totp_rs::Secret::try_from_base32(&encoded)
            .expect("base32 key")
            .as_bytes()
            .to_vec();
        Self {
            secret,
            user_id,
            recovery_codes: Vec::new(),
        }
    }

    /// Keeps the recovery codes shown on `html`.
    pub fn keep_recovery_codes(&mut self, html: &str) {
        self.recovery_codes = recovery_codes_in(html);
        for code in &self.recovery_codes {
            super::canary::record(code);
        }
    }

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    /// The code for the current time step.
    pub fn current(&self) -> String {
        outpost::identity::totp::code_at(&self.secret, Self::now(), 6)
    }

    /// A code for a step the server has not seen yet. Within one 30-second step only
    /// two fresh codes exist (now and the next step, thanks to the allowed drift);
    /// past that, the stored last step is moved back — as if time had passed.
    pub fn fresh(&self, db: &TestDb) -> String {
        let mut conn = db.conn();
        let last: Option<i64> = totp_credentials::table
            .find(self.user_id)
            .select(totp_credentials::last_step)
            .first(&mut conn)
            .unwrap_or(None);
        let now_step = Self::now() / STEP;
        let candidate = match last {
            Some(last) if last as u64 >= now_step => last as u64 + 1,
            _ => now_step,
        };
        let step = if candidate <= now_step + 1 {
            candidate
        } else {
            diesel::update(totp_credentials::table.find(self.user_id))
                .set(totp_credentials::last_step.eq((now_step - 2) as i64))
                .execute(&mut conn)
                .unwrap();
            now_step
        };
        outpost::identity::totp::code_at(&self.secret, step * STEP, 6)
    }
}

/// The recovery codes listed on the page that shows them (once).
pub fn recovery_codes_in(html: &str) -> Vec<String> {
    let list = html
        .split(r#"<ul class="codes">"#)
        .nth(1)
        .and_then(|rest| rest.split("</ul>").next())
        .unwrap_or("");
    list.split("<li>")
        .filter_map(|item| item.split("</li>").next())
        .map(|code| code.trim().to_owned())
        .filter(|code| !code.is_empty())
        .collect()
}
