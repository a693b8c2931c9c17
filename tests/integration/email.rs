//! Outgoing email against a real SMTP server on loopback (tests/support/smtp.rs).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use outpost::config::{SmtpConfig, SmtpSecurity};
use outpost::identity::Role;
use outpost::notify::{Email, EmailError, Mailer, messages};
use outpost::secret::SecretString;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;

use crate::support::canary;
use crate::support::smtp::SmtpSink;

const WAIT: Duration = Duration::from_secs(5);
const PASSWORD: &str = "s3cret-smtp-pa55word";

fn config(port: u16) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        security: SmtpSecurity::None,
        from: "Outpost <outpost@example.com>".into(),
        timeout: Duration::from_secs(5),
        ..SmtpConfig::default()
    }
}

fn with_credentials(port: u16, username: &str, password: &str) -> SmtpConfig {
    canary::record(password);
    SmtpConfig {
        username: username.into(),
        password: SecretString::new(password),
        ..config(port)
    }
}

fn email(to: &str, subject: &str, body: &str) -> Email {
    Email {
        to: to.into(),
        subject: subject.into(),
        body: body.into(),
    }
}

fn send_error(result: Result<(), EmailError>) -> String {
    match result {
        Err(EmailError::Send(message)) => message,
        other => panic!("expected EmailError::Send, got {other:?}"),
    }
}

#[tokio::test]
async fn a_message_arrives_with_its_envelope_and_headers() {
    let sink = SmtpSink::start();
    let mailer = Mailer::from_config(&config(sink.port())).unwrap();
    assert!(mailer.is_enabled());
    // A line starting with a dot must survive SMTP's dot-stuffing.
    let body = "Hello Ada,\n\n.this line starts with a dot\n.\nBye\n";
    mailer
        .send(&email("Ada Lovelace <ada@example.com>", "Welcome", body))
        .await
        .unwrap();

    let mail = sink.wait_for(1, WAIT).remove(0);
    assert_eq!(mail.from, "outpost@example.com");
    assert_eq!(mail.to, ["ada@example.com"]);
    assert_eq!(
        mail.header("From").as_deref(),
        Some("Outpost <outpost@example.com>")
    );
    assert_eq!(
        mail.header("To").as_deref(),
        Some("\"Ada Lovelace\" <ada@example.com>")
    );
    assert_eq!(mail.subject().as_deref(), Some("Welcome"));
    assert_eq!(mail.header("MIME-Version").as_deref(), Some("1.0"));
    assert_eq!(
        mail.header("Content-Type").as_deref(),
        Some("text/plain; charset=utf-8")
    );
    let date = mail.header("Date").expect("Date header");
    let sent = OffsetDateTime::parse(&date, &Rfc2822).expect("RFC 5322 date");
    assert!((OffsetDateTime::now_utc() - sent).abs() < time::Duration::minutes(5));
    let id = mail.header("Message-ID").expect("Message-ID header");
    assert!(
        id.starts_with('<') && id.ends_with("@example.com>") && id.len() > 20,
        "{id}"
    );
    assert_eq!(mail.body(), body);
    // The client said goodbye properly.
    assert_eq!(sink.commands().last().map(String::as_str), Some("QUIT"));
}

#[tokio::test]
async fn non_ascii_subject_and_body_round_trip() {
    let sink = SmtpSink::start();
    let mailer = Mailer::from_config(&config(sink.port())).unwrap();
    let subject =
        "Zugang für Jürgen: 日本語のテスト ✓ — a subject long enough to be folded over lines";
    let body = format!(
        "Grüße aus Köln!\nЗдравствуйте, 你好, مرحبا 👋\n{}\n",
        "é".repeat(200)
    );
    mailer
        .send(&email("Jürgen Groß <juergen@example.com>", subject, &body))
        .await
        .unwrap();

    let mail = sink.wait_for(1, WAIT).remove(0);
    assert!(
        mail.data.is_ascii(),
        "encoded for 7-bit relays:\n{}",
        mail.data
    );
    assert_eq!(mail.to, ["juergen@example.com"]);
    assert_eq!(mail.subject().as_deref(), Some(subject));
    assert_eq!(mail.body(), body);
}

