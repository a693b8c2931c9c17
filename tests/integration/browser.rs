//! The dashboard in a real browser: Debian's Chromium, headless, over HTTPS with the
//! test CA's leaf pinned by its key. A new Owner sets a password, signs in, enrols
//! two-factor sign-in, then visits every page the navigation offers at desktop and
//! phone widths, submits forms, and signs out and in again. Every page is
//! screenshotted (kept as test artifacts) and must log no console error, throw no
//! exception, violate no CSP, pass the accessibility checks, and not scroll sideways
//! on a phone.

use std::path::PathBuf;
use std::time::Instant;

use crate::support::app::{PASSWORD, TestApp};
use crate::support::chromium::{Chromium, Tab, artifacts_dir, spki_hash};
use crate::support::page_audit;
use crate::support::tls::{Ca, HOST, TlsFiles};
use crate::support::totp_device::TotpDevice;

const EMAIL: &str = "owner@example.com";
const DESKTOP: i64 = 1280;
const PHONE: i64 = 360;

/// Screenshots and checks, one page at a time, numbered in the order visited.
struct Visit<'a> {
    tab: &'a Tab,
    dir: PathBuf,
    count: usize,
    failures: Vec<String>,
    /// axe-core's script, when installed.
    axe: Option<String>,
}

impl Visit<'_> {
    /// Checks the page the tab shows now and saves its screenshots as `name`.
    async fn check(&mut self, name: &str) {
        self.count += 1;
        let stem = format!("{:02}-{name}", self.count);
        let path = self.tab.path().await;
        let mut failures = Vec::new();

        failures.extend(self.tab.take_problems().await);
        failures.extend(page_audit::accessibility(self.tab).await);
        if let Some(axe) = &self.axe {
            failures.extend(page_audit::axe(self.tab, axe).await);
        }
        self.tab.set_width(DESKTOP, false).await;
        self.tab
            .screenshot(&self.dir.join(format!("{stem}-desktop.png")))
            .await;

        self.tab.set_width(PHONE, true).await;
        self.tab
            .screenshot(&self.dir.join(format!("{stem}-phone.png")))
            .await;
        let (excess, widest) = page_audit::overflow(self.tab, PHONE).await;
        if excess > 1.0 {
            failures.push(format!(
                "scrolls sideways by {excess}px at {PHONE}px; widest: {widest}"
            ));
        }
        // Contrast and names again, in the phone layout.
        failures.extend(
            page_audit::accessibility(self.tab)
                .await
                .into_iter()
                .map(|p| format!("at {PHONE}px: {p}")),
        );
        self.tab.set_width(DESKTOP, false).await;
        if let Err(e) = page_audit::skip_link_is_first(self.tab).await {
            failures.push(e);
        }
        // Whatever the checks themselves caused (they must cause nothing).
        failures.extend(self.tab.take_problems().await);

        self.failures.extend(
            failures
                .into_iter()
                .map(|f| format!("{path} ({name}): {f}")),
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_signs_in_and_uses_every_page_in_chromium() {
    let started = Instant::now();
    let ca = Ca::new();
    let leaf = ca.leaf(time::Duration::days(30));
    let files = TlsFiles::new(&ca, &leaf);
    let app = TestApp::start_tls(&files).await;
    let base = format!("https://{HOST}:{}", app.addr.port());
    let link = app.create_owner(EMAIL);

    let chromium = Chromium::launch(Some(&spki_hash(&leaf.der))).await;
    let tab = chromium.tab().await;
    let dir = artifacts_dir();
    println!("browser screenshots: {}", dir.display());
    let mut visit = Visit {
        tab: &tab,
        dir,
        count: 0,
        failures: Vec::new(),
        axe: page_audit::axe_source(),
    };
    if visit.axe.is_none() {
        println!("axe-core not installed (tests/run.sh installs it): its checks are skipped");
    }

    detectors_notice_problems(&tab, &base).await;

    // The setup link: a first password.
    tab.goto(&format!("{base}{link}")).await;
    visit.check("setup").await;
    tab.type_into("#password", PASSWORD).await;
    tab.type_into("#confirm", PASSWORD).await;
    tab.click_and_wait("main button[type=submit]").await;
    assert_eq!(tab.path().await, "/login?notice=setup_complete");

    // Signing in; the Owner's role requires two-factor sign-in first.
    visit.check("login").await;
    sign_in_with_password(&tab).await;
    assert_eq!(tab.path().await, "/account/mfa");
    visit.check("mfa-enrol").await;
    let html: String = tab.eval("document.documentElement.outerHTML").await;
    let mut device = TotpDevice::from_page(&html, app.user_id(EMAIL));
    tab.type_into("#code", &device.current()).await;
    tab.click_and_wait("main button[type=submit]").await;
    let html: String = tab.eval("document.documentElement.outerHTML").await;
    device.keep_recovery_codes(&html);
    assert_eq!(device.recovery_codes.len(), 10, "recovery codes shown");
    visit.check("recovery-codes").await;
    tab.click_and_wait("main section a").await;
    assert_eq!(tab.path().await, "/account?notice=mfa_enabled");

    // Every page the navigation offers, and the two-factor page now that it is on.
    let mut pages: Vec<String> = tab
        .eval("[...document.querySelectorAll('nav[aria-label=Main] a')].map(a => a.getAttribute('href'))")
        .await;
    assert!(
        pages.len() >= 12,
        "an Owner's navigation lists every page: {pages:?}"
    );
    for extra in ["/account", "/account/mfa"] {
        if !pages.iter().any(|p| p == extra) {
            pages.push(extra.into());
        }
    }
    for page in &pages {
        tab.goto(&format!("{base}{page}")).await;
        assert_eq!(&tab.path().await, page, "{page} opens without a redirect");
        let name = match page.trim_matches('/') {
            "" => "overview".to_owned(),
            other => other.replace('/', "-"),
        };
        visit.check(&name).await;
    }

    // Forms through the browser: its CSRF token, POST, then the 303's page.
    tab.goto(&format!("{base}/security")).await;
    tab.click_and_wait("form[action='/security/scan'] button")
        .await;
    assert_eq!(tab.path().await, "/security?notice=scanning");
    assert_eq!(app.scans_asked.lock().unwrap().try_recv(), Ok("manual"));
    visit.check("security-scanning").await;

    tab.goto(&format!("{base}/keys")).await;
    tab.type_into("#name", "deploy pipeline").await;
    tab.click("input[name=capability][value='dashboard.view']")
        .await;
    tab.click_and_wait("form[action='/keys'] button[type=submit]")
        .await;
    let secret: String = tab
        .eval("document.querySelector('p.secret')?.textContent ?? document.querySelector('main').innerText")
        .await;
    crate::support::canary::record(secret.trim());
    assert!(
        secret
            .trim()
            .starts_with(outpost::identity::api_keys::KEY_PREFIX),
        "a new key shown: {secret}"
    );
    visit.check("keys-created").await;

    // Signing out, then in again with the second factor.
    tab.click_and_wait("form.account button").await;
    assert!(tab.path().await.starts_with("/login"), "signed out");
    tab.goto(&format!("{base}/")).await;
    assert!(
        tab.path().await.starts_with("/login"),
        "the session is gone"
    );
    sign_in_with_password(&tab).await;
    assert_eq!(tab.path().await, "/login/mfa");
    visit.check("login-mfa").await;
    tab.type_into("#code", &device.fresh(&app.db)).await;
    tab.click_and_wait("main button[type=submit]").await;
    assert_eq!(tab.path().await, "/");
    tab.click_and_wait("form.account button").await;
    assert!(tab.path().await.starts_with("/login"), "signed out again");

    let failures = std::mem::take(&mut visit.failures);
    let visited = visit.count;
    drop(tab);
    chromium.close().await;
    println!(
        "browser: {visited} pages checked in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} problems in the browser:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

async fn sign_in_with_password(tab: &Tab) {
    crate::support::canary::record(PASSWORD);
    tab.type_into("#email", EMAIL).await;
    tab.type_into("#password", PASSWORD).await;
    tab.click_and_wait("main button[type=submit]").await;
    // Session, CSRF and challenge cookies are secrets no log may show.
    for cookie in tab.page.get_cookies().await.expect("cookies") {
        crate::support::canary::record(&cookie.value);
    }
}

/// The collectors see each kind of problem a page could have, so their silence on
/// the real pages means something.
async fn detectors_notice_problems(tab: &Tab, base: &str) {
    tab.goto(&format!("{base}/login")).await;
    let before = tab.take_problems().await;
    assert!(before.is_empty(), "the sign-in page is clean: {before:?}");
    let _: bool = tab
        .eval(
            "(() => { console.error('canary-console'); \
             setTimeout(() => { throw new Error('canary-exception'); }); \
             const style = document.createElement('style'); \
             style.textContent = 'body { color: red }'; document.head.append(style); \
             return true; })()",
        )
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let seen = tab.take_problems().await;
    let has = |needle: &str| seen.iter().any(|p| p.contains(needle));
    assert!(has("canary-console"), "console errors are seen: {seen:?}");
    assert!(has("canary-exception"), "exceptions are seen: {seen:?}");
    assert!(
        has("Content Security Policy") || has("ContentSecurityPolicy"),
        "CSP violations are seen: {seen:?}"
    );
    // The attempt is refused: the injected style did not apply.
    let colour: String = tab.eval("getComputedStyle(document.body).color").await;
    assert_ne!(
        colour, "rgb(255, 0, 0)",
        "the page's CSP refused the inline style"
    );

    // And the page checks notice what they look for. (Styles set through the CSSOM,
    // as here, are not inline markup: CSP allows them.)
    tab.goto(&format!("{base}/login")).await;
    assert!(page_audit::accessibility(tab).await.is_empty());
    let _: bool = tab
        .eval(
            "(() => { const main = document.querySelector('main'); \
             main.append(document.createElement('input'), document.createElement('h1')); \
             main.insertAdjacentHTML('beforeend', '<svg></svg><p id=faint>faint</p>'); \
             document.getElementById('faint').style.color = '#ddd'; \
             document.getElementById('faint').style.width = '900px'; return true; })()",
        )
        .await;
    let found = page_audit::accessibility(tab).await.join("\n");
    for expected in ["without a label", "2 h1", "svg without", "contrast"] {
        assert!(
            found.contains(expected),
            "{expected} is noticed in: {found}"
        );
    }
    if let Some(axe) = page_audit::axe_source() {
        let found = page_audit::axe(tab, &axe).await.join("\n");
        for expected in ["critical label", "serious color-contrast"] {
            assert!(found.contains(expected), "axe notices {expected}: {found}");
        }
    }
    tab.set_width(PHONE, true).await;
    assert!(page_audit::overflow(tab, PHONE).await.0 > 500.0);
    tab.set_width(DESKTOP, false).await;
    // The browser's own form check flags the field without id or name, in its time.
    let mut seen = Vec::new();
    for _ in 0..20 {
        seen.extend(tab.take_problems().await);
        if seen.iter().any(|p| p.contains("FormEmptyIdAndName")) {
            return;
        }
    }
    panic!("the browser's form issues are seen: {seen:?}");
}
