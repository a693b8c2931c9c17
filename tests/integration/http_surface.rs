//! What every response carries, and what every error looks like.

use actix_web::HttpResponse;
use outpost::web::routes::{Access, Routes};
use reqwest::{Method, Response};
use serde_json::Value;

use crate::support::app::TestApp;

const SECURITY_HEADERS: &[(&str, &str)] = &[
    (
        "strict-transport-security",
        "max-age=31536000; includeSubDomains",
    ),
    ("x-frame-options", "SAMEORIGIN"),
    ("x-content-type-options", "nosniff"),
];

/// Words that would betray internals: crates, languages, SQL, paths, versions.
const INTERNALS: &[&str] = &[
    "actix",
    "diesel",
    "postgres",
    "tokio",
    "serde",
    "panicked",
    "backtrace",
    ".rs",
    "/src/",
    "/root",
    "SELECT",
    "INSERT",
    "relation",
    "0.1.0",
    "deliberate failure",
];

fn assert_security_headers(response: &Response) {
    let headers = response.headers();
    for (name, value) in SECURITY_HEADERS {
        assert_eq!(
            headers.get(*name).map(|v| v.to_str().unwrap()),
            Some(*value),
            "{name} on {}",
            response.url()
        );
    }
    let referrer = headers["referrer-policy"].to_str().unwrap();
    assert!(
        [
            "strict-origin-when-cross-origin",
            "same-origin",
            "no-referrer",
            "strict-origin"
        ]
        .contains(&referrer),
        "referrer-policy {referrer}"
    );
    let permissions = headers["permissions-policy"].to_str().unwrap();
    for feature in [
        "camera=()",
        "microphone=()",
        "geolocation=()",
        "payment=()",
        "usb=()",
    ] {
        assert!(
            permissions.contains(feature),
            "permissions-policy lacks {feature}"
        );
    }
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'self'"), "{csp}");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert!(headers.get("server").is_none(), "Server header present");
    assert!(headers.get("x-powered-by").is_none());
    let request_id = headers
        .get("x-request-id")
        .expect("x-request-id")
        .to_str()
        .unwrap();
    assert!(!request_id.is_empty() && request_id.len() <= 64);
}

async fn assert_problem(response: Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status, "{}", response.url());
    assert_security_headers(&response);
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let text = response.text().await.unwrap();
    for word in INTERNALS {
        assert!(!text.contains(word), "problem body leaks {word:?}: {text}");
    }
    let body: Value = serde_json::from_str(&text).expect("problem body is JSON");
    assert_eq!(body["status"], status);
    assert_eq!(body["instance"], request_id.as_str());
    assert!(body["type"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(body["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(body["detail"].as_str().is_some_and(|t| !t.is_empty()));
    body
}

fn fault_routes(routes: &mut Routes) {
    routes.get("/test/panic", Access::Public, || async {
        panic!("deliberate failure at /root/src/secret.rs: SELECT * FROM users");
        #[allow(unreachable_code)]
        HttpResponse::Ok().finish()
    });
}

#[tokio::test]
async fn every_response_carries_security_headers_and_a_request_id() {
    let app = TestApp::start().await;
    let browser = app.signed_in_owner("owner@example.com").await;
    for path in [
        "/",
        "/login",
        "/healthz",
        "/readyz",
        "/static/app.css",
        "/no/such/page",
    ] {
        let response = browser.get(path).await;
        assert_security_headers(&response);
    }
    let response = browser
        .send(browser.request(Method::DELETE, "/login"))
        .await;
    assert_security_headers(&response);
}

#[tokio::test]
async fn a_well_formed_request_id_is_echoed_and_a_malformed_one_replaced() {
    let app = TestApp::start().await;
    let client = reqwest::Client::new();
    let echoed = client
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-42_ABC")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "trace-42_ABC");

    for bad in ["has space", "<script>", &"x".repeat(65), "semi;colon"] {
        let response = client
            .get(app.url("/no/such/page"))
            .header("x-request-id", bad)
            .send()
            .await
            .unwrap();
        let id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_ne!(id, bad);
        assert!(
            uuid::Uuid::parse_str(&id).is_ok(),
            "replacement {id} is not a UUID"
        );
        let body = assert_problem(response, 404).await;
        assert_eq!(body["instance"], id.as_str());
    }
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_are_problems() {
    let app = TestApp::start().await;
    let client = reqwest::Client::new();
    assert_problem(
        client.get(app.url("/no/such/page")).send().await.unwrap(),
        404,
    )
    .await;
    assert_problem(
        client
            .get(app.url("/setup/not-a-token/extra"))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;

    let response = client.put(app.url("/login")).send().await.unwrap();
    let allow = response.headers()["allow"].to_str().unwrap().to_owned();
    assert_eq!(allow, "GET, POST");
    assert_problem(response, 405).await;
    assert_problem(
        client.delete(app.url("/healthz")).send().await.unwrap(),
        405,
    )
    .await;
}

#[tokio::test]
async fn malformed_and_oversized_bodies_are_problems() {
    let app = TestApp::start().await;
    let client = reqwest::Client::new();
    let bad_json = client
        .post(app.url("/login"))
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .unwrap();
    let body = assert_problem(bad_json, 400).await;
    assert!(body["detail"].as_str().unwrap().contains("JSON"), "{body}");

    let wrong_shape = client
        .post(app.url("/login"))
        .json(&serde_json::json!({ "email": 42 }))
        .send()
        .await
        .unwrap();
    assert_problem(wrong_shape, 400).await;

    let two_megabytes = vec![b'a'; 2 * 1024 * 1024];
    let declared = client
        .post(app.url("/login"))
        .header("content-type", "application/json")
        .body(two_megabytes.clone())
        .send()
        .await
        .unwrap();
    assert_problem(declared, 413).await;

    // Chunked, with no Content-Length to judge by up front.
    let stream = futures_util::stream::iter(
        two_megabytes
            .chunks(64 * 1024)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let chunked = client
        .post(app.url("/login"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_problem(chunked, 413).await;

    let bad_form = client
        .post(app.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("%%%")
        .send()
        .await
        .unwrap();
    assert!([400, 403].contains(&bad_form.status().as_u16()));
    let status = bad_form.status().as_u16();
    assert_problem(bad_form, status).await;
}

#[tokio::test]
async fn a_panicking_handler_becomes_a_500_problem_without_internals() {
    let app = TestApp::start_with(|_| {}, Some(fault_routes)).await;
    let client = reqwest::Client::new();
    let response = client
        .get(app.url("/test/panic"))
        .header("x-request-id", "panic-probe-1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "panic-probe-1");
    let body = assert_problem(response, 500).await;
    assert_eq!(body["instance"], "panic-probe-1");
    // The worker survives and keeps serving.
    let after = client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(after.status(), 200);
}

#[tokio::test]
async fn health_endpoints_answer_json_without_a_version() {
    let app = TestApp::start().await;
    let client = reqwest::Client::new();
    let health = client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let body: Value = health.json().await.unwrap();
    assert_eq!(body["status"], "alive");
    let ready = client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let text = ready.text().await.unwrap();
    assert!(!text.contains(env!("CARGO_PKG_VERSION")));
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["migrations"], "current");
}