#[tokio::test]
async fn an_invitation_arrives_with_its_link_intact() {
    // Quoted-printable turns `=` into `=3D` and breaks long lines: the link must
    // still come out whole.
    let link = format!(
        "http://127.0.0.1:8080/invitations/accept?token={}&next=%2Fteam",
        "Ab9_-".repeat(20)
    );
    let sink = SmtpSink::start();
    let mailer = Mailer::from_config(&config(sink.port())).unwrap();
    let invitation = messages::invitation(
        "new@example.com",
        "Acme Outpost",
        "ada@example.com",
        Role::Developer,
        &link,
        72,
    );
    mailer.send(&invitation).await.unwrap();

    let mail = sink.wait_for(1, WAIT).remove(0);
    assert_eq!(mail.to, ["new@example.com"]);
    assert_eq!(mail.subject().as_deref(), Some(invitation.subject.as_str()));
    let body = mail.body();
    assert_eq!(body, invitation.body);
    assert!(body.lines().any(|line| line == link), "{body}");
}

#[tokio::test]
async fn two_messages_reach_their_own_recipients() {
    let sink = SmtpSink::start();
    let mailer = Mailer::from_config(&config(sink.port())).unwrap();
    mailer
        .send(&email("ada@example.com", "For Ada", "one"))
        .await
        .unwrap();
    mailer
        .send(&email("bob@example.com", "For Bob", "two"))
        .await
        .unwrap();

    let mail = sink.wait_for(2, WAIT);
    assert_eq!(mail.len(), 2);
    assert_eq!(mail[0].to, ["ada@example.com"]);
    assert_eq!(mail[0].subject().as_deref(), Some("For Ada"));
    assert_eq!(mail[0].body(), "one");
    assert_eq!(mail[1].to, ["bob@example.com"]);
    assert_eq!(mail[1].subject().as_deref(), Some("For Bob"));
    assert_eq!(mail[1].body(), "two");
    assert_ne!(mail[0].header("Message-ID"), mail[1].header("Message-ID"));
}

#[tokio::test]
async fn the_right_credentials_authenticate() {
    let sink = SmtpSink::with_auth("mailer", PASSWORD);
    let mailer = Mailer::from_config(&with_credentials(sink.port(), "mailer", PASSWORD)).unwrap();
    mailer
        .send(&email("ada@example.com", "Authenticated", "hi"))
        .await
        .unwrap();

    let mail = sink.wait_for(1, WAIT);
    assert_eq!(mail[0].to, ["ada@example.com"]);
    let commands = sink.commands();
    let auth = commands.iter().position(|c| c == "AUTH");
    let mail_from = commands.iter().position(|c| c == "MAIL");
    assert!(auth.is_some() && auth < mail_from, "{commands:?}");
}

