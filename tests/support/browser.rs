//! An HTTP client that keeps cookies like a browser on this origin (including
//! `Secure` ones, which browsers also send to localhost) and follows no redirects, so
//! tests see every 303.

use std::collections::BTreeMap;
use std::sync::Mutex;

use reqwest::header::{COOKIE, HeaderMap, SET_COOKIE};
use reqwest::{Client, Method, Response, redirect};

pub struct Browser {
    base: String,
    client: Client,
    cookies: Mutex<BTreeMap<String, String>>,
}

impl Browser {
    pub fn new(base: String) -> Self {
        let client = Client::builder()
            .redirect(redirect::Policy::none())
            .build()
            .expect("http client");
        Self {
            base,
            client,
            cookies: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.lock().unwrap().get(name).cloned()
    }

    pub fn set_cookie(&self, name: &str, value: &str) {
        self.cookies
            .lock()
            .unwrap()
            .insert(name.into(), value.into());
    }

    pub fn forget_cookies(&self) {
        self.cookies.lock().unwrap().clear();
    }

    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut builder = self.client.request(method, format!("{}{path}", self.base));
        let jar = self.cookies.lock().unwrap();
        if !jar.is_empty() {
            let header = jar
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            builder = builder.header(COOKIE, header);
        }
        builder
    }

    /// Sends the request and stores the cookies of the response.
    pub async fn send(&self, builder: reqwest::RequestBuilder) -> Response {
        let response = builder.send().await.expect("request sent");
        self.absorb(response.headers());
        response
    }

    pub async fn get(&self, path: &str) -> Response {
        self.send(self.request(Method::GET, path)).await
    }

    /// GETs the page, then posts `fields` to `action` with the page's CSRF token.
    pub async fn submit(&self, page: &str, action: &str, fields: &[(&str, &str)]) -> Response {
        let html = self.get(page).await.text().await.expect("page body");
        let token = csrf_token_in(&html).unwrap_or_else(|| panic!("no CSRF token on {page}"));
        let mut form: Vec<(&str, &str)> = vec![("csrf_token", &token)];
        form.extend_from_slice(fields);
        self.send(self.request(Method::POST, action).form(&form))
            .await
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> Response {
        super::canary::record(password);
        self.submit(
            "/login",
            "/login",
            &[("email", email), ("password", password)],
        )
        .await
    }

    pub async fn complete_setup(&self, link: &str, password: &str) {
        super::canary::record(password);
        let response = self
            .submit(link, link, &[("password", password), ("confirm", password)])
            .await;
        assert_eq!(response.status(), 303, "setup failed");
        assert_eq!(
            response.headers()["location"],
            "/login?notice=setup_complete"
        );
    }

    fn absorb(&self, headers: &HeaderMap) {
        let mut jar = self.cookies.lock().unwrap();
        for raw in headers.get_all(SET_COOKIE) {
            let Ok(raw) = raw.to_str() else { continue };
            let Ok(cookie) = cookie::Cookie::parse(raw.to_owned()) else {
                continue;
            };
            let expired = cookie
                .max_age()
                .is_some_and(|age| age.is_zero() || age.is_negative())
                || cookie.value().is_empty();
            if expired {
                jar.remove(cookie.name());
            } else {
                // Session, CSRF and second-factor challenge tokens: all secrets.
                super::canary::record(cookie.value());
                jar.insert(cookie.name().to_owned(), cookie.value().to_owned());
            }
        }
    }
}

pub fn csrf_token_in(html: &str) -> Option<String> {
    let marker = r#"name="csrf_token" value=""#;
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}
