//! `GET /api/v1/openapi.json`: the JSON API described as an OpenAPI 3.1 document,
//! assembled from [`operations::all`] (checked against the route table by the tests)
//! and the request types' derived schemas.
//!
//! It is served without credentials: it says what the API accepts, which the source
//! (AGPL) says already, and nothing about this server's data; a client is generated
//! from it before anyone has a key to give the generator.

mod operations;
mod schemas;

use std::sync::OnceLock;

use actix_web::HttpResponse;
use actix_web::http::Method;
use utoipa::PartialSchema;
use utoipa::openapi::path::{OperationBuilder, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathItem,
    PathsBuilder, Ref, Required, ResponseBuilder,
};

pub use operations::{Needs, Operation, all as operations};

use crate::web::error::{AppError, Problem};

/// The security scheme's name in the document.
const API_KEY: &str = "api_key";
/// The shared error response's name in the document.
const PROBLEM: &str = "Problem";
const PROBLEM_JSON: &str = "application/problem+json";

/// The document, built once: it depends on the code alone.
pub async fn serve() -> Result<HttpResponse, AppError> {
    static JSON: OnceLock<String> = OnceLock::new();
    let json = match JSON.get() {
        Some(json) => json,
        None => {
            let json = document()
                .to_json()
                .map_err(|e| AppError::Internal(format!("openapi: {e}")))?;
            JSON.get_or_init(|| json)
        }
    };
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(json.clone()))
}

pub fn document() -> OpenApi {
    let mut components = ComponentsBuilder::new()
        .schema(PROBLEM, Problem::schema())
        .response(
            PROBLEM,
            ResponseBuilder::new()
                .description(
                    "An RFC 9457 problem document; `instance` is the request id, \
                     also in the `X-Request-Id` header",
                )
                .content(
                    PROBLEM_JSON,
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name(PROBLEM)))
                        .build(),
                )
                .build(),
        )
        .security_scheme(
            API_KEY,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("opk_…")
                    .description(Some(
                        "An API key made on the dashboard's Keys page or with \
                         `POST /api/v1/keys`. Each operation lists the capability it \
                         needs as the requirement's role.",
                    ))
                    .build(),
            ),
        );
    let mut paths: Vec<(&'static str, PathItem)> = Vec::new();
    for operation in operations() {
        if let Some(body) = operation.body {
            for (name, schema) in body() {
                components = components.schema(name, schema);
            }
        }
        let path = operation.path;
        let built = build(&operation);
        let item = match paths.iter_mut().find(|(p, _)| *p == path) {
            Some((_, item)) => item,
            None => {
                paths.push((path, PathItem::default()));
                &mut paths.last_mut().expect("just pushed").1
            }
        };
        let slot = match operation.method {
            Method::GET => &mut item.get,
            Method::POST => &mut item.post,
            Method::PUT => &mut item.put,
            Method::PATCH => &mut item.patch,
            Method::DELETE => &mut item.delete,
            ref other => unreachable!("no API operation uses {other}"),
        };
        *slot = Some(built);
    }
    let paths = paths
        .into_iter()
        .fold(PathsBuilder::new(), |b, (path, item)| b.path(path, item));
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Outpost JSON API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "The JSON API of one Outpost server. Every error is an RFC 9457 \
                     problem document.",
                ))
                .build(),
        )
        .paths(paths.build())
        .components(Some(components.build()))
        .security(Some([SecurityRequirement::new(
            API_KEY,
            Vec::<String>::new(),
        )]))
        .build()
}

fn build(operation: &Operation) -> utoipa::openapi::path::Operation {
    let mut built = OperationBuilder::new()
        .operation_id(Some(operation_id(operation)))
        .summary(Some(operation.summary))
        .tag(operation.tag);
    let mut parameters = path_parameters(operation.path);
    if let Some(query) = operation.query {
        parameters.extend(query());
    }
    if !parameters.is_empty() {
        built = built.parameters(Some(parameters));
    }
    if let Some(body) = operation.body {
        let name = body().swap_remove(0).0;
        built = built.request_body(Some(
            RequestBodyBuilder::new()
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name(name)))
                        .build(),
                )
                .required(Some(Required::True))
                .build(),
        ));
    }
    built = match operation.answer {
        operations::Answer::Json(status, description) => built.response(
            status.to_string(),
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(ObjectBuilder::new().schema_type(Type::Object)))
                        .build(),
                )
                .build(),
        ),
        operations::Answer::Empty(status, description) => built.response(
            status.to_string(),
            ResponseBuilder::new().description(description).build(),
        ),
        operations::Answer::File(media_type, description) => built.response(
            "200",
            ResponseBuilder::new()
                .description(description)
                .content(
                    media_type,
                    ContentBuilder::new()
                        .schema(Some(
                            ObjectBuilder::new()
                                .schema_type(Type::String)
                                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary))),
                        ))
                        .build(),
                )
                .build(),
        ),
    };
    built = match operation.needs {
        Needs::Nothing => built.securities(Some(Vec::<SecurityRequirement>::new())),
        Needs::AnyKey => built.security(SecurityRequirement::new(API_KEY, Vec::<String>::new())),
        Needs::Capability(capability) => {
            built.security(SecurityRequirement::new(API_KEY, [capability.as_str()]))
        }
    };
    if operation.needs != Needs::Nothing {
        built = built.response("401", Ref::from_response_name(PROBLEM));
    }
    if matches!(operation.needs, Needs::Capability(_)) {
        built = built.response("403", Ref::from_response_name(PROBLEM));
    }
    built
        .response("default", Ref::from_response_name(PROBLEM))
        .build()
}

/// `get_api_v1_keys_id` for `GET /api/v1/keys/{id}`.
fn operation_id(operation: &Operation) -> String {
    let words: Vec<String> = operation
        .path
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect();
    format!(
        "{}_{}",
        operation.method.as_str().to_ascii_lowercase(),
        words.join("_")
    )
}

/// One parameter per `{name}` in the pattern: ids are UUIDs, other names text.
fn path_parameters(pattern: &str) -> Vec<Parameter> {
    pattern
        .split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| {
            let mut schema = ObjectBuilder::new().schema_type(Type::String);
            if name == "id" {
                schema = schema.format(Some(SchemaFormat::Custom("uuid".into())));
            }
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(schema))
                .build()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_openapi_3_with_a_bearer_scheme() {
        let json: serde_json::Value = serde_json::from_str(&document().to_json().unwrap()).unwrap();
        assert!(json["openapi"].as_str().unwrap().starts_with("3."));
        assert_eq!(
            json["components"]["securitySchemes"][API_KEY]["scheme"],
            "bearer"
        );
        let keys = &json["paths"]["/api/v1/keys/{id}/rotate"]["post"];
        assert_eq!(keys["operationId"], "post_api_v1_keys_id_rotate");
        assert_eq!(keys["security"][0][API_KEY][0], "api_keys.manage");
        assert_eq!(keys["parameters"][0]["name"], "id");
        assert_eq!(
            keys["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/RotateBody"
        );
        let schemas = &json["components"]["schemas"];
        assert_eq!(schemas["RotateBody"]["additionalProperties"], false);
        let capabilities = schemas["Capability"]["enum"].as_array().unwrap();
        assert!(capabilities.iter().any(|c| c == "metrics.view"));
        assert_eq!(schemas["Role"]["enum"][0], "owner");
        assert_eq!(
            json["paths"]["/api/v1/openapi.json"]["get"]["security"],
            serde_json::json!([])
        );
    }
}
