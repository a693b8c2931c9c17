//! Plain-text email over SMTP (lettre).
//!
//! Each send opens one connection and closes it with QUIT. Outpost sends a handful of
//! messages a day, so a pool buys nothing, while lettre's pool spawns tasks on whichever
//! Tokio runtime built it: awkward under actix, where every worker runs its own runtime,
//! and it would make `Mailer::from_config` panic outside a runtime.

use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use lettre::Message;
use lettre::message::Mailbox;
use lettre::message::header::{ContentType, MIME_VERSION_1_0};
use lettre::transport::smtp::Error as SmtpError;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use tokio::time::{Instant, timeout_at};

use crate::config::{SmtpConfig, SmtpSecurity};
use crate::secret::{MASK, SecretString};

/// One plain-text (UTF-8) message to one recipient.
#[derive(Clone, PartialEq, Eq)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// Bodies carry sign-in and reset links, which work like passwords until they expire.
impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Email")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("email is not configured (smtp.host is empty)")]
    Disabled,
    #[error("invalid email address {0}")]
    Address(String),
    #[error("email not sent: {0}")]
    Send(String),
}

/// Sends [`Email`]s through the configured relay, or refuses with
/// [`EmailError::Disabled`] when none is configured.
///
/// The relay can be replaced in place ([`Mailer::replace`]): everything that sends
/// holds the same `Arc<Mailer>`, so a relay changed on the Settings page is used by
/// the next send everywhere, without a restart.
pub struct Mailer {
    relay: RwLock<Option<Arc<Relay>>>,
}

/// A [`CredentialLookup`] reading the vault through `db`.
pub fn vault_lookup(db: crate::db::Db, vault: Arc<crate::vault::Vault>) -> CredentialLookup {
    Arc::new(move |name: String| {
        let (db, vault) = (db.clone(), Arc::clone(&vault));
        Box::pin(async move {
            db.run(move |conn| {
                Ok::<_, crate::db::DbError>(crate::credentials::named_in_config(
                    conn, &vault, &name,
                ))
            })
            .await
            .map_err(|e| e.to_string())?
        })
    })
}

/// Finds a stored credential's value by name (the vault's, wired in by the caller,
/// which knows the database).
pub type CredentialLookup = Arc<
    dyn Fn(String) -> Pin<Box<dyn Future<Output = Result<SecretString, String>> + Send>>
        + Send
        + Sync,
>;

/// Where the relay's password comes from.
enum Password {
    None,
    Inline(SecretString),
    /// A stored credential, read at every send.
    Stored {
        name: String,
        lookup: Option<CredentialLookup>,
    },
}

struct Relay {
    host: String,
    port: u16,
    security: Security,
    username: String,
    password: Password,
    from: Mailbox,
    hello: ClientId,
    timeout: Duration,
}

enum Security {
    Plain,
    StartTls(TlsParameters),
    Implicit(TlsParameters),
}

impl Mailer {
    pub fn from_config(config: &SmtpConfig) -> Result<Mailer, EmailError> {
        let host = config.host.trim();
        if host.is_empty() {
            return Ok(Mailer::with(None));
        }
        let from = parse_mailbox(&config.from)?;
        let tls = || {
            TlsParameters::new(host.to_owned()).map_err(|e| {
                EmailError::Send(format!("smtp.host `{host}` cannot be used for TLS: {e}"))
            })
        };
        let security = match config.security {
            SmtpSecurity::Starttls => Security::StartTls(tls()?),
            SmtpSecurity::Tls => Security::Implicit(tls()?),
            SmtpSecurity::None => Security::Plain,
        };
        let stored = config.password_credential.trim();
        let password = match (config.username.is_empty(), stored.is_empty()) {
            (true, _) => Password::None,
            (false, true) => Password::Inline(config.password.clone()),
            (false, false) => Password::Stored {
                name: stored.to_owned(),
                lookup: None,
            },
        };
        let authenticates = !matches!(password, Password::None);
        if matches!(security, Security::Plain) && authenticates && !is_loopback(host) {
            tracing::warn!(
                smtp.host = host,
                "smtp.security = \"none\": the SMTP password crosses the network unencrypted"
            );
        }
        Ok(Mailer::with(Some(Relay {
            host: host.to_owned(),
            port: config.port,
            security,
            username: config.username.clone(),
            password,
            from,
            hello: ClientId::default(),
            timeout: config.timeout,
        })))
    }

    fn with(relay: Option<Relay>) -> Self {
        Self {
            relay: RwLock::new(relay.map(Arc::new)),
        }
    }

