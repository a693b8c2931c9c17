//! Starts the real application on 127.0.0.1:0 against its own database.

use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use outpost::config::{Config, DatabaseUrl};
use outpost::db::Db;
use outpost::identity::owner::{self, OwnerSetup};
use outpost::vault::Vault;
use outpost::web::{self, AppState, ExtraRoutes};

use super::browser::Browser;
use super::pg::TestDb;

pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    pub addr: SocketAddr,
    pub db: TestDb,
    pub config: Config,
    handle: ServerHandle,
}

impl TestApp {
    pub async fn start() -> Self {
        Self::start_with(|_| {}, None).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Config), extra: Option<ExtraRoutes>) -> Self {
        let db = TestDb::new();
        let mut config = Config {
            server_name: "test-outpost".into(),
            database_url: DatabaseUrl::new(db.url.clone()),
            pool_size: 4,
            workers: 1,
            ..Config::default()
        };
        tweak(&mut config);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
        let addr = listener.local_addr().expect("local addr");
        config.public_url = format!("http://{addr}");
        let pool = Db::connect(&config).expect("pool");
        let state = AppState::new(config.clone(), pool, Vault::ephemeral()).expect("app state");

        // Its own thread and actix system, so stopping it does not depend on the test's runtime.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let (server, _) = web::bind(state, listener, extra).expect("bind app");
                tx.send(server.handle()).expect("hand over server handle");
                let _ = server.await;
            });
        });
        let handle = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("server started");
        Self {
            addr,
            db,
            config,
            handle,
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
                format!("/setup/{}", link_token.expose())
            }
            OwnerSetup::AlreadyActive { .. } => panic!("owner already active"),
        }
    }

    /// An Owner who has set their password, and a browser signed in as them.
    pub async fn signed_in_owner(&self, email: &str) -> Browser {
        let link = self.create_owner(email);
        let browser = self.browser();
        browser.complete_setup(&link, PASSWORD).await;
        let response = browser.sign_in(email, PASSWORD).await;
        assert_eq!(response.status(), 303, "sign-in failed");
        assert_eq!(response.headers()["location"], "/");
        browser
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // `stop` sends its command before returning the future, and the server's own
        // thread carries it out, so there is nothing to wait for here.
        drop(self.handle.stop(false));
    }
}