#[tokio::test]
async fn wrong_credentials_fail_without_showing_the_password() {
    let sink = SmtpSink::with_auth("mailer", "the-right-one");
    let mailer = Mailer::from_config(&with_credentials(sink.port(), "mailer", PASSWORD)).unwrap();
    let result = mailer
        .send(&email("ada@example.com", "Never sent", "hi"))
        .await;
    let message = send_error(result.clone());
    assert!(message.contains("535"), "{message}");
    for text in [
        message,
        format!("{:?}", result.unwrap_err()),
        format!("{mailer:?}"),
    ] {
        assert!(!text.contains(PASSWORD), "password leaked: {text}");
    }
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn a_relay_that_requires_auth_refuses_an_anonymous_mailer() {
    let sink = SmtpSink::with_auth("mailer", PASSWORD);
    let mailer = Mailer::from_config(&config(sink.port())).unwrap();
    let message = send_error(mailer.send(&email("ada@example.com", "No", "no")).await);
    assert!(message.contains("530"), "{message}");
    assert!(!sink.commands().contains(&"AUTH".to_owned()));
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn starttls_never_falls_back_to_plain_text() {
    // The sink does not offer STARTTLS: a mailer that requires it must stop before
    // the password or the message crosses the wire.
    let sink = SmtpSink::with_auth("mailer", PASSWORD);
    let mailer = Mailer::from_config(&SmtpConfig {
        security: SmtpSecurity::Starttls,
        ..with_credentials(sink.port(), "mailer", PASSWORD)
    })
    .unwrap();
    let message = send_error(mailer.send(&email("ada@example.com", "No", "no")).await);
    assert!(message.to_lowercase().contains("starttls"), "{message}");
    let commands = sink.commands();
    assert!(
        !commands.iter().any(|c| c == "AUTH" || c == "MAIL"),
        "{commands:?}"
    );
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn a_disabled_mailer_sends_nothing() {
    let mailer = Mailer::from_config(&SmtpConfig::default()).unwrap();
    assert!(!mailer.is_enabled());
    assert_eq!(
        mailer.send(&email("ada@example.com", "No", "no")).await,
        Err(EmailError::Disabled)
    );
}

#[tokio::test]
async fn a_bad_address_is_an_address_error() {
    let sink = SmtpSink::start();
    let mailer = Mailer::from_config(&config(sink.port())).unwrap();
    let result = mailer.send(&email("not an address", "No", "no")).await;
    assert!(matches!(result, Err(EmailError::Address(_))), "{result:?}");
    assert!(sink.commands().is_empty(), "connected for a bad address");

    let bad_from = SmtpConfig {
        from: "outpost at example.com".into(),
        ..config(sink.port())
    };
    assert!(matches!(
        Mailer::from_config(&bad_from),
        Err(EmailError::Address(_))
    ));
}

#[tokio::test]
async fn a_closed_port_fails_within_the_timeout() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mailer = Mailer::from_config(&SmtpConfig {
        timeout: Duration::from_secs(2),
        ..with_credentials(port, "mailer", PASSWORD)
    })
    .unwrap();
    let started = Instant::now();
    let message = send_error(mailer.send(&email("ada@example.com", "No", "no")).await);
    assert!(started.elapsed() < Duration::from_secs(3), "{message}");
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
    assert!(!message.contains(PASSWORD), "{message}");
}

#[tokio::test]
async fn a_silent_server_fails_within_the_timeout() {
    // Accepts connections (the kernel completes them) but never says a word.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let timeout = Duration::from_millis(500);
    let mailer = Mailer::from_config(&SmtpConfig {
        timeout,
        ..config(port)
    })
    .unwrap();
    let started = Instant::now();
    let message = send_error(mailer.send(&email("ada@example.com", "No", "no")).await);
    let elapsed = started.elapsed();
    assert!(
        elapsed >= timeout && elapsed < Duration::from_secs(3),
        "{elapsed:?}: {message}"
    );
    assert!(message.contains("within"), "{message}");
    drop(listener);
}

/// The sink itself, driven by hand: it must be a correct server for the tests above
/// to mean anything.
#[test]
fn the_sink_speaks_smtp() {
    let sink = SmtpSink::with_auth("mailer", PASSWORD);
    let stream = TcpStream::connect(sink.addr()).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut client = Client {
        input: BufReader::new(stream.try_clone().unwrap()),
        out: stream,
    };
    assert!(client.read().starts_with("220 "));

    assert!(client.say("MAIL FROM:<a@example.com>").starts_with("503"));
    let ehlo = client.say("EHLO client.example");
    assert!(ehlo.starts_with("250-"), "{ehlo}");
    assert!(ehlo.contains("AUTH PLAIN LOGIN"), "{ehlo}");
    assert!(!ehlo.contains("STARTTLS"), "{ehlo}");
    assert!(client.say("FROB").starts_with("500"));
    assert!(client.say("VRFY ada").starts_with("502"));
    assert!(client.say("NOOP").starts_with("250"));
    assert!(client.say("MAIL FROM:<a@example.com>").starts_with("530"));

    // AUTH LOGIN: base64 prompts, base64 answers; a wrong password first.
    assert_eq!(client.say("AUTH LOGIN"), "334 VXNlcm5hbWU6");
    assert_eq!(client.say("bWFpbGVy"), "334 UGFzc3dvcmQ6");
    assert!(client.say("d3Jvbmc=").starts_with("535"));
    client.say("AUTH LOGIN");
    client.say("bWFpbGVy");
    let password = base64_encode(PASSWORD);
    assert!(client.say(&password).starts_with("235"));

    assert!(client.say("RCPT TO:<b@example.com>").starts_with("503"));
    assert!(client.say("MAIL FROM:<>").starts_with("250"));
    assert!(client.say("RSET").starts_with("250"));
    assert!(client.say("DATA").starts_with("503"));
    assert!(
        client
            .say("mail from:<a@example.com> BODY=8BITMIME")
            .starts_with("250")
    );
    assert!(client.say("RCPT TO:<b@example.com>").starts_with("250"));
    assert!(client.say("RCPT TO:<c@example.com>").starts_with("250"));
    assert!(client.say("DATA").starts_with("354"));
    client.send("Subject: =?utf-8?q?caf=C3=A9_au_lait?= =?utf-8?b?w6lsw6g=?= x");
    client.send("Content-Transfer-Encoding: quoted-printable");
    client.send("");
    client.send("..dot-stuffed");
    client.send("caf=C3=A9 =");
    client.send("au lait=3D1");
    assert!(client.say(".").starts_with("250"));
    assert!(client.say("QUIT").starts_with("221"));

    let mail = sink.wait_for(1, WAIT).remove(0);
    assert_eq!(mail.from, "a@example.com");
    assert_eq!(mail.to, ["b@example.com", "c@example.com"]);
    assert_eq!(mail.subject().as_deref(), Some("café au laitélè x"));
    assert_eq!(mail.body(), ".dot-stuffed\ncafé au lait=1");
}

/// Just enough of a client to drive the sink line by line.
struct Client {
    input: BufReader<TcpStream>,
    out: TcpStream,
}

impl Client {
    fn send(&mut self, line: &str) {
        self.out
            .write_all(format!("{line}\r\n").as_bytes())
            .unwrap();
    }

    /// One whole reply: continuation lines (`250-`) up to the last (`250 `).
    fn read(&mut self) -> String {
        let mut reply = String::new();
        loop {
            let mut line = String::new();
            self.input.read_line(&mut line).unwrap();
            assert!(line.ends_with("\r\n"), "reply line {line:?}");
            reply.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return reply.trim_end().to_owned();
            }
        }
    }

    fn say(&mut self, line: &str) -> String {
        self.send(line);
        self.read()
    }
}

fn base64_encode(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// `smtp.password_credential`: the relay's password is a stored credential, sealed by
/// the vault and read at every send, so replacing it on the dashboard applies at once.
#[tokio::test]
async fn the_relay_password_can_be_a_stored_credential() {
    use outpost::config::{Config, DatabaseUrl};
    use outpost::credentials::{self, Kind, NewCredential, Replacement};
    use outpost::identity::{ClientInfo, user};
    use outpost::vault::Vault;
    use outpost::web::AppState;

    let password = canary::secret("smtp-pass");
    let sink = SmtpSink::with_auth("mailer", &password);
    let db = crate::support::pg::TestDb::new();
    let config = Config {
        database_url: DatabaseUrl::new(db.url.clone()),
        smtp: SmtpConfig {
            username: "mailer".into(),
            password_credential: "SMTP relay".into(),
            ..config(sink.port())
        },
        ..Config::default()
    };
    let pool = outpost::db::Db::connect(&config).unwrap();
    let state = AppState::new(config, pool, Vault::ephemeral()).unwrap();

    let missing = send_error(
        state
            .mailer
            .send(&email("ada@example.com", "No", "no"))
            .await,
    );
    assert!(
        missing.contains("no stored credential has that name"),
        "{missing}"
    );

    let mut conn = db.conn();
    let owner = user::create(&mut conn, "owner@example.com", Role::Owner).unwrap();
    let client = ClientInfo::default();
    let stored = credentials::create(
        &mut conn,
        &state.vault,
        &owner,
        NewCredential {
            name: "smtp relay".into(),
            kind: Kind::SmtpPassword,
            value: SecretString::new(password.clone()),
            description: None,
            expires_at: None,
            rotate_every_days: None,
        },
        &client,
    )
    .unwrap();
    state
        .mailer
        .send(&email("ada@example.com", "Sent", "hi"))
        .await
        .unwrap();
    assert_eq!(sink.wait_for(1, WAIT).len(), 1);
    assert!(sink.commands().contains(&"AUTH".to_owned()));

    let wrong = canary::secret("smtp-wrong");
    credentials::replace(
        &mut conn,
        &state.vault,
        &owner,
        stored.id,
        Replacement {
            value: SecretString::new(wrong.clone()),
            expires_at: None,
        },
        &client,
    )
    .unwrap();
    let refused = send_error(
        state
            .mailer
            .send(&email("ada@example.com", "No", "no"))
            .await,
    );
    assert!(
        refused.contains("535"),
        "the replaced value is used at once: {refused}"
    );
    assert!(!refused.contains(&wrong) && !refused.contains(&password));
    assert_eq!(sink.messages().len(), 1);
}
