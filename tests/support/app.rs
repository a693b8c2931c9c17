//! Starts the real application on 127.0.0.1:0 against its own database.

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use outpost::api_traffic::ApiTraffic;
use outpost::config::{Config, DatabaseUrl, SmtpConfig, SmtpSecurity};
use outpost::db::Db;
use outpost::identity::owner::{self, OwnerSetup};
use outpost::identity::{Capability, Passwords, Role, api_keys, user};
use outpost::scan::requests::ScanRequests;
use outpost::tls::TlsSettings;
use outpost::vault::Vault;
use outpost::vault::keyring::{KeySource, Keyring};
use outpost::web::{self, AppState, ExtraRoutes, Listener, redirect};
use uuid::Uuid;

use super::browser::Browser;
use super::pg::TestDb;
use super::smtp::SmtpSink;
use super::tls::{HOST, TlsFiles};
use super::totp_device::TotpDevice;

pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    pub addr: SocketAddr,
    pub db: TestDb,
    pub config: Config,
    /// Every email the app sends lands here.
    pub mail: SmtpSink,
    /// The server's vault keyring, a real file (so tests can rotate under it).
    pub keyring: KeySource,
    /// The scans the app asked the scheduler for (a setting saved, "Scan now").
    pub scans_asked: std::sync::Mutex<tokio::sync::mpsc::Receiver<&'static str>>,
    /// The server's in-memory API response counts (tests flush them).
    pub api_traffic: Arc<ApiTraffic>,
    /// The running server's settings (tests attach a scheduler's backup jobs).
    pub settings: Arc<outpost::settings::Settings>,
    _keys: tempfile::TempDir,
    handle: ServerHandle,
    /// With TLS: the plain listener that redirects to HTTPS.
    pub redirect_addr: Option<SocketAddr>,
    redirect_handle: Option<ServerHandle>,
}

/// A person with an account, signed in through the real pages.
pub struct Member {
    pub id: Uuid,
    pub email: String,
    pub browser: Browser,
    /// Their authenticator, if their role required enrolment (or they enrolled).
    pub device: Option<TotpDevice>,
}

