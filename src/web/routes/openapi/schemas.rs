//! Schemas of the domain's own types, written from the values the code accepts (so
//! the domain modules need not know about OpenAPI): each lists exactly the strings
//! serde reads.

use std::borrow::Cow;

use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

use crate::identity::{Capability, Role};

fn string_enum<I: IntoIterator<Item = String>>(values: I, description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values))
        .description(Some(description))
        .into()
}

impl PartialSchema for Capability {
    fn schema() -> RefOr<Schema> {
        string_enum(
            Capability::ALL.iter().map(|c| c.as_str().to_owned()),
            "A named capability (see the README's role table)",
        )
    }
}

impl ToSchema for Capability {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Capability")
    }
}

impl PartialSchema for Role {
    fn schema() -> RefOr<Schema> {
        let names = Role::ALL.iter().map(|role| {
            serde_json::to_value(role)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        });
        string_enum(names, "A team member's role")
    }
}

impl ToSchema for Role {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Role")
    }
}