    /// The relay now (a send keeps the one it started with).
    fn relay(&self) -> Option<Arc<Relay>> {
        self.relay
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Sends through `other`'s relay from now on.
    pub fn replace(&self, other: Mailer) {
        let relay = other
            .relay
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        *self.relay.write().unwrap_or_else(PoisonError::into_inner) = relay;
    }

    /// Lets a relay password kept as a stored credential be found at send time.
    pub fn with_credential_lookup(mut self, lookup: CredentialLookup) -> Self {
        let relay = self
            .relay
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
            .and_then(Arc::get_mut);
        if let Some(Relay {
            password: Password::Stored { lookup: slot, .. },
            ..
        }) = relay
        {
            *slot = Some(lookup);
        }
        self
    }

    pub fn is_enabled(&self) -> bool {
        self.relay().is_some()
    }

    /// Delivers `email` to the relay; `Ok` means the relay accepted it. The whole
    /// exchange is bounded by `smtp.timeout`: lettre's own timeout covers only connecting.
    pub async fn send(&self, email: &Email) -> Result<(), EmailError> {
        let relay = self.relay().ok_or(EmailError::Disabled)?;
        let message = relay.message(email)?;
        let password = relay.password().await?;
        relay.deliver(&message, password.as_ref()).await
    }
}

impl Relay {
    fn message(&self, email: &Email) -> Result<Message, EmailError> {
        let to = parse_mailbox(&email.to)?;
        let domain = self.from.email.domain();
        let id_domain = if domain.is_ascii() {
            domain
        } else {
            "localhost"
        };
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(single_line(&email.subject))
            .date_now()
            .message_id(Some(format!(
                "<{}@{id_domain}>",
                uuid::Uuid::new_v4().simple()
            )))
            // `body` leaves MIME-Version out, and without it readers need not honour
            // the charset or the transfer encoding.
            .header(MIME_VERSION_1_0)
            .header(ContentType::TEXT_PLAIN)
            // lettre picks 7bit, quoted-printable or base64 itself, so the message is
            // plain ASCII and no relay needs 8BITMIME.
            .body(email.body.clone())
            .map_err(|e| EmailError::Address(format!("`{}`: {e}", email.to)))
    }

    /// The password for this send: from the config, or the stored credential now.
    async fn password(&self) -> Result<Option<SecretString>, EmailError> {
        match &self.password {
            Password::None => Ok(None),
            Password::Inline(password) => Ok(Some(password.clone())),
            Password::Stored { name, lookup } => {
                let lookup = lookup.as_ref().ok_or_else(|| {
                    self.send_error(
                        &format!("the stored credential `{name}` cannot be read here"),
                        None,
                    )
                })?;
                lookup(name.clone()).await.map(Some).map_err(|e| {
                    self.send_error(&format!("smtp.password_credential `{name}`: {e}"), None)
                })
            }
        }
    }

    async fn deliver(
        &self,
        message: &Message,
        password: Option<&SecretString>,
    ) -> Result<(), EmailError> {
        let deadline = Instant::now() + self.timeout;
        let implicit = match &self.security {
            Security::Implicit(tls) => Some(tls.clone()),
            Security::Plain | Security::StartTls(_) => None,
        };
        let exchange = async {
            let mut conn = AsyncSmtpConnection::connect_tokio1(
                (self.host.as_str(), self.port),
                Some(self.timeout),
                &self.hello,
                implicit,
                None,
            )
            .await?;
            let result = self.converse(&mut conn, message, password).await;
            Ok::<_, SmtpError>((conn, result))
        };
        let (mut conn, result) = match timeout_at(deadline, exchange).await {
            Ok(Ok(done)) => done,
            Ok(Err(e)) => return Err(self.send_error(&e.to_string(), password)),
            Err(_) => return Err(self.send_error(&self.no_answer(), password)),
        };
        // Goodbyes get what is left of the deadline and their outcome is ignored: once
        // the relay has taken the message, a slow QUIT must not report a failure that
        // would make the caller send it twice.
        match result {
            Ok(()) => {
                let _ = timeout_at(deadline, conn.quit()).await;
                Ok(())
            }
            Err(e) => {
                let _ = timeout_at(deadline, conn.abort()).await;
                Err(self.send_error(&e.to_string(), password))
            }
        }
    }

    async fn converse(
        &self,
        conn: &mut AsyncSmtpConnection,
        message: &Message,
        password: Option<&SecretString>,
    ) -> Result<(), SmtpError> {
        if let Security::StartTls(tls) = &self.security {
            // Fails when the server does not offer STARTTLS: never fall back to plain
            // text, where the password and the links in the message could be read.
            conn.starttls(tls.clone(), &self.hello).await?;
        }
        if let Some(password) = password {
            let credentials = Credentials::new(self.username.clone(), password.expose().to_owned());
            conn.auth(DEFAULT_MECHANISMS, &credentials).await?;
        }
        conn.send(message.envelope(), &message.formatted()).await?;
        Ok(())
    }