impl TestApp {
    pub async fn start() -> Self {
        Self::start_with(|_| {}, None).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Config), extra: Option<ExtraRoutes>) -> Self {
        Self::launch(tweak, extra, None).await
    }

    /// The app over HTTPS at `https://localhost:<port>`, serving the pair in `tls`
    /// (reloaded when it changes), with the redirecting HTTP listener beside it; the
    /// scan trusts the test CA.
    pub async fn start_tls(tls: &TlsFiles) -> Self {
        Self::launch(|_| {}, None, Some(tls)).await
    }

    async fn launch(
        tweak: impl FnOnce(&mut Config),
        extra: Option<ExtraRoutes>,
        tls: Option<&TlsFiles>,
    ) -> Self {
        let db = TestDb::new();
        let mail = SmtpSink::start();
        let mut config = Config {
            server_name: "test-outpost".into(),
            database_url: DatabaseUrl::new(db.url.clone()),
            pool_size: 4,
            workers: 1,
            ..Config::default()
        };
        config.smtp = SmtpConfig {
            host: "127.0.0.1".into(),
            port: mail.addr().port(),
            security: SmtpSecurity::None,
            ..SmtpConfig::default()
        };
        tweak(&mut config);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
        let addr = listener.local_addr().expect("local addr");
        config.public_url = format!("http://{addr}");
        let mut redirect = None;
        let listener = match tls {
            None => Listener::Plain(listener),
            Some(files) => {
                let plain = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
                config.public_url = format!("https://{HOST}:{}", addr.port());
                config.tls = TlsSettings {
                    https_listen: Some(addr),
                    cert_file: Some(files.cert.clone()),
                    key_file: Some(files.key.clone()),
                    http_redirect_listen: Some(plain.local_addr().expect("local addr")),
                    acme: None,
                };
                config.scan.tls_ca_file = Some(files.ca.clone());
                let server = outpost::tls::server_config_for_files(&files.cert, &files.key)
                    .expect("TLS configuration");
                redirect = Some(plain);
                Listener::Tls(listener, Box::new(server))
            }
        };
        let redirect_addr = redirect
            .as_ref()
            .map(|l| l.local_addr().expect("local addr"));
        let keys = tempfile::tempdir().expect("key dir");
        config.vault_key_file = keys.path().join("vault.keyring");
        Keyring::generate()
            .create_file(&config.vault_key_file)
            .expect("keyring");
        let keyring = KeySource::File(config.vault_key_file.clone());
        let vault = Vault::load(keyring.clone()).expect("vault");
        let pool = Db::connect(&config).expect("pool");
        let (scan_requests, scans_asked) = ScanRequests::channel();
        let state = AppState::new(config.clone(), pool, vault)
            .expect("app state")
            .with_scan_requests(scan_requests);
        let api_traffic = state.api_traffic.clone();
        let settings = state.settings.clone();

        // Its own thread and actix system, so stopping it does not depend on the test's runtime.
        let (tx, rx) = mpsc::channel();
        let target = redirect::Target {
            https_port: addr.port(),
            fallback_host: HOST.into(),
            challenges: Default::default(),
        };
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let (server, _) = web::serve(state, listener, extra).expect("bind app");
                let redirects =
                    redirect.map(|plain| redirect::bind(plain, target).expect("bind redirects").0);
                let handles = (server.handle(), redirects.as_ref().map(|r| r.handle()));
                tx.send(handles).expect("hand over server handles");
                if let Some(redirects) = redirects {
                    actix_web::rt::spawn(redirects);
                }
                let _ = server.await;
            });
        });
        let (handle, redirect_handle) = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("server started");
        Self {
            addr,
            db,
            config,
            mail,
            keyring,
            scans_asked: std::sync::Mutex::new(scans_asked),
            api_traffic,
            settings,
            _keys: keys,
            handle,
            redirect_addr,
            redirect_handle,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn browser(&self) -> Browser {
        Browser::new(self.url(""))
    }

    /// Creates the Owner through the same code as `outpost admin create-owner`
    /// and returns the setup link's path.
    pub fn create_owner(&self, email: &str) -> String {
        let setup = owner::ensure_first_owner(
            &mut self.db.conn(),
            email,
            self.config.session.setup_link_ttl,
        )
        .expect("create owner");
        match setup {
            OwnerSetup::Created { link_token, .. } | OwnerSetup::Reissued { link_token, .. } => {
                super::canary::record(link_token.expose());
                format!("/setup/{}", link_token.expose())
            }
            OwnerSetup::AlreadyActive { .. } => panic!("owner already active"),
        }
    }

    /// An Owner who has set their password and enrolled two-factor sign-in (which
    /// the default policy requires), signed in.
    pub async fn signed_in_owner(&self, email: &str) -> Browser {
        self.owner(email).await.browser
    }

    pub async fn owner(&self, email: &str) -> Member {
        let link = self.create_owner(email);
        let browser = self.browser();
        browser.complete_setup(&link, PASSWORD).await;
        let response = browser.sign_in(email, PASSWORD).await;
        assert_eq!(response.status(), 303, "sign-in failed");
        assert_eq!(response.headers()["location"], "/");
        let id = self.user_id(email);
        let device = self.enrol_mfa(&browser, id).await;
        Member {
            id,
            email: email.to_lowercase(),
            browser,
            device: Some(device),
        }
    }

    /// Creates a member of `role` directly (as an accepted invitation would) and signs
    /// them in; enrols two-factor sign-in when the policy requires it for the role.
    pub async fn member(&self, email: &str, role: Role) -> Member {
        let id = {
            let mut conn = self.db.conn();
            let member = user::create(&mut conn, email, role).expect("create member");
            let hash = Passwords::new(1, Duration::from_secs(5))
                .and_then(|p| p.hash_blocking(PASSWORD))
                .expect("hash");
            user::set_password_hash(&mut conn, member.id, &hash).expect("set password");
            member.id
        };
        let browser = self.browser();
        let response = browser.sign_in(email, PASSWORD).await;
        assert_eq!(response.status(), 303, "member sign-in failed");
        let must_enrol = browser
            .get("/")
            .await
            .headers()
            .get("location")
            .is_some_and(|l| l == "/account/mfa");
        let device = if must_enrol {
            Some(self.enrol_mfa(&browser, id).await)
        } else {
            None
        };
        Member {
            id,
            email: email.to_lowercase(),
            browser,
            device,
        }
    }

    /// Enrols the signed-in browser's person in TOTP through the real pages.
    pub async fn enrol_mfa(&self, browser: &Browser, user_id: Uuid) -> TotpDevice {
        enrol_mfa(browser, user_id).await
    }

    pub fn user_id(&self, email: &str) -> Uuid {
        user::find_by_email(&mut self.db.conn(), email)
            .expect("lookup")
            .expect("user exists")
            .id
    }

    /// A fresh API key for the member, with the given capabilities.
    /// `GET path` with an API key, parsed as JSON (the API's answer, whatever its status).
    pub async fn api_json(&self, path: &str, key: &str) -> serde_json::Value {
        reqwest::Client::new()
            .get(self.url(path))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub fn api_key(&self, member: Uuid, capabilities: &[Capability]) -> String {
        create_api_key(&self.db, member, capabilities)
    }

    /// Audit actions recorded so far, oldest first, with their outcomes.
    pub fn audit(&self) -> Vec<(String, String)> {
        use diesel::prelude::*;
        use outpost::db::schema::audit_events::dsl::*;
        audit_events
            .order(id.asc())
            .select((action, outcome))
            .load(&mut self.db.conn())
            .unwrap()
    }
}

/// Creates an API key for `member` straight through the domain function.
pub fn create_api_key(db: &TestDb, member: Uuid, capabilities: &[Capability]) -> String {
    let mut conn = db.conn();
    let owner = user::find(&mut conn, member).unwrap().unwrap();
    let new = api_keys::NewKey {
        name: "test".into(),
        capabilities: capabilities.to_vec(),
        expires_at: None,
    };
    let (_, secret) = api_keys::create(&mut conn, &owner, new).expect("create api key");
    super::canary::record(secret.expose());
    secret.expose().to_owned()
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // `stop` sends its command before returning the future, and the server's own
        // thread carries it out, so there is nothing to wait for here.
        drop(self.handle.stop(false));
        if let Some(redirects) = &self.redirect_handle {
            drop(redirects.stop(false));
        }
    }
}

