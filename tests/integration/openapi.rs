//! `/api/v1/openapi.json` says the truth about the API: every documented operation is
//! a route of the table and every `/api/v1` route of the table is documented, each
//! documented operation is served (not 404/405), and the capability it names is the
//! one its guard asks for.

use std::collections::BTreeSet;

use outpost::identity::{Capability, Role, user};
use outpost::web::routes;
use serde_json::Value;

use crate::support::app::TestApp;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// A well-formed UUID no record has, and a word for other path parameters.
fn fill(path: &str) -> String {
    path.replace("{id}", "5c0e7d1a-9b2f-4e63-8a41-0f6d2b7c9e35")
        .replace("{target}", "probe")
}

/// A value of `schema` with only its required properties, each the simplest of its
/// type (an enum's first value).
fn minimal(doc: &Value, schema: &Value) -> Value {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap();
        return minimal(doc, &doc["components"]["schemas"][name]);
    }
    if let Some(first) = schema["enum"].get(0) {
        return first.clone();
    }
    let kind = match &schema["type"] {
        Value::Array(kinds) => kinds.iter().find(|k| *k != "null").cloned().unwrap(),
        kind => kind.clone(),
    };
    match kind.as_str().unwrap() {
        "object" => {
            let mut object = serde_json::Map::new();
            for name in schema["required"].as_array().into_iter().flatten() {
                let name = name.as_str().unwrap();
                object.insert(name.into(), minimal(doc, &schema["properties"][name]));
            }
            Value::Object(object)
        }
        "array" => Value::Array(Vec::new()),
        "string" => Value::from("x"),
        "integer" | "number" => Value::from(1),
        "boolean" => Value::from(false),
        other => panic!("no minimal value of type {other}"),
    }
}

#[tokio::test]
async fn the_document_matches_the_route_table_and_the_server() {
    let app = TestApp::start().await;
    let client = reqwest::Client::new();
    let response = client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "served without credentials");
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let doc: Value = response.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));

    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                documented.push((method.to_owned(), path.clone(), operation.clone()));
            }
        }
    }
    let documented_routes: BTreeSet<(String, String)> = documented
        .iter()
        .map(|(m, p, _)| (m.clone(), p.clone()))
        .collect();
    let table: BTreeSet<(String, String)> = routes::table(None)
        .into_iter()
        .filter(|e| e.path.starts_with("/api/v1/") || e.path == "/api/v1")
        .map(|e| (e.method.as_str().to_ascii_lowercase(), e.path.to_owned()))
        .collect();
    let undocumented: Vec<_> = table.difference(&documented_routes).collect();
    let unserved: Vec<_> = documented_routes.difference(&table).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from the document: {undocumented:?}"
    );
    assert!(
        unserved.is_empty(),
        "documented but not in the route table: {unserved:?}"
    );
    assert!(table.len() > 30, "{}", table.len());

    // A key that holds no capability the API asks for: each guarded operation must
    // exist and refuse it naming the capability the document lists.
    let someone = user::create(&mut app.db.conn(), "someone@example.com", Role::Owner).unwrap();
    let key = app.api_key(someone.id, &[Capability::MetricsView]);
    for (method, path, operation) in &documented {
        let url = app.url(&fill(path));
        let mut request = client
            .request(method.to_uppercase().parse().unwrap(), &url)
            .bearer_auth(&key);
        if let Some(body) = operation.get("requestBody") {
            // The least body the schema allows: the server parses bodies alongside
            // the guard, so one it could not parse would be refused with 400 first
            // (and would show that the schema is wrong).
            let schema = &body["content"]["application/json"]["schema"];
            let example = minimal(&doc, schema);
            request = request.json(&example);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let security = &operation["security"];
        let needed = security[0]["api_key"][0].as_str();
        match needed {
            Some(capability) => {
                assert_eq!(status, 403, "{method} {path}");
                let problem: Value = response.json().await.unwrap();
                let detail = problem["detail"].as_str().unwrap();
                assert!(
                    detail.contains(&format!("`{capability}`")),
                    "{method} {path} documents {capability}; the guard said: {detail}"
                );
                assert!(operation["responses"]["403"].is_object(), "{method} {path}");
            }
            None => {
                assert!(
                    !matches!(status, 404 | 405),
                    "{method} {path} is documented but answered {status}"
                );
                assert!(status < 400, "{method} {path}: {status}");
            }
        }
        if security.as_array().is_some_and(Vec::is_empty) {
            // Public: it answers without any key too.
            let bare = client
                .request(method.to_uppercase().parse().unwrap(), &url)
                .send()
                .await
                .unwrap();
            assert_eq!(bare.status(), 200, "{method} {path}");
        } else {
            assert!(operation["responses"]["401"].is_object(), "{method} {path}");
        }
    }
}
