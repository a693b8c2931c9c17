//! What each role may do, as named capabilities.
//!
//! Routes never test roles: each declares the one capability it needs, and one guard
//! (`web::guard::Authorized<C>`) checks the caller, whether a person with a session or
//! an API key (whose capabilities are a subset of its creator's role, checked on every
//! request, so a demoted creator's keys shrink with them).

use std::fmt;
use std::str::FromStr;

use super::Role;

macro_rules! capabilities {
    ($($variant:ident => $name:literal: $($role:ident)|+ ;)+) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Capability {
            $($variant,)+
        }

        impl Capability {
            pub const ALL: &'static [Capability] = &[$(Capability::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Capability::$variant => $name,)+
                }
            }

            pub fn granted_to(self, role: Role) -> bool {
                match self {
                    $(Capability::$variant => matches!(role, $(Role::$role)|+),)+
                }
            }
        }

        /// One marker type per capability, for `Authorized<cap::X>` in handler signatures.
        pub mod cap {
            $(
                #[derive(Debug)]
                pub struct $variant;
                impl super::RequiredCapability for $variant {
                    const CAPABILITY: super::Capability = super::Capability::$variant;
                }
            )+
        }
    };
}

pub trait RequiredCapability {
    const CAPABILITY: Capability;
}

capabilities! {
    DashboardView => "dashboard.view": Owner | Admin | Developer | Viewer;
    FindingsView => "findings.view": Owner | Admin | Developer | Viewer;
    AuditView => "audit.view": Owner | Admin | Developer | Viewer;
    TeamView => "team.view": Owner | Admin | Developer | Viewer;
    MetricsView => "metrics.view": Owner | Admin | Developer | Viewer;
    ApiKeysManage => "api_keys.manage": Owner | Admin | Developer | Viewer;
    IntegrationsManage => "integrations.manage": Owner | Admin | Developer;
    AgentsDeploy => "agents.deploy": Owner | Admin | Developer;
    WebhooksManage => "webhooks.manage": Owner | Admin;
    BackupsManage => "backups.manage": Owner | Admin;
    HardeningManage => "hardening.manage": Owner | Admin;
    CredentialsView => "credentials.view": Owner | Admin | Developer;
    CredentialsManage => "credentials.manage": Owner | Admin;
    CredentialsReveal => "credentials.reveal": Owner | Admin;
    SettingsManage => "settings.manage": Owner | Admin;
    DiagnosticsView => "diagnostics.view": Owner | Admin;
    TeamManage => "team.manage": Owner | Admin;
    SecurityPolicyManage => "security_policy.manage": Owner;
    RoleGrantsApprove => "role_grants.approve": Owner;
    BillingManage => "billing.manage": Owner;
    DataExport => "data.export": Owner;
    OrganisationDelete => "organisation.delete": Owner;
}

impl Role {
    pub const ALL: &'static [Role] = &[Role::Owner, Role::Admin, Role::Developer, Role::Viewer];

    pub fn capabilities(self) -> Vec<Capability> {
        Capability::ALL
            .iter()
            .copied()
            .filter(|c| c.granted_to(self))
            .collect()
    }

    /// Owner and Admin: roles whose grant needs a second Owner's approval.
    pub fn is_privileged(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }
}

impl Capability {
    /// Held by Owners and Admins only: what a stolen key would be worst with.
    pub fn is_privileged(self) -> bool {
        !self.granted_to(Role::Developer)
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Capability {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Capability::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| format!("unknown capability `{s}`"))
    }
}

impl serde::Serialize for Capability {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Capability {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_nest_and_match_the_clients_model() {
        let owner = Role::Owner.capabilities();
        assert_eq!(
            owner.len(),
            Capability::ALL.len(),
            "Owner can do everything"
        );
        for lower in [Role::Admin, Role::Developer, Role::Viewer] {
            for cap in lower.capabilities() {
                assert!(owner.contains(&cap));
            }
        }
        let admin = Role::Admin.capabilities();
        for owner_only in [
            Capability::BillingManage,
            Capability::DataExport,
            Capability::OrganisationDelete,
        ] {
            assert!(!admin.contains(&owner_only), "{owner_only}");
        }
        assert!(admin.contains(&Capability::HardeningManage));
        let developer = Role::Developer.capabilities();
        assert!(developer.contains(&Capability::AgentsDeploy));
        assert!(!developer.contains(&Capability::CredentialsReveal));
        assert!(!developer.contains(&Capability::DataExport));
        let viewer = Role::Viewer.capabilities();
        assert!(
            viewer
                .iter()
                .all(|c| c.as_str().ends_with(".view") || *c == Capability::ApiKeysManage)
        );
    }

    /// The README's role table is what people read; it must say what the code does.
    #[test]
    fn the_readme_table_matches_the_code() {
        let readme = include_str!("../../README.md");
        for cap in Capability::ALL {
            let row = readme
                .lines()
                .find(|l| l.starts_with(&format!("| `{}` |", cap.as_str())))
                .unwrap_or_else(|| panic!("README has no row for {cap}"));
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            for (i, role) in Role::ALL.iter().enumerate() {
                let ticked = cells[2 + i] == "✓";
                assert_eq!(
                    ticked,
                    cap.granted_to(*role),
                    "README row for {cap}, {role}"
                );
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for cap in Capability::ALL {
            assert_eq!(cap.as_str().parse::<Capability>(), Ok(*cap));
        }
        assert!("root.everything".parse::<Capability>().is_err());
    }
}
