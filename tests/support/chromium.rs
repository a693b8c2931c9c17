//! Debian's Chromium, headless, driven over the DevTools protocol: one tab whose
//! console messages, uncaught exceptions, log entries (where the browser reports a
//! Content-Security-Policy violation) and DevTools issues are collected as problems,
//! so a test can assert that a page produced none.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use chromiumoxide::cdp::browser_protocol::audits::{self, EventIssueAdded, InspectorIssueCode};
use chromiumoxide::cdp::browser_protocol::emulation::SetDeviceMetricsOverrideParams;
use chromiumoxide::cdp::browser_protocol::input::{DispatchKeyEventParams, DispatchKeyEventType};
use chromiumoxide::cdp::browser_protocol::log::{EventEntryAdded, LogEntryLevel};
use chromiumoxide::cdp::browser_protocol::page::{CaptureScreenshotFormat, Viewport};
use chromiumoxide::cdp::js_protocol::runtime::{
    ConsoleApiCalledType, EventConsoleApiCalled, EventExceptionThrown,
};
use chromiumoxide::page::ScreenshotParams;
use chromiumoxide::{Browser, BrowserConfig, Page};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;

/// Where Debian's package puts it; `tests/run.sh` installs it (provisioning/lib.sh).
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// How long the browser may take to start, a page to load, or a condition to come
/// true: generous, as the whole suite runs beside it on two cores.
const PATIENCE: Duration = Duration::from_secs(30);

pub struct Chromium {
    browser: Browser,
    handler: JoinHandle<()>,
    _profile: tempfile::TempDir,
}

impl Chromium {
    /// Starts Chromium with a fresh profile. `trusted_spki` is the base64 SHA-256 of
    /// the one leaf key the browser should accept without a chain to its own trust
    /// store (the test server's): every other certificate error stays an error.
    pub async fn launch(trusted_spki: Option<&str>) -> Self {
        assert!(
            Path::new(CHROMIUM).exists(),
            "{CHROMIUM} is missing: the browser tests need Debian's chromium package \
             (tests/run.sh installs it; by hand: apt-get install chromium)"
        );
        let profile = tempfile::tempdir().expect("chromium profile dir");
        // Headless (`--headless`) is the builder's default.
        let mut config = BrowserConfig::builder()
            .chrome_executable(CHROMIUM)
            // As root there is no sandbox to set up; the pages are our own.
            .no_sandbox()
            .user_data_dir(profile.path())
            // The crate's default would tell the browser to ignore every certificate
            // error; only the SPKI list below may vouch for the server.
            .respect_https_errors()
            .viewport(None)
            .window_size(1280, 800)
            .launch_timeout(PATIENCE)
            .request_timeout(PATIENCE)
            // Keys without their dashes (the builder adds them). The network beyond
            // loopback is closed: nothing may phone home (updates, sync, field trials,
            // reporting), or pages wait on it; the crate's defaults already turn off
            // background networking, sync and the first-run screens.
            .args([
                "disable-gpu",
                "disable-quic",
                "disable-component-update",
                "disable-domain-reliability",
                "no-default-browser-check",
            ]);
        if let Some(spki) = trusted_spki {
            config = config.arg(("ignore-certificate-errors-spki-list", spki));
        }
        let config = config.build().expect("chromium configuration");
        let (browser, mut handler) = Browser::launch(config).await.expect("chromium started");
        let handler = tokio::spawn(async move {
            // Errors are messages this crate's protocol types do not know (the
            // browser is newer): skipped, the connection carries on.
            while handler.next().await.is_some() {}
        });
        Self {
            browser,
            handler,
            _profile: profile,
        }
    }

    /// A blank tab whose problems are collected from now on.
    pub async fn tab(&self) -> Tab {
        let page = self.browser.new_page("about:blank").await.expect("new tab");
        Tab::watch(page).await
    }

    pub async fn close(mut self) {
        let _ = self.browser.close().await;
        let _ = self.browser.wait().await;
        self.handler.abort();
    }
}