    fn no_answer(&self) -> String {
        format!(
            "no answer within {}",
            humantime::format_duration(self.timeout)
        )
    }

    /// The error, with the password scrubbed from whatever the server or a library
    /// echoed into it.
    fn send_error(&self, detail: &str, password: Option<&SecretString>) -> EmailError {
        let detail = match password {
            Some(password) if !password.is_empty() => detail.replace(password.expose(), MASK),
            _ => detail.to_owned(),
        };
        EmailError::Send(format!("SMTP relay {}:{}: {detail}", self.host, self.port))
    }
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(relay) = self.relay() else {
            return f.write_str("Mailer(disabled)");
        };
        let security = match relay.security {
            Security::Plain => "none",
            Security::StartTls(_) => "starttls",
            Security::Implicit(_) => "tls",
        };
        f.debug_struct("Mailer")
            .field("host", &relay.host)
            .field("port", &relay.port)
            .field("security", &security)
            .field(
                "password",
                &match &relay.password {
                    Password::None => "none".to_owned(),
                    Password::Inline(_) => MASK.to_owned(),
                    Password::Stored { name, .. } => format!("stored credential `{name}`"),
                },
            )
            .field("from", &relay.from.to_string())
            .field("timeout", &relay.timeout)
            .finish()
    }
}

fn parse_mailbox(raw: &str) -> Result<Mailbox, EmailError> {
    raw.trim()
        .parse()
        .map_err(|e| EmailError::Address(format!("`{}`: {e}", raw.trim())))
}

/// A subject is one header line: line breaks in it would end the header early.
fn single_line(text: &str) -> String {
    text.split(char::is_control)
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(host: &str) -> SmtpConfig {
        SmtpConfig {
            host: host.into(),
            username: "mailer".into(),
            password: SecretString::new("hunter2-smtp-password"),
            ..SmtpConfig::default()
        }
    }

    fn email(to: &str) -> Email {
        Email {
            to: to.into(),
            subject: "Hello".into(),
            body: "Body".into(),
        }
    }

    #[tokio::test]
    async fn an_empty_host_disables_sending() {
        let mailer = Mailer::from_config(&config("  ")).unwrap();
        assert!(!mailer.is_enabled());
        assert_eq!(
            mailer.send(&email("ada@example.com")).await,
            Err(EmailError::Disabled)
        );
    }

    #[test]
    fn a_bad_sender_is_refused_when_built() {
        let bad = SmtpConfig {
            from: "Outpost <not an address>".into(),
            ..config("smtp.example.com")
        };
        assert!(matches!(
            Mailer::from_config(&bad),
            Err(EmailError::Address(_))
        ));
    }

    #[tokio::test]
    async fn a_bad_recipient_is_refused_before_connecting() {
        // Port 9 on loopback: if this ever connected, the error would be Send.
        let mailer = Mailer::from_config(&SmtpConfig {
            port: 9,
            security: SmtpSecurity::None,
            ..config("127.0.0.1")
        })
        .unwrap();
        for bad in ["", "ada", "ada@", "ada@example.com\r\nBcc: eve@example.com"] {
            assert!(
                matches!(mailer.send(&email(bad)).await, Err(EmailError::Address(_))),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn debug_shows_no_credentials() {
        let mailer = Mailer::from_config(&config("smtp.example.com")).unwrap();
        let text = format!("{mailer:?}");
        assert!(text.contains("smtp.example.com"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!text.contains("mailer\""), "{text}");
    }

    #[tokio::test]
    async fn send_errors_never_carry_the_password() {
        let mailer = Mailer::from_config(&config("smtp.example.com")).unwrap();
        let relay = mailer.relay().unwrap();
        let password = relay.password().await.unwrap();
        let err = relay.send_error(
            "535 bad credentials for hunter2-smtp-password",
            password.as_ref(),
        );
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(err.to_string().contains(MASK), "{err}");
    }

    #[test]
    fn debug_hides_the_body() {
        let email = Email {
            body: "https://outpost.example/reset?token=s3cret".into(),
            ..email("ada@example.com")
        };
        let text = format!("{email:?}");
        assert!(text.contains("ada@example.com"), "{text}");
        assert!(!text.contains("s3cret"), "{text}");
    }

    #[test]
    fn subjects_stay_on_one_line() {
        assert_eq!(single_line("a\r\nBcc: x\tb"), "a Bcc: x b");
    }

    #[test]
    fn loopback_hosts_are_recognised() {
        for host in ["localhost", "127.0.0.1", "::1", "[::1]"] {
            assert!(is_loopback(host), "{host}");
        }
        assert!(!is_loopback("smtp.example.com"));
    }
}
