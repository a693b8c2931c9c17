//! Every column that holds sealed values, in one list: the vault binds each value to
//! its location, rotation rewraps every column listed here, and a KEK is retired only
//! when none of them refers to it. A test keeps the list and the schema in step.

use std::fmt;

/// A column of sealed values and the uuid column that names its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealedColumn {
    pub table: &'static str,
    pub column: &'static str,
    pub key: &'static str,
}

/// TOTP shared secrets, one row per user.
pub const TOTP_SECRET: SealedColumn = SealedColumn {
    table: "totp_credentials",
    column: "secret_sealed",
    key: "user_id",
};

/// Stored credentials (OAuth tokens, provider keys, passwords, webhook secrets).
pub const CREDENTIAL_VALUE: SealedColumn = SealedColumn {
    table: "stored_credentials",
    column: "value_sealed",
    key: "id",
};

/// Each fleet satellite's report-signing secret, on the fleet controller.
pub const SATELLITE_SECRET: SealedColumn = SealedColumn {
    table: "fleet_satellites",
    column: "secret_sealed",
    key: "id",
};

/// The signing secrets of the client's outbound webhooks.
pub const WEBHOOK_SECRET: SealedColumn = SealedColumn {
    table: "webhook_endpoints",
    column: "secret_sealed",
    key: "id",
};

/// The secret this server signs its fleet health reports with.
pub const FLEET_SECRET: SealedColumn = SealedColumn {
    table: "fleet_enrolment",
    column: "secret_sealed",
    key: "satellite_id",
};

/// Secrets set on the dashboard's Settings page (the SMTP password, a Slack webhook).
pub const SETTING_VALUE: SealedColumn = SealedColumn {
    table: "settings",
    column: "value_sealed",
    key: "id",
};

pub const ALL: &[SealedColumn] = &[
    TOTP_SECRET,
    CREDENTIAL_VALUE,
    SATELLITE_SECRET,
    WEBHOOK_SECRET,
    FLEET_SECRET,
    SETTING_VALUE,
];

impl SealedColumn {
    /// The location of one row's value.
    pub fn at(&self, row: impl fmt::Display) -> Location {
        Location(format!("{}.{}:{row}", self.table, self.column))
    }
}

/// `table.column:row`, the associated data a value is sealed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location(String);

impl Location {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `*_sealed` column the vault does not know about would never be rewrapped, and
    /// its KEK could be retired under it.
    #[test]
    fn every_sealed_column_in_the_schema_is_listed() {
        let schema = include_str!("../db/schema.rs");
        let mut table = "";
        let mut found = Vec::new();
        for line in schema.lines().map(str::trim) {
            if line.ends_with(") {") {
                table = line.split(" (").next().unwrap_or_default();
            }
            if let Some(column) = line.split(" -> ").next().filter(|c| c.ends_with("_sealed")) {
                found.push((table.to_owned(), column.to_owned()));
            }
        }
        assert!(!found.is_empty(), "the schema parse found no sealed column");
        for (table, column) in &found {
            assert!(
                ALL.iter().any(|c| c.table == table && c.column == column),
                "{table}.{column} is sealed but not in vault::location::ALL"
            );
        }
        assert_eq!(
            found.len(),
            ALL.len(),
            "ALL lists a column the schema lacks"
        );
        assert_eq!(
            TOTP_SECRET.at("u1").as_str(),
            "totp_credentials.secret_sealed:u1"
        );
    }
}