/// The base64 SHA-256 of a certificate's SubjectPublicKeyInfo, as
/// `--ignore-certificate-errors-spki-list` takes it.
pub fn spki_hash(certificate_der: &[u8]) -> String {
    use x509_cert::der::{Decode, Encode};
    let certificate = x509_cert::Certificate::from_der(certificate_der).expect("certificate");
    let spki = certificate
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .expect("SPKI");
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(spki))
}

/// Where screenshots go: `$OUTPOST_TEST_ARTIFACTS`, or `target/browser-artifacts`.
pub fn artifacts_dir() -> PathBuf {
    let dir = std::env::var_os("OUTPOST_TEST_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser-artifacts"));
    std::fs::create_dir_all(&dir).expect("artifacts dir");
    dir
}

pub struct Tab {
    pub page: Page,
    problems: Arc<Mutex<Vec<String>>>,
    listeners: Vec<JoinHandle<()>>,
}

impl Tab {
    async fn watch(page: Page) -> Self {
        let problems = Arc::new(Mutex::new(Vec::new()));
        let listeners = vec![
            listen(&page, &problems, console_problem).await,
            listen(&page, &problems, exception_problem).await,
            // CSP violations, failed loads and other browser-side errors arrive here.
            listen(&page, &problems, log_problem).await,
            listen(&page, &problems, issue_problem).await,
        ];
        page.enable_log().await.expect("Log.enable");
        page.enable_runtime().await.expect("Runtime.enable");
        page.execute(audits::EnableParams::default())
            .await
            .expect("Audits.enable");
        Self {
            page,
            problems,
            listeners,
        }
    }

    /// Navigates and waits for the new document to finish loading.
    pub async fn goto(&self, url: &str) {
        self.mark_document().await;
        self.page
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        self.wait_for_new_document().await;
    }

    /// Types into the field `selector` finds, as a person would (focus, keys).
    pub async fn type_into(&self, selector: &str, text: &str) {
        self.page
            .find_element(selector)
            .await
            .unwrap_or_else(|e| panic!("{selector}: {e}"))
            .click()
            .await
            .expect("focus field")
            .type_str(text)
            .await
            .expect("type");
    }

    /// Clicks what `selector` finds (a checkbox: anything that stays on the page).
    pub async fn click(&self, selector: &str) {
        self.page
            .find_element(selector)
            .await
            .unwrap_or_else(|e| panic!("{selector}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {selector}: {e}"));
    }

    /// Clicks what `selector` finds (a submit button, a link) and waits for the page
    /// it leads to.
    pub async fn click_and_wait(&self, selector: &str) {
        self.mark_document().await;
        self.click(selector).await;
        self.wait_for_new_document().await;
    }

    /// Presses one key (e.g. `Tab`) on whatever has focus.
    pub async fn press(&self, key: &str, code: &str, key_code: i64) {
        for kind in [
            DispatchKeyEventType::RawKeyDown,
            DispatchKeyEventType::KeyUp,
        ] {
            let event = DispatchKeyEventParams::builder()
                .r#type(kind)
                .key(key)
                .code(code)
                .windows_virtual_key_code(key_code)
                .native_virtual_key_code(key_code)
                .build()
                .expect("key event");
            self.page.execute(event).await.expect("key pressed");
        }
    }

    /// Evaluates `expression` in the page (DevTools evaluation is not subject to the
    /// page's CSP) and returns its value.
    pub async fn eval<T: DeserializeOwned>(&self, expression: impl AsRef<str>) -> T {
        let expression = expression.as_ref();
        self.page
            .evaluate(expression)
            .await
            .unwrap_or_else(|e| panic!("evaluate {expression}: {e}"))
            .into_value()
            .unwrap_or_else(|e| panic!("value of {expression}: {e}"))
    }

    pub async fn path(&self) -> String {
        self.eval("location.pathname + location.search").await
    }

    /// Lays the page out `width` CSS pixels wide; `phone` also applies the viewport
    /// meta tag and touch-style scrollbars, as a phone does.
    pub async fn set_width(&self, width: i64, phone: bool) {
        let params = SetDeviceMetricsOverrideParams::new(width, 800, 1.0, phone);
        self.page.execute(params).await.expect("device metrics");
        // The next frame is laid out at the new width before anything is measured.
        let _: bool = self
            .eval("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))")
            .await;
    }