/// Enrols the signed-in browser's person (on the dashboard or the fleet controller) in TOTP through the real pages.
pub async fn enrol_mfa(browser: &Browser, user_id: Uuid) -> TotpDevice {
    enrol_mfa_continuing(browser, user_id).await.0
}

/// Enrols as [`enrol_mfa`] does; also returns where the recovery codes page continues.
pub async fn enrol_mfa_continuing(browser: &Browser, user_id: Uuid) -> (TotpDevice, String) {
    let page = browser.get("/account/mfa").await;
    assert_eq!(page.status(), 200);
    let mut device = TotpDevice::from_page(&page.text().await.unwrap(), user_id);
    let code = device.current();
    let confirmed = browser
        .submit(
            "/account/mfa",
            "/account/mfa/confirm",
            &[("code", code.as_str())],
        )
        .await;
    assert_eq!(confirmed.status(), 200, "enrolment failed");
    let html = confirmed.text().await.unwrap();
    assert!(html.contains("recovery codes"), "recovery codes shown once");
    device.keep_recovery_codes(&html);
    assert_eq!(device.recovery_codes.len(), 10);
    let next = html
        .split("<a href=\"")
        .skip(1)
        .find(|rest| rest.contains("continue</a>"))
        .and_then(|rest| rest.split('"').next())
        .expect("a link to continue")
        .replace("&amp;", "&");
    (device, next)
}