    /// A PNG of the whole page (not only the viewport) at the current width.
    pub async fn screenshot(&self, path: &Path) {
        let (width, height): (f64, f64) = self
            .eval("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
            .await;
        let params = ScreenshotParams::builder()
            .format(CaptureScreenshotFormat::Png)
            .clip(Viewport {
                x: 0.0,
                y: 0.0,
                width,
                height,
                scale: 1.0,
            })
            .capture_beyond_viewport(true)
            .build();
        let png = self.page.screenshot(params).await.expect("screenshot");
        std::fs::write(path, png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }

    /// The problems seen since the last call. Events travel apart from command
    /// answers, so this first lets a round trip and a moment pass.
    pub async fn take_problems(&self) -> Vec<String> {
        let _: bool = self.eval("true").await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        std::mem::take(&mut *self.problems.lock().unwrap())
    }

    /// Tags the current document so a new one can be told apart from it.
    async fn mark_document(&self) {
        let _: bool = self.eval("window.__outpostOld = true").await;
    }

    async fn wait_for_new_document(&self) {
        let start = Instant::now();
        loop {
            // The tab may be between documents: a failed evaluation means "not yet".
            let fresh = self
                .page
                .evaluate("!window.__outpostOld && document.readyState === 'complete'")
                .await
                .ok()
                .and_then(|r| r.into_value::<bool>().ok())
                .unwrap_or(false);
            if fresh {
                return;
            }
            assert!(
                start.elapsed() < PATIENCE,
                "no new page loaded within {PATIENCE:?}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for Tab {
    fn drop(&mut self) {
        for listener in &self.listeners {
            listener.abort();
        }
    }
}

/// Collects into `problems` what `problem` makes of each event of kind `E`.
async fn listen<E>(
    page: &Page,
    problems: &Arc<Mutex<Vec<String>>>,
    problem: fn(&E) -> Option<String>,
) -> JoinHandle<()>
where
    E: chromiumoxide::cdp::IntoEventKind + Unpin + std::fmt::Debug + Send + Sync + 'static,
{
    let mut events = page
        .event_listener::<E>()
        .await
        .unwrap_or_else(|e| panic!("listen for {}: {e}", std::any::type_name::<E>()));
    let sink = Arc::clone(problems);
    tokio::spawn(async move {
        while let Some(event) = events.next().await {
            if let Some(found) = problem(&event) {
                sink.lock().unwrap().push(found);
            }
        }
    })
}

fn console_problem(event: &EventConsoleApiCalled) -> Option<String> {
    if !matches!(
        event.r#type,
        ConsoleApiCalledType::Error | ConsoleApiCalledType::Assert
    ) {
        return None;
    }
    let text: Vec<String> = event
        .args
        .iter()
        .map(|a| match &a.value {
            Some(v) => v.to_string(),
            None => a.description.clone().unwrap_or_default(),
        })
        .collect();
    Some(format!("console error: {}", text.join(" ")))
}

fn exception_problem(event: &EventExceptionThrown) -> Option<String> {
    let details = &event.exception_details;
    let description = details
        .exception
        .as_ref()
        .and_then(|e| e.description.clone())
        .unwrap_or_else(|| details.text.clone());
    Some(format!("uncaught exception: {description}"))
}

fn log_problem(event: &EventEntryAdded) -> Option<String> {
    let entry = &event.entry;
    (entry.level == LogEntryLevel::Error || entry.text.contains("Refused to")).then(|| {
        let url = entry.url.as_deref().unwrap_or("");
        format!("log {:?} error: {} {url}", entry.source, entry.text)
    })
}

fn issue_problem(event: &EventIssueAdded) -> Option<String> {
    let issue = &event.issue;
    let details = serde_json::to_value(&issue.details).unwrap_or_default();
    // The browser's own form checks (a field autofill would fill with the person's
    // details, a label pointing nowhere) count as well.
    let form_issue = details["genericIssueDetails"]["errorType"]
        .as_str()
        .is_some_and(|t| t.starts_with("Form"));
    (form_issue
        || matches!(
            issue.code,
            InspectorIssueCode::ContentSecurityPolicyIssue | InspectorIssueCode::MixedContentIssue
        ))
    .then(|| format!("issue {:?}: {details}", issue.code))
}
